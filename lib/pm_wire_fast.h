/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_wire_fast.h: the inline core of pm_wire's one-pass STAMP reply parse,
 * shared by wire.c and the prober's receive loop, which inlines it.
 *
 * A reply is parsed at the rate probes go out, so the prober takes this
 * parse inline: the fields it reads stay in registers instead of passing
 * through a call and two structs (docs/benchmarks.md, item 10).  Internal
 * to pmesh: the byte-order and checksum helpers keep wire.c's short names,
 * so include this after system and DPDK headers.  wire.c's rules hold
 * here: every read bounded by the caller's length, no state, no
 * allocation.
 */
#ifndef PM_WIRE_FAST_H
#define PM_WIRE_FAST_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pm_wire.h"

#define ETHERTYPE_IPV4	0x0800
#define IPPROTO_UDP_	17
#define IP4_MF		0x2000
#define IP4_OFFMASK	0x1fff

#define REFLECT_TTL	255	/* RFC 8762 4.3: lets the sender see hop count */

/* Big-endian accessors ------------------------------------------------ */

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define be16(v)	__builtin_bswap16(v)
#define be32(v)	__builtin_bswap32(v)
#define be64(v)	__builtin_bswap64(v)
#else
#define be16(v)	(v)
#define be32(v)	(v)
#define be64(v)	(v)
#endif

static inline uint16_t
get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return be16(v);
}

static inline uint32_t
get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return be32(v);
}

static inline uint64_t
get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return be64(v);
}

static inline void
put16(uint8_t *p, uint16_t v)
{
	v = be16(v);
	memcpy(p, &v, sizeof(v));
}

static inline void
put32(uint8_t *p, uint32_t v)
{
	v = be32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void
put64(uint8_t *p, uint64_t v)
{
	v = be64(v);
	memcpy(p, &v, sizeof(v));
}

/*
 * Host-order one's complement sums.  The sum commutes with byte swapping
 * (RFC 1071 2.B), so words are loaded in host order, summed as 32-bit
 * halves into 64 bits (end-around carries are folded at the end), and a
 * result folded to 16 bits is the byte-swapped network-order sum: compared
 * with, or stored into, a checksum field loaded in host order as well.
 */
static inline uint64_t
hsum64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return (v & 0xffffffffu) + (v >> 32);
}

static inline uint64_t
hsum32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint64_t
hsum16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint16_t
hfold(uint64_t s)
{
	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)((s & 0xffff) + (s >> 16));
}

/* Host-order sum of @len bytes from @p (at an even offset of the summed
 * area); an odd last byte counts as a word padded with zero.  No overflow
 * below 2^31 bytes: at most 2^33 is added per 8 bytes. */
static inline uint64_t
hsum_buf(const uint8_t *p, size_t len)
{
	uint64_t acc = 0;

	for (; len >= 8; p += 8, len -= 8)
		acc += hsum64(p);
	if (len >= 4) {
		acc += hsum32(p);
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		acc += hsum16(p);
		p += 2;
		len -= 2;
	}
	if (len) {
		uint8_t w[2] = { p[0], 0 };

		acc += hsum16(w);
	}
	return acc;
}

/*
 * The host-order sum of words whose network-order (big-endian) values were
 * added up in @s: values still in registers need not be stored and loaded
 * back (a wide load over several narrow stores stalls until they retire).
 */
static inline uint64_t
hsum_of_be(uint64_t s)
{
	return be16(hfold(s));
}

/* Host-order sum of the 40 bytes from @p (the reflector-rewritten part). */
static inline uint64_t
hsum40(const uint8_t *p)
{
	return hsum64(p) + hsum64(p + 8) + hsum64(p + 16) + hsum64(p + 24) +
	       hsum64(p + 32);
}

/* Exchange @n (2, 4 or 6) bytes at @a and @b: MACs, addresses, ports. */
static inline void
swap_bytes(uint8_t *a, uint8_t *b, size_t n)
{
	uint8_t t[8];

	memcpy(t, a, n);
	memcpy(a, b, n);
	memcpy(b, t, n);
}


/*
 * RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), on the host-order checksum
 * field @cf: @old and @new are the host-order sums of the bytes that
 * changed, before and after.  For UDP (@udp), a field of 0 means "no
 * checksum" and stays 0, and a result of 0 is sent as 0xffff (RFC 768);
 * both values read the same in either byte order.
 */
static inline void
happly(uint8_t *cf, uint32_t owed, int udp)
{
	uint16_t hc;
	uint32_t s;

	memcpy(&hc, cf, sizeof(hc));
	if (udp && hc == 0)
		return;
	s = (uint32_t)(uint16_t)~hc + owed;
	s = (s & 0xffff) + (s >> 16);
	hc = (uint16_t)~((s & 0xffff) + (s >> 16));
	if (udp && hc == 0)
		hc = 0xffff;
	memcpy(cf, &hc, sizeof(hc));
}

