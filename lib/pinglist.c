/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Pinglists: Pingmesh's multi-level complete graphs over the topology
 * (contract and rules in pm_pinglist.h).  Every draw is a hash of the seed
 * and what is drawn for, so any host computes any server's list alone and
 * gets what every other host would; the context indexes each pod's racks
 * and servers once, so a list costs a few hundred hash evaluations.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pm_pinglist.h"

struct pm_pl_ctx {
	const struct pm_topo *t;
	struct pm_pl_cfg c;
	uint32_t npods;
	uint32_t *pod_off;	/* racks of pod p: rk[pod_off[p] .. pod_off[p+1]) */
	uint32_t *rk;		/* rack indices, grouped by pod */
	uint64_t *cum;		/* servers before rk[i] within its pod */
	uint64_t *pod_srv;	/* servers of each pod */
	uint32_t flows;		/* per target crossing the spines */
};

const char *
pm_pl_level_str(int level)
{
	static const char *const s[PM_PL_NLEVELS] = {
		"rack", "pod", "dc", "appliance-pod", "appliance-dc",
	};

	return level >= 0 && level < PM_PL_NLEVELS ? s[level] : "unknown";
}

void
pm_pl_cfg_defaults(struct pm_pl_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->k = 2;
	c->k_pod = 1;
	c->coverage = 0.9;
	c->rate_pps = 10;
}

uint32_t
pm_pl_flows_for(uint32_t spines, double p)
{
	uint32_t f, j;

	if (spines <= 1 || !(p > 0))
		return 1;
	if (p >= 1)
		p = 0.999999;
	/* P(all spines seen in f uniform draws), inclusion-exclusion. */
	for (f = spines; f < 1024; f++) {
		double all = 0, binom = 1;

		for (j = 0; j <= spines; j++) {
			all += (j & 1 ? -1 : 1) * binom *
			       pow(1.0 - (double)j / spines, f);
			binom = binom * (spines - j) / (j + 1);
		}
		if (all >= p)
			return f;
	}
	return 1024;
}

uint32_t
pm_pl_flows_cover(const uint32_t *spine_of, uint32_t n, uint32_t nspines)
{
	uint8_t seen[256];
	uint32_t i, have = 0;

	if (nspines == 0 || nspines > sizeof(seen))
		return 0;
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < n; i++) {
		if (spine_of[i] >= nspines || seen[spine_of[i]])
			continue;
		seen[spine_of[i]] = 1;
		if (++have == nspines)
			return i + 1;
	}
	return 0;
}

static inline uint64_t
pl_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static inline uint64_t
pl_hash(uint64_t seed, int level, uint32_t a, uint32_t b, uint32_t i)
{
	uint64_t h = pl_mix(seed ^ ((uint64_t)level << 56));

	h = pl_mix(h ^ ((uint64_t)a << 32 | b));
	return pl_mix(h ^ i);
}

void
pm_pl_ctx_free(struct pm_pl_ctx *x)
{
	if (x == NULL)
		return;
	free(x->pod_off);
	free(x->rk);
	free(x->cum);
	free(x->pod_srv);
	free(x);
}

