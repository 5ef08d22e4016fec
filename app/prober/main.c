/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * main.c: pmesh-prober start-up, control loop and shutdown.
 *
 * Order matters and is chosen so that bad input costs nothing: the
 * program's own arguments (after "--") and the config file are parsed and
 * checked before EAL touches hugepages or ports; every problem is reported
 * at once and the exit code is 2.  Then: EAL, TSC calibration, port with
 * one queue pair per worker lcore, ARP for the next hops, the engine's
 * per-lcore state, the export thread and sink, telemetry, and the lcores.
 * The main lcore stays a control thread: status line, duration, signals.
 * On SIGINT/SIGTERM (or --duration) sending stops, lcores wait out the loss
 * timeout for in-flight probes, close their last window, and the export
 * thread flushes everything before the port is closed.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "pm_prober.h"
#ifdef PM_HAVE_KAFKA
#include "pm_kafka.h"
#endif

struct pm_prober pm_g;


static void
pm_usage(FILE *out)
{
	fprintf(out,
"Usage: pmesh-prober [EAL options] -- -c FILE [overrides]\n"
"       pmesh-prober [EAL options] -- --src-ip IP --target IP[:PORT] [options]\n"
"\n"
"Sends STAMP (RFC 8762/8972) probes from DPDK lcores, one RX/TX queue pair\n"
"per worker lcore, and writes one JSON line per flow and window (schema in\n"
"docs/records.md).  The main lcore only controls; give at least two lcores.\n"
"\n"
"Config file (appliances; every key in docs/config.md):\n"
"  -c, --config FILE      libconfig file with prober = {...}; targets = (...);\n"
"      --check-config     check the file and flags, print every error, exit\n"
"      --watch-config     take a new target list when FILE changes (as on SIGHUP:\n"
"                         kept targets carry on, in-flight probes and the open\n"
"                         window included; write the file whole, e.g. by rename)\n"
"\n"
"Quick mode (a person at a terminal):\n"
"      --src-ip IP        this port's IPv4 address (answers ARP for it)\n"
"      --gateway IP       next hop for all targets (resolved by ARP)\n"
"      --gateway-mac MAC  static next-hop MAC instead of ARP\n"
"                         (neither: targets are on-link, each resolved by ARP)\n"
"      --target IP[:PORT] a reflector to probe (repeat; default port 862)\n"
"      --rate PPS         probes/s per target, spread over its flows (default 10)\n"
"      --flows N          UDP source ports per target, for ECMP coverage (default 1)\n"
"      --size BYTES       STAMP payload: 44, or 48..9000 with padding TLV (default 44)\n"
"      --dscp N           DSCP of the probes, 0..63 (default 0)\n"
"      --probe TYPE       stamp (a reflector answers: network RTT, the default),\n"
"                         icmp (echo; any host) or tcp (SYN to --target IP:PORT,\n"
"                         SYN-ACK or RST back, then we reset: never half-open);\n"
"                         icmp and tcp give the raw RTT, host time included\n"
"      --max-rate PPS     ceiling per target, bursts included (default: none for\n"
"                         stamp, 100 for icmp and tcp)\n"
"\n"
"RDMA engine (STAMP over RDMA UD queue pairs to pmesh-rdma reflectors;\n"
"no DPDK port, EAL only for lcores; docs/rdma.md):\n"
"      --engine E         dpdk (default) or rdma\n"
"      --rdma-device NAME RNIC, e.g. mlx5_0 or rxe0 (default: the first one)\n"
"      --rdma-port N      RNIC port (default 1)\n"
"      --rdma-gid-index N our GID; RoCEv2: the IPv4 v2 entry of show_gids (default 0)\n"
"      --rdma-sl N        InfiniBand service level (RoCE: --dscp sets the traffic class)\n"
"      --rdma-no-hwts     TSC at poll even where the RNIC has CQE timestamps\n"
"      --rdma-xchg-port P where reflectors tell their QPNs (default 18515; a\n"
"                         --target IP:PORT overrides it); --flows N = N of our QPs\n"
"                         per target (RoCEv2 hashes the QPN into the UDP source port)\n"
"\n"
"Options for both modes (override the file):\n"
"      --duration S       stop after S seconds (default: until SIGINT/SIGTERM)\n"
"  -o, --output FILE      JSON lines appended to FILE, '-' for stdout (default -)\n"
"      --kafka HOST:PORT[,HOST:PORT...]\n"
"                         send summaries and events to Kafka instead (kafka.bootstrap)\n"
"      --kafka-encoding E binary (batches, default) or json (a line per message)\n"
"      --kafka-prop K=V   any librdkafka property, e.g. security.protocol=SASL_SSL (repeat)\n"
"      --spool-dir DIR    where records wait while the brokers are away\n"
"                         (default /var/spool/pmesh/<id>; replayed in order, also after a crash)\n"
"      --no-spool         keep records in memory only (ring drops are counted)\n"
"      --kafka-queue-ms MS how long records wait for the brokers before they spool\n"
"                         (default 5000)\n"
"      --export-ring N    records per lcore ring to the export thread (default: auto)\n"
"      --window-ms MS     summary window (default 1000)\n"
"      --timeout-ms MS    a probe unanswered this long is lost (default 1000;\n"
"                         10 with --line-rate, where in-flight slots run out)\n"
"      --budget-pps N     global ceiling on probes/s (default 1000000)\n"
"      --budget-mbps N    global ceiling on wire Mbit/s (default 1000)\n"
"      --line-rate        ignore per-target rates: as fast as the port and budget allow\n"
"      --inflight N       with --line-rate: at most N probes in flight per probe lcore\n"
"                         (default 512: more only queue up in rings and reflectors;\n"
"                         a path of RTT T at R probes/s needs R x T, so raise it\n"
"                         for long paths; 0 = no cap)\n"
"      --idle-sleep-us US sleep up to US when idle (shared hosts; default 0 = busy-poll)\n"
"      --trace-interval S path discovery: trace each flow's hops (same 5-tuple,\n"
"                         rising TTL) every S seconds and soon after it loses;\n"
"                         path records go to the sink (default 0: off)\n"
"      --trace-max-ttl N  highest TTL a trace sends (default 8)\n"
"      --loss-burst N     adaptive probing: a flow that lost probes in a window\n"
"                         is probed N times faster for the next one, within the\n"
"                         budget (flag \"burst\" in its summary; default 0: off)\n"
"      --id NAME          prober name in records (default: hostname)\n"
"      --port-id N        DPDK port index (default 0)\n"
"      --clock-synced     declare this host's clock UTC-synced (STAMP S bit, one-way delays)\n"
"      --no-status        no status line on the terminal\n"
"  -h, --help             this text\n"
"  -V, --version          print the version\n"
"\n"
"Examples:\n"
"  # one AF_PACKET port in a namespace, two reflectors, 1000 pps each over 8 flows\n"
"  pmesh-prober -l 0-1 --no-pci --in-memory --vdev=net_af_packet0,iface=veth0 -- \\\n"
"      --src-ip 10.0.0.1 --target 10.0.0.2 --target 10.0.0.3:8620 \\\n"
"      --rate 1000 --flows 8 --duration 20 --output results.json\n"
"  # servers with nothing installed: ping one, SYN another's sshd\n"
"  pmesh-prober ... -- --src-ip 10.0.0.1 --probe icmp --target 10.0.0.7\n"
"  pmesh-prober ... -- --src-ip 10.0.0.1 --probe tcp --target 10.0.0.8:22\n"
"  # the same into Kafka (topics pmesh.summaries, pmesh.events); read them back\n"
"  pmesh-prober ... -- --src-ip 10.0.0.1 --target 10.0.0.2 --kafka 127.0.0.1:9092\n"
"  pmesh-cat -b 127.0.0.1:9092 --exit-at-end\n"
"  # an RDMA fabric: two pmesh-rdma reflectors, 4 QPs each, CQE timestamps\n"
"  pmesh-prober -l 0-1 --no-pci --no-huge -m 256 -- --engine rdma \\\n"
"      --rdma-device mlx5_0 --rdma-gid-index 3 --target 10.1.0.2 --target 10.1.0.3 \\\n"
"      --rate 1000 --flows 4\n"
"  # an appliance\n"
"  pmesh-prober -l 0-3 -a 0000:3b:00.0 -- -c /etc/pmesh/prober.cfg\n"
"\n"
"Signals: SIGINT/SIGTERM stop (in-flight probes get their timeout); SIGHUP reads\n"
"  -c FILE again and applies its target list without a restart (docs/config.md).\n"
"Telemetry: dpdk-telemetry.py then /pmesh/lcores, /pmesh/targets,N.\n"
"Exit: 0 done, 1 runtime failure, 2 usage or configuration error.\n");
}

