/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * status.c: what a person at the terminal and dpdk-telemetry.py see.
 *
 * The status line (once a status period, on stderr when it is a TTY) sums
 * the lcores' counters with relaxed loads and reads each lcore's published
 * status histogram for p50/p99 network RTT: the flow windows that closed in
 * the last period, merged by the lcore at each close (nothing per reply;
 * with windows longer than the period it shows the last ones closed).
 * Telemetry commands
 * /pmesh/lcores and /pmesh/targets expose the same counters and the export
 * thread's per-target totals as dictionaries.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_telemetry.h>

#include "pm_prober.h"

struct pm_sum {
	uint64_t tx, rx, replies, lost, late, dup, unmatched, bad, other, held, stalled;
	uint64_t sdrop, txfull, nombuf;
};

static void
pm_sum_lcores(const struct pm_prober *p, struct pm_sum *s)
{
	unsigned int i, c;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < p->nlc; i++) {
		const struct pm_lcore_stats *st = &p->lc[i]->st;

		s->tx += pm_ld(&st->tx_pkts);
		s->rx += pm_ld(&st->rx_pkts);
		s->replies += pm_ld(&st->replies);
		s->lost += pm_ld(&st->lost);
		s->late += pm_ld(&st->late);
		s->dup += pm_ld(&st->dup);
		s->unmatched += pm_ld(&st->unmatched) + pm_ld(&st->unknown_flow);
		s->bad += pm_ld(&st->bad_echo);
		for (c = 1; c < PM_WIRE_CAUSE_MAX; c++) {
			/* Frames that are simply not for a prober are "other";
			 * malformed ones are "bad". */
			if (c == PM_WIRE_ARP || c == PM_WIRE_ICMP || c == PM_WIRE_NOT_IPV4 ||
			    c == PM_WIRE_NOT_UDP || c == PM_WIRE_WRONG_PORT ||
			    c == PM_WIRE_NOT_FOR_US)
				s->other += pm_ld(&st->cause[c]);
			else
				s->bad += pm_ld(&st->cause[c]);
		}
		s->held += pm_ld(&st->budget_held);
		s->stalled += pm_ld(&st->stalled);
		s->sdrop += pm_ld(&st->summaries_dropped) + pm_ld(&st->dispatch_dropped);
		s->txfull += pm_ld(&st->tx_full);
		s->nombuf += pm_ld(&st->no_mbuf);
	}
}

void
pm_status_tick(struct pm_prober *p, double dt_s, int tty)
{
	static struct pm_sum prev;
	static uint32_t hist_counts[PM_HIST_NBUCKETS];
	struct pm_hist h;
	struct pm_sum s;
	uint64_t res;
	unsigned int i;
	uint32_t r;

	pm_sum_lcores(p, &s);
	pm_hist_init_dense(&h, hist_counts);
	for (i = 0; i < p->nlc; i++) {
		r = __atomic_load_n(&p->lc[i]->st_ready, __ATOMIC_ACQUIRE);
		if (r < 2)
			pm_hist_merge(&h, &p->lc[i]->st_hist[r]);
	}
	res = (s.replies - prev.replies) + (s.lost - prev.lost);
	if (tty) {
		char sk[96] = "";

		if (p->sink.ops == NULL || p->sink.ops->event == NULL)
			sk[0] = '\0';
		else if (p->sink.state == PM_SINK_ONLINE)
			snprintf(sk, sizeof(sk), " | kafka ok, queued %" PRIu64,
				 pm_ld(&p->sink.in_queue));
		else
			snprintf(sk, sizeof(sk), " | kafka %s, spool %" PRIu64,
				 p->sink.state == PM_SINK_SPOOLING ? "AWAY" : "replaying",
				 pm_ld(&p->sink.spool_pending));
		fprintf(stderr, "\r\033[K%s: tx %.0f pps rx %.0f pps | loss %.3f%% late %" PRIu64
			" dup %" PRIu64 " | rtt p50 %.1f us p99 %.1f us | rx bad %" PRIu64 " other %"
			PRIu64 " unmatched %" PRIu64 " | summaries dropped %" PRIu64
			" | budget-held %" PRIu64 "%s",
			pm_progname, (s.tx - prev.tx) / dt_s, (s.rx - prev.rx) / dt_s,
			res ? 100.0 * (double)(s.lost - prev.lost) / (double)res : 0.0,
			s.late, s.dup, pm_hist_quantile(&h, 0.5) / 1e3,
			pm_hist_quantile(&h, 0.99) / 1e3, s.bad, s.other, s.unmatched, s.sdrop,
			s.held, sk);
		fflush(stderr);
	}
	prev = s;
}

/* ---- telemetry ---- */

