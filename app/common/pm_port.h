/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_port: what the prober and the reflector share on the DPDK side.
 *
 * Port bring-up with offloads masked by what dev_info offers (and a log line
 * for each one we wanted and could not get), the mbuf pool, the hardware
 * timestamp plumbing (RX timestamp dynfield + NIC clock calibrated against
 * the TSC), the TSC clock itself (calibrated against CLOCK_MONOTONIC_RAW:
 * EAL's figure is rounded), ARP resolution of next hops before the data
 * lcores start, EAL argument handling and the logging macro.  Nothing here
 * runs on the data path except the inline timestamp readers.
 */
#ifndef PM_PORT_H
#define PM_PORT_H

#include <stdint.h>

#include <rte_ethdev.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include "pm_clock.h"

extern int pm_logtype;
extern const char *pm_progname;

/* One line per event: "pmesh-<binary>: <level>: <message>". */
#define PM_LOG(lvl, fmt, ...)						\
	rte_log(RTE_LOG_ ## lvl, pm_logtype, "%s: %s: " fmt "\n",	\
		pm_progname, pm_log_level_str(RTE_LOG_ ## lvl), ##__VA_ARGS__)

const char *pm_log_level_str(uint32_t level);

/** Hardware timestamp capabilities found on a port. */
struct pm_port_ts {
	int rx_hw;		/**< RX timestamp dynfield in use */
	int tx_sched;		/**< send-on-timestamp offered */
	int dynfield_off;	/**< mbuf dynfield offset (rx_hw) */
	uint64_t dynflag;	/**< ol_flags bit that says "stamped" */
	int tx_off;		/**< mbuf dynfield offset (tx_sched) */
	uint64_t tx_flag;	/**< ol_flags bit that says "send at" */
	struct pm_tclock nic;	/**< NIC ticks -> Unix ns */
};

struct pm_port_conf {
	uint16_t port_id;
	uint16_t nb_queues;	/**< RX = TX queue pairs wanted */
	uint16_t nb_rxd;
	uint16_t nb_txd;
	uint16_t mtu;		/**< 0: leave default */
	int want_hw_ts;		/**< ask for RX timestamps / TX scheduling */
	struct rte_mempool *mp;
};

struct pm_port {
	uint16_t port_id;
	uint16_t nb_queues;	/**< granted */
	struct rte_ether_addr mac;
	char name[RTE_ETH_NAME_MAX_LEN];
	char driver[32];
	uint32_t speed_mbps;	/**< 0 when unknown */
	struct pm_port_ts ts;
};

/** Calibrated TSC (shared by every lcore; read-only after startup). */
extern struct pm_tclock pm_tsc;

/** Calibrate pm_tsc against CLOCK_MONOTONIC_RAW for @ms. */
int pm_tsc_calibrate(unsigned int ms);

/** 0 when EAL has port @port_id; else logs why and returns -ENODEV. */
int pm_port_check(uint16_t port_id);

/** Create the mbuf pool for @port_id's socket. NULL + rte_errno on error. */
struct rte_mempool *pm_mempool_create(const char *name, uint16_t port_id,
				      uint32_t nb_mbufs, uint16_t data_room);

/**
 * Configure and start a port.  Fewer queues than asked may be granted
 * (reported in @port->nb_queues).  Returns 0 or -errno with a log line
 * saying what failed.
 */
int pm_port_start(const struct pm_port_conf *conf, struct pm_port *port);
void pm_port_stop(struct pm_port *port);

/** Re-anchor the NIC clock (control thread, every few seconds). */
int pm_port_ts_refresh(struct pm_port *port);

/**
 * t4/t2 of a received mbuf in Unix ns, and its source: the NIC dynfield
 * when this mbuf carries one, else the TSC value read at rx_burst.
 */
static inline uint64_t
pm_port_rx_ns(const struct pm_port_ts *ts, const struct rte_mbuf *m,
	      uint64_t burst_tsc, uint8_t *src)
{
	if (ts->rx_hw && (m->ol_flags & ts->dynflag)) {
		*src = PM_TS_NIC;
		return pm_tclock_ns(&ts->nic,
			*RTE_MBUF_DYNFIELD(m, ts->dynfield_off, uint64_t *));
	}
	*src = PM_TS_TSC;
	return pm_tclock_ns(&pm_tsc, burst_tsc);
}

/** Time to schedule a probe ahead of now when the NIC sends on timestamp. */
#define PM_TX_SCHED_LEAD_NS	20000

/** Unix ns -> NIC ticks (send-on-timestamp); per burst, not per packet. */
static inline uint64_t
pm_port_nic_ticks(const struct pm_port_ts *ts, uint64_t ns)
{
	return ns >= ts->nic.base_ns ?
	       ts->nic.base_ticks + pm_tclock_ticks(&ts->nic, ns - ts->nic.base_ns) :
	       ts->nic.base_ticks - pm_tclock_ticks(&ts->nic, ts->nic.base_ns - ns);
}

/**
 * Resolve @ips[n] (host order) to MACs by ARP on queue 0 of a started port
 * whose lcores are not yet running: requests every 200 ms until all answer
 * or @timeout_ms passes.  @ok[i] says which resolved.  Returns how many.
 */
unsigned int pm_arp_resolve(struct pm_port *port, struct rte_mempool *mp,
			    uint32_t src_ip, const uint32_t *ips,
			    struct rte_ether_addr *macs, uint8_t *ok,
			    unsigned int n, unsigned int timeout_ms);

/** Index of the first "--" in argv, or -1. */
int pm_argv_split(int argc, char **argv);

#endif /* PM_PORT_H */
