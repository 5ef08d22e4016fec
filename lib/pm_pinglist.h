/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_pinglist: who probes whom, from the topology -- Pingmesh's
 * multi-level complete graphs, computed per prober.
 *
 *  - rack level: a server probes every other server of its rack;
 *  - pod level: racks of a pod form a complete graph with the ToR as a
 *    virtual node: for each ordered pair of racks (A, B), k server pairs
 *    (a in A, b in B) are drawn; a probes b;
 *  - data-center level: pods form a complete graph the same way, k_pod
 *    server pairs per ordered pair of pods.
 * Appliance mode: a pod's probe appliance probes every server of its pod,
 * and one server (its "reflector") in every rack of the other pods.
 *
 * Draws are a hash of (seed, level, pair, i): a given topology and seed
 * give the same lists on every host, with no coordination, and one
 * server's list costs O(racks in its pod x k + pods x k_pod), so a whole
 * data center's lists are computed in well under a second.
 *
 * Flows per target: enough distinct source ports that, with S spines and
 * uniform ECMP, every spine is crossed with probability >= coverage
 * (coupon collector); targets in the prober's own rack cross no spine and
 * get one flow.  Rates are cut to fit the probe budget.
 */
#ifndef PM_PINGLIST_H
#define PM_PINGLIST_H

#include <stdint.h>

#include "pm_topo.h"

enum pm_pl_level {
	PM_PL_RACK = 0,		/* same rack */
	PM_PL_POD,		/* rack pair within a pod */
	PM_PL_DC,		/* pod pair */
	PM_PL_APP_POD,		/* appliance: a server of its pod */
	PM_PL_APP_DC,		/* appliance: the reflector of another pod's rack */
	PM_PL_NLEVELS
};

/** "rack", "pod", "dc", "appliance-pod", "appliance-dc". */
const char *pm_pl_level_str(int level);

struct pm_pl_cfg {
	uint32_t k;		/* server pairs per rack pair; 2 */
	uint32_t k_pod;		/* server pairs per pod pair; 1 */
	double coverage;	/* probability every spine is crossed; 0.9 */
	uint32_t flows;		/* 0: sized by coverage; else fixed */
	uint32_t rate_pps;	/* per target; 10 */
	uint64_t budget_pps;	/* the prober's ceiling; 0: none */
	uint64_t seed;
};

void pm_pl_cfg_defaults(struct pm_pl_cfg *c);

struct pm_pl_target {
	uint32_t ip;		/* host order */
	uint32_t rack;
	uint32_t rate_pps;
	uint16_t flows;
	uint8_t level;		/* the first level that chose it */
	uint8_t exact;		/* flows chosen from discovered paths */
};

struct pm_pl {
	struct pm_pl_target *t;	/* sorted by address, no duplicates */
	uint32_t n;
	uint32_t cap;
	uint32_t per_level[PM_PL_NLEVELS];	/* before merging duplicates */
	uint32_t flows;		/* flows for a target across spines */
	uint64_t pps;		/* sum of the rates, after the budget */
	uint32_t rate_cut;	/* rate per target was cut to fit the budget */
};

/** Flows so that all @spines are crossed with probability >= @p. */
uint32_t pm_pl_flows_for(uint32_t spines, double p);

/**
 * Exact cover from discovered paths: @spine_of[i] is the spine flow i
 * (source port base + i) crossed (PM_TOPO_NONE: not known), for @n flows.
 * Returns the smallest F such that flows 0..F-1 cross every one of the
 * @nspines spines, or 0 when the @n known paths do not show them all.
 */
uint32_t pm_pl_flows_cover(const uint32_t *spine_of, uint32_t n, uint32_t nspines);

struct pm_pl_ctx;

/** Index the topology for pinglists (pods' racks).  0 or -ENOMEM. */
int pm_pl_ctx_new(struct pm_pl_ctx **x, const struct pm_topo *t,
		  const struct pm_pl_cfg *c);
void pm_pl_ctx_free(struct pm_pl_ctx *x);

/**
 * The pinglist of server @ip into @pl (reset first).  0, -ENOENT (@ip is
 * no server of the topology) or -ENOMEM.
 */
int pm_pl_server(struct pm_pl_ctx *x, uint32_t ip, struct pm_pl *pl);

/** The pinglist of @pod's appliance.  0, -ENOENT (no such pod), -ENOMEM. */
int pm_pl_appliance(struct pm_pl_ctx *x, uint32_t pod, struct pm_pl *pl);

void pm_pl_free(struct pm_pl *pl);

#endif /* PM_PINGLIST_H */
