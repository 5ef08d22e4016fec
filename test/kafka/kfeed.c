/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * kfeed: synthetic summaries through the Kafka sink, for tests and for
 * scripts/bench-kafka.sh.
 *
 * It stands in for the prober's export thread: it builds deterministic
 * summaries (pseudo-random counts and histograms, a few spanning several
 * 512-byte parts) for a number of "lcores", hands them to pm_sink_kafka in
 * batches exactly as the export thread does, and can write the JSON line of
 * every summary it produced (--expect) for a consumer-side comparison.
 *
 * --mode raw is the benchmark's peer: the same messages (the same binary
 * batches, or the same JSON lines) pre-encoded in memory, sent by a plain
 * librdkafka producer with the same settings and keys -- what any
 * hand-written producer would cost for the same bytes.
 *
 * Output: one line with figures, "kfeed: mode M: N summaries in T s ...".
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "pm_enc.h"
#include "pm_hist.h"
#include "pm_kafka.h"
#include "pm_record.h"

#define KF_STR_(x)	#x
#define KF_STR(x)	KF_STR_(x)
#define KF_SCHEMA_STR	KF_STR(PM_REC_SCHEMA)

#define KF_MAX_PARTS	192
#define KF_CHUNK	200	/* summaries of one lcore per write(), as an export round */

struct kf_args {
	const char *bootstrap;
	const char *expect;
	const char *spool_dir;
	const char *mode;
	const char *id;
	int encoding;
	uint64_t count;
	unsigned int lcores;
	uint64_t rate;
	unsigned int big_every;	/* one summary in N is multi-part */
	uint32_t queue_ms;
	uint32_t flush_ms;
	const char *props[16];	/* librdkafka NAME=VALUE, both modes */
	int nprops;
};

static uint64_t kf_rng = 0x9e3779b97f4a7c15ULL;
/*
 * Fabric mode (--fabric R): summary i is the flow from rack i % R to rack
 * (i / R) % R over "spine" (i / R^2) % 4 (source port 49152 + spine), hosts
 * .10 and .20 of each rack's /24 from 10.64.0.0 -- the pattern racks of
 * config/topology.cfg-like files -- one summary per flow per second, 100
 * probes each; flows over spine --drop-spine lose --drop-pct of them,
 * flows to rack --drop-rack lose --rack-drop-pct more, and flows to rack
 * --slow-rack take 200 us longer.
 */
static unsigned int kf_fabric, kf_drop_spine = UINT32_MAX, kf_drop_pct;
static unsigned int kf_drop_rack = UINT32_MAX, kf_rack_drop_pct, kf_slow_rack = UINT32_MAX;
static uint64_t kf_seq[1024];		/* next seq per lcore */

static uint64_t
kf_rand(void)
{
	kf_rng ^= kf_rng << 13;
	kf_rng ^= kf_rng >> 7;
	kf_rng ^= kf_rng << 17;
	return kf_rng;
}

