/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * engine_rdma.c: the RDMA UD engine of pmesh-prober (prober.engine = "rdma").
 *
 * Probes are STAMP packets in RDMA UD sends (rdma/msg.c), so they never
 * touch the kernel.  Every flow owns one UD queue pair of ours: on RoCEv2
 * the RNIC derives the UDP source port from the QPN, so a target's flows
 * take different ECMP paths, as the DPDK engine's source ports do.  A
 * target is a pmesh-rdma reflector; its GID, LID and QPNs come from its
 * QPN exchange (rdma/xchg.c, UDP on the management network) at start, and
 * a flow sends to the reflector's QPNs round robin by flow index.  The
 * address handle of a flow carries the target's traffic class (dscp << 2)
 * and the service level of the rdma group.
 *
 * Timestamps, R-Pingmesh style: t1 is our send completion, t2 and t3 the
 * reflector's receive and send completions, t4 our receive completion,
 * each a CQE timestamp where the RNIC has them (PM_TS_HCA), else the TSC
 * when the completion was polled.  The reflector learns t3 only after its
 * reply left, so it sends it in a follow-up; rdma/followup.c joins the two
 * halves, and a probe whose follow-up does not come within the follow-up
 * timeout is recorded with its raw RTT only (flag no_refl_ts), never with
 * an invented t3.  Loss, late, duplicate and reordered replies go through
 * the same tracker (lib/track.c), and records through the same windows,
 * histograms, export ring and sinks as the DPDK engine, with engine
 * "rdma-ud" and sport/dport = the low 16 bits of our / the reflector's QPN.
 *
 * The lcores run on EAL threads (pinned by EAL's -l); there is no DPDK
 * port.  Per-lcore state is written only by its lcore; the data path does
 * no allocation, no logging and no syscall beyond the provider's own
 * doorbells and CQ polls.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_ring.h>

#include "pm_clock.h"
#include "pm_prober.h"
#include "pm_rdma_fu.h"
#include "pm_rdma_msg.h"
#include "pm_rdma_numa.h"
#include "pm_rdma_rt.h"
#include "pm_rdma_ud.h"
#include "pm_rdma_xchg.h"

#define PM_RDMA_NSEND		64	/* send slots per QP */
#define PM_RDMA_POLL		16	/* completions per poll */
#define PM_RDMA_FU_MAX_NS	200000000ULL	/* follow-up wait, at most */
#define PM_RDMA_CATCHUP		8	/* probes a flow may send per loop when late */
#define PM_RDMA_STALL		64	/* periods behind: skip ahead, count them */

/* One flow: a QP of ours towards one of the target's QPs. */
struct pm_rflow {
	struct pm_flow f;		/* tracker, window, histograms */
	struct pm_rdma_ud ud;
	struct ibv_ah *ah;
	uint32_t rqpn;			/* the reflector's QP; atomic: the peer
					 * watcher republishes it when the
					 * reflector restarts */
	uint32_t nslot;
	uint64_t *t1;			/* by seq & (nslot-1): send completion ns,
					 * 0 = not completed yet */
	struct pm_rdma_fu fu;		/* replies waiting for their t3 */
	uint8_t open;			/* ud is open */
};

/* A zeroed array of @n flows, aligned as struct pm_flow asks (a cache line:
 * calloc() gives 16 bytes); free() releases it. */
static struct pm_rflow *
pm_rflows_alloc(size_t n)
{
	void *a = NULL;

	if (n > SIZE_MAX / sizeof(struct pm_rflow) ||
	    posix_memalign(&a, _Alignof(struct pm_rflow), n * sizeof(struct pm_rflow)) != 0)
		return NULL;
	return memset(a, 0, n * sizeof(struct pm_rflow));
}

/* What one lcore owns besides struct pm_lcore. */
struct pm_rlc {
	struct pm_rflow *fl;
	uint32_t n;
	uint64_t fu_wait_ns;
	uint64_t no_t1;			/* reply before our send completion */
	uint64_t tx_err;		/* send completed in error */
	uint64_t unexpected;		/* a probe or stray type sent to us */
	uint64_t wrong_peer;		/* reply from a QPN not our target's */
	uint64_t rate_missed;		/* probes not sent: the loop fell behind */
	/* Our host delay per answered probe: post to send completion plus
	 * receive completion to poll (on one time line, HCA stamps being
	 * anchored to the TSC); what t1/t4 at completion keep out of RTT. */
	struct pm_rec_stat host;
	uint64_t host_n;
};

static struct pm_rlc pm_rlc[PM_MAX_LCORES];

/*
 * A pinglist reload's new flow array for one lcore.  The control thread
 * builds it (carried flows by index into the lcore's array, new ones with
 * their QPs already open) and publishes it in pm_rpending[lcore]; the
 * lcore takes it at the top of its loop -- copies the carried flows as
 * they are, marks those of removed targets retired, swaps the arrays --
 * and hands its old array back here.  Nothing is allocated, opened or
 * freed on the lcore.
 */
struct pm_rflowset {
	struct pm_rflow *fl;
	uint32_t n;
	int32_t *from;			/* index in the old array, -1: new */
	uint8_t *retire;		/* carried, its target removed */
	struct pm_rflow *old;		/* the lcore's old array, given back */
	uint32_t nold;			/* its length */
	uint8_t *carried;		/* by old index: carried over */
};

static struct pm_rflowset *pm_rpending[PM_MAX_LCORES];	/* atomic */
static struct ibv_port_attr pm_rpa;	/* our port, for AHs of new flows */
static int pm_rnode;			/* the RNIC's NUMA node, -1 unknown */
static struct pm_rdma_dev pm_rdev;
static struct pm_rdma_peer *pm_peer;	/* per target; nqpn 0: not probed */
static uint8_t pm_rts;			/* PM_TS_HCA or PM_TS_TSC, flow 0's */
static pthread_t pm_watch_tid;		/* the peer watcher (control side) */
static int pm_watch_on;
static uint32_t pm_watch_quit;		/* atomic */
static uint64_t pm_peer_restarts;

/* ---- records ---- */

static void
pm_rstat_reset(struct pm_rec_stat *s)
{
	s->min = UINT64_MAX;
	s->max = 0;
	s->sum = 0;
}

static void
pm_rstat_add(struct pm_rec_stat *s, uint64_t v)
{
	if (v < s->min)
		s->min = v;
	if (v > s->max)
		s->max = v;
	s->sum += v;
}

/* Close @rf's window: one summary (in parts) to the export ring. */
static void
pm_rdma_close(struct pm_lcore *lc, struct pm_rflow *rf, uint16_t flags)
{
	const struct pm_prober *p = &pm_g;
	struct pm_flow *f = &rf->f;
	const struct pm_target_cfg *t = &p->cfg.targets[f->target];
	struct pm_track_counts c;
	struct pm_rec_hdr h;

	pm_track_counts_take(&f->trk, &c);
	/* An empty window writes nothing -- except the last one of a target
	 * a reload removed: consumers learn that the flow ended. */
	if (c.sent == 0 && c.received == 0 && c.lost == 0 && c.late == 0 &&
	    c.dup == 0 && c.unmatched == 0 && c.stalled == 0 &&
	    !(f->retired && (flags & PM_REC_F_FINAL)))
		goto reset;
	memset(&h, 0, sizeof(h));
	h.schema = PM_REC_SCHEMA;
	h.kind = PM_REC_SUMMARY;
	h.engine = PM_ENGINE_RDMA_UD;
	h.flags = f->rflags | flags;
	h.prober_id = p->prober_id;
	h.lcore = (uint16_t)lc->lcore_id;
	h.seq = lc->rec_seq;
	h.window_start_ns = f->win * (uint64_t)p->cfg.window_ms * 1000000ULL;
	h.window_ms = p->cfg.window_ms;
	h.target = f->target;
	h.flow = f->fidx;
	h.af = 4;
	h.proto = IPPROTO_UDP;		/* RoCEv2; the ports are QPNs */
	h.dscp = t->dscp;
	h.ts_tx = rf->ud.ts_src;
	h.ts_rx = rf->ud.ts_src;
	h.ts_refl = f->refl.n == 0 && (f->rflags & PM_REC_F_NO_REFL_TS) ?
		    PM_TS_NONE : PM_TS_REMOTE;
	h.src = p->cfg.src_ip;
	h.dst = t->ip;
	h.sport = (uint16_t)pm_rdma_ud_qpn(&rf->ud);
	h.dport = (uint16_t)rf->rqpn;
	h.ssid = f->ssid;
	h.size = PM_RDMA_MSG_LEN;

	pm_flow_emit(lc, f, &c, &h, flags);
reset:
	pm_status_take(lc, &f->rtt);
	pm_hist_reset(&f->rtt);
	pm_hist_reset(&f->refl);
	pm_rstat_reset(&f->raw);
	pm_rstat_reset(&f->fwd);
	pm_rstat_reset(&f->bwd);
	pm_rstat_reset(&f->host);
	f->host_n = 0;
	f->rflags = 0;
	f->win = lc->win;
}

static inline void
pm_rdma_roll(struct pm_lcore *lc, struct pm_rflow *rf)
{
	if (unlikely(rf->f.win != lc->win))
		pm_rdma_close(lc, rf, 0);
}

/* A probe is complete (with or without t3): its times go to the window. */
static void
pm_rdma_sample(struct pm_lcore *lc, struct pm_rflow *rf,
	       const struct pm_rdma_fu_done *d)
{
	struct pm_flow *f = &rf->f;
	uint64_t raw, refl, net;

	pm_rdma_roll(lc, rf);
	if (d->t4 < d->t1) {
		PM_INC(lc, refl_anomaly, 1);
		return;
	}
	raw = d->t4 - d->t1;
	pm_rstat_add(&f->raw, raw);
	if (!d->has_t3) {
		f->rflags |= PM_REC_F_NO_REFL_TS;
		return;
	}
	refl = pm_rdma_fu_refl_delay(d);
	net = pm_rdma_fu_net_rtt(d);
	if (d->t3 < d->t2 || refl > raw) {
		/* The reflector's host delay cannot exceed the round trip. */
		PM_INC(lc, refl_anomaly, 1);
		f->rflags |= PM_REC_F_NO_REFL_TS;
		return;
	}
	pm_hist_add(&f->rtt, net);
	pm_hist_add(&f->refl, refl);
}

/* ---- data path ---- */

static void
pm_rdma_send(struct pm_lcore *lc, struct pm_rflow *rf, uint64_t now)
{
	struct pm_flow *f = &rf->f;
	struct pm_rdma_msg m;
	uint32_t seq = f->trk.next_seq;
	int64_t s;

	if (f->trk.slot[seq & f->trk.mask].state == PM_SLOT_OUTSTANDING) {
		/* Its slot still in flight: the tracker counts it as stalled. */
		(void)pm_track_send(&f->trk, now);
		PM_INC(lc, stalled, 1);
		return;
	}
	memset(&m, 0, sizeof(m));
	m.type = PM_RDMA_MSG_PROBE;
	m.ssid = f->ssid;
	m.seq = seq;
	m.t1 = pm_tclock_ns(&pm_tsc, now);
	if (pm_rdma_ud_send(&rf->ud, rf->ah,
			    __atomic_load_n(&rf->rqpn, __ATOMIC_RELAXED), &m,
			    ((uint64_t)seq << 8) | 1) != 0) {
		PM_INC(lc, tx_full, 1);
		return;
	}
	s = pm_track_send(&f->trk, now);
	(void)s;
	rf->t1[seq & (rf->nslot - 1)] = 0;
	PM_INC(lc, tx_pkts, 1);
	PM_INC(lc, tx_bytes, PM_RDMA_MSG_LEN);
}

static void
pm_rdma_reply(struct pm_lcore *lc, struct pm_rflow *rf, const struct pm_rdma_ev *ev,
	      uint64_t now_ns)
{
	struct pm_rlc *r = &pm_rlc[lc->idx];
	struct pm_flow *f = &rf->f;
	struct pm_rdma_fu_done d;
	uint64_t t1, post_tsc, post_ns, poll_ns, host = 0;
	int rc;

	pm_rdma_roll(lc, rf);
	switch (pm_track_reply(&f->trk, ev->msg.seq, &post_tsc)) {
	case PM_TRK_RECEIVED:
		PM_INC(lc, replies, 1);
		break;
	case PM_TRK_REORDERED:
		PM_INC(lc, replies, 1);
		PM_INC(lc, reordered, 1);
		break;
	case PM_TRK_DUP:
		PM_INC(lc, dup, 1);
		return;
	case PM_TRK_LATE:
		PM_INC(lc, late, 1);
		return;
	default:
		PM_INC(lc, unmatched, 1);
		return;
	}
	t1 = rf->t1[ev->msg.seq & (rf->nslot - 1)];
	if (t1 == 0) {
		/* Our send completion has not been polled: no t1 to trust. */
		r->no_t1++;
		f->rflags |= PM_REC_F_NO_REFL_TS;
		return;
	}
	post_ns = pm_tclock_ns(&pm_tsc, post_tsc);
	poll_ns = pm_tclock_ns(&pm_tsc, ev->tsc);
	if (t1 > post_ns)
		host += t1 - post_ns;
	if (poll_ns > ev->ts_ns)
		host += poll_ns - ev->ts_ns;
	pm_rstat_add(&r->host, host);
	r->host_n++;
	pm_rstat_add(&f->host, host);
	f->host_n++;
	rc = pm_rdma_fu_reply(&rf->fu, ev->msg.seq, f->fidx, t1, ev->msg.t2,
			      ev->ts_ns, now_ns + r->fu_wait_ns, &d);
	if (rc != 0)
		pm_rdma_sample(lc, rf, &d);
}

static void
pm_rdma_followup(struct pm_lcore *lc, struct pm_rflow *rf, const struct pm_rdma_ev *ev,
		 uint64_t now_ns)
{
	struct pm_rlc *r = &pm_rlc[lc->idx];
	struct pm_rdma_fu_done d;

	if (pm_rdma_fu_t3(&rf->fu, ev->msg.seq, ev->msg.t3,
			  now_ns + r->fu_wait_ns, &d) != 0)
		pm_rdma_sample(lc, rf, &d);
}

static unsigned int
pm_rdma_rx(struct pm_lcore *lc, struct pm_rflow *rf, uint64_t now_ns)
{
	struct pm_rlc *r = &pm_rlc[lc->idx];
	struct pm_rdma_ev ev[PM_RDMA_POLL];
	unsigned int n, i;
	uint32_t seq;

	n = pm_rdma_ud_poll(&rf->ud, ev, PM_RDMA_POLL);
	for (i = 0; i < n; i++) {
		switch (ev[i].kind) {
		case PM_RDMA_EV_TX:
			seq = (uint32_t)(ev[i].wr_id >> 8);
			rf->t1[seq & (rf->nslot - 1)] = ev[i].ts_ns ? ev[i].ts_ns : 1;
			break;
		case PM_RDMA_EV_TX_ERR:
			/* Never left: the tracker declares it lost after the
			 * timeout, as any unanswered probe. */
			r->tx_err++;
			break;
		case PM_RDMA_EV_RX:
			PM_INC(lc, rx_pkts, 1);
			if (ev[i].msg.ssid != rf->f.ssid) {
				PM_INC(lc, unknown_flow, 1);
				break;
			}
			if (ev[i].src_qp != __atomic_load_n(&rf->rqpn,
							    __ATOMIC_RELAXED)) {
				r->wrong_peer++;
				PM_INC(lc, unknown_flow, 1);
				break;
			}
			if (ev[i].msg.type == PM_RDMA_MSG_REPLY)
				pm_rdma_reply(lc, rf, &ev[i], now_ns);
			else if (ev[i].msg.type == PM_RDMA_MSG_FOLLOWUP)
				pm_rdma_followup(lc, rf, &ev[i], now_ns);
			else
				r->unexpected++;
			break;
		default:
			break;
		}
	}
	return n;
}

/* Losses, stale windows and follow-ups that will not come, for one flow. */
static void
pm_rdma_sweep(struct pm_lcore *lc, struct pm_rflow *rf, uint64_t now, uint64_t now_ns)
{
	struct pm_rdma_fu_done d[8];
	unsigned int n, i;
	uint32_t lost;

	if (rf->f.retired)
		return;
	n = pm_rdma_fu_expire(&rf->fu, now_ns, d, RTE_DIM(d));
	for (i = 0; i < n; i++)
		pm_rdma_sample(lc, rf, &d[i]);
	pm_rdma_roll(lc, rf);
	lost = pm_track_sweep(&rf->f.trk, now, pm_g.timeout_ticks);
	if (lost)
		PM_INC(lc, lost, lost);
}

/* A flow's last window: what still waits for a follow-up is complete, what
 * is in flight is lost, the summary is final. */
static void
pm_rdma_final(struct pm_lcore *lc, struct pm_rflow *rf, uint64_t now_ns)
{
	struct pm_rdma_fu_done d[8];
	unsigned int n, j, lost;

	pm_rdma_rx(lc, rf, now_ns);
	while ((n = pm_rdma_fu_expire(&rf->fu, UINT64_MAX, d, RTE_DIM(d))) > 0)
		for (j = 0; j < n; j++)
			pm_rdma_sample(lc, rf, &d[j]);
	pm_rdma_roll(lc, rf);
	lost = pm_track_expire_all(&rf->f.trk);
	if (lost)
		PM_INC(lc, lost, lost);
	pm_rdma_close(lc, rf, PM_REC_F_FINAL);
}

/* Take a reload's flow set (struct pm_rflowset). */
static void
pm_rdma_take(struct pm_lcore *lc, struct pm_rlc *r, struct pm_rflowset *ns,
	     uint64_t now)
{
	uint32_t i;

	for (i = 0; i < ns->n; i++) {
		struct pm_rflow *rf = &ns->fl[i];

		if (ns->from[i] >= 0) {
			*rf = r->fl[ns->from[i]];
			if (ns->retire[i] && rf->f.retired == 0) {
				rf->f.retired = 1;
				rf->f.retire_tsc = now;
			}
		} else {
			rf->f.win = lc->win;
			rf->f.next_tsc += now;
		}
	}
	ns->old = r->fl;
	r->fl = ns->fl;
	__atomic_store_n(&r->n, ns->n, __ATOMIC_RELAXED);
	__atomic_store_n(&pm_rpending[lc->idx], NULL, __ATOMIC_RELEASE);
}

/* The TSC when the next probe of @r's flows is due; UINT64_MAX: none. */
static uint64_t
pm_rdma_next_due(const struct pm_rlc *r)
{
	uint64_t next = UINT64_MAX;
	uint32_t i;

	for (i = 0; i < r->n; i++)
		if (!r->fl[i].f.retired && r->fl[i].f.next_tsc < next)
			next = r->fl[i].f.next_tsc;
	return next;
}

static int
pm_rdma_lcore(void *arg)
{
	struct pm_lcore *lc = arg;
	struct pm_rlc *r = &pm_rlc[lc->idx];
	const struct pm_prober *p = &pm_g;
	uint64_t now, now_ns, drain_end = 0, st_ticks, last_work;
	uint32_t i, k, sweep = 0, idle = 0, work;
	int quitting = 0;

	now = rte_rdtsc();
	pm_lcore_win_start(lc, now);
	now_ns = pm_tclock_ns(&pm_tsc, now);
	for (i = 0; i < r->n; i++) {
		r->fl[i].f.win = lc->win;
		r->fl[i].f.next_tsc += now;
	}
	st_ticks = pm_tclock_ticks(&pm_tsc, (uint64_t)p->cfg.status_ms * 1000000ULL);
	lc->st_switch_tsc = now + st_ticks;
	last_work = now;

	for (;;) {
		now = rte_rdtsc();
		now_ns = pm_tclock_ns(&pm_tsc, now);
		work = 0;
		if (unlikely(__atomic_load_n(&pm_rpending[lc->idx], __ATOMIC_ACQUIRE) !=
			     NULL) && !quitting) {
			pm_rdma_take(lc, r, pm_rpending[lc->idx], now);
			sweep = 0;
		}
		if (now >= lc->win_end_tsc) {
			lc->win++;
			lc->win_end_tsc += lc->win_ticks;
		}
		if (!quitting && __atomic_load_n(&pm_g.quit, __ATOMIC_RELAXED)) {
			quitting = 1;
			drain_end = now + p->timeout_ticks;
		}
		for (i = 0; i < r->n; i++) {
			struct pm_rflow *rf = &r->fl[i];

			if (unlikely(rf->f.retired)) {
				/* Its target was removed by a reload: no more
				 * probes; replies for the timeout, then the
				 * final summary. */
				if (rf->f.retired == 1) {
					pm_rdma_rx(lc, rf, now_ns);
					if (now - rf->f.retire_tsc >= p->timeout_ticks) {
						pm_rdma_final(lc, rf, now_ns);
						__atomic_store_n(&rf->f.retired, 2,
								 __ATOMIC_RELEASE);
					}
				}
				continue;
			}
			/* Catch up a slow loop by a few probes at a time; a
			 * stall of many periods is skipped, never burst, and
			 * the probes it cost are counted (rate_missed). */
			for (k = 0; !quitting && k < PM_RDMA_CATCHUP &&
			     now >= rf->f.next_tsc; k++) {
				pm_rdma_roll(lc, rf);
				pm_rdma_send(lc, rf, now);
				rf->f.next_tsc += rf->f.period;
				work++;
			}
			if (!quitting && rf->f.next_tsc + PM_RDMA_STALL * rf->f.period < now) {
				r->rate_missed += (now - rf->f.next_tsc) / rf->f.period;
				rf->f.next_tsc = now + rf->f.period;
			}
			work += pm_rdma_rx(lc, rf, now_ns);
		}
		if (r->n) {
			pm_rdma_sweep(lc, &r->fl[sweep], now, now_ns);
			if (++sweep == r->n)
				sweep = 0;
		}
		if (now >= lc->st_switch_tsc) {
			pm_status_flip(lc);
			lc->st_switch_tsc += st_ticks;
		}
		if (quitting && now >= drain_end)
			break;
		if (work) {
			idle = 0;
			last_work = now;
		} else if (p->cfg.idle_sleep_us && ++idle > 64) {
			pm_lcore_idle(lc, now, last_work, pm_rdma_next_due(r));
		}
	}
	for (i = 0; i < r->n; i++)
		if (r->fl[i].f.retired != 2)
			pm_rdma_final(lc, &r->fl[i], now_ns);
	pm_status_flip(lc);
	__atomic_store_n(&lc->done, 1, __ATOMIC_RELEASE);
	return 0;
}

/* ---- init / fini ---- */

static void
pm_fmt_gid(const uint8_t g[16], char *buf, size_t cap)
{
	snprintf(buf, cap, "%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:"
		 "%02x%02x:%02x%02x", g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7],
		 g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
}

/* Ask the reflectors of targets @t0.. for their QPNs (pm_peer has room);
 * mark the ones that answered probed.  The number that answered. */
static uint32_t
pm_rdma_peers_from(struct pm_prober *p, uint32_t t0)
{
	const struct pm_rdma_cfg *rc = &p->cfg.rdma;
	uint32_t t, ok = 0;
	char ip[16], gid[48];
	int ret;

	for (t = t0; t < p->cfg.ntargets; t++) {
		const struct pm_target_cfg *tc = &p->cfg.targets[t];
		uint16_t port = tc->port_dflt ? rc->xchg_port : tc->port;

		ret = pm_rdma_xchg_query(tc->ip, port, rc->xchg_timeout_ms, &pm_peer[t]);
		if (ret != 0 || pm_peer[t].nqpn == 0) {
			PM_LOG(WARNING, "target %s: no QPNs from a pmesh-rdma reflector at "
			       "%s:%u (%s): not probed", tc->name,
			       pm_cfg_fmt_ipv4(tc->ip, ip), port,
			       ret ? strerror(-ret) : "it has no QP");
			pm_peer[t].nqpn = 0;
			continue;
		}
		pm_fmt_gid(pm_peer[t].gid, gid, sizeof(gid));
		PM_LOG(INFO, "target %s: %s GID %s LID %u, %u QPs", tc->name,
		       pm_peer[t].dev, gid, pm_peer[t].lid, pm_peer[t].nqpn);
		ok++;
	}
	/* "resolved": probed (the exit table and telemetry). */
	for (t = t0; t < p->cfg.ntargets; t++)
		p->trt[t].resolved = pm_peer[t].nqpn != 0;
	return ok;
}

/* Ask every target's reflector for its QPNs.  0 if at least one answered. */
static int
pm_rdma_peers(struct pm_prober *p)
{
	pm_peer = calloc(p->cfg.ntargets ? p->cfg.ntargets : 1, sizeof(*pm_peer));
	if (pm_peer == NULL)
		return -ENOMEM;
	return pm_rdma_peers_from(p, 0) ? 0 : -EHOSTUNREACH;
}

static uint32_t
pm_rpow2(uint64_t v)
{
	uint32_t r = 8;

	while (r < v && r < (1u << 20))
		r <<= 1;
	return r;
}

static int
pm_rdma_flow_open(struct pm_prober *p, struct pm_rflow *rf, uint32_t t, uint32_t fidx,
		  uint32_t ssid, const struct ibv_port_attr *pa, int node)
{
	const struct pm_rdma_cfg *rc = &p->cfg.rdma;
	const struct pm_target_cfg *tc = &p->cfg.targets[t];
	const struct pm_rdma_peer *pe = &pm_peer[t];
	struct pm_flow *f = &rf->f;
	struct ibv_ah_attr aa;
	struct pm_track_slot *slots;
	uint32_t *hc;
	uint64_t rate, timeout_ns;
	const char *what = "";
	int ret;

	rate = (tc->rate_pps + tc->flows - 1) / tc->flows;
	timeout_ns = (uint64_t)p->cfg.timeout_ms * 1000000ULL;
	rf->nslot = pm_rpow2(pm_track_slots_for(rate ? rate : 1, timeout_ns));
	slots = calloc(rf->nslot, sizeof(*slots));
	rf->t1 = calloc(rf->nslot, sizeof(*rf->t1));
	hc = calloc(2 * (size_t)PM_HIST_NBUCKETS, sizeof(*hc));
	if (slots == NULL || rf->t1 == NULL || hc == NULL) {
		free(slots);
		free(hc);
		return -ENOMEM;
	}
	pm_track_init(&f->trk, slots, rf->nslot, 0);
	pm_hist_init_dense(&f->rtt, hc);
	pm_hist_init_dense(&f->refl, hc + PM_HIST_NBUCKETS);
	pm_rstat_reset(&f->raw);
	pm_rstat_reset(&f->fwd);
	pm_rstat_reset(&f->bwd);
	pm_rstat_reset(&f->host);
	ret = pm_rdma_fu_init(&rf->fu, rf->nslot);
	if (ret != 0)
		return ret;
	f->target = t;
	f->fidx = (uint16_t)fidx;
	f->ssid = (uint16_t)ssid;
	f->peer_ip = tc->ip;
	f->period = pm_tsc.hz / (rate ? rate : 1);
	/* Phase-spread the flows over one period. */
	f->next_tsc = (f->period * ((ssid * 2654435761u) >> 16)) >> 16;

	ret = pm_rdma_ud_open_node(&rf->ud, pm_rdev.ctx, (uint8_t)rc->port, rc->recv_depth,
				   PM_RDMA_NSEND, rc->hw_timestamps ? 0 :
				   PM_RDMA_UD_F_NO_HWTS, &pm_tsc, node, &what);
	if (ret != 0) {
		PM_LOG(ERR, "%s port %u: %s failed: %s (QP for target %s flow %u; check "
		       "ulimit -l for locked memory and the device's QP limits)",
		       pm_rdev.name, rc->port, what,
		       strerror(-ret), tc->name, fidx);
		return -EINVAL;	/* the RNIC's limits or ours: exit 2 */
	}
	rf->open = 1;
	rf->rqpn = pe->qpn[fidx % pe->nqpn];
	memset(&aa, 0, sizeof(aa));
	aa.port_num = (uint8_t)rc->port;
	aa.sl = (uint8_t)rc->sl;
	aa.dlid = pe->lid;
	if (pa->link_layer == IBV_LINK_LAYER_ETHERNET || pe->link_layer ==
	    IBV_LINK_LAYER_ETHERNET || pe->lid == 0) {
		aa.is_global = 1;
		memcpy(aa.grh.dgid.raw, pe->gid, 16);
		aa.grh.sgid_index = (uint8_t)rc->gid_index;
		aa.grh.hop_limit = 64;
		aa.grh.traffic_class = (uint8_t)(tc->dscp << 2);
	}
	rf->ah = ibv_create_ah(rf->ud.pd, &aa);
	if (rf->ah == NULL) {
		ret = errno ? -errno : -EINVAL;
		PM_LOG(ERR, "%s port %u: ibv_create_ah for target %s failed: %s (GID index "
		       "%u right for this network? RoCEv2 wants the IPv4 v2 GID)",
		       pm_rdev.name, rc->port, tc->name,
		       strerror(-ret), rc->gid_index);
		return -EINVAL;
	}
	return 0;
}

/*
 * The peer watcher: a control thread that asks every probed reflector for
 * its QPNs every couple of seconds.  A reflector that restarted has a new
 * boot id and new QPNs; without this its flows would send to QPs that no
 * longer exist and report 100 % loss until pmesh-prober restarts.  The new
 * QPNs are published to the flows with atomic stores (the lcores load
 * them per send and per reply); probes in flight to the old QPs are lost,
 * as they are.  A reflector that now answers with another GID or LID needs
 * new address handles: said once, not applied (restart pmesh-prober).
 */
static void *
pm_rdma_watch(void *arg)
{
	struct pm_prober *p = arg;
	const struct pm_rdma_cfg *rc = &p->cfg.rdma;
	struct pm_rdma_peer np;
	char fields[160];
	uint32_t t, i, j;
	int k;

	for (;;) {
		for (k = 0; k < 20; k++) {
			if (__atomic_load_n(&pm_watch_quit, __ATOMIC_RELAXED))
				return NULL;
			usleep(100000);
		}
		for (t = 0; t < p->cfg.ntargets; t++) {
			const struct pm_target_cfg *tc = &p->cfg.targets[t];
			uint16_t port = tc->port_dflt ? rc->xchg_port : tc->port;
			uint32_t moved = 0;

			if (pm_peer[t].nqpn == 0 ||
			    __atomic_load_n(&pm_watch_quit, __ATOMIC_RELAXED))
				continue;
			if (pm_rdma_xchg_query(tc->ip, port, rc->xchg_timeout_ms,
					       &np) != 0 || np.nqpn == 0 ||
			    np.boot_id == pm_peer[t].boot_id)
				continue;
			if (memcmp(np.gid, pm_peer[t].gid, 16) != 0 ||
			    np.lid != pm_peer[t].lid) {
				PM_LOG(WARNING, "target %s: its reflector restarted with "
				       "another GID or LID: restart pmesh-prober to "
				       "probe it again", tc->name);
				pm_peer[t].boot_id = np.boot_id;
				continue;
			}
			for (i = 0; i < PM_MAX_LCORES; i++)
				for (j = 0; j < pm_rlc[i].n; j++) {
					struct pm_rflow *rf = &pm_rlc[i].fl[j];

					if (rf->f.target != t)
						continue;
					__atomic_store_n(&rf->rqpn,
							 np.qpn[rf->f.fidx % np.nqpn],
							 __ATOMIC_RELAXED);
					moved++;
				}
			pm_peer[t] = np;
			pm_peer_restarts++;
			PM_LOG(WARNING, "target %s: its reflector restarted (new boot id): "
			       "%u flows now probe its %u new QPs", tc->name, moved,
			       np.nqpn);
			snprintf(fields, sizeof(fields), ",\"target\":%u,\"qps\":%u,"
				 "\"flows\":%u", t, np.nqpn, moved);
			pm_export_post(p, "rdma_peer_restart", fields);
		}
	}
}

static void
pm_rdma_watch_start(struct pm_prober *p)
{
	int ret;

	__atomic_store_n(&pm_watch_quit, 0, __ATOMIC_RELAXED);
	ret = pthread_create(&pm_watch_tid, NULL, pm_rdma_watch, p);
	if (ret != 0)
		PM_LOG(WARNING, "no peer watcher (%s): a reflector that restarts will "
		       "not be followed", strerror(ret));
	else
		pm_watch_on = 1;
}

static void
pm_rdma_watch_stop(void)
{
	if (!pm_watch_on)
		return;
	__atomic_store_n(&pm_watch_quit, 1, __ATOMIC_RELAXED);
	pthread_join(pm_watch_tid, NULL);
	pm_watch_on = 0;
}

static int
pm_rdma_init(struct pm_prober *p)
{
	const struct pm_rdma_cfg *rc = &p->cfg.rdma;
	uint32_t cnt[PM_MAX_LCORES] = { 0 }, t, f, j, g = 0;
	struct ibv_port_attr pa;
	union ibv_gid gid;
	unsigned int lid, idx = 0;
	struct pm_lcore *lc;
	char name[RTE_RING_NAMESIZE], gbuf[48];
	uint32_t *hist;
	int ret, node;

	/* Wrong device, port or GID: a message naming them, exit 2. */
	ret = pm_rdma_dev_open(&pm_rdev, rc->device[0] ? rc->device : NULL,
			       (int)rc->port, (int)rc->gid_index);
	if (ret != 0)
		return ret == -ENODEV || ret == -ENETDOWN ? ret : -EINVAL;
	if (ibv_query_port(pm_rdev.ctx, pm_rdev.port, &pa) != 0)
		return -EIO;
	gid = pm_rdev.gid;
	node = pm_rdev.numa_node;
	pm_rpa = pa;
	pm_rnode = node;
	RTE_LCORE_FOREACH_WORKER(lid)
		if (node >= 0 && rte_lcore_to_socket_id(lid) != (unsigned int)node)
			PM_LOG(WARNING, "lcore %u is on socket %u, %s on NUMA node %d: "
			       "pick lcores of node %d with -l for the shortest path",
			       lid, rte_lcore_to_socket_id(lid), pm_rdev.name, node, node);
	pm_fmt_gid(gid.raw, gbuf, sizeof(gbuf));
	PM_LOG(INFO, "%s port %u (%s), GID %u %s", pm_rdev.name,
	       rc->port, pa.link_layer == IBV_LINK_LAYER_ETHERNET ? "RoCE" : "InfiniBand",
	       rc->gid_index, gbuf);
	ret = pm_rdma_peers(p);
	if (ret != 0) {
		PM_LOG(ERR, "no target's reflector told its QPNs: nothing to probe (is "
		       "pmesh-rdma reflector running there, and UDP port %u open?)",
		       rc->xchg_port);
		return ret;
	}
	for (t = 0; t < p->cfg.ntargets; t++) {
		if (pm_peer[t].nqpn)
			for (f = 0; f < p->cfg.targets[t].flows; f++)
				cnt[(t + f) % p->nlc]++;
	}
	RTE_LCORE_FOREACH_WORKER(lid) {
		if (idx >= p->nlc)
			break;
		lc = rte_zmalloc_socket("pm_lcore", sizeof(*lc), RTE_CACHE_LINE_SIZE,
					rte_lcore_to_socket_id(lid));
		if (lc == NULL)
			return -ENOMEM;
		p->lc[idx] = lc;
		lc->lcore_id = lid;
		lc->idx = (uint16_t)idx;
		lc->st_ready = 2;
		lc->rec_seq = (uint64_t)(pm_clock_realtime_ns() / 1000000000ULL) << 20;
		hist = calloc(2 * (size_t)PM_HIST_NBUCKETS, sizeof(*hist));
		pm_rlc[idx].fl = pm_rflows_alloc(cnt[idx] + 1);
		if (hist == NULL || pm_rlc[idx].fl == NULL) {
			free(hist);
			return -ENOMEM;
		}
		pm_hist_init_dense(&lc->st_hist[0], hist);
		pm_hist_init_dense(&lc->st_hist[1], hist + PM_HIST_NBUCKETS);
		pm_rstat_reset(&pm_rlc[idx].host);
		pm_rlc[idx].fu_wait_ns = RTE_MIN((uint64_t)p->cfg.timeout_ms * 1000000ULL,
						 PM_RDMA_FU_MAX_NS);
		snprintf(name, sizeof(name), "pm_rec_%u", idx);
		lc->rec_ring = rte_ring_create_elem(name, sizeof(struct pm_record),
			p->cfg.export_ring ? pm_rpow2(RTE_MAX(p->cfg.export_ring, 4u)) :
			pm_rpow2(RTE_MAX(1024u, RTE_MIN(cnt[idx] * 2u, 65536u))),
			(int)rte_lcore_to_socket_id(lid), RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (lc->rec_ring == NULL) {
			PM_LOG(ERR, "record ring for lcore %u: %s", lid,
			       rte_strerror(rte_errno));
			return -rte_errno;
		}
		idx++;
	}
	for (t = 0; t < p->cfg.ntargets; t++) {
		if (pm_peer[t].nqpn == 0)
			continue;
		for (f = 0; f < p->cfg.targets[t].flows; f++, g++) {
			struct pm_rlc *r;

			j = (t + f) % p->nlc;
			r = &pm_rlc[j];
			ret = pm_rdma_flow_open(p, &r->fl[r->n], t, f, (g + 1) & 0xffff, &pa,
						node);
			r->n++;
			if (ret != 0)
				return ret;
		}
	}
	p->flows_made = g;
	pm_rts = pm_rlc[0].n ? pm_rlc[0].fl[0].ud.ts_src : PM_TS_TSC;
	p->ts_name = pm_rts == PM_TS_HCA ? "hca" : "tsc";
	snprintf(p->ts_note, sizeof(p->ts_note), "t1/t4 %s (%s)",
		 pm_rts == PM_TS_HCA ? "RNIC CQE timestamps" : "TSC at poll",
		 pm_rts == PM_TS_HCA ? "completion_timestamp_mask set" :
		 (pm_rlc[0].n && pm_rlc[0].fl[0].ud.ts_why ? pm_rlc[0].fl[0].ud.ts_why :
		  "no CQE timestamps"));
	PM_LOG(INFO, "%" PRIu32 " flows (one QP each) over %u lcores; timestamps: %s",
	       g, p->nlc, p->ts_note);
	pm_rdma_watch_start(p);
	return 0;
}

/* Close and free one flow's resources (control thread). */
static void
pm_rdma_flow_free(struct pm_rflow *rf)
{
	if (rf->ah != NULL)
		ibv_destroy_ah(rf->ah);
	if (rf->open)
		pm_rdma_ud_close(&rf->ud);
	pm_rdma_fu_fini(&rf->fu);
	free(rf->f.trk.slot);
	free(rf->f.rtt.counts);
	free(rf->t1);
	memset(rf, 0, sizeof(*rf));
}

/* Free a flow set; @untaken: its new flows never reached an lcore (close
 * them too).  Carried flows belong to the lcore's array. */
static void
pm_rdma_set_free(struct pm_rflowset *ns, int untaken)
{
	uint32_t i;

	if (ns == NULL)
		return;
	if (untaken)
		for (i = 0; i < ns->n; i++)
			if (ns->from[i] < 0)
				pm_rdma_flow_free(&ns->fl[i]);
	if (untaken) {
		free(ns->fl);
	} else {
		/* Taken: the old array's flows that were not carried over
		 * (final already) are closed; the carried ones live on. */
		for (i = 0; ns->old != NULL && i < ns->nold; i++)
			if (!ns->carried[i])
				pm_rdma_flow_free(&ns->old[i]);
	}
	free(ns->old);
	free(ns->carried);
	free(ns->from);
	free(ns->retire);
	free(ns);
}

/*
 * Pinglist reload, control thread, lcores running.  p->cfg.targets holds
 * the old targets at their indexes, then the added ones from @t0; @gone
 * marks the removed.  Each lcore gets a new flow array: its flows carried
 * over (those of removed targets retire: no more probes, replies for the
 * timeout, then a final summary), those already final dropped, and the
 * added targets' flows with their QPs and AHs opened here.  The peer
 * watcher pauses meanwhile (it reads the target and flow arrays).
 */
static int
pm_rdma_reload(struct pm_prober *p, uint32_t t0, const uint8_t *gone)
{
	struct pm_rflowset *set[PM_MAX_LCORES] = { NULL };
	uint32_t cnt[PM_MAX_LCORES] = { 0 }, n = p->cfg.ntargets, t, f, j, i, g;
	struct pm_rdma_peer *np;
	uint64_t t_end;
	int ret = 0;

	pm_rdma_watch_stop();
	np = realloc(pm_peer, sizeof(*np) * (n ? n : 1));
	if (np == NULL) {
		ret = -ENOMEM;
		goto out;
	}
	pm_peer = np;
	if (n > t0)
		memset(&pm_peer[t0], 0, sizeof(*np) * (n - t0));
	pm_rdma_peers_from(p, t0);
	for (t = t0; t < n; t++)
		if (pm_peer[t].nqpn)
			for (f = 0; f < p->cfg.targets[t].flows; f++)
				cnt[(t + f) % p->nlc]++;
	/* Build every lcore's set before publishing any: a failure then
	 * changes nothing. */
	for (j = 0; j < p->nlc; j++) {
		struct pm_rlc *r = &pm_rlc[j];
		uint32_t k = 0;

		set[j] = calloc(1, sizeof(*set[j]));
		if (set[j] == NULL) {
			ret = -ENOMEM;
			goto fail;
		}
		set[j]->fl = pm_rflows_alloc((size_t)r->n + cnt[j] + 1);
		set[j]->from = calloc((size_t)r->n + cnt[j] + 1, sizeof(int32_t));
		set[j]->retire = calloc((size_t)r->n + cnt[j] + 1, 1);
		set[j]->carried = calloc((size_t)r->n + 1, 1);
		set[j]->nold = r->n;
		if (set[j]->fl == NULL || set[j]->from == NULL || set[j]->retire == NULL ||
		    set[j]->carried == NULL) {
			ret = -ENOMEM;
			goto fail;
		}
		for (i = 0; i < r->n; i++) {
			if (__atomic_load_n(&r->fl[i].f.retired, __ATOMIC_ACQUIRE) == 2)
				continue;	/* final: freed once the set is taken */
			set[j]->from[k] = (int32_t)i;
			set[j]->carried[i] = 1;
			set[j]->retire[k] = gone[r->fl[i].f.target];
			k++;
		}
		set[j]->n = k;
	}
	g = (uint32_t)p->flows_made;
	for (t = t0; t < n; t++) {
		if (pm_peer[t].nqpn == 0)
			continue;
		for (f = 0; f < p->cfg.targets[t].flows; f++, g++) {
			struct pm_rflowset *ns = set[(t + f) % p->nlc];

			ns->from[ns->n] = -1;
			ret = pm_rdma_flow_open(p, &ns->fl[ns->n], t, f, (g + 1) & 0xffff,
						&pm_rpa, pm_rnode);
			ns->n++;
			if (ret != 0)
				goto fail;
		}
	}
	p->flows_made = g;
	for (j = 0; j < p->nlc; j++)
		__atomic_store_n(&pm_rpending[j], set[j], __ATOMIC_RELEASE);
	/* Wait for the lcores to take their sets (they do at their next loop
	 * turn); one that stopped meanwhile never will. */
	t_end = pm_clock_monoraw_ns() + 5000000000ULL;
	for (j = 0; j < p->nlc; j++) {
		while (__atomic_load_n(&pm_rpending[j], __ATOMIC_ACQUIRE) != NULL &&
		       !__atomic_load_n(&p->lc[j]->done, __ATOMIC_ACQUIRE) &&
		       pm_clock_monoraw_ns() < t_end)
			usleep(1000);
		if (__atomic_exchange_n(&pm_rpending[j], NULL, __ATOMIC_ACQ_REL) != NULL) {
			/* Not taken: its new flows are closed, the lcore keeps
			 * its flows. */
			PM_LOG(WARNING, "reload: lcore %u did not take its new flows",
			       p->lc[j]->lcore_id);
			pm_rdma_set_free(set[j], 1);
			set[j] = NULL;
			ret = -ETIMEDOUT;
			continue;
		}
	}
	for (j = 0; j < p->nlc; j++)
		pm_rdma_set_free(set[j], 0);
	goto out;
fail:
	for (j = 0; j < p->nlc; j++)
		pm_rdma_set_free(set[j], 1);
out:
	pm_rdma_watch_start(p);
	return ret;
}

static void
pm_rdma_fini(struct pm_prober *p)
{
	uint64_t rx_bad[PM_RDMA_MSG_CAUSE_MAX] = { 0 }, wc_err = 0, post_err = 0, busy = 0;
	unsigned int i, k;
	uint32_t j;

	pm_rdma_watch_stop();
	for (i = 0; i < PM_MAX_LCORES; i++)
		pm_rdma_set_free(__atomic_exchange_n(&pm_rpending[i], NULL,
						     __ATOMIC_ACQ_REL), 1);
	if (pm_peer_restarts)
		PM_LOG(INFO, "rdma: %" PRIu64 " reflector restarts followed",
		       pm_peer_restarts);
	for (i = 0; i < PM_MAX_LCORES; i++) {
		struct pm_rlc *r = &pm_rlc[i];

		for (j = 0; j < r->n; j++) {
			struct pm_rflow *rf = &r->fl[j];

			if (rf->open) {
				for (k = 0; k < PM_RDMA_MSG_CAUSE_MAX; k++)
					rx_bad[k] += rf->ud.st.rx_bad[k];
				wc_err += rf->ud.st.wc_err;
				post_err += rf->ud.st.tx_post_err;
				busy += rf->ud.st.tx_busy;
			}
			pm_rdma_flow_free(rf);
		}
		if (r->n || r->no_t1 || r->tx_err || r->unexpected || r->wrong_peer)
			PM_LOG(INFO, "rdma lcore %u: prober host delay (post to send "
			       "completion + receive completion to poll) min %.2f mean %.2f "
			       "max %.2f us over %" PRIu64 " replies; no_t1 %" PRIu64
			       " tx_err %" PRIu64 " unexpected %" PRIu64 " wrong_peer %"
			       PRIu64, i, r->host_n ? r->host.min / 1e3 : 0.0,
			       r->host_n ? (double)r->host.sum / (double)r->host_n / 1e3 : 0.0,
			       r->host.max / 1e3, r->host_n, r->no_t1, r->tx_err,
			       r->unexpected, r->wrong_peer);
		if (r->rate_missed)
			PM_LOG(WARNING, "rdma lcore %u: %" PRIu64 " probes not sent: the "
			       "loop fell more than %u periods behind (too many flows or "
			       "too high a rate for one lcore: add lcores with -l)", i,
			       r->rate_missed, PM_RDMA_STALL);
		memset(&r->host, 0, sizeof(r->host));
		r->host_n = 0;
		free(r->fl);
		r->fl = NULL;
		r->n = 0;
		if (i < p->nlc && p->lc[i] != NULL) {
			free(p->lc[i]->st_hist[0].counts);
			rte_ring_free(p->lc[i]->rec_ring);
			rte_free(p->lc[i]);
			p->lc[i] = NULL;
		}
	}
	PM_LOG(INFO, "rdma: refused messages: no_imm %" PRIu64 " bad_magic %" PRIu64
	       " bad_type %" PRIu64 " short %" PRIu64 "; error completions %" PRIu64
	       ", posts refused %" PRIu64 ", send ring full %" PRIu64,
	       rx_bad[PM_RDMA_MSG_NO_IMM], rx_bad[PM_RDMA_MSG_BAD_MAGIC],
	       rx_bad[PM_RDMA_MSG_BAD_TYPE], rx_bad[PM_RDMA_MSG_SHORT], wc_err, post_err,
	       busy);
	free(pm_peer);
	pm_peer = NULL;
	pm_rdma_dev_close(&pm_rdev);
}

const struct pm_engine pm_engine_rdma = {
	.name = "rdma-ud",
	.init = pm_rdma_init,
	.lcore_main = pm_rdma_lcore,
	.reload = pm_rdma_reload,
	.fini = pm_rdma_fini,
};
