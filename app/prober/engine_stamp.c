/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * engine_stamp.c: the DPDK STAMP engine, one poll-mode loop per probe lcore.
 *
 * Each probe lcore owns one RX/TX queue pair and a disjoint set of flows (a
 * flow = target + UDP source port).  Its loop, with no locks, allocation,
 * logging or syscalls (unless idle_sleep_us asks for sleeping when idle):
 *   1. pace: pop every flow whose next send time has come from a min-heap,
 *      take tokens from this lcore's share of the global budget (packets and
 *      wire bytes), claim a sequence number from the flow's tracker;
 *   2. build each probe from the flow's prebuilt frame head, read the TSC
 *      once just before rte_eth_tx_burst, write t1 into every probe of the
 *      burst (or, where the NIC offers send-on-timestamp, schedule them);
 *      probes the queue refuses are kept and retried (restamped) first;
 *   3. rx_burst, t4 from the NIC dynfield or the TSC, parse, answer ARP and
 *      ICMP echo for our address, match STAMP replies to flows through a
 *      hash of (peer address, peer port, our port), check the reply echoes
 *      our t1, account it in the tracker and the window's histograms;
 *   4. sweep a few flows: declare lost what timed out, close windows.
 * Replies that land on another lcore's queue (no RSS steering) go to the
 * owning lcore through a per-pair SPSC ring; the owner is encoded in the low
 * bits of the source port (sport = base + flow * stride + lcore index).
 * Window close builds the summary records and enqueues them in one bulk
 * operation on this lcore's SPSC ring to the export thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_flow.h>
#include <rte_hash.h>
#include <rte_jhash.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_random.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "pm_prober.h"
#include "pm_wire_fast.h"	/* last: short helper names */

/* Key of the per-lcore flow table: a reply's source address and port and
 * destination port (our source port). */
struct pm_fkey {
	uint32_t ip;
	uint16_t port;			/* 0 for ICMP */
	uint16_t sport;			/* ICMP: the echo identifier */
	uint32_t proto;			/* 17, 1 or 6 (32 bits: no padding) */
};

static inline void
pm_fkey_set(struct pm_fkey *k, uint32_t ip, uint16_t port, uint16_t sport,
	    uint8_t proto)
{
	k->ip = ip;
	k->port = port;
	k->sport = sport;
	k->proto = proto;
}

static const uint8_t pm_probe_proto[] = {
	[PM_PROBE_STAMP] = 17, [PM_PROBE_ICMP] = 1, [PM_PROBE_TCP] = 6,
};
static const uint8_t pm_probe_engine[] = {
	[PM_PROBE_STAMP] = PM_ENGINE_DPDK_STAMP,
	[PM_PROBE_ICMP] = PM_ENGINE_DPDK_ICMP,
	[PM_PROBE_TCP] = PM_ENGINE_DPDK_TCP,
};

static struct rte_ring *pm_xring[PM_MAX_LCORES][PM_MAX_LCORES];	/* [to][from] */
/* mbuf dynfield carrying the rx_burst TSC with a dispatched reply */
static int pm_t4_off = -1;

/* ---- pacing heap (min on next_tsc) ---- */

static inline int
pm_heap_less(const struct pm_lcore *lc, uint32_t a, uint32_t b)
{
	return lc->flows[lc->heap[a]].next_tsc < lc->flows[lc->heap[b]].next_tsc;
}

static inline void
pm_heap_swap(struct pm_lcore *lc, uint32_t a, uint32_t b)
{
	uint32_t t = lc->heap[a];

	lc->heap[a] = lc->heap[b];
	lc->heap[b] = t;
}

static void
pm_heap_down(struct pm_lcore *lc, uint32_t i)
{
	uint32_t l, r, m;

	for (;;) {
		l = 2 * i + 1;
		r = l + 1;
		m = i;
		if (l < lc->heap_n && pm_heap_less(lc, l, m))
			m = l;
		if (r < lc->heap_n && pm_heap_less(lc, r, m))
			m = r;
		if (m == i)
			return;
		pm_heap_swap(lc, i, m);
		i = m;
	}
}

static void
pm_heap_build(struct pm_lcore *lc)
{
	uint32_t i;

	lc->heap_n = 0;
	for (i = 0; i < lc->nflows; i++)
		if (lc->flows[i].retired == 0)
			lc->heap[lc->heap_n++] = i;
	for (i = lc->heap_n / 2; i-- > 0;)
		pm_heap_down(lc, i);
}

/* ---- windows and records ---- */

static inline void
pm_stat_add(struct pm_rec_stat *s, uint64_t v)
{
	if (v < s->min)
		s->min = v;
	if (v > s->max)
		s->max = v;
	s->sum += v;
}

static inline void
pm_stat_reset(struct pm_rec_stat *s)
{
	s->min = UINT64_MAX;
	s->max = 0;
	s->sum = 0;
}

/*
 * Adaptive probing: a flow that lost probes in the window just closed is
 * probed loss_burst times faster for the next window (the budget still
 * holds), so its loss rate is confirmed and measured on many more probes;
 * not twice in a row, so a flow that keeps losing alternates.  That
 * window's summary carries the "burst" flag.
 */
static inline void
pm_flow_burst(struct pm_lcore *lc, struct pm_flow *f)
{
	const struct pm_prober *p = &pm_g;
	uint64_t now;

	if (p->cfg.loss_burst < 2 || f->base_period == 0 || f->burst)
		return;
	now = rte_rdtsc();
	if (f->burst_end && now < f->burst_end + lc->win_ticks)
		return;
	f->period = f->base_period / p->cfg.loss_burst;
	if (f->period < f->min_period)
		f->period = f->min_period;	/* the target's max_rate_pps */
	if (f->period == 0)
		f->period = 1;
	if (f->period >= f->base_period) {
		f->period = f->base_period;	/* already at its ceiling */
		return;
	}
	f->burst_end = lc->win_end_tsc;		/* the window now open, exactly */
	f->burst = 1;
	PM_INC(lc, bursts, 1);
}

/*
 * Build flow @f's summary for the window (@h filled by the engine, @c its
 * counts) and hand it to the export ring.  Shared by every engine.
 * Probing never waits for the ring: a full one drops the summary, counts
 * it and burns its sequence number, so the next summary's dropped_before
 * explains the gap and any other gap is a loss downstream.  Final windows
 * at shutdown (PM_REC_F_FINAL) wait for the export thread instead.
 */
void
pm_flow_emit(struct pm_lcore *lc, const struct pm_flow *f,
	     const struct pm_track_counts *c, const struct pm_rec_hdr *h,
	     uint16_t flags)
{
	struct pm_rec_body b;
	int n;

	memset(&b, 0, sizeof(b));
	b.sent = c->sent;
	b.received = c->received;
	b.lost = c->lost;
	b.late = c->late;
	b.dup = c->dup;
	b.reordered = c->reordered;
	b.unmatched = c->unmatched;
	b.stalled = c->stalled;
	b.rtt.min = f->rtt.min;
	b.rtt.max = f->rtt.max;
	b.rtt.sum = f->rtt.sum;
	b.refl.min = f->refl.min;
	b.refl.max = f->refl.max;
	b.refl.sum = f->refl.sum;
	b.raw = f->raw;
	b.fwd = f->fwd;
	b.bwd = f->bwd;
	b.hist_overflow = f->rtt.overflow + f->refl.overflow;
	b.dropped_before = lc->rec_dropped_run;
	/* Our host delay, where the engine measures it (rdma). */
	b.host.min = UINT64_MAX;
	if (f->host_n != 0) {
		b.host = f->host;
		b.host_n = f->host_n;
	}

	n = pm_record_build(lc->recbuf, PM_REC_MAX_PARTS, h, &b, &f->rtt, &f->refl);
	for (;;) {
		if (n > 0 && rte_ring_enqueue_bulk_elem(lc->rec_ring, lc->recbuf,
							sizeof(struct pm_record),
							(unsigned int)n, NULL) == (unsigned int)n) {
			PM_INC(lc, summaries, 1);
			lc->rec_seq++;
			lc->rec_dropped_run = 0;
			return;
		}
		if (n <= 0 || !(flags & PM_REC_F_FINAL)) {
			PM_INC(lc, summaries_dropped, 1);
			lc->rec_seq++;
			lc->rec_dropped_run++;
			return;
		}
		rte_pause();
	}
}

static void
pm_flow_close(struct pm_lcore *lc, struct pm_flow *f, uint16_t flags)
{
	const struct pm_prober *p = &pm_g;
	const struct pm_target_cfg *t = &p->cfg.targets[f->target];
	struct pm_track_counts c;
	struct pm_rec_hdr h;

	pm_track_counts_take(&f->trk, &c);
	if (c.lost) {
		f->retrace = 1;		/* path discovery: look again soon */
		pm_flow_burst(lc, f);
	}
	/* An empty window writes nothing -- except the last one of a target
	 * a reload removed: consumers learn that the flow ended. */
	if (c.sent == 0 && c.received == 0 && c.lost == 0 && c.late == 0 &&
	    c.dup == 0 && c.unmatched == 0 && c.stalled == 0 &&
	    !(f->retired && (flags & PM_REC_F_FINAL)))
		goto reset;

	memset(&h, 0, sizeof(h));
	h.schema = PM_REC_SCHEMA;
	h.kind = PM_REC_SUMMARY;
	h.engine = pm_probe_engine[f->probe];
	h.flags = f->rflags | flags;
	if (unlikely(f->win >= lc->stall_win0 && f->win <= lc->stall_win1))
		h.flags |= PM_REC_F_STALL;
	h.prober_id = p->prober_id;
	h.lcore = (uint16_t)lc->lcore_id;
	h.seq = lc->rec_seq;
	h.window_start_ns = f->win * (uint64_t)p->cfg.window_ms * 1000000ULL;
	h.window_ms = p->cfg.window_ms;
	h.target = f->target;
	h.flow = f->fidx;
	h.af = 4;
	h.proto = pm_probe_proto[f->probe];
	h.dscp = t->dscp;
	h.ts_tx = p->port.ts.tx_sched ? PM_TS_NIC_SCHED : PM_TS_TSC;
	h.ts_rx = f->ts_rx ? f->ts_rx : (p->port.ts.rx_hw ? PM_TS_NIC : PM_TS_TSC);
	/* ICMP and TCP: nothing on the far side stamps, RTT is raw. */
	h.ts_refl = f->probe != PM_PROBE_STAMP ||
		    ((f->rflags & PM_REC_F_NO_REFL_TS) && f->refl.n == 0) ?
		    PM_TS_NONE : PM_TS_REMOTE;
	h.refl_synced = f->refl_synced;
	h.src = p->cfg.src_ip;
	h.dst = t->ip;
	h.sport = f->sport;
	h.dport = f->peer_port;
	h.ssid = f->ssid;
	h.size = f->probe == PM_PROBE_TCP ? 0 : t->size;

	pm_flow_emit(lc, f, &c, &h, flags);
reset:
	pm_status_take(lc, &f->rtt);
	pm_hist_reset(&f->rtt);
	pm_hist_reset(&f->refl);
	pm_stat_reset(&f->raw);
	pm_stat_reset(&f->fwd);
	pm_stat_reset(&f->bwd);
	if (f->burst && rte_rdtsc() >= f->burst_end) {
		f->period = f->base_period;
		f->burst = 0;
	}
	f->rflags = f->burst ? PM_REC_F_BURST : 0;
	f->win = lc->win;
}

static inline void
pm_flow_roll(struct pm_lcore *lc, struct pm_flow *f)
{
	if (unlikely(f->win != lc->win))
		pm_flow_close(lc, f, 0);
}

/* ---- TX ---- */

