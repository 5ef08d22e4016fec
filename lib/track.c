/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sequence tracking: each probe resolved exactly once, as received or lost.
 *
 * A ring of slots indexed by seq & mask holds the probes between ->oldest
 * (the first not yet swept) and ->next_seq.  Replies resolve slots in any
 * order; pm_track_sweep() walks from ->oldest, declaring lost what has
 * waited past the timeout and stepping over what is resolved, and stops at
 * the first probe still within its time.  Sequence numbers are uint32 and
 * wrap: every comparison is a difference taken as int32, so a flow may run
 * through 2^32 probes and on.  Invariants: next_seq - oldest <= nslots, so
 * every slot between them holds its own probe and none is overwritten
 * while outstanding; and every probe before ->oldest is resolved, so a
 * send reads its slot only when the ring is full.  A reply to ->oldest
 * itself moves it on at once, which in order keeps the ring short.
 * pm_track_send() and pm_track_reply(), once per probe and reply, are
 * inline in pm_track.h.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "pm_track.h"

#define TRACK_MIN_SLOTS	16u
#define TRACK_MAX_SLOTS	(1u << 20)

uint32_t
pm_track_slots_for(uint64_t rate_pps, uint64_t timeout_ns)
{
	unsigned __int128 need;
	uint32_t n = TRACK_MIN_SLOTS;

	/* rate x timeout, 25% headroom for bursts, 8 for tiny rates. */
	need = ((unsigned __int128)rate_pps * timeout_ns * 5 + 3999999999ULL) /
	       4000000000ULL + 8;
	if (need > TRACK_MAX_SLOTS)
		return TRACK_MAX_SLOTS;
	while (n < need)
		n <<= 1;
	return n;
}

int
pm_track_init(struct pm_track *t, struct pm_track_slot *slot, uint32_t nslots,
	      uint32_t first_seq)
{
	/* More than 2^31 slots would break the int32 seq comparisons. */
	if (t == NULL || slot == NULL || nslots == 0 ||
	    (nslots & (nslots - 1)) != 0 || nslots > (1u << 31))
		return -EINVAL;
	memset(slot, 0, sizeof(*slot) * nslots);
	memset(t, 0, sizeof(*t));
	t->slot = slot;
	t->mask = nslots - 1;
	t->next_seq = first_seq;
	t->oldest = first_seq;
	t->highest_rx = first_seq;
	return 0;
}

uint32_t
pm_track_sweep(struct pm_track *t, uint64_t now, uint64_t timeout)
{
	struct pm_track_slot *s;
	uint32_t lost = 0;

	while (t->oldest != t->next_seq) {
		s = &t->slot[t->oldest & t->mask];
		if (s->state == PM_SLOT_OUTSTANDING) {
			/* A send time after now (clock skew) is not due. */
			if (now < s->t1 || now - s->t1 < timeout)
				break;
			s->state = PM_SLOT_LOST;
			t->cnt.lost++;
			lost++;
		}
		t->oldest++;
	}
	return lost;
}

uint32_t
pm_track_expire_all(struct pm_track *t)
{
	struct pm_track_slot *s;
	uint32_t lost = 0;

	for (; t->oldest != t->next_seq; t->oldest++) {
		s = &t->slot[t->oldest & t->mask];
		if (s->state == PM_SLOT_OUTSTANDING) {
			s->state = PM_SLOT_LOST;
			t->cnt.lost++;
			lost++;
		}
	}
	return lost;
}

uint32_t
pm_track_inflight(const struct pm_track *t)
{
	uint32_t seq, n = 0;

	/* O(window): called per window or on status, not per packet. */
	for (seq = t->oldest; seq != t->next_seq; seq++)
		n += t->slot[seq & t->mask].state == PM_SLOT_OUTSTANDING;
	return n;
}

void
pm_track_counts_take(struct pm_track *t, struct pm_track_counts *out)
{
	*out = t->cnt;
	memset(&t->cnt, 0, sizeof(t->cnt));
}
