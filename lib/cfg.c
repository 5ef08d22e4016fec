/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Configuration schema and loader for the prober and the reflector.
 *
 * Each key a config file may hold is one row of a static table: its name,
 * type, bounds, default, where its value lands in the struct (offsetof), the
 * quick-mode flag that sets the same field, and one line of help.  There is
 * one table for the `prober` group, one for each entry of the `targets`
 * list and one for the `reflector` group.  Defaults, loading and checking
 * all walk these tables, so adding a key is adding a row (and a line in
 * docs/config.md).
 *
 * Loading never stops at the first problem: every unknown key (with a "did
 * you mean" hint), wrong type, out-of-range value and missing required key
 * is collected as "file:line: message", then the cross-key checks run (the
 * same ones quick-mode flags go through), and the caller prints the lot and
 * exits 2.  A value that fails its check is not stored, so the cross-key
 * checks only see values that are individually valid and do not repeat a
 * problem already reported.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libconfig.h>

#include "pm_cfg.h"
#include "pm_wire.h"

/* Bytes a probe occupies on the wire besides its STAMP payload:
 * Ethernet 14 + IPv4 20 + UDP 8, FCS 4, preamble + SFD 8 and IFG 12. */
#define CFG_WIRE_EXTRA	(PM_PROBE_HDRS_LEN + PM_WIRE_OVERHEAD)

enum cfg_type {
	CT_INT,		/* unsigned integer of the field's width */
	CT_BOOL,	/* uint8_t 0/1 */
	CT_STR,		/* char[size] */
	CT_IPV4,	/* uint32_t, host order */
	CT_MAC,		/* uint8_t[6], plus a uint8_t "set" flag at off_n */
	CT_PORTS,	/* uint16_t[], count (uint32_t) at off_n */
	CT_PREFIXES,	/* struct pm_prefix[], count (uint32_t) at off_n */
	CT_KPROPS,	/* list of "name=value" strings into struct pm_kafka_cfg */
};

#define CFG_F_REQUIRED	0x1

/* One configuration key. */
struct cfg_key {
	const char *name;
	enum cfg_type type;
	int64_t min;		/* CT_INT bounds; arrays: element bounds */
	int64_t max;
	int64_t def;		/* CT_INT/CT_BOOL default */
	const char *sdef;	/* CT_STR default */
	size_t off;		/* field in the struct */
	size_t size;		/* field size (ints: width; strings: buffer) */
	size_t off_n;		/* CT_MAC "set" flag / array count */
	size_t nmax;		/* arrays: capacity */
	unsigned int flags;
	const char *flag;	/* quick-mode flag setting the same field */
	/* Extra check beyond the bounds; writes why it refuses @v. */
	int (*ivalid)(int64_t v, char *why, size_t cap);
	int (*svalid)(const char *s, char *why, size_t cap);
	const char *help;
};

#define FSIZE(st, fld)	sizeof(((st *)0)->fld)

#define KEY_INT(nm, st, fld, mn, mx, df, fl, flg, hp) \
	{ .name = nm, .type = CT_INT, .min = mn, .max = mx, .def = df, \
	  .off = offsetof(st, fld), .size = FSIZE(st, fld), .flags = fl, \
	  .flag = flg, .help = hp }
#define KEY_BOOL(nm, st, fld, df, flg, hp) \
	{ .name = nm, .type = CT_BOOL, .min = 0, .max = 1, .def = df, \
	  .off = offsetof(st, fld), .size = FSIZE(st, fld), .flag = flg, \
	  .help = hp }
#define KEY_STR(nm, st, fld, df, flg, sv, hp) \
	{ .name = nm, .type = CT_STR, .sdef = df, \
	  .off = offsetof(st, fld), .size = FSIZE(st, fld), .flag = flg, \
	  .svalid = sv, .help = hp }
#define KEY_IP(nm, st, fld, fl, flg, iv, hp) \
	{ .name = nm, .type = CT_IPV4, .off = offsetof(st, fld), \
	  .size = FSIZE(st, fld), .flags = fl, .flag = flg, .ivalid = iv, \
	  .help = hp }

static int cfg_valid_unicast(int64_t v, char *why, size_t cap);
static int cfg_valid_size(int64_t v, char *why, size_t cap);
static int cfg_valid_sink(const char *s, char *why, size_t cap);
static int cfg_valid_probe(const char *s, char *why, size_t cap);
static int cfg_valid_listen(const char *s, char *why, size_t cap);
static int cfg_valid_encoding(const char *s, char *why, size_t cap);
static int cfg_valid_fsync(const char *s, char *why, size_t cap);
static int cfg_valid_bootstrap(const char *s, char *why, size_t cap);
static int cfg_valid_engine(const char *s, char *why, size_t cap);
static void cfg_read_kprops(const config_setting_t *s, void *base,
			    const char *path, struct pm_cfg_errs *e);

static const struct cfg_key prober_keys[] = {
	KEY_STR("id", struct pm_prober_cfg, id, "", "--id", NULL,
		"prober name in every record; default: the host name"),
	KEY_STR("engine", struct pm_prober_cfg, engine, "dpdk", "--engine",
		cfg_valid_engine, "dpdk (STAMP/ICMP/TCP over a DPDK port) or rdma "
		"(STAMP over RDMA UD queue pairs; group rdma)"),
	KEY_IP("src_ip", struct pm_prober_cfg, src_ip, 0,
	       "--src-ip", cfg_valid_unicast,
	       "source IPv4 address of probes (required with engine dpdk)"),
	KEY_IP("gateway", struct pm_prober_cfg, gateway_ip, 0, "--gateway",
	       cfg_valid_unicast, "next hop, resolved by ARP; unset: on-link"),
	{ .name = "gateway_mac", .type = CT_MAC,
	  .off = offsetof(struct pm_prober_cfg, gateway_mac),
	  .size = FSIZE(struct pm_prober_cfg, gateway_mac),
	  .off_n = offsetof(struct pm_prober_cfg, have_gateway_mac),
	  .flag = "--gateway-mac",
	  .help = "static next-hop MAC (no ARP)" },
	KEY_INT("port_id", struct pm_prober_cfg, port_id, 0, 1023, 0, 0,
		"--port-id", "DPDK port index"),
	KEY_INT("dst_port", struct pm_prober_cfg, dst_port, 1, 65535, 862, 0,
		NULL, "default UDP port of targets"),
	KEY_INT("src_port_base", struct pm_prober_cfg, src_port_base, 1024,
		65535, 49152, 0, NULL, "first UDP source port of flows"),
	KEY_INT("window_ms", struct pm_prober_cfg, window_ms, 10, 3600000,
		1000, 0, "--window-ms", "summary window"),
	KEY_INT("timeout_ms", struct pm_prober_cfg, timeout_ms, 0, 60000,
		0, 0, "--timeout-ms",
		"a probe unanswered this long is lost; 0: 1000, or 10 with line_rate"),
	KEY_INT("budget_pps", struct pm_prober_cfg, budget_pps, 1,
		1000000000, 1000000, 0, "--budget-pps",
		"ceiling on the sum of target rates"),
	KEY_INT("budget_mbps", struct pm_prober_cfg, budget_mbps, 1, 1000000,
		1000, 0, "--budget-mbps", "ceiling on probe wire Mbit/s"),
	KEY_BOOL("line_rate", struct pm_prober_cfg, line_rate, 0,
		 "--line-rate", "ignore target rates: as fast as port and budget allow"),
	KEY_INT("inflight_max", struct pm_prober_cfg, inflight_max, 0, 1048576,
		512, 0, "--inflight",
		"line_rate: probes in flight per probe lcore at most; 0 no cap"),
	KEY_INT("idle_sleep_us", struct pm_prober_cfg, idle_sleep_us, 0,
		1000000, 0, 0, "--idle-sleep-us",
		"sleep after an empty poll; 0 busy-polls"),
	KEY_INT("trace_interval_s", struct pm_prober_cfg, trace_interval_s, 0,
		86400, 0, 0, "--trace-interval",
		"path discovery: re-trace each flow this often (and soon after it "
		"loses); 0 off"),
	KEY_INT("trace_max_ttl", struct pm_prober_cfg, trace_max_ttl, 1, 31, 8,
		0, "--trace-max-ttl", "path discovery: highest TTL sent"),
	KEY_INT("loss_burst", struct pm_prober_cfg, loss_burst, 0, 100, 0, 0,
		"--loss-burst", "adaptive probing: after a window with losses, "
		"probe that flow this many times faster for one window; 0 off"),
	KEY_INT("duration_s", struct pm_prober_cfg, duration_s, 0, 31536000, 0,
		0, "--duration", "stop after this long; 0 runs until signalled"),
	KEY_INT("status_ms", struct pm_prober_cfg, status_ms, 0, 3600000,
		1000, 0, "--no-status", "status line period; 0 turns it off"),
	KEY_INT("rx_desc", struct pm_prober_cfg, rx_desc, 64, 32768, 1024, 0,
		NULL, "RX ring descriptors"),
	KEY_INT("tx_desc", struct pm_prober_cfg, tx_desc, 64, 32768, 1024, 0,
		NULL, "TX ring descriptors"),
	KEY_INT("mbufs", struct pm_prober_cfg, mbufs, 1023, 16777215, 8191, 0,
		NULL, "mbufs in the port's pool"),
	KEY_BOOL("clock_synced", struct pm_prober_cfg, clock_synced, 0,
		 "--clock-synced",
		 "the host clock is UTC-synced (PTP): one-way delays valid"),
	KEY_STR("sink", struct pm_prober_cfg, sink, "json", NULL,
		cfg_valid_sink, "where summaries go: json or kafka"),
	KEY_STR("output", struct pm_prober_cfg, output, "-", "--output", NULL,
		"json sink file (appended), - for stdout"),
	KEY_INT("export_ring", struct pm_prober_cfg, export_ring, 0, 1048576,
		0, 0, "--export-ring",
		"records per lcore ring to the export thread (power of 2, >= 4); 0: auto"),
};

/* Group "kafka" (read into struct pm_kafka_cfg; sink = "kafka"). */
static const struct cfg_key kafka_keys[] = {
	KEY_STR("bootstrap", struct pm_kafka_cfg, bootstrap, "", "--kafka",
		cfg_valid_bootstrap, "bootstrap.servers: host:port[,host:port...]"),
	KEY_STR("encoding", struct pm_kafka_cfg, encoding, "binary",
		"--kafka-encoding", cfg_valid_encoding,
		"summaries as binary batches or one JSON line per message"),
	KEY_STR("topic_summaries", struct pm_kafka_cfg, topic_summaries,
		"pmesh.summaries", NULL, NULL, "topic of per-window summaries"),
	KEY_STR("topic_events", struct pm_kafka_cfg, topic_events,
		"pmesh.events", NULL, NULL, "topic of events (start, stop, loss, spool)"),
	KEY_STR("topic_paths", struct pm_kafka_cfg, topic_paths, "pmesh.paths",
		NULL, NULL, "topic of path discoveries"),
	KEY_INT("queue_ms", struct pm_kafka_cfg, queue_ms, 100, 3600000, 5000,
		0, "--kafka-queue-ms",
		"a message waits this long for the brokers, then spools"),
	KEY_INT("queue_max", struct pm_kafka_cfg, queue_max, 1000, 10000000,
		100000, 0, NULL, "messages librdkafka may hold in memory"),
	KEY_INT("queue_full_ms", struct pm_kafka_cfg, queue_full_ms, 0, 60000,
		500, 0, NULL, "queue full: keep polling this long before spooling"),
	KEY_INT("flush_ms", struct pm_kafka_cfg, flush_ms, 0, 600000, 5000, 0,
		NULL, "at shutdown wait this long for the brokers, then spool the rest"),
	KEY_INT("batch_max", struct pm_kafka_cfg, batch_max, 1, 4096, 256, 0,
		NULL, "binary encoding: summaries per message at most"),
	KEY_INT("connect_ms", struct pm_kafka_cfg, connect_ms, 0, 600000, 3000,
		0, NULL, "at start the brokers must answer within this"),
	KEY_BOOL("spool", struct pm_kafka_cfg, spool, 1, "--no-spool",
		 "spool to disk while the brokers are away"),
	KEY_STR("spool_dir", struct pm_kafka_cfg, spool_dir, "", "--spool-dir",
		NULL, "spool directory; default /var/spool/pmesh/<prober id>"),
	KEY_INT("spool_max_mb", struct pm_kafka_cfg, spool_max_mb, 1, 1048576,
		1024, 0, NULL, "spool bound; past it the oldest records are dropped"),
	KEY_INT("spool_segment_mb", struct pm_kafka_cfg, spool_segment_mb, 1,
		4095, 16, 0, NULL, "spool segment file size"),
	KEY_STR("spool_fsync", struct pm_kafka_cfg, spool_fsync, "interval",
		NULL, cfg_valid_fsync, "never, interval or always"),
	KEY_INT("spool_fsync_ms", struct pm_kafka_cfg, spool_fsync_ms, 1,
		3600000, 1000, 0, NULL, "spool_fsync = interval: period"),
	{ .name = "properties", .type = CT_KPROPS, .flag = "--kafka-prop",
	  .off_n = offsetof(struct pm_kafka_cfg, nprops),
	  .help = "librdkafka properties, a list of \"name=value\" strings" },
};

/* Group "rdma" (read into struct pm_rdma_cfg; engine = "rdma"). */
static const struct cfg_key rdma_keys[] = {
	KEY_STR("device", struct pm_rdma_cfg, device, "", "--rdma-device", NULL,
		"RNIC (ibv_devices / pmesh-rdma list); empty: the first one"),
	KEY_INT("port", struct pm_rdma_cfg, port, 1, 255, 1, 0, "--rdma-port",
		"RNIC port number"),
	KEY_INT("gid_index", struct pm_rdma_cfg, gid_index, 0, 255, 0, 0,
		"--rdma-gid-index", "our GID; on RoCEv2 the index of the IPv4 "
		"RoCE v2 GID (show_gids)"),
	KEY_INT("sl", struct pm_rdma_cfg, sl, 0, 15, 0, 0, "--rdma-sl",
		"InfiniBand service level of probes (RoCE: the target's dscp "
		"sets the traffic class)"),
	KEY_BOOL("hw_timestamps", struct pm_rdma_cfg, hw_timestamps, 1,
		 "--rdma-no-hwts", "CQE completion timestamps where the RNIC has "
		 "them; false: TSC at poll"),
	KEY_INT("xchg_port", struct pm_rdma_cfg, xchg_port, 1, 65535, 18515,
		0, "--rdma-xchg-port", "UDP port where reflectors tell their QPNs "
		"(a target's own port overrides it)"),
	KEY_INT("xchg_timeout_ms", struct pm_rdma_cfg, xchg_timeout_ms, 10,
		60000, 1000, 0, NULL, "a reflector must tell its QPNs within this"),
	KEY_INT("recv_depth", struct pm_rdma_cfg, recv_depth, 64, 16384, 512,
		0, NULL, "receives kept posted per queue pair"),
};

static const struct cfg_key target_keys[] = {
	KEY_STR("name", struct pm_target_cfg, name, "", NULL, NULL,
		"label in the exit table; default: the address"),
	KEY_IP("ip", struct pm_target_cfg, ip, CFG_F_REQUIRED, "--target",
	       cfg_valid_unicast, "address of the reflector"),
	KEY_INT("port", struct pm_target_cfg, port, 1, 65535, 0, 0, "--target",
		"reflector UDP port; default prober.dst_port"),
	KEY_INT("rate_pps", struct pm_target_cfg, rate_pps, 0, 100000000, 10,
		0, "--rate", "probes per second to this target (all flows)"),
	KEY_INT("flows", struct pm_target_cfg, flows, 1, PM_CFG_MAX_FLOWS, 1,
		0, "--flows", "distinct UDP source ports (ECMP paths)"),
	{ .name = "size", .type = CT_INT, .min = 44, .max = 9000, .def = 44,
	  .off = offsetof(struct pm_target_cfg, size),
	  .size = FSIZE(struct pm_target_cfg, size), .flag = "--size",
	  .ivalid = cfg_valid_size,
	  .help = "STAMP payload bytes: 44, or 48..9000 with padding" },
	KEY_INT("dscp", struct pm_target_cfg, dscp, 0, 63, 0, 0, "--dscp",
		"DSCP of probes"),
	KEY_STR("type", struct pm_target_cfg, type, "stamp", "--probe",
		cfg_valid_probe, "stamp (a reflector), icmp (echo) or tcp (SYN "
		"to port; RST after)"),
	KEY_INT("max_rate_pps", struct pm_target_cfg, max_rate_pps, 0,
		100000000, 0, 0, "--max-rate",
		"ceiling on probes/s to this target, bursts included; 0: none "
		"for stamp, 100 for icmp and tcp"),
};

static const struct cfg_key reflector_keys[] = {
	KEY_IP("ip", struct pm_reflector_cfg, ip, 0, "--ip",
	       cfg_valid_unicast, "our address (DPDK mode)"),
	{ .name = "ports", .type = CT_PORTS, .min = 1, .max = 65535,
	  .off = offsetof(struct pm_reflector_cfg, ports),
	  .size = sizeof(uint16_t),
	  .off_n = offsetof(struct pm_reflector_cfg, nports),
	  .nmax = PM_CFG_MAX_PORTS, .flag = "--port",
	  .help = "UDP ports served" },
	KEY_INT("port_id", struct pm_reflector_cfg, port_id, 0, 1023, 0, 0,
		"--port-id", "DPDK port index"),
	{ .name = "allow", .type = CT_PREFIXES,
	  .off = offsetof(struct pm_reflector_cfg, allow),
	  .size = sizeof(struct pm_prefix),
	  .off_n = offsetof(struct pm_reflector_cfg, nallow),
	  .nmax = PM_CFG_MAX_ALLOW, .flag = "--allow",
	  .help = "source prefixes answered; empty: everyone" },
	KEY_INT("rate_limit_pps", struct pm_reflector_cfg, rate_limit_pps, 0,
		1000000000, 0, 0, "--rate-limit",
		"replies/s per source address; 0: no limit"),
	KEY_INT("threads", struct pm_reflector_cfg, threads, 1, 64, 1, 0,
		"--threads", "socket mode threads"),
	KEY_INT("idle_sleep_us", struct pm_reflector_cfg, idle_sleep_us, 0,
		1000000, 0, 0, "--idle-sleep-us",
		"sleep after an empty poll; 0 busy-polls"),
	KEY_INT("stats_ms", struct pm_reflector_cfg, stats_ms, 0, 3600000,
		1000, 0, "--stats-ms", "status line period; 0 turns it off"),
	KEY_BOOL("clock_synced", struct pm_reflector_cfg, clock_synced, 0,
		 "--clock-synced",
		 "the host clock is UTC-synced: set the S bit in replies"),
	KEY_STR("listen", struct pm_reflector_cfg, listen, "0.0.0.0:862",
		"--listen", cfg_valid_listen, "socket mode address IP:PORT"),
	KEY_INT("rx_desc", struct pm_reflector_cfg, rx_desc, 64, 32768, 1024,
		0, NULL, "RX ring descriptors"),
	KEY_INT("tx_desc", struct pm_reflector_cfg, tx_desc, 64, 32768, 1024,
		0, NULL, "TX ring descriptors"),
	KEY_INT("mbufs", struct pm_reflector_cfg, mbufs, 1023, 16777215, 8191,
		0, NULL, "mbufs in the port's pool"),
};

#define NKEYS(t)	(sizeof(t) / sizeof((t)[0]))

/* Where a check reports: the origin and, when loaded from a file, the line
 * of every key of the top-level group (0: not in the file). */
struct cfg_ctx {
	const char *src;
	bool file;
	int group_line;
	int targets_line;
	int key_line[NKEYS(prober_keys) > NKEYS(reflector_keys) ?
		     NKEYS(prober_keys) : NKEYS(reflector_keys)];
	int kafka_line[NKEYS(kafka_keys)];
	int rdma_line[NKEYS(rdma_keys)];
};

/* ---------------------------------------------------------------------- */
/* Diagnostics */

#define CFG_ERRS_RESERVE	48	/* room for the "... N more" line */

void
pm_cfg_errs_init(struct pm_cfg_errs *e)
{
	e->n = 0;
	e->len = 0;
	e->buf[0] = '\0';
}

/* True if @line (with its '\n') is already in the buffer: an identical
 * diagnostic says nothing new (flag mode checks every target alike). */
static bool
cfg_errs_has(const struct pm_cfg_errs *e, const char *line, size_t n)
{
	const char *p = e->buf, *end = e->buf + e->len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl != NULL ? (size_t)(nl - p) + 1 : (size_t)(end - p);

		if (l == n && memcmp(p, line, n) == 0)
			return true;
		p += l;
	}
	return false;
}

