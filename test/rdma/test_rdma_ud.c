/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The verbs-facing state machine of rdma/ud.c without a device.
 *
 * The link-time seam (-Wl,--wrap=ibv_...) replaces the exported verbs that
 * create and destroy objects; the data-path verbs (ibv_post_send,
 * ibv_post_recv, ibv_poll_cq) are inline calls through
 * context->ops, so a fake context supplies them.  The fake is a tiny HCA:
 * a send to a QPN delivers the payload, behind 40 bytes of GRH room, into
 * the peer's oldest posted receive and queues both completions.  So QP
 * setup, setup failures, sends, receives, refusals per cause, error
 * completions, a whole probe → reply → follow-up exchange (with the
 * follow-up matcher) and the reflector's logic run here.
 *
 * The fake context is a struct verbs_context, so the inline extended verbs
 * (ibv_query_device_ex, ibv_create_cq_ex, ibv_query_rt_values_ex and the
 * ibv_cq_ex poll API) reach it too: every completion carries a stamp of a
 * fake HCA clock (hca_ticks, or the real time in ms with a 256-tick wrap
 * for the idle-longer-than-a-wrap case), so the HCA timestamp path — wrap,
 * out-of-order stamps, anchoring, fallback to the TSC — is tested here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <infiniband/verbs.h>

#include "pm_clock.h"
#include "pm_rdma_ahc.h"
#include "pm_rdma_fu.h"
#include "pm_rdma_refl.h"
#include "pm_rdma_ts.h"
#include "pm_rdma_ud.h"

#define FQ_MAX	64
#define NQP	4

struct fake_qp {
	struct ibv_qp qp;
	struct ibv_recv_wr rq[FQ_MAX];	/* posted receives (one sge each) */
	struct ibv_sge rsge[FQ_MAX];
	unsigned int rq_head, rq_n;
	struct ibv_wc cqe[FQ_MAX];	/* its CQ (one CQ per QP here) */
	uint64_t cts[FQ_MAX];		/* each CQE's HCA stamp */
	unsigned int cq_head, cq_n;
	int state;
	uint32_t qkey;
};

static struct verbs_context fvctx;
#define fctx (fvctx.context)
static struct fake_qp fqp[NQP];
static unsigned int nfqp;
static struct ibv_pd fpd;
static struct ibv_cq_ex fcq[NQP];
static unsigned int nfcq;
/* The fake HCA clock. */
static uint64_t hca_mask, hca_khz, hca_ticks;
static int hca_ms_clock;		/* ticks = real ms (khz 1) */
static int cqx_made, cqx_fail, rt_fail, cq_plain_made;
static uint64_t cqx_flags;
static struct ibv_mr fmr;
static int fail_at;			/* which creation step fails */
static int fail_post_send, fail_poll, drop_sends, err_next_send;
static int live_pd, live_cq, live_qp, live_mr;
static int modify_calls;

enum { F_NONE, F_PD, F_CQ, F_QP, F_MR, F_INIT, F_RTR, F_RTS };

static struct fake_qp *
qp_of(struct ibv_qp *qp)
{
	return (struct fake_qp *)qp;
}

static struct fake_qp *
qp_by_cq(struct ibv_cq *cq)
{
	return &fqp[(struct ibv_cq_ex *)cq - fcq];
}

static uint64_t
hca_now(void)
{
	struct timespec ts;

	if (!hca_ms_clock)
		return hca_ticks & hca_mask;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000) &
	       hca_mask;
}

static void
cq_push(struct fake_qp *q, const struct ibv_wc *wc)
{
	unsigned int i = (q->cq_head + q->cq_n) % FQ_MAX;

	assert_true(q->cq_n < FQ_MAX);
	q->cqe[i] = *wc;
	q->cts[i] = hca_now();
	q->cq_n++;
}

/* Deliver @len bytes from @src to @dst's oldest receive, as UD would. */
static void
deliver(struct fake_qp *dst, uint32_t src_qpn, const void *src, uint32_t len,
	int has_imm, uint32_t imm_be)
{
	struct ibv_wc wc = { 0 };
	struct ibv_recv_wr *r;

	if (dst->rq_n == 0 || dst->state != IBV_QPS_RTS)
		return;		/* UD drops silently */
	r = &dst->rq[dst->rq_head];
	dst->rq_head = (dst->rq_head + 1) % FQ_MAX;
	dst->rq_n--;
	memset((void *)(uintptr_t)r->sg_list->addr, 0xee, PM_RDMA_GRH_LEN);
	memcpy((uint8_t *)(uintptr_t)r->sg_list->addr + PM_RDMA_GRH_LEN, src,
	       len);
	wc.wr_id = r->wr_id;
	wc.status = IBV_WC_SUCCESS;
	wc.opcode = IBV_WC_RECV;
	wc.byte_len = len + PM_RDMA_GRH_LEN;
	wc.src_qp = src_qpn;
	wc.slid = 7;
	if (has_imm) {
		wc.wc_flags = IBV_WC_WITH_IMM;
		wc.imm_data = imm_be;
	}
	cq_push(dst, &wc);
}

static int
f_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr,
	    struct ibv_send_wr **bad)
{
	struct fake_qp *q = qp_of(qp);
	struct ibv_wc wc = { 0 };

	if (fail_post_send) {
		*bad = wr;
		return ENOMEM;
	}
	assert_int_equal(wr->num_sge, 1);
	assert_int_equal(wr->opcode, IBV_WR_SEND_WITH_IMM);
	assert_int_equal(wr->wr.ud.remote_qkey, PM_RDMA_QKEY);
	assert_non_null(wr->wr.ud.ah);
	if (!drop_sends && wr->wr.ud.remote_qpn < nfqp &&
	    fqp[wr->wr.ud.remote_qpn].qkey == wr->wr.ud.remote_qkey)
		deliver(&fqp[wr->wr.ud.remote_qpn], qp->qp_num,
			(void *)(uintptr_t)wr->sg_list->addr,
			wr->sg_list->length, 1, wr->imm_data);
	wc.wr_id = wr->wr_id;
	wc.status = err_next_send ? IBV_WC_RETRY_EXC_ERR : IBV_WC_SUCCESS;
	err_next_send = 0;
	wc.opcode = IBV_WC_SEND;
	cq_push(q, &wc);
	return 0;
}

static int
f_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr,
	    struct ibv_recv_wr **bad)
{
	struct fake_qp *q = qp_of(qp);
	unsigned int i;

