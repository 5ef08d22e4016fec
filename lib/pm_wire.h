/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_wire: the bytes pmesh puts on and reads off the wire.
 *
 * STAMP (RFC 8762) unauthenticated test packets with the RFC 8972
 * Session-Sender Identifier and Extra Padding TLV, carried in UDP/IPv4
 * inside Ethernet; plus the ARP and ICMP echo frames a DPDK port must
 * handle itself because no kernel stands behind it.  Everything here works
 * on plain byte buffers: the DPDK and RDMA engines, the socket reflector and
 * the fuzz target share one decoder.  No allocation, no logging: parse
 * functions return a cause code (enum pm_wire_cause) that the caller counts.
 *
 * Layouts (offsets in bytes from the start of the UDP payload) are in
 * docs/wire-format.md.  All multi-byte fields are big-endian on the wire;
 * the structs below hold host-order values.
 */
#ifndef PM_WIRE_H
#define PM_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define PM_STAMP_PORT		862	/**< IANA port for STAMP */
#define PM_STAMP_BASE_LEN	44	/**< unauthenticated base packet */
#define PM_STAMP_TLV_HDR_LEN	4	/**< flags(1) type(1) length(2) */
#define PM_STAMP_TLV_PADDING	1	/**< RFC 8972 Extra Padding TLV type */
#define PM_STAMP_TLV_F_U	0x80	/**< TLV flag: unrecognized */
#define PM_STAMP_TLV_F_M	0x40	/**< TLV flag: malformed */
#define PM_STAMP_TLV_F_I	0x20	/**< TLV flag: integrity failed */
#define PM_STAMP_MAX_PAYLOAD	9000	/**< jumbo: largest UDP payload built */

#define PM_ETH_HLEN		14
#define PM_IP4_HLEN		20
#define PM_UDP_HLEN		8
/** Ethernet + IPv4 (no options) + UDP header bytes in front of STAMP */
#define PM_PROBE_HDRS_LEN	(PM_ETH_HLEN + PM_IP4_HLEN + PM_UDP_HLEN)
/** Wire bytes a frame takes besides itself: FCS 4, preamble+SFD 8, IFG 12
 *  (what budgets in Mbit/s count). */
#define PM_WIRE_OVERHEAD	24

/* Sender fields, offsets in the UDP payload (RFC 8762 4.2.1, RFC 8972 3) */
#define PM_STAMP_OFF_SEQ	0
#define PM_STAMP_OFF_TS		4
#define PM_STAMP_OFF_EE		12
#define PM_STAMP_OFF_SSID	14
/* Reflector-only fields (RFC 8762 4.3.1) */
#define PM_STAMP_OFF_RX_TS	16
#define PM_STAMP_OFF_S_SEQ	24
#define PM_STAMP_OFF_S_TS	28
#define PM_STAMP_OFF_S_EE	36
#define PM_STAMP_OFF_S_TTL	40

/* Error Estimate (RFC 4656 4.1.2): S | Z | Scale(6) | Multiplier(8) */
#define PM_EE_S			0x8000	/**< clock synchronized to UTC */
#define PM_EE_Z			0x4000	/**< timestamp is PTPv2 truncated */

/**
 * Why a frame was not accepted.  Every non-OK value has a counter in the
 * prober and the reflector; pm_wire_cause_str() names it for JSON/telemetry.
 */
enum pm_wire_cause {
	PM_WIRE_OK = 0,
	PM_WIRE_TRUNCATED,	/**< shorter than its headers say */
	PM_WIRE_NOT_IPV4,	/**< ethertype neither IPv4 nor ARP */
	PM_WIRE_ARP,		/**< an ARP frame (not an error: dispatch) */
	PM_WIRE_BAD_IP,		/**< bad version/IHL/total length */
	PM_WIRE_IP_CSUM,	/**< IPv4 header checksum wrong */
	PM_WIRE_FRAGMENT,	/**< IPv4 fragment: never reassembled */
	PM_WIRE_ICMP,		/**< ICMP (not an error: dispatch) */
	PM_WIRE_NOT_UDP,	/**< other IP protocol */
	PM_WIRE_BAD_UDP,	/**< UDP length inconsistent */
	PM_WIRE_UDP_CSUM,	/**< UDP checksum wrong (non-zero and bad) */
	PM_WIRE_WRONG_PORT,	/**< UDP port we do not serve */
	PM_WIRE_SHORT_STAMP,	/**< UDP payload < 44 bytes */
	PM_WIRE_BAD_TLV,	/**< TLV overruns the payload */
	PM_WIRE_NOT_FOR_US,	/**< destination MAC/IP not ours */
	PM_WIRE_CAUSE_MAX
};

