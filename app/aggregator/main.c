/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pmesh-aggregator: per-window drop and latency tables for the whole fabric,
 * from the probers' summaries on Kafka.
 *
 * A Kafka consumer in a consumer group (cooperative-sticky: add an instance
 * and the partitions split) decodes every summary message (binary batches
 * or JSON lines, lib/enc.c) and feeds lib/agg.c, which joins each flow with
 * the topology (lib/topo.c), deduplicates by record id, and emits a window's
 * tables and alerts once the event-time watermark has passed it by the
 * grace period.  Tables go to the pmesh.tables topic (JSON, one message per
 * window) and/or a JSON-lines file.
 *
 * Exactly-once tables over at-least-once input: offsets are committed only
 * for messages whose every summary belongs to an emitted window, and each
 * commit carries the newest emitted window in its metadata.  Killed at any
 * moment and restarted, the aggregator re-reads from the commit, treats
 * summaries of already emitted windows as late, and rebuilds the open ones
 * in full -- the tables come out as an uninterrupted run's.  A rebalance
 * does the same for the partitions it keeps: open windows are dropped and
 * re-read from the commit, never emitted partially twice.
 *
 * Keys are "<prober>-<lcore>": with several instances each owns whole
 * probers and emits partial tables for them; rows carry counts and
 * histograms, so partial tables of one window merge by summing
 * (docs/aggregator.md).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "pm_agg.h"
#ifdef PM_HAVE_HTTP
#include "agg_http.h"
#endif
#include "pm_enc.h"
#include "pm_topo.h"

#define AGG_MAX_PART		1024	/* partitions tracked per topic */
#define AGG_FIFO0		1024

/* Per partition: messages not yet wholly inside emitted windows. */
struct agg_pending {
	int64_t *off;
	uint64_t *maxw;		/* newest window start in that message */
	size_t head, tail, cap;
	int64_t next;		/* offset after the last message read */
	uint64_t newest;	/* newest window start read from it */
	bool owned;
	bool seen;		/* read from since (re)assigned */
	bool eof;		/* read to its end (for now) */
	uint64_t eof_ms;	/* since when */
};

struct agg {
	/* options */
	const char *bootstrap;
	const char *topic;
	const char *group;
	const char *topo_path;
	const char *output;
	const char *tables_topic;	/* NULL: not published */
	const char *props[32];
	int nprops;
	uint64_t windows_max;		/* stop after N windows */
	uint64_t duration_s;
	uint64_t idle_ms;		/* stop after this long without input */
	uint64_t part_idle_ms;		/* a partition silent this long stops holding windows */
	const char *paths_topic;	/* NULL: no path records */
	const char *http_listen;	/* NULL: no HTTP */
	uint64_t metrics_rack_pairs;
	bool no_early;			/* --no-early-alerts */
	const char *alerts_output;	/* early alerts as JSON lines */
	const char *alerts_topic;	/* NULL: early alerts not published */
	FILE *aout;
	struct pm_agg_cfg acfg;
	/* state */
	struct pm_topo *topo;
	struct pm_agg *agg;
	rd_kafka_t *rk;			/* consumer */
	rd_kafka_t *pk;			/* producer of tables */
	rd_kafka_t *rkp;		/* reader of path records (all partitions) */
	int paths_parts;		/* partitions assigned, 0: not yet */
	int paths_eof;			/* of which read to their end */
	uint64_t paths_retry_ms;	/* when to look for the topic again */
	uint64_t paths, paths_refused, paths_log_ms;
	FILE *out;
	struct agg_pending part[AGG_MAX_PART];
	uint64_t emitted;		/* windows emitted by this run */
	uint64_t early;			/* early alerts emitted */
	uint64_t last_emitted;		/* newest emitted window start */
	bool rebuild;			/* a rebalance: drop open windows */
	/* counts */
	uint64_t messages, refused, produce_failed;
	uint64_t refused_enc, refused_bin, refused_json, refused_schema;
#ifdef PM_HAVE_HTTP
	struct agg_http *http;
#endif
	uint64_t last_log_ms;
	uint64_t start_ms, first_ms, last_ms;	/* run start, first, last message */
};

static volatile sig_atomic_t agg_quit;

static void
agg_on_signal(int sig)
{
	(void)sig;
	agg_quit = 1;
}

