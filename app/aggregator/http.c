/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pmesh-aggregator's HTTP server: /metrics for Prometheus, /tables for
 * scripts, / for a person.
 *
 * libmicrohttpd runs one internal polling thread.  The consumer loop
 * publishes each emitted window: agg_http_publish() reduces it to a
 * snapshot -- per row the counts, the percentiles and the non-empty RTT
 * histogram buckets (for CDFs), the alerts, and the window's JSON -- and
 * swaps it in under the mutex; requests render from the snapshot under the
 * same mutex.  Rendering is bounded by the snapshot's size (rack pairs in
 * /metrics by max_rack_pairs, the heatmap by HEAT_MAX racks, beyond which
 * it shows pods), so a scrape costs milliseconds, not the consumer's time.
 *
 * The page is server-rendered HTML and SVG without scripts: it reloads
 * itself once per window, cells and bars carry data-* attributes with
 * their figures (the HTML test reads them) and link to the CDF of the
 * element they show.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "agg_http.h"

#define HEAT_MAX	64	/* racks in a heatmap; more: pods instead */
#define NQ		4	/* p50 p90 p99 p99.9 */

static const double http_q[NQ] = { 0.5, 0.9, 0.99, 0.999 };
static const char *const http_qs[NQ] = { "0.5", "0.9", "0.99", "0.999" };

/* A row reduced to what the server shows. */
struct snap_row {
	uint32_t a, b;
	uint64_t sent, received, lost, flows, blackholed;
	uint64_t rtt_n;			/* samples in buckets */
	uint64_t q[NQ];
	uint64_t max;
	uint64_t refl_n;
	uint64_t refl_q[2];		/* p50 p99 */
	double drop;
	uint32_t hoff, hn;		/* RTT buckets in snap.ent */
};

struct snap {
	uint64_t start_ns;
	uint32_t window_ms;
	struct snap_row *rows[PM_AGG_NTABLES];
	uint32_t nrows[PM_AGG_NTABLES];
	struct pm_agg_alert *alerts;
	uint32_t nalerts;
	struct pm_hist_ent *ent;
	uint64_t summaries, dup, unknown_src, unknown_dst, probers;
	char *json;
	size_t jsonlen;
};

struct agg_http {
	struct MHD_Daemon *d;
	pthread_mutex_t mu;
	struct snap *snap;		/* NULL before the first window */
	struct agg_http_counters c;
	const struct pm_topo *t;
	struct agg_http_opts o;
	uint16_t port;
};

/* ---- output buffer ---- */

struct hbuf {
	char *p;
	size_t len, cap;
	bool err;
};

static void
hb_put(struct hbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
hb_put(struct hbuf *b, const char *fmt, ...)
{
	va_list ap;
	size_t cap;
	char *p;
	int n;

	if (b->err)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->err = true;
			return;
		}
		if ((size_t)n < b->cap - b->len)
			break;
		cap = b->cap ? b->cap * 2 : 16384;
		while (cap - b->len <= (size_t)n)
			cap *= 2;
		p = realloc(b->p, cap);
		if (p == NULL) {
			b->err = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	b->len += (size_t)n;
}

/* Text into HTML (element content and quoted attributes). */
static void
hb_html(struct hbuf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '<': hb_put(b, "&lt;"); break;
		case '>': hb_put(b, "&gt;"); break;
		case '&': hb_put(b, "&amp;"); break;
		case '"': hb_put(b, "&quot;"); break;
		case '\'': hb_put(b, "&#39;"); break;
		default: hb_put(b, "%c", *s); break;
		}
	}
}

/* Text into a query string value. */
static void
hb_url(struct hbuf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
		    c == '~' || c == ':')
			hb_put(b, "%c", c);
		else
			hb_put(b, "%%%02X", c);
	}
}

/* Text into a Prometheus label value. */
static void
hb_label(struct hbuf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			hb_put(b, "\\%c", *s);
		else if (*s == '\n')
			hb_put(b, "\\n");
		else
			hb_put(b, "%c", *s);
	}
}

/* ---- snapshot ---- */

static void
snap_free(struct snap *s)
{
	int i;

	if (s == NULL)
		return;
	for (i = 0; i < PM_AGG_NTABLES; i++)
		free(s->rows[i]);
	free(s->alerts);
	free(s->ent);
	free(s->json);
	free(s);
}

static double
http_drop(uint64_t received, uint64_t lost)
{
	return received + lost ? (double)lost / (double)(received + lost) : 0.0;
}

static struct snap *
snap_new(const struct pm_agg_window *w, const char *json, size_t len)
{
	struct snap *s = calloc(1, sizeof(*s));
	size_t nent = 0, k = 0;
	uint32_t i;
	int tb, q;

	if (s == NULL)
		return NULL;
	for (tb = 0; tb < PM_AGG_NTABLES; tb++)
		for (i = 0; i < w->nrows[tb]; i++)
			nent += pm_hist_nonempty(&w->rows[tb][i].rtt);
	s->ent = malloc((nent ? nent : 1) * sizeof(*s->ent));
	s->json = malloc(len + 1);
	s->alerts = malloc((w->nalerts ? w->nalerts : 1) * sizeof(*s->alerts));
	if (s->ent == NULL || s->json == NULL || s->alerts == NULL)
		goto fail;
	memcpy(s->json, json, len);
	s->json[len] = '\0';
	s->jsonlen = len;
	if (w->nalerts)
		memcpy(s->alerts, w->alerts, w->nalerts * sizeof(*s->alerts));
	s->nalerts = w->nalerts;
	s->start_ns = w->start_ns;
	s->window_ms = w->window_ms;
	s->summaries = w->summaries;
	s->dup = w->dup;
	s->unknown_src = w->unknown_src;
	s->unknown_dst = w->unknown_dst;
	s->probers = w->probers;
	for (tb = 0; tb < PM_AGG_NTABLES; tb++) {
		s->rows[tb] = calloc(w->nrows[tb] ? w->nrows[tb] : 1,
				     sizeof(struct snap_row));
		if (s->rows[tb] == NULL)
			goto fail;
		s->nrows[tb] = w->nrows[tb];
		for (i = 0; i < w->nrows[tb]; i++) {
			const struct pm_agg_row *r = &w->rows[tb][i];
			struct snap_row *x = &s->rows[tb][i];
			uint32_t n = pm_hist_nonempty(&r->rtt);

			x->a = r->a;
			x->b = r->b;
			x->sent = r->sent;
			x->received = r->received;
			x->lost = r->lost;
			x->flows = r->flows;
			x->blackholed = r->blackholed;
			x->drop = http_drop(r->received, r->lost);
			x->rtt_n = pm_hist_count(&r->rtt);
			for (q = 0; q < NQ; q++)
				x->q[q] = pm_hist_quantile(&r->rtt, http_q[q]);
			x->max = r->rtt_max;
			x->refl_n = pm_hist_count(&r->refl);
			x->refl_q[0] = pm_hist_quantile(&r->refl, 0.5);
			x->refl_q[1] = pm_hist_quantile(&r->refl, 0.99);
			x->hoff = (uint32_t)k;
			x->hn = pm_hist_export(&r->rtt, 0, s->ent + k, n);
			k += x->hn;
		}
	}
	return s;
fail:
	snap_free(s);
	return NULL;
}

