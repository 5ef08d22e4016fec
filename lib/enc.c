/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Summary encodings for Kafka: the binary batch writer and reader, and a
 * reader for the JSON line of pm_record_json().
 *
 * The Kafka sink (export thread) packs the summaries of one lcore into a
 * binary batch, or sends each as its JSON line; consumers (pmesh-cat, the
 * aggregator) get struct pm_record parts back from either through
 * pm_enc_decode(), rebuilt exactly as pm_record_build() lays them out, so
 * code downstream never knows which encoding carried a summary.
 *
 * The binary layout (docs/records.md, "Binary encoding (Kafka)") is
 * written and read one field at a time in little-endian order, never by
 * copying structs, so it does not depend on the host's byte order, padding
 * or the in-memory record format.  Only non-empty histogram buckets are
 * sent.
 *
 * Both readers take bytes from the network: every length and index is
 * checked before use, recursion is bounded, and a message that is not
 * understood is refused whole with a one-line reason (what and at which
 * byte), never half-delivered.  Nothing here runs on the data path.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pm_cfg.h"
#include "pm_clock.h"
#include "pm_enc.h"
#include "pm_hist.h"
#include "pm_record.h"

/* Parts of the largest summary: two full dense histograms. */
#define ENC_MAX_PARTS \
	(1 + (2 * PM_HIST_NBUCKETS - PM_REC_ENT0 + PM_REC_ENTN - 1) / PM_REC_ENTN)

/* Binary layout sizes (docs/records.md). */
#define BIN_HDR_LEN	24	/* batch header before the name */
#define BIN_SUM_FIXED2	257	/* schema 2 summary after its length: hdr 57 + body 200 */
#define BIN_SUM_FIXED	289	/* schema 3: + host delay stat 24 + host_n 8 */
#define BIN_ENT_LEN	6	/* bucket u16, count u32 */

_Static_assert(ENC_MAX_PARTS <= UINT8_MAX, "nparts is a uint8_t");
_Static_assert(PM_HIST_NBUCKETS <= UINT16_MAX, "bucket indices are u16");
_Static_assert(BIN_SUM_FIXED + 2 * PM_HIST_NBUCKETS * BIN_ENT_LEN <= UINT16_MAX,
	       "a summary's length fits its u16 length field");
_Static_assert(PM_ENC_NAME_MAX <= UINT8_MAX, "name_len is a u8");

/* Decoding scratch: too big for a consumer thread's stack. */
struct enc_scratch {
	struct pm_hist_ent rtt[PM_HIST_NBUCKETS];
	struct pm_hist_ent refl[PM_HIST_NBUCKETS];
	struct pm_record recs[ENC_MAX_PARTS];
};

const char *
pm_enc_str(int enc)
{
	switch (enc) {
	case PM_ENC_JSON:
		return "json";
	case PM_ENC_BINARY:
		return "binary";
	default:
		return NULL;
	}
}

int
pm_enc_parse(const char *name)
{
	if (name == NULL)
		return -EINVAL;
	if (strcmp(name, "json") == 0)
		return PM_ENC_JSON;
	if (strcmp(name, "binary") == 0)
		return PM_ENC_BINARY;
	return -EINVAL;
}

