/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_pinglist: lib/pinglist.c on small topologies -- coupon-collector
 * flow sizing against its formula, a server's list level by level (its
 * rack whole, k draws per rack pair, k_pod per pod pair, never itself,
 * no duplicates), the same lists for the same seed, an appliance's list,
 * the budget, and servers from explicit racks.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pm_cfg.h"
#include "pm_pinglist.h"
#include "pm_topo.h"

/* 3 pods x 4 racks x 5 servers (.10-.14), 4 spines; plus an explicit
 * rack in pod x: two single servers and a prefix that holds none. */
static const char topo_text[] =
	"topology = {\n"
	"  patterns = ( { pods = 3; racks_per_pod = 4; pod_name = \"p%u\";\n"
	"                 rack_name = \"p%u-r%u\"; base = \"10.64.0.0\"; rack_prefix = 24;\n"
	"                 tor_host = 1; servers = 5; server_first = 10; } );\n"
	"  pods = ( { name = \"x\"; racks = ( { name = \"x1\";\n"
	"             hosts = [ \"10.99.0.5\", \"10.99.0.7\", \"10.99.1.0/24\" ]; } ); } );\n"
	"  spines = ( { name = \"s1\"; }, { name = \"s2\"; }, { name = \"s3\"; },\n"
	"             { name = \"s4\"; } );\n"
	"};\n";

static struct pm_topo *topo;

static int
setup(void **state)
{
	char path[] = "/tmp/pm-test-pl-XXXXXX";
	struct pm_cfg_errs e;
	int fd = mkstemp(path);

	(void)state;
	if (fd < 0 || write(fd, topo_text, sizeof(topo_text) - 1) !=
	    (ssize_t)(sizeof(topo_text) - 1))
		return -1;
	close(fd);
	pm_cfg_errs_init(&e);
	if (pm_topo_load(path, &topo, &e) < 0) {
		fprintf(stderr, "%s", e.buf);
		unlink(path);
		return -1;
	}
	unlink(path);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	pm_topo_free(topo);
	return 0;
}

static uint32_t
ip4(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return a << 24 | b << 16 | c << 8 | d;
}

static double
p_all(uint32_t s, uint32_t f)
{
	double all = 0, binom = 1;
	uint32_t j;

	for (j = 0; j <= s; j++) {
		all += (j & 1 ? -1 : 1) * binom * pow(1.0 - (double)j / s, f);
		binom = binom * (s - j) / (j + 1);
	}
	return all;
}

static void
test_flows(void **state)
{
	static const uint32_t spines[] = { 2, 4, 8, 16 };
	static const double ps[] = { 0.5, 0.9, 0.99 };
	uint32_t i, j, f;

	(void)state;
	assert_int_equal(pm_pl_flows_for(0, 0.9), 1);
	assert_int_equal(pm_pl_flows_for(1, 0.9), 1);
	/* 4 spines: 13 flows see all four with 90.5 %, 12 with 88.5 %. */
	assert_int_equal(pm_pl_flows_for(4, 0.9), 13);
	for (i = 0; i < 4; i++) {
		for (j = 0; j < 3; j++) {
			f = pm_pl_flows_for(spines[i], ps[j]);
			assert_true(p_all(spines[i], f) >= ps[j]);
			assert_true(f == spines[i] || p_all(spines[i], f - 1) < ps[j]);
		}
		assert_true(pm_pl_flows_for(spines[i], 0.99) >
			    pm_pl_flows_for(spines[i], 0.5));
	}
}

static struct pm_pl_ctx *
ctx(uint32_t k, uint32_t k_pod, uint64_t seed, uint64_t budget)
{
	struct pm_pl_ctx *x;
	struct pm_pl_cfg c;

	pm_pl_cfg_defaults(&c);
	c.k = k;
	c.k_pod = k_pod;
	c.seed = seed;
	c.budget_pps = budget;
	assert_int_equal(pm_pl_ctx_new(&x, topo, &c), 0);
	return x;
}

/* Every server of the patterned pods, in order. */
static uint32_t
server(uint32_t pod, uint32_t rack, uint32_t s)
{
	return ip4(10, 64, pod * 4 + rack, 10 + s);
}

