/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_wire: STAMP (RFC 8762/8972) over UDP/IPv4/Ethernet, plus ARP and ICMP
 * echo, on plain byte buffers.
 *
 * This is the one decoder every pmesh engine shares, and it is fed straight
 * from the network (and from libFuzzer), so every read is bounded by the
 * length the caller gave, never by a length field in the packet.  Fields
 * are loaded and stored through memcpy (frames sit at arbitrary alignment in
 * mbufs and socket buffers; the compiler makes single loads of them) and
 * byte-swapped with builtins.  Nothing here allocates, logs or keeps
 * state; failures are reported as enum pm_wire_cause for the caller to
 * count.  The byte layouts are documented in docs/wire-format.md.  The
 * byte-order and checksum helpers, and the parses and rewrites the data
 * paths take inline (a reply, a request, a probe's stamp), live in
 * pm_wire_fast.h as *_inline() functions, which the exported ones here wrap.
 */
#include <errno.h>
#include <string.h>

#include "pm_wire.h"
#include "pm_wire_fast.h"

#define ETHERTYPE_ARP	0x0806
#define ETHERTYPE_VLAN	0x8100

#define IPPROTO_ICMP_	1
#define IPPROTO_TCP_	6

#define IP4_DF		0x4000

#define ICMP_ECHO_REPLY		0
#define ICMP_ECHO_REQUEST	8

#define ARP_OP_REQUEST	1
#define ARP_OP_REPLY	2
#define ARP_LEN		28

#define ICMP_REPLY_TTL	64

/* Seconds from the NTP epoch (1900) to the Unix epoch (1970). */
#define NTP_UNIX_DELTA	PM_NTP_UNIX_DELTA
#define NS_PER_S	PM_NS_PER_S

/* Cause names ---------------------------------------------------------- */

/* snake_case because they become JSON keys and telemetry labels. */
static const char *const cause_names[PM_WIRE_CAUSE_MAX] = {
	[PM_WIRE_OK] = "ok",
	[PM_WIRE_TRUNCATED] = "truncated",
	[PM_WIRE_NOT_IPV4] = "not_ipv4",
	[PM_WIRE_ARP] = "arp",
	[PM_WIRE_BAD_IP] = "bad_ip",
	[PM_WIRE_IP_CSUM] = "ip_csum",
	[PM_WIRE_FRAGMENT] = "fragment",
	[PM_WIRE_ICMP] = "icmp",
	[PM_WIRE_NOT_UDP] = "not_udp",
	[PM_WIRE_BAD_UDP] = "bad_udp",
	[PM_WIRE_UDP_CSUM] = "udp_csum",
	[PM_WIRE_WRONG_PORT] = "wrong_port",
	[PM_WIRE_SHORT_STAMP] = "short_stamp",
	[PM_WIRE_BAD_TLV] = "bad_tlv",
	[PM_WIRE_NOT_FOR_US] = "not_for_us",
};

const char *
pm_wire_cause_str(int cause)
{
	if (cause < 0 || cause >= PM_WIRE_CAUSE_MAX)
		return "unknown";
	return cause_names[cause];
}

/* Timestamps ----------------------------------------------------------- */

uint64_t
pm_wire_ptp_from_ns(uint64_t unix_ns)
{
	uint64_t s = unix_ns / NS_PER_S;
	uint64_t ns = unix_ns % NS_PER_S;

	/* The 32-bit seconds field wraps in 2106, as PTP's truncated form does. */
	return ((s & 0xffffffffULL) << 32) | ns;
}

uint64_t
pm_wire_ntp_from_ns(uint64_t unix_ns)
{
	uint64_t s = unix_ns / NS_PER_S + NTP_UNIX_DELTA;
	uint64_t ns = unix_ns % NS_PER_S;
	/* Round to the nearest 2^-32 s so that to_ns(from_ns(x)) == x. */
	uint64_t frac = ((ns << 32) + NS_PER_S / 2) / NS_PER_S;

	return ((s & 0xffffffffULL) << 32) | frac;
}

/*
 * Error Estimate (RFC 4656 4.1.2): Multiplier * 2^(Scale - 32) seconds.
 * The bound we state must never be smaller than the real one, so err_ns is
 * converted to 2^-32 s units rounding up, then the smallest scale whose
 * multiplier fits in 8 bits is taken; rounding values up to multiples of
 * 2^scale is monotonic in scale, so that is also the smallest value.
 */
uint16_t
pm_wire_ee_make(int synced, int ptp, uint64_t err_ns)
{
	unsigned __int128 units;
	unsigned __int128 mult;
	unsigned int scale;
	uint16_t ee = 0;

	units = (((unsigned __int128)err_ns << 32) + NS_PER_S - 1) / NS_PER_S;
	for (scale = 0; scale < 63; scale++) {
		mult = (units + ((unsigned __int128)1 << scale) - 1) >> scale;
		if (mult <= 255)
			break;
	}
	/* 255 * 2^63 units is ~5.5e11 s, beyond any uint64 of ns: always fits. */
	mult = (units + ((unsigned __int128)1 << scale) - 1) >> scale;
	if (mult == 0)
		mult = 1;	/* RFC 4656: the multiplier MUST NOT be zero */
	if (synced)
		ee |= PM_EE_S;
	if (ptp)
		ee |= PM_EE_Z;
	ee |= (uint16_t)(scale << 8);
	ee |= (uint16_t)mult;
	return ee;
}

uint64_t
pm_wire_ee_ns(uint16_t ee)
{
	unsigned int scale = (ee >> 8) & 0x3f;
	unsigned __int128 units = (unsigned __int128)(ee & 0xff) << scale;
	unsigned __int128 ns;

	/* Round up: the stated bound is an upper bound. */
	ns = (units * NS_PER_S + 0xffffffffULL) >> 32;
	if (ns > UINT64_MAX)
		return UINT64_MAX;
	return (uint64_t)ns;
}

/* Checksums ------------------------------------------------------------ */

/*
 * Returns the sum folded to 16 bits, so it can be chained as @sum.  An odd
 * @len is padded with a zero byte: only the last piece of a chain may be odd.
 */
uint32_t
pm_wire_csum_partial(const void *buf, size_t len, uint32_t sum)
{
	uint64_t acc = hfold(hsum_buf(buf, len));

	acc = be16((uint16_t)acc) + (uint64_t)sum;
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
	return (uint32_t)((acc & 0xffff) + (acc >> 16));
}

uint16_t
pm_wire_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}