static int
enc_err(char *err, size_t errcap, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Write the one-line reason into @err (if any) and return @rc. */
static int
enc_err(char *err, size_t errcap, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errcap > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errcap, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Bytes of @s to keep within @max without cutting a UTF-8 sequence. */
static size_t
enc_name_len(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return n;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

static const struct pm_hist_ent *
enc_ents(const struct pm_record *r)
{
	return r->h.part == 0 ? r->p0.ent : r->ent;
}

/* ---------------------------------------------------------------------- */
/* Binary batch: writer */

static uint8_t *
put8(uint8_t *p, uint8_t v)
{
	p[0] = v;
	return p + 1;
}

static uint8_t *
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	return p + 2;
}

static uint8_t *
put32(uint8_t *p, uint32_t v)
{
	p = put16(p, (uint16_t)v);
	return put16(p, (uint16_t)(v >> 16));
}

static uint8_t *
put64(uint8_t *p, uint64_t v)
{
	p = put32(p, (uint32_t)v);
	return put32(p, (uint32_t)(v >> 32));
}

static uint8_t *
put_stat(uint8_t *p, const struct pm_rec_stat *s)
{
	p = put64(p, s->min);
	p = put64(p, s->max);
	return put64(p, s->sum);
}

static size_t
bin_summary_len(uint32_t nr, uint32_t nf)
{
	return 2 + BIN_SUM_FIXED + (size_t)(nr + nf) * BIN_ENT_LEN;
}

int
pm_enc_bin_begin(struct pm_enc_bin *b, void *buf, size_t cap,
		 uint32_t prober_id, const char *name, uint16_t lcore)
{
	size_t nlen;
	uint8_t *p;

	if (b == NULL || (buf == NULL && cap > 0))
		return -EINVAL;
	if (name == NULL)
		name = "";
	nlen = enc_name_len(name, PM_ENC_NAME_MAX);
	memset(b, 0, sizeof(*b));
	if (cap < BIN_HDR_LEN + nlen)
		return -ENOSPC;
	b->buf = buf;
	b->cap = cap;
	p = b->buf;
	p = put32(p, PM_ENC_BIN_MAGIC);
	p = put16(p, PM_ENC_BIN_VERSION);
	p = put16(p, PM_REC_SCHEMA);
	p = put32(p, (uint32_t)(BIN_HDR_LEN + nlen));	/* sealed by finish */
	p = put32(p, 0);				/* count, ditto */
	p = put32(p, prober_id);
	p = put16(p, lcore);
	p = put8(p, (uint8_t)nlen);
	p = put8(p, 0);					/* flags */
	memcpy(p, name, nlen);
	b->len = BIN_HDR_LEN + nlen;
	return 0;
}

size_t
pm_enc_bin_summary_size(const struct pm_record *recs, unsigned int n)
{
	if (recs == NULL || n == 0)
		return 0;
	return bin_summary_len(recs[0].p0.b.rtt_nbuckets,
			       recs[0].p0.b.refl_nbuckets);
}

int
pm_enc_bin_append(struct pm_enc_bin *b, const struct pm_record *recs,
		  unsigned int n)
{
	const struct pm_rec_hdr *h;
	const struct pm_rec_body *bd;
	uint32_t batch_id;
	unsigned int p;
	size_t need;
	uint8_t *p0, *q;
	uint16_t i;

	if (b == NULL || b->buf == NULL || b->len < BIN_HDR_LEN ||
	    pm_record_check(recs, n) < 0)
		return -EINVAL;
	h = &recs[0].h;
	bd = &recs[0].p0.b;
	/* The prober id travels once, in the batch header. */
	batch_id = (uint32_t)b->buf[16] | (uint32_t)b->buf[17] << 8 |
		   (uint32_t)b->buf[18] << 16 | (uint32_t)b->buf[19] << 24;
	if (h->prober_id != batch_id)
		return -EINVAL;
	need = bin_summary_len(bd->rtt_nbuckets, bd->refl_nbuckets);
	if (b->len > b->cap || need > b->cap - b->len ||
	    b->len + need > UINT32_MAX || b->count == UINT32_MAX)
		return -ENOSPC;

	p0 = q = b->buf + b->len;
	q = put16(q, (uint16_t)(need - 2));
	q = put8(q, h->kind);
	q = put8(q, h->engine);
	q = put16(q, h->flags);
	q = put16(q, h->lcore);
	q = put64(q, h->seq);
	q = put64(q, h->window_start_ns);
	q = put32(q, h->window_ms);
	q = put32(q, h->target);
	q = put32(q, h->flow);
	q = put8(q, h->af);
	q = put8(q, h->proto);
	q = put8(q, h->dscp);
	q = put8(q, h->ts_tx);
	q = put8(q, h->ts_rx);
	q = put8(q, h->ts_refl);
	q = put8(q, h->refl_synced);
	q = put32(q, h->src);
	q = put32(q, h->dst);
	q = put16(q, h->sport);
	q = put16(q, h->dport);
	q = put16(q, h->ssid);
	q = put16(q, h->size);

	q = put64(q, bd->sent);
	q = put64(q, bd->received);
	q = put64(q, bd->lost);
	q = put64(q, bd->late);
	q = put64(q, bd->dup);
	q = put64(q, bd->reordered);
	q = put64(q, bd->unmatched);
	q = put64(q, bd->stalled);
	q = put_stat(q, &bd->rtt);
	q = put_stat(q, &bd->raw);
	q = put_stat(q, &bd->refl);
	q = put_stat(q, &bd->fwd);
	q = put_stat(q, &bd->bwd);
	q = put64(q, bd->hist_overflow);
	q = put16(q, bd->rtt_nbuckets);
	q = put16(q, bd->refl_nbuckets);
	q = put32(q, bd->dropped_before);
	q = put_stat(q, &bd->host);		/* schema 3 */
	q = put64(q, bd->host_n);

	for (p = 0; p < n; p++) {
		const struct pm_hist_ent *ent = enc_ents(&recs[p]);

		for (i = 0; i < recs[p].nent; i++) {
			q = put16(q, ent[i].bucket);
			q = put32(q, ent[i].count);
		}
	}
	if ((size_t)(q - p0) != need)	/* pm_record_check vouched for it */
		return -EINVAL;
	b->len += need;
	b->count++;
	return 0;
}

size_t
pm_enc_bin_finish(struct pm_enc_bin *b)
{
	if (b == NULL || b->buf == NULL || b->len < BIN_HDR_LEN)
		return 0;
	put32(b->buf + 8, (uint32_t)b->len);
	put32(b->buf + 12, b->count);
	return b->len;
}

/* ---------------------------------------------------------------------- */
/* Binary batch: reader */

/*
 * Bounds-checked little-endian reader.  Callers check lengths before
 * reading, but a read past @end still returns 0 and sets @bad rather than
 * touching memory it does not own.
 */
struct bin_rd {
	const uint8_t *p;
	size_t end;
	size_t off;
	bool bad;
};

/*
 * Little-endian field of @n bytes.  Always inlined, so that with @n
 * constant it is one load (the aggregator decodes millions a second).
 */
static inline __attribute__((always_inline)) uint64_t
rd_le(struct bin_rd *r, unsigned int n)
{
	uint64_t v = 0;
	unsigned int i;

	if (r->off > r->end || r->end - r->off < n) {
		r->bad = true;
		r->off = r->end;
		return 0;
	}
	if (n == 8) {
		memcpy(&v, r->p + r->off, 8);
		v = le64toh(v);
	} else if (n == 4) {
		uint32_t u;

		memcpy(&u, r->p + r->off, 4);
		v = le32toh(u);
	} else if (n == 2) {
		uint16_t u;

		memcpy(&u, r->p + r->off, 2);
		v = le16toh(u);
	} else {
		for (i = 0; i < n; i++)
			v |= (uint64_t)r->p[r->off + i] << (8 * i);
	}
	r->off += n;
	return v;
}

static inline uint8_t
rd8(struct bin_rd *r)
{
	return (uint8_t)rd_le(r, 1);
}

static inline uint16_t
rd16(struct bin_rd *r)
{
	return (uint16_t)rd_le(r, 2);
}

static inline uint32_t
rd32(struct bin_rd *r)
{
	return (uint32_t)rd_le(r, 4);
}

static inline uint64_t
rd64(struct bin_rd *r)
{
	return rd_le(r, 8);
}

static inline void
rd_stat(struct bin_rd *r, struct pm_rec_stat *s)
{
	s->min = rd64(r);
	s->max = rd64(r);
	s->sum = rd64(r);
}

struct bin_batch {
	uint16_t schema;	/* 2 or 3: the summaries' layout */
	uint32_t count;
	uint32_t prober_id;
	uint16_t lcore;
	char name[PM_ENC_NAME_MAX + 1];
	size_t off;		/* first summary */
};

/* Check the batch header; fill @bb.  0 or -errno with @err set. */
static int
bin_header(const uint8_t *buf, size_t len, struct bin_batch *bb, char *err,
	   size_t errcap)
{
	struct bin_rd r = { .p = buf, .end = len };
	uint32_t magic, total;
	uint16_t version, schema;
	uint8_t nlen, flags;
	size_t i;

	if (len < 4)
		return enc_err(err, errcap, -EINVAL, "truncated at byte %zu: "
			       "a binary batch header needs %d bytes", len,
			       BIN_HDR_LEN);
	magic = rd32(&r);
	if (magic != PM_ENC_BIN_MAGIC)
		return enc_err(err, errcap, -EPROTONOSUPPORT, "not a pmesh "
			       "binary batch (magic 0x%08" PRIx32 ", expected "
			       "0x%08x)", magic, PM_ENC_BIN_MAGIC);
	if (len >= 6) {
		version = rd16(&r);
		if (version != PM_ENC_BIN_VERSION)
			return enc_err(err, errcap, -EPROTONOSUPPORT,
				       "binary batch version %u is not "
				       "supported by this build (understands "
				       "%d)", version, PM_ENC_BIN_VERSION);
	}
	if (len >= 8) {
		/* Schema 1 predates the binary encoding: 2 and 3 exist
		 * (3 adds the host delay). */
		schema = rd16(&r);
		if (schema < 2 || schema > PM_REC_SCHEMA)
			return enc_err(err, errcap, -EPROTONOSUPPORT,
				       "binary batch schema %u is not "
				       "supported by this build (understands "
				       "2..%d)", schema, PM_REC_SCHEMA);
		bb->schema = schema;
	}
	if (len < BIN_HDR_LEN)
		return enc_err(err, errcap, -EINVAL, "truncated at byte %zu: "
			       "a binary batch header needs %d bytes", len,
			       BIN_HDR_LEN);
	total = rd32(&r);
	bb->count = rd32(&r);
	bb->prober_id = rd32(&r);
	bb->lcore = rd16(&r);
	nlen = rd8(&r);
	flags = rd8(&r);
	if (total > len)
		return enc_err(err, errcap, -EINVAL, "truncated at byte %zu: "
			       "the batch header says %" PRIu32 " bytes", len,
			       total);
	if (total < len)
		return enc_err(err, errcap, -EINVAL, "%zu bytes after the end "
			       "of the batch (header says %" PRIu32 " bytes of "
			       "%zu)", len - total, total, len);
	if (flags != 0)
		return enc_err(err, errcap, -EINVAL, "batch header flags 0x%02x "
			       "at byte 23: version %d defines none", flags,
			       PM_ENC_BIN_VERSION);
	if (nlen > PM_ENC_NAME_MAX)
		return enc_err(err, errcap, -EINVAL, "prober name length %u at "
			       "byte 22 exceeds %d", nlen, PM_ENC_NAME_MAX);
	if (len - BIN_HDR_LEN < nlen)
		return enc_err(err, errcap, -EINVAL, "truncated at byte %zu: "
			       "the prober name needs %u bytes from byte %d",
			       len, nlen, BIN_HDR_LEN);
	for (i = 0; i < nlen; i++) {
		if (buf[BIN_HDR_LEN + i] == '\0')
			return enc_err(err, errcap, -EINVAL, "NUL byte in the "
				       "prober name at byte %zu",
				       BIN_HDR_LEN + i);
		bb->name[i] = (char)buf[BIN_HDR_LEN + i];
	}
	bb->name[nlen] = '\0';
	bb->off = BIN_HDR_LEN + nlen;
	return 0;
}

/* Read histogram entries @e[n] from @r, ascending buckets in range. */
static int
bin_entries(struct bin_rd *r, struct pm_hist_ent *e, uint32_t n,
	    unsigned int si, const char *which, char *err, size_t errcap)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		size_t at = r->off;

		e[i].bucket = rd16(r);
		e[i].rsvd = 0;
		e[i].count = rd32(r);
		if (e[i].bucket >= PM_HIST_NBUCKETS)
			return enc_err(err, errcap, -EINVAL, "summary %u: %s "
				       "entry %" PRIu32 " at byte %zu: bucket "
				       "%u out of range (0..%d)", si, which, i,
				       at, e[i].bucket, PM_HIST_NBUCKETS - 1);
		if (i > 0 && e[i].bucket <= e[i - 1].bucket)
			return enc_err(err, errcap, -EINVAL, "summary %u: %s "
				       "entry %" PRIu32 " at byte %zu: bucket "
				       "%u not above the previous %u", si,
				       which, i, at, e[i].bucket,
				       e[i - 1].bucket);
	}
	return 0;
}

/*
 * Read summary @si at @r->off (within @r->end) into @h, @bd, @s->rtt and
 * @s->refl.  Returns 0 or -EINVAL with @err set; @r->off is then past it.
 */
