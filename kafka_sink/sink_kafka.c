/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sink_kafka.c: the Kafka sink -- one librdkafka producer, owned by the
 * prober's export thread, and an on-disk spool for when the brokers are
 * away.
 *
 * Messages.  Summaries go to kafka.topic_summaries, either one JSON line per
 * message or binary batches of up to kafka.batch_max summaries of one lcore
 * (lib/pm_enc.h); events go to kafka.topic_events as JSON.  The key is
 * "<prober id hex>-<lcore>" (events: "<prober id hex>"): a flow lives on one
 * lcore, so all of a flow's summaries land in one partition in order, while
 * a fleet of probers x lcores spreads over every partition for consumers to
 * scale out.  Headers: pmesh-schema, pmesh-encoding, pmesh-kind.
 *
 * Delivery.  enable.idempotence is on; every message has a delivery report
 * (rd_kafka_poll on every export loop).  A record waits in librdkafka's
 * queue at most kafka.queue_ms (message.timeout.ms); when that expires, or
 * the queue stays full for kafka.queue_full_ms, the message goes to the
 * spool and the sink turns SPOOLING: from then on new messages go to the
 * spool's tail too, so nothing overtakes what waits on disk.  Every second
 * (doubling up to 10 s while it fails) the sink replays the spool's oldest
 * message; once one is acknowledged it replays in order, up to a window in
 * flight, committing what the brokers acknowledged (the spool deletes
 * segments behind the commit point).  A failed replay rewinds to the commit
 * point: at-least-once, duplicates carry the same record id and consumers
 * drop them.  When the spool is empty the sink is ONLINE again.  A spool
 * left by a crash is replayed at the next start; at shutdown the sink
 * flushes for kafka.flush_ms and spools whatever the brokers did not take.
 * Without a spool (kafka.spool = false) nothing is written to disk: the
 * export thread waits on a full queue, the lcores' rings fill, and their
 * drops are counted -- never silently.
 *
 * Everything that cannot be delivered anywhere (disk full, message refused
 * by the broker as invalid) is counted in sk->failed and logged.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "pm_enc.h"
#include "pm_kafka.h"
#include "pm_spool.h"

#define KS_BATCH_BYTES		(900u * 1024)	/* under message.max.bytes (1 MB) */
#define KS_JSON0		16384
#define KS_JSON_MAX		(4u << 20)
#define KS_REPLAY_SLOTS		4096		/* replay messages in flight */
#define KS_BACKOFF0_MS		1000
#define KS_BACKOFF_MAX_MS	4000	/* plus the probe's own queue_ms */
#define KS_NOTE_MS		10000		/* repeated warnings: once per */

/*
 * Message opaque (no allocation per message): bit 0 set for a replayed
 * spool item, which carries its window slot, generation and summary count;
 * a live message carries bit 1 for events and its summary count from bit 2.
 */
#define KS_OP_REPLAY		1ull
#define KS_OP_EVENT		2ull
#define KS_OP_LIVE_NSUM_SHIFT	2
#define KS_OP_SLOT_SHIFT	2
#define KS_OP_SLOT_MASK		0xffffull
#define KS_OP_GEN_SHIFT		18
#define KS_OP_GEN_MASK		0xffffffull
#define KS_OP_NSUM_SHIFT	42

struct ks_slot {
	uint64_t pos;
	uint32_t nsum;
	uint8_t done;
	uint8_t topic;
};

struct ksink {
	struct pm_sink *sk;
	const struct pm_kafka_cfg *kc;
	rd_kafka_t *rk;
	int enc;				/* PM_ENC_* */
	const char *topic[PM_KT_MAX];
	char spool_dir[PM_CFG_PATH_MAX + PM_CFG_NAME_MAX];
	struct pm_spool *spool;
	struct pm_spool_stats sst;		/* last seen, for deltas */

	/* replay */
	struct ks_slot slot[KS_REPLAY_SLOTS];
	uint32_t head;				/* oldest in flight */
	uint32_t tail;				/* next free */
	uint32_t gen;				/* bumped on rewind */
	uint64_t next_try_ms;
	uint32_t backoff_ms;
	bool probing;				/* one message out to test the brokers */
	bool at_end;				/* spool read to its end */

	/* health */
	bool brokers_down;
	bool fatal;
	uint64_t last_note_ms[4];

	/* encoding buffers */
	uint8_t *bin;
	char *json;
	size_t json_cap;
	uint64_t in_queue_msgs;
};

enum { KS_NOTE_DOWN, KS_NOTE_LOG, KS_NOTE_FAIL, KS_NOTE_SPOOLERR };

static uint64_t
ks_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Rate-limited note of kind @k: true when it may be said now. */
static bool
ks_note(struct ksink *ks, int k)
{
	uint64_t now = ks_now_ms();

	if (ks->last_note_ms[k] != 0 && now - ks->last_note_ms[k] < KS_NOTE_MS)
		return false;
	ks->last_note_ms[k] = now;
	return true;
}