static void
ip4_csum_set(uint8_t *ip, unsigned int hlen)
{
	put16(ip + 10, 0);
	put16(ip + 10, pm_wire_csum_fold(pm_wire_csum_partial(ip, hlen, 0)));
}

void
pm_wire_udp_csum_set(uint8_t *frame, const struct pm_pkt *pkt)
{
	uint8_t *udp = frame + pkt->l4_off;
	uint16_t ulen = (uint16_t)(PM_UDP_HLEN + pkt->pl_len);
	uint16_t csum;

	put16(udp + 6, 0);
	csum = (uint16_t)~hfold(ip4_pseudo_hsum(frame + pkt->l3_off, ulen) +
				hsum_buf(udp, ulen));
	/* RFC 768: a computed zero is sent as all ones; zero means "none".
	 * Host order, as summed: 0 and 0xffff read the same either way. */
	if (csum == 0)
		csum = 0xffff;
	memcpy(udp + 6, &csum, sizeof(csum));
}

/*
 * RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), over the 16-bit words of
 * [@p, @p + @n) that go from @old to the bytes now at @p.  @p must be at an
 * even offset from the start of the UDP header.  The 0 -> 0xffff rule makes
 * the two one's-complement zeros agree with a full recompute.
 */
static void
udp_csum_update(uint8_t *csum_field, const uint8_t *old, const uint8_t *p,
		size_t n)
{
	uint64_t o = 0, m = 0;
	size_t i;

	for (i = 0; i + 1 < n; i += 2) {
		o += hsum16(old + i);
		m += hsum16(p + i);
	}
	hcarry(csum_field, o, m, 1);
}



/* Parsing -------------------------------------------------------------- */


static int
parse_udp(const uint8_t *frame, const uint8_t *ip, uint32_t l4_len,
	  unsigned int flags, struct pm_pkt *pkt)
{
	const uint8_t *udp = frame + pkt->l4_off;
	uint16_t ulen;

	if (l4_len < PM_UDP_HLEN)
		return PM_WIRE_TRUNCATED;
	pkt->sport = get16(udp);
	pkt->dport = get16(udp + 2);
	ulen = get16(udp + 4);
	/*
	 * Strict: the UDP length must match what IP carries.  Slack either
	 * way means a broken or tampered packet, not a probe to answer.
	 */
	if (ulen != l4_len)
		return PM_WIRE_BAD_UDP;
	pkt->pl_off = (uint16_t)(pkt->l4_off + PM_UDP_HLEN);
	pkt->pl_len = (uint16_t)(ulen - PM_UDP_HLEN);
	if (!(flags & PM_WIRE_F_NO_UDP_CSUM) && !udp_csum_ok(ip, udp, ulen))
		return PM_WIRE_UDP_CSUM;
	return PM_WIRE_OK;
}

int
pm_wire_parse(const uint8_t *frame, uint32_t len, struct pm_pkt *pkt)
{
	return pm_wire_parse_flags(frame, len, 0, pkt);
}

int
pm_wire_parse_flags(const uint8_t *frame, uint32_t len, unsigned int flags,
		    struct pm_pkt *pkt)
{
	const uint8_t *ip;
	uint32_t off = PM_ETH_HLEN;
	uint32_t ihl, tot, frag;
	uint16_t type;

	memset(pkt, 0, sizeof(*pkt));
	if (len < PM_ETH_HLEN)
		return PM_WIRE_TRUNCATED;
	memcpy(pkt->dmac, frame, 6);
	memcpy(pkt->smac, frame + 6, 6);
	type = get16(frame + 12);
	if (type == ETHERTYPE_VLAN) {
		if (len < PM_ETH_HLEN + 4)
			return PM_WIRE_TRUNCATED;
		pkt->vlan = get16(frame + 14) & 0x0fff;
		type = get16(frame + 16);
		off += 4;
	}
	pkt->ethertype = type;
	pkt->l3_off = (uint16_t)off;
	if (type == ETHERTYPE_ARP)
		return PM_WIRE_ARP;
	if (type != ETHERTYPE_IPV4)
		return PM_WIRE_NOT_IPV4;