static unsigned int
cfg_errs_lines(const struct pm_cfg_errs *e)
{
	unsigned int k = 0;
	size_t i;

	for (i = 0; i < e->len; i++)
		k += e->buf[i] == '\n';
	return k;
}

void
pm_cfg_err(struct pm_cfg_errs *e, const char *file, int line,
	   const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n = 0;

	if (file != NULL && line > 0)
		n = snprintf(msg, sizeof(msg), "%s:%d: ", file, line);
	else if (file != NULL)
		n = snprintf(msg, sizeof(msg), "%s: ", file);
	else if (line > 0)
		n = snprintf(msg, sizeof(msg), "line %d: ", line);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = (int)strlen(msg);
	msg[n++] = '\n';
	msg[n] = '\0';

	if (cfg_errs_has(e, msg, (size_t)n))
		return;
	e->n++;
	if (e->len + (size_t)n + CFG_ERRS_RESERVE < sizeof(e->buf)) {
		memcpy(e->buf + e->len, msg, (size_t)n + 1);
		e->len += (size_t)n;
		return;
	}
	/* Full: keep what fits and say how much is missing.  The trailer
	 * lives past len so it is rewritten, not accumulated. */
	snprintf(e->buf + e->len, sizeof(e->buf) - e->len,
		 "... %u more errors\n", e->n - cfg_errs_lines(e));
}

