/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_port.c: port bring-up, mbuf pools, TSC and NIC clocks, ARP resolution
 * before the data lcores start.  See pm_port.h for the why of each piece.
 *
 * Offloads are asked for only when dev_info offers them, and every one
 * wanted but missing is logged once at start, so a record's "tsc" source is
 * never a surprise: the log says why the NIC clock was not used.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_mempool.h>

#include "pm_clock.h"
#include "pm_port.h"
#include "pm_wire.h"

RTE_LOG_REGISTER(pm_logtype, user.pmesh, INFO);
const char *pm_progname = "pmesh";
struct pm_tclock pm_tsc;

const char *
pm_log_level_str(uint32_t level)
{
	switch (level) {
	case RTE_LOG_EMERG:
	case RTE_LOG_ALERT:
	case RTE_LOG_CRIT:
	case RTE_LOG_ERR:
		return "error";
	case RTE_LOG_WARNING:
		return "warning";
	case RTE_LOG_NOTICE:
	case RTE_LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

static uint64_t
pm_read_tsc(void)
{
	return rte_rdtsc_precise();
}

int
pm_tsc_calibrate(unsigned int ms)
{
	int ret;

	ret = pm_tclock_calibrate(&pm_tsc, pm_read_tsc, ms);
	if (ret < 0)
		return ret;
	PM_LOG(INFO, "TSC %.6f GHz (EAL says %.6f GHz), stamp error <= %" PRIu64 " ns",
	       pm_tsc.hz / 1e9, rte_get_tsc_hz() / 1e9, pm_tsc.err_ns);
	return 0;
}

int
pm_port_check(uint16_t port_id)
{
	if (rte_eth_dev_is_valid_port(port_id))
		return 0;
	PM_LOG(ERR, "port %u does not exist (%u ports found; give one with "
	       "--vdev or a PCI device to EAL, and see EAL's messages above "
	       "for a device that failed to start)", port_id,
	       rte_eth_dev_count_avail());
	return -ENODEV;
}

struct rte_mempool *
pm_mempool_create(const char *name, uint16_t port_id, uint32_t nb_mbufs,
		  uint16_t data_room)
{
	int socket = rte_eth_dev_socket_id(port_id);

	if (socket < 0)
		socket = (int)rte_socket_id();
	return rte_pktmbuf_pool_create(name, nb_mbufs, 256, 0,
				       data_room + RTE_PKTMBUF_HEADROOM, socket);
}

/*
 * Anchor the NIC clock: read it bracketed by two TSC reads and keep the
 * tightest of a few tries, so the NIC tick maps onto the TSC timeline within
 * the bracket width.
 */
static int
pm_port_nic_sample(uint16_t port_id, uint64_t *ticks, uint64_t *ns)
{
	uint64_t best = UINT64_MAX, a, b, t;
	int i, ret;

	*ticks = 0;
	*ns = 0;
	for (i = 0; i < 8; i++) {
		a = rte_rdtsc_precise();
		ret = rte_eth_read_clock(port_id, &t);
		b = rte_rdtsc_precise();
		if (ret != 0)
			return ret;
		if (b - a < best) {
			best = b - a;
			*ticks = t;
			*ns = pm_tclock_ns(&pm_tsc, a + (b - a) / 2);
		}
	}
	return 0;
}

static int
pm_port_nic_calibrate(struct pm_port *port)
{
	uint64_t t0, n0, t1, n1, hz;
	int ret;

	ret = pm_port_nic_sample(port->port_id, &t0, &n0);
	if (ret != 0)
		return ret;
	rte_delay_ms(100);
	ret = pm_port_nic_sample(port->port_id, &t1, &n1);
	if (ret != 0)
		return ret;
	hz = pm_tclock_rate_from_pairs(t0, n0, t1, n1, UINT64_MAX);
	if (hz == 0)
		return -EINVAL;
	ret = pm_tclock_init(&port->ts.nic, hz, UINT64_MAX);
	if (ret != 0)
		return ret;
	pm_tclock_anchor(&port->ts.nic, t1, n1);
	port->ts.nic.err_ns = pm_tsc.err_ns + 1000000000ULL / hz + 1;
	PM_LOG(INFO, "port %u: NIC clock %.3f MHz anchored to the TSC",
	       port->port_id, hz / 1e6);
	return 0;
}

int
pm_port_ts_refresh(struct pm_port *port)
{
	uint64_t t, ns;
	int ret;

	if (!port->ts.rx_hw && !port->ts.tx_sched)
		return 0;
	ret = pm_port_nic_sample(port->port_id, &t, &ns);
	if (ret == 0)
		pm_tclock_anchor(&port->ts.nic, t, ns);
	return ret;
}

int
pm_port_start(const struct pm_port_conf *conf, struct pm_port *port)
{
	struct rte_eth_conf econf;
	struct rte_eth_dev_info info;
	struct rte_eth_link link;
	uint16_t q, nbq, nb_rxd = conf->nb_rxd, nb_txd = conf->nb_txd;
	int ret;

	memset(port, 0, sizeof(*port));
	port->port_id = conf->port_id;
	ret = pm_port_check(conf->port_id);
	if (ret != 0)
		return ret;
	ret = rte_eth_dev_info_get(conf->port_id, &info);
	if (ret != 0) {
		PM_LOG(ERR, "port %u: dev_info: %s", conf->port_id, strerror(-ret));
		return ret;
	}
	rte_eth_dev_get_name_by_port(conf->port_id, port->name);
	snprintf(port->driver, sizeof(port->driver), "%s", info.driver_name);

	nbq = conf->nb_queues;
	if (nbq > info.max_rx_queues)
		nbq = info.max_rx_queues;
	if (nbq > info.max_tx_queues)
		nbq = info.max_tx_queues;
	if (nbq == 0)
		nbq = 1;
	if (nbq < conf->nb_queues)
		PM_LOG(WARNING, "port %u (%s): %u queue pairs wanted, %u offered",
		       conf->port_id, info.driver_name, conf->nb_queues, nbq);

	memset(&econf, 0, sizeof(econf));
	if (nbq > 1 && info.flow_type_rss_offloads & RTE_ETH_RSS_UDP) {
		econf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		econf.rx_adv_conf.rss_conf.rss_hf =
			info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP);
	}
	if (conf->want_hw_ts) {
		if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TIMESTAMP) {
			econf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_TIMESTAMP;
			port->ts.rx_hw = 1;
		} else {
			PM_LOG(INFO, "port %u (%s): no RX timestamp offload: t4/t2 from the TSC",
			       conf->port_id, info.driver_name);
		}
		if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_SEND_ON_TIMESTAMP) {
			econf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_SEND_ON_TIMESTAMP;
			port->ts.tx_sched = 1;
		} else {
			PM_LOG(INFO, "port %u (%s): no send-on-timestamp: t1 from the TSC",
			       conf->port_id, info.driver_name);
		}
	}
	if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE)
		econf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;

	ret = rte_eth_dev_configure(conf->port_id, nbq, nbq, &econf);
	if (ret != 0) {
		PM_LOG(ERR, "port %u (%s): configure %u queues: %s", conf->port_id,
		       info.driver_name, nbq, strerror(-ret));
		return ret;
	}
	ret = rte_eth_dev_adjust_nb_rx_tx_desc(conf->port_id, &nb_rxd, &nb_txd);
	if (ret != 0)
		return ret;
	if (conf->mtu != 0) {
		ret = rte_eth_dev_set_mtu(conf->port_id, conf->mtu);
		if (ret != 0)
			PM_LOG(WARNING, "port %u: MTU %u refused (%s): large probes may not fit",
			       conf->port_id, conf->mtu, strerror(-ret));
	}
	for (q = 0; q < nbq; q++) {
		ret = rte_eth_rx_queue_setup(conf->port_id, q, nb_rxd,
					     rte_eth_dev_socket_id(conf->port_id),
					     NULL, conf->mp);
		if (ret != 0) {
			PM_LOG(ERR, "port %u: rx queue %u: %s", conf->port_id, q,
			       strerror(-ret));
			return ret;
		}
		ret = rte_eth_tx_queue_setup(conf->port_id, q, nb_txd,
					     rte_eth_dev_socket_id(conf->port_id),
					     NULL);
		if (ret != 0) {
			PM_LOG(ERR, "port %u: tx queue %u: %s", conf->port_id, q,
			       strerror(-ret));
			return ret;
		}
	}
	if (port->ts.rx_hw) {
		ret = rte_mbuf_dyn_rx_timestamp_register(&port->ts.dynfield_off,
							 &port->ts.dynflag);
		if (ret != 0) {
			PM_LOG(WARNING, "port %u: timestamp dynfield: %s; using the TSC",
			       conf->port_id, rte_strerror(rte_errno));
			port->ts.rx_hw = 0;
		}
	}
	if (port->ts.tx_sched) {
		ret = rte_mbuf_dyn_tx_timestamp_register(&port->ts.tx_off,
							 &port->ts.tx_flag);
		if (ret != 0) {
			PM_LOG(WARNING, "port %u: TX timestamp dynfield: %s; t1 from the TSC",
			       conf->port_id, rte_strerror(rte_errno));
			port->ts.tx_sched = 0;
		}
	}
	ret = rte_eth_dev_start(conf->port_id);
	if (ret != 0) {
		PM_LOG(ERR, "port %u (%s): start: %s", conf->port_id, info.driver_name,
		       strerror(-ret));
		return ret;
	}
	if ((port->ts.rx_hw || port->ts.tx_sched) && pm_port_nic_calibrate(port) != 0) {
		PM_LOG(WARNING, "port %u: rte_eth_read_clock unusable: all stamps from the TSC",
		       conf->port_id);
		port->ts.rx_hw = 0;
		port->ts.tx_sched = 0;
	}
	rte_eth_macaddr_get(conf->port_id, &port->mac);
	/* Promiscuous so replies to our own MAC arrive on PMDs that filter. */
	rte_eth_promiscuous_enable(conf->port_id);
	if (rte_eth_link_get_nowait(conf->port_id, &link) == 0 && link.link_status &&
	    link.link_speed != RTE_ETH_SPEED_NUM_UNKNOWN)
		port->speed_mbps = link.link_speed;
	port->nb_queues = nbq;
	return 0;
}

