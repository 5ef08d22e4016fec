/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/record.c and lib/sink_json.c: summaries split over 1,
 * 2 and 5 parts survive build -> check -> hists unchanged; the JSON line
 * carries the documented field names and figures; damaged part lists and
 * unknown schema versions are refused; the JSON sink writes one line per
 * summary and counts what it cannot write.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "pm_clock.h"
#include "pm_hist.h"
#include "pm_record.h"
#include "pm_sink.h"

#define MAXP	200

static uint32_t rtt_counts[PM_HIST_NBUCKETS];
static uint32_t refl_counts[PM_HIST_NBUCKETS];
static uint32_t out_rtt_counts[PM_HIST_NBUCKETS];
static uint32_t out_refl_counts[PM_HIST_NBUCKETS];
static struct pm_record recs[MAXP];

static void
fill_hdr(struct pm_rec_hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->engine = PM_ENGINE_DPDK_STAMP;
	h->prober_id = pm_record_id_hash("pod1-a1");
	h->lcore = 1;
	h->seq = 7;
	h->window_start_ns = 1700000000000000000ull;
	h->window_ms = 1000;
	h->target = 2;
	h->flow = 3;
	h->af = 4;
	h->proto = 17;
	h->dscp = 46;
	h->ts_tx = PM_TS_TSC;
	h->ts_rx = PM_TS_NIC;
	h->ts_refl = PM_TS_REMOTE;
	h->src = 0x0a000001;
	h->dst = 0x0a000102;
	h->sport = 49155;
	h->dport = 862;
	h->ssid = 9;
	h->size = 44;
}

static void
fill_body(struct pm_rec_body *b)
{
	memset(b, 0, sizeof(*b));
	b->rtt.min = b->raw.min = b->refl.min = UINT64_MAX;
	b->fwd.min = b->bwd.min = UINT64_MAX;
}

/* Dense histograms with @nr and @nf distinct buckets; bucket i of each
 * gets count i + 1 (RTT) or 2i + 1 (refl), so a shifted entry shows. */
static void
make_hists(struct pm_hist *rtt, struct pm_hist *refl, uint32_t nr,
	   uint32_t nf)
{
	uint32_t i;

	pm_hist_init_dense(rtt, rtt_counts);
	pm_hist_init_dense(refl, refl_counts);
	for (i = 0; i < nr; i++)
		pm_hist_add_bucket(rtt, 1000 + i * 3, i + 1);
	for (i = 0; i < nf; i++)
		pm_hist_add_bucket(refl, 200 + i * 5, 2 * i + 1);
}

static void
roundtrip(uint32_t nr, uint32_t nf, unsigned int want_parts)
{
	struct pm_hist rtt, refl, ortt, orefl;
	struct pm_rec_hdr h;
	struct pm_rec_body b;
	unsigned int p;
	int n;

	make_hists(&rtt, &refl, nr, nf);
	fill_hdr(&h);
	fill_body(&b);
	b.sent = 100;
	assert_int_equal(pm_record_nparts(nr, nf), want_parts);
	n = pm_record_build(recs, MAXP, &h, &b, &rtt, &refl);
	assert_int_equal(n, (int)want_parts);
	for (p = 0; p < want_parts; p++) {
		assert_int_equal(recs[p].h.part, p);
		assert_int_equal(recs[p].h.nparts, want_parts);
		assert_int_equal(recs[p].h.seq, 7);
		assert_int_equal(recs[p].h.schema, PM_REC_SCHEMA);
	}
	assert_int_equal(recs[0].p0.b.rtt_nbuckets, nr);
	assert_int_equal(recs[0].p0.b.refl_nbuckets, nf);
	assert_int_equal(recs[0].p0.b.sent, 100);
	assert_int_equal(pm_record_check(recs, (unsigned int)n), 0);

	pm_hist_init_dense(&ortt, out_rtt_counts);
	pm_hist_init_dense(&orefl, out_refl_counts);
	assert_int_equal(pm_record_hists(recs, (unsigned int)n, &ortt, &orefl),
			 0);
	assert_memory_equal(out_rtt_counts, rtt_counts, sizeof(rtt_counts));
	assert_memory_equal(out_refl_counts, refl_counts, sizeof(refl_counts));
	assert_int_equal(pm_hist_nonempty(&ortt), nr);
	assert_int_equal(pm_hist_nonempty(&orefl), nf);

	/* Too little room: nothing claimed written. */
	assert_int_equal(pm_record_build(recs, want_parts - 1, &h, &b, &rtt,
					 &refl), -ENOSPC);
}

