/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fabric validation mode (see pm_rdma_val.h).
 *
 * One prober QP on this (main) thread sends to every peer at --rate, round
 * robin over the peer's QPs; wr_id = peer << 32 | seq, so a send
 * completion gives t1 (its ts_ns; on the TSC path the post time instead,
 * since the completion's poll may come after the reply's) for that
 * sequence, kept in a ring
 * beside the loss tracker's (lib/pm_track.h: received / lost / late /
 * duplicate, each probe counted once).  A reply gives t2 and t4, its
 * follow-up t3; rdma/followup.c pairs them in either order and network
 * RTT (t4 - t1) - (t3 - t2) goes into a dense histogram (lib/pm_hist.h).
 * A reply whose send completion has not been polled yet (cannot happen on
 * one CQ in order, but is not assumed) counts as received without an RTT
 * sample ("early").  Probing starts only once every peer answered the QPN
 * query, and the local reflector keeps answering for a probe timeout plus
 * a second after probing ends, so hosts started within --wait of each other
 * measure the same interval and do not see each other's shutdown as loss.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "pm_hist.h"
#include "pm_rdma_fu.h"
#include "pm_rdma_ud.h"
#include "pm_rdma_val.h"
#include "pm_track.h"

#define VAL_NRECV	1024
#define VAL_NSEND	256
#define VAL_BATCH	32
#define VAL_HOUSEKEEP_NS	1000000ULL
#define VAL_QUERY_MS	1000

struct val_peer {
	struct pm_rdma_val_peer_addr addr;
	struct pm_rdma_peer info;
	int answered;
	struct ibv_ah *ah;
	struct pm_track trk;
	struct pm_track_slot *slot;
	uint64_t *t1;			/**< send completion ns, by seq & mask */
	struct pm_rdma_fu fu;
	struct pm_hist hist;
	uint32_t *counts;
	uint64_t next_ns;
	uint32_t rr;
	uint64_t busy;			/**< local send ring full: not sent */
	uint64_t send_err;
	uint64_t tx_err;
	uint64_t no_t3;
	uint64_t early;
	uint64_t bad_ts;
};

static uint64_t
val_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int
pm_rdma_val_read_peers(struct pm_rdma_val_cfg *cfg, const char *path,
		       uint16_t dflt_port)
{
	char line[256], *s, *e;
	unsigned int lineno = 0;
	FILE *f;
	int rc = 0;

	f = fopen(path, "r");
	if (f == NULL) {
		rc = -errno;
		fprintf(stderr, "pmesh-rdma: error: --peers %s: %s\n", path,
			strerror(-rc));
		return rc;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			fprintf(stderr, "pmesh-rdma: error: %s:%u: line too "
				"long\n", path, lineno);
			rc = -EINVAL;
			break;
		}
		s = strchr(line, '#');
		if (s != NULL)
			*s = '\0';
		for (s = line; *s == ' ' || *s == '\t'; s++)
			;
		for (e = s + strlen(s); e > s && (e[-1] == ' ' ||
		     e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'); e--)
			;
		*e = '\0';
		if (*s == '\0')
			continue;
		if (cfg->npeers == PM_RDMA_VAL_MAXPEERS) {
			fprintf(stderr, "pmesh-rdma: error: %s:%u: more than "
				"%d peers\n", path, lineno,
				PM_RDMA_VAL_MAXPEERS);
			rc = -E2BIG;
			break;
		}
		if (pm_rdma_xchg_parse_addr(s, dflt_port,
					    &cfg->peer[cfg->npeers].ip,
					    &cfg->peer[cfg->npeers].port) != 0) {
			fprintf(stderr, "pmesh-rdma: error: %s:%u: '%s' is not "
				"IPv4[:PORT]\n", path, lineno, s);
			rc = -EINVAL;
			break;
		}
		cfg->npeers++;
	}
	fclose(f);
	return rc;
}

static const char *
val_addr_str(const struct pm_rdma_val_peer_addr *a, char *buf, size_t len)
{
	struct in_addr in = { .s_addr = htonl(a->ip) };
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &in, ip, sizeof(ip));
	snprintf(buf, len, "%s:%u", ip, a->port);
	return buf;
}

