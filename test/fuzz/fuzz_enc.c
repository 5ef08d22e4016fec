/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for lib/enc.c, the decoders that read every Kafka
 * message a pmesh consumer (pmesh-cat, the aggregator) is given.
 *
 * Each input goes to the binary batch decoder, the JSON line decoder and
 * the sniffing pm_enc_decode, exactly as given (the input is its own
 * buffer, so ASan flags any read past its end).  Memory safety alone would
 * not notice a decoder that accepts garbage, so what they accept is held
 * to their promises:
 *  - binary: the layout is canonical, so re-encoding an accepted batch
 *    gives back the input byte for byte;
 *  - JSON: a decoded line printed with pm_record_json() decodes again and
 *    prints the same line, and survives a binary batch unchanged.
 * Built with -DPM_FUZZ_SEED_MAIN instead, this file is a small program
 * that writes seed messages into a directory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pm_enc.h"
#include "pm_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant broke: crash so libFuzzer keeps the input. */
#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

#define MAXP	96	/* more than the largest summary needs (84) */
#define LINE	(1 << 18)

static struct pm_record recs1[MAXP], recs2[MAXP];
static char line1[LINE], line2[LINE];
static char err[256];

static uint32_t
le(const uint8_t *p, int n)
{
	uint32_t v = 0;

	while (n-- > 0)
		v = v << 8 | p[n];
	return v;
}

static int
reencode_cb(void *arg, const struct pm_record *recs, unsigned int n,
	    const char *name)
{
	struct pm_enc_bin *b = arg;

	(void)name;
	CHECK(pm_record_check(recs, n) == 0);
	CHECK(pm_enc_bin_append(b, recs, n) == 0);
	return 0;
}

static void
check_binary(const uint8_t *data, size_t size)
{
	struct pm_enc_bin b;
	char name[PM_ENC_NAME_MAX + 1];
	uint8_t *out;
	int rc;

	err[0] = '\0';
	rc = pm_enc_bin_decode(data, size, NULL, NULL, err, sizeof(err));
	if (rc < 0) {
		CHECK(rc == -EINVAL || rc == -EPROTONOSUPPORT);
		CHECK(err[0] != '\0');
		return;
	}
	CHECK(size >= 24 && data[22] <= PM_ENC_NAME_MAX);
	/* An older schema's batch re-encodes in the current layout: only
	 * the current one must come back byte for byte. */
	if (le(data + 6, 2) != PM_REC_SCHEMA)
		return;
	memcpy(name, data + 24, data[22]);
	name[data[22]] = '\0';
	out = malloc(size);
	if (out == NULL)
		return;
	CHECK(pm_enc_bin_begin(&b, out, size, le(data + 16, 4), name,
			       (uint16_t)le(data + 20, 2)) == 0);
	CHECK(pm_enc_bin_decode(data, size, reencode_cb, &b, err,
				sizeof(err)) == rc);
	CHECK(b.count == (uint32_t)rc);
	CHECK(pm_enc_bin_finish(&b) == size);
	CHECK(memcmp(out, data, size) == 0);
	free(out);
}

static int
compare_cb(void *arg, const struct pm_record *recs, unsigned int n,
	   const char *name)
{
	unsigned int *want = arg;

	(void)name;
	CHECK(n == *want);
	CHECK(memcmp(recs, recs1, n * sizeof(*recs)) == 0);
	return 0;
}

static void
check_json(const uint8_t *data, size_t size)
{
	static uint8_t batch[1 << 16];
	char name[256], name2[256];
	struct pm_enc_bin b;
	unsigned int n;
	int rc, l1, l2;

	err[0] = '\0';
	rc = pm_enc_json_decode((const char *)data, size, recs1, MAXP, name,
				sizeof(name), err, sizeof(err));
	if (rc < 0) {
		CHECK(rc == -EINVAL || rc == -EPROTONOSUPPORT);
		CHECK(err[0] != '\0');
		return;
	}
	CHECK(rc > 0 && rc <= MAXP);
	n = (unsigned int)rc;
	CHECK(pm_record_check(recs1, n) == 0);

	l1 = pm_record_json(recs1, n, name, line1, sizeof(line1));
	CHECK(l1 > 0);
	rc = pm_enc_json_decode(line1, (size_t)l1, recs2, MAXP, name2,
				sizeof(name2), err, sizeof(err));
	CHECK(rc == (int)n);
	CHECK(strcmp(name, name2) == 0);
	l2 = pm_record_json(recs2, n, name2, line2, sizeof(line2));
	CHECK(l2 == l1 && memcmp(line1, line2, (size_t)l1) == 0);

	CHECK(pm_enc_bin_begin(&b, batch, sizeof(batch), recs1[0].h.prober_id,
			       name, recs1[0].h.lcore) == 0);
	CHECK(pm_enc_bin_append(&b, recs1, n) == 0);
	CHECK(pm_enc_bin_decode(batch, pm_enc_bin_finish(&b), compare_cb, &n,
				err, sizeof(err)) == 1);
}

static int
count_cb(void *arg, const struct pm_record *recs, unsigned int n,
	 const char *name)
{
	CHECK(name != NULL && pm_record_check(recs, n) == 0);
	(*(unsigned int *)arg)++;
	return 0;
}