static uint64_t
agg_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
agg_usage(FILE *out)
{
	fprintf(out,
"Usage: pmesh-aggregator -b HOST:PORT[,...] --topology FILE [options]\n"
"\n"
"Reads the probers' summaries from Kafka and publishes, per window, drop and\n"
"latency tables per rack pair, pod pair, spine, ToR and for the fleet, with\n"
"alerts that name the element that stands out (schema: docs/aggregator.md).\n"
"Run several with the same --group to split the partitions.\n"
"\n"
"  -b, --bootstrap LIST    Kafka bootstrap servers\n"
"      --topology FILE     hosts -> racks -> pods, spines (docs/topology.md)\n"
"  -t, --topic TOPIC       summaries topic (default pmesh.summaries)\n"
"  -g, --group ID          consumer group (default pmesh-aggregator)\n"
"      --window-ms MS      table window (default 10000)\n"
"      --grace-ms MS       wait this long past a window for late summaries (default 5000)\n"
"      --partition-idle-ms MS  a partition silent this long no longer holds\n"
"                          windows open (default 30000)\n"
"      --drop-sla RATIO    drop rate that counts as bad (default 0.001)\n"
"      --p99-sla-us US     rack-pair p99 above this alerts (default off)\n"
"      --alerts-topic T    early alerts: an alert that two probe windows in a row\n"
"                          show in the window still open is published to T at\n"
"                          once, seconds before its window's tables (default\n"
"                          pmesh.alerts; the tables still carry every alert)\n"
"      --alerts-output FILE  early alerts as JSON lines too ('-' stdout)\n"
"      --no-early-alerts   alert only in the tables, when a window closes\n"
"  -o, --output FILE       tables as JSON lines too ('-' stdout)\n"
"      --tables-topic T    publish tables to T (default pmesh.tables)\n"
"      --no-publish        do not publish to Kafka\n"
"      --paths-topic T     path records: flow -> spine (default pmesh.paths;\n"
"                          read whole by every instance; static rules otherwise)\n"
"      --no-paths          do not read path records\n"
"      --http IP:PORT      serve / (heatmaps, spines, CDF, alerts), /tables\n"
"                          (JSON) and /metrics (Prometheus); :PORT listens on\n"
"                          all addresses, e.g. --http 127.0.0.1:9464\n"
"      --metrics-rack-pairs N  rack-pair series in /metrics, worst first\n"
"                          (default 1000; pmesh_rack_pairs_omitted counts the rest)\n"
"      --windows N         stop after N windows\n"
"      --duration S        stop after S seconds\n"
"      --until-idle MS     stop when no summary came for MS, emitting every\n"
"                          open window (scripts, tests)\n"
"  -X NAME=VALUE           librdkafka consumer property (repeat)\n"
"  -h, --help              this text\n"
"\n"
"Exit status: 0 done, 1 runtime failure, 2 usage or topology error.\n");
}

/* ---- pending offsets ---- */

static int
agg_pending_push(struct agg_pending *p, int64_t off, uint64_t maxw)
{
	if (p->tail - p->head == p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : AGG_FIFO0, i;
		int64_t *no = malloc(ncap * sizeof(*no));
		uint64_t *nw = malloc(ncap * sizeof(*nw));

		if (no == NULL || nw == NULL) {
			free(no);
			free(nw);
			return -ENOMEM;
		}
		for (i = 0; i < p->tail - p->head; i++) {
			no[i] = p->off[(p->head + i) % p->cap];
			nw[i] = p->maxw[(p->head + i) % p->cap];
		}
		free(p->off);
		free(p->maxw);
		p->off = no;
		p->maxw = nw;
		p->tail -= p->head;
		p->head = 0;
		p->cap = ncap;
	}
	p->off[p->tail % p->cap] = off;
	p->maxw[p->tail % p->cap] = maxw;
	p->tail++;
	return 0;
}

/*
 * Commit, per owned partition, the first offset whose message still holds a
 * summary of a window not emitted; the metadata names the newest emitted
 * window, for a restart.
 */
static void
agg_commit(struct agg *g)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
	char meta[64];
	int i;

	snprintf(meta, sizeof(meta), "pmesh-aggregator w=%" PRIu64, g->last_emitted);
	for (i = 0; i < AGG_MAX_PART; i++) {
		struct agg_pending *p = &g->part[i];
		rd_kafka_topic_partition_t *tp;
		int64_t off;

		if (!p->owned || p->next < 0)
			continue;
		while (p->head != p->tail && p->maxw[p->head % p->cap] <= g->last_emitted)
			p->head++;
		off = p->head != p->tail ? p->off[p->head % p->cap] : p->next;
		tp = rd_kafka_topic_partition_list_add(l, g->topic, i);
		tp->offset = off;
		tp->metadata = strdup(meta);
		tp->metadata_size = strlen(meta);
	}
	if (l->cnt > 0) {
		rd_kafka_resp_err_t err = rd_kafka_commit(g->rk, l, 0);

		if (err != RD_KAFKA_RESP_ERR_NO_ERROR &&
		    err != RD_KAFKA_RESP_ERR__NO_OFFSET)
			fprintf(stderr, "pmesh-aggregator: commit: %s\n",
				rd_kafka_err2str(err));
	}
	rd_kafka_topic_partition_list_destroy(l);
}

/* Newest emitted window recorded by earlier runs in @l's commits. */
static uint64_t
agg_committed_window(const rd_kafka_topic_partition_list_t *l)
{
	uint64_t w = 0, x;
	int i;

	for (i = 0; i < l->cnt; i++) {
		const rd_kafka_topic_partition_t *tp = &l->elems[i];
		char buf[64];

		if (tp->metadata == NULL || tp->metadata_size == 0 ||
		    tp->metadata_size >= sizeof(buf))
			continue;
		memcpy(buf, tp->metadata, tp->metadata_size);
		buf[tp->metadata_size] = '\0';
		if (sscanf(buf, "pmesh-aggregator w=%" SCNu64, &x) == 1 && x > w)
			w = x;
	}
	return w;
}

/* ---- emitting ---- */

