/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for lib/wire.c: STAMP field offsets checked against hand-built
 * byte arrays (not against our own encoder, which could share a mistake),
 * timestamp and Error Estimate conversions, incremental checksums against
 * full recomputes, reflection of a built probe, and the parse causes for
 * truncated and malformed frames.  Random inputs come from a fixed-seed
 * xorshift so every run is identical.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "pm_wire.h"
#include "pm_wire_fast.h"	/* the inline forms, checked against the calls */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rng(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

static const uint8_t mac_a[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a };
static const uint8_t mac_b[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0b };
#define IP_A	0x0a000001u	/* 10.0.0.1 */
#define IP_B	0x0a000002u	/* 10.0.0.2 */

static void
probe_hdr_init(struct pm_probe_hdr *h, uint16_t payload_len)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->dmac, mac_b, 6);
	memcpy(h->smac, mac_a, 6);
	h->sip = IP_A;
	h->dip = IP_B;
	h->sport = 49152;
	h->dport = PM_STAMP_PORT;
	h->dscp = 46;
	h->ssid = 0x1234;
	h->payload_len = payload_len;
}

static int
build_probe(uint8_t *frame, size_t cap, uint16_t payload_len)
{
	struct pm_probe_hdr h;
	int n;

	probe_hdr_init(&h, payload_len);
	n = pm_wire_probe_build(frame, cap, &h);
	assert_int_equal(n, PM_PROBE_HDRS_LEN + payload_len);
	return n;
}

static uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)rd16(p) << 16 | rd16(p + 2);
}

static void
wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
fix_ip_csum(uint8_t *frame, unsigned int l3_off)
{
	uint8_t *ip = frame + l3_off;
	unsigned int ihl = (ip[0] & 0x0f) * 4u;

	wr16(ip + 10, 0);
	wr16(ip + 10, pm_wire_csum_fold(pm_wire_csum_partial(ip, ihl, 0)));
}

/* Full UDP checksum of the frame, as the parser would compute it. */
static uint16_t
full_udp_csum(const uint8_t *frame, uint32_t len)
{
	uint8_t copy[PM_STAMP_MAX_PAYLOAD + 128];
	struct pm_pkt pkt;

	memcpy(copy, frame, len);
	/* The offsets are filled even when the stale checksum fails; with
	 * the field zeroed the parse must then succeed. */
	(void)pm_wire_parse(copy, len, &pkt);
	wr16(copy + pkt.l4_off + 6, 0);
	assert_int_equal(pm_wire_parse(copy, len, &pkt), PM_WIRE_OK);
	pm_wire_udp_csum_set(copy, &pkt);
	return rd16(copy + pkt.l4_off + 6);
}

/* Names ---------------------------------------------------------------- */

static void
test_cause_str(void **state)
{
	static const char *const want[] = {
		"ok", "truncated", "not_ipv4", "arp", "bad_ip", "ip_csum",
		"fragment", "icmp", "not_udp", "bad_udp", "udp_csum",
		"wrong_port", "short_stamp", "bad_tlv", "not_for_us",
	};
	int i;

	(void)state;
	assert_int_equal(sizeof(want) / sizeof(want[0]), PM_WIRE_CAUSE_MAX);
	for (i = 0; i < PM_WIRE_CAUSE_MAX; i++)
		assert_string_equal(pm_wire_cause_str(i), want[i]);
	assert_string_equal(pm_wire_cause_str(-1), "unknown");
	assert_string_equal(pm_wire_cause_str(PM_WIRE_CAUSE_MAX), "unknown");
}

/* STAMP field offsets (RFC 8762 4.2.1 / 4.3.1, RFC 8972 3) -------------- */

static void
test_sender_offsets(void **state)
{
	uint8_t pl[PM_STAMP_BASE_LEN] = {
		0x01, 0x02, 0x03, 0x04,				/* seq */
		0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,	/* ts */
		0xc1, 0x05,					/* ee */
		0xab, 0xcd,					/* SSID */
		/* 28 bytes MBZ */
	};
	struct pm_stamp_sender s;

	(void)state;
	assert_int_equal(pm_wire_stamp_sender_decode(pl, sizeof(pl), &s),
			 PM_WIRE_OK);
	assert_int_equal(s.seq, 0x01020304);
	assert_true(s.ts == 0x1112131415161718ULL);
	assert_int_equal(s.ee, 0xc105);
	assert_int_equal(s.ssid, 0xabcd);
	assert_int_equal(pm_wire_stamp_sender_decode(pl, 43, &s),
			 PM_WIRE_SHORT_STAMP);
	assert_int_equal(pm_wire_stamp_sender_decode(pl, 0, &s),
			 PM_WIRE_SHORT_STAMP);
}

static void
test_reflector_offsets(void **state)
{
	uint8_t pl[PM_STAMP_BASE_LEN] = {
		0x00, 0x00, 0x00, 0x07,				/* seq @0 */
		0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,	/* t3 @4 */
		0x40, 0x01,					/* ee @12 */
		0x00, 0x09,					/* SSID @14 */
		0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38,	/* t2 @16 */
		0x00, 0x00, 0x01, 0x00,				/* s seq @24 */
		0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,	/* t1 @28 */
		0x80, 0x02,					/* s ee @36 */
		0x00, 0x00,					/* MBZ @38 */
		0x3f,						/* s TTL @40 */
		0x00, 0x00, 0x00,				/* MBZ @41 */
	};
	struct pm_stamp_reflector r;

	(void)state;
	assert_int_equal(pm_wire_stamp_reflector_decode(pl, sizeof(pl), &r),
			 PM_WIRE_OK);
	assert_int_equal(r.seq, 7);
	assert_true(r.ts == 0x2122232425262728ULL);
	assert_int_equal(r.ee, 0x4001);
	assert_int_equal(r.ssid, 9);
	assert_true(r.rx_ts == 0x3132333435363738ULL);
	assert_int_equal(r.s_seq, 0x100);
	assert_true(r.s_ts == 0x4142434445464748ULL);
	assert_int_equal(r.s_ee, 0x8002);
	assert_int_equal(r.s_ttl, 0x3f);
	assert_int_equal(pm_wire_stamp_reflector_decode(pl, 43, &r),
			 PM_WIRE_SHORT_STAMP);
}

