/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pmesh-cat: print any pmesh topic -- or a Kafka sink's spool directory --
 * as JSON lines, whatever the encoding.
 *
 * A plain librdkafka consumer without a consumer group: it assigns itself
 * every partition of the topics asked for, from the beginning (or the end),
 * and with --exit-at-end stops once every partition has reported its end.
 * Summaries are decoded from the message's "pmesh-encoding" header (binary
 * batches or JSON lines, lib/enc.c) and printed as pm_record_json() lines,
 * so both encodings read the same; events are printed as they are.  A
 * message this build cannot read -- a newer schema or batch version, a
 * malformed payload -- is refused with one line on stderr naming
 * topic[partition]@offset and why, never printed as garbage; the exit status
 * is then 3.
 *
 * --dedup drops repeats of a record id (Kafka delivers at least once).
 * --stats ends with one line of counts, including the sequence gaps of each
 * (prober, lcore) that the summaries' dropped_before does not explain: the
 * number a test asserts is 0 to prove nothing was lost in transport.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "pm_enc.h"
#include "pm_record.h"
#include "pm_spool.h"

#define CAT_MAX_TOPICS		16
#define CAT_MAX_PROPS		64
#define CAT_JSON_MAX		(4u << 20)

struct cat_seq {
	uint64_t seq;
	uint32_t dropped_before;
};

struct cat_stream {		/* one (prober, lcore): every distinct seq */
	uint32_t prober_id;
	uint16_t lcore;
	struct cat_seq *v;
	size_t n, cap;
};

/* A prober restarted takes a new sequence base (Unix seconds << 20): a
 * jump this large between neighbours is a restart, not a loss. */
#define CAT_RESTART_JUMP	(1ULL << 20)

struct cat_key {
	uint64_t a;		/* prober_id << 16 | lcore, or ~0 for events */
	uint64_t b;		/* seq, or a hash of the event id */
};

struct cat {
	/* options */
	const char *bootstrap;
	const char *topics[CAT_MAX_TOPICS];
	int ntopics;
	const char *props[CAT_MAX_PROPS];
	int nprops;
	bool from_end;
	bool exit_at_end;
	bool dedup;
	bool stats;
	uint64_t count;		/* 0: unlimited */
	uint64_t timeout_ms;	/* 0: none */
	const char *spool;
	/* state */
	char *json;
	const char *where;	/* "topic[p]@off" of the message at hand */
	struct cat_key *set;
	size_t set_cap, set_n;
	struct cat_stream *st;
	size_t nst, st_cap;
	/* counts */
	uint64_t messages, summaries, events, dups, refused, printed;
};

static volatile sig_atomic_t cat_quit;

static void
cat_on_signal(int sig)
{
	(void)sig;
	cat_quit = 1;
}

static uint64_t
cat_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
cat_usage(FILE *out)
{
	fprintf(out,
"Usage: pmesh-cat -b HOST:PORT[,...] [-t TOPIC]... [options]\n"
"       pmesh-cat --spool DIR [--dedup] [--stats]\n"
"\n"
"Prints pmesh records as JSON lines, one per summary or event: from Kafka\n"
"topics (default pmesh.summaries and pmesh.events), or from the on-disk\n"
"spool a prober keeps while its brokers are away.  Binary and JSON\n"
"encodings read alike (schema: docs/records.md).\n"
"\n"
"  -b, --bootstrap LIST   Kafka bootstrap servers\n"
"  -t, --topic TOPIC      topic to read (repeat)\n"
"      --from beginning|end  where to start in every partition (default beginning)\n"
"      --exit-at-end      stop once every partition is read to its end\n"
"  -n, --count N          stop after N records\n"
"      --timeout-ms MS    give up after MS (exit 1 if --count was not reached)\n"
"      --dedup            drop records whose id was already printed (Kafka\n"
"                         delivers at least once)\n"
"      --stats            end with a line of counts on stderr: messages,\n"
"                         summaries, events, duplicates, refused, the\n"
"                         sequence gaps that ring drops (dropped_before) do\n"
"                         not explain -- summaries lost in transport -- and\n"
"                         prober restarts (a new sequence base)\n"
"  -X NAME=VALUE          any librdkafka consumer property (repeat)\n"
"      --spool DIR        read a spool directory instead of Kafka (the\n"
"                         prober must not be running: it locks the spool)\n"
"  -h, --help             this text\n"
"\n"
"Examples:\n"
"  pmesh-cat -b 127.0.0.1:9092 --exit-at-end\n"
"  pmesh-cat -b kafka1:9092 -t pmesh.events --from end        # follow events\n"
"  pmesh-cat -b 127.0.0.1:9092 -t pmesh.summaries --exit-at-end --dedup --stats >/dev/null\n"
"  pmesh-cat --spool /var/spool/pmesh/probe-a1 --stats\n"
"\n"
"Exit status: 0 done, 1 Kafka or spool error (or --timeout-ms hit first),\n"
"2 usage, 3 some messages were refused (unknown version, malformed).\n");
}