static void
test_server_levels(void **state)
{
	/* [src rack][dst rack]: pod-level targets over all servers. */
	static uint32_t pairs[13][13], pods[4][4];
	struct pm_pl_ctx *x = ctx(3, 2, 7, 0);
	struct pm_pl pl = { 0 };
	uint32_t p, r, s, i, me, rk, rt, pt;

	(void)state;
	memset(pairs, 0, sizeof(pairs));
	memset(pods, 0, sizeof(pods));
	for (p = 0; p < 3; p++) {
		for (r = 0; r < 4; r++) {
			for (s = 0; s < 5; s++) {
				me = server(p, r, s);
				assert_int_equal(pm_pl_server(x, me, &pl), 0);
				rk = pm_topo_host_rack(topo, me);
				/* The rest of its rack, whole. */
				assert_int_equal(pl.per_level[PM_PL_RACK], 4);
				for (i = 0; i < pl.n; i++) {
					const struct pm_pl_target *t = &pl.t[i];

					assert_int_not_equal(t->ip, me);
					if (i > 0)
						assert_true(pl.t[i - 1].ip < t->ip);
					rt = pm_topo_host_rack(topo, t->ip);
					assert_int_equal(rt, t->rack);
					pt = pm_topo_rack_pod(topo, rt);
					assert_int_equal(t->rate_pps, 10);
					if (t->level == PM_PL_RACK) {
						assert_int_equal(rt, rk);
						assert_int_equal(t->flows, 1);
					} else {
						assert_int_equal(t->flows, 13);
					}
					if (t->level == PM_PL_POD) {
						assert_int_not_equal(rt, rk);
						assert_int_equal(pt, p);
						pairs[rk][rt]++;
					}
					if (t->level == PM_PL_DC) {
						assert_int_not_equal(pt, p);
						pods[p][pt]++;
					}
				}
			}
		}
	}
	/* k = 3 draws per ordered rack pair, k_pod = 2 per pod pair (fewer
	 * only when a server drew the same peer twice). */
	for (p = 0; p < 3; p++) {
		for (r = 0; r < 4; r++)
			for (s = 0; s < 4; s++)
				if (r != s) {
					assert_true(pairs[p * 4 + r][p * 4 + s] >= 1);
					assert_true(pairs[p * 4 + r][p * 4 + s] <= 3);
				}
		for (s = 0; s < 3; s++)
			if (s != p)
				assert_true(pods[p][s] >= 1 && pods[p][s] <= 2);
	}
	/* Not a server: a ToR, an unknown address, the prefix-only rack. */
	assert_int_equal(pm_pl_server(x, ip4(10, 64, 0, 1), &pl), -ENOENT);
	assert_int_equal(pm_pl_server(x, ip4(192, 168, 0, 1), &pl), -ENOENT);
	assert_int_equal(pm_pl_server(x, ip4(10, 99, 1, 9), &pl), -ENOENT);
	pm_pl_free(&pl);
	pm_pl_ctx_free(x);
}

static void
test_seed(void **state)
{
	struct pm_pl_ctx *a = ctx(2, 1, 1, 0), *b = ctx(2, 1, 1, 0), *c = ctx(2, 1, 2, 0);
	struct pm_pl la = { 0 }, lb = { 0 }, lc = { 0 };
	uint32_t p, r, s, differ = 0;

	(void)state;
	for (p = 0; p < 3; p++)
		for (r = 0; r < 4; r++)
			for (s = 0; s < 5; s++) {
				assert_int_equal(pm_pl_server(a, server(p, r, s), &la), 0);
				assert_int_equal(pm_pl_server(b, server(p, r, s), &lb), 0);
				assert_int_equal(pm_pl_server(c, server(p, r, s), &lc), 0);
				assert_int_equal(la.n, lb.n);
				assert_memory_equal(la.t, lb.t, la.n * sizeof(*la.t));
				differ += la.n != lc.n ||
					  memcmp(la.t, lc.t, la.n * sizeof(*la.t)) != 0;
			}
	/* Another seed draws other pairs. */
	assert_true(differ > 0);
	pm_pl_free(&la);
	pm_pl_free(&lb);
	pm_pl_free(&lc);
	pm_pl_ctx_free(a);
	pm_pl_ctx_free(b);
	pm_pl_ctx_free(c);
}

