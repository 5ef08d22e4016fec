/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of kafka_sink/spool.c: items read back byte for byte and in
 * order, the commit point surviving a reopen (and a crash), bad frames (a
 * flipped byte, a cut tail, garbage between frames) skipped and counted
 * exactly once, the size bound dropping the oldest segment with exact
 * counts, the spool emptying itself after a full commit, rewind, appends
 * during a replay, the directory lock, the CRC32C test vector, and no
 * descriptor leaked.  Each test works in its own directory under a
 * mkdtemp() one, removed at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "pm_spool.h"

#define SEG_HDR		16	/* segment header (spool.c) */
#define FRAME_HDR	20	/* frame header (spool.c) */

static char tmpdir[] = "/tmp/pm_test_spool_XXXXXX";
static char dir[600];

/* Item @i, deterministic: its key and value bytes depend on i only. */
struct titem {
	char key[16];
	uint8_t val[400];
	struct pm_spool_item it;
};

static void
mk_item(struct titem *t, unsigned int i)
{
	uint32_t j, vlen = (i * 37) % 300 + 1;

	snprintf(t->key, sizeof(t->key), "k-%u", i);
	for (j = 0; j < vlen; j++)
		t->val[j] = (uint8_t)(i * 7 + j);
	memset(&t->it, 0, sizeof(t->it));
	t->it.topic = (uint8_t)(i % 3);
	t->it.flags = (uint8_t)(i % 2);
	t->it.key_len = (uint16_t)strlen(t->key);
	t->it.key = t->key;
	t->it.val = t->val;
	t->it.val_len = vlen;
	t->it.nsum = i % 5 + 1;
}

static uint64_t
frame_len(unsigned int i)
{
	struct titem t;

	mk_item(&t, i);
	return FRAME_HDR + t.it.key_len + t.it.val_len;
}

static uint64_t
nsum_of(unsigned int i)
{
	return i % 5 + 1;
}

static void
append_n(struct pm_spool *sp, unsigned int from, unsigned int to)
{
	struct titem t;
	unsigned int i;

	for (i = from; i < to; i++) {
		mk_item(&t, i);
		assert_int_equal(pm_spool_append(sp, &t.it), 0);
	}
}

/* The next item must be item @i, byte for byte. */
static uint64_t
expect_item(struct pm_spool *sp, unsigned int i)
{
	struct pm_spool_item got;
	struct titem t;

	mk_item(&t, i);
	assert_int_equal(pm_spool_next(sp, &got), 1);
	assert_int_equal(got.topic, t.it.topic);
	assert_int_equal(got.flags, t.it.flags);
	assert_int_equal(got.nsum, t.it.nsum);
	assert_int_equal(got.key_len, t.it.key_len);
	assert_memory_equal(got.key, t.key, t.it.key_len);
	assert_int_equal(got.val_len, t.it.val_len);
	assert_memory_equal(got.val, t.val, t.it.val_len);
	return got.pos;
}

static void
expect_end(struct pm_spool *sp)
{
	struct pm_spool_item got;

	assert_int_equal(pm_spool_next(sp, &got), 0);
}

static struct pm_spool *
open_spool(uint64_t max_bytes, uint64_t seg_bytes)
{
	struct pm_spool_cfg cfg = {
		.dir = dir,
		.max_bytes = max_bytes,
		.segment_bytes = seg_bytes,
		.fsync = PM_SPOOL_FSYNC_NEVER,
	};
	struct pm_spool *sp = NULL;
	char err[256] = "";
	int rc;

	rc = pm_spool_open(&sp, &cfg, err, sizeof(err));
	if (rc != 0)
		print_error("pm_spool_open: %s\n", err);
	assert_int_equal(rc, 0);
	assert_non_null(sp);
	return sp;
}

static struct pm_spool_stats
stats(struct pm_spool *sp)
{
	struct pm_spool_stats st;

	pm_spool_get_stats(sp, &st);
	return st;
}

