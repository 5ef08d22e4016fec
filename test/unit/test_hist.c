/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/hist.c: the bucket scheme (monotonic, contiguous, in
 * range, within 1/128), quantiles against exact ones of sorted data, both
 * storage shapes, merging across shapes, sparse overflow and export.
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "pm_hist.h"

#define NSAMPLES	100000

/* Deterministic xorshift64*, so failures reproduce. */
static uint64_t rng_state = 0x243f6a8885a308d3ULL;

static uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* Uniform in (0, 1). */
static double
rng_unit(void)
{
	return ((double)(rng() >> 11) + 0.5) / 9007199254740992.0;
}

/* Standard normal (Box-Muller). */
static double
rng_normal(void)
{
	return sqrt(-2.0 * log(rng_unit())) * cos(2.0 * M_PI * rng_unit());
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint32_t dense_a[PM_HIST_NBUCKETS];
static uint32_t dense_b[PM_HIST_NBUCKETS];
static struct pm_hist_ent sparse_a[PM_HIST_NBUCKETS];
static struct pm_hist_ent sparse_b[PM_HIST_NBUCKETS];
static uint64_t samples[NSAMPLES];

static void
test_bucket_edges(void **state)
{
	uint32_t b;
	uint64_t lo, next;

	(void)state;
	assert_int_equal(PM_HIST_NBUCKETS, 2240);
	assert_int_equal(pm_hist_bucket(0), 0);
	assert_int_equal(pm_hist_bucket(127), 127);
	assert_int_equal(pm_hist_bucket(128), 128);
	for (b = 0; b < PM_HIST_NBUCKETS; b++) {
		lo = pm_hist_bucket_lo(b);
		next = b + 1 < PM_HIST_NBUCKETS ? pm_hist_bucket_lo(b + 1) :
			1ULL << PM_HIST_MAX_BITS;
		/* Buckets tile [0, 2^40) with no gap and no overlap. */
		assert_true(next > lo);
		assert_int_equal(pm_hist_bucket(lo), b);
		assert_int_equal(pm_hist_bucket(next - 1), b);
		if (b > 0)
			assert_int_equal(pm_hist_bucket(lo - 1), b - 1);
		assert_true(pm_hist_bucket_mid(b) >= lo);
		assert_true(pm_hist_bucket_mid(b) < next);
	}
	assert_int_equal(pm_hist_bucket_lo(PM_HIST_NBUCKETS - 1) +
			 (1ULL << (PM_HIST_MAX_BITS - PM_HIST_SUB_BITS - 1)),
			 1ULL << PM_HIST_MAX_BITS);
	/* Beyond 2^40: clamp to the last bucket. */
	assert_int_equal(pm_hist_bucket(1ULL << PM_HIST_MAX_BITS),
			 PM_HIST_NBUCKETS - 1);
	assert_int_equal(pm_hist_bucket(1ULL << 50), PM_HIST_NBUCKETS - 1);
	assert_int_equal(pm_hist_bucket(UINT64_MAX), PM_HIST_NBUCKETS - 1);
}

static void
test_bucket_monotonic(void **state)
{
	uint64_t v, prev_v, w;
	uint32_t b, prev;
	unsigned int i;

	(void)state;
	/* Exhaustive over the first 2^20 values: steps of 0 or 1. */
	prev = pm_hist_bucket(0);
	for (v = 1; v < (1ULL << 20); v++) {
		b = pm_hist_bucket(v);
		assert_true(b == prev || b == prev + 1);
		prev = b;
	}
	/* Random increasing walk up to 2^50. */
	prev_v = 0;
	prev = 0;
	for (i = 0; i < 200000; i++) {
		w = rng() >> (14 + rng() % 50);
		v = prev_v + w;
		if (v >= (1ULL << 50))
			break;
		b = pm_hist_bucket(v);
		assert_true(b >= prev);
		assert_true(b < PM_HIST_NBUCKETS);
		prev = b;
		prev_v = v;
	}
	/* Random values anywhere in 0..2^50. */
	for (i = 0; i < 200000; i++) {
		v = rng() >> (14 + rng() % 50);
		b = pm_hist_bucket(v);
		assert_true(b < PM_HIST_NBUCKETS);
		if (v < (1ULL << PM_HIST_MAX_BITS)) {
			assert_true(pm_hist_bucket_lo(b) <= v);
			if (b + 1 < PM_HIST_NBUCKETS)
				assert_true(v < pm_hist_bucket_lo(b + 1));
		}
	}
}

static void
check_rel(uint64_t v)
{
	uint64_t mid = pm_hist_bucket_mid(pm_hist_bucket(v));
	double err = fabs((double)mid - (double)v) / (double)v;

	if (v < PM_HIST_LINEAR) {
		assert_int_equal(mid, v);
		return;
	}
	if (err > 1.0 / 128)
		fail_msg("v %llu mid %llu rel err %g",
			 (unsigned long long)v, (unsigned long long)mid, err);
}

static void
test_bucket_error(void **state)
{
	uint64_t v;
	uint32_t b;
	unsigned int i, k;

	(void)state;
	for (v = 0; v < 4096; v++)
		check_rel(v);
	for (k = 7; k < PM_HIST_MAX_BITS; k++) {
		v = 1ULL << k;
		check_rel(v);
		check_rel(v - 1);
		check_rel(v + 1);
		check_rel(v + (v >> 1));
	}
	for (b = PM_HIST_LINEAR; b < PM_HIST_NBUCKETS; b++) {
		v = pm_hist_bucket_lo(b);
		check_rel(v);
		check_rel(v - 1);
	}
	check_rel((1ULL << PM_HIST_MAX_BITS) - 1);
	for (i = 0; i < 500000; i++) {
		v = rng() >> (24 + rng() % 40);	/* below 2^40 */
		check_rel(v);
	}
}

/*
 * Exact nearest-rank quantile of sorted @s[n], the definition
 * pm_hist_quantile() follows: rank ceil(q * n), at least 1.
 */
static uint64_t
exact_quantile(const uint64_t *s, size_t n, double q)
{
	double r = q * (double)n;
	uint64_t rank = (uint64_t)r;

	if ((double)rank < r)
		rank++;
	if (rank == 0)
		rank = 1;
	if (rank > n)
		rank = n;
	return s[rank - 1];
}

static void
check_quantiles(const char *name)
{
	static const double qs[] = {
		0.0, 0.0001, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99,
		0.999, 0.9999, 1.0,
	};
	struct pm_hist d, s;
	uint64_t want, got_d, got_s;
	double err;
	size_t i;

	pm_hist_init_dense(&d, dense_a);
	pm_hist_init_sparse(&s, sparse_a, PM_HIST_NBUCKETS);
	for (i = 0; i < NSAMPLES; i++) {
		pm_hist_add(&d, samples[i]);
		pm_hist_add(&s, samples[i]);
	}
	assert_int_equal(s.overflow, 0);
	assert_int_equal(pm_hist_count(&d), NSAMPLES);
	assert_int_equal(pm_hist_nonempty(&d), pm_hist_nonempty(&s));

	qsort(samples, NSAMPLES, sizeof(samples[0]), cmp_u64);
	assert_int_equal(d.min, samples[0]);
	assert_int_equal(d.max, samples[NSAMPLES - 1]);
	for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		want = exact_quantile(samples, NSAMPLES, qs[i]);
		got_d = pm_hist_quantile(&d, qs[i]);
		got_s = pm_hist_quantile(&s, qs[i]);
		assert_int_equal(got_d, got_s);
		err = fabs((double)got_d - (double)want) / (double)want;
		if (err > 0.01)
			fail_msg("%s q=%g: hist %llu exact %llu (%.3f%%)", name,
				 qs[i], (unsigned long long)got_d,
				 (unsigned long long)want, err * 100);
	}
	assert_int_equal(pm_hist_quantile(&d, 0.0), samples[0]);
	assert_int_equal(pm_hist_quantile(&d, 1.0), samples[NSAMPLES - 1]);
}