int
pm_pl_ctx_new(struct pm_pl_ctx **xp, const struct pm_topo *t,
	      const struct pm_pl_cfg *c)
{
	uint32_t nracks = pm_topo_nracks(t), p, r, *fill = NULL;
	struct pm_pl_ctx *x;

	*xp = NULL;
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return -ENOMEM;
	x->t = t;
	if (c != NULL)
		x->c = *c;
	else
		pm_pl_cfg_defaults(&x->c);
	x->npods = pm_topo_npods(t);
	x->pod_off = calloc(x->npods + 1, sizeof(*x->pod_off));
	x->pod_srv = calloc(x->npods + 1, sizeof(*x->pod_srv));
	x->rk = malloc((nracks + 1) * sizeof(*x->rk));
	x->cum = malloc((nracks + 1) * sizeof(*x->cum));
	fill = calloc(x->npods + 1, sizeof(*fill));
	if (x->pod_off == NULL || x->pod_srv == NULL || x->rk == NULL ||
	    x->cum == NULL || fill == NULL)
		goto oom;
	/* Counting sort of the racks by pod, file order kept. */
	for (r = 0; r < nracks; r++)
		x->pod_off[pm_topo_rack_pod(t, r) + 1]++;
	for (p = 0; p < x->npods; p++)
		x->pod_off[p + 1] += x->pod_off[p];
	for (r = 0; r < nracks; r++) {
		p = pm_topo_rack_pod(t, r);
		x->rk[x->pod_off[p] + fill[p]++] = r;
	}
	for (p = 0; p < x->npods; p++) {
		uint64_t sum = 0;

		for (r = x->pod_off[p]; r < x->pod_off[p + 1]; r++) {
			x->cum[r] = sum;
			sum += pm_topo_rack_servers(t, x->rk[r], NULL);
		}
		x->pod_srv[p] = sum;
	}
	x->flows = x->c.flows ? x->c.flows :
		   pm_pl_flows_for(pm_topo_nspines(t), x->c.coverage);
	if (x->flows > 1024)
		x->flows = 1024;
	free(fill);
	*xp = x;
	return 0;
oom:
	free(fill);
	pm_pl_ctx_free(x);
	return -ENOMEM;
}

/* The @idx-th server of pod @p (idx < pod_srv[p]); *rack set. */
static uint32_t
pl_pod_server(const struct pm_pl_ctx *x, uint32_t p, uint64_t idx, uint32_t *rack)
{
	uint32_t lo = x->pod_off[p], hi = x->pod_off[p + 1], mid;
	const uint32_t *ips;

	/* Last rack whose first server is at or before idx. */
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (x->cum[mid] <= idx)
			lo = mid;
		else
			hi = mid;
	}
	/* Racks without servers share their cum with the next: step over. */
	while (pm_topo_rack_servers(x->t, x->rk[lo], &ips) <= idx - x->cum[lo] &&
	       lo + 1 < x->pod_off[p + 1])
		lo++;
	*rack = x->rk[lo];
	return ips[idx - x->cum[lo]];
}

static int
pl_add(struct pm_pl *pl, uint32_t ip, uint32_t rack, int level, uint32_t flows)
{
	struct pm_pl_target *t;
	uint32_t cap;

	if (pl->n == pl->cap) {
		cap = pl->cap ? pl->cap * 2 : 64;
		t = realloc(pl->t, cap * sizeof(*t));
		if (t == NULL)
			return -ENOMEM;
		pl->t = t;
		pl->cap = cap;
	}
	t = &pl->t[pl->n++];
	memset(t, 0, sizeof(*t));
	t->ip = ip;
	t->rack = rack;
	t->level = (uint8_t)level;
	t->flows = (uint16_t)flows;
	pl->per_level[level]++;
	return 0;
}

static int
pl_cmp(const void *a, const void *b)
{
	const struct pm_pl_target *x = a, *y = b;

	if (x->ip != y->ip)
		return x->ip < y->ip ? -1 : 1;
	return x->level < y->level ? -1 : x->level > y->level;
}

/* Sort, merge duplicates (first level, most flows), rate within budget. */
static int
pl_finish(const struct pm_pl_ctx *x, struct pm_pl *pl)
{
	uint32_t i, n = 0, rate = x->c.rate_pps ? x->c.rate_pps : 1;

	qsort(pl->t, pl->n, sizeof(*pl->t), pl_cmp);
	for (i = 0; i < pl->n; i++) {
		if (n > 0 && pl->t[n - 1].ip == pl->t[i].ip) {
			if (pl->t[i].flows > pl->t[n - 1].flows)
				pl->t[n - 1].flows = pl->t[i].flows;
			continue;
		}
		pl->t[n++] = pl->t[i];
	}
	pl->n = n;
	if (x->c.budget_pps && (uint64_t)n * rate > x->c.budget_pps) {
		if (n > x->c.budget_pps)
			return -E2BIG;
		rate = (uint32_t)(x->c.budget_pps / n);
		pl->rate_cut = rate;
	}
	for (i = 0; i < n; i++)
		pl->t[i].rate_pps = rate;
	pl->pps = (uint64_t)n * rate;
	pl->flows = x->flows;
	return 0;
}

