/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_hist: log-linear latency histograms, mergeable, fixed memory.
 *
 * A value v (ns) falls in bucket pm_hist_bucket(v): values below 128 get a
 * bucket each; above, every power of two is cut into 64 equal sub-buckets.
 * A bucket's representative value is its midpoint, so any quantile read back
 * is within 1/128 (0.78%) of a value that was recorded (<= 1% as promised
 * in docs/records.md).  Values up to 2^40 ns (~18 min) are kept; larger ones
 * clamp to the last bucket.  Bucket indices are stable across versions of
 * the record schema: two pmesh instances always merge histograms by adding
 * counts of equal indices.
 *
 * Two shapes share the bucket scheme:
 *  - dense (struct pm_hist with nent == PM_HIST_NBUCKETS): counts[idx];
 *    for busy flows, aggregator windows and merges.
 *  - sparse: sorted (bucket, count) pairs in caller-provided memory of fixed
 *    capacity, for the many flows that see a few samples a window.  Memory is
 *    sized once from the flow's rate; pm_hist_add never allocates.  When a
 *    sparse histogram is full and a sample needs a new bucket, the sample is
 *    counted in ->overflow (min/max/sum still see it), never lost silently.
 */
#ifndef PM_HIST_H
#define PM_HIST_H

#include <stddef.h>
#include <stdint.h>

#define PM_HIST_SUB_BITS	6	/* 64 sub-buckets per octave */
#define PM_HIST_LINEAR		128	/* values < 128 have their own bucket */
#define PM_HIST_MAX_BITS	40	/* values >= 2^40 clamp */
/** Number of buckets of a dense histogram. */
#define PM_HIST_NBUCKETS \
	(PM_HIST_LINEAR + (PM_HIST_MAX_BITS - PM_HIST_SUB_BITS - 1) * (1 << PM_HIST_SUB_BITS))

/** One non-empty bucket, as sparse histograms and records hold them. */
struct pm_hist_ent {
	uint16_t bucket;
	uint16_t rsvd;
	uint32_t count;
};

struct pm_hist {
	uint64_t n;		/**< samples added (including overflow) */
	uint64_t sum;		/**< ns */
	uint64_t min;		/**< UINT64_MAX when empty */
	uint64_t max;
	uint64_t overflow;	/**< sparse only: samples that found no room */
	uint32_t cap;		/**< sparse: entry capacity; dense: 0 */
	uint32_t nent;		/**< sparse: entries in use */
	union {
		struct pm_hist_ent *ent;	/**< sparse, sorted by bucket */
		uint32_t *counts;		/**< dense, PM_HIST_NBUCKETS */
	};
};

/** Bucket index of @v (ns). */
static inline uint32_t
pm_hist_bucket(uint64_t v)
{
	uint32_t e, shift;

	if (v < PM_HIST_LINEAR)
		return (uint32_t)v;
	if (v >= (1ULL << PM_HIST_MAX_BITS))
		v = (1ULL << PM_HIST_MAX_BITS) - 1;
	e = 63 - (uint32_t)__builtin_clzll(v);	/* >= 7 */
	shift = e - PM_HIST_SUB_BITS;		/* >= 1 */
	return PM_HIST_LINEAR + (shift - 1) * (1u << PM_HIST_SUB_BITS) +
	       (uint32_t)((v >> shift) - (1u << PM_HIST_SUB_BITS));
}

/** Lowest value of bucket @b. */
uint64_t pm_hist_bucket_lo(uint32_t b);
/** Midpoint of bucket @b (the value quantiles report). */
uint64_t pm_hist_bucket_mid(uint32_t b);

/** Empty dense histogram over @counts[PM_HIST_NBUCKETS]. */
void pm_hist_init_dense(struct pm_hist *h, uint32_t *counts);
/** Empty sparse histogram over @ent[cap]. */
void pm_hist_init_sparse(struct pm_hist *h, struct pm_hist_ent *ent,
			 uint32_t cap);
/** Forget all samples, keep the storage. */
void pm_hist_reset(struct pm_hist *h);
/** pm_hist_add() for the sparse shape and saturated buckets. */
void pm_hist_add_slow(struct pm_hist *h, uint64_t v);

/** Add one sample.  Never allocates; O(1) dense (inline), O(log cap)
 *  sparse. */
static inline void
pm_hist_add(struct pm_hist *h, uint64_t v)
{
	uint32_t *c;

	if (h->cap == 0 && h->nent == PM_HIST_NBUCKETS) {
		c = &h->counts[pm_hist_bucket(v)];
		if (*c != UINT32_MAX) {
			(*c)++;
			h->n++;
			h->sum += v;
			if (v < h->min)
				h->min = v;
			if (v > h->max)
				h->max = v;
			return;
		}
	}
	pm_hist_add_slow(h, v);
}
/** Add @count samples of bucket @b (used when merging or decoding). */
void pm_hist_add_bucket(struct pm_hist *h, uint32_t b, uint64_t count);
/** Add every sample of @src into @dst (any shapes). */
void pm_hist_merge(struct pm_hist *dst, const struct pm_hist *src);
/**
 * Value at quantile @q in [0,1] (bucket midpoint, clamped to [min,max]).
 * 0 when empty.  Overflowed samples are not in the buckets: quantiles are
 * over the bucketed samples.
 */
uint64_t pm_hist_quantile(const struct pm_hist *h, double q);
/** Samples held in buckets (n - overflow). */
uint64_t pm_hist_count(const struct pm_hist *h);
/**
 * Copy non-empty buckets in order, starting after the first @skip of them,
 * into @out[max].  Returns how many were written.
 */
uint32_t pm_hist_export(const struct pm_hist *h, uint32_t skip,
			struct pm_hist_ent *out, uint32_t max);
/** Number of non-empty buckets. */
uint32_t pm_hist_nonempty(const struct pm_hist *h);

#endif /* PM_HIST_H */
