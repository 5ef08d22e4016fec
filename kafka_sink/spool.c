/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The Kafka sink's on-disk spool (pm_spool.h): an append-only log of
 * messages in segment files, read back in order when the brokers return,
 * trimmed as the brokers acknowledge.
 *
 * On disk, in the spool directory:
 *   <16 hex>.pms  segments.  The name is the segment number (they only grow,
 *                 even across restarts, so a stale commit point can never
 *                 name a newer segment).  A 16-byte header -- "pmspool\0",
 *                 u32 version (1), u32 CRC32C of the first 12 bytes -- then
 *                 frames, back to back:
 *                   u32 magic   SPOOL_MAGIC (0xB7E15EA1)
 *                   u32 len     bytes after the crc field (8 + key + value)
 *                   u32 crc     CRC32C of those len bytes
 *                   u8 topic, u8 flags, u16 key_len, u32 nsum
 *                   key_len bytes of key, then the value
 *                 all little-endian.  A frame is at most 16 MiB
 *                 (SPOOL_FRAME_MAX); a larger length is corruption, as is
 *                 anything that fails the magic, bounds or CRC.  The
 *                 header is written but never trusted: frames validate
 *                 themselves.
 *   commit        "1 <segment 16 hex> <offset>\n", written to commit.tmp and
 *                 renamed over: everything before that point was delivered.
 *                 A commit file naming a missing segment is ignored (every
 *                 remaining segment is newer, hence undelivered).
 *   lock          flock()ed for as long as a process has the spool open,
 *                 holding its pid, so a second prober on the same directory
 *                 fails at open instead of interleaving appends.
 *
 * Positions (pm_spool_item.pos, the commit point) are (segment << 32) |
 * offset just after the item, so segments stay below 4 GiB and segment
 * numbers below 2^32.
 *
 * Open indexes every segment by reading it through (items and summaries per
 * segment, with the same frame parser that replay uses), so pending, dropped
 * and the committed counts stay exact without keeping a per-item index.
 * Segments behind the commit point are deleted there; a spool with no valid
 * item left is emptied at once (its bad frames counted as corrupt, as the
 * reader would have).  Leftover *.tmp files are removed.
 *
 * Appends go to a fresh segment created at the first append after open: a
 * segment left by a crash is never appended to, so a torn frame at its end
 * stays a tail that replay skips (one corrupt frame).  Each append is one
 * writev() on an O_APPEND descriptor; a short write or error truncates the
 * segment back so it stays well formed, and the item is reported lost.
 *
 * Reading (pm_spool_next) goes through a buffer grown up to one frame.  At
 * a bad frame it scans forward byte by byte for a magic whose frame checks
 * out; the bytes skipped count as one corrupt frame (each counted once: a
 * re-read after pm_spool_rewind does not count again).  The reader stops at
 * the end of what was appended and sees later appends, so the sink may keep
 * spooling while it replays.
 *
 * The commit point has its own cursor, which walks the frames from the old
 * commit point to the new one counting what it passes.  Segments wholly
 * behind it are deleted (the commit file is rewritten first, so a crash
 * between the two only leaves an older segment that the next open
 * recognises as committed); when no uncommitted item is left, every segment
 * goes and the spool is empty.  Otherwise the commit file is rewritten at
 * most once a second from pm_spool_tick() and at close: after a crash a
 * second's worth of deliveries may be sent again (at least once, never
 * lost).
 *
 * The size bound: before an append that would take the spool past
 * max_bytes, the oldest segments are deleted (never the one being appended
 * to) and their uncommitted items counted as dropped.  An item that cannot
 * fit even in an empty spool gets -EFBIG, one above the frame limit
 * -EMSGSIZE; max_bytes below 256 is refused at open.  segment_bytes (0:
 * the cap) is capped to max_bytes / 4, so that dropping frees at most about
 * a quarter of the spool at once, and below 4 GiB.
 *
 * fsync: ALWAYS fdatasync()s each append (and the directory at each new
 * segment); INTERVAL fdatasync()s from pm_spool_tick() once fsync_ms have
 * passed since the last one (and when a segment is closed); NEVER leaves it
 * to the kernel.  The commit file is fsync()ed unless NEVER.
 *
 * Errors: an I/O error reading returns -errno from pm_spool_next() (a
 * segment shorter than indexed, i.e. cut by someone else, gives -EIO).
 * Failing to delete a segment or to rewrite the commit file is not an error
 * of the operation that caused it: the segment is forgotten (the next open
 * finds it behind the commit point) and the commit file is retried at the
 * next tick.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "pm_spool.h"

#define SPOOL_MAGIC		0xB7E15EA1u	/* not ASCII: rare in JSON */
#define SPOOL_HDR		16u		/* segment header */
#define SPOOL_FHDR		20u		/* frame header */
#define SPOOL_FRAME_MAX		(16u << 20)	/* larger lengths are corrupt */
#define SPOOL_BUF_MIN		(64u << 10)	/* read buffer to start with */
#define SPOOL_SEG_MAX		(UINT32_MAX - SPOOL_FRAME_MAX)
#define SPOOL_MAX_BYTES_MIN	256u
#define SPOOL_COMMIT_MS		1000u		/* commit file rewrite period */
#define SPOOL_NAME_LEN		21		/* "%016x.pms" */

_Static_assert(SPOOL_FHDR == 12 + 8, "frame header layout");