/* Ask every peer for its QPNs, in rounds, until all answered or @wait_s. */
static void
val_query_peers(struct val_peer *p, unsigned int n, uint32_t wait_s,
		atomic_int *quit)
{
	uint64_t end = val_now_ns() + (uint64_t)wait_s * 1000000000u;
	unsigned int i, left;
	char buf[64];
	int rc;

	for (;;) {
		left = 0;
		for (i = 0; i < n; i++) {
			if (p[i].answered)
				continue;
			rc = pm_rdma_xchg_query(p[i].addr.ip, p[i].addr.port,
						VAL_QUERY_MS, &p[i].info);
			if (rc == 0) {
				p[i].answered = 1;
				fprintf(stderr, "pmesh-rdma validate: peer %s: "
					"%s port %u, %u QPs\n",
					val_addr_str(&p[i].addr, buf,
						     sizeof(buf)),
					p[i].info.dev, p[i].info.port,
					p[i].info.nqpn);
			} else {
				left++;
				if (rc == -EPROTO)
					fprintf(stderr, "pmesh-rdma validate: "
						"peer %s: bad QPN answer\n",
						val_addr_str(&p[i].addr, buf,
							     sizeof(buf)));
			}
		}
		if (left == 0 || val_now_ns() >= end ||
		    atomic_load(quit))
			return;
		usleep(200000);
	}
}

static int
val_peer_setup(struct val_peer *p, const struct pm_rdma_dev *dev,
	       struct ibv_pd *pd, const struct pm_rdma_val_cfg *cfg)
{
	struct ibv_ah_attr aa;
	uint32_t nslots;

	memset(&aa, 0, sizeof(aa));
	aa.port_num = dev->port;
	aa.dlid = p->info.lid;
	if (dev->link_layer == IBV_LINK_LAYER_ETHERNET ||
	    p->info.link_layer == IBV_LINK_LAYER_ETHERNET) {
		aa.is_global = 1;
		memcpy(aa.grh.dgid.raw, p->info.gid, 16);
		aa.grh.sgid_index = dev->gid_index;
		aa.grh.hop_limit = 64;
	}
	p->ah = ibv_create_ah(pd, &aa);
	if (p->ah == NULL)
		return errno != 0 ? -errno : -EIO;
	nslots = pm_track_slots_for(cfg->rate_pps,
				    (uint64_t)cfg->timeout_ms * 1000000u);
	p->slot = calloc(nslots, sizeof(*p->slot));
	p->t1 = calloc(nslots, sizeof(*p->t1));
	p->counts = calloc(PM_HIST_NBUCKETS, sizeof(*p->counts));
	if (p->slot == NULL || p->t1 == NULL || p->counts == NULL ||
	    pm_track_init(&p->trk, p->slot, nslots, 0) != 0 ||
	    pm_rdma_fu_init(&p->fu, nslots) != 0)
		return -ENOMEM;
	pm_hist_init_dense(&p->hist, p->counts);
	return 0;
}

static void
val_peer_free(struct val_peer *p)
{
	if (p->ah != NULL)
		ibv_destroy_ah(p->ah);
	if (p->fu.ent != NULL)
		pm_rdma_fu_fini(&p->fu);
	free(p->slot);
	free(p->t1);
	free(p->counts);
}

static void
val_done(struct val_peer *p, int r, const struct pm_rdma_fu_done *d)
{
	uint64_t rtt;

	if (r == 1) {
		rtt = pm_rdma_fu_net_rtt(d);
		if (rtt > 0)
			pm_hist_add(&p->hist, rtt);
		else
			p->bad_ts++;
	} else if (r == 2) {
		p->no_t3++;
	}
}