static const char *
ks_kind(int topic)
{
	return topic == PM_KT_EVENTS ? "event" :
	       topic == PM_KT_PATHS ? "path" : "summary";
}

/* ---------------------------------------------------------------------- */
/* Configuration */

static const char *
ks_src(const char *src)
{
	return src != NULL ? src : "--kafka-prop";
}

static int
ks_set(rd_kafka_conf_t *conf, const char *name, const char *val,
       char *err, size_t errcap)
{
	char why[512];

	if (rd_kafka_conf_set(conf, name, val, why, sizeof(why)) !=
	    RD_KAFKA_CONF_OK) {
		/* A long value may cut the message short; it stays a string. */
		if (snprintf(err, errcap, "%s=%s: %s", name, val, why) >= (int)errcap &&
		    errcap > 4)
			memcpy(err + errcap - 4, "...", 4);
		return -EINVAL;
	}
	return 0;
}

/*
 * Build the producer configuration: pmesh's defaults (tuned by
 * scripts/bench-kafka.sh), then every kafka.properties entry, which wins.
 * Problems are appended to @err, one per line.  Returns 0 or -EINVAL.
 */
static int
ks_conf(const struct pm_prober_cfg *c, const char *src, rd_kafka_conf_t **out,
	char *err, size_t errcap)
{
	const struct pm_kafka_cfg *k = &c->kafka;
	char num[32], why[600], client[PM_CFG_NAME_MAX + 16];
	size_t len = 0;
	rd_kafka_conf_t *conf;
	uint32_t i;
	int rc = 0;

	conf = rd_kafka_conf_new();
	if (conf == NULL)
		return -ENOMEM;
	err[0] = '\0';
	snprintf(client, sizeof(client), "pmesh-prober-%s", c->id);
	struct { const char *n; const char *v; } def[] = {
		{ "bootstrap.servers", k->bootstrap },
		{ "client.id", client },
		{ "enable.idempotence", "true" },
		{ "linger.ms", "20" },	/* bench-kafka.sh sweep: docs/benchmarks.md */
		{ "batch.num.messages", "10000" },
		{ "queue.buffering.max.kbytes", "262144" },
		/* librdkafka logs through rd_kafka_poll, on our thread. */
		{ "log.queue", "true" },
	};
	for (i = 0; i < sizeof(def) / sizeof(def[0]); i++) {
		if (def[i].v[0] == '\0')
			continue;
		if (ks_set(conf, def[i].n, def[i].v, why, sizeof(why)) < 0) {
			len += (size_t)snprintf(err + len, len < errcap ? errcap - len : 0,
						"%skafka: %s", len ? "\n" : "", why);
			rc = -EINVAL;
		}
	}
	snprintf(num, sizeof(num), "%u", k->queue_ms);
	ks_set(conf, "message.timeout.ms", num, why, sizeof(why));
	snprintf(num, sizeof(num), "%u", k->queue_max);
	ks_set(conf, "queue.buffering.max.messages", num, why, sizeof(why));
	for (i = 0; i < k->nprops; i++) {
		const struct pm_kafka_prop *p = &k->props[i];

		if (ks_set(conf, p->name, p->value, why, sizeof(why)) < 0) {
			if (len >= errcap)
				len = errcap - 1;
			if (p->line > 0)
				len += (size_t)snprintf(err + len, errcap - len,
							"%s%s:%d: kafka.properties: %s",
							len ? "\n" : "", ks_src(src),
							p->line, why);
			else
				len += (size_t)snprintf(err + len, errcap - len,
							"%s--kafka-prop: %s",
							len ? "\n" : "", why);
			rc = -EINVAL;
		}
	}
	if (rc < 0) {
		rd_kafka_conf_destroy(conf);
		return rc;
	}
	*out = conf;
	return 0;
}