/* What a checksum owes for a change from @old to @new (~m + m', two 16-bit
 * terms), for happly() now or later: a reply's t3 is not known yet when
 * its other fields change. */
static inline uint32_t
howed(uint64_t old, uint64_t new)
{
	return (uint32_t)(uint16_t)~hfold(old) + hfold(new);
}

static inline void
hcarry(uint8_t *cf, uint64_t old, uint64_t new, int udp)
{
	happly(cf, howed(old, new), udp);
}

/* Host-order sum of the UDP pseudo-header: addresses (adjacent at offset
 * 12 of the IPv4 header), protocol and UDP length. */
static inline uint64_t
ip4_pseudo_hsum(const uint8_t *ip, uint16_t l4_len)
{
	return hsum64(ip + 12) + be16((uint16_t)IPPROTO_UDP_) + be16(l4_len);
}

/* A 20-byte IPv4 header's checksum verifies. */
static inline int
ip4_hdr20_ok(const uint8_t *ip)
{
	return hfold(hsum64(ip) + hsum64(ip + 8) + hsum32(ip + 16)) == 0xffff;
}

/* The UDP datagram of @ulen bytes at @udp verifies against @ip's addresses
 * (pseudo-header and datagram in one host-order pass); zero means none. */
static inline int
udp_csum_ok(const uint8_t *ip, const uint8_t *udp, uint16_t ulen)
{
	return hsum16(udp + 6) == 0 ||
	       hfold(ip4_pseudo_hsum(ip, ulen) + hsum_buf(udp, ulen)) == 0xffff;
}

static inline void
reflector_fields(const uint8_t *pl, struct pm_stamp_reflector *r)
{
	r->seq = get32(pl + PM_STAMP_OFF_SEQ);
	r->ts = get64(pl + PM_STAMP_OFF_TS);
	r->ee = get16(pl + PM_STAMP_OFF_EE);
	r->ssid = get16(pl + PM_STAMP_OFF_SSID);
	r->rx_ts = get64(pl + PM_STAMP_OFF_RX_TS);
	r->s_seq = get32(pl + PM_STAMP_OFF_S_SEQ);
	r->s_ts = get64(pl + PM_STAMP_OFF_S_TS);
	r->s_ee = get16(pl + PM_STAMP_OFF_S_EE);
	r->s_ttl = pl[PM_STAMP_OFF_S_TTL];
}

/*
 * The shape both one-pass parses take: an untagged Ethernet frame, a
 * 20-byte IPv4 header (its checksum is the caller's to check), not a
 * fragment, UDP to @dip with a length that agrees with IP's and at least
 * @min_pl payload bytes.  Returns the UDP length, or 0 for anything else.
 */
static inline uint32_t
udp4_plain(const uint8_t *frame, uint32_t len, uint32_t dip, uint32_t min_pl)
{
	const uint8_t *ip = frame + PM_ETH_HLEN;
	uint32_t tot, ulen;

	if (len < PM_PROBE_HDRS_LEN + min_pl ||
	    hsum16(frame + 12) != be16(ETHERTYPE_IPV4) || ip[0] != 0x45 ||
	    ip[9] != IPPROTO_UDP_ || get32(ip + 16) != dip ||
	    (get16(ip + 6) & (IP4_MF | IP4_OFFMASK)) != 0)
		return 0;
	tot = get16(ip + 2);
	ulen = get16(ip + PM_IP4_HLEN + 4);
	if (tot > len - PM_ETH_HLEN || ulen != tot - PM_IP4_HLEN ||
	    ulen < PM_UDP_HLEN + min_pl)
		return 0;
	return ulen;
}

/*
 * Both checksums of a frame in that shape whose UDP datagram is 52 bytes
 * (a STAMP base packet, nearly every reply): the addresses are loaded once
 * for the IPv4 header and the pseudo-header, and the datagram is summed
 * unrolled, in two independent halves.
 */
static inline int
csums52_ok(const uint8_t *ip)
{
	const uint8_t *udp = ip + PM_IP4_HLEN;
	uint64_t a, h, u0, u1;

	a = hsum64(ip + 12);
	h = hsum64(ip) + hsum32(ip + 8) + a;
	u0 = hsum64(udp) + hsum64(udp + 8) + hsum64(udp + 16);
	u1 = hsum64(udp + 24) + hsum64(udp + 32) + hsum64(udp + 40) +
	     hsum32(udp + 48);
	if (hfold(h) != 0xffff)
		return 0;
	return hsum16(udp + 6) == 0 ||
	       hfold(a + be16((uint16_t)IPPROTO_UDP_) +
		     be16((uint16_t)(PM_UDP_HLEN + PM_STAMP_BASE_LEN)) + u0 + u1) == 0xffff;
}

