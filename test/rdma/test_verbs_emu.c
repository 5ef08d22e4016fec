/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the emulated verbs device (verbs_emu.c), driven only
 * through <infiniband/verbs.h> as an engine would drive a real RNIC: two
 * devices with a UD QP each, sends with and without immediate both ways,
 * the GRH a receive carries, UD drops (Q_Key mismatch, no receive posted,
 * the PM_VERBS_EMU_DROP fraction), error completions, the extended CQ with
 * completion timestamps (monotonic, wrapping at a small mask, anchored by
 * ibv_query_rt_values_ex), verbs failing on demand and a port down.  The
 * PM_VERBS_EMU_* environment is set per test and re-read with
 * pm_verbs_emu_reload().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <infiniband/verbs.h>

#include "verbs_emu.h"

#define QKEY		0x11111111u
#define GRH		40
#define SLOT		256
#define NSLOT		64
#define WAIT_NS		2000000000ULL

struct ep {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_cq_ex *cqx;	/* when opened with an extended CQ */
	struct ibv_qp *qp;
	struct ibv_mr *mr;
	struct ibv_ah *ah;	/* to the peer */
	uint8_t buf[NSLOT * SLOT];
	union ibv_gid gid;	/* index 1 */
};

static struct ibv_device **devs;
static int ndevs;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void
env(const char *name, const char *val)
{
	if (val == NULL)
		unsetenv(name);
	else
		setenv(name, val, 1);
	pm_verbs_emu_reload();
}

static void
env_clear(void)
{
	static const char *const names[] = {
		"PM_VERBS_EMU_DEVS", "PM_VERBS_EMU_PORT_DOWN",
		"PM_VERBS_EMU_FAIL", "PM_VERBS_EMU_DROP", "PM_VERBS_EMU_SEED",
		"PM_VERBS_EMU_DELAY_US", "PM_VERBS_EMU_ERR_EVERY",
		"PM_VERBS_EMU_KHZ", "PM_VERBS_EMU_TS_MASK",
		"PM_VERBS_EMU_NO_HWTS", "PM_VERBS_EMU_RX_STAMP",
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unsetenv(names[i]);
	pm_verbs_emu_reload();
}

static void
post_recv(struct ep *e, uint32_t slot, uint32_t len)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)(e->buf + (size_t)slot * SLOT),
		.length = len,
		.lkey = e->mr->lkey,
	};
	struct ibv_recv_wr wr = {
		.wr_id = slot,
		.sg_list = &sge,
		.num_sge = 1,
	}, *bad;

	assert_int_equal(ibv_post_recv(e->qp, &wr, &bad), 0);
}

static void
to_rts(struct ibv_qp *qp, uint32_t qkey)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.pkey_index = 0,
		.port_num = 1,
		.qkey = qkey,
	};

	assert_int_equal(ibv_modify_qp(qp, &a, IBV_QP_STATE |
				       IBV_QP_PKEY_INDEX | IBV_QP_PORT |
				       IBV_QP_QKEY), 0);
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	assert_int_equal(ibv_modify_qp(qp, &a, IBV_QP_STATE), 0);
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = 0;
	assert_int_equal(ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN),
			 0);
}

static struct ep *
ep_open(int dev, uint64_t wc_flags, int nrecv)
{
	struct ep *e = calloc(1, sizeof(*e));
	struct ibv_qp_init_attr qa;
	int i;

	assert_non_null(e);
	e->ctx = ibv_open_device(devs[dev]);
	assert_non_null(e->ctx);
	e->pd = ibv_alloc_pd(e->ctx);
	assert_non_null(e->pd);
	if (wc_flags != 0) {
		struct ibv_cq_init_attr_ex ca = {
			.cqe = 4 * NSLOT,
			.wc_flags = wc_flags,
		};

		e->cqx = ibv_create_cq_ex(e->ctx, &ca);
		assert_non_null(e->cqx);
		e->cq = ibv_cq_ex_to_cq(e->cqx);
	} else {
		e->cq = ibv_create_cq(e->ctx, 4 * NSLOT, NULL, NULL, 0);
		assert_non_null(e->cq);
	}
	memset(&qa, 0, sizeof(qa));
	qa.send_cq = e->cq;
	qa.recv_cq = e->cq;
	qa.qp_type = IBV_QPT_UD;
	qa.cap.max_send_wr = NSLOT;
	qa.cap.max_recv_wr = NSLOT;
	qa.cap.max_send_sge = 2;
	qa.cap.max_recv_sge = 1;
	e->qp = ibv_create_qp(e->pd, &qa);
	assert_non_null(e->qp);
	assert_true(e->qp->qp_num > 0 && e->qp->qp_num < 65536);
	e->mr = ibv_reg_mr(e->pd, e->buf, sizeof(e->buf),
			   IBV_ACCESS_LOCAL_WRITE);
	assert_non_null(e->mr);
	to_rts(e->qp, QKEY);
	assert_int_equal(ibv_query_gid(e->ctx, 1, 1, &e->gid), 0);
	for (i = 0; i < nrecv; i++)
		post_recv(e, (uint32_t)i, SLOT);
	return e;
}

static void
ep_ah(struct ep *e, const struct ep *peer)
{
	struct ibv_ah_attr aa;

	memset(&aa, 0, sizeof(aa));
	aa.port_num = 1;
	aa.is_global = 1;
	aa.grh.dgid = peer->gid;
	aa.grh.sgid_index = 1;
	aa.grh.hop_limit = 64;
	e->ah = ibv_create_ah(e->pd, &aa);
	assert_non_null(e->ah);
}