/* ---- duplicate set: open addressing over 128-bit keys ---- */

static uint64_t
cat_mix(const struct cat_key *k)
{
	uint64_t h = k->a * 0x9e3779b97f4a7c15ULL ^ k->b;

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

/* True if @k was seen before (and records it otherwise). */
static bool
cat_seen(struct cat *c, const struct cat_key *k)
{
	size_t i;

	if (c->set_n * 2 >= c->set_cap) {
		size_t ncap = c->set_cap ? c->set_cap * 2 : 4096, j;
		struct cat_key *ns = calloc(ncap, sizeof(*ns));

		if (ns == NULL) {
			fprintf(stderr, "pmesh-cat: out of memory for --dedup\n");
			exit(1);
		}
		for (j = 0; j < c->set_cap; j++) {
			if (c->set[j].a == 0 && c->set[j].b == 0)
				continue;
			for (i = cat_mix(&c->set[j]) & (ncap - 1); ns[i].a || ns[i].b;
			     i = (i + 1) & (ncap - 1))
				;
			ns[i] = c->set[j];
		}
		free(c->set);
		c->set = ns;
		c->set_cap = ncap;
	}
	for (i = cat_mix(k) & (c->set_cap - 1); c->set[i].a || c->set[i].b;
	     i = (i + 1) & (c->set_cap - 1))
		if (c->set[i].a == k->a && c->set[i].b == k->b)
			return true;
	c->set[i] = *k;
	c->set_n++;
	return false;
}

static struct cat_stream *
cat_stream(struct cat *c, uint32_t prober_id, uint16_t lcore)
{
	static size_t last;
	size_t i;

	if (last < c->nst && c->st[last].prober_id == prober_id &&
	    c->st[last].lcore == lcore)
		return &c->st[last];
	for (i = 0; i < c->nst; i++)
		if (c->st[i].prober_id == prober_id && c->st[i].lcore == lcore)
			return &c->st[last = i];
	if (c->nst == c->st_cap) {
		size_t ncap = c->st_cap ? c->st_cap * 2 : 64;
		struct cat_stream *ns = realloc(c->st, ncap * sizeof(*ns));

		if (ns == NULL)
			return NULL;
		c->st = ns;
		c->st_cap = ncap;
	}
	memset(&c->st[c->nst], 0, sizeof(c->st[0]));
	c->st[c->nst].prober_id = prober_id;
	c->st[c->nst].lcore = lcore;
	last = c->nst;
	return &c->st[c->nst++];
}

static int
cat_seq_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct cat_seq *)a)->seq;
	uint64_t y = ((const struct cat_seq *)b)->seq;

	return x < y ? -1 : x > y;
}

/* ---- printing ---- */

static int
cat_summary(void *arg, const struct pm_record *recs, unsigned int n,
	    const char *name)
{
	struct cat *c = arg;
	const struct pm_rec_hdr *h = &recs[0].h;
	struct cat_key k = { ((uint64_t)h->prober_id << 16 | h->lcore) + 1, h->seq };
	struct cat_stream *s;
	bool dup;
	int len;

	if (c->count && c->printed >= c->count)
		return 0;
	dup = cat_seen(c, &k);
	if (dup) {
		c->dups++;
		if (c->dedup)
			return 0;
	} else if ((s = cat_stream(c, h->prober_id, h->lcore)) != NULL) {
		if (s->n == s->cap) {
			size_t ncap = s->cap ? s->cap * 2 : 256;
			struct cat_seq *nv = realloc(s->v, ncap * sizeof(*nv));

			if (nv == NULL) {
				fprintf(stderr, "pmesh-cat: out of memory for --stats\n");
				exit(1);
			}
			s->v = nv;
			s->cap = ncap;
		}
		s->v[s->n].seq = h->seq;
		s->v[s->n].dropped_before = recs[0].p0.b.dropped_before;
		s->n++;
	}
	len = pm_record_json(recs, n, name, c->json, CAT_JSON_MAX);
	if (len < 0) {
		fprintf(stderr, "pmesh-cat: %s: summary cannot be printed (%s)\n",
			c->where, strerror(-len));
		c->refused++;
		return 0;
	}
	fwrite(c->json, 1, (size_t)len, stdout);
	fputc('\n', stdout);
	c->summaries++;
	c->printed++;
	return 0;
}