/*
 * Before a port closes, drain what still arrives until the line has been
 * quiet for 50 ms (at most @max_ms): a peer's replies still in flight are
 * not left in rings being torn down (the 22.11 memif PMD can crash the
 * other side when one leaves while traffic flows).  Control path only,
 * after the lcores have returned.
 */
static void
pm_port_quiesce(struct pm_port *port, unsigned int max_ms)
{
	uint64_t hz = rte_get_timer_hz(), now, deadline, quiet_since;
	struct rte_mbuf *pkts[32];
	uint16_t q, nb, got;

	now = rte_get_timer_cycles();
	deadline = now + hz * max_ms / 1000;
	quiet_since = now;
	while ((now = rte_get_timer_cycles()) < deadline &&
	       now - quiet_since < hz / 20) {
		got = 0;
		for (q = 0; q < port->nb_queues; q++) {
			nb = rte_eth_rx_burst(port->port_id, q, pkts, RTE_DIM(pkts));
			rte_pktmbuf_free_bulk(pkts, nb);
			got += nb;
		}
		if (got)
			quiet_since = rte_get_timer_cycles();
		else
			rte_delay_us_sleep(1000);
	}
}

void
pm_port_stop(struct pm_port *port)
{
	int ret;

	if (port->nb_queues)
		pm_port_quiesce(port, 500);

	ret = rte_eth_dev_stop(port->port_id);
	if (ret != 0)
		PM_LOG(WARNING, "port %u: stop: %s", port->port_id, strerror(-ret));
	rte_eth_dev_close(port->port_id);
}