static inline void
pm_tb_refill(struct pm_lcore *lc, uint64_t now)
{
	uint64_t dt = now - lc->tb_last;

	lc->tb_last = now;
	if (dt > pm_tsc.hz)
		dt = pm_tsc.hz;
	lc->tb_pkts += dt * lc->tb_pps;
	if (lc->tb_pkts > lc->tb_max_pkts)
		lc->tb_pkts = lc->tb_max_pkts;
	lc->tb_bytes += dt * lc->tb_Bps;
	if (lc->tb_bytes > lc->tb_max_bytes)
		lc->tb_bytes = lc->tb_max_bytes;
}

/*
 * Replies done with become the next probes: an mbuf of our pool, one
 * segment, not shared, goes back to a small per-lcore stack instead of the
 * mempool, and pm_tx() takes from it before allocating.  Its header and
 * data lines are still in the cache from the reply's parse, and a free and
 * an allocation per probe are saved.  Returns 0 when @m went elsewhere
 * (the caller frees it).
 */
static inline int
pm_spare_put(struct pm_lcore *lc, struct rte_mbuf *m)
{
	if (lc->nspare == PM_SPARE_MAX || m->pool != pm_g.mp || m->nb_segs != 1 ||
	    rte_mbuf_refcnt_read(m) != 1 || RTE_MBUF_HAS_EXTBUF(m))
		return 0;
	/* Only what a probe's send reads: pm_build() sets the lengths, a
	 * single segment has no next, and the rest (port, RX hash and type)
	 * means nothing on TX.  RX offload and dynamic flags must go. */
	m->ol_flags = 0;
	rte_pktmbuf_reset_headroom(m);
	lc->spare[lc->nspare++] = m;
	return 1;
}

/* Fill @m[@n] with mbufs for a burst: the stack first, then the mempool. */
static inline int
pm_spare_get(struct pm_lcore *lc, struct rte_mbuf **m, uint16_t n)
{
	uint16_t k = lc->nspare < n ? lc->nspare : n;

	lc->nspare -= k;
	memcpy(m, &lc->spare[lc->nspare], k * sizeof(m[0]));
	if (k == n)
		return 0;
	if (rte_pktmbuf_alloc_bulk(pm_g.mp, m + k, n - k) == 0)
		return 0;
	lc->nspare += k;	/* still there: the stack takes them back */
	return -ENOMEM;
}

/* Unused mbufs of a burst (@m[@n], untouched) back to the stack, the
 * overflow to the pool. */
static inline void
pm_spare_back(struct pm_lcore *lc, struct rte_mbuf **m, uint16_t n)
{
	uint16_t k = PM_SPARE_MAX - lc->nspare;

	if (k > n)
		k = n;
	memcpy(&lc->spare[lc->nspare], m, k * sizeof(m[0]));
	lc->nspare += k;
	if (k < n)
		rte_pktmbuf_free_bulk(m + k, n - k);
}

/* Write t1 into each built probe and hand the burst to the NIC; whatever
 * it refuses stays pending and is restamped next time. */
static void
pm_tx_flush(struct pm_lcore *lc, struct rte_mbuf **m, uint16_t n)
{
	const struct pm_prober *p = &pm_g;
	uint64_t t1, t1ns, ts, bytes = 0, sched = 0;
	uint16_t i, sent;
	struct pm_flow *f;

	t1 = rte_rdtsc();
	if (p->port.ts.tx_sched) {
		/* The NIC sends the burst at t1 = now + lead: t1 is exact. */
		t1 += pm_g.sched_lead_ticks;
		sched = pm_port_nic_ticks(&p->port.ts, pm_tclock_ns(&pm_tsc, t1));
	}
	t1ns = pm_tclock_ns(&pm_tsc, t1);
	ts = pm_wire_ptp_from_ns(t1ns);
	for (i = 0; i < n; i++) {
		f = &lc->flows[lc->pend_flow[i]];
		if (likely(f->probe == PM_PROBE_STAMP))
			pm_wire_probe_stamp_on_inline(rte_pktmbuf_mtod(m[i], uint8_t *),
						      lc->pend_seq[i], ts, p->probe_ee,
						      f->csum_base);
		else if (f->probe == PM_PROBE_ICMP)
			pm_wire_ping_stamp(rte_pktmbuf_mtod(m[i], uint8_t *),
					   lc->pend_seq[i], ts);
		else
			pm_wire_syn_stamp(rte_pktmbuf_mtod(m[i], uint8_t *),
					  f->isn + lc->pend_seq[i]);
		f->trk.slot[lc->pend_seq[i] & f->trk.mask].t1 = t1ns;
		bytes += m[i]->pkt_len;
		if (p->port.ts.tx_sched) {
			*RTE_MBUF_DYNFIELD(m[i], p->port.ts.tx_off, uint64_t *) = sched;
			m[i]->ol_flags |= p->port.ts.tx_flag;
		}
	}
	/* What the PMD took is no longer ours to read: bytes are summed
	 * above, and what it refused (still ours) is taken off below. */
	sent = rte_eth_tx_burst(p->port.port_id, lc->queue, m, n);
	if (sent < n) {
		PM_INC(lc, tx_full, 1);
		for (i = sent; i < n; i++) {
			bytes -= m[i]->pkt_len;
			lc->pend[i - sent] = m[i];
			lc->pend_flow[i - sent] = lc->pend_flow[i];
			lc->pend_seq[i - sent] = lc->pend_seq[i];
		}
	}
	lc->npend = n - sent;
	PM_INC(lc, tx_pkts, sent);
	PM_INC(lc, tx_bytes, bytes);
}

/* Copy a flow's frame head into @m, zero the padding after it.  The whole
 * head array goes, zeros after the frame included: a copy of constant size
 * is a few vector moves, with no length dispatch. */
static inline void
pm_build(const struct pm_flow *f, struct rte_mbuf *m, uint16_t len)
{
	uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);

	RTE_BUILD_BUG_ON(PM_HEAD_MAX > RTE_MBUF_DEFAULT_DATAROOM);
	memcpy(d, f->head, PM_HEAD_MAX);
	if (len > PM_HEAD_MAX)
		memset(d + PM_HEAD_MAX, 0, len - PM_HEAD_MAX);
	m->data_len = len;
	m->pkt_len = len;
}

/*
 * Claim this lcore's budget and a sequence number of flow @fi, and build
 * its probe into @m as burst slot @slot.  Returns 1 when built, 0 when the
 * flow's in-flight ring is full (counted stalled), -1 when the budget holds
 * probes back (counted budget_held).
 */
static inline int
pm_probe_take(struct pm_lcore *lc, uint32_t fi, struct rte_mbuf *m, uint16_t slot,
	      uint64_t now_ns)
{
	struct pm_flow *f = &lc->flows[fi];
	uint16_t len = pm_g.trt[f->target].frame_len;
	uint64_t byte_cost = pm_tsc.hz * (uint64_t)(len + PM_WIRE_OVERHEAD);
	int64_t seq;

	if (lc->tb_pkts < pm_tsc.hz || lc->tb_bytes < byte_cost) {
		PM_INC(lc, budget_held, 1);
		return -1;
	}
	pm_flow_roll(lc, f);
	seq = pm_track_send(&f->trk, now_ns);	/* restamped when sent */
	if (seq < 0) {
		PM_INC(lc, stalled, 1);
		return 0;
	}
	lc->tb_pkts -= pm_tsc.hz;
	lc->tb_bytes -= byte_cost;
	lc->inflight++;
	pm_build(f, m, len);
	lc->pend_flow[slot] = fi;
	lc->pend_seq[slot] = (uint32_t)seq;
	return 1;
}

/*
 * Line rate: how many probes may go now.  Beyond inflight_max in flight,
 * more probes only queue up in rings and the reflector: our own queue in
 * every RTT, replies dropped when our RX ring overflows, and a working set
 * that no longer fits the caches.  Probes lost but not yet timed out would
 * hold the cap down on a lossy path, so the last timeout period's losses,
 * which stand for them, are added to it.
 */
static inline uint16_t
pm_inflight_room(struct pm_lcore *lc, uint64_t now)
{
	int64_t room;

	if (pm_g.cfg.inflight_max == 0)
		return PM_BURST;
	if (unlikely(now >= lc->if_next_tsc)) {
		lc->if_ghosts = lc->st.lost - lc->if_lost_mark;
		lc->if_lost_mark = lc->st.lost;
		lc->if_next_tsc = now + pm_g.timeout_ticks;
	}
	room = (int64_t)(pm_g.cfg.inflight_max + lc->if_ghosts) - lc->inflight;
	if (room <= 0)
		return 0;
	return room < PM_BURST ? (uint16_t)room : PM_BURST;
}

/*
 * Send what is due.  Paced flows come off the min-heap in send-time order;
 * at line rate every flow is always due, so a round robin replaces the heap
 * (a flow whose ring is full is skipped for this burst).  Probes the queue
 * refused last time go first.
 */
static uint16_t
pm_tx(struct pm_lcore *lc, uint64_t now)
{
	const struct pm_prober *p = &pm_g;
	struct rte_mbuf *m[PM_BURST];
	uint32_t fi, tries;
	struct pm_flow *f;
	uint16_t n = 0, lim;
	uint64_t now_ns;
	int rc;

	if (lc->npend) {
		memcpy(m, lc->pend, lc->npend * sizeof(m[0]));
		n = lc->npend;
		pm_tx_flush(lc, m, n);
		return n;
	}
	if (lc->heap_n == 0 ||
	    (!p->cfg.line_rate && lc->flows[lc->heap[0]].next_tsc > now))
		return 0;
	lim = PM_BURST;
	if (p->cfg.line_rate) {
		lim = pm_inflight_room(lc, now);
		if (lim == 0) {
			PM_INC(lc, inflight_held, 1);
			return 0;
		}
	}
	pm_tb_refill(lc, now);
	now_ns = pm_tclock_ns(&pm_tsc, now);
	if (pm_spare_get(lc, m, lim) != 0) {
		PM_INC(lc, no_mbuf, 1);
		return 0;
	}
	if (p->cfg.line_rate) {
		for (tries = 0; n < lim && tries < PM_BURST + lc->nflows; tries++) {
			fi = lc->rr;
			if (++lc->rr == lc->nflows)
				lc->rr = 0;
			if (unlikely(lc->flows[fi].retired))
				continue;
			rc = pm_probe_take(lc, fi, m[n], n, now_ns);
			if (rc < 0)
				break;
			n += rc;
		}
	} else {
		while (n < lim && lc->flows[lc->heap[0]].next_tsc <= now) {
			fi = lc->heap[0];
			f = &lc->flows[fi];
			rc = pm_probe_take(lc, fi, m[n], n, now_ns);
			if (rc < 0)
				break;
			if (rc == 0) {
				/* In-flight ring full: hold this flow back a little. */
				f->next_tsc = now + (f->period ? f->period : pm_tsc.hz / 100000);
				pm_heap_down(lc, 0);
				continue;
			}
			n++;
			if (unlikely(f->burst) && now >= f->burst_end) {
				f->period = f->base_period;
				f->burst = 0;
			}
			/* No catch-up bursts after a stall: at most a few periods. */
			f->next_tsc += f->period;
			if (f->next_tsc + 4 * f->period < now)
				f->next_tsc = now;
			pm_heap_down(lc, 0);
		}
	}
	if (n < lim)
		pm_spare_back(lc, &m[n], lim - n);
	if (n)
		pm_tx_flush(lc, m, n);
	return n;
}

/* ---- path discovery ---- */

