/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/enc.c: summaries of 0, a few and many buckets (one to
 * 84 parts) survive a binary batch byte for byte and a JSON line field for
 * field (pm_record_json of the decoded summary is the line it came from);
 * batches fill up with -ENOSPC and nothing half-written; every truncation
 * of a batch or a line is refused without a crash; unknown versions are
 * refused with a message naming them; schema-1 lines still decode.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "pm_clock.h"
#include "pm_enc.h"
#include "pm_hist.h"
#include "pm_record.h"

#define MAXP	128
#define NAME	"pod1-a1"
#define LINE	(1 << 17)

static uint32_t rtt_counts[PM_HIST_NBUCKETS];
static uint32_t refl_counts[PM_HIST_NBUCKETS];
static struct pm_record want[MAXP];
static struct pm_record got[MAXP];
static uint8_t batch[1 << 20];
static char line[LINE], line2[LINE], line3[LINE];
static char err[256];

/*
 * A deterministic summary of sequence @seq with @nr RTT and @nf reflector
 * buckets, written into @recs[max] by pm_record_build; returns the parts.
 */
static int
make_summary(struct pm_record *recs, unsigned int max, uint64_t seq,
	     uint32_t nr, uint32_t nf, uint16_t flags)
{
	struct pm_hist rtt, refl;
	struct pm_rec_hdr h;
	struct pm_rec_body b;
	uint32_t i;

	memset(&h, 0, sizeof(h));
	h.engine = PM_ENGINE_DPDK_STAMP;
	h.flags = flags;
	h.prober_id = pm_record_id_hash(NAME);
	h.lcore = 3;
	h.seq = seq;
	h.window_start_ns = 1700000000000000000ull + seq * 1000000000ull;
	h.window_ms = 1000;
	h.target = (uint32_t)seq % 5;
	h.flow = (uint32_t)seq % 7;
	h.af = 4;
	h.proto = 17;
	h.dscp = 46;
	h.ts_tx = PM_TS_TSC;
	h.ts_rx = PM_TS_NIC;
	h.ts_refl = PM_TS_REMOTE;
	h.refl_synced = (uint8_t)(seq & 1);
	h.src = 0x0a000001;
	h.dst = 0x0a000102 + (uint32_t)seq;
	h.sport = (uint16_t)(49152 + seq % 16);
	h.dport = 862;
	h.ssid = (uint16_t)(seq + 1);
	h.size = 44;

	memset(&b, 0, sizeof(b));
	b.sent = 1000 + seq;
	b.received = 990;
	b.lost = seq % 11;
	b.late = 1;
	b.dup = 2;
	b.reordered = 3;
	b.unmatched = 4;
	b.stalled = 5;
	b.rtt.min = b.raw.min = b.refl.min = UINT64_MAX;
	b.fwd.min = b.bwd.min = b.host.min = UINT64_MAX;
	if (flags & PM_REC_F_NO_REFL_TS) {
		/* An rdma-ud style summary: the prober's host delay. */
		b.host.min = 1500 + seq;
		b.host.max = 24000;
		b.host.sum = 7 * 9000;
		b.host_n = 7;
	}
	b.hist_overflow = seq % 3;
	b.dropped_before = (uint32_t)(seq % 4);

	pm_hist_init_dense(&rtt, rtt_counts);
	pm_hist_init_dense(&refl, refl_counts);
	for (i = 0; i < nr; i++)
		pm_hist_add_bucket(&rtt, nr == PM_HIST_NBUCKETS ? i :
				   500 + i * 3, i + 1 + seq % 5);
	for (i = 0; i < nf; i++)
		pm_hist_add_bucket(&refl, nf == PM_HIST_NBUCKETS ? i :
				   200 + i * 2, 2 * i + 1);
	if (nr > 0) {
		b.rtt.min = pm_hist_bucket_lo(nr == PM_HIST_NBUCKETS ? 0 : 500);
		b.rtt.max = rtt.max - 1;
		b.rtt.sum = rtt.sum + seq;
		b.raw.min = b.rtt.min + 2000;
		b.raw.max = b.rtt.max + 2500;
		b.raw.sum = b.rtt.sum + 2100 * pm_hist_count(&rtt);
		if (flags & PM_REC_F_OWD) {
			b.fwd.min = 400;
			b.fwd.max = 9000 + seq;
			b.fwd.sum = 5000 * pm_hist_count(&rtt);
			b.bwd.min = 300;
			b.bwd.max = 8000;
			b.bwd.sum = 4000 * pm_hist_count(&rtt);
		}
	}
	if (nf > 0) {
		b.refl.min = refl.min + 1;
		b.refl.max = refl.max;
		b.refl.sum = refl.sum;
	}
	return pm_record_build(recs, max, &h, &b, &rtt, &refl);
}

/* Bucket counts of summary @seq in the many-summaries batch. */
static void
many_shape(uint64_t seq, uint32_t *nr, uint32_t *nf, uint16_t *flags)
{
	*nr = (uint32_t)(seq * 7 % 120);
	*nf = (uint32_t)(seq * 3 % 45);
	*flags = (uint16_t)(seq % 8);
}

struct collect {
	unsigned int calls;
	int n;			/* parts of the last summary */
	char name[PM_ENC_NAME_MAX + 1];
	bool many;		/* check each against many_shape() */
	int stop_at;		/* return 7 on this call (1-based) */
};

