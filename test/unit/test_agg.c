/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/agg.c: merged histograms give the exact percentiles
 * within the bucket error; a repeated summary id counts once; summaries for
 * an emitted window are late and unknown addresses are counted by cause;
 * windows are assigned by event time and emitted oldest first; and on a
 * synthetic fabric (2 pods x 4 racks, 4 spines chosen by source port) a
 * lossy spine, a lossy ToR and a black-holed flow are each named first,
 * while a clean fabric raises nothing.  Topologies are real files loaded by
 * pm_topo_load, written to a temporary directory.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "pm_agg.h"
#include "pm_cfg.h"
#include "pm_clock.h"
#include "pm_hist.h"
#include "pm_record.h"
#include "pm_topo.h"

#define T0		1700000000000000000ULL	/* aligned to 10 s */
#define SEC		1000000000ULL
#define NRACKS		8
#define NSPINES		4
#define MAXREC		8

static const char topo_text[] =
	"topology = {\n"
	"  patterns = ( { pods = 2; racks_per_pod = 4; pod_name = \"pod%u\";\n"
	"                 rack_name = \"pod%u-r%u\"; base = \"10.64.0.0\";\n"
	"                 rack_prefix = 24; pod_first = 1; rack_first = 1; } );\n"
	"  spines = ( { name = \"spine1\"; addresses = [ \"10.254.0.1\" ]; },\n"
	"             { name = \"spine2\"; addresses = [ \"10.254.0.2\" ]; },\n"
	"             { name = \"spine3\"; addresses = [ \"10.254.0.3\" ]; },\n"
	"             { name = \"spine4\"; addresses = [ \"10.254.0.4\" ]; } );\n"
	"  static_spines = (\n"
	"    { src_rack = \"*\"; dst_rack = \"*\"; sport_first = 49152;\n"
	"      sport_last = 49152; spine = \"spine1\"; },\n"
	"    { src_rack = \"*\"; dst_rack = \"*\"; sport_first = 49153;\n"
	"      sport_last = 49153; spine = \"spine2\"; },\n"
	"    { src_rack = \"*\"; dst_rack = \"*\"; sport_first = 49154;\n"
	"      sport_last = 49154; spine = \"spine3\"; },\n"
	"    { src_rack = \"*\"; dst_rack = \"*\"; sport_first = 49155;\n"
	"      sport_last = 49155; spine = \"spine4\"; } );\n"
	"};\n";

static struct pm_topo *topo;
static char tmpdir[64];
static char topo_path[128];

static uint32_t h_counts[PM_HIST_NBUCKETS];
static uint32_t f_counts[PM_HIST_NBUCKETS];
static struct pm_record recs[MAXREC];
static uint64_t next_seq;

/* Host @host of pattern rack @k (0-based, pod-major): 10.64.k.host. */
static uint32_t
host_ip(uint32_t k, uint32_t host)
{
	return 0x0a400000u | k << 8 | host;
}

static int
setup_topo(void **state)
{
	struct pm_cfg_errs e;
	FILE *f;

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pm_test_agg.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(topo_path, sizeof(topo_path), "%s/topo.cfg", tmpdir);
	f = fopen(topo_path, "w");
	if (f == NULL)
		return -1;
	fputs(topo_text, f);
	fclose(f);
	pm_cfg_errs_init(&e);
	if (pm_topo_load(topo_path, &topo, &e) != 0) {
		fprintf(stderr, "topology: %s\n", e.buf);
		return -1;
	}
	return 0;
}

static int
teardown_topo(void **state)
{
	(void)state;
	pm_topo_free(topo);
	unlink(topo_path);
	rmdir(tmpdir);
	return 0;
}

struct flow {
	uint32_t src;
	uint32_t dst;
	uint16_t sport;
	uint64_t ws;		/* window_start_ns of the summary */
	uint32_t prober;
	uint64_t seq;
	uint64_t sent;
	uint64_t received;
	uint64_t lost;
	const uint64_t *rtt;	/* @nrtt samples; NULL: 20 at 20..39 us */
	uint32_t nrtt;
};