static void
ep_close(struct ep *e)
{
	if (e->ah != NULL)
		assert_int_equal(ibv_destroy_ah(e->ah), 0);
	assert_int_equal(ibv_destroy_qp(e->qp), 0);
	assert_int_equal(ibv_dereg_mr(e->mr), 0);
	assert_int_equal(ibv_destroy_cq(e->cq), 0);
	assert_int_equal(ibv_dealloc_pd(e->pd), 0);
	assert_int_equal(ibv_close_device(e->ctx), 0);
	free(e);
}

/* Send @len bytes of @p (in two SGEs when @split) to @peer. */
static int
send_to(struct ep *e, const struct ep *peer, uint64_t wr_id, const void *p,
	uint32_t len, int imm, uint32_t imm_host, uint32_t qkey, int split)
{
	uint8_t *src = e->buf + (NSLOT - 1) * SLOT;
	struct ibv_sge sge[2] = {
		{
			.addr = (uintptr_t)src,
			.length = split ? len / 2 : len,
			.lkey = e->mr->lkey,
		},
		{
			.addr = (uintptr_t)(src + len / 2),
			.length = len - len / 2,
			.lkey = e->mr->lkey,
		},
	};
	struct ibv_send_wr wr, *bad;

	memcpy(src, p, len);
	memset(&wr, 0, sizeof(wr));
	wr.wr_id = wr_id;
	wr.sg_list = sge;
	wr.num_sge = split ? 2 : 1;
	wr.opcode = imm ? IBV_WR_SEND_WITH_IMM : IBV_WR_SEND;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.imm_data = htonl(imm_host);
	wr.wr.ud.ah = e->ah;
	wr.wr.ud.remote_qpn = peer->qp->qp_num;
	wr.wr.ud.remote_qkey = qkey;
	return ibv_post_send(e->qp, &wr, &bad);
}

/* Poll @e until @want completions arrived (or 2 s passed). */
static int
poll_n(struct ep *e, struct ibv_wc *wc, int want)
{
	uint64_t t0 = now_ns();
	int got = 0, n;

	while (got < want && now_ns() - t0 < WAIT_NS) {
		n = ibv_poll_cq(e->cq, want - got, wc + got);
		assert_true(n >= 0);
		got += n;
	}
	return got;
}

/* One completion of the given opcode (skipping none). */
static void
expect_one(struct ep *e, struct ibv_wc *wc, enum ibv_wc_opcode op)
{
	assert_int_equal(poll_n(e, wc, 1), 1);
	assert_int_equal(wc->opcode, op);
}

static int
group_setup(void **state)
{
	(void)state;
	env_clear();
	devs = ibv_get_device_list(&ndevs);
	return devs == NULL ? -1 : 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	ibv_free_device_list(devs);
	return 0;
}

static struct pm_verbs_emu_live live0;

static int
test_setup(void **state)
{
	(void)state;
	env_clear();
	pm_verbs_emu_stats_reset();
	pm_verbs_emu_live_get(&live0);
	return 0;
}

/* Every test leaves no object behind. */
static int
test_teardown(void **state)
{
	struct pm_verbs_emu_live l;

	(void)state;
	env_clear();
	pm_verbs_emu_live_get(&l);
	l.ctx -= live0.ctx;
	l.pd -= live0.pd;
	l.mr -= live0.mr;
	l.cq -= live0.cq;
	l.qp -= live0.qp;
	l.ah -= live0.ah;
	if (l.ctx || l.pd || l.mr || l.cq || l.qp || l.ah) {
		print_error("leak: ctx %d pd %d mr %d cq %d qp %d ah %d\n",
			    l.ctx, l.pd, l.mr, l.cq, l.qp, l.ah);
		return -1;
	}
	return 0;
}

static void
test_devices(void **state)
{
	static const uint8_t ll[8] = { 0xfe, 0x80 };
	struct ibv_device_attr da;
	struct ibv_port_attr pa;
	struct ibv_context *ctx;
	struct ibv_device **l;
	union ibv_gid gid;
	__be16 pkey;
	int n, i;

	(void)state;
	assert_int_equal(ndevs, 2);
	assert_string_equal(ibv_get_device_name(devs[0]), "emu0");
	assert_string_equal(ibv_get_device_name(devs[1]), "emu1");
	assert_null(devs[2]);
	for (i = 0; i < 2; i++) {
		ctx = ibv_open_device(devs[i]);
		assert_non_null(ctx);
		assert_ptr_equal(ctx->device, devs[i]);
		assert_int_equal(ibv_query_device(ctx, &da), 0);
		assert_int_equal(da.phys_port_cnt, 1);
		assert_true(da.max_qp >= 256);
		assert_int_equal(ibv_query_port(ctx, 1, &pa), 0);
		assert_int_equal(pa.state, IBV_PORT_ACTIVE);
		assert_int_equal(pa.link_layer, IBV_LINK_LAYER_ETHERNET);
		assert_int_equal(pa.active_mtu, IBV_MTU_1024);
		assert_int_equal(pa.gid_tbl_len, 4);
		assert_int_not_equal(ibv_query_port(ctx, 2, &pa), 0);
		assert_int_equal(ibv_query_gid(ctx, 1, 0, &gid), 0);
		assert_memory_equal(gid.raw, ll, 8);
		assert_int_equal(ibv_query_gid(ctx, 1, 1, &gid), 0);
		assert_int_equal(gid.raw[10], 0xff);
		assert_int_equal(gid.raw[11], 0xff);
		assert_int_equal(gid.raw[12], 127);
		assert_int_equal(gid.raw[15], 1 + i);
		assert_int_equal(ibv_query_gid(ctx, 1, 3, &gid), 0);
		errno = 0;
		assert_int_equal(ibv_query_gid(ctx, 1, 4, &gid), -1);
		assert_int_equal(errno, EINVAL);
		assert_int_equal(ibv_query_pkey(ctx, 1, 0, &pkey), 0);
		assert_int_equal(ntohs(pkey), 0xffff);
		assert_int_equal(ibv_close_device(ctx), 0);
	}
	/* The device count comes from the environment. */
	setenv("PM_VERBS_EMU_DEVS", "5", 1);
	l = ibv_get_device_list(&n);
	assert_non_null(l);
	assert_int_equal(n, 5);
	assert_string_equal(ibv_get_device_name(l[4]), "emu4");
	ibv_free_device_list(l);
	setenv("PM_VERBS_EMU_DEVS", "0", 1);
	l = ibv_get_device_list(&n);
	assert_non_null(l);
	assert_int_equal(n, 0);
	assert_null(l[0]);
	ibv_free_device_list(l);
}