static int
collect_cb(void *arg, const struct pm_record *recs, unsigned int n,
	   const char *name)
{
	static struct pm_record exp[MAXP];
	struct collect *c = arg;
	uint32_t nr, nf;
	uint16_t flags;
	int en;

	c->calls++;
	assert_non_null(name);
	snprintf(c->name, sizeof(c->name), "%s", name);
	assert_int_equal(pm_record_check(recs, n), 0);
	if (c->many) {
		assert_int_equal(recs[0].h.seq, c->calls - 1);
		many_shape(recs[0].h.seq, &nr, &nf, &flags);
		en = make_summary(exp, MAXP, recs[0].h.seq, nr, nf, flags);
		assert_int_equal(en, (int)n);
		assert_memory_equal(exp, recs, n * sizeof(*recs));
	} else if (n <= MAXP) {
		memcpy(got, recs, n * sizeof(*recs));
	}
	c->n = (int)n;
	if (c->stop_at > 0 && c->calls == (unsigned int)c->stop_at)
		return 7;
	return 0;
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(pm_enc_str(PM_ENC_JSON), "json");
	assert_string_equal(pm_enc_str(PM_ENC_BINARY), "binary");
	assert_null(pm_enc_str(0));
	assert_null(pm_enc_str(3));
	assert_int_equal(pm_enc_parse("json"), PM_ENC_JSON);
	assert_int_equal(pm_enc_parse("binary"), PM_ENC_BINARY);
	assert_int_equal(pm_enc_parse("JSON"), -EINVAL);
	assert_int_equal(pm_enc_parse(""), -EINVAL);
	assert_int_equal(pm_enc_parse(NULL), -EINVAL);
}

/* One summary: batch of one, decoded records memcmp-equal. */
static void
bin_roundtrip(uint32_t nr, uint32_t nf, uint16_t flags, unsigned int parts)
{
	struct collect c = { 0 };
	struct pm_enc_bin b;
	size_t len;
	int n, rc;

	n = make_summary(want, MAXP, 42, nr, nf, flags);
	assert_int_equal(n, (int)parts);
	assert_int_equal(pm_enc_bin_begin(&b, batch, sizeof(batch),
					  pm_record_id_hash(NAME), NAME, 3), 0);
	assert_int_equal(b.len, 24 + strlen(NAME));
	assert_int_equal(pm_enc_bin_append(&b, want, (unsigned int)n), 0);
	assert_int_equal(b.count, 1);
	assert_int_equal(b.len, 24 + strlen(NAME) +
			 pm_enc_bin_summary_size(want, (unsigned int)n));
	assert_int_equal(pm_enc_bin_summary_size(want, (unsigned int)n),
			 2 + 289 + 6 * (nr + nf));
	len = pm_enc_bin_finish(&b);
	assert_int_equal(len, b.len);

	memset(got, 0xa5, sizeof(got));
	rc = pm_enc_bin_decode(batch, len, collect_cb, &c, err, sizeof(err));
	assert_int_equal(rc, 1);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.n, n);
	assert_string_equal(c.name, NAME);
	assert_memory_equal(got, want, (size_t)n * sizeof(want[0]));

	/* The same through the sniffing entry point. */
	c.calls = 0;
	assert_int_equal(pm_enc_decode(0, batch, len, collect_cb, &c, err,
				       sizeof(err)), 1);
	assert_int_equal(pm_enc_decode(PM_ENC_BINARY, batch, len, collect_cb,
				       &c, err, sizeof(err)), 1);
	assert_int_equal(c.calls, 2);
}

static void
test_bin_empty(void **state)
{
	(void)state;
	bin_roundtrip(0, 0, 0, 1);
	bin_roundtrip(0, 0, PM_REC_F_FINAL | PM_REC_F_NO_REFL_TS, 1);
}

static void
test_bin_few(void **state)
{
	(void)state;
	bin_roundtrip(3, 2, PM_REC_F_OWD, 1);
	bin_roundtrip(PM_REC_ENT0, 0, 0, 1);
	bin_roundtrip(0, 5, 0, 1);
}

static void
test_bin_many_buckets(void **state)
{
	(void)state;
	bin_roundtrip(PM_REC_ENT0 + 1, 0, 0, 2);
	bin_roundtrip(40, 30, PM_REC_F_OWD, 2);
	bin_roundtrip(200, 50, 0, 6);
	bin_roundtrip(PM_HIST_NBUCKETS, PM_HIST_NBUCKETS,
		      PM_REC_F_OWD | PM_REC_F_FINAL, 84);
}

/* Many summaries in one batch, decoded in order. */
static void
test_bin_batch(void **state)
{
	struct collect c = { .many = true };
	struct pm_enc_bin b;
	uint32_t nr, nf;
	uint16_t flags;
	uint64_t seq;
	size_t len;
	int n;

	(void)state;
	assert_int_equal(pm_enc_bin_begin(&b, batch, sizeof(batch),
					  pm_record_id_hash(NAME), NAME, 3), 0);
	for (seq = 0; seq < 500; seq++) {
		many_shape(seq, &nr, &nf, &flags);
		n = make_summary(want, MAXP, seq, nr, nf, flags);
		assert_true(n > 0);
		assert_int_equal(pm_enc_bin_append(&b, want, (unsigned int)n),
				 0);
	}
	assert_int_equal(b.count, 500);
	len = pm_enc_bin_finish(&b);
	assert_int_equal(pm_enc_bin_decode(batch, len, collect_cb, &c, err,
					   sizeof(err)), 500);
	assert_int_equal(c.calls, 500);
	/* Without a callback: validated and counted. */
	assert_int_equal(pm_enc_bin_decode(batch, len, NULL, NULL, err,
					   sizeof(err)), 500);

	/* A callback that stops: its value comes back. */
	c = (struct collect){ .many = true, .stop_at = 3 };
	assert_int_equal(pm_enc_bin_decode(batch, len, collect_cb, &c, err,
					   sizeof(err)), 7);
	assert_int_equal(c.calls, 3);
}

