/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/track.c: every way a reply can relate to its probe
 * (in order, reordered, duplicate, late, unmatched), loss by sweep, ring
 * stalls, sequence wrap, and a randomized run against a plain array model
 * with drops, duplicates, reordering and delays past the timeout.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "pm_track.h"

/* Deterministic xorshift64*, so failures reproduce. */
static uint64_t rng_state = 0x13198a2e03707344ULL;

static uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static struct pm_track_slot slots[1024];

static void
test_slots_for(void **state)
{
	(void)state;
	assert_int_equal(pm_track_slots_for(0, 0), 16);
	assert_int_equal(pm_track_slots_for(1, 1000000000ULL), 16);
	/* 10 pps x 1 s x 1.25 + 8 = 20.5 */
	assert_int_equal(pm_track_slots_for(10, 1000000000ULL), 32);
	/* 1000 pps x 100 ms: 125 + 8 = 133 */
	assert_int_equal(pm_track_slots_for(1000, 100000000ULL), 256);
	/* 96 x 1.25 + 8 = 128 exactly: no rounding up past it. */
	assert_int_equal(pm_track_slots_for(96, 1000000000ULL), 128);
	assert_int_equal(pm_track_slots_for(97, 1000000000ULL), 256);
	assert_int_equal(pm_track_slots_for(1000000, 1000000000ULL), 1u << 20);
	/* Products past 64 bits clamp, not wrap. */
	assert_int_equal(pm_track_slots_for(UINT64_MAX, UINT64_MAX), 1u << 20);
}

static void
test_init_errors(void **state)
{
	struct pm_track t;

	(void)state;
	assert_int_equal(pm_track_init(&t, slots, 0, 0), -EINVAL);
	assert_int_equal(pm_track_init(&t, slots, 3, 0), -EINVAL);
	assert_int_equal(pm_track_init(&t, slots, 24, 0), -EINVAL);
	assert_int_equal(pm_track_init(&t, NULL, 16, 0), -EINVAL);
	assert_int_equal(pm_track_init(&t, slots, 1, 0), 0);
	assert_int_equal(pm_track_init(&t, slots, 1024, 7), 0);
	assert_int_equal(t.next_seq, 7);
	assert_int_equal(pm_track_inflight(&t), 0);
}