static int
pm_tel_lcores(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct pm_prober *p = &pm_g;
	struct rte_tel_data *c;
	unsigned int i, k;
	char key[16];

	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	for (i = 0; i < p->nlc; i++) {
		const struct pm_lcore *lc = p->lc[i];
		const struct pm_lcore_stats *st = &lc->st;

		c = rte_tel_data_alloc();
		if (c == NULL)
			return -ENOMEM;
		rte_tel_data_start_dict(c);
#define PM_TEL(name) rte_tel_data_add_dict_u64(c, #name, pm_ld(&st->name))
		PM_TEL(tx_pkts);
		PM_TEL(tx_bytes);
		PM_TEL(tx_full);
		PM_TEL(no_mbuf);
		PM_TEL(budget_held);
		PM_TEL(stalled);
		PM_TEL(inflight_held);
		PM_TEL(rx_pkts);
		PM_TEL(replies);
		PM_TEL(lost);
		PM_TEL(late);
		PM_TEL(dup);
		PM_TEL(reordered);
		PM_TEL(unmatched);
		PM_TEL(unknown_flow);
		PM_TEL(bad_echo);
		PM_TEL(refl_anomaly);
		PM_TEL(arp_in);
		PM_TEL(arp_out);
		PM_TEL(arp_updates);
		PM_TEL(icmp_out);
		PM_TEL(summaries);
		PM_TEL(summaries_dropped);
		PM_TEL(dispatched);
		PM_TEL(dispatch_dropped);
		PM_TEL(trace_probes);
		PM_TEL(trace_answers);
		PM_TEL(trace_stray);
		PM_TEL(paths);
		PM_TEL(paths_dropped);
		PM_TEL(bursts);
		PM_TEL(tcp_rst_out);
		PM_TEL(tcp_other);
		PM_TEL(lcore_stalls);
		PM_TEL(lcore_stall_us);
#undef PM_TEL
		for (k = 1; k < PM_WIRE_CAUSE_MAX; k++) {
			char nm[32];

			snprintf(nm, sizeof(nm), "rx_%s", pm_wire_cause_str((int)k));
			rte_tel_data_add_dict_u64(c, nm, pm_ld(&st->cause[k]));
		}
		rte_tel_data_add_dict_u64(c, "flows", lc->nflows);
		snprintf(key, sizeof(key), "%u", lc->lcore_id);
		rte_tel_data_add_dict_container(d, key, c, 0);
	}
	return 0;
}

/* /pmesh/targets[,FIRST]: up to 64 targets from index FIRST. */
static int
pm_tel_targets(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct pm_prober *p = &pm_g;
	struct rte_tel_data *c;
	uint32_t first = 0, t;
	char ip[16], key[16];

	(void)cmd;
	if (params != NULL && *params)
		first = (uint32_t)strtoul(params, NULL, 10);
	rte_tel_data_start_dict(d);
	if (p->tot == NULL)
		return 0;
	pthread_mutex_lock(&p->tot_lock);
	for (t = first; t < p->cfg.ntargets && t < first + 64; t++) {
		const struct pm_target_tot *s = &p->tot[t];

		c = rte_tel_data_alloc();
		if (c == NULL)
			break;
		rte_tel_data_start_dict(c);
		rte_tel_data_add_dict_string(c, "address", pm_cfg_fmt_ipv4(p->cfg.targets[t].ip, ip));
		rte_tel_data_add_dict_u64(c, "sent", s->sent);
		rte_tel_data_add_dict_u64(c, "received", s->received);
		rte_tel_data_add_dict_u64(c, "lost", s->lost);
		rte_tel_data_add_dict_u64(c, "late", s->late);
		rte_tel_data_add_dict_u64(c, "dup", s->dup);
		rte_tel_data_add_dict_u64(c, "rtt_p50_ns", pm_hist_quantile(&s->hist, 0.5));
		rte_tel_data_add_dict_u64(c, "rtt_p99_ns", pm_hist_quantile(&s->hist, 0.99));
		rte_tel_data_add_dict_string(c, "ts_tx", pm_ts_src_str(s->ts_tx));
		rte_tel_data_add_dict_string(c, "ts_rx", pm_ts_src_str(s->ts_rx));
		rte_tel_data_add_dict_string(c, "name", p->cfg.targets[t].name);
		snprintf(key, sizeof(key), "%u", t);
		if (rte_tel_data_add_dict_container(d, key, c, 0) != 0)
			rte_tel_data_free(c);
	}
	pthread_mutex_unlock(&p->tot_lock);
	return 0;
}

static const char *
pm_sink_state_str(uint32_t st)
{
	return st == PM_SINK_ONLINE ? "online" : st == PM_SINK_SPOOLING ? "spooling" :
	       "replaying";
}

