/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_rdma_val: fabric validation mode (`pmesh-rdma validate`).
 *
 * Every host runs the same command: it starts a local reflector and QPN
 * exchange server, asks every peer for its QPNs, probes every peer from
 * one prober thread at a fixed rate for a fixed time (round robin over the
 * peer's QPs), matches replies and follow-ups, and prints one row per
 * peer: sent, received, loss, network RTT p50/p99/max and the timestamp
 * source.  A row that misses a threshold fails the run.
 */
#ifndef PM_RDMA_VAL_H
#define PM_RDMA_VAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "pm_rdma_rt.h"

#define PM_RDMA_VAL_MAXPEERS	256

struct pm_rdma_val_peer_addr {
	uint32_t ip;			/**< host order */
	uint16_t port;
};

struct pm_rdma_val_cfg {
	unsigned int npeers;
	struct pm_rdma_val_peer_addr peer[PM_RDMA_VAL_MAXPEERS];
	double duration_s;
	uint32_t rate_pps;		/**< per peer */
	double max_loss_pct;
	double max_p99_us;
	uint32_t timeout_ms;		/**< a probe is lost after this */
	uint32_t wait_s;		/**< keep asking silent peers this long */
	atomic_int *quit;		/**< set by a signal: stop early */
};

/**
 * Read peers ("IP[:PORT]" a line, # comments) from @path and append them
 * to @cfg.  0, or -errno with a message on stderr naming the line.
 */
int pm_rdma_val_read_peers(struct pm_rdma_val_cfg *cfg, const char *path,
			   uint16_t dflt_port);

/**
 * Run validation on @dev with a local reflector configured by @rcfg.
 * Returns the exit code: 0 every pair passed, 1 a pair missed a threshold
 * (or a peer never answered), 2 bad input.
 */
int pm_rdma_validate(const struct pm_rdma_dev *dev,
		     const struct pm_rdma_rt_cfg *rcfg,
		     const struct pm_rdma_val_cfg *vcfg);

#endif /* PM_RDMA_VAL_H */