enum {
	OPT_SRC_IP = 256, OPT_GATEWAY, OPT_GATEWAY_MAC, OPT_TARGET, OPT_RATE, OPT_FLOWS,
	OPT_SIZE, OPT_DSCP, OPT_DURATION, OPT_WINDOW, OPT_TIMEOUT, OPT_BUDGET_PPS,
	OPT_BUDGET_MBPS, OPT_LINE_RATE, OPT_INFLIGHT, OPT_IDLE_SLEEP, OPT_TRACE, OPT_TRACE_TTL, OPT_LOSS_BURST, OPT_ID, OPT_PORT_ID, OPT_NO_STATUS,
	OPT_CHECK, OPT_CLOCK_SYNCED, OPT_KAFKA, OPT_KAFKA_ENC, OPT_KAFKA_PROP, OPT_SPOOL_DIR,
	OPT_NO_SPOOL, OPT_EXPORT_RING, OPT_KAFKA_QUEUE, OPT_PROBE, OPT_MAX_RATE, OPT_WATCH,
	OPT_ENGINE, OPT_RDMA_DEV, OPT_RDMA_PORT, OPT_RDMA_GID, OPT_RDMA_SL, OPT_RDMA_NO_HWTS,
	OPT_RDMA_XCHG,
};

static const struct option pm_opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "output", required_argument, NULL, 'o' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "src-ip", required_argument, NULL, OPT_SRC_IP },
	{ "gateway", required_argument, NULL, OPT_GATEWAY },
	{ "gateway-mac", required_argument, NULL, OPT_GATEWAY_MAC },
	{ "target", required_argument, NULL, OPT_TARGET },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "flows", required_argument, NULL, OPT_FLOWS },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "dscp", required_argument, NULL, OPT_DSCP },
	{ "probe", required_argument, NULL, OPT_PROBE },
	{ "watch-config", no_argument, NULL, OPT_WATCH },
	{ "max-rate", required_argument, NULL, OPT_MAX_RATE },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "window-ms", required_argument, NULL, OPT_WINDOW },
	{ "timeout-ms", required_argument, NULL, OPT_TIMEOUT },
	{ "budget-pps", required_argument, NULL, OPT_BUDGET_PPS },
	{ "budget-mbps", required_argument, NULL, OPT_BUDGET_MBPS },
	{ "line-rate", no_argument, NULL, OPT_LINE_RATE },
	{ "inflight", required_argument, NULL, OPT_INFLIGHT },
	{ "idle-sleep-us", required_argument, NULL, OPT_IDLE_SLEEP },
	{ "trace-interval", required_argument, NULL, OPT_TRACE },
	{ "trace-max-ttl", required_argument, NULL, OPT_TRACE_TTL },
	{ "loss-burst", required_argument, NULL, OPT_LOSS_BURST },
	{ "id", required_argument, NULL, OPT_ID },
	{ "port-id", required_argument, NULL, OPT_PORT_ID },
	{ "no-status", no_argument, NULL, OPT_NO_STATUS },
	{ "check-config", no_argument, NULL, OPT_CHECK },
	{ "clock-synced", no_argument, NULL, OPT_CLOCK_SYNCED },
	{ "kafka", required_argument, NULL, OPT_KAFKA },
	{ "kafka-encoding", required_argument, NULL, OPT_KAFKA_ENC },
	{ "kafka-prop", required_argument, NULL, OPT_KAFKA_PROP },
	{ "spool-dir", required_argument, NULL, OPT_SPOOL_DIR },
	{ "no-spool", no_argument, NULL, OPT_NO_SPOOL },
	{ "export-ring", required_argument, NULL, OPT_EXPORT_RING },
	{ "kafka-queue-ms", required_argument, NULL, OPT_KAFKA_QUEUE },
	{ "engine", required_argument, NULL, OPT_ENGINE },
	{ "rdma-device", required_argument, NULL, OPT_RDMA_DEV },
	{ "rdma-port", required_argument, NULL, OPT_RDMA_PORT },
	{ "rdma-gid-index", required_argument, NULL, OPT_RDMA_GID },
	{ "rdma-sl", required_argument, NULL, OPT_RDMA_SL },
	{ "rdma-no-hwts", no_argument, NULL, OPT_RDMA_NO_HWTS },
	{ "rdma-xchg-port", required_argument, NULL, OPT_RDMA_XCHG },
	{ NULL, 0, NULL, 0 },
};