static void
test_id_engine(void **state)
{
	(void)state;
	/* FNV-1a 32 reference values. */
	assert_int_equal(pm_record_id_hash(""), 0x811c9dc5u);
	assert_int_equal(pm_record_id_hash("a"), 0xe40c292cu);
	assert_int_equal(pm_record_id_hash("foobar"), 0xbf9cf968u);
	assert_string_equal(pm_engine_str(PM_ENGINE_DPDK_STAMP), "dpdk-stamp");
	assert_string_equal(pm_engine_str(PM_ENGINE_DPDK_ICMP), "dpdk-icmp");
	assert_string_equal(pm_engine_str(PM_ENGINE_DPDK_TCP), "dpdk-tcp");
	assert_string_equal(pm_engine_str(PM_ENGINE_RDMA_UD), "rdma-ud");
	assert_string_equal(pm_engine_str(PM_ENGINE_NONE), "none");
	assert_string_equal(pm_engine_str(99), "none");
}

static void
test_nparts(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct pm_record), PM_REC_SIZE);
	assert_int_equal(pm_record_nparts(0, 0), 1);
	assert_int_equal(pm_record_nparts(PM_REC_ENT0, 0), 1);
	assert_int_equal(pm_record_nparts(PM_REC_ENT0, 1), 2);
	assert_int_equal(pm_record_nparts(0, PM_REC_ENT0 + PM_REC_ENTN), 2);
	assert_int_equal(pm_record_nparts(1, PM_REC_ENT0 + PM_REC_ENTN), 3);
	/* The largest summary (two full dense histograms) still fits. */
	assert_true(pm_record_nparts(PM_HIST_NBUCKETS, PM_HIST_NBUCKETS) <= 255);
}

static void
test_roundtrip_1part(void **state)
{
	(void)state;
	roundtrip(0, 0, 1);
	roundtrip(3, 2, 1);
	roundtrip(PM_REC_ENT0 - 1, 1, 1);
}

static void
test_roundtrip_2parts(void **state)
{
	(void)state;
	/* The RTT/refl boundary inside part 0, then inside part 1. */
	roundtrip(5, PM_REC_ENT0, 2);
	roundtrip(PM_REC_ENT0 + 3, 4, 2);
	roundtrip(PM_REC_ENT0 + PM_REC_ENTN, 0, 2);
}

static void
test_roundtrip_5parts(void **state)
{
	(void)state;
	roundtrip(PM_REC_ENT0 + 2 * PM_REC_ENTN, 2 * PM_REC_ENTN - 7, 5);
	roundtrip(1, PM_REC_ENT0 + 4 * PM_REC_ENTN - 1, 5);
}

static int
build_sample(struct pm_record *r, unsigned int max, uint16_t flags)
{
	struct pm_hist rtt, refl;
	struct pm_rec_hdr h;
	struct pm_rec_body b;
	int i;

	pm_hist_init_dense(&rtt, rtt_counts);
	pm_hist_init_dense(&refl, refl_counts);
	for (i = 0; i < 10; i++)
		pm_hist_add(&rtt, 100);		/* linear range: exact */
	pm_hist_add(&rtt, 120);
	pm_hist_add(&refl, 50);
	pm_hist_add(&refl, 50);
	fill_hdr(&h);
	h.flags = flags;
	fill_body(&b);
	b.sent = 16;
	b.received = 11;
	b.lost = 4;
	b.late = 1;
	b.dup = 2;
	b.reordered = 3;
	b.unmatched = 5;
	b.stalled = 6;
	b.rtt.min = rtt.min;
	b.rtt.max = rtt.max;
	b.rtt.sum = rtt.sum;
	b.raw.min = 200;
	b.raw.max = 300;
	b.raw.sum = 2420;
	b.refl.min = 50;
	b.refl.max = 50;
	b.refl.sum = 100;
	b.fwd.min = 40;
	b.fwd.max = 60;
	b.fwd.sum = 550;
	b.bwd.min = 50;
	b.bwd.max = 70;
	b.bwd.sum = 660;
	return pm_record_build(r, max, &h, &b, &rtt, &refl);
}