	if (len - off < PM_IP4_HLEN)
		return PM_WIRE_TRUNCATED;
	ip = frame + off;
	if ((ip[0] >> 4) != 4)
		return PM_WIRE_BAD_IP;
	ihl = (uint32_t)(ip[0] & 0x0f) * 4;
	if (ihl < PM_IP4_HLEN)
		return PM_WIRE_BAD_IP;
	if (len - off < ihl)
		return PM_WIRE_TRUNCATED;
	tot = get16(ip + 2);
	if (tot < ihl)
		return PM_WIRE_BAD_IP;
	/* Trailing bytes (Ethernet pads to 60) are ignored: IP says how much. */
	if (len - off < tot)
		return PM_WIRE_TRUNCATED;
	pkt->tos = ip[1];
	pkt->ttl = ip[8];
	pkt->proto = ip[9];
	pkt->sip = get32(ip + 12);
	pkt->dip = get32(ip + 16);
	pkt->l4_off = (uint16_t)(off + ihl);
	if (ihl == PM_IP4_HLEN ? !ip4_hdr20_ok(ip) :
	    pm_wire_csum_fold(pm_wire_csum_partial(ip, ihl, 0)) != 0)
		return PM_WIRE_IP_CSUM;
	frag = get16(ip + 6);
	if (frag & (IP4_MF | IP4_OFFMASK))
		return PM_WIRE_FRAGMENT;

	if (pkt->proto == IPPROTO_ICMP_) {
		/* For ICMP the "payload" is the whole ICMP message. */
		pkt->pl_off = pkt->l4_off;
		pkt->pl_len = (uint16_t)(tot - ihl);
		return PM_WIRE_ICMP;
	}
	if (pkt->proto == IPPROTO_TCP_ && tot - ihl >= 20) {
		/* Not an error either for the prober (TCP SYN probes' answers):
		 * ports and the segment's extent for pm_wire_tcp_parse(). */
		pkt->sport = get16(ip + ihl);
		pkt->dport = get16(ip + ihl + 2);
		pkt->pl_off = pkt->l4_off;
		pkt->pl_len = (uint16_t)(tot - ihl);
	}
	if (pkt->proto != IPPROTO_UDP_)
		return PM_WIRE_NOT_UDP;
	return parse_udp(frame, ip, tot - ihl, flags, pkt);
}

/* The Session-Reflector fields of a payload known to hold 44 bytes. */


/* The parse of pm_wire_fast.h, for callers that do not inline it. */
int
pm_wire_stamp_reply_fast(const uint8_t *frame, uint32_t len, uint32_t dip,
			 struct pm_pkt *pkt, struct pm_stamp_reflector *r)
{
	return pm_wire_stamp_reply_fast_inline(frame, len, dip, pkt, r);
}

/* The parse of pm_wire_fast.h, for callers that do not inline it. */
int
pm_wire_stamp_request_fast(const uint8_t *frame, uint32_t len, uint32_t dip,
			   struct pm_pkt *pkt)
{
	return pm_wire_stamp_request_fast_inline(frame, len, dip, pkt);
}

int
pm_wire_stamp_sender_decode(const uint8_t *pl, uint32_t len,
			    struct pm_stamp_sender *s)
{
	if (len < PM_STAMP_BASE_LEN)
		return PM_WIRE_SHORT_STAMP;
	s->seq = get32(pl + PM_STAMP_OFF_SEQ);
	s->ts = get64(pl + PM_STAMP_OFF_TS);
	s->ee = get16(pl + PM_STAMP_OFF_EE);
	s->ssid = get16(pl + PM_STAMP_OFF_SSID);
	return PM_WIRE_OK;
}

int
pm_wire_stamp_reflector_decode(const uint8_t *pl, uint32_t len,
			       struct pm_stamp_reflector *r)
{
	if (len < PM_STAMP_BASE_LEN)
		return PM_WIRE_SHORT_STAMP;
	reflector_fields(pl, r);
	return PM_WIRE_OK;
}

/* A payload shorter than the base packet is PM_WIRE_SHORT_STAMP. */
int
pm_wire_stamp_tlv_check(const uint8_t *pl, uint32_t len, unsigned *ntlv)
{
	uint32_t off = PM_STAMP_BASE_LEN;
	unsigned int n = 0;
	uint32_t vlen;

	if (ntlv != NULL)
		*ntlv = 0;
	if (len < PM_STAMP_BASE_LEN)
		return PM_WIRE_SHORT_STAMP;
	while (off < len) {
		if (len - off < PM_STAMP_TLV_HDR_LEN)
			return PM_WIRE_BAD_TLV;
		vlen = get16(pl + off + 2);
		if (len - off - PM_STAMP_TLV_HDR_LEN < vlen)
			return PM_WIRE_BAD_TLV;
		off += PM_STAMP_TLV_HDR_LEN + vlen;
		n++;
	}
	if (ntlv != NULL)
		*ntlv = n;
	return PM_WIRE_OK;
}

/* Building ------------------------------------------------------------- */