/** Host-order view of a received Ethernet/IPv4/UDP frame. */
struct pm_pkt {
	uint8_t dmac[6];
	uint8_t smac[6];
	uint16_t ethertype;
	uint16_t vlan;		/**< 0 when untagged */
	uint32_t sip;		/**< host order */
	uint32_t dip;
	uint8_t proto;
	uint8_t ttl;
	uint8_t tos;
	uint16_t sport;
	uint16_t dport;
	uint16_t l3_off;	/**< offset of the IPv4 header in the frame */
	uint16_t l4_off;	/**< offset of the UDP/ICMP header */
	uint16_t pl_off;	/**< offset of the UDP payload */
	uint16_t pl_len;	/**< UDP payload length */
};

/** STAMP Session-Sender test packet (host order). */
struct pm_stamp_sender {
	uint32_t seq;
	uint64_t ts;		/**< t1, wire format (PTP or NTP per ee Z) */
	uint16_t ee;
	uint16_t ssid;
};

/** STAMP Session-Reflector test packet (host order). */
struct pm_stamp_reflector {
	uint32_t seq;		/**< reflector's sequence number */
	uint64_t ts;		/**< t3 */
	uint16_t ee;
	uint16_t ssid;
	uint64_t rx_ts;		/**< t2 */
	uint32_t s_seq;		/**< sender's sequence number echoed */
	uint64_t s_ts;		/**< t1 echoed */
	uint16_t s_ee;
	uint8_t s_ttl;		/**< TTL/hop limit of the sender's packet */
};

/** What a probe frame template is built from (host order). */
struct pm_probe_hdr {
	uint8_t dmac[6];
	uint8_t smac[6];
	uint32_t sip;
	uint32_t dip;
	uint16_t sport;
	uint16_t dport;
	uint8_t dscp;		/**< 0..63 */
	uint8_t ttl;		/**< 0 means 64 */
	uint16_t ssid;
	uint16_t payload_len;	/**< UDP payload: 44, or >= 48 (padding TLV) */
};

const char *pm_wire_cause_str(int cause);

/* Timestamps --------------------------------------------------------- */

/** Unix-epoch ns -> PTPv2 truncated (32 bit s, 32 bit ns). */
uint64_t pm_wire_ptp_from_ns(uint64_t unix_ns);
/** Unix-epoch ns -> NTP 64-bit (epoch 1900, 32.32 fixed point). */
uint64_t pm_wire_ntp_from_ns(uint64_t unix_ns);

/* The conversions a reply needs, inline: they run several times per reply. */
#define PM_NTP_UNIX_DELTA	2208988800ULL	/**< 1900 -> 1970, seconds */
#define PM_NS_PER_S		1000000000ULL

/** PTPv2 truncated -> Unix-epoch ns. */
static inline uint64_t
pm_wire_ptp_to_ns(uint64_t ptp)
{
	/* The low word may exceed 10^9 in a foreign packet; keep the sum anyway
	 * (it cannot overflow: 2^32 * 10^9 + 2^32 < 2^64). */
	return (ptp >> 32) * PM_NS_PER_S + (ptp & 0xffffffffULL);
}

/** NTP 64-bit -> Unix-epoch ns. */
static inline uint64_t
pm_wire_ntp_to_ns(uint64_t ntp)
{
	uint64_t s = ntp >> 32;
	uint64_t frac = ntp & 0xffffffffULL;

	/*
	 * NTP era 0 ends in 2036.  Seconds below the 1970 offset cannot be a
	 * Unix time in era 0, so read them as era 1 (2036..2106) rather than
	 * as a date before 1970 that a uint64 cannot hold.
	 */
	if (s >= PM_NTP_UNIX_DELTA)
		s -= PM_NTP_UNIX_DELTA;
	else
		s += (1ULL << 32) - PM_NTP_UNIX_DELTA;
	return s * PM_NS_PER_S + ((frac * PM_NS_PER_S + (1ULL << 31)) >> 32);
}

/** Wire timestamp -> Unix-epoch ns, format taken from the Z bit of @ee. */
static inline uint64_t
pm_wire_ts_to_ns(uint64_t ts, uint16_t ee)
{
	if (ee & PM_EE_Z)
		return pm_wire_ptp_to_ns(ts);
	return pm_wire_ntp_to_ns(ts);
}

/**
 * Build an Error Estimate.  @err_ns is the honest error bound of the clock
 * that took the timestamp; it is rounded up to the next representable value
 * (multiplier * 2^(scale-32) s).  @synced sets S; @ptp sets Z.
 */