	if (q->rq_n == FQ_MAX) {
		*bad = wr;
		return ENOMEM;
	}
	i = (q->rq_head + q->rq_n++) % FQ_MAX;
	q->rsge[i] = *wr->sg_list;
	q->rq[i] = *wr;
	q->rq[i].sg_list = &q->rsge[i];
	q->rq[i].next = NULL;
	return 0;
}

static int
f_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
	struct fake_qp *q = qp_by_cq(cq);
	int i;

	if (fail_poll)
		return -EIO;
	for (i = 0; i < n && q->cq_n > 0; i++) {
		wc[i] = q->cqe[q->cq_head];
		q->cq_head = (q->cq_head + 1) % FQ_MAX;
		q->cq_n--;
	}
	return i;
}

struct ibv_pd *__wrap_ibv_alloc_pd(struct ibv_context *ctx);
struct ibv_pd *
__wrap_ibv_alloc_pd(struct ibv_context *ctx)
{
	if (fail_at == F_PD) {
		errno = ENOMEM;
		return NULL;
	}
	fpd.context = ctx;
	live_pd++;
	return &fpd;
}

int __wrap_ibv_dealloc_pd(struct ibv_pd *pd);
int
__wrap_ibv_dealloc_pd(struct ibv_pd *pd)
{
	assert_ptr_equal(pd, &fpd);
	live_pd--;
	return 0;
}

struct ibv_cq *__wrap_ibv_create_cq(struct ibv_context *ctx, int cqe,
				    void *cq_ctx, struct ibv_comp_channel *ch,
				    int vec);
struct ibv_cq *
__wrap_ibv_create_cq(struct ibv_context *ctx, int cqe, void *cq_ctx,
		     struct ibv_comp_channel *ch, int vec)
{
	struct ibv_cq *cq;

	(void)cq_ctx;
	(void)ch;
	(void)vec;
	assert_true(cqe > 0);
	if (fail_at == F_CQ) {
		errno = EINVAL;
		return NULL;
	}
	assert_true(nfcq < NQP);
	cq = ibv_cq_ex_to_cq(&fcq[nfcq++]);
	cq->context = ctx;
	live_cq++;
	cq_plain_made++;
	return cq;
}

int __wrap_ibv_destroy_cq(struct ibv_cq *cq);
int
__wrap_ibv_destroy_cq(struct ibv_cq *cq)
{
	(void)cq;
	live_cq--;
	return 0;
}

struct ibv_qp *__wrap_ibv_create_qp(struct ibv_pd *pd,
				    struct ibv_qp_init_attr *qa);
struct ibv_qp *
__wrap_ibv_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *qa)
{
	struct fake_qp *q;

	assert_int_equal(qa->qp_type, IBV_QPT_UD);
	assert_ptr_equal(qa->send_cq, qa->recv_cq);
	if (fail_at == F_QP) {
		errno = ENOMEM;
		return NULL;
	}
	/* one CQ per QP: the QP takes the index of the last CQ made */
	q = &fqp[nfqp];
	assert_ptr_equal(qa->send_cq, ibv_cq_ex_to_cq(&fcq[nfqp]));
	q->qp.context = pd->context;
	q->qp.qp_num = nfqp++;
	q->state = IBV_QPS_RESET;
	live_qp++;
	return &q->qp;
}

int __wrap_ibv_destroy_qp(struct ibv_qp *qp);
int
__wrap_ibv_destroy_qp(struct ibv_qp *qp)
{
	qp_of(qp)->state = IBV_QPS_ERR;
	live_qp--;
	return 0;
}

int __wrap_ibv_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *a, int mask);
int
__wrap_ibv_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *a, int mask)
{
	struct fake_qp *q = qp_of(qp);

	modify_calls++;
	assert_true(mask & IBV_QP_STATE);
	switch (a->qp_state) {
	case IBV_QPS_INIT:
		assert_int_equal(q->state, IBV_QPS_RESET);
		assert_true(mask & IBV_QP_QKEY);
		assert_true(mask & IBV_QP_PORT);
		if (fail_at == F_INIT)
			return EINVAL;
		q->qkey = a->qkey;
		break;
	case IBV_QPS_RTR:
		assert_int_equal(q->state, IBV_QPS_INIT);
		if (fail_at == F_RTR)
			return EINVAL;
		break;
	case IBV_QPS_RTS:
		assert_int_equal(q->state, IBV_QPS_RTR);
		assert_true(mask & IBV_QP_SQ_PSN);
		if (fail_at == F_RTS)
			return EINVAL;
		break;
	default:
		fail();
	}
	q->state = a->qp_state;
	return 0;
}

struct ibv_mr *__wrap_ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t len,
				 int access);
struct ibv_mr *
__wrap_ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int access)
{
	(void)pd;
	assert_true(access & IBV_ACCESS_LOCAL_WRITE);
	if (fail_at == F_MR) {
		errno = EFAULT;
		return NULL;
	}
	fmr.addr = addr;
	fmr.length = len;
	fmr.lkey = 0x1234;
	live_mr++;
	return &fmr;
}

int __wrap_ibv_dereg_mr(struct ibv_mr *mr);
int
__wrap_ibv_dereg_mr(struct ibv_mr *mr)
{
	(void)mr;
	live_mr--;
	return 0;
}

/* The extended verbs, through the verbs_context. */
static int
f_query_device_ex(struct ibv_context *ctx,
		  const struct ibv_query_device_ex_input *in,
		  struct ibv_device_attr_ex *attr, size_t len)
{
	(void)ctx;
	(void)in;
	assert_true(len >= sizeof(*attr));
	memset(attr, 0, sizeof(*attr));
	attr->orig_attr.phys_port_cnt = 1;
	attr->completion_timestamp_mask = hca_mask;
	attr->hca_core_clock = hca_khz;
	return 0;
}

static int
f_query_rt_values(struct ibv_context *ctx, struct ibv_values_ex *v)
{
	(void)ctx;
	if (rt_fail)
		return EOPNOTSUPP;
	assert_true(v->comp_mask & IBV_VALUES_MASK_RAW_CLOCK);
	v->comp_mask = IBV_VALUES_MASK_RAW_CLOCK;
	v->raw_clock.tv_sec = 0;
	v->raw_clock.tv_nsec = (long)hca_now();
	return 0;
}

/* The CQE an extended CQ is positioned on. */
static unsigned int cqx_cur[NQP];

static void
cqx_load(struct ibv_cq_ex *cq)
{
	struct fake_qp *q = &fqp[cq - fcq];

	cqx_cur[cq - fcq] = q->cq_head;
	cq->wr_id = q->cqe[q->cq_head].wr_id;
	cq->status = q->cqe[q->cq_head].status;
	q->cq_head = (q->cq_head + 1) % FQ_MAX;
	q->cq_n--;
}