static void
test_port_down(void **state)
{
	struct ibv_port_attr pa;
	struct ibv_context *c0, *c1;
	struct ibv_device **l;

	(void)state;
	setenv("PM_VERBS_EMU_PORT_DOWN", "emu1", 1);
	l = ibv_get_device_list(NULL);	/* re-reads the environment */
	assert_non_null(l);
	c0 = ibv_open_device(l[0]);
	c1 = ibv_open_device(l[1]);
	assert_int_equal(ibv_query_port(c0, 1, &pa), 0);
	assert_int_equal(pa.state, IBV_PORT_ACTIVE);
	assert_int_equal(ibv_query_port(c1, 1, &pa), 0);
	assert_int_equal(pa.state, IBV_PORT_DOWN);
	env("PM_VERBS_EMU_PORT_DOWN", NULL);
	assert_int_equal(ibv_query_port(c1, 1, &pa), 0);
	assert_int_equal(pa.state, IBV_PORT_ACTIVE);
	ibv_close_device(c0);
	ibv_close_device(c1);
	ibv_free_device_list(l);
}

static void
check_rx(struct ep *rx, struct ep *tx, const struct ibv_wc *wc,
	 const char *msg, uint32_t len, int imm, uint32_t imm_host)
{
	const uint8_t *p = rx->buf + (size_t)wc->wr_id * SLOT;

	assert_int_equal(wc->status, IBV_WC_SUCCESS);
	assert_int_equal(wc->opcode, IBV_WC_RECV);
	assert_int_equal(wc->byte_len, GRH + len);
	assert_int_equal(wc->qp_num, rx->qp->qp_num);
	assert_int_equal(wc->src_qp, tx->qp->qp_num);
	assert_true(wc->wc_flags & IBV_WC_GRH);
	if (imm) {
		assert_true(wc->wc_flags & IBV_WC_WITH_IMM);
		assert_int_equal(ntohl(wc->imm_data), imm_host);
	} else {
		assert_false(wc->wc_flags & IBV_WC_WITH_IMM);
	}
	/* GRH: IPv6 version, hop limit, SGID at 8, DGID at 24. */
	assert_int_equal(p[0] >> 4, 6);
	assert_int_equal(p[7], 64);
	assert_memory_equal(p + 8, tx->gid.raw, 16);
	assert_memory_equal(p + 24, rx->gid.raw, 16);
	assert_memory_equal(p + GRH, msg, len);
}

static void
test_send_both_ways(void **state)
{
	struct ep *a = ep_open(0, 0, 8), *b = ep_open(1, 0, 8);
	static const char m1[] = "ping from emu0", m2[] = "pong from emu1!";
	struct ibv_wc wc;

	(void)state;
	assert_int_not_equal(a->qp->qp_num, b->qp->qp_num);
	assert_memory_not_equal(a->gid.raw, b->gid.raw, 16);
	ep_ah(a, b);
	ep_ah(b, a);

	assert_int_equal(send_to(a, b, 1000, m1, sizeof(m1), 1, 0xabcdef01,
				 QKEY, 0), 0);
	expect_one(a, &wc, IBV_WC_SEND);
	assert_int_equal(wc.status, IBV_WC_SUCCESS);
	assert_int_equal(wc.wr_id, 1000);
	expect_one(b, &wc, IBV_WC_RECV);
	check_rx(b, a, &wc, m1, sizeof(m1), 1, 0xabcdef01);
	assert_int_equal(wc.wr_id, 0);

	assert_int_equal(send_to(b, a, 2000, m2, sizeof(m2), 1, 7, QKEY, 1),
			 0);
	expect_one(b, &wc, IBV_WC_SEND);
	assert_int_equal(wc.wr_id, 2000);
	expect_one(a, &wc, IBV_WC_RECV);
	check_rx(a, b, &wc, m2, sizeof(m2), 1, 7);

	/* Plain SEND, two SGEs, the next receive. */
	assert_int_equal(send_to(a, b, 1001, m2, sizeof(m2), 0, 0, QKEY, 1),
			 0);
	expect_one(a, &wc, IBV_WC_SEND);
	expect_one(b, &wc, IBV_WC_RECV);
	check_rx(b, a, &wc, m2, sizeof(m2), 0, 0);
	assert_int_equal(wc.wr_id, 1);

	ep_close(a);
	ep_close(b);
}

