/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hwts_check: does a port give pmesh hardware timestamps, and does the
 * arithmetic hold on it?
 *
 * Starts EAL with the arguments given (a real NIC: -a 0000:3b:00.0; here a
 * virtual PMD), brings every port up through pm_port_start() asking for RX
 * timestamps and send-on-timestamp, and for each port that grants them checks
 * what the prober relies on: the RX timestamp dynfield registered, the NIC
 * clock read and calibrated against the TSC at a plausible rate, and Unix ns
 * -> NIC ticks -> Unix ns round-tripping within a tick.  When no port offers
 * RTE_ETH_RX_OFFLOAD_TIMESTAMP it exits 77 (meson's skip) saying so: the
 * virtual PMDs of a CI machine never do.
 */
#include <stdio.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>

#include "pm_port.h"

int
main(int argc, char **argv)
{
	struct rte_mempool *mp;
	struct pm_port_conf pc;
	struct pm_port port;
	unsigned int nports = 0, hw = 0, bad = 0;
	uint64_t ns, back, ticks;
	uint16_t pid;

	pm_progname = "hwts_check";
	if (rte_eal_init(argc, argv) < 0) {
		fprintf(stderr, "hwts_check: EAL init failed\n");
		return 1;
	}
	if (pm_tsc_calibrate(100) != 0)
		return 1;
	mp = pm_mempool_create("hwts", 0, 2047, RTE_MBUF_DEFAULT_DATAROOM);
	if (mp == NULL)
		return 1;
	RTE_ETH_FOREACH_DEV(pid) {
		struct rte_eth_dev_info info;

		nports++;
		if (rte_eth_dev_info_get(pid, &info) != 0 ||
		    !(info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TIMESTAMP)) {
			printf("port %u (%s): no RX timestamp offload\n", pid,
			       info.driver_name ? info.driver_name : "?");
			continue;
		}
		memset(&pc, 0, sizeof(pc));
		pc.port_id = pid;
		pc.nb_queues = 1;
		pc.nb_rxd = 512;
		pc.nb_txd = 512;
		pc.want_hw_ts = 1;
		pc.mp = mp;
		if (pm_port_start(&pc, &port) != 0 || !port.ts.rx_hw) {
			printf("port %u: offers RX timestamps but pmesh could not use them\n", pid);
			bad++;
			continue;
		}
		hw++;
		if (port.ts.nic.hz < 1000000 || port.ts.nic.hz > 10000000000ULL) {
			printf("port %u: NIC clock rate %lu Hz is implausible\n", pid,
			       (unsigned long)port.ts.nic.hz);
			bad++;
		}
		ns = port.ts.nic.base_ns + 123456789;
		ticks = pm_port_nic_ticks(&port.ts, ns);
		back = pm_tclock_ns(&port.ts.nic, ticks);
		if (back > ns || ns - back > 1000000000ULL / port.ts.nic.hz + 1) {
			printf("port %u: ns->ticks->ns off by %ld ns\n", pid, (long)(ns - back));
			bad++;
		}
		printf("port %u (%s): RX timestamps, NIC clock %.3f MHz, send-on-timestamp %s\n",
		       pid, port.driver, port.ts.nic.hz / 1e6, port.ts.tx_sched ? "yes" : "no");
		pm_port_stop(&port);
	}
	rte_eal_cleanup();
	if (hw == 0 && bad == 0) {
		printf("SKIP: none of the %u port(s) offers RTE_ETH_RX_OFFLOAD_TIMESTAMP "
		       "(virtual PMDs never do); run with a NIC that does, e.g. "
		       "PM_HWTS_EAL='-a 0000:3b:00.0'\n", nports);
		return 77;
	}
	return bad ? 1 : 0;
}