static void
test_appliance(void **state)
{
	struct pm_pl_ctx *x = ctx(2, 1, 0, 0);
	uint32_t perrack[13] = { 0 }, i, r;
	struct pm_pl pl = { 0 };

	(void)state;
	assert_int_equal(pm_pl_appliance(x, 1, &pl), 0);	/* pod p2 */
	/* Its 20 servers, one in each of the 8 other patterned racks and
	 * one of x1's two servers. */
	assert_int_equal(pl.per_level[PM_PL_APP_POD], 20);
	assert_int_equal(pl.per_level[PM_PL_APP_DC], 9);
	assert_int_equal(pl.n, 29);
	for (i = 0; i < pl.n; i++)
		perrack[pl.t[i].rack]++;
	for (r = 0; r < 13; r++)
		assert_int_equal(perrack[r], r >= 4 && r < 8 ? 5 : 1);
	assert_int_equal(pm_pl_appliance(x, 9, &pl), -ENOENT);
	pm_pl_free(&pl);
	pm_pl_ctx_free(x);
}

static void
test_budget(void **state)
{
	struct pm_pl_ctx *x = ctx(2, 1, 0, 100), *y = ctx(2, 1, 0, 10);
	struct pm_pl pl = { 0 };
	uint32_t i;

	(void)state;
	/* 29 targets at 10 pps do not fit 100 pps: 3 pps each. */
	assert_int_equal(pm_pl_appliance(x, 1, &pl), 0);
	assert_int_equal(pl.rate_cut, 3);
	assert_int_equal(pl.pps, 87);
	for (i = 0; i < pl.n; i++)
		assert_int_equal(pl.t[i].rate_pps, 3);
	/* Not even 1 pps each fits. */
	assert_int_equal(pm_pl_appliance(y, 1, &pl), -E2BIG);
	pm_pl_free(&pl);
	pm_pl_ctx_free(x);
	pm_pl_ctx_free(y);
}

static void
test_explicit_servers(void **state)
{
	struct pm_pl_ctx *x = ctx(2, 1, 0, 0);
	struct pm_pl pl = { 0 };
	const uint32_t *ips;
	uint32_t r = pm_topo_rack_find(topo, "x1"), i;

	(void)state;
	assert_int_equal(pm_topo_rack_servers(topo, r, &ips), 2);
	assert_int_equal(ips[0], ip4(10, 99, 0, 5));
	assert_int_equal(ips[1], ip4(10, 99, 0, 7));
	assert_int_equal(pm_pl_server(x, ip4(10, 99, 0, 5), &pl), 0);
	assert_int_equal(pl.per_level[PM_PL_RACK], 1);
	for (i = 0; i < pl.n; i++)
		if (pl.t[i].level == PM_PL_RACK)
			assert_int_equal(pl.t[i].ip, ip4(10, 99, 0, 7));
	pm_pl_free(&pl);
	pm_pl_ctx_free(x);
}

static void
test_flows_cover(void **state)
{
	const uint32_t N = PM_TOPO_NONE;
	const uint32_t a[] = { 2, 2, 0, N, 1, 2, 3, 0 };
	const uint32_t b[] = { 0, 1, 2, 0, 1 };		/* spine 3 never seen */
	const uint32_t c[] = { 3, 2, 1, 0 };

	(void)state;
	assert_int_equal(pm_pl_flows_cover(a, 8, 4), 7);
	assert_int_equal(pm_pl_flows_cover(a, 6, 4), 0);
	assert_int_equal(pm_pl_flows_cover(b, 5, 4), 0);
	assert_int_equal(pm_pl_flows_cover(c, 4, 4), 4);
	assert_int_equal(pm_pl_flows_cover(c, 4, 0), 0);
	assert_int_equal(pm_pl_flows_cover(a, 8, 3), 5);	/* 3, 4: out of range */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flows),
		cmocka_unit_test(test_server_levels),
		cmocka_unit_test(test_seed),
		cmocka_unit_test(test_appliance),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_explicit_servers),
		cmocka_unit_test(test_flows_cover),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