int
pm_kafka_check_cfg(const struct pm_prober_cfg *c, const char *src,
		   char *err, size_t errcap)
{
	rd_kafka_conf_t *conf = NULL;
	int rc;

	rc = ks_conf(c, src, &conf, err, errcap);
	if (rc == 0)
		rd_kafka_conf_destroy(conf);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Producing */

static int
ks_produce(struct ksink *ks, int topic, const void *key, size_t klen,
	   const void *val, size_t vlen, int enc, uint64_t opaque)
{
	/* PM_REC_SCHEMA as a string, without printf per message. */
#define KS_STR_(x) #x
#define KS_STR(x) KS_STR_(x)
	static const char schema[] = KS_STR(PM_REC_SCHEMA);

	return rd_kafka_producev(ks->rk,
		RD_KAFKA_V_TOPIC(ks->topic[topic]),
		RD_KAFKA_V_KEY(key, klen),
		RD_KAFKA_V_VALUE((void *)(uintptr_t)val, vlen),
		RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		RD_KAFKA_V_HEADER("pmesh-schema", schema, -1),
		RD_KAFKA_V_HEADER("pmesh-encoding", pm_enc_str(enc), -1),
		RD_KAFKA_V_HEADER("pmesh-kind", ks_kind(topic), -1),
		RD_KAFKA_V_OPAQUE((void *)(uintptr_t)opaque),
		RD_KAFKA_V_END);
}

static void ks_spool_deltas(struct ksink *ks);

/* Put a message in the spool; counts it as lost when that fails. */
static void
ks_spool_put(struct ksink *ks, int topic, const void *key, size_t klen,
	     const void *val, size_t vlen, int enc, uint32_t nsum)
{
	struct pm_sink *sk = ks->sk;
	struct pm_spool_item it;
	int rc = -ENOSYS;

	if (ks->spool != NULL) {
		memset(&it, 0, sizeof(it));
		it.topic = (uint8_t)topic;
		it.flags = (uint8_t)enc;
		it.key = key;
		it.key_len = (uint16_t)klen;
		it.val = val;
		it.val_len = (uint32_t)vlen;
		it.nsum = nsum;
		rc = pm_spool_append(ks->spool, &it);
	}
	if (rc == 0) {
		if (topic == PM_KT_SUMMARIES)
			sk->spooled += nsum;
		if (sk->state == PM_SINK_ONLINE) {
			sk->state = PM_SINK_SPOOLING;
			ks->next_try_ms = ks_now_ms() + KS_BACKOFF0_MS;
			ks->backoff_ms = KS_BACKOFF0_MS;
			ks->at_end = false;
			pm_sink_logf(sk, 4, "kafka: brokers not taking records; "
				     "spooling to %s until they do", ks->spool_dir);
		}
		ks_spool_deltas(ks);
		return;
	}
	if (topic == PM_KT_SUMMARIES)
		sk->failed += nsum;
	else
		sk->events_failed++;
	if (ks_note(ks, KS_NOTE_SPOOLERR))
		pm_sink_logf(sk, 3, "kafka: %s lost: %s", topic == PM_KT_SUMMARIES ?
			     "summaries" : "an event", ks->spool == NULL ?
			     "brokers away and spooling is off" : strerror(-rc));
}

/*
 * Send one message now, or spool it.  Live messages go to the spool's tail
 * while the sink is not ONLINE (order), or when the queue stays full.
 */
static void
ks_emit(struct ksink *ks, int topic, const void *key, size_t klen,
	const void *val, size_t vlen, uint32_t nsum)
{
	struct pm_sink *sk = ks->sk;
	int enc = topic == PM_KT_SUMMARIES ? ks->enc : PM_ENC_JSON;
	uint64_t op, deadline = 0;
	rd_kafka_resp_err_t err;

	if (sk->state != PM_SINK_ONLINE || ks->fatal) {
		ks_spool_put(ks, topic, key, klen, val, vlen, enc, nsum);
		return;
	}
	op = ((uint64_t)nsum << KS_OP_LIVE_NSUM_SHIFT) |
	     (topic == PM_KT_EVENTS ? KS_OP_EVENT : 0);
	for (;;) {
		err = ks_produce(ks, topic, key, klen, val, vlen, enc, op);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
			if (topic == PM_KT_SUMMARIES)
				sk->in_queue += nsum;
			ks->in_queue_msgs++;
			return;
		}
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		/* Full: serve delivery reports, which make room, for a while. */
		if (deadline == 0)
			deadline = ks_now_ms() + ks->kc->queue_full_ms;
		if (ks->spool != NULL && ks_now_ms() >= deadline) {
			ks_spool_put(ks, topic, key, klen, val, vlen, enc, nsum);
			return;
		}
		rd_kafka_poll(ks->rk, 10);
		if (sk->state != PM_SINK_ONLINE) {
			/* A delivery report turned us to the spool meanwhile. */
			ks_spool_put(ks, topic, key, klen, val, vlen, enc, nsum);
			return;
		}
	}
	/* Refused outright (message too large, unknown partition, ...). */
	if (topic == PM_KT_SUMMARIES)
		sk->failed += nsum;
	else
		sk->events_failed++;
	if (ks_note(ks, KS_NOTE_FAIL))
		pm_sink_logf(sk, 3, "kafka: %s refused by the producer: %s",
			     ks->topic[topic], rd_kafka_err2str(err));
}

/* Errors a retry cannot fix: the message itself is refused. */
static bool
ks_permanent(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_MSG:
	case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
	case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_RECORD:
		return true;
	default:
		return false;
	}
}

static int
ks_topic_index(struct ksink *ks, rd_kafka_topic_t *rkt)
{
	const char *name = rd_kafka_topic_name(rkt);
	int i;

	for (i = 0; i < PM_KT_MAX; i++)
		if (strcmp(name, ks->topic[i]) == 0)
			return i;
	return PM_KT_SUMMARIES;
}

/* The replay window's oldest messages are acknowledged: commit them. */
static void
ks_replay_advance(struct ksink *ks)
{
	uint64_t pos = 0;
	bool any = false;

	while (ks->head != ks->tail && ks->slot[ks->head % KS_REPLAY_SLOTS].done) {
		pos = ks->slot[ks->head % KS_REPLAY_SLOTS].pos;
		ks->head++;
		any = true;
	}
	if (any && pm_spool_commit(ks->spool, pos) < 0 &&
	    ks_note(ks, KS_NOTE_SPOOLERR))
		pm_sink_logf(ks->sk, 3, "kafka: cannot commit the spool in %s",
			     ks->spool_dir);
}