/* A path record that decodes re-encodes to one that decodes the same. */
static void
check_path(const uint8_t *data, size_t size)
{
	static struct pm_path p1, p2;
	int n;

	if (pm_enc_path_decode((const char *)data, size, &p1, err, sizeof(err)) < 0) {
		CHECK(err[0] != '\0');
		return;
	}
	CHECK(p1.nhops <= PM_PATH_MAX_HOPS);
	n = pm_enc_path_json(&p1, line1, sizeof(line1));
	CHECK(n > 0);
	CHECK(pm_enc_path_decode(line1, (size_t)n, &p2, err, sizeof(err)) == 0);
	CHECK(memcmp(&p1, &p2, sizeof(p1)) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned int calls = 0;
	int rc;

	check_binary(data, size);
	check_json(data, size);
	rc = pm_enc_decode(0, data, size, count_cb, &calls, err, sizeof(err));
	CHECK(rc < 0 || (unsigned int)rc == calls);
	check_path(data, size);
	return 0;
}

#ifdef PM_FUZZ_SEED_MAIN
/* Seed generator: a batch and JSON lines of both schemas. */
#include "pm_clock.h"
#include "pm_hist.h"

static int
write_seed(const char *dir, const char *name, const void *f, size_t n)
{
	char path[4096];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "wb");
	if (fp == NULL || fwrite(f, 1, n, fp) != n) {
		perror(path);
		if (fp != NULL)
			fclose(fp);
		return -1;
	}
	return fclose(fp) == 0 ? 0 : -1;
}

static int
summary(uint64_t seq, uint32_t nr, uint32_t nf, uint16_t flags)
{
	static uint32_t rc[PM_HIST_NBUCKETS], fc[PM_HIST_NBUCKETS];
	struct pm_hist rtt, refl;
	struct pm_rec_hdr h;
	struct pm_rec_body b;
	uint32_t i;

	memset(&h, 0, sizeof(h));
	h.engine = PM_ENGINE_DPDK_STAMP;
	h.flags = flags;
	h.prober_id = pm_record_id_hash("seed");
	h.lcore = 1;
	h.seq = seq;
	h.window_start_ns = 1700000000000000000ull;
	h.window_ms = 1000;
	h.af = 4;
	h.proto = 17;
	h.ts_tx = PM_TS_TSC;
	h.ts_rx = PM_TS_TSC;
	h.ts_refl = PM_TS_REMOTE;
	h.src = 0x0a000001;
	h.dst = 0x0a000002;
	h.sport = 49152;
	h.dport = 862;
	h.ssid = 1;
	h.size = 44;
	memset(&b, 0, sizeof(b));
	b.sent = 10;
	b.received = 9;
	b.lost = 1;
	b.rtt.min = b.raw.min = b.refl.min = b.fwd.min = b.bwd.min =
		UINT64_MAX;
	pm_hist_init_dense(&rtt, rc);
	pm_hist_init_dense(&refl, fc);
	for (i = 0; i < nr; i++)
		pm_hist_add_bucket(&rtt, 500 + i, i + 1);
	for (i = 0; i < nf; i++)
		pm_hist_add_bucket(&refl, 300 + 2 * i, 1);
	if (nr > 0) {
		b.rtt = (struct pm_rec_stat){ rtt.min, rtt.max, rtt.sum };
		b.raw = (struct pm_rec_stat){ rtt.min + 9, rtt.max + 9,
					      rtt.sum + 9 * rtt.n };
		b.fwd = (struct pm_rec_stat){ 100, 200, 150 * rtt.n };
		b.bwd = b.fwd;
	}
	if (nf > 0)
		b.refl = (struct pm_rec_stat){ refl.min, refl.max, refl.sum };
	return pm_record_build(recs1, MAXP, &h, &b, &rtt, &refl);
}

int
main(int argc, char **argv)
{
	static uint8_t batch[1 << 16];
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
		"0.100000,\"rtt_ns\":{\"n\":2,\"min\":10230,\"mean\":12409,"
		"\"p50\":10560,\"max\":25000},\"raw_rtt_ns\":{\"min\":12030,"
		"\"mean\":14357,\"max\":27096},\"refl_delay_ns\":{\"n\":0},"
		"\"hist_overflow\":0,\"rtt_hist\":[[527,1],[609,1]],"
		"\"refl_hist\":[]}";
	struct pm_enc_bin b;
	int n, l, err_ = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	pm_enc_bin_begin(&b, batch, sizeof(batch), pm_record_id_hash("seed"),
			 "seed", 1);
	n = summary(1, 3, 2, PM_REC_F_OWD);
	pm_enc_bin_append(&b, recs1, (unsigned int)n);
	n = summary(2, 0, 0, PM_REC_F_FINAL);
	pm_enc_bin_append(&b, recs1, (unsigned int)n);
	n = summary(3, 40, 10, 0);
	pm_enc_bin_append(&b, recs1, (unsigned int)n);
	err_ |= write_seed(argv[1], "batch3", batch, pm_enc_bin_finish(&b));

	n = summary(4, 5, 3, PM_REC_F_OWD | PM_REC_F_NO_REFL_TS);
	l = pm_record_json(recs1, (unsigned int)n, "pod\"1", line1,
			   sizeof(line1));
	err_ |= write_seed(argv[1], "json_owd", line1, (size_t)l);
	n = summary(5, 0, 0, 0);
	l = pm_record_json(recs1, (unsigned int)n, "seed", line1,
			   sizeof(line1));
	err_ |= write_seed(argv[1], "json_empty", line1, (size_t)l);
	err_ |= write_seed(argv[1], "json_v1", v1, sizeof(v1) - 1);
	return err_ ? 1 : 0;
}
#endif /* PM_FUZZ_SEED_MAIN */