/* The trace is over: its path record to the export ring. */
static void
pm_trace_emit(struct pm_lcore *lc)
{
	const struct pm_prober *p = &pm_g;
	struct pm_trace *tr = &lc->trace;
	struct pm_flow *f = &lc->flows[tr->flow];
	const struct pm_target_cfg *t = &p->cfg.targets[f->target];
	struct pm_record *r = &lc->recbuf[0];
	uint32_t n = p->cfg.trace_max_ttl;

	memset(r, 0, sizeof(*r));
	r->h.schema = PM_REC_SCHEMA;
	r->h.kind = PM_REC_PATH;
	r->h.engine = PM_ENGINE_DPDK_STAMP;
	r->h.nparts = 1;
	r->h.prober_id = p->prober_id;
	r->h.lcore = (uint16_t)lc->lcore_id;
	r->h.window_start_ns = pm_tclock_ns(&pm_tsc, rte_rdtsc());
	r->h.target = f->target;
	r->h.flow = f->fidx;
	r->h.af = 4;
	r->h.proto = 17;
	r->h.dscp = t->dscp;
	r->h.src = p->cfg.src_ip;
	r->h.dst = t->ip;
	r->h.sport = f->sport;
	r->h.dport = t->port;
	r->h.ssid = f->ssid;
	r->h.size = t->size;
	if (tr->dest_ttl && tr->dest_ttl < n)
		n = tr->dest_ttl;
	r->path.nhops = (uint8_t)n;
	r->path.dest_ttl = tr->dest_ttl;
	memcpy(r->path.hops, tr->hops, n * sizeof(tr->hops[0]));
	if (rte_ring_enqueue_elem(lc->rec_ring, r, sizeof(*r)) == 0)
		PM_INC(lc, paths, 1);
	else
		PM_INC(lc, paths_dropped, 1);
	tr->prev_flow = tr->flow;
	tr->prev_base = tr->base;
	tr->flow = PM_TRACE_NONE;
}

/* Every TTL below the target's answered: nothing more to wait for. */
static inline int
pm_trace_complete(const struct pm_trace *tr)
{
	uint32_t i;

	if (tr->dest_ttl == 0)
		return 0;
	for (i = 0; i + 1 < tr->dest_ttl; i++)
		if (tr->hops[i] == 0)
			return 0;
	return 1;
}

/*
 * Start, feed or end this lcore's trace.  Trace probes take the lcore's
 * budget tokens like any probe; a flow is traced again every interval, or
 * sooner (but not within a second) after a window where it lost probes.
 */
static uint16_t
pm_trace_step(struct pm_lcore *lc, uint64_t now)
{
	const struct pm_prober *p = &pm_g;
	struct pm_trace *tr = &lc->trace;
	struct rte_mbuf *m[PM_REC_PATH_HOPS];
	uint32_t max = p->cfg.trace_max_ttl, i, scan, fi;
	uint16_t n = 0, sent, len;
	uint64_t cost, ts, bytes = 0;
	struct pm_flow *f;
	uint8_t *d;

	if (tr->flow == PM_TRACE_NONE) {
		if (now < tr->next_start || lc->nflows == 0)
			return 0;
		tr->next_start = now + tr->gap;
		for (scan = 0; scan < 64 && scan < lc->nflows; scan++) {
			fi = tr->next;
			if (++tr->next >= lc->nflows)
				tr->next = 0;
			f = &lc->flows[fi];
			if (f->probe != PM_PROBE_STAMP || f->retired)
				continue;	/* Paris traces are UDP (STAMP) */
			if (f->trace_tsc != 0 && now - f->trace_tsc < tr->interval &&
			    !(f->retrace && now - f->trace_tsc >= pm_tsc.hz))
				continue;
			tr->flow = fi;
			tr->base = f->trk.next_seq + 0x80000000u;
			tr->gen = (uint16_t)((tr->gen + 1) & 0x7ff);
			tr->ttl = 1;
			tr->dest_ttl = 0;
			memset(tr->hops, 0, sizeof(tr->hops));
			tr->deadline = now + (p->timeout_ticks > pm_tsc.hz / 5 ?
					      p->timeout_ticks : pm_tsc.hz / 5);
			f->trace_tsc = now | 1;
			f->retrace = 0;
			break;
		}
		if (tr->flow == PM_TRACE_NONE)
			return 0;
	}
	if (now >= tr->deadline || pm_trace_complete(tr)) {
		pm_trace_emit(lc);
		return 0;
	}
	if (tr->ttl > max)
		return 0;
	f = &lc->flows[tr->flow];
	len = p->trt[f->target].frame_len;
	cost = pm_tsc.hz * (uint64_t)(len + PM_WIRE_OVERHEAD);
	pm_tb_refill(lc, now);
	ts = pm_wire_ptp_from_ns(pm_tclock_ns(&pm_tsc, now));
	for (i = tr->ttl; i <= max; i++) {
		if (lc->tb_pkts < pm_tsc.hz || lc->tb_bytes < cost)
			break;
		m[n] = rte_pktmbuf_alloc(p->mp);
		if (m[n] == NULL) {
			PM_INC(lc, no_mbuf, 1);
			break;
		}
		lc->tb_pkts -= pm_tsc.hz;
		lc->tb_bytes -= cost;
		pm_build(f, m[n], len);
		d = rte_pktmbuf_mtod(m[n], uint8_t *);
		pm_wire_trace_mark(d, (uint8_t)i, (uint16_t)(tr->gen << 5 | i));
		pm_wire_probe_stamp(d, tr->base + i, ts, p->probe_ee);
		n++;
	}
	if (n == 0)
		return 0;
	sent = rte_eth_tx_burst(p->port.port_id, lc->queue, m, n);
	for (i = 0; i < sent; i++)
		bytes += m[i]->pkt_len;
	if (sent < n)
		rte_pktmbuf_free_bulk(&m[sent], n - sent);
	tr->ttl = (uint8_t)(tr->ttl + sent);
	PM_INC(lc, tx_pkts, sent);
	PM_INC(lc, tx_bytes, bytes);
	PM_INC(lc, trace_probes, sent);
	return sent;
}

/* An ICMP error quoting one of our probes (Time Exceeded from a router on
 * the way, Unreachable where the path ends). */
static void
pm_trace_icmp(struct pm_lcore *lc, const struct pm_icmp_quote *q)
{
	const struct pm_prober *p = &pm_g;
	struct pm_trace *tr = &lc->trace;
	uint32_t ttl = q->ip_id & 31;
	const struct pm_flow *f;

	if (tr->flow == PM_TRACE_NONE)
		goto stray;
	f = &lc->flows[tr->flow];
	if (q->dip != f->peer_ip || q->dport != f->peer_port || q->sport != f->sport ||
	    (uint16_t)(q->ip_id >> 5) != tr->gen || ttl == 0 || ttl > p->cfg.trace_max_ttl)
		goto stray;
	if (q->type == PM_ICMP_UNREACHABLE && (tr->dest_ttl == 0 || ttl < tr->dest_ttl))
		tr->dest_ttl = (uint8_t)ttl;
	tr->hops[ttl - 1] = q->from;
	PM_INC(lc, trace_answers, 1);
	return;
stray:
	PM_INC(lc, trace_stray, 1);
}

/* A STAMP reply to a trace probe: the target sits at that TTL.  Returns 1
 * when @seq was a trace's (this one's or the previous one's). */
static inline int
pm_trace_reply(struct pm_lcore *lc, const struct pm_flow *f, uint32_t seq,
	       uint32_t from)
{
	struct pm_trace *tr = &lc->trace;
	uint32_t max = pm_g.cfg.trace_max_ttl, fi = (uint32_t)(f - lc->flows), ttl;

	if (tr->flow == fi && seq - tr->base - 1 < max) {
		ttl = seq - tr->base;
		if (tr->dest_ttl == 0 || ttl < tr->dest_ttl)
			tr->dest_ttl = (uint8_t)ttl;
		tr->hops[ttl - 1] = from;
		PM_INC(lc, trace_answers, 1);
		return 1;
	}
	/* Answers after their trace ended: not the flow's probes either. */
	return tr->prev_flow == fi && seq - tr->prev_base - 1 < max;
}

/* ---- RX ---- */

/*
 * Account the reply to probe @seq of @f in its tracker: 1 when it is the
 * first answer to an outstanding probe (count it received), 0 when it was
 * a duplicate, late or unmatched one (counted here, nothing else to do).
 */
static inline int
pm_reply_take(struct pm_lcore *lc, struct pm_flow *f, uint32_t seq)
{
	switch (pm_track_reply(&f->trk, seq, NULL)) {
	case PM_TRK_REORDERED:
		PM_INC(lc, reordered, 1);
		/* fall through */
	case PM_TRK_RECEIVED:
		PM_INC(lc, replies, 1);
		lc->inflight--;
		return 1;
	case PM_TRK_DUP:
		PM_INC(lc, dup, 1);
		return 0;
	case PM_TRK_LATE:
		PM_INC(lc, late, 1);
		return 0;
	default:
		PM_INC(lc, unmatched, 1);
		return 0;
	}
}

/* t4 of a reply: the NIC's stamp where it gave one, else the burst's TSC. */
static inline uint64_t
pm_reply_t4(struct pm_flow *f, const struct rte_mbuf *m, uint64_t t4_ns)
{
	const struct pm_prober *p = &pm_g;
	uint64_t t4;
	uint8_t src;

	if (p->port.ts.rx_hw && (m->ol_flags & p->port.ts.dynflag)) {
		t4 = pm_port_rx_ns(&p->port.ts, m, 0, &src);
	} else {
		t4 = t4_ns;	/* converted once per burst */
		src = PM_TS_TSC;
	}
	f->ts_rx = src;
	return t4;
}

/* A STAMP reply, decoded into @r, to this lcore: match, track, measure.
 * Inlined into the receive loop's fast path, once per reply. */
static __rte_always_inline void
pm_reply_stamp(struct pm_lcore *lc, struct rte_mbuf *m, const struct pm_pkt *pkt,
	       const struct pm_stamp_reflector *r, uint64_t t4_ns)
{
	const struct pm_prober *p = &pm_g;
	struct pm_track_slot *s;
	struct pm_fkey key;
	struct pm_flow *f;
	uint64_t t1ns, t2, t3, t4, raw, net, refl;
	uint32_t idx;
	void *data;

	/* Fast path: the SSID names the flow (pmesh and RFC 8972 reflectors
	 * echo it); the addresses and ports must agree.  Otherwise (TWAMP-Light
	 * reflectors zero it) the hash of the addresses and ports decides. */
	idx = lc->ssid_map[r->ssid];
	f = &lc->flows[idx ? idx - 1 : 0];
	if (idx == 0 || f->peer_ip != pkt->sip || f->peer_port != pkt->sport ||
	    f->sport != pkt->dport) {
		pm_fkey_set(&key, pkt->sip, pkt->sport, pkt->dport, 17);
		if (rte_hash_lookup_data(lc->ftab, &key, &data) < 0) {
			PM_INC(lc, unknown_flow, 1);
			return;
		}
		f = &lc->flows[(uintptr_t)data];
	}
	if (unlikely(f->retired == 2)) {
		PM_INC(lc, unknown_flow, 1);	/* removed, final summary out */
		return;
	}
	if (unlikely(p->cfg.trace_interval_s) && pm_trace_reply(lc, f, r->s_seq, pkt->sip))
		return;
	pm_flow_roll(lc, f);
	/* Trust a reply only if it echoes the t1 we wrote for that seq --
	 * also when the probe is already resolved, so that forged or stray
	 * packets never pass for duplicates or late replies. */
	s = &f->trk.slot[r->s_seq & f->trk.mask];
	t1ns = 0;
	if (s->seq == r->s_seq && s->state != PM_SLOT_FREE) {
		t1ns = s->t1;
		if ((uint32_t)r->s_ts >= 1000000000u ||
		    pm_wire_ptp_to_ns(r->s_ts) != t1ns) {
			PM_INC(lc, bad_echo, 1);
			return;
		}
	}
	if (!pm_reply_take(lc, f, r->s_seq))
		return;
	/* Received: the slot matched above, so t1ns is its t1. */
	t4 = pm_reply_t4(f, m, t4_ns);
	raw = t4 > t1ns ? t4 - t1ns : 0;
	pm_stat_add(&f->raw, raw);
	net = raw;
	if (r->rx_ts == 0 || r->ts == 0) {
		f->rflags |= PM_REC_F_NO_REFL_TS;
	} else {
		t2 = pm_wire_ts_to_ns(r->rx_ts, r->ee);
		t3 = pm_wire_ts_to_ns(r->ts, r->ee);
		if (t3 < t2 || t3 - t2 > raw) {
			PM_INC(lc, refl_anomaly, 1);
			f->rflags |= PM_REC_F_NO_REFL_TS;
		} else {
			refl = t3 - t2;
			net = raw - refl;
			pm_hist_add(&f->refl, refl);
			f->refl_synced = !!(r->ee & PM_EE_S);
			if (p->cfg.clock_synced && (r->ee & PM_EE_S) &&
			    t2 >= t1ns && t4 >= t3) {
				pm_stat_add(&f->fwd, t2 - t1ns);
				pm_stat_add(&f->bwd, t4 - t3);
				f->rflags |= PM_REC_F_OWD;
			}
		}
	}
	pm_hist_add(&f->rtt, net);
}