static void
ks_replay_abort(struct ksink *ks)
{
	pm_spool_rewind(ks->spool);
	ks->gen = (ks->gen + 1) & KS_OP_GEN_MASK;
	ks->head = ks->tail = 0;
	ks->probing = false;
	ks->at_end = false;
	ks->sk->state = PM_SINK_SPOOLING;
	ks->next_try_ms = ks_now_ms() + ks->backoff_ms;
	ks->backoff_ms = ks->backoff_ms * 2 > KS_BACKOFF_MAX_MS ?
			 KS_BACKOFF_MAX_MS : ks->backoff_ms * 2;
}

static void
ks_brokers_back(struct ksink *ks)
{
	if (!ks->brokers_down)
		return;
	ks->brokers_down = false;
	pm_sink_logf(ks->sk, 6, "kafka: brokers answer again");
}

static void
ks_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct ksink *ks = opaque;
	struct pm_sink *sk = ks->sk;
	uint64_t op = (uint64_t)(uintptr_t)m->_private;
	uint32_t nsum;
	int topic;

	(void)rk;
	if (op & KS_OP_REPLAY) {
		uint32_t slot = (uint32_t)((op >> KS_OP_SLOT_SHIFT) & KS_OP_SLOT_MASK);
		uint32_t gen = (uint32_t)((op >> KS_OP_GEN_SHIFT) & KS_OP_GEN_MASK);
		struct ks_slot *s = &ks->slot[slot % KS_REPLAY_SLOTS];

		nsum = (uint32_t)(op >> KS_OP_NSUM_SHIFT);
		if (gen != ks->gen)
			return;		/* from before a rewind: resent anyway */
		if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			if (ks_permanent(m->err)) {
				/* Replaying it again would fail again. */
				s->done = 1;
				if (s->topic == PM_KT_SUMMARIES)
					sk->failed += nsum;
				pm_sink_logf(sk, 3, "kafka: spooled message refused "
					     "(%s), dropped", rd_kafka_err2str(m->err));
				ks_replay_advance(ks);
				return;
			}
			ks_replay_abort(ks);
			return;
		}
		ks_brokers_back(ks);
		s->done = 1;
		if (s->topic == PM_KT_SUMMARIES) {
			sk->replayed += nsum;
			sk->delivered += nsum;
		}
		if (ks->probing) {
			ks->probing = false;
			ks->backoff_ms = KS_BACKOFF0_MS;
			sk->state = PM_SINK_REPLAYING;
			pm_sink_logf(sk, 6, "kafka: replaying the spool (%" PRIu64
				     " summaries)", sk->spool_pending);
		}
		ks_replay_advance(ks);
		return;
	}

	nsum = (uint32_t)(op >> KS_OP_LIVE_NSUM_SHIFT);
	topic = (op & KS_OP_EVENT) ? PM_KT_EVENTS : ks_topic_index(ks, m->rkt);
	if (ks->in_queue_msgs > 0)
		ks->in_queue_msgs--;
	if (topic == PM_KT_SUMMARIES)
		sk->in_queue = sk->in_queue >= nsum ? sk->in_queue - nsum : 0;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		ks_brokers_back(ks);
		if (topic == PM_KT_SUMMARIES)
			sk->delivered += nsum;
		return;
	}
	if (ks_permanent(m->err)) {
		if (topic == PM_KT_SUMMARIES)
			sk->failed += nsum;
		else
			sk->events_failed++;
		if (ks_note(ks, KS_NOTE_FAIL))
			pm_sink_logf(sk, 3, "kafka: %s: message refused: %s",
				     ks->topic[topic], rd_kafka_err2str(m->err));
		return;
	}
	/* Timed out in the queue, purged at shutdown, broker error: spool. */
	ks_spool_put(ks, topic, m->key, m->key_len, m->payload, m->len,
		     topic == PM_KT_SUMMARIES ? ks->enc : PM_ENC_JSON, nsum);
}

static void
ks_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct ksink *ks = opaque;
	char why[512];

	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		rd_kafka_fatal_error(rk, why, sizeof(why));
		ks->fatal = true;
		pm_sink_logf(ks->sk, 3, "kafka: fatal producer error: %s; "
			     "recreating the producer%s", why,
			     ks->spool ? ", records spool meanwhile" : "");
		return;
	}
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
		if (!ks->brokers_down)
			pm_sink_logf(ks->sk, 4, "kafka: all brokers down (%s); "
				     "records wait %u ms, then %s", reason,
				     ks->kc->queue_ms, ks->spool ? "spool" :
				     "stay queued (spooling is off)");
		ks->brokers_down = true;
		return;
	}
	if (ks_note(ks, KS_NOTE_DOWN))
		pm_sink_logf(ks->sk, 4, "kafka: %s: %s",
			     rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void
ks_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	struct ksink *ks = rd_kafka_opaque(rk);

	(void)fac;
	/* While brokers are away librdkafka says so on every reconnect:
	 * one line per KS_NOTE_MS is enough (our own notes say the rest). */
	if (level <= 2 || ks_note(ks, KS_NOTE_LOG))
		pm_sink_logf(ks->sk, level < 3 ? 3 : level, "librdkafka: %s", buf);
}