static int
bin_summary(struct bin_rd *r, unsigned int si, uint16_t schema,
	    struct pm_rec_hdr *h, struct pm_rec_body *bd, struct enc_scratch *s,
	    char *err, size_t errcap)
{
	size_t fixed = schema >= 3 ? BIN_SUM_FIXED : BIN_SUM_FIXED2;
	size_t at = r->off, want;
	struct bin_rd sr;
	uint16_t slen;
	int rc;

	if (r->end - r->off < 2)
		return enc_err(err, errcap, -EINVAL, "truncated at byte %zu: "
			       "summary %u at byte %zu has no length", r->end,
			       si, at);
	slen = rd16(r);
	if (slen < fixed)
		return enc_err(err, errcap, -EINVAL, "summary %u at byte %zu: "
			       "length %u is less than the %zu fixed bytes", si,
			       at, slen, fixed);
	if (r->end - r->off < slen)
		return enc_err(err, errcap, -EINVAL, "truncated at byte %zu: "
			       "summary %u at byte %zu needs %u bytes", r->end,
			       si, at, slen + 2);
	sr = (struct bin_rd){ .p = r->p, .end = r->off + slen, .off = r->off };
	r->off += slen;

	h->kind = rd8(&sr);
	h->engine = rd8(&sr);
	h->flags = rd16(&sr);
	h->lcore = rd16(&sr);
	h->seq = rd64(&sr);
	h->window_start_ns = rd64(&sr);
	h->window_ms = rd32(&sr);
	h->target = rd32(&sr);
	h->flow = rd32(&sr);
	h->af = rd8(&sr);
	h->proto = rd8(&sr);
	h->dscp = rd8(&sr);
	h->ts_tx = rd8(&sr);
	h->ts_rx = rd8(&sr);
	h->ts_refl = rd8(&sr);
	h->refl_synced = rd8(&sr);
	h->src = rd32(&sr);
	h->dst = rd32(&sr);
	h->sport = rd16(&sr);
	h->dport = rd16(&sr);
	h->ssid = rd16(&sr);
	h->size = rd16(&sr);

	bd->sent = rd64(&sr);
	bd->received = rd64(&sr);
	bd->lost = rd64(&sr);
	bd->late = rd64(&sr);
	bd->dup = rd64(&sr);
	bd->reordered = rd64(&sr);
	bd->unmatched = rd64(&sr);
	bd->stalled = rd64(&sr);
	rd_stat(&sr, &bd->rtt);
	rd_stat(&sr, &bd->raw);
	rd_stat(&sr, &bd->refl);
	rd_stat(&sr, &bd->fwd);
	rd_stat(&sr, &bd->bwd);
	bd->hist_overflow = rd64(&sr);
	bd->rtt_nbuckets = rd16(&sr);
	bd->refl_nbuckets = rd16(&sr);
	bd->dropped_before = rd32(&sr);
	if (schema >= 3) {
		rd_stat(&sr, &bd->host);
		bd->host_n = rd64(&sr);
	} else {
		bd->host.min = UINT64_MAX;	/* schema 2: no host delay */
	}

	if (h->kind != PM_REC_SUMMARY)
		return enc_err(err, errcap, -EINVAL, "summary %u at byte %zu: "
			       "kind %u is not a summary", si, at + 2, h->kind);
	if (bd->rtt_nbuckets > PM_HIST_NBUCKETS ||
	    bd->refl_nbuckets > PM_HIST_NBUCKETS)
		return enc_err(err, errcap, -EINVAL, "summary %u at byte %zu: "
			       "%u rtt and %u refl buckets (at most %d each)",
			       si, at, bd->rtt_nbuckets, bd->refl_nbuckets,
			       PM_HIST_NBUCKETS);
	want = fixed +
	       (size_t)(bd->rtt_nbuckets + bd->refl_nbuckets) * BIN_ENT_LEN;
	if (slen != want)
		return enc_err(err, errcap, -EINVAL, "summary %u at byte %zu: "
			       "length %u but its %u + %u buckets make %zu",
			       si, at, slen, bd->rtt_nbuckets,
			       bd->refl_nbuckets, want);
	rc = bin_entries(&sr, s->rtt, bd->rtt_nbuckets, si, "rtt", err,
			 errcap);
	if (rc == 0)
		rc = bin_entries(&sr, s->refl, bd->refl_nbuckets, si, "refl",
				 err, errcap);
	if (rc == 0 && (sr.bad || sr.off != sr.end))
		rc = enc_err(err, errcap, -EINVAL, "summary %u at byte %zu: "
			     "inconsistent length", si, at);
	return rc;
}

/*
 * Walk the batch once to validate it (@cb NULL) or to deliver it: a batch
 * is refused whole, so a consumer never commits half of one.
 */
static int
bin_walk(const uint8_t *buf, size_t len, const struct bin_batch *bb,
	 struct enc_scratch *s, pm_enc_summary_cb cb, void *arg, char *err,
	 size_t errcap)
{
	struct bin_rd r = { .p = buf, .end = len, .off = bb->off };
	struct pm_rec_body bd;
	struct pm_rec_hdr h;
	uint32_t i;
	int rc, np;

	for (i = 0; i < bb->count; i++) {
		memset(&h, 0, sizeof(h));
		memset(&bd, 0, sizeof(bd));
		rc = bin_summary(&r, i, bb->schema, &h, &bd, s, err, errcap);
		if (rc < 0)
			return rc;
		if (cb == NULL)
			continue;
		h.prober_id = bb->prober_id;
		np = pm_record_build_ents(s->recs, ENC_MAX_PARTS, &h, &bd, s->rtt,
			       bd.rtt_nbuckets, s->refl, bd.refl_nbuckets);
		if (np < 0 || pm_record_check(s->recs, (unsigned int)np) < 0)
			return enc_err(err, errcap, -EINVAL, "summary %" PRIu32
				       ": rebuilt records fail their check",
				       i);
		rc = cb(arg, s->recs, (unsigned int)np, bb->name);
		if (rc != 0)
			return rc;
	}
	if (r.off != len)
		return enc_err(err, errcap, -EINVAL, "%zu bytes after the last "
			       "of the %" PRIu32 " summaries (byte %zu)",
			       len - r.off, bb->count, r.off);
	return 0;
}

int
pm_enc_bin_decode(const void *buf, size_t len, pm_enc_summary_cb cb,
		  void *arg, char *err, size_t errcap)
{
	struct enc_scratch *s;
	struct bin_batch bb;
	int rc;

	if (err != NULL && errcap > 0)
		err[0] = '\0';
	if (buf == NULL && len > 0)
		return enc_err(err, errcap, -EINVAL, "no buffer");
	rc = bin_header(buf, len, &bb, err, errcap);
	if (rc < 0)
		return rc;
	/* Each summary takes at least its fixed bytes: a count beyond what
	 * the length can hold is refused before any work. */
	if (bb.count > (len - bb.off) / (2 + (bb.schema >= 3 ? BIN_SUM_FIXED :
					      BIN_SUM_FIXED2)) ||
	    bb.count > INT_MAX)
		return enc_err(err, errcap, -EINVAL, "batch header count %"
			       PRIu32 " at byte 12: %zu bytes cannot hold that "
			       "many summaries", bb.count, len - bb.off);
	s = malloc(sizeof(*s));
	if (s == NULL)
		return enc_err(err, errcap, -ENOMEM, "out of memory");
	rc = bin_walk(buf, len, &bb, s, NULL, NULL, err, errcap);
	if (rc == 0 && cb != NULL)
		rc = bin_walk(buf, len, &bb, s, cb, arg, err, errcap);
	free(s);
	return rc != 0 ? rc : (int)bb.count;
}

/* ---------------------------------------------------------------------- */
/* JSON reader */

/* Deepest nesting of values skipped under an unknown key. */
#define JP_MAX_DEPTH	32
/* Longest string value (other than "prober") that is interpreted. */
#define JP_STR_MAX	64

struct jp {
	const char *s;
	size_t len;
	size_t pos;
	char *err;
	size_t errcap;
	bool failed;
	bool done;	/* whole line read: errors name no byte */
};

/* Printable copy of @s for an error message. */
static const char *
jp_show(const char *s, char *buf, size_t cap)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < cap; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

static int
jp_fail(struct jp *j, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Record the first error: "field 'X': what at byte N". */
static int
jp_fail(struct jp *j, const char *field, const char *fmt, ...)
{
	char what[160], name[40];
	va_list ap;

	if (j->failed)
		return -EINVAL;
	j->failed = true;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* Keys come from the input: keep the message one printable line. */
	if (field != NULL)
		field = jp_show(field, name, sizeof(name));
	if (field != NULL && j->done)
		enc_err(j->err, j->errcap, 0, "field '%s': %s", field, what);
	else if (field != NULL)
		enc_err(j->err, j->errcap, 0, "field '%s': %s at byte %zu",
			field, what, j->pos);
	else
		enc_err(j->err, j->errcap, 0, "%s at byte %zu", what, j->pos);
	return -EINVAL;
}

static void
jp_ws(struct jp *j)
{
	while (j->pos < j->len && (j->s[j->pos] == ' ' ||
	       j->s[j->pos] == '\t' || j->s[j->pos] == '\n' ||
	       j->s[j->pos] == '\r'))
		j->pos++;
}

/* Next non-blank character, or -1 at the end. */
static int
jp_peek(struct jp *j)
{
	jp_ws(j);
	return j->pos < j->len ? (unsigned char)j->s[j->pos] : -1;
}

static bool
jp_eat(struct jp *j, char c)
{
	if (jp_peek(j) != (unsigned char)c)
		return false;
	j->pos++;
	return true;
}

static bool
jp_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
jp_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Four hex digits of a \u escape at j->pos. */
static int
jp_u4(struct jp *j, const char *field, uint32_t *cp)
{
	uint32_t v = 0;
	int i, d;

	if (j->len - j->pos < 4)
		return jp_fail(j, field, "truncated \\u escape");
	for (i = 0; i < 4; i++) {
		d = jp_hex((unsigned char)j->s[j->pos + i]);
		if (d < 0)
			return jp_fail(j, field, "bad \\u escape");
		v = v << 4 | (uint32_t)d;
	}
	j->pos += 4;
	*cp = v;
	return 0;
}

/* Append byte @c to @out[cap] (NUL kept room for), noting truncation. */
static void
jp_out(char *out, size_t cap, size_t *n, bool *trunc, char c)
{
	if (out == NULL)
		return;
	if (*n + 1 < cap)
		out[(*n)++] = c;
	else
		*trunc = true;
}

/*
 * A JSON string into @out[cap] (NUL-terminated; @out NULL: skipped).
 * Escapes are decoded (\u as UTF-8); a \u0000 or raw control character is
 * refused.  *@trunc tells whether it did not fit.
 */
static int
jp_string(struct jp *j, const char *field, char *out, size_t cap,
	  bool *trunc)
{
	uint32_t cp, lo;
	size_t n = 0;
	int c, rc;

	*trunc = false;
	if (out != NULL && cap > 0)
		out[0] = '\0';
	if (!jp_eat(j, '"'))
		return jp_fail(j, field, "expected string");
	for (;;) {
		if (j->pos >= j->len)
			return jp_fail(j, field, "unterminated string");
		c = (unsigned char)j->s[j->pos++];
		if (c == '"')
			break;
		if (c < 0x20)
			return jp_fail(j, field, "control character in string");
		if (c != '\\') {
			jp_out(out, cap, &n, trunc, (char)c);
			continue;
		}
		if (j->pos >= j->len)
			return jp_fail(j, field, "unterminated string");
		c = (unsigned char)j->s[j->pos++];
		switch (c) {
		case '"':
		case '\\':
		case '/':
			break;
		case 'b':
			c = '\b';
			break;
		case 'f':
			c = '\f';
			break;
		case 'n':
			c = '\n';
			break;
		case 'r':
			c = '\r';
			break;
		case 't':
			c = '\t';
			break;
		case 'u':
			rc = jp_u4(j, field, &cp);
			if (rc < 0)
				return rc;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return jp_fail(j, field, "lone low surrogate");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (j->len - j->pos < 2 || j->s[j->pos] != '\\' ||
				    j->s[j->pos + 1] != 'u')
					return jp_fail(j, field,
						       "lone high surrogate");
				j->pos += 2;
				rc = jp_u4(j, field, &lo);
				if (rc < 0)
					return rc;
				if (lo < 0xdc00 || lo > 0xdfff)
					return jp_fail(j, field,
						       "lone high surrogate");
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				     (lo - 0xdc00);
			}
			if (cp == 0)
				return jp_fail(j, field, "\\u0000 in string");
			if (cp < 0x80) {
				jp_out(out, cap, &n, trunc, (char)cp);
			} else if (cp < 0x800) {
				jp_out(out, cap, &n, trunc, (char)(0xc0 | cp >> 6));
				jp_out(out, cap, &n, trunc,
				       (char)(0x80 | (cp & 0x3f)));
			} else if (cp < 0x10000) {
				jp_out(out, cap, &n, trunc, (char)(0xe0 | cp >> 12));
				jp_out(out, cap, &n, trunc,
				       (char)(0x80 | ((cp >> 6) & 0x3f)));
				jp_out(out, cap, &n, trunc,
				       (char)(0x80 | (cp & 0x3f)));
			} else {
				jp_out(out, cap, &n, trunc, (char)(0xf0 | cp >> 18));
				jp_out(out, cap, &n, trunc,
				       (char)(0x80 | ((cp >> 12) & 0x3f)));
				jp_out(out, cap, &n, trunc,
				       (char)(0x80 | ((cp >> 6) & 0x3f)));
				jp_out(out, cap, &n, trunc,
				       (char)(0x80 | (cp & 0x3f)));
			}
			continue;
		default:
			return jp_fail(j, field, "bad escape '\\%c'",
				       c >= 0x20 && c < 0x7f ? c : '?');
		}
		jp_out(out, cap, &n, trunc, (char)c);
	}
	if (out != NULL && cap > 0)
		out[n] = '\0';
	return 0;
}