static int
f_start_poll(struct ibv_cq_ex *cq, struct ibv_poll_cq_attr *a)
{
	assert_int_equal(a->comp_mask, 0);
	if (fail_poll)
		return EIO;
	if (fqp[cq - fcq].cq_n == 0)
		return ENOENT;
	cqx_load(cq);
	return 0;
}

static int
f_next_poll(struct ibv_cq_ex *cq)
{
	if (fqp[cq - fcq].cq_n == 0)
		return ENOENT;
	cqx_load(cq);
	return 0;
}

static void
f_end_poll(struct ibv_cq_ex *cq)
{
	(void)cq;
}

static struct ibv_wc *
cqx_wc(struct ibv_cq_ex *cq)
{
	return &fqp[cq - fcq].cqe[cqx_cur[cq - fcq]];
}

static uint32_t
f_read_byte_len(struct ibv_cq_ex *cq)
{
	return cqx_wc(cq)->byte_len;
}

static __be32
f_read_imm_data(struct ibv_cq_ex *cq)
{
	return cqx_wc(cq)->imm_data;
}

static uint32_t
f_read_src_qp(struct ibv_cq_ex *cq)
{
	return cqx_wc(cq)->src_qp;
}

static unsigned int
f_read_wc_flags(struct ibv_cq_ex *cq)
{
	return cqx_wc(cq)->wc_flags;
}

static uint32_t
f_read_slid(struct ibv_cq_ex *cq)
{
	return cqx_wc(cq)->slid;
}

static uint64_t
f_read_completion_ts(struct ibv_cq_ex *cq)
{
	return fqp[cq - fcq].cts[cqx_cur[cq - fcq]];
}

static struct ibv_cq_ex *
f_create_cq_ex(struct ibv_context *ctx, struct ibv_cq_init_attr_ex *ca)
{
	struct ibv_cq_ex *cq;

	assert_true(ca->cqe > 0);
	cqx_flags = ca->wc_flags;
	if (cqx_fail || fail_at == F_CQ) {
		errno = cqx_fail ? EOPNOTSUPP : EINVAL;
		return NULL;
	}
	assert_true(nfcq < NQP);
	cq = &fcq[nfcq++];
	cq->context = ctx;
	cq->start_poll = f_start_poll;
	cq->next_poll = f_next_poll;
	cq->end_poll = f_end_poll;
	cq->read_byte_len = f_read_byte_len;
	cq->read_imm_data = f_read_imm_data;
	cq->read_src_qp = f_read_src_qp;
	cq->read_wc_flags = f_read_wc_flags;
	cq->read_slid = f_read_slid;
	cq->read_completion_ts = f_read_completion_ts;
	live_cq++;
	cqx_made++;
	return cq;
}

static int
setup(void **state)
{
	(void)state;
	memset(fqp, 0, sizeof(fqp));
	memset(fcq, 0, sizeof(fcq));
	nfqp = nfcq = 0;
	hca_mask = 0;		/* no CQE timestamps unless a test says so */
	hca_khz = 0;
	hca_ticks = 0;
	hca_ms_clock = 0;
	cqx_made = cqx_fail = rt_fail = cq_plain_made = 0;
	cqx_flags = 0;
	fail_at = F_NONE;
	fail_post_send = fail_poll = drop_sends = err_next_send = 0;
	live_pd = live_cq = live_qp = live_mr = 0;
	modify_calls = 0;
	memset(&fvctx, 0, sizeof(fvctx));
	fvctx.sz = sizeof(fvctx);
	fvctx.query_device_ex = f_query_device_ex;
	fvctx.query_rt_values = f_query_rt_values;
	fvctx.create_cq_ex = f_create_cq_ex;
	fctx.abi_compat = __VERBS_ABI_IS_EXTENDED;
	fctx.ops.post_send = f_post_send;
	fctx.ops.post_recv = f_post_recv;
	fctx.ops.poll_cq = f_poll_cq;
	return 0;
}

static void
assert_nothing_live(void)
{
	assert_int_equal(live_pd, 0);
	assert_int_equal(live_cq, 0);
	assert_int_equal(live_qp, 0);
	assert_int_equal(live_mr, 0);
}

static void
test_open_close(void **state)
{
	struct pm_rdma_ud ud;
	const char *what = NULL;

	(void)state;
	assert_int_equal(pm_rdma_ud_open(&ud, &fctx, 1, 16, 8, 0, NULL,
					 &what), 0);
	assert_int_equal(modify_calls, 3);
	assert_int_equal(fqp[0].state, IBV_QPS_RTS);
	assert_int_equal(fqp[0].qkey, PM_RDMA_QKEY);
	assert_int_equal(fqp[0].rq_n, 16);
	assert_int_equal(pm_rdma_ud_qpn(&ud), 0);
	pm_rdma_ud_close(&ud);
	assert_nothing_live();
	/* bad sizes */
	assert_int_equal(pm_rdma_ud_open(&ud, &fctx, 1, 0, 8, 0, NULL,
					 &what), -EINVAL);
	assert_int_equal(pm_rdma_ud_open(&ud, &fctx, 1, 8, 1u << 15, 0, NULL,
					 &what), -EINVAL);
}

static void
test_open_failures(void **state)
{
	static const struct {
		int at;
		int rc;
		const char *what;
	} cases[] = {
		{ F_PD, -ENOMEM, "ibv_alloc_pd" },
		{ F_CQ, -EINVAL, "ibv_create_cq" },
		{ F_QP, -ENOMEM, "ibv_create_qp(UD)" },
		{ F_MR, -EFAULT, "ibv_reg_mr" },
		{ F_INIT, -EINVAL, "ibv_modify_qp(INIT)" },
		{ F_RTR, -EINVAL, "ibv_modify_qp(RTR)" },
		{ F_RTS, -EINVAL, "ibv_modify_qp(RTS)" },
	};
	struct pm_rdma_ud ud;
	const char *what;
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		setup(state);
		fail_at = cases[i].at;
		what = NULL;
		assert_int_equal(pm_rdma_ud_open(&ud, &fctx, 1, 4, 4, 0, NULL,
						 &what), cases[i].rc);
		assert_string_equal(what, cases[i].what);
		/* everything made before the failure was undone */
		assert_nothing_live();
	}
}