static void
test_ud_drops(void **state)
{
	struct ep *a = ep_open(0, 0, 0), *b = ep_open(1, 0, 0);
	struct pm_verbs_emu_stats st;
	struct ibv_wc wc[4];
	uint64_t t0;
	int i;

	(void)state;
	ep_ah(a, b);
	/* No receive posted: the datagrams are dropped when b polls. */
	for (i = 0; i < 3; i++)
		assert_int_equal(send_to(a, b, (uint64_t)i, "x", 1, 1, 1, QKEY,
					 0), 0);
	assert_int_equal(poll_n(a, wc, 3), 3);
	t0 = now_ns();
	do {
		assert_int_equal(ibv_poll_cq(b->cq, 4, wc), 0);
		pm_verbs_emu_stats_get(&st);
	} while (st.rx_no_recv < 3 && now_ns() - t0 < WAIT_NS);
	assert_int_equal(st.rx_no_recv, 3);

	/* Wrong Q_Key: dropped; the next good one is delivered. */
	post_recv(b, 0, SLOT);
	post_recv(b, 1, SLOT);
	assert_int_equal(send_to(a, b, 10, "bad", 3, 1, 2, QKEY + 1, 0), 0);
	assert_int_equal(send_to(a, b, 11, "good", 4, 1, 3, QKEY, 0), 0);
	assert_int_equal(poll_n(a, wc, 2), 2);
	expect_one(b, wc, IBV_WC_RECV);
	check_rx(b, a, wc, "good", 4, 1, 3);
	assert_int_equal(wc[0].wr_id, 0);
	pm_verbs_emu_stats_get(&st);
	assert_int_equal(st.rx_qkey, 1);

	/* Receive buffer too small: a LOC_LEN_ERR completion. */
	post_recv(b, 2, GRH + 2);
	assert_int_equal(send_to(a, b, 12, "toolong", 7, 1, 4, QKEY, 0), 0);
	expect_one(b, wc, IBV_WC_RECV);	/* slot 1 still posted first */
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_int_equal(send_to(a, b, 13, "toolong", 7, 1, 4, QKEY, 0), 0);
	assert_int_equal(poll_n(b, wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_LOC_LEN_ERR);
	assert_int_equal(wc[0].wr_id, 2);
	assert_int_equal(poll_n(a, wc, 2), 2);

	/* Longer than the 1024-byte path MTU: the send fails. */
	{
		struct ibv_sge sge = {
			.addr = (uintptr_t)a->buf,
			.length = 1025,
			.lkey = a->mr->lkey,
		};
		struct ibv_send_wr wr, *bad;

		memset(&wr, 0, sizeof(wr));
		wr.wr_id = 14;
		wr.sg_list = &sge;
		wr.num_sge = 1;
		wr.opcode = IBV_WR_SEND;
		wr.wr.ud.ah = a->ah;
		wr.wr.ud.remote_qpn = b->qp->qp_num;
		wr.wr.ud.remote_qkey = QKEY;
		/* unsignaled, but errors always complete */
		assert_int_equal(ibv_post_send(a->qp, &wr, &bad), 0);
		assert_int_equal(poll_n(a, wc, 1), 1);
		assert_int_equal(wc[0].status, IBV_WC_LOC_LEN_ERR);
		assert_int_equal(wc[0].wr_id, 14);
		sge.length = 1024;
		wr.send_flags = IBV_SEND_SIGNALED;
		assert_int_equal(ibv_post_send(a->qp, &wr, &bad), 0);
		assert_int_equal(poll_n(a, wc, 1), 1);
		assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	}
	ep_close(a);
	ep_close(b);
}

static void
test_errors(void **state)
{
	struct ep *a = ep_open(0, 0, 4), *b = ep_open(1, 0, 8);
	struct ibv_qp_init_attr qa;
	struct ibv_qp_attr attr;
	struct ibv_ah_attr aa;
	struct ibv_wc wc[8];
	int i, ok = 0, err = 0;

	(void)state;
	ep_ah(a, b);
	/* Every third send completes with an error and is not sent. */
	env("PM_VERBS_EMU_ERR_EVERY", "3");
	for (i = 0; i < 6; i++)
		assert_int_equal(send_to(a, b, (uint64_t)i, "e", 1, 1, 0, QKEY,
					 0), 0);
	assert_int_equal(poll_n(a, wc, 6), 6);
	for (i = 0; i < 6; i++) {
		if (wc[i].status == IBV_WC_SUCCESS) {
			ok++;
		} else {
			assert_int_equal(wc[i].status, IBV_WC_RETRY_EXC_ERR);
			assert_int_equal(wc[i].wr_id % 3, 2);
			err++;
		}
	}
	assert_int_equal(ok, 4);
	assert_int_equal(err, 2);
	assert_int_equal(poll_n(b, wc, 4), 4);
	env("PM_VERBS_EMU_ERR_EVERY", NULL);

	/* Only UD QPs. */
	memset(&qa, 0, sizeof(qa));
	qa.send_cq = a->cq;
	qa.recv_cq = a->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = 1;
	qa.cap.max_recv_wr = 1;
	errno = 0;
	assert_null(ibv_create_qp(a->pd, &qa));
	assert_int_equal(errno, EOPNOTSUPP);

	/* A fresh QP: no sends before RTS, no RESET -> RTR. */
	qa.qp_type = IBV_QPT_UD;
	{
		struct ibv_qp *qp = ibv_create_qp(a->pd, &qa);
		struct ibv_send_wr swr, *bad;

		assert_non_null(qp);
		memset(&attr, 0, sizeof(attr));
		attr.qp_state = IBV_QPS_RTR;
		assert_int_equal(ibv_modify_qp(qp, &attr, IBV_QP_STATE),
				 EINVAL);
		memset(&swr, 0, sizeof(swr));
		swr.opcode = IBV_WR_SEND;
		swr.wr.ud.ah = a->ah;
		assert_int_equal(ibv_post_send(qp, &swr, &bad), EINVAL);
		assert_ptr_equal(bad, &swr);
		/* Still attached: the CQ and PD are busy. */
		assert_int_equal(ibv_destroy_cq(a->cq), EBUSY);
		assert_int_equal(ibv_destroy_qp(qp), 0);
	}
	assert_int_equal(ibv_dealloc_pd(a->pd), EBUSY);

	/* RoCE: an AH needs a GRH and a populated source GID. */
	memset(&aa, 0, sizeof(aa));
	aa.port_num = 1;
	errno = 0;
	assert_null(ibv_create_ah(a->pd, &aa));
	assert_int_equal(errno, EINVAL);
	aa.is_global = 1;
	aa.grh.sgid_index = 3;
	assert_null(ibv_create_ah(a->pd, &aa));

	/* Moving to ERR flushes posted receives. */
	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_ERR;
	assert_int_equal(ibv_modify_qp(b->qp, &attr, IBV_QP_STATE), 0);
	assert_int_equal(poll_n(b, wc, 4), 4);
	for (i = 0; i < 4; i++)
		assert_int_equal(wc[i].status, IBV_WC_WR_FLUSH_ERR);
	ep_close(a);
	ep_close(b);
}

static void
test_fail_env(void **state)
{
	static const char *const verbs[] = {
		"ibv_open_device", "ibv_alloc_pd", "ibv_create_cq",
		"ibv_create_cq_ex", "ibv_create_qp", "ibv_reg_mr",
		"ibv_create_ah", "ibv_query_port", "ibv_post_send",
		"ibv_get_device_list",
	};
	struct ep *a = ep_open(0, 0, 1), *b = ep_open(1, 0, 1);
	struct ibv_cq_init_attr_ex ca = { .cqe = 4 };
	struct ibv_qp_init_attr qa;
	struct ibv_port_attr pa;
	struct ibv_ah_attr aa;
	uint8_t buf[64];
	size_t i;
	int rc;

	(void)state;
	ep_ah(a, b);
	memset(&qa, 0, sizeof(qa));
	qa.send_cq = a->cq;
	qa.recv_cq = a->cq;
	qa.qp_type = IBV_QPT_UD;
	qa.cap.max_send_wr = 1;
	qa.cap.max_recv_wr = 1;
	memset(&aa, 0, sizeof(aa));
	aa.port_num = 1;
	aa.is_global = 1;
	aa.grh.sgid_index = 1;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		env("PM_VERBS_EMU_FAIL", verbs[i]);
		errno = 0;
		switch (i) {
		case 0:
			assert_null(ibv_open_device(devs[0]));
			break;
		case 1:
			assert_null(ibv_alloc_pd(a->ctx));
			break;
		case 2:
			assert_null(ibv_create_cq(a->ctx, 4, NULL, NULL, 0));
			break;
		case 3:
			assert_null(ibv_create_cq_ex(a->ctx, &ca));
			break;
		case 4:
			assert_null(ibv_create_qp(a->pd, &qa));
			break;
		case 5:
			assert_null(ibv_reg_mr(a->pd, buf, sizeof(buf),
					       IBV_ACCESS_LOCAL_WRITE));
			break;
		case 6:
			assert_null(ibv_create_ah(a->pd, &aa));
			break;
		case 7:
			assert_int_equal(ibv_query_port(a->ctx, 1, &pa),
					 ENOMEM);
			break;
		case 8:
			rc = send_to(a, b, 1, "x", 1, 0, 0, QKEY, 0);
			assert_int_equal(rc, ENOMEM);
			errno = rc;	/* data-path verbs return it */
			break;
		case 9:
			/* The list re-reads the environment, then fails. */
			setenv("PM_VERBS_EMU_FAIL", "get_device_list", 1);
			assert_null(ibv_get_device_list(NULL));
			break;
		}
		assert_int_equal(errno, ENOMEM);
	}
	env("PM_VERBS_EMU_FAIL", NULL);
	/* Everything works again. */
	assert_int_equal(send_to(a, b, 1, "x", 1, 0, 0, QKEY, 0), 0);
	{
		struct ibv_wc wc;

		expect_one(a, &wc, IBV_WC_SEND);
		expect_one(b, &wc, IBV_WC_RECV);
	}
	ep_close(a);
	ep_close(b);
}