/* A string value that must fit JP_STR_MAX. */
static int
jp_short_string(struct jp *j, const char *field, char *out)
{
	bool trunc;
	int rc;

	rc = jp_string(j, field, out, JP_STR_MAX, &trunc);
	if (rc == 0 && trunc)
		return jp_fail(j, field, "string too long");
	return rc;
}

/* An unsigned integer in [0, @max]: digits only, no fraction. */
static int
jp_uint(struct jp *j, const char *field, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;
	unsigned int d;
	int c = jp_peek(j);

	if (!jp_digit(c))
		return jp_fail(j, field, "expected an unsigned integer");
	if (c == '0' && j->pos + 1 < j->len &&
	    jp_digit((unsigned char)j->s[j->pos + 1]))
		return jp_fail(j, field, "leading zero");
	while (j->pos < j->len && jp_digit((unsigned char)j->s[j->pos])) {
		d = (unsigned int)(j->s[j->pos] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return jp_fail(j, field, "integer out of range");
		x = x * 10 + d;
		j->pos++;
	}
	if (j->pos < j->len && (j->s[j->pos] == '.' || j->s[j->pos] == 'e' ||
				j->s[j->pos] == 'E'))
		return jp_fail(j, field, "expected an unsigned integer");
	if (x > max)
		return jp_fail(j, field, "%" PRIu64 " out of range (max %"
			       PRIu64 ")", x, max);
	*v = x;
	return 0;
}

/* Any JSON number (validated, value unused). */
static int
jp_number(struct jp *j, const char *field)
{
	size_t p;

	if (jp_peek(j) < 0)
		return jp_fail(j, field, "expected number");
	p = j->pos;
	if (p < j->len && j->s[p] == '-')
		p++;
	if (p >= j->len || !jp_digit((unsigned char)j->s[p]))
		return jp_fail(j, field, "expected number");
	if (j->s[p] == '0')
		p++;
	else
		while (p < j->len && jp_digit((unsigned char)j->s[p]))
			p++;
	if (p < j->len && j->s[p] == '.') {
		p++;
		if (p >= j->len || !jp_digit((unsigned char)j->s[p]))
			return jp_fail(j, field, "expected number");
		while (p < j->len && jp_digit((unsigned char)j->s[p]))
			p++;
	}
	if (p < j->len && (j->s[p] == 'e' || j->s[p] == 'E')) {
		p++;
		if (p < j->len && (j->s[p] == '+' || j->s[p] == '-'))
			p++;
		if (p >= j->len || !jp_digit((unsigned char)j->s[p]))
			return jp_fail(j, field, "expected number");
		while (p < j->len && jp_digit((unsigned char)j->s[p]))
			p++;
	}
	j->pos = p;
	return 0;
}

/* A literal word (true, false, null) at j->pos. */
static bool
jp_word(struct jp *j, const char *w)
{
	size_t n = strlen(w);

	if (jp_peek(j) < 0 || j->len - j->pos < n ||
	    memcmp(j->s + j->pos, w, n) != 0)
		return false;
	j->pos += n;
	return true;
}

static int
jp_bool(struct jp *j, const char *field, uint64_t *v)
{
	if (jp_word(j, "true"))
		*v = 1;
	else if (jp_word(j, "false"))
		*v = 0;
	else
		return jp_fail(j, field, "expected true or false");
	return 0;
}

/* Skip any value (unknown keys), nesting at most JP_MAX_DEPTH deep. */
static int
jp_skip(struct jp *j, const char *field, int depth)
{
	bool trunc;
	int c = jp_peek(j), rc;

	if (depth > JP_MAX_DEPTH)
		return jp_fail(j, field, "nested deeper than %d", JP_MAX_DEPTH);
	if (c == '"')
		return jp_string(j, field, NULL, 0, &trunc);
	if (c == '{' || c == '[') {
		char close = c == '{' ? '}' : ']';

		j->pos++;
		if (jp_eat(j, close))
			return 0;
		for (;;) {
			if (c == '{') {
				rc = jp_string(j, field, NULL, 0, &trunc);
				if (rc < 0)
					return rc;
				if (!jp_eat(j, ':'))
					return jp_fail(j, field, "expected ':'");
			}
			rc = jp_skip(j, field, depth + 1);
			if (rc < 0)
				return rc;
			if (jp_eat(j, ','))
				continue;
			if (jp_eat(j, close))
				return 0;
			return jp_fail(j, field, "expected ',' or '%c'", close);
		}
	}
	if (jp_word(j, "true") || jp_word(j, "false") || jp_word(j, "null"))
		return 0;
	if (c != '-' && !jp_digit(c))
		return jp_fail(j, field, "expected a value");
	return jp_number(j, field);
}

/* Top-level keys of a summary line. */
enum jk {
	JK_SCHEMA, JK_KIND, JK_ID, JK_PROBER, JK_LCORE, JK_SEQ, JK_ENGINE,
	JK_WSTART, JK_WMS, JK_TARGET, JK_FLOW, JK_SRC, JK_DST, JK_SPORT,
	JK_DPORT, JK_DSCP, JK_SIZE, JK_SSID, JK_TS_TX, JK_TS_RX, JK_TS_REFL,
	JK_REFL_SYNCED, JK_FLAGS, JK_SENT, JK_RECEIVED, JK_LOST, JK_LATE,
	JK_DUP, JK_REORDERED, JK_UNMATCHED, JK_STALLED, JK_LOSS_RATIO,
	JK_RTT, JK_RAW, JK_REFL, JK_FWD, JK_BWD, JK_HOST, JK_HIST_OVERFLOW,
	JK_DROPPED_BEFORE, JK_RTT_HIST, JK_REFL_HIST,
	JK_MAX
};

enum jt {
	JT_UINT,	/* integer in [0, max] */
	JT_STR,		/* interpreted string */
	JT_BOOL,
	JT_NUM,		/* any number, derived: not read back */
	JT_FLAGS,
	JT_STATS,
	JT_HIST,
};

/* Which schema versions print a key (pm_record_json). */
#define JR_ALWAYS	0
#define JR_SCHEMA2	1	/* added in schema 2 */
#define JR_OWD		2	/* only with flag "owd" */
#define JR_OPTIONAL	3	/* never required */

static const struct jkey {
	const char *name;
	uint8_t type;
	uint8_t req;
	uint64_t max;
} jkeys[JK_MAX] = {
	[JK_SCHEMA] = { "schema", JT_UINT, JR_ALWAYS, UINT16_MAX },
	[JK_KIND] = { "kind", JT_STR, JR_ALWAYS, 0 },
	[JK_ID] = { "id", JT_STR, JR_ALWAYS, 0 },
	[JK_PROBER] = { "prober", JT_STR, JR_ALWAYS, 0 },
	[JK_LCORE] = { "lcore", JT_UINT, JR_ALWAYS, UINT16_MAX },
	[JK_SEQ] = { "seq", JT_UINT, JR_ALWAYS, UINT64_MAX },
	[JK_ENGINE] = { "engine", JT_STR, JR_ALWAYS, 0 },
	[JK_WSTART] = { "window_start_ns", JT_UINT, JR_ALWAYS, UINT64_MAX },
	[JK_WMS] = { "window_ms", JT_UINT, JR_ALWAYS, UINT32_MAX },
	[JK_TARGET] = { "target", JT_UINT, JR_ALWAYS, UINT32_MAX },
	[JK_FLOW] = { "flow", JT_UINT, JR_ALWAYS, UINT32_MAX },
	[JK_SRC] = { "src", JT_STR, JR_ALWAYS, 0 },
	[JK_DST] = { "dst", JT_STR, JR_ALWAYS, 0 },
	[JK_SPORT] = { "sport", JT_UINT, JR_ALWAYS, UINT16_MAX },
	[JK_DPORT] = { "dport", JT_UINT, JR_ALWAYS, UINT16_MAX },
	[JK_DSCP] = { "dscp", JT_UINT, JR_ALWAYS, UINT8_MAX },
	[JK_SIZE] = { "size", JT_UINT, JR_ALWAYS, UINT16_MAX },
	[JK_SSID] = { "ssid", JT_UINT, JR_ALWAYS, UINT16_MAX },
	[JK_TS_TX] = { "ts_tx", JT_STR, JR_ALWAYS, 0 },
	[JK_TS_RX] = { "ts_rx", JT_STR, JR_ALWAYS, 0 },
	[JK_TS_REFL] = { "ts_refl", JT_STR, JR_ALWAYS, 0 },
	[JK_REFL_SYNCED] = { "refl_synced", JT_BOOL, JR_ALWAYS, 0 },
	[JK_FLAGS] = { "flags", JT_FLAGS, JR_ALWAYS, 0 },
	[JK_SENT] = { "sent", JT_UINT, JR_ALWAYS, UINT64_MAX },
	[JK_RECEIVED] = { "received", JT_UINT, JR_ALWAYS, UINT64_MAX },
	[JK_LOST] = { "lost", JT_UINT, JR_ALWAYS, UINT64_MAX },
	[JK_LATE] = { "late", JT_UINT, JR_ALWAYS, UINT64_MAX },
	[JK_DUP] = { "dup", JT_UINT, JR_ALWAYS, UINT64_MAX },
	[JK_REORDERED] = { "reordered", JT_UINT, JR_ALWAYS, UINT64_MAX },
	[JK_UNMATCHED] = { "unmatched", JT_UINT, JR_ALWAYS, UINT64_MAX },
	[JK_STALLED] = { "stalled", JT_UINT, JR_ALWAYS, UINT64_MAX },
	[JK_LOSS_RATIO] = { "loss_ratio", JT_NUM, JR_ALWAYS, 0 },
	[JK_RTT] = { "rtt_ns", JT_STATS, JR_ALWAYS, 0 },
	[JK_RAW] = { "raw_rtt_ns", JT_STATS, JR_ALWAYS, 0 },
	[JK_REFL] = { "refl_delay_ns", JT_STATS, JR_ALWAYS, 0 },
	[JK_FWD] = { "fwd_ns", JT_STATS, JR_OWD, 0 },
	[JK_BWD] = { "bwd_ns", JT_STATS, JR_OWD, 0 },
	[JK_HOST] = { "host_delay_ns", JT_STATS, JR_OPTIONAL, 0 },
	[JK_HIST_OVERFLOW] = { "hist_overflow", JT_UINT, JR_ALWAYS,
			       UINT64_MAX },
	[JK_DROPPED_BEFORE] = { "dropped_before", JT_UINT, JR_SCHEMA2,
				UINT32_MAX },
	[JK_RTT_HIST] = { "rtt_hist", JT_HIST, JR_ALWAYS, 0 },
	[JK_REFL_HIST] = { "refl_hist", JT_HIST, JR_ALWAYS, 0 },
};

_Static_assert(JK_MAX <= 64, "seen keys are a uint64_t mask");

/* A statistics object as given. */
struct jstat {
	bool has_n, has_min, has_max, has_sum, has_mean;
	uint64_t n, min, max, sum, mean;
};

/* Everything read from one line, before it is turned into records. */
struct jctx {
	uint64_t seen;
	uint64_t v[JK_MAX];		/* JT_UINT, JT_BOOL and decoded strings */
	bool kind_ok;
	char kind[JP_STR_MAX];
	uint32_t id_prober;
	uint64_t id_lcore;
	uint64_t id_seq;
	struct jstat st[6];		/* JK_RTT .. JK_HOST */
	uint32_t nhist[2];		/* JK_RTT_HIST, JK_REFL_HIST */
	struct pm_hist_ent *hist[2];
	char *name;
	size_t namecap;
};

static int
jkey_find(const char *name)
{
	int k;

	for (k = 0; k < JK_MAX; k++)
		if (strcmp(jkeys[k].name, name) == 0)
			return k;
	return -1;
}

/* "<8 hex>-<lcore>-<seq>" */
static int
jp_parse_id(const char *s, struct jctx *c)
{
	uint64_t v;
	uint32_t id = 0;
	int i, d, part;

	for (i = 0; i < 8; i++) {
		d = jp_hex((unsigned char)s[i]);
		if (d < 0)
			return -EINVAL;
		id = id << 4 | (uint32_t)d;
	}
	s += 8;
	for (part = 0; part < 2; part++) {
		if (*s++ != '-' || !jp_digit((unsigned char)*s) ||
		    (s[0] == '0' && jp_digit((unsigned char)s[1])))
			return -EINVAL;
		for (v = 0; jp_digit((unsigned char)*s); s++) {
			d = *s - '0';
			if (v > (UINT64_MAX - (uint64_t)d) / 10)
				return -EINVAL;
			v = v * 10 + (uint64_t)d;
		}
		if (part == 0)
			c->id_lcore = v;
		else
			c->id_seq = v;
	}
	if (*s != '\0')
		return -EINVAL;
	c->id_prober = id;
	return 0;
}

static int
jp_str_field(struct jp *j, struct jctx *c, int k)
{
	const char *field = jkeys[k].name;
	char s[JP_STR_MAX], show[48];
	uint32_t ip;
	bool trunc;
	int rc, e;

	if (k == JK_PROBER) {
		/* Long names are kept truncated, as the binary batch does. */
		rc = jp_string(j, field, c->name, c->namecap, &trunc);
		if (rc == 0 && trunc && c->name != NULL && c->namecap > 0)
			c->name[enc_name_len(c->name, c->namecap - 1)] = '\0';
		return rc;
	}
	rc = jp_short_string(j, field, s);
	if (rc < 0)
		return rc;
	switch (k) {
	case JK_KIND:
		c->kind_ok = strcmp(s, "summary") == 0;
		jp_show(s, c->kind, sizeof(c->kind));
		return 0;
	case JK_ID:
		if (jp_parse_id(s, c) < 0)
			return jp_fail(j, field, "'%s' is not "
				       "\"<prober 8 hex>-<lcore>-<seq>\"",
				       jp_show(s, show, sizeof(show)));
		return 0;
	case JK_ENGINE:
		for (e = PM_ENGINE_NONE; e <= PM_ENGINE_RDMA_UD; e++)
			if (strcmp(s, pm_engine_str(e)) == 0)
				break;
		if (e > PM_ENGINE_RDMA_UD)
			return jp_fail(j, field, "unknown engine '%s'",
				       jp_show(s, show, sizeof(show)));
		c->v[k] = (uint64_t)e;
		return 0;
	case JK_SRC:
	case JK_DST:
		if (pm_cfg_parse_ipv4(s, &ip) < 0)
			return jp_fail(j, field, "invalid IPv4 address '%s'",
				       jp_show(s, show, sizeof(show)));
		c->v[k] = ip;
		return 0;
	default:	/* ts_* */
		e = pm_ts_src_parse(s);
		if (e < 0)
			return jp_fail(j, field, "unknown timestamp source '%s'",
				       jp_show(s, show, sizeof(show)));
		c->v[k] = (uint64_t)e;
		return 0;
	}
}

static int
jp_flags(struct jp *j, struct jctx *c)
{
	static const char *const names[] = {
		"owd", "no_refl_ts", "final", "burst", "stall"
	};
	char s[JP_STR_MAX], show[48];
	unsigned int i;
	int rc;

	if (!jp_eat(j, '['))
		return jp_fail(j, "flags", "expected array");
	c->v[JK_FLAGS] = 0;
	if (jp_eat(j, ']'))
		return 0;
	for (;;) {
		rc = jp_short_string(j, "flags", s);
		if (rc < 0)
			return rc;
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strcmp(s, names[i]) == 0)
				break;
		if (i == sizeof(names) / sizeof(names[0]))
			return jp_fail(j, "flags", "unknown flag '%s'",
				       jp_show(s, show, sizeof(show)));
		/* Bit i is names[i]: PM_REC_F_OWD, _NO_REFL_TS, _FINAL, _BURST,
		 * _STALL. */
		c->v[JK_FLAGS] |= 1u << i;
		if (jp_eat(j, ','))
			continue;
		if (jp_eat(j, ']'))
			return 0;
		return jp_fail(j, "flags", "expected ',' or ']'");
	}
}