static void
test_quantile_uniform(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NSAMPLES; i++)
		samples[i] = 1000 + rng() % 999000;
	check_quantiles("uniform");
}

static void
test_quantile_lognormal(void **state)
{
	size_t i;

	(void)state;
	/* Median 50 us, a long right tail like a loaded fabric. */
	for (i = 0; i < NSAMPLES; i++)
		samples[i] = (uint64_t)exp(log(50000.0) + 0.8 * rng_normal());
	check_quantiles("lognormal");
}

static void
test_quantile_bimodal(void **state)
{
	double x;
	size_t i;

	(void)state;
	/* 70% near 12 us (same ToR), 30% near 400 us (queued path). */
	for (i = 0; i < NSAMPLES; i++) {
		if (rng() % 10 < 7)
			x = 12000.0 + 800.0 * rng_normal();
		else
			x = 400000.0 + 60000.0 * rng_normal();
		samples[i] = x < 1.0 ? 1 : (uint64_t)x;
	}
	check_quantiles("bimodal");
}

static void
test_quantile_small(void **state)
{
	struct pm_hist h;
	static const uint64_t v[] = { 5, 1, 3, 2, 4 };
	unsigned int i;

	(void)state;
	pm_hist_init_sparse(&h, sparse_a, 8);
	assert_int_equal(pm_hist_quantile(&h, 0.5), 0);	/* empty */
	for (i = 0; i < 5; i++)
		pm_hist_add(&h, v[i]);
	/* Exact below 128; nearest rank. */
	assert_int_equal(pm_hist_quantile(&h, 0.0), 1);
	assert_int_equal(pm_hist_quantile(&h, 0.2), 1);
	assert_int_equal(pm_hist_quantile(&h, 0.21), 2);
	assert_int_equal(pm_hist_quantile(&h, 0.5), 3);
	assert_int_equal(pm_hist_quantile(&h, 0.99), 5);
	assert_int_equal(pm_hist_quantile(&h, 1.0), 5);
	assert_int_equal(h.sum, 15);

	/* One sample: every quantile is that sample, not a midpoint. */
	pm_hist_init_dense(&h, dense_a);
	pm_hist_add(&h, 1000001);
	assert_int_equal(pm_hist_quantile(&h, 0.5), 1000001);
	assert_int_equal(pm_hist_quantile(&h, 0.99), 1000001);
	pm_hist_reset(&h);
	assert_int_equal(h.n, 0);
	assert_int_equal(h.min, UINT64_MAX);
	assert_int_equal(pm_hist_nonempty(&h), 0);
	assert_int_equal(pm_hist_quantile(&h, 0.5), 0);
}

