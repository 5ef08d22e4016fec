/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * UD queue pair life cycle and data path (see pm_rdma_ud.h).
 *
 * wr_id encoding: receives carry their slot index with bit 63 clear; sends
 * carry the caller's wr_id in the low 48 bits, the send slot in bits
 * 48..62 and bit 63 set, so a completion says which buffer it frees
 * without a lookup table.
 *
 * Both CQ flavours (plain ibv_poll_cq, extended start/next/end_poll) first
 * copy completions into a small local array (struct ud_wc), then one
 * common loop decodes them, so receives are re-posted outside the poll
 * session and the two paths cannot drift apart.
 *
 * HCA stamps are extended to 64 bits against a reference: the last
 * extended stamp advanced by the host (TSC) time elapsed since it was
 * polled, so a QP idle for longer than a wrap still extends correctly and
 * send/receive completions slightly out of order do not count as a wrap.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <infiniband/verbs.h>

#include "pm_rdma_numa.h"
#include "pm_rdma_ts.h"
#include "pm_rdma_ud.h"

#define UD_WR_SEND	(1ULL << 63)
#define UD_WR_SLOT_SHIFT	48
#define UD_WR_USER_MASK	((1ULL << UD_WR_SLOT_SHIFT) - 1)
#define UD_POLL_BATCH	32
/* Host time since the last stamp above which the reference is advanced. */
#define UD_REF_ADVANCE_NS	1000000ULL

#define UD_WC_FLAGS	(IBV_WC_EX_WITH_BYTE_LEN | IBV_WC_EX_WITH_IMM | \
			 IBV_WC_EX_WITH_SRC_QP | IBV_WC_EX_WITH_SLID | \
			 IBV_WC_EX_WITH_COMPLETION_TIMESTAMP)

/* One completion, whichever CQ flavour it came from. */
struct ud_wc {
	uint64_t wr_id;
	uint64_t ts_raw;
	uint32_t status;
	uint32_t byte_len;
	uint32_t imm_be;
	uint32_t src_qp;
	uint32_t wc_flags;
	uint16_t slid;
};

uint64_t
pm_rdma_tsc(void)
{
#if defined(__x86_64__) || defined(__i386__)
	return __builtin_ia32_rdtsc();
#else
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
#endif
}

static uint64_t
ud_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

/* Host ns of TSC value @tsc on the QP's time line. */
static uint64_t
ud_host_ns(const struct pm_rdma_ud *ud, uint64_t tsc)
{
	if (ud->tsc_clk != NULL)
		return pm_tclock_ns(ud->tsc_clk, tsc);
	return ud_realtime_ns();
}

static int
ud_post_recv(struct pm_rdma_ud *ud, uint32_t slot)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)(ud->buf + (size_t)slot * PM_RDMA_SLOT_LEN),
		.length = PM_RDMA_SLOT_LEN,
		.lkey = ud->mr->lkey,
	};
	struct ibv_recv_wr wr = {
		.wr_id = slot,
		.sg_list = &sge,
		.num_sge = 1,
	}, *bad;

	return ibv_post_recv(ud->qp, &wr, &bad);
}

static int
ud_to_rts(struct ibv_qp *qp, uint8_t port, const char **what)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.pkey_index = 0,
		.port_num = port,
		.qkey = PM_RDMA_QKEY,
	};
	int rc;

	rc = ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			   IBV_QP_PORT | IBV_QP_QKEY);
	if (rc != 0) {
		*what = "ibv_modify_qp(INIT)";
		return -rc;
	}
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	rc = ibv_modify_qp(qp, &a, IBV_QP_STATE);
	if (rc != 0) {
		*what = "ibv_modify_qp(RTR)";
		return -rc;
	}
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = 0;
	rc = ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN);
	if (rc != 0) {
		*what = "ibv_modify_qp(RTS)";
		return -rc;
	}
	return 0;
}

/*
 * Tie the HCA clock to host time: one raw clock read bracketed by two host
 * reads, the midpoint taken.  Without ibv_query_rt_values_ex the first
 * completion anchors instead (ud_hts_ns).
 */
