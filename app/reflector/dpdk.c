/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dpdk.c: the DPDK reflector -- stateless STAMP reflection at line rate.
 *
 * Each worker lcore owns one RX/TX queue pair.  Its loop: rx_burst, t2 from
 * the NIC dynfield or the TSC read at rx_burst, then per frame: answer ARP
 * and ICMP echo for our address; turn a STAMP Session-Sender packet sent to
 * one of our ports into the Session-Reflector reply in place (same length:
 * never an amplifier), after the allowlist and a per-source token bucket;
 * count and drop everything else by cause.  t3 is read once just before
 * rte_eth_tx_burst and written into every reply of the burst, with the
 * reply's UDP checksum settled in the same update.  No locks,
 * allocation, logging or syscalls on this path; counters are per lcore and
 * read by the main lcore with relaxed loads for the stats line and the
 * /pmesh/reflector telemetry command.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_telemetry.h>

#include "pm_cfg.h"
#include "pm_port.h"
#include "pm_reflector.h"
#include "pm_wire.h"
#include "pm_wire_fast.h"	/* last: short helper names */

#define PM_RBURST	64
#define PM_TX_RETRIES	64


struct pm_rstats {
	uint64_t rx;
	uint64_t reflected;
	uint64_t tx_dropped;	/* tx queue full */
	uint64_t tx_retried;	/* bursts that needed a retry */
	uint64_t denied;	/* not in the allowlist */
	uint64_t ratelimited;
	uint64_t arp_out;
	uint64_t icmp_out;
	uint64_t cause[PM_WIRE_CAUSE_MAX];
};

struct pm_rlcore {
	unsigned int lcore_id;
	uint16_t queue;
	struct pm_rstats st;
	struct pm_refl_rl rl;		/* per-source limit, this lcore's share */
} __rte_cache_aligned;

static struct {
	struct pm_reflector_cfg cfg;
	struct pm_port port;
	struct rte_mempool *mp;
	struct pm_rlcore *lc[RTE_MAX_LCORE];
	unsigned int nlc;
	uint16_t ee;
	uint32_t quit;
} pm_r;

#define PM_RINC(lc, f, n) \
	__atomic_store_n(&(lc)->st.f, (lc)->st.f + (n), __ATOMIC_RELAXED)

static int
pm_refl_ours(uint16_t port)
{
	uint32_t i;

	for (i = 0; i < pm_r.cfg.nports; i++)
		if (pm_r.cfg.ports[i] == port)
			return 1;
	return 0;
}