static int
agg_emit(void *arg, const struct pm_agg_window *w)
{
	struct agg *g = arg;
	char *json = NULL, key[32];
	size_t len = 0;
	int rc;

	rc = pm_agg_window_json(w, g->topo, &json, &len);
	if (rc < 0) {
		fprintf(stderr, "pmesh-aggregator: window %" PRIu64 ": cannot encode (%s)\n",
			w->start_ns, strerror(-rc));
		return 0;
	}
	if (g->out != NULL) {
		fwrite(json, 1, len, g->out);
		fputc('\n', g->out);
		fflush(g->out);
	}
	if (g->pk != NULL && g->tables_topic != NULL) {
		snprintf(key, sizeof(key), "%" PRIu64, w->start_ns);
		while (rd_kafka_producev(g->pk, RD_KAFKA_V_TOPIC(g->tables_topic),
				RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(json, len),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				RD_KAFKA_V_HEADER("pmesh-schema", "1", -1),
				RD_KAFKA_V_HEADER("pmesh-encoding", "json", -1),
				RD_KAFKA_V_HEADER("pmesh-kind", "tables", -1),
				RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(g->pk, 10);
		rd_kafka_poll(g->pk, 0);
	}
#ifdef PM_HAVE_HTTP
	if (g->http != NULL && agg_http_publish(g->http, w, json, len) < 0)
		fprintf(stderr, "pmesh-aggregator: window %" PRIu64 ": out of memory for "
			"the HTTP snapshot; the page shows the previous one\n", w->start_ns);
#endif
	free(json);
	if (w->start_ns > g->last_emitted)
		g->last_emitted = w->start_ns;
	g->emitted++;
	return 0;
}

/* An alert of a window still open (pm_agg_early): out at once, on the
 * same outputs as the tables, so that a reader sees it before them. */
static void
agg_emit_early(void *arg, uint64_t start, uint64_t as_of, const struct pm_agg_alert *x)
{
	struct agg *g = arg;
	char *json = NULL, key[32];
	size_t len = 0;

	if (pm_agg_alert_json(x, g->topo, start, g->acfg.window_ms, as_of, &json, &len) < 0) {
		fprintf(stderr, "pmesh-aggregator: early alert: out of memory\n");
		return;
	}
	if (g->aout != NULL) {
		fwrite(json, 1, len, g->aout);
		fputc('\n', g->aout);
		fflush(g->aout);
	}
	if (g->pk != NULL && g->alerts_topic != NULL) {
		snprintf(key, sizeof(key), "%" PRIu64, start);
		while (rd_kafka_producev(g->pk, RD_KAFKA_V_TOPIC(g->alerts_topic),
				RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(json, len),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				RD_KAFKA_V_HEADER("pmesh-schema", "1", -1),
				RD_KAFKA_V_HEADER("pmesh-encoding", "json", -1),
				RD_KAFKA_V_HEADER("pmesh-kind", "alert", -1),
				RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(g->pk, 10);
		rd_kafka_poll(g->pk, 0);
	}
	free(json);
	g->early++;
}

/*
 * Event time advances per partition: a window is complete only when every
 * owned partition has gone past it.  Being at the end of a partition says
 * nothing about event time (its probers may simply be slower); only a
 * partition silent for part_idle_ms stops holding windows back.
 */
static void
agg_watermark(struct agg *g)
{
	uint64_t lim = UINT64_MAX, now = agg_now_ms();
	int i;

	for (i = 0; i < AGG_MAX_PART; i++) {
		const struct agg_pending *p = &g->part[i];

		if (!p->owned || (p->eof && now - p->eof_ms >= g->part_idle_ms))
			continue;
		if (p->eof && !p->seen)
			continue;	/* nothing in it at all */
		if (!p->seen) {
			lim = 0;	/* not heard from yet: wait */
			break;
		}
		if (p->newest < lim)
			lim = p->newest;
	}
	pm_agg_limit_watermark(g->agg, lim);
}

static void
agg_flush(struct agg *g, bool force)
{
	uint64_t before = g->emitted;

	agg_watermark(g);
	if (!g->no_early && !g->rebuild)
		pm_agg_early(g->agg, agg_emit_early, g);
	pm_agg_flush(g->agg, force, agg_emit, g);
	if (g->emitted != before) {
		/* Published before committed: a crash in between repeats a
		 * window downstream (same key), never loses one. */
		if (g->pk != NULL)
			rd_kafka_flush(g->pk, 10000);
		agg_commit(g);
	}
}

/* ---- consuming ---- */

struct agg_msg {
	struct agg *g;
	uint64_t maxw;
};

static int
agg_summary(void *arg, const struct pm_record *recs, unsigned int n,
	    const char *name)
{
	struct agg_msg *m = arg;
	uint64_t ws = recs[0].h.window_start_ns;

	(void)name;
	if (ws > m->maxw)
		m->maxw = ws;
	pm_agg_add(m->g->agg, recs, n);
	return 0;
}

/*
 * Count a refused message by cause: encoding (no or unknown header, or
 * neither JSON nor a batch when sniffed), schema (a schema or version this
 * build does not know: lib/enc.c says which in @err), else a malformed
 * binary batch or JSON line.
 */
static void
agg_refused_cause(struct agg *g, int enc, int rc, const char *err,
		  const rd_kafka_message_t *m)
{
	const char *p = m->payload;
	size_t i = 0;

	if (rc == -EPROTONOSUPPORT && (strstr(err, "schema ") != NULL ||
				       strstr(err, "version ") != NULL)) {
		g->refused_schema++;
		return;
	}
	if (enc == 0) {
		while (i < m->len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' ||
				      p[i] == '\n'))
			i++;
		enc = i < m->len && p[i] == '{' ? PM_ENC_JSON :
		      m->len >= 4 && memcmp(p, "PMB1", 4) == 0 ? PM_ENC_BINARY : -1;
	}
	if (enc < 0)
		g->refused_enc++;
	else if (enc == PM_ENC_BINARY)
		g->refused_bin++;
	else
		g->refused_json++;
}

static void
agg_message(struct agg *g, rd_kafka_message_t *m)
{
	rd_kafka_headers_t *h = NULL;
	struct agg_msg am = { .g = g, .maxw = 0 };
	const void *v;
	size_t vl;
	char err[256];
	int enc = 0, rc;

	if (g->messages++ == 0)
		g->first_ms = agg_now_ms();
	g->last_ms = agg_now_ms();
	if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
	    rd_kafka_header_get_last(h, "pmesh-encoding", &v, &vl) ==
	    RD_KAFKA_RESP_ERR_NO_ERROR && v != NULL) {
		enc = vl == 6 && memcmp(v, "binary", 6) == 0 ? PM_ENC_BINARY :
		      vl == 4 && memcmp(v, "json", 4) == 0 ? PM_ENC_JSON : -1;
	}
	err[0] = '\0';
	rc = enc < 0 ? -EPROTONOSUPPORT :
	     pm_enc_decode(enc, m->payload, m->len, agg_summary, &am, err, sizeof(err));
	if (rc < 0) {
		g->refused++;
		agg_refused_cause(g, enc, rc, err, m);
		if (agg_now_ms() - g->last_log_ms > 10000) {
			g->last_log_ms = agg_now_ms();
			fprintf(stderr, "pmesh-aggregator: %s[%" PRId32 "]@%" PRId64 ": %s; "
				"skipped (%" PRIu64 " so far)\n", rd_kafka_topic_name(m->rkt),
				m->partition, m->offset, err[0] ? err :
				"unknown encoding", g->refused);
		}
	}
	if (m->partition >= 0 && m->partition < AGG_MAX_PART) {
		struct agg_pending *p = &g->part[m->partition];

		/* A refused message holds nothing to wait for. */
		agg_pending_push(p, m->offset, rc < 0 ? 0 : am.maxw);
		p->next = m->offset + 1;
		p->seen = true;
		p->eof = false;
		if (am.maxw > p->newest)
			p->newest = am.maxw;
	}
}

static void
agg_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
	      rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct agg *g = opaque;
	rd_kafka_topic_partition_list_t *c;
	uint64_t w;
	int i;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		/* Where earlier runs stopped emitting. */
		c = rd_kafka_topic_partition_list_copy(parts);
		if (rd_kafka_committed(rk, c, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
			w = agg_committed_window(c);
			if (w > g->last_emitted) {
				g->last_emitted = w;
				pm_agg_set_emitted(g->agg, w);
			}
		}
		rd_kafka_topic_partition_list_destroy(c);
		for (i = 0; i < parts->cnt; i++)
			if (parts->elems[i].partition < AGG_MAX_PART) {
				struct agg_pending *p = &g->part[parts->elems[i].partition];

				p->owned = true;
				p->next = -1;
				p->seen = p->eof = false;
				p->newest = 0;
			}
		rd_kafka_incremental_assign(rk, parts);
		g->rebuild = true;
	} else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
		for (i = 0; i < parts->cnt; i++)
			if (parts->elems[i].partition < AGG_MAX_PART)
				g->part[parts->elems[i].partition].owned = false;
		rd_kafka_incremental_unassign(rk, parts);
		g->rebuild = true;
	} else {
		fprintf(stderr, "pmesh-aggregator: rebalance: %s\n", rd_kafka_err2str(err));
		rd_kafka_incremental_unassign(rk, parts);
	}
}