struct pm_args {
	const char *config;
	int check;
	int watch;		/* --watch-config */
	unsigned int flag_targets;	/* --target given */
	int no_status;
	int argc;		/* the program's own arguments, for the digest */
	char **argv;
};

/* A flag's number: all digits, within [min, max]; else an error line. */
static int
pm_flag_u64(const char *flag, const char *s, uint64_t min, uint64_t max, uint64_t *v,
	    struct pm_cfg_errs *e)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(s, &end, 10);
	if (*s == '\0' || *s == '-' || *end != '\0' || errno != 0) {
		pm_cfg_err(e, flag, 0, "'%s' is not a number", s);
		return -EINVAL;
	}
	if (x < min || x > max) {
		pm_cfg_err(e, flag, 0, "%llu out of range [%" PRIu64 ", %" PRIu64 "]", x, min,
			   max);
		return -ERANGE;
	}
	*v = x;
	return 0;
}

/* Offer every Kafka property to librdkafka now, before EAL: a typo costs
 * nothing and is named with its line. */
static void
pm_check_kafka(const struct pm_prober_cfg *c, const char *src, struct pm_cfg_errs *e)
{
#ifdef PM_HAVE_KAFKA
	char err[4096], *line, *save = NULL;

	if (pm_kafka_check_cfg(c, src, err, sizeof(err)) == 0)
		return;
	for (line = strtok_r(err, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save))
		pm_cfg_err(e, NULL, -1, "%s", line);
#else
	(void)c;
	pm_cfg_err(e, src ? src : "--kafka", 0, "this pmesh-prober was built without "
		   "librdkafka: sink = \"kafka\" is not available");
#endif
}

/*
 * Parse the program's own arguments into @c.  Flags override the file;
 * --target adds targets that take --rate/--flows/--size/--dscp.
 * Returns 0, 1 (help/version printed), or -EINVAL with errors in @e.
 */
static int
pm_parse_args(int argc, char **argv, struct pm_prober_cfg *c, struct pm_args *a,
	      struct pm_cfg_errs *e)
{
	struct pm_target_cfg tgt[256];
	uint64_t v, rate = 10, flows = 1, size = 44, dscp = 0, max_rate = 0;
	int have_rate = 0, have_flows = 0, have_size = 0, have_dscp = 0;
	int have_probe = 0, have_max_rate = 0, probe = PM_PROBE_STAMP;
	unsigned int nt = 0, i;
	int opt, ret;
	char buf[16];

