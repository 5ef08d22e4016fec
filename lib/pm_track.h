/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_track: what happened to every probe of a flow.
 *
 * A flow sends sequence numbers 0, 1, 2, ...  Each in-flight probe sits in
 * a slot of a power-of-two ring (slot = seq & mask) holding its send time.
 * A reply resolves its slot: received (in order or reordered), or, when the
 * slot was already resolved, a duplicate or a late reply.  pm_track_sweep()
 * declares lost every probe older than the timeout, oldest first.  A probe
 * is counted exactly once as received or lost; a reply that arrives after
 * its probe was declared lost counts as late, never as received.  A reply
 * whose sequence number was never sent, or whose slot has since been reused,
 * is unmatched: counted, not trusted, its timestamps ignored.
 *
 * The ring bounds the probes in flight: pm_track_send() refuses (-EBUSY)
 * when the next slot still waits for its reply or timeout, so the engine
 * holds that probe back and counts the stall; no probe state is ever
 * overwritten.  Slot memory comes from the caller (sized once from the
 * flow's rate x timeout), so nothing here allocates.
 */
#ifndef PM_TRACK_H
#define PM_TRACK_H

#include <stdint.h>

enum pm_track_res {
	PM_TRK_RECEIVED = 0,	/**< first reply, in order */
	PM_TRK_REORDERED,	/**< first reply, but a later seq came first */
	PM_TRK_DUP,		/**< another reply for a resolved probe */
	PM_TRK_LATE,		/**< reply after the probe was declared lost */
	PM_TRK_UNMATCHED,	/**< seq never sent or its slot reused */
};

enum pm_slot_state {
	PM_SLOT_FREE = 0,
	PM_SLOT_OUTSTANDING,
	PM_SLOT_RECEIVED,
	PM_SLOT_LOST,
	PM_SLOT_LATE,
};

struct pm_track_slot {
	uint64_t t1;		/**< send time, engine's tick units */
	uint32_t seq;
	uint8_t state;		/**< enum pm_slot_state */
	uint8_t rsvd[3];
};

/** Event counts since the last pm_track_counts_take(). */
struct pm_track_counts {
	uint64_t sent;
	uint64_t received;	/**< includes reordered */
	uint64_t lost;
	uint64_t late;
	uint64_t dup;
	uint64_t reordered;
	uint64_t unmatched;
	uint64_t stalled;	/**< sends refused: ring full */
};

struct pm_track {
	struct pm_track_slot *slot;
	uint32_t mask;		/**< nslots - 1 */
	uint32_t next_seq;	/**< next sequence number to send */
	uint32_t oldest;	/**< oldest seq not yet swept */
	uint32_t highest_rx;	/**< highest seq received so far (+1) */
	struct pm_track_counts cnt;
};

/** Slots needed for @rate_pps with @timeout_ns in flight (power of two,
 *  at least 16, at most 1<<20). */
uint32_t pm_track_slots_for(uint64_t rate_pps, uint64_t timeout_ns);
/** Start a flow on @slot[nslots] (nslots a power of two). -EINVAL else. */
int pm_track_init(struct pm_track *t, struct pm_track_slot *slot,
		  uint32_t nslots, uint32_t first_seq);
/**
 * Claim the next sequence number for a probe sent at @t1.  Returns the
 * sequence number (>= 0 as int64) or -EBUSY when the ring is full (counted
 * in cnt.stalled).
 */
int64_t pm_track_send(struct pm_track *t, uint64_t t1);
/**
 * Account a reply for @seq.  On PM_TRK_RECEIVED/PM_TRK_REORDERED, *@t1 is
 * the send time recorded for it.
 */
enum pm_track_res pm_track_reply(struct pm_track *t, uint32_t seq,
				 uint64_t *t1);
/**
 * Declare lost every outstanding probe sent before @now - @timeout (tick
 * units).  Returns how many were declared lost by this call.
 */
uint32_t pm_track_sweep(struct pm_track *t, uint64_t now, uint64_t timeout);
/** Declare every outstanding probe lost (shutdown after the timeout). */
uint32_t pm_track_expire_all(struct pm_track *t);
/** Probes in flight. */
uint32_t pm_track_inflight(const struct pm_track *t);
/** Copy the counts out and zero them (window close). */
void pm_track_counts_take(struct pm_track *t, struct pm_track_counts *out);

#endif /* PM_TRACK_H */