static void
ud_hts_anchor(struct pm_rdma_ud *ud)
{
	struct pm_rdma_ud_hts *h = &ud->hts;
	struct ibv_values_ex v;
	uint64_t t0, t1, raw, host;

	memset(&v, 0, sizeof(v));
	v.comp_mask = IBV_VALUES_MASK_RAW_CLOCK;
	t0 = pm_rdma_tsc();
	if (ibv_query_rt_values_ex(ud->ctx, &v) != 0 ||
	    !(v.comp_mask & IBV_VALUES_MASK_RAW_CLOCK))
		return;
	t1 = pm_rdma_tsc();
	/* Providers put the raw counter in tv_nsec (tv_sec 0); take both. */
	raw = ((uint64_t)v.raw_clock.tv_sec * 1000000000u +
	       (uint64_t)v.raw_clock.tv_nsec) & h->mask;
	host = ud_host_ns(ud, t0 + (t1 - t0) / 2);
	h->anchor_err_ns = ud->tsc_clk != NULL ?
		pm_tclock_delta_ns(ud->tsc_clk, t1 - t0) / 2 : 0;
	h->last_ext = raw;
	h->last_tsc = t0 + (t1 - t0) / 2;
	pm_tclock_anchor(&h->ns, raw, host);
	h->anchored = 1;
	h->anchor_rt = 1;
}

/* Raw CQE stamp → ns on the QP's time line. */
static uint64_t
ud_hts_ns(struct pm_rdma_ud *ud, uint64_t raw, uint64_t ref)
{
	struct pm_rdma_ud_hts *h = &ud->hts;
	uint64_t ext;

	if (!h->anchored) {
		ext = raw & h->mask;
		pm_tclock_anchor(&h->ns, ext, ud_host_ns(ud, h->last_tsc));
		h->anchored = 1;
	} else {
		ext = pm_rdma_clock_extend_near(h->mask, ref, raw);
	}
	if (ext > h->last_ext)
		h->last_ext = ext;
	return pm_tclock_ns(&h->ns, ext);
}

/*
 * Reference for this poll's stamps: the last stamp plus the host time
 * since it was polled, in HCA ticks (only when that is worth the
 * multiply).
 */
static uint64_t
ud_hts_ref(struct pm_rdma_ud *ud, uint64_t tsc)
{
	struct pm_rdma_ud_hts *h = &ud->hts;
	uint64_t dns;

	if (ud->tsc_clk == NULL || tsc <= h->last_tsc)
		return h->last_ext;
	dns = pm_tclock_delta_ns(ud->tsc_clk, tsc - h->last_tsc);
	if (dns < UD_REF_ADVANCE_NS)
		return h->last_ext;
	return h->last_ext + (uint64_t)(((unsigned __int128)dns * h->khz) /
					1000000u);
}

/*
 * Decide the timestamp source and create the CQ.  Returns 0 or -errno
 * (only when even the plain CQ fails).
 */
static int
ud_create_cq(struct pm_rdma_ud *ud, int cqe, unsigned int flags,
	     const char **what)
{
	struct ibv_device_attr_ex dx;
	struct ibv_cq_init_attr_ex ca;
	int rc;

	ud->ts_src = PM_TS_TSC;
	memset(&dx, 0, sizeof(dx));
	if (flags & PM_RDMA_UD_F_NO_HWTS) {
		ud->ts_why = "HCA timestamps disabled (PM_RDMA_UD_F_NO_HWTS)";
	} else if ((rc = ibv_query_device_ex(ud->ctx, NULL, &dx)) != 0) {
		ud->ts_why = "ibv_query_device_ex failed";
	} else if (dx.completion_timestamp_mask == 0 ||
		   dx.hca_core_clock == 0) {
		ud->ts_why = "device has no CQE timestamps";
	} else if (pm_rdma_clock_init(&(struct pm_rdma_clock){ 0 },
				      dx.completion_timestamp_mask,
				      dx.hca_core_clock) != 0 ||
		   pm_tclock_init_khz(&ud->hts.ns, dx.hca_core_clock,
				      UINT64_MAX) != 0) {
		ud->ts_why = "device reports an unusable timestamp mask/clock";
	} else {
		memset(&ca, 0, sizeof(ca));
		ca.cqe = (uint32_t)cqe;
		ca.wc_flags = UD_WC_FLAGS;
		*what = "ibv_create_cq_ex";
		ud->cqx = ibv_create_cq_ex(ud->ctx, &ca);
		if (ud->cqx != NULL) {
			ud->cq = ibv_cq_ex_to_cq(ud->cqx);
			ud->ts_src = PM_TS_HCA;
			ud->ts_why = NULL;
			ud->hts.mask = dx.completion_timestamp_mask;
			ud->hts.khz = dx.hca_core_clock;
			ud->hts.last_tsc = pm_rdma_tsc();
			ud_hts_anchor(ud);
			return 0;
		}
		ud->ts_why = errno == EOPNOTSUPP ?
			"ibv_create_cq_ex not supported" :
			"ibv_create_cq_ex with completion timestamps failed";
	}
	*what = "ibv_create_cq";
	ud->cq = ibv_create_cq(ud->ctx, cqe, NULL, NULL, 0);
	if (ud->cq == NULL)
		return errno != 0 ? -errno : -EIO;
	return 0;
}

