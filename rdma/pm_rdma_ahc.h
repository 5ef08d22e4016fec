/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_rdma_ahc: a reflector's cache of address handles, one per peer.
 *
 * A UD reply needs an AH for the sender.  Making one is a verb call (a
 * syscall on some providers), too slow for every packet, so the reflector
 * keeps one per peer (source GID from the GRH when there is one, else the
 * source LID).  A miss creates the AH on the data path — once per new peer,
 * counted — and a full table refuses further peers (counted) rather than
 * evicting an AH a pending reply may still use.  Owned by one thread.
 */
#ifndef PM_RDMA_AHC_H
#define PM_RDMA_AHC_H

#include <stdint.h>

#include <infiniband/verbs.h>

#include "pm_rdma_ud.h"

#define PM_RDMA_AHC_SLOTS	1024	/**< power of two */

struct pm_rdma_ahc_ent {
	uint8_t gid[16];
	uint16_t lid;
	uint8_t global;
	uint8_t used;
	struct ibv_ah *ah;
};

struct pm_rdma_ahc {
	struct ibv_pd *pd;
	uint8_t port;
	uint8_t sgid_index;		/**< our GID for replies (RoCE) */
	uint8_t tclass;			/**< traffic class of replies */
	uint8_t sl;			/**< service level of replies (IB) */
	uint32_t n;
	uint64_t created;
	uint64_t create_err;
	uint64_t full;
	struct pm_rdma_ahc_ent ent[PM_RDMA_AHC_SLOTS];
};

void pm_rdma_ahc_init(struct pm_rdma_ahc *c, struct ibv_pd *pd, uint8_t port,
		      uint8_t sgid_index, uint8_t tclass, uint8_t sl);
/** Destroy every AH. */
void pm_rdma_ahc_fini(struct pm_rdma_ahc *c);
/** The AH for @ev's sender, made on a miss; NULL if none (counted). */
struct ibv_ah *pm_rdma_ahc_get(struct pm_rdma_ahc *c,
			       const struct pm_rdma_ev *ev);
/** Same, with the signature pm_rdma_refl_init() takes (@arg: the cache). */
struct ibv_ah *pm_rdma_ahc_resolve(void *arg, const struct pm_rdma_ev *ev);

#endif /* PM_RDMA_AHC_H */