/* @pkt's fields (all but the MACs) for a frame udp4_plain() accepted. */
static inline void
udp4_plain_fill(const uint8_t *frame, uint32_t dip, uint32_t ulen,
		struct pm_pkt *pkt)
{
	const uint8_t *ip = frame + PM_ETH_HLEN;
	const uint8_t *udp = ip + PM_IP4_HLEN;

	pkt->ethertype = ETHERTYPE_IPV4;
	pkt->vlan = 0;
	pkt->sip = get32(ip + 12);
	pkt->dip = dip;
	pkt->proto = IPPROTO_UDP_;
	pkt->ttl = ip[8];
	pkt->tos = ip[1];
	pkt->sport = get16(udp);
	pkt->dport = get16(udp + 2);
	pkt->l3_off = PM_ETH_HLEN;
	pkt->l4_off = PM_ETH_HLEN + PM_IP4_HLEN;
	pkt->pl_off = PM_PROBE_HDRS_LEN;
	pkt->pl_len = (uint16_t)(ulen - PM_UDP_HLEN);
}

/*
 * The prober's common case in one pass: an untagged Ethernet frame with an
 * IPv4 header of 20 bytes, not fragmented, carrying UDP to @dip with good
 * checksums and a STAMP payload of at least 44 bytes.  The same checks as
 * pm_wire_parse() and pm_wire_stamp_reflector_decode() make, without their
 * generality (VLAN tags, IP options, other protocols), so @pkt and @r come
 * out as those two would fill them where the prober reads them.  Anything
 * else returns 0 and goes the general way, which also names the cause.
 */
static inline int
pm_wire_stamp_reply_fast_inline(const uint8_t *frame, uint32_t len,
				uint32_t dip, struct pm_pkt *pkt,
				struct pm_stamp_reflector *r)
{
	const uint8_t *ip = frame + PM_ETH_HLEN;
	uint32_t ulen;

	ulen = udp4_plain(frame, len, dip, PM_STAMP_BASE_LEN);
	if (ulen == 0)
		return 0;
	if (ulen == PM_UDP_HLEN + PM_STAMP_BASE_LEN ? !csums52_ok(ip) :
	    !ip4_hdr20_ok(ip) || !udp_csum_ok(ip, ip + PM_IP4_HLEN, (uint16_t)ulen))
		return 0;
	udp4_plain_fill(frame, dip, ulen, pkt);
	reflector_fields(frame + PM_PROBE_HDRS_LEN, r);
	return 1;
}

/*
 * The reflector's common case in one pass: an untagged Ethernet frame with
 * a 20-byte IPv4 header (checksum good), not fragmented, carrying UDP to
 * @dip whose length agrees with IP's.  @pkt comes out exactly as
 * pm_wire_parse_flags(PM_WIRE_F_NO_UDP_CSUM) fills it for such a frame; the
 * UDP checksum is not looked at (the reply carries it over).  Anything else
 * returns 0 and goes the general way, which also names the cause.
 */
static inline int
pm_wire_stamp_request_fast_inline(const uint8_t *frame, uint32_t len,
				  uint32_t dip, struct pm_pkt *pkt)
{
	uint32_t ulen;

	ulen = udp4_plain(frame, len, dip, 0);
	if (ulen == 0 || !ip4_hdr20_ok(frame + PM_ETH_HLEN))
		return 0;
	memcpy(pkt->dmac, frame, 6);
	memcpy(pkt->smac, frame + 6, 6);
	udp4_plain_fill(frame, dip, ulen, pkt);
	return 1;
}

/*
 * The reflector fields of a 44-byte request (no TLVs), the same bytes as
 * the general way writes, with the fewest operations: what moves (the
 * sender's seq, timestamp and error estimate) is copied as raw bytes, and
 * the checksum's new sum is taken from the values in registers, not from
 * memory just written (a wide load over narrow stores would stall).
 */