static const uint64_t ts_flags = IBV_WC_EX_WITH_COMPLETION_TIMESTAMP |
				 IBV_WC_EX_WITH_BYTE_LEN |
				 IBV_WC_EX_WITH_IMM |
				 IBV_WC_EX_WITH_SRC_QP |
				 IBV_WC_EX_WITH_SLID |
				 IBV_WC_EX_WITH_QP_NUM;

struct stamp {
	uint64_t wr_id;
	enum ibv_wc_opcode op;
	uint64_t ts;
};

/* Read every completion of @e's extended CQ into @s (up to @max). */
static int
poll_ex(struct ep *e, struct stamp *s, int max)
{
	struct ibv_poll_cq_attr pa = { .comp_mask = 0 };
	int n = 0, rc;

	rc = ibv_start_poll(e->cqx, &pa);
	if (rc == ENOENT)
		return 0;
	assert_int_equal(rc, 0);
	do {
		assert_int_equal(e->cqx->status, IBV_WC_SUCCESS);
		assert_true(n < max);
		s[n].wr_id = e->cqx->wr_id;
		s[n].op = ibv_wc_read_opcode(e->cqx);
		s[n].ts = ibv_wc_read_completion_ts(e->cqx);
		if (s[n].op == IBV_WC_RECV) {
			assert_int_equal(ibv_wc_read_byte_len(e->cqx), GRH + 4);
			assert_int_equal(ibv_wc_read_qp_num(e->cqx),
					 e->qp->qp_num);
			assert_true(ibv_wc_read_wc_flags(e->cqx) &
				    IBV_WC_WITH_IMM);
			assert_int_equal(ntohl(ibv_wc_read_imm_data(e->cqx)),
					 0x5a5a);
			assert_int_equal(ibv_wc_read_slid(e->cqx), 0);
			assert_true(ibv_wc_read_src_qp(e->cqx) > 0);
		}
		n++;
	} while (ibv_next_poll(e->cqx) == 0);
	ibv_end_poll(e->cqx);
	return n;
}