/* An event: a JSON object with "kind":"event"; checked, printed as is. */
static void
cat_event(struct cat *c, const char *p, size_t len)
{
	struct cat_key k = { UINT64_MAX, 0xcbf29ce484222325ULL };
	const char *id, *sch;
	unsigned long schema;
	size_t i;

	if (len < 2 || p[0] != '{' || memchr(p, '\n', len) != NULL) {
		fprintf(stderr, "pmesh-cat: %s: event is not a one-line JSON object; "
			"refused\n", c->where);
		c->refused++;
		return;
	}
	sch = memmem(p, len, "\"schema\":", 9);
	schema = sch != NULL ? strtoul(sch + 9, NULL, 10) : 0;
	if (schema < PM_REC_SCHEMA_MIN || schema > PM_REC_SCHEMA) {
		fprintf(stderr, "pmesh-cat: %s: event schema %lu is not supported by "
			"this build (understands %d..%d)\n", c->where, schema,
			PM_REC_SCHEMA_MIN, PM_REC_SCHEMA);
		c->refused++;
		return;
	}
	id = memmem(p, len, "\"id\":\"", 6);
	if (id != NULL)
		for (i = 6; id + i < p + len && id[i] != '"'; i++)
			k.b = (k.b ^ (unsigned char)id[i]) * 0x100000001b3ULL;
	if (cat_seen(c, &k)) {
		c->dups++;
		if (c->dedup)
			return;
	}
	if (c->count && c->printed >= c->count)
		return;
	fwrite(p, 1, len, stdout);
	fputc('\n', stdout);
	c->events++;
	c->printed++;
}

/*
 * One message (from Kafka or the spool): @kind "event"/"summary"/NULL,
 * @enc PM_ENC_* or 0 (sniff), @schema from the header (0: absent).
 */
static void
cat_payload(struct cat *c, const char *kind, int enc, unsigned long schema,
	    const void *p, size_t len)
{
	char err[256];
	int rc;

	c->messages++;
	if (len == 0)
		return;		/* tombstone / empty: nothing to print */
	/* Anything but summaries (events, paths, tables) is one JSON object. */
	if (kind != NULL && strcmp(kind, "summary") != 0) {
		cat_event(c, p, len);
		return;
	}
	if (kind == NULL && ((const char *)p)[0] == '{' &&
	    memmem(p, len, "\"kind\":\"event\"", 14) != NULL) {
		cat_event(c, p, len);
		return;
	}
	if (schema > PM_REC_SCHEMA) {
		fprintf(stderr, "pmesh-cat: %s: schema %lu is not supported by this "
			"build (understands %d..%d); refused (upgrade pmesh-cat)\n",
			c->where, schema, PM_REC_SCHEMA_MIN, PM_REC_SCHEMA);
		c->refused++;
		return;
	}
	err[0] = '\0';
	rc = pm_enc_decode(enc, p, len, cat_summary, c, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "pmesh-cat: %s: %s; refused\n", c->where,
			err[0] ? err : strerror(-rc));
		c->refused++;
	}
}

static const char *
cat_header(rd_kafka_headers_t *h, const char *name, char *buf, size_t cap)
{
	const void *v;
	size_t n;

	if (h == NULL || rd_kafka_header_get_last(h, name, &v, &n) !=
	    RD_KAFKA_RESP_ERR_NO_ERROR || v == NULL)
		return NULL;
	if (n >= cap)
		n = cap - 1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	return buf;
}