/* Ethernet + IPv4 header of a probe of @proto with @l4_len bytes after IP. */
static void
probe_l3_build(uint8_t *frame, const struct pm_probe_hdr *h, uint8_t proto,
	       uint16_t l4_len)
{
	uint8_t *ip = frame + PM_ETH_HLEN;

	memcpy(frame, h->dmac, 6);
	memcpy(frame + 6, h->smac, 6);
	put16(frame + 12, ETHERTYPE_IPV4);
	ip[0] = 0x45;
	ip[1] = (uint8_t)(h->dscp << 2);
	put16(ip + 2, (uint16_t)(PM_IP4_HLEN + l4_len));
	/* ID 0 is allowed with DF set (RFC 6864): these are never fragmented. */
	put16(ip + 4, 0);
	put16(ip + 6, IP4_DF);
	ip[8] = h->ttl ? h->ttl : 64;
	ip[9] = proto;
	put32(ip + 12, h->sip);
	put32(ip + 16, h->dip);
	ip4_csum_set(ip, PM_IP4_HLEN);
}

int
pm_wire_probe_build(uint8_t *frame, size_t cap, const struct pm_probe_hdr *h)
{
	uint32_t pl_len = h->payload_len;
	uint32_t flen = PM_PROBE_HDRS_LEN + pl_len;
	uint8_t *ip = frame + PM_ETH_HLEN;
	uint8_t *udp = ip + PM_IP4_HLEN;
	uint8_t *pl = udp + PM_UDP_HLEN;
	struct pm_pkt pkt;

	if (pl_len < PM_STAMP_BASE_LEN ||
	    (pl_len > PM_STAMP_BASE_LEN &&
	     pl_len < PM_STAMP_BASE_LEN + PM_STAMP_TLV_HDR_LEN) ||
	    pl_len > PM_STAMP_MAX_PAYLOAD || h->dscp > 63)
		return -EINVAL;
	if (cap < flen)
		return -ENOSPC;
	memset(frame, 0, flen);

	probe_l3_build(frame, h, IPPROTO_UDP_, (uint16_t)(PM_UDP_HLEN + pl_len));

	put16(udp, h->sport);
	put16(udp + 2, h->dport);
	put16(udp + 4, (uint16_t)(PM_UDP_HLEN + pl_len));

	put16(pl + PM_STAMP_OFF_SSID, h->ssid);
	if (pl_len > PM_STAMP_BASE_LEN) {
		/* Extra Padding TLV (RFC 8972 4.2) fills the rest; value zeros. */
		pl[PM_STAMP_BASE_LEN] = 0;
		pl[PM_STAMP_BASE_LEN + 1] = PM_STAMP_TLV_PADDING;
		put16(pl + PM_STAMP_BASE_LEN + 2, (uint16_t)(pl_len -
		      PM_STAMP_BASE_LEN - PM_STAMP_TLV_HDR_LEN));
	}

	memset(&pkt, 0, sizeof(pkt));
	pkt.l3_off = PM_ETH_HLEN;
	pkt.l4_off = PM_ETH_HLEN + PM_IP4_HLEN;
	pkt.pl_off = PM_PROBE_HDRS_LEN;
	pkt.pl_len = (uint16_t)pl_len;
	pm_wire_udp_csum_set(frame, &pkt);
	return (int)flen;
}

void
pm_wire_probe_stamp(uint8_t *frame, uint32_t seq, uint64_t ts, uint16_t ee)
{
	uint8_t *pl = frame + PM_PROBE_HDRS_LEN;
	uint64_t o_sum;

	/* seq, ts and ee are 7 contiguous words (RFC 1624, host order; per
	 * probe on the data path). */
	o_sum = hsum32(pl + PM_STAMP_OFF_SEQ) + hsum64(pl + PM_STAMP_OFF_TS) +
		hsum16(pl + PM_STAMP_OFF_EE);
	put32(pl + PM_STAMP_OFF_SEQ, seq);
	put64(pl + PM_STAMP_OFF_TS, ts);
	put16(pl + PM_STAMP_OFF_EE, ee);
	hcarry(frame + PM_ETH_HLEN + PM_IP4_HLEN + 6, o_sum,
	       hsum_of_be((uint64_t)seq + (ts >> 32) + (uint32_t)ts + ee), 1);
}

int32_t
pm_wire_probe_stamp_base(const uint8_t *frame)
{
	const uint8_t *pl = frame + PM_PROBE_HDRS_LEN;
	uint16_t hc;
	uint32_t s;

	memcpy(&hc, frame + PM_ETH_HLEN + PM_IP4_HLEN + 6, sizeof(hc));
	if (hc == 0)
		return -1;
	/* ~HC + ~m of RFC 1624 eqn. 3, m the template's stamped words. */
	s = (uint32_t)(uint16_t)~hc +
	    (uint16_t)~hfold(hsum32(pl + PM_STAMP_OFF_SEQ) + hsum64(pl + PM_STAMP_OFF_TS) +
			     hsum16(pl + PM_STAMP_OFF_EE));
	s = (s & 0xffff) + (s >> 16);
	return (int32_t)((s & 0xffff) + (s >> 16));
}

/* The stamp of pm_wire_fast.h, for callers that do not inline it. */
void
pm_wire_probe_stamp_on(uint8_t *frame, uint32_t seq, uint64_t ts, uint16_t ee,
		       int32_t base)
{
	pm_wire_probe_stamp_on_inline(frame, seq, ts, ee, base);
}