int
pm_rdma_ud_open_node(struct pm_rdma_ud *ud, struct ibv_context *ctx,
		     uint8_t port, uint32_t nrecv, uint32_t nsend,
		     unsigned int flags, const struct pm_tclock *tsc_clk,
		     int numa_node, const char **what)
{
	struct ibv_qp_init_attr qa;
	uint32_t i;
	int rc;

	memset(ud, 0, sizeof(*ud));
	ud->numa_node = -1;
	*what = "arguments";
	if (nrecv == 0 || nsend == 0 || nsend >= (1u << 15) ||
	    nrecv >= (1u << 24))
		return -EINVAL;
	ud->ctx = ctx;
	ud->nrecv = nrecv;
	ud->nsend = nsend;
	ud->tsc_clk = tsc_clk;
	ud->buf_len = (size_t)(nrecv + nsend) * PM_RDMA_SLOT_LEN;
	*what = "buffer allocation";
	ud->buf = pm_rdma_numa_alloc(ud->buf_len, numa_node, &ud->numa_node);
	if (ud->buf == NULL)
		return -ENOMEM;

	*what = "ibv_alloc_pd";
	ud->pd = ibv_alloc_pd(ctx);
	if (ud->pd == NULL)
		goto fail_errno;
	rc = ud_create_cq(ud, (int)(nrecv + nsend), flags, what);
	if (rc != 0)
		goto fail;
	memset(&qa, 0, sizeof(qa));
	qa.send_cq = ud->cq;
	qa.recv_cq = ud->cq;
	qa.qp_type = IBV_QPT_UD;
	qa.cap.max_send_wr = nsend;
	qa.cap.max_recv_wr = nrecv;
	qa.cap.max_send_sge = 1;
	qa.cap.max_recv_sge = 1;
	*what = "ibv_create_qp(UD)";
	ud->qp = ibv_create_qp(ud->pd, &qa);
	if (ud->qp == NULL)
		goto fail_errno;
	*what = "ibv_reg_mr";
	ud->mr = ibv_reg_mr(ud->pd, ud->buf, ud->buf_len,
			    IBV_ACCESS_LOCAL_WRITE);
	if (ud->mr == NULL)
		goto fail_errno;
	rc = ud_to_rts(ud->qp, port, what);
	if (rc != 0)
		goto fail;
	for (i = 0; i < nrecv; i++) {
		rc = ud_post_recv(ud, i);
		if (rc != 0) {
			*what = "ibv_post_recv";
			rc = -rc;
			goto fail;
		}
	}
	return 0;

fail_errno:
	rc = errno != 0 ? -errno : -EIO;
fail:
	pm_rdma_ud_close(ud);
	return rc;
}

int
pm_rdma_ud_open(struct pm_rdma_ud *ud, struct ibv_context *ctx,
		uint8_t port, uint32_t nrecv, uint32_t nsend,
		unsigned int flags, const struct pm_tclock *tsc_clk,
		const char **what)
{
	return pm_rdma_ud_open_node(ud, ctx, port, nrecv, nsend, flags,
				    tsc_clk, -1, what);
}

void
pm_rdma_ud_close(struct pm_rdma_ud *ud)
{
	if (ud->qp != NULL)
		ibv_destroy_qp(ud->qp);
	if (ud->mr != NULL)
		ibv_dereg_mr(ud->mr);
	if (ud->cq != NULL)
		ibv_destroy_cq(ud->cq);
	if (ud->pd != NULL)
		ibv_dealloc_pd(ud->pd);
	pm_rdma_numa_free(ud->buf, ud->buf_len, ud->numa_node);
	ud->qp = NULL;
	ud->mr = NULL;
	ud->cq = NULL;
	ud->cqx = NULL;
	ud->pd = NULL;
	ud->buf = NULL;
}