int
agg_http_publish(struct agg_http *h, const struct pm_agg_window *w,
		 const char *json, size_t len)
{
	struct snap *s = snap_new(w, json, len), *old;

	if (s == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&h->mu);
	old = h->snap;
	h->snap = s;
	pthread_mutex_unlock(&h->mu);
	snap_free(old);
	return 0;
}

void
agg_http_counters(struct agg_http *h, const struct agg_http_counters *c)
{
	pthread_mutex_lock(&h->mu);
	h->c = *c;
	pthread_mutex_unlock(&h->mu);
}

/* ---- names ---- */

static const char *
http_name(const struct agg_http *h, int table, uint32_t idx, char *tmp, size_t cap)
{
	return pm_agg_name(h->t, table, idx, tmp, cap);
}

static const char *
http_rack_pod(const struct agg_http *h, uint32_t rack, char *tmp, size_t cap)
{
	if (rack == PM_TOPO_NONE || rack >= pm_topo_nracks(h->t))
		return "unknown";
	return http_name(h, PM_AGG_POD_PAIR, pm_topo_rack_pod(h->t, rack), tmp, cap);
}

/* ---- /metrics ---- */

static void
m_labels(const struct agg_http *h, struct hbuf *b, int tb, const struct snap_row *r,
	 const char *extra)
{
	char t1[32], t2[32];

	hb_put(b, "{");
	switch (tb) {
	case PM_AGG_RACK_PAIR:
		hb_put(b, "src_rack=\"");
		hb_label(b, http_name(h, tb, r->a, t1, sizeof(t1)));
		hb_put(b, "\",dst_rack=\"");
		hb_label(b, http_name(h, tb, r->b, t1, sizeof(t1)));
		hb_put(b, "\",src_pod=\"");
		hb_label(b, http_rack_pod(h, r->a, t2, sizeof(t2)));
		hb_put(b, "\",dst_pod=\"");
		hb_label(b, http_rack_pod(h, r->b, t2, sizeof(t2)));
		hb_put(b, "\"");
		break;
	case PM_AGG_POD_PAIR:
		hb_put(b, "src_pod=\"");
		hb_label(b, http_name(h, tb, r->a, t1, sizeof(t1)));
		hb_put(b, "\",dst_pod=\"");
		hb_label(b, http_name(h, tb, r->b, t1, sizeof(t1)));
		hb_put(b, "\"");
		break;
	case PM_AGG_SPINE:
		hb_put(b, "spine=\"");
		hb_label(b, http_name(h, tb, r->a, t1, sizeof(t1)));
		hb_put(b, "\"");
		break;
	case PM_AGG_TOR:
		hb_put(b, "tor=\"");
		hb_label(b, http_name(h, tb, r->a, t1, sizeof(t1)));
		hb_put(b, "\",pod=\"");
		hb_label(b, http_rack_pod(h, r->a, t2, sizeof(t2)));
		hb_put(b, "\"");
		break;
	default:
		break;
	}
	if (extra != NULL)
		hb_put(b, "%s%s", tb == PM_AGG_FLEET ? "" : ",", extra);
	hb_put(b, "}");
	if (b->len >= 2 && memcmp(b->p + b->len - 2, "{}", 2) == 0)
		b->len -= 2;
}

enum { M_PROBES, M_LOST, M_DROP, M_FLOWS, M_RTT, M_RTTMAX, M_REFL, M_NFAM };

static const struct {
	const char *name;
	const char *help;
	const char *type;
} m_fam[M_NFAM] = {
	[M_PROBES] = { "probes", "Probes sent in the latest window", "gauge" },
	[M_LOST] = { "lost", "Probes lost in the latest window", "gauge" },
	[M_DROP] = { "drop_ratio", "lost / (received + lost) in the latest window", "gauge" },
	[M_FLOWS] = { "flows", "Flow-windows (summaries) in the latest window", "gauge" },
	[M_RTT] = { "rtt_seconds", "Network RTT quantiles (reflector delay removed)", "gauge" },
	[M_RTTMAX] = { "rtt_max_seconds", "Largest network RTT", "gauge" },
	[M_REFL] = { "reflector_delay_seconds", "Reflector delay quantiles", "gauge" },
};

static void
m_table(const struct agg_http *h, struct hbuf *b, int tb, const char *prefix,
	const uint32_t *idx, uint32_t n)
{
	const struct snap *s = h->snap;
	char extra[32];
	uint32_t i;
	int f, q;

	for (f = 0; f < M_NFAM; f++) {
		hb_put(b, "# HELP pmesh_%s_%s %s (%s).\n# TYPE pmesh_%s_%s %s\n",
		       prefix, m_fam[f].name, m_fam[f].help, prefix, prefix,
		       m_fam[f].name, m_fam[f].type);
		for (i = 0; i < n; i++) {
			const struct snap_row *r = &s->rows[tb][idx ? idx[i] : i];

			if (f == M_RTT || f == M_REFL) {
				bool rtt = f == M_RTT;

				if ((rtt ? r->rtt_n : r->refl_n) == 0)
					continue;
				for (q = 0; q < (rtt ? NQ : 2); q++) {
					snprintf(extra, sizeof(extra), "quantile=\"%s\"",
						 rtt ? http_qs[q] : q ? "0.99" : "0.5");
					hb_put(b, "pmesh_%s_%s", prefix, m_fam[f].name);
					m_labels(h, b, tb, r, extra);
					hb_put(b, " %.9f\n", (double)(rtt ? r->q[q] :
						r->refl_q[q]) / 1e9);
				}
				continue;
			}
			if (f == M_RTTMAX && r->rtt_n == 0 && r->max == 0)
				continue;
			hb_put(b, "pmesh_%s_%s", prefix, m_fam[f].name);
			m_labels(h, b, tb, r, NULL);
			switch (f) {
			case M_PROBES: hb_put(b, " %" PRIu64 "\n", r->sent); break;
			case M_LOST: hb_put(b, " %" PRIu64 "\n", r->lost); break;
			case M_DROP: hb_put(b, " %.6g\n", r->drop); break;
			case M_FLOWS: hb_put(b, " %" PRIu64 "\n", r->flows); break;
			default: hb_put(b, " %.9f\n", (double)r->max / 1e9); break;
			}
		}
	}
}