/*
 * Set @flag in the TLV flags byte at payload offset @off, carrying the UDP
 * checksum over through the 16-bit word that holds it (the payload starts
 * at an even offset of the UDP header, so words are payload-aligned).
 */
static void
tlv_flag(uint8_t *csum, uint8_t *pl, uint32_t off, uint8_t flag, uint32_t pl_len)
{
	uint32_t w = off & ~1u;
	uint8_t old[2] = { pl[w], w + 1 < pl_len ? pl[w + 1] : 0 };

	pl[off] |= flag;
	if (get16(csum) == 0)
		return;
	if (w + 1 < pl_len) {
		udp_csum_update(csum, old, pl + w, 2);
	} else {
		/* Odd-length payload: the last byte counts as a word padded
		 * with zero. */
		uint8_t cur[2] = { pl[w], 0 };

		udp_csum_update(csum, old, cur, 2);
	}
}


/*
 * pm_wire_stamp_reflect(), and with @owe, pm_wire_stamp_reflect_owe(): a
 * 44-byte request's UDP checksum is then left for pm_wire_stamp_finish(),
 * what it owes put in *@owe.
 */
static int
stamp_reflect(uint8_t *frame, const struct pm_pkt *pkt, uint64_t rx_ts,
	      uint16_t ee, uint32_t *owe)
{
	uint8_t *pl = frame + pkt->pl_off;
	uint8_t *udp = frame + pkt->l4_off;
	struct pm_stamp_sender s;
	uint64_t o_sum;
	uint8_t *csum;
	uint32_t off;
	int rc;

	if (pkt->pl_len == PM_STAMP_BASE_LEN) {
		if (owe != NULL)
			*owe = reflect_base(pl, rx_ts, ee, pkt->ttl);
		else
			happly(udp + 6, reflect_base(pl, rx_ts, ee, pkt->ttl), 1);
		goto headers;
	}
	rc = pm_wire_stamp_sender_decode(pl, pkt->pl_len, &s);
	if (rc != PM_WIRE_OK)
		return rc;
	/*
	 * TWAMP-Light senders pad with arbitrary bytes that need not form
	 * TLVs: such a request is still answered (any STAMP sender is), its
	 * extra bytes returned as they came, the first bad TLV marked M.
	 */

	/*
	 * The reflector fields overlap the sender's (seq, ts, ee at the same
	 * offsets, its MBZ area behind), so the sender's values were decoded
	 * into @s above and are written back from there.
	 */
	/*
	 * The UDP checksum is carried over incrementally (RFC 1624) from the
	 * request's, not recomputed: a request corrupted on the way keeps a
	 * wrong checksum in its reply, and the sender sees it (end-to-end).
	 * Swapping addresses and ports leaves the sum unchanged.
	 */
	csum = udp + 6;
	o_sum = hsum40(pl + PM_STAMP_OFF_TS);
	put32(pl + PM_STAMP_OFF_SEQ, s.seq);	/* stateless: echo the seq */
	put64(pl + PM_STAMP_OFF_TS, 0);		/* t3: set_tx_ts() */
	put16(pl + PM_STAMP_OFF_EE, ee);
	put16(pl + PM_STAMP_OFF_SSID, s.ssid);
	put64(pl + PM_STAMP_OFF_RX_TS, rx_ts);
	put32(pl + PM_STAMP_OFF_S_SEQ, s.seq);
	put64(pl + PM_STAMP_OFF_S_TS, s.ts);
	put16(pl + PM_STAMP_OFF_S_EE, s.ee);
	put16(pl + PM_STAMP_OFF_S_EE + 2, 0);
	pl[PM_STAMP_OFF_S_TTL] = pkt->ttl;
	memset(pl + PM_STAMP_OFF_S_TTL + 1, 0, 3);
	/* The 40 bytes just written, summed from the values (t3 is 0). */
	hcarry(csum, o_sum, hsum_of_be((uint64_t)ee + s.ssid + (rx_ts >> 32) +
				       (uint32_t)rx_ts + s.seq + (s.ts >> 32) +
				       (uint32_t)s.ts + s.ee +
				       ((uint64_t)pkt->ttl << 8)), 1);

	/* RFC 8972 4: TLVs we do not implement are returned with U set, a
	 * malformed one with M set (and nothing after it is interpreted). */
	for (off = PM_STAMP_BASE_LEN; off < pkt->pl_len;
	     off += PM_STAMP_TLV_HDR_LEN + get16(pl + off + 2)) {
		if (pkt->pl_len - off < PM_STAMP_TLV_HDR_LEN ||
		    pkt->pl_len - off - PM_STAMP_TLV_HDR_LEN < get16(pl + off + 2)) {
			tlv_flag(csum, pl, off, PM_STAMP_TLV_F_M, pkt->pl_len);
			break;
		}
		if (pl[off + 1] != PM_STAMP_TLV_PADDING)
			tlv_flag(csum, pl, off, PM_STAMP_TLV_F_U, pkt->pl_len);
	}

headers:
	reflect_headers(frame, pkt);
	return PM_WIRE_OK;
}

int
pm_wire_stamp_reflect(uint8_t *frame, const struct pm_pkt *pkt,
		      uint64_t rx_ts, uint16_t ee)
{
	return stamp_reflect(frame, pkt, rx_ts, ee, NULL);
}

