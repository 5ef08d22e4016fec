/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Summary records: building them from a flow's window, checking and
 * decoding them, and their JSON line.
 *
 * A data lcore calls pm_record_build() at the end of each window to pack
 * the counts and both histograms into fixed-size records (one, or more
 * when the histograms have many non-empty buckets); the export thread
 * checks each summary and hands it to a sink, which for JSON calls
 * pm_record_json().  Everything here runs off the data path except
 * pm_record_build(), which neither allocates nor makes syscalls.
 *
 * The JSON field names are an interface (docs/records.md): change them only
 * with a schema version bump.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "pm_cfg.h"
#include "pm_clock.h"
#include "pm_hist.h"
#include "pm_record.h"

_Static_assert(sizeof(struct pm_hist_ent) == 8, "record entry layout");
_Static_assert(PM_REC_ENT0 >= 1 && PM_REC_ENTN > PM_REC_ENT0,
	       "record entry capacity");
_Static_assert(PM_REC_F_OWD == 1 << 0 && PM_REC_F_NO_REFL_TS == 1 << 1 &&
	       PM_REC_F_FINAL == 1 << 2 && PM_REC_F_BURST == 1 << 3 &&
	       PM_REC_F_STALL == 1 << 4,
	       "flag names in pm_record_json()");
/* nparts is a uint8_t: even two full dense histograms must fit. */
_Static_assert(1 + (2 * PM_HIST_NBUCKETS + PM_REC_ENTN - 1) / PM_REC_ENTN
	       <= 255, "too many parts for a full summary");

uint32_t
pm_record_id_hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s != '\0') {
		h ^= (uint8_t)*s++;
		h *= 16777619u;
	}
	return h;
}

const char *
pm_engine_str(int engine)
{
	switch (engine) {
	case PM_ENGINE_DPDK_STAMP:
		return "dpdk-stamp";
	case PM_ENGINE_DPDK_ICMP:
		return "dpdk-icmp";
	case PM_ENGINE_DPDK_TCP:
		return "dpdk-tcp";
	case PM_ENGINE_RDMA_UD:
		return "rdma-ud";
	default:
		return "none";
	}
}

unsigned int
pm_record_nparts(uint32_t rtt_nbuckets, uint32_t refl_nbuckets)
{
	uint64_t total = (uint64_t)rtt_nbuckets + refl_nbuckets;

	if (total <= PM_REC_ENT0)
		return 1;
	return 1 + (unsigned int)((total - PM_REC_ENT0 + PM_REC_ENTN - 1) /
				  PM_REC_ENTN);
}

/* Entries that part @p holds when full, and where its first one sits in
 * the summary's entry sequence. */
static uint32_t
rec_part_cap(unsigned int p)
{
	return p == 0 ? PM_REC_ENT0 : PM_REC_ENTN;
}

static uint32_t
rec_part_start(unsigned int p)
{
	return p == 0 ? 0 : PM_REC_ENT0 + (p - 1) * PM_REC_ENTN;
}

static struct pm_hist_ent *
rec_ents(struct pm_record *r)
{
	return r->h.part == 0 ? r->p0.ent : r->ent;
}

static const struct pm_hist_ent *
rec_ents_c(const struct pm_record *r)
{
	return r->h.part == 0 ? r->p0.ent : r->ent;
}

/* Header, body and entry count of part @p of @np; returns its entries. */
static struct pm_hist_ent *
rec_part_init(struct pm_record *r, unsigned int p, unsigned int np,
	      const struct pm_rec_hdr *hdr, const struct pm_rec_body *body,
	      uint32_t nr, uint32_t nf)
{
	uint32_t start = rec_part_start(p), cap = rec_part_cap(p);
	uint32_t left = nr + nf - start;

	/* Zeroed so reserved bytes and unused entries are deterministic on
	 * the wire. */
	memset(r, 0, sizeof(*r));
	r->h = *hdr;
	r->h.schema = PM_REC_SCHEMA;
	r->h.kind = PM_REC_SUMMARY;
	r->h.part = (uint8_t)p;
	r->h.nparts = (uint8_t)np;
	r->nent = (uint16_t)(left < cap ? left : cap);
	if (p == 0) {
		r->p0.b = *body;
		r->p0.b.rtt_nbuckets = (uint16_t)nr;
		r->p0.b.refl_nbuckets = (uint16_t)nf;
	}
	return rec_ents(r);
}