static double
kf_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Summary @i of lcore @lc: deterministic from the generator's state. */
static int
kf_build(struct pm_record *recs, uint32_t prober_id, unsigned int lc,
	 uint64_t seq, uint64_t i, unsigned int big_every)
{
	static struct pm_hist_ent rent[PM_HIST_NBUCKETS], fent[PM_HIST_NBUCKETS];
	struct pm_hist rtt, refl;
	struct pm_rec_hdr h;
	struct pm_rec_body b;
	unsigned int nb, k;
	uint64_t v, n = 0;

	pm_hist_init_sparse(&rtt, rent, PM_HIST_NBUCKETS);
	pm_hist_init_sparse(&refl, fent, PM_HIST_NBUCKETS);
	memset(&h, 0, sizeof(h));
	memset(&b, 0, sizeof(b));
	h.schema = PM_REC_SCHEMA;
	h.kind = PM_REC_SUMMARY;
	h.engine = PM_ENGINE_DPDK_STAMP;
	h.prober_id = prober_id;
	h.lcore = (uint16_t)lc;
	h.seq = seq;
	h.window_start_ns = 1700000000000000000ULL + (i / 64) * 1000000000ULL;
	h.window_ms = 1000;
	h.target = (uint32_t)(i % 1000);
	h.flow = (uint32_t)(i % 16);
	h.af = 4;
	h.proto = 17;
	h.ts_tx = 1;
	h.ts_rx = 1;
	h.ts_refl = 4;
	h.src = 0x0a000001;
	h.dst = 0x0a010000 + h.target;
	h.sport = (uint16_t)(49152 + h.flow);
	h.dport = 862;
	h.ssid = (uint16_t)(1 + i % 60000);
	h.size = 44;

	nb = big_every && i % big_every == 0 ? 300 + kf_rand() % 200 :
	     1 + kf_rand() % 24;
	v = 20000 + kf_rand() % 5000;
	for (k = 0; k < nb; k++) {
		uint64_t c = 1 + kf_rand() % 50;

		pm_hist_add_bucket(&rtt, pm_hist_bucket(v), c);
		n += c;
		v += v / 40 + 1;
	}
	for (k = 0; k < 1 + kf_rand() % 4; k++)
		pm_hist_add_bucket(&refl, pm_hist_bucket(3000 + k * 500), 1 + kf_rand() % 9);
	b.received = n;
	b.lost = kf_rand() % 4;
	b.sent = b.received + b.lost;
	b.late = kf_rand() % 2;
	b.rtt.min = 20000;
	b.rtt.max = v;
	b.rtt.sum = n * 25000;
	b.raw = b.rtt;
	b.raw.sum += n * 4000;
	b.refl.min = 3000;
	b.refl.max = 5000;
	b.refl.sum = pm_hist_count(&refl) * 4000;
	b.fwd.min = b.bwd.min = UINT64_MAX;
	if (kf_fabric) {
		unsigned int r = kf_fabric, sr = i % r, dr = (i / r) % r;
		unsigned int sp = (unsigned int)((i / ((uint64_t)r * r)) % 4);

		h.src = 0x0a400000u + sr * 256 + 10;
		h.dst = 0x0a400000u + dr * 256 + 20;
		h.sport = (uint16_t)(49152 + sp);
		h.flow = sp;
		h.target = dr;
		h.window_start_ns = 1700000000000000000ULL +
				    (i / ((uint64_t)r * r * 4)) * 1000000000ULL;
		pm_hist_init_sparse(&rtt, rent, PM_HIST_NBUCKETS);
		pm_hist_init_sparse(&refl, fent, PM_HIST_NBUCKETS);
		b.sent = 100;
		b.lost = sp == kf_drop_spine ? kf_drop_pct : 0;
		if (dr == kf_drop_rack)
			b.lost += kf_rack_drop_pct;
		if (b.lost > b.sent)
			b.lost = b.sent;
		b.received = b.sent - b.lost;
		b.late = 0;
		v = 20000 + 1000 * sp + (dr == kf_slow_rack ? 200000 : 0);
		if (b.received) {
			pm_hist_add_bucket(&rtt, pm_hist_bucket(v), b.received);
			pm_hist_add_bucket(&refl, pm_hist_bucket(3000), b.received);
		}
		b.rtt.min = b.rtt.max = v;
		b.rtt.sum = v * b.received;
		b.raw = b.rtt;
		b.refl.min = b.refl.max = 3000;
		b.refl.sum = 3000 * b.received;
		if (b.received == 0)
			b.rtt.min = b.raw.min = b.refl.min = UINT64_MAX;
	}
	return pm_record_build(recs, KF_MAX_PARTS, &h, &b, &rtt, &refl);
}