/* One summary into recs[]; returns the number of records. */
static unsigned int
build(const struct flow *fl)
{
	struct pm_rec_hdr hdr;
	struct pm_rec_body body;
	struct pm_hist rtt, refl;
	uint32_t i;
	int n;

	memset(&hdr, 0, sizeof(hdr));
	memset(&body, 0, sizeof(body));
	pm_hist_init_dense(&rtt, h_counts);
	pm_hist_init_dense(&refl, f_counts);
	hdr.engine = PM_ENGINE_DPDK_STAMP;
	hdr.prober_id = fl->prober;
	hdr.lcore = 1;
	hdr.seq = fl->seq;
	hdr.window_start_ns = fl->ws;
	hdr.window_ms = 1000;
	hdr.af = 4;
	hdr.proto = 17;
	hdr.ts_tx = PM_TS_TSC;
	hdr.ts_rx = PM_TS_NIC;
	hdr.ts_refl = PM_TS_REMOTE;
	hdr.src = fl->src;
	hdr.dst = fl->dst;
	hdr.sport = fl->sport;
	hdr.dport = 862;
	hdr.size = 44;
	body.sent = fl->sent;
	body.received = fl->received;
	body.lost = fl->lost;
	if (fl->rtt != NULL) {
		for (i = 0; i < fl->nrtt; i++)
			pm_hist_add(&rtt, fl->rtt[i]);
	} else {
		for (i = 0; i < 20 && i < fl->received; i++)
			pm_hist_add(&rtt, 20000 + 1000 * i);
	}
	for (i = 0; i < rtt.n; i++)
		pm_hist_add(&refl, 3000 + 10 * i);
	body.rtt.min = rtt.min;
	body.rtt.max = rtt.max;
	body.rtt.sum = rtt.sum;
	body.raw = body.rtt;
	body.refl.min = refl.min;
	body.refl.max = refl.max;
	body.refl.sum = refl.sum;
	body.fwd.min = body.bwd.min = UINT64_MAX;
	n = pm_record_build(recs, MAXREC, &hdr, &body, &rtt, &refl);
	assert_true(n > 0);
	return (unsigned int)n;
}

static int
add(struct pm_agg *a, struct flow *fl)
{
	unsigned int n;

	if (fl->seq == 0)
		fl->seq = ++next_seq;
	if (fl->prober == 0)
		fl->prober = pm_record_id_hash("prober-test");
	n = build(fl);
	return pm_agg_add(a, recs, n);
}

static struct pm_agg *
new_agg(const struct pm_agg_cfg *c)
{
	struct pm_agg *a = NULL;

	assert_int_equal(pm_agg_new(&a, c, topo), 0);
	assert_non_null(a);
	return a;
}

/* What the emit callback saw (the window's memory goes after it). */
#define MAXWIN		16
#define MAXALERT	64

struct seen_alert {
	char kind[16];
	int table;
	uint32_t a, b, spine;
	uint64_t pairs, spines;
	double score;
};

struct seen {
	uint32_t nwin;
	uint64_t start[MAXWIN];
	uint64_t summaries[MAXWIN];
	struct pm_agg_row fleet;		/* of the last window */
	uint64_t rtt_p50, rtt_p90, rtt_p99, rtt_p999, rtt_n, rtt_max;
	uint32_t nrows[PM_AGG_NTABLES];
	uint32_t nalerts;
	struct seen_alert al[MAXALERT];
	char *json;
	int fail;				/* return this once */
};

static int
emit_cb(void *arg, const struct pm_agg_window *w)
{
	struct seen *s = arg;
	const struct pm_agg_row *r;
	size_t len;
	uint32_t i;
	int rc;

	if (s->fail) {
		rc = s->fail;
		s->fail = 0;
		return rc;
	}
	assert_true(s->nwin < MAXWIN);
	s->start[s->nwin] = w->start_ns;
	s->summaries[s->nwin] = w->summaries;
	s->nwin++;
	memcpy(s->nrows, w->nrows, sizeof(s->nrows));
	memset(&s->fleet, 0, sizeof(s->fleet));
	if (w->nrows[PM_AGG_FLEET] == 1) {
		r = &w->rows[PM_AGG_FLEET][0];
		s->fleet = *r;
		s->rtt_n = r->rtt.n;
		s->rtt_max = r->rtt_max;
		s->rtt_p50 = pm_hist_quantile(&r->rtt, 0.5);
		s->rtt_p90 = pm_hist_quantile(&r->rtt, 0.9);
		s->rtt_p99 = pm_hist_quantile(&r->rtt, 0.99);
		s->rtt_p999 = pm_hist_quantile(&r->rtt, 0.999);
		memset(&s->fleet.rtt, 0, sizeof(s->fleet.rtt));
		memset(&s->fleet.refl, 0, sizeof(s->fleet.refl));
	}
	/* Rows come sorted by element. */
	for (int t = 0; t < PM_AGG_NTABLES; t++) {
		for (i = 1; i < w->nrows[t]; i++) {
			const struct pm_agg_row *p = &w->rows[t][i - 1];
			const struct pm_agg_row *q = &w->rows[t][i];

			assert_true(p->a < q->a || (p->a == q->a && p->b < q->b));
		}
	}
	s->nalerts = w->nalerts;
	for (i = 0; i < w->nalerts && i < MAXALERT; i++) {
		const struct pm_agg_alert *x = &w->alerts[i];

		snprintf(s->al[i].kind, sizeof(s->al[i].kind), "%s", x->kind);
		s->al[i].table = x->table;
		s->al[i].a = x->a;
		s->al[i].b = x->b;
		s->al[i].spine = x->spine;
		s->al[i].pairs = x->pairs;
		s->al[i].spines = x->spines;
		s->al[i].score = x->score;
		if (i > 0)
			assert_true(w->alerts[i - 1].score >= x->score);
	}
	free(s->json);
	s->json = NULL;
	rc = pm_agg_window_json(w, topo, &s->json, &len);
	assert_true(rc > 0);
	assert_int_equal((size_t)rc, len);
	assert_int_equal(strlen(s->json), len);
	return 0;
}