static void
test_bin_enospc(void **state)
{
	static uint8_t small[2000];
	struct collect c = { 0 };
	struct pm_enc_bin b;
	size_t len, before, one;
	unsigned int appended = 0;
	int n, rc;

	(void)state;
	/* Header does not fit. */
	assert_int_equal(pm_enc_bin_begin(&b, small, 24 + strlen(NAME) - 1,
					  1, NAME, 0), -ENOSPC);
	assert_int_equal(pm_enc_bin_begin(&b, small, 24 + strlen(NAME),
					  pm_record_id_hash(NAME), NAME, 3), 0);
	n = make_summary(want, MAXP, 1, 3, 2, 0);
	assert_int_equal(pm_enc_bin_append(&b, want, (unsigned int)n),
			 -ENOSPC);
	assert_int_equal(b.count, 0);

	assert_int_equal(pm_enc_bin_begin(&b, small, sizeof(small),
					  pm_record_id_hash(NAME), NAME, 3), 0);
	one = pm_enc_bin_summary_size(want, (unsigned int)n);
	for (;;) {
		before = b.len;
		rc = pm_enc_bin_append(&b, want, (unsigned int)n);
		if (rc == -ENOSPC) {
			assert_int_equal(b.len, before);
			break;
		}
		assert_int_equal(rc, 0);
		appended++;
	}
	assert_int_equal(appended, (sizeof(small) - 24 - strlen(NAME)) / one);
	assert_int_equal(b.count, appended);
	len = pm_enc_bin_finish(&b);
	assert_int_equal(pm_enc_bin_decode(small, len, collect_cb, &c, err,
					   sizeof(err)), (int)appended);

	/* Refused summaries: another prober, a damaged part list. */
	assert_int_equal(pm_enc_bin_begin(&b, small, sizeof(small), 99, NAME,
					  3), 0);
	assert_int_equal(pm_enc_bin_append(&b, want, (unsigned int)n), -EINVAL);
	assert_int_equal(pm_enc_bin_begin(&b, small, sizeof(small),
					  pm_record_id_hash(NAME), NAME, 3), 0);
	n = make_summary(want, MAXP, 1, 40, 2, 0);
	assert_int_equal(pm_enc_bin_append(&b, want, 1), -EINVAL);
	assert_int_equal(pm_enc_bin_append(&b, NULL, 1), -EINVAL);
	assert_int_equal(b.count, 0);
	assert_int_equal(pm_enc_bin_summary_size(NULL, 0), 0);
}

/* Long names are cut at PM_ENC_NAME_MAX bytes, not inside a character. */
static void
test_bin_name(void **state)
{
	char name[100];
	struct collect c = { 0 };
	struct pm_enc_bin b;
	size_t len;
	int n;

	(void)state;
	memset(name, 'x', 62);
	strcpy(name + 62, "\xc3\xa9tail");	/* é straddles byte 63 */
	assert_int_equal(pm_enc_bin_begin(&b, batch, sizeof(batch),
					  pm_record_id_hash(NAME), name, 3), 0);
	n = make_summary(want, MAXP, 1, 1, 1, 0);
	assert_int_equal(pm_enc_bin_append(&b, want, (unsigned int)n), 0);
	len = pm_enc_bin_finish(&b);
	assert_int_equal(pm_enc_bin_decode(batch, len, collect_cb, &c, err,
					   sizeof(err)), 1);
	assert_int_equal(strlen(c.name), 62);
	assert_int_equal(memcmp(c.name, name, 62), 0);
}

/* A batch of three summaries (one multi-part); returns its length. */
static size_t
three(void)
{
	struct pm_enc_bin b;
	int n;

	assert_int_equal(pm_enc_bin_begin(&b, batch, sizeof(batch),
					  pm_record_id_hash(NAME), NAME, 3), 0);
	n = make_summary(want, MAXP, 1, 2, 1, 0);
	assert_int_equal(pm_enc_bin_append(&b, want, (unsigned int)n), 0);
	n = make_summary(want, MAXP, 2, 70, 10, PM_REC_F_OWD);
	assert_int_equal(pm_enc_bin_append(&b, want, (unsigned int)n), 0);
	n = make_summary(want, MAXP, 3, 0, 0, 0);
	assert_int_equal(pm_enc_bin_append(&b, want, (unsigned int)n), 0);
	return pm_enc_bin_finish(&b);
}

/* Every prefix is refused, nothing delivered; so is a longer message. */
static void
test_bin_truncated(void **state)
{
	struct collect c = { 0 };
	size_t len = three(), l;
	uint8_t *copy;
	int rc;

	(void)state;
	for (l = 0; l < len; l++) {
		/* A private copy of exactly l bytes: ASan sees overreads. */
		copy = malloc(l ? l : 1);
		assert_non_null(copy);
		memcpy(copy, batch, l);
		err[0] = '\0';
		rc = pm_enc_bin_decode(copy, l, collect_cb, &c, err,
				       sizeof(err));
		assert_int_equal(rc, -EINVAL);
		assert_non_null(strstr(err, "truncated at byte"));
		free(copy);
	}
	assert_int_equal(c.calls, 0);
	batch[len] = 0;
	assert_int_equal(pm_enc_bin_decode(batch, len + 1, collect_cb, &c, err,
					   sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "1 bytes after the end"));
	assert_int_equal(c.calls, 0);
	assert_int_equal(pm_enc_bin_decode(batch, len, collect_cb, &c, err,
					   sizeof(err)), 3);
	/* No error buffer at all is fine too. */
	assert_int_equal(pm_enc_bin_decode(batch, 10, NULL, NULL, NULL, 0),
			 -EINVAL);
}

