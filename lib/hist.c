/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Log-linear histograms: dense and sparse storage over one bucket scheme.
 *
 * The bucket function itself is inline in pm_hist.h (the data path calls
 * it per sample); this file holds its inverse, the two storage shapes and
 * what is done with them: adding, merging, quantiles and export for
 * records.  A dense histogram is a plain array of PM_HIST_NBUCKETS counts;
 * a sparse one keeps (bucket, count) entries sorted by bucket in a fixed
 * caller-provided array, found by binary search.  Neither ever allocates,
 * and a sample that finds no room is counted in ->overflow, never dropped
 * silently.
 */
#include <stdint.h>
#include <string.h>

#include "pm_hist.h"

#define SUB		(1u << PM_HIST_SUB_BITS)

/*
 * Dense is marked by cap == 0 with nent == PM_HIST_NBUCKETS: a sparse
 * histogram of capacity 0 (legal: every sample overflows) keeps nent 0.
 */
static int
is_dense(const struct pm_hist *h)
{
	return h->cap == 0 && h->nent == PM_HIST_NBUCKETS;
}

uint64_t
pm_hist_bucket_lo(uint32_t b)
{
	uint32_t k, shift;

	if (b < PM_HIST_LINEAR)
		return b;
	if (b >= PM_HIST_NBUCKETS)
		b = PM_HIST_NBUCKETS - 1;
	k = b - PM_HIST_LINEAR;
	shift = k / SUB + 1;
	return (uint64_t)(SUB + k % SUB) << shift;
}

uint64_t
pm_hist_bucket_mid(uint32_t b)
{
	uint32_t shift;

	if (b < PM_HIST_LINEAR)
		return b;
	if (b >= PM_HIST_NBUCKETS)
		b = PM_HIST_NBUCKETS - 1;
	/* Bucket width is 2^shift; its midpoint is half that above lo. */
	shift = (b - PM_HIST_LINEAR) / SUB + 1;
	return pm_hist_bucket_lo(b) + (1ULL << (shift - 1));
}

/* Highest value of bucket @b (the last bucket also holds clamped values). */
static uint64_t
bucket_hi(uint32_t b)
{
	uint32_t shift;

	if (b < PM_HIST_LINEAR)
		return b;
	if (b >= PM_HIST_NBUCKETS)
		b = PM_HIST_NBUCKETS - 1;
	shift = (b - PM_HIST_LINEAR) / SUB + 1;
	return pm_hist_bucket_lo(b) + (1ULL << shift) - 1;
}

static void
clear_stats(struct pm_hist *h)
{
	h->n = 0;
	h->sum = 0;
	h->min = UINT64_MAX;
	h->max = 0;
	h->overflow = 0;
}

void
pm_hist_init_dense(struct pm_hist *h, uint32_t *counts)
{
	clear_stats(h);
	h->cap = 0;
	h->nent = PM_HIST_NBUCKETS;
	h->counts = counts;
	memset(counts, 0, sizeof(*counts) * PM_HIST_NBUCKETS);
}

void
pm_hist_init_sparse(struct pm_hist *h, struct pm_hist_ent *ent, uint32_t cap)
{
	clear_stats(h);
	h->cap = cap;
	h->nent = 0;
	h->ent = ent;
}

void
pm_hist_reset(struct pm_hist *h)
{
	clear_stats(h);
	if (is_dense(h))
		memset(h->counts, 0, sizeof(*h->counts) * PM_HIST_NBUCKETS);
	else
		h->nent = 0;
}

