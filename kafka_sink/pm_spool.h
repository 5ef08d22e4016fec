/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_spool: the Kafka sink's on-disk spool, for when the brokers are away.
 *
 * An append-only log of Kafka messages (topic index, key, payload, and how
 * many summaries the payload carries) in segment files of a directory:
 * "<16 hex digits>.pms", each a 16-byte header then records, each record
 * framed by a magic, its length and a CRC32C of everything after the CRC.
 * The sink appends when a message cannot go to Kafka, reads back in order
 * when the brokers return, and commits what the brokers acknowledged;
 * fully committed segments are deleted, and the commit point is kept in
 * "commit" (rewritten atomically) so a restart does not resend much.
 *
 * Crash safety: a spool left by a killed prober is found and replayed at the
 * next start.  A record that fails its CRC, or a truncated tail, is skipped
 * and counted (scan forward to the next valid frame) -- replay never
 * crashes on a bad file.  Bounded: when the spool would exceed max_bytes
 * the oldest segment is deleted and its records counted as dropped (the
 * caller raises an event).  Durability against power loss follows the
 * fsync policy (never / interval / always); against a killed process,
 * write(2) already suffices.
 *
 * Pure C (no DPDK, no librdkafka): unit-tested on its own.  Single-threaded:
 * the export thread owns it.
 */
#ifndef PM_SPOOL_H
#define PM_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pm_spool_fsync {
	PM_SPOOL_FSYNC_NEVER = 0,	/* page cache only: survives kill -9 */
	PM_SPOOL_FSYNC_INTERVAL,	/* fsync at most every fsync_ms */
	PM_SPOOL_FSYNC_ALWAYS,		/* fsync after every append */
};

struct pm_spool_cfg {
	const char *dir;		/* created (mkdir -p) when missing */
	uint64_t max_bytes;		/* bound on all segments together */
	uint64_t segment_bytes;		/* roll over past this; capped to max/4 */
	int fsync;			/* enum pm_spool_fsync */
	uint32_t fsync_ms;		/* PM_SPOOL_FSYNC_INTERVAL period */
};

/* One spooled message.  From pm_spool_next(), key and val point into the
 * spool's read buffer, valid until the next call. */
struct pm_spool_item {
	uint8_t topic;			/* caller's topic index */
	uint8_t flags;			/* caller's flags (e.g. encoding) */
	uint16_t key_len;
	uint32_t nsum;			/* summaries carried (for counting) */
	const void *key;
	const void *val;
	uint32_t val_len;
	uint64_t pos;			/* opaque: position after this item */
};

struct pm_spool_stats {
	uint64_t appended;		/* items appended since open */
	uint64_t appended_sum;		/* ... their summaries */
	uint64_t committed;		/* items committed since open */
	uint64_t committed_sum;
	uint64_t dropped;		/* items deleted by the size bound */
	uint64_t dropped_sum;
	uint64_t corrupt;		/* bad frames skipped (read or scan) */
	uint64_t corrupt_bytes;		/* bytes skipped with them */
	uint64_t pending;		/* items not yet committed (gauge) */
	uint64_t pending_sum;
	uint64_t bytes;			/* bytes on disk (gauge) */
	uint32_t segments;		/* segment files (gauge) */
	uint64_t recovered;		/* items found at open (crash/restart) */
	uint64_t recovered_sum;
};

struct pm_spool;

/**
 * Open (or create) the spool in cfg->dir and index what a previous run left
 * (counted in stats.recovered*).  Returns 0 or -errno with @err saying what
 * failed on which path.
 */
int pm_spool_open(struct pm_spool **sp, const struct pm_spool_cfg *cfg,
		  char *err, size_t errcap);
/**
 * Append @it (pos ignored).  May delete oldest segments to stay within
 * max_bytes (see stats.dropped).  Returns 0 or -errno (disk full, I/O): the
 * item is then not spooled and the caller counts it lost.
 */
int pm_spool_append(struct pm_spool *sp, const struct pm_spool_item *it);
/**
 * Next uncommitted item after the read cursor.  Returns 1 with @it filled,
 * 0 when the cursor is at the end, or -errno on I/O error.  Bad frames are
 * skipped and counted, never returned.
 */
int pm_spool_next(struct pm_spool *sp, struct pm_spool_item *it);
/** Move the read cursor back to the commit point (a replay failed). */
void pm_spool_rewind(struct pm_spool *sp);
/**
 * Everything up to and including the item whose pos is @pos is delivered.
 * Deletes segments wholly behind it; when nothing is left uncommitted the
 * spool becomes empty (all segment files removed).  Positions in segments
 * already dropped by the bound are ignored.  Returns 0 or -errno.
 */
int pm_spool_commit(struct pm_spool *sp, uint64_t pos);
/** True when nothing uncommitted is left. */
bool pm_spool_empty(const struct pm_spool *sp);
/** Apply the interval fsync policy; call from the owner's loop. */
void pm_spool_tick(struct pm_spool *sp, uint64_t now_ms);
void pm_spool_get_stats(const struct pm_spool *sp, struct pm_spool_stats *st);
/** Sync (unless fsync = never), persist the commit point, close. */
void pm_spool_close(struct pm_spool *sp);

/** CRC32C (Castagnoli), as used by the spool frames. */
uint32_t pm_crc32c(uint32_t crc, const void *buf, size_t len);

#endif /* PM_SPOOL_H */
