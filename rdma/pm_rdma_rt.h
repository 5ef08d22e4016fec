/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_rdma_rt: the reflector at run time, as `pmesh-rdma reflector` and
 * `pmesh-rdma validate` start it.
 *
 * N threads, each owning M UD QPs (each with its CQ, PD, AH cache and
 * reflector state), busy-polling them round robin, pinned to one CPU each
 * (by default the RNIC's NUMA node's CPUs) with the QP buffers on that
 * node; and the UDP QPN exchange server answering with every QPN.  Start
 * and stop run on the control thread; counters are read after the threads
 * have been joined, so they need no atomics.
 */
#ifndef PM_RDMA_RT_H
#define PM_RDMA_RT_H

#include <sched.h>
#include <stdint.h>
#include <stdio.h>

#include <infiniband/verbs.h>

#include "pm_clock.h"
#include "pm_rdma_xchg.h"

/** An opened and checked RNIC port. */
struct pm_rdma_dev {
	struct ibv_context *ctx;
	char name[32];
	uint8_t port;
	uint8_t gid_index;
	uint8_t link_layer;		/**< IBV_LINK_LAYER_* */
	uint16_t lid;
	union ibv_gid gid;
	int numa_node;			/**< -1 unknown */
};

struct pm_rdma_rt_cfg {
	unsigned int nthreads;
	unsigned int qps_per_thread;	/**< nthreads * this <= XCHG_MAXQP */
	cpu_set_t cpus;			/**< threads pinned round robin */
	int pin;			/**< 0: do not pin */
	unsigned int ud_flags;		/**< PM_RDMA_UD_F_* */
	const struct pm_tclock *tsc_clk;
	uint32_t xchg_ip;		/**< host order */
	uint16_t xchg_port;		/**< 0: ephemeral */
	uint32_t nrecv, nsend;		/**< per QP; 0: 512 / 256 */
};

struct pm_rdma_rt;

/**
 * Open every QP, start the exchange server and the threads.  Returns 0, or
 * -errno with a message in @err (nothing left running).
 */
int pm_rdma_rt_start(struct pm_rdma_rt **rt, const struct pm_rdma_dev *dev,
		     const struct pm_rdma_rt_cfg *cfg, char *err,
		     size_t errlen);

/** What the exchange server advertises (QPNs, GID, boot id...). */
const struct pm_rdma_peer *pm_rdma_rt_self(const struct pm_rdma_rt *rt);
uint16_t pm_rdma_rt_xchg_port(const struct pm_rdma_rt *rt);
/** The timestamp source of the QPs ("hca"/"tsc") and, for tsc, why. */
int pm_rdma_rt_ts_src(const struct pm_rdma_rt *rt, const char **why);

/** Stop and join the threads, stop the server, print per-thread counters
 *  to @report (NULL: none), free everything. */
void pm_rdma_rt_stop(struct pm_rdma_rt *rt, FILE *report);

/**
 * Open RNIC @name (NULL: the first) and check @port and @gid_index,
 * filling @dev.  On failure prints to stderr what to check (naming device,
 * port and GID) and returns -errno: callers exit 2.
 */
int pm_rdma_dev_open(struct pm_rdma_dev *dev, const char *name, int port,
		     int gid_index);
void pm_rdma_dev_close(struct pm_rdma_dev *dev);

#endif /* PM_RDMA_RT_H */