static void
test_send_busy_and_errors(void **state)
{
	struct pm_rdma_ud ud;
	struct pm_rdma_msg m = { .type = PM_RDMA_MSG_PROBE, .seq = 1 };
	struct ibv_ah ah = { 0 };
	struct pm_rdma_ev ev[8];
	const char *what;

	(void)state;
	assert_int_equal(pm_rdma_ud_open(&ud, &fctx, 1, 4, 2, 0, NULL,
					 &what), 0);
	drop_sends = 1;
	assert_int_equal(pm_rdma_ud_send(&ud, &ah, 9, &m, 11), 0);
	assert_int_equal(pm_rdma_ud_send(&ud, &ah, 9, &m, 12), 0);
	assert_int_equal(pm_rdma_ud_send(&ud, &ah, 9, &m, 13), -EBUSY);
	assert_int_equal(ud.st.tx_busy, 1);
	/* completions free the slots and give back the caller's wr_id */
	assert_int_equal(pm_rdma_ud_poll(&ud, ev, 8), 2);
	assert_int_equal(ev[0].kind, PM_RDMA_EV_TX);
	assert_int_equal(ev[0].wr_id, 11);
	assert_int_equal(ev[1].wr_id, 12);
	fail_post_send = 1;
	assert_int_equal(pm_rdma_ud_send(&ud, &ah, 9, &m, 14), -ENOMEM);
	assert_int_equal(ud.st.tx_post_err, 1);
	fail_post_send = 0;
	assert_int_equal(pm_rdma_ud_send(&ud, &ah, 9, &m, 15), 0);
	fail_poll = 1;
	assert_int_equal(pm_rdma_ud_poll(&ud, ev, 8), 0);
	assert_int_equal(ud.st.poll_err, 1);
	fail_poll = 0;
	/* a send completing in error is counted and returned as such */
	fqp[0].cqe[fqp[0].cq_head].status = IBV_WC_RETRY_EXC_ERR;
	assert_int_equal(pm_rdma_ud_poll(&ud, ev, 8), 1);
	assert_int_equal(ev[0].kind, PM_RDMA_EV_TX_ERR);
	assert_int_equal(ev[0].wr_id, 15);
	assert_int_equal(ud.st.wc_err, 1);
	assert_int_equal(ud.send_inflight, 0);
	pm_rdma_ud_close(&ud);
	assert_nothing_live();
}

static void
test_refusals(void **state)
{
	struct pm_rdma_ud ud;
	struct pm_rdma_ev ev[8];
	struct ibv_wc wc = { 0 };
	uint8_t junk[PM_RDMA_MSG_LEN] = { 1, 2, 3 };
	const char *what;

	(void)state;
	assert_int_equal(pm_rdma_ud_open(&ud, &fctx, 1, 8, 2, 0, NULL,
					 &what), 0);
	deliver(&fqp[0], 5, junk, sizeof(junk), 0, 0);
	deliver(&fqp[0], 5, junk, sizeof(junk), 1, htonl(0xdeadbeef));
	deliver(&fqp[0], 5, junk, sizeof(junk), 1,
		htonl(PM_RDMA_IMM_MAGIC | 77));
	deliver(&fqp[0], 5, junk, 10, 1,
		htonl(pm_rdma_msg_imm(PM_RDMA_MSG_PROBE)));
	/* a completion shorter than the GRH */
	wc.wr_id = fqp[0].rq[fqp[0].rq_head].wr_id;
	fqp[0].rq_head = (fqp[0].rq_head + 1) % FQ_MAX;
	fqp[0].rq_n--;
	wc.status = IBV_WC_SUCCESS;
	wc.byte_len = 12;
	cq_push(&fqp[0], &wc);
	/* and a receive in error (flushed) */
	wc.status = IBV_WC_WR_FLUSH_ERR;
	wc.wr_id = 0;
	cq_push(&fqp[0], &wc);
	assert_int_equal(pm_rdma_ud_poll(&ud, ev, 8), 0);
	assert_int_equal(ud.st.rx_bad[PM_RDMA_MSG_NO_IMM], 1);
	assert_int_equal(ud.st.rx_bad[PM_RDMA_MSG_BAD_MAGIC], 1);
	assert_int_equal(ud.st.rx_bad[PM_RDMA_MSG_BAD_TYPE], 1);
	assert_int_equal(ud.st.rx_bad[PM_RDMA_MSG_SHORT], 2);
	assert_int_equal(ud.st.wc_err, 1);
	assert_int_equal(ud.st.rx, 0);
	/* refused receives were re-posted: 8 - 5 consumed + 5 re-posted */
	assert_int_equal(fqp[0].rq_n, 8);
	pm_rdma_ud_close(&ud);
	assert_nothing_live();
}

/*
 * Prober (QP 0) → reflector (QP 1): probe, reply, follow-up, matched by the
 * follow-up table; then a probe whose follow-up is lost completes without
 * t3 at the deadline.  Times here are synthetic (the fake stamps nothing),
 * the point is the sequence.
 */