static void
cat_message(struct cat *c, rd_kafka_message_t *m)
{
	rd_kafka_headers_t *h = NULL;
	char where[300], kind[32], encs[32], sch[32];
	const char *k, *e, *s;
	int enc = 0;

	snprintf(where, sizeof(where), "%s[%" PRId32 "]@%" PRId64,
		 rd_kafka_topic_name(m->rkt), m->partition, m->offset);
	c->where = where;
	rd_kafka_message_headers(m, &h);
	k = cat_header(h, "pmesh-kind", kind, sizeof(kind));
	e = cat_header(h, "pmesh-encoding", encs, sizeof(encs));
	s = cat_header(h, "pmesh-schema", sch, sizeof(sch));
	if (e != NULL) {
		enc = pm_enc_parse(e);
		if (enc < 0) {
			c->messages++;
			fprintf(stderr, "pmesh-cat: %s: encoding '%s' is not supported "
				"by this build (json, binary); refused\n", where, e);
			c->refused++;
			return;
		}
	}
	cat_payload(c, k, enc, s != NULL ? strtoul(s, NULL, 10) : 0, m->payload,
		    m->len);
}

/* ---- Kafka ---- */

static int
cat_kafka(struct cat *c)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_partition_list_t *parts;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char errstr[512], gid[64];
	rd_kafka_resp_err_t err;
	rd_kafka_t *rk;
	uint64_t t0 = cat_now_ms();
	int i, t, p, neof = 0, nparts = 0, rc = 0;
	uint8_t *eof;

	snprintf(gid, sizeof(gid), "pmesh-cat-%d", (int)getpid());
	if (rd_kafka_conf_set(conf, "bootstrap.servers", c->bootstrap, errstr,
			      sizeof(errstr)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "group.id", gid, errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr,
			      sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr,
			      sizeof(errstr))) {
		fprintf(stderr, "pmesh-cat: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		return 2;
	}
	for (i = 0; i < c->nprops; i++) {
		char name[256];
		const char *eq = strchr(c->props[i], '=');

		if (eq == NULL || eq == c->props[i] ||
		    (size_t)(eq - c->props[i]) >= sizeof(name)) {
			fprintf(stderr, "pmesh-cat: -X %s: expected NAME=VALUE\n",
				c->props[i]);
			rd_kafka_conf_destroy(conf);
			return 2;
		}
		memcpy(name, c->props[i], (size_t)(eq - c->props[i]));
		name[eq - c->props[i]] = '\0';
		if (rd_kafka_conf_set(conf, name, eq + 1, errstr, sizeof(errstr)) !=
		    RD_KAFKA_CONF_OK) {
			fprintf(stderr, "pmesh-cat: -X %s: %s\n", c->props[i], errstr);
			rd_kafka_conf_destroy(conf);
			return 2;
		}
	}
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (rk == NULL) {
		fprintf(stderr, "pmesh-cat: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		return 1;
	}
	err = rd_kafka_metadata(rk, 1, NULL, &md, 10000);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "pmesh-cat: brokers %s did not answer: %s\n",
			c->bootstrap, rd_kafka_err2str(err));
		rd_kafka_destroy(rk);
		return 1;
	}
	parts = rd_kafka_topic_partition_list_new(64);
	for (t = 0; t < c->ntopics; t++) {
		int found = 0;

		for (i = 0; i < md->topic_cnt; i++) {
			if (strcmp(md->topics[i].topic, c->topics[t]) != 0 ||
			    md->topics[i].err != RD_KAFKA_RESP_ERR_NO_ERROR)
				continue;
			found = 1;
			for (p = 0; p < md->topics[i].partition_cnt; p++)
				rd_kafka_topic_partition_list_add(parts, c->topics[t],
					md->topics[i].partitions[p].id)->offset =
					c->from_end ? RD_KAFKA_OFFSET_END :
						      RD_KAFKA_OFFSET_BEGINNING;
		}
		if (!found)
			fprintf(stderr, "pmesh-cat: topic %s does not exist on %s; "
				"skipped\n", c->topics[t], c->bootstrap);
	}
	rd_kafka_metadata_destroy(md);
	nparts = parts->cnt;
	eof = calloc((size_t)nparts + 1, 1);
	if (nparts == 0) {
		fprintf(stderr, "pmesh-cat: nothing to read\n");
		rc = 1;
		goto out;
	}
	err = rd_kafka_assign(rk, parts);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "pmesh-cat: assign: %s\n", rd_kafka_err2str(err));
		rc = 1;
		goto out;
	}
	while (!cat_quit) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

		if (c->timeout_ms && cat_now_ms() - t0 > c->timeout_ms) {
			if (c->count && c->printed < c->count) {
				fprintf(stderr, "pmesh-cat: %" PRIu64 " of %" PRIu64
					" records read in %" PRIu64 " ms; giving up\n",
					c->printed, c->count, c->timeout_ms);
				rc = 1;
			}
			if (m != NULL)
				rd_kafka_message_destroy(m);
			break;
		}
		if (m == NULL)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			for (i = 0; i < nparts; i++)
				if (parts->elems[i].partition == m->partition &&
				    strcmp(parts->elems[i].topic,
					   rd_kafka_topic_name(m->rkt)) == 0 && !eof[i]) {
					eof[i] = 1;
					neof++;
				}
		} else if (m->err) {
			fprintf(stderr, "pmesh-cat: %s\n", rd_kafka_message_errstr(m));
		} else {
			for (i = 0; i < nparts; i++)
				if (eof[i] && parts->elems[i].partition == m->partition &&
				    strcmp(parts->elems[i].topic,
					   rd_kafka_topic_name(m->rkt)) == 0) {
					eof[i] = 0;
					neof--;
				}
			cat_message(c, m);
		}
		rd_kafka_message_destroy(m);
		if (c->count && c->printed >= c->count)
			break;
		if (c->exit_at_end && neof == nparts)
			break;
	}
