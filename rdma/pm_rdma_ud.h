/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_rdma_ud: one UD queue pair with its CQ, registered buffers and
 * pre-posted receive ring, as the prober and reflector threads use it.
 *
 * Owned by one thread: open/close on the control path (may allocate, may
 * fail with -errno naming the verb), send/poll on the data path (no
 * allocation, no logging; every failure is a counter).
 *
 * Completion times: where the device stamps CQEs (completion_timestamp_mask
 * and hca_core_clock non-zero in ibv_query_device_ex), the CQ is an
 * extended one (ibv_create_cq_ex with IBV_WC_EX_WITH_COMPLETION_TIMESTAMP),
 * polled with ibv_start_poll/ibv_next_poll/ibv_end_poll, and each event's
 * ts_ns is the HCA stamp extended to 64 bits (wrap at the mask), scaled to
 * ns and anchored once to host time (ibv_query_rt_values_ex bracketed by
 * host clock reads): ts_src = PM_TS_HCA.  Otherwise (no CQE timestamps, as
 * on rxe; ibv_create_cq_ex refused; or PM_RDMA_UD_F_NO_HWTS) a plain CQ is
 * polled and ts_ns is the TSC read at poll, converted with the pm_tclock
 * given at open: ts_src = PM_TS_TSC.  Either way ts_ns is one monotonic
 * clock per QP (differences of two stamps of one QP are durations), in
 * Unix-epoch ns as well as the anchor allows; and tsc is always the TSC
 * at poll, so host delay = tsc (converted) - ts_ns.
 */
#ifndef PM_RDMA_UD_H
#define PM_RDMA_UD_H

#include <stdint.h>

#include <infiniband/verbs.h>

#include "pm_clock.h"
#include "pm_rdma_msg.h"

/** Bytes per buffer slot: GRH room + STAMP packet, rounded up. */
#define PM_RDMA_SLOT_LEN	128

/** pm_rdma_ud_open() flags */
#define PM_RDMA_UD_F_NO_HWTS	0x1	/**< TSC stamps even if the HCA has CQE stamps */

enum pm_rdma_ev_kind {
	PM_RDMA_EV_RX = 1,	/**< a valid pmesh message arrived */
	PM_RDMA_EV_TX,		/**< a send completed (wr_id as posted) */
	PM_RDMA_EV_TX_ERR,	/**< a send completed in error (counted too) */
};

struct pm_rdma_ev {
	uint8_t kind;
	uint64_t wr_id;		/**< TX: as given to send */
	uint64_t tsc;		/**< TSC when the completion was polled */
	uint64_t ts_ns;		/**< completion time, ns (see ud->ts_src) */
	uint32_t src_qp;	/**< RX: sender's QPN (reply to it) */
	uint16_t slid;		/**< RX: sender's LID (IB) */
	uint8_t has_grh;	/**< RX: grh_sgid is valid */
	uint8_t grh_sgid[16];	/**< RX: sender's GID from the GRH */
	struct pm_rdma_msg msg;	/**< RX: decoded */
};

struct pm_rdma_ud_stats {
	uint64_t tx_posted;
	uint64_t tx_post_err;		/**< ibv_post_send refused */
	uint64_t tx_busy;		/**< no free send slot */
	uint64_t tx_done;
	uint64_t rx;
	uint64_t rx_bad[PM_RDMA_MSG_CAUSE_MAX];	/**< refused, per cause */
	uint64_t wc_err;		/**< completion with an error status */
	uint64_t rx_repost_err;		/**< receive could not be re-posted */
	uint64_t poll_err;		/**< ibv_poll_cq < 0 / start_poll error */
};