struct spool_seg {
	uint64_t num;			/* segment number (file name) */
	uint64_t size;			/* bytes, header included */
	uint64_t items;			/* valid frames */
	uint64_t sums;			/* their nsum */
};

/* A reading position with its own descriptor and buffer: the reader and
 * the commit point each have one, so the read-ahead of one does not
 * disturb the other. */
struct spool_cur {
	uint64_t seg;			/* segment number */
	uint64_t off;			/* next frame (or bad bytes) here */
	int fd;				/* segment fdseg, read-only; or -1 */
	uint64_t fdseg;
	uint8_t *buf;
	size_t cap;
	uint64_t boff;			/* file offset of buf[0] */
	size_t blen;			/* valid bytes in buf */
};

struct pm_spool {
	char *dir;
	int dirfd;
	int lockfd;
	int afd;			/* last segment, open for appends */
	int fsync;
	uint32_t fsync_ms;
	uint64_t max_bytes;
	uint64_t seg_bytes;

	struct spool_seg *segs;		/* sorted by number, oldest first */
	uint32_t nsegs;
	uint32_t segcap;
	uint64_t next_num;		/* number of the next segment */
	uint64_t bytes;

	struct spool_cur rd;		/* read cursor */
	uint64_t rd_hw;			/* furthest position read (corrupt
					 * frames before it were counted) */
	struct spool_cur cm;		/* commit point */
	uint64_t cm_items;		/* committed within segment cm.seg */
	uint64_t cm_sums;
	bool cm_dirty;			/* commit file behind cm */
	uint64_t cm_ms;			/* last commit file rewrite (tick) */

	bool dirty;			/* appended since the last fdatasync */
	uint64_t sync_ms;

	struct pm_spool_stats st;
};

static const uint32_t crc32c_tab[256] = {
	0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4,
	0xc79a971f, 0x35f1141c, 0x26a1e7e8, 0xd4ca64eb,
	0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b,
	0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24,
	0x105ec76f, 0xe235446c, 0xf165b798, 0x030e349b,
	0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
	0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54,
	0x5d1d08bf, 0xaf768bbc, 0xbc267848, 0x4e4dfb4b,
	0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a,
	0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35,
	0xaa64d611, 0x580f5512, 0x4b5fa6e6, 0xb93425e5,
	0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
	0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45,
	0xf779deae, 0x05125dad, 0x1642ae59, 0xe4292d5a,
	0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a,
	0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595,
	0x417b1dbc, 0xb3109ebf, 0xa0406d4b, 0x522bee48,
	0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
	0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687,
	0x0c38d26c, 0xfe53516f, 0xed03a29b, 0x1f682198,
	0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
	0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38,
	0xdbfc821c, 0x2997011f, 0x3ac7f2eb, 0xc8ac71e8,
	0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
	0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096,
	0xa65c047d, 0x5437877e, 0x4767748a, 0xb50cf789,
	0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859,
	0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46,
	0x7198540d, 0x83f3d70e, 0x90a324fa, 0x62c8a7f9,
	0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
	0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36,
	0x3cdb9bdd, 0xceb018de, 0xdde0eb2a, 0x2f8b6829,
	0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c,
	0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93,
	0x082f63b7, 0xfa44e0b4, 0xe9141340, 0x1b7f9043,
	0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
	0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3,
	0x55326b08, 0xa759e80b, 0xb4091bff, 0x466298fc,
	0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c,
	0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033,
	0xa24bb5a6, 0x502036a5, 0x4370c551, 0xb11b4652,
	0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
	0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d,
	0xef087a76, 0x1d63f975, 0x0e330a81, 0xfc588982,
	0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d,
	0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622,
	0x38cc2a06, 0xcaa7a905, 0xd9f75af1, 0x2b9cd9f2,
	0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
	0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530,
	0x0417b1db, 0xf67c32d8, 0xe52cc12c, 0x1747422f,
	0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff,
	0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0,
	0xd3d3e1ab, 0x21b862a8, 0x32e8915c, 0xc083125f,
	0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
	0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90,
	0x9e902e7b, 0x6cfbad78, 0x7fab5e8c, 0x8dc0dd8f,
	0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee,
	0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1,
	0x69e9f0d5, 0x9b8273d6, 0x88d28022, 0x7ab90321,
	0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
	0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81,
	0x34f4f86a, 0xc69f7b69, 0xd5cf889d, 0x27a40b9e,
	0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
	0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

uint32_t
pm_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	crc = ~crc;
	while (len-- > 0)
		crc = crc32c_tab[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static inline void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static inline uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)get16(p) | (uint32_t)get16(p + 2) << 16;
}

static inline uint64_t
mkpos(uint64_t seg, uint64_t off)
{
	return seg << 32 | off;
}

static void
seg_name(char *name, uint64_t num)
{
	snprintf(name, SPOOL_NAME_LEN, "%016" PRIx64 ".pms", num);
}

static void
set_err(char *err, size_t errcap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errcap, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errcap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errcap, fmt, ap);
	va_end(ap);
}

