/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * reload.c: a new pinglist without a restart (SIGHUP, or --watch-config
 * when the file changes).
 *
 * The control thread reads the configuration file again and checks it in
 * full; a file with any error changes nothing (each error is logged as
 * file:line: message, and a "reload" event says it failed).  Only the
 * target list is applied: prober-level keys need a restart, and a changed
 * one is named in a warning.  Targets are matched by (address, port,
 * type):
 *   - kept (same flows, rate, size, DSCP, ceiling): index, flows, in-flight
 *     probes, open window and histograms carry on untouched;
 *   - removed: their flows stop sending at once, still take replies for
 *     one loss timeout, then write a final summary (flag "final");
 *   - added (or changed: the old one is removed, the new one added):
 *     appended at the next indexes, probed from the window that is open.
 * Indexes are never reused, so a record's "target" names one target for
 * the life of the process.  The engine (pm_engine.reload) hands each lcore
 * its new flow set; the arrays other threads read (targets, next hops,
 * totals) are replaced, not changed in place, and the replaced ones are
 * freed one reload later.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>

#include "pm_prober.h"

/* A target's identity across reloads. */
static uint64_t
pm_tkey(const struct pm_target_cfg *t)
{
	return (uint64_t)t->ip << 32 | (uint64_t)t->port << 8 | t->probe;
}

static int
pm_tsame(const struct pm_target_cfg *a, const struct pm_target_cfg *b)
{
	return a->flows == b->flows && a->rate_pps == b->rate_pps && a->size == b->size &&
	       a->dscp == b->dscp && a->max_rate_pps == b->max_rate_pps;
}

/* Open-addressing map key -> old target index + 1 (live targets only). */
struct pm_tmap {
	uint64_t *key;
	uint32_t *val;
	uint32_t mask;
};

static int
pm_tmap_build(struct pm_tmap *m, const struct pm_prober *p)
{
	uint32_t cap = 16, t, h;

	while (cap < 2 * p->cfg.ntargets)
		cap <<= 1;
	m->key = calloc(cap, sizeof(*m->key));
	m->val = calloc(cap, sizeof(*m->val));
	m->mask = cap - 1;
	if (m->key == NULL || m->val == NULL)
		return -ENOMEM;
	for (t = 0; t < p->cfg.ntargets; t++) {
		if (p->tgone[t])
			continue;
		h = (uint32_t)((pm_tkey(&p->cfg.targets[t]) * 0x9e3779b97f4a7c15ULL) >> 32);
		while (m->val[h & m->mask] != 0)
			h++;
		m->key[h & m->mask] = pm_tkey(&p->cfg.targets[t]);
		m->val[h & m->mask] = t + 1;
	}
	return 0;
}

static uint32_t
pm_tmap_get(const struct pm_tmap *m, uint64_t key)
{
	uint32_t h = (uint32_t)((key * 0x9e3779b97f4a7c15ULL) >> 32);

	for (; m->val[h & m->mask] != 0; h++)
		if (m->key[h & m->mask] == key)
			return m->val[h & m->mask];
	return 0;
}

/* Prober-level keys a reload does not apply: warn about each change. */
static unsigned int
pm_reload_warn_prober(const struct pm_prober_cfg *o, const struct pm_prober_cfg *n,
		      const char *path)
{
	unsigned int k = 0;

#define PM_SAME(field, key)						\
	do {								\
		if (memcmp(&o->field, &n->field, sizeof(o->field)) != 0) { \
			PM_LOG(WARNING, "reload: %s: prober." key " differs " \
			       "from the running value: prober keys take a " \
			       "restart; the running value stays", path);	\
			k++;						\
		}							\
	} while (0)
	PM_SAME(src_ip, "src_ip");
	PM_SAME(gateway_ip, "gateway");
	PM_SAME(gateway_mac, "gateway_mac");
	PM_SAME(port_id, "port_id");
	PM_SAME(src_port_base, "src_port_base");
	PM_SAME(window_ms, "window_ms");
	PM_SAME(budget_pps, "budget_pps");
	PM_SAME(budget_mbps, "budget_mbps");
	PM_SAME(line_rate, "line_rate");
	PM_SAME(trace_interval_s, "trace_interval_s");
	PM_SAME(trace_max_ttl, "trace_max_ttl");
	PM_SAME(loss_burst, "loss_burst");
	PM_SAME(clock_synced, "clock_synced");
	PM_SAME(sink, "sink");
#undef PM_SAME
	if (strcmp(o->id, n->id) != 0 && n->id[0] != '\0') {
		PM_LOG(WARNING, "reload: %s: prober.id changed: takes a restart", path);
		k++;
	}
	return k;
}