static void
kf_usage(FILE *out)
{
	fprintf(out,
"Usage: kfeed -b BOOTSTRAP [--mode sink|raw] [--encoding binary|json]\n"
"             [--count N] [--lcores L] [--rate SUMMARIES_PER_S] [--expect FILE]\n"
"             [--spool-dir DIR | --no-spool] [--queue-ms MS] [--flush-ms MS]\n"
"             [--big-every N] [--id NAME] [--prop NAME=VALUE]...\n"
"             [--fabric RACKS [--drop-spine S --drop-pct P]\n"
"                 [--drop-rack R --rack-drop-pct P] [--slow-rack R]]\n"
"Builds N synthetic summaries over L lcores and sends them through the\n"
"Kafka sink (mode sink) or a plain librdkafka producer (mode raw, the\n"
"benchmark's peer); prints one line of figures.\n");
}

static int
kf_sink(const struct kf_args *a, struct pm_prober_cfg *cfg)
{
	struct pm_record *recs, *nr;
	size_t nrec = 0, cap = 4096, *chunk_end, nchunk = 0, c, from;
	struct pm_sink sk;
	FILE *ex = NULL;
	uint64_t i, seq0 = 1ULL << 40;
	unsigned int lc;
	double t0, t1;
	char *line;
	int n, rc;

	recs = malloc(sizeof(*recs) * cap);
	chunk_end = malloc(sizeof(*chunk_end) * (a->count / KF_CHUNK + 2));
	line = malloc(4 << 20);
	if (recs == NULL || line == NULL || chunk_end == NULL)
		return 1;
	if (a->expect != NULL && (ex = fopen(a->expect, "w")) == NULL) {
		perror(a->expect);
		return 1;
	}
	memset(&sk, 0, sizeof(sk));
	sk.prober_id = pm_record_id_hash(cfg->id);
	/* Build everything first: only the sink's own work is timed. */
	for (i = 0; i < a->count; i++) {
		if (nrec + KF_MAX_PARTS > cap) {
			cap *= 2;
			nr = realloc(recs, sizeof(*recs) * cap);
			if (nr == NULL)
				return 1;
			recs = nr;
		}
		lc = (unsigned int)((i / KF_CHUNK) % a->lcores);
		n = kf_build(&recs[nrec], sk.prober_id, lc + 1, seq0 + kf_seq[lc]++, i,
			     a->big_every);
		if (n < 0) {
			fprintf(stderr, "kfeed: build: %d\n", n);
			return 1;
		}
		if (ex != NULL && pm_record_json(&recs[nrec], (unsigned int)n, cfg->id,
						 line, 4 << 20) > 0)
			fprintf(ex, "%s\n", line);
		nrec += (size_t)n;
		/* The export thread writes one lcore's burst at a time. */
		if ((i + 1) % KF_CHUNK == 0 || i + 1 == a->count)
			chunk_end[nchunk++] = nrec;
	}
	if (ex != NULL)
		fclose(ex);

	sk.ops = &pm_sink_kafka;
	sk.prober_name = cfg->id;
	sk.cfg = cfg;
	rc = sk.ops->open(&sk, NULL);
	if (rc < 0) {
		fprintf(stderr, "kfeed: %s\n", sk.err[0] ? sk.err : strerror(-rc));
		return 1;
	}
	t0 = kf_now();
	for (c = 0, from = 0; c < nchunk; c++) {
		sk.ops->write(&sk, &recs[from], (unsigned int)(chunk_end[c] - from));
		from = chunk_end[c];
		sk.ops->poll(&sk);
		if (a->rate) {
			double due = t0 + (double)((c + 1) * KF_CHUNK) / (double)a->rate;

			while (kf_now() < due) {
				sk.ops->poll(&sk);
				usleep(1000);
			}
		}
	}
	sk.ops->flush(&sk, a->flush_ms);
	t1 = kf_now();
	printf("kfeed: mode sink %s: %" PRIu64 " summaries in %.3f s: %.0f summaries/s; "
	       "delivered %" PRIu64 " failed %" PRIu64 " spooled %" PRIu64 " replayed %"
	       PRIu64 " spool_pending %" PRIu64 " spool_corrupt %" PRIu64 "\n",
	       pm_enc_str(pm_enc_parse(cfg->kafka.encoding)), a->count, t1 - t0,
	       (double)a->count / (t1 - t0), sk.delivered, sk.failed, sk.spooled,
	       sk.replayed, sk.spool_pending, sk.spool_corrupt);
	sk.ops->close(&sk);
	free(recs);
	free(line);
	free(chunk_end);
	return sk.failed ? 1 : 0;
}