static void
pm_reply(struct pm_lcore *lc, struct rte_mbuf *m, const struct pm_pkt *pkt,
	 uint64_t t4_ns)
{
	const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
	struct pm_stamp_reflector r;
	int rc;

	rc = pm_wire_stamp_reflector_decode(d + pkt->pl_off, pkt->pl_len, &r);
	if (rc != PM_WIRE_OK) {
		PM_INC(lc, cause[rc < PM_WIRE_CAUSE_MAX ? rc : 0], 1);
		return;
	}
	pm_reply_stamp(lc, m, pkt, &r, t4_ns);
}

static inline int
pm_owner(const struct pm_prober *p, uint16_t dport)
{
	uint16_t off = dport - p->cfg.src_port_base;

	if (dport < p->cfg.src_port_base)
		return -1;
	return off & (p->sport_stride - 1);
}

static void
pm_tx_one(struct pm_lcore *lc, struct rte_mbuf *m)
{
	if (rte_eth_tx_burst(pm_g.port.port_id, lc->queue, &m, 1) != 1)
		rte_pktmbuf_free(m);
}

/*
 * A reply to an ICMP echo or TCP SYN probe of flow @f, probe @seq.  Nothing
 * on the far side stamps: the RTT is t4 - t1, the target's host time
 * included, and it goes into the RTT histogram as it is (the record says
 * ts_refl "none").  @echo_ns: t1 as the reply echoes it (ICMP), checked
 * like a STAMP reply's; 0 when the reply carries none (TCP: the ISN,
 * random per flow, is the proof).
 */
static void
pm_raw_reply(struct pm_lcore *lc, struct rte_mbuf *m, struct pm_flow *f,
	     uint32_t seq, uint64_t echo_ns, int check_echo, uint64_t t4_ns)
{
	struct pm_track_slot *s;
	uint64_t t1ns = 0, t4, raw;

	if (unlikely(f->retired == 2)) {
		PM_INC(lc, unknown_flow, 1);
		return;
	}
	pm_flow_roll(lc, f);
	s = &f->trk.slot[seq & f->trk.mask];
	if (s->seq == seq && s->state != PM_SLOT_FREE) {
		t1ns = s->t1;
		if (check_echo && echo_ns != t1ns) {
			PM_INC(lc, bad_echo, 1);
			return;
		}
	}
	if (!pm_reply_take(lc, f, seq))
		return;
	t4 = pm_reply_t4(f, m, t4_ns);
	raw = t4 > t1ns ? t4 - t1ns : 0;
	pm_stat_add(&f->raw, raw);
	pm_hist_add(&f->rtt, raw);
}

/* An echo reply to one of our pings (decoded into @r). */
static void
pm_ping_reply(struct pm_lcore *lc, struct rte_mbuf *m, const struct pm_pkt *pkt,
	      const struct pm_ping *r, uint64_t t4_ns)
{
	struct pm_fkey key;
	void *data;

	pm_fkey_set(&key, pkt->sip, 0, r->id, 1);
	if (rte_hash_lookup_data(lc->ftab, &key, &data) < 0) {
		PM_INC(lc, unknown_flow, 1);
		return;
	}
	pm_raw_reply(lc, m, &lc->flows[(uintptr_t)data], r->seq,
		     (uint32_t)r->ts >= 1000000000u ? 1 : pm_wire_ptp_to_ns(r->ts), 1,
		     t4_ns);
}

/*
 * A TCP segment for our address.  SYN-ACK or RST-ACK acknowledging a SYN
 * probe's ISN + 1 is its reply.  We have no TCP stack: whatever is not a
 * reset is answered with one at once (a SYN-ACK -- also a late or
 * retransmitted one -- gets RST at its ack), so no target is ever left
 * with a half-open connection.  Returns 1 when @m was sent back.
 */
static int
pm_tcp_in(struct pm_lcore *lc, struct rte_mbuf *m, const struct pm_pkt *pkt,
	  uint64_t t4_ns)
{
	uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
	struct pm_tcp_seg sg;
	struct pm_fkey key;
	struct pm_flow *f;
	void *data;
	int rc, len;

	rc = pm_wire_tcp_parse(d, pkt, &sg);
	if (rc != PM_WIRE_OK) {
		PM_INC(lc, cause[rc < PM_WIRE_CAUSE_MAX ? rc : 0], 1);
		return 0;
	}
	if ((sg.flags & PM_TCP_ACK) && (sg.flags & (PM_TCP_SYN | PM_TCP_RST))) {
		pm_fkey_set(&key, pkt->sip, sg.sport, sg.dport, 6);
		if (rte_hash_lookup_data(lc->ftab, &key, &data) < 0) {
			PM_INC(lc, unknown_flow, 1);
		} else {
			f = &lc->flows[(uintptr_t)data];
			pm_raw_reply(lc, m, f, sg.ack - 1 - f->isn, 0, 0, t4_ns);
		}
	} else {
		PM_INC(lc, tcp_other, 1);
	}
	len = pm_wire_tcp_rst(d, pkt, &sg);
	if (len < 0)
		return 0;
	m->data_len = (uint16_t)len;
	m->pkt_len = (uint32_t)len;
	PM_INC(lc, tcp_rst_out, 1);
	pm_tx_one(lc, m);
	return 1;
}

/*
 * A next hop announced a MAC (reply, request or gratuitous ARP, e.g. after a
 * VRRP failover): point this lcore's flows behind it at the new MAC.  Rare,
 * so a walk over the flows is fine; frames already built keep the old one.
 */
static void
pm_arp_learn(struct pm_lcore *lc, uint32_t ip, const uint8_t mac[6])
{
	const struct pm_prober *p = &pm_g;
	uint32_t i, n = 0;

	if (p->cfg.gateway_ip != 0 && ip != p->cfg.gateway_ip)
		return;
	for (i = 0; i < lc->nflows; i++) {
		struct pm_flow *f = &lc->flows[i];

		if ((p->cfg.gateway_ip != 0 || f->peer_ip == ip) &&
		    memcmp(f->head, mac, 6) != 0) {
			memcpy(f->head, mac, 6);
			n++;
		}
	}
	if (n)
		PM_INC(lc, arp_updates, 1);
}

/* Not ours: to the owner lcore's SPSC ring from this one.  1: handed over. */
static inline int
pm_dispatch(struct pm_lcore *lc, struct rte_mbuf *m, int owner)
{
	if (rte_ring_enqueue(pm_xring[owner][lc->idx], m) == 0) {
		PM_INC(lc, dispatched, 1);
		return 1;
	}
	PM_INC(lc, dispatch_dropped, 1);
	return 0;
}

/* Returns 1 when the mbuf was consumed (sent or handed over). */
static int
pm_rx_one(struct pm_lcore *lc, struct rte_mbuf *m, uint64_t t4_ns, int local)
{
	const struct pm_prober *p = &pm_g;
	uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
	struct pm_stamp_reflector r;
	struct pm_pkt pkt;
	uint32_t sip, tip;
	uint16_t op;
	uint8_t sha[6];
	int rc, owner, fast;

	/* Most of what arrives: a STAMP reply to us, parsed in one pass. */
	fast = pm_wire_stamp_reply_fast(d, m->data_len, p->cfg.src_ip, &pkt, &r);
	if (likely(fast))
		goto udp;
	rc = pm_wire_parse(d, m->data_len, &pkt);
	switch (rc) {
	case PM_WIRE_OK:
		break;
	case PM_WIRE_ARP:
		PM_INC(lc, arp_in, 1);
		if (pm_wire_arp_parse(d, m->data_len, &op, &sip, &tip, sha) != 1)
			return 0;
		if (!p->cfg.have_gateway_mac)
			pm_arp_learn(lc, sip, sha);
		if (op == 1 && tip == p->cfg.src_ip) {
			pm_wire_arp_reply(d, p->port.mac.addr_bytes, p->cfg.src_ip);
			PM_INC(lc, arp_out, 1);
			pm_tx_one(lc, m);
			return 1;
		}
		return 0;
	case PM_WIRE_ICMP:
		if (pkt.dip == p->cfg.src_ip && pm_wire_icmp_echo_reply(d, &pkt) == 0) {
			PM_INC(lc, icmp_out, 1);
			pm_tx_one(lc, m);
			return 1;
		}
		if (pkt.dip == p->cfg.src_ip && pkt.pl_len >= PM_ICMP_HLEN &&
		    d[pkt.l4_off] == 0) {
			struct pm_ping r;

			rc = pm_wire_ping_parse(d, &pkt, &r);
			if (rc != PM_WIRE_OK) {
				PM_INC(lc, cause[rc < PM_WIRE_CAUSE_MAX ? rc : 0], 1);
				return 0;
			}
			owner = pm_owner(p, r.id);
			if (owner < 0 || owner >= p->nlc) {
				PM_INC(lc, unknown_flow, 1);
				return 0;
			}
			if (local && owner != lc->idx)
				return pm_dispatch(lc, m, owner);
			pm_ping_reply(lc, m, &pkt, &r, t4_ns);
			return 0;
		}
		if (p->cfg.trace_interval_s && pkt.dip == p->cfg.src_ip) {
			struct pm_icmp_quote q;

			if (pm_wire_icmp_quote(d, &pkt, &q) == PM_WIRE_OK &&
			    q.sip == p->cfg.src_ip && q.proto == 17) {
				owner = pm_owner(p, q.sport);
				if (owner < 0 || owner >= p->nlc) {
					PM_INC(lc, trace_stray, 1);
					return 0;
				}
				if (local && owner != lc->idx)
					return pm_dispatch(lc, m, owner);
				pm_trace_icmp(lc, &q);
				return 0;
			}
		}
		PM_INC(lc, cause[PM_WIRE_ICMP], 1);
		return 0;
	case PM_WIRE_NOT_UDP:
		if (pkt.proto == 6 && pkt.dip == p->cfg.src_ip && pkt.pl_len >= 20) {
			owner = pm_owner(p, pkt.dport);
			if (local && owner >= 0 && owner < p->nlc && owner != lc->idx)
				return pm_dispatch(lc, m, owner);
			return pm_tcp_in(lc, m, &pkt, t4_ns);
		}
		PM_INC(lc, cause[rc], 1);
		return 0;
	default:
		PM_INC(lc, cause[rc < PM_WIRE_CAUSE_MAX ? rc : 0], 1);
		return 0;
	}
	if (pkt.dip != p->cfg.src_ip) {
		PM_INC(lc, cause[PM_WIRE_NOT_FOR_US], 1);
		return 0;
	}
udp:
	owner = pm_owner(p, pkt.dport);
	if (owner < 0 || owner >= p->nlc) {
		PM_INC(lc, cause[PM_WIRE_WRONG_PORT], 1);
		return 0;
	}
	if (local && owner != lc->idx)
		return pm_dispatch(lc, m, owner);
	if (fast)
		pm_reply_stamp(lc, m, &pkt, &r, t4_ns);
	else
		pm_reply(lc, m, &pkt, t4_ns);
	return 0;
}