static void
test_exchange(void **state)
{
	struct pm_rdma_ud pr, rf;
	struct pm_rdma_ev ev[8];
	struct pm_rdma_fu fu;
	struct pm_rdma_fu_done d[2];
	struct ibv_ah ah = { 0 };
	struct pm_rdma_msg m = { .type = PM_RDMA_MSG_PROBE, .ssid = 3 };
	const char *what;
	unsigned int n, i;
	int done = 0;

	(void)state;
	assert_int_equal(pm_rdma_ud_open(&pr, &fctx, 1, 8, 4, 0, NULL,
					 &what), 0);
	assert_int_equal(pm_rdma_ud_open(&rf, &fctx, 1, 8, 4, 0, NULL,
					 &what), 0);
	assert_int_equal(pm_rdma_fu_init(&fu, 16), 0);

	m.seq = 1;
	m.t1 = 1000;
	assert_int_equal(pm_rdma_ud_send(&pr, &ah, pm_rdma_ud_qpn(&rf), &m, 1), 0);
	/* reflector: receive, reply at once to the sender's QPN, then t3 */
	n = pm_rdma_ud_poll(&rf, ev, 8);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].kind, PM_RDMA_EV_RX);
	assert_int_equal(ev[0].src_qp, pm_rdma_ud_qpn(&pr));
	assert_int_equal(ev[0].msg.type, PM_RDMA_MSG_PROBE);
	m = ev[0].msg;
	m.type = PM_RDMA_MSG_REPLY;
	m.t2 = 5000;
	assert_int_equal(pm_rdma_ud_send(&rf, &ah, ev[0].src_qp, &m, 77), 0);
	n = pm_rdma_ud_poll(&rf, ev, 8);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].kind, PM_RDMA_EV_TX);
	assert_int_equal(ev[0].wr_id, 77);
	m.type = PM_RDMA_MSG_FOLLOWUP;
	m.t3 = 5600;
	assert_int_equal(pm_rdma_ud_send(&rf, &ah, pm_rdma_ud_qpn(&pr), &m, 78), 0);

	/* prober: send completion (t1), reply (t4), follow-up (t3) */
	n = pm_rdma_ud_poll(&pr, ev, 8);
	assert_int_equal(n, 3);
	assert_int_equal(ev[0].kind, PM_RDMA_EV_TX);
	for (i = 1; i < n; i++) {
		assert_int_equal(ev[i].kind, PM_RDMA_EV_RX);
		if (ev[i].msg.type == PM_RDMA_MSG_REPLY)
			done += pm_rdma_fu_reply(&fu, ev[i].msg.seq,
						 ev[i].msg.ssid, ev[i].msg.t1,
						 ev[i].msg.t2, 10000, 99, d);
		else
			done += pm_rdma_fu_t3(&fu, ev[i].msg.seq,
					      ev[i].msg.t3, 99, d);
	}
	assert_int_equal(done, 1);
	assert_int_equal(d[0].seq, 1);
	assert_int_equal(d[0].flow, 3);
	assert_true(d[0].has_t3);
	assert_int_equal(pm_rdma_fu_net_rtt(d), 9000 - 600);

	/* second probe: the follow-up is lost */
	m = (struct pm_rdma_msg){ .type = PM_RDMA_MSG_PROBE, .seq = 2, .t1 = 20000 };
	assert_int_equal(pm_rdma_ud_send(&pr, &ah, pm_rdma_ud_qpn(&rf), &m, 2), 0);
	/* the first follow-up's send completion, then the probe */
	assert_int_equal(pm_rdma_ud_poll(&rf, ev, 8), 2);
	assert_int_equal(ev[0].kind, PM_RDMA_EV_TX);
	assert_int_equal(ev[0].wr_id, 78);
	assert_int_equal(ev[1].kind, PM_RDMA_EV_RX);
	m = ev[1].msg;
	m.type = PM_RDMA_MSG_REPLY;
	m.t2 = 25000;
	assert_int_equal(pm_rdma_ud_send(&rf, &ah, ev[1].src_qp, &m, 79), 0);
	n = pm_rdma_ud_poll(&pr, ev, 8);
	assert_int_equal(n, 2);
	assert_int_equal(ev[1].msg.type, PM_RDMA_MSG_REPLY);
	assert_int_equal(pm_rdma_fu_reply(&fu, ev[1].msg.seq, 0, ev[1].msg.t1,
					  ev[1].msg.t2, 30000, 200, d), 0);
	assert_int_equal(pm_rdma_fu_expire(&fu, 199, d, 2), 0);
	assert_int_equal(pm_rdma_fu_expire(&fu, 200, d, 2), 1);
	assert_false(d[0].has_t3);
	assert_int_equal(d[0].seq, 2);

	pm_rdma_fu_fini(&fu);
	pm_rdma_ud_close(&pr);
	pm_rdma_ud_close(&rf);
	assert_nothing_live();
}

static int live_ah, fail_ah;
static struct ibv_ah_attr last_aa;

struct ibv_ah *__wrap_ibv_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *aa);
struct ibv_ah *
__wrap_ibv_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *aa)
{
	struct ibv_ah *ah;

	if (fail_ah) {
		errno = EINVAL;
		return NULL;
	}
	ah = calloc(1, sizeof(*ah));
	assert_non_null(ah);
	ah->pd = pd;
	last_aa = *aa;
	live_ah++;
	return ah;
}

int __wrap_ibv_destroy_ah(struct ibv_ah *ah);
int
__wrap_ibv_destroy_ah(struct ibv_ah *ah)
{
	free(ah);
	live_ah--;
	return 0;
}

/* The reflector's AH cache: one AH per peer, GID- or LID-keyed. */
static void
test_ahc(void **state)
{
	struct pm_rdma_ahc *c = calloc(1, sizeof(*c));
	struct pm_rdma_ev ev = { .kind = PM_RDMA_EV_RX, .slid = 0 };
	struct ibv_ah *a1, *a2;
	unsigned int i;

	(void)state;
	assert_non_null(c);
	live_ah = 0;
	fail_ah = 0;
	pm_rdma_ahc_init(c, &fpd, 1, 3, 96, 2);
	ev.has_grh = 1;
	memset(ev.grh_sgid, 0, 16);
	ev.grh_sgid[10] = ev.grh_sgid[11] = 0xff;	/* ::ffff:10.0.0.1 */
	ev.grh_sgid[12] = 10;
	ev.grh_sgid[15] = 1;
	a1 = pm_rdma_ahc_get(c, &ev);
	assert_non_null(a1);
	assert_int_equal(last_aa.is_global, 1);
	assert_memory_equal(last_aa.grh.dgid.raw, ev.grh_sgid, 16);
	assert_int_equal(last_aa.grh.sgid_index, 3);
	assert_int_equal(last_aa.grh.traffic_class, 96);
	assert_int_equal(last_aa.port_num, 1);
	assert_ptr_equal(pm_rdma_ahc_resolve(c, &ev), a1);	/* cached */
	assert_int_equal(c->created, 1);
	ev.grh_sgid[15] = 2;
	a2 = pm_rdma_ahc_get(c, &ev);
	assert_non_null(a2);
	assert_ptr_not_equal(a1, a2);
	/* IB without GRH: keyed and addressed by LID */
	ev.has_grh = 0;
	ev.slid = 0x21;
	assert_non_null(pm_rdma_ahc_get(c, &ev));
	assert_int_equal(last_aa.is_global, 0);
	assert_int_equal(last_aa.dlid, 0x21);
	assert_int_equal(last_aa.sl, 2);
	assert_int_equal(c->created, 3);
	/* a failed creation is counted, and retried next time */
	fail_ah = 1;
	ev.slid = 0x22;
	assert_null(pm_rdma_ahc_get(c, &ev));
	assert_int_equal(c->create_err, 1);
	fail_ah = 0;
	assert_non_null(pm_rdma_ahc_get(c, &ev));
	/* the table refuses peers beyond 3/4 full */
	for (i = 0; i < PM_RDMA_AHC_SLOTS; i++) {
		ev.slid = (uint16_t)(0x100 + i);
		pm_rdma_ahc_get(c, &ev);
	}
	assert_int_equal(c->n, PM_RDMA_AHC_SLOTS * 3 / 4);
	assert_true(c->full > 0);
	assert_int_equal(live_ah, (int)c->n);
	pm_rdma_ahc_fini(c);
	assert_int_equal(live_ah, 0);
	free(c);
}

static struct ibv_ah refl_ah;
static int refl_no_ah;