static uint64_t
rt_clock(struct ep *e)
{
	struct ibv_values_ex v = { .comp_mask = IBV_VALUES_MASK_RAW_CLOCK };

	assert_int_equal(ibv_query_rt_values_ex(e->ctx, &v), 0);
	assert_int_equal(v.comp_mask, IBV_VALUES_MASK_RAW_CLOCK);
	assert_int_equal(v.raw_clock.tv_sec, 0);
	return (uint64_t)v.raw_clock.tv_nsec;
}

/*
 * @n pings a -> b, @gap_us apart, each stamped on both sides.  Checks the
 * stamps are masked, lie between rt_values reads around them and move
 * forward (mod the mask); returns how often a stamp wrapped.
 */
static int
stamp_run(struct ep *a, struct ep *b, uint64_t mask, int n, int gap_us)
{
	struct stamp s[8];
	uint64_t r0, r1, prev_tx = 0, prev_rx = 0, host0, host_prev = 0;
	int i, k, got, wraps = 0;

	for (i = 0; i < n; i++) {
		r0 = rt_clock(a);
		host0 = now_ns();
		assert_int_equal(send_to(a, b, (uint64_t)i, "tick", 4, 1,
					 0x5a5a, QKEY, 0), 0);
		got = 0;
		for (k = 0; k < 1000000 && got < 1; k++)
			got = poll_ex(a, s, 8);
		assert_int_equal(got, 1);
		assert_int_equal(s[0].op, IBV_WC_SEND);
		assert_int_equal(s[0].wr_id, (uint64_t)i);
		assert_true(s[0].ts <= mask);
		if (i > 0 && s[0].ts < prev_tx)
			wraps++;
		prev_tx = s[0].ts;
		/* Within [r0, r1] in the wrapped sense (same device clock). */
		got = 0;
		for (k = 0; k < 1000000 && got < 1; k++)
			got = poll_ex(b, s + 1, 7);
		assert_int_equal(got, 1);
		assert_int_equal(s[1].op, IBV_WC_RECV);
		r1 = rt_clock(a);
		/* (unless a stall made r0..r1 longer than half a wrap) */
		if (now_ns() - host0 < mask / 2)
			assert_true(((s[0].ts - r0) & mask) <=
				    ((r1 - r0) & mask));
		/* The rx stamp is b's clock: later than its previous one. */
		assert_true(s[1].ts <= mask);
		if (i > 0) {
			uint64_t d = (s[1].ts - prev_rx) & mask;

			assert_true(d > 0);
			/* no more than the host time elapsed since before
			 * the previous ping was sent (1 GHz), whatever the
			 * scheduler did in between */
			assert_true(d <= now_ns() - host_prev + 1000000);
		}
		prev_rx = s[1].ts;
		host_prev = host0;
		post_recv(b, (uint32_t)(i % 4), SLOT);
		if (gap_us > 0) {
			struct timespec ts = { 0, gap_us * 1000L };

			nanosleep(&ts, NULL);
		}
	}
	return wraps;
}

static void
test_cq_ex_timestamps(void **state)
{
	struct ibv_device_attr_ex dx;
	struct ep *a, *b;

	(void)state;
	a = ep_open(0, ts_flags, 4);
	b = ep_open(1, ts_flags, 4);
	ep_ah(a, b);
	ep_ah(b, a);
	memset(&dx, 0, sizeof(dx));
	assert_int_equal(ibv_query_device_ex(a->ctx, NULL, &dx), 0);
	assert_int_equal(dx.completion_timestamp_mask, (1ULL << 48) - 1);
	assert_int_equal(dx.hca_core_clock, 1000000);
	assert_int_equal(dx.orig_attr.phys_port_cnt, 1);
	/* Two devices, two free-running clocks with different offsets. */
	assert_int_not_equal(rt_clock(a) >> 32, rt_clock(b) >> 32);
	stamp_run(a, b, (1ULL << 48) - 1, 200, 0);
	/* A reflector answers inside its poll loop, on a QP of that CQ. */
	{
		struct ibv_poll_cq_attr pa = { .comp_mask = 0 };
		struct stamp st[2];
		int k, got = 0, replied = 0;

		assert_int_equal(send_to(a, b, 5, "tick", 4, 1, 0x5a5a, QKEY,
					 0), 0);
		for (k = 0; k < 1000000 && !replied; k++) {
			if (ibv_start_poll(b->cqx, &pa) != 0)
				continue;
			do {
				if (ibv_wc_read_opcode(b->cqx) != IBV_WC_RECV)
					continue;
				assert_int_equal(send_to(b, a, 6, "tick", 4, 1,
							 0x5a5a, QKEY, 0), 0);
				post_recv(b, (uint32_t)b->cqx->wr_id, SLOT);
				replied = 1;
			} while (ibv_next_poll(b->cqx) == 0);
			ibv_end_poll(b->cqx);
		}
		assert_true(replied);
		for (k = 0; k < 1000000 && got < 2; k++)
			got += poll_ex(a, st + got, 2 - got);
		assert_int_equal(got, 2);	/* the send, the reply */
		assert_int_equal(st[1].op, IBV_WC_RECV);
		/* the reply's send completion: read in the loop or now */
		assert_true(poll_ex(b, st, 2) <= 1);
		post_recv(a, 0, SLOT);
	}
	/* ibv_poll_cq works on the same extended CQ. */
	{
		struct ibv_wc wc;

		assert_int_equal(send_to(a, b, 77, "tick", 4, 1, 0x5a5a, QKEY,
					 0), 0);
		expect_one(a, &wc, IBV_WC_SEND);
		assert_int_equal(wc.wr_id, 77);
		expect_one(b, &wc, IBV_WC_RECV);
		check_rx(b, a, &wc, "tick", 4, 1, 0x5a5a);
	}
	ep_close(a);
	ep_close(b);

	/* A 20-bit mask at 1 GHz wraps every 1.05 ms. */
	env("PM_VERBS_EMU_TS_MASK", "0xfffff");
	a = ep_open(0, ts_flags, 4);
	b = ep_open(1, ts_flags, 4);
	ep_ah(a, b);
	assert_int_equal(ibv_query_device_ex(a->ctx, NULL, &dx), 0);
	assert_int_equal(dx.completion_timestamp_mask, 0xfffff);
	assert_true(rt_clock(a) <= 0xfffff);
	assert_true(stamp_run(a, b, 0xfffff, 60, 300) >= 5);
	ep_close(a);
	ep_close(b);
}