/*
 * After a rebalance: open windows may hold summaries of partitions now
 * gone, or miss those of new ones.  Drop them and re-read every owned
 * partition from its commit.
 */
static int
agg_rebuild(struct agg *g)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
	rd_kafka_error_t *e;
	int i, rc = 0;

	g->rebuild = false;
	pm_agg_reset(g->agg);		/* windows go, path records stay */
	if (g->last_emitted)
		pm_agg_set_emitted(g->agg, g->last_emitted);
	for (i = 0; i < AGG_MAX_PART; i++) {
		g->part[i].head = g->part[i].tail = 0;
		g->part[i].seen = g->part[i].eof = false;
		g->part[i].newest = 0;
		if (g->part[i].owned)
			rd_kafka_topic_partition_list_add(l, g->topic, i);
	}
	if (l->cnt == 0)
		goto out;
	if (rd_kafka_committed(g->rk, l, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		goto out;
	for (i = 0; i < l->cnt; i++) {
		if (l->elems[i].offset < 0)
			l->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
		g->part[l->elems[i].partition].next = -1;
	}
	e = rd_kafka_seek_partitions(g->rk, l, 10000);
	if (e != NULL) {
		fprintf(stderr, "pmesh-aggregator: seek: %s\n", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	}
out:
	rd_kafka_topic_partition_list_destroy(l);
	return rc;
}

static int
agg_kafka_new(struct agg *g)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *sub;
	char errstr[512];
	int i;

	if (rd_kafka_conf_set(conf, "bootstrap.servers", g->bootstrap, errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "group.id", g->group, errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "partition.assignment.strategy", "cooperative-sticky",
			      errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "session.timeout.ms", "6000", errstr, sizeof(errstr)) ||
	    /* librdkafka 2.0 backs a fetcher off for 1 s whenever this much
	     * is queued (the 64 MiB default): catching up on a backlog, the
	     * consumer then sat idle half the time.  128 MiB keeps more
	     * than its consumption of a backoff queued. */
	    rd_kafka_conf_set(conf, "queued.max.messages.kbytes", "131072", errstr,
			      sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr))) {
		fprintf(stderr, "pmesh-aggregator: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		return 2;
	}
	for (i = 0; i < g->nprops; i++) {
		char name[256];
		const char *eq = strchr(g->props[i], '=');

		if (eq == NULL || eq == g->props[i] ||
		    (size_t)(eq - g->props[i]) >= sizeof(name)) {
			fprintf(stderr, "pmesh-aggregator: -X %s: expected NAME=VALUE\n",
				g->props[i]);
			rd_kafka_conf_destroy(conf);
			return 2;
		}
		snprintf(name, sizeof(name), "%.*s", (int)(eq - g->props[i]), g->props[i]);
		if (rd_kafka_conf_set(conf, name, eq + 1, errstr, sizeof(errstr))) {
			fprintf(stderr, "pmesh-aggregator: -X %s: %s\n", g->props[i], errstr);
			rd_kafka_conf_destroy(conf);
			return 2;
		}
	}
	rd_kafka_conf_set_opaque(conf, g);
	rd_kafka_conf_set_rebalance_cb(conf, agg_rebalance);
	g->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (g->rk == NULL) {
		fprintf(stderr, "pmesh-aggregator: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		return 1;
	}
	rd_kafka_poll_set_consumer(g->rk);
	sub = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(sub, g->topic, RD_KAFKA_PARTITION_UA);
	if (rd_kafka_subscribe(g->rk, sub) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "pmesh-aggregator: cannot subscribe to %s\n", g->topic);
		rd_kafka_topic_partition_list_destroy(sub);
		return 1;
	}
	rd_kafka_topic_partition_list_destroy(sub);

	if (g->tables_topic != NULL || (g->alerts_topic != NULL && !g->no_early)) {
		conf = rd_kafka_conf_new();
		if (rd_kafka_conf_set(conf, "bootstrap.servers", g->bootstrap, errstr,
				      sizeof(errstr)) ||
		    rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr,
				      sizeof(errstr))) {
			fprintf(stderr, "pmesh-aggregator: %s\n", errstr);
			rd_kafka_conf_destroy(conf);
			return 2;
		}
		g->pk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
		if (g->pk == NULL) {
			fprintf(stderr, "pmesh-aggregator: %s\n", errstr);
			rd_kafka_conf_destroy(conf);
			return 1;
		}
	}
	return 0;
}