	memset(a, 0, sizeof(*a));
	a->argc = argc;
	a->argv = argv;
	/* The file first, so that flags override it whatever their order. */
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c:o:hV", pm_opts, NULL)) != -1) {
		if (opt == 'h') {
			pm_usage(stdout);
			return 1;
		}
		if (opt == 'V') {
			printf("pmesh-prober %s\n", PM_VERSION);
			return 1;
		}
		if (opt == 'c')
			a->config = optarg;
	}
	pm_prober_cfg_defaults(c);
	if (a->config != NULL) {
		ret = pm_prober_cfg_load(a->config, c, e);
		if (ret != 0)
			return -EINVAL;
	}
	optind = 1;
	opterr = 0;	/* our own messages, in file:line / --flag form */
	while ((opt = getopt_long(argc, argv, ":c:o:hV", pm_opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			break;
		case 'o':
			snprintf(c->output, sizeof(c->output), "%s", optarg);
			break;
		case OPT_SRC_IP:
			if (pm_cfg_parse_ipv4(optarg, &c->src_ip) != 0)
				pm_cfg_err(e, "--src-ip", 0, "'%s' is not an IPv4 address", optarg);
			break;
		case OPT_GATEWAY:
			if (pm_cfg_parse_ipv4(optarg, &c->gateway_ip) != 0)
				pm_cfg_err(e, "--gateway", 0, "'%s' is not an IPv4 address", optarg);
			break;
		case OPT_GATEWAY_MAC:
			if (pm_cfg_parse_mac(optarg, c->gateway_mac) != 0)
				pm_cfg_err(e, "--gateway-mac", 0, "'%s' is not a MAC address "
					   "(xx:xx:xx:xx:xx:xx)", optarg);
			else
				c->have_gateway_mac = 1;
			break;
		case OPT_TARGET:
			if (nt == RTE_DIM(tgt)) {
				pm_cfg_err(e, "--target", 0, "more than %zu targets: use a config "
					   "file", RTE_DIM(tgt));
				break;
			}
			memset(&tgt[nt], 0, sizeof(tgt[nt]));
			if (pm_cfg_parse_ipv4_port(optarg, &tgt[nt].ip, &tgt[nt].port) != 0) {
				pm_cfg_err(e, "--target", 0, "'%s' is not IP or IP:PORT", optarg);
				break;
			}
			snprintf(tgt[nt].name, sizeof(tgt[nt].name), "%s", optarg);
			nt++;
			break;
		case OPT_RATE:
			have_rate = !pm_flag_u64("--rate", optarg, 1, 100000000, &rate, e);
			break;
		case OPT_FLOWS:
			have_flows = !pm_flag_u64("--flows", optarg, 1, PM_CFG_MAX_FLOWS, &flows, e);
			break;
		case OPT_SIZE:
			have_size = !pm_flag_u64("--size", optarg, 44, PM_STAMP_MAX_PAYLOAD, &size, e);
			break;
		case OPT_DSCP:
			have_dscp = !pm_flag_u64("--dscp", optarg, 0, 63, &dscp, e);
			break;
		case OPT_PROBE:
			probe = pm_probe_type_parse(optarg);
			if (probe < 0 || optarg[0] == '\0') {
				pm_cfg_err(e, "--probe", 0, "'%s' is not a probe type "
					   "(stamp, icmp, tcp)", optarg);
				probe = PM_PROBE_STAMP;
			} else {
				have_probe = 1;
			}
			break;
		case OPT_WATCH:
			a->watch = 1;
			break;
		case OPT_MAX_RATE:
			have_max_rate = !pm_flag_u64("--max-rate", optarg, 1, 100000000,
						     &max_rate, e);
			break;
		case OPT_DURATION:
			if (pm_flag_u64("--duration", optarg, 1, 100000000, &v, e) == 0)
				c->duration_s = (uint32_t)v;
			break;
		case OPT_WINDOW:
			if (pm_flag_u64("--window-ms", optarg, 10, 3600000, &v, e) == 0)
				c->window_ms = (uint32_t)v;
			break;
		case OPT_TIMEOUT:
			if (pm_flag_u64("--timeout-ms", optarg, 1, 60000, &v, e) == 0)
				c->timeout_ms = (uint32_t)v;
			break;
		case OPT_BUDGET_PPS:
			if (pm_flag_u64("--budget-pps", optarg, 1, 1000000000, &v, e) == 0)
				c->budget_pps = v;
			break;
		case OPT_BUDGET_MBPS:
			if (pm_flag_u64("--budget-mbps", optarg, 1, 1000000, &v, e) == 0)
				c->budget_mbps = v;
			break;
		case OPT_LINE_RATE:
			c->line_rate = 1;
			break;
		case OPT_INFLIGHT:
			if (pm_flag_u64("--inflight", optarg, 0, 1048576, &v, e) == 0)
				c->inflight_max = (uint32_t)v;
			break;
		case OPT_IDLE_SLEEP:
			if (pm_flag_u64("--idle-sleep-us", optarg, 0, 1000000, &v, e) == 0)
				c->idle_sleep_us = (uint32_t)v;
			break;
		case OPT_TRACE:
			if (pm_flag_u64("--trace-interval", optarg, 0, 86400, &v, e) == 0)
				c->trace_interval_s = (uint32_t)v;
			break;
		case OPT_TRACE_TTL:
			if (pm_flag_u64("--trace-max-ttl", optarg, 1, 31, &v, e) == 0)
				c->trace_max_ttl = (uint32_t)v;
			break;
		case OPT_LOSS_BURST:
			if (pm_flag_u64("--loss-burst", optarg, 0, 100, &v, e) == 0)
				c->loss_burst = (uint32_t)v;
			break;
		case OPT_ID:
			snprintf(c->id, sizeof(c->id), "%s", optarg);
			break;
		case OPT_PORT_ID:
			if (pm_flag_u64("--port-id", optarg, 0, RTE_MAX_ETHPORTS - 1, &v, e) == 0)
				c->port_id = (uint16_t)v;
			break;
		case OPT_NO_STATUS:
			a->no_status = 1;
			break;
		case OPT_CHECK:
			a->check = 1;
			break;
		case OPT_CLOCK_SYNCED:
			c->clock_synced = 1;
			break;
		case OPT_KAFKA:
			snprintf(c->sink, sizeof(c->sink), "kafka");
			if (strlen(optarg) >= sizeof(c->kafka.bootstrap))
				pm_cfg_err(e, "--kafka", 0, "too long");
			else
				snprintf(c->kafka.bootstrap, sizeof(c->kafka.bootstrap), "%s",
					 optarg);
			break;
		case OPT_KAFKA_ENC:
			snprintf(c->kafka.encoding, sizeof(c->kafka.encoding), "%.15s", optarg);
			break;
		case OPT_KAFKA_PROP: {
			char why[256];

			if (pm_kafka_cfg_add_prop(&c->kafka, optarg, 0, why, sizeof(why)) < 0)
				pm_cfg_err(e, "--kafka-prop", 0, "%s", why);
			break;
		}
		case OPT_SPOOL_DIR:
			if (strlen(optarg) >= sizeof(c->kafka.spool_dir))
				pm_cfg_err(e, "--spool-dir", 0, "too long");
			else
				snprintf(c->kafka.spool_dir, sizeof(c->kafka.spool_dir), "%s",
					 optarg);
			break;
		case OPT_NO_SPOOL:
			c->kafka.spool = 0;
			break;
		case OPT_KAFKA_QUEUE:
			if (pm_flag_u64("--kafka-queue-ms", optarg, 100, 3600000, &v, e) == 0)
				c->kafka.queue_ms = (uint32_t)v;
			break;
		case OPT_ENGINE:
			if (strcmp(optarg, "dpdk") != 0 && strcmp(optarg, "rdma") != 0)
				pm_cfg_err(e, "--engine", 0, "'%s' is not an engine (dpdk, rdma)",
					   optarg);
			else
				snprintf(c->engine, sizeof(c->engine), "%s", optarg);
			break;
		case OPT_RDMA_DEV:
			if (strlen(optarg) >= sizeof(c->rdma.device))
				pm_cfg_err(e, "--rdma-device", 0, "too long");
			else
				snprintf(c->rdma.device, sizeof(c->rdma.device), "%s", optarg);
			break;
		case OPT_RDMA_PORT:
			if (pm_flag_u64("--rdma-port", optarg, 1, 255, &v, e) == 0)
				c->rdma.port = (uint32_t)v;
			break;
		case OPT_RDMA_GID:
			if (pm_flag_u64("--rdma-gid-index", optarg, 0, 255, &v, e) == 0)
				c->rdma.gid_index = (uint32_t)v;
			break;
		case OPT_RDMA_SL:
			if (pm_flag_u64("--rdma-sl", optarg, 0, 15, &v, e) == 0)
				c->rdma.sl = (uint32_t)v;
			break;
		case OPT_RDMA_NO_HWTS:
			c->rdma.hw_timestamps = 0;
			break;
		case OPT_RDMA_XCHG:
			if (pm_flag_u64("--rdma-xchg-port", optarg, 1, 65535, &v, e) == 0)
				c->rdma.xchg_port = (uint16_t)v;
			break;
		case OPT_EXPORT_RING:
			if (pm_flag_u64("--export-ring", optarg, 0, 1048576, &v, e) == 0)
				c->export_ring = (uint32_t)v;
			break;
		case ':':
			pm_cfg_err(e, argv[optind - 1], 0, "needs a value (see --help)");
			break;
		default:
			pm_cfg_err(e, argv[optind - 1], 0, "unknown option (see --help)");
			break;
		}
	}
	if (optind < argc)
		pm_cfg_err(e, argv[optind], 0, "unexpected argument (see --help)");
	for (i = 0; i < nt; i++) {
		tgt[i].rate_pps = rate;
		tgt[i].flows = (uint16_t)flows;
		tgt[i].size = (uint16_t)size;
		tgt[i].dscp = (uint8_t)dscp;
		snprintf(tgt[i].type, sizeof(tgt[i].type), "%s", pm_probe_type_str(probe));
		tgt[i].max_rate_pps = (uint32_t)max_rate;
		if (pm_prober_cfg_add_target(c, &tgt[i]) != 0)
			pm_cfg_err(e, "--target", 0, "cannot add target %s",
				   pm_cfg_fmt_ipv4(tgt[i].ip, buf));
	}
	a->flag_targets = nt;
	if (a->watch && a->config == NULL)
		pm_cfg_err(e, "--watch-config", 0, "watches the -c FILE: give one");
	if (nt == 0 && (have_rate || have_flows || have_size || have_dscp || have_probe ||
			have_max_rate))
		pm_cfg_err(e, "--rate/--flows/--size/--dscp/--probe/--max-rate", 0,
			   "apply to --target entries; give at least one --target");
	if (c->ntargets == 0 && e->n == 0)
		pm_cfg_err(e, a->config ? a->config : "--target", 0,
			   "no targets: give --target IP or a targets list in -c FILE");
	if (e->n == 0)
		pm_prober_cfg_check(c, a->config, e);	/* NULL: errors name the flags */
	if (e->n == 0 && strcmp(c->sink, "kafka") == 0)
		pm_check_kafka(c, a->config, e);
	return e->n ? -EINVAL : 0;
}