/* Index of segment @num, or of the first newer one (nsegs when none). */
static uint32_t
seg_lower(const struct pm_spool *sp, uint64_t num)
{
	uint32_t lo = 0, hi = sp->nsegs;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (sp->segs[mid].num < num)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct spool_seg *
seg_find(struct pm_spool *sp, uint64_t num)
{
	uint32_t i = seg_lower(sp, num);

	return i < sp->nsegs && sp->segs[i].num == num ? &sp->segs[i] : NULL;
}

static bool
seg_is_last(const struct pm_spool *sp, const struct spool_seg *s)
{
	return s == &sp->segs[sp->nsegs - 1];
}

/* --- cursors ----------------------------------------------------------- */

static void
cur_init(struct spool_cur *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Forget the open segment and buffered bytes (the segment changes or
 * goes away). */
static void
cur_drop_fd(struct spool_cur *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->blen = 0;
}

static void
cur_move(struct spool_cur *c, uint64_t seg, uint64_t off)
{
	if (c->fd >= 0 && c->fdseg != seg)
		cur_drop_fd(c);
	else if (c->seg != seg)
		c->blen = 0;
	c->seg = seg;
	c->off = off;
}

static void
cur_fini(struct spool_cur *c)
{
	cur_drop_fd(c);
	free(c->buf);
	c->buf = NULL;
	c->cap = 0;
}

/* Have bytes [off, off + n) of the cursor's segment in its buffer; the
 * caller knows the segment holds at least @end >= off + n bytes, and the
 * buffer is filled up to @end when room allows (read-ahead). */
static int
cur_fill(struct pm_spool *sp, struct spool_cur *c, uint64_t off, size_t n,
	 uint64_t end)
{
	size_t want, got = 0;

	if (c->blen > 0 && off >= c->boff && off + n <= c->boff + c->blen)
		return 0;
	if (n > c->cap || c->buf == NULL) {
		size_t cap = c->cap > 0 ? c->cap : SPOOL_BUF_MIN;
		uint8_t *b;

		while (cap < n)
			cap *= 2;
		b = realloc(c->buf, cap);
		if (b == NULL)
			return -ENOMEM;
		c->buf = b;
		c->cap = cap;
	}
	if (c->fd < 0) {
		char name[SPOOL_NAME_LEN];

		seg_name(name, c->seg);
		c->fd = openat(sp->dirfd, name, O_RDONLY | O_CLOEXEC);
		if (c->fd < 0)
			return -errno;
		c->fdseg = c->seg;
	}
	want = end - off < c->cap ? (size_t)(end - off) : c->cap;
	while (got < want) {
		ssize_t r = pread(c->fd, c->buf + got, want - got,
				  (off_t)(off + got));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			c->blen = 0;
			return -errno;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	c->boff = off;
	c->blen = got;
	return got < n ? -EIO : 0;
}

static inline const uint8_t *
cur_ptr(const struct spool_cur *c, uint64_t off)
{
	return c->buf + (off - c->boff);
}

/* Is there a valid frame at @off (ending by @end)?  1 with @it and @flen
 * set, 0 if not, -errno on a read error. */
static int
frame_check(struct pm_spool *sp, struct spool_cur *c, uint64_t off,
	    uint64_t end, struct pm_spool_item *it, uint32_t *flen)
{
	const uint8_t *p;
	uint32_t len, klen;
	int rc;

	if (off > end || end - off < SPOOL_FHDR)
		return 0;
	rc = cur_fill(sp, c, off, SPOOL_FHDR, end);
	if (rc < 0)
		return rc;
	p = cur_ptr(c, off);
	if (get32(p) != SPOOL_MAGIC)
		return 0;
	len = get32(p + 4);
	if (len < SPOOL_FHDR - 12 || len > SPOOL_FRAME_MAX - 12 ||
	    len > end - off - 12)
		return 0;
	rc = cur_fill(sp, c, off, 12 + len, end);
	if (rc < 0)
		return rc;
	p = cur_ptr(c, off);
	if (pm_crc32c(0, p + 12, len) != get32(p + 8))
		return 0;
	klen = get16(p + 14);
	if (klen > len - 8)
		return 0;
	it->topic = p[12];
	it->flags = p[13];
	it->key_len = (uint16_t)klen;
	it->nsum = get32(p + 16);
	it->key = p + SPOOL_FHDR;
	it->val = p + SPOOL_FHDR + klen;
	it->val_len = len - 8 - klen;
	*flen = 12 + len;
	return 1;
}

/* The first offset in [from, end - SPOOL_FHDR] holding the magic, or @end
 * when there is none. */
static int
find_magic(struct pm_spool *sp, struct spool_cur *c, uint64_t from,
	   uint64_t end, uint64_t *at)
{
	uint8_t m[4];

	put32(m, SPOOL_MAGIC);
	while (from <= end && end - from >= SPOOL_FHDR) {
		uint64_t last = end - SPOOL_FHDR;	/* last candidate */
		size_t n;
		const uint8_t *p, *q;
		int rc;

		n = end - from < SPOOL_BUF_MIN ? (size_t)(end - from) :
			SPOOL_BUF_MIN;
		rc = cur_fill(sp, c, from, n, end);
		if (rc < 0)
			return rc;
		p = cur_ptr(c, from);
		q = memmem(p, n, m, sizeof(m));
		if (q != NULL) {
			uint64_t o = from + (uint64_t)(q - p);

			*at = o <= last ? o : end;
			return 0;
		}
		if (from + n >= end)
			break;
		from += n - (sizeof(m) - 1);	/* a magic across chunks */
	}
	*at = end;
	return 0;
}

/* The next valid frame of the cursor's segment before @end: 1 with @it
 * filled and the cursor after it, or 0 with the cursor at @end; either
 * way *skipped says how many bad bytes were passed on the way. */
static int
cur_frame(struct pm_spool *sp, struct spool_cur *c, uint64_t end,
	  struct pm_spool_item *it, uint64_t *skipped)
{
	uint64_t start = c->off, p = c->off;
	uint32_t flen;
	int rc;

	for (;;) {
		if (p >= end) {
			*skipped = p > start ? end - start : 0;
			c->off = end > start ? end : start;
			return 0;
		}
		rc = frame_check(sp, c, p, end, it, &flen);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			*skipped = p - start;
			c->off = p + flen;
			return 1;
		}
		rc = find_magic(sp, c, p + 1, end, &p);
		if (rc < 0)
			return rc;
	}
}

/* --- files ------------------------------------------------------------- */

/* Write the commit point to "commit" (atomically).  The position saved is
 * @seg/@off, which may differ from cm (see spool_reset). */
static int
commit_write(struct pm_spool *sp, uint64_t seg, uint64_t off)
{
	char line[64];
	int fd, n, rc = 0;

	n = snprintf(line, sizeof(line), "1 %016" PRIx64 " %" PRIu64 "\n",
		     seg, off);
	fd = openat(sp->dirfd, "commit.tmp",
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, line, (size_t)n) != n)
		rc = errno != 0 ? -errno : -EIO;
	else if (sp->fsync != PM_SPOOL_FSYNC_NEVER && fsync(fd) != 0)
		rc = -errno;
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && renameat(sp->dirfd, "commit.tmp", sp->dirfd,
				"commit") != 0)
		rc = -errno;
	if (rc != 0)
		unlinkat(sp->dirfd, "commit.tmp", 0);
	return rc;
}

