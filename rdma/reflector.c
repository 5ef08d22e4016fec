/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reflector logic (see pm_rdma_refl.h).  wr_id of a reply is
 * REFL_WR_REPLY | pending slot; of a follow-up REFL_WR_FU.  A reply that
 * completes in error frees its slot and sends no follow-up: the prober
 * then completes that probe without t3 at its timeout, as it must.
 */
#include <string.h>

#include "pm_rdma_refl.h"

#define REFL_WR_REPLY	(1ULL << 40)
#define REFL_WR_FU	(1ULL << 41)
#define REFL_BATCH	32

void
pm_rdma_refl_init(struct pm_rdma_refl *r, struct pm_rdma_ud *ud,
		  struct ibv_ah *(*ah_of)(void *, const struct pm_rdma_ev *),
		  void *ah_arg)
{
	memset(r, 0, sizeof(*r));
	r->ud = ud;
	r->ah_of = ah_of;
	r->ah_arg = ah_arg;
}

static void
refl_probe(struct pm_rdma_refl *r, const struct pm_rdma_ev *ev)
{
	struct pm_rdma_refl_pend *p;
	struct ibv_ah *ah;
	uint32_t i, slot;

	r->st.probes++;
	ah = r->ah_of(r->ah_arg, ev);
	if (ah == NULL) {
		r->st.no_ah++;
		return;
	}
	for (i = 0; i < PM_RDMA_REFL_PENDING; i++) {
		slot = (r->pend_next + i) % PM_RDMA_REFL_PENDING;
		if (!r->pend[slot].used)
			break;
	}
	if (i == PM_RDMA_REFL_PENDING) {
		r->st.pending_full++;
		return;
	}
	r->pend_next = (slot + 1) % PM_RDMA_REFL_PENDING;
	p = &r->pend[slot];
	p->ah = ah;
	p->qpn = ev->src_qp;
	p->msg = ev->msg;
	p->msg.type = PM_RDMA_MSG_REPLY;
	p->msg.r_seq = r->r_seq++;
	p->msg.t2 = ev->ts_ns;
	p->msg.t3 = 0;
	if (pm_rdma_ud_send(r->ud, ah, p->qpn, &p->msg,
			    REFL_WR_REPLY | slot) != 0) {
		r->st.send_err++;
		return;
	}
	p->used = 1;
	r->st.replies++;
}

static void
refl_sent(struct pm_rdma_refl *r, const struct pm_rdma_ev *ev)
{
	struct pm_rdma_refl_pend *p;
	uint32_t slot;

	if (!(ev->wr_id & REFL_WR_REPLY))
		return;		/* a follow-up's completion: nothing waits */
	slot = (uint32_t)(ev->wr_id & (REFL_WR_REPLY - 1));
	if (slot >= PM_RDMA_REFL_PENDING || !r->pend[slot].used)
		return;
	p = &r->pend[slot];
	p->used = 0;
	if (ev->kind == PM_RDMA_EV_TX_ERR) {
		r->st.no_t3++;
		return;
	}
	p->msg.type = PM_RDMA_MSG_FOLLOWUP;
	p->msg.t3 = ev->ts_ns;
	if (pm_rdma_ud_send(r->ud, p->ah, p->qpn, &p->msg, REFL_WR_FU) != 0) {
		r->st.send_err++;
		r->st.no_t3++;
		return;
	}
	r->st.followups++;
}

unsigned int
pm_rdma_refl_poll(struct pm_rdma_refl *r)
{
	struct pm_rdma_ev ev[REFL_BATCH];
	unsigned int n, i;

	n = pm_rdma_ud_poll(r->ud, ev, REFL_BATCH);
	for (i = 0; i < n; i++) {
		if (ev[i].kind == PM_RDMA_EV_RX) {
			if (ev[i].msg.type == PM_RDMA_MSG_PROBE)
				refl_probe(r, &ev[i]);
			else
				r->st.unexpected++;
		} else {
			refl_sent(r, &ev[i]);
		}
	}
	return n;
}
