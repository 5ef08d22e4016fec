/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_rdma_refl: the reflector's per-thread logic on one UD QP.
 *
 * A probe is answered at once with a reply carrying t2 (its receive
 * completion) to the sender's QPN; when the reply's send completion comes
 * back, its time is t3 and a follow-up carrying t3 goes to the same peer.
 * Between the two, the peer (AH, QPN) and the message wait in a fixed
 * pending table indexed by the reply's wr_id.  t2 and t3 are the events'
 * ts_ns (HCA completion stamps where the QP has them, else the TSC at
 * poll; see pm_rdma_ud.h).  Address handles come from a
 * caller-supplied resolver (a per-peer cache in the engine; a fake in
 * tests).  One thread owns a reflector; no allocation, no logging.
 */
#ifndef PM_RDMA_REFL_H
#define PM_RDMA_REFL_H

#include <stdint.h>

#include "pm_rdma_ud.h"

#define PM_RDMA_REFL_PENDING	256	/**< replies awaiting t3 */

struct pm_rdma_refl_stats {
	uint64_t probes;
	uint64_t replies;		/**< reply posted */
	uint64_t followups;		/**< follow-up posted */
	uint64_t no_t3;			/**< reply failed: no follow-up */
	uint64_t no_ah;			/**< resolver gave no AH */
	uint64_t pending_full;		/**< probe dropped: table full */
	uint64_t send_err;		/**< reply or follow-up not posted */
	uint64_t unexpected;		/**< reply/follow-up sent to us */
};

struct pm_rdma_refl_pend {
	struct ibv_ah *ah;
	uint32_t qpn;
	uint8_t used;
	struct pm_rdma_msg msg;
};

struct pm_rdma_refl {
	struct pm_rdma_ud *ud;
	struct ibv_ah *(*ah_of)(void *arg, const struct pm_rdma_ev *ev);
	void *ah_arg;
	uint32_t r_seq;
	uint32_t pend_next;
	struct pm_rdma_refl_pend pend[PM_RDMA_REFL_PENDING];
	struct pm_rdma_refl_stats st;
};

/** Set up @r on an open @ud. */
void pm_rdma_refl_init(struct pm_rdma_refl *r, struct pm_rdma_ud *ud,
		       struct ibv_ah *(*ah_of)(void *, const struct pm_rdma_ev *),
		       void *ah_arg);

/** One poll of the QP and everything it leads to; returns events handled. */
unsigned int pm_rdma_refl_poll(struct pm_rdma_refl *r);

#endif /* PM_RDMA_REFL_H */