/* /pmesh/sink: where the summaries went (all sinks; Kafka fills the rest). */
static int
pm_tel_sink(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct pm_sink *sk = &pm_g.sink;

	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "sink", sk->ops ? sk->ops->name : "none");
	rte_tel_data_add_dict_string(d, "state", pm_sink_state_str(sk->state));
#define PM_TELS(name) rte_tel_data_add_dict_u64(d, #name, pm_ld(&sk->name))
	PM_TELS(summaries);
	PM_TELS(failed);
	PM_TELS(delivered);
	PM_TELS(in_queue);
	PM_TELS(spooled);
	PM_TELS(replayed);
	PM_TELS(spool_pending);
	PM_TELS(spool_dropped);
	PM_TELS(spool_corrupt);
	PM_TELS(events);
	PM_TELS(events_failed);
#undef PM_TELS
	return 0;
}

/* One line about the sink at exit, for logs and tests. */
void
pm_status_sink(struct pm_prober *p, FILE *out)
{
	const struct pm_sink *sk = &p->sink;

	fprintf(out, "%s: sink %s: summaries %" PRIu64 " failed %" PRIu64, pm_progname,
		sk->ops->name, sk->summaries, sk->failed);
	if (sk->ops->event != NULL)
		fprintf(out, " delivered %" PRIu64 " spooled %" PRIu64 " replayed %" PRIu64
			" spool_pending %" PRIu64 " spool_dropped %" PRIu64 " spool_corrupt %"
			PRIu64 " events %" PRIu64 " events_failed %" PRIu64 " state %s",
			sk->delivered, sk->spooled, sk->replayed, sk->spool_pending,
			sk->spool_dropped, sk->spool_corrupt, sk->events, sk->events_failed,
			pm_sink_state_str(sk->state));
	fputc('\n', out);
}

int
pm_telemetry_register(void)
{
	int ret;

	ret = rte_telemetry_register_cmd("/pmesh/lcores", pm_tel_lcores,
		"Per-lcore probe counters (tx, rx, loss, drops by cause). No parameters");
	if (ret == 0)
		ret = rte_telemetry_register_cmd("/pmesh/targets", pm_tel_targets,
			"Per-target totals since start. Parameter: first target index (64 shown)");
	if (ret == 0)
		ret = rte_telemetry_register_cmd("/pmesh/sink", pm_tel_sink,
			"Where summaries went: delivered, queued, spooled, failed. No parameters");
	return ret;
}

/* One line with every counter that is not zero, for logs and tests. */
void
pm_status_final(struct pm_prober *p, FILE *out)
{
	uint64_t v[64];
	unsigned int i, k, n = 0;
	static const char *const names[] = {
		"tx_pkts", "tx_full", "no_mbuf", "budget_held", "stalled", "inflight_held", "rx_pkts",
		"replies", "lost", "late", "dup", "reordered", "unmatched", "unknown_flow",
		"bad_echo", "refl_anomaly", "arp_in", "arp_out", "arp_updates",
		"icmp_out",
		"summaries", "summaries_dropped", "dispatched", "dispatch_dropped",
		"trace_probes", "trace_answers", "trace_stray", "paths", "paths_dropped",
		"bursts", "tcp_rst_out", "tcp_other", "lcore_stalls", "lcore_stall_us",
	};

	memset(v, 0, sizeof(v));
	for (i = 0; i < p->nlc; i++) {
		const struct pm_lcore_stats *st = &p->lc[i]->st;
		const uint64_t f[] = {
			st->tx_pkts, st->tx_full, st->no_mbuf, st->budget_held, st->stalled,
			st->inflight_held, st->rx_pkts, st->replies, st->lost, st->late, st->dup, st->reordered,
			st->unmatched, st->unknown_flow, st->bad_echo, st->refl_anomaly,
			st->arp_in, st->arp_out, st->arp_updates, st->icmp_out,
			st->summaries,
			st->summaries_dropped, st->dispatched, st->dispatch_dropped,
			st->trace_probes, st->trace_answers, st->trace_stray, st->paths,
			st->paths_dropped, st->bursts, st->tcp_rst_out, st->tcp_other,
			st->lcore_stalls, st->lcore_stall_us,
		};

		n = RTE_DIM(f);
		for (k = 0; k < n; k++)
			v[k] += f[k];
		for (k = 1; k < PM_WIRE_CAUSE_MAX; k++)
			v[n + k] += st->cause[k];
	}
	fprintf(out, "%s: counters:", pm_progname);
	for (k = 0; k < RTE_DIM(names); k++)
		if (v[k] || k < 2)
			fprintf(out, " %s %" PRIu64, names[k], v[k]);
	for (k = 1; k < PM_WIRE_CAUSE_MAX; k++)
		if (v[RTE_DIM(names) + k])
			fprintf(out, " rx_%s %" PRIu64, pm_wire_cause_str((int)k),
				v[RTE_DIM(names) + k]);
	fputc('\n', out);
}