static void
seen_free(struct seen *s)
{
	free(s->json);
	memset(s, 0, sizeof(*s));
}

/* ---------------------------------------------------------------------- */

static void
test_topology_layout(void **state)
{
	uint32_t k;
	char name[32];

	(void)state;
	assert_int_equal(pm_topo_nracks(topo), NRACKS);
	assert_int_equal(pm_topo_nspines(topo), NSPINES);
	for (k = 0; k < NRACKS; k++) {
		snprintf(name, sizeof(name), "pod%u-r%u", k / 4 + 1, k % 4 + 1);
		assert_int_equal(pm_topo_host_rack(topo, host_ip(k, 10)),
				 pm_topo_rack_find(topo, name));
	}
}

static void
test_cfg_and_args(void **state)
{
	struct pm_agg_cfg c;
	struct pm_agg *a = NULL;

	(void)state;
	pm_agg_cfg_defaults(&c);
	assert_int_equal(c.window_ms, 10000);
	assert_int_equal(c.grace_ms, 5000);
	assert_int_equal(c.min_flows, 4);
	assert_string_equal(pm_agg_table_str(PM_AGG_SPINE), "spines");
	assert_string_equal(pm_agg_table_str(PM_AGG_FLEET), "fleet");
	assert_string_equal(pm_agg_table_str(99), "unknown");
	c.window_ms = 0;
	assert_int_equal(pm_agg_new(&a, &c, topo), -EINVAL);
	assert_int_equal(pm_agg_new(&a, NULL, NULL), -EINVAL);
	a = new_agg(NULL);
	/* Damaged input is refused, not counted. */
	assert_int_equal(pm_agg_add(a, recs, 0), -EINVAL);
	{
		struct flow fl = { .src = host_ip(0, 1), .dst = host_ip(1, 1),
				   .sport = 49152, .ws = T0, .sent = 10,
				   .received = 10 };
		unsigned int n;

		fl.seq = ++next_seq;
		fl.prober = 1;
		n = build(&fl);
		recs[0].h.schema = 99;
		assert_int_equal(pm_agg_add(a, recs, n), -EPROTONOSUPPORT);
		recs[0].h.schema = PM_REC_SCHEMA;
		recs[0].h.kind = 7;
		assert_int_equal(pm_agg_add(a, recs, n), -EINVAL);
	}
	assert_int_equal(pm_agg_watermark(a), 0);
	assert_int_equal(pm_agg_flush(a, true, NULL, NULL), 0);
	pm_agg_free(a);
	pm_agg_free(NULL);
}

/* Exact nearest-rank quantile of sorted @v[n]. */
static uint64_t
exact_q(const uint64_t *v, uint32_t n, double q)
{
	double r = q * n;
	uint64_t rank = (uint64_t)r;

	if ((double)rank < r)
		rank++;
	if (rank == 0)
		rank = 1;
	return v[rank - 1];
}

static int
cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

static void
check_close(uint64_t got, uint64_t want)
{
	double err = got > want ? (double)(got - want) : (double)(want - got);

	if (err > (double)want / 128.0 + 1.0)
		fail_msg("quantile %" PRIu64 " vs exact %" PRIu64, got, want);
}

static void
test_hist_percentiles(void **state)
{
	enum { NSUM = 100, PER = 100, N = NSUM * PER };
	static uint64_t v[N], sorted[N];
	struct pm_agg *a = new_agg(NULL);
	struct seen s = { 0 };
	uint64_t x = 12345;
	uint32_t i, k;

	(void)state;
	/* Deterministic spread over four decades (1 us .. 10 ms). */
	for (i = 0; i < N; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		v[i] = 1000 + (x >> 33) % 10000 * ((x >> 20) % 4 == 0 ? 1000 : 3);
	}
	for (k = 0; k < NSUM; k++) {
		struct flow fl = { .src = host_ip(k % 8, 1),
				   .dst = host_ip((k + 1) % 8, 2),
				   .sport = (uint16_t)(49152 + k % 4),
				   .ws = T0 + (k % 10) * SEC, .sent = PER,
				   .received = PER, .rtt = &v[k * PER],
				   .nrtt = PER };

		assert_int_equal(add(a, &fl), PM_AGG_ADDED);
	}
	assert_int_equal(pm_agg_flush(a, true, emit_cb, &s), 1);
	memcpy(sorted, v, sizeof(v));
	qsort(sorted, N, sizeof(sorted[0]), cmp_u64);
	assert_int_equal(s.rtt_n, N);
	assert_int_equal(s.rtt_max, sorted[N - 1]);
	check_close(s.rtt_p50, exact_q(sorted, N, 0.5));
	check_close(s.rtt_p90, exact_q(sorted, N, 0.9));
	check_close(s.rtt_p99, exact_q(sorted, N, 0.99));
	check_close(s.rtt_p999, exact_q(sorted, N, 0.999));
	assert_int_equal(s.fleet.sent, N);
	assert_int_equal(s.fleet.received, N);
	assert_int_equal(s.fleet.flows, NSUM);
	assert_int_equal(s.fleet.ts_mask, 1u << PM_TS_TSC | 1u << PM_TS_NIC);
	assert_int_equal(s.nrows[PM_AGG_RACK_PAIR], 8);
	assert_int_equal(s.nrows[PM_AGG_TOR], 8);
	assert_int_equal(s.nrows[PM_AGG_SPINE], 4);
	assert_int_equal(s.nalerts, 0);
	seen_free(&s);
	pm_agg_free(a);
}

