/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/topo.c: the shipped example loaded to the expected
 * pods, racks and spines; host and hop lookups at range edges, in pattern
 * and explicit racks and outside everything; a 100-pod x 48-rack pattern
 * spot-checked and looked up a million times against arithmetic; the
 * static spine rules (wildcards, first match, port ranges); pattern name
 * formats; the limits; each class of error as its exact "file:line:
 * message"; and every file of the bad-topology corpus
 * (test/bad-topology/NAME.cfg) giving exactly the lines of its NAME.expect.
 */
#include <dirent.h>
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

#include "pm_topo.h"

#ifndef PM_SRC_DIR
#define PM_SRC_DIR "."
#endif

#define IP(a, b, c, d) \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

static char tmpdir[] = "/tmp/pm_test_topo_XXXXXX";

static const char *
src_dir(void)
{
	const char *s = getenv("PM_SRC");

	return s != NULL && s[0] != '\0' ? s : PM_SRC_DIR;
}

/* Write @text to tmpdir/@name; returns the path (static buffer). */
static const char *
write_file(const char *name, const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static int
load(const char *name, const char *text, struct pm_topo **t,
     struct pm_cfg_errs *e)
{
	pm_cfg_errs_init(e);
	return pm_topo_load(write_file(name, text), t, e);
}

/* Load @text, which must be valid. */
static struct pm_topo *
load_ok(const char *name, const char *text)
{
	struct pm_cfg_errs e;
	struct pm_topo *t;

	if (load(name, text, &t, &e) != 0)
		fail_msg("%s refused:\n%s", name, e.buf);
	assert_non_null(t);
	return t;
}

/* The diagnostics with the tmp dir stripped must be exactly @want. */
static void
assert_errs(const struct pm_cfg_errs *e, const char *want)
{
	char got[sizeof(e->buf)], pre[64];
	const char *p = e->buf;
	size_t k = 0;

	snprintf(pre, sizeof(pre), "%s/", tmpdir);
	while (*p != '\0') {
		if (strncmp(p, pre, strlen(pre)) == 0)
			p += strlen(pre);
		while (*p != '\0' && *p != '\n')
			got[k++] = *p++;
		if (*p == '\n')
			got[k++] = *p++;
	}
	got[k] = '\0';
	assert_string_equal(got, want);
}

/* Load @text, which must fail with exactly @want. */
static void
load_bad(const char *name, const char *text, const char *want)
{
	struct pm_cfg_errs e;
	struct pm_topo *t = (struct pm_topo *)&e;	/* must be reset */

	assert_int_equal(load(name, text, &t, &e), -EINVAL);
	assert_null(t);
	assert_errs(&e, want);
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct pm_topo *
load_example(void)
{
	struct pm_cfg_errs e;
	struct pm_topo *t;
	char path[512];

	snprintf(path, sizeof(path), "%s/config/topology.cfg", src_dir());
	pm_cfg_errs_init(&e);
	if (pm_topo_load(path, &t, &e) != 0)
		fail_msg("%s:\n%s", path, e.buf);
	return t;
}

/* ---------------------------------------------------------------------- */

/* config/topology.cfg: pod1 = the explicit mgmt rack + 4 pattern racks. */
static void
test_example(void **state)
{
	static const char *const racks[] = {
		"pod1-mgmt", "pod1-r1", "pod1-r2", "pod1-r3", "pod1-r4",
		"pod2-r1", "pod2-r2", "pod2-r3", "pod2-r4",
	};
	struct pm_topo *t = load_example();
	uint32_t r;

	(void)state;
	assert_int_equal(pm_topo_npods(t), 2);
	assert_int_equal(pm_topo_nracks(t), 9);
	assert_int_equal(pm_topo_nspines(t), 4);
	assert_string_equal(pm_topo_pod_name(t, 0), "pod1");
	assert_string_equal(pm_topo_pod_name(t, 1), "pod2");
	for (r = 0; r < 9; r++) {
		assert_string_equal(pm_topo_rack_name(t, r), racks[r]);
		assert_int_equal(pm_topo_rack_find(t, racks[r]), r);
		assert_int_equal(pm_topo_rack_pod(t, r), r < 5 ? 0 : 1);
	}
	assert_string_equal(pm_topo_spine_name(t, 2), "spine3");
	assert_int_equal(pm_topo_spine_find(t, "spine4"), 3);
	assert_int_equal(pm_topo_spine_find(t, "spine5"), PM_TOPO_NONE);
	assert_int_equal(pm_topo_rack_find(t, "pod3-r1"), PM_TOPO_NONE);
	assert_int_equal(pm_topo_rack_find(t, "*"), PM_TOPO_NONE);
	/* Out of range: nothing, never a crash. */
	assert_null(pm_topo_rack_name(t, 9));
	assert_null(pm_topo_pod_name(t, 2));
	assert_null(pm_topo_spine_name(t, PM_TOPO_NONE));
	assert_int_equal(pm_topo_rack_pod(t, 9), PM_TOPO_NONE);
	pm_topo_free(t);
}

static void
test_host_lookup(void **state)
{
	struct pm_topo *t = load_example();
	uint32_t mgmt = pm_topo_rack_find(t, "pod1-mgmt");

	(void)state;
	/* Pattern racks: rack k is 10.64.k.0/24, edges included. */
	assert_int_equal(pm_topo_host_rack(t, IP(10, 64, 0, 0)),
			 pm_topo_rack_find(t, "pod1-r1"));
	assert_int_equal(pm_topo_host_rack(t, IP(10, 64, 3, 255)),
			 pm_topo_rack_find(t, "pod1-r4"));
	assert_int_equal(pm_topo_host_rack(t, IP(10, 64, 4, 0)),
			 pm_topo_rack_find(t, "pod2-r1"));
	assert_int_equal(pm_topo_host_rack(t, IP(10, 64, 5, 10)),
			 pm_topo_rack_find(t, "pod2-r2"));
	assert_int_equal(pm_topo_host_rack(t, IP(10, 64, 7, 255)),
			 pm_topo_rack_find(t, "pod2-r4"));
	assert_int_equal(pm_topo_host_rack(t, IP(10, 64, 8, 0)), PM_TOPO_NONE);
	assert_int_equal(pm_topo_host_rack(t, IP(10, 63, 255, 255)),
			 PM_TOPO_NONE);
	/* Explicit rack: a /26 and one address. */
	assert_int_equal(pm_topo_host_rack(t, IP(10, 1, 1, 0)), mgmt);
	assert_int_equal(pm_topo_host_rack(t, IP(10, 1, 1, 63)), mgmt);
	assert_int_equal(pm_topo_host_rack(t, IP(10, 1, 1, 64)), PM_TOPO_NONE);
	assert_int_equal(pm_topo_host_rack(t, IP(10, 1, 1, 200)), mgmt);
	assert_int_equal(pm_topo_host_rack(t, IP(10, 1, 1, 199)), PM_TOPO_NONE);
	assert_int_equal(pm_topo_host_rack(t, IP(10, 1, 1, 201)), PM_TOPO_NONE);
	/* Outside everything, both ends of the address space. */
	assert_int_equal(pm_topo_host_rack(t, 0), PM_TOPO_NONE);
	assert_int_equal(pm_topo_host_rack(t, UINT32_MAX), PM_TOPO_NONE);
	assert_int_equal(pm_topo_host_rack(t, IP(8, 8, 8, 8)), PM_TOPO_NONE);
	pm_topo_free(t);
}

static void
test_hop_lookup(void **state)
{
	struct pm_topo *t = load_example();
	uint32_t idx = 12345;

	(void)state;
	/* Pattern ToR: the rack prefix + tor_host; its host lookup is the
	 * rack all the same. */
	assert_int_equal(pm_topo_hop(t, IP(10, 64, 0, 254), &idx), PM_TOPO_TOR);
	assert_int_equal(idx, pm_topo_rack_find(t, "pod1-r1"));
	assert_int_equal(pm_topo_host_rack(t, IP(10, 64, 0, 254)), idx);
	assert_int_equal(pm_topo_hop(t, IP(10, 64, 7, 254), &idx), PM_TOPO_TOR);
	assert_int_equal(idx, pm_topo_rack_find(t, "pod2-r4"));
	/* Explicit ToR, outside its hosts. */
	assert_int_equal(pm_topo_hop(t, IP(10, 255, 1, 1), &idx), PM_TOPO_TOR);
	assert_int_equal(idx, pm_topo_rack_find(t, "pod1-mgmt"));
	/* Spines, any of their addresses. */
	assert_int_equal(pm_topo_hop(t, IP(10, 254, 0, 1), &idx), PM_TOPO_SPINE);
	assert_int_equal(idx, 0);
	assert_int_equal(pm_topo_hop(t, IP(10, 254, 1, 3), &idx), PM_TOPO_SPINE);
	assert_int_equal(idx, 2);
	/* A host. */
	assert_int_equal(pm_topo_hop(t, IP(10, 64, 2, 17), &idx), PM_TOPO_HOST);
	assert_int_equal(idx, pm_topo_rack_find(t, "pod1-r3"));
	assert_int_equal(pm_topo_hop(t, IP(10, 1, 1, 200), &idx), PM_TOPO_HOST);
	assert_int_equal(idx, pm_topo_rack_find(t, "pod1-mgmt"));
	/* Unknown. */
	assert_int_equal(pm_topo_hop(t, IP(10, 254, 0, 5), &idx), 0);
	assert_int_equal(idx, PM_TOPO_NONE);
	assert_int_equal(pm_topo_hop(t, IP(10, 255, 1, 2), NULL), 0);
	assert_int_equal(pm_topo_hop(t, 0, NULL), 0);
	assert_int_equal(pm_topo_hop(t, UINT32_MAX, &idx), 0);
	pm_topo_free(t);
}

/* The example's rules: mgmt pinned to spine1 both ways, else by port. */
static void
test_static_example(void **state)
{
	struct pm_topo *t = load_example();
	uint32_t mgmt = pm_topo_rack_find(t, "pod1-mgmt");
	uint32_t a = pm_topo_rack_find(t, "pod1-r2");
	uint32_t b = pm_topo_rack_find(t, "pod2-r3");
	uint16_t p;

	(void)state;
	for (p = 49152; p < 49156; p++) {
		assert_int_equal(pm_topo_static_spine(t, a, b, p), p - 49152);
		assert_int_equal(pm_topo_static_spine(t, b, a, p), p - 49152);
		assert_int_equal(pm_topo_static_spine(t, a, a, p), p - 49152);
		assert_int_equal(pm_topo_static_spine(t, mgmt, b, p), 0);
		assert_int_equal(pm_topo_static_spine(t, a, mgmt, p), 0);
	}
	assert_int_equal(pm_topo_static_spine(t, a, b, 49151), PM_TOPO_NONE);
	assert_int_equal(pm_topo_static_spine(t, a, b, 49156), PM_TOPO_NONE);
	assert_int_equal(pm_topo_static_spine(t, mgmt, b, 1), 0);
	/* A wildcard is any rack of the topology, not an unknown address. */
	assert_int_equal(pm_topo_static_spine(t, PM_TOPO_NONE, b, 49152),
			 PM_TOPO_NONE);
	assert_int_equal(pm_topo_static_spine(t, a, 9, 49152), PM_TOPO_NONE);
	pm_topo_free(t);
}

static const char rules_topo[] =
	"topology = {\n"
	"  pods = ( { name = \"p\"; racks = (\n"
	"    { name = \"r0\"; hosts = [ \"10.0.0.0/24\" ]; },\n"
	"    { name = \"r1\"; hosts = [ \"10.0.1.0/24\" ]; },\n"
	"    { name = \"r2\"; hosts = [ \"10.0.2.0/24\" ]; } ); } );\n"
	"  spines = ( { name = \"s0\"; }, { name = \"s1\"; },\n"
	"             { name = \"s2\"; }, { name = \"s3\"; } );\n"
	"  static_spines = (\n"
	"    { src_rack = \"r0\"; dst_rack = \"r1\"; sport_first = 100;\n"
	"      sport_last = 199; spine = \"s3\"; },\n"
	"    { src_rack = \"r0\"; spine = \"s2\"; },\n"
	"    { dst_rack = \"r0\"; sport_first = 1000; spine = \"s1\"; },\n"
	"    { src_rack = \"*\"; dst_rack = \"*\"; sport_last = 500;\n"
	"      spine = \"s0\"; },\n"
	"    { src_rack = \"r1\"; spine = \"s3\"; } );\n"
	"};\n";

/* Wildcards (written or by omission), port ranges, first match wins
 * even over a more specific later rule. */
static void
test_static_rules(void **state)
{
	struct pm_topo *t = load_ok("rules.cfg", rules_topo);

	(void)state;
	/* Rule 0: r0 -> r1, ports 100..199. */
	assert_int_equal(pm_topo_static_spine(t, 0, 1, 100), 3);
	assert_int_equal(pm_topo_static_spine(t, 0, 1, 199), 3);
	/* Rule 1: r0 -> anything, any port. */
	assert_int_equal(pm_topo_static_spine(t, 0, 1, 99), 2);
	assert_int_equal(pm_topo_static_spine(t, 0, 1, 200), 2);
	assert_int_equal(pm_topo_static_spine(t, 0, 0, 0), 2);
	assert_int_equal(pm_topo_static_spine(t, 0, 2, 65535), 2);
	/* Rule 2: anything -> r0, ports 1000..65535. */
	assert_int_equal(pm_topo_static_spine(t, 1, 0, 1000), 1);
	assert_int_equal(pm_topo_static_spine(t, 2, 0, 65535), 1);
	/* Rule 3: any pair, ports 0..500, before rule 4's r1. */
	assert_int_equal(pm_topo_static_spine(t, 1, 2, 0), 0);
	assert_int_equal(pm_topo_static_spine(t, 1, 2, 500), 0);
	/* Rule 4: r1 -> anything, past rule 2's and rule 3's ports. */
	assert_int_equal(pm_topo_static_spine(t, 1, 2, 501), 3);
	assert_int_equal(pm_topo_static_spine(t, 1, 0, 999), 3);
	/* Nothing for r2 -> r1 past port 500. */
	assert_int_equal(pm_topo_static_spine(t, 2, 1, 501), PM_TOPO_NONE);
	assert_int_equal(pm_topo_static_spine(t, 2, 2, 600), PM_TOPO_NONE);
	pm_topo_free(t);
}

/* 100 pods x 48 racks of /24 from 10.0.0.0: rack k = 10.(k / 256).(k %
 * 256).0/24, named pod<k / 48 + 1>-r<k % 48 + 1>, ToR at .1. */
static const char big_topo[] =
	"topology = {\n"
	"  patterns = ( { pods = 100; racks_per_pod = 48; pod_name = \"pod%u\";\n"
	"    rack_name = \"pod%u-r%u\"; base = \"10.0.0.0\"; rack_prefix = 24;\n"
	"    tor_host = 1; } );\n"
	"  spines = ( { name = \"s1\"; addresses = [ \"10.200.0.1\" ]; } );\n"
	"};\n";

#define BIG_RACKS	4800u

static void
test_big_pattern(void **state)
{
	struct pm_topo *t = load_ok("big.cfg", big_topo);
	static const uint32_t spot[] = { 0, 1, 47, 48, 255, 256, 2399, 4751,
					 4799 };
	uint64_t x = 0x9e3779b97f4a7c15ull, hits = 0, misses = 0;
	char name[32];
	uint32_t i, k, idx;

	(void)state;
	assert_int_equal(pm_topo_npods(t), 100);
	assert_int_equal(pm_topo_nracks(t), BIG_RACKS);
	assert_string_equal(pm_topo_pod_name(t, 99), "pod100");
	for (i = 0; i < sizeof(spot) / sizeof(spot[0]); i++) {
		k = spot[i];
		snprintf(name, sizeof(name), "pod%u-r%u", k / 48 + 1, k % 48 + 1);
		assert_int_equal(pm_topo_rack_find(t, name), k);
		assert_string_equal(pm_topo_rack_name(t, k), name);
		assert_int_equal(pm_topo_rack_pod(t, k), k / 48);
		assert_int_equal(pm_topo_host_rack(t, IP(10, k >> 8, k & 255, 0)), k);
		assert_int_equal(pm_topo_host_rack(t, IP(10, k >> 8, k & 255, 99)), k);
		assert_int_equal(pm_topo_host_rack(t, IP(10, k >> 8, k & 255, 255)), k);
		assert_int_equal(pm_topo_hop(t, IP(10, k >> 8, k & 255, 1), &idx),
				 PM_TOPO_TOR);
		assert_int_equal(idx, k);
		assert_int_equal(pm_topo_hop(t, IP(10, k >> 8, k & 255, 2), &idx),
				 PM_TOPO_HOST);
		assert_int_equal(idx, k);
	}
	/* Just past the last rack (10.18.192.0) and just before the first. */
	assert_int_equal(pm_topo_host_rack(t, IP(10, 18, 191, 255)), 4799);
	assert_int_equal(pm_topo_host_rack(t, IP(10, 18, 192, 0)), PM_TOPO_NONE);
	assert_int_equal(pm_topo_host_rack(t, IP(9, 255, 255, 255)), PM_TOPO_NONE);
	/* A million lookups over 10.0.0.0 .. 10.31.255.255 (~60% inside)
	 * against the arithmetic. */
	for (i = 0; i < 1000000; i++) {
		uint32_t ip, want, got;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		ip = IP(10, 0, 0, 0) | (uint32_t)(x & 0x1fffff);
		k = (ip - IP(10, 0, 0, 0)) >> 8;
		want = k < BIG_RACKS ? k : PM_TOPO_NONE;
		got = pm_topo_host_rack(t, ip);
		if (got != want)
			fail_msg("%08x: rack %u, want %u", ip, got, want);
		hits += got != PM_TOPO_NONE;
		misses += got == PM_TOPO_NONE;
	}
	assert_true(hits > 500000 && misses > 300000);
	pm_topo_free(t);
}

/* Two patterns and an explicit pod sharing pod names: one pod each. */
static void
test_pod_merge(void **state)
{
	struct pm_topo *t = load_ok("merge.cfg",
		"topology = {\n"
		"  patterns = (\n"
		"    { pods = 2; racks_per_pod = 2; pod_name = \"pod%u\";\n"
		"      rack_name = \"pod%u-a%u\"; base = \"10.0.0.0\";\n"
		"      rack_prefix = 24; },\n"
		"    { pods = 3; racks_per_pod = 1; pod_name = \"pod%u\";\n"
		"      rack_name = \"pod%u-b%u\"; base = \"10.1.0.0\";\n"
		"      rack_prefix = 25; rack_first = 0; } );\n"
		"  pods = ( { name = \"pod3\"; racks = (\n"
		"    { name = \"x\"; hosts = [ \"192.168.0.1\" ]; } ); } );\n"
		"};\n");

	(void)state;
	assert_int_equal(pm_topo_npods(t), 3);
	assert_int_equal(pm_topo_nracks(t), 8);
	assert_int_equal(pm_topo_rack_pod(t, pm_topo_rack_find(t, "pod1-a2")), 0);
	assert_int_equal(pm_topo_rack_pod(t, pm_topo_rack_find(t, "pod1-b0")), 0);
	assert_int_equal(pm_topo_rack_pod(t, pm_topo_rack_find(t, "pod3-b0")), 2);
	assert_int_equal(pm_topo_rack_pod(t, pm_topo_rack_find(t, "x")), 2);
	assert_int_equal(pm_topo_host_rack(t, IP(10, 1, 0, 200)),
			 pm_topo_rack_find(t, "pod2-b0"));
	assert_int_equal(pm_topo_host_rack(t, IP(192, 168, 0, 1)),
			 pm_topo_rack_find(t, "x"));
	pm_topo_free(t);
}

/* Widths, zero padding and "%%" in pattern names; pod_first = 0. */
static void
test_name_formats(void **state)
{
	struct pm_topo *t = load_ok("fmt.cfg",
		"topology = { patterns = ( { pods = 2; racks_per_pod = 12;\n"
		"  pod_name = \"%%p%02u\"; rack_name = \"p%u.r%3u\";\n"
		"  base = \"10.0.0.0\"; rack_prefix = 30; pod_first = 0; } ); };\n");

	(void)state;
	assert_string_equal(pm_topo_pod_name(t, 0), "%p00");
	assert_string_equal(pm_topo_pod_name(t, 1), "%p01");
	assert_string_equal(pm_topo_rack_name(t, 0), "p0.r  1");
	assert_string_equal(pm_topo_rack_name(t, 23), "p1.r 12");
	assert_int_equal(pm_topo_host_rack(t, IP(10, 0, 0, 95)), 23);
	assert_int_equal(pm_topo_host_rack(t, IP(10, 0, 0, 96)), PM_TOPO_NONE);
	pm_topo_free(t);
}

/* A million racks load; one more is refused. */
static void
test_limits(void **state)
{
	struct pm_topo *t = load_ok("max.cfg",
		"topology = { patterns = ( { pods = 1000; racks_per_pod = 1000;\n"
		"  pod_name = \"p%u\"; rack_name = \"p%u-%u\";\n"
		"  base = \"10.0.0.0\"; rack_prefix = 30; } ); };\n");

	(void)state;
	assert_int_equal(pm_topo_nracks(t), 1000000);
	assert_int_equal(pm_topo_rack_find(t, "p1000-1000"), 999999);
	assert_int_equal(pm_topo_host_rack(t, IP(10, 0, 0, 0) + 4 * 999999 + 3),
			 999999);
	pm_topo_free(t);

	load_bad("over.cfg",
		 "topology = {\n"
		 "  pods = ( { name = \"x\"; racks = ( { name = \"x1\"; } ); } );\n"
		 "  patterns = ( { pods = 1000; racks_per_pod = 1000;\n"
		 "  pod_name = \"p%u\"; rack_name = \"p%u-%u\";\n"
		 "  base = \"10.0.0.0\"; rack_prefix = 30; } ); };\n",
		 "over.cfg:3: patterns[0]: 1000000 racks; a topology holds at "
		 "most 1000000\n");
}

/* Error classes not in the corpus, with their exact messages. */
static void
test_errors(void **state)
{
	struct pm_cfg_errs e;
	struct pm_topo *t;
	char path[600];

	(void)state;
	/* Unreadable file: -errno, said in the diagnostics. */
	snprintf(path, sizeof(path), "%s/none.cfg", tmpdir);
	pm_cfg_errs_init(&e);
	assert_int_equal(pm_topo_load(path, &t, &e), -ENOENT);
	assert_null(t);
	assert_errs(&e, "none.cfg: cannot read: No such file or directory\n");

	load_bad("syntax.cfg", "topology = {\n  pods = ( ;\n};\n",
		 "syntax.cfg:2: syntax error\n");
	load_bad("empty.cfg", "# nothing\n",
		 "empty.cfg: missing required group 'topology'\n");
	load_bad("type.cfg", "topology = ( 1 );\n",
		 "type.cfg:1: topology: expected group, got list\n");
	load_bad("noracks.cfg", "topology = {\n  spines = ( );\n};\n",
		 "noracks.cfg:1: topology: no racks (give pods or patterns)\n");
	load_bad("lists.cfg",
		 "topology = {\n"
		 "  pods = { name = \"p\"; };\n"
		 "  patterns = ( 1 );\n"
		 "  spines = ( { name = 7; } );\n"
		 "  static_spines = [ 1 ];\n"
		 "  spine = ( );\n"
		 "};\n",
		 "lists.cfg:2: pods: expected list, got group\n"
		 "lists.cfg:3: patterns[0]: expected group, got integer\n"
		 "lists.cfg:4: name: expected string, got integer\n"
		 "lists.cfg:5: static_spines: expected list, got array\n"
		 "lists.cfg:6: unknown key 'spine' (did you mean 'spines'?)\n");
	load_bad("names.cfg",
		 "topology = { pods = (\n"
		 "  { name = \"\"; },\n"
		 "  { name = \"a123456789b123456789c123456789d123456789e123456789"
		 "f123456789xyzw\"; },\n"
		 "  { name = \"p\"; racks = ( { hosts = ( \"10.0.0.1\", 5,"
		 " \"224.0.0.1\" ); tor = \"0.0.0.0\"; } ); } ); };\n",
		 "names.cfg:2: name: empty string\n"
		 "names.cfg:3: name: string too long (at most 63 characters)\n"
		 "names.cfg:4: missing required key 'name' in group "
		 "'pods[2].racks[0]'\n"
		 "names.cfg:4: tor = 0.0.0.0 invalid: not a unicast host "
		 "address\n"
		 "names.cfg:4: hosts[1]: expected string, got integer\n"
		 "names.cfg:4: hosts[2]: '224.0.0.1' is not a host address or "
		 "prefix (a.b.c.d or a.b.c.d/len)\n");
	load_bad("long.cfg",
		 "topology = { patterns = ( { pods = 2; racks_per_pod = 2;\n"
		 "  pod_name = \"p%u\";\n"
		 "  rack_name = \"a123456789b123456789c123456789d123456789e1234567"
		 "89f123456789-%u-%u\";\n"
		 "  base = \"10.0.0.0\"; rack_prefix = 24; } ); };\n",
		 "long.cfg:3: rack_name: 'a123456789b123456789c123456789d123456789"
		 "e123456789f123456789-%u-%u' for pod 1 rack 1 is too long (at "
		 "most 63 characters)\n");
	load_bad("fmt.cfg",
		 "topology = { patterns = ( { pods = 2; racks_per_pod = 2;\n"
		 "  pod_name = \"p%u%s\";\n"
		 "  rack_name = \"r%u-%u-%u\";\n"
		 "  base = \"10.0.0.0\"; rack_prefix = 24; } ); };\n",
		 "fmt.cfg:2: pod_name = \"p%u%s\" invalid: needs exactly one %u "
		 "(the pod number)\n"
		 "fmt.cfg:3: rack_name = \"r%u-%u-%u\" invalid: needs exactly "
		 "two %u (the pod number, then the rack number)\n");
}

/* One mistake in a pattern is a problem per rack: shown up to a bound,
 * then counted. */
static void
test_mass_errors(void **state)
{
	struct pm_cfg_errs e;
	struct pm_topo *t;
	unsigned int lines = 0;
	const char *p;

	(void)state;
	assert_int_equal(load("mass.cfg",
		"topology = { patterns = (\n"
		"  { pods = 100; racks_per_pod = 100; pod_name = \"p%u\";\n"
		"    rack_name = \"p%u-%u\"; base = \"10.0.0.0\"; rack_prefix = 24; },\n"
		"  { pods = 100; racks_per_pod = 100; pod_name = \"q%u\";\n"
		"    rack_name = \"q%u-%u\"; base = \"10.0.0.0\"; rack_prefix = 24; }\n"
		"); };\n", &t, &e), -EINVAL);
	assert_null(t);
	for (p = e.buf; *p != '\0'; p++)
		lines += *p == '\n';
	assert_int_equal(e.n, 33);
	assert_int_equal(lines, 33);
	assert_non_null(strstr(e.buf, "mass.cfg: 9968 more overlapping ranges, "
			       "duplicate names or addresses not shown\n"));
	assert_non_null(strstr(e.buf, "mass.cfg:4: rack 'q1-1' 10.0.0.0/24 "
			       "overlaps rack 'p1-1' 10.0.0.0/24 (line 2)\n"));
}

/* Remove "@dir/" from the start of @buf's lines, so they read like the
 * corpus ("NAME.cfg:LINE: message"). */
static void
strip_dir(char *buf, const char *dir)
{
	size_t l = strlen(dir), k = 0;
	char *p = buf;

	while (*p != '\0') {
		if (strncmp(p, dir, l) == 0 && p[l] == '/')
			p += l + 1;
		while (*p != '\0' && *p != '\n')
			buf[k++] = *p++;
		if (*p == '\n')
			buf[k++] = *p++;
	}
	buf[k] = '\0';
}

/* Every corpus file fails with exactly the lines of its .expect. */
static void
test_corpus(void **state)
{
	char dir[512], path[1024], line[1024];
	unsigned int nfiles = 0;
	struct dirent *de;
	DIR *d;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/test/bad-topology", src_dir());
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		struct pm_cfg_errs e;
		unsigned int nexp = 0;
		struct pm_topo *t;
		FILE *f;
		int rc;

		if (l < 5 || strcmp(de->d_name + l - 4, ".cfg") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		pm_cfg_errs_init(&e);
		rc = pm_topo_load(path, &t, &e);
		if (rc != -EINVAL)
			fail_msg("%s: load returned %d, not -EINVAL", path, rc);
		strip_dir(e.buf, dir);
		snprintf(path + strlen(path) - 4, 8, ".expect");
		f = fopen(path, "r");
		if (f == NULL)
			fail_msg("%s: missing", path);
		while (fgets(line, sizeof(line), f) != NULL) {
			line[strcspn(line, "\n")] = '\0';
			if (line[0] == '\0' || line[0] == '#')
				continue;
			nexp++;
			if (strstr(e.buf, line) == NULL)
				fail_msg("%s: expected \"%s\" in:\n%s", path,
					 line, e.buf);
		}
		fclose(f);
		if (nexp == 0 || e.n != nexp)
			fail_msg("%s: %u expected lines, %u errors:\n%s", path,
				 nexp, e.n, e.buf);
		nfiles++;
	}
	closedir(d);
	assert_true(nfiles >= 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_host_lookup),
		cmocka_unit_test(test_hop_lookup),
		cmocka_unit_test(test_static_example),
		cmocka_unit_test(test_static_rules),
		cmocka_unit_test(test_big_pattern),
		cmocka_unit_test(test_pod_merge),
		cmocka_unit_test(test_name_formats),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_mass_errors),
		cmocka_unit_test(test_corpus),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