/* Line number of diagnostic @l ("file:LINE: ..."), 0 if it has none. */
static long
cfg_errs_lineno(const char *l, size_t n)
{
	const char *p = memchr(l, ':', n), *end = l + n;
	long v = 0;

	/* The first ":digits:" is the line (paths rarely hold one). */
	while (p != NULL && p + 1 < end) {
		const char *q = p + 1;

		v = 0;
		while (q < end && *q >= '0' && *q <= '9')
			v = v * 10 + (*q++ - '0');
		if (q > p + 1 && q < end && *q == ':')
			return v;
		p = memchr(p + 1, ':', (size_t)(end - p - 1));
	}
	return 0;
}

struct cfg_diag {
	size_t off;
	size_t len;
	long line;
	size_t seq;
};

static int
cfg_diag_cmp(const void *a, const void *b)
{
	const struct cfg_diag *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sort the diagnostics from byte @from on by line, stably: a file's
 * problems then read top to bottom whatever pass found them; lineless
 * ones ("file: ...") first. */
void
pm_cfg_errs_sort(struct pm_cfg_errs *e, size_t from)
{
	struct cfg_diag *v;
	size_t off = from, n = 0, k = 0, i;
	char *tmp;

	for (i = from; i < e->len; i++)
		n += e->buf[i] == '\n';
	if (n < 2)
		return;
	v = malloc(n * sizeof(*v));
	tmp = malloc(e->len - from);
	if (v == NULL || tmp == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		const char *nl = memchr(e->buf + off, '\n', e->len - off);

		v[i].off = off;
		v[i].len = (size_t)(nl - (e->buf + off)) + 1;
		v[i].line = cfg_errs_lineno(e->buf + off, v[i].len);
		v[i].seq = i;
		off += v[i].len;
	}
	qsort(v, n, sizeof(*v), cfg_diag_cmp);
	for (i = 0; i < n; i++) {
		memcpy(tmp + k, e->buf + v[i].off, v[i].len);
		k += v[i].len;
	}
	memcpy(e->buf + from, tmp, k);
out:
	free(tmp);
	free(v);
}

/* ---------------------------------------------------------------------- */
/* Small parsers */

/* Decimal 0..max without sign, leading '+' or whitespace; advances *s. */
static int
cfg_parse_dec(const char **s, unsigned long max, unsigned long *out)
{
	const char *p = *s;
	unsigned long v = 0;
	int digits = 0;

	while (isdigit((unsigned char)*p)) {
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > max || ++digits > 10)
			return -EINVAL;
		p++;
	}
	if (digits == 0)
		return -EINVAL;
	*s = p;
	*out = v;
	return 0;
}

static int
cfg_parse_ipv4_prefix(const char **s, uint32_t *ip)
{
	const char *p = *s;
	uint32_t a = 0;
	unsigned long v;
	int i;

	for (i = 0; i < 4; i++) {
		if (i > 0 && *p++ != '.')
			return -EINVAL;
		/* No leading zeros: "010" reads as octal to inet_aton. */
		if (p[0] == '0' && isdigit((unsigned char)p[1]))
			return -EINVAL;
		if (cfg_parse_dec(&p, 255, &v) < 0)
			return -EINVAL;
		a = a << 8 | (uint32_t)v;
	}
	*s = p;
	*ip = a;
	return 0;
}

int
pm_cfg_parse_ipv4(const char *s, uint32_t *ip)
{
	uint32_t a;

	if (s == NULL || cfg_parse_ipv4_prefix(&s, &a) < 0 || *s != '\0')
		return -EINVAL;
	*ip = a;
	return 0;
}

int
pm_cfg_parse_ipv4_port(const char *s, uint32_t *ip, uint16_t *port)
{
	unsigned long v;
	uint32_t a;

	if (s == NULL || cfg_parse_ipv4_prefix(&s, &a) < 0)
		return -EINVAL;
	if (*s == '\0') {
		*ip = a;
		return 0;
	}
	s++;
	if (s[-1] != ':' || cfg_parse_dec(&s, 65535, &v) < 0 || *s != '\0' ||
	    v == 0)
		return -EINVAL;
	*ip = a;
	*port = (uint16_t)v;
	return 0;
}

int
pm_cfg_parse_mac(const char *s, uint8_t mac[6])
{
	uint8_t m[6];
	int i, j;

	if (s == NULL || strlen(s) != 17)
		return -EINVAL;
	for (i = 0; i < 6; i++) {
		unsigned int b = 0;

		for (j = 0; j < 2; j++) {
			int c = (unsigned char)s[i * 3 + j];

			if (!isxdigit(c))
				return -EINVAL;
			b = b << 4 | (unsigned int)(isdigit(c) ? c - '0' :
						    tolower(c) - 'a' + 10);
		}
		if (i < 5 && s[i * 3 + 2] != ':')
			return -EINVAL;
		m[i] = (uint8_t)b;
	}
	memcpy(mac, m, 6);
	return 0;
}

/* As pm_cfg_parse_prefix(), telling apart bad syntax (-EINVAL) and host
 * bits set (-EDOM, with the network address in *p). */
static int
cfg_parse_prefix(const char *s, struct pm_prefix *p)
{
	unsigned long len;
	uint32_t a, mask;

	if (s == NULL || cfg_parse_ipv4_prefix(&s, &a) < 0 || *s++ != '/')
		return -EINVAL;
	if (s[0] == '0' && s[1] != '\0')
		return -EINVAL;
	if (cfg_parse_dec(&s, 32, &len) < 0 || *s != '\0')
		return -EINVAL;
	mask = len == 0 ? 0 : ~0u << (32 - len);
	p->addr = a & mask;
	p->mask = mask;
	return (a & ~mask) != 0 ? -EDOM : 0;
}

int
pm_cfg_parse_prefix(const char *s, struct pm_prefix *p)
{
	struct pm_prefix q;

	if (cfg_parse_prefix(s, &q) < 0)
		return -EINVAL;
	*p = q;
	return 0;
}

const char *
pm_cfg_fmt_ipv4(uint32_t ip, char *buf)
{
	snprintf(buf, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff,
		 (ip >> 8) & 0xff, ip & 0xff);
	return buf;
}

static int
cfg_prefix_len(uint32_t mask)
{
	return mask == 0 ? 0 : 32 - __builtin_ctz(mask);
}

/* ---------------------------------------------------------------------- */
/* Validators */