int
pm_wire_stamp_reflect_owe(uint8_t *frame, const struct pm_pkt *pkt,
			  uint64_t rx_ts, uint16_t ee, uint32_t *owe)
{
	*owe = 0;
	return stamp_reflect(frame, pkt, rx_ts, ee, owe);
}

/* The finish of pm_wire_fast.h, for callers that do not inline it. */
void
pm_wire_stamp_finish(uint8_t *frame, const struct pm_pkt *pkt, uint64_t tx_ts,
		     uint32_t owe)
{
	pm_wire_stamp_finish_inline(frame, pkt, tx_ts, owe);
}

void
pm_wire_stamp_set_tx_ts(uint8_t *frame, const struct pm_pkt *pkt,
			uint64_t tx_ts)
{
	uint8_t *ts = frame + pkt->pl_off + PM_STAMP_OFF_TS;
	uint64_t o_sum = hsum64(ts);

	put64(ts, tx_ts);
	/* A zero checksum means "none" (only if someone else built the reply):
	 * hcarry() keeps it that way rather than invent one from a wrong base. */
	hcarry(frame + pkt->l4_off + 6, o_sum, hsum64(ts), 1);
}

/* ARP and ICMP --------------------------------------------------------- */

int
pm_wire_arp_request(uint8_t *frame, size_t cap, const uint8_t smac[6],
		    uint32_t sip, uint32_t tip)
{
	uint8_t *arp = frame + PM_ETH_HLEN;

	if (cap < PM_ETH_HLEN + ARP_LEN)
		return -ENOSPC;
	memset(frame, 0xff, 6);
	memcpy(frame + 6, smac, 6);
	put16(frame + 12, ETHERTYPE_ARP);
	put16(arp, 1);			/* Ethernet */
	put16(arp + 2, ETHERTYPE_IPV4);
	arp[4] = 6;
	arp[5] = 4;
	put16(arp + 6, ARP_OP_REQUEST);
	memcpy(arp + 8, smac, 6);
	put32(arp + 14, sip);
	memset(arp + 18, 0, 6);
	put32(arp + 24, tip);
	return PM_ETH_HLEN + ARP_LEN;
}

/* Offset of the ARP body, or 0 when the frame is not one we handle. */
static uint32_t
arp_offset(const uint8_t *frame, uint32_t len)
{
	uint32_t off = PM_ETH_HLEN;
	uint16_t type;

	if (len < PM_ETH_HLEN)
		return 0;
	type = get16(frame + 12);
	if (type == ETHERTYPE_VLAN) {
		if (len < PM_ETH_HLEN + 4)
			return 0;
		type = get16(frame + 16);
		off += 4;
	}
	if (type != ETHERTYPE_ARP || len - off < ARP_LEN)
		return 0;
	return off;
}

int
pm_wire_arp_parse(const uint8_t *frame, uint32_t len, uint16_t *op,
		  uint32_t *sip, uint32_t *tip, uint8_t sha[6])
{
	uint32_t off = arp_offset(frame, len);
	const uint8_t *arp = frame + off;
	uint16_t o;

	if (off == 0)
		return 0;
	if (get16(arp) != 1 || get16(arp + 2) != ETHERTYPE_IPV4 ||
	    arp[4] != 6 || arp[5] != 4)
		return 0;
	o = get16(arp + 6);
	if (o != ARP_OP_REQUEST && o != ARP_OP_REPLY)
		return 0;
	if (op != NULL)
		*op = o;
	if (sha != NULL)
		memcpy(sha, arp + 8, 6);
	if (sip != NULL)
		*sip = get32(arp + 14);
	if (tip != NULL)
		*tip = get32(arp + 24);
	return 1;
}

/* The caller has had pm_wire_arp_parse() accept this frame. */
void
pm_wire_arp_reply(uint8_t *frame, const uint8_t mac[6], uint32_t ip)
{
	uint32_t off = get16(frame + 12) == ETHERTYPE_VLAN ?
		PM_ETH_HLEN + 4 : PM_ETH_HLEN;
	uint8_t *arp = frame + off;

	/* Requester's addresses become the target ones, ours the sender's. */
	memcpy(arp + 18, arp + 8, 10);	/* tha, tpa <- sha, spa */
	memcpy(arp + 8, mac, 6);
	put32(arp + 14, ip);
	put16(arp + 6, ARP_OP_REPLY);
	memcpy(frame, arp + 18, 6);
	memcpy(frame + 6, mac, 6);
}

int
pm_wire_icmp_echo_reply(uint8_t *frame, const struct pm_pkt *pkt)
{
	uint8_t *ip = frame + pkt->l3_off;
	uint8_t *icmp = frame + pkt->l4_off;
	uint16_t old, sumfield;
	uint32_t sum;

	if (pkt->proto != IPPROTO_ICMP_ || pkt->pl_len < 8 ||
	    icmp[0] != ICMP_ECHO_REQUEST || icmp[1] != 0)
		return PM_WIRE_NOT_FOR_US;
	/*
	 * Only the type word changes, so update the checksum incrementally:
	 * a request that arrived corrupted yields a reply that is still
	 * corrupted, and the pinger sees it, instead of us laundering it.
	 */
	old = get16(icmp);
	icmp[0] = ICMP_ECHO_REPLY;
	sumfield = get16(icmp + 2);
	sum = (uint16_t)~sumfield;
	sum += (uint16_t)~old;
	sum += get16(icmp);
	put16(icmp + 2, pm_wire_csum_fold(sum));

	swap_bytes(frame, frame + 6, 6);
	swap_bytes(ip + 12, ip + 16, 4);
	ip[8] = ICMP_REPLY_TTL;
	ip4_csum_set(ip, pkt->l4_off - pkt->l3_off);
	return PM_WIRE_OK;
}

