/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * export.c: the export thread, between the probe lcores and the sink.
 *
 * A DPDK control thread (not an lcore) drains every lcore's SPSC record
 * ring, writes whole summaries to the sink (JSON lines here; Kafka in
 * kafka_sink/), and keeps per-target totals for the status line, telemetry
 * and the table printed at exit.  It sleeps 1 ms when every ring is empty;
 * it is the only writer of the totals, which readers take under tot_lock
 * (control threads only: the data lcores never touch it).
 *
 * Events: the thread also raises the events a consumer of the sink needs
 * to trust the numbers -- a flow that lost a burst in a window ("loss",
 * at least PM_LOSS_EVENT_MIN probes, at most PM_EV_PER_S a second with the
 * suppressed ones counted), an lcore whose ring overflowed ("ring_drop",
 * once a second while it goes on), and "stop" with the final counters.
 *
 * Shutdown: after the lcores have drained (quit + loss timeout) and closed
 * their final windows, pm_export_stop() makes the thread empty the rings
 * once more, publish "stop", flush the sink and exit, so the last window is
 * never lost.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "pm_clock.h"
#include "pm_enc.h"
#include "pm_prober.h"

/*
 * The export thread sleeps when the rings are empty: 1 ms after work, then
 * twice as long each idle turn up to 16 ms.  It runs on a control CPU,
 * which on a small box is a probe or reflector lcore's too, and every
 * wakeup preempts that lcore (~1000 a second cost it 2 % here).  Records
 * come once a window (1 s by default) and the rings hold 2 x the flows, so
 * 16 ms of latency loses nothing.
 */
#define PM_EXPORT_NAP_MIN_US	1000
#define PM_EXPORT_NAP_MAX_US	16000

#define PM_EXPORT_BATCH		256	/* records per dequeue */
#define PM_TOT_HIST_CAP		512	/* buckets kept per target for the table */
#define PM_LOSS_EVENT_MIN	3	/* probes lost in a window: a burst */
#define PM_EV_PER_S		50	/* loss events a second at most */

static void
pm_stat_merge(struct pm_rec_stat *d, const struct pm_rec_stat *s, uint64_t n)
{
	if (n == 0)
		return;
	if (s->min < d->min)
		d->min = s->min;
	if (s->max > d->max)
		d->max = s->max;
	d->sum += s->sum;
}

static uint64_t
pm_mono_ms(void)
{
	return pm_clock_monoraw_ns() / 1000000ULL;
}

/* A window of a flow lost a burst: say so on the events stream. */
static void
pm_export_loss_event(struct pm_prober *p, const struct pm_record *r)
{
	const struct pm_rec_body *b = &r->p0.b;
	uint64_t now = pm_mono_ms();
	struct pm_event ev;
	char buf[768], ip[16];

	if (b->lost < PM_LOSS_EVENT_MIN || p->sink.ops->event == NULL)
		return;
	if (now / 1000 != p->ev_sec) {
		p->ev_sec = now / 1000;
		p->ev_in_sec = 0;
	}
	if (p->ev_in_sec >= PM_EV_PER_S) {
		p->ev_suppressed++;
		return;
	}
	p->ev_in_sec++;
	pm_event_begin(&ev, buf, sizeof(buf), &p->sink, "loss");
	pm_event_add(&ev, ",\"summary_id\":\"%08x-%u-%" PRIu64 "\",\"target\":%u,"
		     "\"flow\":%u", r->h.prober_id, r->h.lcore, r->h.seq, r->h.target,
		     r->h.flow);
	if (r->h.target < p->cfg.ntargets)
		pm_event_add_str(&ev, "target_name", p->cfg.targets[r->h.target].name);
	pm_event_add_str(&ev, "dst", pm_cfg_fmt_ipv4(r->h.dst, ip));
	pm_event_add(&ev, ",\"dport\":%u,\"sport\":%u,\"window_start_ns\":%" PRIu64
		     ",\"window_ms\":%u,\"lost\":%" PRIu64 ",\"received\":%" PRIu64
		     ",\"loss_ratio\":%.6f,\"suppressed_before\":%" PRIu64,
		     r->h.dport, r->h.sport, r->h.window_start_ns, r->h.window_ms,
		     b->lost, b->received,
		     (double)b->lost / (double)(b->lost + b->received), p->ev_suppressed);
	p->ev_suppressed = 0;
	pm_sink_event(&p->sink, &ev);
}

