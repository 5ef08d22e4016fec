/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_sink: where summaries go.
 *
 * A sink is a small table of functions (as testpmd's struct fwd_engine):
 * open, write a batch, poll, flush, close.  The export thread (never a data
 * lcore) owns the sink; data lcores only enqueue records to their ring.
 * This issue ships the JSON-lines sink (file or stdout); the Kafka sink
 * (kafka_sink/) registers the same table.  A sink must never drop a record
 * silently: what it cannot deliver it counts in ->failed.
 */
#ifndef PM_SINK_H
#define PM_SINK_H

#include <stdint.h>

#include "pm_record.h"

struct pm_sink;

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
};

struct pm_sink {
	const struct pm_sink_ops *ops;
	void *priv;
	const char *prober_name;	/**< for encoders that print it */
	uint64_t summaries;		/**< summaries written */
	uint64_t failed;		/**< summaries that could not be written */
};

extern const struct pm_sink_ops pm_sink_json;

/** Find a sink by name ("json"); NULL if unknown. */
const struct pm_sink_ops *pm_sink_find(const char *name);

#endif /* PM_SINK_H */