/*
 * Nearly every packet at line rate: a STAMP reply, parsed in one pass and,
 * when it is this lcore's, measured inline, the parsed fields kept in
 * registers; another lcore's goes to its ring without a second parse.
 * Returns 0 when done with @m (the caller recycles it), 1 when @m was
 * handed over, -1 for anything else -- ARP, a bad packet, a port no lcore
 * owns -- which pm_rx_one() parses again and names.
 */
static __rte_always_inline int
pm_rx_reply(struct pm_lcore *lc, struct rte_mbuf *m, uint64_t t4_ns)
{
	struct pm_stamp_reflector r;
	struct pm_pkt pkt;
	int owner;

	if (!pm_wire_stamp_reply_fast_inline(rte_pktmbuf_mtod(m, const uint8_t *),
					     m->data_len, pm_g.cfg.src_ip, &pkt, &r))
		return -1;
	owner = pm_owner(&pm_g, pkt.dport);
	if (unlikely(owner != lc->idx)) {
		if (owner < 0 || owner >= pm_g.nlc)
			return -1;
		return pm_dispatch(lc, m, owner);
	}
	pm_reply_stamp(lc, m, &pkt, &r, t4_ns);
	return 0;
}

static uint16_t
pm_rx(struct pm_lcore *lc)
{
	struct rte_mbuf *m[PM_BURST], *done[PM_BURST];
	uint16_t nb, i, ndone = 0, total = 0;
	uint64_t t4, t4ns;
	unsigned int from, got;
	int rc;

	nb = rte_eth_rx_burst(pm_g.port.port_id, lc->queue, m, PM_BURST);
	if (nb) {
		t4 = rte_rdtsc();
		t4ns = pm_tclock_ns(&pm_tsc, t4);
		PM_INC(lc, rx_pkts, nb);
		for (i = 0; i < nb; i++) {
			/* Carry t4 with an mbuf that may be dispatched. */
			if (pm_g.nlc > 1)
				*RTE_MBUF_DYNFIELD(m[i], pm_t4_off, uint64_t *) = t4;
			rc = pm_rx_reply(lc, m[i], t4ns);
			if (rc < 0)
				rc = pm_rx_one(lc, m[i], t4ns, 1);
			if (!rc && !pm_spare_put(lc, m[i]))
				done[ndone++] = m[i];
		}
		/* Back to the pool in one go (one mempool call per burst). */
		if (ndone)
			rte_pktmbuf_free_bulk(done, ndone);
		total = nb;
	}
	if (pm_g.nlc > 1) {
		for (from = 0; from < pm_g.nlc; from++) {
			if (from == lc->idx)
				continue;
			got = rte_ring_dequeue_burst(pm_xring[lc->idx][from],
						     (void **)m, PM_BURST, NULL);
			for (i = 0; i < got; i++) {
				t4 = *RTE_MBUF_DYNFIELD(m[i], pm_t4_off, uint64_t *);
				if (!pm_rx_one(lc, m[i], pm_tclock_ns(&pm_tsc, t4), 0))
					rte_pktmbuf_free(m[i]);
			}
			total += got;
		}
	}
	return total;
}

/* ---- sweep, loop ---- */

/* Would a sweep of @f now count an event (a loss)?  Looks at the oldest
 * probe still outstanding, skipping resolved ones (not events). */
static inline int
pm_flow_loss_due(const struct pm_flow *f, uint64_t now)
{
	const struct pm_track *t = &f->trk;
	const struct pm_track_slot *s;
	uint32_t seq;

	for (seq = t->oldest; seq != t->next_seq; seq++) {
		s = &t->slot[seq & t->mask];
		if (s->state == PM_SLOT_OUTSTANDING)
			return now >= s->t1 && now - s->t1 >= pm_g.timeout_ns;
	}
	return 0;
}

/* Visit a few flows: declare lost what timed out, close stale windows. */
static void
pm_sweep(struct pm_lcore *lc, uint64_t now, uint32_t k)
{
	uint64_t now_ns = pm_tclock_ns(&pm_tsc, now);	/* tracker slots hold ns */
	struct pm_flow *f;
	uint32_t lost;

	while (k-- > 0 && lc->nflows) {
		f = &lc->flows[lc->sweep];
		if (unlikely(f->retired)) {
			/* Removed by a reload: its last probes had their timeout;
			 * count what did not come back, write the final summary. */
			if (f->retired == 1 && now - f->retire_tsc >= pm_g.timeout_ticks) {
				pm_flow_roll(lc, f);
				lost = pm_track_expire_all(&f->trk);
				if (lost)
					PM_INC(lc, lost, lost);
				lc->inflight -= lost;
				pm_flow_close(lc, f, PM_REC_F_FINAL);
				__atomic_store_n(&f->retired, 2, __ATOMIC_RELAXED);
			}
			if (++lc->sweep == lc->nflows)
				lc->sweep = 0;
			continue;
		}
		if (f->win != lc->win) {
			/* A flow's window closes at its first event after the
			 * boundary (sends are phase-spread); one with no event
			 * closes here, at a per-flow point of the first half of
			 * the window, so a million flows do not hit the export
			 * ring in the same millisecond. */
			if (!pm_flow_loss_due(f, now_ns) &&
			    now - (lc->win_end_tsc - lc->win_ticks) <
			    (((lc->sweep * 2654435761u) >> 16) * (lc->win_ticks / 2) >> 16)) {
				if (++lc->sweep == lc->nflows)
					lc->sweep = 0;
				continue;
			}
			pm_flow_close(lc, f, 0);
		}
		if (++lc->sweep == lc->nflows)
			lc->sweep = 0;
		lost = pm_track_sweep(&f->trk, now_ns, pm_g.timeout_ns);
		if (lost) {
			PM_INC(lc, lost, lost);
			lc->inflight -= lost;
		}
	}
}

/*
 * A flow's window closed: its RTT histogram joins the status histogram.
 * The status line's p50/p99 are thus those of the windows closed in its
 * last period, at no cost per reply.
 */
void
pm_status_take(struct pm_lcore *lc, const struct pm_hist *rtt)
{
	pm_hist_merge(&lc->st_hist[lc->st_cur], rtt);
	lc->st_closes++;
}

void
pm_status_flip(struct pm_lcore *lc)
{
	uint32_t next = lc->st_cur ^ 1;

	/* No window closed this period (windows longer than it): the status
	 * line keeps the last windows' figures. */
	if (lc->st_closes == 0)
		return;
	lc->st_closes = 0;
	/* Publish what was filled; the reader has a whole period to read
	 * it before it is reset. */
	__atomic_store_n(&lc->st_ready, lc->st_cur, __ATOMIC_RELEASE);
	pm_hist_reset(&lc->st_hist[next]);
	lc->st_cur = next;
}

/*
 * idle_sleep_us (shared hosts), after many empty turns of an lcore: sleep
 * until its next probe is due (TSC @next, UINT64_MAX: none), at most
 * idle_sleep_us -- but only when no reply is due, or the ones due are
 * already 1 ms late (their t4 may then carry the sleep; docs/config.md
 * says so).  Shared by the engines.
 */
void
pm_lcore_idle(struct pm_lcore *lc, uint64_t now, uint64_t last_work, uint64_t next)
{
	uint64_t inflight, wait, us;

	inflight = lc->st.tx_pkts - lc->st.replies - lc->st.lost;
	if (inflight != 0 && now - last_work < pm_tsc.hz / 1000) {
		rte_pause();
		return;
	}
	us = pm_g.cfg.idle_sleep_us;
	if (next != UINT64_MAX && !__atomic_load_n(&pm_g.quit, __ATOMIC_RELAXED)) {
		wait = next > now ? pm_tclock_delta_ns(&pm_tsc, next - now) / 1000 : 0;
		if (wait < us)
			us = wait;
	}
	if (us >= 5)
		rte_delay_us_sleep((unsigned int)us);
	else
		rte_pause();
}

/* ---- pinglist reload (lcore side) ---- */

/*
 * Take the flow set a reload built (struct pm_flowset): carried-over flows
 * keep everything -- in-flight probes, the open window's counts and
 * histograms, pacing -- and those of removed targets stop sending; new
 * flows join the open window.  The old arrays go back in @ns.  Only the
 * trace in progress ends early (its path record is written as far as it
 * got).  Called with no probe pending in pend[] (they name flow indexes).
 */
static void
pm_flowset_take(struct pm_lcore *lc, struct pm_flowset *ns, uint64_t now)
{
	struct pm_flow *old = lc->flows, *f;
	struct rte_hash *ftab;
	uint32_t i, *heap, *ssid, n;

	if (lc->trace.flow != PM_TRACE_NONE)
		pm_trace_emit(lc);
	lc->trace.prev_flow = PM_TRACE_NONE;
	lc->trace.next = 0;
	for (i = 0; i < ns->nflows; i++) {
		f = &ns->flows[i];
		if (ns->from[i] >= 0) {
			*f = old[ns->from[i]];
			if (ns->retire[i] && f->retired == 0) {
				f->retired = 1;
				f->retire_tsc = now;
			}
		} else {
			f->win = lc->win;
			f->next_tsc += now;
		}
	}
	n = lc->nflows;
	heap = lc->heap;
	ssid = lc->ssid_map;
	ftab = lc->ftab;
	lc->flows = ns->flows;
	lc->heap = ns->heap;
	lc->ssid_map = ns->ssid_map;
	lc->ftab = ns->ftab;
	__atomic_store_n(&lc->nflows, ns->nflows, __ATOMIC_RELAXED);
	ns->flows = old;
	ns->nflows = n;
	ns->heap = heap;
	ns->ssid_map = ssid;
	ns->ftab = ftab;
	lc->sweep = 0;
	lc->rr = 0;
	pm_heap_build(lc);
	lc->tb_pps = ns->tb_pps;
	lc->tb_Bps = ns->tb_Bps;
	lc->tb_max_pkts = ns->tb_max_pkts;
	lc->tb_max_bytes = ns->tb_max_bytes;
	if (lc->tb_pkts > lc->tb_max_pkts)
		lc->tb_pkts = lc->tb_max_pkts;
	if (lc->tb_bytes > lc->tb_max_bytes)
		lc->tb_bytes = lc->tb_max_bytes;
	__atomic_store_n(&lc->pending, NULL, __ATOMIC_RELEASE);
}

/* Start @lc's windows at TSC @now: the current window index (windows
 * aligned to the epoch, window_ms long) and when it ends. */
void
pm_lcore_win_start(struct pm_lcore *lc, uint64_t now)
{
	uint64_t now_ns = pm_tclock_ns(&pm_tsc, now);
	uint64_t wns = (uint64_t)pm_g.cfg.window_ms * 1000000ULL;

	lc->win = now_ns / wns;
	lc->win_ticks = pm_tclock_ticks(&pm_tsc, wns);
	lc->win_end_tsc = now + pm_tclock_ticks(&pm_tsc, (lc->win + 1) * wns - now_ns);
}

/*
 * The lcore did not run from @from to @now (TSC): see PM_STALL_NS.  Counted,
 * and the windows it spans get PM_REC_F_STALL in their records (with the
 * ones of a stall just before, if they touch: flows close their windows
 * lazily, so an older range may still be due).
 */
