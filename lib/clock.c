/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Counter clocks: rate, width, anchor and fixed-point conversion to ns.
 *
 * Every timestamp pmesh reports starts as ticks of some counter (TSC, NIC
 * clock, HCA clock).  This file turns a rate into the mult/shift pair the
 * data path uses (one 64x64->128 multiply and a shift per stamp), measures
 * the TSC rate against CLOCK_MONOTONIC_RAW instead of trusting the rounded
 * figure EAL reports, and ties a counter to CLOCK_REALTIME so stamps become
 * Unix-epoch ns.  Nothing here runs per packet except the inlines in
 * pm_clock.h.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "pm_clock.h"

#define NS_PER_S	1000000000ULL
/* Pairs tried per sample; the tightest bracket wins. */
#define CAL_TRIES	16
/*
 * mult is kept in [2^62, 2^63): the rounding error of mult is then below
 * 2^-62 relative, far under 1 ppb at any rate, and a full 64-bit tick delta
 * times mult still fits the 128-bit product.
 */
#define MULT_BITS	63

static const char *const ts_src_names[PM_TS_SRC_MAX] = {
	[PM_TS_NONE] = "none",
	[PM_TS_TSC] = "tsc",
	[PM_TS_NIC] = "nic",
	[PM_TS_NIC_SCHED] = "nic_sched",
	[PM_TS_KERNEL_SW] = "kernel_sw",
	[PM_TS_KERNEL_HW] = "kernel_hw",
	[PM_TS_HCA] = "hca",
	[PM_TS_REALTIME] = "realtime",
	[PM_TS_REMOTE] = "remote",
};

const char *
pm_ts_src_str(int src)
{
	if (src < 0 || src >= PM_TS_SRC_MAX)
		return "unknown";
	return ts_src_names[src];
}

int
pm_ts_src_parse(const char *s)
{
	int i;

	if (s == NULL)
		return -1;
	for (i = 0; i < PM_TS_SRC_MAX; i++)
		if (strcmp(s, ts_src_names[i]) == 0)
			return i;
	return -1;
}

/* Accepts 2^n - 1 for n in 1..64 (~0 included: ~0 + 1 wraps to 0). */
static int
mask_valid(uint64_t mask)
{
	return mask != 0 && (mask & (mask + 1)) == 0;
}

int
pm_tclock_init(struct pm_tclock *c, uint64_t hz, uint64_t mask)
{
	unsigned __int128 num;
	uint32_t shift = 0;

	if (c == NULL || hz == 0 || !mask_valid(mask))
		return -EINVAL;

	/*
	 * Largest shift keeping mult = ceil(1e9 * 2^shift / hz) below
	 * 2^MULT_BITS: 33 at 1 Hz, 62 at 1 GHz, 97 at most (hz near 2^64),
	 * so 1e9 << (shift + 1) < 2^128 always holds.
	 */
	for (;;) {
		num = (unsigned __int128)NS_PER_S << (shift + 1);
		if ((num + hz - 1) / hz >= ((unsigned __int128)1 << MULT_BITS))
			break;
		shift++;
	}
	num = (unsigned __int128)NS_PER_S << shift;

	memset(c, 0, sizeof(*c));
	c->hz = hz;
	c->mask = mask;
	c->shift = shift;
	/*
	 * Rounded up, not to nearest: conversions truncate, so a mult a hair
	 * high makes deltas worth a whole number of ns (10 s of a 156.25 MHz
	 * clock) come out exact instead of 1 ns short.
	 */
	c->mult = (uint64_t)((num + hz - 1) / hz);
	return 0;
}

int
pm_tclock_init_khz(struct pm_tclock *c, uint64_t khz, uint64_t mask)
{
	if (khz == 0 || khz > UINT64_MAX / 1000)
		return -EINVAL;
	return pm_tclock_init(c, khz * 1000, mask);
}

void
pm_tclock_anchor(struct pm_tclock *c, uint64_t ticks, uint64_t ns)
{
	c->base_ticks = ticks & c->mask;
	c->base_ns = ns;
}

uint64_t
pm_tclock_ticks(const struct pm_tclock *c, uint64_t ns)
{
	unsigned __int128 t;

	/* Exact from hz, no inverse of mult: this is off the data path. */
	t = ((unsigned __int128)ns * c->hz + NS_PER_S / 2) / NS_PER_S;
	if (t > UINT64_MAX)
		return UINT64_MAX;
	return (uint64_t)t;
}

static uint64_t
ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * NS_PER_S + (uint64_t)ts->tv_nsec;
}

