/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The aggregator's core: per-flow summaries in, per-window tables and
 * ranked alerts out (contract and window rules in pm_agg.h, JSON schema
 * and localization rules in docs/aggregator.md).
 *
 * Open windows sit in a short array sorted by start; a summary lands in the
 * window of its aligned event time.  Each window holds one row set per
 * table -- rows in a growable array, found through an open-addressing hash
 * map from the element's key (pairs: a << 32 | b) -- plus the ids it has
 * seen (dedup) and the little extra state localization needs: which rack
 * pairs lost probes through each spine, and per (ToR, spine) how much was
 * lost, so a ToR dropping on every spine can be told from a spine dropping
 * for every ToR.  Row histograms are sparse, grown by reallocation before
 * each merge, so a window of 100k rack pairs costs memory in proportion to
 * the buckets actually used rather than a dense array per row.
 *
 * Every fallible step (allocation) of pm_agg_add() happens before the
 * first count changes, so an -ENOMEM leaves the window as it was and the
 * same summary may be offered again.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pm_agg.h"
#include "pm_clock.h"
#include "pm_hist.h"
#include "pm_record.h"
#include "pm_topo.h"

#define NS_PER_MS	1000000ULL
#define MAP_NONE	UINT32_MAX

/* ---------------------------------------------------------------------- */
/* Hash map: two 64-bit words -> uint32, open addressing, linear probing. */

struct agg_map_ent {
	uint64_t k1;
	uint64_t k2;
	uint32_t val;
	uint32_t used;
};

struct agg_map {
	struct agg_map_ent *e;
	uint32_t cap;		/* power of two, or 0 */
	uint32_t n;
};

static inline uint64_t
agg_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static inline uint32_t
agg_map_pos(const struct agg_map *m, uint64_t k1, uint64_t k2)
{
	return (uint32_t)agg_mix(k1 ^ agg_mix(k2 + 0x9e3779b97f4a7c15ULL)) &
	       (m->cap - 1);
}

static void
agg_map_free(struct agg_map *m)
{
	free(m->e);
	memset(m, 0, sizeof(*m));
}