/* The sink's log lines go where the prober's go. */
static void
pm_sink_log(int level, const char *msg)
{
	uint32_t lvl = level <= 3 ? RTE_LOG_ERR : level == 4 ? RTE_LOG_WARNING :
		       RTE_LOG_INFO;

	rte_log(lvl, pm_logtype, "%s: %s: %s\n", pm_progname, pm_log_level_str(lvl), msg);
}

/* 64-bit FNV-1a over the config file's bytes and the arguments: the same
 * digest means the same configuration. */
static uint64_t
pm_config_digest(const char *path, int argc, char **argv)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	unsigned char buf[4096];
	size_t n, k;
	FILE *f;
	int i;

	if (path != NULL && (f = fopen(path, "rb")) != NULL) {
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			for (k = 0; k < n; k++)
				h = (h ^ buf[k]) * 0x100000001b3ULL;
		fclose(f);
	}
	for (i = 0; i < argc; i++) {
		for (k = 0; argv[i][k] != '\0'; k++)
			h = (h ^ (unsigned char)argv[i][k]) * 0x100000001b3ULL;
		h = (h ^ 0) * 0x100000001b3ULL;	/* argument boundary */
	}
	return h;
}

/* Event "start": what runs, on which config (its digest). */
static void
pm_event_started(struct pm_prober *p, const struct pm_args *a)
{
	struct pm_event ev;
	char buf[1024];
	uint64_t flows = 0;
	uint32_t t;

	for (t = 0; t < p->cfg.ntargets; t++)
		flows += p->cfg.targets[t].flows;
	pm_event_begin(&ev, buf, sizeof(buf), &p->sink, "start");
	pm_event_add_str(&ev, "version", PM_VERSION);
	p->config_digest = pm_config_digest(a->config, a->argc, a->argv);
	pm_event_add(&ev, ",\"config_digest\":\"fnv1a64:%016" PRIx64 "\"",
		     p->config_digest);
	if (a->config != NULL)
		pm_event_add_str(&ev, "config", a->config);
	pm_event_add(&ev, ",\"targets\":%u,\"flows\":%" PRIu64 ",\"lcores\":%u,"
		     "\"window_ms\":%u,\"timeout_ms\":%u", p->cfg.ntargets, flows, p->nlc,
		     p->cfg.window_ms, p->cfg.timeout_ms);
	pm_event_add_str(&ev, "sink", p->cfg.sink);
	if (strcmp(p->cfg.sink, "kafka") == 0)
		pm_event_add_str(&ev, "encoding", p->cfg.kafka.encoding);
	pm_event_add_str(&ev, "engine", p->rdma ? "rdma" : "dpdk");
	if (p->ts_name != NULL) {
		pm_event_add_str(&ev, "ts_tx", p->ts_name);
		pm_event_add_str(&ev, "ts_rx", p->ts_name);
	} else {
		pm_event_add_str(&ev, "ts_tx", p->port.ts.tx_sched ? "nic_sched" : "tsc");
		pm_event_add_str(&ev, "ts_rx", p->port.ts.rx_hw ? "nic" : "tsc");
	}
	pm_sink_event(&p->sink, &ev);
}