static int
clock_ns(clockid_t id, uint64_t *ns)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) != 0) {
		*ns = 0;
		return -errno;
	}
	*ns = ts_ns(&ts);
	return 0;
}

uint64_t
pm_clock_realtime_ns(void)
{
	uint64_t ns = 0;

	clock_ns(CLOCK_REALTIME, &ns);
	return ns;
}

uint64_t
pm_clock_monoraw_ns(void)
{
	uint64_t ns = 0;

	clock_ns(CLOCK_MONOTONIC_RAW, &ns);
	return ns;
}

/*
 * One (ticks, ns) pair on clock @id: read the clock, the counter, the clock
 * again, and pair the counter with the midpoint.  An interrupt or a
 * preemption between the reads widens the bracket, so keep the tightest of
 * CAL_TRIES.  *@width is that bracket in ns.
 */
static int
sample_pair(clockid_t id, uint64_t (*read_ticks)(void), uint64_t *ticks,
	    uint64_t *ns, uint64_t *width)
{
	uint64_t a, b, t, best = UINT64_MAX;
	int i, ret;

	for (i = 0; i < CAL_TRIES; i++) {
		ret = clock_ns(id, &a);
		if (ret != 0)
			return ret;
		t = read_ticks();
		ret = clock_ns(id, &b);
		if (ret != 0)
			return ret;
		if (b < a)	/* REALTIME stepped back mid-sample */
			continue;
		if (b - a < best) {
			best = b - a;
			*ticks = t;
			*ns = a + (b - a) / 2;
		}
	}
	if (best == UINT64_MAX)
		return -EINVAL;
	*width = best;
	return 0;
}

static int
sleep_ms(unsigned int ms)
{
	struct timespec req = {
		.tv_sec = ms / 1000,
		.tv_nsec = (long)(ms % 1000) * 1000000L,
	};

	/* MONOTONIC_RAW cannot be slept on; the length need not be exact. */
	while (nanosleep(&req, &req) != 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

int
pm_tclock_calibrate(struct pm_tclock *c, uint64_t (*read_ticks)(void),
		    unsigned int ms)
{
	uint64_t t0, n0, w0, t1, n1, w1, ta, na, wa, dticks, dns, hz, w;
	unsigned __int128 q;
	int ret;

	if (c == NULL || read_ticks == NULL || ms == 0)
		return -EINVAL;

	ret = sample_pair(CLOCK_MONOTONIC_RAW, read_ticks, &t0, &n0, &w0);
	if (ret != 0)
		return ret;
	ret = sleep_ms(ms);
	if (ret != 0)
		return ret;
	ret = sample_pair(CLOCK_MONOTONIC_RAW, read_ticks, &t1, &n1, &w1);
	if (ret != 0)
		return ret;

	dticks = t1 - t0;
	dns = n1 - n0;
	/* A counter that stood still or ran backwards is no clock. */
	if (t1 <= t0 || n1 <= n0)
		return -EINVAL;
	q = ((unsigned __int128)dticks * NS_PER_S + dns / 2) / dns;
	if (q == 0 || q > UINT64_MAX)
		return -EINVAL;
	hz = (uint64_t)q;

	ret = sample_pair(CLOCK_REALTIME, read_ticks, &ta, &na, &wa);
	if (ret != 0)
		return ret;

	ret = pm_tclock_init(c, hz, UINT64_MAX);
	if (ret != 0)
		return ret;
	pm_tclock_anchor(c, ta, na);

	/*
	 * A stamp's error is the anchor's half bracket; the rate's own
	 * brackets bound how well later stamps track, so take the worst.
	 */
	w = wa;
	if (w0 > w)
		w = w0;
	if (w1 > w)
		w = w1;
	c->err_ns = (w + 1) / 2;
	if (c->err_ns == 0)
		c->err_ns = 1;
	return 0;
}

uint64_t
pm_tclock_rate_from_pairs(uint64_t t0, uint64_t ns0, uint64_t t1, uint64_t ns1,
			  uint64_t mask)
{
	unsigned __int128 q;
	uint64_t dt, dns;

	if (!mask_valid(mask) || ns1 <= ns0)
		return 0;
	dt = (t1 - t0) & mask;
	dns = ns1 - ns0;
	/*
	 * More than half the counter's range reads as "went backwards": a
	 * forward delta that large cannot be told from one.
	 */
	if (dt == 0 || dt > (mask >> 1))
		return 0;
	q = ((unsigned __int128)dt * NS_PER_S + dns / 2) / dns;
	if (q > UINT64_MAX)
		return 0;
	return (uint64_t)q;
}