/* Once a second: lcores whose record ring overflowed since last time. */
static void
pm_export_drop_events(struct pm_prober *p)
{
	uint64_t now = pm_mono_ms(), d;
	struct pm_event ev;
	char buf[512];
	unsigned int i;

	if (now - p->ev_drop_ms < 1000)
		return;
	p->ev_drop_ms = now;
	for (i = 0; i < p->nlc; i++) {
		d = pm_ld(&p->lc[i]->st.summaries_dropped);
		if (d == p->ev_dropped_seen[i])
			continue;
		pm_event_begin(&ev, buf, sizeof(buf), &p->sink, "ring_drop");
		pm_event_add(&ev, ",\"lcore\":%u,\"dropped\":%" PRIu64 ",\"dropped_total\":%"
			     PRIu64, p->lc[i]->lcore_id, d - p->ev_dropped_seen[i], d);
		p->ev_dropped_seen[i] = d;
		pm_sink_event(&p->sink, &ev);
	}
}

/* Event "stop": the final counters, after the last windows. */
static void
pm_export_stop_event(struct pm_prober *p)
{
	uint64_t sent = 0, rcvd = 0, lost = 0, sdrop = 0;
	struct pm_event ev;
	char buf[768];
	unsigned int i;

	for (i = 0; i < p->nlc; i++)
		sdrop += pm_ld(&p->lc[i]->st.summaries_dropped);
	for (i = 0; i < p->cfg.ntargets; i++) {
		sent += p->tot[i].sent;
		rcvd += p->tot[i].received;
		lost += p->tot[i].lost;
	}
	pm_event_begin(&ev, buf, sizeof(buf), &p->sink, "stop");
	pm_event_add(&ev, ",\"config_digest\":\"fnv1a64:%016" PRIx64 "\"",
		     p->config_digest);
	pm_event_add(&ev, ",\"sent\":%" PRIu64 ",\"received\":%" PRIu64 ",\"lost\":%"
		     PRIu64 ",\"summaries\":%" PRIu64 ",\"summaries_ring_dropped\":%"
		     PRIu64 ",\"summaries_failed\":%" PRIu64 ",\"summaries_spooled\":%"
		     PRIu64, sent, rcvd, lost, p->sink.summaries, sdrop, p->sink.failed,
		     p->sink.spooled);
	pm_sink_event(&p->sink, &ev);
}

static void
pm_export_account(struct pm_prober *p, const struct pm_record *r, unsigned int n)
{
	const struct pm_rec_body *b = &r->p0.b;
	struct pm_target_tot *t;
	const struct pm_hist_ent *e;
	unsigned int i, j, seen = 0;

	pthread_mutex_lock(&p->tot_lock);	/* a reload may grow tot */
	if (r->h.target >= p->cfg.ntargets) {
		pthread_mutex_unlock(&p->tot_lock);
		return;
	}
	t = &p->tot[r->h.target];
	t->sent += b->sent;
	t->received += b->received;
	t->lost += b->lost;
	t->late += b->late;
	t->dup += b->dup;
	t->reordered += b->reordered;
	t->unmatched += b->unmatched;
	pm_stat_merge(&t->rtt, &b->rtt, b->received);
	pm_stat_merge(&t->refl, &b->refl, b->refl.max ? 1 : 0);
	t->ts_tx = r->h.ts_tx;
	t->ts_rx = r->h.ts_rx;
	/* RTT buckets are the first rtt_nbuckets entries across parts. */
	for (i = 0; i < n && seen < b->rtt_nbuckets; i++) {
		e = i == 0 ? r[0].p0.ent : r[i].ent;
		for (j = 0; j < r[i].nent && seen < b->rtt_nbuckets; j++, seen++)
			pm_hist_add_bucket(&t->hist, e[j].bucket, e[j].count);
	}
	pthread_mutex_unlock(&p->tot_lock);
}

/* A path record from an lcore's trace, to the sink's paths stream. */
static void
pm_export_path(struct pm_prober *p, const struct pm_record *r)
{
	struct pm_path path;
	unsigned int i;

	memset(&path, 0, sizeof(path));
	path.time_ns = r->h.window_start_ns;
	path.src = r->h.src;
	path.dst = r->h.dst;
	path.sport = r->h.sport;
	path.dport = r->h.dport;
	path.proto = r->h.proto;
	path.nhops = r->path.nhops <= PM_PATH_MAX_HOPS ? r->path.nhops : PM_PATH_MAX_HOPS;
	for (i = 0; i < path.nhops; i++)
		path.hops[i] = r->path.hops[i];
	snprintf(path.prober, sizeof(path.prober), "%s", p->sink.prober_name ?
		 p->sink.prober_name : "");
	if (p->sink.ops->path == NULL || p->sink.ops->path(&p->sink, &path) != 0)
		p->sink.paths_failed += p->sink.ops->path == NULL;
}

