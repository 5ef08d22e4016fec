/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_prober.h: shared state of pmesh-prober (as testpmd.h is for testpmd).
 *
 * One struct pm_prober holds what every thread reads (configuration, port,
 * targets); one struct pm_lcore per probe lcore holds what only that lcore
 * writes (its flows, pacing heap, flow table, counters).  Other threads read
 * an lcore's counters with relaxed atomic loads, never write them.  Records
 * leave an lcore through its own SPSC ring to the export thread.
 *
 * Probing is done by an engine (struct pm_engine, one file each, as
 * testpmd's forwarding engines): this issue has the STAMP engine; ICMP,
 * TCP-SYN and RDMA-UD engines plug into the same table.
 */
#ifndef PM_PROBER_H
#define PM_PROBER_H

#include <pthread.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_hash.h>
#include <rte_ring.h>

#include "pm_cfg.h"
#include "pm_hist.h"
#include "pm_port.h"
#include "pm_record.h"
#include "pm_sink.h"
#include "pm_track.h"
#include "pm_wire.h"

#define PM_BURST		64
#define PM_SPARE_MAX		(2 * PM_BURST)
#define PM_MAX_LCORES		64
#define PM_HEAD_MAX		96	/* probe bytes kept per flow (rest is padding) */
#define PM_REC_MAX_PARTS	192	/* 2 x PM_HIST_NBUCKETS / PM_REC_ENTN, rounded up */
#define PM_SPARSE_MAX		256	/* above this a flow gets a dense histogram */

/* Counters of one lcore.  Written by that lcore only. */
struct pm_lcore_stats {
	uint64_t tx_pkts;
	uint64_t tx_bytes;
	uint64_t tx_full;		/* tx_burst took fewer: retried later */
	uint64_t no_mbuf;
	uint64_t budget_held;		/* probes held back by the global budget */
	uint64_t stalled;		/* probes held back: in-flight ring full */
	uint64_t inflight_held;		/* line rate: bursts held, inflight_max out */
	uint64_t rx_pkts;
	uint64_t replies;		/* matched, first reply */
	uint64_t lost;
	uint64_t late;
	uint64_t dup;
	uint64_t reordered;
	uint64_t unmatched;		/* right flow, seq not outstanding */
	uint64_t unknown_flow;		/* STAMP reply for no flow of ours */
	uint64_t bad_echo;		/* reply did not echo our t1 */
	uint64_t refl_anomaly;		/* t3 < t2, or t3-t2 > t4-t1 */
	uint64_t arp_in;
	uint64_t arp_out;
	uint64_t arp_updates;		/* a next hop's MAC changed */
	uint64_t icmp_out;
	uint64_t cause[PM_WIRE_CAUSE_MAX];
	uint64_t summaries;		/* enqueued to the export ring */
	uint64_t summaries_dropped;	/* export ring full */
	uint64_t dispatched;		/* replies handed to another lcore */
	uint64_t dispatch_dropped;	/* that lcore's ring was full */
	uint64_t trace_probes;		/* path discovery: TTL-limited probes sent */
	uint64_t trace_answers;		/* ICMP errors and replies matched to a trace */
	uint64_t trace_stray;		/* ICMP errors for no trace of ours */
	uint64_t paths;			/* path records enqueued */
	uint64_t paths_dropped;		/* export ring full */
	uint64_t bursts;		/* adaptive probing: lossy flows sped up */
	uint64_t tcp_rst_out;		/* resets sent: SYN-ACKs and strays closed */
	uint64_t tcp_other;		/* TCP segments that answer no SYN probe */
	uint64_t lcore_stalls;		/* turns that came > PM_STALL_NS late */
	uint64_t lcore_stall_us;	/* the time those gaps lasted, in all */
};

/*
 * A probe lcore that does not run for this long (preempted, a VM paused,
 * an SMI) is counted as stalled: replies that came meanwhile wait in its RX
 * ring, so their t4 (TSC at rx_burst) is late by up to the gap, and the
 * sweep holds off for PM_STALL_HOLD_NS so that those replies are taken
 * before their probes' timeouts are judged.
 */
#define PM_STALL_NS		(10 * 1000 * 1000ULL)
#define PM_STALL_HOLD_NS	(20 * 1000 * 1000ULL)

/*
 * Path discovery of one lcore: one flow at a time, Paris traceroute style.
 * Probes are copies of the flow's frame (same 5-tuple, so ECMP hashes them
 * onto the flow's path) with TTL 1..max and IP ID = gen << 5 | ttl; routers
 * answer with ICMP Time Exceeded quoting the ID, the target answers a
 * probe that reaches it like any probe (STAMP seq = base + ttl, half the
 * sequence space away from the flow's own probes).
 */
#define PM_TRACE_NONE	UINT32_MAX

struct pm_trace {
	uint32_t flow;			/* flow traced, PM_TRACE_NONE: idle */
	uint32_t next;			/* round robin over the flows */
	uint32_t base;			/* STAMP seq of TTL 0 */
	uint32_t prev_flow;		/* the trace before: late answers */
	uint32_t prev_base;
	uint16_t gen;			/* 11 bits, in the IP ID */
	uint8_t ttl;			/* next TTL to send */
	uint8_t dest_ttl;		/* target answered at this TTL, 0: not yet */
	uint64_t deadline;		/* tsc: the trace ends */
	uint64_t next_start;		/* tsc: the next trace may start */
	uint64_t gap;			/* tsc between trace starts */
	uint64_t interval;		/* tsc: re-trace a flow this often */
	uint32_t hops[PM_REC_PATH_HOPS];
};

/*
 * One flow.  What a probe and a reply touch comes first, in the fewest cache
 * lines (the stream of packet data keeps pushing flows out of L1): the
 * match and window fields, the tracker, the two histograms' heads and the
 * raw RTT (lines 0-3); then what pacing, windows and path discovery use;
 * the probe's frame head last (TX).  Cache aligned, so no flow straddles
 * one more line than it must.
 */
struct pm_flow {
	uint64_t win;			/* window index the counts belong to */
	uint32_t peer_ip;		/* the target's address and port, kept */
	uint16_t peer_port;		/* here for the reply match */
	uint16_t sport;
	uint16_t rflags;		/* PM_REC_F_* seen this window */
	uint8_t ts_rx;			/* source of the last t4 */
	uint8_t refl_synced;
	uint8_t retired;		/* 0 live; 1 target removed by a reload:
					 * no more probes, replies still taken;
					 * 2 final summary written (atomic) */
	uint8_t probe;			/* enum pm_probe_type */
	uint16_t ssid;
	uint32_t target;
	int32_t csum_base;		/* STAMP: pm_wire_probe_stamp_base() of head */
	struct pm_track trk;
	struct pm_hist rtt;		/* network RTT this window */
	struct pm_hist refl;		/* reflector delay this window */
	struct pm_rec_stat raw;
	struct pm_rec_stat fwd;
	struct pm_rec_stat bwd;
	struct pm_rec_stat host;	/* our host delay (rdma engine), window */
	uint64_t host_n;
	uint64_t next_tsc;		/* pacing: next send */
	uint64_t period;		/* TSC ticks between probes; 0 = line rate */
	uint16_t fidx;			/* flow index within the target */
	uint8_t retrace;		/* lost probes: trace it again soon */
	uint8_t burst;			/* probing faster after a loss */
	uint64_t base_period;		/* the period its rate gives */
	uint64_t burst_end;		/* tsc: back to base_period */
	uint64_t trace_tsc;		/* last trace started, 0: never */
	uint64_t min_period;		/* the target's max_rate_pps, per flow */
	uint64_t retire_tsc;		/* when its target was removed */
	uint32_t isn;			/* TCP: ISN of probe seq 0 */
	uint8_t head[PM_HEAD_MAX];	/* frame head, seq/ts zero */
} __rte_cache_aligned;

/*
 * A pinglist reload's new flow set for one lcore.  The control thread
 * builds it (carried-over flows by index into the lcore's current array,
 * new ones set up in full) and publishes it in lc->pending; the lcore takes
 * it at the top of its loop -- copies the carried flows with their
 * trackers, windows and histograms as they are, swaps the arrays -- and
 * clears lc->pending, leaving its old arrays here for the control thread to
 * free.  Nothing is allocated or freed on the lcore.
 */
struct pm_flowset {
	struct pm_flow *flows;
	uint32_t nflows;
	uint32_t *heap;
	uint32_t *ssid_map;
	struct rte_hash *ftab;
	int32_t *from;			/* flow's index in the old array, -1: new */
	uint8_t *retire;		/* 1: carried over, its target was removed */
	uint64_t tb_pps;		/* the lcore's new budget share */
	uint64_t tb_Bps;
	uint64_t tb_max_pkts;
	uint64_t tb_max_bytes;
};

struct pm_lcore {
	unsigned int lcore_id;
	uint16_t idx;			/* 0 .. nlc-1 */
	uint16_t queue;
	struct pm_flow *flows;
	uint32_t nflows;
	uint32_t *heap;			/* flow indices, min-heap on next_tsc */
	uint32_t heap_n;
	uint32_t sweep;			/* sweep cursor */
	uint64_t stall_win0;		/* windows the last stall spanned */
	uint64_t stall_win1;		/* (PM_REC_F_STALL), 0/0: none */
	struct rte_hash *ftab;		/* (peer ip, peer port, sport) -> flow */
	uint32_t *ssid_map;		/* SSID -> flow index + 1 (fast path) */
	uint32_t rr;			/* line rate: next flow to send */
	struct rte_ring *rec_ring;	/* records to the export thread */
	struct rte_ring *rx_ring;	/* replies dispatched from queue 0 */
	/* probes built but refused by tx_burst: resent first */
	struct rte_mbuf *pend[PM_BURST];
	uint32_t pend_flow[PM_BURST];
	uint32_t pend_seq[PM_BURST];
	uint16_t npend;
	uint16_t nspare;
	/* line rate's in-flight cap: probes out (sent, neither answered nor
	 * declared lost), and the losses of the last timeout period, which
	 * stand for the lost probes not yet timed out */
	int64_t inflight;
	uint64_t if_ghosts;
	uint64_t if_lost_mark;
	uint64_t if_next_tsc;
	/* replies done with, reset, for the next probes (pm_spare_put) */
	struct rte_mbuf *spare[PM_SPARE_MAX];
	uint64_t win;			/* current window index */
	uint64_t win_end_tsc;
	uint64_t win_ticks;
	uint64_t rec_seq;		/* next summary sequence */
	uint32_t rec_dropped_run;	/* summaries dropped since the last enqueued */
	/* global budget share: token buckets in 1/2^16 units */
	uint64_t tb_last;
	uint64_t tb_pkts;
	uint64_t tb_bytes;
	uint64_t tb_pps;		/* this lcore's share */
	uint64_t tb_Bps;
	uint64_t tb_max_pkts;
	uint64_t tb_max_bytes;
	/* status histograms: the lcore fills one (each flow's RTT histogram
	 * merged as its window closes), the status thread reads the other
	 * (published by index) */
	struct pm_hist st_hist[2];
	uint32_t st_cur;
	uint32_t st_ready;		/* atomic: index readable, or 2 */
	uint32_t st_closes;		/* flow windows merged into st_cur */
	uint64_t st_switch_tsc;
	uint32_t done;			/* atomic: lcore finished draining */
	struct pm_trace trace;
	struct pm_flowset *pending;	/* atomic: a reload's flow set to take */
	struct pm_lcore_stats st;
	struct pm_record recbuf[PM_REC_MAX_PARTS];
} __rte_cache_aligned;

/* What a target needs at run time besides its config. */
struct pm_target_rt {
	struct rte_ether_addr mac;	/* next hop */
	uint8_t resolved;
	uint16_t frame_len;
};

/* Per-target totals kept by the export thread (for the table/telemetry). */
struct pm_target_tot {
	uint64_t sent;
	uint64_t received;
	uint64_t lost;
	uint64_t late;
	uint64_t dup;
	uint64_t reordered;
	uint64_t unmatched;
	struct pm_rec_stat rtt;
	struct pm_rec_stat refl;
	struct pm_hist hist;		/* network RTT, whole run (sparse) */
	uint8_t ts_tx;
	uint8_t ts_rx;
};

struct pm_prober;

struct pm_engine {
	const char *name;
	/* Build per-lcore state for the configured targets. */
	int (*init)(struct pm_prober *p);
	/* Per-lcore loop (rte_eal_remote_launch). */
	int (*lcore_main)(void *lc);
	/*
	 * Pinglist reload, control thread, lcores running: p->cfg.targets
	 * already holds the old targets at their indexes followed by the added
	 * ones from @t0; @gone[t] marks the old ones removed.  Hands each lcore
	 * its new flow set and waits for it to be taken.
	 */
	int (*reload)(struct pm_prober *p, uint32_t t0, const uint8_t *gone);
	void (*fini)(struct pm_prober *p);
};

extern const struct pm_engine pm_engine_stamp;
#ifdef PM_HAVE_RDMA
extern const struct pm_engine pm_engine_rdma;
#endif

struct pm_prober {
	struct pm_prober_cfg cfg;
	const struct pm_engine *engine;
	struct pm_port port;
	struct rte_mempool *mp;
	struct pm_target_rt *trt;
	struct pm_lcore *lc[PM_MAX_LCORES];
	uint16_t nlc;
	uint16_t sport_stride;		/* power of two >= nlc */
	uint8_t dispatch;		/* queue 0's lcore dispatches replies */
	uint32_t prober_id;
	uint64_t timeout_ticks;
	uint64_t timeout_ns;		/* the same: STAMP tracker slots hold ns */
	uint64_t stall_ticks;		/* PM_STALL_NS in TSC ticks */
	uint64_t stall_hold_ticks;	/* PM_STALL_HOLD_NS in TSC ticks */
	uint64_t sched_lead_ticks;	/* send-on-timestamp lead */
	uint16_t probe_ee;		/* Error Estimate of our t1 stamps */
	uint8_t rdma;			/* engine rdma: no DPDK port */
	char ts_note[96];		/* engine's timestamp sources, for the table */
	const char *ts_name;		/* its t1/t4 source in records (start event);
					 * NULL: the port's */
	uint32_t quit;			/* atomic: stop sending */
	uint32_t reload;		/* atomic: SIGHUP asked for a reload */
	uint32_t reloads;		/* reloads applied */
	uint8_t *tgone;			/* per target: removed by a reload */
	void *stale[4];			/* arrays replaced by the last reload, freed
					 * by the next (readers may hold them) */
	uint64_t flows_made;		/* flows set up so far (SSIDs, phases) */
	uint64_t quit_tsc;
	/* export */
	struct pm_sink sink;
	pthread_t export_thread;
	uint32_t export_quit;		/* atomic */
	pthread_mutex_t tot_lock;	/* guards tot (export vs telemetry) */
	struct pm_target_tot *tot;
	struct pm_hist_ent *tot_ent;
	uint64_t export_failed;
	uint64_t config_digest;		/* in the start and stop events */
	/* events (export thread) */
	uint64_t ev_sec;
	uint32_t ev_in_sec;
	uint64_t ev_suppressed;
	uint64_t ev_drop_ms;
	uint64_t ev_dropped_seen[RTE_MAX_LCORE];	/* ring drops reported, by lc idx */
	/* one event posted by the control thread for the export thread */
	uint32_t mail_len;		/* atomic: 0 empty */
	char mail_type[32];
	char mail[1024];
};

extern struct pm_prober pm_g;

/* engine_stamp.c: a flow's window summary to its lcore's export ring */
void pm_flow_emit(struct pm_lcore *lc, const struct pm_flow *f,
		  const struct pm_track_counts *c, const struct pm_rec_hdr *h,
		  uint16_t flags);

/* engine_stamp.c: the lcore's first window, from TSC @now */
void pm_lcore_win_start(struct pm_lcore *lc, uint64_t now);
/* engine_stamp.c: idle_sleep_us after empty turns; @next: TSC of the next
 * probe due (UINT64_MAX: none) */
void pm_lcore_idle(struct pm_lcore *lc, uint64_t now, uint64_t last_work, uint64_t next);
/* engine_stamp.c: a closed window's RTT histogram into the status one */
void pm_status_take(struct pm_lcore *lc, const struct pm_hist *rtt);
/* engine_stamp.c: publish the lcore's status histogram, start a new one
 * (only when a window closed since the last flip) */
void pm_status_flip(struct pm_lcore *lc);

/* export.c */
int pm_export_start(struct pm_prober *p);
void pm_export_stop(struct pm_prober *p);
void pm_export_print_table(struct pm_prober *p, FILE *out);
int pm_export_grow(struct pm_prober *p, uint32_t n, void *old[2]);
/** Have the export thread publish event @type with @fields (",\"k\":v..."). */
int pm_export_post(struct pm_prober *p, const char *type, const char *fields);

/* reload.c */
int pm_reload(struct pm_prober *p, const char *path);
void pm_reload_free(struct pm_prober *p);

/* status.c */
void pm_status_tick(struct pm_prober *p, double dt_s, int tty);
int pm_telemetry_register(void);
void pm_status_sink(struct pm_prober *p, FILE *out);
void pm_status_final(struct pm_prober *p, FILE *out);

static inline uint64_t
pm_ld(const uint64_t *v)
{
	return __atomic_load_n(v, __ATOMIC_RELAXED);
}

/* Counter bump by the owning lcore, visible to relaxed readers. */
#define PM_INC(lc, field, n)						\
	__atomic_store_n(&(lc)->st.field, (lc)->st.field + (n), __ATOMIC_RELAXED)

#endif /* PM_PROBER_H */