static void
pm_lcore_stalled(struct pm_lcore *lc, uint64_t from, uint64_t now)
{
	uint64_t wns = (uint64_t)pm_g.cfg.window_ms * 1000000ULL;
	uint64_t w0 = pm_tclock_ns(&pm_tsc, from) / wns;
	uint64_t w1 = pm_tclock_ns(&pm_tsc, now) / wns;

	PM_INC(lc, lcore_stalls, 1);
	PM_INC(lc, lcore_stall_us, pm_tclock_delta_ns(&pm_tsc, now - from) / 1000);
	if (lc->stall_win1 == 0 || w0 > lc->stall_win1 + 1)
		lc->stall_win0 = w0;
	lc->stall_win1 = w1;
}

static int
pm_stamp_lcore(void *arg)
{
	struct pm_lcore *lc = arg;
	const struct pm_prober *p = &pm_g;
	uint64_t now, drain_end = 0, st_ticks, last_work, sweep_gap, sweep_next;
	uint64_t last_turn;
	uint32_t i, k, idle = 0;
	int quitting = 0, work;

	now = rte_rdtsc();
	pm_lcore_win_start(lc, now);
	for (i = 0; i < lc->nflows; i++) {
		lc->flows[i].win = lc->win;
		lc->flows[i].next_tsc += now;
	}
	pm_heap_build(lc);
	lc->tb_last = now;
	lc->trace.flow = PM_TRACE_NONE;
	lc->trace.prev_flow = PM_TRACE_NONE;
	if (p->cfg.trace_interval_s) {
		/* Traces spread over the interval; the first ones soon. */
		lc->trace.interval = pm_tsc.hz * (uint64_t)p->cfg.trace_interval_s;
		lc->trace.gap = lc->nflows ? lc->trace.interval / lc->nflows : 0;
		if (lc->trace.gap < pm_tsc.hz / 1000)
			lc->trace.gap = pm_tsc.hz / 1000;
		if (lc->trace.gap > pm_tsc.hz / 10)
			lc->trace.gap = pm_tsc.hz / 10;
		lc->trace.next_start = now + pm_tsc.hz / 10;
	}
	st_ticks = pm_tclock_ticks(&pm_tsc, (uint64_t)p->cfg.status_ms * 1000000ULL);
	lc->st_switch_tsc = now + st_ticks;
	k = lc->nflows / 256;
	k = k < 8 ? 8 : (k > 1024 ? 1024 : k);
	/* A whole pass of the sweep every 1/16 of the timeout or the window,
	 * whichever is shorter, is often enough for both (losses, windows of
	 * idle flows); sweeping on every turn only cost cycles at line rate. */
	sweep_gap = RTE_MIN(p->timeout_ticks, lc->win_ticks) / 16 /
		    ((lc->nflows + k - 1) / k + 1);
	sweep_next = now;
	last_work = now;
	last_turn = now;

	for (;;) {
		now = rte_rdtsc();
		if (unlikely(now - last_turn > p->stall_ticks)) {
			pm_lcore_stalled(lc, last_turn, now);
			if (sweep_next < now + p->stall_hold_ticks)
				sweep_next = now + p->stall_hold_ticks;
			/* Draining at shutdown: take those replies too. */
			if (quitting && drain_end < now + p->stall_hold_ticks)
				drain_end = now + p->stall_hold_ticks;
		}
		last_turn = now;
		if (unlikely(__atomic_load_n(&lc->pending, __ATOMIC_ACQUIRE) != NULL) &&
		    lc->npend == 0 && !quitting)
			pm_flowset_take(lc, lc->pending, now);
		if (now >= lc->win_end_tsc) {
			lc->win++;
			lc->win_end_tsc += lc->win_ticks;
		}
		if (!quitting && __atomic_load_n(&pm_g.quit, __ATOMIC_RELAXED)) {
			quitting = 1;
			drain_end = now + p->timeout_ticks;
		}
		work = 0;
		if (!quitting || lc->npend)
			work += pm_tx(lc, now);
		if (unlikely(p->cfg.trace_interval_s) && !quitting)
			work += pm_trace_step(lc, now);
		work += pm_rx(lc);
		if (now >= sweep_next) {
			pm_sweep(lc, now, k);
			sweep_next = now + sweep_gap;
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
			pm_lcore_idle(lc, now, last_work, lc->heap_n ?
				      lc->flows[lc->heap[0]].next_tsc : UINT64_MAX);
			last_turn = rte_rdtsc();	/* a sleep we chose */
		}
	}
	if (lc->npend) {
		/* Never went out: the queue refused them for a whole timeout. */
		rte_pktmbuf_free_bulk(lc->pend, lc->npend);
		lc->npend = 0;
	}
	if (lc->nspare) {
		rte_pktmbuf_free_bulk(lc->spare, lc->nspare);
		lc->nspare = 0;
	}
	for (i = 0; i < lc->nflows; i++) {
		if (lc->flows[i].retired == 2)
			continue;
		pm_flow_roll(lc, &lc->flows[i]);
		k = pm_track_expire_all(&lc->flows[i].trk);
		if (k)
			PM_INC(lc, lost, k);
		pm_flow_close(lc, &lc->flows[i], PM_REC_F_FINAL);
	}
	pm_status_flip(lc);
	__atomic_store_n(&lc->done, 1, __ATOMIC_RELEASE);
	return 0;
}

/* ---- init / fini ---- */

static uint32_t
pm_pow2(uint64_t v)
{
	uint32_t r = 1;

	while (r < v && r < (1u << 31))
		r <<= 1;
	return r;
}

/* Per-flow sizes derived from its rate: tracker slots and histogram room. */
static void
pm_flow_sizes(const struct pm_prober *p, const struct pm_target_cfg *t,
	      uint32_t *slots, uint32_t *hcap)
{
	uint64_t rate = (t->rate_pps + t->flows - 1) / t->flows, exp;

	/* Adaptive probing's bursts need their in-flight slots and buckets. */
	if (p->cfg.loss_burst > 1)
		rate *= p->cfg.loss_burst;

	if (p->cfg.line_rate) {
		/*
		 * Without a cap, 16k in flight per flow (at 10 ms timeout,
		 * 1.6 Mpps a flow).  With inflight_max, no flow can have more
		 * outstanding than the whole lcore may: a ring of the cap's
		 * size (at least 256) never holds a flow back while its probes
		 * are answered, and each ring -- walked one slot per probe --
		 * stays small (16 flows x 512 x 16 B = 128 KiB).  A larger
		 * ring only delays the stall behind a lost probe, which waits
		 * out the timeout anyway, and its walk pushes everything else
		 * out of L2: with 4x the cap (512 KiB), whenever other work on
		 * the host squeezed the caches, the reply cost 13-29 % more
		 * in three of four instrumented pairs.
		 */
		*slots = 16384;
		if (p->cfg.inflight_max)
			*slots = (uint32_t)RTE_MAX(256ULL, RTE_MIN(16384ULL,
				 pm_pow2(p->cfg.inflight_max)));
		*hcap = 0;
		return;
	}
	*slots = pm_track_slots_for(rate, (uint64_t)p->cfg.timeout_ms * 1000000ULL);
	exp = rate * p->cfg.window_ms / 1000 + 1;
	*hcap = pm_pow2(exp * 3 / 2 + 4);
	if (*hcap < 8)
		*hcap = 8;
	if (*hcap > PM_SPARSE_MAX)
		*hcap = 0;	/* dense */
}

/*
 * Room a tracker ring of @slots takes in its lcore's arena.  A ring of 4 KiB
 * or more would start at the same offset in a page as its neighbours, and
 * at line rate the flows move through their rings in step: slot s of every
 * flow would fall in one L1 set (a set per 4 KiB of address), 16 flows on
 * 12 ways, and replies would miss on their slots.  256 bytes of room after
 * such a ring start the next one four lines further on: 16 flows' rings
 * cover the 64 sets of a 4 KiB stride before two share a start.
 */
static inline uint32_t
pm_slot_room(uint32_t slots)
{
	const uint32_t skew = 4 * RTE_CACHE_LINE_SIZE / sizeof(struct pm_track_slot);

	return slots * sizeof(struct pm_track_slot) >= 4096 ? slots + skew : slots;
}

/*
 * Set up flow @f of target @t as flow @fi of lcore index @j: tracker slots
 * and histograms carved from *@slotp and *@histp, frame head built, entered
 * in @ftab and @ssid_map.  @g numbers flows across the prober's life (SSID,
 * first-send phase; the lcore adds its clock to next_tsc when it takes the
 * flow).  Control thread only.  Returns 0 or -errno.
 */
static int
pm_flow_setup(struct pm_prober *p, struct pm_flow *fl, uint32_t fi, uint32_t t,
	      uint32_t f, unsigned int j, uint64_t g, struct pm_track_slot **slotp,
	      uint32_t **histp, struct rte_hash *ftab, uint32_t *ssid_map)
{
	static uint8_t tmp[PM_STAMP_MAX_PAYLOAD + PM_PROBE_HDRS_LEN + 64];
	const struct pm_target_cfg *tc = &p->cfg.targets[t];
	struct pm_probe_hdr ph;
	struct pm_fkey key;
	uint32_t slots, hcap;
	int len;

	pm_flow_sizes(p, tc, &slots, &hcap);
	memset(fl, 0, sizeof(*fl));
	fl->target = t;
	fl->fidx = (uint16_t)f;
	fl->sport = (uint16_t)(p->cfg.src_port_base + f * p->sport_stride + j);
	fl->ssid = (uint16_t)(1 + g % 65535);
	fl->peer_ip = tc->ip;
	fl->probe = tc->probe;
	fl->peer_port = tc->probe == PM_PROBE_ICMP ? 0 : tc->port;
	/* SYN probes: ISN = a random base + seq, so only the target that got
	 * the SYN can answer for it. */
	fl->isn = (uint32_t)rte_rand();
	if (tc->probe == PM_PROBE_STAMP && ssid_map[fl->ssid] == 0)
		ssid_map[fl->ssid] = fi + 1;
	pm_track_init(&fl->trk, *slotp, slots, 0);
	*slotp += pm_slot_room(slots);
	if (hcap) {
		pm_hist_init_sparse(&fl->rtt, (struct pm_hist_ent *)*histp, hcap);
		*histp += hcap * sizeof(struct pm_hist_ent) / sizeof(uint32_t);
		pm_hist_init_sparse(&fl->refl, (struct pm_hist_ent *)*histp, hcap);
		*histp += hcap * sizeof(struct pm_hist_ent) / sizeof(uint32_t);
	} else {
		pm_hist_init_dense(&fl->rtt, *histp);
		*histp += PM_HIST_NBUCKETS;
		pm_hist_init_dense(&fl->refl, *histp);
		*histp += PM_HIST_NBUCKETS;
	}
	pm_stat_reset(&fl->raw);
	pm_stat_reset(&fl->fwd);
	pm_stat_reset(&fl->bwd);
	fl->period = p->cfg.line_rate || tc->rate_pps == 0 ? 0 :
		pm_tsc.hz * tc->flows / tc->rate_pps;
	fl->base_period = fl->period;
	fl->min_period = tc->probe != PM_PROBE_STAMP || tc->max_rate_pps ?
		pm_tsc.hz * tc->flows / (tc->max_rate_pps ? tc->max_rate_pps :
					 PM_CFG_NOREFL_MAX_PPS) : 0;
	/* Spread first sends over a period (golden-ratio phases) so flows do
	 * not fire in lockstep. */
	fl->next_tsc = (uint64_t)(((unsigned __int128)fl->period *
				   ((g * 40503u) & 0xffff)) >> 16);

	memset(&ph, 0, sizeof(ph));
	memcpy(ph.dmac, p->trt[t].mac.addr_bytes, 6);
	memcpy(ph.smac, p->port.mac.addr_bytes, 6);
	ph.sip = p->cfg.src_ip;
	ph.dip = tc->ip;
	ph.sport = fl->sport;
	ph.dport = tc->port;
	ph.dscp = tc->dscp;
	ph.ssid = fl->ssid;
	ph.payload_len = tc->size;
	if (tc->probe == PM_PROBE_ICMP)
		len = pm_wire_ping_build(tmp, sizeof(tmp), &ph);
	else if (tc->probe == PM_PROBE_TCP)
		len = pm_wire_syn_build(tmp, sizeof(tmp), &ph);
	else
		len = pm_wire_probe_build(tmp, sizeof(tmp), &ph);
	if (len < 0) {
		PM_LOG(ERR, "target %s: cannot build a %u-byte probe", tc->name, tc->size);
		return len;
	}
	p->trt[t].frame_len = (uint16_t)len;
	/* pm_build() copies all PM_HEAD_MAX bytes: padding beyond is zero */
	memset(fl->head, 0, PM_HEAD_MAX);
	memcpy(fl->head, tmp, RTE_MIN((size_t)len, (size_t)PM_HEAD_MAX));
	if (tc->probe == PM_PROBE_STAMP)
		fl->csum_base = pm_wire_probe_stamp_base(tmp);

	pm_fkey_set(&key, tc->ip, fl->peer_port, fl->sport, pm_probe_proto[tc->probe]);
	if (rte_hash_add_key_data(ftab, &key, (void *)(uintptr_t)fi) < 0) {
		PM_LOG(ERR, "flow table full");
		return -ENOSPC;
	}
	return 0;
}