void
pm_reload_free(struct pm_prober *p)
{
	unsigned int i;

	for (i = 0; i < RTE_DIM(p->stale); i++) {
		free(p->stale[i]);
		p->stale[i] = NULL;
	}
}

/* Post a reload event built in @f: fields that did not fit (a very long
 * path) give way to a note, rather than leave a string cut in half. */
static void
pm_reload_post(struct pm_prober *p, const struct pm_event *ev, char *f, size_t cap,
	       int ok)
{
	if (ev->full)
		snprintf(f, cap, ",\"ok\":%s,\"note\":\"fields too long for the event\"",
			 ok ? "true" : "false");
	pm_export_post(p, "reload", f);
}

/* Log a failed reload and say so on the events stream. */
static int
pm_reload_failed(struct pm_prober *p, const char *path, const char *why, int ret)
{
	struct pm_event ev;
	char f[1024];

	PM_LOG(ERR, "reload: %s: %s; still probing the previous targets", path, why);
	pm_event_fields(&ev, f, sizeof(f));
	pm_event_add(&ev, ",\"ok\":false");
	pm_event_add_str(&ev, "config", path);
	pm_event_add_str(&ev, "error", why);
	pm_reload_post(p, &ev, f, sizeof(f), 0);
	return ret;
}

/* The event of a reload that took: the file (escaped) and the counts. */
static void
pm_reload_ok(struct pm_prober *p, const char *path, uint32_t kept, uint32_t added,
	     uint32_t removed, uint32_t unresolved)
{
	struct pm_event ev;
	char f[1024];

	pm_event_fields(&ev, f, sizeof(f));
	pm_event_add(&ev, ",\"ok\":true");
	pm_event_add_str(&ev, "config", path);
	pm_event_add(&ev, ",\"kept\":%u,\"added\":%u,\"removed\":%u", kept, added, removed);
	if (unresolved || added || removed)
		pm_event_add(&ev, ",\"unresolved\":%u", unresolved);
	pm_reload_post(p, &ev, f, sizeof(f), 1);
}