static void
test_tlv_check(void **state)
{
	uint8_t pl[128];
	unsigned int n = 99;

	(void)state;
	memset(pl, 0, sizeof(pl));
	assert_int_equal(pm_wire_stamp_tlv_check(pl, 44, &n), PM_WIRE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(pm_wire_stamp_tlv_check(pl, 43, &n),
			 PM_WIRE_SHORT_STAMP);
	/* a zero-length TLV: header only */
	assert_int_equal(pm_wire_stamp_tlv_check(pl, 48, &n), PM_WIRE_OK);
	assert_int_equal(n, 1);
	/* a partial header */
	assert_int_equal(pm_wire_stamp_tlv_check(pl, 47, &n),
			 PM_WIRE_BAD_TLV);
	assert_int_equal(pm_wire_stamp_tlv_check(pl, 45, NULL),
			 PM_WIRE_BAD_TLV);
	/* padding (8 bytes of value) then a 4-byte value TLV */
	pl[45] = PM_STAMP_TLV_PADDING;
	wr16(pl + 46, 8);
	pl[57] = 3;
	wr16(pl + 58, 4);
	assert_int_equal(pm_wire_stamp_tlv_check(pl, 64, &n), PM_WIRE_OK);
	assert_int_equal(n, 2);
	/* one byte of slack after the last TLV */
	assert_int_equal(pm_wire_stamp_tlv_check(pl, 65, &n),
			 PM_WIRE_BAD_TLV);
	/* value overruns by one */
	assert_int_equal(pm_wire_stamp_tlv_check(pl, 63, &n),
			 PM_WIRE_BAD_TLV);
	/* length field 0xffff */
	wr16(pl + 46, 0xffff);
	assert_int_equal(pm_wire_stamp_tlv_check(pl, sizeof(pl), &n),
			 PM_WIRE_BAD_TLV);
}

/* Timestamps ----------------------------------------------------------- */

static void
test_ptp(void **state)
{
	uint64_t ns;
	int i;

	(void)state;
	assert_true(pm_wire_ptp_from_ns(0) == 0);
	assert_true(pm_wire_ptp_from_ns(1500000007ULL) ==
		    ((1ULL << 32) | 500000007ULL));
	/* 2021-01-01T00:00:00.25Z */
	assert_true(pm_wire_ptp_from_ns(1609459200250000000ULL) ==
		    ((1609459200ULL << 32) | 250000000ULL));
	assert_true(pm_wire_ptp_to_ns((1609459200ULL << 32) | 1) ==
		    1609459200000000001ULL);
	for (i = 0; i < 100000; i++) {
		ns = rng() % (0xffffffffULL * 1000000000ULL);
		assert_true(pm_wire_ptp_to_ns(pm_wire_ptp_from_ns(ns)) == ns);
	}
}

static void
test_ntp(void **state)
{
	uint64_t ns, ntp;
	int i;

	(void)state;
	assert_true(pm_wire_ntp_from_ns(0) == 2208988800ULL << 32);
	assert_true(pm_wire_ntp_to_ns(2208988800ULL << 32) == 0);
	/* half a second is exactly 2^31 */
	assert_true(pm_wire_ntp_from_ns(500000000ULL) ==
		    ((2208988800ULL << 32) | 0x80000000ULL));
	/* 2021-01-01T00:00:00Z: NTP seconds 3818448000 */
	assert_true(pm_wire_ntp_from_ns(1609459200000000000ULL) ==
		    3818448000ULL << 32);
	/* era 1: NTP seconds 0 is 2036-02-07T06:28:16Z */
	assert_true(pm_wire_ntp_to_ns(0) == 2085978496ULL * 1000000000ULL);
	assert_true(pm_wire_ntp_from_ns(2085978496ULL * 1000000000ULL) == 0);
	for (i = 0; i < 100000; i++) {
		ns = rng() % (0xffffffffULL * 1000000000ULL);
		ntp = pm_wire_ntp_from_ns(ns);
		assert_true(pm_wire_ntp_to_ns(ntp) == ns);
	}
	/* Z selects the format */
	assert_true(pm_wire_ts_to_ns(pm_wire_ptp_from_ns(123456789012ULL),
				     PM_EE_Z) == 123456789012ULL);
	assert_true(pm_wire_ts_to_ns(pm_wire_ntp_from_ns(123456789012ULL),
				     0) == 123456789012ULL);
}

/* Error Estimate ------------------------------------------------------- */

/* 2^-32 s units needed to cover @ns, rounded up. */
static unsigned __int128
ee_units_needed(uint64_t ns)
{
	return (((unsigned __int128)ns << 32) + 999999999) / 1000000000;
}

static void
check_ee(uint64_t err)
{
	uint16_t ee = pm_wire_ee_make(0, 1, err);
	unsigned int scale = (ee >> 8) & 0x3f;
	unsigned int mult = ee & 0xff;
	unsigned __int128 need = ee_units_needed(err);
	unsigned __int128 val = (unsigned __int128)mult << scale;

	assert_int_equal(ee & (PM_EE_S | PM_EE_Z), PM_EE_Z);
	assert_true(mult >= 1);
	/* honest: never less than the bound, in units and in ns */
	assert_true(val >= need);
	assert_true(pm_wire_ee_ns(ee) >= err);
	/* smallest: one multiplier step less would not cover it ... */
	if (mult > 1)
		assert_true(((unsigned __int128)(mult - 1) << scale) < need);
	/* ... and the next finer scale cannot hold the multiplier */
	if (scale > 0)
		assert_true((need + ((unsigned __int128)1 << (scale - 1)) - 1) >>
			    (scale - 1) > 255);
}

static void
test_ee(void **state)
{
	uint64_t err;
	int i;

	(void)state;
	assert_int_equal(pm_wire_ee_make(0, 0, 0), 0x0001);
	assert_int_equal(pm_wire_ee_make(1, 1, 0), 0xc001);
	assert_int_equal(pm_wire_ee_make(1, 0, 0), 0x8001);
	/* 1 ns needs 4.29 units: 5 */
	assert_int_equal(pm_wire_ee_make(0, 0, 1), 0x0005);
	assert_int_equal(pm_wire_ee_ns(0x0005), 2);
	/* 1 s = 2^32 units = 128 * 2^25 */
	assert_int_equal(pm_wire_ee_make(0, 0, 1000000000ULL), 0x1980);
	assert_true(pm_wire_ee_ns(0x1980) == 1000000000ULL);
	/* 1 s + 1 ns does not fit in 128 * 2^25 */
	assert_int_equal(pm_wire_ee_make(0, 0, 1000000001ULL), 0x1981);
	assert_int_equal(pm_wire_ee_ns(0x0001), 1);	/* 0.23 ns, up */
	assert_int_equal(pm_wire_ee_ns(0x0000), 0);
	/* the largest encodable value saturates rather than wraps */
	assert_true(pm_wire_ee_ns(0x3fff) == UINT64_MAX);

	check_ee(0);
	check_ee(UINT64_MAX);
	for (err = 0; err < 5000; err++)
		check_ee(err);
	for (i = 0; i < 200000; i++) {
		/* log-uniform: every scale gets exercised */
		err = rng() >> (rng() % 64);
		check_ee(err);
	}
}

/* Checksums ------------------------------------------------------------ */

static void
test_csum(void **state)
{
	/* RFC 1071 section 3 example */
	static const uint8_t b[] = {
		0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7
	};
	static const uint8_t odd[] = { 0x01, 0x02, 0x03 };

	(void)state;
	assert_int_equal(pm_wire_csum_partial(b, sizeof(b), 0), 0xddf2);
	assert_int_equal(pm_wire_csum_fold(0xddf2), 0x220d);
	/* chaining equals one pass */
	assert_int_equal(pm_wire_csum_partial(b + 4, 4,
			 pm_wire_csum_partial(b, 4, 0)), 0xddf2);
	/* odd tail padded with a zero byte */
	assert_int_equal(pm_wire_csum_partial(odd, 3, 0), 0x0102 + 0x0300);
	assert_int_equal(pm_wire_csum_fold(0x1fffe), 0x0000);
}

/* Building and stamping ------------------------------------------------ */

static void
test_probe_build(void **state)
{
	uint8_t f[PM_STAMP_MAX_PAYLOAD + 64];
	struct pm_probe_hdr h;
	struct pm_pkt pkt;
	struct pm_stamp_sender s;
	unsigned int ntlv;
	int n;

	(void)state;
	n = build_probe(f, sizeof(f), 44);
	assert_int_equal(n, 86);
	assert_memory_equal(f, mac_b, 6);
	assert_memory_equal(f + 6, mac_a, 6);
	assert_int_equal(rd16(f + 12), 0x0800);
	assert_int_equal(f[14], 0x45);
	assert_int_equal(f[15], 46 << 2);
	assert_int_equal(rd16(f + 16), 72);	/* total length */
	assert_int_equal(rd16(f + 18), 0);	/* ID */
	assert_int_equal(rd16(f + 20), 0x4000);	/* DF */
	assert_int_equal(f[22], 64);
	assert_int_equal(f[23], 17);
	assert_int_equal(rd16(f + 36), PM_STAMP_PORT);
	assert_int_equal(rd16(f + 38), 52);	/* UDP length */
	assert_int_equal(rd16(f + 42 + 14), 0x1234);	/* SSID */
	assert_int_equal(pm_wire_parse(f, n, &pkt), PM_WIRE_OK);
	assert_int_equal(pkt.sip, IP_A);
	assert_int_equal(pkt.dip, IP_B);
	assert_int_equal(pkt.sport, 49152);
	assert_int_equal(pkt.dport, PM_STAMP_PORT);
	assert_int_equal(pkt.tos, 46 << 2);
	assert_int_equal(pkt.ttl, 64);
	assert_int_equal(pkt.proto, 17);
	assert_int_equal(pkt.vlan, 0);
	assert_int_equal(pkt.l3_off, 14);
	assert_int_equal(pkt.l4_off, 34);
	assert_int_equal(pkt.pl_off, 42);
	assert_int_equal(pkt.pl_len, 44);
	assert_int_equal(pm_wire_stamp_sender_decode(f + pkt.pl_off,
			 pkt.pl_len, &s), PM_WIRE_OK);
	assert_int_equal(s.seq, 0);
	assert_int_equal(s.ssid, 0x1234);
	assert_int_equal(pm_wire_stamp_tlv_check(f + 42, 44, &ntlv),
			 PM_WIRE_OK);
	assert_int_equal(ntlv, 0);

	/* padded: one Extra Padding TLV fills the rest */
	n = build_probe(f, sizeof(f), 1000);
	assert_int_equal(pm_wire_parse(f, n, &pkt), PM_WIRE_OK);
	assert_int_equal(pkt.pl_len, 1000);
	assert_int_equal(pm_wire_stamp_tlv_check(f + 42, 1000, &ntlv),
			 PM_WIRE_OK);
	assert_int_equal(ntlv, 1);
	assert_int_equal(f[42 + 44], 0);
	assert_int_equal(f[42 + 45], PM_STAMP_TLV_PADDING);
	assert_int_equal(rd16(f + 42 + 46), 1000 - 48);
	n = build_probe(f, sizeof(f), 48);
	assert_int_equal(rd16(f + 42 + 46), 0);
	n = build_probe(f, sizeof(f), PM_STAMP_MAX_PAYLOAD);
	assert_int_equal(pm_wire_parse(f, n, &pkt), PM_WIRE_OK);

	probe_hdr_init(&h, 45);
	assert_int_equal(pm_wire_probe_build(f, sizeof(f), &h), -EINVAL);
	h.payload_len = 47;
	assert_int_equal(pm_wire_probe_build(f, sizeof(f), &h), -EINVAL);
	h.payload_len = 43;
	assert_int_equal(pm_wire_probe_build(f, sizeof(f), &h), -EINVAL);
	h.payload_len = PM_STAMP_MAX_PAYLOAD + 1;
	assert_int_equal(pm_wire_probe_build(f, sizeof(f), &h), -EINVAL);
	h.payload_len = 44;
	h.dscp = 64;
	assert_int_equal(pm_wire_probe_build(f, sizeof(f), &h), -EINVAL);
	h.dscp = 0;
	assert_int_equal(pm_wire_probe_build(f, 85, &h), -ENOSPC);
	h.ttl = 7;
	assert_int_equal(pm_wire_probe_build(f, 86, &h), 86);
	assert_int_equal(f[22], 7);
	assert_int_equal(f[15], 0);
}

static void
test_probe_stamp_incremental(void **state)
{
	uint8_t f[256];
	struct pm_pkt pkt;
	struct pm_stamp_sender s;
	uint32_t seq;
	uint64_t ts;
	uint16_t ee, c;
	int i, n, hit_ffff = 0;

	(void)state;
	n = build_probe(f, sizeof(f), 64);
	for (i = 0; i < 100000; i++) {
		seq = (uint32_t)rng();
		ts = rng();
		ee = (uint16_t)rng();
		pm_wire_probe_stamp(f, seq, ts, ee);
		c = rd16(f + 40);
		assert_int_equal(c, full_udp_csum(f, n));
		assert_int_not_equal(c, 0);
		hit_ffff += c == 0xffff;
		assert_int_equal(pm_wire_parse(f, n, &pkt), PM_WIRE_OK);
		assert_int_equal(pm_wire_stamp_sender_decode(f + 42, 64, &s),
				 PM_WIRE_OK);
		assert_int_equal(s.seq, seq);
		assert_true(s.ts == ts);
		assert_int_equal(s.ee, ee);
		assert_int_equal(s.ssid, 0x1234);
	}

	/*
	 * Force a computed checksum of zero: with the low seq word at 0 the
	 * sum is ~C, so setting that word to C makes it 0xffff, whose
	 * complement 0 must go on the wire as 0xffff.
	 */
	pm_wire_probe_stamp(f, 0, 0x0102030405060708ULL, 0x4001);
	c = rd16(f + 40);
	pm_wire_probe_stamp(f, c, 0x0102030405060708ULL, 0x4001);
	assert_int_equal(rd16(f + 40), 0xffff);
	assert_int_equal(full_udp_csum(f, n), 0xffff);
	assert_int_equal(pm_wire_parse(f, n, &pkt), PM_WIRE_OK);
	/* and updating away from 0xffff is still exact */
	pm_wire_probe_stamp(f, 5, 77, 0x8003);
	assert_int_equal(rd16(f + 40), full_udp_csum(f, n));

	/*
	 * pm_wire_probe_stamp_on() from the template's base gives the same
	 * bytes as pm_wire_probe_stamp(), on a fresh copy of the template and
	 * on one stamped before (a probe restamped after the queue refused
	 * it); a template without UDP checksum keeps 0.
	 */
	{
		uint8_t tpl[256], g[256];
		int32_t base;

		build_probe(tpl, sizeof(tpl), 64);
		base = pm_wire_probe_stamp_base(tpl);
		assert_true(base >= 0 && base <= 0xffff);
		memcpy(g, tpl, (size_t)n);
		for (i = 0; i < 100000; i++) {
			seq = (uint32_t)rng();
			ts = rng();
			ee = (uint16_t)rng();
			memcpy(f, tpl, (size_t)n);
			pm_wire_probe_stamp(f, seq, ts, ee);
			if (i & 1)
				memcpy(g, tpl, (size_t)n);
			pm_wire_probe_stamp_on(g, seq, ts, ee, base);
			assert_memory_equal(f, g, (size_t)n);
		}
		/* the computed zero that goes out as 0xffff */
		memcpy(f, tpl, (size_t)n);
		pm_wire_probe_stamp(f, 0, 0x0102030405060708ULL, 0x4001);
		c = rd16(f + 40);
		memcpy(f, tpl, (size_t)n);
		pm_wire_probe_stamp(f, c, 0x0102030405060708ULL, 0x4001);
		pm_wire_probe_stamp_on(g, c, 0x0102030405060708ULL, 0x4001, base);
		assert_int_equal(rd16(g + 40), 0xffff);
		assert_memory_equal(f, g, (size_t)n);
		tpl[40] = tpl[41] = 0;
		assert_int_equal(pm_wire_probe_stamp_base(tpl), -1);
		memcpy(g, tpl, (size_t)n);
		pm_wire_probe_stamp_on(g, 9, 99, 0x8001, -1);
		assert_int_equal(rd16(g + 40), 0);
		assert_int_equal(rd32(g + 42), 9);
	}
	assert_int_equal(pm_wire_parse(f, n, &pkt), PM_WIRE_OK);
	(void)hit_ffff;
}

/* Reflection ----------------------------------------------------------- */

static void
check_reflect(uint16_t payload_len)
{
	uint8_t f[PM_STAMP_MAX_PAYLOAD + 64];
	uint8_t orig[sizeof(f)];
	struct pm_pkt pkt, rp;
	struct pm_stamp_reflector r;
	uint64_t t1 = pm_wire_ptp_from_ns(1700000000123456789ULL);
	uint64_t t2 = pm_wire_ptp_from_ns(1700000000123460000ULL);
	uint16_t s_ee = pm_wire_ee_make(0, 1, 100);
	uint16_t r_ee = pm_wire_ee_make(1, 1, 50);
	unsigned int ntlv;
	uint64_t t3;
	int n, i;

	n = build_probe(f, sizeof(f), payload_len);
	pm_wire_probe_stamp(f, 0xdeadbeef, t1, s_ee);
	memcpy(orig, f, n);
	assert_int_equal(pm_wire_parse(f, n, &pkt), PM_WIRE_OK);
	/* The owe/finish pair gives the same reply at every length (with
	 * TLVs it settles at once and owes nothing). */
	{
		uint8_t g[sizeof(f)], h2[sizeof(f)];
		uint32_t owe = 1;

		memcpy(g, f, n);
		memcpy(h2, f, n);
		assert_int_equal(pm_wire_stamp_reflect_owe(g, &pkt, t2, r_ee, &owe),
				 PM_WIRE_OK);
		if (payload_len > PM_STAMP_BASE_LEN)
			assert_int_equal(owe, 0);
		pm_wire_stamp_finish(g, &pkt, 0x0123456789abcdefULL, owe);
		assert_int_equal(pm_wire_stamp_reflect(h2, &pkt, t2, r_ee), PM_WIRE_OK);
		pm_wire_stamp_set_tx_ts(h2, &pkt, 0x0123456789abcdefULL);
		assert_memory_equal(g, h2, n);
	}
	assert_int_equal(pm_wire_stamp_reflect(f, &pkt, t2, r_ee), PM_WIRE_OK);

	assert_int_equal(pm_wire_parse(f, n, &rp), PM_WIRE_OK);
	assert_memory_equal(rp.dmac, mac_a, 6);
	assert_memory_equal(rp.smac, mac_b, 6);
	assert_int_equal(rp.sip, IP_B);
	assert_int_equal(rp.dip, IP_A);
	assert_int_equal(rp.sport, PM_STAMP_PORT);
	assert_int_equal(rp.dport, 49152);
	assert_int_equal(rp.ttl, 255);
	assert_int_equal(rp.tos, 46 << 2);
	assert_int_equal(rp.pl_len, payload_len);
	assert_int_equal(pm_wire_stamp_reflector_decode(f + rp.pl_off,
			 rp.pl_len, &r), PM_WIRE_OK);
	assert_int_equal(r.seq, 0xdeadbeef);
	assert_true(r.ts == 0);
	assert_int_equal(r.ee, r_ee);
	assert_int_equal(r.ssid, 0x1234);
	assert_true(r.rx_ts == t2);
	assert_int_equal(r.s_seq, 0xdeadbeef);
	assert_true(r.s_ts == t1);
	assert_int_equal(r.s_ee, s_ee);
	assert_int_equal(r.s_ttl, 64);
	/* MBZ fields */
	assert_int_equal(rd16(f + rp.pl_off + 38), 0);
	assert_int_equal(f[rp.pl_off + 41], 0);
	assert_int_equal(rd16(f + rp.pl_off + 42), 0);
	/* TLVs copied as they were: padding is known, so no U flag */
	assert_memory_equal(f + rp.pl_off + 44, orig + pkt.pl_off + 44,
			    payload_len - 44);
	assert_int_equal(pm_wire_stamp_tlv_check(f + rp.pl_off, rp.pl_len,
			 &ntlv), PM_WIRE_OK);
	assert_int_equal(ntlv, payload_len > 44 ? 1 : 0);

	for (i = 0; i < 20000; i++) {
		t3 = rng();
		pm_wire_stamp_set_tx_ts(f, &rp, t3);
		assert_int_equal(rd16(f + rp.l4_off + 6), full_udp_csum(f, n));
		assert_int_equal(pm_wire_parse(f, n, &rp), PM_WIRE_OK);
		assert_int_equal(pm_wire_stamp_reflector_decode(f + rp.pl_off,
				 rp.pl_len, &r), PM_WIRE_OK);
		assert_true(r.ts == t3);
		assert_true(r.rx_ts == t2);
	}

	/* The prober's one-pass path reads the same reply the same way, and
	 * leaves what is not for it, or damaged, to the general one. */
	{
		struct pm_stamp_reflector fr;
		struct pm_pkt fp;
		uint16_t csum;

		assert_int_equal(pm_wire_stamp_reply_fast(f, n, IP_A, &fp, &fr), 1);
		assert_int_equal(fp.sip, IP_B);
		assert_int_equal(fp.dip, IP_A);
		assert_int_equal(fp.sport, PM_STAMP_PORT);
		assert_int_equal(fp.dport, 49152);
		assert_int_equal(fp.ttl, 255);
		assert_int_equal(fp.tos, 46 << 2);
		assert_int_equal(fp.pl_off, rp.pl_off);
		assert_int_equal(fp.pl_len, payload_len);
		assert_int_equal(fr.seq, r.seq);
		assert_true(fr.ts == r.ts && fr.rx_ts == r.rx_ts && fr.s_ts == r.s_ts);
		assert_int_equal(fr.ssid, 0x1234);
		assert_int_equal(fr.s_seq, 0xdeadbeef);
		assert_int_equal(fr.ee, r.ee);
		assert_int_equal(fr.s_ee, r.s_ee);
		assert_int_equal(fr.s_ttl, 64);
		assert_int_equal(pm_wire_stamp_reply_fast(f, n, IP_B, &fp, &fr), 0);
		assert_int_equal(pm_wire_stamp_reply_fast(f, n - 1, IP_A, &fp, &fr), 0);
		f[rp.pl_off + 20] ^= 0x01;	/* t2 damaged: UDP checksum fails */
		assert_int_equal(pm_wire_stamp_reply_fast(f, n, IP_A, &fp, &fr), 0);
		assert_int_equal(pm_wire_parse(f, n, &rp), PM_WIRE_UDP_CSUM);
		f[rp.pl_off + 20] ^= 0x01;
		f[PM_ETH_HLEN + 10] ^= 0x01;	/* IPv4 header checksum */
		assert_int_equal(pm_wire_stamp_reply_fast(f, n, IP_A, &fp, &fr), 0);
		assert_int_equal(pm_wire_parse(f, n, &rp), PM_WIRE_IP_CSUM);
		f[PM_ETH_HLEN + 10] ^= 0x01;
		/* No UDP checksum (0) is accepted, as by the general parse. */
		csum = rd16(f + rp.l4_off + 6);
		wr16(f + rp.l4_off + 6, 0);
		assert_int_equal(pm_wire_stamp_reply_fast(f, n, IP_A, &fp, &fr), 1);
		assert_int_equal(pm_wire_parse(f, n, &rp), PM_WIRE_OK);
		wr16(f + rp.l4_off + 6, csum);
	}
}

static void
test_reflect(void **state)
{
	(void)state;
	check_reflect(44);
	check_reflect(48);
	check_reflect(1400);
}

static void
test_reflect_unknown_tlv(void **state)
{
	uint8_t f[256];
	struct pm_pkt pkt;
	uint8_t *pl;
	int n;

	(void)state;
	/* padding TLV (value 4) then a Timestamp Information TLV (type 3) */
	n = build_probe(f, sizeof(f), 60);
	pl = f + 42;
	wr16(pl + 46, 4);
	pl[52] = 0;
	pl[53] = 3;
	wr16(pl + 54, 4);
	memset(pl + 56, 0x5a, 4);
	wr16(f + 40, 0);	/* no UDP checksum: also exercises that path */
	assert_int_equal(pm_wire_parse(f, n, &pkt), PM_WIRE_OK);
	assert_int_equal(pm_wire_stamp_reflect(f, &pkt, 1, 0x0001),
			 PM_WIRE_OK);
	assert_int_equal(pm_wire_parse(f, n, &pkt), PM_WIRE_OK);
	/* none in, none out: the checksum is carried over, never invented */
	assert_int_equal(rd16(f + 40), 0);
	assert_int_equal(pl[44], 0);
	assert_int_equal(pl[45], PM_STAMP_TLV_PADDING);
	assert_int_equal(pl[52], PM_STAMP_TLV_F_U);
	assert_int_equal(pl[53], 3);
	assert_int_equal(rd16(pl + 54), 4);
	assert_int_equal(pl[59], 0x5a);
}

static void
test_reflect_refused(void **state)
{
	uint8_t f[256], orig[256];
	struct pm_pkt pkt;
	int n;

	(void)state;
	/* a 40-byte UDP payload: a valid UDP packet but not STAMP */
	n = build_probe(f, sizeof(f), 44);
	wr16(f + 16, 68);
	wr16(f + 38, 48);
	n -= 4;
	fix_ip_csum(f, 14);
	wr16(f + 40, 0);
	assert_int_equal(pm_wire_parse(f, n, &pkt), PM_WIRE_OK);
	assert_int_equal(pkt.pl_len, 40);
	memcpy(orig, f, n);
	assert_int_equal(pm_wire_stamp_reflect(f, &pkt, 1, 1),
			 PM_WIRE_SHORT_STAMP);
	assert_memory_equal(f, orig, n);

	/* a padding TLV claiming 5 bytes of value where 4 remain */
	n = build_probe(f, sizeof(f), 52);
	wr16(f + 42 + 46, 5);
	wr16(f + 40, 0);
	assert_int_equal(pm_wire_parse(f, n, &pkt), PM_WIRE_OK);
	memcpy(orig, f, n);
	/* answered all the same (TWAMP-Light padding need not be TLVs):
	 * same length, the bad TLV flagged M, its bytes otherwise intact */
	assert_int_equal(pm_wire_stamp_reflect(f, &pkt, 1, 1), PM_WIRE_OK);
	assert_int_equal(f[42 + 44] & PM_STAMP_TLV_F_M, PM_STAMP_TLV_F_M);
	assert_memory_equal(f + 42 + 45, orig + 42 + 45, n - 42 - 45);
	assert_int_equal(pm_wire_parse(f, n, &pkt), PM_WIRE_OK);
	assert_int_equal(pkt.pl_len, 52);
}

/* Insert an 802.1Q tag after the MACs; returns the new length. */
static int
add_vlan(uint8_t *f, int n, uint16_t tci)
{
	memmove(f + 16, f + 12, n - 12);
	wr16(f + 12, 0x8100);
	wr16(f + 14, tci);
	return n + 4;
}

static void
test_vlan(void **state)
{
	uint8_t f[256];
	struct pm_pkt pkt;
	struct pm_stamp_reflector r;
	int n;

	(void)state;
	n = build_probe(f, sizeof(f), 44);
	pm_wire_probe_stamp(f, 42, 4242, PM_EE_Z | 1);
	n = add_vlan(f, n, 0x2064);	/* PCP 1, VID 100 */
	assert_int_equal(pm_wire_parse(f, n, &pkt), PM_WIRE_OK);
	assert_int_equal(pkt.vlan, 100);
	assert_int_equal(pkt.ethertype, 0x0800);
	assert_int_equal(pkt.l3_off, 18);
	assert_int_equal(pkt.l4_off, 38);
	assert_int_equal(pkt.pl_off, 46);
	assert_int_equal(pkt.pl_len, 44);
	assert_int_equal(pm_wire_stamp_reflect(f, &pkt, 99, PM_EE_Z | 1),
			 PM_WIRE_OK);
	pm_wire_stamp_set_tx_ts(f, &pkt, 100);
	assert_int_equal(pm_wire_parse(f, n, &pkt), PM_WIRE_OK);
	assert_int_equal(rd16(f + 12), 0x8100);
	assert_int_equal(rd16(f + 14), 0x2064);
	assert_int_equal(pkt.sip, IP_B);
	assert_int_equal(pkt.dport, 49152);
	assert_int_equal(pm_wire_stamp_reflector_decode(f + 46, 44, &r),
			 PM_WIRE_OK);
	assert_int_equal(r.s_seq, 42);
	assert_true(r.s_ts == 4242);
	assert_true(r.rx_ts == 99);
	assert_true(r.ts == 100);

	/* a tag with nothing behind it */
	assert_int_equal(pm_wire_parse(f, 17, &pkt), PM_WIRE_TRUNCATED);
	/* QinQ outer tag is not accepted */
	wr16(f + 16, 0x8100);
	assert_int_equal(pm_wire_parse(f, n, &pkt), PM_WIRE_NOT_IPV4);
}

/* Parse causes --------------------------------------------------------- */

static void
test_parse_truncated(void **state)
{
	uint8_t f[256];
	struct pm_pkt pkt;
	int n, len;

	(void)state;
	n = build_probe(f, sizeof(f), 100);
	pm_wire_probe_stamp(f, 1, 2, 3);
	for (len = 0; len < n; len++)
		assert_int_equal(pm_wire_parse(f, len, &pkt),
				 PM_WIRE_TRUNCATED);
	assert_int_equal(pm_wire_parse(f, n, &pkt), PM_WIRE_OK);
	/* trailing bytes after the IP datagram are link padding */
	memset(f + n, 0xee, 20);
	assert_int_equal(pm_wire_parse(f, n + 20, &pkt), PM_WIRE_OK);
	assert_int_equal(pkt.pl_len, 100);
}

static void
test_parse_min_frame_padding(void **state)
{
	uint8_t f[64];
	struct pm_pkt pkt;

	(void)state;
	/* a 4-byte UDP payload padded to the 60-byte Ethernet minimum */
	memset(f, 0, sizeof(f));
	memcpy(f, mac_b, 6);
	memcpy(f + 6, mac_a, 6);
	wr16(f + 12, 0x0800);
	f[14] = 0x45;
	wr16(f + 16, 32);
	f[22] = 64;
	f[23] = 17;
	wr16(f + 26, 0x0a00);
	wr16(f + 28, 0x0001);
	wr16(f + 30, 0x0a00);
	wr16(f + 32, 0x0002);
	fix_ip_csum(f, 14);
	wr16(f + 34, 1000);
	wr16(f + 36, PM_STAMP_PORT);
	wr16(f + 38, 12);
	memcpy(f + 42, "ping", 4);
	memset(f + 46, 0xa5, 14);	/* padding junk */
	pkt.pl_off = 0;
	pkt.l3_off = 14;
	pkt.l4_off = 34;
	pkt.pl_len = 4;
	pm_wire_udp_csum_set(f, &pkt);
	assert_int_equal(pm_wire_parse(f, 60, &pkt), PM_WIRE_OK);
	assert_int_equal(pkt.pl_len, 4);
	assert_int_equal(pkt.sport, 1000);
	assert_int_equal(pm_wire_stamp_tlv_check(f + pkt.pl_off, pkt.pl_len,
			 NULL), PM_WIRE_SHORT_STAMP);
}

static void
test_parse_errors(void **state)
{
	uint8_t f[256], g[256];
	struct pm_pkt pkt;
	int n;

	(void)state;
	n = build_probe(f, sizeof(f), 44);
	pm_wire_probe_stamp(f, 9, 9, 9);

	memcpy(g, f, n);
	wr16(g + 12, 0x86dd);
	assert_int_equal(pm_wire_parse(g, n, &pkt), PM_WIRE_NOT_IPV4);
	assert_int_equal(pkt.ethertype, 0x86dd);

	memcpy(g, f, n);
	wr16(g + 12, 0x0806);
	assert_int_equal(pm_wire_parse(g, n, &pkt), PM_WIRE_ARP);

	memcpy(g, f, n);
	g[14] = 0x65;
	assert_int_equal(pm_wire_parse(g, n, &pkt), PM_WIRE_BAD_IP);
	g[14] = 0x44;
	assert_int_equal(pm_wire_parse(g, n, &pkt), PM_WIRE_BAD_IP);

	memcpy(g, f, n);
	wr16(g + 16, 19);
	fix_ip_csum(g, 14);
	assert_int_equal(pm_wire_parse(g, n, &pkt), PM_WIRE_BAD_IP);

	memcpy(g, f, n);
	g[24] ^= 0x01;
	assert_int_equal(pm_wire_parse(g, n, &pkt), PM_WIRE_IP_CSUM);

	memcpy(g, f, n);
	wr16(g + 20, 0x2000);		/* MF */
	fix_ip_csum(g, 14);
	assert_int_equal(pm_wire_parse(g, n, &pkt), PM_WIRE_FRAGMENT);
	wr16(g + 20, 0x4001);		/* DF, offset 8 */
	fix_ip_csum(g, 14);
	assert_int_equal(pm_wire_parse(g, n, &pkt), PM_WIRE_FRAGMENT);

	memcpy(g, f, n);
	g[23] = 6;
	fix_ip_csum(g, 14);
	assert_int_equal(pm_wire_parse(g, n, &pkt), PM_WIRE_NOT_UDP);
	assert_int_equal(pkt.proto, 6);
	g[23] = 1;
	fix_ip_csum(g, 14);
	assert_int_equal(pm_wire_parse(g, n, &pkt), PM_WIRE_ICMP);
	assert_int_equal(pkt.l4_off, 34);
	assert_int_equal(pkt.pl_len, 52);

	memcpy(g, f, n);
	wr16(g + 38, 51);
	assert_int_equal(pm_wire_parse(g, n, &pkt), PM_WIRE_BAD_UDP);
	wr16(g + 38, 53);
	assert_int_equal(pm_wire_parse(g, n, &pkt), PM_WIRE_BAD_UDP);
	wr16(g + 38, 7);
	assert_int_equal(pm_wire_parse(g, n, &pkt), PM_WIRE_BAD_UDP);

	/* IP says 4 bytes of UDP: not even a header */
	memcpy(g, f, n);
	wr16(g + 16, 24);
	fix_ip_csum(g, 14);
	assert_int_equal(pm_wire_parse(g, n, &pkt), PM_WIRE_TRUNCATED);

	memcpy(g, f, n);
	g[42 + 20] ^= 0x40;
	assert_int_equal(pm_wire_parse(g, n, &pkt), PM_WIRE_UDP_CSUM);
	wr16(g + 40, 0);		/* no checksum: accepted */
	assert_int_equal(pm_wire_parse(g, n, &pkt), PM_WIRE_OK);
}

static void
test_parse_ip_options(void **state)
{
	uint8_t f[256];
	struct pm_pkt pkt;
	struct pm_stamp_reflector r;
	int n;

	(void)state;
	n = build_probe(f, sizeof(f), 44);
	pm_wire_probe_stamp(f, 77, 1, 1);
	/* 4 bytes of options (NOP NOP NOP EOL) after the fixed header */
	memmove(f + 38, f + 34, n - 34);
	f[34] = 1;
	f[35] = 1;
	f[36] = 1;
	f[37] = 0;
	n += 4;
	f[14] = 0x46;
	wr16(f + 16, 76);
	fix_ip_csum(f, 14);
	assert_int_equal(pm_wire_parse(f, n, &pkt), PM_WIRE_OK);
	assert_int_equal(pkt.l4_off, 38);
	assert_int_equal(pkt.pl_off, 46);
	assert_int_equal(pkt.dport, PM_STAMP_PORT);
	assert_int_equal(pm_wire_stamp_reflect(f, &pkt, 5, 1), PM_WIRE_OK);
	assert_int_equal(pm_wire_parse(f, n, &pkt), PM_WIRE_OK);
	assert_int_equal(pkt.sport, PM_STAMP_PORT);
	assert_int_equal(f[34], 1);	/* options kept */
	assert_int_equal(pm_wire_stamp_reflector_decode(f + 46, 44, &r),
			 PM_WIRE_OK);
	assert_int_equal(r.s_seq, 77);
	/* IHL 15 with a 20-byte frame body */
	f[14] = 0x4f;
	assert_int_equal(pm_wire_parse(f, 14 + 40, &pkt), PM_WIRE_TRUNCATED);
}

static void
test_parse_garbage(void **state)
{
	uint8_t f[2048], base[256];
	struct pm_pkt pkt;
	uint32_t len, j;
	int i, n, rc;

	(void)state;
	/* random bytes: must never crash, and rarely get far */
	for (i = 0; i < 20000; i++) {
		len = rng() % sizeof(f);
		for (j = 0; j < len; j++)
			f[j] = (uint8_t)rng();
		rc = pm_wire_parse(f, len, &pkt);
		assert_true(rc >= 0 && rc < PM_WIRE_CAUSE_MAX);
	}
	/* a valid probe with a few random bytes flipped */
	n = build_probe(base, sizeof(base), 64);
	for (i = 0; i < 50000; i++) {
		memcpy(f, base, n);
		for (j = 0; j < 1 + rng() % 3; j++)
			f[rng() % n] ^= (uint8_t)(1 + rng() % 255);
		len = (uint32_t)n - (uint32_t)(rng() % 3 == 0 ? rng() % n : 0);
		rc = pm_wire_parse(f, len, &pkt);
		assert_true(rc >= 0 && rc < PM_WIRE_CAUSE_MAX);
		if (rc == PM_WIRE_OK) {
			assert_true((uint32_t)pkt.pl_off + pkt.pl_len <= len);
			rc = pm_wire_stamp_reflect(f, &pkt, 1, 1);
			if (rc == PM_WIRE_OK)
				assert_int_equal(pm_wire_parse(f, len, &pkt),
						 PM_WIRE_OK);
		}
	}
}

/* ARP and ICMP --------------------------------------------------------- */

static void
test_arp(void **state)
{
	uint8_t f[64], sha[6];
	uint32_t sip, tip;
	uint16_t op;
	struct pm_pkt pkt;
	int n;

	(void)state;
	assert_int_equal(pm_wire_arp_request(f, 41, mac_a, IP_A, IP_B),
			 -ENOSPC);
	n = pm_wire_arp_request(f, sizeof(f), mac_a, IP_A, IP_B);
	assert_int_equal(n, 42);
	/* hand-checked bytes: broadcast, ethertype, htype..op */
	assert_int_equal(f[0] & f[1] & f[2] & f[3] & f[4] & f[5], 0xff);
	assert_int_equal(rd16(f + 12), 0x0806);
	assert_int_equal(rd16(f + 14), 1);
	assert_int_equal(rd16(f + 16), 0x0800);
	assert_int_equal(f[18], 6);
	assert_int_equal(f[19], 4);
	assert_int_equal(rd16(f + 20), 1);
	assert_memory_equal(f + 22, mac_a, 6);
	assert_int_equal(rd16(f + 38), 0x0a00);
	assert_int_equal(rd16(f + 40), 0x0002);

	assert_int_equal(pm_wire_parse(f, n, &pkt), PM_WIRE_ARP);
	assert_int_equal(pm_wire_arp_parse(f, n, &op, &sip, &tip, sha), 1);
	assert_int_equal(op, 1);
	assert_int_equal(sip, IP_A);
	assert_int_equal(tip, IP_B);
	assert_memory_equal(sha, mac_a, 6);
	assert_int_equal(pm_wire_arp_parse(f, n - 1, &op, &sip, &tip, sha),
			 0);

	pm_wire_arp_reply(f, mac_b, IP_B);
	assert_int_equal(pm_wire_arp_parse(f, n, &op, &sip, &tip, sha), 1);
	assert_int_equal(op, 2);
	assert_int_equal(sip, IP_B);
	assert_int_equal(tip, IP_A);
	assert_memory_equal(sha, mac_b, 6);
	assert_memory_equal(f, mac_a, 6);	/* unicast back */
	assert_memory_equal(f + 6, mac_b, 6);
	assert_memory_equal(f + 32, mac_a, 6);	/* tha */

	/* tagged request */
	n = pm_wire_arp_request(f, sizeof(f), mac_a, IP_A, IP_B);
	n = add_vlan(f, n, 7);
	assert_int_equal(pm_wire_parse(f, n, &pkt), PM_WIRE_ARP);
	assert_int_equal(pkt.vlan, 7);
	assert_int_equal(pm_wire_arp_parse(f, n, &op, &sip, &tip, sha), 1);
	pm_wire_arp_reply(f, mac_b, IP_B);
	assert_int_equal(pm_wire_arp_parse(f, n, &op, &sip, &tip, NULL), 1);
	assert_int_equal(op, 2);
	assert_int_equal(tip, IP_A);
	assert_int_equal(rd16(f + 14), 7);

	/* not Ethernet/IPv4 ARP */
	n = pm_wire_arp_request(f, sizeof(f), mac_a, IP_A, IP_B);
	f[18] = 8;
	assert_int_equal(pm_wire_arp_parse(f, n, &op, &sip, &tip, sha), 0);
	f[18] = 6;
	wr16(f + 20, 3);	/* RARP */
	assert_int_equal(pm_wire_arp_parse(f, n, &op, &sip, &tip, sha), 0);
	wr16(f + 12, 0x0800);
	assert_int_equal(pm_wire_arp_parse(f, n, &op, &sip, &tip, sha), 0);
	assert_int_equal(pm_wire_arp_parse(f, 3, &op, &sip, &tip, sha), 0);
}

static int
build_echo(uint8_t *f, uint8_t type)
{
	static const char data[] = "0123456789abcdef";
	uint16_t icmp_len = 8 + 16;

	memset(f, 0, 64);
	memcpy(f, mac_b, 6);
	memcpy(f + 6, mac_a, 6);
	wr16(f + 12, 0x0800);
	f[14] = 0x45;
	wr16(f + 16, 20 + icmp_len);
	wr16(f + 18, 0x1111);
	f[22] = 60;
	f[23] = 1;
	wr16(f + 26, 0x0a00);
	wr16(f + 28, 0x0001);
	wr16(f + 30, 0x0a00);
	wr16(f + 32, 0x0002);
	fix_ip_csum(f, 14);
	f[34] = type;
	wr16(f + 38, 0xbeef);		/* id */
	wr16(f + 40, 3);		/* seq */
	memcpy(f + 42, data, 16);
	wr16(f + 36, pm_wire_csum_fold(pm_wire_csum_partial(f + 34, icmp_len,
				       0)));
	return 14 + 20 + icmp_len;
}

static void
test_icmp_echo(void **state)
{
	uint8_t f[64];
	struct pm_pkt pkt;
	int n;

	(void)state;
	n = build_echo(f, 8);
	assert_int_equal(pm_wire_parse(f, n, &pkt), PM_WIRE_ICMP);
	assert_int_equal(pkt.pl_len, 24);
	assert_int_equal(pm_wire_icmp_echo_reply(f, &pkt), PM_WIRE_OK);
	assert_int_equal(pm_wire_parse(f, n, &pkt), PM_WIRE_ICMP);
	assert_int_equal(f[34], 0);
	assert_int_equal(pkt.sip, IP_B);
	assert_int_equal(pkt.dip, IP_A);
	assert_memory_equal(pkt.dmac, mac_a, 6);
	assert_memory_equal(pkt.smac, mac_b, 6);
	assert_int_equal(rd16(f + 38), 0xbeef);
	assert_memory_equal(f + 42, "0123456789abcdef", 16);
	assert_int_equal(pm_wire_csum_fold(pm_wire_csum_partial(f + 34, 24, 0)),
			 0);
	/* a reply is not answered */
	assert_int_equal(pm_wire_icmp_echo_reply(f, &pkt), PM_WIRE_NOT_FOR_US);

	/* padded to the Ethernet minimum */
	n = build_echo(f, 8);
	assert_int_equal(pm_wire_parse(f, 60, &pkt), PM_WIRE_ICMP);
	assert_int_equal(pkt.pl_len, 24);

	/* too short to be an echo */
	n = build_echo(f, 8);
	wr16(f + 16, 20 + 4);
	fix_ip_csum(f, 14);
	assert_int_equal(pm_wire_parse(f, n, &pkt), PM_WIRE_ICMP);
	assert_int_equal(pm_wire_icmp_echo_reply(f, &pkt), PM_WIRE_NOT_FOR_US);
}

/*
 * Path discovery: a probe marked with TTL 2 and an ID, quoted by a router's
 * Time Exceeded (outer IP from the router, ICMP header, the probe's IP
 * header and first 8 bytes): the quote gives back the router, the ID and
 * the 5-tuple; other ICMP types, a bad checksum and short quotes refuse.
 */
static void
test_icmp_quote(void **state)
{
	uint8_t probe[256], f[128];
	struct pm_icmp_quote q;
	struct pm_pkt pkt;
	int n, plen;

	(void)state;
	n = build_probe(probe, sizeof(probe), 44);
	assert_true(n > 0);
	pm_wire_trace_mark(probe, 2, 0x8123);
	assert_int_equal(pm_wire_parse(probe, (uint32_t)n, &pkt), PM_WIRE_OK);
	assert_int_equal(pkt.ttl, 2);
	assert_int_equal(rd16(probe + 18), 0x8123);

	plen = 8 + 20 + 8;
	memset(f, 0, sizeof(f));
	memcpy(f, mac_a, 6);
	memcpy(f + 6, mac_b, 6);
	wr16(f + 12, 0x0800);
	f[14] = 0x45;
	wr16(f + 16, 20 + plen);
	f[22] = 64;
	f[23] = 1;
	wr16(f + 26, 0xac12);		/* 172.18.0.0: a spine */
	wr16(f + 28, 0x0000);
	memcpy(f + 30, probe + 26, 4);	/* to the probe's source */
	fix_ip_csum(f, 14);
	f[34] = PM_ICMP_TIME_EXCEEDED;
	memcpy(f + 42, probe + 14, 28);	/* IP header + UDP header */
	wr16(f + 36, pm_wire_csum_fold(pm_wire_csum_partial(f + 34, plen, 0)));
	n = 14 + 20 + plen;
	assert_int_equal(pm_wire_parse(f, (uint32_t)n, &pkt), PM_WIRE_ICMP);
	assert_int_equal(pm_wire_icmp_quote(f, &pkt, &q), PM_WIRE_OK);
	assert_int_equal(q.type, PM_ICMP_TIME_EXCEEDED);
	assert_int_equal(q.from, 0xac120000);
	assert_int_equal(q.ip_id, 0x8123);
	assert_int_equal(q.proto, 17);
	assert_int_equal(q.sip, rd32(probe + 26));
	assert_int_equal(q.dip, rd32(probe + 30));
	assert_int_equal(q.sport, rd16(probe + 34));
	assert_int_equal(q.dport, rd16(probe + 36));

	/* Corrupt checksum, an echo, a quote cut short. */
	f[45] ^= 1;
	assert_int_equal(pm_wire_icmp_quote(f, &pkt, &q), PM_WIRE_IP_CSUM);
	f[45] ^= 1;
	n = build_echo(f, 8);
	assert_int_equal(pm_wire_parse(f, (uint32_t)n, &pkt), PM_WIRE_ICMP);
	assert_int_equal(pm_wire_icmp_quote(f, &pkt, &q), PM_WIRE_NOT_FOR_US);
	pkt.pl_len = 8 + 12;
	f[34] = PM_ICMP_TIME_EXCEEDED;
	assert_int_equal(pm_wire_icmp_quote(f, &pkt, &q), PM_WIRE_IP_CSUM);
}

/* One's complement difference a - b of two 16-bit checksums, with the
 * two zeros (0x0000, 0xffff) read as one. */
static uint16_t
oc_diff(uint16_t a, uint16_t b)
{
	uint32_t s = (uint32_t)a + (uint16_t)~b;

	s = (s & 0xffff) + (s >> 16);
	return s == 0xffff ? 0 : (uint16_t)s;
}

/* A 44-byte request (the reflector's common case) comes back with the
 * fields RFC 8762 4.3 gives, whatever the sender put in its MBZ bytes, and
 * with the request's checksum error, if any, carried over unchanged: a
 * valid checksum stays valid, none (0) stays none, a wrong one stays
 * exactly as wrong. */
static void
test_reflect_base_random(void **state)
{
	uint8_t f[128], req[128], g[128], g2[128];
	struct pm_probe_hdr h;
	struct pm_pkt pkt, rp;
	uint16_t r_ee, csum, want, err;
	uint64_t t2, t3;
	uint32_t owe;
	int n, i, k, kind;

	(void)state;
	for (i = 0; i < 100000; i++) {
		probe_hdr_init(&h, 44);
		h.ttl = (uint8_t)(1 + rng() % 255);
		n = pm_wire_probe_build(f, sizeof(f), &h);
		assert_int_equal(n, PM_PROBE_HDRS_LEN + 44);
		for (k = 0; k < 44; k++)
			f[PM_PROBE_HDRS_LEN + k] = (uint8_t)rng();
		assert_int_equal(pm_wire_parse_flags(f, n, PM_WIRE_F_NO_UDP_CSUM, &pkt),
				 PM_WIRE_OK);
		pm_wire_udp_csum_set(f, &pkt);
		kind = i % 3;		/* valid, none, wrong */
		if (kind == 1)
			wr16(f + 40, 0);
		else if (kind == 2) {	/* wrong, and not 0 (that is "none") */
			csum = rd16(f + 40);
			do
				want = (uint16_t)(csum + 1 + rng() % 0xfffe);
			while (want == 0);
			wr16(f + 40, want);
		}
		memcpy(req, f, n);
		t2 = rng();
		r_ee = (uint16_t)rng();
		assert_int_equal(pm_wire_stamp_request_fast(f, n, IP_B, &pkt), 1);
		memcpy(g, f, n);
		memcpy(g2, f, n);
		assert_int_equal(pm_wire_stamp_reflect(f, &pkt, t2, r_ee), PM_WIRE_OK);

		/* Headers: swapped, TTL 255, IPv4 checksum valid. */
		assert_memory_equal(f, req + 6, 6);
		assert_memory_equal(f + 6, req, 6);
		assert_memory_equal(f + 26, req + 30, 4);
		assert_memory_equal(f + 30, req + 26, 4);
		assert_memory_equal(f + 34, req + 36, 2);
		assert_memory_equal(f + 36, req + 34, 2);
		assert_int_equal(f[22], 255);
		/* Payload, byte by byte against the request. */
		assert_memory_equal(f + 42, req + 42, 4);		/* seq */
		for (k = 4; k < 12; k++)
			assert_int_equal(f[42 + k], 0);			/* t3 */
		assert_int_equal(rd16(f + 42 + 12), r_ee);
		assert_memory_equal(f + 42 + 14, req + 42 + 14, 2);	/* ssid */
		assert_true(((uint64_t)rd32(f + 42 + 16) << 32 | rd32(f + 42 + 20)) == t2);
		assert_memory_equal(f + 42 + 24, req + 42, 4);		/* s_seq */
		assert_memory_equal(f + 42 + 28, req + 42 + 4, 8);	/* s_ts */
		assert_memory_equal(f + 42 + 36, req + 42 + 12, 2);	/* s_ee */
		assert_int_equal(rd16(f + 42 + 38), 0);
		assert_int_equal(f[42 + 40], h.ttl);
		assert_int_equal(f[42 + 41], 0);
		assert_int_equal(rd16(f + 42 + 42), 0);
		assert_int_equal(pm_wire_parse_flags(f, n, PM_WIRE_F_NO_UDP_CSUM, &rp),
				 PM_WIRE_OK);	/* IPv4 header checksum good */
		/* t3 too, then the UDP checksum's error against the request's. */
		t3 = rng();
		pm_wire_stamp_set_tx_ts(f, &rp, t3);
		/* The DPDK reflector's way, checksum settled with t3: same bytes. */
		assert_int_equal(pm_wire_stamp_reflect_owe(g, &pkt, t2, r_ee, &owe),
				 PM_WIRE_OK);
		pm_wire_stamp_finish(g, &pkt, t3, owe);
		assert_memory_equal(g, f, n);
		/* Its inline loop: the base case inline, the finish inline;
		 * a request with TLVs is left for the call, untouched. */
		rp = pkt;
		rp.pl_len = PM_STAMP_BASE_LEN + 4;
		assert_int_equal(pm_wire_stamp_reflect_owe_base(g2, &rp, t2, r_ee, &owe), 0);
		assert_memory_equal(g2, req, n);
		owe = 0;
		assert_int_equal(pm_wire_stamp_reflect_owe_base(g2, &pkt, t2, r_ee, &owe), 1);
		pm_wire_stamp_finish_inline(g2, &pkt, t3, owe);
		assert_memory_equal(g2, f, n);
		csum = rd16(f + 40);
		if (kind == 1) {
			assert_int_equal(csum, 0);
			continue;
		}
		want = full_udp_csum(f, n);
		err = oc_diff(rd16(req + 40), full_udp_csum(req, n));
		assert_int_equal(oc_diff(csum, want), err);
		if (kind == 0)
			assert_int_equal(pm_wire_parse(f, n, &rp), PM_WIRE_OK);
		else
			assert_int_equal(pm_wire_parse(f, n, &rp), PM_WIRE_UDP_CSUM);
	}
}

/* The reflector's one-pass parse accepts only what the general parse
 * accepts, and then fills the same: frames damaged at random, cut short,
 * tagged, with options, fragments, to another address. */
static void
test_request_fast(void **state)
{
	uint8_t f[PM_STAMP_MAX_PAYLOAD + 64], g[sizeof(f) + 4];
	static const uint16_t lens[] = { 44, 48, 1400 };
	struct pm_pkt a, b;
	uint32_t len;
	unsigned int fast = 0, slow = 0;
	int n, i, k, rc;

	(void)state;
	for (i = 0; i < 300000; i++) {
		n = build_probe(f, sizeof(f), lens[i % 3]);
		pm_wire_probe_stamp(f, (uint32_t)i, rng(), 0x8001);
		len = (uint32_t)n;
		if (i % 4) {	/* damage 1..3 bytes of the headers */
			for (k = 0; k < 1 + i % 3; k++)
				f[rng() % (PM_PROBE_HDRS_LEN + 4)] ^= (uint8_t)(1 + rng() % 255);
		}
		if (i % 5 == 1)
			len = (uint32_t)(rng() % (n + 1));
		memset(&a, 0, sizeof(a));
		memset(&b, 0, sizeof(b));
		if (pm_wire_stamp_request_fast(f, len, IP_B, &a)) {
			fast++;
			assert_int_equal(pm_wire_parse_flags(f, len, PM_WIRE_F_NO_UDP_CSUM, &b),
					 PM_WIRE_OK);
			assert_memory_equal(&a, &b, sizeof(a));
		} else {
			rc = pm_wire_parse_flags(f, len, PM_WIRE_F_NO_UDP_CSUM, &b);
			if (rc == PM_WIRE_OK)
				slow++;
			/* Only a frame for another address may parse OK here. */
			assert_true(rc != PM_WIRE_OK || b.dip != IP_B);
		}
	}
	assert_true(fast > 75000);
	assert_true(slow > 0 || fast > 0);

	/* Shapes the general way takes: VLAN tag, IPv4 options, fragment. */
	n = build_probe(f, sizeof(f), 44);
	assert_int_equal(pm_wire_stamp_request_fast(f, n, IP_B, &a), 1);
	assert_int_equal(pm_wire_stamp_request_fast(f, n, IP_A, &a), 0);
	assert_int_equal(pm_wire_stamp_request_fast(f, n - 1, IP_B, &a), 0);
	memcpy(g, f, 12);
	wr16(g + 12, 0x8100);
	wr16(g + 14, 7);
	memcpy(g + 16, f + 12, n - 12);
	assert_int_equal(pm_wire_stamp_request_fast(g, n + 4, IP_B, &a), 0);
	assert_int_equal(pm_wire_parse_flags(g, n + 4, PM_WIRE_F_NO_UDP_CSUM, &b),
			 PM_WIRE_OK);
	f[PM_ETH_HLEN + 6] |= 0x20;	/* MF */
	assert_int_equal(pm_wire_stamp_request_fast(f, n, IP_B, &a), 0);
	f[PM_ETH_HLEN + 6] &= (uint8_t)~0x20;
	f[PM_ETH_HLEN] = 0x46;		/* IHL 6 */
	assert_int_equal(pm_wire_stamp_request_fast(f, n, IP_B, &a), 0);
	f[PM_ETH_HLEN] = 0x45;
	f[PM_PROBE_HDRS_LEN + 3] ^= 1;	/* seq: UDP checksum now wrong */
	assert_int_equal(pm_wire_stamp_request_fast(f, n, IP_B, &a), 1);
}

/* With a UDP checksum in the request, the reply's (carried over through
 * the base fields and any TLV flag set) verifies, for TLVs that tile and
 * for padding that does not, at every length and odd lengths too. */
static void
test_reflect_keeps_checksum_valid(void **state)
{
	uint8_t f[256];
	struct pm_pkt pkt;
	uint32_t x = 7;
	int n, len, i;

	(void)state;
	for (len = 48; len <= 140; len++) {
		n = build_probe(f, sizeof(f), (uint16_t)len);
		/* overwrite the bytes after the base with junk or TLVs */
		for (i = 44; i < len; i++) {
			x = x * 1103515245u + 12345u;
			f[42 + i] = (uint8_t)(x >> 16);
		}
		if (len % 3 == 0) {	/* a valid unknown TLV filling the rest */
			f[42 + 44] = 0;
			f[42 + 45] = 9;
			wr16(f + 42 + 46, (uint16_t)(len - 48));
		}
		/* the junk broke the checksum: make it right again */
		pm_wire_parse(f, n, &pkt);
		pm_wire_udp_csum_set(f, &pkt);
		assert_int_equal(pm_wire_parse(f, n, &pkt), PM_WIRE_OK);
		assert_int_equal(pm_wire_stamp_reflect(f, &pkt, 42, 0x4001), PM_WIRE_OK);
		pm_wire_stamp_set_tx_ts(f, &pkt, 0x1122334455667788ULL);
		assert_int_equal(pm_wire_parse(f, n, &pkt), PM_WIRE_OK);
	}
}

/* The word-at-a-time checksum equals a plain sum of 16-bit big-endian
 * words for every length and alignment (odd tails, jumbo frames). */
static uint32_t
ref_csum(const uint8_t *p, size_t len, uint32_t sum)
{
	uint64_t a = sum;

	for (; len >= 2; p += 2, len -= 2)
		a += (uint32_t)(p[0] << 8 | p[1]);
	if (len)
		a += (uint32_t)p[0] << 8;
	while (a >> 16)
		a = (a & 0xffff) + (a >> 16);
	return (uint32_t)a;
}

static void
test_csum_partial_matches_reference(void **state)
{
	static uint8_t b[9016];
	uint32_t x = 12345, sum;
	size_t len, off, i;
	int it;

	(void)state;
	for (it = 0; it < 20000; it++) {
		for (i = 0; i < sizeof(b); i += 64) {
			x = x * 1103515245u + 12345u;
			b[i] = (uint8_t)(x >> 16);
		}
		x = x * 1103515245u + 12345u;
		off = x % 8;
		len = (it < 200 ? (size_t)it : (x >> 8) % 9000);
		sum = (x >> 3) & 0x3ffff;
		for (i = off; i < off + len; i++)
			b[i] = (uint8_t)(b[i & ~63u] ^ i);
		assert_int_equal(pm_wire_csum_fold(pm_wire_csum_partial(b + off, len, sum)),
				 pm_wire_csum_fold(ref_csum(b + off, len, sum)));
	}
}

/* ---- reflector-less probes ---- */

static void
test_ping_roundtrip(void **state)
{
	struct pm_probe_hdr h;
	struct pm_ping r;
	struct pm_pkt pkt;
	uint8_t f[256];
	int n;

	(void)state;
	probe_hdr_init(&h, 44);
	n = pm_wire_ping_build(f, sizeof(f), &h);
	assert_int_equal(n, 14 + 20 + 8 + 44);
	pm_wire_ping_stamp(f, 0x12345678, 0x0000000100000002ULL);
	/* A well-formed echo request: our own parser and checksum agree. */
	assert_int_equal(pm_wire_parse(f, (uint32_t)n, &pkt), PM_WIRE_ICMP);
	assert_int_equal(pm_wire_csum_fold(pm_wire_csum_partial(f + pkt.l4_off,
						pkt.pl_len, 0)), 0);
	assert_int_equal(pkt.tos, 46 << 2);
	/* The target answers as any kernel does: type 0, data echoed. */
	assert_int_equal(pm_wire_icmp_echo_reply(f, &pkt), PM_WIRE_OK);
	assert_int_equal(pm_wire_parse(f, (uint32_t)n, &pkt), PM_WIRE_ICMP);
	assert_int_equal(pm_wire_ping_parse(f, &pkt, &r), PM_WIRE_OK);
	assert_int_equal(r.id, 49152);
	assert_int_equal(r.seq, 0x12345678);
	assert_int_equal(r.seq16, 0x5678);
	assert_true(r.ts == 0x0000000100000002ULL);
	assert_int_equal(r.ssid, 0x1234);
	assert_int_equal(pkt.sip, IP_B);

	/* Restamping keeps the checksum right. */
	pm_wire_ping_stamp(f, 7, 99);
	assert_int_equal(pm_wire_parse(f, (uint32_t)n, &pkt), PM_WIRE_ICMP);
	assert_int_equal(pm_wire_ping_parse(f, &pkt, &r), PM_WIRE_OK);
	assert_int_equal(r.seq, 7);

	/* A flipped data bit: checksum. */
	f[pkt.l4_off + 30] ^= 1;
	assert_int_equal(pm_wire_ping_parse(f, &pkt, &r), PM_WIRE_IP_CSUM);
	f[pkt.l4_off + 30] ^= 1;
	/* Header sequence and data sequence disagree: not ours. */
	f[pkt.l4_off + 7] ^= 1;
	f[pkt.l4_off + 3] ^= 1;		/* keep the sum: flip the same bit */
	assert_int_equal(pm_wire_ping_parse(f, &pkt, &r), PM_WIRE_NOT_FOR_US);
	f[pkt.l4_off + 7] ^= 1;
	f[pkt.l4_off + 3] ^= 1;
	/* Someone else's ping (no magic) and an echo request. */
	f[pkt.l4_off + 8] ^= 0x80;
	assert_int_equal(pm_wire_ping_parse(f, &pkt, &r), PM_WIRE_SHORT_STAMP);
	f[pkt.l4_off + 8] ^= 0x80;
	f[pkt.l4_off] = 8;
	assert_int_equal(pm_wire_ping_parse(f, &pkt, &r), PM_WIRE_NOT_FOR_US);
	/* Too small to be ours, and too small to build. */
	pkt.pl_len = 8 + 19;
	f[pkt.l4_off] = 0;
	assert_int_equal(pm_wire_ping_parse(f, &pkt, &r), PM_WIRE_SHORT_STAMP);
	probe_hdr_init(&h, 19);
	assert_int_equal(pm_wire_ping_build(f, sizeof(f), &h), -EINVAL);
	probe_hdr_init(&h, 200);
	assert_int_equal(pm_wire_ping_build(f, 100, &h), -ENOSPC);
}

/* Make @f (a SYN we built) into the target's answer with @flags. */
static void
syn_answer(uint8_t *f, const struct pm_pkt *pkt, uint8_t flags, uint32_t seq,
	   uint32_t ack)
{
	uint8_t *ip = f + pkt->l3_off, *tcp = f + pkt->l4_off, t[6];
	uint32_t sum;
	uint16_t port;

	memcpy(t, f, 6);
	memcpy(f, f + 6, 6);
	memcpy(f + 6, t, 6);
	memcpy(t, ip + 12, 4);
	memcpy(ip + 12, ip + 16, 4);
	memcpy(ip + 16, t, 4);
	port = (uint16_t)(tcp[0] << 8 | tcp[1]);
	tcp[0] = tcp[2];
	tcp[1] = tcp[3];
	tcp[2] = (uint8_t)(port >> 8);
	tcp[3] = (uint8_t)port;
	tcp[4] = (uint8_t)(seq >> 24); tcp[5] = (uint8_t)(seq >> 16);
	tcp[6] = (uint8_t)(seq >> 8); tcp[7] = (uint8_t)seq;
	tcp[8] = (uint8_t)(ack >> 24); tcp[9] = (uint8_t)(ack >> 16);
	tcp[10] = (uint8_t)(ack >> 8); tcp[11] = (uint8_t)ack;
	tcp[13] = flags;
	tcp[16] = tcp[17] = 0;
	sum = pm_wire_csum_partial(ip + 12, 8, 0) + 6 + PM_SYN_HLEN;
	sum = pm_wire_csum_fold(pm_wire_csum_partial(tcp, PM_SYN_HLEN, sum));
	tcp[16] = (uint8_t)(sum >> 8);
	tcp[17] = (uint8_t)sum;
}

static void
test_syn_rst(void **state)
{
	struct pm_probe_hdr h;
	struct pm_tcp_seg s;
	struct pm_pkt pkt;
	uint8_t f[128];
	int n, m;

	(void)state;
	probe_hdr_init(&h, 0);
	h.dport = 22;
	n = pm_wire_syn_build(f, sizeof(f), &h);
	assert_int_equal(n, 14 + 20 + 24);
	pm_wire_syn_stamp(f, 0xfffffffe);
	assert_int_equal(pm_wire_parse(f, (uint32_t)n, &pkt), PM_WIRE_NOT_UDP);
	assert_int_equal(pkt.proto, 6);
	assert_int_equal(pkt.sport, 49152);
	assert_int_equal(pkt.dport, 22);
	assert_int_equal(pm_wire_tcp_parse(f, &pkt, &s), PM_WIRE_OK);
	assert_int_equal(s.flags, PM_TCP_SYN);
	assert_int_equal(s.seq, 0xfffffffe);
	assert_int_equal(s.data_len, 0);

	/* SYN-ACK (port open): acknowledges ISN + 1; we reset at that. */
	syn_answer(f, &pkt, PM_TCP_SYN | PM_TCP_ACK, 1000, 0xffffffff);
	assert_int_equal(pm_wire_parse(f, (uint32_t)n, &pkt), PM_WIRE_NOT_UDP);
	assert_int_equal(pm_wire_tcp_parse(f, &pkt, &s), PM_WIRE_OK);
	assert_int_equal(s.ack - 1, 0xfffffffe);
	assert_int_equal(s.sport, 22);
	assert_int_equal(s.dport, 49152);
	m = pm_wire_tcp_rst(f, &pkt, &s);
	assert_int_equal(m, 14 + 20 + 20);
	assert_int_equal(pm_wire_parse(f, (uint32_t)m, &pkt), PM_WIRE_NOT_UDP);
	assert_int_equal(pkt.sip, IP_A);
	assert_int_equal(pkt.dip, IP_B);
	assert_memory_equal(f, mac_b, 6);
	assert_int_equal(pm_wire_tcp_parse(f, &pkt, &s), PM_WIRE_OK);
	assert_int_equal(s.flags, PM_TCP_RST);
	assert_int_equal(s.seq, 0xffffffff);
	assert_int_equal(s.sport, 49152);
	assert_int_equal(s.dport, 22);
	/* A reset is never answered. */
	assert_int_equal(pm_wire_tcp_rst(f, &pkt, &s), -EINVAL);

	/* A SYN to us (no ACK): RST-ACK acknowledging the SYN. */
	n = pm_wire_syn_build(f, sizeof(f), &h);
	pm_wire_syn_stamp(f, 5000);
	assert_int_equal(pm_wire_parse(f, (uint32_t)n, &pkt), PM_WIRE_NOT_UDP);
	assert_int_equal(pm_wire_tcp_parse(f, &pkt, &s), PM_WIRE_OK);
	m = pm_wire_tcp_rst(f, &pkt, &s);
	assert_int_equal(pm_wire_parse(f, (uint32_t)m, &pkt), PM_WIRE_NOT_UDP);
	assert_int_equal(pm_wire_tcp_parse(f, &pkt, &s), PM_WIRE_OK);
	assert_int_equal(s.flags, PM_TCP_RST | PM_TCP_ACK);
	assert_int_equal(s.seq, 0);
	assert_int_equal(s.ack, 5001);

	/* Damage: checksum, data offset. */
	f[pkt.l4_off + 14] ^= 1;
	assert_int_equal(pm_wire_tcp_parse(f, &pkt, &s), PM_WIRE_UDP_CSUM);
	f[pkt.l4_off + 14] ^= 1;
	f[pkt.l4_off + 12] = 0xf0;
	assert_int_equal(pm_wire_tcp_parse(f, &pkt, &s), PM_WIRE_BAD_UDP);
	f[pkt.l4_off + 12] = 0x40;
	assert_int_equal(pm_wire_tcp_parse(f, &pkt, &s), PM_WIRE_BAD_UDP);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cause_str),
		cmocka_unit_test(test_csum_partial_matches_reference),
		cmocka_unit_test(test_reflect_keeps_checksum_valid),
		cmocka_unit_test(test_reflect_base_random),
		cmocka_unit_test(test_request_fast),
		cmocka_unit_test(test_sender_offsets),
		cmocka_unit_test(test_reflector_offsets),
		cmocka_unit_test(test_tlv_check),
		cmocka_unit_test(test_ptp),
		cmocka_unit_test(test_ntp),
		cmocka_unit_test(test_ee),
		cmocka_unit_test(test_csum),
		cmocka_unit_test(test_probe_build),
		cmocka_unit_test(test_probe_stamp_incremental),
		cmocka_unit_test(test_reflect),
		cmocka_unit_test(test_reflect_unknown_tlv),
		cmocka_unit_test(test_reflect_refused),
		cmocka_unit_test(test_vlan),
		cmocka_unit_test(test_parse_truncated),
		cmocka_unit_test(test_parse_min_frame_padding),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_ip_options),
		cmocka_unit_test(test_parse_garbage),
		cmocka_unit_test(test_arp),
		cmocka_unit_test(test_icmp_echo),
		cmocka_unit_test(test_icmp_quote),
		cmocka_unit_test(test_ping_roundtrip),
		cmocka_unit_test(test_syn_rst),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