/* Index of the first sparse entry with bucket >= @b (nent if none). */
static uint32_t
sparse_find(const struct pm_hist *h, uint32_t b)
{
	uint32_t lo = 0, hi = h->nent, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (h->ent[mid].bucket < b)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Put @count samples in bucket @b, leaving n/sum/min/max alone.  Returns
 * how many found no room: a full sparse histogram without that bucket, or
 * a count past what a uint32 bucket holds.  The caller adds those to
 * ->overflow, which keeps n - overflow equal to the bucketed samples.
 */
static uint64_t
bucket_put(struct pm_hist *h, uint32_t b, uint64_t count)
{
	uint32_t *slot, i;
	uint64_t room;

	if (count == 0)
		return 0;
	if (b >= PM_HIST_NBUCKETS)
		b = PM_HIST_NBUCKETS - 1;

	if (is_dense(h)) {
		slot = &h->counts[b];
	} else {
		i = sparse_find(h, b);
		if (i == h->nent || h->ent[i].bucket != b) {
			if (h->nent == h->cap)
				return count;
			memmove(&h->ent[i + 1], &h->ent[i],
				sizeof(h->ent[0]) * (h->nent - i));
			h->ent[i].bucket = (uint16_t)b;
			h->ent[i].rsvd = 0;
			h->ent[i].count = 0;
			h->nent++;
		}
		slot = &h->ent[i].count;
	}

	room = UINT32_MAX - *slot;
	if (count <= room) {
		*slot += (uint32_t)count;
		return 0;
	}
	*slot = UINT32_MAX;
	return count - room;
}

void
pm_hist_add_slow(struct pm_hist *h, uint64_t v)
{
	h->n++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->overflow += bucket_put(h, pm_hist_bucket(v), 1);
}

void
pm_hist_add_bucket(struct pm_hist *h, uint32_t b, uint64_t count)
{
	uint64_t lo, hi;

	if (count == 0)
		return;
	if (b >= PM_HIST_NBUCKETS)
		b = PM_HIST_NBUCKETS - 1;
	/*
	 * The exact samples are gone: sum takes the midpoint, min/max the
	 * bucket's edges, so quantiles stay inside the bucket.
	 */
	lo = pm_hist_bucket_lo(b);
	hi = bucket_hi(b);
	h->n += count;
	h->sum += pm_hist_bucket_mid(b) * count;
	if (lo < h->min)
		h->min = lo;
	if (hi > h->max)
		h->max = hi;
	h->overflow += bucket_put(h, b, count);
}

void
pm_hist_merge(struct pm_hist *dst, const struct pm_hist *src)
{
	uint32_t b, i;

	if (dst == src || src->n == 0)
		return;
	dst->n += src->n;
	dst->sum += src->sum;
	dst->overflow += src->overflow;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;

	if (is_dense(src)) {
		for (b = 0; b < PM_HIST_NBUCKETS; b++)
			dst->overflow += bucket_put(dst, b, src->counts[b]);
	} else {
		for (i = 0; i < src->nent; i++)
			dst->overflow += bucket_put(dst, src->ent[i].bucket,
						    src->ent[i].count);
	}
}

uint64_t
pm_hist_count(const struct pm_hist *h)
{
	return h->n - h->overflow;
}

uint64_t
pm_hist_quantile(const struct pm_hist *h, double q)
{
	uint64_t count = pm_hist_count(h), rank, cum = 0, v = 0;
	double r;
	uint32_t b, i;

	if (count == 0)
		return 0;
	if (!(q > 0.0))		/* also catches NaN */
		return h->min;
	if (q >= 1.0)
		return h->max;

	/* Nearest-rank: the smallest sample with at least q of them <= it. */
	r = q * (double)count;
	rank = (uint64_t)r;
	if ((double)rank < r)
		rank++;
	if (rank == 0)
		rank = 1;
	if (rank > count)
		rank = count;

	if (is_dense(h)) {
		for (b = 0; b < PM_HIST_NBUCKETS; b++) {
			cum += h->counts[b];
			if (cum >= rank) {
				v = pm_hist_bucket_mid(b);
				break;
			}
		}
	} else {
		for (i = 0; i < h->nent; i++) {
			cum += h->ent[i].count;
			if (cum >= rank) {
				v = pm_hist_bucket_mid(h->ent[i].bucket);
				break;
			}
		}
	}
	if (v < h->min)
		v = h->min;
	if (v > h->max)
		v = h->max;
	return v;
}

uint32_t
pm_hist_export(const struct pm_hist *h, uint32_t skip, struct pm_hist_ent *out,
	       uint32_t max)
{
	uint32_t b, i, seen = 0, w = 0;

	if (is_dense(h)) {
		for (b = 0; b < PM_HIST_NBUCKETS && w < max; b++) {
			if (h->counts[b] == 0)
				continue;
			if (seen++ < skip)
				continue;
			out[w].bucket = (uint16_t)b;
			out[w].rsvd = 0;
			out[w].count = h->counts[b];
			w++;
		}
		return w;
	}
	for (i = skip; i < h->nent && w < max; i++)
		out[w++] = h->ent[i];
	return w;
}

uint32_t
pm_hist_nonempty(const struct pm_hist *h)
{
	uint32_t b, n = 0;

	if (!is_dense(h))
		return h->nent;
	for (b = 0; b < PM_HIST_NBUCKETS; b++)
		n += h->counts[b] != 0;
	return n;
}
