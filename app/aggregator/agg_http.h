/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * agg_http: pmesh-aggregator's HTTP face (libmicrohttpd, one internal
 * thread).  The consumer loop hands it each emitted window; it keeps a
 * snapshot (rows, percentiles, histogram buckets, alerts, the window's
 * JSON) and serves, from that snapshot:
 *   /metrics   Prometheus text: the latest window's tables as gauges with
 *              low-cardinality labels, and the aggregator's counters;
 *   /tables    the latest window's JSON (the pmesh.tables object);
 *   /          an HTML page: rack x rack heatmaps (drop rate, p99) in SVG,
 *              per-spine bars, an RTT CDF for the fleet, a rack pair or a
 *              spine (?cdf=...), the alerts; refreshed once per window.
 * The snapshot is swapped under a mutex; nothing here is on a probe path.
 */
#ifndef AGG_HTTP_H
#define AGG_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "pm_agg.h"
#include "pm_topo.h"

/* The aggregator's running totals, shown in /metrics. */
struct agg_http_counters {
	uint64_t messages;
	uint64_t refused_encoding;	/* no or unknown pmesh-encoding header */
	uint64_t refused_binary;	/* malformed binary batch */
	uint64_t refused_json;		/* malformed JSON summary */
	uint64_t refused_schema;	/* unknown schema, version or magic */
	uint64_t summaries;
	uint64_t duplicates;
	uint64_t late;
	uint64_t unknown_src;
	uint64_t unknown_dst;
	uint64_t windows;
	uint64_t paths;			/* path records applied */
	uint64_t paths_refused;
};

struct agg_http_opts {
	const char *listen;		/* "IP:PORT" or ":PORT" (all addresses) */
	const char *group;		/* for pmesh_aggregator_info */
	const char *topology;
	uint32_t max_rack_pairs;	/* rack-pair rows in /metrics (worst first) */
	double drop_sla;		/* colour scale of the page */
	uint64_t p99_sla_ns;		/* 0: p99 colours relative to the median */
};

struct agg_http;

/**
 * Listen and serve.  Returns 0, -EINVAL (@err says why: bad address) or
 * another -errno (cannot listen).
 */
int agg_http_start(struct agg_http **h, const struct agg_http_opts *o,
		   const struct pm_topo *t, char *err, size_t errlen);

/** Replace the snapshot with @w and its JSON. 0 or -ENOMEM (old kept). */
int agg_http_publish(struct agg_http *h, const struct pm_agg_window *w,
		     const char *json, size_t len);

void agg_http_counters(struct agg_http *h, const struct agg_http_counters *c);

/** The port actually bound (":0" picks one). */
uint16_t agg_http_port(const struct agg_http *h);

void agg_http_stop(struct agg_http *h);

#endif /* AGG_HTTP_H */