/* Worst first: drop ratio, then p99 (qsort_r over indices into @rows). */
static int
m_worst_cmp(const void *x, const void *y, void *rows)
{
	const struct snap_row *a = &((const struct snap_row *)rows)[*(const uint32_t *)x];
	const struct snap_row *b = &((const struct snap_row *)rows)[*(const uint32_t *)y];

	if (a->drop != b->drop)
		return a->drop < b->drop ? 1 : -1;
	if (a->q[2] != b->q[2])
		return a->q[2] < b->q[2] ? 1 : -1;
	return *(const uint32_t *)x < *(const uint32_t *)y ? -1 : 1;
}

static int
u32_cmp(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

static void
m_counter(struct hbuf *b, const char *name, const char *help, const char *labels,
	  uint64_t v, bool head)
{
	if (head)
		hb_put(b, "# HELP pmesh_aggregator_%s %s\n# TYPE pmesh_aggregator_%s counter\n",
		       name, help, name);
	hb_put(b, "pmesh_aggregator_%s%s %" PRIu64 "\n", name, labels, v);
}

static void
m_render(struct agg_http *h, struct hbuf *b)
{
	const struct snap *s = h->snap;
	const struct agg_http_counters *c = &h->c;
	uint32_t *idx = NULL, n = 0, i;
	char t1[32], t2[32];

	hb_put(b, "# HELP pmesh_aggregator_info pmesh-aggregator build and configuration.\n"
	       "# TYPE pmesh_aggregator_info gauge\npmesh_aggregator_info{version=\"");
	hb_label(b, PM_VERSION);
	hb_put(b, "\",group=\"");
	hb_label(b, h->o.group ? h->o.group : "");
	hb_put(b, "\",topology=\"");
	hb_label(b, h->o.topology ? h->o.topology : "");
	hb_put(b, "\"} 1\n");
	m_counter(b, "messages_total", "Kafka messages consumed.", "", c->messages, true);
	m_counter(b, "refused_total", "Messages refused, by cause (counted, skipped).",
		  "{cause=\"encoding\"}", c->refused_encoding, true);
	m_counter(b, "refused_total", "", "{cause=\"binary\"}", c->refused_binary, false);
	m_counter(b, "refused_total", "", "{cause=\"json\"}", c->refused_json, false);
	m_counter(b, "refused_total", "", "{cause=\"schema\"}", c->refused_schema, false);
	m_counter(b, "summaries_total", "Summaries added to tables.", "", c->summaries, true);
	m_counter(b, "duplicates_total", "Summaries seen again (at-least-once), not added.",
		  "", c->duplicates, true);
	m_counter(b, "late_total", "Summaries for windows already emitted, not added.",
		  "", c->late, true);
	m_counter(b, "unknown_address_total", "Summaries whose address is in no rack.",
		  "{side=\"src\"}", c->unknown_src, true);
	m_counter(b, "unknown_address_total", "", "{side=\"dst\"}", c->unknown_dst, false);
	m_counter(b, "windows_total", "Windows emitted.", "", c->windows, true);
	m_counter(b, "paths_total", "Path records applied (flow -> spine).", "",
		  c->paths, true);
	m_counter(b, "paths_refused_total", "Path records refused (malformed or unmapped).",
		  "", c->paths_refused, true);
	if (s == NULL)
		return;
	hb_put(b, "# HELP pmesh_window_start_seconds Start of the latest emitted window (Unix time).\n"
	       "# TYPE pmesh_window_start_seconds gauge\npmesh_window_start_seconds %.3f\n"
	       "# HELP pmesh_window_length_seconds Length of the tables' window.\n"
	       "# TYPE pmesh_window_length_seconds gauge\npmesh_window_length_seconds %.3f\n",
	       (double)s->start_ns / 1e9, s->window_ms / 1e3);
	m_table(h, b, PM_AGG_FLEET, "fleet", NULL, s->nrows[PM_AGG_FLEET]);
	m_table(h, b, PM_AGG_SPINE, "spine", NULL, s->nrows[PM_AGG_SPINE]);
	m_table(h, b, PM_AGG_TOR, "tor", NULL, s->nrows[PM_AGG_TOR]);
	m_table(h, b, PM_AGG_POD_PAIR, "pod_pair", NULL, s->nrows[PM_AGG_POD_PAIR]);
	n = s->nrows[PM_AGG_RACK_PAIR];
	idx = malloc((n ? n : 1) * sizeof(*idx));
	if (idx == NULL) {
		b->err = true;
		return;
	}
	for (i = 0; i < n; i++)
		idx[i] = i;
	qsort_r(idx, n, sizeof(*idx), m_worst_cmp, s->rows[PM_AGG_RACK_PAIR]);
	if (n > h->o.max_rack_pairs)	/* the worst, in topology order */
		qsort(idx, h->o.max_rack_pairs, sizeof(*idx), u32_cmp);
	m_table(h, b, PM_AGG_RACK_PAIR, "rack_pair", idx,
		n > h->o.max_rack_pairs ? h->o.max_rack_pairs : n);
	hb_put(b, "# HELP pmesh_rack_pairs_omitted Rack pairs left out of pmesh_rack_pair_* "
	       "(only the worst --metrics-rack-pairs are exported).\n"
	       "# TYPE pmesh_rack_pairs_omitted gauge\npmesh_rack_pairs_omitted %u\n",
	       n > h->o.max_rack_pairs ? n - h->o.max_rack_pairs : 0);
	free(idx);
	hb_put(b, "# HELP pmesh_alerts Alerts raised in the latest window.\n"
	       "# TYPE pmesh_alerts gauge\npmesh_alerts %u\n", s->nalerts);
	for (int f = 0; f < 2; f++) {
		hb_put(b, "# HELP pmesh_alert%s %s\n# TYPE pmesh_alert%s gauge\n",
		       f ? "_baseline" : "", f ? "The alerted element's baseline (peers' "
		       "median drop ratio, or the p99 SLA in seconds)." : "An alerted element's "
		       "figure: drop ratio, or p99 in seconds.", f ? "_baseline" : "");
		for (i = 0; i < s->nalerts; i++) {
			const struct pm_agg_alert *x = &s->alerts[i];
			bool p99 = strcmp(x->kind, "p99") == 0;
			bool pair = x->table == PM_AGG_RACK_PAIR || x->table == PM_AGG_POD_PAIR;
			double v = f ? x->baseline : x->value;

			hb_put(b, "pmesh_alert%s{kind=\"", f ? "_baseline" : "");
			hb_label(b, x->kind);
			hb_put(b, "\",table=\"%s\",element=\"", pm_agg_table_str(x->table));
			hb_label(b, http_name(h, x->table, x->a, t1, sizeof(t1)));
			if (pair) {
				hb_put(b, "->");
				hb_label(b, http_name(h, x->table, x->b, t2, sizeof(t2)));
			}
			hb_put(b, "\",rank=\"%u\"} %.9g\n", i + 1, p99 ? v / 1e9 : v);
		}
	}
}

/* ---- the page ---- */

static const char *const drop_fill[] = {
	"#dddddd",	/* no probes */
	"#1a9850",	/* no loss */
	"#a6d96a",	/* under the SLA */
	"#fee08b",	/* SLA .. 10 x SLA */
	"#fc8d59",	/* 10 x .. 50 x SLA */
	"#d73027",	/* 50 x SLA and more */
};

static int
drop_class(const struct snap_row *r, double sla)
{
	if (r == NULL || r->received + r->lost == 0)
		return 0;
	if (r->lost == 0)
		return 1;
	if (r->drop < sla)
		return 2;
	if (r->drop < 10 * sla)
		return 3;
	if (r->drop < 50 * sla)
		return 4;
	return 5;
}

/* p99 bounds: x SLA when there is one, else x the median p99 shown. */
struct p99_scale {
	double ref;
	double k[4];
};

static int
p99_class(const struct snap_row *r, const struct p99_scale *sc)
{
	int i;

	if (r == NULL || r->rtt_n == 0)
		return 0;
	for (i = 0; i < 4; i++)
		if ((double)r->q[2] <= sc->ref * sc->k[i])
			return i + 1;
	return 5;
}

static int
u64_cmp(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

static void
p99_scale_init(struct p99_scale *sc, const struct agg_http *h, const struct snap_row *rows,
	       uint32_t n)
{
	static const double rel[4] = { 1.25, 2, 4, 10 }, sla[4] = { 0.25, 0.5, 1, 2 };
	uint64_t *v = malloc((n ? n : 1) * sizeof(*v));
	uint32_t i, m = 0;

	if (h->o.p99_sla_ns) {
		sc->ref = (double)h->o.p99_sla_ns;
		memcpy(sc->k, sla, sizeof(sla));
	} else {
		sc->ref = 0;
		for (i = 0; v != NULL && i < n; i++)
			if (rows[i].rtt_n)
				v[m++] = rows[i].q[2];
		if (m) {
			qsort(v, m, sizeof(*v), u64_cmp);
			sc->ref = (double)v[m / 2];
		}
		if (sc->ref <= 0)
			sc->ref = 1;
		memcpy(sc->k, rel, sizeof(rel));
	}
	free(v);
}

static void
fmt_ns(char *buf, size_t cap, double ns)
{
	if (ns >= 1e9)
		snprintf(buf, cap, "%.2f s", ns / 1e9);
	else if (ns >= 1e6)
		snprintf(buf, cap, "%.2f ms", ns / 1e6);
	else
		snprintf(buf, cap, "%.1f µs", ns / 1e3);
}

static void
fmt_pct(char *buf, size_t cap, double r)
{
	if (r == 0)
		snprintf(buf, cap, "0 %%");
	else if (r < 0.0001)
		snprintf(buf, cap, "%.4f %%", r * 100);
	else
		snprintf(buf, cap, "%.3g %%", r * 100);
}

static void
page_legend(struct hbuf *b, double x, double y, const char *const *labels)
{
	int i;

	for (i = 0; i < 6; i++) {
		hb_put(b, "<rect class=\"legend\" x=\"%.0f\" y=\"%.0f\" width=\"14\" "
		       "height=\"14\" fill=\"%s\"/><text x=\"%.0f\" y=\"%.0f\">",
		       x, y + i * 18, drop_fill[i], x + 20, y + i * 18 + 11);
		hb_html(b, labels[i]);
		hb_put(b, "</text>");
	}
}

/*
 * One heatmap: rows = sources, columns = destinations, over @n elements
 * @el[] of table @tb (racks of rack pairs, or pods of pod pairs).
 */
static void
page_heat(struct agg_http *h, struct hbuf *b, int tb, const uint32_t *el, uint32_t n,
	  const int32_t *cell, bool p99, const struct p99_scale *sc)
{
	const struct snap *s = h->snap;
	const char *what = tb == PM_AGG_RACK_PAIR ? "pair" : "podpair";
	unsigned int cs = n <= 12 ? 30 : n <= 24 ? 20 : n <= 40 ? 14 : 10;
	unsigned int left = 110, top = 100, legx;
	char t1[32], t2[32], l[6][80], v1[32], v2[32], v3[32];
	const char *lp[6];
	uint32_t i, j;
	int k;

	legx = left + n * cs + 24;
	hb_put(b, "<svg id=\"heat-%s\" class=\"heatmap\" xmlns=\"http://www.w3.org/2000/svg\" "
	       "width=\"%u\" height=\"%u\">", p99 ? "p99" : "drop", legx + 190,
	       top + n * cs + 30 > 230 ? top + n * cs + 30 : 230);
	for (i = 0; i < n; i++) {
		const char *nm = http_name(h, tb, el[i], t1, sizeof(t1));

		hb_put(b, "<text class=\"rl\" x=\"%u\" y=\"%u\" text-anchor=\"end\">",
		       left - 6, top + i * cs + cs / 2 + 4);
		hb_html(b, nm);
		hb_put(b, "</text><text class=\"cl\" transform=\"translate(%u,%u) rotate(-60)\">",
		       left + i * cs + cs / 2 + 4, top - 6);
		hb_html(b, nm);
		hb_put(b, "</text>");
	}
	hb_put(b, "<text class=\"axis\" x=\"4\" y=\"%u\">source ↓</text>"
	       "<text class=\"axis\" x=\"%u\" y=\"14\">destination →</text>",
	       top - 6, left);
	for (i = 0; i < n; i++) {
		for (j = 0; j < n; j++) {
			int32_t ri = cell[i * n + j];
			const struct snap_row *r = ri < 0 ? NULL : &s->rows[tb][ri];
			int c = p99 ? p99_class(r, sc) : drop_class(r, h->o.drop_sla);
			const char *sn = http_name(h, tb, el[i], t1, sizeof(t1));
			const char *dn = http_name(h, tb, el[j], t2, sizeof(t2));

			if (r == NULL) {
				hb_put(b, "<rect class=\"cell empty\" x=\"%u\" y=\"%u\" width=\"%u\" "
				       "height=\"%u\" fill=\"%s\"/>", left + j * cs,
				       top + i * cs, cs - 1, cs - 1, drop_fill[0]);
				continue;
			}
			hb_put(b, "<a href=\"/?cdf=%s:", what);
			hb_url(b, sn);
			hb_put(b, "%%3E");
			hb_url(b, dn);
			hb_put(b, "\"><rect class=\"cell\" x=\"%u\" y=\"%u\" width=\"%u\" "
			       "height=\"%u\" fill=\"%s\" data-src=\"", left + j * cs,
			       top + i * cs, cs - 1, cs - 1, drop_fill[c]);
			hb_html(b, sn);
			hb_put(b, "\" data-dst=\"");
			hb_html(b, dn);
			hb_put(b, "\" data-drop=\"%.6f\" data-p99-ns=\"%" PRIu64 "\" data-probes=\""
			       "%" PRIu64 "\" data-class=\"%d\"><title>", r->drop, r->q[2],
			       r->sent, c);
			fmt_pct(v1, sizeof(v1), r->drop);
			fmt_ns(v2, sizeof(v2), (double)r->q[2]);
			fmt_ns(v3, sizeof(v3), (double)r->q[0]);
			hb_html(b, sn);
			hb_put(b, " → ");
			hb_html(b, dn);
			hb_put(b, ": drop %s (%" PRIu64 " of %" PRIu64 "), p50 %s, p99 %s, %"
			       PRIu64 " flow-windows</title></rect></a>", v1, r->lost,
			       r->received + r->lost, v3, v2, r->flows);
		}
	}
	if (p99) {
		snprintf(l[0], sizeof(l[0]), "no RTT");
		for (k = 0; k < 4; k++) {
			fmt_ns(v1, sizeof(v1), sc->ref * sc->k[k]);
			snprintf(l[k + 1], sizeof(l[k + 1]), "≤ %s", v1);
		}
		fmt_ns(v1, sizeof(v1), sc->ref * sc->k[3]);
		snprintf(l[5], sizeof(l[5]), "> %s", v1);
	} else {
		fmt_pct(v1, sizeof(v1), h->o.drop_sla);
		fmt_pct(v2, sizeof(v2), h->o.drop_sla * 10);
		fmt_pct(v3, sizeof(v3), h->o.drop_sla * 50);
		snprintf(l[0], sizeof(l[0]), "no probes");
		snprintf(l[1], sizeof(l[1]), "no loss");
		snprintf(l[2], sizeof(l[2]), "< %s (SLA)", v1);
		snprintf(l[3], sizeof(l[3]), "%s – %s", v1, v2);
		snprintf(l[4], sizeof(l[4]), "%s – %s", v2, v3);
		snprintf(l[5], sizeof(l[5]), "≥ %s", v3);
	}
	for (k = 0; k < 6; k++)
		lp[k] = l[k];
	page_legend(b, legx, top, lp);
	hb_put(b, "</svg>");
}

static void
page_heatmaps(struct agg_http *h, struct hbuf *b)
{
	const struct snap *s = h->snap;
	int tb = PM_AGG_RACK_PAIR;
	uint32_t nel = pm_topo_nracks(h->t), *el = NULL, n = 0, i;
	int32_t *pos = NULL, *cell = NULL;
	struct p99_scale sc;
	const char *what = "rack";

	for (;;) {
		free(pos);
		pos = malloc((nel ? nel : 1) * sizeof(*pos));
		free(el);
		el = malloc((nel ? nel : 1) * sizeof(*el));
		if (pos == NULL || el == NULL)
			goto oom;
		memset(pos, 0xff, (nel ? nel : 1) * sizeof(*pos));
		n = 0;
		for (i = 0; i < s->nrows[tb]; i++) {
			uint32_t e[2] = { s->rows[tb][i].a, s->rows[tb][i].b };

			for (int k = 0; k < 2; k++)
				if (e[k] < nel && pos[e[k]] < 0)
					pos[e[k]] = 0;
		}
		for (i = 0; i < nel; i++)
			if (pos[i] == 0) {
				pos[i] = (int32_t)n;
				el[n++] = i;
			}
		if (n <= HEAT_MAX || tb == PM_AGG_POD_PAIR)
			break;
		tb = PM_AGG_POD_PAIR;
		nel = pm_topo_npods(h->t);
		what = "pod";
	}
	hb_put(b, "<section id=\"heatmaps\"><h2>%s × %s</h2>", what, what);
	if (n == 0) {
		hb_put(b, "<p>No %s pair exchanged probes in this window.</p></section>", what);
		goto out;
	}
	if (n > HEAT_MAX) {
		hb_put(b, "<p>%u %ss exchanged probes: too many to draw; see /tables.</p>"
		       "</section>", n, what);
		goto out;
	}
	if (tb == PM_AGG_POD_PAIR)
		hb_put(b, "<p>More than %d racks exchanged probes: pods are shown; the "
		       "rack pairs are in /tables and /metrics.</p>", HEAT_MAX);
	cell = malloc((size_t)n * n * sizeof(*cell));
	if (cell == NULL)
		goto oom;
	memset(cell, 0xff, (size_t)n * n * sizeof(*cell));
	for (i = 0; i < s->nrows[tb]; i++) {
		const struct snap_row *r = &s->rows[tb][i];

		if (r->a < nel && r->b < nel)
			cell[(size_t)pos[r->a] * n + (size_t)pos[r->b]] = (int32_t)i;
	}
	p99_scale_init(&sc, h, s->rows[tb], s->nrows[tb]);
	hb_put(b, "<div class=\"maps\"><figure><figcaption>Drop rate (click a cell for its RTT "
	       "CDF)</figcaption>");
	page_heat(h, b, tb, el, n, cell, false, &sc);
	hb_put(b, "</figure><figure><figcaption>p99 network RTT</figcaption>");
	page_heat(h, b, tb, el, n, cell, true, &sc);
	hb_put(b, "</figure></div></section>");
	goto out;
oom:
	b->err = true;
out:
	free(cell);
	free(pos);
	free(el);
}

static void
page_spines(struct agg_http *h, struct hbuf *b)
{
	const struct snap *s = h->snap;
	const struct snap_row *rows = s->rows[PM_AGG_SPINE];
	uint32_t n = s->nrows[PM_AGG_SPINE], i;
	double scale = 2 * h->o.drop_sla;
	char t1[32], v1[32], v2[32];

	hb_put(b, "<section id=\"spines\"><h2>Spines</h2>");
	if (n == 0) {
		hb_put(b, "<p>No flow in this window.</p></section>");
		return;
	}
	for (i = 0; i < n; i++)
		if (rows[i].drop > scale)
			scale = rows[i].drop;
	hb_put(b, "<svg id=\"spine-bars\" xmlns=\"http://www.w3.org/2000/svg\" width=\"900\" "
	       "height=\"%u\">", n * 26 + 10);
	for (i = 0; i < n; i++) {
		const struct snap_row *r = &rows[i];
		const char *nm = http_name(h, PM_AGG_SPINE, r->a, t1, sizeof(t1));
		double w = 420 * r->drop / scale;

		if (r->drop > 0 && w < 2)
			w = 2;
		fmt_pct(v1, sizeof(v1), r->drop);
		fmt_ns(v2, sizeof(v2), (double)r->q[2]);
		hb_put(b, "<text x=\"140\" y=\"%u\" text-anchor=\"end\">", i * 26 + 20);
		hb_html(b, nm);
		if (r->a == PM_TOPO_NONE)
			hb_put(b, " (path not known)");
		hb_put(b, "</text><a href=\"/?cdf=spine:");
		hb_url(b, nm);
		hb_put(b, "\"><rect class=\"track\" x=\"150\" y=\"%u\" width=\"420\" height=\"18\" "
		       "fill=\"#f2f2f2\"/><rect class=\"bar\" x=\"150\" y=\"%u\" width=\"%.1f\" "
		       "height=\"18\" fill=\"%s\" data-spine=\"", i * 26 + 6, i * 26 + 6, w,
		       drop_fill[drop_class(r, h->o.drop_sla)]);
		hb_html(b, nm);
		hb_put(b, "\" data-drop=\"%.6f\" data-p99-ns=\"%" PRIu64 "\"><title>",
		       r->drop, r->q[2]);
		hb_html(b, nm);
		hb_put(b, ": drop %s</title></rect></a><text x=\"580\" y=\"%u\">%s · p99 %s · "
		       "%" PRIu64 " probes · %" PRIu64 " flow-windows</text>", v1, i * 26 + 20,
		       v1, r->rtt_n ? v2 : "–", r->sent, r->flows);
	}
	hb_put(b, "</svg></section>");
}

/* The row the CDF is drawn for: ?cdf=fleet|spine:S|tor:R|pair:A>B|podpair:A>B */
static const struct snap_row *
page_cdf_pick(struct agg_http *h, const char *sel, char *title, size_t cap)
{
	const struct snap *s = h->snap;
	char buf[128], *gt, t1[32], t2[32];
	int tb = -1;
	uint32_t a = PM_TOPO_NONE, bb = PM_TOPO_NONE, i;

	if (sel == NULL || strcmp(sel, "fleet") == 0 || strlen(sel) >= sizeof(buf))
		goto fleet;
	snprintf(buf, sizeof(buf), "%s", sel);
	gt = strchr(buf, '>');
	if (gt != NULL)
		*gt++ = '\0';
	if (strncmp(buf, "spine:", 6) == 0) {
		tb = PM_AGG_SPINE;
		a = strcmp(buf + 6, "unknown") == 0 ? PM_TOPO_NONE :
		    pm_topo_spine_find(h->t, buf + 6);
		if (a == PM_TOPO_NONE && strcmp(buf + 6, "unknown") != 0)
			goto fleet;
	} else if (strncmp(buf, "tor:", 4) == 0) {
		tb = PM_AGG_TOR;
		a = pm_topo_rack_find(h->t, buf + 4);
	} else if (strncmp(buf, "pair:", 5) == 0 && gt != NULL) {
		tb = PM_AGG_RACK_PAIR;
		a = pm_topo_rack_find(h->t, buf + 5);
		bb = pm_topo_rack_find(h->t, gt);
	} else if (strncmp(buf, "podpair:", 8) == 0 && gt != NULL) {
		tb = PM_AGG_POD_PAIR;
		for (i = 0; i < pm_topo_npods(h->t); i++) {
			if (strcmp(pm_topo_pod_name(h->t, i), buf + 8) == 0)
				a = i;
			if (strcmp(pm_topo_pod_name(h->t, i), gt) == 0)
				bb = i;
		}
	} else {
		goto fleet;
	}
	for (i = 0; i < s->nrows[tb]; i++) {
		const struct snap_row *r = &s->rows[tb][i];

		if (r->a != a || (tb != PM_AGG_SPINE && a == PM_TOPO_NONE))
			continue;
		if ((tb == PM_AGG_RACK_PAIR || tb == PM_AGG_POD_PAIR) && r->b != bb)
			continue;
		if (tb == PM_AGG_RACK_PAIR || tb == PM_AGG_POD_PAIR)
			snprintf(title, cap, "%s %s → %s",
				 tb == PM_AGG_RACK_PAIR ? "rack pair" : "pod pair",
				 http_name(h, tb, a, t1, sizeof(t1)),
				 http_name(h, tb, bb, t2, sizeof(t2)));
		else
			snprintf(title, cap, "%s %s", tb == PM_AGG_SPINE ? "spine" : "ToR",
				 http_name(h, tb, a, t1, sizeof(t1)));
		return r;
	}
	snprintf(title, cap, "%s: not in this window; the fleet instead", sel);
	return s->nrows[PM_AGG_FLEET] ? &s->rows[PM_AGG_FLEET][0] : NULL;
fleet:
	snprintf(title, cap, "the fleet");
	return s->nrows[PM_AGG_FLEET] ? &s->rows[PM_AGG_FLEET][0] : NULL;
}

/* Without ?cdf=, the element of the first alert, else the fleet. */
static void
page_cdf_default(struct agg_http *h, char *sel, size_t cap)
{
	const struct snap *s = h->snap;
	const struct pm_agg_alert *x;
	char t1[32], t2[32];

	if (s->nalerts == 0) {
		snprintf(sel, cap, "fleet");
		return;
	}
	x = &s->alerts[0];
	if (x->table == PM_AGG_SPINE)
		snprintf(sel, cap, "spine:%s", http_name(h, x->table, x->a, t1, sizeof(t1)));
	else if (x->table == PM_AGG_TOR)
		snprintf(sel, cap, "tor:%s", http_name(h, x->table, x->a, t1, sizeof(t1)));
	else
		snprintf(sel, cap, "%s:%s>%s", x->table == PM_AGG_POD_PAIR ? "podpair" : "pair",
			 http_name(h, x->table, x->a, t1, sizeof(t1)),
			 http_name(h, x->table, x->b, t2, sizeof(t2)));
}

static void
page_cdf(struct agg_http *h, struct hbuf *b, const char *sel)
{
	const struct snap *s = h->snap;
	const double W = 640, H = 260, L = 60, T = 16;
	char title[160], def[160], v1[32];
	const struct snap_row *r;
	double lo, hi, x, y, dec;
	uint64_t total = 0, cum = 0;
	uint32_t i;
	int q;

	if (sel == NULL) {
		page_cdf_default(h, def, sizeof(def));
		sel = def;
	}
	r = page_cdf_pick(h, sel, title, sizeof(title));
	hb_put(b, "<section id=\"cdf\"><h2>Network RTT CDF: ");
	hb_html(b, title);
	hb_put(b, "</h2>");
	if (r == NULL || r->hn == 0) {
		hb_put(b, "<p>No RTT sample for it in this window.</p></section>");
		return;
	}
	for (i = 0; i < r->hn; i++)
		total += s->ent[r->hoff + i].count;
	lo = log10((double)(pm_hist_bucket_lo(s->ent[r->hoff].bucket) > 0 ?
			    pm_hist_bucket_lo(s->ent[r->hoff].bucket) : 1));
	hi = log10((double)pm_hist_bucket_mid(s->ent[r->hoff + r->hn - 1].bucket) + 1);
	lo = floor(lo);
	hi = ceil(hi);
	if (hi <= lo)
		hi = lo + 1;
	hb_put(b, "<svg id=\"cdf-plot\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
	       "height=\"%.0f\" data-samples=\"%" PRIu64 "\">", W + L + 20, H + T + 40, total);
	hb_put(b, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
	       "stroke=\"#999\"/>", L, T, W, H);
	for (dec = lo; dec <= hi; dec++) {
		x = L + W * (dec - lo) / (hi - lo);
		fmt_ns(v1, sizeof(v1), pow(10, dec));
		hb_put(b, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#ddd\"/>"
		       "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%s</text>", x, T, x,
		       T + H, x, T + H + 16, v1);
	}
	for (q = 0; q <= 4; q++) {
		y = T + H - H * q / 4.0;
		hb_put(b, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>",
		       L - 6, y + 4, q / 4.0);
	}
	hb_put(b, "<polyline class=\"cdf\" fill=\"none\" stroke=\"#3366cc\" stroke-width=\"2\" "
	       "points=\"%.1f,%.1f", L, T + H);
	for (i = 0; i < r->hn; i++) {
		const struct pm_hist_ent *e = &s->ent[r->hoff + i];
		double v = (double)pm_hist_bucket_mid(e->bucket);

		x = L + W * (log10(v > 1 ? v : 1) - lo) / (hi - lo);
		hb_put(b, " %.1f,%.1f", x, T + H - H * (double)cum / (double)total);
		cum += e->count;
		hb_put(b, " %.1f,%.1f", x, T + H - H * (double)cum / (double)total);
	}
	hb_put(b, "\"/>");
	for (q = 0; q < NQ; q++) {
		double v = (double)r->q[q];

		if (q == 1)
			continue;
		x = L + W * (log10(v > 1 ? v : 1) - lo) / (hi - lo);
		fmt_ns(v1, sizeof(v1), v);
		hb_put(b, "<line class=\"q\" x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" "
		       "stroke=\"#cc3333\" stroke-dasharray=\"3,3\"/><text x=\"%.1f\" y=\"%.0f\" "
		       "fill=\"#cc3333\">p%s %s</text>", x, T, x, T + H, x + 3,
		       T + 12 + 14 * (q == 0 ? 0 : q - 1), q == 0 ? "50" : q == 2 ? "99" :
		       "99.9", v1);
	}
	hb_put(b, "<text x=\"%.0f\" y=\"%.0f\">network RTT (log scale), %" PRIu64
	       " samples</text></svg>", L, T + H + 34, total);
	hb_put(b, "<p class=\"links\">CDF of: <a href=\"/?cdf=fleet\">the fleet</a>; click a "
	       "heatmap cell or a spine bar for another.</p></section>");
}

static void
page_alerts(struct agg_http *h, struct hbuf *b)
{
	const struct snap *s = h->snap;
	char text[512], v1[32], v2[32], t1[32], t2[32];
	uint32_t i;

	hb_put(b, "<section id=\"alerts\"><h2>Alerts</h2>");
	if (s->nalerts == 0) {
		hb_put(b, "<p class=\"clean\">No alert: no element stands out above the drop "
		       "SLA and its peers.</p></section>");
		return;
	}
	hb_put(b, "<table><tr><th>#</th><th>kind</th><th>element</th><th>figure</th>"
	       "<th>baseline</th><th>flows</th><th>rack pairs</th><th>what it says</th></tr>");
	for (i = 0; i < s->nalerts; i++) {
		const struct pm_agg_alert *x = &s->alerts[i];
		bool p99 = strcmp(x->kind, "p99") == 0;
		bool pair = x->table == PM_AGG_RACK_PAIR || x->table == PM_AGG_POD_PAIR;

		if (p99) {
			fmt_ns(v1, sizeof(v1), x->value);
			fmt_ns(v2, sizeof(v2), x->baseline);
		} else {
			fmt_pct(v1, sizeof(v1), x->value);
			fmt_pct(v2, sizeof(v2), x->baseline);
		}
		pm_agg_alert_text(text, sizeof(text), h->t, x);
		hb_put(b, "<tr class=\"alert\" data-kind=\"");
		hb_html(b, x->kind);
		hb_put(b, "\"><td>%u</td><td>", i + 1);
		hb_html(b, x->kind);
		hb_put(b, "</td><td>");
		hb_html(b, http_name(h, x->table, x->a, t1, sizeof(t1)));
		if (pair) {
			hb_put(b, " → ");
			hb_html(b, http_name(h, x->table, x->b, t2, sizeof(t2)));
		}
		hb_put(b, "</td><td>%s</td><td>%s</td><td>%" PRIu64 "</td><td>%" PRIu64
		       "</td><td>", v1, v2, x->flows, x->pairs);
		hb_html(b, text);
		hb_put(b, "</td></tr>");
	}
	hb_put(b, "</table></section>");
}

static void
page_render(struct agg_http *h, struct hbuf *b, const char *sel)
{
	const struct snap *s = h->snap;
	const struct snap_row *f;
	char when[64], v1[32], v2[32], v3[32];
	time_t sec;
	struct tm tm;

	hb_put(b, "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">");
	if (s != NULL)
		hb_put(b, "<meta http-equiv=\"refresh\" content=\"%u\">",
		       s->window_ms >= 1000 ? s->window_ms / 1000 : 1);
	else
		hb_put(b, "<meta http-equiv=\"refresh\" content=\"2\">");
	hb_put(b, "<title>pmesh fabric</title><style>"
	       "body{font:14px/1.4 sans-serif;margin:16px;color:#222;background:#fff}"
	       "h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:18px 0 6px}"
	       "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;"
	       "text-align:left}tr.alert td{background:#fdecea}.clean{color:#1a7f37}"
	       "svg text{font:11px sans-serif;fill:#333}svg .axis{font-style:italic}"
	       ".maps{display:flex;flex-wrap:wrap;gap:24px}figure{margin:0}"
	       "figcaption{font-weight:bold}.meta{color:#555}</style></head><body>"
	       "<h1>pmesh fabric</h1>");
	if (s == NULL) {
		hb_put(b, "<p class=\"meta\">No window emitted yet: tables appear once the "
		       "first window has closed (window plus grace). This page reloads "
		       "itself.</p><p><a href=\"/metrics\">/metrics</a> · <a href=\"/tables"
		       "\">/tables</a></p></body></html>");
		return;
	}
	sec = (time_t)(s->start_ns / 1000000000u);
	gmtime_r(&sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	hb_put(b, "<p class=\"meta\" id=\"window\" data-start-ns=\"%" PRIu64 "\">Window %s, "
	       "%u s; %" PRIu64 " summaries from %" PRIu64 " prober%s", s->start_ns, when,
	       s->window_ms / 1000, s->summaries, s->probers, s->probers == 1 ? "" : "s");
	if (s->dup || s->unknown_src || s->unknown_dst)
		hb_put(b, "; %" PRIu64 " duplicates, %" PRIu64 " with an unknown source, %"
		       PRIu64 " with an unknown destination (not in the tables)", s->dup,
		       s->unknown_src, s->unknown_dst);
	hb_put(b, ".</p>");
	if (s->nrows[PM_AGG_FLEET]) {
		f = &s->rows[PM_AGG_FLEET][0];
		fmt_pct(v1, sizeof(v1), f->drop);
		fmt_ns(v2, sizeof(v2), (double)f->q[0]);
		fmt_ns(v3, sizeof(v3), (double)f->q[2]);
		hb_put(b, "<p id=\"fleet\">Fleet: %" PRIu64 " probes, %" PRIu64 " lost (%s); "
		       "network RTT p50 %s, p99 %s.</p>", f->sent, f->lost, v1, v2, v3);
	}
	page_alerts(h, b);
	page_heatmaps(h, b);
	page_spines(h, b);
	page_cdf(h, b, sel);
	hb_put(b, "<p class=\"meta\">Drop SLA %.4g %%. Data: <a href=\"/tables\">/tables</a> "
	       "(JSON) · <a href=\"/metrics\">/metrics</a> (Prometheus). pmesh %s.</p>"
	       "</body></html>", h->o.drop_sla * 100, PM_VERSION);
}

/* ---- requests ---- */

static enum MHD_Result
http_reply(struct MHD_Connection *c, unsigned int status, const char *type,
	   struct hbuf *b)
{
	struct MHD_Response *rsp;
	enum MHD_Result ret;

	if (b->err) {
		static const char oom[] = "out of memory\n";

		free(b->p);
		rsp = MHD_create_response_from_buffer(sizeof(oom) - 1, (void *)oom,
						      MHD_RESPMEM_PERSISTENT);
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		type = "text/plain";
	} else {
		rsp = MHD_create_response_from_buffer(b->len, b->p, MHD_RESPMEM_MUST_FREE);
	}
	if (rsp == NULL) {
		if (!b->err)
			free(b->p);
		return MHD_NO;
	}
	MHD_add_response_header(rsp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(rsp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(rsp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, rsp);
	MHD_destroy_response(rsp);
	return ret;
}

static enum MHD_Result
http_handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
	     const char *version, const char *upload, size_t *upload_size, void **req)
{
	struct agg_http *h = cls;
	struct hbuf b = { 0 };
	const char *type = "text/plain; charset=utf-8";
	unsigned int status = MHD_HTTP_OK;

	(void)version;
	(void)upload;
	(void)req;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		*upload_size = 0;
		hb_put(&b, "pmesh-aggregator serves GET only\n");
		return http_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, type, &b);
	}
	pthread_mutex_lock(&h->mu);
	if (strcmp(url, "/metrics") == 0) {
		type = "text/plain; version=0.0.4; charset=utf-8";
		m_render(h, &b);
	} else if (strcmp(url, "/tables") == 0) {
		type = "application/json";
		if (h->snap == NULL) {
			status = MHD_HTTP_SERVICE_UNAVAILABLE;
			hb_put(&b, "{\"error\":\"no window emitted yet\"}\n");
		} else {
			hb_put(&b, "%s\n", h->snap->json);
		}
	} else if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0) {
		type = "text/html; charset=utf-8";
		page_render(h, &b, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "cdf"));
	} else {
		status = MHD_HTTP_NOT_FOUND;
		hb_put(&b, "not found; pmesh-aggregator serves / (page), /tables (JSON) and "
		       "/metrics (Prometheus)\n");
	}
	pthread_mutex_unlock(&h->mu);
	return http_reply(c, status, type, &b);
}

static int
http_parse_listen(const char *s, struct sockaddr_in *sa, char *err, size_t errlen)
{
	const char *colon = strrchr(s, ':');
	char host[64], *end;
	unsigned long port;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		goto bad;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || port > 65535)
		goto bad;
	sa->sin_port = htons((uint16_t)port);
	if (host[0] == '\0' || strcmp(host, "*") == 0)
		sa->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		goto bad;
	return 0;
bad:
	snprintf(err, errlen, "--http %s: expected IPv4:PORT or :PORT (all addresses), "
		 "e.g. 127.0.0.1:9464", s);
	return -EINVAL;
}