static int
ks_producer_new(struct ksink *ks)
{
	struct pm_sink *sk = ks->sk;
	rd_kafka_conf_t *conf = NULL;
	char why[512];
	int rc;

	rc = ks_conf(sk->cfg, sk->cfg_src, &conf, sk->err, sizeof(sk->err));
	if (rc < 0)
		return rc;
	rd_kafka_conf_set_opaque(conf, ks);
	rd_kafka_conf_set_dr_msg_cb(conf, ks_dr_cb);
	rd_kafka_conf_set_error_cb(conf, ks_error_cb);
	rd_kafka_conf_set_log_cb(conf, ks_log_cb);
	ks->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
	if (ks->rk == NULL) {
		rd_kafka_conf_destroy(conf);
		snprintf(sk->err, sizeof(sk->err), "kafka: cannot create the "
			 "producer: %.400s", why);
		return -EINVAL;
	}
	rd_kafka_set_log_queue(ks->rk, NULL);
	return 0;
}

/* Hand back everything librdkafka holds (delivery reports spool it). */
static void
ks_purge(struct ksink *ks, int rounds)
{
	rd_kafka_purge(ks->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	while (rounds-- > 0 && rd_kafka_outq_len(ks->rk) > 0)
		rd_kafka_poll(ks->rk, 100);
	rd_kafka_poll(ks->rk, 0);
}

/* After a fatal error the producer is unusable: spool its queue, start a
 * new one. */
static void
ks_restart(struct ksink *ks)
{
	ks->fatal = false;
	if (ks->spool != NULL && ks->sk->state == PM_SINK_ONLINE) {
		ks->sk->state = PM_SINK_SPOOLING;
		ks->next_try_ms = ks_now_ms() + KS_BACKOFF0_MS;
	}
	ks->fatal = true;		/* keep spooling while we purge */
	ks_purge(ks, 50);
	rd_kafka_destroy(ks->rk);
	ks->rk = NULL;
	ks->head = ks->tail = 0;
	if (ks->spool != NULL)
		pm_spool_rewind(ks->spool);
	ks->gen = (ks->gen + 1) & KS_OP_GEN_MASK;
	ks->probing = false;
	ks->fatal = false;
	if (ks_producer_new(ks) < 0) {
		pm_sink_logf(ks->sk, 3, "%s", ks->sk->err);
		ks->fatal = true;	/* try again at the next poll */
	}
}

/* ---------------------------------------------------------------------- */
/* Spool replay */

static void
ks_spool_deltas(struct ksink *ks)
{
	struct pm_sink *sk = ks->sk;
	struct pm_spool_stats st;
	struct pm_event ev;
	char buf[512];

	if (ks->spool == NULL)
		return;
	pm_spool_get_stats(ks->spool, &st);
	sk->spool_pending = st.pending_sum;
	sk->spool_corrupt = st.corrupt;
	if (st.dropped_sum > ks->sst.dropped_sum || st.dropped > ks->sst.dropped) {
		uint64_t dsum = st.dropped_sum - ks->sst.dropped_sum;

		sk->spool_dropped += dsum;
		pm_sink_logf(sk, 3, "kafka: spool %s full (%" PRIu64 " MiB): "
			     "oldest %" PRIu64 " summaries dropped", ks->spool_dir,
			     ks->kc->spool_max_mb, dsum);
		pm_event_begin(&ev, buf, sizeof(buf), sk, "spool_overflow");
		pm_event_add(&ev, ",\"dropped_summaries\":%" PRIu64
			     ",\"dropped_messages\":%" PRIu64 ",\"spool_max_mb\":%"
			     PRIu64, dsum, st.dropped - ks->sst.dropped,
			     ks->kc->spool_max_mb);
		ks->sst = st;	/* before: the event itself may be spooled */
		pm_sink_event(sk, &ev);
		return;
	}
	if (st.corrupt > ks->sst.corrupt) {
		pm_sink_logf(sk, 3, "kafka: spool %s: %" PRIu64 " corrupt "
			     "record(s) skipped (%" PRIu64 " bytes)", ks->spool_dir,
			     st.corrupt - ks->sst.corrupt,
			     st.corrupt_bytes - ks->sst.corrupt_bytes);
		pm_event_begin(&ev, buf, sizeof(buf), sk, "spool_corrupt");
		pm_event_add(&ev, ",\"records\":%" PRIu64 ",\"bytes\":%" PRIu64,
			     st.corrupt - ks->sst.corrupt,
			     st.corrupt_bytes - ks->sst.corrupt_bytes);
		ks->sst = st;
		pm_sink_event(sk, &ev);
		return;
	}
	ks->sst = st;
}

static void
ks_replay(struct ksink *ks)
{
	struct pm_sink *sk = ks->sk;
	struct pm_spool_item it;
	rd_kafka_resp_err_t err;
	struct ks_slot *s;
	uint64_t op, now;
	unsigned int sent = 0;
	struct pm_event ev;
	char buf[256];
	int rc;

	if (ks->spool == NULL || sk->state == PM_SINK_ONLINE || ks->fatal)
		return;
	now = ks_now_ms();
	if (sk->state == PM_SINK_SPOOLING && (ks->probing || now < ks->next_try_ms))
		return;
	for (;;) {
		if (ks->tail - ks->head >= KS_REPLAY_SLOTS)
			break;
		/* Probing: one message until the brokers take it. */
		if (sk->state == PM_SINK_SPOOLING && ks->tail != ks->head)
			break;
		if (rd_kafka_outq_len(ks->rk) > (int)(ks->kc->queue_max / 2))
			break;
		rc = pm_spool_next(ks->spool, &it);
		if (rc < 0) {
			if (ks_note(ks, KS_NOTE_SPOOLERR))
				pm_sink_logf(sk, 3, "kafka: reading the spool: %s",
					     strerror(-rc));
			break;
		}
		if (rc == 0) {
			ks->at_end = true;
			break;
		}
		ks->at_end = false;
		s = &ks->slot[ks->tail % KS_REPLAY_SLOTS];
		s->pos = it.pos;
		s->nsum = it.nsum;
		s->done = 0;
		s->topic = it.topic < PM_KT_MAX ? it.topic : PM_KT_SUMMARIES;
		op = KS_OP_REPLAY |
		     ((uint64_t)(ks->tail % KS_REPLAY_SLOTS) << KS_OP_SLOT_SHIFT) |
		     ((uint64_t)ks->gen << KS_OP_GEN_SHIFT) |
		     ((uint64_t)it.nsum << KS_OP_NSUM_SHIFT);
		err = ks_produce(ks, s->topic, it.key, it.key_len, it.val,
				 it.val_len, it.flags ? it.flags : PM_ENC_JSON, op);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			/* Not sent: read it again later. */
			ks_replay_abort(ks);
			return;
		}
		ks->tail++;
		sent++;
		if (sk->state == PM_SINK_SPOOLING) {
			ks->probing = true;
			break;
		}
	}
	(void)sent;
	ks_spool_deltas(ks);
	if (ks->at_end && ks->head == ks->tail && pm_spool_empty(ks->spool)) {
		sk->state = PM_SINK_ONLINE;
		pm_sink_logf(sk, 6, "kafka: spool drained (%" PRIu64 " summaries "
			     "replayed in all); records go straight to Kafka again",
			     sk->replayed);
		pm_event_begin(&ev, buf, sizeof(buf), sk, "spool_drained");
		pm_event_add(&ev, ",\"replayed_summaries\":%" PRIu64, sk->replayed);
		pm_sink_event(sk, &ev);
	}
}