/* Make room so that @extra more keys go in without growing: 0 or -ENOMEM. */
static int
agg_map_reserve(struct agg_map *m, uint32_t extra)
{
	struct agg_map_ent *e;
	uint32_t cap = m->cap ? m->cap : 16, i, p;

	/* Load stays at or under one half: probes stay short. */
	while ((uint64_t)(m->n + extra) * 2 > cap) {
		if (cap >= (1u << 30))
			return -ENOMEM;
		cap *= 2;
	}
	if (cap == m->cap)
		return 0;
	e = calloc(cap, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	for (i = 0; i < m->cap; i++) {
		if (!m->e[i].used)
			continue;
		p = (uint32_t)agg_mix(m->e[i].k1 ^
				      agg_mix(m->e[i].k2 + 0x9e3779b97f4a7c15ULL)) &
		    (cap - 1);
		while (e[p].used)
			p = (p + 1) & (cap - 1);
		e[p] = m->e[i];
	}
	free(m->e);
	m->e = e;
	m->cap = cap;
	return 0;
}

/* Value of (k1, k2), MAP_NONE when absent. */
static uint32_t
agg_map_get(const struct agg_map *m, uint64_t k1, uint64_t k2)
{
	uint32_t p;

	if (m->cap == 0)
		return MAP_NONE;
	for (p = agg_map_pos(m, k1, k2); m->e[p].used; p = (p + 1) & (m->cap - 1))
		if (m->e[p].k1 == k1 && m->e[p].k2 == k2)
			return m->e[p].val;
	return MAP_NONE;
}

/*
 * Slot of (k1, k2), created with value @val0 when absent (*created says
 * which).  Only after agg_map_reserve(): never fails.
 */
static uint32_t *
agg_map_slot(struct agg_map *m, uint64_t k1, uint64_t k2, uint32_t val0,
	     bool *created)
{
	uint32_t p;

	for (p = agg_map_pos(m, k1, k2); m->e[p].used; p = (p + 1) & (m->cap - 1)) {
		if (m->e[p].k1 == k1 && m->e[p].k2 == k2) {
			*created = false;
			return &m->e[p].val;
		}
	}
	m->e[p].k1 = k1;
	m->e[p].k2 = k2;
	m->e[p].val = val0;
	m->e[p].used = 1;
	m->n++;
	*created = true;
	return &m->e[p].val;
}

/* ---------------------------------------------------------------------- */
/* Windows and their tables */

/* What localization needs beyond a row's counts. */
struct agg_aux {
	uint64_t pairs;		/* spine: rack pairs it carried */
	uint64_t lossy_pairs;	/* spine: rack pairs that lost through it */
	uint64_t lossy_spines;	/* ToR: known spines its lossy flows crossed */
	uint64_t clean;		/* rack pair: flows with replies and no loss */
	uint64_t bh_received;	/* rack pair: totals of its black-holed flows */
	uint64_t bh_lost;
	uint32_t bh_spine;	/* rack pair: spine of its black-holed flows */
	uint32_t bh_mixed;	/* ... which do not all share one */
};

/* Tables whose key space is at most this many cells index rows directly. */
#define AGG_DIR_MAX	65536

struct agg_table {
	struct pm_agg_row *rows;
	struct agg_aux *aux;
	uint32_t n;
	uint32_t cap;
	struct agg_map idx;	/* key -> row index, when not direct */
	uint32_t *dir;		/* (a, b) -> row index, MAP_NONE: none yet */
	uint32_t da, db;	/* direct index dimensions, 0: hashed */
};

/* Probes a ToR's flows exchanged over one spine. */
struct agg_torspine {
	uint64_t received;
	uint64_t lost;
};

/*
 * The summary ids one prober lcore had in a window, for deduplication.  An
 * lcore numbers its summaries consecutively, so a window holds a dense run
 * of them: one bit each, from @base.  A seq too far from the run for
 * AGG_SEQ_SPAN goes to the window's hashed set instead.
 */
#define AGG_SEQ_SPAN	(1u << 24)	/* bits per stream: 2 MiB at most */

struct agg_stream {
	uint64_t base;			/* seq of bit 0, a multiple of 64 */
	uint64_t *bits;
	uint32_t nwords;		/* in use (from base) */
	uint32_t capwords;
};

struct agg_win {
	uint64_t start_ns;
	struct agg_table t[PM_AGG_NTABLES];
	struct agg_stream *streams;
	uint32_t nstreams;
	uint32_t capstreams;
	struct agg_map stream_idx;	/* prober_id << 16 | lcore -> streams[] */
	struct agg_map ids;		/* (prober_id << 16 | lcore, seq): outliers */
	struct agg_map probers;
	struct agg_map spine_pair;	/* (spine, pair): bit 0 carried, 1 lossy */
	uint8_t *sp_dir;		/* the same, direct, for small fabrics */
	struct agg_map ts_idx;		/* (tor, spine) -> ts[] */
	struct agg_torspine *ts;
	uint32_t nts;
	uint32_t capts;
	uint64_t summaries;
	uint64_t dup;
	uint64_t unknown_src;
	uint64_t unknown_dst;
	struct pm_agg_alert *alerts;	/* once localized */
	uint32_t nalerts;
	bool localized;
	/* early alerts (pm_agg_early) */
	uint64_t early_wm;		/* watermark of the last evaluation */
	struct pm_agg_alert *early_prev;	/* what it found */
	uint32_t nearly_prev;
	struct pm_agg_alert *early_sent;	/* handed out */
	uint32_t nearly_sent;
	uint32_t capearly_sent;
};

struct pm_agg {
	struct pm_agg_cfg cfg;
	const struct pm_topo *topo;
	uint64_t window_ns;
	uint64_t grace_ns;
	struct agg_win **win;		/* open windows, oldest first */
	uint32_t nwin;
	uint32_t capwin;
	uint64_t watermark;
	uint64_t wm_limit;	/* the consumer's bound on it (pm_agg_limit_watermark) */
	uint64_t last_emitted;
	bool emitted_any;
	struct agg_map paths;		/* (src << 32 | dst, sport << 16 | dport) */
	struct pm_agg_stats st;
	/* Scratch for one summary's histograms, sparse but wide enough for
	 * every bucket: records list buckets in ascending order, so rebuilding
	 * appends, and merging walks only the buckets in use. */
	struct pm_hist s_rtt;
	struct pm_hist s_refl;
	struct pm_hist_ent s_rtt_ent[PM_HIST_NBUCKETS];
	struct pm_hist_ent s_refl_ent[PM_HIST_NBUCKETS];
};

void
pm_agg_cfg_defaults(struct pm_agg_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->window_ms = 10000;
	c->grace_ms = 5000;
	c->drop_sla = 0.001;
	c->p99_sla_ns = 0;
	c->outlier_factor = 5.0;
	c->min_flows = 4;
	c->blackhole_loss = 0.99;
}

const char *
pm_agg_table_str(int table)
{
	static const char *const names[PM_AGG_NTABLES] = {
		[PM_AGG_RACK_PAIR] = "rack_pairs",
		[PM_AGG_POD_PAIR] = "pod_pairs",
		[PM_AGG_SPINE] = "spines",
		[PM_AGG_TOR] = "tors",
		[PM_AGG_FLEET] = "fleet",
	};

	if (table < 0 || table >= PM_AGG_NTABLES)
		return "unknown";
	return names[table];
}

static void
agg_table_free(struct agg_table *tb)
{
	uint32_t i;

	for (i = 0; i < tb->n; i++) {
		free(tb->rows[i].rtt.ent);
		free(tb->rows[i].refl.ent);
	}
	free(tb->rows);
	free(tb->aux);
	free(tb->dir);
	agg_map_free(&tb->idx);
	memset(tb, 0, sizeof(*tb));
}

static void
agg_streams_free(struct agg_win *w)
{
	uint32_t i;

	for (i = 0; i < w->nstreams; i++)
		free(w->streams[i].bits);
	free(w->streams);
	w->streams = NULL;
	w->nstreams = w->capstreams = 0;
	agg_map_free(&w->stream_idx);
}

static void
agg_win_free(struct agg_win *w)
{
	int i;

	if (w == NULL)
		return;
	for (i = 0; i < PM_AGG_NTABLES; i++)
		agg_table_free(&w->t[i]);
	agg_streams_free(w);
	agg_map_free(&w->ids);
	agg_map_free(&w->probers);
	agg_map_free(&w->spine_pair);
	free(w->sp_dir);
	agg_map_free(&w->ts_idx);
	free(w->ts);
	free(w->alerts);
	free(w->early_prev);
	free(w->early_sent);
	free(w);
}

/*
 * Small key spaces (the spines, the ToRs, the pod pairs, the rack pairs of
 * up to 256 racks) are indexed directly: a summary touches six rows, and a
 * hash probe each was a third of the aggregator's time.  The "unknown"
 * spine (PM_TOPO_NONE) takes the last cell of its dimension.
 */
static void
agg_table_dims(struct agg_table *tb, uint32_t da, uint32_t db)
{
	if (da > 0 && db > 0 && (uint64_t)da * db <= AGG_DIR_MAX) {
		tb->da = da;
		tb->db = db;
	}
}

static inline uint32_t
agg_dir_pos(const struct agg_table *tb, uint32_t a, uint32_t b)
{
	if (a >= tb->da)
		a = tb->da - 1;
	if (b >= tb->db)
		b = tb->db - 1;
	return a * tb->db + b;
}

/* Index of the row for (a, b), or MAP_NONE. */
static uint32_t
agg_row_find(const struct agg_table *tb, uint32_t a, uint32_t b)
{
	if (tb->da != 0)
		return tb->dir != NULL ? tb->dir[agg_dir_pos(tb, a, b)] : MAP_NONE;
	return agg_map_get(&tb->idx, (uint64_t)a << 32 | b, 0);
}

/*
 * Index of the row for (a, b), created empty if absent; MAP_NONE on
 * -ENOMEM.  An empty row changes no count, so creating one before the
 * summary is known to be addable is harmless.
 */
static uint32_t
agg_row(struct agg_table *tb, uint32_t a, uint32_t b)
{
	uint64_t key = (uint64_t)a << 32 | b;
	struct pm_agg_row *r;
	struct agg_aux *x;
	uint32_t i, cap;
	bool created;

	i = agg_row_find(tb, a, b);
	if (i != MAP_NONE)
		return i;
	if (tb->da != 0 && tb->dir == NULL) {
		tb->dir = malloc(sizeof(*tb->dir) * tb->da * tb->db);
		if (tb->dir == NULL)
			return MAP_NONE;
		memset(tb->dir, 0xff, sizeof(*tb->dir) * tb->da * tb->db);
	}
	if (tb->n == tb->cap) {
		cap = tb->cap ? tb->cap * 2 : 16;
		r = realloc(tb->rows, sizeof(*r) * cap);
		if (r == NULL)
			return MAP_NONE;
		tb->rows = r;
		x = realloc(tb->aux, sizeof(*x) * cap);
		if (x == NULL)
			return MAP_NONE;
		tb->aux = x;
		tb->cap = cap;
	}
	if (tb->da == 0 && agg_map_reserve(&tb->idx, 1) < 0)
		return MAP_NONE;
	i = tb->n++;
	if (tb->da != 0)
		tb->dir[agg_dir_pos(tb, a, b)] = i;
	else
		*agg_map_slot(&tb->idx, key, 0, i, &created) = i;
	r = &tb->rows[i];
	memset(r, 0, sizeof(*r));
	r->a = a;
	r->b = b;
	pm_hist_init_sparse(&r->rtt, NULL, 0);
	pm_hist_init_sparse(&r->refl, NULL, 0);
	x = &tb->aux[i];
	memset(x, 0, sizeof(*x));
	x->bh_spine = PM_TOPO_NONE;
	return i;
}

/* Room in sparse @h for @extra more buckets, so a merge never overflows. */
static int
agg_hist_reserve(struct pm_hist *h, uint32_t extra)
{
	struct pm_hist_ent *e;
	uint32_t need = h->nent + extra, cap;

	if (need > PM_HIST_NBUCKETS)
		need = PM_HIST_NBUCKETS;
	if (h->cap >= need)
		return 0;
	cap = h->cap ? h->cap : 8;
	while (cap < need)
		cap *= 2;
	if (cap > PM_HIST_NBUCKETS)
		cap = PM_HIST_NBUCKETS;
	e = realloc(h->ent, sizeof(*e) * cap);
	if (e == NULL)
		return -ENOMEM;
	h->ent = e;
	h->cap = cap;
	return 0;
}

static int
agg_ts_entry(struct agg_win *w, uint32_t tor, uint32_t spine, uint32_t *idx)
{
	struct agg_torspine *ts;
	uint32_t i, cap;
	bool created;

	i = agg_map_get(&w->ts_idx, tor, spine);
	if (i == MAP_NONE) {
		if (w->nts == w->capts) {
			cap = w->capts ? w->capts * 2 : 16;
			ts = realloc(w->ts, sizeof(*ts) * cap);
			if (ts == NULL)
				return -ENOMEM;
			w->ts = ts;
			w->capts = cap;
		}
		if (agg_map_reserve(&w->ts_idx, 1) < 0)
			return -ENOMEM;
		i = w->nts++;
		memset(&w->ts[i], 0, sizeof(w->ts[i]));
		*agg_map_slot(&w->ts_idx, tor, spine, i, &created) = i;
	}
	*idx = i;
	return 0;
}

/*
 * The stream of @key in @w, created if absent (a new prober counted);
 * NULL: -ENOMEM.
 */
static struct agg_stream *
agg_stream(struct agg_win *w, uint64_t key, uint32_t prober_id)
{
	struct agg_stream *st;
	uint32_t i, cap;
	bool created;

	i = agg_map_get(&w->stream_idx, key, 0);
	if (i != MAP_NONE)
		return &w->streams[i];
	if (w->nstreams == w->capstreams) {
		cap = w->capstreams ? w->capstreams * 2 : 16;
		st = realloc(w->streams, sizeof(*st) * cap);
		if (st == NULL)
			return NULL;
		w->streams = st;
		w->capstreams = cap;
	}
	if (agg_map_reserve(&w->stream_idx, 1) < 0 ||
	    agg_map_reserve(&w->probers, 1) < 0)
		return NULL;
	i = w->nstreams++;
	*agg_map_slot(&w->stream_idx, key, 0, i, &created) = i;
	agg_map_slot(&w->probers, prober_id, 0, 0, &created);
	st = &w->streams[i];
	memset(st, 0, sizeof(*st));
	return st;
}

/*
 * Make @seq a bit of @st's run.  1 when it is, 0 when it lies too far
 * (the caller uses the hashed set), -ENOMEM.
 */
static int
agg_stream_cover(struct agg_stream *st, uint64_t seq)
{
	uint64_t lo = seq & ~63ull, *bits;
	uint32_t need, shift = 0, cap;

	if (st->nwords == 0) {
		st->base = lo;
	} else if (lo < st->base) {
		if (st->base - lo >= AGG_SEQ_SPAN ||
		    (st->base - lo) / 64 + st->nwords > AGG_SEQ_SPAN / 64)
			return 0;
		shift = (uint32_t)((st->base - lo) / 64);
	} else if (lo - st->base >= AGG_SEQ_SPAN) {
		return 0;
	}
	need = lo >= st->base ? (uint32_t)((lo - st->base) / 64) + 1 : 0;
	if (need < st->nwords + shift)
		need = st->nwords + shift;
	if (need > st->capwords) {
		cap = st->capwords ? st->capwords : 4;
		while (cap < need)
			cap *= 2;
		bits = realloc(st->bits, sizeof(*bits) * cap);
		if (bits == NULL)
			return -ENOMEM;
		st->bits = bits;
		st->capwords = cap;
	}
	if (shift) {
		memmove(st->bits + shift, st->bits, sizeof(*st->bits) * st->nwords);
		memset(st->bits, 0, sizeof(*st->bits) * shift);
		st->base = lo;
		st->nwords += shift;
	}
	if (need > st->nwords) {
		memset(st->bits + st->nwords, 0,
		       sizeof(*st->bits) * (need - st->nwords));
		st->nwords = need;
	}
	return 1;
}

/* Seen @seq (covered) before?  Mark it when @mark. */
static inline bool
agg_stream_bit(struct agg_stream *st, uint64_t seq, bool mark)
{
	uint64_t off = seq - st->base, bit = 1ull << (off & 63);
	uint64_t *word = &st->bits[off / 64];
	bool seen = (*word & bit) != 0;

	if (mark)
		*word |= bit;
	return seen;
}

/* The open window starting at @start, created if absent; NULL: -ENOMEM. */
static struct agg_win *
agg_win_get(struct pm_agg *a, uint64_t start)
{
	struct agg_win *w, **v;
	uint32_t i, cap;

	/* Most summaries are for the newest window: search from the end. */
	for (i = a->nwin; i > 0; i--) {
		if (a->win[i - 1]->start_ns == start)
			return a->win[i - 1];
		if (a->win[i - 1]->start_ns < start)
			break;
	}
	if (a->nwin == a->capwin) {
		cap = a->capwin ? a->capwin * 2 : 8;
		v = realloc(a->win, sizeof(*v) * cap);
		if (v == NULL)
			return NULL;
		a->win = v;
		a->capwin = cap;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	w->start_ns = start;
	agg_table_dims(&w->t[PM_AGG_RACK_PAIR], pm_topo_nracks(a->topo),
		       pm_topo_nracks(a->topo));
	agg_table_dims(&w->t[PM_AGG_POD_PAIR], pm_topo_npods(a->topo),
		       pm_topo_npods(a->topo));
	agg_table_dims(&w->t[PM_AGG_SPINE], pm_topo_nspines(a->topo) + 1, 1);
	agg_table_dims(&w->t[PM_AGG_TOR], pm_topo_nracks(a->topo), 1);
	agg_table_dims(&w->t[PM_AGG_FLEET], 1, 1);
	memmove(&a->win[i + 1], &a->win[i], sizeof(*a->win) * (a->nwin - i));
	a->win[i] = w;
	a->nwin++;
	return w;
}

int
pm_agg_new(struct pm_agg **ap, const struct pm_agg_cfg *c,
	   const struct pm_topo *t)
{
	struct pm_agg *a;

	if (ap == NULL || t == NULL)
		return -EINVAL;
	*ap = NULL;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	if (c != NULL)
		a->cfg = *c;
	else
		pm_agg_cfg_defaults(&a->cfg);
	if (a->cfg.window_ms == 0 || !(a->cfg.outlier_factor > 0.0) ||
	    !(a->cfg.drop_sla >= 0.0) || !(a->cfg.blackhole_loss > 0.0)) {
		free(a);
		return -EINVAL;
	}
	a->topo = t;
	a->wm_limit = UINT64_MAX;
	a->window_ns = (uint64_t)a->cfg.window_ms * NS_PER_MS;
	a->grace_ns = (uint64_t)a->cfg.grace_ms * NS_PER_MS;
	pm_hist_init_sparse(&a->s_rtt, a->s_rtt_ent, PM_HIST_NBUCKETS);
	pm_hist_init_sparse(&a->s_refl, a->s_refl_ent, PM_HIST_NBUCKETS);
	*ap = a;
	return 0;
}

void
pm_agg_reset(struct pm_agg *a)
{
	uint32_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->nwin; i++)
		agg_win_free(a->win[i]);
	a->nwin = 0;
	a->watermark = 0;
	a->wm_limit = UINT64_MAX;
	a->last_emitted = 0;
	a->emitted_any = false;
	memset(&a->st, 0, sizeof(a->st));
}

void
pm_agg_free(struct pm_agg *a)
{
	if (a == NULL)
		return;
	pm_agg_reset(a);
	free(a->win);
	agg_map_free(&a->paths);
	free(a);
}

int
pm_agg_set_path(struct pm_agg *a, uint32_t src, uint32_t dst, uint16_t sport,
		uint16_t dport, uint32_t spine)
{
	uint64_t k1 = (uint64_t)src << 32 | dst;
	uint64_t k2 = (uint64_t)sport << 16 | dport;
	bool created;

	if (a == NULL)
		return -EINVAL;
	/* A spine the topology does not know would have no name: such a
	 * flow goes to the unknown row, as if there were no path record. */
	if (spine >= pm_topo_nspines(a->topo))
		spine = PM_TOPO_NONE;
	if (agg_map_reserve(&a->paths, 1) < 0)
		return -ENOMEM;
	*agg_map_slot(&a->paths, k1, k2, spine, &created) = spine;
	return 0;
}

static uint32_t
agg_flow_spine(const struct pm_agg *a, const struct pm_rec_hdr *h,
	       uint32_t src_rack, uint32_t dst_rack)
{
	uint32_t s;

	s = agg_map_get(&a->paths, (uint64_t)h->src << 32 | h->dst,
			(uint64_t)h->sport << 16 | h->dport);
	if (s != MAP_NONE)
		return s;
	s = pm_topo_static_spine(a->topo, src_rack, dst_rack, h->sport);
	if (s != PM_TOPO_NONE && s >= pm_topo_nspines(a->topo))
		s = PM_TOPO_NONE;
	return s;
}

/* One summary's share of a row. */
static void
agg_row_add(struct pm_agg_row *r, const struct pm_agg *a,
	    const struct pm_rec_hdr *h, const struct pm_rec_body *b,
	    bool blackholed)
{
	r->sent += b->sent;
	r->received += b->received;
	r->lost += b->lost;
	r->flows++;
	r->blackholed += blackholed;
	if (b->rtt.min != UINT64_MAX && b->rtt.max > r->rtt_max)
		r->rtt_max = b->rtt.max;
	if (h->ts_tx < 32)
		r->ts_mask |= 1u << h->ts_tx;
	if (h->ts_rx < 32)
		r->ts_mask |= 1u << h->ts_rx;
	pm_hist_merge(&r->rtt, &a->s_rtt);
	pm_hist_merge(&r->refl, &a->s_refl);
}

int
pm_agg_add(struct pm_agg *a, const struct pm_record *recs, unsigned int n)
{
	const struct pm_rec_hdr *h;
	const struct pm_rec_body *b;
	uint32_t src, dst, spine, psrc, pdst, nr, nf, i;
	uint32_t row[6], tsi[2] = { 0, 0 }, ntor;
	struct agg_stream *st;
	struct agg_table *tb;
	struct agg_win *w;
	uint64_t skey;
	uint32_t nsp, nrk;
	bool spdir, nospine;
	int inrun;
	uint64_t start, pair;
	bool created, lossy, bh;
	uint32_t *slot;
	int rc;

	if (a == NULL)
		return -EINVAL;
	rc = pm_record_check(recs, n);
	if (rc < 0)
		return rc;
	h = &recs[0].h;
	b = &recs[0].p0.b;

	start = h->window_start_ns - h->window_start_ns % a->window_ns;
	if (a->emitted_any && start <= a->last_emitted) {
		a->st.late++;
		return PM_AGG_LATE;
	}
	w = agg_win_get(a, start);
	if (w == NULL)
		return -ENOMEM;
	if (w->localized) {
		/* Its publication failed and will be retried: already frozen. */
		a->st.late++;
		return PM_AGG_LATE;
	}
	skey = (uint64_t)h->prober_id << 16 | h->lcore;
	st = agg_stream(w, skey, h->prober_id);
	if (st == NULL)
		return -ENOMEM;
	inrun = agg_stream_cover(st, h->seq);
	if (inrun < 0 || (!inrun && agg_map_reserve(&w->ids, 1) < 0))
		return -ENOMEM;
	if (h->window_start_ns > a->watermark)
		a->watermark = h->window_start_ns;

	if (inrun ? agg_stream_bit(st, h->seq, false) :
	    agg_map_get(&w->ids, skey, h->seq) != MAP_NONE) {
		w->dup++;
		a->st.dup++;
		return PM_AGG_DUP;
	}

	src = pm_topo_host_rack(a->topo, h->src);
	dst = pm_topo_host_rack(a->topo, h->dst);
	if (src == PM_TOPO_NONE || dst == PM_TOPO_NONE) {
		if (inrun)
			agg_stream_bit(st, h->seq, true);
		else
			agg_map_slot(&w->ids, skey, h->seq, 0, &created);
		if (src == PM_TOPO_NONE) {
			w->unknown_src++;
			a->st.unknown_src++;
		}
		if (dst == PM_TOPO_NONE) {
			w->unknown_dst++;
			a->st.unknown_dst++;
		}
		return PM_AGG_UNKNOWN;
	}
	spine = agg_flow_spine(a, h, src, dst);
	psrc = pm_topo_rack_pod(a->topo, src);
	pdst = pm_topo_rack_pod(a->topo, dst);
	pair = (uint64_t)src << 32 | dst;

	/* Fallible part: rows, histogram room, side tables. */
	pm_hist_reset(&a->s_rtt);
	pm_hist_reset(&a->s_refl);
	rc = pm_record_hists(recs, n, &a->s_rtt, &a->s_refl);
	if (rc < 0)
		return rc;
	nr = a->s_rtt.nent;
	nf = a->s_refl.nent;
	row[0] = agg_row(&w->t[PM_AGG_RACK_PAIR], src, dst);
	row[1] = agg_row(&w->t[PM_AGG_POD_PAIR], psrc, pdst);
	/* A flow within a rack, whose spine nothing names, crossed none:
	 * it is no spine's, not even the unknown one's. */
	nospine = spine == PM_TOPO_NONE && src == dst;
	row[2] = nospine ? 0 : agg_row(&w->t[PM_AGG_SPINE], spine, 0);
	row[3] = agg_row(&w->t[PM_AGG_TOR], src, 0);
	row[4] = agg_row(&w->t[PM_AGG_TOR], dst, 0);
	row[5] = agg_row(&w->t[PM_AGG_FLEET], 0, 0);
	ntor = src == dst ? 1 : 2;
	for (i = 0; i < 6; i++) {
		if (row[i] == MAP_NONE)
			return -ENOMEM;
	}
	for (i = 0; i < 6; i++) {
		if (i == 2 && nospine)
			continue;
		tb = &w->t[i < 3 ? (int)i : i < 5 ? PM_AGG_TOR : PM_AGG_FLEET];
		if (agg_hist_reserve(&tb->rows[row[i]].rtt, nr) < 0 ||
		    agg_hist_reserve(&tb->rows[row[i]].refl, nf) < 0)
			return -ENOMEM;
	}
	if (agg_ts_entry(w, src, spine, &tsi[0]) < 0 ||
	    agg_ts_entry(w, dst, spine, &tsi[1]) < 0)
		return -ENOMEM;
	/* (spine, rack pair) flags: a byte array up to 4 Mi cells (e.g. 8
	 * spines x 724 racks), else hashed. */
	nsp = pm_topo_nspines(a->topo);
	nrk = pm_topo_nracks(a->topo);
	spdir = (uint64_t)nsp * nrk * nrk <= (1u << 22);
	if (spine != PM_TOPO_NONE && spdir && w->sp_dir == NULL) {
		w->sp_dir = calloc((size_t)nsp * nrk * nrk, 1);
		if (w->sp_dir == NULL)
			return -ENOMEM;
	}
	if (spine != PM_TOPO_NONE && !spdir && agg_map_reserve(&w->spine_pair, 1) < 0)
		return -ENOMEM;

	/* From here on nothing fails. */
	if (inrun)
		agg_stream_bit(st, h->seq, true);
	else
		agg_map_slot(&w->ids, skey, h->seq, 0, &created);

	lossy = b->lost > 0;
	bh = lossy && b->sent >= 3 &&
	     (double)b->lost / (double)(b->received + b->lost) >=
	     a->cfg.blackhole_loss;

	agg_row_add(&w->t[PM_AGG_RACK_PAIR].rows[row[0]], a, h, b, bh);
	agg_row_add(&w->t[PM_AGG_POD_PAIR].rows[row[1]], a, h, b, bh);
	if (!nospine)
		agg_row_add(&w->t[PM_AGG_SPINE].rows[row[2]], a, h, b, bh);
	agg_row_add(&w->t[PM_AGG_TOR].rows[row[3]], a, h, b, bh);
	if (ntor == 2)
		agg_row_add(&w->t[PM_AGG_TOR].rows[row[4]], a, h, b, bh);
	agg_row_add(&w->t[PM_AGG_FLEET].rows[row[5]], a, h, b, bh);

	/* Rack pair: clean flows and black holes. */
	{
		struct agg_aux *x = &w->t[PM_AGG_RACK_PAIR].aux[row[0]];

		if (!lossy && b->received > 0)
			x->clean++;
		if (bh) {
			x->bh_received += b->received;
			x->bh_lost += b->lost;
			if (w->t[PM_AGG_RACK_PAIR].rows[row[0]].blackholed == 1)
				x->bh_spine = spine;
			else if (x->bh_spine != spine)
				x->bh_mixed = 1;
		}
	}

	/* Spine: rack pairs carried, and those that lost through it. */
	if (spine != PM_TOPO_NONE) {
		struct agg_aux *x = &w->t[PM_AGG_SPINE].aux[row[2]];

		uint8_t *b8 = NULL;
		uint32_t v;

		if (spdir) {
			b8 = &w->sp_dir[((size_t)spine * nrk + src) * nrk + dst];
			v = *b8;
		} else {
			slot = agg_map_slot(&w->spine_pair, spine, pair, 0, &created);
			v = *slot;
		}
		if (!(v & 1)) {
			v |= 1;
			x->pairs++;
		}
		if (lossy && !(v & 2)) {
			v |= 2;
			x->lossy_pairs++;
		}
		if (spdir)
			*b8 = (uint8_t)v;
		else
			*slot = v;
	}

	/* ToR x spine: which spines each ToR's losses crossed. */
	for (i = 0; i < ntor; i++) {
		struct agg_torspine *ts = &w->ts[tsi[i]];

		if (lossy && ts->lost == 0 && spine != PM_TOPO_NONE)
			w->t[PM_AGG_TOR].aux[row[3 + i]].lossy_spines++;
		ts->received += b->received;
		ts->lost += b->lost;
	}

	w->summaries++;
	a->st.summaries++;
	return PM_AGG_ADDED;
}

/* ---------------------------------------------------------------------- */
/* Localization */

static double
agg_rate(uint64_t received, uint64_t lost)
{
	if (received + lost == 0)
		return 0.0;
	return (double)lost / (double)(received + lost);
}

static int
agg_cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return a < b ? -1 : a > b;
}