/* ---- path records ---- */

/*
 * Path records map a flow to the spine it crosses.  Every instance reads all
 * of pmesh.paths from its beginning, outside the group and without commits
 * (the topic is small and keyed by flow; a compacted topic keeps it so):
 * whatever partitions an instance owns, it knows every flow's path.  At
 * start it reads the topic to its end before any summary; afterwards a new
 * path applies to the summaries consumed after it.
 */
static void
agg_paths_assign(struct agg *g)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_topic_t *rkt;
	rd_kafka_resp_err_t err;
	int i, n = 0;

	g->paths_retry_ms = agg_now_ms() + 10000;
	rkt = rd_kafka_topic_new(g->rkp, g->paths_topic, NULL);
	if (rkt == NULL)
		return;
	err = rd_kafka_metadata(g->rkp, 0, rkt, &md, 5000);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
	    md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
		n = md->topics[0].partition_cnt;
	if (md != NULL)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	if (n <= 0)
		return;
	l = rd_kafka_topic_partition_list_new(n);
	for (i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(l, g->paths_topic, i)->offset =
			RD_KAFKA_OFFSET_BEGINNING;
	err = rd_kafka_assign(g->rkp, l);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		g->paths_parts = n;
		g->paths_eof = 0;
	} else {
		fprintf(stderr, "pmesh-aggregator: %s: cannot read path records: %s\n",
			g->paths_topic, rd_kafka_err2str(err));
	}
	rd_kafka_topic_partition_list_destroy(l);
}

static int
agg_paths_new(struct agg *g)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char errstr[512], name[256];
	int i;

	/* librdkafka wants a group even for assign(); nothing joins or
	 * commits with it. */
	snprintf(name, sizeof(name), "%s.paths", g->group);
	if (rd_kafka_conf_set(conf, "bootstrap.servers", g->bootstrap, errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "group.id", name, errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr)))
		goto bad;
	for (i = 0; i < g->nprops; i++) {
		const char *eq = strchr(g->props[i], '=');

		snprintf(name, sizeof(name), "%.*s", (int)(eq - g->props[i]), g->props[i]);
		if (rd_kafka_conf_set(conf, name, eq + 1, errstr, sizeof(errstr)))
			goto bad;
	}
	g->rkp = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (g->rkp == NULL)
		goto bad;
	rd_kafka_poll_set_consumer(g->rkp);
	agg_paths_assign(g);
	return 0;
bad:
	fprintf(stderr, "pmesh-aggregator: path records: %s\n", errstr);
	rd_kafka_conf_destroy(conf);
	return 1;
}

