/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for lib/wire.c, the decoder that sees every byte the
 * network sends a pmesh prober or reflector.
 *
 * Each input is used twice.  First raw: pm_wire_parse, the STAMP decoders,
 * the prober's one-pass reply path (checked against the general one),
 * the TLV walk and the ARP parser get the bytes exactly as given (the input
 * is its own buffer, so ASan flags any read past its end).  Then on a
 * private copy whose IPv4 and UDP checksums are repaired, because a random
 * mutation almost never carries a valid checksum and the interesting code
 * (reflection, set_tx_ts, ICMP and ARP replies) lies behind that check.
 * The writers are checked for what they promise: a reply they produce
 * parses again.  Built with -DPM_FUZZ_SEED_MAIN instead, this file is a
 * small program that writes seed frames into a directory (scripts/fuzz.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "pm_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant broke: crash so libFuzzer keeps the input. */
#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

static uint64_t
load64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static void
check_conversions(const uint8_t *data, size_t size)
{
	uint64_t x, ns;
	uint16_t ee;

	if (size < 8)
		return;
	x = load64(data);
	ns = x % (0xffffffffULL * 1000000000ULL);
	CHECK(pm_wire_ptp_to_ns(pm_wire_ptp_from_ns(ns)) == ns);
	CHECK(pm_wire_ntp_to_ns(pm_wire_ntp_from_ns(ns)) == ns);
	ee = pm_wire_ee_make(data[0] & 1, data[0] & 2, x);
	CHECK(pm_wire_ee_ns(ee) >= x);
	CHECK((ee & 0xff) != 0);
	(void)pm_wire_ee_ns((uint16_t)x);
	(void)pm_wire_ts_to_ns(x, (uint16_t)x);
}

/*
 * Independent TLV walk (differential oracle): a wrong tiling verdict is
 * memory-safe, so ASan alone would never notice it.
 */
static int
tlv_oracle(const uint8_t *pl, size_t len, unsigned int *n)
{
	size_t off;

	*n = 0;
	if (len < PM_STAMP_BASE_LEN)
		return PM_WIRE_SHORT_STAMP;
	for (off = PM_STAMP_BASE_LEN; off != len; (*n)++) {
		if (off + PM_STAMP_TLV_HDR_LEN > len)
			return PM_WIRE_BAD_TLV;
		off += PM_STAMP_TLV_HDR_LEN +
			(size_t)(pl[off + 2] << 8 | pl[off + 3]);
		if (off > len)
			return PM_WIRE_BAD_TLV;
	}
	return PM_WIRE_OK;
}

/* Repair IPv4 and UDP checksums in place, using the parser's own offsets. */
/*
 * The prober's one-pass reply path (pm_wire_stamp_reply_fast) against the
 * general one: whatever it accepts, pm_wire_parse and the reflector decoder
 * accept with the same fields; whatever they accept in its shape (untagged,
 * 20-byte IPv4 header, to that address, STAMP-sized), it accepts too.
 */
static void
check_fast(const uint8_t *buf, uint32_t len)
{
	struct pm_stamp_reflector rf, rs;
	struct pm_pkt pf, ps;
	uint32_t dip;
	int fast, rc, dec = -1;

	if (len < 34)
		return;
	dip = (uint32_t)buf[30] << 24 | (uint32_t)buf[31] << 16 |
	      (uint32_t)buf[32] << 8 | buf[33];
	CHECK(pm_wire_stamp_reply_fast(buf, len, dip + 1, &pf, &rf) == 0);
	fast = pm_wire_stamp_reply_fast(buf, len, dip, &pf, &rf);
	rc = pm_wire_parse(buf, len, &ps);
	if (rc == PM_WIRE_OK)
		dec = pm_wire_stamp_reflector_decode(buf + ps.pl_off, ps.pl_len, &rs);
	if (rc == PM_WIRE_OK && dec == PM_WIRE_OK && ps.l3_off == 14 &&
	    ps.l4_off == 34 && ps.dip == dip)
		CHECK(fast == 1);
	if (!fast)
		return;
	CHECK(rc == PM_WIRE_OK && dec == PM_WIRE_OK);
	CHECK(pf.sip == ps.sip && pf.dip == ps.dip && pf.sport == ps.sport &&
	      pf.dport == ps.dport && pf.proto == ps.proto && pf.ttl == ps.ttl &&
	      pf.tos == ps.tos && pf.vlan == ps.vlan && pf.ethertype == ps.ethertype &&
	      pf.l3_off == ps.l3_off && pf.l4_off == ps.l4_off &&
	      pf.pl_off == ps.pl_off && pf.pl_len == ps.pl_len);
	CHECK(rf.seq == rs.seq && rf.ts == rs.ts && rf.ee == rs.ee &&
	      rf.ssid == rs.ssid && rf.rx_ts == rs.rx_ts && rf.s_seq == rs.s_seq &&
	      rf.s_ts == rs.s_ts && rf.s_ee == rs.s_ee && rf.s_ttl == rs.s_ttl);
}

/*
 * The reflector's one-pass request parse likewise: what it accepts the
 * general parse (UDP checksum not checked) accepts with the same fields,
 * and what that accepts in its shape, it accepts.
 */
static void
check_request_fast(const uint8_t *buf, uint32_t len)
{
	struct pm_pkt pf, ps;
	uint32_t dip;
	int fast, rc;

	if (len < 34)
		return;
	dip = (uint32_t)buf[30] << 24 | (uint32_t)buf[31] << 16 |
	      (uint32_t)buf[32] << 8 | buf[33];
	CHECK(pm_wire_stamp_request_fast(buf, len, dip + 1, &pf) == 0);
	memset(&pf, 0, sizeof(pf));
	fast = pm_wire_stamp_request_fast(buf, len, dip, &pf);
	rc = pm_wire_parse_flags(buf, len, PM_WIRE_F_NO_UDP_CSUM, &ps);
	if (rc == PM_WIRE_OK && ps.l3_off == 14 && ps.l4_off == 34 && ps.dip == dip)
		CHECK(fast == 1);
	if (fast)
		CHECK(rc == PM_WIRE_OK && memcmp(&pf, &ps, sizeof(pf)) == 0);
}

static int
fix_checksums(uint8_t *buf, uint32_t len, struct pm_pkt *pkt)
{
	uint8_t *ip;
	uint32_t ihl;
	uint16_t c;
	int rc;

	rc = pm_wire_parse(buf, len, pkt);
	if (rc == PM_WIRE_IP_CSUM) {
		ip = buf + pkt->l3_off;
		ihl = pkt->l4_off - pkt->l3_off;
		ip[10] = 0;
		ip[11] = 0;
		c = pm_wire_csum_fold(pm_wire_csum_partial(ip, ihl, 0));
		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
		rc = pm_wire_parse(buf, len, pkt);
	}
	if (rc == PM_WIRE_UDP_CSUM) {
		pm_wire_udp_csum_set(buf, pkt);
		rc = pm_wire_parse(buf, len, pkt);
		CHECK(rc == PM_WIRE_OK);
	}
	return rc;
}

static void
exercise_copy(const uint8_t *data, size_t size)
{
	struct pm_stamp_reflector r;
	struct pm_stamp_sender s;
	struct pm_pkt pkt, rp;
	uint32_t len = (uint32_t)size;
	uint64_t t = size >= 8 ? load64(data) : 0;
	uint32_t sip, tip;
	uint8_t sha[6];
	uint16_t op;
	uint8_t *buf, *other = NULL;
	uint32_t owe;
	int rc, tlv;

	buf = malloc(size ? size : 1);
	if (buf == NULL)
		return;
	memcpy(buf, data, size);
	check_request_fast(buf, len);
	rc = fix_checksums(buf, len, &pkt);
	check_fast(buf, len);
	check_request_fast(buf, len);
	if (rc == PM_WIRE_OK) {
		CHECK((uint32_t)pkt.pl_off + pkt.pl_len <= len);
		rc = pm_wire_stamp_sender_decode(buf + pkt.pl_off, pkt.pl_len,
						 &s);
		tlv = pm_wire_stamp_tlv_check(buf + pkt.pl_off, pkt.pl_len, NULL);
		/* The DPDK reflector's way (checksum settled with t3) on a
		 * copy: the same reply, byte for byte. */
		other = malloc(size ? size : 1);
		if (other != NULL)
			memcpy(other, buf, size);
		if (pm_wire_stamp_reflect(buf, &pkt, t, (uint16_t)t) ==
		    PM_WIRE_OK) {
			CHECK(rc == PM_WIRE_OK);
			pm_wire_stamp_set_tx_ts(buf, &pkt, ~t);
			if (other != NULL) {
				CHECK(pm_wire_stamp_reflect_owe(other, &pkt, t, (uint16_t)t,
								&owe) == PM_WIRE_OK);
				pm_wire_stamp_finish(other, &pkt, ~t, owe);
				CHECK(memcmp(other, buf, size) == 0);
			}
			check_fast(buf, len);
			CHECK(pm_wire_parse(buf, len, &rp) == PM_WIRE_OK);
			CHECK(rp.sport == pkt.dport && rp.dport == pkt.sport);
			CHECK(rp.pl_len == pkt.pl_len);
			CHECK(pm_wire_stamp_reflector_decode(buf + rp.pl_off,
				rp.pl_len, &r) == PM_WIRE_OK);
			CHECK(r.s_seq == s.seq && r.s_ts == s.ts);
			CHECK(r.rx_ts == t && r.ts == ~t);
			/* Flags may change, never the TLV layout: padding
			 * that did not tile is returned as it came. */
			CHECK(pm_wire_stamp_tlv_check(buf + rp.pl_off,
				rp.pl_len, NULL) == tlv);
		}
	} else if (rc == PM_WIRE_ICMP) {
		struct pm_icmp_quote q;

		/* Path discovery reads router errors: never past the frame. */
		if (pm_wire_icmp_quote(buf, &pkt, &q) == PM_WIRE_OK)
			CHECK(q.type == PM_ICMP_TIME_EXCEEDED || q.type == PM_ICMP_UNREACHABLE);
		CHECK((uint32_t)pkt.pl_off + pkt.pl_len <= len);
		if (pm_wire_icmp_echo_reply(buf, &pkt) == PM_WIRE_OK)
			CHECK(pm_wire_parse(buf, len, &rp) == PM_WIRE_ICMP);
	} else if (rc == PM_WIRE_NOT_UDP && pkt.proto == 6 && pkt.pl_len >= 20) {
		struct pm_tcp_seg sg, sg2;
		int n;

		/* SYN probes' answers: any segment we accept gets a reset
		 * that is itself a valid segment, and a reset none. */
		if (pm_wire_tcp_parse(buf, &pkt, &sg) == PM_WIRE_OK) {
			n = pm_wire_tcp_rst(buf, &pkt, &sg);
			CHECK((n < 0) == !!(sg.flags & PM_TCP_RST));
			if (n > 0) {
				CHECK((uint32_t)n <= len);
				CHECK(pm_wire_parse(buf, (uint32_t)n, &rp) == PM_WIRE_NOT_UDP);
				CHECK(pm_wire_tcp_parse(buf, &rp, &sg2) == PM_WIRE_OK);
				CHECK(sg2.flags & PM_TCP_RST);
				CHECK(sg2.sport == sg.dport && sg2.dport == sg.sport);
			}
		}
	}
	if (rc == PM_WIRE_ICMP) {
		struct pm_ping pg;

		if (pm_wire_ping_parse(buf, &pkt, &pg) == PM_WIRE_OK)
			CHECK((uint16_t)pg.seq == pg.seq16);
	}
	if (pm_wire_arp_parse(buf, len, &op, &sip, &tip, sha) == 1 &&
	    op == 1) {
		pm_wire_arp_reply(buf, sha, tip);
		CHECK(pm_wire_arp_parse(buf, len, &op, &sip, &tip, sha) == 1);
		CHECK(op == 2);
	}
	free(other);
	free(buf);
}

/* Every header the builder accepts must give a frame the parser accepts. */
static void
check_builder(const uint8_t *data, size_t size)
{
	static uint8_t frame[PM_PROBE_HDRS_LEN + PM_STAMP_MAX_PAYLOAD];
	struct pm_probe_hdr h;
	struct pm_pkt pkt;
	int n;

	if (size < 16)
		return;
	memset(&h, 0, sizeof(h));
	memcpy(h.dmac, data, 6);
	memcpy(h.smac, data + 6, 6);
	h.sip = (uint32_t)load64(data) ^ 0x0a000001u;
	h.dip = (uint32_t)(load64(data + 8) >> 32);
	h.sport = (uint16_t)(data[12] << 8 | data[13]);
	h.dport = PM_STAMP_PORT;
	h.dscp = data[14] & 0x7f;
	h.ttl = data[15];
	h.ssid = (uint16_t)(data[1] << 8 | data[2]);
	h.payload_len = (uint16_t)((data[3] << 8 | data[4]) % 9100);
	n = pm_wire_probe_build(frame, sizeof(frame), &h);
	if (n < 0) {
		CHECK(n == -EINVAL);
		return;
	}
	CHECK(pm_wire_parse(frame, (uint32_t)n, &pkt) == PM_WIRE_OK);
	pm_wire_probe_stamp(frame, (uint32_t)load64(data + 4),
			    load64(data + 8), (uint16_t)load64(data));
	CHECK(pm_wire_parse(frame, (uint32_t)n, &pkt) == PM_WIRE_OK);
	CHECK(pm_wire_stamp_reflect(frame, &pkt, 1, 1) == PM_WIRE_OK);
	CHECK(pm_wire_parse(frame, (uint32_t)n, &pkt) == PM_WIRE_OK);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pm_stamp_reflector r;
	struct pm_stamp_sender s;
	struct pm_pkt pkt;
	uint32_t len = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
	uint32_t sip, tip;
	unsigned int ntlv, nref;
	uint8_t sha[6];
	uint16_t op;
	int rc, rc2;

	rc = pm_wire_parse(data, len, &pkt);
	CHECK(rc >= 0 && rc < PM_WIRE_CAUSE_MAX);
	if (rc == PM_WIRE_OK)
		CHECK((uint32_t)pkt.pl_off + pkt.pl_len <= len);
	(void)pm_wire_stamp_sender_decode(data, len, &s);
	(void)pm_wire_stamp_reflector_decode(data, len, &r);
	rc2 = pm_wire_stamp_tlv_check(data, len, &ntlv);
	CHECK(rc2 == tlv_oracle(data, len, &nref));
	CHECK(rc2 != PM_WIRE_OK || ntlv == nref);
	(void)pm_wire_arp_parse(data, len, &op, &sip, &tip, sha);
	(void)pm_wire_cause_str(rc);

	check_conversions(data, size);
	check_fast(data, len);
	exercise_copy(data, len);
	check_builder(data, size);
	return 0;
}

#ifdef PM_FUZZ_SEED_MAIN
/* Seed generator: valid frames of every kind the target knows. */

static int
write_seed(const char *dir, const char *name, const uint8_t *f, int n)
{
	char path[4096];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "wb");
	if (fp == NULL || fwrite(f, 1, (size_t)n, fp) != (size_t)n) {
		perror(path);
		if (fp != NULL)
			fclose(fp);
		return -1;
	}
	return fclose(fp) == 0 ? 0 : -1;
}