/*
 * Receive stamps: by default when a poll pulls the datagram in; with
 * PM_VERBS_EMU_RX_STAMP=arrival at send + delay, however late the poll.
 * Both QPs on emu0, so both stamps are of one clock.
 */
static void
test_rx_stamp(void **state)
{
	struct timespec late = { 0, 30000000 };
	struct stamp s[4];
	struct ep *a, *b;
	uint64_t d[2];
	int mode, got, k;

	(void)state;
	env("PM_VERBS_EMU_DELAY_US", "5000");
	for (mode = 0; mode < 2; mode++) {
		env("PM_VERBS_EMU_RX_STAMP", mode ? "arrival" : NULL);
		a = ep_open(0, ts_flags, 0);
		b = ep_open(0, ts_flags, 1);
		ep_ah(a, b);
		assert_int_equal(send_to(a, b, 1, "tick", 4, 1, 0x5a5a, QKEY,
					 0), 0);
		assert_int_equal(poll_ex(a, s, 4), 1);
		nanosleep(&late, NULL);
		got = 0;
		for (k = 0; k < 1000000 && got < 1; k++)
			got = poll_ex(b, s + 1, 3);
		assert_int_equal(got, 1);
		d[mode] = (s[1].ts - s[0].ts) & ((1ULL << 48) - 1);
		ep_close(a);
		ep_close(b);
	}
	print_message("rx - tx stamp, polled 30 ms late: pull-in %" PRIu64
		      " us, arrival %" PRIu64 " us (delay 5000 us)\n",
		      d[0] / 1000, d[1] / 1000);
	assert_true(d[0] >= 30000000);
	assert_true(d[1] >= 5000000 && d[1] < 6000000);
}

static void
test_no_hwts(void **state)
{
	struct ibv_cq_init_attr_ex ca = {
		.cqe = 16,
		.wc_flags = ts_flags,
	};
	struct ibv_values_ex v = { .comp_mask = IBV_VALUES_MASK_RAW_CLOCK };
	struct ibv_device_attr_ex dx;
	struct ibv_context *ctx;
	struct ibv_cq_ex *cqx;

	(void)state;
	env("PM_VERBS_EMU_NO_HWTS", "1");
	ctx = ibv_open_device(devs[0]);
	assert_non_null(ctx);
	assert_int_equal(ibv_query_device_ex(ctx, NULL, &dx), 0);
	assert_int_equal(dx.completion_timestamp_mask, 0);
	errno = 0;
	assert_null(ibv_create_cq_ex(ctx, &ca));
	assert_int_equal(errno, EOPNOTSUPP);
	assert_int_equal(ibv_query_rt_values_ex(ctx, &v), EOPNOTSUPP);
	ca.wc_flags &= ~(uint64_t)IBV_WC_EX_WITH_COMPLETION_TIMESTAMP;
	cqx = ibv_create_cq_ex(ctx, &ca);
	assert_non_null(cqx);
	assert_int_equal(ibv_destroy_cq(ibv_cq_ex_to_cq(cqx)), 0);
	/* Unknown wc_flags are refused too. */
	ca.wc_flags = IBV_WC_EX_WITH_FLOW_TAG;
	assert_null(ibv_create_cq_ex(ctx, &ca));
	assert_int_equal(ibv_close_device(ctx), 0);
}

