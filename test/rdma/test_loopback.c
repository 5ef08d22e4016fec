/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rdma suite: a probe and its reply between two UD QPs on the first RDMA
 * device (loopback through the RNIC), through rdma/ud.c and the STAMP
 * message format.  Exits 77 saying why where there is no device (this
 * build machine's kernel has no RDMA); GID index from PM_RDMA_GID_INDEX
 * (default 0; RoCEv2 usually needs the IPv4 v2 GID, see `show_gids`).
 * Never run on hardware yet: see docs/rdma.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "pm_rdma_ud.h"

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

/* Poll @ud until an RX event arrives or 2 s pass. */
static int
wait_rx(struct pm_rdma_ud *ud, struct pm_rdma_ev *out)
{
	struct pm_rdma_ev ev[8];
	uint64_t end = now_ns() + 2000000000ull;
	unsigned int n, i;

	while (now_ns() < end) {
		n = pm_rdma_ud_poll(ud, ev, 8);
		for (i = 0; i < n; i++) {
			if (ev[i].kind == PM_RDMA_EV_RX) {
				*out = ev[i];
				return 0;
			}
		}
	}
	return -ETIMEDOUT;
}

int
main(void)
{
	struct ibv_device **list;
	struct ibv_context *ctx;
	struct ibv_port_attr pa;
	struct ibv_ah_attr aa;
	struct ibv_ah *ah = NULL;
	union ibv_gid gid;
	struct pm_rdma_ud a, b;
	struct pm_rdma_msg m = { .type = PM_RDMA_MSG_PROBE, .seq = 7, .ssid = 1 };
	struct pm_rdma_ev ev;
	const char *what, *env = getenv("PM_RDMA_GID_INDEX");
	int gidx = env != NULL ? atoi(env) : 0;
	int n = 0, rc = 1;

	if (access("/dev/infiniband", F_OK) != 0) {
		printf("SKIP: no RDMA device (no /dev/infiniband: no RDMA in this "
		       "kernel; Soft-RoCE: rdma link add rxe0 type rxe netdev IF)\n");
		return 77;
	}
	list = ibv_get_device_list(&n);
	if (list == NULL || n == 0) {
		printf("SKIP: ibverbs lists no RDMA device\n");
		return 77;
	}
	ctx = ibv_open_device(list[0]);
	if (ctx == NULL) {
		printf("FAIL: %s: ibv_open_device: %s\n",
		       ibv_get_device_name(list[0]), strerror(errno));
		goto out_list;
	}
	if (ibv_query_port(ctx, 1, &pa) != 0 || pa.state != IBV_PORT_ACTIVE) {
		printf("SKIP: %s port 1 not active\n", ibv_get_device_name(list[0]));
		rc = 77;
		goto out_ctx;
	}
	if (ibv_query_gid(ctx, 1, gidx, &gid) != 0) {
		printf("FAIL: %s port 1: GID index %d\n",
		       ibv_get_device_name(list[0]), gidx);
		goto out_ctx;
	}
	if (pm_rdma_ud_open(&a, ctx, 1, 16, 8, 0, NULL, &what) != 0) {
		printf("FAIL: %s: %s\n", ibv_get_device_name(list[0]), what);
		goto out_ctx;
	}
	if (pm_rdma_ud_open(&b, ctx, 1, 16, 8, 0, NULL, &what) != 0) {
		printf("FAIL: %s: %s\n", ibv_get_device_name(list[0]), what);
		pm_rdma_ud_close(&a);
		goto out_ctx;
	}
	memset(&aa, 0, sizeof(aa));
	aa.port_num = 1;
	aa.dlid = pa.lid;
	if (pa.link_layer == IBV_LINK_LAYER_ETHERNET) {
		aa.is_global = 1;
		aa.grh.dgid = gid;
		aa.grh.sgid_index = gidx;
		aa.grh.hop_limit = 64;
	}
	ah = ibv_create_ah(a.pd, &aa);
	if (ah == NULL) {
		printf("FAIL: ibv_create_ah: %s\n", strerror(errno));
		goto out_ud;
	}
	/* The AH was made on a's PD; b replies through its own. */
	if (pm_rdma_ud_send(&a, ah, pm_rdma_ud_qpn(&b), &m, 1) != 0 ||
	    wait_rx(&b, &ev) != 0 || ev.msg.type != PM_RDMA_MSG_PROBE ||
	    ev.msg.seq != 7) {
		printf("FAIL: probe a -> b not received\n");
		goto out_ah;
	}
	{
		struct ibv_ah *bah = ibv_create_ah(b.pd, &aa);

		m = ev.msg;
		m.type = PM_RDMA_MSG_REPLY;
		if (bah == NULL ||
		    pm_rdma_ud_send(&b, bah, ev.src_qp, &m, 2) != 0 ||
		    wait_rx(&a, &ev) != 0 || ev.msg.type != PM_RDMA_MSG_REPLY ||
		    ev.msg.seq != 7) {
			printf("FAIL: reply b -> a not received\n");
			if (bah != NULL)
				ibv_destroy_ah(bah);
			goto out_ah;
		}
		ibv_destroy_ah(bah);
	}
	printf("ok: probe and reply between QP %u and QP %u on %s\n",
	       pm_rdma_ud_qpn(&a), pm_rdma_ud_qpn(&b),
	       ibv_get_device_name(list[0]));
	rc = 0;
out_ah:
	ibv_destroy_ah(ah);
out_ud:
	pm_rdma_ud_close(&a);
	pm_rdma_ud_close(&b);
out_ctx:
	ibv_close_device(ctx);
out_list:
	ibv_free_device_list(list);
	return rc;
}