static void
val_send(struct pm_rdma_ud *ud, struct val_peer *p, unsigned int idx,
	 uint64_t now, const struct pm_tclock *clk)
{
	struct pm_rdma_msg m = { .type = PM_RDMA_MSG_PROBE };
	int64_t seq;

	if (ud->send_inflight >= ud->nsend) {
		p->busy++;
		return;
	}
	seq = pm_track_send(&p->trk, now);
	if (seq < 0)
		return;		/* ring full: counted as stalled */
	m.ssid = (uint16_t)idx;
	m.seq = (uint32_t)seq;
	m.t1 = clk != NULL ? pm_tclock_ns(clk, pm_rdma_tsc()) : now;
	/* TSC path: t1 is the post time (the send completion is only seen
	 * at a later poll, possibly after the reply); HCA path: the send
	 * completion's stamp, filled in by its TX event. */
	p->t1[(uint32_t)seq & p->trk.mask] =
		ud->ts_src == PM_TS_HCA ? 0 : m.t1;
	if (pm_rdma_ud_send(ud, p->ah, p->info.qpn[p->rr++ % p->info.nqpn],
			    &m, ((uint64_t)idx << 32) | (uint32_t)seq) != 0)
		p->send_err++;	/* its track slot times out as lost */
}

static void
val_event(struct val_peer *peers, unsigned int n, const struct pm_rdma_ev *ev,
	  int hca, uint64_t now, uint64_t timeout_ns)
{
	struct pm_rdma_fu_done d;
	struct val_peer *p;
	uint64_t idx, t1post;
	uint32_t seq;
	int r;

	if (ev->kind != PM_RDMA_EV_RX) {
		idx = ev->wr_id >> 32;
		if (idx >= n)
			return;
		p = &peers[idx];
		seq = (uint32_t)ev->wr_id;
		if (ev->kind == PM_RDMA_EV_TX) {
			if (hca)
				p->t1[seq & p->trk.mask] = ev->ts_ns;
		}
		else
			p->tx_err++;
		return;
	}
	if (ev->msg.ssid >= n)
		return;
	p = &peers[ev->msg.ssid];
	seq = ev->msg.seq;
	if (ev->msg.type == PM_RDMA_MSG_REPLY) {
		enum pm_track_res res = pm_track_reply(&p->trk, seq, &t1post);

		if (res != PM_TRK_RECEIVED && res != PM_TRK_REORDERED)
			return;
		if (p->t1[seq & p->trk.mask] == 0) {
			p->early++;
			return;
		}
		r = pm_rdma_fu_reply(&p->fu, seq, ev->msg.ssid,
				     p->t1[seq & p->trk.mask], ev->msg.t2,
				     ev->ts_ns, now + timeout_ns, &d);
		val_done(p, r, &d);
	} else if (ev->msg.type == PM_RDMA_MSG_FOLLOWUP) {
		r = pm_rdma_fu_t3(&p->fu, seq, ev->msg.t3, now + timeout_ns,
				  &d);
		val_done(p, r, &d);
	}
}

static void
val_housekeep(struct val_peer *peers, unsigned int n, uint64_t now,
	      uint64_t timeout_ns)
{
	struct pm_rdma_fu_done d[16];
	unsigned int i, k, j;

	for (i = 0; i < n; i++) {
		if (!peers[i].answered || peers[i].ah == NULL)
			continue;
		if (now > timeout_ns)
			pm_track_sweep(&peers[i].trk, now, timeout_ns);
		do {
			k = pm_rdma_fu_expire(&peers[i].fu, now, d, 16);
			for (j = 0; j < k; j++)
				peers[i].no_t3++;
		} while (k == 16);
	}
}