/* Median of sorted @v[n] without one element equal to @self. */
static double
agg_median_others(const double *v, uint32_t n, double self)
{
	uint32_t m = n - 1, p, k;
	double lo, hi;

	if (n <= 1)
		return 0.0;
	for (p = 0; p < n && v[p] != self; p++)
		;
	if (p == n)
		p = n - 1;
	/* Element k of the others is v[k] below p, v[k + 1] from p on. */
	k = (m - 1) / 2;
	lo = v[k < p ? k : k + 1];
	if (m % 2)
		return lo;
	k = m / 2;
	hi = v[k < p ? k : k + 1];
	return (lo + hi) / 2.0;
}

struct agg_alerts {
	struct pm_agg_alert *v;
	uint32_t n;
	uint32_t cap;
};

static struct pm_agg_alert *
agg_alert_new(struct agg_alerts *al)
{
	struct pm_agg_alert *v;
	uint32_t cap;

	if (al->n == al->cap) {
		cap = al->cap ? al->cap * 2 : 8;
		v = realloc(al->v, sizeof(*v) * cap);
		if (v == NULL)
			return NULL;
		al->v = v;
		al->cap = cap;
	}
	v = &al->v[al->n++];
	memset(v, 0, sizeof(*v));
	v->spine = PM_TOPO_NONE;
	return v;
}