/* Two histograms hold the same buckets and stats. */
static void
assert_hist_equal(const struct pm_hist *a, const struct pm_hist *b)
{
	static struct pm_hist_ent ea[PM_HIST_NBUCKETS], eb[PM_HIST_NBUCKETS];
	uint32_t na, nb;

	assert_int_equal(a->n, b->n);
	assert_int_equal(a->sum, b->sum);
	assert_int_equal(a->min, b->min);
	assert_int_equal(a->max, b->max);
	assert_int_equal(a->overflow, b->overflow);
	na = pm_hist_export(a, 0, ea, PM_HIST_NBUCKETS);
	nb = pm_hist_export(b, 0, eb, PM_HIST_NBUCKETS);
	assert_int_equal(na, nb);
	assert_int_equal(na, pm_hist_nonempty(a));
	assert_memory_equal(ea, eb, sizeof(ea[0]) * na);
}

static void
test_merge(void **state)
{
	static uint32_t dense_all[PM_HIST_NBUCKETS], dense_m[PM_HIST_NBUCKETS];
	static struct pm_hist_ent sparse_m[PM_HIST_NBUCKETS];
	struct pm_hist d, s, all, m, sm;
	uint64_t v;
	unsigned int i;

	(void)state;
	pm_hist_init_dense(&d, dense_a);
	pm_hist_init_sparse(&s, sparse_a, PM_HIST_NBUCKETS);
	pm_hist_init_dense(&all, dense_all);
	for (i = 0; i < 50000; i++) {
		v = rng() >> (20 + rng() % 40);
		pm_hist_add(i % 3 ? &d : &s, v);
		pm_hist_add(&all, v);
	}

	/* dense <- sparse */
	pm_hist_init_dense(&m, dense_m);
	pm_hist_merge(&m, &d);
	pm_hist_merge(&m, &s);
	assert_hist_equal(&m, &all);

	/* sparse <- dense, sparse <- sparse, in the other order */
	pm_hist_init_sparse(&sm, sparse_m, PM_HIST_NBUCKETS);
	pm_hist_merge(&sm, &s);
	pm_hist_merge(&sm, &d);
	assert_hist_equal(&sm, &all);
	assert_int_equal(pm_hist_quantile(&sm, 0.99),
			 pm_hist_quantile(&all, 0.99));

	/* Merging an empty one changes nothing; min stays right. */
	pm_hist_init_sparse(&s, sparse_b, 4);
	pm_hist_merge(&m, &s);
	assert_hist_equal(&m, &all);
	pm_hist_merge(&s, &m);
	assert_int_equal(s.min, all.min);
	assert_int_equal(s.n, all.n);
	/* The 4-entry sparse could not take them all: counted, not lost. */
	assert_true(s.overflow > 0);
	assert_int_equal(pm_hist_count(&s) + s.overflow, s.n);
	assert_int_equal(s.nent, 4);
}