/* Drain every ring once; returns how many records were moved. */
static unsigned int
pm_export_drain(struct pm_prober *p, struct pm_record *buf)
{
	unsigned int i, n, total = 0, off, parts, w;

	for (i = 0; i < p->nlc; i++) {
		n = rte_ring_dequeue_burst_elem(p->lc[i]->rec_ring, buf,
						sizeof(struct pm_record),
						PM_EXPORT_BATCH, NULL);
		if (n == 0)
			continue;
		/* A summary's parts were enqueued in one bulk: a burst can
		 * still end inside one, so fetch the rest of it. */
		off = 0;
		w = 0;
		while (off < n) {
			if (buf[off].h.kind == PM_REC_PATH) {
				/* Paths go their own way; summaries close up. */
				pm_export_path(p, &buf[off]);
				off++;
				continue;
			}
			parts = buf[off].h.nparts ? buf[off].h.nparts : 1;
			if (off + parts > n) {
				unsigned int need = off + parts - n;

				n += rte_ring_dequeue_bulk_elem(p->lc[i]->rec_ring, &buf[n],
								sizeof(struct pm_record),
								need, NULL);
				if (off + parts > n)
					break;	/* cannot happen with bulk enqueue */
			}
			pm_export_account(p, &buf[off], parts);
			pm_export_loss_event(p, &buf[off]);
			if (w != off)
				memmove(&buf[w], &buf[off], parts * sizeof(buf[0]));
			w += parts;
			off += parts;
		}
		if (w > 0 && p->sink.ops->write(&p->sink, buf, w) != 0)
			p->export_failed++;
		total += n;
	}
	return total;
}

/* An event the control thread posted (pm_export_post): published here,
 * the sink's one thread. */
static void
pm_export_mail(struct pm_prober *p)
{
	struct pm_event ev;
	char buf[2048];

	if (__atomic_load_n(&p->mail_len, __ATOMIC_ACQUIRE) == 0)
		return;
	pm_event_begin(&ev, buf, sizeof(buf), &p->sink, p->mail_type);
	pm_event_add(&ev, "%s", p->mail);
	pm_sink_event(&p->sink, &ev);
	__atomic_store_n(&p->mail_len, 0, __ATOMIC_RELEASE);
}

int
pm_export_post(struct pm_prober *p, const char *type, const char *fields)
{
	unsigned int waited;

	for (waited = 0; __atomic_load_n(&p->mail_len, __ATOMIC_ACQUIRE) != 0; waited++) {
		if (waited >= 1000)
			return -EBUSY;
		usleep(1000);
	}
	snprintf(p->mail_type, sizeof(p->mail_type), "%s", type);
	snprintf(p->mail, sizeof(p->mail), "%s", fields);
	__atomic_store_n(&p->mail_len, (uint32_t)strlen(p->mail) + 1, __ATOMIC_RELEASE);
	return 0;
}

static void *
pm_export_main(void *arg)
{
	struct pm_prober *p = arg;
	struct pm_record *buf;
	unsigned int moved, nap = PM_EXPORT_NAP_MIN_US;

	buf = malloc(sizeof(*buf) * (PM_EXPORT_BATCH + PM_REC_MAX_PARTS));
	if (buf == NULL)
		return NULL;
	for (;;) {
		moved = pm_export_drain(p, buf);
		pm_export_drop_events(p);
		pm_export_mail(p);
		if (p->sink.ops->poll)
			p->sink.ops->poll(&p->sink);
		if (moved == 0) {
			if (__atomic_load_n(&p->export_quit, __ATOMIC_ACQUIRE))
				break;
			/* Idle: back off to PM_EXPORT_NAP_MAX_US (see there). */
			usleep(nap);
			if (nap < PM_EXPORT_NAP_MAX_US)
				nap *= 2;
		} else {
			nap = PM_EXPORT_NAP_MIN_US;
		}
	}
	/* Rings are empty and the lcores are done: nothing is left behind. */
	p->ev_drop_ms = 0;
	pm_export_drop_events(p);
	pm_export_mail(p);
	pm_export_stop_event(p);
	if (p->sink.ops->flush)
		p->sink.ops->flush(&p->sink, 5000);
	free(buf);
	return NULL;
}

/*
 * A reload added targets: p->cfg.targets already has @n entries (the
 * caller publishes the new count).  Grow the totals, under tot_lock,
 * moving every histogram onto the new bucket array.  The old arrays go to
 * @old[0..1] for the caller to free.
 */