/* ---------------------------------------------------------------------- */
/* Sink operations */

static void ks_close(struct pm_sink *sk);

static int
ks_open(struct pm_sink *sk, const char *dest)
{
	const struct pm_prober_cfg *c = sk->cfg;
	const struct pm_kafka_cfg *kc;
	const struct rd_kafka_metadata *md = NULL;
	struct pm_spool_cfg scfg;
	struct ksink *ks;
	rd_kafka_resp_err_t err;
	char serr[512];
	int rc, i;

	(void)dest;
	if (c == NULL)
		return -EINVAL;
	kc = &c->kafka;
	ks = calloc(1, sizeof(*ks));
	if (ks == NULL)
		return -ENOMEM;
	sk->priv = ks;
	ks->sk = sk;
	ks->kc = kc;
	ks->enc = pm_enc_parse(kc->encoding);
	if (ks->enc < 0)
		ks->enc = PM_ENC_BINARY;
	ks->topic[PM_KT_SUMMARIES] = kc->topic_summaries;
	ks->topic[PM_KT_EVENTS] = kc->topic_events;
	ks->topic[PM_KT_PATHS] = kc->topic_paths;
	ks->backoff_ms = KS_BACKOFF0_MS;
	sk->event_seq = (uint64_t)time(NULL) << 20;
	ks->bin = malloc(KS_BATCH_BYTES);
	ks->json_cap = KS_JSON0;
	ks->json = malloc(ks->json_cap);
	if (ks->bin == NULL || ks->json == NULL) {
		rc = -ENOMEM;
		goto fail;
	}

	if (kc->spool) {
		if (kc->spool_dir[0] != '\0')
			snprintf(ks->spool_dir, sizeof(ks->spool_dir), "%s",
				 kc->spool_dir);
		else
			snprintf(ks->spool_dir, sizeof(ks->spool_dir),
				 "/var/spool/pmesh/%s", c->id);
		memset(&scfg, 0, sizeof(scfg));
		scfg.dir = ks->spool_dir;
		scfg.max_bytes = kc->spool_max_mb << 20;
		scfg.segment_bytes = (uint64_t)kc->spool_segment_mb << 20;
		scfg.fsync = strcmp(kc->spool_fsync, "always") == 0 ?
			     PM_SPOOL_FSYNC_ALWAYS :
			     strcmp(kc->spool_fsync, "never") == 0 ?
			     PM_SPOOL_FSYNC_NEVER : PM_SPOOL_FSYNC_INTERVAL;
		scfg.fsync_ms = kc->spool_fsync_ms;
		rc = pm_spool_open(&ks->spool, &scfg, serr, sizeof(serr));
		if (rc < 0) {
			snprintf(sk->err, sizeof(sk->err), "kafka: spool: %.400s", serr);
			goto fail;
		}
		pm_spool_get_stats(ks->spool, &ks->sst);
		sk->spool_pending = ks->sst.pending_sum;
	}

	rc = ks_producer_new(ks);
	if (rc < 0)
		goto fail;

	/* Are the brokers there?  Not fatal with a spool: it holds records
	 * until they are. */
	err = rd_kafka_metadata(ks->rk, 1, NULL, &md,
				(int)(kc->connect_ms ? kc->connect_ms : 1));
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (ks->spool == NULL) {
			snprintf(sk->err, sizeof(sk->err), "kafka: brokers %s did "
				 "not answer within %u ms (%s); start them, fix "
				 "kafka.bootstrap, or enable the spool",
				 kc->bootstrap, kc->connect_ms, rd_kafka_err2str(err));
			rc = -EHOSTUNREACH;
			goto fail;
		}
		pm_sink_logf(sk, 4, "kafka: brokers %s did not answer within %u ms "
			     "(%s); spooling to %s until they do", kc->bootstrap,
			     kc->connect_ms, rd_kafka_err2str(err), ks->spool_dir);
		ks->brokers_down = true;
		sk->state = PM_SINK_SPOOLING;
		ks->next_try_ms = ks_now_ms() + KS_BACKOFF0_MS;
	} else {
		for (i = 0; i < PM_KT_PATHS; i++) {
			int t, found = 0;

			for (t = 0; t < md->topic_cnt; t++)
				if (strcmp(md->topics[t].topic, ks->topic[i]) == 0 &&
				    md->topics[t].err == RD_KAFKA_RESP_ERR_NO_ERROR)
					found = 1;
			if (!found)
				pm_sink_logf(sk, 4, "kafka: topic %s does not exist "
					     "on %s (yet): records wait unless the "
					     "brokers auto-create it", ks->topic[i],
					     kc->bootstrap);
		}
		rd_kafka_metadata_destroy(md);
	}
	if (ks->spool != NULL && !pm_spool_empty(ks->spool)) {
		pm_sink_logf(sk, 6, "kafka: spool %s holds %" PRIu64 " summaries "
			     "from an earlier run; replaying them first",
			     ks->spool_dir, ks->sst.pending_sum);
		sk->state = PM_SINK_SPOOLING;
		ks->next_try_ms = 0;
	}
	return 0;