static void
agg_path_message(struct agg *g, rd_kafka_message_t *m)
{
	struct pm_path p;
	char err[256];
	uint32_t spine = PM_TOPO_NONE, idx;
	int rc, i;

	rc = pm_enc_path_decode(m->payload, m->len, &p, err, sizeof(err));
	if (rc == 0 && p.spine[0] != '\0') {
		spine = pm_topo_spine_find(g->topo, p.spine);
		if (spine == PM_TOPO_NONE) {
			snprintf(err, sizeof(err), "spine '%.64s' is not in the topology",
				 p.spine);
			rc = -ENOENT;
		}
	} else if (rc == 0) {
		for (i = 0; i < p.nhops && spine == PM_TOPO_NONE; i++)
			if (pm_topo_hop(g->topo, p.hops[i], &idx) == PM_TOPO_SPINE)
				spine = idx;
		if (spine == PM_TOPO_NONE) {
			snprintf(err, sizeof(err), "none of its %u hops is a spine of the "
				 "topology", p.nhops);
			rc = -ENOENT;
		}
	}
	if (rc == 0)
		rc = pm_agg_set_path(g->agg, p.src, p.dst, p.sport, p.dport, spine);
	if (rc == 0) {
		g->paths++;
		return;
	}
	g->paths_refused++;
	if (agg_now_ms() - g->paths_log_ms > 10000) {
		g->paths_log_ms = agg_now_ms();
		fprintf(stderr, "pmesh-aggregator: %s[%" PRId32 "]@%" PRId64 ": path record "
			"refused: %s (%" PRIu64 " so far)\n", rd_kafka_topic_name(m->rkt),
			m->partition, m->offset, rc == -ENOMEM ? "out of memory" : err,
			g->paths_refused);
	}
}

/* Apply what path records have come, at most @max. */
static void
agg_paths_poll(struct agg *g, int timeout_ms, int max)
{
	rd_kafka_message_t *m;

	if (g->rkp == NULL)
		return;
	if (g->paths_parts == 0) {
		if (agg_now_ms() >= g->paths_retry_ms)
			agg_paths_assign(g);
		return;
	}
	while (max-- > 0 && (m = rd_kafka_consumer_poll(g->rkp, timeout_ms)) != NULL) {
		timeout_ms = 0;
		if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
			agg_path_message(g, m);
		else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			g->paths_eof++;
		rd_kafka_message_destroy(m);
	}
}

/* At start: read the path records there are, bounded by @ms. */
static void
agg_paths_catch_up(struct agg *g, uint64_t ms)
{
	uint64_t end = agg_now_ms() + ms;

	while (g->rkp != NULL && g->paths_parts > 0 && g->paths_eof < g->paths_parts &&
	       agg_now_ms() < end && !agg_quit)
		agg_paths_poll(g, 100, 10000);
}

/* The HTTP server's copy of the counters, a few times a second. */
static void
agg_http_update(struct agg *g, bool now)
{
#ifdef PM_HAVE_HTTP
	static uint64_t last;
	struct agg_http_counters c;
	struct pm_agg_stats st;

	if (g->http == NULL || (!now && agg_now_ms() - last < 250))
		return;
	last = agg_now_ms();
	pm_agg_get_stats(g->agg, &st);
	memset(&c, 0, sizeof(c));
	c.messages = g->messages;
	c.refused_encoding = g->refused_enc;
	c.refused_binary = g->refused_bin;
	c.refused_json = g->refused_json;
	c.refused_schema = g->refused_schema;
	c.summaries = st.summaries;
	c.duplicates = st.dup;
	c.late = st.late;
	c.unknown_src = st.unknown_src;
	c.unknown_dst = st.unknown_dst;
	c.windows = g->emitted;
	c.paths = g->paths;
	c.paths_refused = g->paths_refused;
	agg_http_counters(g->http, &c);
#else
	(void)g;
	(void)now;
#endif
}

/* True when some partitions are owned and every one is at its end. */
static bool
agg_caught_up(const struct agg *g)
{
	bool any = false;
	int i;

	for (i = 0; i < AGG_MAX_PART; i++) {
		if (!g->part[i].owned)
			continue;
		if (!g->part[i].eof)
			return false;
		any = true;
	}
	return any;
}