static void
test_bin_versions(void **state)
{
	struct collect c = { 0 };
	size_t len = three();

	(void)state;
	batch[4] = 2;
	assert_int_equal(pm_enc_bin_decode(batch, len, collect_cb, &c, err,
					   sizeof(err)), -EPROTONOSUPPORT);
	assert_string_equal(err, "binary batch version 2 is not supported by "
			    "this build (understands 1)");
	/* Version comes first, even in a truncated message. */
	assert_int_equal(pm_enc_bin_decode(batch, 6, collect_cb, &c, err,
					   sizeof(err)), -EPROTONOSUPPORT);
	assert_int_equal(pm_enc_decode(0, batch, len, collect_cb, &c, err,
				       sizeof(err)), -EPROTONOSUPPORT);
	batch[4] = 0;
	assert_int_equal(pm_enc_bin_decode(batch, len, collect_cb, &c, err,
					   sizeof(err)), -EPROTONOSUPPORT);
	batch[4] = 1;

	/* Schema 1 never existed in binary; 4 is not known yet. */
	batch[6] = 1;
	assert_int_equal(pm_enc_bin_decode(batch, len, collect_cb, &c, err,
					   sizeof(err)), -EPROTONOSUPPORT);
	assert_non_null(strstr(err, "schema 1 is not supported"));
	batch[6] = 4;
	assert_int_equal(pm_enc_bin_decode(batch, len, collect_cb, &c, err,
					   sizeof(err)), -EPROTONOSUPPORT);
	/* A schema-2 batch is read with schema 2's shorter summaries: this
	 * schema-3 one then has 32 bytes per summary too many. */
	batch[6] = 2;
	assert_int_equal(pm_enc_bin_decode(batch, len, collect_cb, &c, err,
					   sizeof(err)), -EINVAL);
	batch[6] = 3;

	batch[0] ^= 0xff;
	assert_int_equal(pm_enc_bin_decode(batch, len, collect_cb, &c, err,
					   sizeof(err)), -EPROTONOSUPPORT);
	assert_non_null(strstr(err, "not a pmesh binary batch (magic 0x"));
	/* Sniffing: neither JSON nor the magic. */
	assert_int_equal(pm_enc_decode(0, batch, len, collect_cb, &c, err,
				       sizeof(err)), -EPROTONOSUPPORT);
	batch[0] ^= 0xff;
	assert_int_equal(pm_enc_decode(9, batch, len, collect_cb, &c, err,
				       sizeof(err)), -EPROTONOSUPPORT);
	assert_int_equal(pm_enc_decode(0, batch, 0, collect_cb, &c, err,
				       sizeof(err)), -EINVAL);
	assert_int_equal(c.calls, 0);
	assert_int_equal(pm_enc_bin_decode(batch, len, collect_cb, &c, err,
					   sizeof(err)), 3);
}

static void
put16le(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* Damage inside a summary: refused whole, even the valid first one. */
static void
test_bin_corrupt(void **state)
{
	const size_t s0 = 24 + strlen(NAME);		/* first summary */
	const size_t s1 = s0 + 2 + 289 + 6 * 3;		/* second summary */
	const size_t e1 = s1 + 2 + 289;			/* its first entry */
	struct collect c = { 0 };
	size_t len = three();
	uint8_t save[8];

	(void)state;
#define EXPECT_EINVAL(what) do { \
		assert_int_equal(pm_enc_bin_decode(batch, len, collect_cb, &c, \
						   err, sizeof(err)), -EINVAL); \
		assert_non_null(strstr(err, what)); \
	} while (0)

	memcpy(save, batch + e1, 8);
	put16le(batch + e1, PM_HIST_NBUCKETS);
	EXPECT_EINVAL("out of range");
	put16le(batch + e1 + 6, save[0] | save[1] << 8);	/* not ascending */
	memcpy(batch + e1, save, 2);
	EXPECT_EINVAL("not above the previous");
	memcpy(batch + e1, save, 8);
	assert_int_equal(pm_enc_bin_decode(batch, len, NULL, NULL, err,
					   sizeof(err)), 3);

	batch[s1 + 2] = 2;				/* kind */
	EXPECT_EINVAL("is not a summary");
	batch[s1 + 2] = PM_REC_SUMMARY;

	batch[s1 + 2 + 249] ^= 1;			/* rtt_nbuckets */
	EXPECT_EINVAL("length");
	batch[s1 + 2 + 249] ^= 1;

	put16le(batch + s1, 100);			/* summary length */
	EXPECT_EINVAL("less than the 289 fixed bytes");
	put16le(batch + s1, 289 + 6 * 80);

	batch[23] = 1;					/* flags */
	EXPECT_EINVAL("flags");
	batch[23] = 0;
	batch[22] = 64;					/* name_len */
	EXPECT_EINVAL("exceeds 63");
	batch[22] = (uint8_t)strlen(NAME);
	batch[24] = 0;					/* NUL in name */
	EXPECT_EINVAL("NUL");
	batch[24] = NAME[0];

	batch[12] = 2;					/* count */
	EXPECT_EINVAL("after the last");
	batch[12] = 4;
	EXPECT_EINVAL("truncated");
	batch[12] = 0xff;
	batch[15] = 0xff;
	EXPECT_EINVAL("cannot hold");
	batch[12] = 3;
	batch[15] = 0;
#undef EXPECT_EINVAL
	assert_int_equal(c.calls, 0);
	assert_int_equal(pm_enc_bin_decode(batch, len, collect_cb, &c, err,
					   sizeof(err)), 3);
}

