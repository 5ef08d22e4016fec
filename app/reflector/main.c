/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pmesh-reflector: the command line in front of the two reflector engines.
 *
 * "--socket" anywhere on the line selects the kernel-socket reflector
 * (sock.c), which needs no EAL and so takes only its own options, parsed
 * here.  Anything else is the DPDK reflector (dpdk.c): EAL arguments, "--",
 * then its options, parsed there.  A few requests make sense without either
 * engine and are answered here so that they never reach the EAL (which
 * would read "-c" as a core mask): --help, --version, and
 * "--check-config -c FILE" when no "--" is present.
 *
 * Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pm_cfg.h"
#include "pm_wire.h"
#include "pm_reflector.h"

#ifndef PM_VERSION
#define PM_VERSION "unknown"
#endif

#define EXIT_USAGE	2
/* lib/cfg.c's default for reflector.listen: when "listen" still says this,
 * a file's ip/ports decide where socket mode listens. */
#define PM_REFL_LISTEN_DEFAULT	"0.0.0.0:862"

enum {
	OPT_SOCKET = 256,
	OPT_LISTEN,
	OPT_THREADS,
	OPT_ALLOW,
	OPT_RATE_LIMIT,
	OPT_CHECK_CONFIG,
	OPT_STATS_MS,
	OPT_CLOCK_SYNCED,
};

static const struct option sock_opts[] = {
	{ "socket", no_argument, NULL, OPT_SOCKET },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "allow", required_argument, NULL, OPT_ALLOW },
	{ "rate-limit", required_argument, NULL, OPT_RATE_LIMIT },
	{ "config", required_argument, NULL, 'c' },
	{ "check-config", no_argument, NULL, OPT_CHECK_CONFIG },
	{ "stats-ms", required_argument, NULL, OPT_STATS_MS },
	{ "clock-synced", no_argument, NULL, OPT_CLOCK_SYNCED },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

void
pm_refl_log(const char *level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* One write per line so lines from threads do not interleave. */
	fprintf(stderr, PM_REFL_PROG ": %s: %s\n", level, msg);
}

static void
usage(FILE *f)
{
	fprintf(f,
"Usage:\n"
"  DPDK mode (owns a NIC port; EAL arguments, then --, then ours):\n"
"    pmesh-reflector [EAL args] -- --ip IP [--port N ...] [--allow PREFIX ...]\n"
"        [--rate-limit PPS] [--idle-sleep-us US] [--port-id N] [--stats-ms MS]\n"
"    pmesh-reflector [EAL args] -- -c FILE [--check-config]\n"
"    (all DPDK-mode options: pmesh-reflector [EAL args] -- --help)\n"
"\n"
"  Socket mode (kernel UDP sockets, no EAL, any Linux server):\n"
"    pmesh-reflector --socket [--listen IP:PORT ...] [--threads N]\n"
"        [--allow PREFIX ...] [--rate-limit PPS] [--stats-ms MS]\n"
"        [--clock-synced] [-c FILE] [--check-config]\n"
"\n"
"  Without EAL arguments:\n"
"    pmesh-reflector --check-config -c FILE   check a config file, exit 0 or 2\n"
"    pmesh-reflector --help | --version\n"
"\n"
"Socket mode options:\n"
"  --socket             use kernel sockets instead of DPDK\n"
"  --listen IP:PORT     address to answer on, repeatable (default 0.0.0.0:%u)\n"
"  --threads N          worker threads sharing the load, 1..%u (default 1)\n"
"  --allow PREFIX       answer only these sources (e.g. 10.0.0.0/8), repeatable;\n"
"                       others are dropped and counted (default: everyone)\n"
"  --rate-limit PPS     per source address; excess dropped and counted (0 = off)\n"
"  --stats-ms MS        print counters to stderr every MS ms (default 1000;\n"
"                       0 = only at exit)\n"
"  --clock-synced       the system clock is UTC-synced (sets S in timestamps)\n"
"  -c, --config FILE    read the 'reflector' group of a libconfig file;\n"
"                       flags given on the line override it\n"
"  --check-config       load and check everything, start nothing; exit 0 or 2\n"
"  -h, --help           this text\n"
"  --version            print the version\n"
"\n"
"Examples:\n"
"  DPDK on a veth (AF_PACKET), answering for 10.0.0.2:\n"
"    pmesh-reflector --no-pci --vdev=net_af_packet0,iface=veth1 -- --ip 10.0.0.2\n"
"  Kernel sockets on all addresses, two threads, counters every 10 s:\n"
"    pmesh-reflector --socket --threads 2 --stats-ms 10000\n"
"  Kernel sockets for probers in 10.0.0.0/8 only, 1000 pps per source:\n"
"    pmesh-reflector --socket --listen 10.0.0.2:862 --allow 10.0.0.0/8 \\\n"
"        --rate-limit 1000\n"
"\n"
"Replies carry the request's sequence number, SSID, timestamp and TTL\n"
"(RFC 8762, stateless) and are never longer than the request.  SIGINT or\n"
"SIGTERM stops the reflector; it prints its counters and exits 0.\n"
"Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.\n",
		PM_STAMP_PORT, PM_REFL_MAX_THREADS);
}