static int
pm_arp_send(struct pm_port *port, struct rte_mempool *mp, uint32_t src_ip,
	    uint32_t ip)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	int len;

	if (m == NULL)
		return -ENOMEM;
	len = pm_wire_arp_request(rte_pktmbuf_mtod(m, uint8_t *),
				  rte_pktmbuf_tailroom(m), port->mac.addr_bytes,
				  src_ip, ip);
	if (len < 0) {
		rte_pktmbuf_free(m);
		return len;
	}
	m->data_len = m->pkt_len = (uint32_t)len;
	if (rte_eth_tx_burst(port->port_id, 0, &m, 1) != 1) {
		rte_pktmbuf_free(m);
		return -ENOBUFS;
	}
	return 0;
}

unsigned int
pm_arp_resolve(struct pm_port *port, struct rte_mempool *mp, uint32_t src_ip,
	       const uint32_t *ips, struct rte_ether_addr *macs, uint8_t *ok,
	       unsigned int n, unsigned int timeout_ms)
{
	uint64_t hz = rte_get_tsc_hz(), deadline, next_req = 0, now;
	struct rte_mbuf *pkts[32];
	unsigned int got = 0, i, j, q;
	uint16_t nb, op;
	uint32_t sip, tip;
	uint8_t sha[6];

	memset(ok, 0, n);
	deadline = rte_rdtsc() + hz * timeout_ms / 1000;
	while (got < n && (now = rte_rdtsc()) < deadline) {
		if (now >= next_req) {
			/* Ask again for whoever has not answered; paced to
			 * at most ~1000 requests per round. */
			for (i = 0, j = 0; i < n && j < 1000; i++) {
				if (!ok[i] && pm_arp_send(port, mp, src_ip, ips[i]) == 0)
					j++;
			}
			next_req = now + hz / 5;
		}
		for (q = 0; q < port->nb_queues; q++) {
			nb = rte_eth_rx_burst(port->port_id, q, pkts, 32);
			for (j = 0; j < nb; j++) {
				const uint8_t *f = rte_pktmbuf_mtod(pkts[j], const uint8_t *);

				if (pm_wire_arp_parse(f, pkts[j]->data_len, &op, &sip,
						      &tip, sha) == 1 && op == 2) {
					for (i = 0; i < n; i++) {
						if (!ok[i] && ips[i] == sip) {
							memcpy(macs[i].addr_bytes, sha, 6);
							ok[i] = 1;
							got++;
						}
					}
				} else if (pm_wire_arp_parse(f, pkts[j]->data_len, &op,
							     &sip, &tip, sha) == 1 &&
					   op == 1 && tip == src_ip) {
					/* Answer the peer resolving us meanwhile. */
					pm_wire_arp_reply(rte_pktmbuf_mtod(pkts[j], uint8_t *),
							  port->mac.addr_bytes, src_ip);
					if (rte_eth_tx_burst(port->port_id, 0, &pkts[j], 1) == 1)
						continue;
				}
				rte_pktmbuf_free(pkts[j]);
			}
		}
		usleep(1000);
	}
	return got;
}

int
pm_argv_split(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0)
			return i;
	return -1;
}