static void
test_dedup(void **state)
{
	struct pm_agg *a = new_agg(NULL);
	struct pm_agg_stats st;
	struct seen s = { 0 };
	struct flow fl = { .src = host_ip(0, 1), .dst = host_ip(5, 1),
			   .sport = 49152, .ws = T0 + 3 * SEC, .sent = 10,
			   .received = 9, .lost = 1 };
	struct flow other = fl;

	(void)state;
	assert_int_equal(add(a, &fl), PM_AGG_ADDED);
	assert_int_equal(add(a, &fl), PM_AGG_DUP);	/* same id */
	/* Same seq from another lcore or prober is another summary. */
	other.seq = fl.seq;
	other.prober = fl.prober + 1;
	assert_int_equal(add(a, &other), PM_AGG_ADDED);
	assert_int_equal(add(a, &other), PM_AGG_DUP);
	pm_agg_get_stats(a, &st);
	assert_int_equal(st.summaries, 2);
	assert_int_equal(st.dup, 2);
	assert_int_equal(pm_agg_flush(a, true, emit_cb, &s), 1);
	assert_int_equal(s.fleet.sent, 20);
	assert_int_equal(s.fleet.lost, 2);
	assert_int_equal(s.fleet.flows, 2);
	assert_non_null(strstr(s.json, "\"dup\":2,"));
	assert_non_null(strstr(s.json, "\"probers\":2,"));
	seen_free(&s);
	pm_agg_free(a);
}

/*
 * Ids are kept as one run of bits per prober lcore: seqs before the run,
 * far after it (kept apart), far before it, across 64-bit words -- each new
 * once and a duplicate the second time.
 */
static void
test_dedup_runs(void **state)
{
	static const uint64_t seqs[] = {
		1000, 1001, 1063, 1064, 999, 936, 935, 64, 63, 1, 5000,
		1000 + (1ull << 24), 1ull << 40, (1ull << 40) + 1, UINT64_MAX - 1,
		2000000, 3,
	};
	const size_t n = sizeof(seqs) / sizeof(seqs[0]);
	struct pm_agg *a = new_agg(NULL);
	struct pm_agg_stats st;
	struct flow fl = { .src = host_ip(0, 1), .dst = host_ip(5, 1),
			   .sport = 49152, .ws = T0, .sent = 10, .received = 10 };
	size_t i;

	(void)state;
	for (i = 0; i < n; i++) {
		fl.seq = seqs[i];
		if (add(a, &fl) != PM_AGG_ADDED)
			fail_msg("seq %" PRIu64 " (#%zu) not added", seqs[i], i);
	}
	for (i = 0; i < n; i++) {
		fl.seq = seqs[i];
		if (add(a, &fl) != PM_AGG_DUP)
			fail_msg("seq %" PRIu64 " (#%zu) not a duplicate", seqs[i], i);
	}
	/* Neighbours of them all are still new. */
	fl.seq = 1002;
	assert_int_equal(add(a, &fl), PM_AGG_ADDED);
	fl.seq = 2;
	assert_int_equal(add(a, &fl), PM_AGG_ADDED);
	fl.seq = (1ull << 40) + 2;
	assert_int_equal(add(a, &fl), PM_AGG_ADDED);
	pm_agg_get_stats(a, &st);
	assert_int_equal(st.summaries, n + 3);
	assert_int_equal(st.dup, n);
	pm_agg_free(a);
}