static void
pm_on_signal(int sig)
{
	if (sig == SIGHUP)
		__atomic_store_n(&pm_g.reload, 1, __ATOMIC_RELAXED);
	else
		__atomic_store_n(&pm_g.quit, 1, __ATOMIC_RELAXED);
}

/* The config file's identity: changes when it is rewritten or replaced. */
static uint64_t
pm_file_stamp(const char *path)
{
	struct stat st;

	if (path == NULL || stat(path, &st) != 0)
		return 0;
	return (uint64_t)st.st_mtim.tv_sec * 1000000000ULL + (uint64_t)st.st_mtim.tv_nsec +
	       (uint64_t)st.st_size * 31 + (uint64_t)st.st_ino * 131;
}

/* SIGHUP or a changed file (--watch-config): apply the file's targets. */
static void
pm_maybe_reload(struct pm_prober *p, const struct pm_args *a, uint64_t *stamp)
{
	uint64_t now_stamp;
	int asked = __atomic_exchange_n(&p->reload, 0, __ATOMIC_RELAXED);

	if (!asked && a->watch) {
		now_stamp = pm_file_stamp(a->config);
		if (now_stamp == *stamp || now_stamp == 0)
			return;
		*stamp = now_stamp;
		asked = 1;
	}
	if (!asked)
		return;
	if (a->config == NULL) {
		PM_LOG(WARNING, "SIGHUP: started without -c FILE: no target list to read "
		       "again");
		return;
	}
	if (a->flag_targets) {
		PM_LOG(WARNING, "SIGHUP: targets were given with --target: reload takes "
		       "the target list from %s alone; restart instead", a->config);
		return;
	}
	if (a->watch)
		*stamp = pm_file_stamp(a->config);
	pm_reload(p, a->config);
}

/* Next hops: the gateway (ARP or static MAC), or every target on-link. */
static int
pm_resolve(struct pm_prober *p)
{
	uint32_t n = p->cfg.ntargets, i, nips, got;
	struct rte_ether_addr *macs;
	uint32_t *ips;
	uint8_t *ok;
	char b1[16];

	if (p->cfg.have_gateway_mac) {
		for (i = 0; i < n; i++) {
			memcpy(p->trt[i].mac.addr_bytes, p->cfg.gateway_mac, 6);
			p->trt[i].resolved = 1;
		}
		return 0;
	}
	nips = p->cfg.gateway_ip ? 1 : n;
	ips = calloc(nips, sizeof(*ips));
	macs = calloc(nips, sizeof(*macs));
	ok = calloc(nips, 1);
	if (ips == NULL || macs == NULL || ok == NULL) {
		free(ips);
		free(macs);
		free(ok);
		return -ENOMEM;
	}
	for (i = 0; i < nips; i++)
		ips[i] = p->cfg.gateway_ip ? p->cfg.gateway_ip : p->cfg.targets[i].ip;
	got = pm_arp_resolve(&p->port, p->mp, p->cfg.src_ip, ips, macs, ok, nips, 3000);
	for (i = 0; i < n; i++) {
		uint32_t k = p->cfg.gateway_ip ? 0 : i;

		p->trt[i].resolved = ok[k];
		p->trt[i].mac = macs[k];
	}
	if (got < nips) {
		if (p->cfg.gateway_ip)
			PM_LOG(ERR, "gateway %s did not answer ARP within 3 s",
			       pm_cfg_fmt_ipv4(p->cfg.gateway_ip, b1));
		else
			for (i = 0; i < nips; i++)
				if (!ok[i])
					PM_LOG(WARNING, "target %s did not answer ARP within 3 s: "
					       "not probed", pm_cfg_fmt_ipv4(ips[i], b1));
	}
	free(ips);
	free(macs);
	free(ok);
	return got == 0 ? -EHOSTUNREACH : 0;
}

/*
 * Wait for the lcores to drain and close their last windows.  They need the
 * loss timeout; if one takes much longer, say which and keep waiting (a
 * stuck lcore must be visible, not a silent hang).
 */
static void
pm_wait_lcores(struct pm_prober *p)
{
	uint64_t start = pm_clock_monoraw_ns(), limit;
	unsigned int i, done, warned = 0;

	limit = (uint64_t)p->cfg.timeout_ms * 1000000ULL + 5000000000ULL;
	for (;;) {
		for (i = 0, done = 0; i < p->nlc; i++)
			done += __atomic_load_n(&p->lc[i]->done, __ATOMIC_ACQUIRE);
		if (done == p->nlc)
			break;
		if (!warned && pm_clock_monoraw_ns() - start > limit) {
			for (i = 0; i < p->nlc; i++)
				if (!__atomic_load_n(&p->lc[i]->done, __ATOMIC_ACQUIRE))
					PM_LOG(WARNING, "lcore %u has not finished %u ms after "
					       "stop (tx %" PRIu64 " rx %" PRIu64 "); still waiting",
					       p->lc[i]->lcore_id, p->cfg.timeout_ms + 5000,
					       pm_ld(&p->lc[i]->st.tx_pkts),
					       pm_ld(&p->lc[i]->st.rx_pkts));
			warned = 1;
		}
		usleep(10000);
	}
	rte_eal_mp_wait_lcore();
}