uint16_t pm_wire_ee_make(int synced, int ptp, uint64_t err_ns);
/** Error bound in ns that an Error Estimate states. */
uint64_t pm_wire_ee_ns(uint16_t ee);

/* Checksums ---------------------------------------------------------- */

/** Internet checksum (RFC 1071) of @len bytes, folded, not inverted. */
uint32_t pm_wire_csum_partial(const void *buf, size_t len, uint32_t sum);
/** Fold @sum to 16 bits and invert it: the value for a checksum field
 *  (0 when verifying a buffer that includes its checksum and is intact). */
uint16_t pm_wire_csum_fold(uint32_t sum);
/** Recompute the UDP checksum of a well-formed IPv4/UDP frame in place. */
void pm_wire_udp_csum_set(uint8_t *frame, const struct pm_pkt *pkt);

/* Parsing ------------------------------------------------------------ */

/**
 * Parse an Ethernet frame of @len bytes down to the UDP payload.
 * Accepts one 802.1Q tag.  Checks IPv4 header checksum and, when non-zero,
 * the UDP checksum.  Returns PM_WIRE_OK, PM_WIRE_ARP, PM_WIRE_ICMP or an
 * error cause; @pkt is filled as far as parsing got.
 */
int pm_wire_parse(const uint8_t *frame, uint32_t len, struct pm_pkt *pkt);

/** Skip UDP checksum verification (a reflector carries the checksum over
 *  incrementally, so a corrupted request yields a reply that fails it). */
#define PM_WIRE_F_NO_UDP_CSUM	0x1
/** pm_wire_parse() with PM_WIRE_F_* @flags. */
int pm_wire_parse_flags(const uint8_t *frame, uint32_t len, unsigned int flags,
			struct pm_pkt *pkt);

/**
 * A STAMP reply to @dip in the common shape (untagged IPv4 without options,
 * UDP, good checksums, payload >= 44 bytes), parsed and decoded in one
 * pass: 1, with @pkt's addresses, ports, TTL, TOS and offsets and @r set as
 * pm_wire_parse() and pm_wire_stamp_reflector_decode() would set them (the
 * MACs in @pkt are not).  0 for anything else: use those two.
 */
int pm_wire_stamp_reply_fast(const uint8_t *frame, uint32_t len, uint32_t dip,
			     struct pm_pkt *pkt, struct pm_stamp_reflector *r);

/**
 * A request for the reflector in the common shape (untagged IPv4 without
 * options, not fragmented, UDP to @dip with lengths that agree, IPv4 header
 * checksum good): 1, with @pkt filled exactly as pm_wire_parse_flags() with
 * PM_WIRE_F_NO_UDP_CSUM fills it.  0 for anything else: use that one.
 */
int pm_wire_stamp_request_fast(const uint8_t *frame, uint32_t len, uint32_t dip,
			       struct pm_pkt *pkt);

/** Decode a Session-Sender packet from a UDP payload (>= 44 bytes). */
int pm_wire_stamp_sender_decode(const uint8_t *pl, uint32_t len,
				struct pm_stamp_sender *s);
/** Decode a Session-Reflector packet from a UDP payload (>= 44 bytes). */
int pm_wire_stamp_reflector_decode(const uint8_t *pl, uint32_t len,
				   struct pm_stamp_reflector *r);
/**
 * Walk the TLVs after the base packet; PM_WIRE_OK when they tile the
 * payload exactly, PM_WIRE_BAD_TLV otherwise.  @ntlv gets their count.
 */
int pm_wire_stamp_tlv_check(const uint8_t *pl, uint32_t len, unsigned *ntlv);

/* Building ----------------------------------------------------------- */

/**
 * Write a complete probe frame (Ethernet/IPv4/UDP/STAMP sender, seq 0,
 * ts 0, plus an Extra Padding TLV when payload_len > 44) into @frame.
 * IPv4 ID 0 with DF, checksums valid.  Returns the frame length or
 * -EINVAL (bad payload_len: 45..47 or > PM_STAMP_MAX_PAYLOAD) / -ENOSPC.
 */
int pm_wire_probe_build(uint8_t *frame, size_t cap,
			const struct pm_probe_hdr *h);
/**
 * Stamp a frame made by pm_wire_probe_build(): sequence number, t1 (wire
 * format) and Error Estimate, with an incremental UDP checksum update.
 * Cheap enough for the data path (touches only the changed words).
 */