out:
	free(eof);
	rd_kafka_topic_partition_list_destroy(parts);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return rc;
}

/* ---- spool ---- */

static int
cat_spool(struct cat *c, uint64_t *corrupt)
{
	static const char *const kinds[] = { "summary", "event", "path" };
	struct pm_spool_cfg cfg;
	struct pm_spool_item it;
	struct pm_spool_stats st;
	struct pm_spool *sp;
	char err[512], where[64];
	struct stat sb;
	uint64_t idx = 0;
	int rc;

	if (stat(c->spool, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "pmesh-cat: --spool %s: not a directory\n", c->spool);
		return 1;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.dir = c->spool;
	cfg.max_bytes = 1ULL << 50;	/* reading: never drop anything */
	cfg.fsync = PM_SPOOL_FSYNC_NEVER;
	rc = pm_spool_open(&sp, &cfg, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "pmesh-cat: --spool: %s\n", err);
		return 1;
	}
	while (!cat_quit && (rc = pm_spool_next(sp, &it)) > 0) {
		snprintf(where, sizeof(where), "spool item %" PRIu64, idx++);
		c->where = where;
		cat_payload(c, it.topic < 3 ? kinds[it.topic] : NULL,
			    it.flags, 0, it.val, it.val_len);
		if (c->count && c->printed >= c->count)
			break;
	}
	if (rc < 0)
		fprintf(stderr, "pmesh-cat: --spool: %s\n", strerror(-rc));
	pm_spool_get_stats(sp, &st);
	*corrupt = st.corrupt;
	if (st.corrupt)
		fprintf(stderr, "pmesh-cat: --spool: %" PRIu64 " corrupt record(s) "
			"skipped (%" PRIu64 " bytes)\n", st.corrupt, st.corrupt_bytes);
	pm_spool_close(sp);
	return rc < 0 ? 1 : 0;
}

