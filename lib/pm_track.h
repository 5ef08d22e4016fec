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

#include <errno.h>
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
	uint64_t t1;		/**< send time, the engine's unit (STAMP: ns, RDMA: ticks) */
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

#define PM_TRACK_PREFETCH	8u	/* slots ahead: two 64-byte lines */

/*
 * Claim the next sequence number for a probe sent at @t1.  Returns the
 * sequence number (>= 0 as int64) or -EBUSY when the ring is full (counted
 * in cnt.stalled).  Inline, as pm_track_reply(): once per probe and reply.
 */
static inline int64_t
pm_track_send(struct pm_track *t, uint64_t t1)
{
	uint32_t seq = t->next_seq;
	struct pm_track_slot *s = &t->slot[seq & t->mask];

	/*
	 * The slot last held seq - nslots.  Every probe before ->oldest is
	 * resolved, so while the ring is not full the slot is free without
	 * a look at it (it has left the cache since).  A full ring's slot is
	 * ->oldest's own: taken only if that probe is resolved, stepping
	 * ->oldest over it.
	 */
	if (seq - t->oldest > t->mask) {
		if (s->state == PM_SLOT_OUTSTANDING) {
			t->cnt.stalled++;
			return -EBUSY;
		}
		t->oldest++;
	}

	s->t1 = t1;
	s->seq = seq;
	s->state = PM_SLOT_OUTSTANDING;
	t->next_seq = seq + 1;
	t->cnt.sent++;
	/*
	 * The ring is walked in order and may be far larger than the cache
	 * (16k slots a flow at line rate): fetch the line this flow will
	 * write two lines from now, or every fourth send waits on memory.
	 */
	__builtin_prefetch(&t->slot[(seq + PM_TRACK_PREFETCH) & t->mask], 1);
	return seq;
}

/*
 * Account a reply for @seq.  On PM_TRK_RECEIVED/PM_TRK_REORDERED, *@t1 is
 * the send time recorded for it.
 */
static inline enum pm_track_res
pm_track_reply(struct pm_track *t, uint32_t seq, uint64_t *t1)
{
	struct pm_track_slot *s = &t->slot[seq & t->mask];

	/* Never sent (or so far back it reads as the future): not ours. */
	if ((int32_t)(seq - t->next_seq) >= 0)
		goto unmatched;
	/* Slot since reused by a newer probe, or never used. */
	if (s->seq != seq)
		goto unmatched;

	switch (s->state) {
	case PM_SLOT_OUTSTANDING:
		s->state = PM_SLOT_RECEIVED;
		t->cnt.received++;
		if (t1 != NULL)
			*t1 = s->t1;
		/* The oldest probe answered (in order, the common case):
		 * ->oldest moves on now, not at the next sweep, so the ring
		 * stays short of full and sends need not read their slots. */
		if (seq == t->oldest)
			t->oldest = seq + 1;
		if ((int32_t)(seq - t->highest_rx) < 0) {
			t->cnt.reordered++;
			return PM_TRK_REORDERED;
		}
		t->highest_rx = seq + 1;
		return PM_TRK_RECEIVED;
	case PM_SLOT_RECEIVED:
	case PM_SLOT_LATE:
		t->cnt.dup++;
		return PM_TRK_DUP;
	case PM_SLOT_LOST:
		s->state = PM_SLOT_LATE;
		t->cnt.late++;
		return PM_TRK_LATE;
	default:
		break;
	}
unmatched:
	t->cnt.unmatched++;
	return PM_TRK_UNMATCHED;
}

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
