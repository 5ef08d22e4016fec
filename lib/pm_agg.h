/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_agg: the aggregator's core -- per-flow summaries in, per-window tables
 * and alerts out.  Pure C (no Kafka): pmesh-aggregator feeds it what it
 * consumes, unit tests feed it synthetic summaries.
 *
 * Windows tumble on the records' event time: a summary belongs to the
 * aggregator window holding its window_start_ns (aggregator windows are
 * window_ms long, aligned to the epoch; default 10 s, a multiple of the
 * probers' 1 s).  The watermark is the newest window start seen; a window
 * is complete once the watermark passes its end by grace_ms, and is then
 * emitted, oldest first.  Summaries for an emitted window are late: counted,
 * not added (so a table, once published, never changes).  A summary id seen
 * twice in a window is a duplicate (at-least-once transport): counted, not
 * added.
 *
 * Tables per window, each a list of rows with probes, received, lost, drop
 * rate, distinct flows, merged RTT and reflector-delay histograms
 * (percentiles come from those), max RTT and the timestamp sources seen:
 *   rack pair (src rack -> dst rack), pod pair, spine (the spine a flow
 *   crosses: static rule or path record; flows with none go to the
 *   "unknown" row, never guessed), ToR (every flow counts at its source and
 *   destination rack's ToR), and the fleet (one row).
 * Summaries whose source or destination address is not in the topology are
 * counted by cause and left out of the tables.
 *
 * Localization ranks what stands out, and raises an alert only for an
 * element above the SLA *and* well above its peers' baseline, with the
 * evidence: a spine dropping across many rack pairs while the other spines
 * do not; a ToR dropping across all spines; a black hole (some flows of a
 * rack pair at ~100 % loss while the pair's other flows are clean); a rack
 * pair over the p99 SLA.  A clean fabric raises nothing.
 */
#ifndef PM_AGG_H
#define PM_AGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pm_hist.h"
#include "pm_record.h"
#include "pm_topo.h"

struct pm_agg_cfg {
	uint32_t window_ms;		/* 10000 */
	uint32_t grace_ms;		/* 5000 */
	double drop_sla;		/* drop rate above which an element is bad; 0.001 */
	uint64_t p99_sla_ns;		/* rack-pair p99 above this alerts; 0 off */
	double outlier_factor;		/* x the peers' median drop rate; 5.0 */
	uint32_t min_flows;		/* evidence: flows an element needs; 4 */
	double blackhole_loss;		/* a flow at >= this loss is black-holed; 0.99 */
};

void pm_agg_cfg_defaults(struct pm_agg_cfg *c);

enum pm_agg_table {
	PM_AGG_RACK_PAIR = 0,
	PM_AGG_POD_PAIR,
	PM_AGG_SPINE,
	PM_AGG_TOR,
	PM_AGG_FLEET,
	PM_AGG_NTABLES
};

/** Table name: "rack_pairs", "pod_pairs", "spines", "tors", "fleet". */
const char *pm_agg_table_str(int table);

/* One row: an element of a table.  For pairs a = src, b = dst; for spines
 * and ToRs a = index (PM_TOPO_NONE: the "unknown" spine), b unused. */
struct pm_agg_row {
	uint32_t a;
	uint32_t b;
	uint64_t sent;
	uint64_t received;
	uint64_t lost;
	uint64_t flows;			/* summaries (flow-windows) merged */
	uint64_t blackholed;		/* of which at >= blackhole_loss */
	uint64_t rtt_max;
	uint32_t ts_mask;		/* 1 << enum pm_ts_src, t1 and t4 */
	uint32_t rsvd;
	struct pm_hist rtt;		/* merged network RTT */
	struct pm_hist refl;		/* merged reflector delay */
};

struct pm_agg_alert {
	int table;			/* the element's table */
	uint32_t a, b;			/* the element */
	const char *kind;		/* "spine", "tor", "blackhole", "p99" */
	double value;			/* its drop rate (or p99 ns) */
	double baseline;		/* its peers' median (or the SLA) */
	uint64_t flows;			/* evidence: flows involved */
	uint64_t pairs;			/* evidence: rack pairs involved */
	double score;			/* ranking, highest first */
	uint32_t spine;			/* blackhole: the spine all its flows
					 * crossed; else PM_TOPO_NONE */
	uint32_t spines;		/* evidence: spines the lossy flows
					 * crossed (ToR, blackhole) */
};

struct pm_agg_window {
	uint64_t start_ns;
	uint32_t window_ms;
	struct pm_agg_row *rows[PM_AGG_NTABLES];
	uint32_t nrows[PM_AGG_NTABLES];
	struct pm_agg_alert *alerts;	/* ranked */
	uint32_t nalerts;
	uint64_t summaries;		/* added to this window */
	uint64_t dup;			/* repeats of an id, not added */
	uint64_t unknown_src;		/* source address not in the topology */
	uint64_t unknown_dst;
	uint64_t probers;		/* distinct probers seen */
};

struct pm_agg_stats {
	uint64_t summaries;		/* added */
	uint64_t dup;
	uint64_t late;			/* for a window already emitted */
	uint64_t unknown_src;
	uint64_t unknown_dst;
	uint64_t windows;		/* emitted */
};

struct pm_agg;

int pm_agg_new(struct pm_agg **a, const struct pm_agg_cfg *c,
	       const struct pm_topo *t);
void pm_agg_free(struct pm_agg *a);

enum {
	PM_AGG_ADDED = 0,
	PM_AGG_DUP,
	PM_AGG_LATE,
	PM_AGG_UNKNOWN,
};

/**
 * Account the summary @recs[n] (checked with pm_record_check; -EINVAL or
 * -EPROTONOSUPPORT otherwise).  Returns PM_AGG_ADDED, _DUP, _LATE or
 * _UNKNOWN (address not in the topology), each counted.
 */
int pm_agg_add(struct pm_agg *a, const struct pm_record *recs, unsigned int n);

/**
 * Forget every open window, the watermark, what was emitted and the stats,
 * as a new pm_agg would -- but keep the path records (a consumer rebuilding
 * its windows after a rebalance still knows every flow's spine).
 */
void pm_agg_reset(struct pm_agg *a);

/**
 * The spine a flow crosses, from a path record: (src, dst, sport, dport)
 * -> spine index.  Overrides the static rules for that flow.  0 or -ENOMEM.
 */
int pm_agg_set_path(struct pm_agg *a, uint32_t src, uint32_t dst,
		    uint16_t sport, uint16_t dport, uint32_t spine);

typedef int (*pm_agg_emit_fn)(void *arg, const struct pm_agg_window *w);

/**
 * Emit every complete window (all open windows when @force), oldest first,
 * through @emit; their memory is released after @emit returns.  Returns
 * the number emitted or @emit's negative return.
 */
int pm_agg_flush(struct pm_agg *a, bool force, pm_agg_emit_fn emit, void *arg);

/**
 * Early alerts: a window's alerts before it closes.  Each time the
 * watermark has moved on (one probe window), every open window is
 * localized on what it holds so far; an alert found by two evaluations in
 * a row (one probe window apart: a fault, not a blip) is handed to @fn at
 * once, at most once per window and element.  The window's own alerts, at
 * its close, are computed afresh on all its data as before.  Returns the
 * number handed out, or -ENOMEM.
 */
typedef void (*pm_agg_early_fn)(void *arg, uint64_t window_start_ns,
				uint64_t as_of_ns, const struct pm_agg_alert *x);
int pm_agg_early(struct pm_agg *a, pm_agg_early_fn fn, void *arg);

/**
 * An early alert as one JSON object (one line): {"schema":1,"kind":"alert",
 * "early":true,"window_start_ns":..,"window_ms":..,"as_of_ns":..,
 * "alert":{...as in a window's alerts}}.  Returns the length or -ENOMEM;
 * *buf is malloc'd.
 */
int pm_agg_alert_json(const struct pm_agg_alert *x, const struct pm_topo *t,
		      uint64_t window_start_ns, uint32_t window_ms, uint64_t as_of_ns,
		      char **buf, size_t *len);

/**
 * Bound the watermark by @limit_ns (UINT64_MAX: no bound).  A consumer of
 * several partitions passes the oldest of their newest window starts, so
 * a window is not completed by one partition running ahead of another.
 */
void pm_agg_limit_watermark(struct pm_agg *a, uint64_t limit_ns);

/** Newest window start seen (event time), 0 before any summary. */
uint64_t pm_agg_watermark(const struct pm_agg *a);
/** Start of the newest emitted window, 0 if none. */
uint64_t pm_agg_last_emitted(const struct pm_agg *a);
/**
 * After a restart: windows starting at or before @start_ns were emitted
 * by the previous run; their summaries now count as late.
 */
void pm_agg_set_emitted(struct pm_agg *a, uint64_t start_ns);
void pm_agg_get_stats(const struct pm_agg *a, struct pm_agg_stats *st);

/**
 * One JSON object (one line, no newline) for @w: tables with names from
 * @t, percentiles, histograms (so partial tables from several aggregators
 * merge), alerts with their evidence.  Schema in docs/aggregator.md.
 * Returns the length, or -ENOMEM; *buf is malloc'd (caller frees).
 */
int pm_agg_window_json(const struct pm_agg_window *w, const struct pm_topo *t,
		       char **buf, size_t *len);

/**
 * Name of element @idx of @table (a rack for pairs and ToRs, a pod for pod
 * pairs, a spine): the topology's, "unknown" for PM_TOPO_NONE, else a
 * number written into @tmp.  Never NULL.
 */
const char *pm_agg_name(const struct pm_topo *t, int table, uint32_t idx,
			char *tmp, size_t cap);

/** The alert as one sentence for a person (as in the JSON's "text"). */
void pm_agg_alert_text(char *buf, size_t cap, const struct pm_topo *t,
		       const struct pm_agg_alert *x);

#endif /* PM_AGG_H */