/* JSON: decoded then printed again gives the very same line. */
static void
json_roundtrip(uint32_t nr, uint32_t nf, uint16_t flags, const char *name)
{
	char pname[300];
	struct collect c = { 0 };
	int n, len, rc, len2;

	n = make_summary(want, MAXP, 42, nr, nf, flags);
	assert_true(n > 0);
	len = pm_record_json(want, (unsigned int)n, name, line, sizeof(line));
	assert_true(len > 0);

	memset(got, 0x5a, sizeof(got));
	rc = pm_enc_json_decode(line, (size_t)len, got, MAXP, pname,
				sizeof(pname), err, sizeof(err));
	if (rc < 0)
		fail_msg("%s\n%s", err, line);
	assert_int_equal(rc, n);
	assert_string_equal(pname, name);
	assert_int_equal(pm_record_check(got, (unsigned int)rc), 0);
	len2 = pm_record_json(got, (unsigned int)rc, pname, line2,
			      sizeof(line2));
	assert_int_equal(len2, len);
	assert_string_equal(line2, line);
	/* Fields JSON does not carry aside, the records are equal too. */
	assert_int_equal(got[0].h.prober_id, want[0].h.prober_id);
	assert_int_equal(got[0].h.proto, 17);
	assert_int_equal(got[0].h.af, 4);
	assert_memory_equal(&got[0].p0.b, &want[0].p0.b, sizeof(want[0].p0.b));

	/* Through pm_enc_decode, sniffed and named, with a newline. */
	line[len] = '\n';
	assert_int_equal(pm_enc_decode(0, line, (size_t)len + 1, collect_cb,
				       &c, err, sizeof(err)), 1);
	assert_int_equal(pm_enc_decode(PM_ENC_JSON, line, (size_t)len,
				       collect_cb, &c, err, sizeof(err)), 1);
	assert_int_equal(c.calls, 2);
	assert_int_equal(c.n, n);
	line[len] = '\0';

	/* Too few records: -ENOSPC. */
	if (n > 1)
		assert_int_equal(pm_enc_json_decode(line, (size_t)len, got,
						    (unsigned int)n - 1, NULL,
						    0, err, sizeof(err)),
				 -ENOSPC);
}

static void
test_json_roundtrip(void **state)
{
	(void)state;
	json_roundtrip(0, 0, 0, NAME);
	json_roundtrip(3, 2, 0, NAME);
	json_roundtrip(3, 2, PM_REC_F_OWD | PM_REC_F_FINAL, NAME);
	json_roundtrip(0, 4, PM_REC_F_NO_REFL_TS, "");
	json_roundtrip(5, 3, PM_REC_F_BURST | PM_REC_F_STALL, NAME);
	json_roundtrip(40, 30, PM_REC_F_OWD, "we\"ird\\na\tme\x01\xc3\xa9");
	json_roundtrip(200, 50, 0, NAME);
	json_roundtrip(PM_HIST_NBUCKETS, PM_HIST_NBUCKETS,
		       PM_REC_F_OWD | PM_REC_F_NO_REFL_TS | PM_REC_F_FINAL,
		       NAME);
}

/*
 * Rewrite the top-level members of the object in @in in reverse order,
 * with blanks everywhere and an unknown nested key in front.
 */
static void
reorder(const char *in, char *out, size_t cap)
{
	const char *start[64], *end[64];
	bool str = false, member = false;
	int depth = 0, nm = 0, i;
	const char *p;
	size_t o = 0;

	for (p = in + 1; *p != '\0' && nm < 64; p++) {
		if (str) {
			if (*p == '\\')
				p++;
			else if (*p == '"')
				str = false;
			continue;
		}
		if (depth == 0 && !member) {
			start[nm] = p;
			member = true;
		}
		if (*p == '"') {
			str = true;
		} else if (*p == '{' || *p == '[') {
			depth++;
		} else if ((*p == '}' || *p == ']') && depth > 0) {
			depth--;
		} else if (depth == 0 && (*p == ',' || *p == '}')) {
			end[nm++] = p;
			member = false;
		}
	}
	o += (size_t)snprintf(out + o, cap - o, " {\n\t\"zz_extra\" : "
			      "{\"a\":[1,-2.5e3,{\"b\":null}],\"c\":true} ,");
	for (i = nm - 1; i >= 0; i--)
		o += (size_t)snprintf(out + o, cap - o, "\r\n  %.*s %s",
				      (int)(end[i] - start[i]), start[i],
				      i ? "," : "");
	snprintf(out + o, cap - o, "\n}\n");
}

static void
test_json_order(void **state)
{
	static struct pm_record got2[MAXP];
	char name[64];
	int n, len, rc;

	(void)state;
	n = make_summary(want, MAXP, 9, 40, 5, PM_REC_F_OWD);
	len = pm_record_json(want, (unsigned int)n, NAME, line, sizeof(line));
	assert_true(len > 0);
	rc = pm_enc_json_decode(line, (size_t)len, got, MAXP, name,
				sizeof(name), err, sizeof(err));
	assert_int_equal(rc, n);
	reorder(line, line3, sizeof(line3));
	assert_non_null(strstr(line3, "\"rtt_hist\""));
	rc = pm_enc_json_decode(line3, strlen(line3), got2, MAXP, name,
				sizeof(name), err, sizeof(err));
	if (rc < 0)
		fail_msg("%s\n%s", err, line3);
	assert_int_equal(rc, n);
	assert_memory_equal(got, got2, (size_t)n * sizeof(got[0]));
	/* Not NUL-terminated: only len bytes are read. */
	memcpy(line2, line, (size_t)len);
	line2[len] = '}';
	assert_int_equal(pm_enc_json_decode(line2, (size_t)len, got2, MAXP,
					    NULL, 0, err, sizeof(err)), n);
}

