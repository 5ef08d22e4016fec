/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_kafka: the Kafka sink -- summaries and events into Kafka topics
 * through one librdkafka producer owned by the export thread, with an
 * on-disk spool for when the brokers are away.
 *
 * The sink registers the struct pm_sink_ops table (lib/pm_sink.h); the
 * prober's export thread, which drains every lcore's SPSC record ring,
 * calls it.  Nothing here runs on a data lcore, and nothing here depends on
 * pmesh-kafka-mock: bootstrap.servers may name any Kafka cluster, and every
 * librdkafka property passes through from kafka.properties.
 */
#ifndef PM_KAFKA_H
#define PM_KAFKA_H

#include <stddef.h>

#include "pm_cfg.h"
#include "pm_sink.h"

/* Topic indexes, as stored in spool items. */
enum pm_kafka_topic {
	PM_KT_SUMMARIES = 0,
	PM_KT_EVENTS = 1,
	PM_KT_PATHS = 2,
	PM_KT_MAX
};

extern const struct pm_sink_ops pm_sink_kafka;

/**
 * Check the Kafka settings of @c without connecting: every property is
 * offered to librdkafka, which names what it refuses.  @src is the config
 * file (messages "file:line: ...") or NULL (flags).  Returns 0, or -EINVAL
 * with @err holding every problem, one per line.
 */
int pm_kafka_check_cfg(const struct pm_prober_cfg *c, const char *src,
		       char *err, size_t errcap);

#endif /* PM_KAFKA_H */