/* {"n":..,"min":..,"mean":..,"sum":..,<quantiles>,"max":..} */
static int
jp_stats(struct jp *j, const char *field, struct jstat *st)
{
	static const char *const keys[] = { "n", "min", "max", "sum", "mean" };
	char key[16], sub[40];
	unsigned int seen = 0, i;
	uint64_t *val;
	bool trunc, *has;
	int rc;

	memset(st, 0, sizeof(*st));
	if (!jp_eat(j, '{'))
		return jp_fail(j, field, "expected object");
	if (jp_eat(j, '}'))
		return 0;
	for (;;) {
		rc = jp_string(j, field, key, sizeof(key), &trunc);
		if (rc < 0)
			return rc;
		if (!jp_eat(j, ':'))
			return jp_fail(j, field, "expected ':'");
		for (i = 0; i < 5 && !trunc; i++)
			if (strcmp(key, keys[i]) == 0)
				break;
		if (trunc || i == 5) {
			/* Quantiles (derived) and keys of later versions. */
			rc = jp_skip(j, field, 1);
		} else {
			snprintf(sub, sizeof(sub), "%s.%s", field, keys[i]);
			if (seen & (1u << i))
				return jp_fail(j, sub, "duplicate key");
			seen |= 1u << i;
			switch (i) {
			case 0:
				val = &st->n;
				has = &st->has_n;
				break;
			case 1:
				val = &st->min;
				has = &st->has_min;
				break;
			case 2:
				val = &st->max;
				has = &st->has_max;
				break;
			case 3:
				val = &st->sum;
				has = &st->has_sum;
				break;
			default:
				val = &st->mean;
				has = &st->has_mean;
				break;
			}
			rc = jp_uint(j, sub, UINT64_MAX, val);
			*has = true;
		}
		if (rc < 0)
			return rc;
		if (jp_eat(j, ','))
			continue;
		if (jp_eat(j, '}'))
			return 0;
		return jp_fail(j, field, "expected ',' or '}'");
	}
}