static void
test_json_schema1(void **state)
{
	static const char v1[] =
		"{\"schema\":1,\"kind\":\"summary\",\"id\":\"72410b34-1-42\","
		"\"prober\":\"pod1-a1\",\"lcore\":1,\"seq\":42,\"engine\":"
		"\"dpdk-stamp\",\"window_start_ns\":1732384000000000000,"
		"\"window_ms\":1000,\"target\":0,\"flow\":2,\"src\":\"10.0.0.1\","
		"\"dst\":\"10.0.1.2\",\"sport\":49154,\"dport\":862,\"dscp\":0,"
		"\"size\":44,\"ssid\":3,\"ts_tx\":\"tsc\",\"ts_rx\":\"tsc\","
		"\"ts_refl\":\"remote\",\"refl_synced\":false,\"flags\":[],"
		"\"sent\":10,\"received\":9,\"lost\":1,\"late\":0,\"dup\":0,"
		"\"reordered\":0,\"unmatched\":0,\"stalled\":0,\"loss_ratio\":"
		"0.100000,\"rtt_ns\":{\"n\":9,\"min\":10230,\"mean\":12409,"
		"\"p50\":10560,\"p90\":24960,\"p99\":24960,\"p999\":24960,"
		"\"max\":25000},\"raw_rtt_ns\":{\"min\":12030,\"mean\":14357,"
		"\"max\":27096},\"refl_delay_ns\":{\"n\":9,\"min\":1800,"
		"\"mean\":1948,\"p50\":1944,\"p99\":2096,\"max\":2096},"
		"\"hist_overflow\":0,\"rtt_hist\":[[527,1],[528,1],[529,2],"
		"[530,1],[533,1],[534,1],[548,1],[609,1]],\"refl_hist\":[[368,1],"
		"[370,1],[373,1],[375,1],[377,1],[380,1],[382,1],[384,1],"
		"[385,1]]}";
	const struct pm_rec_body *b = &got[0].p0.b;
	const struct pm_rec_hdr *h = &got[0].h;
	char name[64];
	int rc, len;

	(void)state;
	rc = pm_enc_json_decode(v1, strlen(v1), got, MAXP, name, sizeof(name),
				err, sizeof(err));
	if (rc < 0)
		fail_msg("%s", err);
	assert_int_equal(rc, 1);
	assert_string_equal(name, "pod1-a1");
	assert_int_equal(h->schema, PM_REC_SCHEMA);
	assert_int_equal(h->prober_id, 0x72410b34);
	assert_int_equal(h->lcore, 1);
	assert_int_equal(h->seq, 42);
	assert_int_equal(h->engine, PM_ENGINE_DPDK_STAMP);
	assert_int_equal(h->src, 0x0a000001);
	assert_int_equal(h->dst, 0x0a000102);
	assert_int_equal(h->ts_refl, PM_TS_REMOTE);
	assert_int_equal(h->flags, 0);
	assert_int_equal(b->sent, 10);
	assert_int_equal(b->lost, 1);
	assert_int_equal(b->rtt.min, 10230);
	assert_int_equal(b->rtt.max, 25000);
	assert_int_equal(b->rtt.sum, 12409ull * 9);
	assert_int_equal(b->raw.sum, 14357ull * 9);	/* the RTT's n */
	assert_int_equal(b->refl.sum, 1948ull * 9);
	assert_int_equal(b->fwd.min, UINT64_MAX);
	assert_int_equal(b->dropped_before, 0);
	assert_int_equal(b->rtt_nbuckets, 8);
	assert_int_equal(b->refl_nbuckets, 9);
	assert_int_equal(got[0].p0.ent[2].bucket, 529);
	assert_int_equal(got[0].p0.ent[2].count, 2);
	assert_int_equal(got[0].p0.ent[8].bucket, 368);

	/* Printed again, as schema 2, with the same figures. */
	len = pm_record_json(got, 1, name, line, sizeof(line));
	assert_true(len > 0);
	assert_non_null(strstr(line, "{\"schema\":3,"));
	assert_non_null(strstr(line, "\"rtt_ns\":{\"n\":9,\"min\":10230,"
			       "\"mean\":12409,\"sum\":111681,\"p50\":"));
	assert_non_null(strstr(line, "\"dropped_before\":0,"));

	/* Schema 1 without mean (and no sum) is refused by name. */
	memcpy(line, v1, sizeof(v1));
	memcpy(strstr(line, "\"mean\":12409"), "\"xxxx\"", 6);
	assert_int_equal(pm_enc_json_decode(line, strlen(line), got, MAXP,
					    NULL, 0, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "field 'rtt_ns': missing 'mean'");
}

/* Substitute the first @from in @in by @to into line2. */
static const char *
subst(const char *in, const char *from, const char *to)
{
	const char *p = strstr(in, from);

	assert_non_null(p);
	snprintf(line2, sizeof(line2), "%.*s%s%s", (int)(p - in), in, to,
		 p + strlen(from));
	return line2;
}

static int
jdec(const char *s)
{
	return pm_enc_json_decode(s, strlen(s), got, MAXP, NULL, 0, err,
				  sizeof(err));
}

static void
test_json_errors(void **state)
{
	static const char *const garbage[] = {
		"", " ", "{", "}", "[]", "null", "\"summary\"", "{\"schema\"",
		"{\"schema\":2", "{\"schema\":2,}", "{\"schema\":2 \"kind\":1}",
		"{\"schema\":-2}", "{\"schema\":2.0}", "{\"schema\":02}",
		"{\"schema\":2}", "{\"kind\":\"summary\"}",
		"{\"schema\":99999999999999999999999}",
		"{\"schema\":2,\"kind\":\"summary\"}",
		"{\"schema\":2,\"kind\":\"summary\",\"x\":[1,2}",
		"{\"schema\":2,\"kind\":\"summary\",\"x\":\"\\q\"}",
		"{\"schema\":2,\"kind\":\"summary\",\"x\":\"\\ud800\"}",
		"{\"schema\":2,\"kind\":\"summary\",\"x\":\"\\u0000\"}",
		"{\"schema\":2,\"kind\":\"summary\",\"x\":\"a\nb\"}",
		"{\"schema\":2,\"kind\":\"summary\",\"x\":tru}",
		"{\"schema\":2,\"kind\":\"summary\",\"x\":1.}",
		"{\"schema\":2,\"kind\":\"summary\",\"x\":-}",
		"{\"schema\":2,\"kind\":\"summary\",\"x\":1e}",
		"{\"schema\":2,\"schema\":2,\"kind\":\"summary\"}",
	};
	char deep[400];
	size_t i, len;
	int n, rc;

	(void)state;
	for (i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		err[0] = '\0';
		rc = jdec(garbage[i]);
		if (rc != -EINVAL)
			fail_msg("input %zu '%s': %d", i, garbage[i], rc);
		assert_true(err[0] != '\0');
	}

	/* Unknown values deeply nested under an unknown key. */
	len = (size_t)snprintf(deep, sizeof(deep),
			       "{\"schema\":2,\"kind\":\"summary\",\"x\":");
	for (i = 0; i < 100; i++)
		deep[len++] = '[';
	deep[len] = '\0';
	assert_int_equal(jdec(deep), -EINVAL);
	assert_non_null(strstr(err, "nested deeper"));

	/* Versions and kinds. */
	assert_int_equal(jdec("{\"kind\":\"summary\",\"schema\":4,\"x\":[}"),
			 -EINVAL);	/* syntax first: it cannot be trusted */
	assert_int_equal(jdec("{\"kind\":\"summary\",\"schema\":4,\"rtt_ns\":7}"),
			 -EPROTONOSUPPORT);
	assert_string_equal(err, "JSON summary schema 4 is not supported by "
			    "this build (understands 1..3)");
	assert_int_equal(jdec("{\"schema\":0}"), -EPROTONOSUPPORT);
	assert_int_equal(jdec("{\"schema\":2,\"kind\":\"event\"}"), -EINVAL);
	assert_string_equal(err, "not a summary (kind 'event')");

	/* Field errors on an otherwise good line name the field. */
	n = make_summary(want, MAXP, 5, 4, 3, PM_REC_F_OWD);
	assert_int_equal(pm_record_json(want, (unsigned int)n, NAME, line,
					sizeof(line)) > 0, 1);
	assert_int_equal(jdec(line), 1);

	assert_int_equal(jdec(subst(line, "\"rtt_hist\":[",
				    "\"rtt_hist\":7,\"x\":[")),
			 -EINVAL);
	assert_non_null(strstr(err, "field 'rtt_hist': expected array"));
	assert_int_equal(jdec(subst(line, "\"rtt_hist\":[[", "\"rtt_hist\":[[3000,1],[")),
			 -EINVAL);
	assert_non_null(strstr(err, "field 'rtt_hist': 3000 out of range"));
	assert_int_equal(jdec(subst(line, "\"rtt_hist\":[[", "\"rtt_hist\":[[9999,1],[")),
			 -EINVAL);
	assert_int_equal(jdec(subst(line, "\"refl_hist\":[[", "\"refl_hist\":[[900,1],[")),
			 -EINVAL);
	assert_non_null(strstr(err, "not above the previous"));
	assert_int_equal(jdec(subst(line, "\"lcore\":3", "\"lcore\":70000")),
			 -EINVAL);
	assert_non_null(strstr(err, "field 'lcore': 70000 out of range"));
	assert_int_equal(jdec(subst(line, "\"lcore\":3", "\"lcore\":4")),
			 -EINVAL);
	assert_non_null(strstr(err, "field 'id'"));
	assert_int_equal(jdec(subst(line, "\"lcore\":3,", "")), -EINVAL);
	assert_string_equal(err, "field 'lcore': missing");
	assert_int_equal(jdec(subst(line, ",\"fwd_ns\":", ",\"xfwd_ns\":")),
			 -EINVAL);
	assert_string_equal(err, "field 'fwd_ns': missing");
	assert_int_equal(jdec(subst(line, "\"dropped_before\"", "\"dropped\"")),
			 -EINVAL);
	assert_int_equal(jdec(subst(line, "\"engine\":\"dpdk-stamp\"",
				    "\"engine\":\"carrier-pigeon\"")), -EINVAL);
	assert_non_null(strstr(err, "unknown engine 'carrier-pigeon'"));
	assert_int_equal(jdec(subst(line, "\"ts_rx\":\"nic\"",
				    "\"ts_rx\":\"sundial\"")), -EINVAL);
	assert_int_equal(jdec(subst(line, "\"src\":\"10.0.0.1\"",
				    "\"src\":\"10.0.0.256\"")), -EINVAL);
	assert_non_null(strstr(err, "field 'src': invalid IPv4"));
	assert_int_equal(jdec(subst(line, "\"flags\":[\"owd\"]",
				    "\"flags\":[\"owd\",\"fast\"]")), -EINVAL);
	assert_non_null(strstr(err, "unknown flag 'fast'"));
	assert_int_equal(jdec(subst(line, "\"refl_synced\":true",
				    "\"refl_synced\":1")), -EINVAL);
	assert_int_equal(jdec(subst(line, "\"id\":\"", "\"id\":\"x")),
			 -EINVAL);
	assert_int_equal(jdec(subst(line, "\"rtt_ns\":{\"n\":",
				    "\"rtt_ns\":{\"n\":1")), -EINVAL);
	assert_non_null(strstr(err, "differs from the"));
	assert_int_equal(jdec(subst(line, "\"sum\"", "\"summ\"")), -EINVAL);
	assert_string_equal(err, "field 'rtt_ns': missing 'sum'");
	assert_int_equal(jdec(subst(line, "\"loss_ratio\":", "\"loss_ratio\":x")),
			 -EINVAL);
	assert_int_equal(jdec(subst(line, "}", "},")), -EINVAL);
	assert_int_equal(jdec(subst(line, "\"hist_overflow\"",
				    "\"hist_overflow\":1,\"hist_overflow\"")),
			 -EINVAL);
	assert_non_null(strstr(err, "duplicate"));

	/* Every prefix of a good line is refused, from its own buffer. */
	len = strlen(line);
	for (i = 0; i < len; i++) {
		char *copy = malloc(i ? i : 1);

		assert_non_null(copy);
		memcpy(copy, line, i);
		assert_int_equal(pm_enc_json_decode(copy, i, got, MAXP, NULL,
						    0, err, sizeof(err)),
				 -EINVAL);
		free(copy);
	}
	/* Trailing junk. */
	snprintf(line2, sizeof(line2), "%s x", line);
	assert_int_equal(jdec(line2), -EINVAL);
	assert_non_null(strstr(err, "unexpected data"));
}

static void
test_path_roundtrip(void **state)
{
	struct pm_path p, q;
	char buf[2048];
	int n;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.time_ns = 1700000000123456789ULL;
	p.src = 0x0a400a0a;		/* 10.64.10.10 */
	p.dst = 0x0a401514;
	p.sport = 49153;
	p.dport = 862;
	p.proto = 17;
	p.nhops = 3;
	p.hops[0] = 0x0a400a01;
	p.hops[1] = 0;			/* no reply at TTL 2 */
	p.hops[2] = 0x0afe0002;
	snprintf(p.prober, sizeof(p.prober), "pod1 \"appliance\"");
	snprintf(p.spine, sizeof(p.spine), "spine2");
	n = pm_enc_path_json(&p, buf, sizeof(buf));
	assert_true(n > 0);
	assert_string_equal(buf, "{\"schema\":1,\"kind\":\"path\",\"prober\":"
		"\"pod1 \\\"appliance\\\"\",\"time_ns\":1700000000123456789,"
		"\"src\":\"10.64.10.10\",\"dst\":\"10.64.21.20\",\"sport\":49153,"
		"\"dport\":862,\"proto\":\"udp\",\"hops\":[\"10.64.10.1\",\"*\","
		"\"10.254.0.2\"],\"spine\":\"spine2\"}");
	assert_int_equal(pm_enc_path_decode(buf, (size_t)n, &q, err, sizeof(err)), 0);
	assert_memory_equal(&p, &q, sizeof(p));
	/* Too small a buffer. */
	assert_int_equal(pm_enc_path_json(&p, buf, 40), -ENOSPC);
	/* Unknown keys are skipped, order does not matter, spine may be null. */
	snprintf(buf, sizeof(buf), "{\"hops\":[\"10.254.0.3\"],\"x\":{\"y\":[1,2]},"
		 "\"dport\":862,\"sport\":1,\"dst\":\"10.0.0.2\",\"src\":\"10.0.0.1\","
		 "\"kind\":\"path\",\"schema\":1,\"spine\":null}");
	assert_int_equal(pm_enc_path_decode(buf, strlen(buf), &q, err, sizeof(err)), 0);
	assert_int_equal(q.nhops, 1);
	assert_int_equal(q.hops[0], 0x0afe0003);
	assert_string_equal(q.spine, "");
	assert_int_equal(q.proto, 17);
}

static void
test_path_errors(void **state)
{
	static const struct {
		const char *in;
		int rc;
		const char *what;
	} bad[] = {
		{ "", -EINVAL, "expected '{'" },
		{ "{\"schema\":2,\"kind\":\"path\",\"src\":\"10.0.0.1\",\"dst\":"
		  "\"10.0.0.2\",\"sport\":1,\"dport\":2,\"hops\":[]}", -EPROTONOSUPPORT,
		  "schema 2" },
		{ "{\"schema\":1,\"kind\":\"summary\"}", -EINVAL, "not a path" },
		{ "{\"schema\":1,\"kind\":\"path\",\"dst\":\"10.0.0.2\",\"sport\":1,"
		  "\"dport\":2,\"hops\":[]}", -EINVAL, "'src': missing" },
		{ "{\"schema\":1,\"kind\":\"path\",\"src\":\"10.0.0.300\"}", -EINVAL,
		  "not an IPv4" },
		{ "{\"schema\":1,\"kind\":\"path\",\"src\":\"10.0.0.1\",\"dst\":"
		  "\"10.0.0.2\",\"sport\":70000}", -EINVAL, "out of range" },
		{ "{\"schema\":1,\"kind\":\"path\",\"src\":\"10.0.0.1\",\"dst\":"
		  "\"10.0.0.2\",\"sport\":1,\"dport\":2}", -EINVAL, "neither" },
		{ "{\"schema\":1,\"schema\":1}", -EINVAL, "duplicate" },
		{ "{\"schema\":1,\"proto\":\"sctp\"}", -EINVAL, "udp, tcp or icmp" },
		{ "{\"schema\":1,\"hops\":[\"10.0.0.1\" \"10.0.0.2\"]}", -EINVAL,
		  "expected ',' or ']'" },
		{ "{\"schema\":1} x", -EINVAL, "unexpected data" },
	};
	char many[1024];
	struct pm_path q;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pm_enc_path_decode(bad[i].in, strlen(bad[i].in), &q,
						    err, sizeof(err)), bad[i].rc);
		if (strstr(err, bad[i].what) == NULL)
			fail_msg("'%s': error '%s' lacks '%s'", bad[i].in, err, bad[i].what);
	}
	n = (size_t)snprintf(many, sizeof(many), "{\"schema\":1,\"hops\":[");
	for (i = 0; i <= PM_PATH_MAX_HOPS; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "%s\"*\"", i ? "," : "");
	snprintf(many + n, sizeof(many) - n, "]}");
	assert_int_equal(pm_enc_path_decode(many, strlen(many), &q, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "more than 32 hops"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_bin_empty),
		cmocka_unit_test(test_bin_few),
		cmocka_unit_test(test_bin_many_buckets),
		cmocka_unit_test(test_bin_batch),
		cmocka_unit_test(test_bin_enospc),
		cmocka_unit_test(test_bin_name),
		cmocka_unit_test(test_bin_truncated),
		cmocka_unit_test(test_bin_versions),
		cmocka_unit_test(test_bin_corrupt),
		cmocka_unit_test(test_json_roundtrip),
		cmocka_unit_test(test_json_order),
		cmocka_unit_test(test_json_schema1),
		cmocka_unit_test(test_json_errors),
		cmocka_unit_test(test_path_roundtrip),
		cmocka_unit_test(test_path_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