/* ---- path discovery ---- */

int
pm_wire_icmp_quote(const uint8_t *frame, const struct pm_pkt *pkt,
		   struct pm_icmp_quote *q)
{
	const uint8_t *icmp = frame + pkt->l4_off, *in;
	uint32_t len = pkt->pl_len, ihl;

	if (pkt->proto != IPPROTO_ICMP_ || len < 8)
		return PM_WIRE_TRUNCATED;
	if (icmp[0] != PM_ICMP_TIME_EXCEEDED && icmp[0] != PM_ICMP_UNREACHABLE)
		return PM_WIRE_NOT_FOR_US;
	if (pm_wire_csum_fold(pm_wire_csum_partial(icmp, len, 0)) != 0)
		return PM_WIRE_IP_CSUM;
	/* 8 bytes of ICMP header, then the quoted IPv4 header + 8 bytes. */
	in = icmp + 8;
	len -= 8;
	if (len < PM_IP4_HLEN)
		return PM_WIRE_TRUNCATED;
	if ((in[0] >> 4) != 4 || (in[0] & 0xf) < 5)
		return PM_WIRE_BAD_IP;
	ihl = (uint32_t)(in[0] & 0xf) * 4;
	if (len < ihl + 8)
		return PM_WIRE_TRUNCATED;
	memset(q, 0, sizeof(*q));
	q->type = icmp[0];
	q->code = icmp[1];
	q->from = pkt->sip;
	q->ip_id = get16(in + 4);
	q->proto = in[9];
	q->sip = get32(in + 12);
	q->dip = get32(in + 16);
	q->sport = get16(in + ihl);
	q->dport = get16(in + ihl + 2);
	return PM_WIRE_OK;
}

void
pm_wire_trace_mark(uint8_t *frame, uint8_t ttl, uint16_t ip_id)
{
	uint8_t *ip = frame + PM_ETH_HLEN;

	put16(ip + 4, ip_id);
	ip[8] = ttl;
	ip4_csum_set(ip, PM_IP4_HLEN);
}

/* ---- reflector-less probes: ICMP echo and TCP SYN ---- */

#define PM_PING_MAGIC	0x706d5348u	/* "pmSH" */

int
pm_wire_ping_build(uint8_t *frame, size_t cap, const struct pm_probe_hdr *h)
{
	uint32_t dlen = h->payload_len;
	uint32_t flen = PM_ETH_HLEN + PM_IP4_HLEN + PM_ICMP_HLEN + dlen;
	uint8_t *icmp = frame + PM_ETH_HLEN + PM_IP4_HLEN;

	if (dlen < PM_PING_DATA_MIN || dlen > PM_STAMP_MAX_PAYLOAD || h->dscp > 63)
		return -EINVAL;
	if (cap < flen)
		return -ENOSPC;
	memset(frame, 0, flen);
	probe_l3_build(frame, h, IPPROTO_ICMP_, (uint16_t)(PM_ICMP_HLEN + dlen));
	icmp[0] = ICMP_ECHO_REQUEST;
	put16(icmp + 4, h->sport);	/* identifier: the flow */
	put32(icmp + PM_ICMP_HLEN, PM_PING_MAGIC);
	put16(icmp + PM_ICMP_HLEN + 16, h->ssid);
	pm_wire_ping_stamp(frame, 0, 0);
	return (int)flen;
}

void
pm_wire_ping_stamp(uint8_t *frame, uint32_t seq, uint64_t ts)
{
	uint8_t *icmp = frame + PM_ETH_HLEN + PM_IP4_HLEN;

	put16(icmp + 6, (uint16_t)seq);
	put32(icmp + PM_ICMP_HLEN + 4, seq);
	put64(icmp + PM_ICMP_HLEN + 8, ts);
	/* Only the first PM_PING_DATA_MIN data bytes are non-zero: the zeros
	 * after them add nothing to the checksum. */
	put16(icmp + 2, 0);
	put16(icmp + 2, pm_wire_csum_fold(pm_wire_csum_partial(icmp,
			PM_ICMP_HLEN + PM_PING_DATA_MIN, 0)));
}

int
pm_wire_ping_parse(const uint8_t *frame, const struct pm_pkt *pkt,
		   struct pm_ping *r)
{
	const uint8_t *icmp = frame + pkt->l4_off;