int
main(int argc, char **argv)
{
	enum { O_FROM = 256, O_EXIT_END, O_TIMEOUT, O_DEDUP, O_STATS, O_SPOOL };
	static const struct option opts[] = {
		{ "bootstrap", required_argument, NULL, 'b' },
		{ "topic", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'n' },
		{ "from", required_argument, NULL, O_FROM },
		{ "exit-at-end", no_argument, NULL, O_EXIT_END },
		{ "timeout-ms", required_argument, NULL, O_TIMEOUT },
		{ "dedup", no_argument, NULL, O_DEDUP },
		{ "stats", no_argument, NULL, O_STATS },
		{ "spool", required_argument, NULL, O_SPOOL },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct cat c;
	uint64_t corrupt = 0, gaps = 0, ringdrop = 0, restarts = 0;
	struct sigaction sa;
	char *end;
	size_t i;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "b:t:n:X:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			c.bootstrap = optarg;
			break;
		case 't':
			if (c.ntopics == CAT_MAX_TOPICS) {
				fprintf(stderr, "pmesh-cat: at most %d topics\n",
					CAT_MAX_TOPICS);
				return 2;
			}
			c.topics[c.ntopics++] = optarg;
			break;
		case 'n':
		case O_TIMEOUT:
			errno = 0;
			if (optarg[0] == '-' || optarg[0] == '\0' ||
			    (strtoull(optarg, &end, 10), errno != 0 || *end != '\0')) {
				fprintf(stderr, "pmesh-cat: %s: '%s' is not a number\n",
					opt == 'n' ? "--count" : "--timeout-ms", optarg);
				return 2;
			}
			if (opt == 'n')
				c.count = strtoull(optarg, NULL, 10);
			else
				c.timeout_ms = strtoull(optarg, NULL, 10);
			break;
		case 'X':
			if (c.nprops == CAT_MAX_PROPS) {
				fprintf(stderr, "pmesh-cat: at most %d -X\n", CAT_MAX_PROPS);
				return 2;
			}
			c.props[c.nprops++] = optarg;
			break;
		case O_FROM:
			if (strcmp(optarg, "beginning") == 0) {
				c.from_end = false;
			} else if (strcmp(optarg, "end") == 0) {
				c.from_end = true;
			} else {
				fprintf(stderr, "pmesh-cat: --from: 'beginning' or 'end'\n");
				return 2;
			}
			break;
		case O_EXIT_END:
			c.exit_at_end = true;
			break;
		case O_DEDUP:
			c.dedup = true;
			break;
		case O_STATS:
			c.stats = true;
			break;
		case O_SPOOL:
			c.spool = optarg;
			break;
		case 'h':
			cat_usage(stdout);
			return 0;
		default:
			fprintf(stderr, "pmesh-cat: see --help\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pmesh-cat: unexpected argument '%s' (see --help)\n",
			argv[optind]);
		return 2;
	}
	if ((c.bootstrap == NULL) == (c.spool == NULL)) {
		fprintf(stderr, "pmesh-cat: give -b BOOTSTRAP or --spool DIR (see --help)\n");
		return 2;
	}
	if (c.ntopics == 0) {
		c.topics[c.ntopics++] = "pmesh.summaries";
		c.topics[c.ntopics++] = "pmesh.events";
	}
	c.json = malloc(CAT_JSON_MAX);
	if (c.json == NULL)
		return 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cat_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = c.spool != NULL ? cat_spool(&c, &corrupt) : cat_kafka(&c);
	fflush(stdout);

	/* Per stream, sorted: a hole between neighbours that the later one's
	 * dropped_before does not explain is a loss in transport. */
	for (i = 0; i < c.nst; i++) {
		struct cat_stream *s = &c.st[i];
		uint64_t hole;
		size_t k;

		qsort(s->v, s->n, sizeof(s->v[0]), cat_seq_cmp);
		for (k = 0; k < s->n; k++) {
			ringdrop += s->v[k].dropped_before;
			if (k == 0)
				continue;
			hole = s->v[k].seq - s->v[k - 1].seq - 1;

			if (hole >= CAT_RESTART_JUMP)
				restarts++;
			else if (hole > s->v[k].dropped_before)
				gaps += hole - s->v[k].dropped_before;
		}
		free(s->v);
	}
	if (c.stats)
		fprintf(stderr, "pmesh-cat: %" PRIu64 " messages, %" PRIu64 " summaries, %"
			PRIu64 " events, %" PRIu64 " duplicates %s, %" PRIu64 " refused, "
			"gaps %" PRIu64 ", ring-dropped %" PRIu64 ", prober restarts %"
			PRIu64 ", streams %zu%s\n",
			c.messages, c.summaries, c.events, c.dups,
			c.dedup ? "dropped" : "printed", c.refused, gaps, ringdrop, restarts,
			c.nst,
			c.spool ? (corrupt ? ", spool corrupt records skipped" : "") : "");
	free(c.json);
	free(c.set);
	free(c.st);
	if (rc != 0)
		return rc;
	return c.refused ? 3 : 0;
}