static void
seed_hdr(struct pm_probe_hdr *h, uint16_t dport, uint16_t payload_len)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->dmac, "\x02\x00\x00\x00\x00\x0b", 6);
	memcpy(h->smac, "\x02\x00\x00\x00\x00\x0a", 6);
	h->sip = 0x0a000001;
	h->dip = 0x0a000002;
	h->sport = 49152;
	h->dport = dport;
	h->ssid = 1;
	h->payload_len = payload_len;
}

static int
probe(uint8_t *f, uint16_t payload_len)
{
	struct pm_probe_hdr h;

	seed_hdr(&h, PM_STAMP_PORT, payload_len);
	return pm_wire_probe_build(f, 2048, &h);
}

int
main(int argc, char **argv)
{
	static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 0x0a };
	uint8_t f[2048];
	struct pm_pkt pkt;
	int n, err = 0;
	uint16_t c;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	n = probe(f, 44);
	pm_wire_probe_stamp(f, 1, pm_wire_ptp_from_ns(1700000000000000000ULL),
			    pm_wire_ee_make(0, 1, 1000));
	err |= write_seed(argv[1], "probe44", f, n);

	n = probe(f, 120);
	err |= write_seed(argv[1], "probe120", f, n);

	/* a Timestamp Information TLV after the padding: gets the U flag */
	n = probe(f, 60);
	f[PM_PROBE_HDRS_LEN + 46 + 1] = 4;
	f[PM_PROBE_HDRS_LEN + 53] = 3;
	f[PM_PROBE_HDRS_LEN + 55] = 4;
	f[40] = 0;
	f[41] = 0;
	err |= write_seed(argv[1], "probe_tlv", f, n);

	n = probe(f, 44);
	pm_wire_parse(f, (uint32_t)n, &pkt);
	pm_wire_stamp_reflect(f, &pkt, 5, 1);
	pm_wire_stamp_set_tx_ts(f, &pkt, 6);
	err |= write_seed(argv[1], "reply44", f, n);

	/* tagged probe */
	n = probe(f, 44);
	memmove(f + 16, f + 12, (size_t)n - 12);
	f[12] = 0x81;
	f[13] = 0x00;
	f[14] = 0x00;
	f[15] = 0x64;
	err |= write_seed(argv[1], "probe_vlan", f, n + 4);

	n = pm_wire_arp_request(f, sizeof(f), mac, 0x0a000001, 0x0a000002);
	memset(f + n, 0, 60 - n);
	err |= write_seed(argv[1], "arp_request", f, 60);

	/* ICMP echo request with 8 bytes of data, padded to 60 */
	n = probe(f, 44);
	memset(f + 34, 0, 26);
	f[17] = 36;		/* IP total length 20 + 16 */
	f[23] = 1;
	f[34] = 8;
	memcpy(f + 42, "pingpong", 8);
	f[24] = 0;
	f[25] = 0;
	c = pm_wire_csum_fold(pm_wire_csum_partial(f + 14, 20, 0));
	f[24] = (uint8_t)(c >> 8);
	f[25] = (uint8_t)c;
	c = pm_wire_csum_fold(pm_wire_csum_partial(f + 34, 16, 0));
	f[36] = (uint8_t)(c >> 8);
	f[37] = (uint8_t)c;
	err |= write_seed(argv[1], "icmp_echo", f, 60);

	/* our ping, answered; a SYN probe and its SYN-ACK */
	{
		struct pm_probe_hdr h;

		seed_hdr(&h, 22, 44);
		n = pm_wire_ping_build(f, sizeof(f), &h);
		pm_wire_ping_stamp(f, 3, 77);
		pm_wire_parse(f, (uint32_t)n, &pkt);
		pm_wire_icmp_echo_reply(f, &pkt);
		err |= write_seed(argv[1], "ping_reply", f, n);
		n = pm_wire_syn_build(f, sizeof(f), &h);
		pm_wire_syn_stamp(f, 1000);
		err |= write_seed(argv[1], "tcp_syn", f, n);
		f[PM_ETH_HLEN + PM_IP4_HLEN + 13] |= PM_TCP_ACK;	/* bad sum: fuzzed */
		err |= write_seed(argv[1], "tcp_synack", f, n);
	}

	return err ? 1 : 0;
}
#endif /* PM_FUZZ_SEED_MAIN */