int
pm_rdma_ud_send(struct pm_rdma_ud *ud, struct ibv_ah *ah, uint32_t qpn,
		const struct pm_rdma_msg *m, uint64_t wr_id)
{
	uint32_t slot;
	uint8_t *p;
	struct ibv_sge sge;
	struct ibv_send_wr wr, *bad;
	int rc;

	if (ud->send_inflight >= ud->nsend) {
		ud->st.tx_busy++;
		return -EBUSY;
	}
	slot = ud->send_next;
	p = ud->buf + (size_t)(ud->nrecv + slot) * PM_RDMA_SLOT_LEN;
	pm_rdma_msg_encode(p, m);
	sge.addr = (uintptr_t)p;
	sge.length = PM_RDMA_MSG_LEN;
	sge.lkey = ud->mr->lkey;
	memset(&wr, 0, sizeof(wr));
	wr.wr_id = UD_WR_SEND | ((uint64_t)slot << UD_WR_SLOT_SHIFT) |
		   (wr_id & UD_WR_USER_MASK);
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_SEND_WITH_IMM;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.imm_data = htonl(pm_rdma_msg_imm(m->type));
	wr.wr.ud.ah = ah;
	wr.wr.ud.remote_qpn = qpn;
	wr.wr.ud.remote_qkey = PM_RDMA_QKEY;
	rc = ibv_post_send(ud->qp, &wr, &bad);
	if (rc != 0) {
		ud->st.tx_post_err++;
		return -rc;
	}
	/* Completions free slots in posting order (one QP, one SQ). */
	ud->send_next = (slot + 1) % ud->nsend;
	ud->send_inflight++;
	ud->st.tx_posted++;
	return 0;
}

static int
ud_rx(struct pm_rdma_ud *ud, const struct ud_wc *wc, struct pm_rdma_ev *ev)
{
	uint32_t slot = (uint32_t)wc->wr_id;
	const uint8_t *p;
	uint32_t len = wc->byte_len;
	int cause, ok = 0;

	if (slot >= ud->nrecv) {
		ud->st.wc_err++;	/* not a wr_id we posted */
		return 0;
	}
	p = ud->buf + (size_t)slot * PM_RDMA_SLOT_LEN;
	if (len < PM_RDMA_GRH_LEN) {
		cause = PM_RDMA_MSG_SHORT;
	} else {
		if (len > PM_RDMA_SLOT_LEN)
			len = PM_RDMA_SLOT_LEN;
		cause = pm_rdma_msg_decode((wc->wc_flags & IBV_WC_WITH_IMM) != 0,
					   ntohl(wc->imm_be),
					   p + PM_RDMA_GRH_LEN,
					   len - PM_RDMA_GRH_LEN, &ev->msg);
	}
	if (cause == PM_RDMA_MSG_OK) {
		ev->kind = PM_RDMA_EV_RX;
		ev->wr_id = slot;
		ev->src_qp = wc->src_qp;
		ev->slid = wc->slid;
		/* GRH: 40 bytes, the source GID at offset 8 (IBTA vol 1
		 * 8.3); on RoCEv2 over IPv4 it holds the ::ffff:a.b.c.d
		 * mapped address. */
		ev->has_grh = (wc->wc_flags & IBV_WC_GRH) != 0;
		if (ev->has_grh)
			memcpy(ev->grh_sgid, p + 8, 16);
		ud->st.rx++;
		ok = 1;
	} else {
		ud->st.rx_bad[cause]++;
	}
	if (ud_post_recv(ud, slot) != 0)
		ud->st.rx_repost_err++;
	return ok;
}

/* Completions of a plain CQ; -1 on a poll error. */
static int
ud_poll_plain(struct pm_rdma_ud *ud, struct ud_wc *out, unsigned int max)
{
	struct ibv_wc wc[UD_POLL_BATCH];
	int got, i;

	got = ibv_poll_cq(ud->cq, (int)max, wc);
	if (got <= 0)
		return got;
	for (i = 0; i < got; i++) {
		out[i].wr_id = wc[i].wr_id;
		out[i].ts_raw = 0;
		out[i].status = wc[i].status;
		out[i].byte_len = wc[i].byte_len;
		out[i].imm_be = wc[i].imm_data;
		out[i].src_qp = wc[i].src_qp;
		out[i].wc_flags = wc[i].wc_flags;
		out[i].slid = wc[i].slid;
	}
	return got;
}