static void
test_sparse_overflow(void **state)
{
	struct pm_hist h;
	unsigned int i;

	(void)state;
	pm_hist_init_sparse(&h, sparse_a, 4);
	/* Inserted out of order: entries must come out sorted. */
	pm_hist_add(&h, 100);
	pm_hist_add(&h, 10);
	pm_hist_add(&h, 50);
	pm_hist_add(&h, 10);
	pm_hist_add(&h, 1000);
	assert_int_equal(h.nent, 4);
	assert_int_equal(h.overflow, 0);
	for (i = 1; i < h.nent; i++)
		assert_true(h.ent[i - 1].bucket < h.ent[i].bucket);
	assert_int_equal(h.ent[0].bucket, 10);
	assert_int_equal(h.ent[0].count, 2);

	/* Full: new buckets overflow, existing ones still count. */
	pm_hist_add(&h, 5);
	pm_hist_add(&h, 1000000);
	pm_hist_add(&h, 1000000);
	pm_hist_add(&h, 100);
	assert_int_equal(h.nent, 4);
	assert_int_equal(h.overflow, 3);
	assert_int_equal(h.n, 9);
	assert_int_equal(pm_hist_count(&h), 6);
	assert_int_equal(h.min, 5);
	assert_int_equal(h.max, 1000000);
	assert_int_equal(h.sum, 100 + 10 + 50 + 10 + 1000 + 5 + 2000000 + 100);
	/* Quantiles are over the bucketed samples, clamped by min/max. */
	assert_int_equal(pm_hist_quantile(&h, 0.5), 50);
	assert_int_equal(pm_hist_quantile(&h, 1.0), 1000000);

	/* Capacity 0 is legal: everything overflows. */
	pm_hist_init_sparse(&h, NULL, 0);
	pm_hist_add(&h, 7);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.overflow, 1);
	assert_int_equal(pm_hist_nonempty(&h), 0);
	assert_int_equal(pm_hist_quantile(&h, 0.5), 0);
}

static void
test_add_bucket(void **state)
{
	struct pm_hist h;
	uint32_t b = pm_hist_bucket(100000);

	(void)state;
	pm_hist_init_sparse(&h, sparse_a, 2);
	pm_hist_add_bucket(&h, b, 10);
	pm_hist_add_bucket(&h, 3, 5);
	pm_hist_add_bucket(&h, 9, 0);	/* nothing */
	assert_int_equal(h.n, 15);
	assert_int_equal(h.nent, 2);
	assert_int_equal(h.min, 3);
	assert_int_equal(h.max, pm_hist_bucket_lo(b + 1) - 1);
	assert_int_equal(h.sum, 10 * pm_hist_bucket_mid(b) + 15);
	assert_int_equal(pm_hist_quantile(&h, 0.5), pm_hist_bucket_mid(b));
	pm_hist_add_bucket(&h, 200, 1);	/* no room */
	assert_int_equal(h.overflow, 1);

	/* A bucket count saturates into overflow instead of wrapping. */
	pm_hist_init_dense(&h, dense_a);
	pm_hist_add_bucket(&h, 7, UINT32_MAX);
	pm_hist_add_bucket(&h, 7, 3);
	assert_int_equal(h.counts[7], UINT32_MAX);
	assert_int_equal(h.overflow, 3);
	assert_int_equal(pm_hist_count(&h), UINT32_MAX);
}

static void
test_export_skip(void **state)
{
	struct pm_hist_ent chunk[7], chunk_s[7];
	struct pm_hist d, s, back;
	uint32_t skip, n, total;
	unsigned int i;
	uint64_t v;

	(void)state;
	pm_hist_init_dense(&d, dense_a);
	pm_hist_init_sparse(&s, sparse_a, PM_HIST_NBUCKETS);
	for (i = 0; i < 3000; i++) {
		v = rng() >> (30 + rng() % 30);
		pm_hist_add(&d, v);
		pm_hist_add(&s, v);
	}
	total = pm_hist_nonempty(&d);
	assert_int_equal(total, pm_hist_nonempty(&s));
	assert_true(total > 7 * 3);

	/* Read back in chunks of 7 and rebuild: same buckets. */
	pm_hist_init_dense(&back, dense_b);
	for (skip = 0;; skip += n) {
		n = pm_hist_export(&d, skip, chunk, 7);
		assert_int_equal(n, pm_hist_export(&s, skip, chunk_s, 7));
		if (n == 0)
			break;
		assert_memory_equal(chunk, chunk_s, sizeof(chunk[0]) * n);
		for (i = 0; i < n; i++) {
			assert_true(chunk[i].count > 0);
			pm_hist_add_bucket(&back, chunk[i].bucket,
					   chunk[i].count);
		}
	}
	assert_int_equal(skip, total);
	assert_int_equal(pm_hist_count(&back), 3000);
	assert_memory_equal(dense_a, dense_b, sizeof(dense_a));
	assert_int_equal(pm_hist_export(&d, total, chunk, 7), 0);
	assert_int_equal(pm_hist_export(&s, total + 5, chunk, 7), 0);
	assert_int_equal(pm_hist_export(&d, 0, chunk, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_edges),
		cmocka_unit_test(test_bucket_monotonic),
		cmocka_unit_test(test_bucket_error),
		cmocka_unit_test(test_quantile_uniform),
		cmocka_unit_test(test_quantile_lognormal),
		cmocka_unit_test(test_quantile_bimodal),
		cmocka_unit_test(test_quantile_small),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_sparse_overflow),
		cmocka_unit_test(test_add_bucket),
		cmocka_unit_test(test_export_skip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