/* Print the table; returns 1 if a pair failed, else 0. */
static int
val_report(struct val_peer *peers, unsigned int n,
	   const struct pm_rdma_dev *dev, const struct pm_rdma_ud *ud,
	   const struct pm_rdma_val_cfg *cfg)
{
	unsigned int i;
	int failed = 0;
	char buf[64];

	printf("%-10s %-22s %-10s %4s %9s %9s %7s %9s %9s %9s %4s %s\n",
	       "src", "peer", "peer_dev", "qps", "sent", "received", "loss%",
	       "p50_us", "p99_us", "max_us", "ts", "result");
	for (i = 0; i < n; i++) {
		struct val_peer *p = &peers[i];
		struct pm_track_counts *c = &p->trk.cnt;
		const char *why = "ok";
		double loss = 0, p50 = 0, p99 = 0, mx = 0;
		int has_rtt;

		val_addr_str(&p->addr, buf, sizeof(buf));
		if (!p->answered || p->ah == NULL) {
			printf("%-10s %-22s %-10s %4s %9s %9s %7s %9s %9s %9s "
			       "%4s FAIL (%s)\n", dev->name, buf, "-", "-",
			       "-", "-", "-", "-", "-", "-",
			       pm_ts_src_str(ud->ts_src),
			       p->answered ? "no address handle" :
			       "no answer to the QPN query");
			failed = 1;
			continue;
		}
		if (c->sent > 0)
			loss = 100.0 * (double)c->lost / (double)c->sent;
		has_rtt = pm_hist_count(&p->hist) > 0;
		if (has_rtt) {
			p50 = pm_hist_quantile(&p->hist, 0.5) / 1e3;
			p99 = pm_hist_quantile(&p->hist, 0.99) / 1e3;
			mx = p->hist.max / 1e3;
		}
		if (c->sent == 0)
			why = "FAIL (nothing sent)";
		else if (loss > cfg->max_loss_pct)
			why = "FAIL (loss)";
		else if (!has_rtt)
			why = "FAIL (no RTT sample)";
		else if (p99 > cfg->max_p99_us)
			why = "FAIL (p99)";
		if (why[0] == 'F')
			failed = 1;
		printf("%-10s %-22s %-10s %4u %9" PRIu64 " %9" PRIu64
		       " %7.3f %9.2f %9.2f %9.2f %4s %s\n", dev->name, buf,
		       p->info.dev, p->info.nqpn, c->sent, c->received, loss,
		       p50, p99, mx, pm_ts_src_str(ud->ts_src), why);
		if (p->no_t3 || p->early || p->bad_ts || c->late || c->dup ||
		    c->unmatched || c->stalled || p->busy || p->send_err ||
		    p->tx_err)
			printf("%-10s   %s: no_t3 %" PRIu64 " early %" PRIu64
			       " bad_ts %" PRIu64 " late %" PRIu64 " dup %"
			       PRIu64 " unmatched %" PRIu64 " stalled %"
			       PRIu64 " busy %" PRIu64 " send_err %" PRIu64
			       " tx_err %" PRIu64 "\n", "", buf, p->no_t3,
			       p->early, p->bad_ts, c->late, c->dup,
			       c->unmatched, c->stalled, p->busy, p->send_err,
			       p->tx_err);
	}
	printf("thresholds: loss <= %g%%, network RTT p99 <= %g us; %s\n",
	       cfg->max_loss_pct, cfg->max_p99_us,
	       failed ? "FAILED" : "all pairs passed");
	fflush(stdout);
	return failed;
}

