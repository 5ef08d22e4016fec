/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/clock.c: fixed-point conversion against a long double
 * reference over the rates pmesh meets (TSC, NIC, HCA), narrow counters
 * that wrapped, rate estimation across a wrap, calibration against a fake
 * counter of known rate, and argument checks.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "pm_clock.h"

#define NS_PER_S	1000000000ULL

/* Deterministic xorshift64*, so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/*
 * |pm_tclock_delta_ns(d) - d * 1e9 / hz| must stay within 1 ns (the
 * truncation) plus 1 ppb of the value.
 */
static void
check_delta(const struct pm_tclock *c, uint64_t hz, uint64_t d)
{
	long double ref = (long double)d * 1e9L / (long double)hz;
	long double got = (long double)pm_tclock_delta_ns(c, d);
	long double err = got - ref;

	if (err < 0)
		err = -err;
	if (err > 1.0L + ref * 1e-9L)
		fail_msg("hz %llu d %llu: got %.1Lf want %.3Lf",
			 (unsigned long long)hz, (unsigned long long)d, got, ref);
}

static void
test_conversion_exact(void **state)
{
	static const uint64_t rates[] = {
		1000ULL,		/* 1 kHz: the slowest we promise */
		156250000ULL,		/* 156.25 MHz NIC clock */
		1000000000ULL,		/* 1 GHz */
		2596000000ULL,		/* 2.596 GHz TSC */
		2596123457ULL,		/* calibrated, not round */
		3000000001ULL,
		10000000000ULL,		/* 10 GHz */
		12345ULL,
		999999937ULL,
	};
	struct pm_tclock c;
	long double lim;
	uint64_t d;
	unsigned int i, j, k;

	(void)state;
	for (i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		assert_int_equal(pm_tclock_init(&c, rates[i], UINT64_MAX), 0);
		assert_int_equal(c.hz, rates[i]);
		for (k = 0; k <= 40; k++) {
			d = 1ULL << k;
			check_delta(&c, rates[i], d);
			check_delta(&c, rates[i], d - 1);
			check_delta(&c, rates[i], d + 1);
		}
		for (j = 0; j < 20000; j++) {
			d = rng() >> (24 + rng() % 40);	/* up to 2^40 */
			check_delta(&c, rates[i], d);
		}
		/*
		 * Deltas far past 2^40 (up to 2^63 ticks, or 2^62 ns) must
		 * not overflow the product either.
		 */
		lim = (long double)(1ULL << 62) * rates[i] / 1e9L;
		check_delta(&c, rates[i], lim >= 0x1p63L ? 1ULL << 63 :
			    (uint64_t)lim);
	}
}

static void
test_conversion_khz(void **state)
{
	struct pm_tclock a, b;
	uint64_t d;
	unsigned int j;

	(void)state;
	/* mlx5 reports hca_core_clock = 1000000 kHz (1 GHz). */
	assert_int_equal(pm_tclock_init_khz(&a, 1000000, (1ULL << 63) - 1), 0);
	assert_int_equal(pm_tclock_init(&b, 1000000000ULL, (1ULL << 63) - 1), 0);
	assert_int_equal(a.hz, 1000000000ULL);
	assert_int_equal(a.mult, b.mult);
	assert_int_equal(a.shift, b.shift);
	for (j = 0; j < 10000; j++) {
		d = rng() >> 24;
		assert_int_equal(pm_tclock_delta_ns(&a, d), d);
	}
	assert_int_equal(pm_tclock_init_khz(&a, 156250, UINT64_MAX), 0);
	for (j = 0; j < 10000; j++)
		check_delta(&a, 156250000ULL, rng() >> 24);
}

static void
test_anchor_and_ticks(void **state)
{
	struct pm_tclock c;
	uint64_t base = 1700000000ULL * NS_PER_S;

	(void)state;
	assert_int_equal(pm_tclock_init(&c, 2596000000ULL, UINT64_MAX), 0);
	pm_tclock_anchor(&c, 123456789ULL, base);
	assert_int_equal(pm_tclock_ns(&c, 123456789ULL), base);
	/* 2596 ticks = 1000 ns exactly. */
	assert_int_equal(pm_tclock_ns(&c, 123456789ULL + 2596ULL * 1000000),
			 base + 1000000000ULL);
	assert_int_equal(pm_tclock_ticks(&c, 1000), 2596);
	assert_int_equal(pm_tclock_ticks(&c, NS_PER_S), 2596000000ULL);
	assert_int_equal(pm_tclock_ticks(&c, 0), 0);

	assert_int_equal(pm_tclock_init(&c, 156250000ULL, UINT64_MAX), 0);
	assert_int_equal(pm_tclock_ticks(&c, 64), 10);	/* 6.4 ns a tick */
	assert_int_equal(pm_tclock_delta_ns(&c, 10), 64);
	/* Saturates instead of wrapping. */
	assert_int_equal(pm_tclock_init(&c, 10000000000ULL, UINT64_MAX), 0);
	assert_int_equal(pm_tclock_ticks(&c, UINT64_MAX), UINT64_MAX);
}