/*
 * Ask the NIC to deliver each lcore's replies to its own queue: match our
 * address and the low bits of the UDP destination port (the owner index,
 * see pm_owner()).  Where rte_flow cannot, replies are handed over in
 * software (pm_rx_one), which is always correct, only slower.
 */
static void
pm_stamp_steer(struct pm_prober *p)
{
	struct rte_flow_attr attr = { .ingress = 1 };
	struct rte_flow_item_ipv4 ip_spec, ip_mask;
	struct rte_flow_item_udp udp_spec, udp_mask;
	struct rte_flow_action_queue queue;
	struct rte_flow_item pattern[4];
	struct rte_flow_action action[2];
	struct rte_flow *flows[PM_MAX_LCORES];
	struct rte_flow_error err;
	unsigned int i, j;

	if (p->nlc < 2)
		return;
	memset(pattern, 0, sizeof(pattern));
	memset(action, 0, sizeof(action));
	memset(&ip_spec, 0, sizeof(ip_spec));
	memset(&ip_mask, 0, sizeof(ip_mask));
	memset(&udp_spec, 0, sizeof(udp_spec));
	memset(&udp_mask, 0, sizeof(udp_mask));
	ip_spec.hdr.dst_addr = rte_cpu_to_be_32(p->cfg.src_ip);
	ip_mask.hdr.dst_addr = RTE_BE32(0xffffffff);
	udp_mask.hdr.dst_port = rte_cpu_to_be_16((uint16_t)(p->sport_stride - 1));
	pattern[0].type = RTE_FLOW_ITEM_TYPE_ETH;
	pattern[1].type = RTE_FLOW_ITEM_TYPE_IPV4;
	pattern[1].spec = &ip_spec;
	pattern[1].mask = &ip_mask;
	pattern[2].type = RTE_FLOW_ITEM_TYPE_UDP;
	pattern[2].spec = &udp_spec;
	pattern[2].mask = &udp_mask;
	pattern[3].type = RTE_FLOW_ITEM_TYPE_END;
	action[0].type = RTE_FLOW_ACTION_TYPE_QUEUE;
	action[0].conf = &queue;
	action[1].type = RTE_FLOW_ACTION_TYPE_END;
	for (i = 0; i < p->nlc; i++) {
		udp_spec.hdr.dst_port = rte_cpu_to_be_16((uint16_t)((p->cfg.src_port_base + i) &
								      (p->sport_stride - 1)));
		queue.index = p->lc[i]->queue;
		flows[i] = rte_flow_create(p->port.port_id, &attr, pattern, action, &err);
		if (flows[i] == NULL) {
			PM_LOG(INFO, "port %u: no rte_flow steering (%s): replies for other "
			       "lcores are handed over by ring", p->port.port_id,
			       err.message ? err.message : "unsupported");
			for (j = 0; j < i; j++)
				rte_flow_destroy(p->port.port_id, flows[j], &err);
			return;
		}
	}
	PM_LOG(INFO, "port %u: replies steered to their lcore's queue by rte_flow",
	       p->port.port_id);
}

/*
 * An lcore's share of the global budget, in proportion to the rates it
 * carries (@rate of @total, millipps; equal shares in line-rate mode), and
 * its bucket depth: 10 ms of budget (at least one probe of @max_wire
 * bytes), so over any interval T at most budget x (T + 10 ms) leaves it.
 */
static void
pm_tb_share(const struct pm_prober *p, uint64_t rate, uint64_t total, uint32_t max_wire,
	    uint64_t *pps, uint64_t *Bps, uint64_t *max_pkts, uint64_t *max_bytes)
{
	*pps = p->cfg.line_rate || total == 0 ? p->cfg.budget_pps / p->nlc :
	       (uint64_t)((double)p->cfg.budget_pps * rate / total);
	*Bps = p->cfg.line_rate || total == 0 ? p->cfg.budget_mbps * 125000ULL / p->nlc :
	       (uint64_t)((double)p->cfg.budget_mbps * 125000.0 * rate / total);
	*max_pkts = RTE_MAX(1ULL, *pps / 100) * pm_tsc.hz;
	*max_bytes = RTE_MAX((uint64_t)max_wire, *Bps / 100) * pm_tsc.hz;
}

/* Largest probe on the wire of the targets (bytes, with overhead). */
static uint32_t
pm_max_wire(const struct pm_prober *p)
{
	uint32_t t, w, max_wire = 0;

	for (t = 0; t < p->cfg.ntargets; t++) {
		w = (uint32_t)p->cfg.targets[t].size + PM_PROBE_HDRS_LEN + PM_WIRE_OVERHEAD;
		if (w > max_wire)
			max_wire = w;
	}
	return max_wire;
}

/*
 * What the flows of targets @t0.. need on each lcore (flow f of target t
 * goes to lcore (t + f) % nlc): flows, tracker slots, histogram words, and
 * rate in millipps (10 pps over 13 flows is not 0 per flow: that starved
 * the lcore of budget).  Adds to the arrays.
 */
static void
pm_flow_needs(const struct pm_prober *p, uint32_t t0, uint32_t *cnt, uint32_t *nslots,
	      uint64_t *nhent, uint64_t *rate)
{
	const struct pm_target_cfg *tc;
	uint32_t t, f, j, slots, hcap;

	for (t = t0; t < p->cfg.ntargets; t++) {
		tc = &p->cfg.targets[t];
		if (!p->trt[t].resolved)
			continue;
		pm_flow_sizes(p, tc, &slots, &hcap);
		for (f = 0; f < tc->flows; f++) {
			j = (t + f) % p->nlc;
			cnt[j]++;
			nslots[j] += pm_slot_room(slots);
			nhent[j] += hcap ? 2 * hcap * sizeof(struct pm_hist_ent) / sizeof(uint32_t) :
					   2 * PM_HIST_NBUCKETS;
			rate[j] += (uint64_t)tc->rate_pps * 1000 / tc->flows;
		}
	}
}