static int
pm_refl_lcore(void *arg)
{
	struct pm_rlcore *lc = arg;
	const uint16_t port_id = pm_r.port.port_id;
	struct rte_mbuf *rx[PM_RBURST], *tx[PM_RBURST], *one;
	struct pm_pkt pkts[PM_RBURST], pkt;
	uint32_t owe[PM_RBURST];	/* checksum settled with t3 */
	uint64_t t2tsc, t2ns, t2, t3, t2w, t2w_tsc, idle = 0;
	uint16_t nb, i, ntx, sent, retry;
	uint32_t sip, tip;
	uint16_t op;
	uint8_t sha[6], src;
	uint8_t *d;
	int rc;

	while (!__atomic_load_n(&pm_r.quit, __ATOMIC_RELAXED)) {
		nb = rte_eth_rx_burst(port_id, lc->queue, rx, PM_RBURST);
		if (nb == 0) {
			if (pm_r.cfg.idle_sleep_us && ++idle > 64)
				rte_delay_us_sleep(pm_r.cfg.idle_sleep_us);
			else
				rte_pause();
			continue;
		}
		idle = 0;
		/* t2: one TSC read and one conversion per burst, unless the
		 * NIC stamped a frame itself. */
		t2tsc = rte_rdtsc();
		t2ns = pm_tclock_ns(&pm_tsc, t2tsc);
		t2w_tsc = pm_wire_ptp_from_ns(t2ns);
		PM_RINC(lc, rx, nb);
		ntx = 0;
		for (i = 0; i < nb; i++) {
			d = rte_pktmbuf_mtod(rx[i], uint8_t *);
			/* Most of what arrives: a request in the common shape. */
			if (likely(pm_wire_stamp_request_fast_inline(d, rx[i]->data_len,
								     pm_r.cfg.ip, &pkt)))
				rc = PM_WIRE_OK;
			else
				rc = pm_wire_parse_flags(d, rx[i]->data_len,
							 PM_WIRE_F_NO_UDP_CSUM, &pkt);
			if (rc == PM_WIRE_ARP) {
				if (pm_wire_arp_parse(d, rx[i]->data_len, &op, &sip, &tip, sha) == 1 &&
				    op == 1 && tip == pm_r.cfg.ip) {
					pm_wire_arp_reply(d, pm_r.port.mac.addr_bytes, pm_r.cfg.ip);
					tx[ntx] = rx[i];
					pkts[ntx++].pl_len = 0;	/* not STAMP: no t3 */
					PM_RINC(lc, arp_out, 1);
					continue;
				}
			} else if (rc == PM_WIRE_ICMP && pkt.dip == pm_r.cfg.ip &&
				   pm_wire_icmp_echo_reply(d, &pkt) == 0) {
				tx[ntx] = rx[i];
				pkts[ntx++].pl_len = 0;
				PM_RINC(lc, icmp_out, 1);
				continue;
			} else if (rc == PM_WIRE_OK) {
				if (pkt.dip != pm_r.cfg.ip)
					rc = PM_WIRE_NOT_FOR_US;
				else if (!pm_refl_ours(pkt.dport))
					rc = PM_WIRE_WRONG_PORT;
				else if (!pm_refl_allowed(pm_r.cfg.allow, pm_r.cfg.nallow, pkt.sip)) {
					PM_RINC(lc, denied, 1);
					rte_pktmbuf_free(rx[i]);
					continue;
				} else if (pm_r.cfg.rate_limit_pps &&
					   !pm_refl_rl_take(&lc->rl, pkt.sip, t2ns)) {
					PM_RINC(lc, ratelimited, 1);
					rte_pktmbuf_free(rx[i]);
					continue;
				} else {
					t2w = t2w_tsc;
					if (unlikely(pm_r.port.ts.rx_hw)) {
						t2 = pm_port_rx_ns(&pm_r.port.ts, rx[i],
								   t2tsc, &src);
						if (src != PM_TS_TSC)
							t2w = pm_wire_ptp_from_ns(t2);
					}
					rc = pm_wire_stamp_reflect_owe_base(d, &pkt, t2w, pm_r.ee,
									    &owe[ntx]) ? PM_WIRE_OK :
					     pm_wire_stamp_reflect_owe(d, &pkt, t2w, pm_r.ee,
								       &owe[ntx]);
					if (rc == PM_WIRE_OK) {
						/* what pm_wire_stamp_finish() reads */
						tx[ntx] = rx[i];
						pkts[ntx].l4_off = pkt.l4_off;
						pkts[ntx].pl_off = pkt.pl_off;
						pkts[ntx++].pl_len = pkt.pl_len;
						continue;
					}
				}
			}
			PM_RINC(lc, cause[rc > 0 && rc < PM_WIRE_CAUSE_MAX ? rc : 0], 1);
			rte_pktmbuf_free(rx[i]);
		}
		if (ntx == 0)
			continue;
		/* t3: one read, as late as possible, for the whole burst. */
		t3 = pm_wire_ptp_from_ns(pm_tclock_ns(&pm_tsc, rte_rdtsc()));
		for (i = 0; i < ntx; i++)
			if (pkts[i].pl_len)
				pm_wire_stamp_finish_inline(rte_pktmbuf_mtod(tx[i], uint8_t *),
							    &pkts[i], t3, owe[i]);
		sent = rte_eth_tx_burst(port_id, lc->queue, tx, ntx);
		/* A full TX ring is usually gone in a few hundred ns: retry a
		 * little before dropping (the wait is not in t3, so it shows as
		 * network RTT; a few us at most). */
		for (retry = 0; sent < ntx && retry < PM_TX_RETRIES; retry++) {
			rte_pause();
			sent += rte_eth_tx_burst(port_id, lc->queue, tx + sent, ntx - sent);
		}
		if (retry)
			PM_RINC(lc, tx_retried, 1);
		PM_RINC(lc, reflected, sent);
		if (sent < ntx) {
			PM_RINC(lc, tx_dropped, ntx - sent);
			for (i = sent; i < ntx; i++) {
				one = tx[i];
				rte_pktmbuf_free(one);
			}
		}
	}
	return 0;
}