static void
ud_read_ex(struct ibv_cq_ex *cq, struct ud_wc *w)
{
	w->wr_id = cq->wr_id;
	w->status = cq->status;
	w->ts_raw = ibv_wc_read_completion_ts(cq);
	if (cq->status != IBV_WC_SUCCESS || (cq->wr_id & UD_WR_SEND)) {
		/* Only wr_id, status (and the stamp) are defined here. */
		w->byte_len = 0;
		w->imm_be = 0;
		w->src_qp = 0;
		w->wc_flags = 0;
		w->slid = 0;
		return;
	}
	w->byte_len = ibv_wc_read_byte_len(cq);
	w->wc_flags = ibv_wc_read_wc_flags(cq);
	w->imm_be = (w->wc_flags & IBV_WC_WITH_IMM) ?
		    ibv_wc_read_imm_data(cq) : 0;
	w->src_qp = ibv_wc_read_src_qp(cq);
	w->slid = (uint16_t)ibv_wc_read_slid(cq);
}

/* Completions of an extended CQ; -1 on a poll error. */
static int
ud_poll_ex(struct pm_rdma_ud *ud, struct ud_wc *out, unsigned int max)
{
	struct ibv_poll_cq_attr pa = { .comp_mask = 0 };
	unsigned int n = 0;
	int rc;

	rc = ibv_start_poll(ud->cqx, &pa);
	if (rc == ENOENT)
		return 0;
	if (rc != 0)
		return -1;
	for (;;) {
		ud_read_ex(ud->cqx, &out[n++]);
		if (n == max)
			break;
		rc = ibv_next_poll(ud->cqx);
		if (rc != 0) {
			if (rc != ENOENT)
				ud->st.poll_err++;
			break;
		}
	}
	ibv_end_poll(ud->cqx);
	return (int)n;
}

unsigned int
pm_rdma_ud_poll(struct pm_rdma_ud *ud, struct pm_rdma_ev *ev, unsigned int max)
{
	struct ud_wc wc[UD_POLL_BATCH];
	unsigned int n = 0;
	uint64_t tsc, ts_ns = 0, ref = 0;
	int got, i;

	if (max > UD_POLL_BATCH)
		max = UD_POLL_BATCH;
	if (max == 0)
		return 0;
	got = ud->cqx != NULL ? ud_poll_ex(ud, wc, max) :
				ud_poll_plain(ud, wc, max);
	if (got < 0) {
		ud->st.poll_err++;
		return 0;
	}
	if (got == 0)
		return 0;
	tsc = pm_rdma_tsc();
	if (ud->cqx != NULL) {
		ref = ud_hts_ref(ud, tsc);
		if (!ud->hts.anchored)
			ud->hts.last_tsc = tsc;
	} else {
		ts_ns = ud_host_ns(ud, tsc);
	}
	for (i = 0; i < got; i++) {
		if (ud->cqx != NULL)
			ts_ns = ud_hts_ns(ud, wc[i].ts_raw, ref);
		ev[n].tsc = tsc;
		ev[n].ts_ns = ts_ns;
		if (wc[i].wr_id & UD_WR_SEND) {
			if (ud->send_inflight > 0)
				ud->send_inflight--;
			/* Returned even in error: the caller may hold state
			 * for this send (the reflector's pending follow-up). */
			ev[n].kind = PM_RDMA_EV_TX;
			ev[n].wr_id = wc[i].wr_id & UD_WR_USER_MASK;
			if (wc[i].status != IBV_WC_SUCCESS) {
				ev[n].kind = PM_RDMA_EV_TX_ERR;
				ud->st.wc_err++;
			} else {
				ud->st.tx_done++;
			}
			n++;
			continue;
		}
		if (wc[i].status != IBV_WC_SUCCESS) {
			/* A flushed or failed receive: the QP is in error and
			 * re-posting would fail too; count it. */
			ud->st.wc_err++;
			continue;
		}
		n += ud_rx(ud, &wc[i], &ev[n]);
	}
	if (ud->cqx != NULL)
		ud->hts.last_tsc = tsc;
	return n;
}