int
pm_export_grow(struct pm_prober *p, uint32_t n, void *old[2])
{
	struct pm_target_tot *tot;
	struct pm_hist_ent *ent;
	uint32_t t, n0;

	tot = calloc(n, sizeof(*tot));
	ent = calloc((size_t)n * PM_TOT_HIST_CAP, sizeof(*ent));
	if (tot == NULL || ent == NULL) {
		free(tot);
		free(ent);
		return -ENOMEM;
	}
	pthread_mutex_lock(&p->tot_lock);
	n0 = p->cfg.ntargets;
	memcpy(tot, p->tot, sizeof(*tot) * n0);
	memcpy(ent, p->tot_ent, sizeof(*ent) * (size_t)n0 * PM_TOT_HIST_CAP);
	for (t = 0; t < n; t++) {
		if (t >= n0) {
			tot[t].rtt.min = UINT64_MAX;
			tot[t].refl.min = UINT64_MAX;
			pm_hist_init_sparse(&tot[t].hist, &ent[(size_t)t * PM_TOT_HIST_CAP],
					    PM_TOT_HIST_CAP);
		} else {
			tot[t].hist.ent = &ent[(size_t)t * PM_TOT_HIST_CAP];
		}
	}
	old[0] = p->tot;
	old[1] = p->tot_ent;
	p->tot = tot;
	p->tot_ent = ent;
	__atomic_store_n(&p->cfg.ntargets, n, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&p->tot_lock);
	return 0;
}

int
pm_export_start(struct pm_prober *p)
{
	uint32_t t;
	int ret;

	p->tot = calloc(p->cfg.ntargets ? p->cfg.ntargets : 1, sizeof(*p->tot));
	p->tot_ent = calloc((size_t)(p->cfg.ntargets ? p->cfg.ntargets : 1) * PM_TOT_HIST_CAP,
			    sizeof(*p->tot_ent));
	if (p->tot == NULL || p->tot_ent == NULL)
		return -ENOMEM;
	for (t = 0; t < p->cfg.ntargets; t++) {
		p->tot[t].rtt.min = UINT64_MAX;
		p->tot[t].refl.min = UINT64_MAX;
		pm_hist_init_sparse(&p->tot[t].hist, &p->tot_ent[(size_t)t * PM_TOT_HIST_CAP],
				    PM_TOT_HIST_CAP);
	}
	pthread_mutex_init(&p->tot_lock, NULL);
	ret = rte_ctrl_thread_create(&p->export_thread, "pm-export", NULL,
				     pm_export_main, p);
	if (ret != 0) {
		PM_LOG(ERR, "cannot start the export thread: %s", strerror(ret));
		return -ret;
	}
	return 0;
}

void
pm_export_stop(struct pm_prober *p)
{
	__atomic_store_n(&p->export_quit, 1, __ATOMIC_RELEASE);
	pthread_join(p->export_thread, NULL);
}

void
pm_export_print_table(struct pm_prober *p, FILE *out)
{
	char ip[16];
	uint32_t t;

	fprintf(out, "\n%-24s %-21s %10s %10s %8s %8s %6s %6s %10s %10s %10s %10s\n",
		"target", "address", "sent", "received", "lost", "loss%", "late", "dup",
		"rtt_min_us", "rtt_p50_us", "rtt_p99_us", "rtt_max_us");
	pthread_mutex_lock(&p->tot_lock);
	for (t = 0; t < p->cfg.ntargets; t++) {
		const struct pm_target_cfg *tc = &p->cfg.targets[t];
		const struct pm_target_tot *s = &p->tot[t];
		uint64_t res = s->received + s->lost;
		char addr[32];

		snprintf(addr, sizeof(addr), "%s:%u", pm_cfg_fmt_ipv4(tc->ip, ip), tc->port);
		if (!p->trt[t].resolved) {
			fprintf(out, "%-24s %-21s %s\n", tc->name, addr,
				p->rdma ? "not probed: its reflector told no QPNs" :
				"not probed: next hop did not answer ARP");
			continue;
		}
		fprintf(out, "%-24s %-21s %10" PRIu64 " %10" PRIu64 " %8" PRIu64
			" %8.3f %6" PRIu64 " %6" PRIu64,
			tc->name, addr, s->sent, s->received, s->lost,
			res ? 100.0 * (double)s->lost / (double)res : 0.0, s->late, s->dup);
		if (s->received)
			fprintf(out, " %10.2f %10.2f %10.2f %10.2f\n", s->rtt.min / 1e3,
				pm_hist_quantile(&s->hist, 0.5) / 1e3,
				pm_hist_quantile(&s->hist, 0.99) / 1e3, s->rtt.max / 1e3);
		else
			fprintf(out, " %10s %10s %10s %10s\n", "-", "-", "-", "-");
	}
	pthread_mutex_unlock(&p->tot_lock);
	if (p->ts_note[0] != '\0')
		fprintf(out, "RTTs are network RTT = (t4-t1)-(t3-t2); timestamps: %s.\n",
			p->ts_note);
	else
		fprintf(out, "RTTs are network RTT = (t4-t1)-(t3-t2); timestamps: t1 %s, "
			"t4 %s.\n", p->port.ts.tx_sched ? "NIC schedule" : "TSC",
			p->port.ts.rx_hw ? "NIC" : "TSC");
}