static struct ibv_ah *
refl_ah_of(void *arg, const struct pm_rdma_ev *ev)
{
	(void)arg;
	(void)ev;
	return refl_no_ah ? NULL : &refl_ah;
}

/* Collect the prober's RX events (replies and follow-ups). */
static unsigned int
prober_rx(struct pm_rdma_ud *pr, struct pm_rdma_ev *out, unsigned int max)
{
	struct pm_rdma_ev ev[16];
	unsigned int n, i, k = 0;

	n = pm_rdma_ud_poll(pr, ev, 16);
	for (i = 0; i < n; i++)
		if (ev[i].kind == PM_RDMA_EV_RX && k < max)
			out[k++] = ev[i];
	return k;
}

/*
 * The reflector thread's logic: reply at once with t2, follow-up with t3
 * once the reply's send completes; a reply that fails sends no follow-up;
 * no AH, and replies sent to a reflector, are counted.
 */
static void
test_reflector(void **state)
{
	struct pm_rdma_ud pr, rf;
	struct pm_rdma_refl *r = calloc(1, sizeof(*r));
	struct pm_tclock clk;
	struct pm_rdma_ev ev[4];
	struct ibv_ah ah = { 0 };
	struct pm_rdma_msg m = { .type = PM_RDMA_MSG_PROBE, .seq = 5,
				 .t1 = 111 };
	const char *what;

	(void)state;
	assert_non_null(r);
	refl_no_ah = 0;
	assert_int_equal(pm_tclock_init(&clk, 1000000000, UINT64_MAX), 0);
	pm_tclock_anchor(&clk, 0, 0);
	assert_int_equal(pm_rdma_ud_open(&pr, &fctx, 1, 8, 8, 0, &clk, &what),
			 0);
	assert_int_equal(pm_rdma_ud_open(&rf, &fctx, 1, 8, 8, 0, &clk, &what),
			 0);
	assert_int_equal(rf.ts_src, PM_TS_TSC);
	pm_rdma_refl_init(r, &rf, refl_ah_of, NULL);

	assert_int_equal(pm_rdma_ud_send(&pr, &ah, pm_rdma_ud_qpn(&rf), &m, 1), 0);
	assert_int_equal(pm_rdma_refl_poll(r), 1);	/* probe → reply */
	assert_int_equal(r->st.replies, 1);
	assert_int_equal(pm_rdma_refl_poll(r), 1);	/* reply sent → follow-up */
	assert_int_equal(r->st.followups, 1);
	assert_int_equal(prober_rx(&pr, ev, 4), 2);
	assert_int_equal(ev[0].msg.type, PM_RDMA_MSG_REPLY);
	assert_int_equal(ev[0].msg.seq, 5);
	assert_int_equal(ev[0].msg.t1, 111);
	assert_int_equal(ev[0].msg.t3, 0);
	assert_int_equal(ev[1].msg.type, PM_RDMA_MSG_FOLLOWUP);
	assert_int_equal(ev[1].msg.seq, 5);
	assert_int_equal(ev[1].msg.r_seq, ev[0].msg.r_seq);
	assert_int_equal(ev[1].msg.t2, ev[0].msg.t2);
	assert_true(ev[1].msg.t3 >= ev[1].msg.t2);

	/* the reply fails on the wire side: no follow-up, never a fake t3 */
	m.seq = 6;
	assert_int_equal(pm_rdma_ud_send(&pr, &ah, pm_rdma_ud_qpn(&rf), &m, 2), 0);
	drop_sends = 1;
	err_next_send = 1;
	assert_int_equal(pm_rdma_refl_poll(r), 2);	/* probe + fu's TX */
	assert_int_equal(pm_rdma_refl_poll(r), 1);	/* reply's TX_ERR */
	drop_sends = 0;
	assert_int_equal(r->st.no_t3, 1);
	assert_int_equal(r->st.followups, 1);

	/* no AH for the sender */
	refl_no_ah = 1;
	m.seq = 7;
	assert_int_equal(pm_rdma_ud_send(&pr, &ah, pm_rdma_ud_qpn(&rf), &m, 3), 0);
	pm_rdma_refl_poll(r);
	assert_int_equal(r->st.no_ah, 1);
	/* a reply sent to a reflector is unexpected, not answered */
	m.type = PM_RDMA_MSG_REPLY;
	assert_int_equal(pm_rdma_ud_send(&pr, &ah, pm_rdma_ud_qpn(&rf), &m, 4), 0);
	pm_rdma_refl_poll(r);
	assert_int_equal(r->st.unexpected, 1);
	assert_int_equal(r->st.replies, 2);

	pm_rdma_ud_close(&pr);
	pm_rdma_ud_close(&rf);
	free(r);
	assert_nothing_live();
}


/* Raw stamps → 64-bit counts near a reference (rdma/ts.c). */
static void
test_extend_near(void **state)
{
	uint64_t m = 0xffff;

	(void)state;
	assert_int_equal(pm_rdma_clock_extend_near(m, 100, 150), 150);
	/* slightly behind the reference: not a wrap */
	assert_int_equal(pm_rdma_clock_extend_near(m, 100, 90), 90);
	/* across the wrap, forward and backward */
	assert_int_equal(pm_rdma_clock_extend_near(m, 0x1fff0, 5),
			 0x20005);
	assert_int_equal(pm_rdma_clock_extend_near(m, 0x20005, 0xfff0),
			 0x1fff0);
	/* never below zero */
	assert_int_equal(pm_rdma_clock_extend_near(m, 3, 0xfff0), 0xfff0);
	/* raw bits above the mask are ignored */
	assert_int_equal(pm_rdma_clock_extend_near(m, 0x30000, 0x70005),
			 0x30005);
	/* a full 64-bit clock */
	assert_int_equal(pm_rdma_clock_extend_near(UINT64_MAX, 10, 7), 7);
}

/* One probe QP 0 → QP 1 and back; returns the 4 stamps. */
static void
hca_round(struct pm_rdma_ud *pr, struct pm_rdma_ud *rf, uint64_t dt,
	  uint64_t st[4])
{
	struct pm_rdma_msg m = { .type = PM_RDMA_MSG_PROBE, .seq = 1 };
	struct pm_rdma_ev ev[8];
	struct ibv_ah ah = { 0 };

	/* send: t1 (both completions are stamped now) */
	assert_int_equal(pm_rdma_ud_send(pr, &ah, pm_rdma_ud_qpn(rf), &m, 1),
			 0);
	hca_ticks += dt;
	assert_int_equal(pm_rdma_ud_poll(rf, ev, 8), 1);	/* t2 */
	st[1] = ev[0].ts_ns;
	m = ev[0].msg;
	m.type = PM_RDMA_MSG_REPLY;
	assert_int_equal(pm_rdma_ud_send(rf, &ah, pm_rdma_ud_qpn(pr), &m, 2),
			 0);
	hca_ticks += dt;
	assert_int_equal(pm_rdma_ud_poll(rf, ev, 8), 1);	/* t3 */
	assert_int_equal(ev[0].kind, PM_RDMA_EV_TX);
	st[2] = ev[0].ts_ns;
	assert_int_equal(pm_rdma_ud_poll(pr, ev, 8), 2);
	assert_int_equal(ev[0].kind, PM_RDMA_EV_TX);
	assert_int_equal(ev[1].kind, PM_RDMA_EV_RX);
	st[0] = ev[0].ts_ns;
	st[3] = ev[1].ts_ns;
	assert_true(ev[1].tsc >= ev[0].tsc);
}

