/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pmesh-rdma: front end of the RDMA verbs engine.
 *
 * This file parses the command line, opens and checks the RNIC (device by
 * name, port state, GID index; bad input is exit 2 with a message naming
 * the device/port/GID and what to check) and runs a mode: `list`;
 * `reflector` (N pinned busy-polling threads of M UD QPs each and the UDP
 * QPN exchange server, until SIGINT/SIGTERM, then per-thread counters);
 * `validate` (rdma/validate.c).  `prober` checks the device and prints the
 * pmesh-prober --engine rdma command for it (exit 2): the prober with
 * windows, records and sinks is app/prober/engine_rdma.c.  Never yet run
 * on RDMA hardware; see docs/rdma.md.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "pm_clock.h"
#include "pm_rdma_numa.h"
#include "pm_rdma_rt.h"
#include "pm_rdma_ud.h"
#include "pm_rdma_val.h"
#include "pm_rdma_xchg.h"

#define PM_RDMA_EXIT_USAGE	2

static atomic_int pm_rdma_quit;

static void
on_signal(int sig)
{
	(void)sig;
	atomic_store_explicit(&pm_rdma_quit, 1, memory_order_relaxed);
}

static void
usage(FILE *f)
{
	fprintf(f,
"Usage: pmesh-rdma MODE [options]\n"
"Probe an RDMA fabric (RoCEv2 or InfiniBand) over UD queue pairs.\n"
"\n"
"Modes:\n"
"  list                 list RDMA devices, ports, link layers and GIDs\n"
"  prober               prints the pmesh-prober --engine rdma command for this\n"
"                       device (the prober with records and sinks)\n"
"  reflector            answer probes until Ctrl-C on THREADS x QPS UD QPs;\n"
"                       the QPNs are served over UDP (--xchg) to probers\n"
"  validate             all-to-all among RNICs: local reflector + probes to\n"
"                       every peer, a per-pair table, exit 1 on a miss\n"
"\n"
"Options:\n"
"  -d, --device NAME    RNIC (default: the first one), e.g. mlx5_0, rxe0\n"
"  -p, --port N         port number (default 1)\n"
"  -g, --gid-index N    GID index (RoCEv2 needs one; default 0)\n"
"      --threads N      reflector threads (default 1)\n"
"      --qps-per-thread M  UD QPs per reflector thread (default 1; N x M <= 64)\n"
"      --xchg IP[:PORT] QPN exchange server address (default 0.0.0.0:18515)\n"
"      --cpus LIST      pin threads to these CPUs, e.g. 2-5,8 (default: the\n"
"                       RNIC's NUMA node's CPUs; 'none' to not pin)\n"
"      --no-hwts        TSC stamps even where the HCA stamps completions\n"
"  -h, --help           this text\n"
"      --version\n"
"\n"
"Validate options:\n"
"      --peer IP[:PORT] a peer's exchange address (repeatable)\n"
"      --peers FILE     peers, one IP[:PORT] a line, # comments\n"
"      --duration S     seconds of probing (default 10)\n"
"      --rate PPS       probes a second to each peer (default 1000)\n"
"      --max-loss PCT   fail a pair losing more (default 1)\n"
"      --max-p99-us US  fail a pair whose network RTT p99 exceeds this\n"
"                       (default 200)\n"
"      --timeout-ms MS  a probe without reply after this is lost (default 1000)\n"
"      --wait S         keep asking a silent peer for its QPNs (default 10)\n"
"\n"
"Examples:\n"
"  pmesh-rdma list\n"
"  pmesh-rdma reflector -d mlx5_0 -g 3 --threads 2 --qps-per-thread 4\n"
"  pmesh-rdma validate -d mlx5_0 -g 3 --peers hosts.txt --duration 30\n"
"\n"
"Exit: 0 ok, 1 runtime failure or (validate) a pair missed a threshold,\n"
"2 usage or configuration (device, port, GID, peers).\n");
}

