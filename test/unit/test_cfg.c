/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/cfg.c: the small parsers, a full config loading to the
 * expected values, each class of error giving its exact "file:line:
 * message", all errors of a file reported together, the flag-mode checks,
 * the error buffer's limits, and every file of the bad-config corpus
 * (test/bad-config/NAME.cfg) producing the lines of its NAME.expect.
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

#include "pm_cfg.h"

#ifndef PM_SRC_DIR
#define PM_SRC_DIR "."
#endif

static char tmpdir[] = "/tmp/pm_test_cfg_XXXXXX";

static const char *
src_dir(void)
{
	const char *s = getenv("PM_SRC");

	return s != NULL && s[0] != '\0' ? s : PM_SRC_DIR;
}

/* Write @text to tmpdir/@name; returns the path (static buffer). */
static const char *
write_cfg(const char *name, const char *text)
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

/* Load @text as a prober config; errors in @e. */
static int
load_prober(const char *name, const char *text, struct pm_prober_cfg *c,
	    struct pm_cfg_errs *e)
{
	pm_cfg_errs_init(e);
	return pm_prober_cfg_load(write_cfg(name, text), c, e);
}

/* The diagnostics, each prefixed by the tmp dir, as "name:line: msg". */
static void
assert_errs(const struct pm_cfg_errs *e, const char *want)
{
	char got[sizeof(e->buf)], pre[64];
	const char *p = e->buf;
	size_t k = 0;

	/* Strip the tmpdir + "/" so expectations read like the corpus. */
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

static void
test_parse_ipv4(void **state)
{
	uint32_t ip = 7;
	uint16_t port = 5;
	char buf[16];

	(void)state;
	assert_int_equal(pm_cfg_parse_ipv4("10.0.1.2", &ip), 0);
	assert_int_equal(ip, 0x0a000102);
	assert_int_equal(pm_cfg_parse_ipv4("255.255.255.255", &ip), 0);
	assert_int_equal(ip, 0xffffffff);
	assert_int_equal(pm_cfg_parse_ipv4("0.0.0.0", &ip), 0);
	assert_int_equal(ip, 0);
	ip = 7;
	assert_int_equal(pm_cfg_parse_ipv4("10.0.1", &ip), -EINVAL);
	assert_int_equal(pm_cfg_parse_ipv4("10.0.1.256", &ip), -EINVAL);
	assert_int_equal(pm_cfg_parse_ipv4("10.0.01.2", &ip), -EINVAL);
	assert_int_equal(pm_cfg_parse_ipv4("10.0.1.2 ", &ip), -EINVAL);
	assert_int_equal(pm_cfg_parse_ipv4(" 10.0.1.2", &ip), -EINVAL);
	assert_int_equal(pm_cfg_parse_ipv4("10.0.1.2.3", &ip), -EINVAL);
	assert_int_equal(pm_cfg_parse_ipv4("10.0.-1.2", &ip), -EINVAL);
	assert_int_equal(pm_cfg_parse_ipv4("10.0.+1.2", &ip), -EINVAL);
	assert_int_equal(pm_cfg_parse_ipv4("", &ip), -EINVAL);
	assert_int_equal(pm_cfg_parse_ipv4("99999999999.1.1.1", &ip), -EINVAL);
	assert_int_equal(pm_cfg_parse_ipv4(NULL, &ip), -EINVAL);
	assert_int_equal(ip, 7);

	assert_int_equal(pm_cfg_parse_ipv4_port("10.0.1.2", &ip, &port), 0);
	assert_int_equal(ip, 0x0a000102);
	assert_int_equal(port, 5);
	assert_int_equal(pm_cfg_parse_ipv4_port("10.0.1.3:862", &ip, &port), 0);
	assert_int_equal(ip, 0x0a000103);
	assert_int_equal(port, 862);
	assert_int_equal(pm_cfg_parse_ipv4_port("10.0.1.3:", &ip, &port),
			 -EINVAL);
	assert_int_equal(pm_cfg_parse_ipv4_port("10.0.1.3:0", &ip, &port),
			 -EINVAL);
	assert_int_equal(pm_cfg_parse_ipv4_port("10.0.1.3:65536", &ip, &port),
			 -EINVAL);
	assert_int_equal(pm_cfg_parse_ipv4_port("10.0.1.3/862", &ip, &port),
			 -EINVAL);
	assert_int_equal(pm_cfg_parse_ipv4_port("10.0.1.3:86x", &ip, &port),
			 -EINVAL);
	assert_int_equal(port, 862);

	assert_string_equal(pm_cfg_fmt_ipv4(0x0a000102, buf), "10.0.1.2");
	assert_string_equal(pm_cfg_fmt_ipv4(0xffffffff, buf), "255.255.255.255");
}

static void
test_parse_mac_prefix(void **state)
{
	static const uint8_t want[6] = { 0x02, 0x00, 0xab, 0xcd, 0xef, 0xff };
	uint8_t mac[6] = { 0 };
	struct pm_prefix p = { 1, 1 };

	(void)state;
	assert_int_equal(pm_cfg_parse_mac("02:00:AB:cd:ef:ff", mac), 0);
	assert_memory_equal(mac, want, 6);
	assert_int_equal(pm_cfg_parse_mac("02:00:ab:cd:ef", mac), -EINVAL);
	assert_int_equal(pm_cfg_parse_mac("02:00:ab:cd:ef:f", mac), -EINVAL);
	assert_int_equal(pm_cfg_parse_mac("02-00-ab-cd-ef-ff", mac), -EINVAL);
	assert_int_equal(pm_cfg_parse_mac("02:00:ab:cd:ef:fg", mac), -EINVAL);
	assert_int_equal(pm_cfg_parse_mac("02:00:ab:cd:ef:ff:", mac), -EINVAL);

	assert_int_equal(pm_cfg_parse_prefix("10.0.0.0/8", &p), 0);
	assert_int_equal(p.addr, 0x0a000000);
	assert_int_equal(p.mask, 0xff000000);
	assert_int_equal(pm_cfg_parse_prefix("0.0.0.0/0", &p), 0);
	assert_int_equal(p.mask, 0);
	assert_int_equal(pm_cfg_parse_prefix("10.1.2.3/32", &p), 0);
	assert_int_equal(p.mask, 0xffffffff);
	assert_int_equal(pm_cfg_parse_prefix("10.0.0.1/8", &p), -EINVAL);
	assert_int_equal(pm_cfg_parse_prefix("10.0.0.0/33", &p), -EINVAL);
	assert_int_equal(pm_cfg_parse_prefix("10.0.0.0/", &p), -EINVAL);
	assert_int_equal(pm_cfg_parse_prefix("10.0.0.0", &p), -EINVAL);
	assert_int_equal(pm_cfg_parse_prefix("10.0.0.0/08", &p), -EINVAL);
	assert_int_equal(pm_cfg_parse_prefix("10.0.0/8", &p), -EINVAL);
	assert_int_equal(p.mask, 0xffffffff);
}

static const char good_cfg[] =
	"prober = {\n"
	"  id = \"pod1-a1\"; src_ip = \"10.0.0.1\"; gateway = \"10.0.0.254\";\n"
	"  port_id = 1; dst_port = 863; src_port_base = 50000;\n"
	"  window_ms = 500; timeout_ms = 2000; budget_pps = 5000;\n"
	"  budget_mbps = 10L; line_rate = false; idle_sleep_us = 5;\n"
	"  duration_s = 60; status_ms = 0; rx_desc = 2048; tx_desc = 512;\n"
	"  mbufs = 16383; clock_synced = true; sink = \"json\";\n"
	"  output = \"/tmp/x.json\";\n"
	"};\n"
	"targets = (\n"
	"  { ip = \"10.0.1.2\"; port = 862; name = \"h1\"; rate_pps = 10;\n"
	"    flows = 4; size = 48; dscp = 46; },\n"
	"  { ip = \"10.0.1.3\"; }\n"
	");\n"
	"reflector = { ip = \"10.0.1.2\"; };\n";

static void
test_load_good(void **state)
{
	struct pm_prober_cfg c;
	struct pm_cfg_errs e;
	const struct pm_target_cfg *t;

	(void)state;
	assert_int_equal(load_prober("good.cfg", good_cfg, &c, &e), 0);
	assert_int_equal(e.n, 0);
	assert_string_equal(e.buf, "");
	assert_string_equal(c.id, "pod1-a1");
	assert_int_equal(c.src_ip, 0x0a000001);
	assert_int_equal(c.gateway_ip, 0x0a0000fe);
	assert_int_equal(c.have_gateway_mac, 0);
	assert_int_equal(c.port_id, 1);
	assert_int_equal(c.dst_port, 863);
	assert_int_equal(c.src_port_base, 50000);
	assert_int_equal(c.window_ms, 500);
	assert_int_equal(c.timeout_ms, 2000);
	assert_int_equal(c.budget_pps, 5000);
	assert_int_equal(c.budget_mbps, 10);
	assert_int_equal(c.line_rate, 0);
	assert_int_equal(c.inflight_max, 512);	/* default */
	assert_int_equal(c.idle_sleep_us, 5);
	assert_int_equal(c.duration_s, 60);
	assert_int_equal(c.status_ms, 0);
	assert_int_equal(c.rx_desc, 2048);
	assert_int_equal(c.tx_desc, 512);
	assert_int_equal(c.mbufs, 16383);
	assert_int_equal(c.clock_synced, 1);
	assert_string_equal(c.sink, "json");
	assert_string_equal(c.output, "/tmp/x.json");
	assert_int_equal(c.ntargets, 2);
	t = &c.targets[0];
	assert_string_equal(t->name, "h1");
	assert_int_equal(t->ip, 0x0a000102);
	assert_int_equal(t->port, 862);
	assert_int_equal(t->rate_pps, 10);
	assert_int_equal(t->flows, 4);
	assert_int_equal(t->size, 48);
	assert_int_equal(t->dscp, 46);
	assert_int_equal(t->line, 11);
	/* Defaults of a bare target: port from prober.dst_port. */
	t = &c.targets[1];
	assert_string_equal(t->name, "10.0.1.3");
	assert_int_equal(t->port, 863);
	assert_int_equal(t->rate_pps, 10);
	assert_int_equal(t->flows, 1);
	assert_int_equal(t->size, 44);
	assert_int_equal(t->dscp, 0);
	assert_int_equal(t->line, 13);
	/* Loaded values pass the shared checks again. */
	assert_int_equal(pm_prober_cfg_check(&c, NULL, &e), 0);
	pm_prober_cfg_free(&c);
	assert_null(c.targets);
	assert_int_equal(c.ntargets, 0);
}

static void
test_defaults(void **state)
{
	struct pm_prober_cfg c;
	struct pm_reflector_cfg r;

	(void)state;
	pm_prober_cfg_defaults(&c);
	assert_true(c.id[0] != '\0');		/* the host name */
	assert_int_equal(c.src_ip, 0);
	assert_int_equal(c.dst_port, 862);
	assert_int_equal(c.src_port_base, 49152);
	assert_int_equal(c.window_ms, 1000);
	/* 0 = auto: the prober makes it 1000 ms, or 10 ms in line-rate mode */
	assert_int_equal(c.timeout_ms, 0);
	assert_int_equal(c.budget_pps, 1000000);
	assert_int_equal(c.budget_mbps, 1000);
	assert_int_equal(c.status_ms, 1000);
	assert_int_equal(c.rx_desc, 1024);
	assert_int_equal(c.tx_desc, 1024);
	assert_int_equal(c.mbufs, 8191);
	assert_string_equal(c.sink, "json");
	assert_string_equal(c.output, "-");
	assert_null(c.targets);

	pm_reflector_cfg_defaults(&r);
	assert_int_equal(r.nports, 1);
	assert_int_equal(r.ports[0], 862);
	assert_int_equal(r.nallow, 0);
	assert_int_equal(r.threads, 1);
	assert_int_equal(r.stats_ms, 1000);
	assert_string_equal(r.listen, "0.0.0.0:862");
}

/* One case per class of error, with its exact line. */
static void
test_error_classes(void **state)
{
	struct pm_prober_cfg c;
	struct pm_cfg_errs e;

	(void)state;
	assert_int_equal(load_prober("unk.cfg",
		"prober = { src_ip = \"10.0.0.1\"; };\n"
		"targets = (\n"
		"  { ip = \"10.0.1.2\";\n"
		"    rate_ppss = 10; }\n"
		");\n", &c, &e), -EINVAL);
	assert_errs(&e, "unk.cfg:4: unknown key 'rate_ppss' (did you mean "
		    "'rate_pps'?)\n");
	assert_null(c.targets);

	load_prober("type.cfg",
		"prober = { src_ip = \"10.0.0.1\";\n"
		"  window_ms = \"1000\"; };\n"
		"targets = ( { ip = \"10.0.1.2\"; } );\n", &c, &e);
	assert_errs(&e, "type.cfg:2: window_ms: expected integer, got string\n");

	load_prober("range.cfg",
		"prober = { src_ip = \"10.0.0.1\";\n"
		"\n"
		"  window_ms = 5; };\n"
		"targets = ( { ip = \"10.0.1.2\"; } );\n", &c, &e);
	assert_errs(&e, "range.cfg:3: window_ms = 5 out of range "
		    "[10, 3600000]\n");

	load_prober("req.cfg",
		"\n"
		"prober = {\n"
		"  window_ms = 1000; };\n"
		"targets = ( { ip = \"10.0.1.2\"; } );\n", &c, &e);
	assert_errs(&e, "req.cfg:2: missing required key 'src_ip' in group "
		    "'prober'\n");

	load_prober("parse.cfg",
		"prober = {\n"
		"  src_ip = ;\n"
		"};\n", &c, &e);
	assert_int_equal(e.n, 1);
	assert_non_null(strstr(e.buf, "parse.cfg:2: "));

	load_prober("bool.cfg",
		"prober = { src_ip = \"10.0.0.1\"; line_rate = 1; };\n"
		"targets = ( { ip = \"10.0.1.2\"; } );\n", &c, &e);
	assert_errs(&e, "bool.cfg:1: line_rate: expected boolean (true or "
		    "false), got integer\n");

	/* Integers may be written as 64-bit literals; too big ones are
	 * out of range, not truncated.  (libconfig 1.5 itself truncates a
	 * literal past 32 bits that lacks the L suffix: docs/config.md.) */
	load_prober("int64.cfg",
		"prober = { src_ip = \"10.0.0.1\"; budget_pps = 2000000L;\n"
		"  window_ms = 10000000000L; };\n"
		"targets = ( { ip = \"10.0.1.2\"; } );\n", &c, &e);
	assert_errs(&e, "int64.cfg:2: window_ms = 10000000000 out of range "
		    "[10, 3600000]\n");

	pm_cfg_errs_init(&e);
	assert_int_equal(pm_prober_cfg_load("/nonexistent/p.cfg", &c, &e),
			 -ENOENT);
	assert_string_equal(e.buf, "/nonexistent/p.cfg: cannot read: No such "
			    "file or directory\n");
	pm_prober_cfg_free(&c);
}

/* Every problem of a file at once, in line order. */
static void
test_many_errors(void **state)
{
	struct pm_prober_cfg c;
	struct pm_cfg_errs e;

	(void)state;
	assert_int_equal(load_prober("many.cfg",
		"prober = {\n"
		"  src_ip = \"10.0.0.1\";\n"
		"  timeout_ms = 70000;\n"
		"  idel_sleep_us = 3;\n"
		"  gateway_mac = \"zz\";\n"
		"};\n"
		"targets = (\n"
		"  { ip = \"10.0.1.2\"; size = 45; },\n"
		"  { ip = \"10.0.1.2\"; dscp = -1; },\n"
		"  { port = 1; }\n"
		");\n"
		"reflectr = { };\n", &c, &e), -EINVAL);
	assert_errs(&e,
		"many.cfg:3: timeout_ms = 70000 out of range [0, 60000]\n"
		"many.cfg:4: unknown key 'idel_sleep_us' (did you mean "
		"'idle_sleep_us'?)\n"
		"many.cfg:5: gateway_mac: invalid MAC address 'zz' (expected "
		"xx:xx:xx:xx:xx:xx)\n"
		"many.cfg:8: size = 45 invalid: bytes beyond the 44-byte STAMP "
		"packet go in an Extra Padding TLV with a 4-byte header, so the "
		"smallest padded size is 48; use 44 or 48..9000\n"
		"many.cfg:9: dscp = -1 out of range [0, 63]\n"
		"many.cfg:9: duplicate target 10.0.1.2:862 (first at line 8)\n"
		"many.cfg:10: missing required key 'ip' in group 'targets[2]'\n"
		"many.cfg:12: unknown key 'reflectr' (did you mean "
		"'reflector'?)\n");
	assert_int_equal(e.n, 8);
}

/* Quick flags fill the struct; the same checks name the flags. */
static void
test_flag_mode(void **state)
{
	struct pm_target_cfg t;
	struct pm_prober_cfg c;
	struct pm_cfg_errs e;
	int i;

	(void)state;
	pm_prober_cfg_defaults(&c);
	pm_cfg_errs_init(&e);
	assert_int_equal(pm_prober_cfg_check(&c, NULL, &e), -EINVAL);
	assert_string_equal(e.buf,
		"--src-ip: the probes' source address is required\n"
		"--target: at least one target is required\n");

	pm_cfg_parse_ipv4("10.0.0.1", &c.src_ip);
	c.window_ms = 5;
	memset(&t, 0, sizeof(t));
	t.rate_pps = 10;
	t.flows = 1;
	t.size = 46;
	for (i = 0; i < 3; i++) {
		t.ip = 0x0a000102 + (uint32_t)i;
		assert_int_equal(pm_prober_cfg_add_target(&c, &t), 0);
	}
	assert_int_equal(c.targets[2].port, 862);
	assert_string_equal(c.targets[2].name, "10.0.1.4");
	t.ip = 0x0a000102;
	assert_int_equal(pm_prober_cfg_add_target(&c, &t), 0);
	pm_cfg_errs_init(&e);
	assert_int_equal(pm_prober_cfg_check(&c, NULL, &e), -EINVAL);
	/* One line per problem, not one per target. */
	assert_string_equal(e.buf,
		"--window-ms: window_ms = 5 out of range [10, 3600000]\n"
		"--size: size = 46 invalid: bytes beyond the 44-byte STAMP "
		"packet go in an Extra Padding TLV with a 4-byte header, so the "
		"smallest padded size is 48; use 44 or 48..9000\n"
		"--target: duplicate target 10.0.1.2:862\n");
	assert_int_equal(e.n, 3);
	pm_prober_cfg_free(&c);

	/* Budgets, and rate 0 without line rate. */
	pm_prober_cfg_defaults(&c);
	pm_cfg_parse_ipv4("10.0.0.1", &c.src_ip);
	c.budget_pps = 100;
	c.budget_mbps = 1;
	t.size = 1000;
	t.rate_pps = 200;
	pm_prober_cfg_add_target(&c, &t);
	t.ip++;
	t.rate_pps = 0;
	pm_prober_cfg_add_target(&c, &t);
	pm_cfg_errs_init(&e);
	assert_int_equal(pm_prober_cfg_check(&c, NULL, &e), -EINVAL);
	assert_string_equal(e.buf,
		"--rate: rate_pps = 0: must be >= 1 (0 only with line_rate = "
		"true)\n"
		"--budget-pps: targets ask for 200 pps in total, over "
		"budget_pps = 100\n"
		"--budget-mbps: targets need 1.7 Mbit/s on the wire (payload + "
		"66 bytes of headers, FCS, preamble and gap per probe), over "
		"budget_mbps = 1\n");
	/* Line rate lifts all three. */
	c.line_rate = 1;
	pm_cfg_errs_init(&e);
	assert_int_equal(pm_prober_cfg_check(&c, NULL, &e), 0);
	assert_int_equal(e.n, 0);
	/* A named origin replaces the flag names. */
	c.line_rate = 0;
	pm_cfg_errs_init(&e);
	pm_prober_cfg_check(&c, "command line", &e);
	assert_non_null(strstr(e.buf, "command line: targets ask for 200 pps"));
	pm_prober_cfg_free(&c);

	/* Both gateways, and flows running out of source ports. */
	pm_prober_cfg_defaults(&c);
	pm_cfg_parse_ipv4("10.0.0.1", &c.src_ip);
	pm_cfg_parse_ipv4("10.0.0.254", &c.gateway_ip);
	c.have_gateway_mac = 1;
	c.src_port_base = 65000;
	c.timeout_ms = 20000;
	t.size = 44;
	t.rate_pps = 1;
	t.flows = 1000;
	pm_prober_cfg_add_target(&c, &t);
	pm_cfg_errs_init(&e);
	assert_int_equal(pm_prober_cfg_check(&c, NULL, &e), -EINVAL);
	assert_string_equal(e.buf,
		"--gateway-mac: set either gateway or gateway_mac, not both\n"
		"--timeout-ms: timeout_ms = 20000 exceeds 10 x window_ms = 10000\n"
		"--flows: src_port_base = 65000 + flows = 1000 runs past port "
		"65535\n");
	pm_prober_cfg_free(&c);
}

static void
test_reflector(void **state)
{
	struct pm_reflector_cfg r;
	struct pm_cfg_errs e;

	(void)state;
	pm_cfg_errs_init(&e);
	assert_int_equal(pm_reflector_cfg_load(write_cfg("r.cfg",
		"reflector = { ip = \"10.0.1.2\"; ports = [862, 4000];\n"
		"  allow = [\"10.0.0.0/8\", \"192.168.1.0/24\"];\n"
		"  rate_limit_pps = 100; threads = 2; idle_sleep_us = 10;\n"
		"  stats_ms = 0; clock_synced = true; listen = \"127.0.0.1:8620\";\n"
		"  port_id = 2; rx_desc = 256; tx_desc = 256; mbufs = 4095; };\n"
		"prober = { src_ip = \"10.0.0.1\"; };\n"), &r, &e), 0);
	assert_int_equal(e.n, 0);
	assert_int_equal(r.ip, 0x0a000102);
	assert_int_equal(r.nports, 2);
	assert_int_equal(r.ports[1], 4000);
	assert_int_equal(r.nallow, 2);
	assert_int_equal(r.allow[1].addr, 0xc0a80100);
	assert_int_equal(r.allow[1].mask, 0xffffff00);
	assert_int_equal(r.rate_limit_pps, 100);
	assert_int_equal(r.threads, 2);
	assert_int_equal(r.idle_sleep_us, 10);
	assert_int_equal(r.stats_ms, 0);
	assert_int_equal(r.clock_synced, 1);
	assert_string_equal(r.listen, "127.0.0.1:8620");
	assert_int_equal(r.port_id, 2);
	assert_int_equal(r.mbufs, 4095);

	pm_cfg_errs_init(&e);
	assert_int_equal(pm_reflector_cfg_load(write_cfg("r2.cfg",
		"reflector = {\n"
		"  ip = \"10.0.1.2\";\n"
		"  listen = \"10.0.0.1\";\n"
		"  threads = 0;\n"
		"  ports = 862;\n"
		"};\n"), &r, &e), -EINVAL);
	assert_errs(&e,
		"r2.cfg:3: listen = \"10.0.0.1\" invalid: expected IP:PORT\n"
		"r2.cfg:4: threads = 0 out of range [1, 64]\n"
		"r2.cfg:5: ports: expected array, got integer\n");

	/* Flag mode. */
	pm_reflector_cfg_defaults(&r);
	r.threads = 100;
	r.ports[1] = 862;
	r.nports = 2;
	snprintf(r.listen, sizeof(r.listen), "nowhere");
	pm_cfg_errs_init(&e);
	assert_int_equal(pm_reflector_cfg_check(&r, NULL, &e), -EINVAL);
	assert_string_equal(e.buf,
		"--threads: threads = 100 out of range [1, 64]\n"
		"--listen: listen = \"nowhere\" invalid: expected IP:PORT\n"
		"--port: port 862 listed twice\n");
}

static void
test_errs_buffer(void **state)
{
	struct pm_cfg_errs e;
	unsigned int i;
	char *last;

	(void)state;
	pm_cfg_errs_init(&e);
	pm_cfg_err(&e, "--rate", 0, "bad %d", 1);
	pm_cfg_err(&e, "f.cfg", 3, "x");
	pm_cfg_err(&e, NULL, 0, "plain");
	pm_cfg_err(&e, NULL, 9, "lined");
	pm_cfg_err(&e, "f.cfg", 3, "x");	/* said already */
	assert_string_equal(e.buf, "--rate: bad 1\nf.cfg:3: x\nplain\n"
			    "line 9: lined\n");
	assert_int_equal(e.n, 4);

	pm_cfg_errs_init(&e);
	for (i = 0; i < 1000; i++)
		pm_cfg_err(&e, "f.cfg", (int)i + 1, "error number %u", i);
	assert_int_equal(e.n, 1000);
	assert_true(strlen(e.buf) < sizeof(e.buf));
	last = strstr(e.buf, "... ");
	assert_non_null(last);
	assert_string_equal(strchr(last, '\n'), "\n");
	/* The kept lines plus the trailer's count make all 1000. */
	{
		unsigned int kept = 0, more = 0;
		const char *p;

		for (p = e.buf; p < last; p++)
			kept += *p == '\n';
		assert_int_equal(sscanf(last, "... %u more errors", &more), 1);
		assert_int_equal(kept + more, 1000);
		assert_true(kept > 100);
	}
}

/* Every corpus file fails with each line of its .expect. */
static void
test_corpus(void **state)
{
	char dir[512], path[1024], line[1024];
	unsigned int nfiles = 0;
	struct dirent *de;
	DIR *d;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/test/bad-config", src_dir());
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		struct pm_cfg_errs e;
		unsigned int nexp = 0;
		FILE *f;
		int rc;

		if (l < 5 || strcmp(de->d_name + l - 4, ".cfg") != 0)
			continue;
		/* Refused by librdkafka, i.e. by the binary, not by lib/. */
		if (strncmp(de->d_name, "rdkafka_", 8) == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		pm_cfg_errs_init(&e);
		if (strncmp(de->d_name, "refl_", 5) == 0) {
			struct pm_reflector_cfg r;

			rc = pm_reflector_cfg_load(path, &r, &e);
		} else {
			struct pm_prober_cfg c;

			rc = pm_prober_cfg_load(path, &c, &e);
			pm_prober_cfg_free(&c);
		}
		if (rc != -EINVAL)
			fail_msg("%s: load returned %d, not -EINVAL", path, rc);
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
		if (nexp == 0 || e.n < nexp)
			fail_msg("%s: %u expected lines, %u errors", path, nexp,
				 e.n);
		nfiles++;
	}
	closedir(d);
	assert_true(nfiles >= 15);
}

/* The shipped examples load cleanly. */
static void
test_examples(void **state)
{
	static const char *const prober[] = { "prober.cfg", "demo-prober.cfg" };
	static const char *const refl[] = { "reflector.cfg",
					    "demo-reflector.cfg" };
	struct pm_reflector_cfg r;
	struct pm_prober_cfg c;
	struct pm_cfg_errs e;
	char path[512];
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/config/%s", src_dir(), prober[i]);
		pm_cfg_errs_init(&e);
		if (pm_prober_cfg_load(path, &c, &e) != 0)
			fail_msg("%s:\n%s", path, e.buf);
		pm_prober_cfg_free(&c);
		snprintf(path, sizeof(path), "%s/config/%s", src_dir(), refl[i]);
		if (pm_reflector_cfg_load(path, &r, &e) != 0)
			fail_msg("%s:\n%s", path, e.buf);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ipv4),
		cmocka_unit_test(test_parse_mac_prefix),
		cmocka_unit_test(test_load_good),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_error_classes),
		cmocka_unit_test(test_many_errors),
		cmocka_unit_test(test_flag_mode),
		cmocka_unit_test(test_reflector),
		cmocka_unit_test(test_errs_buffer),
		cmocka_unit_test(test_corpus),
		cmocka_unit_test(test_examples),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