static int
agg_kind_rank(const char *kind)
{
	static const char *const order[] = { "blackhole", "spine", "tor", "p99" };
	int i;

	for (i = 0; i < 4; i++)
		if (strcmp(kind, order[i]) == 0)
			return i;
	return 4;
}

/* Highest score first; ties broken by kind and element: deterministic. */
static int
agg_cmp_alert(const void *x, const void *y)
{
	const struct pm_agg_alert *a = x, *b = y;
	int ka, kb;

	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	ka = agg_kind_rank(a->kind);
	kb = agg_kind_rank(b->kind);
	if (ka != kb)
		return ka < kb ? -1 : 1;
	if (a->a != b->a)
		return a->a < b->a ? -1 : 1;
	if (a->b != b->b)
		return a->b < b->b ? -1 : 1;
	return 0;
}

static int
agg_cmp_row(const void *x, const void *y)
{
	const struct pm_agg_row *a = x, *b = y;

	if (a->a != b->a)
		return a->a < b->a ? -1 : 1;
	if (a->b != b->b)
		return a->b < b->b ? -1 : 1;
	return 0;
}

/*
 * Peers' drop rates of the rows of @tb that exchanged probes (skipping
 * a == PM_TOPO_NONE), sorted into *@out.  Returns the count or -ENOMEM.
 */