int
pm_reload(struct pm_prober *p, const char *path)
{
	struct pm_prober_cfg nc;
	struct pm_cfg_errs *e;
	struct pm_tmap map = { NULL, NULL, 0 };
	struct pm_target_cfg *targets = NULL;
	struct pm_target_rt *trt = NULL;
	uint8_t *gone = NULL, *keep = NULL;
	uint32_t n0 = p->cfg.ntargets, n, t, i, idx, kept = 0, added = 0, removed = 0;
	uint32_t unresolved = 0, flows_max = 0;
	uint64_t pps = 0;
	void *old_tot[2];
	char f[512], b1[16];
	const char *line;
	int ret;

	e = malloc(sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	pm_cfg_errs_init(e);
	pm_prober_cfg_defaults(&nc);
	if (pm_prober_cfg_load(path, &nc, e) != 0 || pm_prober_cfg_check(&nc, path, e) != 0) {
		for (line = e->buf; *line != '\0';) {
			const char *nl = strchr(line, '\n');
			int len = nl ? (int)(nl - line) : (int)strlen(line);

			PM_LOG(ERR, "reload: %.*s", len, line);
			line += len + (nl != NULL);
		}
		snprintf(f, sizeof(f), "%u error%s in the file", e->n, e->n == 1 ? "" : "s");
		ret = pm_reload_failed(p, path, f, -EINVAL);
		goto out;
	}
	pm_reload_warn_prober(&p->cfg, &nc, path);

	/* What stays, what goes, what comes. */
	ret = -ENOMEM;
	keep = calloc(n0 ? n0 : 1, 1);
	if (keep == NULL || pm_tmap_build(&map, p) != 0)
		goto nomem;
	targets = malloc(sizeof(*targets) * ((size_t)n0 + nc.ntargets));
	if (targets == NULL)
		goto nomem;
	memcpy(targets, p->cfg.targets, sizeof(*targets) * n0);
	n = n0;
	for (i = 0; i < nc.ntargets; i++) {
		const struct pm_target_cfg *tc = &nc.targets[i];

		idx = pm_tmap_get(&map, pm_tkey(tc));
		if (idx != 0 && !keep[idx - 1] && pm_tsame(&p->cfg.targets[idx - 1], tc)) {
			keep[idx - 1] = 1;
			kept++;
		} else {
			targets[n++] = *tc;
			added++;
		}
		pps += tc->rate_pps;
		if (tc->flows > flows_max)
			flows_max = tc->flows;
	}
	gone = calloc(n, 1);
	if (gone == NULL)
		goto nomem;
	for (t = 0; t < n0; t++) {
		gone[t] = p->tgone[t] || !keep[t];
		removed += !p->tgone[t] && !keep[t];
	}
	/* The running budget and ports hold (prober keys are not reloaded). */
	if (!p->cfg.line_rate && pps > p->cfg.budget_pps) {
		snprintf(f, sizeof(f), "targets ask for %" PRIu64 " pps, over the running "
			 "budget_pps = %" PRIu64, pps, p->cfg.budget_pps);
		ret = pm_reload_failed(p, path, f, -EINVAL);
		goto out;
	}
	if ((uint64_t)p->cfg.src_port_base + (uint64_t)flows_max * p->sport_stride > 65536) {
		snprintf(f, sizeof(f), "%u flows x %u lcores from port %u run past 65535",
			 flows_max, p->sport_stride, p->cfg.src_port_base);
		ret = pm_reload_failed(p, path, f, -EINVAL);
		goto out;
	}
	if (added == 0 && removed == 0) {
		PM_LOG(INFO, "reload: %s: the same %u targets; nothing to do", path, kept);
		pm_reload_ok(p, path, kept, 0, 0, 0);
		ret = 0;
		goto out;
	}

	/* Next hops of the added targets: the gateway's, or one we know. */
	trt = calloc(n, sizeof(*trt));
	if (trt == NULL)
		goto nomem;
	memcpy(trt, p->trt, sizeof(*trt) * n0);
	for (t = n0; t < n; t++) {
		if (p->rdma)
			continue;	/* the engine asks their reflectors */
		if (p->cfg.have_gateway_mac) {
			memcpy(trt[t].mac.addr_bytes, p->cfg.gateway_mac, 6);
			trt[t].resolved = 1;
			continue;
		}
		for (i = 0; i < n0 && !trt[t].resolved; i++)
			if (trt[i].resolved && (p->cfg.gateway_ip != 0 ||
						p->cfg.targets[i].ip == targets[t].ip)) {
				trt[t].mac = trt[i].mac;
				trt[t].resolved = 1;
			}
		if (!trt[t].resolved) {
			unresolved++;
			PM_LOG(WARNING, "reload: target %s is on-link and its MAC is not known "
			       "(no ARP while probing): not probed until a restart; a gateway "
			       "avoids this", pm_cfg_fmt_ipv4(targets[t].ip, b1));
		}
	}

	/* Publish the arrays (entries never move), then the count. */
	pm_reload_free(p);
	p->stale[0] = p->cfg.targets;
	p->stale[1] = p->trt;
	p->stale[2] = p->tgone;
	p->cfg.targets = targets;
	p->trt = trt;
	p->tgone = gone;
	targets = NULL;
	trt = NULL;
	gone = NULL;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	ret = pm_export_grow(p, n, old_tot);
	if (ret != 0) {
		/* Totals could not grow: count stays, added targets unused. */
		ret = pm_reload_failed(p, path, "out of memory for the totals", ret);
		goto out;
	}
	free(old_tot[1]);
	p->stale[3] = old_tot[0];
	ret = p->engine->reload(p, n0, p->tgone);
	if (ret != 0) {
		ret = pm_reload_failed(p, path, "the engine could not set up the new flows",
				       ret);
		goto out;
	}
	p->reloads++;
	PM_LOG(INFO, "reload %u: %s: %u targets kept, %u added, %u removed%s", p->reloads,
	       path, kept, added, removed, unresolved ? " (some not probed: see above)" : "");
	pm_reload_ok(p, path, kept, added, removed, unresolved);
	ret = 0;
	goto out;
nomem:
	ret = pm_reload_failed(p, path, "out of memory", -ENOMEM);
out:
	free(map.key);
	free(map.val);
	free(keep);
	free(gone);
	free(trt);
	free(targets);
	pm_prober_cfg_free(&nc);
	free(e);
	return ret;
}