static int
list_devices(void)
{
	struct ibv_device **list;
	int i, n = 0;

	list = ibv_get_device_list(&n);
	if (list == NULL || n == 0) {
		fprintf(stderr, "pmesh-rdma: error: no RDMA device found "
			"(ibverbs sees none; /dev/infiniband %s); load the "
			"RNIC driver or add Soft-RoCE: rdma link add rxe0 "
			"type rxe netdev IF\n",
			access("/dev/infiniband", F_OK) == 0 ? "exists" :
			"is missing");
		if (list != NULL)
			ibv_free_device_list(list);
		return PM_RDMA_EXIT_USAGE;
	}
	for (i = 0; i < n; i++) {
		struct ibv_context *ctx = ibv_open_device(list[i]);
		struct ibv_device_attr da;
		const char *name = ibv_get_device_name(list[i]);
		uint8_t p;

		if (ctx == NULL || ibv_query_device(ctx, &da) != 0) {
			printf("%s: cannot open (%s)\n", name, strerror(errno));
			if (ctx != NULL)
				ibv_close_device(ctx);
			continue;
		}
		for (p = 1; p <= da.phys_port_cnt; p++) {
			struct ibv_port_attr pa;

			if (ibv_query_port(ctx, p, &pa) != 0)
				continue;
			printf("%s port %u: %s, %s, %d GIDs, numa node %d\n",
			       name, p, ibv_port_state_str(pa.state),
			       pa.link_layer == IBV_LINK_LAYER_ETHERNET ?
			       "RoCE" : "InfiniBand", pa.gid_tbl_len,
			       pm_rdma_numa_dev_node(NULL, name));
		}
		ibv_close_device(ctx);
	}
	ibv_free_device_list(list);
	return 0;
}

struct pm_rdma_args {
	const char *device;
	int port;
	int gid_index;
	unsigned int threads;
	unsigned int qps;
	const char *xchg;
	const char *cpus;
	int no_hwts;
	struct pm_rdma_val_cfg *val;
	const char *peers_file[8];
	unsigned int npeers_file;
};

enum {
	OPT_THREADS = 256,
	OPT_QPS,
	OPT_XCHG,
	OPT_CPUS,
	OPT_NO_HWTS,
	OPT_PEER,
	OPT_PEERS,
	OPT_DURATION,
	OPT_RATE,
	OPT_MAX_LOSS,
	OPT_MAX_P99,
	OPT_TIMEOUT,
	OPT_WAIT,
	OPT_VERSION,
};

static const struct option pm_rdma_opts[] = {
	{ "device", required_argument, NULL, 'd' },
	{ "port", required_argument, NULL, 'p' },
	{ "gid-index", required_argument, NULL, 'g' },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "qps-per-thread", required_argument, NULL, OPT_QPS },
	{ "xchg", required_argument, NULL, OPT_XCHG },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "no-hwts", no_argument, NULL, OPT_NO_HWTS },
	{ "peer", required_argument, NULL, OPT_PEER },
	{ "peers", required_argument, NULL, OPT_PEERS },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "max-loss", required_argument, NULL, OPT_MAX_LOSS },
	{ "max-p99-us", required_argument, NULL, OPT_MAX_P99 },
	{ "timeout-ms", required_argument, NULL, OPT_TIMEOUT },
	{ "wait", required_argument, NULL, OPT_WAIT },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static const char *
opt_name(int c)
{
	const struct option *o;

	for (o = pm_rdma_opts; o->name != NULL; o++)
		if (o->val == c)
			return o->name;
	return "?";
}