static int
agg_peer_rates(const struct agg_table *tb, double **out)
{
	uint32_t i, n = 0;
	double *v;

	v = malloc(sizeof(*v) * (tb->n ? tb->n : 1));
	if (v == NULL)
		return -ENOMEM;
	for (i = 0; i < tb->n; i++) {
		const struct pm_agg_row *r = &tb->rows[i];

		if (r->a == PM_TOPO_NONE || r->received + r->lost == 0)
			continue;
		v[n++] = agg_rate(r->received, r->lost);
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), agg_cmp_double);
	*out = v;
	return (int)n;
}

static int
agg_localize(const struct pm_agg *a, struct agg_win *w)
{
	const struct pm_agg_cfg *c = &a->cfg;
	struct agg_table *sp = &w->t[PM_AGG_SPINE];
	struct agg_table *tor = &w->t[PM_AGG_TOR];
	struct agg_table *rp = &w->t[PM_AGG_RACK_PAIR];
	double base_min = c->drop_sla / c->outlier_factor, *v = NULL, rate, base, med;
	uint64_t *tor_pairs = NULL;
	uint32_t i, active = 0, need;
	struct agg_alerts al = { NULL, 0, 0 };
	struct pm_agg_alert *x;
	bool *alerted = NULL;
	int n, rc = -ENOMEM;

	/* The baseline never drops under the SLA / factor: against perfect
	 * peers a barely lossy element must not look like an outlier. */
	if (base_min <= 0.0)
		base_min = 1e-12;

	/* Spines: above the SLA, well above the other spines, with losses
	 * across more than one rack pair (one pair is a black hole). */
	n = agg_peer_rates(sp, &v);
	if (n < 0)
		goto out;
	alerted = calloc(sp->n ? sp->n : 1, sizeof(*alerted));
	if (alerted == NULL)
		goto out;
	for (i = 0; i < sp->n; i++) {
		const struct pm_agg_row *r = &sp->rows[i];
		const struct agg_aux *xa = &sp->aux[i];

		if (r->a == PM_TOPO_NONE || r->received + r->lost == 0)
			continue;
		active++;
		rate = agg_rate(r->received, r->lost);
		med = agg_median_others(v, (uint32_t)n, rate);
		base = med > base_min ? med : base_min;
		if (rate < c->drop_sla || rate < c->outlier_factor * base ||
		    r->flows < c->min_flows ||
		    xa->lossy_pairs < (xa->pairs < 2 ? xa->pairs : 2))
			continue;
		x = agg_alert_new(&al);
		if (x == NULL)
			goto out;
		x->table = PM_AGG_SPINE;
		x->a = r->a;
		x->kind = "spine";
		x->value = rate;
		x->baseline = med;
		x->flows = r->flows;
		x->pairs = xa->lossy_pairs;
		x->spines = 1;
		x->spine = r->a;
		x->score = rate / base;
		alerted[i] = true;
	}
	free(v);
	v = NULL;

	/* ToRs: the same test against the other ToRs, and the losses must
	 * cross two spines (or every spine that carried traffic): a ToR seen
	 * losing on one spine only is that spine's victim. */
	need = active < 2 ? active : 2;
	tor_pairs = calloc(tor->n ? tor->n : 1, sizeof(*tor_pairs));
	if (tor_pairs == NULL)
		goto out;
	for (i = 0; i < rp->n; i++) {
		const struct pm_agg_row *r = &rp->rows[i];
		uint32_t ts = agg_row_find(tor, r->a, 0);
		uint32_t td = agg_row_find(tor, r->b, 0);

		if (r->lost == 0)
			continue;
		if (ts != MAP_NONE)
			tor_pairs[ts]++;
		if (td != MAP_NONE && td != ts)
			tor_pairs[td]++;
	}
	n = agg_peer_rates(tor, &v);
	if (n < 0)
		goto out;
	for (i = 0; i < tor->n; i++) {
		const struct pm_agg_row *r = &tor->rows[i];
		const struct agg_aux *xa = &tor->aux[i];
		uint64_t urecv = 0, ulost = 0;
		uint32_t s;

		if (r->received + r->lost == 0)
			continue;
		rate = agg_rate(r->received, r->lost);
		med = agg_median_others(v, (uint32_t)n, rate);
		base = med > base_min ? med : base_min;
		if (rate < c->drop_sla || rate < c->outlier_factor * base ||
		    r->flows < c->min_flows || xa->lossy_spines < need)
			continue;
		x = agg_alert_new(&al);
		if (x == NULL)
			goto out;
		x->table = PM_AGG_TOR;
		x->a = r->a;
		x->kind = "tor";
		x->value = rate;
		x->baseline = med;
		x->flows = r->flows;
		x->pairs = tor_pairs[i];
		x->spines = xa->lossy_spines;
		x->score = rate / base;
		/* What the alerted spines do not explain; if that is within
		 * the SLA the spine alert is the better lead. */
		for (s = 0; s < sp->n; s++) {
			uint32_t k = agg_map_get(&w->ts_idx, r->a, sp->rows[s].a);

			if (k == MAP_NONE || alerted[s])
				continue;
			urecv += w->ts[k].received;
			ulost += w->ts[k].lost;
		}
		if (agg_rate(urecv, ulost) < c->drop_sla)
			x->score *= 0.1;
	}

	/* Black holes: some flows of a rack pair (nearly) all lost while the
	 * pair's other flows get through clean. */
	for (i = 0; i < rp->n; i++) {
		const struct pm_agg_row *r = &rp->rows[i];
		const struct agg_aux *xa = &rp->aux[i];

		if (r->blackholed == 0 || xa->clean == 0)
			continue;
		x = agg_alert_new(&al);
		if (x == NULL)
			goto out;
		x->table = PM_AGG_RACK_PAIR;
		x->a = r->a;
		x->b = r->b;
		x->kind = "blackhole";
		x->value = agg_rate(xa->bh_received, xa->bh_lost);
		x->baseline = agg_rate(r->received - xa->bh_received,
				       r->lost - xa->bh_lost);
		x->flows = r->blackholed;
		x->pairs = 1;
		x->spine = xa->bh_mixed ? PM_TOPO_NONE : xa->bh_spine;
		x->spines = x->spine != PM_TOPO_NONE;
		x->score = x->value / (x->baseline > base_min ? x->baseline : base_min);
	}

	/* Latency: rack pairs over the p99 SLA. */
	for (i = 0; c->p99_sla_ns != 0 && i < rp->n; i++) {
		const struct pm_agg_row *r = &rp->rows[i];
		uint64_t p99;

		if (pm_hist_count(&r->rtt) == 0)
			continue;
		p99 = pm_hist_quantile(&r->rtt, 0.99);
		if (p99 <= c->p99_sla_ns)
			continue;
		x = agg_alert_new(&al);
		if (x == NULL)
			goto out;
		x->table = PM_AGG_RACK_PAIR;
		x->a = r->a;
		x->b = r->b;
		x->kind = "p99";
		x->value = (double)p99;
		x->baseline = (double)c->p99_sla_ns;
		x->flows = r->flows;
		x->pairs = 1;
		x->score = x->value / x->baseline;
	}

	if (al.n > 1)
		qsort(al.v, al.n, sizeof(*al.v), agg_cmp_alert);
	w->alerts = al.v;
	w->nalerts = al.n;
	al.v = NULL;
	rc = 0;
out:
	free(al.v);
	free(v);
	free(alerted);
	free(tor_pairs);
	return rc;
}