static void
test_wrap_32(void **state)
{
	struct pm_tclock c;
	uint64_t base = 1700000000ULL * NS_PER_S, m = 0xffffffffULL;

	(void)state;
	assert_int_equal(pm_tclock_init(&c, 1000000000ULL, m), 0);
	pm_tclock_anchor(&c, 0xffff0000ULL, base);
	/* Wrapped once: 0x10000 left before the wrap, then 0x10000 after. */
	assert_int_equal(pm_tclock_ns(&c, 0x00010000ULL), base + 0x20000);
	assert_int_equal(pm_tclock_ns(&c, 0xffffffffULL), base + 0xffff);
	assert_int_equal(pm_tclock_ns(&c, 0), base + 0x10000);
	/* Bits above the width are ignored. */
	assert_int_equal(pm_tclock_ns(&c, 0x500010000ULL), base + 0x20000);
}

static void
test_wrap_48(void **state)
{
	struct pm_tclock c;
	uint64_t base = 1700000000ULL * NS_PER_S, m = (1ULL << 48) - 1;
	uint64_t a = m - 1000;

	(void)state;
	/* 156.25 MHz: 6.4 ns a tick. */
	assert_int_equal(pm_tclock_init(&c, 156250000ULL, m), 0);
	pm_tclock_anchor(&c, a, base);
	/* 1001 ticks to the wrap + 4000 after = 5001 ticks = 32006.4 ns. */
	assert_int_equal(pm_tclock_ns(&c, 4000), base + 32006);
	/* Ten seconds' worth, across the wrap. */
	assert_int_equal(pm_tclock_ns(&c, (a + 1562500000ULL) & m),
			 base + 10 * NS_PER_S);
}

static void
test_rate_from_pairs(void **state)
{
	uint64_t m32 = 0xffffffffULL;

	(void)state;
	/* 1 GHz over one second, no wrap. */
	assert_int_equal(pm_tclock_rate_from_pairs(1000, 5 * NS_PER_S,
						   1000 + NS_PER_S, 6 * NS_PER_S,
						   UINT64_MAX), NS_PER_S);
	/* 32-bit NIC clock at 156.25 MHz, wrapped between the pairs. */
	assert_int_equal(pm_tclock_rate_from_pairs(0xf0000000ULL, NS_PER_S,
						   (0xf0000000ULL + 156250000ULL) & m32,
						   2 * NS_PER_S, m32),
			 156250000ULL);
	/* Unusable: no time elapsed, time backwards, counter still. */
	assert_int_equal(pm_tclock_rate_from_pairs(0, 10, 100, 10, m32), 0);
	assert_int_equal(pm_tclock_rate_from_pairs(0, 10, 100, 5, m32), 0);
	assert_int_equal(pm_tclock_rate_from_pairs(7, 10, 7, 20, m32), 0);
	/* Counter went backwards (full width). */
	assert_int_equal(pm_tclock_rate_from_pairs(1000, 0, 999, NS_PER_S,
						   UINT64_MAX), 0);
	/* Bad mask. */
	assert_int_equal(pm_tclock_rate_from_pairs(0, 0, 10, 10, 0x1234), 0);
}

/* A counter at exactly FAKE_HZ, derived from CLOCK_MONOTONIC_RAW. */
#define FAKE_HZ		2596000000ULL

static uint64_t
fake_ticks(void)
{
	return (uint64_t)((unsigned __int128)pm_clock_monoraw_ns() * FAKE_HZ /
			  NS_PER_S);
}

static uint64_t
stuck_ticks(void)
{
	return 42;
}