/* [[bucket,count],...]: buckets in range and strictly ascending. */
static int
jp_hist(struct jp *j, const char *field, struct pm_hist_ent *ent,
	uint32_t *n)
{
	uint64_t b, cnt;
	int rc;

	*n = 0;
	if (!jp_eat(j, '['))
		return jp_fail(j, field, "expected array");
	if (jp_eat(j, ']'))
		return 0;
	for (;;) {
		if (!jp_eat(j, '['))
			return jp_fail(j, field, "expected [bucket,count]");
		rc = jp_uint(j, field, PM_HIST_NBUCKETS - 1, &b);
		if (rc < 0)
			return rc;
		if (!jp_eat(j, ','))
			return jp_fail(j, field, "expected [bucket,count]");
		rc = jp_uint(j, field, UINT32_MAX, &cnt);
		if (rc < 0)
			return rc;
		if (!jp_eat(j, ']'))
			return jp_fail(j, field, "expected [bucket,count]");
		/* Ascending order also bounds the count of entries. */
		if (*n > 0 && b <= ent[*n - 1].bucket)
			return jp_fail(j, field, "bucket %" PRIu64 " not above "
				       "the previous %u", b,
				       ent[*n - 1].bucket);
		ent[*n].bucket = (uint16_t)b;
		ent[*n].rsvd = 0;
		ent[*n].count = (uint32_t)cnt;
		(*n)++;
		if (jp_eat(j, ','))
			continue;
		if (jp_eat(j, ']'))
			return 0;
		return jp_fail(j, field, "expected ',' or ']'");
	}
}

static int
jp_field(struct jp *j, struct jctx *c, int k)
{
	const struct jkey *d = &jkeys[k];
	uint32_t hi;

	switch (d->type) {
	case JT_UINT:
		return jp_uint(j, d->name, d->max, &c->v[k]);
	case JT_STR:
		return jp_str_field(j, c, k);
	case JT_BOOL:
		return jp_bool(j, d->name, &c->v[k]);
	case JT_NUM:
		return jp_number(j, d->name);
	case JT_FLAGS:
		return jp_flags(j, c);
	case JT_STATS:
		return jp_stats(j, d->name, &c->st[k - JK_RTT]);
	default:	/* JT_HIST */
		hi = k == JK_RTT_HIST ? 0 : 1;
		return jp_hist(j, d->name, c->hist[hi], &c->nhist[hi]);
	}
}

/*
 * Parse the object.  The prescan reads only "schema" and "kind" (and
 * checks the syntax), so a line of an unknown version is refused as such
 * rather than for whatever field it changed.
 */
static int
jp_object(struct jp *j, struct jctx *c, bool prescan)
{
	char key[24];
	bool trunc;
	int k, rc;

	j->pos = 0;
	c->seen = 0;
	if (!jp_eat(j, '{'))
		return jp_fail(j, NULL, "expected '{' (a JSON summary object)");
	if (!jp_eat(j, '}')) {
		for (;;) {
			rc = jp_string(j, NULL, key, sizeof(key), &trunc);
			if (rc < 0)
				return rc;
			if (!jp_eat(j, ':'))
				return jp_fail(j, key, "expected ':'");
			k = trunc ? -1 : jkey_find(key);
			if (prescan && k != JK_SCHEMA && k != JK_KIND)
				k = -1;
			if (k < 0) {
				rc = jp_skip(j, trunc ? NULL : key, 1);
			} else if (c->seen & (1ull << k)) {
				return jp_fail(j, key, "duplicate key");
			} else {
				c->seen |= 1ull << k;
				rc = jp_field(j, c, k);
			}
			if (rc < 0)
				return rc;
			if (jp_eat(j, ','))
				continue;
			if (jp_eat(j, '}'))
				break;
			return jp_fail(j, NULL, "expected ',' or '}'");
		}
	}
	if (jp_peek(j) >= 0)
		return jp_fail(j, NULL, "unexpected data after the summary");
	return 0;
}

/*
 * Turn a statistics object into min/max/sum.  @total: samples in its
 * histogram (rtt_ns, refl_delay_ns) or the RTT's (the others); @has_hist:
 * "n" counts @total.
 */
static int
jp_stat_fill(struct jp *j, const char *field, const struct jstat *st,
	     uint64_t total, bool has_hist, uint64_t schema,
	     struct pm_rec_stat *out)
{
	out->min = UINT64_MAX;
	out->max = 0;
	out->sum = 0;
	if (!st->has_min) {
		/* Only {"n":0} (or {}) means "no samples". */
		if (st->has_max || st->has_sum || st->has_mean ||
		    (st->has_n && st->n != 0))
			return jp_fail(j, field, "no 'min' in a non-empty "
				       "statistics object");
		return 0;
	}
	if (!st->has_max)
		return jp_fail(j, field, "missing 'max'");
	if (has_hist && st->has_n && st->n != total)
		return jp_fail(j, field, "n %" PRIu64 " differs from the %"
			       PRIu64 " samples of its histogram", st->n,
			       total);
	out->min = st->min;
	out->max = st->max;
	if (st->has_sum) {
		out->sum = st->sum;
	} else if (schema >= 2) {
		return jp_fail(j, field, "missing 'sum'");
	} else if (!st->has_mean) {
		return jp_fail(j, field, "missing 'mean'");
	} else if (__builtin_mul_overflow(st->mean, total, &out->sum)) {
		return jp_fail(j, field, "mean x n out of range");
	}
	return 0;
}

static uint64_t
jp_total(const struct pm_hist_ent *e, uint32_t n)
{
	uint64_t t = 0;
	uint32_t i;

	for (i = 0; i < n; i++)
		t += e[i].count;
	return t;
}

/* IP protocol of an engine's probes (the JSON line does not carry it). */
static uint8_t
jp_engine_proto(uint64_t engine)
{
	switch (engine) {
	case PM_ENGINE_DPDK_STAMP:
	case PM_ENGINE_RDMA_UD:		/* RoCEv2 rides UDP */
		return 17;
	case PM_ENGINE_DPDK_ICMP:
		return 1;
	case PM_ENGINE_DPDK_TCP:
		return 6;
	default:
		return 0;
	}
}

/* Fields read: check presence and consistency, fill @h and @b. */
static int
jp_finish(struct jp *j, struct jctx *c, struct pm_rec_hdr *h,
	  struct pm_rec_body *b)
{
	uint64_t schema = c->v[JK_SCHEMA], rtt_n, refl_n;
	bool owd = (c->v[JK_FLAGS] & PM_REC_F_OWD) != 0;
	int k, rc;

	j->done = true;
	for (k = 0; k < JK_MAX; k++) {
		if (c->seen & (1ull << k))
			continue;
		if (jkeys[k].req == JR_ALWAYS ||
		    (jkeys[k].req == JR_SCHEMA2 && schema >= 2) ||
		    (jkeys[k].req == JR_OWD && owd))
			return jp_fail(j, jkeys[k].name, "missing");
	}
	if (c->id_lcore != c->v[JK_LCORE] || c->id_seq != c->v[JK_SEQ])
		return jp_fail(j, "id", "lcore-seq %" PRIu64 "-%" PRIu64
			       " differ from fields lcore %" PRIu64 ", seq %"
			       PRIu64, c->id_lcore, c->id_seq, c->v[JK_LCORE],
			       c->v[JK_SEQ]);