int
pm_rdma_validate(const struct pm_rdma_dev *dev,
		 const struct pm_rdma_rt_cfg *rcfg,
		 const struct pm_rdma_val_cfg *cfg)
{
	struct pm_rdma_ev ev[VAL_BATCH];
	struct pm_rdma_rt *rt = NULL;
	struct val_peer *peers;
	struct pm_rdma_ud ud;
	uint64_t now, t0, end_send, end, linger_end, interval, next_hk;
	uint64_t timeout_ns = (uint64_t)cfg->timeout_ms * 1000000u;
	unsigned int i, k, n = cfg->npeers;
	const char *what;
	char err[256];
	int rc, ret = 1;

	peers = calloc(n, sizeof(*peers));
	if (peers == NULL)
		return 1;
	for (i = 0; i < n; i++)
		peers[i].addr = cfg->peer[i];
	rc = pm_rdma_rt_start(&rt, dev, rcfg, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "pmesh-rdma: error: local reflector: %s\n", err);
		free(peers);
		return rc == -EADDRINUSE || rc == -EINVAL ? 2 : 1;
	}
	rc = pm_rdma_ud_open_node(&ud, dev->ctx, dev->port, VAL_NRECV,
				  VAL_NSEND, rcfg->ud_flags, rcfg->tsc_clk,
				  dev->numa_node, &what);
	if (rc != 0) {
		fprintf(stderr, "pmesh-rdma: error: %s port %u: prober QP: %s "
			"failed: %s\n", dev->name, dev->port, what,
			strerror(-rc));
		goto out_rt;
	}
	fprintf(stderr, "pmesh-rdma validate: local reflector on udp %u, "
		"prober qpn %u, ts %s%s%s\n", pm_rdma_rt_xchg_port(rt),
		pm_rdma_ud_qpn(&ud), pm_ts_src_str(ud.ts_src),
		ud.ts_why != NULL ? ": " : "",
		ud.ts_why != NULL ? ud.ts_why : "");
	val_query_peers(peers, n, cfg->wait_s, cfg->quit);
	for (i = 0; i < n; i++) {
		if (!peers[i].answered)
			continue;
		rc = val_peer_setup(&peers[i], dev, ud.pd, cfg);
		if (rc != 0) {
			fprintf(stderr, "pmesh-rdma validate: peer %u: "
				"ibv_create_ah/memory: %s\n", i,
				strerror(-rc));
			if (peers[i].ah != NULL)
				ibv_destroy_ah(peers[i].ah);
			peers[i].ah = NULL;
		}
	}

	interval = 1000000000ULL / cfg->rate_pps;
	if (interval == 0)
		interval = 1;
	t0 = val_now_ns();
	end_send = t0 + (uint64_t)(cfg->duration_s * 1e9);
	end = end_send + timeout_ns;
	for (i = 0; i < n; i++)
		peers[i].next_ns = t0 + interval * i / (n ? n : 1);
	next_hk = t0 + VAL_HOUSEKEEP_NS;
	for (;;) {
		now = val_now_ns();
		if (now >= end || atomic_load_explicit(cfg->quit,
						       memory_order_relaxed))
			break;
		if (now < end_send) {
			for (i = 0; i < n; i++) {
				struct val_peer *p = &peers[i];

				if (!p->answered || p->ah == NULL)
					continue;
				/* Fell far behind (descheduled): skip on. */
				if (now > p->next_ns + 100 * interval)
					p->next_ns = now;
				while (p->next_ns <= now) {
					val_send(&ud, p, i, now,
						 rcfg->tsc_clk);
					p->next_ns += interval;
				}
			}
		}
		k = pm_rdma_ud_poll(&ud, ev, VAL_BATCH);
		for (i = 0; i < k; i++)
			val_event(peers, n, &ev[i], ud.ts_src == PM_TS_HCA,
				  now, timeout_ns);
		if (now >= next_hk) {
			val_housekeep(peers, n, now, timeout_ns);
			next_hk = now + VAL_HOUSEKEEP_NS;
		}
	}
	/* Everything still outstanding is past its timeout (or we were
	 * interrupted): lost; replies without follow-up complete without t3. */
	now = val_now_ns();
	val_housekeep(peers, n, now + timeout_ns + 1, timeout_ns);
	for (i = 0; i < n; i++)
		if (peers[i].answered && peers[i].ah != NULL)
			pm_track_expire_all(&peers[i].trk);
	ret = val_report(peers, n, dev, &ud, cfg);
	/* Keep reflecting a little for peers still finishing. */
	linger_end = val_now_ns() + timeout_ns + 1000000000ULL;
	while (val_now_ns() < linger_end &&
	       !atomic_load_explicit(cfg->quit, memory_order_relaxed))
		usleep(50000);
	for (i = 0; i < n; i++)
		val_peer_free(&peers[i]);
	pm_rdma_ud_close(&ud);
out_rt:
	pm_rdma_rt_stop(rt, stderr);
	free(peers);
	return ret;
}