static int
agg_number(const char *flag, const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	if (*s == '\0' || *s == '-' || *end != '\0' || errno != 0) {
		fprintf(stderr, "pmesh-aggregator: %s: '%s' is not a number\n", flag, s);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	enum { O_TOPO = 256, O_WIN, O_GRACE, O_SLA, O_P99, O_TT, O_NOPUB, O_WINDOWS,
	       O_DUR, O_IDLE, O_PIDLE, O_HTTP, O_MRP, O_PT, O_NOPATHS, O_NOEARLY, O_AT, O_AO };
	static const struct option opts[] = {
		{ "bootstrap", required_argument, NULL, 'b' },
		{ "topic", required_argument, NULL, 't' },
		{ "group", required_argument, NULL, 'g' },
		{ "output", required_argument, NULL, 'o' },
		{ "topology", required_argument, NULL, O_TOPO },
		{ "window-ms", required_argument, NULL, O_WIN },
		{ "grace-ms", required_argument, NULL, O_GRACE },
		{ "drop-sla", required_argument, NULL, O_SLA },
		{ "p99-sla-us", required_argument, NULL, O_P99 },
		{ "tables-topic", required_argument, NULL, O_TT },
		{ "no-publish", no_argument, NULL, O_NOPUB },
		{ "windows", required_argument, NULL, O_WINDOWS },
		{ "duration", required_argument, NULL, O_DUR },
		{ "until-idle", required_argument, NULL, O_IDLE },
		{ "partition-idle-ms", required_argument, NULL, O_PIDLE },
		{ "http", required_argument, NULL, O_HTTP },
		{ "paths-topic", required_argument, NULL, O_PT },
		{ "no-paths", no_argument, NULL, O_NOPATHS },
		{ "no-early-alerts", no_argument, NULL, O_NOEARLY },
		{ "alerts-topic", required_argument, NULL, O_AT },
		{ "alerts-output", required_argument, NULL, O_AO },
		{ "metrics-rack-pairs", required_argument, NULL, O_MRP },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct agg g;
	struct pm_cfg_errs errs;
	struct pm_agg_stats st;
	struct sigaction sa;
	uint64_t v, start, last_input;
	char *end;
	int opt, rc = 0;

	/* librdkafka's fetch buffers are large and short-lived: glibc would
	 * mmap and unmap each, and every page of every buffer faulted in
	 * anew (a tenth of the CPU when catching up).  Keep them in the heap
	 * and keep the heap. */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	g.topic = "pmesh.summaries";
	g.group = "pmesh-aggregator";
	g.tables_topic = "pmesh.tables";
	g.alerts_topic = "pmesh.alerts";
	g.paths_topic = "pmesh.paths";
	g.part_idle_ms = 30000;
	g.metrics_rack_pairs = 1000;
	pm_agg_cfg_defaults(&g.acfg);
	while ((opt = getopt_long(argc, argv, "b:t:g:o:X:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'b': g.bootstrap = optarg; break;
		case 't': g.topic = optarg; break;
		case 'g': g.group = optarg; break;
		case 'o': g.output = optarg; break;
		case O_TOPO: g.topo_path = optarg; break;
		case O_TT: g.tables_topic = optarg; break;
		case O_NOPUB: g.tables_topic = NULL; g.alerts_topic = NULL; break;
		case O_HTTP: g.http_listen = optarg; break;
		case O_PT: g.paths_topic = optarg; break;
		case O_NOPATHS: g.paths_topic = NULL; break;
		case O_NOEARLY: g.no_early = true; break;
		case O_AT: g.alerts_topic = optarg; break;
		case O_AO: g.alerts_output = optarg; break;
		case 'X':
			if (g.nprops == 32) {
				fprintf(stderr, "pmesh-aggregator: at most 32 -X\n");
				return 2;
			}
			g.props[g.nprops++] = optarg;
			break;
		case O_WIN:
		case O_GRACE:
		case O_P99:
		case O_WINDOWS:
		case O_DUR:
		case O_IDLE:
		case O_PIDLE:
		case O_MRP:
			if (agg_number(argv[optind - 1], optarg, &v) < 0)
				return 2;
			if (opt == O_WIN) {
				if (v < 1000 || v > 3600000) {
					fprintf(stderr, "pmesh-aggregator: --window-ms: 1000..3600000\n");
					return 2;
				}
				g.acfg.window_ms = (uint32_t)v;
			} else if (opt == O_GRACE) {
				g.acfg.grace_ms = (uint32_t)(v > 3600000 ? 3600000 : v);
			} else if (opt == O_P99) {
				g.acfg.p99_sla_ns = v * 1000;
			} else if (opt == O_WINDOWS) {
				g.windows_max = v;
			} else if (opt == O_DUR) {
				g.duration_s = v;
			} else if (opt == O_PIDLE) {
				g.part_idle_ms = v;
			} else if (opt == O_MRP) {
				g.metrics_rack_pairs = v > 1000000 ? 1000000 : v;
			} else {
				g.idle_ms = v;
			}
			break;
		case O_SLA:
			errno = 0;
			g.acfg.drop_sla = strtod(optarg, &end);
			if (*end != '\0' || errno != 0 || !(g.acfg.drop_sla >= 0) ||
			    g.acfg.drop_sla > 1) {
				fprintf(stderr, "pmesh-aggregator: --drop-sla: a ratio in [0, 1]\n");
				return 2;
			}
			break;
		case 'h':
			agg_usage(stdout);
			return 0;
		default:
			fprintf(stderr, "pmesh-aggregator: see --help\n");
			return 2;
		}
	}
	if (optind < argc || g.bootstrap == NULL || g.topo_path == NULL) {
		fprintf(stderr, "pmesh-aggregator: %s (see --help)\n", optind < argc ?
			"unexpected argument" : "-b BOOTSTRAP and --topology FILE are required");
		return 2;
	}
	pm_cfg_errs_init(&errs);
	if (pm_topo_load(g.topo_path, &g.topo, &errs) < 0) {
		fputs(errs.buf, stderr);
		return 2;
	}
	if (g.output != NULL) {
		g.out = strcmp(g.output, "-") == 0 ? stdout : fopen(g.output, "a");
		if (g.out == NULL) {
			fprintf(stderr, "pmesh-aggregator: %s: %s\n", g.output, strerror(errno));
			return 1;
		}
	}
	if (g.alerts_output != NULL) {
		g.aout = strcmp(g.alerts_output, "-") == 0 ? stdout :
			 fopen(g.alerts_output, "a");
		if (g.aout == NULL) {
			fprintf(stderr, "pmesh-aggregator: %s: %s\n", g.alerts_output,
				strerror(errno));
			return 1;
		}
	}
	if (pm_agg_new(&g.agg, &g.acfg, g.topo) < 0)
		return 1;
	if (g.http_listen != NULL) {
#ifdef PM_HAVE_HTTP
		struct agg_http_opts ho = {
			.listen = g.http_listen,
			.group = g.group,
			.topology = g.topo_path,
			.max_rack_pairs = (uint32_t)g.metrics_rack_pairs,
			.drop_sla = g.acfg.drop_sla,
			.p99_sla_ns = g.acfg.p99_sla_ns,
		};
		char herr[256];

		rc = agg_http_start(&g.http, &ho, g.topo, herr, sizeof(herr));
		if (rc < 0) {
			fprintf(stderr, "pmesh-aggregator: %s\n", herr);
			rc = rc == -EINVAL ? 2 : 1;
			goto out;
		}
		snprintf(herr, sizeof(herr), "%.*s", (int)(strrchr(g.http_listen, ':') -
			 g.http_listen), g.http_listen);
		fprintf(stderr, "pmesh-aggregator: serving http://%s:%u/ (/metrics, /tables)\n",
			herr[0] == '\0' || strcmp(herr, "*") == 0 ? "0.0.0.0" : herr,
			agg_http_port(g.http));
		agg_http_update(&g, true);
#else
		fprintf(stderr, "pmesh-aggregator: --http: this build has no libmicrohttpd "
			"(apt-get install libmicrohttpd-dev, then rebuild)\n");
		rc = 2;
		goto out;
#endif
	}
	g.start_ms = agg_now_ms();
	rc = agg_kafka_new(&g);
	if (rc == 0 && g.paths_topic != NULL)
		rc = agg_paths_new(&g);
	if (rc != 0)
		goto out;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = agg_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	agg_paths_catch_up(&g, 5000);
	start = last_input = agg_now_ms();
	while (!agg_quit) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(g.rk, 100);

		if (g.rebuild && agg_rebuild(&g) < 0) {
			rc = 1;
			break;
		}
		if (m != NULL) {
			if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
				agg_message(&g, m);
				last_input = agg_now_ms();
			} else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
				if (m->partition >= 0 && m->partition < AGG_MAX_PART &&
				    !g.part[m->partition].eof) {
					g.part[m->partition].eof = true;
					g.part[m->partition].eof_ms = agg_now_ms();
				}
			} else {
				fprintf(stderr, "pmesh-aggregator: %s\n",
					rd_kafka_message_errstr(m));
			}
			rd_kafka_message_destroy(m);
		}
		agg_paths_poll(&g, 0, 1000);
		agg_flush(&g, false);
		agg_http_update(&g, false);
		if (g.windows_max && g.emitted >= g.windows_max)
			break;
		if (g.duration_s && agg_now_ms() - start >= g.duration_s * 1000)
			break;
		/* Idle counts only once partitions are ours and all read to
		 * their end: a restart first waits out the dead member's
		 * session before it is given anything. */
		if (!agg_caught_up(&g))
			last_input = agg_now_ms();
		if (g.idle_ms && agg_now_ms() - last_input >= g.idle_ms) {
			agg_flush(&g, true);
			break;
		}
	}
	pm_agg_get_stats(g.agg, &st);
	if (g.messages)
		fprintf(stderr, "pmesh-aggregator: first message %.3f s after start, "
			"last %.3f s after the first\n", (g.first_ms - g.start_ms) / 1e3,
			(g.last_ms - g.first_ms) / 1e3);
	if (g.paths || g.paths_refused)
		fprintf(stderr, "pmesh-aggregator: path records: %" PRIu64 " applied, %"
			PRIu64 " refused\n", g.paths, g.paths_refused);
	if (g.refused)
		fprintf(stderr, "pmesh-aggregator: refused by cause: encoding %" PRIu64
			", binary %" PRIu64 ", json %" PRIu64 ", schema %" PRIu64 "\n",
			g.refused_enc, g.refused_bin, g.refused_json, g.refused_schema);
	fprintf(stderr, "pmesh-aggregator: %" PRIu64 " messages, %" PRIu64 " refused, %"
		PRIu64 " summaries, %" PRIu64 " duplicates, %" PRIu64 " late, %" PRIu64
		" unknown source, %" PRIu64 " unknown destination, %" PRIu64 " windows\n",
		g.messages, g.refused, st.summaries, st.dup, st.late, st.unknown_src,
		st.unknown_dst, g.emitted);
	if (g.early)
		fprintf(stderr, "pmesh-aggregator: %" PRIu64 " early alert%s\n", g.early,
			g.early == 1 ? "" : "s");
	rd_kafka_consumer_close(g.rk);
	if (g.rkp != NULL)
		rd_kafka_consumer_close(g.rkp);
out:
#ifdef PM_HAVE_HTTP
	agg_http_stop(g.http);
#endif
	if (g.pk != NULL) {
		rd_kafka_flush(g.pk, 10000);
		rd_kafka_destroy(g.pk);
	}
	if (g.rk != NULL)
		rd_kafka_destroy(g.rk);
	if (g.rkp != NULL)
		rd_kafka_destroy(g.rkp);
	if (g.out != NULL && g.out != stdout)
		fclose(g.out);
	if (g.aout != NULL && g.aout != stdout)
		fclose(g.aout);
	pm_agg_free(g.agg);
	pm_topo_free(g.topo);
	return rc;
}