static void
commit_persist(struct pm_spool *sp)
{
	sp->cm_dirty = commit_write(sp, sp->cm.seg, sp->cm.off) != 0;
}

/* Delete the oldest segment: fully committed (@dropped false) or pushed
 * out by the size bound, its uncommitted items then counted as dropped.
 * The commit point (on it, as it is the oldest) moves to the next one and
 * is saved before the file goes, so a crash in between leaves a segment
 * that the next open knows is behind the commit point. */
static void
seg_retire(struct pm_spool *sp, bool dropped)
{
	struct spool_seg *s = &sp->segs[0];
	char name[SPOOL_NAME_LEN];
	uint64_t nseg;

	if (dropped) {
		uint64_t items = s->items - sp->cm_items;
		uint64_t sums = s->sums - sp->cm_sums;

		sp->st.dropped += items;
		sp->st.dropped_sum += sums;
		sp->st.pending -= items;
		sp->st.pending_sum -= sums;
	}
	if (sp->nsegs == 1 && sp->afd >= 0) {
		close(sp->afd);
		sp->afd = -1;
	}
	nseg = sp->nsegs > 1 ? sp->segs[1].num : sp->next_num;
	cur_move(&sp->cm, nseg, SPOOL_HDR);
	cur_drop_fd(&sp->cm);
	sp->cm_items = 0;
	sp->cm_sums = 0;
	if (sp->rd.seg <= s->num) {
		cur_move(&sp->rd, nseg, SPOOL_HDR);
		cur_drop_fd(&sp->rd);
	}
	commit_persist(sp);
	seg_name(name, s->num);
	unlinkat(sp->dirfd, name, 0);
	sp->bytes -= s->size;
	sp->nsegs--;
	memmove(&sp->segs[0], &sp->segs[1], sp->nsegs * sizeof(sp->segs[0]));
}

/* Nothing uncommitted is left: delete every segment.  The commit file
 * first names the end of the newest one, so that a crash half-way leaves
 * segments that are all behind it (deleted at the next open). */
static void
spool_reset(struct pm_spool *sp)
{
	struct spool_seg *last = &sp->segs[sp->nsegs - 1];
	uint32_t i;

	sp->cm_dirty = commit_write(sp, last->num, last->size) != 0;
	if (sp->afd >= 0) {
		close(sp->afd);
		sp->afd = -1;
	}
	cur_drop_fd(&sp->rd);
	cur_drop_fd(&sp->cm);
	for (i = 0; i < sp->nsegs; i++) {
		char name[SPOOL_NAME_LEN];

		seg_name(name, sp->segs[i].num);
		unlinkat(sp->dirfd, name, 0);
	}
	sp->nsegs = 0;
	sp->bytes = 0;
	sp->dirty = false;
	cur_move(&sp->cm, sp->next_num, SPOOL_HDR);
	cur_move(&sp->rd, sp->next_num, SPOOL_HDR);
	sp->rd_hw = mkpos(sp->next_num, SPOOL_HDR);
	sp->cm_items = 0;
	sp->cm_sums = 0;
	/* If the commit file could not be written, saving cm later is as
	 * good: it names a segment not yet created. */
}