/* Integer option in [lo, hi]; -1 after reporting. */
static int
num_opt(int c, const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < lo || v > hi) {
		fprintf(stderr, "pmesh-rdma: error: bad number '%s' for --%s "
			"(%ld..%ld)\n", s, opt_name(c), lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

static int
real_opt(int c, const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || end == s || !(v >= lo && v <= hi)) {
		fprintf(stderr, "pmesh-rdma: error: bad number '%s' for --%s "
			"(%g..%g)\n", s, opt_name(c), lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

/*
 * Options up to the first non-option (@stop) or all of them.  Returns 0,
 * 1 after --help/--version (already printed) or -1 on a usage error
 * (already reported).
 */
static int
parse_opts(int argc, char **argv, int stop, struct pm_rdma_args *a)
{
	struct pm_rdma_val_cfg *v = a->val;
	long n;
	int c;

	while ((c = getopt_long(argc, argv, stop ? "+d:p:g:h" : "d:p:g:h",
				pm_rdma_opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			a->device = optarg;
			break;
		case 'p':
			if (num_opt(c, optarg, 0, 255, &n) != 0)
				return -1;
			a->port = (int)n;
			break;
		case 'g':
			if (num_opt(c, optarg, 0, 65535, &n) != 0)
				return -1;
			a->gid_index = (int)n;
			break;
		case OPT_THREADS:
			if (num_opt(c, optarg, 1, PM_RDMA_XCHG_MAXQP, &n) != 0)
				return -1;
			a->threads = (unsigned int)n;
			break;
		case OPT_QPS:
			if (num_opt(c, optarg, 1, PM_RDMA_XCHG_MAXQP, &n) != 0)
				return -1;
			a->qps = (unsigned int)n;
			break;
		case OPT_XCHG:
			a->xchg = optarg;
			break;
		case OPT_CPUS:
			a->cpus = optarg;
			break;
		case OPT_NO_HWTS:
			a->no_hwts = 1;
			break;
		case OPT_PEER:
			if (v->npeers == PM_RDMA_VAL_MAXPEERS) {
				fprintf(stderr, "pmesh-rdma: error: more than "
					"%d peers\n", PM_RDMA_VAL_MAXPEERS);
				return -1;
			}
			if (pm_rdma_xchg_parse_addr(optarg, PM_RDMA_XCHG_PORT,
						    &v->peer[v->npeers].ip,
						    &v->peer[v->npeers].port)
			    != 0) {
				fprintf(stderr, "pmesh-rdma: error: bad --peer "
					"'%s' (want IPv4[:PORT])\n", optarg);
				return -1;
			}
			v->npeers++;
			break;
		case OPT_PEERS:
			if (a->npeers_file == 8) {
				fprintf(stderr, "pmesh-rdma: error: more than "
					"8 --peers files\n");
				return -1;
			}
			a->peers_file[a->npeers_file++] = optarg;
			break;
		case OPT_DURATION:
			if (real_opt(c, optarg, 0.1, 86400, &v->duration_s) != 0)
				return -1;
			break;
		case OPT_RATE:
			if (num_opt(c, optarg, 1, 1000000, &n) != 0)
				return -1;
			v->rate_pps = (uint32_t)n;
			break;
		case OPT_MAX_LOSS:
			if (real_opt(c, optarg, 0, 100, &v->max_loss_pct) != 0)
				return -1;
			break;
		case OPT_MAX_P99:
			if (real_opt(c, optarg, 0, 1e9, &v->max_p99_us) != 0)
				return -1;
			break;
		case OPT_TIMEOUT:
			if (num_opt(c, optarg, 1, 60000, &n) != 0)
				return -1;
			v->timeout_ms = (uint32_t)n;
			break;
		case OPT_WAIT:
			if (num_opt(c, optarg, 0, 3600, &n) != 0)
				return -1;
			v->wait_s = (uint32_t)n;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case OPT_VERSION:
			printf("pmesh-rdma %s\n", PM_VERSION);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	return 0;
}

/*
 * Reflector configuration from the arguments and the device: thread
 * placement (--cpus, else the RNIC's node, else this process's CPUs),
 * exchange address.  -1 after reporting a usage error.
 */
static int
rt_config(const struct pm_rdma_args *a, const struct pm_rdma_dev *dev,
	  const struct pm_tclock *clk, struct pm_rdma_rt_cfg *rc)
{
	const char *from;

	memset(rc, 0, sizeof(*rc));
	rc->nthreads = a->threads;
	rc->qps_per_thread = a->qps;
	rc->ud_flags = a->no_hwts ? PM_RDMA_UD_F_NO_HWTS : 0;
	rc->tsc_clk = clk;
	if (a->threads * a->qps > PM_RDMA_XCHG_MAXQP) {
		fprintf(stderr, "pmesh-rdma: error: --threads x "
			"--qps-per-thread is %u, at most %d QPs are served\n",
			a->threads * a->qps, PM_RDMA_XCHG_MAXQP);
		return -1;
	}
	if (pm_rdma_xchg_parse_addr(a->xchg != NULL ? a->xchg : "0.0.0.0",
				    PM_RDMA_XCHG_PORT, &rc->xchg_ip,
				    &rc->xchg_port) != 0) {
		fprintf(stderr, "pmesh-rdma: error: bad --xchg '%s' (want "
			"IPv4[:PORT])\n", a->xchg);
		return -1;
	}
	rc->pin = 1;
	if (a->cpus != NULL && strcmp(a->cpus, "none") == 0) {
		rc->pin = 0;
		from = "not pinned";
	} else if (a->cpus != NULL) {
		if (pm_rdma_cpulist_parse(a->cpus, &rc->cpus) <= 0) {
			fprintf(stderr, "pmesh-rdma: error: bad --cpus '%s' "
				"(want a list like 2-5,8)\n", a->cpus);
			return -1;
		}
		from = "--cpus";
	} else if (dev->numa_node >= 0 &&
		   pm_rdma_numa_node_cpus(NULL, dev->numa_node,
					  &rc->cpus) > 0) {
		from = "the RNIC's NUMA node";
	} else {
		if (sched_getaffinity(0, sizeof(rc->cpus), &rc->cpus) != 0)
			rc->pin = 0;
		from = "this process's CPUs (RNIC NUMA node unknown)";
	}
	if (rc->pin && (unsigned int)CPU_COUNT(&rc->cpus) < a->threads)
		fprintf(stderr, "pmesh-rdma: warning: %u busy-polling threads "
			"on %d CPUs (%s)\n", a->threads, CPU_COUNT(&rc->cpus),
			from);
	fprintf(stderr, "pmesh-rdma: %s port %u numa node %d: threads %u x "
		"qps %u, cpus from %s\n", dev->name, dev->port,
		dev->numa_node, a->threads, a->qps, from);
	return 0;
}

static void
catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* Reflector mode: until SIGINT/SIGTERM.  Returns the exit code. */
static int
run_reflector(const struct pm_rdma_dev *dev, const struct pm_rdma_rt_cfg *rc)
{
	const struct pm_rdma_peer *self;
	struct pm_rdma_rt *rt;
	const char *why;
	char err[256];
	unsigned int i;
	int ret;

	catch_signals();
	ret = pm_rdma_rt_start(&rt, dev, rc, err, sizeof(err));
	if (ret != 0) {
		fprintf(stderr, "pmesh-rdma: error: %s\n", err);
		return ret == -EADDRINUSE || ret == -EINVAL ?
		       PM_RDMA_EXIT_USAGE : 1;
	}
	self = pm_rdma_rt_self(rt);
	printf("pmesh-rdma reflector: device %s port %u gid_index %u xchg "
	       "udp %u qkey 0x%08x ts %s qpn", dev->name, dev->port,
	       dev->gid_index, pm_rdma_rt_xchg_port(rt), PM_RDMA_QKEY,
	       pm_ts_src_str(pm_rdma_rt_ts_src(rt, &why)));
	for (i = 0; i < self->nqpn; i++)
		printf("%c%u", i == 0 ? ' ' : ',', self->qpn[i]);
	printf("\n");
	if (why != NULL)
		printf("pmesh-rdma reflector: tsc stamps: %s\n", why);
	fflush(stdout);
	while (!atomic_load_explicit(&pm_rdma_quit, memory_order_relaxed))
		usleep(50000);
	pm_rdma_rt_stop(rt, stderr);
	return 0;
}

int
main(int argc, char **argv)
{
	struct pm_rdma_args a = {
		.port = 1,
		.threads = 1,
		.qps = 1,
	};
	struct pm_rdma_val_cfg *v;
	struct pm_rdma_rt_cfg rc;
	struct pm_rdma_dev dev;
	struct pm_tclock clk;
	const char *mode;
	unsigned int i;
	int ret;

	v = calloc(1, sizeof(*v));
	if (v == NULL)
		return 1;
	v->duration_s = 10;
	v->rate_pps = 1000;
	v->max_loss_pct = 1;
	v->max_p99_us = 200;
	v->timeout_ms = 1000;
	v->wait_s = 10;
	v->quit = &pm_rdma_quit;
	a.val = v;
	/* The mode may come before, after or among the options. */
	ret = parse_opts(argc, argv, 1, &a);
	if (ret != 0)
		goto out_args;
	if (optind >= argc) {
		usage(stderr);
		ret = -1;
		goto out_args;
	}
	mode = argv[optind++];
	if (strcmp(mode, "list") != 0 && strcmp(mode, "prober") != 0 &&
	    strcmp(mode, "reflector") != 0 && strcmp(mode, "validate") != 0) {
		fprintf(stderr, "pmesh-rdma: error: unknown mode '%s'\n", mode);
		ret = -1;
		goto out_args;
	}
	ret = parse_opts(argc, argv, 0, &a);
	if (ret != 0)
		goto out_args;
	if (optind < argc) {
		fprintf(stderr, "pmesh-rdma: error: unexpected argument '%s'\n",
			argv[optind]);
		ret = -1;
		goto out_args;
	}
	for (i = 0; i < a.npeers_file; i++) {
		if (pm_rdma_val_read_peers(v, a.peers_file[i],
					   PM_RDMA_XCHG_PORT) != 0) {
			ret = -1;
			goto out_args;
		}
	}
	if (strcmp(mode, "list") == 0) {
		free(v);
		return list_devices();
	}
	if (pm_rdma_dev_open(&dev, a.device, a.port, a.gid_index) != 0) {
		free(v);
		return PM_RDMA_EXIT_USAGE;
	}
	if (strcmp(mode, "validate") == 0 && v->npeers == 0) {
		fprintf(stderr, "pmesh-rdma: error: validate needs peers: "
			"--peer IP[:PORT] or --peers FILE\n");
		ret = PM_RDMA_EXIT_USAGE;
		goto out_dev;
	}
	if (strcmp(mode, "prober") == 0) {
		/* The prober is pmesh-prober's rdma engine (windows, records,
		 * sinks); say how to run it on this device. */
		fprintf(stderr, "pmesh-rdma: error: probing with records is "
			"pmesh-prober's rdma engine (device check passed), e.g.:\n"
			"  pmesh-prober -l 0-1 --no-pci --no-huge -m 256 -- --engine rdma "
			"--rdma-device %s --rdma-port %u --rdma-gid-index %u "
			"--target REFLECTOR_IP --rate 1000 --flows 4\n"
			"or a quick all-to-all check: pmesh-rdma validate --peer IP ...\n",
			dev.name, dev.port, dev.gid_index);
		ret = PM_RDMA_EXIT_USAGE;
		goto out_dev;
	}
	ret = pm_tclock_calibrate(&clk, pm_rdma_tsc, 100);
	if (ret != 0) {
		fprintf(stderr, "pmesh-rdma: error: TSC calibration: %s\n",
			strerror(-ret));
		ret = 1;
		goto out_dev;
	}
	if (rt_config(&a, &dev, &clk, &rc) != 0) {
		ret = PM_RDMA_EXIT_USAGE;
		goto out_dev;
	}
	if (strcmp(mode, "reflector") == 0) {
		ret = run_reflector(&dev, &rc);
	} else {
		catch_signals();
		ret = pm_rdma_validate(&dev, &rc, v);
	}
out_dev:
	pm_rdma_dev_close(&dev);
	free(v);
	return ret;

out_args:
	free(v);
	return ret < 0 ? PM_RDMA_EXIT_USAGE : 0;
}