static inline uint32_t
reflect_base(uint8_t *pl, uint64_t rx_ts, uint16_t ee, uint8_t ttl)
{
	const uint8_t tail[4] = { ttl, 0, 0, 0 };	/* S-TTL, MBZ */
	uint64_t o_sum, n_sum, ts, rx;
	uint32_t seq, t4;
	uint16_t s_ee, r_ee, ssid;

	o_sum = hsum40(pl + PM_STAMP_OFF_TS);
	memcpy(&seq, pl + PM_STAMP_OFF_SEQ, 4);
	memcpy(&ts, pl + PM_STAMP_OFF_TS, 8);
	memcpy(&s_ee, pl + PM_STAMP_OFF_EE, 2);
	memcpy(&ssid, pl + PM_STAMP_OFF_SSID, 2);
	memcpy(&t4, tail, 4);
	r_ee = be16(ee);
	rx = be64(rx_ts);
	/* seq (offset 0) stays: stateless, the reflector's seq is the sender's */
	memset(pl + PM_STAMP_OFF_TS, 0, 8);		/* t3: set_tx_ts() */
	memcpy(pl + PM_STAMP_OFF_EE, &r_ee, 2);
	memcpy(pl + PM_STAMP_OFF_RX_TS, &rx, 8);
	memcpy(pl + PM_STAMP_OFF_S_SEQ, &seq, 4);
	memcpy(pl + PM_STAMP_OFF_S_TS, &ts, 8);
	memcpy(pl + PM_STAMP_OFF_S_EE, &s_ee, 2);
	memset(pl + PM_STAMP_OFF_S_EE + 2, 0, 2);
	memcpy(pl + PM_STAMP_OFF_S_TTL, &t4, 4);
	n_sum = (uint64_t)r_ee + ssid + (rx & 0xffffffffu) + (rx >> 32) + seq +
		(ts & 0xffffffffu) + (ts >> 32) + s_ee + t4;
	return howed(o_sum, n_sum);
}

/* The headers of a reflected frame: MACs, addresses and ports swapped,
 * TTL 255.  Swapping leaves the sums alone; only the TTL changes in the
 * IPv4 header, so its checksum is carried over. */
static inline void
reflect_headers(uint8_t *frame, const struct pm_pkt *pkt)
{
	uint8_t *ip = frame + pkt->l3_off;
	uint8_t *udp = frame + pkt->l4_off;
	uint64_t o_sum;

	swap_bytes(frame, frame + 6, 6);
	swap_bytes(ip + 12, ip + 16, 4);
	swap_bytes(udp, udp + 2, 2);
	o_sum = hsum16(ip + 8);
	ip[8] = REFLECT_TTL;
	hcarry(ip + 10, o_sum, hsum_of_be(((uint64_t)REFLECT_TTL << 8) | pkt->proto), 0);
}

/*
 * pm_wire_stamp_reflect_owe() for the request nearly every sender sends, a
 * 44-byte base packet, inline for the reflector's loop.  Returns 1 when
 * @frame was one and is reflected (*@owe set), 0 when it was not and the
 * call must make the reply.
 */
static inline int
pm_wire_stamp_reflect_owe_base(uint8_t *frame, const struct pm_pkt *pkt,
			       uint64_t rx_ts, uint16_t ee, uint32_t *owe)
{
	if (pkt->pl_len != PM_STAMP_BASE_LEN)
		return 0;
	*owe = reflect_base(frame + pkt->pl_off, rx_ts, ee, pkt->ttl);
	reflect_headers(frame, pkt);
	return 1;
}

/* pm_wire_stamp_finish(), inline for the reflector's loop. */
static inline void
pm_wire_stamp_finish_inline(uint8_t *frame, const struct pm_pkt *pkt,
			    uint64_t tx_ts, uint32_t owe)
{
	uint64_t raw = be64(tx_ts);

	memcpy(frame + pkt->pl_off + PM_STAMP_OFF_TS, &raw, sizeof(raw));
	/* t3 was 0: what changes is its new value, plus what the reflect owed. */
	happly(frame + pkt->l4_off + 6,
	       owe + hfold((raw & 0xffffffffu) + (raw >> 32)), 1);
}

/* pm_wire_probe_stamp_on(), inline for the prober's send loop. */
static inline void
pm_wire_probe_stamp_on_inline(uint8_t *frame, uint32_t seq, uint64_t ts,
			      uint16_t ee, int32_t base)
{
	uint8_t *pl = frame + PM_PROBE_HDRS_LEN;
	uint16_t hc;
	uint32_t s;

	put32(pl + PM_STAMP_OFF_SEQ, seq);
	put64(pl + PM_STAMP_OFF_TS, ts);
	put16(pl + PM_STAMP_OFF_EE, ee);
	if (base < 0)
		return;
	/* + m', the new words, summed from the registers. */
	s = (uint32_t)base + hsum_of_be((uint64_t)seq + (ts >> 32) + (uint32_t)ts + ee);
	s = (s & 0xffff) + (s >> 16);
	hc = (uint16_t)~((s & 0xffff) + (s >> 16));
	if (hc == 0)
		hc = 0xffff;	/* RFC 768 */
	memcpy(frame + PM_ETH_HLEN + PM_IP4_HLEN + 6, &hc, sizeof(hc));
}

#endif /* PM_WIRE_FAST_H */