int
pm_record_build(struct pm_record *recs, unsigned int max,
		const struct pm_rec_hdr *hdr, const struct pm_rec_body *body,
		const struct pm_hist *rtt, const struct pm_hist *refl)
{
	uint32_t nr = rtt != NULL ? pm_hist_nonempty(rtt) : 0;
	uint32_t nf = refl != NULL ? pm_hist_nonempty(refl) : 0;
	unsigned int np = pm_record_nparts(nr, nf), p;

	if (np > max || np > UINT8_MAX || nr > UINT16_MAX || nf > UINT16_MAX)
		return -ENOSPC;
	for (p = 0; p < np; p++) {
		struct pm_record *r = &recs[p];
		uint32_t start = rec_part_start(p), k = 0;
		struct pm_hist_ent *ent;

		ent = rec_part_init(r, p, np, hdr, body, nr, nf);
		/* RTT buckets first, then reflector ones, in one sequence. */
		if (start < nr)
			k = pm_hist_export(rtt, start, ent, r->nent);
		if (k < r->nent)
			k += pm_hist_export(refl, start + k - nr, ent + k,
					    r->nent - k);
		if (k != r->nent)
			return -EINVAL;	/* histogram changed under us */
	}
	return (int)np;
}

int
pm_record_build_ents(struct pm_record *recs, unsigned int max,
		     const struct pm_rec_hdr *hdr, const struct pm_rec_body *body,
		     const struct pm_hist_ent *rtt, uint32_t nr,
		     const struct pm_hist_ent *refl, uint32_t nf)
{
	unsigned int np = pm_record_nparts(nr, nf), p;
	uint32_t idx = 0, i;

	if (np > max || np > UINT8_MAX || nr > UINT16_MAX || nf > UINT16_MAX)
		return -ENOSPC;
	for (p = 0; p < np; p++) {
		struct pm_record *r = &recs[p];
		struct pm_hist_ent *ent;

		ent = rec_part_init(r, p, np, hdr, body, nr, nf);
		for (i = 0; i < r->nent; i++, idx++) {
			const struct pm_hist_ent *e =
				idx < nr ? &rtt[idx] : &refl[idx - nr];

			ent[i].bucket = e->bucket;
			ent[i].count = e->count;
		}
	}
	return (int)np;
}

int
pm_record_check(const struct pm_record *recs, unsigned int n)
{
	const struct pm_rec_hdr *h0;
	uint32_t nr, nf, idx = 0;
	unsigned int p;

	if (recs == NULL || n == 0)
		return -EINVAL;
	h0 = &recs[0].h;
	for (p = 0; p < n; p++)
		if (recs[p].h.schema != PM_REC_SCHEMA)
			return -EPROTONOSUPPORT;
	if (h0->kind != PM_REC_SUMMARY || h0->part != 0 || h0->nparts != n)
		return -EINVAL;
	nr = recs[0].p0.b.rtt_nbuckets;
	nf = recs[0].p0.b.refl_nbuckets;
	if (pm_record_nparts(nr, nf) != n)
		return -EINVAL;
	for (p = 0; p < n; p++) {
		const struct pm_record *r = &recs[p];
		const struct pm_hist_ent *ent = rec_ents_c(r);
		uint32_t left = nr + nf - rec_part_start(p);
		uint32_t cap = rec_part_cap(p), i;

		if (r->h.kind != h0->kind || r->h.part != p ||
		    r->h.nparts != h0->nparts ||
		    r->h.prober_id != h0->prober_id ||
		    r->h.lcore != h0->lcore || r->h.seq != h0->seq ||
		    r->nent != (left < cap ? left : cap))
			return -EINVAL;
		/* Buckets ascend within each histogram. */
		for (i = 0; i < r->nent; i++, idx++) {
			if (ent[i].bucket >= PM_HIST_NBUCKETS)
				return -EINVAL;
			if (idx != 0 && idx != nr) {
				const struct pm_hist_ent *prev = i > 0 ?
					&ent[i - 1] :
					&rec_ents_c(&recs[p - 1])[recs[p - 1].nent - 1];

				if (prev->bucket >= ent[i].bucket)
					return -EINVAL;
			}
		}
	}
	return 0;
}