	if (pkt->proto != IPPROTO_ICMP_ || pkt->pl_len < PM_ICMP_HLEN)
		return PM_WIRE_TRUNCATED;
	if (icmp[0] != ICMP_ECHO_REPLY || icmp[1] != 0)
		return PM_WIRE_NOT_FOR_US;
	if (pkt->pl_len < PM_ICMP_HLEN + PM_PING_DATA_MIN ||
	    get32(icmp + PM_ICMP_HLEN) != PM_PING_MAGIC)
		return PM_WIRE_SHORT_STAMP;	/* someone else's ping */
	if (pm_wire_csum_fold(pm_wire_csum_partial(icmp, pkt->pl_len, 0)) != 0)
		return PM_WIRE_IP_CSUM;
	r->id = get16(icmp + 4);
	r->seq16 = get16(icmp + 6);
	r->seq = get32(icmp + PM_ICMP_HLEN + 4);
	r->ts = get64(icmp + PM_ICMP_HLEN + 8);
	r->ssid = get16(icmp + PM_ICMP_HLEN + 16);
	if ((uint16_t)r->seq != r->seq16)
		return PM_WIRE_NOT_FOR_US;	/* data does not match header */
	return PM_WIRE_OK;
}

static void
tcp_csum_set(uint8_t *ip, uint8_t *tcp, uint16_t len)
{
	uint32_t sum;

	put16(tcp + 16, 0);
	sum = pm_wire_csum_partial(ip + 12, 8, 0) + IPPROTO_TCP_ + len;
	put16(tcp + 16, pm_wire_csum_fold(pm_wire_csum_partial(tcp, len, sum)));
}

int
pm_wire_syn_build(uint8_t *frame, size_t cap, const struct pm_probe_hdr *h)
{
	uint32_t flen = PM_ETH_HLEN + PM_IP4_HLEN + PM_SYN_HLEN;
	uint8_t *tcp = frame + PM_ETH_HLEN + PM_IP4_HLEN;

	if (h->dscp > 63)
		return -EINVAL;
	if (cap < flen)
		return -ENOSPC;
	memset(frame, 0, flen);
	probe_l3_build(frame, h, IPPROTO_TCP_, PM_SYN_HLEN);
	put16(tcp, h->sport);
	put16(tcp + 2, h->dport);
	tcp[12] = (PM_SYN_HLEN / 4) << 4;
	tcp[13] = PM_TCP_SYN;
	put16(tcp + 14, 1024);			/* window */
	/* MSS option: some stacks drop a SYN without one. */
	tcp[20] = 2;
	tcp[21] = 4;
	put16(tcp + 22, 1460);
	pm_wire_syn_stamp(frame, 0);
	return (int)flen;
}

void
pm_wire_syn_stamp(uint8_t *frame, uint32_t isn)
{
	uint8_t *ip = frame + PM_ETH_HLEN;
	uint8_t *tcp = ip + PM_IP4_HLEN;

	put32(tcp + 4, isn);
	tcp_csum_set(ip, tcp, PM_SYN_HLEN);
}

int
pm_wire_tcp_parse(const uint8_t *frame, const struct pm_pkt *pkt,
		  struct pm_tcp_seg *s)
{
	const uint8_t *ip = frame + pkt->l3_off;
	const uint8_t *tcp = frame + pkt->l4_off;
	uint32_t len = (uint32_t)get16(ip + 2) - (pkt->l4_off - pkt->l3_off);
	uint32_t sum, doff;

	if (pkt->proto != IPPROTO_TCP_ || len < 20)
		return PM_WIRE_TRUNCATED;
	doff = (uint32_t)(tcp[12] >> 4) * 4;
	if (doff < 20 || doff > len)
		return PM_WIRE_BAD_UDP;
	sum = pm_wire_csum_partial(ip + 12, 8, 0) + IPPROTO_TCP_ + len;
	if (pm_wire_csum_fold(pm_wire_csum_partial(tcp, len, sum)) != 0)
		return PM_WIRE_UDP_CSUM;
	s->sport = get16(tcp);
	s->dport = get16(tcp + 2);
	s->seq = get32(tcp + 4);
	s->ack = get32(tcp + 8);
	s->flags = tcp[13];
	s->data_len = len - doff;
	return PM_WIRE_OK;
}

int
pm_wire_tcp_rst(uint8_t *frame, const struct pm_pkt *pkt,
		const struct pm_tcp_seg *s)
{
	uint8_t *ip = frame + pkt->l3_off;
	uint8_t *tcp = frame + pkt->l4_off;
	uint32_t ihl = pkt->l4_off - pkt->l3_off;
	uint32_t seglen;

	if (s->flags & PM_TCP_RST)
		return -EINVAL;		/* never answer a reset */
	/* RFC 9293 3.10.7.1, a segment for no connection: with ACK, reset
	 * at its ack; without, reset and acknowledge what it carried. */
	memset(tcp + 4, 0, 16);
	if (s->flags & PM_TCP_ACK) {
		put32(tcp + 4, s->ack);
		tcp[13] = PM_TCP_RST;
	} else {
		seglen = s->data_len + !!(s->flags & PM_TCP_SYN) + !!(s->flags & PM_TCP_FIN);
		put32(tcp + 8, s->seq + seglen);
		tcp[13] = PM_TCP_RST | PM_TCP_ACK;
	}
	put16(tcp, s->dport);
	put16(tcp + 2, s->sport);
	tcp[12] = 5 << 4;
	swap_bytes(frame, frame + 6, 6);
	swap_bytes(ip + 12, ip + 16, 4);
	put16(ip + 2, (uint16_t)(ihl + 20));
	put16(ip + 4, 0);
	put16(ip + 6, IP4_DF);
	ip[8] = 64;
	ip4_csum_set(ip, ihl);
	tcp_csum_set(ip, tcp, 20);
	return (int)(pkt->l4_off + 20);
}
