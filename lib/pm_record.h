/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_record: the per-window, per-flow summary every engine emits.
 *
 * A summary is one or more fixed-size (512-byte) records: part 0 carries the
 * identity, counts and RTT statistics plus the first histogram buckets;
 * further parts carry only more buckets (a busy flow whose RTTs spread over
 * many buckets).  Fixed size lets a data lcore hand records to the export
 * thread through an rte_ring of elements with no allocation; all parts of a
 * summary are enqueued in one bulk operation so a consumer always sees them
 * together and in order.
 *
 * Identity: (prober_id, lcore, seq) is unique for the life of a prober
 * instance (seq counts summaries per lcore from a start-time base), so any
 * consumer can deduplicate at-least-once transport.
 *
 * Counting rule: the counts of a window are the events that happened in it
 * (probes sent, replies received, probes declared lost, ...).  A probe sent
 * near the end of a window is counted received or lost in the window in
 * which its fate became known.  Drop rate = lost / (received + lost).
 *
 * The JSON form (one line per summary) is documented, field by field, in
 * docs/records.md together with the schema version history.
 */
#ifndef PM_RECORD_H
#define PM_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "pm_hist.h"

#define PM_REC_SCHEMA		3	/**< bump on any layout/meaning change */
#define PM_REC_SCHEMA_MIN	1	/**< oldest version decoders still read */
#define PM_REC_SIZE		512

enum pm_rec_kind {
	PM_REC_SUMMARY = 1,
	PM_REC_PATH = 2,	/**< a flow's discovered path (one record) */
};

#define PM_REC_PATH_HOPS	32

enum pm_engine_id {
	PM_ENGINE_NONE = 0,
	PM_ENGINE_DPDK_STAMP,
	PM_ENGINE_DPDK_ICMP,
	PM_ENGINE_DPDK_TCP,
	PM_ENGINE_RDMA_UD,
};

/* flags */
#define PM_REC_F_OWD		0x0001	/**< one-way delays valid (clocks synced) */
#define PM_REC_F_NO_REFL_TS	0x0002	/**< some replies had no t2/t3 */
#define PM_REC_F_FINAL		0x0004	/**< last window before shutdown */
#define PM_REC_F_BURST		0x0008	/**< probed faster in this window after a
					 * loss (adaptive probing): sent is
					 * higher than the rate says */
#define PM_REC_F_STALL		0x0010	/**< the prober's lcore did not run
					 * for > 10 ms in this window: replies
					 * that waited meanwhile carry the wait
					 * in their RTT when t4 is the TSC */

/** Minimum / maximum / sum of a delay, ns. min is UINT64_MAX when n == 0. */
struct pm_rec_stat {
	uint64_t min;
	uint64_t max;
	uint64_t sum;
};

/** Identity and flow of a summary (part 0; copied into later parts). */
struct pm_rec_hdr {
	uint16_t schema;	/**< PM_REC_SCHEMA */
	uint8_t kind;		/**< enum pm_rec_kind */
	uint8_t engine;		/**< enum pm_engine_id */
	uint8_t part;		/**< 0 .. nparts-1 */
	uint8_t nparts;
	uint16_t flags;		/**< PM_REC_F_* */
	uint32_t prober_id;	/**< FNV-1a of the prober name */
	uint16_t lcore;
	uint16_t rsvd;
	uint64_t seq;		/**< per-lcore summary sequence */
	uint64_t window_start_ns; /**< Unix epoch ns, aligned to window_ms */
	uint32_t window_ms;
	uint32_t target;	/**< index in the prober's target list */
	uint32_t flow;		/**< flow index within the target */
	uint8_t af;		/**< 4 (IPv6 reserved: 6) */
	uint8_t proto;		/**< IPPROTO_UDP for STAMP */
	uint8_t dscp;
	uint8_t ts_tx;		/**< enum pm_ts_src of t1 */
	uint8_t ts_rx;		/**< enum pm_ts_src of t4 */
	uint8_t ts_refl;	/**< PM_TS_REMOTE, or PM_TS_NONE if none */
	uint8_t refl_synced;	/**< reflector's S bit was set */
	uint8_t rsvd2;
	uint32_t src;		/**< IPv4, host order */
	uint32_t dst;
	uint16_t sport;
	uint16_t dport;
	uint16_t ssid;
	uint16_t size;		/**< STAMP payload bytes */
};