static void
test_json(void **state)
{
	char buf[4096], idbuf[128];
	int n, len;

	(void)state;
	n = build_sample(recs, MAXP, PM_REC_F_OWD | PM_REC_F_FINAL);
	assert_int_equal(n, 1);
	len = pm_record_json(recs, 1, "pod1-a1", buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal((size_t)len, strlen(buf));
	snprintf(idbuf, sizeof(idbuf),
		 "{\"schema\":3,\"kind\":\"summary\",\"id\":\"%08x-1-7\","
		 "\"prober\":\"pod1-a1\",\"lcore\":1,\"seq\":7,",
		 pm_record_id_hash("pod1-a1"));
	assert_true(strncmp(buf, idbuf, strlen(idbuf)) == 0);
	assert_non_null(strstr(buf, "\"engine\":\"dpdk-stamp\","
			       "\"window_start_ns\":1700000000000000000,"
			       "\"window_ms\":1000,\"target\":2,\"flow\":3,"
			       "\"src\":\"10.0.0.1\",\"dst\":\"10.0.1.2\","
			       "\"sport\":49155,\"dport\":862,\"dscp\":46,"
			       "\"size\":44,\"ssid\":9,"));
	assert_non_null(strstr(buf, "\"ts_tx\":\"tsc\",\"ts_rx\":\"nic\","
			       "\"ts_refl\":\"remote\",\"refl_synced\":false,"
			       "\"flags\":[\"owd\",\"final\"],"));
	assert_non_null(strstr(buf, "\"sent\":16,\"received\":11,\"lost\":4,"
			       "\"late\":1,\"dup\":2,\"reordered\":3,"
			       "\"unmatched\":5,\"stalled\":6,"
			       "\"loss_ratio\":0.266667,"));
	/* 10 x 100 ns and 1 x 120 ns: the linear buckets are exact. */
	assert_non_null(strstr(buf, "\"rtt_ns\":{\"n\":11,\"min\":100,"
			       "\"mean\":101,\"sum\":1120,\"p50\":100,\"p90\":100,"
			       "\"p99\":120,\"p999\":120,\"max\":120}"));
	assert_non_null(strstr(buf, "\"raw_rtt_ns\":{\"min\":200,\"mean\":220,"
			       "\"sum\":2420,\"max\":300}"));
	assert_non_null(strstr(buf, "\"refl_delay_ns\":{\"n\":2,\"min\":50,"
			       "\"mean\":50,\"sum\":100,\"p50\":50,\"p99\":50,\"max\":50}"));
	assert_non_null(strstr(buf, "\"fwd_ns\":{\"min\":40,\"mean\":50,\"sum\":550,"
			       "\"max\":60},\"bwd_ns\":{\"min\":50,\"mean\":60,"
			       "\"sum\":660,\"max\":70}"));
	assert_non_null(strstr(buf, "\"hist_overflow\":0,\"dropped_before\":0,"
			       "\"rtt_hist\":[[100,10],[120,1]],"
			       "\"refl_hist\":[[50,2]]}"));
	assert_int_equal(buf[len - 1], '}');

	/* Without OWD: no one-way fields; flags as given. */
	build_sample(recs, MAXP, PM_REC_F_NO_REFL_TS);
	len = pm_record_json(recs, 1, "x\"y\\z\n", buf, sizeof(buf));
	assert_true(len > 0);
	assert_null(strstr(buf, "fwd_ns"));
	assert_null(strstr(buf, "bwd_ns"));
	assert_non_null(strstr(buf, "\"flags\":[\"no_refl_ts\"],"));
	assert_non_null(strstr(buf, "\"prober\":\"x\\\"y\\\\z\\u000a\","));

	/* Too small a buffer: -ENOSPC, never a cut line. */
	assert_int_equal(pm_record_json(recs, 1, "p", buf, 100), -ENOSPC);
	assert_int_equal(pm_record_json(recs, 1, "x\"y\\z\n", buf,
					(size_t)len), -ENOSPC);
	assert_int_equal(pm_record_json(recs, 1, "x\"y\\z\n", buf,
					(size_t)len + 1), len);
}

static void
test_json_empty(void **state)
{
	struct pm_rec_hdr h;
	struct pm_rec_body b;
	char buf[2048];
	int len;

	(void)state;
	fill_hdr(&h);
	fill_body(&b);
	h.flags = PM_REC_F_OWD;
	assert_int_equal(pm_record_build(recs, MAXP, &h, &b, NULL, NULL), 1);
	len = pm_record_json(recs, 1, "p", buf, sizeof(buf));
	assert_true(len > 0);
	assert_non_null(strstr(buf, "\"flags\":[\"owd\"],"));
	assert_non_null(strstr(buf, "\"loss_ratio\":0.000000,"
			       "\"rtt_ns\":{\"n\":0},\"raw_rtt_ns\":{\"n\":0},"
			       "\"refl_delay_ns\":{\"n\":0},\"fwd_ns\":{\"n\":0},"
			       "\"bwd_ns\":{\"n\":0},\"hist_overflow\":0,\"dropped_before\":0,"
			       "\"rtt_hist\":[],\"refl_hist\":[]}"));
}

static void
test_check_errors(void **state)
{
	int n;

	(void)state;
	roundtrip(PM_REC_ENT0 + 2 * PM_REC_ENTN, 2 * PM_REC_ENTN - 7, 5);
	n = 5;
	assert_int_equal(pm_record_check(recs, (unsigned int)n), 0);
	/* Truncated part lists. */
	assert_int_equal(pm_record_check(recs, 4), -EINVAL);
	assert_int_equal(pm_record_check(recs, 1), -EINVAL);
	assert_int_equal(pm_record_check(recs + 1, 4), -EINVAL);
	assert_int_equal(pm_record_check(recs, 0), -EINVAL);

	/* Unknown schema version, in any part. */
	recs[0].h.schema = PM_REC_SCHEMA + 1;
	assert_int_equal(pm_record_check(recs, 5), -EPROTONOSUPPORT);
	recs[0].h.schema = PM_REC_SCHEMA;
	recs[3].h.schema = 0;
	assert_int_equal(pm_record_check(recs, 5), -EPROTONOSUPPORT);
	recs[3].h.schema = PM_REC_SCHEMA;

	/* Parts swapped, parts of another summary, wrong counts. */
	recs[2].h.part = 3;
	assert_int_equal(pm_record_check(recs, 5), -EINVAL);
	recs[2].h.part = 2;
	recs[4].h.seq++;
	assert_int_equal(pm_record_check(recs, 5), -EINVAL);
	recs[4].h.seq--;
	recs[1].nent--;
	assert_int_equal(pm_record_check(recs, 5), -EINVAL);
	recs[1].nent++;
	recs[0].h.kind = 9;
	assert_int_equal(pm_record_check(recs, 5), -EINVAL);
	recs[0].h.kind = PM_REC_SUMMARY;
	/* Buckets out of order within a histogram. */
	recs[1].ent[3].bucket = recs[1].ent[2].bucket;
	assert_int_equal(pm_record_check(recs, 5), -EINVAL);
	assert_int_equal(pm_record_json(recs, 5, "p", NULL, 0), -ENOSPC);
}

static void
test_hists_errors(void **state)
{
	struct pm_hist rtt, refl;

	(void)state;
	roundtrip(PM_REC_ENT0 + 1, 0, 2);
	pm_hist_init_dense(&rtt, out_rtt_counts);
	pm_hist_init_dense(&refl, out_refl_counts);
	assert_int_equal(pm_record_hists(recs, 1, &rtt, &refl), -EINVAL);
	recs[1].h.schema = 77;
	assert_int_equal(pm_record_hists(recs, 2, &rtt, &refl),
			 -EPROTONOSUPPORT);
	assert_int_equal(rtt.n, 0);
}

/* Exact min/max of the summary replace bucket edges on a fresh hist. */
static void
test_hists_exact(void **state)
{
	struct pm_hist rtt, refl;

	(void)state;
	assert_int_equal(build_sample(recs, MAXP, 0), 1);
	pm_hist_init_dense(&rtt, out_rtt_counts);
	pm_hist_init_dense(&refl, out_refl_counts);
	assert_int_equal(pm_record_hists(recs, 1, &rtt, &refl), 0);
	assert_int_equal(rtt.n, 11);
	assert_int_equal(rtt.min, 100);
	assert_int_equal(rtt.max, 120);
	assert_int_equal(rtt.sum, 1120);
	assert_int_equal(refl.n, 2);
	assert_int_equal(pm_hist_quantile(&rtt, 0.5), 100);
}

static char *
slurp(const char *path)
{
	static char buf[1 << 16];
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void
test_sink_json(void **state)
{
	const struct pm_sink_ops *ops = pm_sink_find("json");
	char path[] = "/tmp/pm_test_sink_XXXXXX";
	struct pm_sink sk = { .prober_name = "pod1-a1" };
	struct pm_record batch[16];
	char *text, *nl;
	int fd, n1, n2;

	(void)state;
	assert_ptr_equal(ops, &pm_sink_json);
	assert_null(pm_sink_find("nope"));
	assert_null(pm_sink_find(NULL));
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);

	sk.ops = ops;
	assert_int_equal(ops->open(&sk, path), 0);
	n1 = build_sample(batch, 16, 0);
	roundtrip(PM_REC_ENT0 + 3, 4, 2);
	memcpy(&batch[n1], recs, 2 * sizeof(recs[0]));
	n2 = 2;
	assert_int_equal(ops->write(&sk, batch, (unsigned int)(n1 + n2)), 0);
	assert_int_equal(ops->poll(&sk), 0);
	assert_int_equal(ops->flush(&sk, 100), 0);
	assert_int_equal(sk.summaries, 2);
	assert_int_equal(sk.failed, 0);

	/* A batch cut inside a summary: the whole summary counts failed. */
	assert_int_equal(ops->write(&sk, batch + n1, 1), -EINVAL);
	assert_int_equal(sk.failed, 1);
	/* A summary that does not check (unknown schema): failed, others go. */
	batch[0].h.schema = 99;
	assert_int_equal(ops->write(&sk, batch, (unsigned int)(n1 + n2)),
			 -EPROTONOSUPPORT);
	assert_int_equal(sk.failed, 2);
	assert_int_equal(sk.summaries, 3);
	ops->close(&sk);
	assert_null(sk.priv);

	text = slurp(path);
	nl = strchr(text, '\n');
	assert_non_null(nl);
	assert_true(strncmp(text, "{\"schema\":3,", 12) == 0);
	assert_non_null(strstr(text, "\"prober\":\"pod1-a1\""));
	nl = strchr(nl + 1, '\n');
	assert_non_null(nl);
	nl = strchr(nl + 1, '\n');
	assert_non_null(nl);
	assert_int_equal(nl[1], '\0');
	unlink(path);

	/* Opening where nothing can be written fails with -errno. */
	assert_int_equal(ops->open(&sk, "/nonexistent-dir/x.json"), -ENOENT);
}

/* Event fields built apart (a reload's, posted to the export thread):
 * strings JSON-escaped, and a field that does not fit leaves nothing half
 * written behind the last whole one. */
static void
test_event_fields(void **state)
{
	struct pm_event ev;
	char f[64];

	(void)state;
	pm_event_fields(&ev, f, sizeof(f));
	assert_string_equal(f, "");
	pm_event_add(&ev, ",\"ok\":%s", "true");
	pm_event_add_str(&ev, "config", "a\"b\\c\n");
	assert_false(ev.full);
	assert_string_equal(f, ",\"ok\":true,\"config\":\"a\\\"b\\\\c\\u000a\"");
	pm_event_add(&ev, ",\"kept\":%u,\"added\":%u,\"removed\":%u", 123456u, 7u, 8u);
	assert_true(ev.full);
	assert_int_equal(strlen(f), ev.len);
	assert_string_equal(f, ",\"ok\":true,\"config\":\"a\\\"b\\\\c\\u000a\"");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_engine),
		cmocka_unit_test(test_nparts),
		cmocka_unit_test(test_roundtrip_1part),
		cmocka_unit_test(test_roundtrip_2parts),
		cmocka_unit_test(test_roundtrip_5parts),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_json_empty),
		cmocka_unit_test(test_check_errors),
		cmocka_unit_test(test_hists_errors),
		cmocka_unit_test(test_hists_exact),
		cmocka_unit_test(test_sink_json),
		cmocka_unit_test(test_event_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