static void
pm_refl_sum(struct pm_rstats *s)
{
	unsigned int i, c;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < pm_r.nlc; i++) {
		const struct pm_rstats *st = &pm_r.lc[i]->st;

		s->rx += __atomic_load_n(&st->rx, __ATOMIC_RELAXED);
		s->reflected += __atomic_load_n(&st->reflected, __ATOMIC_RELAXED);
		s->tx_dropped += __atomic_load_n(&st->tx_dropped, __ATOMIC_RELAXED);
		s->tx_retried += __atomic_load_n(&st->tx_retried, __ATOMIC_RELAXED);
		s->denied += __atomic_load_n(&st->denied, __ATOMIC_RELAXED);
		s->ratelimited += __atomic_load_n(&st->ratelimited, __ATOMIC_RELAXED);
		s->arp_out += __atomic_load_n(&st->arp_out, __ATOMIC_RELAXED);
		s->icmp_out += __atomic_load_n(&st->icmp_out, __ATOMIC_RELAXED);
		for (c = 0; c < PM_WIRE_CAUSE_MAX; c++)
			s->cause[c] += __atomic_load_n(&st->cause[c], __ATOMIC_RELAXED);
	}
}

static void
pm_refl_print(FILE *out, const char *prefix)
{
	struct pm_rstats s;
	unsigned int c;

	pm_refl_sum(&s);
	fprintf(out, "%s: %srx %" PRIu64 " reflected %" PRIu64 " tx_dropped %" PRIu64
		" tx_retried %" PRIu64 " denied %" PRIu64 " ratelimited %" PRIu64 " arp %" PRIu64
		" icmp %" PRIu64, pm_progname, prefix, s.rx, s.reflected, s.tx_dropped,
		s.tx_retried, s.denied,
		s.ratelimited, s.arp_out, s.icmp_out);
	for (c = 1; c < PM_WIRE_CAUSE_MAX; c++)
		if (s.cause[c])
			fprintf(out, " rx_%s %" PRIu64, pm_wire_cause_str((int)c), s.cause[c]);
	fputc('\n', out);
}

static int
pm_refl_tel(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct pm_rstats s;
	unsigned int c;

	(void)cmd;
	(void)params;
	pm_refl_sum(&s);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "rx", s.rx);
	rte_tel_data_add_dict_u64(d, "reflected", s.reflected);
	rte_tel_data_add_dict_u64(d, "tx_dropped", s.tx_dropped);
	rte_tel_data_add_dict_u64(d, "tx_retried", s.tx_retried);
	rte_tel_data_add_dict_u64(d, "denied", s.denied);
	rte_tel_data_add_dict_u64(d, "ratelimited", s.ratelimited);
	rte_tel_data_add_dict_u64(d, "arp_out", s.arp_out);
	rte_tel_data_add_dict_u64(d, "icmp_out", s.icmp_out);
	for (c = 1; c < PM_WIRE_CAUSE_MAX; c++) {
		char nm[32];

		snprintf(nm, sizeof(nm), "rx_%s", pm_wire_cause_str((int)c));
		rte_tel_data_add_dict_u64(d, nm, s.cause[c]);
	}
	return 0;
}

static void
pm_refl_usage(FILE *out)
{
	fprintf(out,
"Usage: pmesh-reflector [EAL options] -- --ip IP [options]\n"
"       pmesh-reflector [EAL options] -- -c FILE\n"
"       pmesh-reflector --socket --listen IP:PORT [options]   (kernel sockets)\n"
"\n"
"DPDK mode answers STAMP (RFC 8762/8972, TWAMP-Light compatible) on the\n"
"given UDP ports from one lcore per queue pair, and ARP and ICMP echo for\n"
"its address; everything else is counted by cause and dropped.\n"
"  -c, --config FILE      reflector = {...} group of a libconfig file\n"
"      --check-config     check the file and flags, print every error, exit\n"
"      --ip IP            this port's IPv4 address (required)\n"
"      --port N           UDP port to serve (repeat; default 862)\n"
"      --allow PREFIX     only answer these sources (repeat; default all)\n"
"      --rate-limit PPS   per-source reply limit (default 0 = none)\n"
"      --idle-sleep-us US sleep when idle (shared hosts; default busy-poll)\n"
"      --port-id N        DPDK port index (default 0)\n"
"      --stats-ms MS      counters line on stderr every MS (default 1000, 0 = off)\n"
"      --clock-synced     declare the clock UTC-synced (S bit in replies)\n"
"Example:\n"
"  pmesh-reflector -l 0-1 --no-pci --in-memory --vdev=net_af_packet0,iface=veth1 \\\n"
"      -- --ip 10.0.0.2\n");
}

enum {
	R_OPT_IP = 256, R_OPT_PORT, R_OPT_ALLOW, R_OPT_RL, R_OPT_IDLE, R_OPT_PORT_ID,
	R_OPT_STATS, R_OPT_CHECK, R_OPT_SYNC,
};