static void
test_drop_fraction(void **state)
{
	struct ep *a, *b;
	struct pm_verbs_emu_stats st;
	struct ibv_wc wc[NSLOT];
	const int total = 2000, batch = 50;
	int sent = 0, rx = 0, n, i;
	uint64_t t0;
	double frac;

	(void)state;
	env("PM_VERBS_EMU_DROP", "0.05");
	env("PM_VERBS_EMU_SEED", "42");
	a = ep_open(0, 0, 0);
	b = ep_open(1, 0, NSLOT);
	ep_ah(a, b);
	while (sent < total) {
		for (i = 0; i < batch; i++, sent++)
			assert_int_equal(send_to(a, b, (uint64_t)sent, "d", 1,
						 1, (uint32_t)sent, QKEY, 0),
					 0);
		assert_int_equal(poll_n(a, wc, batch), batch);
		/* Take what arrived; the rest were dropped. */
		t0 = now_ns();
		for (;;) {
			pm_verbs_emu_stats_get(&st);
			if (st.rx + st.tx_drop >= (uint64_t)sent ||
			    now_ns() - t0 > WAIT_NS)
				break;
			n = ibv_poll_cq(b->cq, NSLOT, wc);
			for (i = 0; i < n; i++) {
				assert_int_equal(wc[i].status, IBV_WC_SUCCESS);
				post_recv(b, (uint32_t)wc[i].wr_id, SLOT);
			}
			rx += n;
		}
	}
	pm_verbs_emu_stats_get(&st);
	frac = (double)st.tx_drop / total;
	print_message("drop: %d sent, %d received, %" PRIu64
		      " dropped (%.2f%%)\n", total, rx, st.tx_drop,
		      frac * 100);
	assert_int_equal(rx + (int)st.tx_drop, total);
	assert_int_equal(st.rx_no_recv, 0);
	assert_true(frac >= 0.03 && frac <= 0.07);
	ep_close(a);
	ep_close(b);
}

static void
test_delay(void **state)
{
	struct ep *a, *b;
	struct ibv_wc wc;
	uint64_t t0, dt;

	(void)state;
	env("PM_VERBS_EMU_DELAY_US", "20000");
	a = ep_open(0, 0, 0);
	b = ep_open(1, 0, 2);
	ep_ah(a, b);
	t0 = now_ns();
	assert_int_equal(send_to(a, b, 5, "late", 4, 1, 9, QKEY, 0), 0);
	expect_one(a, &wc, IBV_WC_SEND);
	assert_int_equal(ibv_poll_cq(b->cq, 1, &wc), 0);
	expect_one(b, &wc, IBV_WC_RECV);
	dt = now_ns() - t0;
	print_message("delay: delivered after %" PRIu64 " us\n", dt / 1000);
	assert_true(dt >= 20000000);
	check_rx(b, a, &wc, "late", 4, 1, 9);
	ep_close(a);
	ep_close(b);
}

/* 4 threads, 8 QPs each, in one ring per thread; then 256 QPs at once. */
static void *
ring_thread(void *arg)
{
	struct ep *e[8];
	struct ibv_wc wc[2];
	int i, ok = 1;

	(void)arg;
	for (i = 0; i < 8; i++)
		e[i] = ep_open(i % 2, 0, 2);
	for (i = 0; i < 8; i++)
		ep_ah(e[i], e[(i + 1) % 8]);
	for (i = 0; i < 8; i++) {
		ok &= send_to(e[i], e[(i + 1) % 8], (uint64_t)i, "r", 1, 1,
			      (uint32_t)i, QKEY, 0) == 0;
		ok &= poll_n(e[i], wc, 1) == 1;
	}
	for (i = 0; i < 8; i++) {
		ok &= poll_n(e[i], wc, 1) == 1 && wc[0].opcode == IBV_WC_RECV &&
		      ntohl(wc[0].imm_data) == (uint32_t)((i + 7) % 8) &&
		      wc[0].src_qp == e[(i + 7) % 8]->qp->qp_num;
	}
	for (i = 0; i < 8; i++)
		ep_close(e[i]);
	return ok ? arg : NULL;
}

static void
test_many_qps(void **state)
{
	struct ibv_qp_init_attr qa;
	struct ibv_context *ctx;
	struct ibv_qp **qps;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	static int id[4];
	pthread_t th[4];
	void *ret;
	int i;

	(void)state;
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, ring_thread,
						&id[i]), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_non_null(ret);
	}
	ctx = ibv_open_device(devs[0]);
	pd = ibv_alloc_pd(ctx);
	cq = ibv_create_cq(ctx, 1024, NULL, NULL, 0);
	assert_non_null(cq);
	qps = calloc(256, sizeof(*qps));
	memset(&qa, 0, sizeof(qa));
	qa.send_cq = cq;
	qa.recv_cq = cq;
	qa.qp_type = IBV_QPT_UD;
	qa.cap.max_send_wr = 4;
	qa.cap.max_recv_wr = 4;
	for (i = 0; i < 256; i++) {
		qps[i] = ibv_create_qp(pd, &qa);
		assert_non_null(qps[i]);
	}
	for (i = 0; i < 256; i++)
		assert_int_equal(ibv_destroy_qp(qps[i]), 0);
	free(qps);
	assert_int_equal(ibv_destroy_cq(cq), 0);
	assert_int_equal(ibv_dealloc_pd(pd), 0);
	assert_int_equal(ibv_close_device(ctx), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_devices, test_setup,
						test_teardown),
		cmocka_unit_test_setup_teardown(test_port_down, test_setup,
						test_teardown),
		cmocka_unit_test_setup_teardown(test_send_both_ways,
						test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_ud_drops, test_setup,
						test_teardown),
		cmocka_unit_test_setup_teardown(test_errors, test_setup,
						test_teardown),
		cmocka_unit_test_setup_teardown(test_fail_env, test_setup,
						test_teardown),
		cmocka_unit_test_setup_teardown(test_cq_ex_timestamps,
						test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_rx_stamp, test_setup,
						test_teardown),
		cmocka_unit_test_setup_teardown(test_no_hwts, test_setup,
						test_teardown),
		cmocka_unit_test_setup_teardown(test_drop_fraction, test_setup,
						test_teardown),
		cmocka_unit_test_setup_teardown(test_delay, test_setup,
						test_teardown),
		cmocka_unit_test_setup_teardown(test_many_qps, test_setup,
						test_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
