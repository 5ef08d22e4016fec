/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_topo: the fabric's topology -- hosts (and probe appliances) in racks
 * behind a ToR, racks in pods, and the spines -- as the aggregator needs it
 * to turn per-flow summaries into per-rack, per-pod, per-ToR and per-spine
 * tables.
 *
 * Loaded from a libconfig file (docs/topology.md) with the same
 * diagnostics as the prober's config ("file:line: message", every problem
 * at once).  Racks come from explicit lists (host addresses and prefixes)
 * or from a compact pattern -- pods x racks-per-pod x hosts-per-rack, one
 * prefix per rack -- that describes a 100k-server fabric in a few lines.
 * Lookups: host address -> rack in O(log n) (sorted disjoint ranges, one
 * range per pattern rack or explicit entry); hop address (a ToR's or a
 * spine's interface) -> element in O(log n); static flow -> spine rules
 * for fabrics without path records.  Immutable once loaded: readers share
 * it without locks.
 */
#ifndef PM_TOPO_H
#define PM_TOPO_H

#include <stdint.h>

#include "pm_cfg.h"

#define PM_TOPO_NONE	UINT32_MAX	/* "unknown" index */

enum pm_topo_kind {
	PM_TOPO_HOST = 1,	/* an address inside a rack */
	PM_TOPO_TOR,		/* a ToR's own address (hop) */
	PM_TOPO_SPINE,		/* a spine's address (hop) */
};

struct pm_topo;

/**
 * Load @path.  Returns 0, or -EINVAL with every problem in @e (file:line),
 * or -errno when the file cannot be read (also in @e).
 */
int pm_topo_load(const char *path, struct pm_topo **t, struct pm_cfg_errs *e);
void pm_topo_free(struct pm_topo *t);

uint32_t pm_topo_npods(const struct pm_topo *t);
uint32_t pm_topo_nracks(const struct pm_topo *t);
uint32_t pm_topo_nspines(const struct pm_topo *t);
const char *pm_topo_pod_name(const struct pm_topo *t, uint32_t pod);
/** A rack's name is also its ToR's name in the tables. */
const char *pm_topo_rack_name(const struct pm_topo *t, uint32_t rack);
const char *pm_topo_spine_name(const struct pm_topo *t, uint32_t spine);
uint32_t pm_topo_rack_pod(const struct pm_topo *t, uint32_t rack);
/** Rack index by name, PM_TOPO_NONE if none (for static rules, tests). */
uint32_t pm_topo_rack_find(const struct pm_topo *t, const char *name);
uint32_t pm_topo_spine_find(const struct pm_topo *t, const char *name);

/**
 * Servers of @rack (host order, *@ips points into the topology): the
 * single-address `hosts` entries of an explicit rack, or a pattern's
 * `servers` addresses from `server_first`.  Prefixes are not servers.
 */
uint32_t pm_topo_rack_servers(const struct pm_topo *t, uint32_t rack,
			      const uint32_t **ips);

/** Rack of a host address (host order); PM_TOPO_NONE when unknown. */
uint32_t pm_topo_host_rack(const struct pm_topo *t, uint32_t ip);

/**
 * What a hop address is: PM_TOPO_TOR (*idx = rack), PM_TOPO_SPINE
 * (*idx = spine), PM_TOPO_HOST (*idx = rack), or 0 when unknown.
 */
int pm_topo_hop(const struct pm_topo *t, uint32_t ip, uint32_t *idx);

/**
 * Spine a flow crosses by the static rules (first match of src rack, dst
 * rack -- either may be a wildcard -- and source port range), or
 * PM_TOPO_NONE: unknown, never guessed.
 */
uint32_t pm_topo_static_spine(const struct pm_topo *t, uint32_t src_rack,
			      uint32_t dst_rack, uint16_t sport);

#endif /* PM_TOPO_H */
