/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_rdma_fu: matching reflector follow-ups (t3) to replies, R-Pingmesh
 * style.
 *
 * The reflector knows t3 (its send completion) only after the reply has
 * left, so it sends t3 in a second message.  A prober slot therefore
 * completes from two halves that may arrive in either order: the reply
 * (t1, t2, t4 known) and the follow-up (t3).  A slot whose other half does
 * not come within the timeout is completed without t3 — never invented —
 * and the record says so.  Fixed table indexed by sequence number, owned
 * by one thread, no allocation after init.
 */
#ifndef PM_RDMA_FU_H
#define PM_RDMA_FU_H

#include <stdint.h>

#define PM_RDMA_FU_REPLY	0x1
#define PM_RDMA_FU_T3		0x2

struct pm_rdma_fu_ent {
	uint64_t seq;
	uint64_t t1, t2, t3, t4;	/**< ns, see pm_rdma_fu_done */
	uint64_t deadline_ns;
	uint32_t flow;
	uint8_t state;			/**< PM_RDMA_FU_* bits; 0 = free */
};

/** A completed probe. Times in ns on each side's own clock. */
struct pm_rdma_fu_done {
	uint64_t seq;
	uint32_t flow;
	uint8_t has_t3;			/**< 0: follow-up missing, t3 unset */
	uint64_t t1;			/**< prober send completion */
	uint64_t t2;			/**< reflector receive completion */
	uint64_t t3;			/**< reflector send completion */
	uint64_t t4;			/**< prober receive completion */
};

struct pm_rdma_fu_stats {
	uint64_t completed;		/**< with t3 */
	uint64_t no_t3;			/**< reply, follow-up timed out */
	uint64_t orphan_t3;		/**< follow-up, reply never came */
	uint64_t evicted;		/**< slot reused while still pending */
	uint64_t dup;			/**< half seen twice */
};

struct pm_rdma_fu {
	struct pm_rdma_fu_ent *ent;
	uint32_t mask;			/**< slots - 1 */
	struct pm_rdma_fu_stats st;
};

/** @slots must be a power of two; returns 0 or -EINVAL / -ENOMEM. */
int pm_rdma_fu_init(struct pm_rdma_fu *fu, uint32_t slots);
void pm_rdma_fu_fini(struct pm_rdma_fu *fu);

/**
 * The reply of @seq arrived.  Returns 1 and fills @out if the follow-up was
 * already there, 2 and fills @out with an evicted older slot completed
 * without t3 (the new reply is then pending), 0 if now pending.
 */
int pm_rdma_fu_reply(struct pm_rdma_fu *fu, uint64_t seq, uint32_t flow,
		     uint64_t t1, uint64_t t2, uint64_t t4, uint64_t deadline_ns,
		     struct pm_rdma_fu_done *out);

/**
 * The follow-up of @seq arrived with @t3.  Returns 1 (@out filled, complete),
 * 2 (@out filled with an evicted older reply, without t3) or 0 (pending).
 */
int pm_rdma_fu_t3(struct pm_rdma_fu *fu, uint64_t seq, uint64_t t3,
		  uint64_t deadline_ns, struct pm_rdma_fu_done *out);

/**
 * Complete every slot whose deadline is <= @now_ns: replies without t3 go
 * to @out (at most @max; the rest wait for the next call), orphan
 * follow-ups are counted and freed.  Returns the number written.
 */
unsigned int pm_rdma_fu_expire(struct pm_rdma_fu *fu, uint64_t now_ns,
			       struct pm_rdma_fu_done *out, unsigned int max);

/** Network RTT (t4-t1)-(t3-t2); 0 if no t3 or the stamps are inconsistent. */
uint64_t pm_rdma_fu_net_rtt(const struct pm_rdma_fu_done *d);
/** Reflector host delay t3-t2, 0 if unknown. */
uint64_t pm_rdma_fu_refl_delay(const struct pm_rdma_fu_done *d);

#endif /* PM_RDMA_FU_H */