static void
test_late_unknown(void **state)
{
	struct pm_agg *a = new_agg(NULL);
	struct pm_agg_stats st;
	struct seen s = { 0 };
	struct flow fl = { .src = host_ip(0, 1), .dst = host_ip(1, 1),
			   .sport = 49153, .ws = T0, .sent = 10,
			   .received = 10 };
	struct flow fut = fl, old = fl, unk = fl;

	(void)state;
	assert_int_equal(add(a, &fl), PM_AGG_ADDED);
	/* 15 s past the first window's end: complete after 5 s of grace. */
	fut.ws = T0 + 25 * SEC;
	assert_int_equal(add(a, &fut), PM_AGG_ADDED);
	assert_int_equal(pm_agg_watermark(a), T0 + 25 * SEC);
	assert_int_equal(pm_agg_flush(a, false, emit_cb, &s), 1);
	assert_int_equal(s.start[0], T0);
	assert_int_equal(pm_agg_last_emitted(a), T0);
	/* Too late for T0, even with a new id; the repeat of an emitted
	 * id is late too (its window is gone). */
	old.ws = T0 + 9 * SEC;
	assert_int_equal(add(a, &old), PM_AGG_LATE);
	assert_int_equal(add(a, &fl), PM_AGG_LATE);

	unk.src = 0xc0a80001;		/* 192.168.0.1 */
	unk.ws = T0 + 20 * SEC;
	assert_int_equal(add(a, &unk), PM_AGG_UNKNOWN);
	unk.seq = 0;
	unk.src = host_ip(2, 1);
	unk.dst = 0x0a410001;		/* 10.65.0.1: past the pattern */
	assert_int_equal(add(a, &unk), PM_AGG_UNKNOWN);
	unk.seq = 0;
	unk.src = 0x7f000001;
	assert_int_equal(add(a, &unk), PM_AGG_UNKNOWN);
	assert_int_equal(add(a, &unk), PM_AGG_DUP);
	pm_agg_get_stats(a, &st);
	assert_int_equal(st.summaries, 2);
	assert_int_equal(st.late, 2);
	assert_int_equal(st.unknown_src, 2);
	assert_int_equal(st.unknown_dst, 2);
	assert_int_equal(st.dup, 1);
	assert_int_equal(st.windows, 1);
	assert_int_equal(pm_agg_flush(a, true, emit_cb, &s), 1);
	assert_int_equal(s.start[1], T0 + 20 * SEC);
	assert_int_equal(s.summaries[1], 1);
	assert_non_null(strstr(s.json, "\"unknown_src\":2,\"unknown_dst\":2,"));

	/* A restart: the previous run emitted up to T0 + 40 s. */
	pm_agg_set_emitted(a, T0 + 40 * SEC);
	assert_int_equal(pm_agg_last_emitted(a), T0 + 40 * SEC);
	fut.seq = 0;
	fut.ws = T0 + 41 * SEC;
	assert_int_equal(add(a, &fut), PM_AGG_LATE);
	fut.seq = 0;
	fut.ws = T0 + 50 * SEC;
	assert_int_equal(add(a, &fut), PM_AGG_ADDED);
	seen_free(&s);
	pm_agg_free(a);
}

static void
test_windows_order(void **state)
{
	struct pm_agg *a = new_agg(NULL);
	struct pm_agg_stats st;
	struct seen s = { 0 };
	static const uint32_t secs[] = { 12, 3, 27, 5, 19, 0, 31, 9, 10 };
	uint32_t i;

	(void)state;
	for (i = 0; i < sizeof(secs) / sizeof(secs[0]); i++) {
		struct flow fl = { .src = host_ip(i % 8, 1),
				   .dst = host_ip(7 - i % 8, 1),
				   .sport = 49152, .ws = T0 + secs[i] * SEC,
				   .sent = 5, .received = 5 };

		assert_int_equal(add(a, &fl), PM_AGG_ADDED);
	}
	/* Watermark 31 s: windows [0,10) and [10,20) are past end + 5 s. */
	assert_int_equal(pm_agg_watermark(a), T0 + 31 * SEC);
	assert_int_equal(pm_agg_flush(a, false, emit_cb, &s), 2);
	assert_int_equal(s.nwin, 2);
	assert_int_equal(s.start[0], T0);
	assert_int_equal(s.summaries[0], 4);		/* 3, 5, 0, 9 */
	assert_int_equal(s.start[1], T0 + 10 * SEC);
	assert_int_equal(s.summaries[1], 3);		/* 12, 19, 10 */
	assert_int_equal(pm_agg_flush(a, false, emit_cb, &s), 0);
	/* A failing emit keeps its window for the next flush. */
	s.fail = -EIO;
	assert_int_equal(pm_agg_flush(a, true, emit_cb, &s), -EIO);
	assert_int_equal(pm_agg_last_emitted(a), T0 + 10 * SEC);
	{
		/* That window's tables are frozen: nothing joins it now. */
		struct flow fl = { .src = host_ip(1, 1), .dst = host_ip(2, 1),
				   .sport = 49152, .ws = T0 + 21 * SEC,
				   .sent = 5, .received = 5 };

		assert_int_equal(add(a, &fl), PM_AGG_LATE);
	}
	assert_int_equal(pm_agg_flush(a, true, emit_cb, &s), 2);
	assert_int_equal(s.nwin, 4);
	assert_int_equal(s.start[2], T0 + 20 * SEC);
	assert_int_equal(s.summaries[2], 1);
	assert_int_equal(s.start[3], T0 + 30 * SEC);
	assert_int_equal(s.summaries[3], 1);
	pm_agg_get_stats(a, &st);
	assert_int_equal(st.windows, 4);
	assert_int_equal(st.summaries, 9);
	assert_int_equal(st.late, 1);
	seen_free(&s);
	pm_agg_free(a);
}

/* ---------------------------------------------------------------------- */
/* Localization on the synthetic fabric */

enum scenario { CLEAN, SPINE_FAULT, TOR_FAULT, BLACKHOLE };

#define BAD_SPINE	1	/* spine2 */
#define BAD_RACK	0	/* pod1-r1 */
#define BH_SRC		2	/* pod1-r3 -> pod2-r2, on spine3 */
#define BH_DST		5
#define BH_SPINE	2

/* Every ordered pair of distinct racks, 4 flows each (one per spine),
 * 1000 probes a flow; @reverse adds them in the opposite order. */