static int
cfg_valid_unicast(int64_t v, char *why, size_t cap)
{
	uint32_t ip = (uint32_t)v;

	if (ip == 0 || ip == UINT32_MAX || (ip >> 28) == 0xe || (ip >> 24) == 0) {
		snprintf(why, cap, "not a unicast host address");
		return -EINVAL;
	}
	return 0;
}

static int
cfg_valid_size(int64_t v, char *why, size_t cap)
{
	/* Anything past the 44-byte base packet must be whole TLVs (RFC
	 * 8972), and the Extra Padding TLV alone has a 4-byte header. */
	if (v > 44 && v < 48) {
		snprintf(why, cap, "bytes beyond the 44-byte STAMP packet go in "
			 "an Extra Padding TLV with a 4-byte header, so the "
			 "smallest padded size is 48; use 44 or 48..9000");
		return -EINVAL;
	}
	return 0;
}

static int
cfg_valid_sink(const char *s, char *why, size_t cap)
{
	if (strcmp(s, "json") != 0 && strcmp(s, "kafka") != 0) {
		snprintf(why, cap, "unknown sink (json, kafka)");
		return -EINVAL;
	}
	return 0;
}

int
pm_probe_type_parse(const char *s)
{
	if (s[0] == '\0' || strcmp(s, "stamp") == 0)
		return PM_PROBE_STAMP;
	if (strcmp(s, "icmp") == 0)
		return PM_PROBE_ICMP;
	if (strcmp(s, "tcp") == 0)
		return PM_PROBE_TCP;
	return -1;
}

const char *
pm_probe_type_str(int type)
{
	switch (type) {
	case PM_PROBE_ICMP:
		return "icmp";
	case PM_PROBE_TCP:
		return "tcp";
	default:
		return "stamp";
	}
}

static int
cfg_valid_probe(const char *s, char *why, size_t cap)
{
	if (pm_probe_type_parse(s) < 0) {
		snprintf(why, cap, "unknown probe type (stamp, icmp, tcp)");
		return -EINVAL;
	}
	return 0;
}

static int
cfg_valid_encoding(const char *s, char *why, size_t cap)
{
	if (strcmp(s, "binary") != 0 && strcmp(s, "json") != 0) {
		snprintf(why, cap, "unknown encoding (binary, json)");
		return -EINVAL;
	}
	return 0;
}

static int
cfg_valid_fsync(const char *s, char *why, size_t cap)
{
	if (strcmp(s, "never") != 0 && strcmp(s, "interval") != 0 &&
	    strcmp(s, "always") != 0) {
		snprintf(why, cap, "unknown policy (never, interval, always)");
		return -EINVAL;
	}
	return 0;
}

static int
cfg_valid_engine(const char *s, char *why, size_t cap)
{
	if (strcmp(s, "dpdk") != 0 && strcmp(s, "rdma") != 0) {
		snprintf(why, cap, "unknown engine (dpdk, rdma)");
		return -1;
	}
	return 0;
}

/* host:port[,host:port...]; hosts as librdkafka takes them (names, IPv4,
 * [IPv6]), optionally prefixed by a protocol "SSL://". */
static int
cfg_valid_bootstrap(const char *s, char *why, size_t cap)
{
	const char *p = s, *end, *colon, *hp;
	unsigned long port;
	char *ep;

	while (*p != '\0') {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		hp = p;
		for (colon = p; colon + 2 < end; colon++)
			if (colon[0] == ':' && colon[1] == '/' && colon[2] == '/') {
				hp = colon + 3;
				break;
			}
		colon = NULL;
		for (const char *q = hp; q < end; q++)
			if (*q == ':')
				colon = q;
		if (end == hp || colon == NULL || colon == hp || colon + 1 == end) {
			snprintf(why, cap, "'%.*s' is not host:port", (int)(end - p), p);
			return -EINVAL;
		}
		errno = 0;
		port = strtoul(colon + 1, &ep, 10);
		if (errno != 0 || ep != end || port == 0 || port > 65535) {
			snprintf(why, cap, "'%.*s': port must be 1..65535",
				 (int)(end - p), p);
			return -EINVAL;
		}
		p = *end == ',' ? end + 1 : end;
	}
	return 0;
}