static void
test_calibrate(void **state)
{
	struct pm_tclock c;
	uint64_t rt0, rt1, ns;
	double rel;

	(void)state;
	assert_int_equal(pm_tclock_calibrate(&c, fake_ticks, 50), 0);
	rel = ((double)c.hz - (double)FAKE_HZ) / (double)FAKE_HZ;
	if (rel < 0)
		rel = -rel;
	if (rel > 1e-4)
		fail_msg("calibrated %llu Hz, want %llu (%.6f%%)",
			 (unsigned long long)c.hz, (unsigned long long)FAKE_HZ,
			 rel * 100);
	assert_int_equal(c.mask, UINT64_MAX);
	assert_true(c.err_ns >= 1);

	/*
	 * The anchor maps ticks to wall-clock time: a stamp taken between
	 * two CLOCK_REALTIME reads converts to about that time.  The slack
	 * (1 s) only catches a wrong epoch or scale, not timing.
	 */
	rt0 = pm_clock_realtime_ns();
	ns = pm_tclock_ns(&c, fake_ticks());
	rt1 = pm_clock_realtime_ns();
	assert_true(ns + NS_PER_S > rt0);
	assert_true(ns < rt1 + NS_PER_S);
}

static void
test_calibrate_errors(void **state)
{
	struct pm_tclock c;

	(void)state;
	assert_int_equal(pm_tclock_calibrate(&c, fake_ticks, 0), -EINVAL);
	assert_int_equal(pm_tclock_calibrate(&c, NULL, 10), -EINVAL);
	assert_int_equal(pm_tclock_calibrate(NULL, fake_ticks, 10), -EINVAL);
	/* A counter that never moves is rejected. */
	assert_int_equal(pm_tclock_calibrate(&c, stuck_ticks, 1), -EINVAL);
}

static void
test_init_errors(void **state)
{
	struct pm_tclock c;
	unsigned int n;

	(void)state;
	assert_int_equal(pm_tclock_init(&c, 0, UINT64_MAX), -EINVAL);
	assert_int_equal(pm_tclock_init(&c, 1000, 0), -EINVAL);
	assert_int_equal(pm_tclock_init(&c, 1000, 0x1234), -EINVAL);
	assert_int_equal(pm_tclock_init(&c, 1000, 0xfffffffeULL), -EINVAL);
	assert_int_equal(pm_tclock_init(&c, 1000, 1ULL << 32), -EINVAL);
	assert_int_equal(pm_tclock_init(NULL, 1000, UINT64_MAX), -EINVAL);
	assert_int_equal(pm_tclock_init_khz(&c, 0, UINT64_MAX), -EINVAL);
	assert_int_equal(pm_tclock_init_khz(&c, UINT64_MAX / 100, UINT64_MAX),
			 -EINVAL);
	for (n = 1; n <= 64; n++)
		assert_int_equal(pm_tclock_init(&c, 1000,
						n == 64 ? UINT64_MAX :
						(1ULL << n) - 1), 0);
	/* Extremes of rate still give a usable mult. */
	assert_int_equal(pm_tclock_init(&c, 1, UINT64_MAX), 0);
	assert_int_equal(pm_tclock_delta_ns(&c, 3), 3 * NS_PER_S);
	assert_int_equal(pm_tclock_init(&c, UINT64_MAX, UINT64_MAX), 0);
	assert_true(c.mult > 0);
}

static void
test_src_names(void **state)
{
	static const char *const names[] = {
		"none", "tsc", "nic", "nic_sched", "kernel_sw", "kernel_hw",
		"hca", "realtime", "remote",
	};
	int i;

	(void)state;
	assert_int_equal(sizeof(names) / sizeof(names[0]), PM_TS_SRC_MAX);
	for (i = 0; i < PM_TS_SRC_MAX; i++) {
		assert_string_equal(pm_ts_src_str(i), names[i]);
		assert_int_equal(pm_ts_src_parse(names[i]), i);
	}
	assert_int_equal(pm_ts_src_parse("TSC"), -1);
	assert_int_equal(pm_ts_src_parse(""), -1);
	assert_int_equal(pm_ts_src_parse("unknown"), -1);
	assert_int_equal(pm_ts_src_parse(NULL), -1);
	assert_non_null(pm_ts_src_str(-1));
	assert_non_null(pm_ts_src_str(PM_TS_SRC_MAX));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conversion_exact),
		cmocka_unit_test(test_conversion_khz),
		cmocka_unit_test(test_anchor_and_ticks),
		cmocka_unit_test(test_wrap_32),
		cmocka_unit_test(test_wrap_48),
		cmocka_unit_test(test_rate_from_pairs),
		cmocka_unit_test(test_calibrate),
		cmocka_unit_test(test_calibrate_errors),
		cmocka_unit_test(test_init_errors),
		cmocka_unit_test(test_src_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