/* Add the summary's buckets to @rtt and @refl (either may be NULL). */
static void
rec_add_buckets(const struct pm_record *recs, unsigned int n,
		struct pm_hist *rtt, struct pm_hist *refl)
{
	uint32_t nr = recs[0].p0.b.rtt_nbuckets, idx = 0, i;
	unsigned int p;

	for (p = 0; p < n; p++) {
		const struct pm_hist_ent *ent = rec_ents_c(&recs[p]);

		for (i = 0; i < recs[p].nent; i++, idx++) {
			struct pm_hist *h = idx < nr ? rtt : refl;

			if (h != NULL)
				pm_hist_add_bucket(h, ent[i].bucket,
						   ent[i].count);
		}
	}
}

/* Replace the bucket-derived min/max/sum of @h, which held nothing
 * before, with the exact figures the summary carries. */
static void
rec_exact(struct pm_hist *h, const struct pm_rec_stat *s)
{
	if (h->n == 0 || s->min == UINT64_MAX)
		return;
	h->min = s->min;
	h->max = s->max;
	h->sum = s->sum;
}

int
pm_record_hists(const struct pm_record *recs, unsigned int n,
		struct pm_hist *rtt, struct pm_hist *refl)
{
	uint64_t rtt_n0 = rtt->n, refl_n0 = refl->n;
	int rc;