static int
cfg_valid_listen(const char *s, char *why, size_t cap)
{
	uint32_t ip;
	uint16_t port = 0;

	if (pm_cfg_parse_ipv4_port(s, &ip, &port) < 0 || port == 0) {
		snprintf(why, cap, "expected IP:PORT");
		return -EINVAL;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Table helpers */

static int64_t
cfg_get_int(const void *base, const struct cfg_key *k)
{
	const uint8_t *p = (const uint8_t *)base + k->off;

	switch (k->size) {
	case 1:
		return *p;
	case 2:
		return *(const uint16_t *)(const void *)p;
	case 4:
		return *(const uint32_t *)(const void *)p;
	default:
		return (int64_t)*(const uint64_t *)(const void *)p;
	}
}

static void
cfg_set_int(void *base, const struct cfg_key *k, int64_t v)
{
	uint8_t *p = (uint8_t *)base + k->off;

	switch (k->size) {
	case 1:
		*p = (uint8_t)v;
		break;
	case 2:
		*(uint16_t *)(void *)p = (uint16_t)v;
		break;
	case 4:
		*(uint32_t *)(void *)p = (uint32_t)v;
		break;
	default:
		*(uint64_t *)(void *)p = (uint64_t)v;
		break;
	}
}

static void
cfg_apply_defaults(void *base, const struct cfg_key *keys, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct cfg_key *k = &keys[i];
		char *p = (char *)base + k->off;

		switch (k->type) {
		case CT_INT:
		case CT_BOOL:
			cfg_set_int(base, k, k->def);
			break;
		case CT_STR:
			snprintf(p, k->size, "%s", k->sdef != NULL ? k->sdef : "");
			break;
		case CT_IPV4:
			cfg_set_int(base, k, 0);
			break;
		case CT_MAC:
			memset(p, 0, k->size);
			*((uint8_t *)base + k->off_n) = 0;
			break;
		case CT_PORTS:
		case CT_PREFIXES:
			memset(p, 0, k->size * k->nmax);
			*(uint32_t *)(void *)((char *)base + k->off_n) = 0;
			break;
		case CT_KPROPS:
			/* Through the key's offset, as the other lists: the
			 * defaults pass serves every group's struct. */
			*(uint32_t *)(void *)((char *)base + k->off_n) = 0;
			break;
		}
	}
}

static const struct cfg_key *
cfg_find_key(const struct cfg_key *keys, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* Levenshtein distance, for "did you mean" (names are short). */
unsigned int
pm_cfg_edit_distance(const char *a, const char *b)
{
	unsigned int row[PM_CFG_NAME_MAX + 1];
	size_t la = strlen(a), lb = strlen(b), i, j;

	if (la > PM_CFG_NAME_MAX || lb > PM_CFG_NAME_MAX)
		return UINT32_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = (unsigned int)j;
	for (i = 1; i <= la; i++) {
		unsigned int diag = row[0], up;

		row[0] = (unsigned int)i;
		for (j = 1; j <= lb; j++) {
			unsigned int best;

			up = row[j];
			best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* The closest of @names[n] to @s, or NULL when none is close enough to be
 * a plausible typo (a third of the name, at least 1, at most 3 edits). */
static const char *
cfg_suggest(const char *s, const char *const *names, size_t n)
{
	unsigned int best = UINT32_MAX, lim;
	const char *hit = NULL;
	size_t i;

	lim = (unsigned int)strlen(s) / 3;
	if (lim < 1)
		lim = 1;
	if (lim > 3)
		lim = 3;
	for (i = 0; i < n; i++) {
		unsigned int d = pm_cfg_edit_distance(s, names[i]);

		if (d < best) {
			best = d;
			hit = names[i];
		}
	}
	return best <= lim ? hit : NULL;
}

static void
cfg_err_unknown(struct pm_cfg_errs *e, const char *file, int line,
		const char *name, const char *const *names, size_t n)
{
	const char *hint = cfg_suggest(name, names, n);

	if (hint != NULL)
		pm_cfg_err(e, file, line, "unknown key '%s' (did you mean '%s'?)",
			   name, hint);
	else
		pm_cfg_err(e, file, line, "unknown key '%s'", name);
}

static const char *
cfg_type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP:
		return "group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "integer";
	case CONFIG_TYPE_FLOAT:
		return "float";
	case CONFIG_TYPE_STRING:
		return "string";
	case CONFIG_TYPE_BOOL:
		return "boolean";
	case CONFIG_TYPE_ARRAY:
		return "array";
	case CONFIG_TYPE_LIST:
		return "list";
	default:
		return "nothing";
	}
}

static const char *
cfg_file(const config_setting_t *s, const char *path)
{
	const char *f = config_setting_source_file(s);

	return f != NULL ? f : path;
}

static int
cfg_line(const config_setting_t *s)
{
	return (int)config_setting_source_line(s);
}

/* ---------------------------------------------------------------------- */
/* Reading settings through the tables */

static bool
cfg_is_int(const config_setting_t *s)
{
	int t = config_setting_type(s);

	return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

/* Read one integer (a key or an array element called @what), check its
 * bounds and extra rule; 0 and *out, or -EINVAL reported. */
static int
cfg_read_int(const config_setting_t *s, const struct cfg_key *k,
	     const char *what, const char *path, struct pm_cfg_errs *e,
	     int64_t *out)
{
	const char *file = cfg_file(s, path);
	int line = cfg_line(s);
	char why[256];
	int64_t v;

	if (!cfg_is_int(s)) {
		pm_cfg_err(e, file, line, "%s: expected integer, got %s", what,
			   cfg_type_name(config_setting_type(s)));
		return -EINVAL;
	}
	v = config_setting_get_int64(s);
	if (v < k->min || v > k->max) {
		pm_cfg_err(e, file, line, "%s = %" PRId64
			   " out of range [%" PRId64 ", %" PRId64 "]",
			   what, v, k->min, k->max);
		return -EINVAL;
	}
	if (k->ivalid != NULL && k->ivalid(v, why, sizeof(why)) < 0) {
		pm_cfg_err(e, file, line, "%s = %" PRId64 " invalid: %s", what,
			   v, why);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static const char *
cfg_read_string(const config_setting_t *s, const char *what,
		const char *path, struct pm_cfg_errs *e)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		pm_cfg_err(e, cfg_file(s, path), cfg_line(s),
			   "%s: expected string, got %s", what,
			   cfg_type_name(config_setting_type(s)));
		return NULL;
	}
	return config_setting_get_string(s);
}

/* Read an array/list of @k's elements; stored only if all are valid. */
static void
cfg_read_array(const config_setting_t *s, const struct cfg_key *k,
	       void *base, const char *path, struct pm_cfg_errs *e)
{
	struct pm_prefix pf[PM_CFG_MAX_ALLOW];
	uint16_t ports[PM_CFG_MAX_PORTS];
	const char *file = cfg_file(s, path);
	int t = config_setting_type(s), len, i;
	char what[PM_CFG_NAME_MAX + 16];
	unsigned int n0 = e->n;
	uint32_t n = 0;

	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
		pm_cfg_err(e, file, cfg_line(s), "%s: expected array, got %s",
			   k->name, cfg_type_name(t));
		return;
	}
	len = config_setting_length(s);
	if ((size_t)len > k->nmax) {
		pm_cfg_err(e, file, cfg_line(s), "%s: %d entries, at most %zu",
			   k->name, len, k->nmax);
		return;
	}
	if (k->type == CT_PORTS && len == 0) {
		pm_cfg_err(e, file, cfg_line(s), "%s: at least one port is "
			   "required", k->name);
		return;
	}
	for (i = 0; i < len; i++) {
		const config_setting_t *el = config_setting_get_elem(s, (unsigned)i);
		int line = cfg_line(el) > 0 ? cfg_line(el) : cfg_line(s);

		snprintf(what, sizeof(what), "%s[%d]", k->name, i);
		if (k->type == CT_PORTS) {
			int64_t v;
			uint32_t j;

			if (cfg_read_int(el, k, what, path, e, &v) < 0)
				continue;
			for (j = 0; j < n; j++)
				if (ports[j] == v)
					break;
			if (j < n) {
				pm_cfg_err(e, file, line, "%s: port %" PRId64
					   " listed twice", what, v);
				continue;
			}
			ports[n++] = (uint16_t)v;
		} else {
			const char *str = cfg_read_string(el, what, path, e);
			char net[16];
			int rc;

			if (str == NULL)
				continue;
			rc = cfg_parse_prefix(str, &pf[n]);
			if (rc == -EDOM) {
				pm_cfg_err(e, file, line, "%s: prefix '%s' has "
					   "host bits set (did you mean "
					   "'%s/%d'?)", what, str,
					   pm_cfg_fmt_ipv4(pf[n].addr, net),
					   cfg_prefix_len(pf[n].mask));
				continue;
			}
			if (rc < 0) {
				pm_cfg_err(e, file, line, "%s: invalid prefix '%s' "
					   "(expected a.b.c.d/len)", what, str);
				continue;
			}
			n++;
		}
	}
	if (e->n > n0)
		return;
	memcpy((char *)base + k->off, k->type == CT_PORTS ?
	       (const void *)ports : (const void *)pf, k->size * n);
	*(uint32_t *)(void *)((char *)base + k->off_n) = n;
}

/* Read setting @s into @base as key @k; the value is stored only when
 * valid. */
static void
cfg_read_key(const config_setting_t *s, const struct cfg_key *k, void *base,
	     const char *path, struct pm_cfg_errs *e)
{
	const char *file = cfg_file(s, path);
	char *p = (char *)base + k->off;
	int line = cfg_line(s);
	const char *str;
	char why[256];
	int64_t v;
	uint32_t ip;

	switch (k->type) {
	case CT_INT:
		if (cfg_read_int(s, k, k->name, path, e, &v) == 0)
			cfg_set_int(base, k, v);
		break;
	case CT_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
			pm_cfg_err(e, file, line, "%s: expected boolean (true or "
				   "false), got %s", k->name,
				   cfg_type_name(config_setting_type(s)));
			break;
		}
		cfg_set_int(base, k, config_setting_get_bool(s) ? 1 : 0);
		break;
	case CT_STR:
		str = cfg_read_string(s, k->name, path, e);
		if (str == NULL)
			break;
		if (strlen(str) >= k->size) {
			pm_cfg_err(e, file, line, "%s: string too long (at most "
				   "%zu characters)", k->name, k->size - 1);
			break;
		}
		if (str[0] == '\0') {
			pm_cfg_err(e, file, line, "%s: empty string", k->name);
			break;
		}
		if (k->svalid != NULL && k->svalid(str, why, sizeof(why)) < 0) {
			pm_cfg_err(e, file, line, "%s = \"%s\" invalid: %s",
				   k->name, str, why);
			break;
		}
		snprintf(p, k->size, "%s", str);
		break;
	case CT_IPV4:
		str = cfg_read_string(s, k->name, path, e);
		if (str == NULL)
			break;
		if (pm_cfg_parse_ipv4(str, &ip) < 0) {
			pm_cfg_err(e, file, line, "%s: invalid IPv4 address '%s'",
				   k->name, str);
			break;
		}
		if (k->ivalid != NULL && k->ivalid(ip, why, sizeof(why)) < 0) {
			pm_cfg_err(e, file, line, "%s = %s invalid: %s", k->name,
				   str, why);
			break;
		}
		cfg_set_int(base, k, ip);
		break;
	case CT_MAC:
		str = cfg_read_string(s, k->name, path, e);
		if (str == NULL)
			break;
		if (pm_cfg_parse_mac(str, (uint8_t *)p) < 0) {
			pm_cfg_err(e, file, line, "%s: invalid MAC address '%s' "
				   "(expected xx:xx:xx:xx:xx:xx)", k->name, str);
			break;
		}
		*((uint8_t *)base + k->off_n) = 1;
		break;
	case CT_PORTS:
	case CT_PREFIXES:
		cfg_read_array(s, k, base, path, e);
		break;
	case CT_KPROPS:
		cfg_read_kprops(s, base, path, e);
		break;
	}
}

/* Read @base's librdkafka properties, a list (or array) of "name=value". */
static void
cfg_read_kprops(const config_setting_t *s, void *base, const char *path,
		struct pm_cfg_errs *e)
{
	struct pm_kafka_cfg *k = base;
	int t = config_setting_type(s), n, i, rc;
	char why[256];

	if (t != CONFIG_TYPE_LIST && t != CONFIG_TYPE_ARRAY) {
		pm_cfg_err(e, cfg_file(s, path), cfg_line(s),
			   "properties: expected a list of \"name=value\" "
			   "strings, got %s", cfg_type_name(t));
		return;
	}
	n = config_setting_length(s);
	for (i = 0; i < n; i++) {
		const config_setting_t *el = config_setting_get_elem(s, (unsigned)i);
		const char *str = config_setting_get_string(el);
		int line = cfg_line(el) > 0 ? cfg_line(el) : cfg_line(s);

		if (str == NULL) {
			pm_cfg_err(e, cfg_file(s, path), line,
				   "properties[%d]: expected a \"name=value\" "
				   "string, got %s", i,
				   cfg_type_name(config_setting_type(el)));
			continue;
		}
		rc = pm_kafka_cfg_add_prop(k, str, line, why, sizeof(why));
		if (rc < 0)
			pm_cfg_err(e, cfg_file(s, path), line, "properties[%d]: %s",
				   i, why);
	}
}

int
pm_kafka_cfg_add_prop(struct pm_kafka_cfg *k, const char *nv, int line,
		      char *why, size_t cap)
{
	const char *eq = strchr(nv, '=');
	struct pm_kafka_prop *p;
	size_t nl;

	if (eq == NULL || eq == nv) {
		snprintf(why, cap, "'%s' is not name=value", nv);
		return -EINVAL;
	}
	nl = (size_t)(eq - nv);
	if (nl >= sizeof(p->name) || strlen(eq + 1) >= sizeof(p->value)) {
		snprintf(why, cap, "'%.40s...' too long (name < %zu, value < %zu "
			 "characters)", nv, sizeof(p->name), sizeof(p->value));
		return -EINVAL;
	}
	if (k->nprops >= PM_CFG_MAX_KPROPS) {
		snprintf(why, cap, "more than %d properties", PM_CFG_MAX_KPROPS);
		return -E2BIG;
	}
	p = &k->props[k->nprops++];
	memcpy(p->name, nv, nl);
	p->name[nl] = '\0';
	snprintf(p->value, sizeof(p->value), "%s", eq + 1);
	p->line = line;
	return 0;
}

/* Read group @g into @base through table @keys: unknown keys, types,
 * bounds, required keys.  @where names the group in messages.  Lines of
 * the keys found go to @lines (may be NULL). */
static void
cfg_read_group(const config_setting_t *g, const struct cfg_key *keys,
	       size_t nkeys, void *base, const char *where, const char *path,
	       struct pm_cfg_errs *e, int *lines)
{
	const char *names[NKEYS(prober_keys) + NKEYS(reflector_keys) +
			  NKEYS(kafka_keys) + NKEYS(rdma_keys)];
	bool seen[NKEYS(prober_keys) + NKEYS(reflector_keys) + NKEYS(kafka_keys) +
		  NKEYS(rdma_keys)];
	int len = config_setting_length(g), i;
	size_t j;

	for (j = 0; j < nkeys; j++) {
		names[j] = keys[j].name;
		seen[j] = false;
	}
	for (i = 0; i < len; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		const struct cfg_key *k = cfg_find_key(keys, nkeys, name);

		if (k == NULL) {
			cfg_err_unknown(e, cfg_file(s, path), cfg_line(s), name,
					names, nkeys);
			continue;
		}
		seen[k - keys] = true;
		if (lines != NULL)
			lines[k - keys] = cfg_line(s);
		cfg_read_key(s, k, base, path, e);
	}
	for (j = 0; j < nkeys; j++)
		if ((keys[j].flags & CFG_F_REQUIRED) && !seen[j])
			pm_cfg_err(e, cfg_file(g, path), cfg_line(g),
				   "missing required key '%s' in group '%s'",
				   keys[j].name, where);
}

/* Read the top-level setting @name as a group; NULL (reported) if absent
 * or not a group. */
static config_setting_t *
cfg_top_group(config_t *cf, const char *name, const char *path,
	      struct pm_cfg_errs *e)
{
	config_setting_t *g = config_lookup(cf, name);

	if (g == NULL) {
		pm_cfg_err(e, path, 0, "missing required group '%s'", name);
		return NULL;
	}
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		pm_cfg_err(e, cfg_file(g, path), cfg_line(g),
			   "%s: expected group, got %s", name,
			   cfg_type_name(config_setting_type(g)));
		return NULL;
	}
	return g;
}

/* Check the top-level names against @allowed[n]. */
static void
cfg_check_top(config_t *cf, const char *const *allowed, size_t n,
	      const char *path, struct pm_cfg_errs *e)
{
	config_setting_t *root = config_root_setting(cf);
	int len = config_setting_length(root), i;
	size_t j;

	for (i = 0; i < len; i++) {
		config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(s);

		for (j = 0; j < n; j++)
			if (strcmp(name, allowed[j]) == 0)
				break;
		if (j == n)
			cfg_err_unknown(e, cfg_file(s, path), cfg_line(s), name,
					allowed, n);
	}
}

int
pm_cfg_open(config_t *cf, const char *path, struct pm_cfg_errs *e)
{
	FILE *f;
	int rc;

	/* libconfig only says "file I/O error": look first, to say why. */
	f = fopen(path, "r");
	if (f == NULL) {
		rc = -errno;
		pm_cfg_err(e, path, 0, "cannot read: %s", strerror(errno));
		return rc;
	}
	fclose(f);
	config_init(cf);
	if (config_read_file(cf, path) != CONFIG_TRUE) {
		const char *ef = config_error_file(cf);

		if (config_error_type(cf) == CONFIG_ERR_FILE_IO)
			pm_cfg_err(e, path, 0, "cannot read: %s",
				   config_error_text(cf));
		else
			pm_cfg_err(e, ef != NULL ? ef : path,
				   config_error_line(cf), "%s",
				   config_error_text(cf));
		config_destroy(cf);
		return -EINVAL;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Checks shared by files and flags */

/* Report a problem with key @k of a struct: at the key's line in file
 * mode, else naming the flag that set it. */
static void
cfg_key_err(struct pm_cfg_errs *e, const struct cfg_ctx *x,
	    const struct cfg_key *k, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void
cfg_key_err(struct pm_cfg_errs *e, const struct cfg_ctx *x,
	    const struct cfg_key *k, int line, const char *fmt, ...)
{
	const char *src = x->src;
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (src == NULL && k != NULL && k->flag != NULL)
		src = k->flag;
	pm_cfg_err(e, src, line, "%s", msg);
}

/* Bounds and extra rules of every scalar key of @base (values set by
 * flags have not been through cfg_read_key). */
static void
cfg_check_values(const void *base, const struct cfg_key *keys, size_t n,
		 const struct cfg_ctx *x, int line, struct pm_cfg_errs *e)
{
	char why[256], ipb[16];
	size_t i;

	for (i = 0; i < n; i++) {
		const struct cfg_key *k = &keys[i];
		const char *s = (const char *)base + k->off;
		int64_t v;

		switch (k->type) {
		case CT_INT:
			v = cfg_get_int(base, k);
			if (k->size == 8 && v < 0)
				v = INT64_MAX;	/* u64 beyond any max */
			if (v < k->min || v > k->max) {
				cfg_key_err(e, x, k, line, "%s = %" PRIu64
					    " out of range [%" PRId64 ", %"
					    PRId64 "]", k->name,
					    (uint64_t)cfg_get_int(base, k),
					    k->min, k->max);
			} else if (k->ivalid != NULL &&
				   k->ivalid(v, why, sizeof(why)) < 0) {
				cfg_key_err(e, x, k, line, "%s = %" PRId64
					    " invalid: %s", k->name, v, why);
			}
			break;
		case CT_IPV4:
			v = cfg_get_int(base, k);
			if (v != 0 && k->ivalid != NULL &&
			    k->ivalid(v, why, sizeof(why)) < 0)
				cfg_key_err(e, x, k, line, "%s = %s invalid: %s",
					    k->name,
					    pm_cfg_fmt_ipv4((uint32_t)v, ipb),
					    why);
			break;
		case CT_STR:
			if (memchr(s, '\0', k->size) == NULL)
				cfg_key_err(e, x, k, line, "%s: string too long",
					    k->name);
			else if (s[0] != '\0' && k->svalid != NULL &&
				 k->svalid(s, why, sizeof(why)) < 0)
				cfg_key_err(e, x, k, line, "%s = \"%s\" invalid: %s",
					    k->name, s, why);
			break;
		default:
			break;
		}
	}
}

static int
cfg_kline(const struct cfg_ctx *x, const char *name)
{
	const struct cfg_key *k = cfg_find_key(prober_keys,
					       NKEYS(prober_keys), name);

	if (x->file && k != NULL && x->key_line[k - prober_keys] > 0)
		return x->key_line[k - prober_keys];
	return x->file ? x->group_line : 0;
}

static const struct cfg_key *
cfg_pkey(const char *name)
{
	return cfg_find_key(prober_keys, NKEYS(prober_keys), name);
}

static const struct cfg_key *
cfg_tkey(const char *name)
{
	return cfg_find_key(target_keys, NKEYS(target_keys), name);
}

static int
cfg_target_cmp(const void *a, const void *b)
{
	const struct pm_target_cfg *x = *(const struct pm_target_cfg *const *)a;
	const struct pm_target_cfg *y = *(const struct pm_target_cfg *const *)b;

	if (x->ip != y->ip)
		return x->ip < y->ip ? -1 : 1;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	if (x->probe != y->probe)
		return x->probe < y->probe ? -1 : 1;
	/* Keep file order among equals: the first is the original. */
	return x < y ? -1 : x > y;
}

static void
cfg_check_dups(const struct pm_prober_cfg *c, const struct cfg_ctx *x,
	       struct pm_cfg_errs *e)
{
	const struct pm_target_cfg **v;
	char ipb[16];
	uint32_t i;

	if (c->ntargets < 2)
		return;
	v = malloc(sizeof(*v) * c->ntargets);
	if (v == NULL) {
		pm_cfg_err(e, x->src, 0, "out of memory checking targets");
		return;
	}
	for (i = 0; i < c->ntargets; i++)
		v[i] = &c->targets[i];
	qsort(v, c->ntargets, sizeof(*v), cfg_target_cmp);
	for (i = 1; i < c->ntargets; i++) {
		const struct pm_target_cfg *first = v[i - 1];

		if (v[i]->ip == 0 || v[i]->ip != first->ip ||
		    v[i]->port != first->port || v[i]->probe != first->probe)
			continue;
		/* Point every repeat at the first occurrence. */
		while (i < c->ntargets && v[i]->ip == first->ip &&
		       v[i]->port == first->port && v[i]->probe == first->probe) {
			char what[48];

			if (v[i]->probe == PM_PROBE_ICMP)
				snprintf(what, sizeof(what), "icmp target %s",
					 pm_cfg_fmt_ipv4(v[i]->ip, ipb));
			else
				snprintf(what, sizeof(what), "%starget %s:%u",
					 v[i]->probe == PM_PROBE_TCP ? "tcp " : "",
					 pm_cfg_fmt_ipv4(v[i]->ip, ipb), v[i]->port);
			pm_cfg_err(e, x->src != NULL ? x->src : "--target",
				   v[i]->line, first->line > 0 ?
				   "duplicate %s (first at line %d)" :
				   "duplicate %s", what, first->line);
			i++;
		}
	}
	free(v);
}

static const struct cfg_key *
cfg_kkey(const char *name)
{
	return cfg_find_key(kafka_keys, NKEYS(kafka_keys), name);
}

static int
cfg_kafka_line(const struct cfg_ctx *x, const struct pm_kafka_cfg *k,
	       const char *name)
{
	const struct cfg_key *key = cfg_kkey(name);

	if (x->file && key != NULL && x->kafka_line[key - kafka_keys] > 0)
		return x->kafka_line[key - kafka_keys];
	return x->file ? k->line : 0;
}

/* The kafka group: values, and what sink = "kafka" needs. */
static void
cfg_kafka_check(const struct pm_prober_cfg *c, const struct cfg_ctx *x,
		struct pm_cfg_errs *e)
{
	const struct pm_kafka_cfg *k = &c->kafka;
	int line = x->file ? k->line : 0;

	cfg_check_values(k, kafka_keys, NKEYS(kafka_keys), x, line, e);
	if (strcmp(c->sink, "kafka") != 0)
		return;
	if (k->bootstrap[0] == '\0') {
		if (x->file)
			pm_cfg_err(e, x->src, k->line > 0 ? k->line :
				   cfg_kline(x, "sink"),
				   "sink = \"kafka\" needs kafka.bootstrap "
				   "(host:port of the brokers)");
		else
			cfg_key_err(e, x, cfg_kkey("bootstrap"), 0,
				    "the Kafka sink needs the brokers' host:port");
	}
	if (k->spool && (uint64_t)k->spool_segment_mb > k->spool_max_mb)
		cfg_key_err(e, x, cfg_kkey("spool_segment_mb"),
			    cfg_kafka_line(x, k, "spool_segment_mb"),
			    "spool_segment_mb = %u exceeds spool_max_mb = %"
			    PRIu64, k->spool_segment_mb, k->spool_max_mb);
}

/* The rdma group, and what the RDMA engine cannot do (yet) with targets
 * and prober keys made for the DPDK engine. */
static void
cfg_rdma_check(const struct pm_prober_cfg *c, const struct cfg_ctx *x,
	       struct pm_cfg_errs *e)
{
	const struct pm_rdma_cfg *r = &c->rdma;
	uint32_t i;

	cfg_check_values(r, rdma_keys, NKEYS(rdma_keys), x,
			 x->file ? r->line : 0, e);
	if (strcmp(c->engine, "rdma") != 0) {
		if (x->file && r->line > 0 && strcmp(c->engine, "dpdk") == 0)
			pm_cfg_err(e, x->src, r->line, "group 'rdma' is set but "
				   "prober.engine is \"dpdk\": set engine = \"rdma\" "
				   "to probe over RDMA, or remove the group");
		return;
	}
	if (c->line_rate)
		cfg_key_err(e, x, cfg_pkey("line_rate"), cfg_kline(x, "line_rate"),
			    "line_rate = true: the rdma engine paces by rate_pps "
			    "only");
	if (c->trace_interval_s)
		cfg_key_err(e, x, cfg_pkey("trace_interval_s"),
			    cfg_kline(x, "trace_interval_s"),
			    "trace_interval_s: path discovery (TTL-limited IP "
			    "probes) is for engine dpdk; RDMA UD has no TTL");
	if (c->loss_burst > 1)
		cfg_key_err(e, x, cfg_pkey("loss_burst"), cfg_kline(x, "loss_burst"),
			    "loss_burst: adaptive probing is for engine dpdk");
	for (i = 0; i < c->ntargets; i++) {
		const struct pm_target_cfg *t = &c->targets[i];
		int line = x->file ? t->line : 0;

		if (t->probe != PM_PROBE_STAMP)
			cfg_key_err(e, x, cfg_tkey("type"), line,
				    "type = \"%s\": engine rdma sends STAMP over "
				    "UD to pmesh-rdma reflectors only", t->type);
		if (t->size != 44)
			cfg_key_err(e, x, cfg_tkey("size"), line,
				    "size = %u: engine rdma sends the 44-byte STAMP "
				    "base packet only", t->size);
	}
}

static int
cfg_prober_check(const struct pm_prober_cfg *c, const struct cfg_ctx *x,
		 struct pm_cfg_errs *e)
{
	unsigned int n0 = e->n;
	uint64_t pps = 0;
	double bits = 0;
	uint32_t i;
	bool rdma;

	cfg_check_values(c, prober_keys, NKEYS(prober_keys), x, 0, e);
	cfg_kafka_check(c, x, e);
	rdma = strcmp(c->engine, "rdma") == 0;
	cfg_rdma_check(c, x, e);
	if (x->file && !rdma && c->src_ip == 0 && x->group_line > 0)
		pm_cfg_err(e, x->src, x->group_line,
			   "missing required key 'src_ip' in group 'prober'");
	if (!x->file) {
		/* In a file these are reported with their line by the loader. */
		if (c->src_ip == 0 && !rdma)
			cfg_key_err(e, x, cfg_pkey("src_ip"), 0,
				    "the probes' source address is required");
		if (c->ntargets == 0)
			cfg_key_err(e, x, cfg_tkey("ip"), 0,
				    "at least one target is required");
	}
	if (c->gateway_ip != 0 && c->have_gateway_mac)
		cfg_key_err(e, x, cfg_pkey("gateway_mac"),
			    cfg_kline(x, "gateway_mac"),
			    "set either gateway or gateway_mac, not both");
	/* (Not when window_ms is itself wrong: that is reported already.) */
	if ((uint64_t)c->timeout_ms > (uint64_t)c->window_ms * 10 &&
	    c->window_ms >= cfg_pkey("window_ms")->min)
		cfg_key_err(e, x, cfg_pkey("timeout_ms"),
			    cfg_kline(x, "timeout_ms"),
			    "timeout_ms = %u exceeds 10 x window_ms = %" PRIu64,
			    c->timeout_ms, (uint64_t)c->window_ms * 10);
	if (c->ntargets > PM_CFG_MAX_TARGETS)
		cfg_key_err(e, x, cfg_tkey("ip"), x->targets_line,
			    "%u targets, at most %u", c->ntargets,
			    PM_CFG_MAX_TARGETS);

	for (i = 0; i < c->ntargets; i++) {
		const struct pm_target_cfg *t = &c->targets[i];
		int line = x->file ? t->line : 0;

		cfg_check_values(t, target_keys, NKEYS(target_keys), x, line, e);
		if (!x->file && t->ip == 0)
			cfg_key_err(e, x, cfg_tkey("ip"), 0,
				    "target address is required");
		if (t->rate_pps == 0 && !c->line_rate)
			cfg_key_err(e, x, cfg_tkey("rate_pps"), line,
				    "rate_pps = 0: must be >= 1 (0 only with "
				    "line_rate = true)");
		if (t->probe != PM_PROBE_STAMP && c->line_rate)
			cfg_key_err(e, x, cfg_tkey("type"), line,
				    "type = \"%s\" with line_rate = true: icmp and "
				    "tcp targets are servers, not reflectors; give "
				    "them a rate_pps", t->type);
		else if (t->probe != PM_PROBE_STAMP || t->max_rate_pps) {
			uint32_t lim = t->max_rate_pps ? t->max_rate_pps :
				       PM_CFG_NOREFL_MAX_PPS;

			if (t->rate_pps > lim)
				cfg_key_err(e, x, cfg_tkey("rate_pps"), line,
					    "rate_pps = %" PRIu64 " is over max_rate_pps "
					    "= %u%s", t->rate_pps, lim,
					    t->max_rate_pps ? "" :
					    " (the default for icmp and tcp targets, which "
					    "run nothing of ours: raise max_rate_pps if "
					    "their owners agree)");
		}
		if ((uint32_t)c->src_port_base + t->flows - 1 > 65535)
			cfg_key_err(e, x, cfg_tkey("flows"), line,
				    "src_port_base = %u + flows = %u runs past "
				    "port 65535", c->src_port_base, t->flows);
		pps += t->rate_pps;
		bits += (double)t->rate_pps * (t->size + CFG_WIRE_EXTRA) * 8;
	}
	cfg_check_dups(c, x, e);

	if (!c->line_rate && pps > c->budget_pps)
		cfg_key_err(e, x, cfg_pkey("budget_pps"),
			    cfg_kline(x, "budget_pps"),
			    "targets ask for %" PRIu64 " pps in total, over "
			    "budget_pps = %" PRIu64, pps, c->budget_pps);
	if (!c->line_rate && bits > (double)c->budget_mbps * 1e6)
		cfg_key_err(e, x, cfg_pkey("budget_mbps"),
			    cfg_kline(x, "budget_mbps"),
			    "targets need %.1f Mbit/s on the wire (payload + %d "
			    "bytes of headers, FCS, preamble and gap per probe), "
			    "over budget_mbps = %" PRIu64, bits / 1e6,
			    CFG_WIRE_EXTRA, c->budget_mbps);
	return e->n > n0 ? -EINVAL : 0;
}

/* ---------------------------------------------------------------------- */
/* Prober */

void
pm_prober_cfg_defaults(struct pm_prober_cfg *c)
{
	memset(c, 0, sizeof(*c));
	cfg_apply_defaults(c, prober_keys, NKEYS(prober_keys));
	cfg_apply_defaults(&c->kafka, kafka_keys, NKEYS(kafka_keys));
	cfg_apply_defaults(&c->rdma, rdma_keys, NKEYS(rdma_keys));
	if (gethostname(c->id, sizeof(c->id) - 1) < 0 || c->id[0] == '\0')
		snprintf(c->id, sizeof(c->id), "pmesh");
	c->id[sizeof(c->id) - 1] = '\0';
}

int
pm_prober_cfg_add_target(struct pm_prober_cfg *c,
			 const struct pm_target_cfg *t)
{
	struct pm_target_cfg *nt;
	uint32_t cap = 16;

	if (c->ntargets >= PM_CFG_MAX_TARGETS)
		return -E2BIG;
	/* Capacity is the next power of two: grow on crossing one. */
	while (cap < c->ntargets)
		cap <<= 1;
	if (c->targets == NULL || c->ntargets == cap) {
		if (c->targets != NULL)
			cap <<= 1;
		nt = realloc(c->targets, sizeof(*nt) * cap);
		if (nt == NULL)
			return -ENOMEM;
		c->targets = nt;
	}
	nt = &c->targets[c->ntargets++];
	*nt = *t;
	nt->port_dflt = nt->port == 0;
	if (nt->port == 0)
		nt->port = c->dst_port;
	if (nt->name[0] == '\0')
		pm_cfg_fmt_ipv4(nt->ip, nt->name);
	if (nt->type[0] == '\0')
		snprintf(nt->type, sizeof(nt->type), "stamp");
	/* A bad type is reported by the checks; probe it as STAMP meanwhile. */
	nt->probe = pm_probe_type_parse(nt->type) > 0 ?
		    (uint8_t)pm_probe_type_parse(nt->type) : PM_PROBE_STAMP;
	return 0;
}

void
pm_prober_cfg_free(struct pm_prober_cfg *c)
{
	free(c->targets);
	c->targets = NULL;
	c->ntargets = 0;
}

int
pm_prober_cfg_check(const struct pm_prober_cfg *c, const char *src,
		    struct pm_cfg_errs *e)
{
	struct cfg_ctx x;

	memset(&x, 0, sizeof(x));
	x.src = src;
	return cfg_prober_check(c, &x, e);
}

static void
cfg_read_targets(const config_setting_t *l, struct pm_prober_cfg *c,
		 const char *path, struct pm_cfg_errs *e)
{
	int len = config_setting_length(l), i;
	char where[32];

	if (config_setting_type(l) != CONFIG_TYPE_LIST) {
		pm_cfg_err(e, cfg_file(l, path), cfg_line(l),
			   "targets: expected list, got %s",
			   cfg_type_name(config_setting_type(l)));
		return;
	}
	if (len == 0) {
		pm_cfg_err(e, cfg_file(l, path), cfg_line(l),
			   "targets: list is empty (at least one target is "
			   "required)");
		return;
	}
	if (len > PM_CFG_MAX_TARGETS) {
		pm_cfg_err(e, cfg_file(l, path), cfg_line(l),
			   "targets: %d entries, at most %u", len,
			   PM_CFG_MAX_TARGETS);
		return;
	}
	for (i = 0; i < len; i++) {
		const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
		struct pm_target_cfg t;

		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			pm_cfg_err(e, cfg_file(g, path), cfg_line(g),
				   "targets[%d]: expected group, got %s", i,
				   cfg_type_name(config_setting_type(g)));
			continue;
		}
		memset(&t, 0, sizeof(t));
		cfg_apply_defaults(&t, target_keys, NKEYS(target_keys));
		t.line = cfg_line(g);
		snprintf(where, sizeof(where), "targets[%d]", i);
		cfg_read_group(g, target_keys, NKEYS(target_keys), &t, where,
			       path, e, NULL);
		if (pm_prober_cfg_add_target(c, &t) < 0) {
			pm_cfg_err(e, path, t.line, "out of memory");
			return;
		}
	}
}

int
pm_prober_cfg_load(const char *path, struct pm_prober_cfg *c,
		   struct pm_cfg_errs *e)
{
	static const char *const top[] = { "prober", "targets", "reflector",
					   "kafka", "rdma" };
	config_setting_t *g, *l;
	unsigned int n0 = e->n;
	size_t len0 = e->len;
	struct cfg_ctx x;
	config_t cf;
	int rc;

	pm_prober_cfg_defaults(c);
	rc = pm_cfg_open(&cf, path, e);
	if (rc < 0)
		return rc;
	memset(&x, 0, sizeof(x));
	x.src = path;
	x.file = true;

	/* A reflector group may share the file (one file per host); the
	 * reflector reads it. */
	cfg_check_top(&cf, top, 5, path, e);
	g = config_lookup(&cf, "kafka");
	if (g != NULL) {
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			pm_cfg_err(e, cfg_file(g, path), cfg_line(g),
				   "kafka: expected group, got %s",
				   cfg_type_name(config_setting_type(g)));
		} else {
			c->kafka.line = cfg_line(g);
			cfg_read_group(g, kafka_keys, NKEYS(kafka_keys),
				       &c->kafka, "kafka", path, e, x.kafka_line);
		}
	}
	g = config_lookup(&cf, "rdma");
	if (g != NULL) {
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			pm_cfg_err(e, cfg_file(g, path), cfg_line(g),
				   "rdma: expected group, got %s",
				   cfg_type_name(config_setting_type(g)));
		} else {
			c->rdma.line = cfg_line(g);
			cfg_read_group(g, rdma_keys, NKEYS(rdma_keys),
				       &c->rdma, "rdma", path, e, x.rdma_line);
		}
	}
	g = cfg_top_group(&cf, "prober", path, e);
	if (g != NULL) {
		x.group_line = cfg_line(g);
		cfg_read_group(g, prober_keys, NKEYS(prober_keys), c, "prober",
			       path, e, x.key_line);
	}
	/* Targets after the prober group: their port defaults to dst_port. */
	l = config_lookup(&cf, "targets");
	if (l == NULL) {
		pm_cfg_err(e, path, 0, "missing required list 'targets'");
	} else {
		x.targets_line = cfg_line(l);
		cfg_read_targets(l, c, path, e);
	}
	cfg_prober_check(c, &x, e);
	config_destroy(&cf);
	pm_cfg_errs_sort(e, len0);
	if (e->n > n0) {
		pm_prober_cfg_free(c);
		return -EINVAL;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Reflector */

void
pm_reflector_cfg_defaults(struct pm_reflector_cfg *c)
{
	memset(c, 0, sizeof(*c));
	cfg_apply_defaults(c, reflector_keys, NKEYS(reflector_keys));
	c->ports[0] = 862;
	c->nports = 1;
}

static int
cfg_reflector_check(const struct pm_reflector_cfg *c, const struct cfg_ctx *x,
		    struct pm_cfg_errs *e)
{
	const struct cfg_key *kp = cfg_find_key(reflector_keys,
						NKEYS(reflector_keys), "ports");
	const struct cfg_key *ka = cfg_find_key(reflector_keys,
						NKEYS(reflector_keys), "allow");
	int pline = x->file ? x->key_line[kp - reflector_keys] : 0;
	unsigned int n0 = e->n;
	uint32_t i, j;

	cfg_check_values(c, reflector_keys, NKEYS(reflector_keys), x, 0, e);
	if (c->nports == 0 || c->nports > PM_CFG_MAX_PORTS)
		cfg_key_err(e, x, kp, pline, "ports: %u ports, 1..%d allowed",
			    c->nports, PM_CFG_MAX_PORTS);
	for (i = 0; i < c->nports && i < PM_CFG_MAX_PORTS; i++) {
		if (c->ports[i] == 0)
			cfg_key_err(e, x, kp, pline, "port 0 is not a valid port");
		for (j = 0; j < i; j++)
			if (c->ports[j] == c->ports[i] && c->ports[i] != 0)
				cfg_key_err(e, x, kp, pline, "port %u listed twice",
					    c->ports[i]);
	}
	if (c->nallow > PM_CFG_MAX_ALLOW)
		cfg_key_err(e, x, ka, 0, "allow: %u prefixes, at most %d",
			    c->nallow, PM_CFG_MAX_ALLOW);
	for (i = 0; i < c->nallow && i < PM_CFG_MAX_ALLOW; i++) {
		const struct pm_prefix *p = &c->allow[i];
		char ipb[16];

		if ((p->addr & ~p->mask) != 0 ||
		    (p->mask != 0 && (~p->mask & (~p->mask + 1)) != 0))
			cfg_key_err(e, x, ka, 0, "allow: invalid prefix %s "
				    "mask %08x", pm_cfg_fmt_ipv4(p->addr, ipb),
				    p->mask);
	}
	return e->n > n0 ? -EINVAL : 0;
}

int
pm_reflector_cfg_check(const struct pm_reflector_cfg *c, const char *src,
		       struct pm_cfg_errs *e)
{
	struct cfg_ctx x;

	memset(&x, 0, sizeof(x));
	x.src = src;
	return cfg_reflector_check(c, &x, e);
}

int
pm_reflector_cfg_load(const char *path, struct pm_reflector_cfg *c,
		      struct pm_cfg_errs *e)
{
	static const char *const top[] = { "reflector", "prober", "targets",
					   "kafka", "rdma" };
	const struct cfg_key *kip, *kl;
	unsigned int n0 = e->n;
	size_t len0 = e->len;
	config_setting_t *g;
	struct cfg_ctx x;
	config_t cf;
	int rc;

	pm_reflector_cfg_defaults(c);
	rc = pm_cfg_open(&cf, path, e);
	if (rc < 0)
		return rc;
	memset(&x, 0, sizeof(x));
	x.src = path;
	x.file = true;
	cfg_check_top(&cf, top, 5, path, e);
	g = cfg_top_group(&cf, "reflector", path, e);
	if (g != NULL) {
		x.group_line = cfg_line(g);
		cfg_read_group(g, reflector_keys, NKEYS(reflector_keys), c,
			       "reflector", path, e, x.key_line);
		/* DPDK mode answers for one address; socket mode binds
		 * `listen` instead, so one of the two must be given. */
		kip = cfg_find_key(reflector_keys, NKEYS(reflector_keys), "ip");
		kl = cfg_find_key(reflector_keys, NKEYS(reflector_keys),
				  "listen");
		if (x.key_line[kip - reflector_keys] == 0 &&
		    x.key_line[kl - reflector_keys] == 0)
			pm_cfg_err(e, cfg_file(g, path), cfg_line(g),
				   "missing required key 'ip' in group "
				   "'reflector' (or 'listen' for socket mode)");
	}
	cfg_reflector_check(c, &x, e);
	config_destroy(&cf);
	pm_cfg_errs_sort(e, len0);
	return e->n > n0 ? -EINVAL : 0;
}