/**
 * The same for a flow's probes on the data path, in two steps.  Once per
 * flow, pm_wire_probe_stamp_base() on its built template takes the UDP
 * checksum without the stamped words (-1: the template carries no UDP
 * checksum, which stays 0).  Then pm_wire_probe_stamp_on() writes seq, t1
 * and ee into any copy of that template, stamped before or not, and sets
 * the checksum from the base: no load of the frame's old words, one fold.
 */
int32_t pm_wire_probe_stamp_base(const uint8_t *frame);
void pm_wire_probe_stamp_on(uint8_t *frame, uint32_t seq, uint64_t ts,
			    uint16_t ee, int32_t base);
void pm_wire_probe_stamp(uint8_t *frame, uint32_t seq, uint64_t ts,
			 uint16_t ee);

/**
 * Turn a received STAMP sender frame into the reflector's reply, in place
 * and never longer than the request: swap MAC/IP/ports, TTL 255, write the
 * reflector fields (stateless: reflector seq = sender seq), t2 = @rx_ts,
 * t3 = 0 for now, copy TLVs (unknown types get the U flag, the first
 * malformed one M).  The UDP checksum is updated incrementally from the
 * request's, never recomputed, so corruption stays detectable end to end.
 * @pkt comes from pm_wire_parse() on this frame.  Returns 0 or a
 * pm_wire_cause.
 */
int pm_wire_stamp_reflect(uint8_t *frame, const struct pm_pkt *pkt,
			  uint64_t rx_ts, uint16_t ee);
/**
 * pm_wire_stamp_reflect() for a reflector that stamps t3 later, per burst:
 * the same bytes, except that a 44-byte request's UDP checksum is left for
 * pm_wire_stamp_finish(), which writes t3 and the checksum in one update
 * (*@owe: what the checksum owes until then; 0 for other requests, already
 * settled).
 */
int pm_wire_stamp_reflect_owe(uint8_t *frame, const struct pm_pkt *pkt,
			      uint64_t rx_ts, uint16_t ee, uint32_t *owe);
/** Write t3 into a reply made by pm_wire_stamp_reflect_owe() (t3 still 0)
 *  and settle its UDP checksum with @owe. */
void pm_wire_stamp_finish(uint8_t *frame, const struct pm_pkt *pkt,
			  uint64_t tx_ts, uint32_t owe);
/** Write t3 into a reply made by pm_wire_stamp_reflect(), fixing the UDP
 *  checksum incrementally. */
void pm_wire_stamp_set_tx_ts(uint8_t *frame, const struct pm_pkt *pkt,
			     uint64_t tx_ts);

/** Build an ARP request (who-has @tip tell @sip). Returns 42. */
int pm_wire_arp_request(uint8_t *frame, size_t cap, const uint8_t smac[6],
			uint32_t sip, uint32_t tip);
/**
 * Inspect an ARP frame.  Returns 1 and sets *@op, *@sip, @sha when it is an
 * Ethernet/IPv4 ARP request or reply, 0 otherwise.
 */
int pm_wire_arp_parse(const uint8_t *frame, uint32_t len, uint16_t *op,
		      uint32_t *sip, uint32_t *tip, uint8_t sha[6]);
/** Turn an ARP request for @mac/@ip into the reply, in place. */
void pm_wire_arp_reply(uint8_t *frame, const uint8_t mac[6], uint32_t ip);
/**
 * Turn an ICMP echo request (parsed by pm_wire_parse) into its reply in
 * place.  Returns 0, or PM_WIRE_NOT_FOR_US when it is not an echo request.
 */
int pm_wire_icmp_echo_reply(uint8_t *frame, const struct pm_pkt *pkt);

/* Path discovery ----------------------------------------------------- */

/** What an ICMP error quotes of the packet that caused it (host order). */
struct pm_icmp_quote {
	uint8_t type;		/**< 11 Time Exceeded, 3 Destination Unreachable */
	uint8_t code;
	uint32_t from;		/**< the router (or host) that sent the error */
	uint32_t sip;		/**< the quoted packet's addresses ... */
	uint32_t dip;
	uint16_t ip_id;		/**< ... IPv4 ID ... */
	uint8_t proto;
	uint16_t sport;		/**< ... and UDP/TCP ports */
	uint16_t dport;
};

#define PM_ICMP_TIME_EXCEEDED	11
#define PM_ICMP_UNREACHABLE	3