	rc = pm_record_check(recs, n);
	if (rc < 0)
		return rc;
	rec_add_buckets(recs, n, rtt, refl);
	/* Exact extremes are better than bucket bounds, but only where they
	 * cannot undo an earlier merge. */
	if (rtt_n0 == 0)
		rec_exact(rtt, &recs[0].p0.b.rtt);
	if (refl_n0 == 0)
		rec_exact(refl, &recs[0].p0.b.refl);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* JSON */

struct rec_out {
	char *buf;
	size_t cap;
	size_t len;
	bool full;
};

static void
rec_put(struct rec_out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
rec_put(struct rec_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->full = true;
		return;
	}
	o->len += (size_t)n;
}

/* Append raw bytes. */
static void
rec_put_raw(struct rec_out *o, const char *p, size_t n)
{
	if (o->full)
		return;
	if (n >= o->cap - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

/* Append a literal. */
static void
rec_lit(struct rec_out *o, const char *s)
{
	rec_put_raw(o, s, strlen(s));
}

/* Append @key (a literal such as ",\"sent\":") and @v in decimal: a summary
 * has some forty numbers, printed for every one of them, so no printf. */
static void
rec_kv(struct rec_out *o, const char *key, uint64_t v)
{
	char tmp[24], *e = tmp + sizeof(tmp), *p = e;

	rec_lit(o, key);
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	rec_put_raw(o, p, (size_t)(e - p));
}

/* Append "[bucket,count]" (preceded by a comma unless @first): the bulk of
 * a wide summary, so without printf. */
static void
rec_put_pair(struct rec_out *o, bool first, uint32_t bucket, uint32_t count)
{
	char tmp[32], *e = tmp + sizeof(tmp), *p = e;

	*--p = ']';
	do {
		*--p = (char)('0' + count % 10);
		count /= 10;
	} while (count != 0);
	*--p = ',';
	do {
		*--p = (char)('0' + bucket % 10);
		bucket /= 10;
	} while (bucket != 0);
	*--p = '[';
	if (!first)
		*--p = ',';
	rec_put_raw(o, p, (size_t)(e - p));
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void
rec_put_str(struct rec_out *o, const char *s)
{
	const char *run;

	rec_lit(o, "\"");
	while (*s != '\0') {
		unsigned char c = (unsigned char)*s;

		/* Plain characters go out as one run. */
		for (run = s; *s != '\0' && (unsigned char)*s >= 0x20 &&
		     *s != '"' && *s != '\\'; s++)
			;
		if (s > run) {
			rec_put_raw(o, run, (size_t)(s - run));
			continue;
		}
		if (c == '"' || c == '\\')
			rec_put(o, "\\%c", c);
		else
			rec_put(o, "\\u%04x", c);
		s++;
	}
	rec_lit(o, "\"");
}

/* "a.b.c.d" of a host-order IPv4 address, without printf. */
static void
rec_put_ipv4(struct rec_out *o, uint32_t ip)
{
	char tmp[16], *p = tmp;
	int k;

	for (k = 3; k >= 0; k--) {
		unsigned int b = (ip >> (8 * k)) & 0xff;

		if (b >= 100)
			*p++ = (char)('0' + b / 100);
		if (b >= 10)
			*p++ = (char)('0' + b / 10 % 10);
		*p++ = (char)('0' + b % 10);
		if (k > 0)
			*p++ = '.';
	}
	rec_put_raw(o, tmp, (size_t)(p - tmp));
}

static uint64_t
rec_mean(const struct pm_rec_stat *s, uint64_t n)
{
	uint64_t m;

	if (n == 0)
		return 0;
	m = s->sum / n;
	/* sum also holds samples that overflowed a sparse histogram while
	 * n counts only bucketed ones: keep the mean plausible. */
	if (m < s->min)
		m = s->min;
	if (m > s->max)
		m = s->max;
	return m;
}

/*
 * A histogram as a summary carries it: entries [from, from + count) of the
 * sequence across parts (ascending buckets), read in place -- no dense
 * rebuild, so printing costs what the summary holds, not 2 x NBUCKETS.
 */
struct rec_hview {
	const struct pm_record *recs;
	unsigned int nrecs;
	uint32_t from;
	uint32_t count;
	uint64_t total;		/* samples */
};

static void
rec_hview_init(struct rec_hview *v, const struct pm_record *recs,
	       unsigned int n, uint32_t from, uint32_t count)
{
	uint32_t idx = 0, i;
	unsigned int p;

	v->recs = recs;
	v->nrecs = n;
	v->from = from;
	v->count = count;
	v->total = 0;
	for (p = 0; p < n; p++) {
		const struct pm_hist_ent *ent = rec_ents_c(&recs[p]);

		for (i = 0; i < recs[p].nent; i++, idx++)
			if (idx >= from && idx < from + count)
				v->total += ent[i].count;
	}
}

/* Nearest-rank quantile, as pm_hist_quantile() computes it: the midpoint
 * of the bucket holding the rank-th sample, clamped to [min, max]. */
static uint64_t
rec_hview_quantile(const struct rec_hview *v, const struct pm_rec_stat *s,
		   double q)
{
	uint64_t rank, cum = 0, x = 0;
	uint32_t idx = 0, i;
	unsigned int p;
	double r;

	r = q * (double)v->total;
	rank = (uint64_t)r;
	if ((double)rank < r)
		rank++;
	if (rank == 0)
		rank = 1;
	if (rank > v->total)
		rank = v->total;
	for (p = 0; p < v->nrecs; p++) {
		const struct pm_hist_ent *ent = rec_ents_c(&v->recs[p]);

		for (i = 0; i < v->recs[p].nent; i++, idx++) {
			if (idx < v->from || idx >= v->from + v->count)
				continue;
			cum += ent[i].count;
			if (cum >= rank) {
				x = pm_hist_bucket_mid(ent[i].bucket);
				goto found;
			}
		}
	}
found:
	if (x < s->min)
		x = s->min;
	if (x > s->max)
		x = s->max;
	return x;
}

/* {"n":..,"min":..,"mean":..,"sum":..,<quantiles>,"max":..}, or {"n":0}. */
static void
rec_put_stats(struct rec_out *o, const char *name, const struct rec_hview *h,
	      const struct pm_rec_stat *s, bool p90, bool p999)
{
	uint64_t n = h->total;

	rec_put(o, ",\"%s\":", name);
	if (n == 0 || s->min == UINT64_MAX) {
		rec_put(o, "{\"n\":0}");
		return;
	}
	rec_kv(o, "{\"n\":", n);
	rec_kv(o, ",\"min\":", s->min);
	rec_kv(o, ",\"mean\":", rec_mean(s, n));
	rec_kv(o, ",\"sum\":", s->sum);
	rec_kv(o, ",\"p50\":", rec_hview_quantile(h, s, 0.5));
	if (p90)
		rec_kv(o, ",\"p90\":", rec_hview_quantile(h, s, 0.9));
	rec_kv(o, ",\"p99\":", rec_hview_quantile(h, s, 0.99));
	if (p999)
		rec_kv(o, ",\"p999\":", rec_hview_quantile(h, s, 0.999));
	rec_kv(o, ",\"max\":", s->max);
	rec_lit(o, "}");
}

/* Delays without a histogram: {"min":..,"mean":..,"max":..} over @n
 * samples, or {"n":0}. */
static void
rec_put_minmax(struct rec_out *o, const char *name,
	       const struct pm_rec_stat *s, uint64_t n)
{
	rec_put(o, ",\"%s\":", name);
	if (n == 0 || s->min == UINT64_MAX) {
		rec_put(o, "{\"n\":0}");
		return;
	}
	rec_kv(o, "{\"min\":", s->min);
	rec_kv(o, ",\"mean\":", rec_mean(s, n));
	rec_kv(o, ",\"sum\":", s->sum);
	rec_kv(o, ",\"max\":", s->max);
	rec_lit(o, "}");
}

static void
rec_put_hist(struct rec_out *o, const char *name,
	     const struct pm_record *recs, unsigned int n, uint32_t from,
	     uint32_t count)
{
	uint32_t idx = 0, i, k = 0;
	unsigned int p;

	rec_put(o, ",\"%s\":[", name);
	for (p = 0; p < n; p++) {
		const struct pm_hist_ent *ent = rec_ents_c(&recs[p]);

		for (i = 0; i < recs[p].nent; i++, idx++) {
			if (idx < from || idx >= from + count)
				continue;
			rec_put_pair(o, k++ == 0, ent[i].bucket, ent[i].count);
		}
	}
	rec_put(o, "]");
}

int
pm_record_json(const struct pm_record *recs, unsigned int n,
	       const char *prober_name, char *buf, size_t cap)
{
	const struct pm_rec_hdr *h = &recs[0].h;
	const struct pm_rec_body *b = &recs[0].p0.b;
	struct rec_out o = { .buf = buf, .cap = cap };
	struct rec_hview hv;
	/* Indexed by bit: PM_REC_F_OWD, _NO_REFL_TS, _FINAL, _BURST, _STALL. */
	static const char *const flag_names[] = {
		"owd", "no_refl_ts", "final", "burst", "stall"
	};
	unsigned int nflags = 0;
	uint64_t rtt_n, done;
	size_t i;
	int rc;

	if (cap == 0)
		return -ENOSPC;
	rc = pm_record_check(recs, n);
	if (rc < 0)
		return rc;

	{
		static const char hex[] = "0123456789abcdef";
		char id[9];
		int k;

		for (k = 0; k < 8; k++)
			id[k] = hex[(h->prober_id >> (28 - 4 * k)) & 0xf];
		id[8] = '\0';
		rec_kv(&o, "{\"schema\":", h->schema);
		rec_lit(&o, ",\"kind\":\"summary\",\"id\":\"");
		rec_lit(&o, id);
		rec_kv(&o, "-", h->lcore);
		rec_kv(&o, "-", h->seq);
		rec_lit(&o, "\",\"prober\":");
	}
	rec_put_str(&o, prober_name != NULL ? prober_name : "");
	rec_kv(&o, ",\"lcore\":", h->lcore);
	rec_kv(&o, ",\"seq\":", h->seq);
	rec_lit(&o, ",\"engine\":\"");
	rec_lit(&o, pm_engine_str(h->engine));
	rec_kv(&o, "\",\"window_start_ns\":", h->window_start_ns);
	rec_kv(&o, ",\"window_ms\":", h->window_ms);
	rec_kv(&o, ",\"target\":", h->target);
	rec_kv(&o, ",\"flow\":", h->flow);
	rec_lit(&o, ",\"src\":\"");
	rec_put_ipv4(&o, h->src);
	rec_lit(&o, "\",\"dst\":\"");
	rec_put_ipv4(&o, h->dst);
	rec_kv(&o, "\",\"sport\":", h->sport);
	rec_kv(&o, ",\"dport\":", h->dport);
	rec_kv(&o, ",\"dscp\":", h->dscp);
	rec_kv(&o, ",\"size\":", h->size);
	rec_kv(&o, ",\"ssid\":", h->ssid);
	rec_lit(&o, ",");
	rec_lit(&o, "\"ts_tx\":\"");
	rec_lit(&o, pm_ts_src_str(h->ts_tx));
	rec_lit(&o, "\",\"ts_rx\":\"");
	rec_lit(&o, pm_ts_src_str(h->ts_rx));
	rec_lit(&o, "\",\"ts_refl\":\"");
	rec_lit(&o, pm_ts_src_str(h->ts_refl));
	rec_lit(&o, h->refl_synced ? "\",\"refl_synced\":true,\"flags\":[" :
		"\",\"refl_synced\":false,\"flags\":[");
	for (i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++)
		if (h->flags & (1u << i)) {
			rec_lit(&o, nflags++ ? ",\"" : "\"");
			rec_lit(&o, flag_names[i]);
			rec_lit(&o, "\"");
		}
	done = b->received + b->lost;
	rec_kv(&o, "],\"sent\":", b->sent);
	rec_kv(&o, ",\"received\":", b->received);
	rec_kv(&o, ",\"lost\":", b->lost);
	rec_kv(&o, ",\"late\":", b->late);
	rec_kv(&o, ",\"dup\":", b->dup);
	rec_kv(&o, ",\"reordered\":", b->reordered);
	rec_kv(&o, ",\"unmatched\":", b->unmatched);
	rec_kv(&o, ",\"stalled\":", b->stalled);
	/* Most windows lose nothing: no printf for the common cases. */
	if (b->lost == 0)
		rec_lit(&o, ",\"loss_ratio\":0.000000");
	else if (b->lost == done)
		rec_lit(&o, ",\"loss_ratio\":1.000000");
	else
		rec_put(&o, ",\"loss_ratio\":%.6f", (double)b->lost / (double)done);

	/* Percentiles straight from the summary's sorted buckets, with the
	 * exact extremes. */
	rec_hview_init(&hv, recs, n, 0, b->rtt_nbuckets);
	rtt_n = hv.total;
	rec_put_stats(&o, "rtt_ns", &hv, &b->rtt, true, true);
	rec_put_minmax(&o, "raw_rtt_ns", &b->raw, rtt_n);

	rec_hview_init(&hv, recs, n, b->rtt_nbuckets, b->refl_nbuckets);
	rec_put_stats(&o, "refl_delay_ns", &hv, &b->refl, false, false);

	if (h->flags & PM_REC_F_OWD) {
		rec_put_minmax(&o, "fwd_ns", &b->fwd, rtt_n);
		rec_put_minmax(&o, "bwd_ns", &b->bwd, rtt_n);
	}
	if (b->host_n != 0 && b->host.min != UINT64_MAX) {
		rec_kv(&o, ",\"host_delay_ns\":{\"n\":", b->host_n);
		rec_kv(&o, ",\"min\":", b->host.min);
		rec_kv(&o, ",\"mean\":", rec_mean(&b->host, b->host_n));
		rec_kv(&o, ",\"sum\":", b->host.sum);
		rec_kv(&o, ",\"max\":", b->host.max);
		rec_lit(&o, "}");
	}
	rec_put(&o, ",\"hist_overflow\":%" PRIu64 ",\"dropped_before\":%u",
		b->hist_overflow, b->dropped_before);
	rec_put_hist(&o, "rtt_hist", recs, n, 0, b->rtt_nbuckets);
	rec_put_hist(&o, "refl_hist", recs, n, b->rtt_nbuckets,
		     b->refl_nbuckets);
	rec_put(&o, "}");
	if (o.full) {
		buf[0] = '\0';
		return -ENOSPC;
	}
	return (int)o.len;
}