static int
pm_stamp_init(struct pm_prober *p)
{
	static const struct rte_mbuf_dynfield t4_desc = {
		.name = "pmesh_dynfield_t4_tsc",
		.size = sizeof(uint64_t),
		.align = __alignof__(uint64_t),
	};
	uint32_t cnt[PM_MAX_LCORES] = { 0 }, nslots[PM_MAX_LCORES] = { 0 };
	uint64_t nhent[PM_MAX_LCORES] = { 0 }, rate[PM_MAX_LCORES] = { 0 };
	uint64_t total_rate = 0, g = 0;
	struct rte_hash_parameters hp;
	struct pm_track_slot *slot_next[PM_MAX_LCORES];
	uint32_t *hist_next[PM_MAX_LCORES];
	uint32_t t, f, fi, flows_max = 0, max_wire = 0;
	unsigned int lid, i, j, idx = 0, socket;
	struct pm_lcore *lc;
	char name[RTE_RING_NAMESIZE];
	int ret;

	pm_t4_off = rte_mbuf_dynfield_register(&t4_desc);
	if (pm_t4_off < 0) {
		PM_LOG(ERR, "cannot register the t4 mbuf field: %s", rte_strerror(rte_errno));
		return -rte_errno;
	}
	for (t = 0; t < p->cfg.ntargets; t++)
		if (p->cfg.targets[t].flows > flows_max)
			flows_max = p->cfg.targets[t].flows;
	if ((uint64_t)p->cfg.src_port_base + (uint64_t)flows_max * p->sport_stride > 65536) {
		PM_LOG(ERR, "src_port_base %u + %u flows x %u lcores does not fit in UDP ports",
		       p->cfg.src_port_base, flows_max, p->sport_stride);
		return -EINVAL;
	}
	max_wire = pm_max_wire(p);
	/* Pass 1: how much each lcore needs. */
	pm_flow_needs(p, 0, cnt, nslots, nhent, rate);
	for (j = 0; j < p->nlc; j++)
		total_rate += rate[j];
	/* Pass 2: allocate on each lcore's socket. */
	RTE_LCORE_FOREACH_WORKER(lid) {
		if (idx >= p->nlc)
			break;
		socket = rte_lcore_to_socket_id(lid);
		lc = rte_zmalloc_socket("pm_lcore", sizeof(*lc), RTE_CACHE_LINE_SIZE, socket);
		if (lc == NULL)
			goto nomem;
		p->lc[idx] = lc;
		lc->lcore_id = lid;
		lc->idx = (uint16_t)idx;
		lc->queue = (uint16_t)idx;
		lc->st_ready = 2;
		lc->rec_seq = (uint64_t)(pm_clock_realtime_ns() / 1000000000ULL) << 20;
		lc->flows = rte_zmalloc_socket("pm_flows", sizeof(struct pm_flow) * (cnt[idx] + 1),
					       RTE_CACHE_LINE_SIZE, socket);
		lc->heap = rte_zmalloc_socket("pm_heap", sizeof(uint32_t) * (cnt[idx] + 1), 0,
					      socket);
		slot_next[idx] = rte_zmalloc_socket("pm_slots", sizeof(struct pm_track_slot) *
						    (nslots[idx] + 1), RTE_CACHE_LINE_SIZE, socket);
		hist_next[idx] = rte_zmalloc_socket("pm_hist", sizeof(uint32_t) *
						    (nhent[idx] + 2 * PM_HIST_NBUCKETS + 2),
						    RTE_CACHE_LINE_SIZE, socket);
		lc->ssid_map = rte_zmalloc_socket("pm_ssid", sizeof(uint32_t) * 65536,
						  RTE_CACHE_LINE_SIZE, socket);
		if (lc->flows == NULL || lc->heap == NULL || slot_next[idx] == NULL ||
		    hist_next[idx] == NULL || lc->ssid_map == NULL)
			goto nomem;
		pm_hist_init_dense(&lc->st_hist[0], hist_next[idx]);
		pm_hist_init_dense(&lc->st_hist[1], hist_next[idx] + PM_HIST_NBUCKETS);
		hist_next[idx] += 2 * PM_HIST_NBUCKETS;

		memset(&hp, 0, sizeof(hp));
		snprintf(name, sizeof(name), "pm_ftab_%u", idx);
		hp.name = name;
		hp.entries = cnt[idx] * 2 < 64 ? 64 : cnt[idx] * 2;
		hp.key_len = sizeof(struct pm_fkey);
		hp.hash_func = rte_jhash;
		hp.socket_id = (int)socket;
		lc->ftab = rte_hash_create(&hp);
		if (lc->ftab == NULL) {
			PM_LOG(ERR, "flow table for lcore %u: %s", lid, rte_strerror(rte_errno));
			return -rte_errno;
		}
		snprintf(name, sizeof(name), "pm_rec_%u", idx);
		lc->rec_ring = rte_ring_create_elem(name, sizeof(struct pm_record),
			p->cfg.export_ring ? pm_pow2(RTE_MAX(p->cfg.export_ring, 4u)) :
			pm_pow2(RTE_MAX(1024u, RTE_MIN(cnt[idx] * 2u, 65536u))), (int)socket,
			RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (lc->rec_ring == NULL) {
			PM_LOG(ERR, "record ring for lcore %u: %s", lid, rte_strerror(rte_errno));
			return -rte_errno;
		}
		pm_tb_share(p, rate[idx], total_rate, max_wire, &lc->tb_pps, &lc->tb_Bps,
			    &lc->tb_max_pkts, &lc->tb_max_bytes);
		lc->tb_pkts = lc->tb_max_pkts;
		lc->tb_bytes = lc->tb_max_bytes;
		idx++;
	}
	if (p->nlc > 1) {
		for (i = 0; i < p->nlc; i++)
			for (j = 0; j < p->nlc; j++) {
				if (i == j)
					continue;
				snprintf(name, sizeof(name), "pm_x_%u_%u", i, j);
				pm_xring[i][j] = rte_ring_create(name, 1024,
					rte_lcore_to_socket_id(p->lc[i]->lcore_id),
					RING_F_SP_ENQ | RING_F_SC_DEQ);
				if (pm_xring[i][j] == NULL)
					goto nomem;
			}
	}
	/* Pass 3: the flows. */
	for (t = 0; t < p->cfg.ntargets; t++) {
		if (!p->trt[t].resolved)
			continue;
		for (f = 0; f < p->cfg.targets[t].flows; f++, g++) {
			j = (t + f) % p->nlc;
			lc = p->lc[j];
			fi = lc->nflows++;
			ret = pm_flow_setup(p, &lc->flows[fi], fi, t, f, j, g, &slot_next[j],
					    &hist_next[j], lc->ftab, lc->ssid_map);
			if (ret != 0)
				return ret;
		}
	}
	p->flows_made = g;
	pm_stamp_steer(p);
	return 0;
nomem:
	PM_LOG(ERR, "out of DPDK memory for %" PRIu64 " flows (give EAL more with -m or "
	       "hugepages)", (uint64_t)cnt[0] * p->nlc);
	return -ENOMEM;
}

/* ---- pinglist reload (control side) ---- */

static void
pm_flowset_free(struct pm_flowset *ns)
{
	if (ns == NULL)
		return;
	rte_free(ns->flows);
	rte_free(ns->heap);
	rte_free(ns->ssid_map);
	rte_hash_free(ns->ftab);
	rte_free(ns->from);
	rte_free(ns->retire);
	rte_free(ns);
}

/*
 * Build every lcore's new flow set: its flows that are not finished, in
 * the same order (those of @gone targets marked to retire), then the flows
 * of the targets added from @t0 on.  Only the added flows get new tracker
 * and histogram memory; carried-over ones keep theirs.  (That memory of
 * removed targets is given back only at exit: docs/config.md says so.)
 */
static int
pm_stamp_reload(struct pm_prober *p, uint32_t t0, const uint8_t *gone)
{
	struct pm_flowset *ns[PM_MAX_LCORES] = { NULL };
	uint32_t cnt[PM_MAX_LCORES] = { 0 }, nslots[PM_MAX_LCORES] = { 0 };
	uint64_t nhent[PM_MAX_LCORES] = { 0 }, rate[PM_MAX_LCORES] = { 0 };
	struct pm_track_slot *slot_next[PM_MAX_LCORES] = { NULL };
	uint32_t *hist_next[PM_MAX_LCORES] = { NULL };
	uint64_t total_rate = 0, g = p->flows_made, waited;
	uint32_t t, f, i, j, k, max_wire = pm_max_wire(p);
	struct rte_hash_parameters hp;
	const struct pm_target_cfg *tc;
	struct pm_lcore *lc;
	struct pm_fkey key;
	char name[RTE_HASH_NAMESIZE];
	int socket, ret = -ENOMEM;

	/* Sizes: the flows kept, and the new ones. */
	for (j = 0; j < p->nlc; j++) {
		lc = p->lc[j];
		for (i = 0; i < lc->nflows; i++) {
			const struct pm_flow *of = &lc->flows[i];

			if (__atomic_load_n(&of->retired, __ATOMIC_RELAXED) == 2)
				continue;
			cnt[j]++;
			if (of->retired == 0 && !gone[of->target]) {
				tc = &p->cfg.targets[of->target];
				rate[j] += (uint64_t)tc->rate_pps * 1000 / tc->flows;
			}
		}
	}
	pm_flow_needs(p, t0, cnt, nslots, nhent, rate);
	for (j = 0; j < p->nlc; j++)
		total_rate += rate[j];

	/* Allocate. */
	for (j = 0; j < p->nlc; j++) {
		lc = p->lc[j];
		socket = (int)rte_lcore_to_socket_id(lc->lcore_id);
		ns[j] = rte_zmalloc_socket("pm_fset", sizeof(*ns[j]), 0, socket);
		if (ns[j] == NULL)
			goto fail;
		ns[j]->flows = rte_zmalloc_socket("pm_flows", sizeof(struct pm_flow) *
						  (cnt[j] + 1), RTE_CACHE_LINE_SIZE, socket);
		ns[j]->heap = rte_zmalloc_socket("pm_heap", sizeof(uint32_t) * (cnt[j] + 1), 0,
						 socket);
		ns[j]->ssid_map = rte_zmalloc_socket("pm_ssid", sizeof(uint32_t) * 65536,
						     RTE_CACHE_LINE_SIZE, socket);
		ns[j]->from = rte_malloc_socket("pm_from", sizeof(int32_t) * (cnt[j] + 1), 0,
						socket);
		ns[j]->retire = rte_zmalloc_socket("pm_retire", cnt[j] + 1, 0, socket);
		if (nslots[j])
			slot_next[j] = rte_zmalloc_socket("pm_slots",
				sizeof(struct pm_track_slot) * nslots[j], RTE_CACHE_LINE_SIZE,
				socket);
		if (nhent[j])
			hist_next[j] = rte_zmalloc_socket("pm_hist", sizeof(uint32_t) * nhent[j],
							  RTE_CACHE_LINE_SIZE, socket);
		if (ns[j]->flows == NULL || ns[j]->heap == NULL || ns[j]->ssid_map == NULL ||
		    ns[j]->from == NULL || ns[j]->retire == NULL ||
		    (nslots[j] && slot_next[j] == NULL) || (nhent[j] && hist_next[j] == NULL))
			goto fail;
		memset(&hp, 0, sizeof(hp));
		snprintf(name, sizeof(name), "pm_ftab_%u_%u", j, p->reloads + 1);
		hp.name = name;
		hp.entries = cnt[j] * 2 < 64 ? 64 : cnt[j] * 2;
		hp.key_len = sizeof(struct pm_fkey);
		hp.hash_func = rte_jhash;
		hp.socket_id = socket;
		ns[j]->ftab = rte_hash_create(&hp);
		if (ns[j]->ftab == NULL)
			goto fail;
		pm_tb_share(p, rate[j], total_rate, max_wire, &ns[j]->tb_pps, &ns[j]->tb_Bps,
			    &ns[j]->tb_max_pkts, &ns[j]->tb_max_bytes);
	}

	/* Carried-over flows: their index, lookups from their fixed fields. */
	for (j = 0; j < p->nlc; j++) {
		lc = p->lc[j];
		for (i = 0, k = 0; i < lc->nflows; i++) {
			const struct pm_flow *of = &lc->flows[i];

			if (__atomic_load_n(&of->retired, __ATOMIC_RELAXED) == 2)
				continue;
			ns[j]->from[k] = (int32_t)i;
			ns[j]->retire[k] = gone[of->target];
			if (of->probe == PM_PROBE_STAMP && ns[j]->ssid_map[of->ssid] == 0)
				ns[j]->ssid_map[of->ssid] = k + 1;
			pm_fkey_set(&key, of->peer_ip, of->peer_port, of->sport,
				    pm_probe_proto[of->probe]);
			if (rte_hash_add_key_data(ns[j]->ftab, &key, (void *)(uintptr_t)k) < 0)
				goto fail;
			k++;
		}
		ns[j]->nflows = k;
	}
	/* New flows. */
	for (t = t0; t < p->cfg.ntargets; t++) {
		if (!p->trt[t].resolved)
			continue;
		for (f = 0; f < p->cfg.targets[t].flows; f++, g++) {
			j = (t + f) % p->nlc;
			k = ns[j]->nflows++;
			ns[j]->from[k] = -1;
			ret = pm_flow_setup(p, &ns[j]->flows[k], k, t, f, j, g, &slot_next[j],
					    &hist_next[j], ns[j]->ftab, ns[j]->ssid_map);
			if (ret != 0)
				goto fail;
		}
	}
	p->flows_made = g;

	/* Hand over, and wait until every lcore took its set. */
	for (j = 0; j < p->nlc; j++)
		__atomic_store_n(&p->lc[j]->pending, ns[j], __ATOMIC_RELEASE);
	for (j = 0; j < p->nlc; j++) {
		for (waited = 0; __atomic_load_n(&p->lc[j]->pending, __ATOMIC_ACQUIRE) != NULL;
		     waited++) {
			if (__atomic_load_n(&p->lc[j]->done, __ATOMIC_ACQUIRE)) {
				/* Stopped first (it takes no set once quitting):
				 * ns[j] still holds the new arrays. */
				__atomic_store_n(&p->lc[j]->pending, NULL, __ATOMIC_RELAXED);
				break;
			}
			if (waited == 5000)
				PM_LOG(WARNING, "reload: lcore %u has not taken its new flows "
				       "after 5 s; still waiting", p->lc[j]->lcore_id);
			usleep(1000);
		}
		pm_flowset_free(ns[j]);	/* now the lcore's old arrays */
	}
	return 0;
fail:
	PM_LOG(ERR, "reload: cannot set up the new flows (%s): nothing changed",
	       ret == -ENOMEM ? "out of DPDK memory" : strerror(-ret));
	for (j = 0; j < p->nlc; j++)
		pm_flowset_free(ns[j]);
	/* slot and histogram arenas of new flows: small, kept until exit */
	return ret == 0 ? -ENOMEM : ret;
}

static void
pm_stamp_fini(struct pm_prober *p)
{
	unsigned int i, j;

	for (i = 0; i < p->nlc; i++) {
		struct pm_lcore *lc = p->lc[i];

		if (lc == NULL)
			continue;
		rte_hash_free(lc->ftab);
		rte_ring_free(lc->rec_ring);
		/* flows, heap, slots and histogram arenas go with EAL cleanup */
		for (j = 0; j < p->nlc; j++)
			rte_ring_free(pm_xring[i][j]);
	}
}

const struct pm_engine pm_engine_stamp = {
	.name = "stamp",
	.init = pm_stamp_init,
	.lcore_main = pm_stamp_lcore,
	.reload = pm_stamp_reload,
	.fini = pm_stamp_fini,
};