/* Create the next segment and make it the one appended to. */
static int
seg_create(struct pm_spool *sp)
{
	char name[SPOOL_NAME_LEN];
	uint8_t hdr[SPOOL_HDR];
	struct spool_seg *s;
	int fd;

	if (sp->next_num > UINT32_MAX)
		return -EOVERFLOW;
	if (sp->nsegs == sp->segcap) {
		uint32_t cap = sp->segcap > 0 ? sp->segcap * 2 : 16;
		struct spool_seg *ns = realloc(sp->segs, cap * sizeof(*ns));

		if (ns == NULL)
			return -ENOMEM;
		sp->segs = ns;
		sp->segcap = cap;
	}
	if (sp->afd >= 0) {
		if (sp->fsync == PM_SPOOL_FSYNC_INTERVAL && sp->dirty)
			fdatasync(sp->afd);
		close(sp->afd);
		sp->afd = -1;
		sp->dirty = false;
	}
	seg_name(name, sp->next_num);
	fd = openat(sp->dirfd, name,
		    O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	memcpy(hdr, "pmspool", 8);
	put32(hdr + 8, 1);
	put32(hdr + 12, pm_crc32c(0, hdr, 12));
	if (write(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr) ||
	    (sp->fsync == PM_SPOOL_FSYNC_ALWAYS &&
	     (fdatasync(fd) != 0 || fsync(sp->dirfd) != 0))) {
		int rc = errno != 0 ? -errno : -ENOSPC;

		close(fd);
		unlinkat(sp->dirfd, name, 0);
		return rc;
	}
	s = &sp->segs[sp->nsegs++];
	s->num = sp->next_num++;
	s->size = SPOOL_HDR;
	s->items = 0;
	s->sums = 0;
	sp->afd = fd;
	sp->bytes += SPOOL_HDR;
	return 0;
}

/* --- commit point ------------------------------------------------------ */

/* Move the commit point up to @tseg/@toff (never past an item ending
 * beyond it), counting the items passed, deleting segments left behind,
 * and emptying the spool when nothing uncommitted is left.  @count: add
 * to stats.committed (not when replaying the commit file at open). */
static int
cm_advance(struct pm_spool *sp, uint64_t tseg, uint64_t toff, bool count)
{
	struct pm_spool_item it;
	int rc = 0;

	while (sp->nsegs > 0) {
		struct spool_seg *s = &sp->segs[0];	/* cm is on the oldest */
		uint64_t start = sp->cm.off, skipped;

		if (sp->cm.off >= s->size) {
			if (seg_is_last(sp, s))
				break;
			seg_retire(sp, false);
			continue;
		}
		if (s->num > tseg || (s->num == tseg && start >= toff))
			break;
		rc = cur_frame(sp, &sp->cm, s->size, &it, &skipped);
		if (rc < 0)
			break;
		if (s->num == tseg && sp->cm.off > toff) {
			/* @toff is not an item boundary: stop before */
			sp->cm.off = start;
			rc = 0;
			break;
		}
		if (rc == 1) {
			sp->cm_items++;
			sp->cm_sums += it.nsum;
			sp->st.pending--;
			sp->st.pending_sum -= it.nsum;
			if (count) {
				sp->st.committed++;
				sp->st.committed_sum += it.nsum;
			}
		}
		sp->cm_dirty = true;
	}
	if (rc < 0)
		return rc;
	if (sp->nsegs > 0 && sp->st.pending == 0) {
		spool_reset(sp);
		return 0;
	}
	/* a late acknowledgement after a rewind: do not resend */
	if (mkpos(sp->rd.seg, sp->rd.off) < mkpos(sp->cm.seg, sp->cm.off))
		cur_move(&sp->rd, sp->cm.seg, sp->cm.off);
	return 0;
}

/* --- open -------------------------------------------------------------- */

/* mkdir -p @path, new directories 0700. */
static int
mkdir_p(const char *path)
{
	char *p, *s = strdup(path);
	int rc = 0;

	if (s == NULL)
		return -ENOMEM;
	for (p = s + 1; rc == 0; p++) {
		bool last = *p == '\0';

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (mkdir(s, 0700) != 0 && errno != EEXIST)
			rc = -errno;
		if (last)
			break;
		*p = '/';
	}
	free(s);
	return rc;
}

/* Take the directory's lock file, or say who holds it. */
static int
spool_lock(struct pm_spool *sp, char *err, size_t errcap)
{
	char buf[32];
	int n;

	sp->lockfd = openat(sp->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC,
			    0600);
	if (sp->lockfd < 0) {
		int rc = -errno;

		set_err(err, errcap, "spool %s: lock: %s", sp->dir,
			strerror(-rc));
		return rc;
	}
	if (flock(sp->lockfd, LOCK_EX | LOCK_NB) != 0) {
		int rc = -errno;
		long pid = 0;

		if (rc != -EWOULDBLOCK) {
			set_err(err, errcap, "spool %s: lock: %s", sp->dir,
				strerror(-rc));
			return rc;
		}
		n = (int)pread(sp->lockfd, buf, sizeof(buf) - 1, 0);
		if (n > 0) {
			buf[n] = '\0';
			pid = strtol(buf, NULL, 10);
		}
		set_err(err, errcap,
			"spool %s is in use by another process (pid %ld)",
			sp->dir, pid);
		return -EBUSY;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(sp->lockfd, 0) != 0 ||
	    pwrite(sp->lockfd, buf, (size_t)n, 0) != n) {
		/* only informative: the lock is held all the same */
	}
	return 0;
}

static int
seg_cmp(const void *a, const void *b)
{
	const struct spool_seg *x = a, *y = b;

	return x->num < y->num ? -1 : x->num > y->num;
}

/* List the segments (sorted, sizes from stat), drop leftover temp files. */
static int
spool_list(struct pm_spool *sp, char *err, size_t errcap)
{
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	fd = openat(sp->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		set_err(err, errcap, "spool %s: %s", sp->dir, strerror(-rc));
		return rc;
	}
	while ((de = readdir(d)) != NULL) {
		const char *nm = de->d_name;
		size_t len = strlen(nm);
		struct stat sb;
		uint64_t num;

		if (len > 4 && strcmp(nm + len - 4, ".tmp") == 0) {
			unlinkat(sp->dirfd, nm, 0);
			continue;
		}
		if (len != SPOOL_NAME_LEN - 1 || strcmp(nm + 16, ".pms") != 0 ||
		    strspn(nm, "0123456789abcdef") != 16)
			continue;
		num = strtoull(nm, NULL, 16);
		if (fstatat(sp->dirfd, nm, &sb, 0) != 0) {
			rc = -errno;
			set_err(err, errcap, "spool %s/%s: %s", sp->dir, nm,
				strerror(-rc));
			break;
		}
		/* not ours: positions have 32 bits for each */
		if (!S_ISREG(sb.st_mode) || num > UINT32_MAX ||
		    (uint64_t)sb.st_size > UINT32_MAX)
			continue;
		if (sp->nsegs == sp->segcap) {
			uint32_t cap = sp->segcap > 0 ? sp->segcap * 2 : 16;
			struct spool_seg *ns;

			ns = realloc(sp->segs, cap * sizeof(*ns));
			if (ns == NULL) {
				rc = -ENOMEM;
				set_err(err, errcap, "spool %s: out of memory",
					sp->dir);
				break;
			}
			sp->segs = ns;
			sp->segcap = cap;
		}
		sp->segs[sp->nsegs].num = num;
		sp->segs[sp->nsegs].size = (uint64_t)sb.st_size;
		sp->segs[sp->nsegs].items = 0;
		sp->segs[sp->nsegs].sums = 0;
		sp->nsegs++;
	}
	closedir(d);
	if (rc == 0 && sp->nsegs > 1)
		qsort(sp->segs, sp->nsegs, sizeof(sp->segs[0]), seg_cmp);
	return rc;
}

/* Read the commit file: 1 with @seg/@off, 0 when absent or unreadable
 * (everything is then replayed). */
static int
commit_read(struct pm_spool *sp, uint64_t *seg, uint64_t *off)
{
	char buf[64];
	int fd, ver;
	ssize_t n;

	fd = openat(sp->dirfd, "commit", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%d %" SCNx64 " %" SCNu64, &ver, seg, off) != 3 ||
	    ver != 1 || *seg > UINT32_MAX || *off > UINT32_MAX)
		return 0;
	return 1;
}

/* Index the segments found and place the commit point and reader. */
static int
spool_recover(struct pm_spool *sp, char *err, size_t errcap)
{
	uint64_t cseg = 0, coff = 0, cpos, bad = 0, bad_bytes = 0;
	bool have_commit;
	uint32_t i;
	int rc;

	have_commit = commit_read(sp, &cseg, &coff) == 1;
	cpos = have_commit ? mkpos(cseg, coff) : 0;
	sp->next_num = 1;
	if (have_commit && cseg >= sp->next_num)
		sp->next_num = cseg + 1;
	if (sp->nsegs > 0 && sp->segs[sp->nsegs - 1].num >= sp->next_num)
		sp->next_num = sp->segs[sp->nsegs - 1].num + 1;
	if (have_commit && seg_find(sp, cseg) == NULL) {
		have_commit = false;
		cpos = 0;
	}
	if (have_commit) {
		/* Older segments are leftovers of a crash between a commit
		 * file rewrite and their deletion. */
		while (sp->segs[0].num < cseg) {
			char name[SPOOL_NAME_LEN];

			seg_name(name, sp->segs[0].num);
			unlinkat(sp->dirfd, name, 0);
			sp->nsegs--;
			memmove(&sp->segs[0], &sp->segs[1],
				sp->nsegs * sizeof(sp->segs[0]));
		}
	}
	for (i = 0; i < sp->nsegs; i++) {
		struct spool_seg *s = &sp->segs[i];
		struct pm_spool_item it;
		uint64_t skipped;

		cur_move(&sp->rd, s->num, SPOOL_HDR);
		do {
			uint64_t start = mkpos(s->num, sp->rd.off);

			rc = cur_frame(sp, &sp->rd, s->size, &it, &skipped);
			if (rc < 0)
				break;
			if (skipped > 0 && start >= cpos) {
				bad++;
				bad_bytes += skipped;
			}
			if (rc == 1) {
				s->items++;
				s->sums += it.nsum;
			}
		} while (rc == 1);
		if (rc < 0) {
			char name[SPOOL_NAME_LEN];

			seg_name(name, s->num);
			set_err(err, errcap, "spool %s/%s: %s", sp->dir, name,
				strerror(-rc));
			return rc;
		}
		sp->st.pending += s->items;
		sp->st.pending_sum += s->sums;
		sp->bytes += s->size;
	}
	cur_drop_fd(&sp->rd);
	if (sp->nsegs == 0) {
		cur_move(&sp->cm, sp->next_num, SPOOL_HDR);
	} else {
		cur_move(&sp->cm, sp->segs[0].num, SPOOL_HDR);
		rc = cm_advance(sp, have_commit ? cseg : 0,
				have_commit ? coff : 0, false);
		if (rc < 0) {
			set_err(err, errcap, "spool %s: %s", sp->dir,
				strerror(-rc));
			return rc;
		}
		/* Only bad bytes were left to replay, and they went with the
		 * segments: count them as the reader would have. */
		if (sp->nsegs == 0) {
			sp->st.corrupt += bad;
			sp->st.corrupt_bytes += bad_bytes;
		}
	}
	cur_move(&sp->rd, sp->cm.seg, sp->cm.off);
	sp->rd_hw = mkpos(sp->rd.seg, sp->rd.off);
	sp->st.recovered = sp->st.pending;
	sp->st.recovered_sum = sp->st.pending_sum;
	return 0;
}

int
pm_spool_open(struct pm_spool **spp, const struct pm_spool_cfg *cfg,
	      char *err, size_t errcap)
{
	struct pm_spool *sp;
	int rc;

	*spp = NULL;
	if (cfg == NULL || cfg->dir == NULL || cfg->dir[0] == '\0') {
		set_err(err, errcap, "spool: no directory");
		return -EINVAL;
	}
	if (cfg->max_bytes < SPOOL_MAX_BYTES_MIN) {
		set_err(err, errcap, "spool %s: max_bytes %" PRIu64
			" below %u", cfg->dir, cfg->max_bytes,
			SPOOL_MAX_BYTES_MIN);
		return -EINVAL;
	}
	if (cfg->fsync < PM_SPOOL_FSYNC_NEVER ||
	    cfg->fsync > PM_SPOOL_FSYNC_ALWAYS) {
		set_err(err, errcap, "spool %s: bad fsync policy %d",
			cfg->dir, cfg->fsync);
		return -EINVAL;
	}
	sp = calloc(1, sizeof(*sp));
	if (sp == NULL || (sp->dir = strdup(cfg->dir)) == NULL) {
		free(sp);
		set_err(err, errcap, "spool %s: out of memory", cfg->dir);
		return -ENOMEM;
	}
	sp->dirfd = -1;
	sp->lockfd = -1;
	sp->afd = -1;
	cur_init(&sp->rd);
	cur_init(&sp->cm);
	sp->fsync = cfg->fsync;
	sp->fsync_ms = cfg->fsync_ms;
	sp->max_bytes = cfg->max_bytes;
	sp->seg_bytes = cfg->segment_bytes;
	if (sp->seg_bytes == 0 || sp->seg_bytes > sp->max_bytes / 4)
		sp->seg_bytes = sp->max_bytes / 4;
	if (sp->seg_bytes > SPOOL_SEG_MAX)
		sp->seg_bytes = SPOOL_SEG_MAX;

	rc = mkdir_p(sp->dir);
	if (rc < 0) {
		set_err(err, errcap, "spool %s: mkdir: %s", sp->dir,
			strerror(-rc));
		goto fail;
	}
	sp->dirfd = open(sp->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dirfd < 0) {
		rc = -errno;
		set_err(err, errcap, "spool %s: %s", sp->dir, strerror(-rc));
		goto fail;
	}
	rc = spool_lock(sp, err, errcap);
	if (rc < 0)
		goto fail;
	rc = spool_list(sp, err, errcap);
	if (rc < 0)
		goto fail;
	rc = spool_recover(sp, err, errcap);
	if (rc < 0)
		goto fail;
	*spp = sp;
	return 0;
fail:
	cur_fini(&sp->rd);
	cur_fini(&sp->cm);
	if (sp->lockfd >= 0)
		close(sp->lockfd);
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	free(sp->segs);
	free(sp->dir);
	free(sp);
	return rc;
}

/* --- append ------------------------------------------------------------ */

int
pm_spool_append(struct pm_spool *sp, const struct pm_spool_item *it)
{
	uint8_t hdr[SPOOL_FHDR];
	struct iovec iov[3];
	struct spool_seg *s;
	uint64_t flen, need;
	uint32_t crc;
	ssize_t n;
	bool roll;
	int rc;

	if ((it->key_len > 0 && it->key == NULL) ||
	    (it->val_len > 0 && it->val == NULL))
		return -EINVAL;
	flen = (uint64_t)SPOOL_FHDR + it->key_len + it->val_len;
	if (flen > SPOOL_FRAME_MAX)
		return -EMSGSIZE;
	if (flen + SPOOL_HDR > sp->max_bytes)
		return -EFBIG;
	s = sp->nsegs > 0 ? &sp->segs[sp->nsegs - 1] : NULL;
	roll = sp->afd < 0 ||
		(s->size > SPOOL_HDR && s->size + flen > sp->seg_bytes);
	need = flen + (roll ? SPOOL_HDR : 0);
	while (sp->bytes + need > sp->max_bytes && sp->nsegs > 0 &&
	       (roll || sp->nsegs > 1))
		seg_retire(sp, true);
	if (sp->bytes + need > sp->max_bytes)
		return -ENOSPC;		/* cannot happen: see the cap */
	if (roll) {
		rc = seg_create(sp);
		if (rc < 0)
			return rc;
	}
	s = &sp->segs[sp->nsegs - 1];

	put32(hdr, SPOOL_MAGIC);
	put32(hdr + 4, (uint32_t)(flen - 12));
	hdr[12] = it->topic;
	hdr[13] = it->flags;
	put16(hdr + 14, it->key_len);
	put32(hdr + 16, it->nsum);
	crc = pm_crc32c(0, hdr + 12, SPOOL_FHDR - 12);
	crc = pm_crc32c(crc, it->key, it->key_len);
	crc = pm_crc32c(crc, it->val, it->val_len);
	put32(hdr + 8, crc);
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)(uintptr_t)it->key;
	iov[1].iov_len = it->key_len;
	iov[2].iov_base = (void *)(uintptr_t)it->val;
	iov[2].iov_len = it->val_len;

	do
		n = writev(sp->afd, iov, 3);
	while (n < 0 && errno == EINTR);
	rc = 0;
	if (n != (ssize_t)flen)
		rc = n < 0 ? -errno : -ENOSPC;
	else if (sp->fsync == PM_SPOOL_FSYNC_ALWAYS && fdatasync(sp->afd) != 0)
		rc = -errno;
	if (rc < 0) {
		/* Cut the partial frame off; if even that fails, leave it
		 * as a torn tail for the reader to skip, and append to a
		 * new segment from now on. */
		if (n > 0 && ftruncate(sp->afd, (off_t)s->size) != 0) {
			s->size += (uint64_t)n;
			sp->bytes += (uint64_t)n;
			close(sp->afd);
			sp->afd = -1;
		}
		return rc;
	}
	s->size += flen;
	s->items++;
	s->sums += it->nsum;
	sp->bytes += flen;
	sp->dirty = sp->fsync != PM_SPOOL_FSYNC_ALWAYS;
	sp->st.appended++;
	sp->st.appended_sum += it->nsum;
	sp->st.pending++;
	sp->st.pending_sum += it->nsum;
	return 0;
}