	memset(h, 0, sizeof(*h));
	h->kind = PM_REC_SUMMARY;
	h->engine = (uint8_t)c->v[JK_ENGINE];
	h->flags = (uint16_t)c->v[JK_FLAGS];
	h->prober_id = c->id_prober;
	h->lcore = (uint16_t)c->v[JK_LCORE];
	h->seq = c->v[JK_SEQ];
	h->window_start_ns = c->v[JK_WSTART];
	h->window_ms = (uint32_t)c->v[JK_WMS];
	h->target = (uint32_t)c->v[JK_TARGET];
	h->flow = (uint32_t)c->v[JK_FLOW];
	h->af = 4;
	h->proto = jp_engine_proto(c->v[JK_ENGINE]);
	h->dscp = (uint8_t)c->v[JK_DSCP];
	h->ts_tx = (uint8_t)c->v[JK_TS_TX];
	h->ts_rx = (uint8_t)c->v[JK_TS_RX];
	h->ts_refl = (uint8_t)c->v[JK_TS_REFL];
	h->refl_synced = (uint8_t)c->v[JK_REFL_SYNCED];
	h->src = (uint32_t)c->v[JK_SRC];
	h->dst = (uint32_t)c->v[JK_DST];
	h->sport = (uint16_t)c->v[JK_SPORT];
	h->dport = (uint16_t)c->v[JK_DPORT];
	h->ssid = (uint16_t)c->v[JK_SSID];
	h->size = (uint16_t)c->v[JK_SIZE];

	memset(b, 0, sizeof(*b));
	b->sent = c->v[JK_SENT];
	b->received = c->v[JK_RECEIVED];
	b->lost = c->v[JK_LOST];
	b->late = c->v[JK_LATE];
	b->dup = c->v[JK_DUP];
	b->reordered = c->v[JK_REORDERED];
	b->unmatched = c->v[JK_UNMATCHED];
	b->stalled = c->v[JK_STALLED];
	b->hist_overflow = c->v[JK_HIST_OVERFLOW];
	b->dropped_before = (uint32_t)c->v[JK_DROPPED_BEFORE];

	/* Sample counts as pm_record_json derives them. */
	rtt_n = jp_total(c->hist[0], c->nhist[0]);
	refl_n = jp_total(c->hist[1], c->nhist[1]);
	rc = jp_stat_fill(j, "rtt_ns", &c->st[0], rtt_n, true, schema,
			  &b->rtt);
	if (rc == 0)
		rc = jp_stat_fill(j, "raw_rtt_ns", &c->st[1], rtt_n, false,
				  schema, &b->raw);
	if (rc == 0)
		rc = jp_stat_fill(j, "refl_delay_ns", &c->st[2], refl_n, true,
				  schema, &b->refl);
	if (rc == 0)
		rc = jp_stat_fill(j, "fwd_ns", &c->st[3], rtt_n, false, schema,
				  &b->fwd);
	if (rc == 0)
		rc = jp_stat_fill(j, "bwd_ns", &c->st[4], rtt_n, false, schema,
				  &b->bwd);
	if (rc == 0)
		rc = jp_stat_fill(j, "host_delay_ns", &c->st[5], 0, false,
				  schema, &b->host);
	if (rc == 0 && c->st[5].has_min) {
		if (!c->st[5].has_n || c->st[5].n == 0)
			return jp_fail(j, "host_delay_ns", "no 'n' in a "
				       "non-empty statistics object");
		b->host_n = c->st[5].n;
	}
	return rc;
}

/* pm_enc_json_decode with the scratch for histograms supplied. */
static int
json_decode(const char *line, size_t len, struct pm_record *recs,
	    unsigned int max, char *name, size_t namecap, char *err,
	    size_t errcap, struct enc_scratch *s)
{
	struct jp j = { .s = line, .len = len, .err = err, .errcap = errcap };
	struct pm_rec_body b;
	struct pm_rec_hdr h;
	struct jctx c;
	int rc;

	memset(&c, 0, sizeof(c));
	c.hist[0] = s->rtt;
	c.hist[1] = s->refl;
	c.name = name;
	c.namecap = namecap;
	if (name != NULL && namecap > 0)
		name[0] = '\0';

	rc = jp_object(&j, &c, true);
	if (rc < 0)
		return rc;
	if (!(c.seen & (1ull << JK_SCHEMA)))
		return enc_err(err, errcap, -EINVAL, "field 'schema': missing");
	if (c.v[JK_SCHEMA] < PM_REC_SCHEMA_MIN || c.v[JK_SCHEMA] > PM_REC_SCHEMA)
		return enc_err(err, errcap, -EPROTONOSUPPORT, "JSON summary "
			       "schema %" PRIu64 " is not supported by this "
			       "build (understands %d..%d)", c.v[JK_SCHEMA],
			       PM_REC_SCHEMA_MIN, PM_REC_SCHEMA);
	if (!(c.seen & (1ull << JK_KIND)))
		return enc_err(err, errcap, -EINVAL, "field 'kind': missing");
	if (!c.kind_ok)
		return enc_err(err, errcap, -EINVAL, "not a summary (kind '%s')",
			       c.kind);

	rc = jp_object(&j, &c, false);
	if (rc == 0)
		rc = jp_finish(&j, &c, &h, &b);
	if (rc < 0)
		return rc;
	rc = pm_record_build_ents(recs, max, &h, &b, s->rtt, c.nhist[0], s->refl,
		       c.nhist[1]);
	if (rc < 0)
		return enc_err(err, errcap, rc, "the summary needs %u records, "
			       "room for %u", pm_record_nparts(c.nhist[0],
							       c.nhist[1]),
			       max);
	if (pm_record_check(recs, (unsigned int)rc) < 0)
		return enc_err(err, errcap, -EINVAL, "rebuilt records fail "
			       "their check");
	return rc;
}

int
pm_enc_json_decode(const char *line, size_t len, struct pm_record *recs,
		   unsigned int max, char *name, size_t namecap, char *err,
		   size_t errcap)
{
	struct enc_scratch *s;
	int rc;

	if (err != NULL && errcap > 0)
		err[0] = '\0';
	if ((line == NULL && len > 0) || (recs == NULL && max > 0))
		return enc_err(err, errcap, -EINVAL, "no buffer");
	/* Only the histogram arrays are used: no need for record room. */
	s = malloc(offsetof(struct enc_scratch, recs));
	if (s == NULL)
		return enc_err(err, errcap, -ENOMEM, "out of memory");
	rc = json_decode(line, len, recs, max, name, namecap, err, errcap, s);
	free(s);
	return rc;
}

/* ---------------------------------------------------------------------- */

/* Longest prober name a JSON message hands to the callback. */
#define ENC_JSON_NAME_MAX	256

