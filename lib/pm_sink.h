/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_sink: where summaries go.
 *
 * A sink is a small table of functions (as testpmd's struct fwd_engine):
 * open, write a batch, poll, flush, close.  The export thread (never a data
 * lcore) owns the sink; data lcores only enqueue records to their ring.
 * Two sinks: JSON lines (file or stdout, here in lib/) and Kafka
 * (kafka_sink/, with its on-disk spool).  A sink must never drop a record
 * silently: what it cannot deliver it counts in ->failed and says so.
 *
 * Counters are written by the export thread only and read, without locks,
 * by the status line and telemetry (single aligned 64-bit words).
 */
#ifndef PM_SINK_H
#define PM_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "pm_cfg.h"
#include "pm_record.h"

struct pm_sink;
struct pm_path;		/* pm_enc.h */

struct pm_sink_ops {
	const char *name;
	/** Open towards @dest (sink specific: a path, "-" for stdout). */
	int (*open)(struct pm_sink *sk, const char *dest);
	/**
	 * Write @n records: whole summaries, parts consecutive.  Returns 0 or
	 * -errno; on error the records are counted in sk->failed.
	 */
	int (*write)(struct pm_sink *sk, const struct pm_record *recs,
		     unsigned int n);
	/** Serve callbacks / background work; called every export loop. */
	int (*poll)(struct pm_sink *sk);
	/** Push out what is buffered, waiting at most @timeout_ms. */
	int (*flush)(struct pm_sink *sk, unsigned int timeout_ms);
	void (*close)(struct pm_sink *sk);
	/**
	 * Publish an event (a JSON object made with pm_event_begin/end) to
	 * the events stream.  NULL: the sink carries no events.
	 */
	int (*event)(struct pm_sink *sk, const char *json, size_t len);
	/**
	 * Publish a path record (the paths stream: pm_enc_path_json).  NULL:
	 * the sink carries no paths (they are counted in paths_failed).
	 */
	int (*path)(struct pm_sink *sk, const struct pm_path *p);
};

/** State of a sink that can hold records back (Kafka). */
enum pm_sink_state {
	PM_SINK_ONLINE = 0,	/**< records go straight out */
	PM_SINK_SPOOLING,	/**< brokers away: records go to the spool */
	PM_SINK_REPLAYING,	/**< brokers back: the spool drains first */
};

/** Log hook (level as syslog: 3 error, 4 warning, 6 info). */
typedef void (*pm_sink_log_fn)(int level, const char *msg);

struct pm_sink {
	const struct pm_sink_ops *ops;
	void *priv;
	const char *prober_name;	/**< for encoders that print it */
	uint32_t prober_id;		/**< pm_record_id_hash(prober_name) */
	const struct pm_prober_cfg *cfg;	/**< whole config (Kafka keys) */
	const char *cfg_src;		/**< config file path, NULL: flags */
	pm_sink_log_fn log;		/**< NULL: stderr */
	uint64_t summaries;		/**< summaries written */
	uint64_t failed;		/**< summaries that could not be written */
	/* Kafka sink (0 for others) */
	uint64_t delivered;		/**< acknowledged by the brokers */
	uint64_t in_queue;		/**< in librdkafka's queue (gauge) */
	uint64_t spooled;		/**< written to the spool */
	uint64_t replayed;		/**< delivered from the spool */
	uint64_t spool_pending;		/**< in the spool, not delivered (gauge) */
	uint64_t spool_dropped;		/**< spool bound hit: oldest dropped */
	uint64_t spool_corrupt;		/**< bad spool records skipped */
	uint64_t events;		/**< events published */
	uint64_t events_failed;
	uint64_t paths;			/**< path records published */
	uint64_t paths_failed;
	uint32_t state;			/**< enum pm_sink_state */
	uint64_t event_seq;		/**< next event id (set at open) */
	char err[512];			/**< why open() failed */
};

/**
 * Events: one JSON object per event, on the events topic (Kafka) --
 * {"schema":2,"kind":"event","id":"<prober hex>-ev-<seq>","prober":NAME,
 *  "time_ns":..,"event":TYPE, <fields>}.  pm_event_begin() writes up to
 * the event type; the caller appends ",\"key\":value" fields with
 * pm_event_add() and closes with pm_event_end().  Returns the length so
 * far, or -ENOSPC.
 */
struct pm_event {
	char *buf;
	size_t cap;
	size_t len;
	int full;
};

void pm_event_begin(struct pm_event *ev, char *buf, size_t cap,
		    const struct pm_sink *sk, const char *type);
void pm_event_add(struct pm_event *ev, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/** Start @buf as a list of fields alone (",\"key\":value..."), no event
 *  head: for fields built on one thread and published on another. */
void pm_event_fields(struct pm_event *ev, char *buf, size_t cap);
/** Add ,"key":"value" with JSON escaping. */
void pm_event_add_str(struct pm_event *ev, const char *key, const char *val);
int pm_event_end(struct pm_event *ev);
/** Hand a finished event to the sink (counts events/events_failed). */
int pm_sink_event(struct pm_sink *sk, struct pm_event *ev);
/** Log through sk->log (or stderr), printf-style. */
void pm_sink_logf(const struct pm_sink *sk, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

extern const struct pm_sink_ops pm_sink_json;

/** Find a sink by name ("json"); NULL if unknown. */
const struct pm_sink_ops *pm_sink_find(const char *name);

#endif /* PM_SINK_H */