/* --- read, commit ------------------------------------------------------ */

int
pm_spool_next(struct pm_spool *sp, struct pm_spool_item *it)
{
	for (;;) {
		uint32_t i = seg_lower(sp, sp->rd.seg);
		struct spool_seg *s;
		uint64_t start, skipped;
		int rc;

		if (i == sp->nsegs)
			return 0;
		s = &sp->segs[i];
		if (s->num != sp->rd.seg)	/* its segment was dropped */
			cur_move(&sp->rd, s->num, SPOOL_HDR);
		if (sp->rd.off >= s->size) {
			if (i + 1 == sp->nsegs)
				return 0;
			cur_move(&sp->rd, sp->segs[i + 1].num, SPOOL_HDR);
			continue;
		}
		start = sp->rd.off;
		rc = cur_frame(sp, &sp->rd, s->size, it, &skipped);
		if (rc < 0)
			return rc;
		if (skipped > 0 && mkpos(s->num, start) >= sp->rd_hw) {
			sp->st.corrupt++;
			sp->st.corrupt_bytes += skipped;
		}
		if (mkpos(s->num, sp->rd.off) > sp->rd_hw)
			sp->rd_hw = mkpos(s->num, sp->rd.off);
		if (rc == 1) {
			it->pos = mkpos(s->num, sp->rd.off);
			return 1;
		}
	}
}