static int
pm_refl_args(int argc, char **argv, int *check, struct pm_cfg_errs *e)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "ip", required_argument, NULL, R_OPT_IP },
		{ "port", required_argument, NULL, R_OPT_PORT },
		{ "allow", required_argument, NULL, R_OPT_ALLOW },
		{ "rate-limit", required_argument, NULL, R_OPT_RL },
		{ "idle-sleep-us", required_argument, NULL, R_OPT_IDLE },
		{ "port-id", required_argument, NULL, R_OPT_PORT_ID },
		{ "stats-ms", required_argument, NULL, R_OPT_STATS },
		{ "check-config", no_argument, NULL, R_OPT_CHECK },
		{ "clock-synced", no_argument, NULL, R_OPT_SYNC },
		{ NULL, 0, NULL, 0 },
	};
	struct pm_reflector_cfg *c = &pm_r.cfg;
	const char *file = NULL;
	int opt, ports_given = 0;
	unsigned long v;
	char *end;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1)
		if (opt == 'c')
			file = optarg;
	pm_reflector_cfg_defaults(c);
	if (file && pm_reflector_cfg_load(file, c, e) != 0)
		return -EINVAL;
	optind = 1;
	opterr = 0;	/* our own messages */
	while ((opt = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
		v = 0;
		if (optarg) {
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || *optarg == '\0')
				v = ULONG_MAX;
		}
		switch (opt) {
		case 'c':
			break;
		case 'h':
			pm_refl_usage(stdout);
			return 1;
		case R_OPT_IP:
			if (pm_cfg_parse_ipv4(optarg, &c->ip) != 0)
				pm_cfg_err(e, "--ip", 0, "'%s' is not an IPv4 address", optarg);
			break;
		case R_OPT_PORT:
			if (!ports_given)
				c->nports = 0;
			ports_given = 1;
			if (v == 0 || v > 65535)
				pm_cfg_err(e, "--port", 0, "'%s' is not a UDP port", optarg);
			else if (c->nports == PM_CFG_MAX_PORTS)
				pm_cfg_err(e, "--port", 0, "at most %d ports", PM_CFG_MAX_PORTS);
			else
				c->ports[c->nports++] = (uint16_t)v;
			break;
		case R_OPT_ALLOW:
			if (c->nallow == PM_CFG_MAX_ALLOW)
				pm_cfg_err(e, "--allow", 0, "at most %d prefixes", PM_CFG_MAX_ALLOW);
			else if (pm_cfg_parse_prefix(optarg, &c->allow[c->nallow]) != 0)
				pm_cfg_err(e, "--allow", 0, "'%s' is not a prefix (a.b.c.d/len)",
					   optarg);
			else
				c->nallow++;
			break;
		case R_OPT_RL:
			if (v > 100000000)
				pm_cfg_err(e, "--rate-limit", 0, "'%s': 0..100000000 pps", optarg);
			else
				c->rate_limit_pps = v;
			break;
		case R_OPT_IDLE:
			if (v > 1000000)
				pm_cfg_err(e, "--idle-sleep-us", 0, "'%s': 0..1000000", optarg);
			else
				c->idle_sleep_us = (uint32_t)v;
			break;
		case R_OPT_PORT_ID:
			if (v >= RTE_MAX_ETHPORTS)
				pm_cfg_err(e, "--port-id", 0, "'%s' is not a port index", optarg);
			else
				c->port_id = (uint16_t)v;
			break;
		case R_OPT_STATS:
			if (v > 3600000)
				pm_cfg_err(e, "--stats-ms", 0, "'%s': 0..3600000", optarg);
			else
				c->stats_ms = (uint32_t)v;
			break;
		case R_OPT_CHECK:
			*check = 1;
			break;
		case R_OPT_SYNC:
			c->clock_synced = 1;
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
	if (c->ip == 0 && e->n == 0)
		pm_cfg_err(e, file ? file : "--ip", 0, "the reflector's address is required");
	if (e->n == 0)
		pm_reflector_cfg_check(c, file, e);	/* NULL: errors name the flags */
	return e->n ? -EINVAL : 0;
}

static void
pm_refl_signal(int sig)
{
	(void)sig;
	__atomic_store_n(&pm_r.quit, 1, __ATOMIC_RELAXED);
}

int
pm_refl_dpdk_main(int argc, char **argv)
{
	struct pm_cfg_errs errs;
	struct pm_port_conf pc;
	struct sigaction sa;
	unsigned int lid, workers = 0, i;
	uint64_t last, now, hz;
	int split, ret, rc = 0, check = 0;

	pm_progname = "pmesh-reflector";
	split = pm_argv_split(argc, argv);
	if (split < 0) {
		fprintf(stderr, "pmesh-reflector: error: DPDK mode needs '--' before its own "
			"options (or use --socket); try: pmesh-reflector --help\n");
		return 2;
	}
	pm_cfg_errs_init(&errs);
	ret = pm_refl_args(argc - split, argv + split, &check, &errs);
	if (ret == 1)
		return 0;
	if (ret != 0) {
		fputs(errs.buf, stderr);
		fprintf(stderr, "pmesh-reflector: %u error%s; nothing started\n", errs.n,
			errs.n == 1 ? "" : "s");
		return 2;
	}
	if (check) {
		fprintf(stderr, "pmesh-reflector: configuration OK\n");
		return 0;
	}
	ret = rte_eal_init(split, argv);
	if (ret < 0) {
		fprintf(stderr, "pmesh-reflector: error: EAL init failed: %s\n",
			rte_strerror(rte_errno));
		return 1;
	}
	RTE_LCORE_FOREACH_WORKER(lid)
		workers++;
	if (workers == 0) {
		PM_LOG(ERR, "no worker lcore: give EAL at least two (e.g. -l 0-1)");
		rc = 2;
		goto out_eal;
	}
	if (pm_tsc_calibrate(200) != 0) {
		rc = 1;
		goto out_eal;
	}
	pm_r.ee = pm_wire_ee_make(pm_r.cfg.clock_synced, 1, pm_tsc.err_ns);
	if (pm_port_check(pm_r.cfg.port_id) != 0) {
		rc = 2;
		goto out_eal;
	}
	pm_r.mp = pm_mempool_create("pm_rmbufs", pm_r.cfg.port_id, pm_r.cfg.mbufs,
				    RTE_MBUF_DEFAULT_DATAROOM + 8192);
	if (pm_r.mp == NULL) {
		PM_LOG(ERR, "mbuf pool: %s", rte_strerror(rte_errno));
		rc = 1;
		goto out_eal;
	}
	memset(&pc, 0, sizeof(pc));
	pc.port_id = pm_r.cfg.port_id;
	pc.nb_queues = (uint16_t)workers;
	pc.nb_rxd = (uint16_t)pm_r.cfg.rx_desc;
	pc.nb_txd = (uint16_t)pm_r.cfg.tx_desc;
	pc.want_hw_ts = 1;
	pc.mp = pm_r.mp;
	if (pm_port_start(&pc, &pm_r.port) != 0) {
		rc = 1;
		goto out_eal;
	}
	RTE_LCORE_FOREACH_WORKER(lid) {
		if (pm_r.nlc == pm_r.port.nb_queues)
			break;
		pm_r.lc[pm_r.nlc] = rte_zmalloc_socket("pm_rlcore", sizeof(struct pm_rlcore),
						       RTE_CACHE_LINE_SIZE,
						       rte_lcore_to_socket_id(lid));
		if (pm_r.lc[pm_r.nlc] == NULL) {
			rc = 1;
			goto out_port;
		}
		pm_r.lc[pm_r.nlc]->lcore_id = lid;
		/* Replies of one source may spread over lcores (RSS): each
		 * takes an equal share of the per-source limit. */
		pm_refl_rl_init(&pm_r.lc[pm_r.nlc]->rl, pm_r.cfg.rate_limit_pps /
				(workers < pm_r.port.nb_queues ? workers : pm_r.port.nb_queues));
		pm_r.lc[pm_r.nlc]->queue = (uint16_t)pm_r.nlc;
		pm_r.nlc++;
	}
	rte_telemetry_register_cmd("/pmesh/reflector", pm_refl_tel,
				   "Reflector counters (rx, reflected, drops by cause)");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = pm_refl_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	PM_LOG(INFO, "reflecting STAMP on %u port(s) from %u lcore(s), port %u (%s, %s)",
	       pm_r.cfg.nports, pm_r.nlc, pm_r.port.port_id, pm_r.port.name,
	       pm_r.port.driver);
	for (i = 0; i < pm_r.nlc; i++)
		rte_eal_remote_launch(pm_refl_lcore, pm_r.lc[i], pm_r.lc[i]->lcore_id);
	hz = rte_get_timer_hz();
	last = rte_get_timer_cycles();
	while (!__atomic_load_n(&pm_r.quit, __ATOMIC_RELAXED)) {
		usleep(50000);
		now = rte_get_timer_cycles();
		if (pm_r.cfg.stats_ms && now - last >= hz * pm_r.cfg.stats_ms / 1000) {
			pm_refl_print(stderr, "");
			last = now;
			pm_port_ts_refresh(&pm_r.port);
		}
	}
	rte_eal_mp_wait_lcore();
	pm_refl_print(stderr, "final: ");
out_port:
	pm_port_stop(&pm_r.port);
out_eal:
	rte_eal_cleanup();
	return rc;
}