/* ---- raw: the same messages through a plain producer ---- */

struct kf_msg {
	char key[24];
	uint32_t len;
	uint32_t nsum;
	uint8_t *val;
};

static uint64_t kf_raw_done, kf_raw_err;

static void
kf_seal(struct kf_msg *m, struct pm_enc_bin *b, uint8_t *buf, uint32_t pid,
	unsigned int lc, size_t *bytes)
{
	m->len = (uint32_t)pm_enc_bin_finish(b);
	m->nsum = b->count;
	m->val = buf;
	snprintf(m->key, sizeof(m->key), "%08x-%u", pid, lc);
	*bytes += m->len;
}

static void
kf_raw_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (m->err)
		kf_raw_err++;
	else
		kf_raw_done += (uint64_t)(uintptr_t)m->_private;
}

static int
kf_raw(const struct kf_args *a, const struct pm_prober_cfg *cfg)
{
	struct kf_msg *msgs;
	size_t nmsg = 0, cap = 1024, bytes = 0, k;
	struct pm_record *recs;
	struct pm_enc_bin b;
	uint32_t pid = pm_record_id_hash(cfg->id);
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	char err[512], num[32];
	uint64_t i, seq0 = 1ULL << 40;
	unsigned int lc;
	double t0, t1;
	int n;

	msgs = calloc(cap, sizeof(*msgs));
	recs = malloc(sizeof(*recs) * KF_MAX_PARTS);
	if (msgs == NULL || recs == NULL)
		return 1;
	/* Pre-encode exactly what the sink sends: per write() chunk of one
	 * lcore, batches of at most batch_max (binary), or a line each. */
	uint8_t *cur = NULL;
	char *line = malloc(1 << 20);

	if (line == NULL)
		return 1;
	for (i = 0; i < a->count; i++) {
		lc = (unsigned int)((i / KF_CHUNK) % a->lcores);
		n = kf_build(recs, pid, lc + 1, seq0 + kf_seq[lc]++, i, a->big_every);
		if (n < 0)
			return 1;
		if (nmsg + 2 >= cap) {
			cap *= 2;
			msgs = realloc(msgs, cap * sizeof(*msgs));
			if (msgs == NULL)
				return 1;
		}
		if (a->encoding == PM_ENC_JSON) {
			n = pm_record_json(recs, (unsigned int)n, cfg->id, line, 1 << 20);
			msgs[nmsg].val = (uint8_t *)strndup(line, (size_t)n);
			msgs[nmsg].len = (uint32_t)n;
			msgs[nmsg].nsum = 1;
			snprintf(msgs[nmsg].key, sizeof(msgs[nmsg].key), "%08x-%u", pid, lc + 1);
			bytes += (size_t)n;
			nmsg++;
			continue;
		}
		if (cur != NULL && (b.count >= cfg->kafka.batch_max ||
				    pm_enc_bin_append(&b, recs, (unsigned int)n) == -ENOSPC)) {
			kf_seal(&msgs[nmsg++], &b, cur, pid, lc + 1, &bytes);
			cur = NULL;
		}
		if (cur == NULL) {
			cur = malloc(900 * 1024);
			pm_enc_bin_begin(&b, cur, 900 * 1024, pid, cfg->id, (uint16_t)(lc + 1));
			pm_enc_bin_append(&b, recs, (unsigned int)n);
		}
		if ((i + 1) % KF_CHUNK == 0 || i + 1 == a->count) {
			kf_seal(&msgs[nmsg++], &b, cur, pid, lc + 1, &bytes);
			cur = NULL;
		}
	}
	free(line);

	conf = rd_kafka_conf_new();
	snprintf(num, sizeof(num), "%u", cfg->kafka.queue_max);
	if (rd_kafka_conf_set(conf, "bootstrap.servers", a->bootstrap, err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "linger.ms", "20", err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "batch.num.messages", "10000", err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "queue.buffering.max.kbytes", "262144", err,
			      sizeof(err)) ||
	    rd_kafka_conf_set(conf, "queue.buffering.max.messages", num, err,
			      sizeof(err))) {
		fprintf(stderr, "kfeed: %s\n", err);
		return 1;
	}
	for (int i = 0; i < a->nprops; i++) {
		char name[128];
		const char *eq = strchr(a->props[i], '=');

		snprintf(name, sizeof(name), "%.*s", (int)(eq - a->props[i]), a->props[i]);
		if (rd_kafka_conf_set(conf, name, eq + 1, err, sizeof(err))) {
			fprintf(stderr, "kfeed: %s\n", err);
			return 1;
		}
	}
	rd_kafka_conf_set_dr_msg_cb(conf, kf_raw_dr);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (rk == NULL) {
		fprintf(stderr, "kfeed: %s\n", err);
		return 1;
	}
	t0 = kf_now();
	for (k = 0; k < nmsg; k++) {
		rd_kafka_resp_err_t e;

		for (;;) {
			e = rd_kafka_producev(rk,
				RD_KAFKA_V_TOPIC(cfg->kafka.topic_summaries),
				RD_KAFKA_V_KEY(msgs[k].key, strlen(msgs[k].key)),
				RD_KAFKA_V_VALUE(msgs[k].val, msgs[k].len),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				RD_KAFKA_V_HEADER("pmesh-schema", KF_SCHEMA_STR, -1),
				RD_KAFKA_V_HEADER("pmesh-encoding", pm_enc_str(a->encoding), -1),
				RD_KAFKA_V_HEADER("pmesh-kind", "summary", -1),
				RD_KAFKA_V_OPAQUE((void *)(uintptr_t)msgs[k].nsum),
				RD_KAFKA_V_END);
			if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
				break;
			rd_kafka_poll(rk, 10);
		}
		rd_kafka_poll(rk, 0);
	}
	rd_kafka_flush(rk, 60000);
	t1 = kf_now();
	printf("kfeed: mode raw %s: %" PRIu64 " summaries in %.3f s: %.0f summaries/s; "
	       "%zu messages, %.1f MB, %.1f MB/s; delivered %" PRIu64 " errors %" PRIu64 "\n",
	       pm_enc_str(a->encoding), a->count, t1 - t0, (double)a->count / (t1 - t0),
	       nmsg, (double)bytes / 1e6, (double)bytes / 1e6 / (t1 - t0), kf_raw_done,
	       kf_raw_err);
	rd_kafka_destroy(rk);
	return kf_raw_err ? 1 : 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bootstrap", required_argument, NULL, 'b' },
		{ "mode", required_argument, NULL, 'm' },
		{ "encoding", required_argument, NULL, 'e' },
		{ "count", required_argument, NULL, 'n' },
		{ "lcores", required_argument, NULL, 'l' },
		{ "rate", required_argument, NULL, 'r' },
		{ "expect", required_argument, NULL, 'x' },
		{ "spool-dir", required_argument, NULL, 's' },
		{ "no-spool", no_argument, NULL, 'S' },
		{ "queue-ms", required_argument, NULL, 'q' },
		{ "flush-ms", required_argument, NULL, 'f' },
		{ "big-every", required_argument, NULL, 'B' },
		{ "id", required_argument, NULL, 'i' },
		{ "prop", required_argument, NULL, 'P' },
		{ "fabric", required_argument, NULL, 'F' },
		{ "drop-spine", required_argument, NULL, 'D' },
		{ "drop-pct", required_argument, NULL, 'Q' },
		{ "drop-rack", required_argument, NULL, 'R' },
		{ "rack-drop-pct", required_argument, NULL, 'T' },
		{ "slow-rack", required_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct pm_prober_cfg cfg;
	struct kf_args a = {
		.mode = "sink", .encoding = PM_ENC_BINARY, .count = 10000, .lcores = 4,
		.big_every = 97, .queue_ms = 5000, .flush_ms = 60000, .id = "kfeed",
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "b:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'b': a.bootstrap = optarg; break;
		case 'm': a.mode = optarg; break;
		case 'e': a.encoding = pm_enc_parse(optarg); break;
		case 'n': a.count = strtoull(optarg, NULL, 10); break;
		case 'l': a.lcores = (unsigned int)strtoul(optarg, NULL, 10); break;
		case 'r': a.rate = strtoull(optarg, NULL, 10); break;
		case 'x': a.expect = optarg; break;
		case 's': a.spool_dir = optarg; break;
		case 'S': a.spool_dir = ""; break;
		case 'q': a.queue_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'f': a.flush_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'B': a.big_every = (unsigned int)strtoul(optarg, NULL, 10); break;
		case 'i': a.id = optarg; break;
		case 'F': kf_fabric = (unsigned int)strtoul(optarg, NULL, 10); break;
		case 'D': kf_drop_spine = (unsigned int)strtoul(optarg, NULL, 10); break;
		case 'Q': kf_drop_pct = (unsigned int)strtoul(optarg, NULL, 10) % 101; break;
		case 'R': kf_drop_rack = (unsigned int)strtoul(optarg, NULL, 10); break;
		case 'T': kf_rack_drop_pct = (unsigned int)strtoul(optarg, NULL, 10) % 101; break;
		case 'W': kf_slow_rack = (unsigned int)strtoul(optarg, NULL, 10); break;
		case 'P':
			if (a.nprops == 16 || strchr(optarg, '=') == NULL) {
				kf_usage(stderr);
				return 2;
			}
			a.props[a.nprops++] = optarg;
			break;
		case 'h': kf_usage(stdout); return 0;
		default: kf_usage(stderr); return 2;
		}
	}
	if (a.bootstrap == NULL || a.encoding < 0 || a.lcores == 0 || a.lcores > 1024) {
		kf_usage(stderr);
		return 2;
	}
	pm_prober_cfg_defaults(&cfg);
	snprintf(cfg.id, sizeof(cfg.id), "%s", a.id);
	snprintf(cfg.sink, sizeof(cfg.sink), "kafka");
	snprintf(cfg.kafka.bootstrap, sizeof(cfg.kafka.bootstrap), "%s", a.bootstrap);
	snprintf(cfg.kafka.encoding, sizeof(cfg.kafka.encoding), "%s", pm_enc_str(a.encoding));
	cfg.kafka.queue_ms = a.queue_ms;
	cfg.kafka.flush_ms = a.flush_ms;
	if (a.spool_dir != NULL && a.spool_dir[0] == '\0')
		cfg.kafka.spool = 0;
	else if (a.spool_dir != NULL)
		snprintf(cfg.kafka.spool_dir, sizeof(cfg.kafka.spool_dir), "%s", a.spool_dir);
	else
		snprintf(cfg.kafka.spool_dir, sizeof(cfg.kafka.spool_dir), "/tmp/kfeed-spool-%d",
			 (int)getpid());
	for (int i = 0; i < a.nprops; i++) {
		char why[256];

		if (pm_kafka_cfg_add_prop(&cfg.kafka, a.props[i], 0, why, sizeof(why)) < 0) {
			fprintf(stderr, "kfeed: --prop %s: %s\n", a.props[i], why);
			return 2;
		}
	}
	if (strcmp(a.mode, "raw") == 0)
		return kf_raw(&a, &cfg);
	return kf_sink(&a, &cfg);
}