static void
fabric(struct pm_agg *a, enum scenario sc, bool reverse)
{
	uint32_t i, s, d, f;

	for (i = 0; i < NRACKS * NRACKS * NSPINES; i++) {
		uint32_t j = reverse ? NRACKS * NRACKS * NSPINES - 1 - i : i;
		struct flow fl = { 0 };

		s = j / (NRACKS * NSPINES);
		d = j / NSPINES % NRACKS;
		f = j % NSPINES;
		if (s == d)
			continue;
		fl.src = host_ip(s, 10 + f);
		fl.dst = host_ip(d, 20);
		fl.sport = (uint16_t)(49152 + f);
		fl.ws = T0 + (j % 10) * SEC;
		fl.prober = pm_record_id_hash("fabric") + s;
		fl.seq = 1000 + j;
		fl.sent = 1000;
		fl.lost = 0;
		if (sc == SPINE_FAULT && f == BAD_SPINE)
			fl.lost = 20;				/* 2 % */
		if (sc == TOR_FAULT && (s == BAD_RACK || d == BAD_RACK))
			fl.lost = 50;				/* 5 % */
		if (sc == BLACKHOLE && s == BH_SRC && d == BH_DST &&
		    f == BH_SPINE)
			fl.lost = 1000;
		fl.received = fl.sent - fl.lost;
		assert_int_equal(add(a, &fl), PM_AGG_ADDED);
	}
}

static void
run(enum scenario sc, struct seen *s)
{
	struct pm_agg *a = new_agg(NULL);

	memset(s, 0, sizeof(*s));
	fabric(a, sc, false);
	assert_int_equal(pm_agg_flush(a, true, emit_cb, s), 1);
	assert_int_equal(s->summaries[0], NRACKS * (NRACKS - 1) * NSPINES);
	assert_int_equal(s->nrows[PM_AGG_RACK_PAIR], NRACKS * (NRACKS - 1));
	assert_int_equal(s->nrows[PM_AGG_POD_PAIR], 4);
	assert_int_equal(s->nrows[PM_AGG_SPINE], NSPINES);
	assert_int_equal(s->nrows[PM_AGG_TOR], NRACKS);
	pm_agg_free(a);
}

static void
test_loc_clean(void **state)
{
	struct seen s;

	(void)state;
	run(CLEAN, &s);
	assert_int_equal(s.nalerts, 0);
	assert_int_equal(s.fleet.lost, 0);
	assert_non_null(strstr(s.json, "\"alerts\":[]}"));
	seen_free(&s);
}

static void
test_loc_spine(void **state)
{
	struct seen s;
	uint32_t i;

	(void)state;
	run(SPINE_FAULT, &s);
	assert_true(s.nalerts >= 1);
	assert_string_equal(s.al[0].kind, "spine");
	assert_int_equal(s.al[0].table, PM_AGG_SPINE);
	assert_int_equal(s.al[0].a, pm_topo_spine_find(topo, "spine2"));
	assert_int_equal(s.al[0].pairs, NRACKS * (NRACKS - 1));
	for (i = 1; i < s.nalerts; i++)
		assert_string_not_equal(s.al[i].kind, "spine");
	assert_non_null(strstr(s.json, "\"alerts\":[{\"kind\":\"spine\","
			       "\"table\":\"spines\",\"element\":\"spine2\""));
	assert_non_null(strstr(s.json, "spine2 drops 2.00% of probes across "
			       "56 rack pairs (other spines: 0.00%)"));
	assert_non_null(strstr(s.json, "{\"name\":\"spine2\",\"sent\":56000,"
			       "\"received\":54880,\"lost\":1120,"
			       "\"drop_rate\":0.020000,\"flows\":56,"));
	seen_free(&s);
}

static void
test_loc_tor(void **state)
{
	struct seen s;
	uint32_t i;

	(void)state;
	run(TOR_FAULT, &s);
	assert_true(s.nalerts >= 1);
	assert_string_equal(s.al[0].kind, "tor");
	assert_int_equal(s.al[0].table, PM_AGG_TOR);
	assert_int_equal(s.al[0].a, pm_topo_rack_find(topo, "pod1-r1"));
	assert_int_equal(s.al[0].spines, NSPINES);
	assert_int_equal(s.al[0].pairs, 2 * (NRACKS - 1));
	for (i = 0; i < s.nalerts; i++)
		assert_string_not_equal(s.al[i].kind, "spine");
	assert_non_null(strstr(s.json, "\"element\":\"pod1-r1\""));
	assert_non_null(strstr(s.json, "ToR pod1-r1 drops 5.00% of probes "
			       "across 4 spines and 14 rack pairs "
			       "(other ToRs: 0.71%)"));
	seen_free(&s);
}

