/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_enc: message encodings of summaries on Kafka topics, and their decoders.
 *
 * Two encodings, chosen per prober (kafka.encoding) and named in every
 * message's "pmesh-encoding" header:
 *
 *  - json: one summary per message, the JSON line of pm_record_json()
 *    (people, kcat, third-party consumers);
 *  - binary: one message carries a batch of summaries from one lcore, in a
 *    fixed little-endian layout behind a versioned batch header, so the
 *    per-message cost of Kafka does not bound the record rate.  Histogram
 *    entries are sent as (bucket, count) pairs, only the non-empty ones:
 *    a summary costs its size, not the 512 bytes of a ring record.
 *
 * Both decoders rebuild struct pm_record parts exactly as pm_record_build()
 * lays them out, so everything downstream (pm_record_json, the aggregator's
 * merge) works on one in-memory form whatever the encoding.  A message of a
 * version this build does not know is refused with -EPROTONOSUPPORT and a
 * message saying which version it was and which are understood -- never
 * decoded as garbage.  The layout is documented byte by byte in
 * docs/records.md.
 */
#ifndef PM_ENC_H
#define PM_ENC_H

#include <stddef.h>
#include <stdint.h>

#include "pm_record.h"

enum pm_enc {
	PM_ENC_JSON = 1,
	PM_ENC_BINARY = 2,
};

/** "json" / "binary"; NULL for an unknown value. */
const char *pm_enc_str(int enc);
/** PM_ENC_* of a name, or -EINVAL. */
int pm_enc_parse(const char *name);

#define PM_ENC_BIN_MAGIC	0x31424d50u	/* "PMB1" read as LE u32 */
#define PM_ENC_BIN_VERSION	1		/* batch layout version */
#define PM_ENC_NAME_MAX		63		/* prober name bytes kept */

/**
 * Binary batch writer over a caller's buffer.  Usage: begin, append one
 * summary at a time until -ENOSPC, finish, send buf[0..len).
 */
struct pm_enc_bin {
	uint8_t *buf;
	size_t cap;
	size_t len;
	uint32_t count;		/**< summaries appended */
};

/**
 * Start a batch of summaries of prober @prober_id (@name, truncated to
 * PM_ENC_NAME_MAX bytes) from lcore @lcore.  Returns 0 or -ENOSPC.
 */
int pm_enc_bin_begin(struct pm_enc_bin *b, void *buf, size_t cap,
		     uint32_t prober_id, const char *name, uint16_t lcore);
/**
 * Append the summary @recs[n] (one whole summary, checked with
 * pm_record_check).  Returns 0, -ENOSPC (nothing appended: finish and start
 * a new batch), or -EINVAL.
 */
int pm_enc_bin_append(struct pm_enc_bin *b, const struct pm_record *recs,
		      unsigned int n);
/** Bytes a summary takes in a batch (for sizing). */
size_t pm_enc_bin_summary_size(const struct pm_record *recs, unsigned int n);
/** Seal the header (count, length).  Returns the batch length. */
size_t pm_enc_bin_finish(struct pm_enc_bin *b);

/**
 * Called once per decoded summary with its rebuilt parts and the prober
 * name carried by the message (binary: batch header; json: "prober").
 * Return 0 to go on, anything else to stop decoding (returned as is).
 */
typedef int (*pm_enc_summary_cb)(void *arg, const struct pm_record *recs,
				 unsigned int n, const char *prober_name);

/**
 * Decode a binary batch.  Returns the number of summaries delivered to @cb,
 * or -EPROTONOSUPPORT (magic/version/schema unknown), -EINVAL (malformed,
 * truncated), or @cb's non-zero return.  On error @err holds one line
 * saying what was wrong and where (byte offset).
 */
int pm_enc_bin_decode(const void *buf, size_t len, pm_enc_summary_cb cb,
		      void *arg, char *err, size_t errcap);

/**
 * Decode one JSON summary line (as written by pm_record_json, schema 1 or
 * 2; whitespace and key order free) into @recs[max].  @name gets the
 * "prober" string (NUL-terminated, truncated to @namecap).  Returns the
 * number of parts, or -EPROTONOSUPPORT (schema unknown), -EINVAL (not a
 * summary, missing/mistyped field: @err names it), -ENOSPC (@max too small).
 * Schema 1 lines carry no "sum": it is rebuilt as mean * n.
 */
int pm_enc_json_decode(const char *line, size_t len, struct pm_record *recs,
		       unsigned int max, char *name, size_t namecap,
		       char *err, size_t errcap);

/**
 * Decode a message payload whatever its encoding (@enc: PM_ENC_*, from the
 * "pmesh-encoding" header; 0 when absent: sniffed from the first byte).
 * Calls @cb per summary.  Same returns as pm_enc_bin_decode.
 */
int pm_enc_decode(int enc, const void *buf, size_t len, pm_enc_summary_cb cb,
		  void *arg, char *err, size_t errcap);

/*
 * Path records (topic pmesh.paths): which hops a flow's 5-tuple crossed,
 * as path discovery (Paris-traceroute style, rising TTL on the flow's exact
 * 5-tuple) found them, and the spine when the prober could name it.  One
 * JSON object per message, keyed by the flow; the aggregator maps the flow
 * to its spine with them (docs/records.md has the schema).
 */
#define PM_PATH_SCHEMA		1
#define PM_PATH_MAX_HOPS	32
#define PM_PATH_NAME_MAX	64

struct pm_path {
	uint64_t time_ns;		/* when the path was measured */
	uint32_t src, dst;		/* host order */
	uint16_t sport, dport;
	uint8_t proto;			/* IPPROTO_UDP, _TCP or _ICMP */
	uint8_t nhops;
	uint32_t hops[PM_PATH_MAX_HOPS];	/* TTL 1.., 0: no reply ("*") */
	char prober[PM_PATH_NAME_MAX];
	char spine[PM_PATH_NAME_MAX];	/* "" when not named by the prober */
};

/**
 * The JSON line of @p into @buf[cap] (NUL-terminated, no newline).
 * Returns the length or -ENOSPC.
 */
int pm_enc_path_json(const struct pm_path *p, char *buf, size_t cap);

/**
 * Decode a path record.  0, -EINVAL (malformed; @err says what and where)
 * or -EPROTONOSUPPORT (a schema this build does not know).
 */
int pm_enc_path_decode(const char *buf, size_t len, struct pm_path *p,
		       char *err, size_t errcap);

#endif /* PM_ENC_H */