static bool
agg_alert_in(const struct pm_agg_alert *v, uint32_t n, const struct pm_agg_alert *x)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (v[i].table == x->table && v[i].a == x->a && v[i].b == x->b &&
		    strcmp(v[i].kind, x->kind) == 0)
			return true;
	return false;
}

int
pm_agg_early(struct pm_agg *a, pm_agg_early_fn fn, void *arg)
{
	uint64_t wm;
	struct pm_agg_alert *v;
	struct agg_win *w;
	uint32_t i, k, cap;
	int n = 0, rc;

	if (a == NULL)
		return -EINVAL;
	wm = a->watermark < a->wm_limit ? a->watermark : a->wm_limit;
	for (i = 0; i < a->nwin; i++) {
		w = a->win[i];
		if (w->localized || wm <= w->early_wm || wm < w->start_ns)
			continue;
		w->early_wm = wm;
		rc = agg_localize(a, w);
		if (rc < 0)
			return rc;
		for (k = 0; k < w->nalerts; k++) {
			const struct pm_agg_alert *x = &w->alerts[k];

			if (!agg_alert_in(w->early_prev, w->nearly_prev, x) ||
			    agg_alert_in(w->early_sent, w->nearly_sent, x))
				continue;
			if (w->nearly_sent == w->capearly_sent) {
				cap = w->capearly_sent ? 2 * w->capearly_sent : 4;
				v = realloc(w->early_sent, sizeof(*v) * cap);
				if (v == NULL)
					return -ENOMEM;
				w->early_sent = v;
				w->capearly_sent = cap;
			}
			w->early_sent[w->nearly_sent++] = *x;
			if (fn != NULL)
				fn(arg, w->start_ns, wm, x);
			n++;
		}
		free(w->early_prev);
		w->early_prev = w->alerts;
		w->nearly_prev = w->nalerts;
		w->alerts = NULL;
		w->nalerts = 0;
	}
	return n;
}

/* Alerts, then rows in a stable order (the index maps are useless after). */
static int
agg_finish(const struct pm_agg *a, struct agg_win *w)
{
	int i, rc;

	if (w->localized)
		return 0;
	rc = agg_localize(a, w);
	if (rc < 0)
		return rc;
	for (i = 0; i < PM_AGG_NTABLES; i++) {
		if (w->t[i].n > 1)
			qsort(w->t[i].rows, w->t[i].n, sizeof(*w->t[i].rows),
			      agg_cmp_row);
		agg_map_free(&w->t[i].idx);
		free(w->t[i].dir);
		w->t[i].dir = NULL;
		free(w->t[i].aux);
		w->t[i].aux = NULL;
	}
	agg_streams_free(w);
	agg_map_free(&w->ids);
	agg_map_free(&w->spine_pair);
	free(w->sp_dir);
	w->sp_dir = NULL;
	agg_map_free(&w->ts_idx);
	w->localized = true;
	return 0;
}

int
pm_agg_flush(struct pm_agg *a, bool force, pm_agg_emit_fn emit, void *arg)
{
	struct pm_agg_window pw;
	struct agg_win *w;
	int done = 0, rc, i;

	if (a == NULL)
		return -EINVAL;
	while (a->nwin > 0) {
		w = a->win[0];
		if (!force && (a->watermark < a->wm_limit ? a->watermark : a->wm_limit) <
			      w->start_ns + a->window_ns + a->grace_ns)
			break;
		rc = agg_finish(a, w);
		if (rc < 0)
			return rc;
		memset(&pw, 0, sizeof(pw));
		pw.start_ns = w->start_ns;
		pw.window_ms = a->cfg.window_ms;
		for (i = 0; i < PM_AGG_NTABLES; i++) {
			pw.rows[i] = w->t[i].rows;
			pw.nrows[i] = w->t[i].n;
		}
		pw.alerts = w->alerts;
		pw.nalerts = w->nalerts;
		pw.summaries = w->summaries;
		pw.dup = w->dup;
		pw.unknown_src = w->unknown_src;
		pw.unknown_dst = w->unknown_dst;
		pw.probers = w->probers.n;
		if (emit != NULL) {
			/* A failed emit keeps the window for the next flush. */
			rc = emit(arg, &pw);
			if (rc < 0)
				return rc;
		}
		a->nwin--;
		memmove(&a->win[0], &a->win[1], sizeof(*a->win) * a->nwin);
		a->last_emitted = w->start_ns;
		a->emitted_any = true;
		a->st.windows++;
		agg_win_free(w);
		done++;
	}
	return done;
}