static void
test_loc_blackhole(void **state)
{
	struct seen s;

	(void)state;
	run(BLACKHOLE, &s);
	assert_true(s.nalerts >= 1);
	assert_string_equal(s.al[0].kind, "blackhole");
	assert_int_equal(s.al[0].table, PM_AGG_RACK_PAIR);
	assert_int_equal(s.al[0].a, pm_topo_rack_find(topo, "pod1-r3"));
	assert_int_equal(s.al[0].b, pm_topo_rack_find(topo, "pod2-r2"));
	assert_int_equal(s.al[0].spine, pm_topo_spine_find(topo, "spine3"));
	assert_int_equal(s.fleet.blackholed, 1);
	assert_non_null(strstr(s.json, "{\"kind\":\"blackhole\",\"table\":"
			       "\"rack_pairs\",\"element\":\"pod1-r3->pod2-r2\","
			       "\"spine\":\"spine3\",\"value\":1.000000,"
			       "\"baseline\":0.000000,\"flows\":1,"));
	seen_free(&s);
}

/* A path record moves a flow off its static spine. */
static void
test_set_path(void **state)
{
	struct pm_agg *a = new_agg(NULL);
	struct seen s = { 0 };
	struct flow fl = { .src = host_ip(0, 1), .dst = host_ip(4, 1),
			   .sport = 49152, .ws = T0, .sent = 10,
			   .received = 10 };
	struct flow nopath = fl, inrack = fl;

	(void)state;
	assert_int_equal(pm_agg_set_path(a, fl.src, fl.dst, 49152, 862,
					 pm_topo_spine_find(topo, "spine4")), 0);
	assert_int_equal(add(a, &fl), PM_AGG_ADDED);
	/* No static rule for this port: the unknown row. */
	nopath.sport = 40000;
	assert_int_equal(add(a, &nopath), PM_AGG_ADDED);
	/* Within a rack and no spine named: no spine row at all. */
	inrack.sport = 40000;
	inrack.dst = host_ip(0, 2);
	assert_int_equal(add(a, &inrack), PM_AGG_ADDED);
	assert_int_equal(pm_agg_flush(a, true, emit_cb, &s), 1);
	assert_int_equal(s.fleet.sent, 30);
	assert_int_equal(s.nrows[PM_AGG_SPINE], 2);
	assert_non_null(strstr(s.json, "\"spines\":[{\"name\":\"spine4\","
			       "\"sent\":10,"));
	assert_non_null(strstr(s.json, "{\"name\":\"unknown\",\"sent\":10,"));
	assert_null(strstr(s.json, "\"name\":\"spine1\""));
	seen_free(&s);
	/* A reset (a consumer's rebalance) forgets windows, keeps paths. */
	fl.seq = 7;
	assert_int_equal(add(a, &fl), PM_AGG_LATE);
	pm_agg_reset(a);
	assert_int_equal(pm_agg_watermark(a), 0);
	assert_int_equal(add(a, &fl), PM_AGG_ADDED);
	assert_int_equal(pm_agg_flush(a, true, emit_cb, &s), 1);
	assert_non_null(strstr(s.json, "\"spines\":[{\"name\":\"spine4\","
			       "\"sent\":10,"));
	seen_free(&s);
	pm_agg_free(a);
}

/* Same summaries, any arrival order: the same bytes out. */
static void
test_json_deterministic(void **state)
{
	struct pm_agg_cfg c;
	struct pm_agg *a1, *a2;
	struct seen s1 = { 0 }, s2 = { 0 };
	const char *p;

	(void)state;
	pm_agg_cfg_defaults(&c);
	c.p99_sla_ns = 30000;		/* every pair: p99 is ~39 us */
	a1 = new_agg(&c);
	a2 = new_agg(&c);
	fabric(a1, SPINE_FAULT, false);
	fabric(a2, SPINE_FAULT, true);
	assert_int_equal(pm_agg_flush(a1, true, emit_cb, &s1), 1);
	assert_int_equal(pm_agg_flush(a2, true, emit_cb, &s2), 1);
	assert_string_equal(s1.json, s2.json);
	p = s1.json;
	assert_true(p[0] == '{' && p[strlen(p) - 1] == '}');
	assert_null(strchr(p, '\n'));
	assert_non_null(strstr(p, "{\"schema\":1,\"kind\":\"tables\","
			       "\"window_start_ns\":1700000000000000000,"
			       "\"window_ms\":10000,\"summaries\":224,"));
	assert_non_null(strstr(p, "\"tables\":{\"fleet\":[{\"sent\":224000,"));
	assert_non_null(strstr(p, "\"rack_pairs\":[{\"src\":\"pod1-r1\","
			       "\"dst\":\"pod1-r2\",\"sent\":4000,"));
	assert_non_null(strstr(p, "\"pod_pairs\":[{\"src\":\"pod1\","
			       "\"dst\":\"pod1\","));
	assert_non_null(strstr(p, "\"tors\":[{\"name\":\"pod1-r1\","));
	assert_non_null(strstr(p, "\"ts\":[\"tsc\",\"nic\"],\"rtt_hist\":[["));
	assert_non_null(strstr(p, "\"kind\":\"p99\""));
	/* The spine still leads the 56 latency alerts. */
	assert_string_equal(s1.al[0].kind, "spine");
	assert_int_equal(s1.nalerts, 1 + NRACKS * (NRACKS - 1));
	/* Balanced brackets and braces outside strings. */
	{
		int depth = 0;
		bool str = false;

		for (; *p != '\0'; p++) {
			if (str) {
				if (*p == '\\')
					p++;
				else if (*p == '"')
					str = false;
				continue;
			}
			if (*p == '"')
				str = true;
			else if (*p == '{' || *p == '[')
				depth++;
			else if (*p == '}' || *p == ']')
				assert_true(--depth >= 0);
		}
		assert_int_equal(depth, 0);
		assert_false(str);
	}
	seen_free(&s1);
	seen_free(&s2);
	pm_agg_free(a1);
	pm_agg_free(a2);
}