void
pm_spool_rewind(struct pm_spool *sp)
{
	cur_move(&sp->rd, sp->cm.seg, sp->cm.off);
}

int
pm_spool_commit(struct pm_spool *sp, uint64_t pos)
{
	uint64_t seg = pos >> 32, off = pos & UINT32_MAX;
	struct spool_seg *s;

	if (sp->nsegs == 0 || pos <= mkpos(sp->cm.seg, sp->cm.off) ||
	    seg < sp->segs[0].num)
		return 0;	/* done already, or dropped by the bound */
	s = seg_find(sp, seg);
	if (s == NULL || off > s->size)
		return -EINVAL;
	return cm_advance(sp, seg, off, true);
}

bool
pm_spool_empty(const struct pm_spool *sp)
{
	return sp->st.pending == 0;
}

void
pm_spool_tick(struct pm_spool *sp, uint64_t now_ms)
{
	if (sp->fsync == PM_SPOOL_FSYNC_INTERVAL && sp->dirty &&
	    sp->afd >= 0 && now_ms - sp->sync_ms >= sp->fsync_ms) {
		if (fdatasync(sp->afd) == 0)
			sp->dirty = false;
		sp->sync_ms = now_ms;
	}
	if (sp->cm_dirty && now_ms - sp->cm_ms >= SPOOL_COMMIT_MS) {
		commit_persist(sp);
		sp->cm_ms = now_ms;
	}
}

void
pm_spool_get_stats(const struct pm_spool *sp, struct pm_spool_stats *st)
{
	*st = sp->st;
	st->bytes = sp->bytes;
	st->segments = sp->nsegs;
}

void
pm_spool_close(struct pm_spool *sp)
{
	if (sp == NULL)
		return;
	if (sp->afd >= 0) {
		if (sp->fsync != PM_SPOOL_FSYNC_NEVER && sp->dirty)
			fdatasync(sp->afd);
		close(sp->afd);
	}
	if (sp->cm_dirty)
		commit_persist(sp);
	cur_fini(&sp->rd);
	cur_fini(&sp->cm);
	close(sp->dirfd);
	close(sp->lockfd);	/* releases the flock */
	free(sp->segs);
	free(sp->dir);
	free(sp);
}