/* Segment files in dir, and the name of the first one. */
static int
count_segs(char *first, size_t cap)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	char best[64] = "";
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len < 4 || strcmp(de->d_name + len - 4, ".pms") != 0)
			continue;
		n++;
		if (best[0] == '\0' || strcmp(de->d_name, best) < 0)
			snprintf(best, sizeof(best), "%s", de->d_name);
	}
	closedir(d);
	if (first != NULL)
		snprintf(first, cap, "%s/%s", dir, best);
	return n;
}

static void
read_file(const char *path, uint8_t **buf, size_t *len)
{
	struct stat sb;
	FILE *f = fopen(path, "rb");

	assert_non_null(f);
	assert_int_equal(fstat(fileno(f), &sb), 0);
	*len = (size_t)sb.st_size;
	*buf = malloc(*len + 1);
	assert_non_null(*buf);
	assert_int_equal(fread(*buf, 1, *len, f), *len);
	fclose(f);
}

static void
write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
}

/* Offset of item @k's frame in a segment holding items 0.. from the start. */
static uint64_t
frame_off(unsigned int k)
{
	uint64_t off = SEG_HDR;
	unsigned int i;

	for (i = 0; i < k; i++)
		off += frame_len(i);
	return off;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
test_setup(void **state)
{
	static unsigned int n;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/t%u/spool", tmpdir, n++);
	return 0;
}

/* Open descriptors: every test must close what the spool opened. */
static int
count_fds(void)
{
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static int fds_before;

static int
group_setup(void **state)
{
	(void)state;
	fds_before = count_fds();
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	return nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* --- tests ------------------------------------------------------------- */

static void
test_crc32c(void **state)
{
	const char *v = "123456789";

	(void)state;
	assert_int_equal(pm_crc32c(0, v, 9), 0xE3069283u);
	assert_int_equal(pm_crc32c(pm_crc32c(0, v, 4), v + 4, 5), 0xE3069283u);
	assert_int_equal(pm_crc32c(0, v, 0), 0);
}

static void
test_roundtrip(void **state)
{
	struct pm_spool *sp;
	struct pm_spool_stats st;
	uint64_t sum = 0, bytes = SEG_HDR, last = 0;
	unsigned int i, n = 200;

	(void)state;
	sp = open_spool(64 << 20, 0);
	assert_true(pm_spool_empty(sp));
	expect_end(sp);
	append_n(sp, 0, n);
	for (i = 0; i < n; i++) {
		uint64_t pos = expect_item(sp, i);

		assert_true(pos > last);
		last = pos;
		sum += nsum_of(i);
		bytes += frame_len(i);
	}
	expect_end(sp);
	st = stats(sp);
	assert_int_equal(st.appended, n);
	assert_int_equal(st.appended_sum, sum);
	assert_int_equal(st.pending, n);
	assert_int_equal(st.pending_sum, sum);
	assert_int_equal(st.bytes, bytes);
	assert_int_equal(st.segments, 1);
	assert_int_equal(st.corrupt, 0);
	assert_int_equal(st.recovered, 0);
	assert_false(pm_spool_empty(sp));
	pm_spool_close(sp);

	/* everything left is found again */
	sp = open_spool(64 << 20, 0);
	st = stats(sp);
	assert_int_equal(st.recovered, n);
	assert_int_equal(st.recovered_sum, sum);
	assert_int_equal(st.pending, n);
	assert_int_equal(st.bytes, bytes);
	for (i = 0; i < n; i++)
		expect_item(sp, i);
	expect_end(sp);
	pm_spool_close(sp);
}

/* Commit partway over several segments, close, reopen: the replay resumes
 * after the commit point, the segments behind it are gone. */
static void
test_commit_reopen(void **state)
{
	struct pm_spool *sp;
	struct pm_spool_stats st;
	uint64_t pos = 0, sum = 0, csum = 0;
	unsigned int i, n = 100, k = 57;

	(void)state;
	sp = open_spool(1 << 20, 4096);
	append_n(sp, 0, n);
	assert_true(stats(sp).segments > 3);
	for (i = 0; i < n; i++) {
		uint64_t p = expect_item(sp, i);

		if (i == k - 1)
			pos = p;
		sum += nsum_of(i);
		if (i < k)
			csum += nsum_of(i);
	}
	assert_int_equal(pm_spool_commit(sp, pos), 0);
	/* committing again, or an older point, changes nothing */
	assert_int_equal(pm_spool_commit(sp, pos), 0);
	assert_int_equal(pm_spool_commit(sp, pos - 1), 0);
	st = stats(sp);
	assert_int_equal(st.committed, k);
	assert_int_equal(st.committed_sum, csum);
	assert_int_equal(st.pending, n - k);
	assert_int_equal(st.pending_sum, sum - csum);
	assert_int_equal((uint64_t)count_segs(NULL, 0), st.segments);
	pm_spool_close(sp);

	sp = open_spool(1 << 20, 4096);
	st = stats(sp);
	assert_int_equal(st.recovered, n - k);
	assert_int_equal(st.recovered_sum, sum - csum);
	assert_int_equal(st.pending, n - k);
	assert_int_equal(st.committed, 0);
	for (i = k; i < n; i++)
		expect_item(sp, i);
	expect_end(sp);
	/* new appends go after the recovered items */
	append_n(sp, n, n + 5);
	for (i = n; i < n + 5; i++)
		expect_item(sp, i);
	expect_end(sp);
	pm_spool_close(sp);

	sp = open_spool(1 << 20, 4096);
	assert_int_equal(stats(sp).recovered, n + 5 - k);
	pm_spool_close(sp);
}

/* A killed process: in a child, read four items, commit, and exit without
 * closing.  The commit file is rewritten by tick (once a second) or close,
 * so without a tick the replay resends everything (never loses), with one
 * it resumes after the commit point. */
static void
crash_after_commit(bool tick)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct pm_spool_cfg cfg = {
			.dir = dir,
			.max_bytes = 1 << 20,
			.fsync = PM_SPOOL_FSYNC_NEVER,
		};
		struct pm_spool_item it;
		struct pm_spool *sp;
		uint64_t pos = 0;
		int i;

		if (pm_spool_open(&sp, &cfg, NULL, 0) != 0)
			_exit(1);
		for (i = 0; i < 4; i++) {
			if (pm_spool_next(sp, &it) != 1)
				_exit(2);
			pos = it.pos;
		}
		if (pm_spool_commit(sp, pos) != 0)
			_exit(3);
		if (tick)
			pm_spool_tick(sp, 5000);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_commit_crash(void **state)
{
	struct pm_spool *sp;

	(void)state;
	sp = open_spool(1 << 20, 0);
	append_n(sp, 0, 10);
	pm_spool_close(sp);

	crash_after_commit(false);
	sp = open_spool(1 << 20, 0);
	assert_int_equal(stats(sp).recovered, 10);
	expect_item(sp, 0);
	pm_spool_close(sp);

	crash_after_commit(true);
	sp = open_spool(1 << 20, 0);
	assert_int_equal(stats(sp).recovered, 6);
	expect_item(sp, 4);
	pm_spool_close(sp);
}

/* A commit file naming a segment that is not there is ignored. */
static void
test_commit_missing_segment(void **state)
{
	char path[700];
	const char *line = "1 0000000000000000 100\n";
	struct pm_spool *sp;

	(void)state;
	sp = open_spool(1 << 20, 0);
	append_n(sp, 0, 10);
	pm_spool_close(sp);
	snprintf(path, sizeof(path), "%s/commit", dir);
	write_file(path, line, strlen(line));
	sp = open_spool(1 << 20, 0);
	assert_int_equal(stats(sp).recovered, 10);
	expect_item(sp, 0);
	pm_spool_close(sp);

	/* nor does garbage in it hurt */
	write_file(path, "junk", 4);
	sp = open_spool(1 << 20, 0);
	assert_int_equal(stats(sp).recovered, 10);
	pm_spool_close(sp);
}

static void
test_corrupt_flip(void **state)
{
	char path[700];
	struct pm_spool *sp;
	struct pm_spool_stats st;
	uint8_t *buf;
	size_t len;
	unsigned int i, n = 20, k = 7;

	(void)state;
	sp = open_spool(1 << 20, 0);
	append_n(sp, 0, n);
	pm_spool_close(sp);
	assert_int_equal(count_segs(path, sizeof(path)), 1);
	read_file(path, &buf, &len);
	buf[frame_off(k) + FRAME_HDR + 3] ^= 0x40;	/* in the value */
	write_file(path, buf, len);
	free(buf);

	sp = open_spool(1 << 20, 0);
	st = stats(sp);
	assert_int_equal(st.recovered, n - 1);
	assert_int_equal(st.recovered_sum,
			 (n / 5) * 15 - nsum_of(k));	/* 1..5 repeating */
	for (i = 0; i < n; i++)
		if (i != k)
			expect_item(sp, i);
	expect_end(sp);
	st = stats(sp);
	assert_int_equal(st.corrupt, 1);
	assert_int_equal(st.corrupt_bytes, frame_len(k));
	/* read again after a rewind: counted once */
	pm_spool_rewind(sp);
	for (i = 0; i < n; i++)
		if (i != k)
			expect_item(sp, i);
	expect_end(sp);
	assert_int_equal(stats(sp).corrupt, 1);
	pm_spool_close(sp);

	/* a bad length field too */
	read_file(path, &buf, &len);
	buf[frame_off(2) + 5] ^= 0x7f;
	write_file(path, buf, len);
	free(buf);
	sp = open_spool(1 << 20, 0);
	assert_int_equal(stats(sp).recovered, n - 2);
	for (i = 0; i < n; i++)
		if (i != k && i != 2)
			expect_item(sp, i);
	expect_end(sp);
	assert_int_equal(stats(sp).corrupt, 2);
	pm_spool_close(sp);
}

static void
test_truncated_tail(void **state)
{
	char path[700];
	struct pm_spool *sp;
	struct pm_spool_stats st;
	unsigned int i, n = 10;

	(void)state;
	sp = open_spool(1 << 20, 0);
	append_n(sp, 0, n);
	pm_spool_close(sp);
	assert_int_equal(count_segs(path, sizeof(path)), 1);
	assert_int_equal(truncate(path, (off_t)(frame_off(n) - 5)), 0);

	sp = open_spool(1 << 20, 0);
	assert_int_equal(stats(sp).recovered, n - 1);
	/* appends go to a new segment, after the torn one */
	append_n(sp, n, n + 3);
	for (i = 0; i < n - 1; i++)
		expect_item(sp, i);
	for (i = n; i < n + 3; i++)
		expect_item(sp, i);
	expect_end(sp);
	st = stats(sp);
	assert_int_equal(st.corrupt, 1);
	assert_int_equal(st.corrupt_bytes, frame_len(n - 1) - 5);
	assert_int_equal(st.pending, n + 2);
	pm_spool_close(sp);

	/* a tail cut inside the frame header */
	assert_int_equal(truncate(path, (off_t)(frame_off(n - 1) + 7)), 0);
	sp = open_spool(1 << 20, 0);
	assert_int_equal(stats(sp).recovered, n + 2);
	for (i = 0; i < n - 1; i++)
		expect_item(sp, i);
	expect_item(sp, n);
	assert_int_equal(stats(sp).corrupt, 1);
	assert_int_equal(stats(sp).corrupt_bytes, 7);
	pm_spool_close(sp);
}

static void
test_garbage_between(void **state)
{
	static const char junk[] = "garbage\x01\x02 between frames, incl. a "
		"partial magic \xa1\x5e";
	char path[700];
	struct pm_spool *sp;
	struct pm_spool_stats st;
	uint8_t *buf, *nb;
	size_t len, at, jl = sizeof(junk) - 1;
	unsigned int i, n = 12;

	(void)state;
	sp = open_spool(1 << 20, 0);
	append_n(sp, 0, n);
	pm_spool_close(sp);
	assert_int_equal(count_segs(path, sizeof(path)), 1);
	read_file(path, &buf, &len);
	at = frame_off(5);
	nb = malloc(len + 2 * jl);
	assert_non_null(nb);
	memcpy(nb, buf, at);
	memcpy(nb + at, junk, jl);
	memcpy(nb + at + jl, buf + at, len - at);
	/* and some at the very end */
	memcpy(nb + len + jl, junk, jl);
	write_file(path, nb, len + 2 * jl);
	free(buf);
	free(nb);

	sp = open_spool(1 << 20, 0);
	assert_int_equal(stats(sp).recovered, n);
	for (i = 0; i < n; i++)
		expect_item(sp, i);
	expect_end(sp);
	st = stats(sp);
	assert_int_equal(st.corrupt, 2);
	assert_int_equal(st.corrupt_bytes, 2 * jl);
	pm_spool_close(sp);
}

/* Every single-byte flip and every cut of a segment: never a crash, and
 * exactly the frame hit is lost, counted as one corrupt frame. */
static void
test_corrupt_everywhere(void **state)
{
	char path[700], cpath[700];
	struct pm_spool *sp;
	struct pm_spool_stats st;
	uint8_t *buf;
	size_t len, at;
	unsigned int i, j, k, n = 8;

	(void)state;
	sp = open_spool(1 << 20, 0);
	append_n(sp, 0, n);
	pm_spool_close(sp);
	assert_int_equal(count_segs(path, sizeof(path)), 1);
	snprintf(cpath, sizeof(cpath), "%s/commit", dir);
	read_file(path, &buf, &len);
	assert_int_equal(len, frame_off(n));

	for (at = 0; at <= len; at++) {
		bool cut = at == len;

		/* the hit frame: n when in the segment header */
		for (k = 0; k < n && frame_off(k + 1) <= at % len; k++)
			;
		if (at < SEG_HDR)
			k = n;
		for (i = 0; i < 2; i++) {
			size_t flen = len;

			unlink(cpath);
			if (i == 0 && !cut) {
				buf[at] ^= 0x21;
				write_file(path, buf, len);
				buf[at] ^= 0x21;
			} else {
				/* cut at @at; the full file once */
				flen = cut ? len : at;
				write_file(path, buf, flen);
			}
			sp = open_spool(1 << 20, 0);
			for (j = 0; j < n; j++) {
				bool lost = (i == 0 && !cut) ? j == k :
					frame_off(j + 1) > flen;

				if (!lost)
					expect_item(sp, j);
			}
			expect_end(sp);
			st = stats(sp);
			if (i == 0 && !cut && k < n) {
				assert_int_equal(st.corrupt, 1);
				assert_int_equal(st.corrupt_bytes,
						 frame_len(k));
			} else if (i == 1 && k < n && at > frame_off(k) &&
				   at < frame_off(n) && !cut) {
				assert_int_equal(st.corrupt, 1);
				assert_int_equal(st.corrupt_bytes,
						 at - frame_off(k));
			} else {
				assert_int_equal(st.corrupt, 0);
			}
			pm_spool_close(sp);
			if (cut)
				break;
		}
	}
	free(buf);
}

/* A small spool: the oldest segments go, counted exactly, and the rest
 * still reads in order. */
static void
test_size_bound(void **state)
{
	struct pm_spool *sp;
	struct pm_spool_stats st;
	struct titem t;
	uint64_t pos = 0, max = 4096, dsum = 0;
	unsigned int i, first, n = 100, nc = 3;

	(void)state;
	sp = open_spool(max, 1024);
	append_n(sp, 0, 8);
	for (i = 0; i < nc; i++)
		pos = expect_item(sp, i);
	assert_int_equal(pm_spool_commit(sp, pos), 0);
	for (i = 8; i < n; i++) {
		mk_item(&t, i);
		assert_int_equal(pm_spool_append(sp, &t.it), 0);
		st = stats(sp);
		assert_true(st.bytes <= max);
		assert_true(st.segments <= 5);
	}
	st = stats(sp);
	assert_true(st.dropped > 0);
	assert_int_equal((uint64_t)count_segs(NULL, 0), st.segments);
	/* the reader was in a dropped segment: it continues at the oldest
	 * one left */
	first = nc + (unsigned int)st.dropped;
	for (i = nc; i < first; i++)
		dsum += nsum_of(i);
	assert_int_equal(st.dropped_sum, dsum);
	assert_int_equal(st.pending, n - first);
	for (i = first; i < n; i++)
		expect_item(sp, i);
	expect_end(sp);

	/* too big even for an empty spool */
	{
		static uint8_t big[8192];

		t.it.val = big;
		t.it.val_len = sizeof(big);
		assert_int_equal(pm_spool_append(sp, &t.it), -EFBIG);
	}
	pm_spool_close(sp);

	sp = open_spool(max, 1024);
	assert_int_equal(stats(sp).recovered, n - first);
	expect_item(sp, first);
	pm_spool_close(sp);
}

/* Everything committed: no segment file left; the spool works on. */
static void
test_empty_after_commit(void **state)
{
	struct pm_spool *sp;
	struct pm_spool_stats st;
	uint64_t pos = 0;
	unsigned int i, n = 60;

	(void)state;
	sp = open_spool(1 << 20, 2048);
	append_n(sp, 0, n);
	assert_true(stats(sp).segments > 2);
	for (i = 0; i < n; i++)
		pos = expect_item(sp, i);
	expect_end(sp);
	assert_int_equal(pm_spool_commit(sp, pos), 0);
	assert_true(pm_spool_empty(sp));
	st = stats(sp);
	assert_int_equal(st.segments, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.committed, n);
	assert_int_equal(count_segs(NULL, 0), 0);
	expect_end(sp);

	/* appending again, and a reopen finds just that */
	append_n(sp, n, n + 2);
	assert_false(pm_spool_empty(sp));
	expect_item(sp, n);
	pm_spool_close(sp);
	sp = open_spool(1 << 20, 2048);
	assert_int_equal(stats(sp).recovered, 2);
	expect_item(sp, n);
	pos = expect_item(sp, n + 1);
	assert_int_equal(pm_spool_commit(sp, pos), 0);
	assert_int_equal(count_segs(NULL, 0), 0);
	pm_spool_close(sp);

	sp = open_spool(1 << 20, 2048);
	assert_int_equal(stats(sp).recovered, 0);
	assert_true(pm_spool_empty(sp));
	expect_end(sp);
	pm_spool_close(sp);
}

/* A replay fails: rewind re-reads from the commit point; a late
 * acknowledgement past the reader moves it on. */
static void
test_rewind(void **state)
{
	struct pm_spool *sp;
	uint64_t pos[20];
	unsigned int i;

	(void)state;
	sp = open_spool(1 << 20, 1024);
	append_n(sp, 0, 20);
	for (i = 0; i < 10; i++)
		pos[i] = expect_item(sp, i);
	assert_int_equal(pm_spool_commit(sp, pos[4]), 0);
	pm_spool_rewind(sp);
	for (i = 5; i < 12; i++)
		pos[i] = expect_item(sp, i);
	pm_spool_rewind(sp);
	expect_item(sp, 5);
	assert_int_equal(pm_spool_commit(sp, pos[9]), 0);
	expect_item(sp, 10);
	assert_int_equal(stats(sp).committed, 10);
	assert_int_equal(stats(sp).pending, 10);
	/* a position that was never handed out */
	assert_int_equal(pm_spool_commit(sp, (uint64_t)0xffff << 32), -EINVAL);
	pm_spool_close(sp);
}

/* The sink keeps spooling while it replays. */
static void
test_append_while_reading(void **state)
{
	struct pm_spool *sp;
	unsigned int i, next = 0, n = 0, round;
	uint64_t pos = 0;

	(void)state;
	sp = open_spool(1 << 20, 1500);
	for (round = 0; round < 30; round++) {
		append_n(sp, n, n + 3);
		n += 3;
		for (i = 0; i < 2; i++)
			pos = expect_item(sp, next++);
		if (round % 4 == 0)
			assert_int_equal(pm_spool_commit(sp, pos), 0);
	}
	while (next < n)
		pos = expect_item(sp, next++);
	expect_end(sp);
	append_n(sp, n, n + 1);
	pos = expect_item(sp, n);
	expect_end(sp);
	assert_int_equal(pm_spool_commit(sp, pos), 0);
	assert_true(pm_spool_empty(sp));
	assert_int_equal(count_segs(NULL, 0), 0);
	assert_int_equal(stats(sp).committed, n + 1);
	pm_spool_close(sp);
}

static void
test_lock(void **state)
{
	struct pm_spool_cfg cfg = {
		.dir = dir,
		.max_bytes = 1 << 20,
		.fsync = PM_SPOOL_FSYNC_NEVER,
	};
	struct pm_spool *a, *b = NULL;
	char err[512] = "", want[64];

	(void)state;
	a = open_spool(1 << 20, 0);
	assert_int_equal(pm_spool_open(&b, &cfg, err, sizeof(err)), -EBUSY);
	assert_null(b);
	assert_non_null(strstr(err, "is in use by another process"));
	assert_non_null(strstr(err, dir));
	snprintf(want, sizeof(want), "(pid %ld)", (long)getpid());
	assert_non_null(strstr(err, want));
	pm_spool_close(a);
	assert_int_equal(pm_spool_open(&b, &cfg, err, sizeof(err)), 0);
	pm_spool_close(b);
}

/* The fsync policies and bad configurations. */
static void
test_fsync_and_cfg(void **state)
{
	struct pm_spool_cfg cfg = {
		.dir = dir,
		.max_bytes = 1 << 20,
		.fsync = PM_SPOOL_FSYNC_ALWAYS,
	};
	struct pm_spool *sp = NULL;
	char err[256] = "", path[700];
	unsigned int i;

	(void)state;
	assert_int_equal(pm_spool_open(&sp, &cfg, err, sizeof(err)), 0);
	append_n(sp, 0, 5);
	pm_spool_close(sp);
	cfg.fsync = PM_SPOOL_FSYNC_INTERVAL;
	cfg.fsync_ms = 100;
	assert_int_equal(pm_spool_open(&sp, &cfg, err, sizeof(err)), 0);
	append_n(sp, 5, 10);
	pm_spool_tick(sp, 1000);
	append_n(sp, 10, 12);
	pm_spool_tick(sp, 1001);
	for (i = 0; i < 12; i++)
		expect_item(sp, i);
	pm_spool_close(sp);

	cfg.max_bytes = 10;
	assert_int_equal(pm_spool_open(&sp, &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "max_bytes"));
	cfg.max_bytes = 1 << 20;
	cfg.fsync = 7;
	assert_int_equal(pm_spool_open(&sp, &cfg, err, sizeof(err)), -EINVAL);
	/* a file where the directory should be */
	snprintf(path, sizeof(path), "%s/lock/x", dir);
	cfg.dir = path;
	cfg.fsync = PM_SPOOL_FSYNC_NEVER;
	assert_true(pm_spool_open(&sp, &cfg, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, path));
}

/* Last: every spool closed above released its descriptors. */
static void
test_no_fd_leak(void **state)
{
	(void)state;
	assert_true(fds_before > 0);
	assert_int_equal(count_fds(), fds_before);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test_setup(test_roundtrip, test_setup),
		cmocka_unit_test_setup(test_commit_reopen, test_setup),
		cmocka_unit_test_setup(test_commit_crash, test_setup),
		cmocka_unit_test_setup(test_commit_missing_segment, test_setup),
		cmocka_unit_test_setup(test_corrupt_flip, test_setup),
		cmocka_unit_test_setup(test_truncated_tail, test_setup),
		cmocka_unit_test_setup(test_garbage_between, test_setup),
		cmocka_unit_test_setup(test_corrupt_everywhere, test_setup),
		cmocka_unit_test_setup(test_size_bound, test_setup),
		cmocka_unit_test_setup(test_empty_after_commit, test_setup),
		cmocka_unit_test_setup(test_rewind, test_setup),
		cmocka_unit_test_setup(test_append_while_reading, test_setup),
		cmocka_unit_test_setup(test_lock, test_setup),
		cmocka_unit_test_setup(test_fsync_and_cfg, test_setup),
		cmocka_unit_test(test_no_fd_leak),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