/* Early alerts: what pm_agg_early handed out. */
struct early_seen {
	uint32_t n;
	uint64_t as_of[8];
	uint64_t start[8];
	uint32_t a[8];
	char kind[8][16];
	char *json;
};

static void
early_cb(void *arg, uint64_t start, uint64_t as_of, const struct pm_agg_alert *x)
{
	struct early_seen *e = arg;
	size_t len;

	assert_true(e->n < 8);
	e->start[e->n] = start;
	e->as_of[e->n] = as_of;
	e->a[e->n] = x->a;
	snprintf(e->kind[e->n], sizeof(e->kind[0]), "%s", x->kind);
	e->n++;
	free(e->json);
	assert_true(pm_agg_alert_json(x, topo, start, 10000, as_of, &e->json, &len) > 0);
}

/* One second of the fabric (every rack pair, a flow per spine), spine2
 * dropping 2 % from second @fault_from on. */
static void
early_second(struct pm_agg *a, uint32_t sec, uint32_t fault_from)
{
	uint32_t s, d, f;

	for (s = 0; s < NRACKS; s++)
		for (d = 0; d < NRACKS; d++)
			for (f = 0; f < NSPINES; f++) {
				struct flow fl = { 0 };

				if (s == d)
					continue;
				fl.src = host_ip(s, 10 + f);
				fl.dst = host_ip(d, 20);
				fl.sport = (uint16_t)(49152 + f);
				fl.ws = T0 + sec * SEC;
				fl.prober = pm_record_id_hash("fabric") + s;
				fl.seq = 100000 + sec * 1000 + (s * NRACKS + d) * NSPINES + f;
				fl.sent = 100;
				fl.lost = sec >= fault_from && f == BAD_SPINE ? 2 : 0;
				fl.received = fl.sent - fl.lost;
				assert_int_equal(add(a, &fl), PM_AGG_ADDED);
			}
}

static void
test_early_alerts(void **state)
{
	struct early_seen e;
	struct seen s;
	struct pm_agg *a;
	uint32_t sec;

	(void)state;
	/* Clean for 10 s: nothing, ever. */
	memset(&e, 0, sizeof(e));
	a = new_agg(NULL);
	for (sec = 0; sec < 10; sec++) {
		early_second(a, sec, 99);
		assert_int_equal(pm_agg_early(a, early_cb, &e), 0);
	}
	assert_int_equal(e.n, 0);
	pm_agg_free(a);

	/* spine2 from second 3: seen at 3, confirmed at 4, handed out once. */
	a = new_agg(NULL);
	memset(&s, 0, sizeof(s));
	for (sec = 0; sec < 10; sec++) {
		early_second(a, sec, 3);
		pm_agg_early(a, early_cb, &e);
		/* A second evaluation at the same watermark does nothing. */
		assert_int_equal(pm_agg_early(a, early_cb, &e), 0);
		if (sec < 4)
			assert_int_equal(e.n, 0);
	}
	assert_int_equal(e.n, 1);
	assert_string_equal(e.kind[0], "spine");
	assert_int_equal(e.a[0], pm_topo_spine_find(topo, "spine2"));
	assert_true(e.start[0] == T0);
	assert_true(e.as_of[0] == T0 + 4 * SEC);
	assert_non_null(strstr(e.json, "{\"schema\":1,\"kind\":\"alert\",\"early\":true,"
			       "\"window_start_ns\":1700000000000000000,\"window_ms\":10000,"
			       "\"as_of_ns\":1700000004000000000,\"alert\":{\"kind\":\"spine\","
			       "\"table\":\"spines\",\"element\":\"spine2\""));
	/* The window, closed, alerts on all its data as before. */
	assert_int_equal(pm_agg_flush(a, true, emit_cb, &s), 1);
	assert_true(s.nalerts >= 1);
	assert_string_equal(s.al[0].kind, "spine");
	pm_agg_free(a);
	free(e.json);
	seen_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_topology_layout),
		cmocka_unit_test(test_cfg_and_args),
		cmocka_unit_test(test_hist_percentiles),
		cmocka_unit_test(test_dedup),
		cmocka_unit_test(test_dedup_runs),
		cmocka_unit_test(test_late_unknown),
		cmocka_unit_test(test_windows_order),
		cmocka_unit_test(test_loc_clean),
		cmocka_unit_test(test_loc_spine),
		cmocka_unit_test(test_loc_tor),
		cmocka_unit_test(test_loc_blackhole),
		cmocka_unit_test(test_set_path),
		cmocka_unit_test(test_json_deterministic),
		cmocka_unit_test(test_early_alerts),
	};

	return cmocka_run_group_tests(tests, setup_topo, teardown_topo);
}