void
pm_agg_limit_watermark(struct pm_agg *a, uint64_t limit_ns)
{
	if (a != NULL)
		a->wm_limit = limit_ns;
}

uint64_t
pm_agg_watermark(const struct pm_agg *a)
{
	if (a == NULL)
		return 0;
	return a->watermark;
}

uint64_t
pm_agg_last_emitted(const struct pm_agg *a)
{
	if (a == NULL)
		return 0;
	return a->emitted_any ? a->last_emitted : 0;
}

void
pm_agg_set_emitted(struct pm_agg *a, uint64_t start_ns)
{
	struct agg_win *w;

	if (a == NULL)
		return;
	if (!a->emitted_any || start_ns > a->last_emitted)
		a->last_emitted = start_ns;
	a->emitted_any = true;
	/* Open windows the previous run already published would publish
	 * twice: their summaries become late instead. */
	while (a->nwin > 0 && a->win[0]->start_ns <= a->last_emitted) {
		w = a->win[0];
		a->st.late += w->summaries;
		a->st.summaries -= w->summaries;
		a->nwin--;
		memmove(&a->win[0], &a->win[1], sizeof(*a->win) * a->nwin);
		agg_win_free(w);
	}
}

void
pm_agg_get_stats(const struct pm_agg *a, struct pm_agg_stats *st)
{
	if (a == NULL) {
		memset(st, 0, sizeof(*st));
		return;
	}
	*st = a->st;
}

/* ---------------------------------------------------------------------- */
/* JSON */

struct agg_out {
	char *buf;
	size_t len;
	size_t cap;
	bool err;
};

static void
agg_put(struct agg_out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
agg_put(struct agg_out *o, const char *fmt, ...)
{
	va_list ap;
	size_t cap;
	char *p;
	int n;

	if (o->err)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->err = true;
			return;
		}
		if ((size_t)n < o->cap - o->len)
			break;
		cap = o->cap * 2;
		while (cap - o->len <= (size_t)n)
			cap *= 2;
		p = realloc(o->buf, cap);
		if (p == NULL) {
			o->err = true;
			return;
		}
		o->buf = p;
		o->cap = cap;
	}
	o->len += (size_t)n;
}