int
agg_http_start(struct agg_http **hp, const struct agg_http_opts *o,
	       const struct pm_topo *t, char *err, size_t errlen)
{
	struct agg_http *h;
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *di;
	socklen_t sl = sizeof(sa);
	int rc;

	rc = http_parse_listen(o->listen, &sa, err, errlen);
	if (rc < 0)
		return rc;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	pthread_mutex_init(&h->mu, NULL);
	h->o = *o;
	h->t = t;
	h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
				MHD_USE_ERROR_LOG, ntohs(sa.sin_port), NULL, NULL,
				http_handler, h,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)15,
				MHD_OPTION_END);
	if (h->d == NULL) {
		rc = errno ? -errno : -EADDRINUSE;
		snprintf(err, errlen, "--http %s: cannot listen (%s); is the port taken?",
			 o->listen, strerror(-rc));
		pthread_mutex_destroy(&h->mu);
		free(h);
		return rc;
	}
	h->port = ntohs(sa.sin_port);
	di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_LISTEN_FD);
	if (di != NULL && getsockname(di->listen_fd, (struct sockaddr *)&sa, &sl) == 0)
		h->port = ntohs(sa.sin_port);
	*hp = h;
	return 0;
}

uint16_t
agg_http_port(const struct agg_http *h)
{
	return h->port;
}

void
agg_http_stop(struct agg_http *h)
{
	if (h == NULL)
		return;
	MHD_stop_daemon(h->d);
	snap_free(h->snap);
	pthread_mutex_destroy(&h->mu);
	free(h);
}