static int
usage_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pm_refl_log("error", "%s", msg);
	fprintf(stderr, PM_REFL_PROG ": try '" PM_REFL_PROG " --help'\n");
	return EXIT_USAGE;
}

/* Whole-string unsigned decimal in [lo, hi]: 0 or -EINVAL. */
static int
parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *v)
{
	unsigned long long x;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || x < lo || x > hi)
		return -EINVAL;
	*v = x;
	return 0;
}

/* What the socket-mode command line said, before it meets the file. */
struct sock_flags {
	const char *config;
	int check;
	int clock_synced;
	int have_threads, have_rate, have_stats;
	uint64_t threads, rate, stats_ms;
	struct pm_refl_listen listen[PM_REFL_MAX_LISTEN];
	unsigned int nlisten;
	struct pm_prefix allow[PM_CFG_MAX_ALLOW];
	unsigned int nallow;
};

/* Parse argv for socket mode (and the EAL-less --check-config).  Returns -1
 * to go on, or an exit code (0 after --help/--version, 2 on errors). */
static int
sock_parse(int argc, char **argv, struct sock_flags *f)
{
	const char *bad;
	uint32_t ip;
	uint16_t port;
	int opt;

	memset(f, 0, sizeof(*f));
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":c:hV", sock_opts, NULL)) != -1) {
		switch (opt) {
		case OPT_SOCKET:
			break;
		case OPT_LISTEN:
			if (f->nlisten == PM_REFL_MAX_LISTEN)
				return usage_error("--listen: at most %u addresses",
						   PM_REFL_MAX_LISTEN);
			port = PM_STAMP_PORT;
			if (pm_cfg_parse_ipv4_port(optarg, &ip, &port) != 0 ||
			    port == 0)
				return usage_error("--listen: expected IP[:PORT], got '%s'",
						   optarg);
			f->listen[f->nlisten].ip = ip;
			f->listen[f->nlisten].port = port;
			f->nlisten++;
			break;
		case OPT_THREADS:
			if (parse_u64(optarg, 1, PM_REFL_MAX_THREADS,
				      &f->threads) != 0)
				return usage_error("--threads: expected 1..%u, got '%s'",
						   PM_REFL_MAX_THREADS, optarg);
			f->have_threads = 1;
			break;
		case OPT_ALLOW:
			if (f->nallow == PM_CFG_MAX_ALLOW)
				return usage_error("--allow: at most %u prefixes",
						   PM_CFG_MAX_ALLOW);
			if (pm_cfg_parse_prefix(optarg,
						&f->allow[f->nallow]) != 0)
				return usage_error("--allow: expected IP/LEN, got '%s'",
						   optarg);
			f->nallow++;
			break;
		case OPT_RATE_LIMIT:
			if (parse_u64(optarg, 0, PM_REFL_RL_UNIT, &f->rate) != 0)
				return usage_error("--rate-limit: expected 0..%llu pps, got '%s'",
						   PM_REFL_RL_UNIT, optarg);
			f->have_rate = 1;
			break;
		case 'c':
			f->config = optarg;
			break;
		case OPT_CHECK_CONFIG:
			f->check = 1;
			break;
		case OPT_STATS_MS:
			if (parse_u64(optarg, 0, 3600000, &f->stats_ms) != 0)
				return usage_error("--stats-ms: expected 0..3600000, got '%s'",
						   optarg);
			f->have_stats = 1;
			break;
		case OPT_CLOCK_SYNCED:
			f->clock_synced = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf(PM_REFL_PROG " " PM_VERSION "\n");
			return 0;
		case ':':
			return usage_error("%s: needs a value",
					   argv[optind - 1]);
		default:
			bad = argv[optind - 1];
			if (optopt != 0 && optopt < 256)
				return usage_error("unknown option '-%c'", optopt);
			return usage_error("unknown option '%s'", bad);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	return -1;
}

static void
print_errs(const struct pm_cfg_errs *e)
{
	const char *p = e->buf, *nl;

	/* Each diagnostic becomes its own log line. */
	while (*p != '\0') {
		nl = strchr(p, '\n');
		if (nl == NULL) {
			pm_refl_log("error", "%s", p);
			break;
		}
		pm_refl_log("error", "%.*s", (int)(nl - p), p);
		p = nl + 1;
	}
}

/*
 * The file (if any) first, then the flags over it, checked against the
 * schema's bounds; then the listen list: --listen flags, else the file's
 * "listen" when it differs from the default, else the file's ip (or any
 * address) on each of its ports.  Returns 0 or an exit code.
 */
static int
sock_build_opts(const struct sock_flags *f, struct pm_refl_sock_opts *o)
{
	struct pm_reflector_cfg *c = &o->cfg;
	struct pm_cfg_errs *e;
	uint32_t ip, i;
	uint16_t port;
	int rc = 0;

	memset(o, 0, sizeof(*o));
	e = malloc(sizeof(*e));
	if (e == NULL) {
		pm_refl_log("error", "out of memory");
		return 1;
	}
	pm_cfg_errs_init(e);
	pm_reflector_cfg_defaults(c);
	if (f->config != NULL &&
	    pm_reflector_cfg_load(f->config, c, e) != 0) {
		print_errs(e);
		rc = EXIT_USAGE;
		goto out;
	}
	if (f->have_threads)
		c->threads = (uint32_t)f->threads;
	if (f->have_rate)
		c->rate_limit_pps = f->rate;
	if (f->have_stats)
		c->stats_ms = (uint32_t)f->stats_ms;
	if (f->clock_synced)
		c->clock_synced = 1;
	if (f->nallow != 0) {
		memcpy(c->allow, f->allow, sizeof(f->allow[0]) * f->nallow);
		c->nallow = f->nallow;
	}
	/* The same bounds as the file's keys (errors name the flag). */
	if (pm_reflector_cfg_check(c, "command line", e) != 0)
		goto report;

	if (f->nlisten != 0) {
		memcpy(o->listen, f->listen, sizeof(f->listen[0]) * f->nlisten);
		o->nlisten = f->nlisten;
	} else if (strcmp(c->listen, PM_REFL_LISTEN_DEFAULT) != 0 ||
		   (c->ip == 0 && c->nports == 1 &&
		    c->ports[0] == PM_STAMP_PORT)) {
		/* An explicit "listen", or nothing said at all. */
		port = PM_STAMP_PORT;
		if (pm_cfg_parse_ipv4_port(c->listen, &ip, &port) != 0) {
			pm_cfg_err(e, f->config ? f->config : "listen", 0,
				   "listen: expected IP[:PORT], got '%s'",
				   c->listen);
		} else {
			o->listen[0].ip = ip;
			o->listen[0].port = port;
			o->nlisten = 1;
		}
	} else {
		/* A DPDK-style group (ip, ports) serves socket mode too. */
		for (i = 0; i < c->nports && i < PM_REFL_MAX_LISTEN; i++) {
			o->listen[o->nlisten].ip = c->ip;
			o->listen[o->nlisten].port = c->ports[i];
			o->nlisten++;
		}
	}
report:
	if (e->n != 0) {
		print_errs(e);
		rc = EXIT_USAGE;
	}
out:
	free(e);
	return rc;
}

/* What --check-config found: the file is good and where we would listen. */
static void
sock_print_plan(const char *config, const struct pm_refl_sock_opts *o)
{
	char line[PM_REFL_MAX_LISTEN * 24 + 1], ipbuf[16];
	size_t off = 0;
	unsigned int i;

	line[0] = '\0';
	for (i = 0; i < o->nlisten && off < sizeof(line); i++)
		off += snprintf(line + off, sizeof(line) - off, "%s%s:%u",
				i ? ", " : "",
				pm_cfg_fmt_ipv4(o->listen[i].ip, ipbuf),
				o->listen[i].port);
	pm_refl_log("info", "%s%sOK; socket mode would listen on %s "
		    "with %u thread(s)", config ? config : "",
		    config ? ": " : "options ", line, o->cfg.threads);
}

/* Socket mode, and --check-config without EAL arguments (@socket 0). */
static int
sock_cli(int argc, char **argv, int socket)
{
	struct pm_refl_sock_opts *o;
	struct sock_flags f;
	int rc;

	rc = sock_parse(argc, argv, &f);
	if (rc >= 0)
		return rc;
	if (!socket && f.config == NULL)
		return usage_error("--check-config needs -c FILE "
				   "(or --socket and its flags)");
	o = malloc(sizeof(*o));
	if (o == NULL) {
		pm_refl_log("error", "out of memory");
		return 1;
	}
	rc = sock_build_opts(&f, o);
	if (rc != 0)
		goto out;
	if (f.check) {
		sock_print_plan(f.config, o);
		rc = 0;
		goto out;
	}
	rc = pm_refl_sock_main(o);
out:
	free(o);
	return rc;
}

int
main(int argc, char **argv)
{
	int i, socket = 0, dashdash = 0, check = 0, help = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--socket") == 0)
			socket = 1;
		if (dashdash)
			continue;
		if (strcmp(argv[i], "--") == 0)
			dashdash = 1;
		else if (strcmp(argv[i], "--check-config") == 0)
			check = 1;
		else if (strcmp(argv[i], "--help") == 0 ||
			 strcmp(argv[i], "-h") == 0 ||
			 strcmp(argv[i], "--version") == 0)
			help = 1;
	}
	if (socket)
		return sock_cli(argc, argv, 1);
	if (argc == 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	/* Without "--" these are ours; with it, the DPDK side parses its
	 * own part and the EAL the rest. */
	if (!dashdash && (help || check))
		return sock_cli(argc, argv, 0);
#ifdef PM_HAVE_DPDK
	return pm_refl_dpdk_main(argc, argv);
#else
	return usage_error("built without DPDK: only --socket mode is available");
#endif
}