/*
 * The HCA path: extended CQ with completion timestamps, stamps scaled,
 * extended across the wrap, anchored to host time, and a reflector's
 * t2/t3 taken from them.
 */
static void
test_hwts(void **state)
{
	struct pm_rdma_ud pr, rf;
	struct pm_tclock clk;
	uint64_t st[4], host0, i;
	const char *what;

	(void)state;
	assert_int_equal(pm_tclock_calibrate(&clk, pm_rdma_tsc, 20), 0);
	hca_mask = 0xffffffffULL;	/* 32 bits */
	hca_khz = 250000;		/* 4 ns a tick */
	hca_ticks = 0xffffc000ULL;	/* wraps within the test */
	host0 = pm_clock_realtime_ns();
	assert_int_equal(pm_rdma_ud_open(&pr, &fctx, 1, 8, 4, 0, &clk, &what),
			 0);
	assert_int_equal(pm_rdma_ud_open(&rf, &fctx, 1, 8, 4, 0, &clk, &what),
			 0);
	assert_int_equal(pr.ts_src, PM_TS_HCA);
	assert_null(pr.ts_why);
	assert_int_equal(cqx_made, 2);
	assert_int_equal(cq_plain_made, 0);
	assert_true(cqx_flags & IBV_WC_EX_WITH_COMPLETION_TIMESTAMP);
	assert_true(cqx_flags & IBV_WC_EX_WITH_SRC_QP);
	assert_true(cqx_flags & IBV_WC_EX_WITH_IMM);
	assert_true(pr.hts.anchored && pr.hts.anchor_rt);
	/* anchored to host time: ts_ns is near now (Unix epoch ns) */
	hca_round(&pr, &rf, 1000, st);
	assert_true(st[0] >= host0 - 50000000 && st[0] <= host0 + 5000000000ULL);
	/* The fake stamps a receive at its send, a send at its post; each
	 * QP has its own anchor, so only one QP's stamps are compared. */
	assert_int_equal(st[3] - st[0], 4000);		/* t4 - t1 */
	assert_int_equal(st[2] - st[1], 4000);		/* t3 - t2 */
	/* 20 rounds of 2 x 1000 ticks: crosses the 32-bit wrap; stamps stay
	 * monotonic and the deltas exact */
	for (i = 0; i < 20; i++) {
		uint64_t prev = st[3];

		hca_round(&pr, &rf, 1000, st);
		assert_true(st[0] >= prev);
		assert_int_equal(st[0] - prev, 4000);
		assert_int_equal(st[3] - st[0], 4000);
		assert_int_equal(st[2] - st[1], 4000);
	}
	assert_true((hca_ticks & hca_mask) < 0x10000);	/* it did wrap */
	/* a receive stamped slightly before the send completion polled
	 * after it (out of order in the CQ): a small step back, not a wrap */
	{
		struct pm_rdma_msg m = { .type = PM_RDMA_MSG_PROBE };
		struct ibv_ah ah = { 0 };
		struct pm_rdma_ev ev[4];

		assert_int_equal(pm_rdma_ud_send(&pr, &ah, pm_rdma_ud_qpn(&rf),
						 &m, 3), 0);
		/* 1005 ticks back: 5 ticks before the last stamp (t4) */
		fqp[0].cts[fqp[0].cq_head] -= 1005;
		assert_int_equal(pm_rdma_ud_poll(&pr, ev, 4), 1);
		assert_int_equal(ev[0].ts_ns, st[3] - 20);
		assert_int_equal(pm_rdma_ud_poll(&rf, ev, 4), 1);
	}
	pm_rdma_ud_close(&pr);
	pm_rdma_ud_close(&rf);
	assert_nothing_live();
}

/* The reflector's t2/t3 come from the HCA stamps. */
static void
test_hwts_reflector(void **state)
{
	struct pm_rdma_ud pr, rf;
	struct pm_rdma_refl *r = calloc(1, sizeof(*r));
	struct pm_rdma_ev ev[4];
	struct ibv_ah ah = { 0 };
	struct pm_rdma_msg m = { .type = PM_RDMA_MSG_PROBE, .seq = 9 };
	const char *what;

	(void)state;
	assert_non_null(r);
	refl_no_ah = 0;
	hca_mask = (1ULL << 48) - 1;
	hca_khz = 1000000;		/* 1 GHz */
	hca_ticks = 5000;
	assert_int_equal(pm_rdma_ud_open(&pr, &fctx, 1, 8, 8, 0, NULL, &what),
			 0);
	assert_int_equal(pm_rdma_ud_open(&rf, &fctx, 1, 8, 8, 0, NULL, &what),
			 0);
	pm_rdma_refl_init(r, &rf, refl_ah_of, NULL);
	assert_int_equal(pm_rdma_ud_send(&pr, &ah, pm_rdma_ud_qpn(&rf), &m, 1),
			 0);
	hca_ticks += 700;		/* probe in flight */
	assert_int_equal(pm_rdma_refl_poll(r), 1);	/* t2 = 5000 (sent) */
	hca_ticks += 333;		/* reply's send completes */
	assert_int_equal(pm_rdma_refl_poll(r), 1);
	assert_int_equal(prober_rx(&pr, ev, 4), 2);
	assert_int_equal(ev[1].msg.type, PM_RDMA_MSG_FOLLOWUP);
	/* the fake stamps the probe's receive at its send (5000) and the
	 * reply's send at its post (5700): t3 - t2 = 700 ns at 1 GHz */
	assert_int_equal(ev[1].msg.t3 - ev[1].msg.t2, 700);
	assert_int_equal(ev[0].msg.t2, ev[1].msg.t2);
	pm_rdma_ud_close(&pr);
	pm_rdma_ud_close(&rf);
	free(r);
	assert_nothing_live();
}