int
main(int argc, char **argv)
{
	struct pm_prober *p = &pm_g;
	struct pm_cfg_errs errs;
	struct pm_args a;
	struct pm_port_conf pc;
	struct sigaction sa;
	uint64_t start, last_status, now, max_frame = 0, last_watch = 0, file_stamp = 0;
	unsigned int lid, workers = 0, i, data_room;
	int split, ret, rc = 0, tty;
	char host[64];

	pm_progname = "pmesh-prober";
	split = pm_argv_split(argc, argv);
	for (i = 1; i < (unsigned int)argc; i++) {
		/* --help/--version work without EAL, anywhere on the line. */
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			pm_usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("pmesh-prober %s\n", PM_VERSION);
			return 0;
		}
	}
	pm_cfg_errs_init(&errs);
	if (split < 0) {
		fprintf(stderr, "pmesh-prober: error: no '--' before the prober's own options; "
			"try: pmesh-prober [EAL options] -- --help\n");
		return 2;
	}
	ret = pm_parse_args(argc - split, argv + split, &p->cfg, &a, &errs);
	if (ret == 1)
		return 0;
	if (ret != 0) {
		fputs(errs.buf, stderr);
		fprintf(stderr, "pmesh-prober: %u error%s; nothing started\n", errs.n,
			errs.n == 1 ? "" : "s");
		return 2;
	}
	if (p->cfg.timeout_ms == 0)
		p->cfg.timeout_ms = p->cfg.line_rate ? 10 : 1000;
	if (a.check) {
		fprintf(stderr, "pmesh-prober: configuration OK: %u targets\n", p->cfg.ntargets);
		return 0;
	}
	if (p->cfg.id[0] == '\0') {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "pmesh");
		host[sizeof(host) - 1] = '\0';
		snprintf(p->cfg.id, sizeof(p->cfg.id), "%s", host);
	}
	p->prober_id = pm_record_id_hash(p->cfg.id);

	ret = rte_eal_init(split, argv);
	if (ret < 0) {
		fprintf(stderr, "pmesh-prober: error: EAL init failed: %s (EAL options come "
			"before '--'; see docs/config.md for the ones that work without "
			"hugepages)\n", rte_strerror(rte_errno));
		return 1;
	}
	RTE_LCORE_FOREACH_WORKER(lid)
		workers++;
	if (workers == 0) {
		PM_LOG(ERR, "no worker lcore: give EAL at least two (e.g. -l 0-1); the main "
		       "lcore only controls");
		rc = 2;
		goto out_eal;
	}
	if (workers > PM_MAX_LCORES)
		workers = PM_MAX_LCORES;
	ret = pm_tsc_calibrate(200);
	if (ret != 0) {
		PM_LOG(ERR, "TSC calibration failed: %s", strerror(-ret));
		rc = 1;
		goto out_eal;
	}
	p->timeout_ticks = pm_tclock_ticks(&pm_tsc, (uint64_t)p->cfg.timeout_ms * 1000000ULL);
	p->timeout_ns = (uint64_t)p->cfg.timeout_ms * 1000000ULL;
	p->stall_ticks = pm_tclock_ticks(&pm_tsc, PM_STALL_NS);
	p->stall_hold_ticks = pm_tclock_ticks(&pm_tsc, PM_STALL_HOLD_NS);
	p->sched_lead_ticks = pm_tclock_ticks(&pm_tsc, PM_TX_SCHED_LEAD_NS);
	p->probe_ee = pm_wire_ee_make(p->cfg.clock_synced, 1, pm_tsc.err_ns);
	p->rdma = strcmp(p->cfg.engine, "rdma") == 0;
	if (p->rdma) {
#ifdef PM_HAVE_RDMA
		/* No DPDK port: the lcores drive RDMA queue pairs. */
		p->nlc = (uint16_t)workers;
		p->trt = calloc(p->cfg.ntargets ? p->cfg.ntargets : 1, sizeof(*p->trt));
		p->tgone = calloc(p->cfg.ntargets ? p->cfg.ntargets : 1, 1);
		if (p->trt == NULL || p->tgone == NULL) {
			rc = 1;
			goto out_eal;
		}
		p->engine = &pm_engine_rdma;
		ret = p->engine->init(p);
		if (ret != 0) {
			/* Device, port or GID wrong: configuration (exit 2). */
			rc = ret == -ENODEV || ret == -ENETDOWN || ret == -EINVAL ? 2 : 1;
			goto out_engine;
		}
		goto engine_ready;
#else
		PM_LOG(ERR, "this pmesh-prober was built without rdma-core (libibverbs-dev): "
		       "engine = \"rdma\" is not available");
		rc = 2;
		goto out_eal;
#endif
	}
	for (i = 0; i < p->cfg.ntargets; i++)
		if (p->cfg.targets[i].size > max_frame)
			max_frame = p->cfg.targets[i].size;
	max_frame += PM_PROBE_HDRS_LEN;
	data_room = RTE_MAX((unsigned int)RTE_MBUF_DEFAULT_DATAROOM,
			    (unsigned int)max_frame + 64);
	if (pm_port_check(p->cfg.port_id) != 0) {
		rc = 2;
		goto out_eal;
	}
	p->mp = pm_mempool_create("pm_mbufs", p->cfg.port_id, p->cfg.mbufs,
				  (uint16_t)data_room);
	if (p->mp == NULL) {
		PM_LOG(ERR, "mbuf pool of %u: %s (give EAL more memory: -m or hugepages)",
		       p->cfg.mbufs, rte_strerror(rte_errno));
		rc = 1;
		goto out_eal;
	}
	memset(&pc, 0, sizeof(pc));
	pc.port_id = p->cfg.port_id;
	pc.nb_queues = (uint16_t)workers;
	pc.nb_rxd = (uint16_t)p->cfg.rx_desc;
	pc.nb_txd = (uint16_t)p->cfg.tx_desc;
	pc.mtu = max_frame > RTE_ETHER_MAX_LEN - RTE_ETHER_CRC_LEN ?
		 (uint16_t)(max_frame - RTE_ETHER_HDR_LEN) : 0;
	pc.want_hw_ts = 1;
	pc.mp = p->mp;
	ret = pm_port_start(&pc, &p->port);
	if (ret != 0) {
		rc = 1;
		goto out_eal;
	}
	p->nlc = p->port.nb_queues < workers ? p->port.nb_queues : (uint16_t)workers;
	for (p->sport_stride = 1; p->sport_stride < p->nlc; p->sport_stride <<= 1)
		;
	p->trt = calloc(p->cfg.ntargets, sizeof(*p->trt));
	p->tgone = calloc(p->cfg.ntargets ? p->cfg.ntargets : 1, 1);
	if (p->trt == NULL || p->tgone == NULL) {
		rc = 1;
		goto out_port;
	}
	ret = pm_resolve(p);
	if (ret != 0) {
		PM_LOG(ERR, "no next hop resolved: nothing to probe (check --src-ip, "
		       "--gateway and that the port is cabled to the right network)");
		rc = 1;
		goto out_port;
	}
	p->engine = &pm_engine_stamp;
	ret = p->engine->init(p);
	if (ret != 0) {
		rc = 1;
		goto out_port;
	}