static void
pl_reset(struct pm_pl *pl)
{
	pl->n = 0;
	memset(pl->per_level, 0, sizeof(pl->per_level));
	pl->pps = 0;
	pl->rate_cut = 0;
}

int
pm_pl_server(struct pm_pl_ctx *x, uint32_t ip, struct pm_pl *pl)
{
	const struct pm_topo *t = x->t;
	uint32_t rack, pod, na, nb, i, j, q, rb, r2, peer;
	const uint32_t *sa, *sb;
	uint64_t h;
	bool mine = false;
	int rc = 0;

	pl_reset(pl);
	rack = pm_topo_host_rack(t, ip);
	if (rack == PM_TOPO_NONE)
		return -ENOENT;
	na = pm_topo_rack_servers(t, rack, &sa);
	for (i = 0; i < na; i++)
		mine |= sa[i] == ip;
	if (!mine)
		return -ENOENT;
	pod = pm_topo_rack_pod(t, rack);

	/* Rack: everyone else in it; no spine in between. */
	for (i = 0; i < na && rc == 0; i++)
		if (sa[i] != ip)
			rc = pl_add(pl, sa[i], rack, PM_PL_RACK, 1);
	/* Pod: k draws per ordered rack pair (rack, rb). */
	for (j = x->pod_off[pod]; j < x->pod_off[pod + 1] && rc == 0; j++) {
		rb = x->rk[j];
		nb = pm_topo_rack_servers(t, rb, &sb);
		if (rb == rack || nb == 0)
			continue;
		for (i = 0; i < x->c.k && rc == 0; i++) {
			h = pl_hash(x->c.seed, PM_PL_POD, rack, rb, i);
			if (sa[h % na] == ip)
				rc = pl_add(pl, sb[pl_mix(h) % nb], rb, PM_PL_POD,
					    x->flows);
		}
	}
	/* Data center: k_pod draws per ordered pod pair (pod, q). */
	for (q = 0; q < x->npods && rc == 0; q++) {
		if (q == pod || x->pod_srv[q] == 0)
			continue;
		for (i = 0; i < x->c.k_pod && rc == 0; i++) {
			h = pl_hash(x->c.seed, PM_PL_DC, pod, q, i);
			if (pl_pod_server(x, pod, h % x->pod_srv[pod], &r2) != ip)
				continue;
			h = pl_mix(h);
			peer = pl_pod_server(x, q, h % x->pod_srv[q], &r2);
			rc = pl_add(pl, peer, r2, PM_PL_DC, x->flows);
		}
	}
	return rc != 0 ? rc : pl_finish(x, pl);
}

int
pm_pl_appliance(struct pm_pl_ctx *x, uint32_t pod, struct pm_pl *pl)
{
	const struct pm_topo *t = x->t;
	uint32_t j, i, r, n, q;
	const uint32_t *s;
	int rc = 0;

	pl_reset(pl);
	if (pod >= x->npods)
		return -ENOENT;
	for (q = 0; q < x->npods && rc == 0; q++) {
		for (j = x->pod_off[q]; j < x->pod_off[q + 1] && rc == 0; j++) {
			r = x->rk[j];
			n = pm_topo_rack_servers(t, r, &s);
			if (n == 0)
				continue;
			if (q == pod) {
				for (i = 0; i < n && rc == 0; i++)
					rc = pl_add(pl, s[i], r, PM_PL_APP_POD, x->flows);
			} else {
				i = (uint32_t)(pl_hash(x->c.seed, PM_PL_APP_DC, r, 0, 0) % n);
				rc = pl_add(pl, s[i], r, PM_PL_APP_DC, x->flows);
			}
		}
	}
	return rc != 0 ? rc : pl_finish(x, pl);
}

void
pm_pl_free(struct pm_pl *pl)
{
	if (pl == NULL)
		return;
	free(pl->t);
	memset(pl, 0, sizeof(*pl));
}