struct pm_rec_body {
	uint64_t sent;
	uint64_t received;
	uint64_t lost;
	uint64_t late;
	uint64_t dup;
	uint64_t reordered;
	uint64_t unmatched;
	uint64_t stalled;
	struct pm_rec_stat rtt;		/**< network RTT (t4-t1)-(t3-t2) */
	struct pm_rec_stat raw;		/**< raw RTT t4-t1 */
	struct pm_rec_stat refl;	/**< reflector delay t3-t2 */
	struct pm_rec_stat fwd;		/**< t2-t1 when PM_REC_F_OWD */
	struct pm_rec_stat bwd;		/**< t4-t3 when PM_REC_F_OWD */
	uint64_t hist_overflow;		/**< samples that found no bucket room */
	uint16_t rtt_nbuckets;		/**< non-empty RTT buckets, all parts */
	uint16_t refl_nbuckets;		/**< non-empty reflector buckets */
	/**
	 * Summaries this lcore built but could not hand to the export thread
	 * (ring full) since its previous summary; their sequence numbers are
	 * the gap just before this one's (schema 2).
	 */
	uint32_t dropped_before;
	/**
	 * The prober's own host delay per answered probe, kept out of the
	 * RTT (engine rdma-ud: post to send completion plus receive
	 * completion to poll); host_n = 0 when the engine does not measure
	 * it (schema 3).
	 */
	struct pm_rec_stat host;
	uint64_t host_n;
};

#define PM_REC_ENT_BYTES \
	(PM_REC_SIZE - sizeof(struct pm_rec_hdr) - 4)
/** Histogram entries per part 0 record. */
#define PM_REC_ENT0 \
	((PM_REC_ENT_BYTES - sizeof(struct pm_rec_body)) / sizeof(struct pm_hist_ent))
/** Histogram entries per continuation record. */
#define PM_REC_ENTN (PM_REC_ENT_BYTES / sizeof(struct pm_hist_ent))

/**
 * One fixed-size record.  Entries of a summary, across its parts in order,
 * are the rtt_nbuckets RTT buckets (ascending) followed by the
 * refl_nbuckets reflector-delay buckets (ascending).
 */
struct pm_record {
	struct pm_rec_hdr h;
	uint16_t nent;		/**< entries in this part */
	uint16_t rsvd;
	union {
		struct {
			struct pm_rec_body b;
			struct pm_hist_ent ent[PM_REC_ENT0];
		} p0;
		struct pm_hist_ent ent[PM_REC_ENTN];	/**< part > 0 */
		/** kind PM_REC_PATH: h has the flow, window_start_ns the
		 * time the trace ended. */
		struct {
			uint8_t nhops;		/**< TTLs sent (hops[0..nhops)) */
			uint8_t dest_ttl;	/**< the target answered at this TTL; 0 never */
			uint16_t rsvd;
			uint32_t hops[PM_REC_PATH_HOPS];	/**< 0: no answer */
		} path;
	};
};

_Static_assert(sizeof(struct pm_record) <= PM_REC_SIZE, "record too big");

/** 32-bit FNV-1a of a string (prober ids). */
uint32_t pm_record_id_hash(const char *s);
/** "dpdk-stamp", "rdma-ud", ... */
const char *pm_engine_str(int engine);

/** Records needed to hold a summary with these bucket counts. */
unsigned int pm_record_nparts(uint32_t rtt_nbuckets, uint32_t refl_nbuckets);

/**
 * Fill @recs[max] with a summary: @hdr and @body as given (part/nparts/nent
 * and bucket counts set here), buckets from @rtt and @refl.  Returns the
 * number of records written, or -ENOSPC if @max is too small.
 */
int pm_record_build(struct pm_record *recs, unsigned int max,
		    const struct pm_rec_hdr *hdr, const struct pm_rec_body *body,
		    const struct pm_hist *rtt, const struct pm_hist *refl);

/**
 * The same from already sorted entries: @rtt[nr] then @refl[nf] (what a
 * decoder holds).  Returns the number of records or -ENOSPC.
 */
int pm_record_build_ents(struct pm_record *recs, unsigned int max,
			 const struct pm_rec_hdr *hdr,
			 const struct pm_rec_body *body,
			 const struct pm_hist_ent *rtt, uint32_t nr,
			 const struct pm_hist_ent *refl, uint32_t nf);

/**
 * Check that @recs[n] is one complete summary (schema, kind, parts in
 * order, entry counts).  Returns 0 or -EINVAL / -EPROTONOSUPPORT (unknown
 * schema version).
 */
int pm_record_check(const struct pm_record *recs, unsigned int n);

/**
 * Rebuild the histograms of a summary into @rtt and @refl (dense or sparse,
 * already initialised).  Returns 0 or -EINVAL.
 */
int pm_record_hists(const struct pm_record *recs, unsigned int n,
		    struct pm_hist *rtt, struct pm_hist *refl);

/**
 * One JSON line (no trailing newline) for the summary @recs[n].  Returns the
 * length written (excluding NUL), or -ENOSPC when @cap is too small.
 */
int pm_record_json(const struct pm_record *recs, unsigned int n,
		   const char *prober_name, char *buf, size_t cap);

#endif /* PM_RECORD_H */