/** HCA clock state of an extended CQ (ts_src == PM_TS_HCA). */
struct pm_rdma_ud_hts {
	uint64_t mask;			/**< completion_timestamp_mask */
	uint64_t khz;			/**< hca_core_clock */
	uint64_t last_ext;		/**< last stamp, extended to 64 bits */
	uint64_t last_tsc;		/**< poll TSC when last_ext was seen */
	uint8_t anchored;		/**< ns has its anchor */
	uint8_t anchor_rt;		/**< anchored from rt_values (else 1st CQE) */
	uint64_t anchor_err_ns;		/**< host read bracket around rt_values */
	struct pm_tclock ns;		/**< extended ticks -> ns */
};

struct pm_rdma_ud {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_cq_ex *cqx;		/**< cq as extended CQ (PM_TS_HCA) */
	struct ibv_qp *qp;
	struct ibv_mr *mr;
	uint8_t *buf;			/**< nrecv then nsend slots */
	size_t buf_len;
	int numa_node;			/**< buf from numa_alloc_onnode; -1 no */
	uint8_t ts_src;			/**< PM_TS_HCA or PM_TS_TSC */
	const char *ts_why;		/**< why PM_TS_TSC (for messages) */
	const struct pm_tclock *tsc_clk;	/**< TSC -> ns (may be NULL) */
	struct pm_rdma_ud_hts hts;
	uint32_t nrecv;
	uint32_t nsend;
	uint32_t send_next;		/**< next send slot (ring) */
	uint32_t send_inflight;
	struct pm_rdma_ud_stats st;
};

/**
 * Create PD, CQ, UD QP (INIT → RTR → RTS with the fixed Q_Key on @port),
 * register @nrecv + @nsend slots and post every receive.  @flags:
 * PM_RDMA_UD_F_*.  @tsc_clk converts pm_rdma_tsc() values to ns (from
 * pm_tclock_calibrate); it is used for ts_ns on the TSC path and to anchor
 * the HCA clock to the same time line (NULL: CLOCK_REALTIME is read
 * instead).  It must outlive @ud.  Returns 0, or -errno with @what set to
 * the failing verb's name.  ud->ts_src says which stamps the QP gives and
 * ud->ts_why, for PM_TS_TSC, why.
 */
int pm_rdma_ud_open(struct pm_rdma_ud *ud, struct ibv_context *ctx,
		    uint8_t port, uint32_t nrecv, uint32_t nsend,
		    unsigned int flags, const struct pm_tclock *tsc_clk,
		    const char **what);

/**
 * Same, with the buffers on NUMA node @numa_node (numa_alloc_onnode; -1 or
 * a build without libnuma: plain allocation).
 */
int pm_rdma_ud_open_node(struct pm_rdma_ud *ud, struct ibv_context *ctx,
			 uint8_t port, uint32_t nrecv, uint32_t nsend,
			 unsigned int flags, const struct pm_tclock *tsc_clk,
			 int numa_node, const char **what);

void pm_rdma_ud_close(struct pm_rdma_ud *ud);

/** The counter completions are stamped with (TSC on x86). */
uint64_t pm_rdma_tsc(void);

/** QPN to give peers. */
static inline uint32_t
pm_rdma_ud_qpn(const struct pm_rdma_ud *ud)
{
	return ud->qp->qp_num;
}

/**
 * Send @m to (@ah, @qpn) with the type in immediate data.  @wr_id comes back
 * in the PM_RDMA_EV_TX event.  Returns 0, -EBUSY (send ring full) or the
 * post error; each is counted.
 */
int pm_rdma_ud_send(struct pm_rdma_ud *ud, struct ibv_ah *ah, uint32_t qpn,
		    const struct pm_rdma_msg *m, uint64_t wr_id);

/**
 * Poll up to @max completions into @ev.  Receives are decoded (refusals
 * counted per cause and not returned) and re-posted.  Returns the number of
 * events written (0..max).
 */
unsigned int pm_rdma_ud_poll(struct pm_rdma_ud *ud, struct pm_rdma_ev *ev,
			     unsigned int max);

#endif /* PM_RDMA_UD_H */