/* Forget closed fake QPs/CQs so a test can open more than NQP in turn. */
static void
fake_reuse(void)
{
	assert_int_equal(live_qp, 0);
	memset(fqp, 0, sizeof(fqp));
	memset(fcq, 0, sizeof(fcq));
	nfqp = nfcq = 0;
}

/* Without CQE timestamps, when told so, or when cq_ex fails: the TSC. */
static void
test_hwts_fallback(void **state)
{
	struct pm_rdma_ud ud;
	struct pm_tclock clk;
	struct pm_rdma_msg m = { .type = PM_RDMA_MSG_PROBE };
	struct ibv_ah ah = { 0 };
	struct pm_rdma_ev ev[4];
	const char *what;

	(void)state;
	assert_int_equal(pm_tclock_calibrate(&clk, pm_rdma_tsc, 20), 0);
	/* mask 0 (rxe) */
	assert_int_equal(pm_rdma_ud_open(&ud, &fctx, 1, 4, 4, 0, &clk, &what),
			 0);
	assert_int_equal(ud.ts_src, PM_TS_TSC);
	assert_string_equal(ud.ts_why, "device has no CQE timestamps");
	assert_int_equal(cqx_made, 0);
	drop_sends = 1;
	assert_int_equal(pm_rdma_ud_send(&ud, &ah, 9, &m, 1), 0);
	assert_int_equal(pm_rdma_ud_poll(&ud, ev, 4), 1);
	assert_int_equal(ev[0].ts_ns, pm_tclock_ns(&clk, ev[0].tsc));
	pm_rdma_ud_close(&ud);
	fake_reuse();
	/* the flag */
	hca_mask = 0xffffffff;
	hca_khz = 1000000;
	assert_int_equal(pm_rdma_ud_open(&ud, &fctx, 1, 4, 4,
					 PM_RDMA_UD_F_NO_HWTS, &clk, &what), 0);
	assert_int_equal(ud.ts_src, PM_TS_TSC);
	assert_non_null(strstr(ud.ts_why, "disabled"));
	assert_int_equal(cqx_made, 0);
	pm_rdma_ud_close(&ud);
	fake_reuse();
	/* cq_ex refused: the plain CQ */
	cqx_fail = 1;
	cq_plain_made = 0;
	assert_int_equal(pm_rdma_ud_open(&ud, &fctx, 1, 4, 4, 0, &clk, &what),
			 0);
	assert_int_equal(ud.ts_src, PM_TS_TSC);
	assert_string_equal(ud.ts_why, "ibv_create_cq_ex not supported");
	assert_int_equal(cq_plain_made, 1);
	pm_rdma_ud_close(&ud);
	fake_reuse();
	cqx_fail = 0;
	/* a nonsense mask from the device */
	hca_mask = 0x1234;
	assert_int_equal(pm_rdma_ud_open(&ud, &fctx, 1, 4, 4, 0, &clk, &what),
			 0);
	assert_int_equal(ud.ts_src, PM_TS_TSC);
	pm_rdma_ud_close(&ud);
	fake_reuse();
	/* no rt_values: anchored at the first completion instead */
	hca_mask = 0xffffffff;
	rt_fail = 1;
	hca_ticks = 100;
	assert_int_equal(pm_rdma_ud_open(&ud, &fctx, 1, 4, 4, 0, &clk, &what),
			 0);
	assert_int_equal(ud.ts_src, PM_TS_HCA);
	assert_false(ud.hts.anchored);
	assert_int_equal(pm_rdma_ud_send(&ud, &ah, 9, &m, 1), 0);
	hca_ticks += 10;
	assert_int_equal(pm_rdma_ud_send(&ud, &ah, 9, &m, 2), 0);
	assert_int_equal(pm_rdma_ud_poll(&ud, ev, 4), 2);
	assert_true(ud.hts.anchored);
	assert_int_equal(ev[1].ts_ns - ev[0].ts_ns, 10);
	/* the anchor is the poll's host time */
	assert_int_equal(ev[0].ts_ns, pm_tclock_ns(&clk, ev[0].tsc));
	pm_rdma_ud_close(&ud);
	fake_reuse();
	drop_sends = 0;
	assert_nothing_live();
}

/*
 * A QP idle for longer than the HCA clock's wrap: the host time since the
 * last stamp says how many wraps passed.  Fake clock: 1 tick a ms, 8 bits
 * (wraps every 256 ms); 400 ms idle.
 */
static void
test_hwts_idle_wrap(void **state)
{
	struct pm_rdma_ud ud;
	struct pm_tclock clk;
	struct pm_rdma_msg m = { .type = PM_RDMA_MSG_PROBE };
	struct ibv_ah ah = { 0 };
	struct pm_rdma_ev ev[4];
	const char *what;
	uint64_t a, b;

	(void)state;
	assert_int_equal(pm_tclock_calibrate(&clk, pm_rdma_tsc, 20), 0);
	hca_mask = 0xff;
	hca_khz = 1;
	hca_ms_clock = 1;
	drop_sends = 1;
	assert_int_equal(pm_rdma_ud_open(&ud, &fctx, 1, 4, 4, 0, &clk, &what),
			 0);
	assert_int_equal(ud.ts_src, PM_TS_HCA);
	assert_int_equal(pm_rdma_ud_send(&ud, &ah, 9, &m, 1), 0);
	assert_int_equal(pm_rdma_ud_poll(&ud, ev, 4), 1);
	a = ev[0].ts_ns;
	usleep(400000);
	assert_int_equal(pm_rdma_ud_send(&ud, &ah, 9, &m, 2), 0);
	assert_int_equal(pm_rdma_ud_poll(&ud, ev, 4), 1);
	b = ev[0].ts_ns;
	/* 400 ms (+ scheduling), not 400 - 256 */
	assert_true(b - a >= 398000000ULL && b - a <= 460000000ULL);
	pm_rdma_ud_close(&ud);
	drop_sends = 0;
	assert_nothing_live();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_open_close, setup),
		cmocka_unit_test_setup(test_open_failures, setup),
		cmocka_unit_test_setup(test_send_busy_and_errors, setup),
		cmocka_unit_test_setup(test_refusals, setup),
		cmocka_unit_test_setup(test_exchange, setup),
		cmocka_unit_test_setup(test_reflector, setup),
		cmocka_unit_test_setup(test_ahc, setup),
		cmocka_unit_test(test_extend_near),
		cmocka_unit_test_setup(test_hwts, setup),
		cmocka_unit_test_setup(test_hwts_reflector, setup),
		cmocka_unit_test_setup(test_hwts_fallback, setup),
		cmocka_unit_test_setup(test_hwts_idle_wrap, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