#ifdef PM_HAVE_RDMA
engine_ready:
#endif
	p->sink.ops = pm_sink_find(p->cfg.sink);
#ifdef PM_HAVE_KAFKA
	if (strcmp(p->cfg.sink, "kafka") == 0)
		p->sink.ops = &pm_sink_kafka;
#endif
	if (p->sink.ops == NULL) {
		PM_LOG(ERR, "unknown sink '%s'", p->cfg.sink);
		rc = 2;
		goto out_engine;
	}
	p->sink.prober_name = p->cfg.id;
	p->sink.prober_id = p->prober_id;
	p->sink.cfg = &p->cfg;
	p->sink.cfg_src = a.config;
	p->sink.log = pm_sink_log;
	ret = p->sink.ops->open(&p->sink, p->cfg.output);
	if (ret != 0) {
		if (p->sink.err[0] != '\0')
			PM_LOG(ERR, "%s", p->sink.err);
		else
			PM_LOG(ERR, "cannot open output '%s': %s", p->cfg.output,
			       strerror(-ret));
		rc = 1;
		goto out_engine;
	}
	pm_event_started(p, &a);
	ret = pm_export_start(p);
	if (ret != 0) {
		rc = 1;
		goto out_sink;
	}
	if (pm_telemetry_register() != 0)
		PM_LOG(WARNING, "telemetry commands not registered");

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = pm_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	file_stamp = pm_file_stamp(a.config);

	if (p->rdma)
		PM_LOG(INFO, "%s: %u targets, %u probe lcores on RDMA, window %u ms, "
		       "timeout %u ms", p->cfg.id, p->cfg.ntargets, p->nlc,
		       p->cfg.window_ms, p->cfg.timeout_ms);
	else
		PM_LOG(INFO, "%s: %u targets, %u probe lcores on port %u (%s, %s), window "
		       "%u ms, timeout %u ms", p->cfg.id, p->cfg.ntargets, p->nlc,
		       p->port.port_id, p->port.name, p->port.driver, p->cfg.window_ms,
		       p->cfg.timeout_ms);
	for (i = 0; i < p->nlc; i++)
		rte_eal_remote_launch(p->engine->lcore_main, p->lc[i], p->lc[i]->lcore_id);

	tty = !a.no_status && isatty(STDERR_FILENO);
	/* Control-loop time from the kernel's clock: independent of the TSC
	 * arithmetic it supervises. */
	start = last_status = pm_clock_monoraw_ns();
	while (!__atomic_load_n(&p->quit, __ATOMIC_RELAXED)) {
		usleep(50000);
		now = pm_clock_monoraw_ns();
		if (now - last_status >= (uint64_t)p->cfg.status_ms * 1000000ULL) {
			pm_status_tick(p, (double)(now - last_status) / 1e9, tty);
			last_status = now;
			if (!p->rdma)
				pm_port_ts_refresh(&p->port);
		}
		if (p->cfg.duration_s && now - start >= p->cfg.duration_s * 1000000000ULL)
			__atomic_store_n(&p->quit, 1, __ATOMIC_RELAXED);
		if (now - last_watch >= 1000000000ULL || __atomic_load_n(&p->reload,
									__ATOMIC_RELAXED)) {
			last_watch = now;
			pm_maybe_reload(p, &a, &file_stamp);
		}
	}
	if (tty)
		fputc('\n', stderr);
	PM_LOG(INFO, "stopping: waiting %u ms for probes in flight", p->cfg.timeout_ms);
	pm_wait_lcores(p);
	pm_export_stop(p);
	pm_export_print_table(p, stderr);
	pm_status_final(p, stderr);
	pm_status_sink(p, stderr);
	if (p->export_failed || p->sink.failed)
		PM_LOG(WARNING, "%" PRIu64 " summaries could not be written", p->sink.failed);
	for (i = 0; i < p->nlc; i++)
		if (p->lc[i]->st.summaries_dropped)
			PM_LOG(WARNING, "lcore %u: %" PRIu64 " summaries dropped (export ring full)",
			       p->lc[i]->lcore_id, p->lc[i]->st.summaries_dropped);
out_sink:
	p->sink.ops->close(&p->sink);
out_engine:
	p->engine->fini(p);
out_port:
	if (!p->rdma)
		pm_port_stop(&p->port);
out_eal:
	rte_eal_cleanup();
	free(p->trt);
	free(p->tgone);
	pm_reload_free(p);
	free(p->tot);
	free(p->tot_ent);
	pm_prober_cfg_free(&p->cfg);
	return rc;
}