/* Append @n bytes of @p. */
static void
agg_putn(struct agg_out *o, const char *p, size_t n)
{
	size_t cap;
	char *b;

	if (o->err)
		return;
	if (o->cap - o->len <= n) {
		cap = o->cap ? o->cap * 2 : 4096;
		while (cap - o->len <= n)
			cap *= 2;
		b = realloc(o->buf, cap);
		if (b == NULL) {
			o->err = true;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void
agg_put_str(struct agg_out *o, const char *s)
{
	const unsigned char *p;
	size_t plain;

	agg_putn(o, "\"", 1);
	for (p = (const unsigned char *)s; *p != '\0'; p += plain) {
		for (plain = 0; p[plain] >= 0x20 && p[plain] != '"' && p[plain] != '\\';
		     plain++)
			;
		if (plain > 0) {
			agg_putn(o, (const char *)p, plain);
			continue;
		}
		if (*p == '"' || *p == '\\')
			agg_put(o, "\\%c", *p);
		else
			agg_put(o, "\\u%04x", *p);
		plain = 1;
	}
	agg_putn(o, "\"", 1);
}

/* Element names; numbers when the topology has none (never NULL). */
const char *
pm_agg_name(const struct pm_topo *t, int kind, uint32_t idx, char *tmp,
	    size_t cap)
{
	const char *s = NULL;

	if (idx == PM_TOPO_NONE)
		return "unknown";
	if (t != NULL) {
		if (kind == PM_AGG_POD_PAIR && idx < pm_topo_npods(t))
			s = pm_topo_pod_name(t, idx);
		else if (kind == PM_AGG_SPINE && idx < pm_topo_nspines(t))
			s = pm_topo_spine_name(t, idx);
		else if ((kind == PM_AGG_RACK_PAIR || kind == PM_AGG_TOR) &&
			 idx < pm_topo_nracks(t))
			s = pm_topo_rack_name(t, idx);
	}
	if (s != NULL)
		return s;
	snprintf(tmp, cap, "%s%u", kind == PM_AGG_POD_PAIR ? "pod#" :
		 kind == PM_AGG_SPINE ? "spine#" : "rack#", idx);
	return tmp;
}

/* Decimal digits of @v, backwards from @end; returns the first. */
static char *
agg_utoa(char *end, uint64_t v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return end;
}

/*
 * [[bucket,count],...] without printf: a window's JSON holds every row's
 * buckets, and formatting them was a tenth of the aggregator's time.
 */
static void
agg_put_hist(struct agg_out *o, const struct pm_hist *h)
{
	char buf[48], *end = buf + sizeof(buf), *p;
	uint32_t i;

	agg_putn(o, "[", 1);
	for (i = 0; i < h->nent; i++) {
		p = end;
		*--p = ']';
		p = agg_utoa(p, h->ent[i].count);
		*--p = ',';
		p = agg_utoa(p, h->ent[i].bucket);
		*--p = '[';
		if (i > 0)
			*--p = ',';
		agg_putn(o, p, (size_t)(end - p));
	}
	agg_putn(o, "]", 1);
}

static void
agg_put_row(struct agg_out *o, const struct pm_topo *t, int table,
	    const struct pm_agg_row *r)
{
	char t1[32], t2[32];
	int s, first = 1;

	agg_put(o, "{");
	if (table == PM_AGG_RACK_PAIR || table == PM_AGG_POD_PAIR) {
		agg_put(o, "\"src\":");
		agg_put_str(o, pm_agg_name(t, table, r->a, t1, sizeof(t1)));
		agg_put(o, ",\"dst\":");
		agg_put_str(o, pm_agg_name(t, table, r->b, t2, sizeof(t2)));
		agg_put(o, ",");
	} else if (table == PM_AGG_SPINE || table == PM_AGG_TOR) {
		agg_put(o, "\"name\":");
		agg_put_str(o, pm_agg_name(t, table, r->a, t1, sizeof(t1)));
		agg_put(o, ",");
	}
	agg_put(o, "\"sent\":%" PRIu64 ",\"received\":%" PRIu64
		",\"lost\":%" PRIu64 ",\"drop_rate\":%.6f,\"flows\":%" PRIu64
		",\"blackholed\":%" PRIu64,
		r->sent, r->received, r->lost, agg_rate(r->received, r->lost),
		r->flows, r->blackholed);
	if (pm_hist_count(&r->rtt) == 0 && r->rtt_max == 0)
		agg_put(o, ",\"rtt_ns\":{\"n\":0}");
	else
		agg_put(o, ",\"rtt_ns\":{\"n\":%" PRIu64 ",\"p50\":%" PRIu64
			",\"p90\":%" PRIu64 ",\"p99\":%" PRIu64
			",\"p999\":%" PRIu64 ",\"max\":%" PRIu64 "}",
			r->rtt.n, pm_hist_quantile(&r->rtt, 0.5),
			pm_hist_quantile(&r->rtt, 0.9),
			pm_hist_quantile(&r->rtt, 0.99),
			pm_hist_quantile(&r->rtt, 0.999), r->rtt_max);
	if (pm_hist_count(&r->refl) == 0)
		agg_put(o, ",\"refl_delay_ns\":{\"n\":0}");
	else
		agg_put(o, ",\"refl_delay_ns\":{\"n\":%" PRIu64 ",\"p50\":%"
			PRIu64 ",\"p99\":%" PRIu64 "}", r->refl.n,
			pm_hist_quantile(&r->refl, 0.5),
			pm_hist_quantile(&r->refl, 0.99));
	agg_put(o, ",\"ts\":[");
	for (s = 0; s < PM_TS_SRC_MAX && s < 32; s++) {
		if (!(r->ts_mask & (1u << s)))
			continue;
		agg_put(o, "%s", first ? "" : ",");
		agg_put_str(o, pm_ts_src_str(s));
		first = 0;
	}
	agg_put(o, "],\"rtt_hist\":");
	agg_put_hist(o, &r->rtt);
	agg_put(o, ",\"refl_hist\":");
	agg_put_hist(o, &r->refl);
	agg_put(o, "}");
}

/* The alert's sentence, for a person reading the feed. */
void
pm_agg_alert_text(char *buf, size_t cap, const struct pm_topo *t,
	       const struct pm_agg_alert *x)
{
	char t1[32], t2[32], t3[32];
	const char *e1 = pm_agg_name(t, x->table, x->a, t1, sizeof(t1));
	const char *e2 = pm_agg_name(t, x->table, x->b, t2, sizeof(t2));

	if (strcmp(x->kind, "spine") == 0) {
		snprintf(buf, cap, "%s drops %.2f%% of probes across %" PRIu64
			 " rack pair%s (other spines: %.2f%%)", e1,
			 x->value * 100.0, x->pairs, x->pairs == 1 ? "" : "s",
			 x->baseline * 100.0);
	} else if (strcmp(x->kind, "tor") == 0) {
		snprintf(buf, cap, "ToR %s drops %.2f%% of probes across %u "
			 "spine%s and %" PRIu64 " rack pair%s (other ToRs: "
			 "%.2f%%)", e1, x->value * 100.0, x->spines,
			 x->spines == 1 ? "" : "s", x->pairs,
			 x->pairs == 1 ? "" : "s", x->baseline * 100.0);
	} else if (strcmp(x->kind, "blackhole") == 0) {
		snprintf(buf, cap, "%s -> %s: %" PRIu64 " flow%s black-holed "
			 "(%.2f%% lost)%s%s while the pair's other flows lose "
			 "%.2f%%", e1, e2, x->flows, x->flows == 1 ? "" : "s",
			 x->value * 100.0,
			 x->spine != PM_TOPO_NONE ? " via " : "",
			 x->spine != PM_TOPO_NONE ?
			 pm_agg_name(t, PM_AGG_SPINE, x->spine, t3, sizeof(t3)) :
			 "", x->baseline * 100.0);
	} else {
		snprintf(buf, cap, "%s -> %s: p99 RTT %.1f us over the SLA "
			 "%.1f us", e1, e2, x->value / 1e3, x->baseline / 1e3);
	}
}

static void
agg_put_alert(struct agg_out *o, const struct pm_topo *t,
	      const struct pm_agg_alert *x)
{
	char t1[32], t2[32], text[512];
	bool p99 = strcmp(x->kind, "p99") == 0;

	agg_put(o, "{\"kind\":");
	agg_put_str(o, x->kind);
	agg_put(o, ",\"table\":");
	agg_put_str(o, pm_agg_table_str(x->table));
	agg_put(o, ",\"element\":");
	if (x->table == PM_AGG_RACK_PAIR || x->table == PM_AGG_POD_PAIR) {
		snprintf(text, sizeof(text), "%s->%s",
			 pm_agg_name(t, x->table, x->a, t1, sizeof(t1)),
			 pm_agg_name(t, x->table, x->b, t2, sizeof(t2)));
		agg_put_str(o, text);
	} else {
		agg_put_str(o, pm_agg_name(t, x->table, x->a, t1, sizeof(t1)));
	}
	if (x->spine != PM_TOPO_NONE) {
		agg_put(o, ",\"spine\":");
		agg_put_str(o, pm_agg_name(t, PM_AGG_SPINE, x->spine, t1,
					sizeof(t1)));
	}
	if (p99)
		agg_put(o, ",\"value\":%.0f,\"baseline\":%.0f", x->value,
			x->baseline);
	else
		agg_put(o, ",\"value\":%.6f,\"baseline\":%.6f", x->value,
			x->baseline);
	agg_put(o, ",\"flows\":%" PRIu64 ",\"pairs\":%" PRIu64
		",\"spines\":%u,\"score\":%.3f,\"text\":", x->flows, x->pairs,
		x->spines, x->score);
	pm_agg_alert_text(text, sizeof(text), t, x);
	agg_put_str(o, text);
	agg_put(o, "}");
}

int
pm_agg_alert_json(const struct pm_agg_alert *x, const struct pm_topo *t,
		  uint64_t window_start_ns, uint32_t window_ms, uint64_t as_of_ns,
		  char **buf, size_t *len)
{
	struct agg_out o = { NULL, 0, 0, false };

	if (x == NULL || buf == NULL)
		return -EINVAL;
	*buf = NULL;
	o.cap = 1024;
	o.buf = malloc(o.cap);
	if (o.buf == NULL)
		return -ENOMEM;
	o.buf[0] = '\0';
	agg_put(&o, "{\"schema\":1,\"kind\":\"alert\",\"early\":true,\"window_start_ns\":%"
		PRIu64 ",\"window_ms\":%u,\"as_of_ns\":%" PRIu64 ",\"alert\":",
		window_start_ns, window_ms, as_of_ns);
	agg_put_alert(&o, t, x);
	agg_put(&o, "}");
	if (o.err || o.len > INT32_MAX) {
		free(o.buf);
		return -ENOMEM;
	}
	*buf = o.buf;
	if (len != NULL)
		*len = o.len;
	return (int)o.len;
}

int
pm_agg_window_json(const struct pm_agg_window *w, const struct pm_topo *t,
		   char **buf, size_t *len)
{
	static const int order[PM_AGG_NTABLES] = {
		PM_AGG_FLEET, PM_AGG_RACK_PAIR, PM_AGG_POD_PAIR, PM_AGG_SPINE,
		PM_AGG_TOR,
	};
	struct agg_out o = { NULL, 0, 0, false };
	uint32_t i;
	int k;

	if (w == NULL || buf == NULL)
		return -EINVAL;
	*buf = NULL;
	o.cap = 4096;
	o.buf = malloc(o.cap);
	if (o.buf == NULL)
		return -ENOMEM;
	o.buf[0] = '\0';

	agg_put(&o, "{\"schema\":1,\"kind\":\"tables\",\"window_start_ns\":%"
		PRIu64 ",\"window_ms\":%u,\"summaries\":%" PRIu64 ",\"dup\":%"
		PRIu64 ",\"unknown_src\":%" PRIu64 ",\"unknown_dst\":%" PRIu64
		",\"probers\":%" PRIu64 ",\"tables\":{", w->start_ns,
		w->window_ms, w->summaries, w->dup, w->unknown_src,
		w->unknown_dst, w->probers);
	for (k = 0; k < PM_AGG_NTABLES; k++) {
		int tb = order[k];

		agg_put(&o, "%s\"%s\":[", k ? "," : "", pm_agg_table_str(tb));
		for (i = 0; i < w->nrows[tb]; i++) {
			if (i)
				agg_put(&o, ",");
			agg_put_row(&o, t, tb, &w->rows[tb][i]);
		}
		agg_put(&o, "]");
	}
	agg_put(&o, "},\"alerts\":[");
	for (i = 0; i < w->nalerts; i++) {
		if (i)
			agg_put(&o, ",");
		agg_put_alert(&o, t, &w->alerts[i]);
	}
	agg_put(&o, "]}");
	if (o.err || o.len > INT32_MAX) {
		free(o.buf);
		return -ENOMEM;
	}
	*buf = o.buf;
	if (len != NULL)
		*len = o.len;
	return (int)o.len;
}