int
pm_enc_decode(int enc, const void *buf, size_t len, pm_enc_summary_cb cb,
	      void *arg, char *err, size_t errcap)
{
	const uint8_t *p = buf;
	char name[ENC_JSON_NAME_MAX];
	struct enc_scratch *s;
	size_t i;
	int rc;

	if (err != NULL && errcap > 0)
		err[0] = '\0';
	if (buf == NULL && len > 0)
		return enc_err(err, errcap, -EINVAL, "no buffer");
	if (enc == 0) {
		/* No header: a JSON object starts with '{' (after blanks),
		 * a batch with its magic. */
		for (i = 0; i < len && (p[i] == ' ' || p[i] == '\t' ||
					p[i] == '\r' || p[i] == '\n'); i++)
			;
		if (i < len && p[i] == '{')
			enc = PM_ENC_JSON;
		else if (len >= 4 && (p[0] | p[1] << 8 | p[2] << 16 |
				      (uint32_t)p[3] << 24) == PM_ENC_BIN_MAGIC)
			enc = PM_ENC_BINARY;
		else if (len == 0)
			return enc_err(err, errcap, -EINVAL, "empty message");
		else
			return enc_err(err, errcap, -EPROTONOSUPPORT, "unknown "
				       "encoding: neither a JSON object nor a "
				       "pmesh binary batch (byte %zu is 0x%02x)",
				       i < len ? i : 0, p[i < len ? i : 0]);
	}
	if (enc == PM_ENC_BINARY)
		return pm_enc_bin_decode(buf, len, cb, arg, err, errcap);
	if (enc != PM_ENC_JSON)
		return enc_err(err, errcap, -EPROTONOSUPPORT, "encoding %d is "
			       "not supported by this build (understands "
			       "json, binary)", enc);
	s = malloc(sizeof(*s));
	if (s == NULL)
		return enc_err(err, errcap, -ENOMEM, "out of memory");
	rc = json_decode(buf, len, s->recs, ENC_MAX_PARTS, name, sizeof(name),
			 err, errcap, s);
	if (rc > 0 && cb != NULL) {
		int crc = cb(arg, s->recs, (unsigned int)rc, name);

		rc = crc != 0 ? crc : 1;
	} else if (rc > 0) {
		rc = 1;
	}
	free(s);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Path records */

#define PATH_PROTO_UDP	17
#define PATH_PROTO_TCP	6
#define PATH_PROTO_ICMP	1

static const char *
path_proto_str(uint8_t proto)
{
	return proto == PATH_PROTO_TCP ? "tcp" : proto == PATH_PROTO_ICMP ?
	       "icmp" : "udp";
}

/* Append to @buf[cap] at *@n; false once it no longer fits. */
static bool
path_put(char *buf, size_t cap, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static bool
path_put(char *buf, size_t cap, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (*n >= cap)
		return false;
	va_start(ap, fmt);
	k = vsnprintf(buf + *n, cap - *n, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= cap - *n) {
		*n = cap;
		return false;
	}
	*n += (size_t)k;
	return true;
}

static void
path_put_str(char *buf, size_t cap, size_t *n, const char *s)
{
	path_put(buf, cap, n, "\"");
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			path_put(buf, cap, n, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			path_put(buf, cap, n, "\\u%04x", c);
		else
			path_put(buf, cap, n, "%c", c);
	}
	path_put(buf, cap, n, "\"");
}

static void
path_put_ip(char *buf, size_t cap, size_t *n, uint32_t ip)
{
	path_put(buf, cap, n, "\"%u.%u.%u.%u\"", ip >> 24, (ip >> 16) & 255,
		 (ip >> 8) & 255, ip & 255);
}

int
pm_enc_path_json(const struct pm_path *p, char *buf, size_t cap)
{
	size_t n = 0;
	unsigned int i;

	if (p == NULL || buf == NULL || cap == 0)
		return -EINVAL;
	path_put(buf, cap, &n, "{\"schema\":%d,\"kind\":\"path\",\"prober\":",
		 PM_PATH_SCHEMA);
	path_put_str(buf, cap, &n, p->prober);
	path_put(buf, cap, &n, ",\"time_ns\":%" PRIu64 ",\"src\":", p->time_ns);
	path_put_ip(buf, cap, &n, p->src);
	path_put(buf, cap, &n, ",\"dst\":");
	path_put_ip(buf, cap, &n, p->dst);
	path_put(buf, cap, &n, ",\"sport\":%u,\"dport\":%u,\"proto\":\"%s\","
		 "\"hops\":[", p->sport, p->dport, path_proto_str(p->proto));
	for (i = 0; i < p->nhops && i < PM_PATH_MAX_HOPS; i++) {
		if (i > 0)
			path_put(buf, cap, &n, ",");
		if (p->hops[i] == 0)
			path_put(buf, cap, &n, "\"*\"");
		else
			path_put_ip(buf, cap, &n, p->hops[i]);
	}
	path_put(buf, cap, &n, "]");
	if (p->spine[0] != '\0') {
		path_put(buf, cap, &n, ",\"spine\":");
		path_put_str(buf, cap, &n, p->spine);
	}
	if (!path_put(buf, cap, &n, "}"))
		return -ENOSPC;
	return (int)n;
}

enum {
	PK_SCHEMA, PK_KIND, PK_PROBER, PK_TIME, PK_SRC, PK_DST, PK_SPORT,
	PK_DPORT, PK_PROTO, PK_HOPS, PK_SPINE, PK_N
};

static const char *const path_keys[PK_N] = {
	"schema", "kind", "prober", "time_ns", "src", "dst", "sport", "dport",
	"proto", "hops", "spine",
};

static int
path_ip(struct jp *j, const char *field, uint32_t *ip, bool star)
{
	char s[JP_STR_MAX];
	int rc;

	rc = jp_short_string(j, field, s);
	if (rc < 0)
		return rc;
	if (star && strcmp(s, "*") == 0) {
		*ip = 0;
		return 0;
	}
	if (pm_cfg_parse_ipv4(s, ip) < 0 || *ip == 0)
		return jp_fail(j, field, "not an IPv4 address%s",
			       star ? " or \"*\"" : "");
	return 0;
}

static int
path_hops(struct jp *j, struct pm_path *p)
{
	int rc;

	if (!jp_eat(j, '['))
		return jp_fail(j, "hops", "expected an array");
	if (jp_eat(j, ']'))
		return 0;
	for (;;) {
		if (p->nhops == PM_PATH_MAX_HOPS)
			return jp_fail(j, "hops", "more than %d hops",
				       PM_PATH_MAX_HOPS);
		rc = path_ip(j, "hops", &p->hops[p->nhops], true);
		if (rc < 0)
			return rc;
		p->nhops++;
		if (jp_eat(j, ','))
			continue;
		if (jp_eat(j, ']'))
			return 0;
		return jp_fail(j, "hops", "expected ',' or ']'");
	}
}

static int
path_field(struct jp *j, struct pm_path *p, int k, uint64_t *schema)
{
	char s[JP_STR_MAX];
	bool trunc;
	uint64_t v;
	int rc;

	switch (k) {
	case PK_SCHEMA:
		return jp_uint(j, "schema", 65535, schema);
	case PK_KIND:
		rc = jp_short_string(j, "kind", s);
		if (rc == 0 && strcmp(s, "path") != 0)
			return jp_fail(j, "kind", "not a path record");
		return rc;
	case PK_PROBER:
		rc = jp_string(j, "prober", p->prober, sizeof(p->prober), &trunc);
		if (rc == 0 && trunc)
			return jp_fail(j, "prober", "longer than %d bytes",
				       PM_PATH_NAME_MAX - 1);
		return rc;
	case PK_TIME:
		return jp_uint(j, "time_ns", UINT64_MAX, &p->time_ns);
	case PK_SRC:
		return path_ip(j, "src", &p->src, false);
	case PK_DST:
		return path_ip(j, "dst", &p->dst, false);
	case PK_SPORT:
	case PK_DPORT:
		rc = jp_uint(j, path_keys[k], 65535, &v);
		if (rc == 0 && k == PK_SPORT)
			p->sport = (uint16_t)v;
		else if (rc == 0)
			p->dport = (uint16_t)v;
		return rc;
	case PK_PROTO:
		rc = jp_short_string(j, "proto", s);
		if (rc < 0)
			return rc;
		if (strcmp(s, "udp") == 0)
			p->proto = PATH_PROTO_UDP;
		else if (strcmp(s, "tcp") == 0)
			p->proto = PATH_PROTO_TCP;
		else if (strcmp(s, "icmp") == 0)
			p->proto = PATH_PROTO_ICMP;
		else
			return jp_fail(j, "proto", "expected udp, tcp or icmp");
		return 0;
	case PK_HOPS:
		return path_hops(j, p);
	default:
		if (jp_word(j, "null")) {
			p->spine[0] = '\0';
			return 0;
		}
		rc = jp_string(j, "spine", p->spine, sizeof(p->spine), &trunc);
		if (rc == 0 && trunc)
			return jp_fail(j, "spine", "longer than %d bytes",
				       PM_PATH_NAME_MAX - 1);
		return rc;
	}
}

int
pm_enc_path_decode(const char *buf, size_t len, struct pm_path *p, char *err,
		   size_t errcap)
{
	struct jp j = { .s = buf, .len = len, .err = err, .errcap = errcap };
	uint64_t schema = 0;
	uint32_t seen = 0;
	char key[24];
	bool trunc;
	int k, rc;

	if (err != NULL && errcap > 0)
		err[0] = '\0';
	if (p == NULL || (buf == NULL && len > 0))
		return enc_err(err, errcap, -EINVAL, "no buffer");
	memset(p, 0, sizeof(*p));
	p->proto = PATH_PROTO_UDP;
	if (!jp_eat(&j, '{'))
		return jp_fail(&j, NULL, "expected '{' (a JSON path record)");
	if (!jp_eat(&j, '}')) {
		for (;;) {
			rc = jp_string(&j, NULL, key, sizeof(key), &trunc);
			if (rc < 0)
				return rc;
			if (!jp_eat(&j, ':'))
				return jp_fail(&j, key, "expected ':'");
			for (k = 0; !trunc && k < PK_N; k++)
				if (strcmp(key, path_keys[k]) == 0)
					break;
			if (trunc || k == PK_N)
				rc = jp_skip(&j, trunc ? NULL : key, 1);
			else if (seen & (1u << k))
				return jp_fail(&j, key, "duplicate key");
			else
				rc = path_field(&j, p, k, &schema);
			if (rc < 0)
				return rc;
			if (k < PK_N)
				seen |= 1u << k;
			if (jp_eat(&j, ','))
				continue;
			if (jp_eat(&j, '}'))
				break;
			return jp_fail(&j, NULL, "expected ',' or '}'");
		}
	}
	if (jp_peek(&j) >= 0)
		return jp_fail(&j, NULL, "unexpected data after the path record");
	if (!(seen & (1u << PK_SCHEMA)))
		return enc_err(err, errcap, -EINVAL, "field 'schema': missing");
	if (schema != PM_PATH_SCHEMA)
		return enc_err(err, errcap, -EPROTONOSUPPORT, "path record schema "
			       "%" PRIu64 " is not supported by this build "
			       "(understands %d)", schema, PM_PATH_SCHEMA);
	for (k = PK_KIND; k <= PK_DPORT; k++)
		if (k != PK_PROBER && k != PK_TIME && !(seen & (1u << k)))
			return enc_err(err, errcap, -EINVAL, "field '%s': "
				       "missing", path_keys[k]);
	if (!(seen & (1u << PK_HOPS)) && p->spine[0] == '\0')
		return enc_err(err, errcap, -EINVAL, "neither 'hops' nor "
			       "'spine': the record says nothing of the path");
	return 0;
}