static void
test_in_order(void **state)
{
	struct pm_track_counts c;
	struct pm_track t;
	uint64_t t1 = 0;
	uint32_t i;

	(void)state;
	assert_int_equal(pm_track_init(&t, slots, 16, 0), 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(pm_track_send(&t, 1000 + i), i);
	assert_int_equal(pm_track_inflight(&t), 5);
	for (i = 0; i < 5; i++) {
		assert_int_equal(pm_track_reply(&t, i, &t1), PM_TRK_RECEIVED);
		assert_int_equal(t1, 1000 + i);
	}
	assert_int_equal(pm_track_inflight(&t), 0);
	/* In order, each reply moved ->oldest on: nothing left to sweep. */
	assert_int_equal(t.oldest, 5);
	assert_int_equal(pm_track_sweep(&t, 1000000, 10), 0);
	assert_int_equal(t.oldest, 5);
	/* 40 more in order through the 16-slot ring: the ring never fills. */
	for (i = 5; i < 45; i++) {
		assert_int_equal(pm_track_send(&t, 1000 + i), i);
		assert_int_equal(pm_track_reply(&t, i, NULL), PM_TRK_RECEIVED);
	}
	assert_int_equal(t.oldest, 45);
	assert_int_equal(t.cnt.stalled, 0);

	pm_track_counts_take(&t, &c);
	assert_int_equal(c.sent, 45);
	assert_int_equal(c.received, 45);
	assert_int_equal(c.lost + c.late + c.dup + c.reordered, 0);
	assert_int_equal(c.unmatched + c.stalled, 0);
	pm_track_counts_take(&t, &c);
	assert_int_equal(c.sent + c.received, 0);
}

static void
test_loss_and_late(void **state)
{
	struct pm_track t;
	uint64_t t1 = 77;

	(void)state;
	assert_int_equal(pm_track_init(&t, slots, 16, 0), 0);
	pm_track_send(&t, 100);
	pm_track_send(&t, 110);
	pm_track_send(&t, 120);
	/* Not yet due; a clock behind the send time is not due either. */
	assert_int_equal(pm_track_sweep(&t, 150, 95), 0);
	assert_int_equal(pm_track_sweep(&t, 50, 0), 0);
	assert_int_equal(pm_track_sweep(&t, 195, 95), 1);	/* seq 0 */
	assert_int_equal(t.oldest, 1);
	assert_int_equal(pm_track_sweep(&t, 215, 95), 2);
	assert_int_equal(t.cnt.lost, 3);
	assert_int_equal(pm_track_inflight(&t), 0);

	/* A reply after the loss verdict: late, never received. */
	assert_int_equal(pm_track_reply(&t, 1, &t1), PM_TRK_LATE);
	assert_int_equal(t1, 77);	/* not trusted, not written */
	assert_int_equal(pm_track_reply(&t, 1, &t1), PM_TRK_DUP);
	assert_int_equal(t.cnt.received, 0);
	assert_int_equal(t.cnt.late, 1);
	assert_int_equal(t.cnt.dup, 1);
	assert_int_equal(t.cnt.lost, 3);
}

static void
test_dup_and_reorder(void **state)
{
	struct pm_track t;
	uint64_t t1;

	(void)state;
	assert_int_equal(pm_track_init(&t, slots, 16, 0), 0);
	pm_track_send(&t, 100);
	pm_track_send(&t, 200);
	pm_track_send(&t, 300);
	pm_track_send(&t, 400);
	assert_int_equal(pm_track_reply(&t, 2, &t1), PM_TRK_RECEIVED);
	assert_int_equal(t1, 300);
	assert_int_equal(pm_track_reply(&t, 0, &t1), PM_TRK_REORDERED);
	assert_int_equal(t1, 100);
	assert_int_equal(pm_track_reply(&t, 1, NULL), PM_TRK_REORDERED);
	assert_int_equal(pm_track_reply(&t, 3, &t1), PM_TRK_RECEIVED);
	assert_int_equal(pm_track_reply(&t, 2, &t1), PM_TRK_DUP);
	assert_int_equal(pm_track_reply(&t, 0, &t1), PM_TRK_DUP);
	assert_int_equal(t.cnt.received, 4);
	assert_int_equal(t.cnt.reordered, 2);
	assert_int_equal(t.cnt.dup, 2);
	assert_int_equal(pm_track_inflight(&t), 0);
}

static void
test_unmatched(void **state)
{
	struct pm_track t;
	uint32_t i;

	(void)state;
	assert_int_equal(pm_track_init(&t, slots, 16, 100), 0);
	/* Nothing sent yet: everything is unmatched. */
	assert_int_equal(pm_track_reply(&t, 100, NULL), PM_TRK_UNMATCHED);
	/* Before the first seq, slot never used (its seq field is 0 ...). */
	assert_int_equal(pm_track_reply(&t, 99, NULL), PM_TRK_UNMATCHED);
	assert_int_equal(pm_track_init(&t, slots, 16, 16), 0);
	/* ... and a slot whose zeroed seq happens to match is FREE. */
	assert_int_equal(pm_track_reply(&t, 0, NULL), PM_TRK_UNMATCHED);

	assert_int_equal(pm_track_init(&t, slots, 16, 0), 0);
	for (i = 0; i < 16; i++)
		pm_track_send(&t, i);
	/* Future sequence numbers. */
	assert_int_equal(pm_track_reply(&t, 16, NULL), PM_TRK_UNMATCHED);
	assert_int_equal(pm_track_reply(&t, 1000, NULL), PM_TRK_UNMATCHED);
	for (i = 0; i < 16; i++)
		assert_int_equal(pm_track_reply(&t, i, NULL), PM_TRK_RECEIVED);
	/* Slot 0 reused by seq 16: a reply for 0 no longer matches. */
	assert_int_equal(pm_track_send(&t, 16), 16);
	assert_int_equal(pm_track_reply(&t, 0, NULL), PM_TRK_UNMATCHED);
	assert_int_equal(pm_track_reply(&t, 16, NULL), PM_TRK_RECEIVED);
	assert_int_equal(t.cnt.unmatched, 3);
	assert_int_equal(t.cnt.received, 17);
	assert_int_equal(t.cnt.dup, 0);
}

static void
test_ring_full(void **state)
{
	struct pm_track t;
	uint32_t i;

	(void)state;
	assert_int_equal(pm_track_init(&t, slots, 16, 0), 0);
	for (i = 0; i < 16; i++)
		assert_int_equal(pm_track_send(&t, i), i);
	assert_int_equal(pm_track_send(&t, 16), -EBUSY);
	assert_int_equal(pm_track_send(&t, 16), -EBUSY);
	assert_int_equal(t.cnt.stalled, 2);
	assert_int_equal(t.cnt.sent, 16);
	assert_int_equal(t.next_seq, 16);

	/* Oldest answered: its slot is free again, without a sweep, and
	 * ->oldest has moved past it already. */
	assert_int_equal(pm_track_reply(&t, 0, NULL), PM_TRK_RECEIVED);
	assert_int_equal(t.oldest, 1);
	assert_int_equal(pm_track_send(&t, 16), 16);
	/* A later one answered does not free the next slot (seq 1's), nor
	 * move ->oldest. */
	assert_int_equal(pm_track_reply(&t, 5, NULL), PM_TRK_RECEIVED);
	assert_int_equal(t.oldest, 1);
	assert_int_equal(pm_track_send(&t, 17), -EBUSY);
	/* Declaring seq 1 lost does. */
	assert_int_equal(pm_track_sweep(&t, 1 + 100, 100), 1);
	assert_int_equal(pm_track_send(&t, 17), 17);
	assert_int_equal(pm_track_reply(&t, 1, NULL), PM_TRK_UNMATCHED);
	assert_int_equal(t.cnt.stalled, 3);
	/* Out: 2..15 but 5, then 16 and 17. */
	assert_int_equal(pm_track_inflight(&t), 15);
	assert_int_equal(t.cnt.sent,
			 t.cnt.received + t.cnt.lost + pm_track_inflight(&t));

	assert_int_equal(pm_track_expire_all(&t), 15);
	assert_int_equal(pm_track_inflight(&t), 0);
	assert_int_equal(t.cnt.lost, 16);
	assert_int_equal(t.oldest, t.next_seq);
	assert_int_equal(pm_track_reply(&t, 17, NULL), PM_TRK_LATE);
}

static void
test_seq_wrap(void **state)
{
	struct pm_track t;
	uint32_t first = 0xfffffff0u, seq;
	int64_t r;
	unsigned int i;

	(void)state;
	assert_int_equal(pm_track_init(&t, slots, 16, first), 0);
	for (i = 0; i < 40; i++) {
		r = pm_track_send(&t, 1000 * i);
		assert_true(r >= 0);
		assert_int_equal((uint32_t)r, first + i);
		seq = (uint32_t)r;
		/* Every third lost, the rest answered in order. */
		if (i % 3 != 0)
			assert_int_equal(pm_track_reply(&t, seq, NULL),
					 PM_TRK_RECEIVED);
		pm_track_sweep(&t, 1000 * i, 2500);
	}
	assert_int_equal(t.next_seq, 0x18);
	pm_track_expire_all(&t);
	assert_int_equal(t.cnt.sent, 40);
	assert_int_equal(t.cnt.lost, 14);
	assert_int_equal(t.cnt.received, 26);
	assert_int_equal(t.cnt.reordered, 0);

	/* Reordering and future detection across the wrap. */
	assert_int_equal(pm_track_init(&t, slots, 16, 0xfffffffeu), 0);
	for (i = 0; i < 5; i++)
		pm_track_send(&t, i);
	assert_int_equal(pm_track_reply(&t, 2, NULL), PM_TRK_RECEIVED);
	assert_int_equal(pm_track_reply(&t, 0xffffffffu, NULL),
			 PM_TRK_REORDERED);
	assert_int_equal(pm_track_reply(&t, 1, NULL), PM_TRK_REORDERED);
	assert_int_equal(pm_track_reply(&t, 3, NULL), PM_TRK_UNMATCHED);
	assert_int_equal(pm_track_reply(&t, 0xfffffffdu, NULL),
			 PM_TRK_UNMATCHED);
	assert_int_equal(pm_track_sweep(&t, 100, 100), 1);	/* 0xfffffffe */
	assert_int_equal(pm_track_sweep(&t, 110, 100), 1);	/* 0 */
	assert_int_equal(pm_track_inflight(&t), 0);
	assert_int_equal(t.oldest, 3);
}

/* The randomized run: a plain model, one entry per probe ever sent. */
#define MODEL_PROBES	10000
#define MODEL_SLOTS	128
#define MODEL_TIMEOUT	200
#define MAX_PENDING	8192

enum { M_OUT = 1, M_RECV, M_LOST, M_LATE };

struct model {
	uint8_t st[MODEL_PROBES];
	uint64_t t1[MODEL_PROBES];
	uint32_t next;		/* probes sent */
	uint32_t oldest;	/* first not swept */
	uint32_t highest;	/* highest received + 1 */
	struct pm_track_counts cnt;
};

struct pending {
	uint32_t seq;
	uint64_t at;
};

static struct model m;
static struct pending pend[MAX_PENDING];
static uint32_t npend;

/* What the model expects for a reply to probe index @i (may be >= next). */
static enum pm_track_res
model_reply(uint32_t i)
{
	/* Never sent, or its slot since taken by a newer probe. */
	if (i >= m.next || m.next - i > MODEL_SLOTS) {
		m.cnt.unmatched++;
		return PM_TRK_UNMATCHED;
	}
	switch (m.st[i]) {
	case M_OUT:
		m.st[i] = M_RECV;
		m.cnt.received++;
		if (i + 1 < m.highest) {
			m.cnt.reordered++;
			return PM_TRK_REORDERED;
		}
		m.highest = i + 1;
		return PM_TRK_RECEIVED;
	case M_LOST:
		m.st[i] = M_LATE;
		m.cnt.late++;
		return PM_TRK_LATE;
	default:
		m.cnt.dup++;
		return PM_TRK_DUP;
	}
}

static void
model_sweep(uint64_t now)
{
	while (m.oldest < m.next) {
		if (m.st[m.oldest] == M_OUT) {
			if (now - m.t1[m.oldest] < MODEL_TIMEOUT)
				break;
			m.st[m.oldest] = M_LOST;
			m.cnt.lost++;
		}
		m.oldest++;
	}
}

static uint32_t
model_inflight(void)
{
	uint32_t i, n = 0;

	for (i = m.oldest; i < m.next; i++)
		n += m.st[i] == M_OUT;
	return n;
}

static void
schedule(uint32_t seq, uint64_t at)
{
	assert_true(npend < MAX_PENDING);
	pend[npend].seq = seq;
	pend[npend].at = at;
	npend++;
}

static void
check_counts(const struct pm_track *t)
{
	uint32_t inflight = pm_track_inflight(t);

	assert_memory_equal(&t->cnt, &m.cnt, sizeof(m.cnt));
	assert_int_equal(inflight, model_inflight());
	assert_int_equal(t->cnt.sent, t->cnt.received + t->cnt.lost + inflight);
	assert_true(t->cnt.late <= t->cnt.lost);
	assert_true(t->cnt.reordered <= t->cnt.received);
}

static void
test_random_model(void **state)
{
	static struct pm_track_slot mslots[MODEL_SLOTS];
	const uint32_t first = 0xffffff00u;	/* wraps early in the run */
	struct pm_track t;
	uint64_t now = 1000, t1, delay;
	uint32_t i, j, seq, ndup, step, burst;
	enum pm_track_res got, want;
	int64_t r;

	(void)state;
	memset(&m, 0, sizeof(m));
	npend = 0;
	assert_int_equal(pm_track_init(&t, mslots, MODEL_SLOTS, first), 0);

	for (step = 0; m.next < MODEL_PROBES || npend > 0; step++) {
		/*
		 * Mostly a calm rate, where replies past the timeout still
		 * find their slot (late); now and then a burst of one probe
		 * a tick that fills the ring behind a lost probe (stall).
		 */
		burst = step % 1000 < 300;
		now += burst ? 1 : 1 + rng() % 3;

		/* Send, unless the model says the ring is full. */
		if (m.next < MODEL_PROBES && (burst || rng() % 10 < 4)) {
			r = pm_track_send(&t, now);
			if (m.next >= MODEL_SLOTS &&
			    m.st[m.next - MODEL_SLOTS] == M_OUT) {
				assert_int_equal(r, -EBUSY);
				m.cnt.stalled++;
			} else {
				assert_int_equal(r, (int64_t)(first + m.next));
				m.st[m.next] = M_OUT;
				m.t1[m.next] = now;
				m.cnt.sent++;
				seq = (uint32_t)r;
				/* 5% dropped, 3% duplicated; delays
				 * mostly short, 5% past the timeout. */
				ndup = rng() % 100 < 5 ? 0 :
				       rng() % 100 < 3 ? 2 : 1;
				for (j = 0; j < ndup; j++) {
					delay = rng() % 100 < 5 ?
						150 + rng() % 300 :
						5 + rng() % 60;
					schedule(seq, now + delay);
				}
				m.next++;
			}
		}

		/* Deliver what is due, in random order. */
		while (npend > 0) {
			for (i = 0; i < npend; i++)
				if (pend[i].at <= now)
					break;
			if (i == npend)
				break;
			j = i + (uint32_t)(rng() % (npend - i));
			if (pend[j].at > now)
				j = i;
			seq = pend[j].seq;
			pend[j] = pend[--npend];

			t1 = UINT64_MAX;
			want = model_reply(seq - first);
			got = pm_track_reply(&t, seq, &t1);
			assert_int_equal(got, want);
			if (got == PM_TRK_RECEIVED || got == PM_TRK_REORDERED)
				assert_int_equal(t1, m.t1[seq - first]);
		}

		/* Now and then a stray reply from the future. */
		if (rng() % 100 == 0) {
			seq = first + m.next + (uint32_t)(rng() % 1000);
			assert_int_equal(pm_track_reply(&t, seq, NULL),
					 model_reply(seq - first));
		}

		model_sweep(now);
		pm_track_sweep(&t, now, MODEL_TIMEOUT);
		check_counts(&t);
	}

	/* Shutdown: whatever is still out is lost. */
	assert_int_equal(pm_track_expire_all(&t), model_inflight());
	model_sweep(UINT64_MAX);
	check_counts(&t);
	assert_int_equal(pm_track_inflight(&t), 0);
	assert_int_equal(t.cnt.sent, MODEL_PROBES);
	assert_int_equal(t.cnt.sent, t.cnt.received + t.cnt.lost);
	print_message("model: sent %llu received %llu (reordered %llu) lost %llu "
		      "late %llu dup %llu unmatched %llu stalled %llu\n",
		      (unsigned long long)t.cnt.sent,
		      (unsigned long long)t.cnt.received,
		      (unsigned long long)t.cnt.reordered,
		      (unsigned long long)t.cnt.lost,
		      (unsigned long long)t.cnt.late,
		      (unsigned long long)t.cnt.dup,
		      (unsigned long long)t.cnt.unmatched,
		      (unsigned long long)t.cnt.stalled);
	/* The mix exercised every path. */
	assert_true(t.cnt.lost > 0);
	assert_true(t.cnt.late > 0);
	assert_true(t.cnt.dup > 0);
	assert_true(t.cnt.reordered > 0);
	assert_true(t.cnt.unmatched > 0);
	assert_true(t.cnt.stalled > 0);
	/* Exactly once: each probe ended received or lost (maybe late). */
	for (i = 0; i < MODEL_PROBES; i++)
		assert_true(m.st[i] == M_RECV || m.st[i] == M_LOST ||
			    m.st[i] == M_LATE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slots_for),
		cmocka_unit_test(test_init_errors),
		cmocka_unit_test(test_in_order),
		cmocka_unit_test(test_loss_and_late),
		cmocka_unit_test(test_dup_and_reorder),
		cmocka_unit_test(test_unmatched),
		cmocka_unit_test(test_ring_full),
		cmocka_unit_test(test_seq_wrap),
		cmocka_unit_test(test_random_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