/**
 * Read an ICMP Time Exceeded or Destination Unreachable message (a frame
 * pm_wire_parse() called PM_WIRE_ICMP, @pkt its result) and what it quotes:
 * the original IPv4 header and the first 8 bytes after it.  The ICMP
 * checksum is verified.  Returns PM_WIRE_OK, or PM_WIRE_NOT_FOR_US (another
 * ICMP type) / PM_WIRE_TRUNCATED / PM_WIRE_BAD_IP (a quote too short or not
 * IPv4) / PM_WIRE_IP_CSUM (ICMP checksum).
 */
int pm_wire_icmp_quote(const uint8_t *frame, const struct pm_pkt *pkt,
		       struct pm_icmp_quote *q);

/**
 * Make a probe frame a path-discovery probe: IPv4 TTL @ttl and ID @ip_id,
 * header checksum recomputed.  The 5-tuple stays the flow's, so routers
 * hash it onto the flow's own path (Paris traceroute).
 */
void pm_wire_trace_mark(uint8_t *frame, uint8_t ttl, uint16_t ip_id);

/* Reflector-less probes ---------------------------------------------- */

/*
 * ICMP echo probes: identifier = the flow's source-port number (it names
 * the owning lcore as a source port does), sequence = the low 16 bits of
 * the probe's sequence; the data starts with 20 bytes the target echoes
 * back: magic "pmSH", the 32-bit sequence, t1 (PTP format) -- so the match
 * needs no state beyond the tracker -- the SSID and 2 zero bytes; zeros
 * pad it to the configured size.
 */
#define PM_ICMP_HLEN		8
#define PM_PING_DATA_MIN	20

/** An echo reply to one of our pings (host order). */
struct pm_ping {
	uint16_t id;
	uint16_t seq16;
	uint32_t seq;
	uint64_t ts;		/**< t1 echoed, PTP format */
	uint16_t ssid;
};

/** Build an echo request frame template; @h->payload_len is the ICMP data
 * size (>= PM_PING_DATA_MIN), @h->sport the identifier.  Returns the frame
 * length or -errno. */
int pm_wire_ping_build(uint8_t *frame, size_t cap, const struct pm_probe_hdr *h);
/** Write the sequence and t1 into a ping built above (checksum kept). */
void pm_wire_ping_stamp(uint8_t *frame, uint32_t seq, uint64_t ts);
/**
 * Decode an echo reply (pm_wire_parse() returned PM_WIRE_ICMP): OK, or
 * PM_WIRE_NOT_FOR_US (not an echo reply, or header and data disagree),
 * PM_WIRE_SHORT_STAMP (not one of ours: no magic), PM_WIRE_IP_CSUM.
 */
int pm_wire_ping_parse(const uint8_t *frame, const struct pm_pkt *pkt,
		       struct pm_ping *r);

/*
 * TCP SYN probes: a SYN (with an MSS option) whose sequence number is the
 * flow's ISN base + the probe's sequence; the target answers SYN-ACK (port
 * open) or RST-ACK (closed), both acknowledging ISN + 1.  The prober has no
 * TCP stack, so it answers every segment that is not a reset with a reset
 * (pm_wire_tcp_rst): no connection is ever left half-open.
 */
#define PM_SYN_HLEN		24	/* TCP header + MSS option */
#define PM_TCP_FIN		0x01
#define PM_TCP_SYN		0x02
#define PM_TCP_RST		0x04
#define PM_TCP_ACK		0x10

struct pm_tcp_seg {
	uint16_t sport;
	uint16_t dport;
	uint32_t seq;
	uint32_t ack;
	uint8_t flags;
	uint32_t data_len;
};

/** Build a SYN frame template (@h->payload_len unused).  Returns the frame
 * length or -errno. */
int pm_wire_syn_build(uint8_t *frame, size_t cap, const struct pm_probe_hdr *h);
/** Set the SYN's sequence number, checksum recomputed. */
void pm_wire_syn_stamp(uint8_t *frame, uint32_t isn);
/**
 * Decode a TCP segment (pm_wire_parse() returned PM_WIRE_NOT_UDP with
 * proto 6): OK, PM_WIRE_TRUNCATED, PM_WIRE_BAD_UDP (bad data offset) or
 * PM_WIRE_UDP_CSUM (checksum).
 */
int pm_wire_tcp_parse(const uint8_t *frame, const struct pm_pkt *pkt,
		      struct pm_tcp_seg *s);
/**
 * Turn segment @s, received in @frame, into the reset that answers it, in
 * place (addresses and ports swapped, no options, no data).  Returns the
 * new frame length, or -EINVAL for a reset (never answered).
 */
int pm_wire_tcp_rst(uint8_t *frame, const struct pm_pkt *pkt,
		    const struct pm_tcp_seg *s);

#endif /* PM_WIRE_H */