fail:
	ks_close(sk);
	return rc;
}

/* Send the binary batch built so far. */
static void
ks_bin_emit(struct ksink *ks, struct pm_enc_bin *b, const char *key)
{
	size_t len;

	if (b->count == 0)
		return;
	len = pm_enc_bin_finish(b);
	ks_emit(ks, PM_KT_SUMMARIES, key, strlen(key), b->buf, len, b->count);
}

static int
ks_json_line(struct ksink *ks, const struct pm_record *recs, unsigned int n)
{
	int len;

	for (;;) {
		len = pm_record_json(recs, n, ks->sk->prober_name, ks->json,
				     ks->json_cap);
		if (len != -ENOSPC || ks->json_cap >= KS_JSON_MAX)
			return len;
		char *nb = realloc(ks->json, ks->json_cap * 2);

		if (nb == NULL)
			return -ENOMEM;
		ks->json = nb;
		ks->json_cap *= 2;
	}
}

static int
ks_write(struct pm_sink *sk, const struct pm_record *recs, unsigned int n)
{
	struct ksink *ks = sk->priv;
	struct pm_enc_bin b;
	unsigned int off = 0, parts;
	int lcore = -1, rc = 0, len;
	char key[32] = "";

	b.count = 0;
	while (off < n) {
		const struct pm_record *r = &recs[off];

		parts = r->h.nparts ? r->h.nparts : 1;
		/* The encoders check each summary (pm_record_check) anyway;
		 * here only that its parts are all in this batch. */
		if (off + parts > n) {
			/* Never expected from the engine: count, skip. */
			sk->failed++;
			off += parts;
			rc = -EINVAL;
			continue;
		}
		if (r->h.lcore != lcore) {
			if (ks->enc == PM_ENC_BINARY)
				ks_bin_emit(ks, &b, key);
			lcore = r->h.lcore;
			snprintf(key, sizeof(key), "%08x-%u", r->h.prober_id, r->h.lcore);
			if (ks->enc == PM_ENC_BINARY)
				pm_enc_bin_begin(&b, ks->bin, KS_BATCH_BYTES,
						 sk->prober_id, sk->prober_name,
						 (uint16_t)lcore);
		}
		if (ks->enc == PM_ENC_BINARY) {
			int arc = b.count >= ks->kc->batch_max ? -ENOSPC :
				  pm_enc_bin_append(&b, r, parts);

			if (arc == -ENOSPC) {
				ks_bin_emit(ks, &b, key);
				pm_enc_bin_begin(&b, ks->bin, KS_BATCH_BYTES,
						 sk->prober_id, sk->prober_name,
						 (uint16_t)lcore);
				arc = pm_enc_bin_append(&b, r, parts);
			}
			if (arc < 0) {
				sk->failed++;
				rc = arc;
			}
		} else {
			len = ks_json_line(ks, r, parts);
			if (len < 0) {
				sk->failed++;
				rc = len;
			} else {
				ks_emit(ks, PM_KT_SUMMARIES, key, strlen(key),
					ks->json, (size_t)len, 1);
			}
		}
		sk->summaries++;
		off += parts;
	}
	if (ks->enc == PM_ENC_BINARY)
		ks_bin_emit(ks, &b, key);
	return rc;
}

static int
ks_event(struct pm_sink *sk, const char *json, size_t len)
{
	struct ksink *ks = sk->priv;
	char key[16];

	snprintf(key, sizeof(key), "%08x", sk->prober_id);
	ks_emit(ks, PM_KT_EVENTS, key, strlen(key), json, len, 0);
	return 0;
}

/* Path records: JSON, keyed by the flow so a compacted topic keeps the
 * newest of each; spooled like everything else when brokers are away. */
static int
ks_path(struct pm_sink *sk, const struct pm_path *p)
{
	struct ksink *ks = sk->priv;
	char key[64], line[1024];
	int len = pm_enc_path_json(p, line, sizeof(line));

	if (len < 0) {
		sk->paths_failed++;
		return len;
	}
	snprintf(key, sizeof(key), "%08x-%08x-%u-%u", p->src, p->dst, p->sport,
		 p->dport);
	ks_emit(ks, PM_KT_PATHS, key, strlen(key), line, (size_t)len, 0);
	sk->paths++;
	return 0;
}

static int
ks_poll(struct pm_sink *sk)
{
	struct ksink *ks = sk->priv;

	if (ks->fatal)
		ks_restart(ks);
	if (ks->rk == NULL)
		return -ENOTCONN;
	rd_kafka_poll(ks->rk, 0);
	ks_replay(ks);
	if (ks->spool != NULL)
		pm_spool_tick(ks->spool, ks_now_ms());
	return 0;
}

static int
ks_flush(struct pm_sink *sk, unsigned int timeout_ms)
{
	struct ksink *ks = sk->priv;
	uint64_t deadline, left_q;
	unsigned int wait = ks->kc->flush_ms;

	(void)timeout_ms;
	if (ks->rk == NULL)
		return -ENOTCONN;
	deadline = ks_now_ms() + wait;
	/* Drain the queue, and the spool too if the brokers are back. */
	while (ks_now_ms() < deadline) {
		ks_poll(sk);
		if (rd_kafka_outq_len(ks->rk) == 0 &&
		    (sk->state == PM_SINK_ONLINE ||
		     (sk->state == PM_SINK_SPOOLING && !ks->probing &&
		      ks->next_try_ms > deadline)))
			break;
		rd_kafka_poll(ks->rk, 20);
	}
	left_q = sk->in_queue;
	if (rd_kafka_outq_len(ks->rk) > 0)
		ks_purge(ks, 20);
	ks_spool_deltas(ks);
	if (sk->state != PM_SINK_ONLINE || left_q > 0)
		pm_sink_logf(sk, 4, "kafka: after %u ms of flushing, %" PRIu64
			     " summaries were not acknowledged%s; %" PRIu64
			     " wait in %s for the next start", wait, left_q,
			     ks->spool ? " and went to the spool" : "",
			     sk->spool_pending, ks->spool ? ks->spool_dir : "(no spool)");
	return left_q > 0 && ks->spool == NULL ? -ETIMEDOUT : 0;
}

static void
ks_close(struct pm_sink *sk)
{
	struct ksink *ks = sk->priv;

	if (ks == NULL)
		return;
	if (ks->rk != NULL) {
		if (rd_kafka_outq_len(ks->rk) > 0)
			ks_purge(ks, 10);
		rd_kafka_destroy(ks->rk);
	}
	if (ks->spool != NULL)
		pm_spool_close(ks->spool);
	free(ks->bin);
	free(ks->json);
	free(ks);
	sk->priv = NULL;
}

const struct pm_sink_ops pm_sink_kafka = {
	.name = "kafka",
	.open = ks_open,
	.write = ks_write,
	.poll = ks_poll,
	.flush = ks_flush,
	.close = ks_close,
	.event = ks_event,
	.path = ks_path,
};
