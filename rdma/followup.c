/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Follow-up matching (see pm_rdma_fu.h).  A slot is seq & mask; a reply or
 * follow-up for a different seq than the slot holds means the table wrapped
 * while the older probe was still open: the older one is completed as it
 * stands (without t3) rather than silently overwritten.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pm_rdma_fu.h"

int
pm_rdma_fu_init(struct pm_rdma_fu *fu, uint32_t slots)
{
	memset(fu, 0, sizeof(*fu));
	if (slots == 0 || (slots & (slots - 1)) != 0)
		return -EINVAL;
	fu->ent = calloc(slots, sizeof(*fu->ent));
	if (fu->ent == NULL)
		return -ENOMEM;
	fu->mask = slots - 1;
	return 0;
}

void
pm_rdma_fu_fini(struct pm_rdma_fu *fu)
{
	free(fu->ent);
	fu->ent = NULL;
}

static void
fu_take(struct pm_rdma_fu_ent *e, struct pm_rdma_fu_done *out)
{
	out->seq = e->seq;
	out->flow = e->flow;
	out->has_t3 = (e->state & PM_RDMA_FU_T3) != 0;
	out->t1 = e->t1;
	out->t2 = e->t2;
	out->t3 = out->has_t3 ? e->t3 : 0;
	out->t4 = e->t4;
	e->state = 0;
}

/* Free slot @e for @seq; returns 1 with @out filled if it held an open
 * reply for another seq. */
static int
fu_claim(struct pm_rdma_fu *fu, struct pm_rdma_fu_ent *e, uint64_t seq,
	 struct pm_rdma_fu_done *out)
{
	int r = 0;

	if (e->state != 0 && e->seq != seq) {
		fu->st.evicted++;
		if (e->state & PM_RDMA_FU_REPLY) {
			fu->st.no_t3++;
			fu_take(e, out);
			r = 1;
		} else {
			fu->st.orphan_t3++;
		}
		e->state = 0;
	}
	if (e->state == 0) {
		memset(e, 0, sizeof(*e));
		e->seq = seq;
	}
	return r;
}

int
pm_rdma_fu_reply(struct pm_rdma_fu *fu, uint64_t seq, uint32_t flow,
		 uint64_t t1, uint64_t t2, uint64_t t4, uint64_t deadline_ns,
		 struct pm_rdma_fu_done *out)
{
	struct pm_rdma_fu_ent *e = &fu->ent[seq & fu->mask];
	int ev = fu_claim(fu, e, seq, out);

	if (e->state & PM_RDMA_FU_REPLY) {
		fu->st.dup++;
		return ev ? 2 : 0;
	}
	e->flow = flow;
	e->t1 = t1;
	e->t2 = t2;
	e->t4 = t4;
	e->state |= PM_RDMA_FU_REPLY;
	if (e->state & PM_RDMA_FU_T3) {
		/* ev is 0 here: a claimed slot cannot already hold t3. */
		fu->st.completed++;
		fu_take(e, out);
		return 1;
	}
	e->deadline_ns = deadline_ns;
	return ev ? 2 : 0;
}

int
pm_rdma_fu_t3(struct pm_rdma_fu *fu, uint64_t seq, uint64_t t3,
	      uint64_t deadline_ns, struct pm_rdma_fu_done *out)
{
	struct pm_rdma_fu_ent *e = &fu->ent[seq & fu->mask];
	int ev = fu_claim(fu, e, seq, out);

	if (e->state & PM_RDMA_FU_T3) {
		fu->st.dup++;
		return ev ? 2 : 0;
	}
	e->t3 = t3;
	e->state |= PM_RDMA_FU_T3;
	if (e->state & PM_RDMA_FU_REPLY) {
		/* ev is 0 here: a claimed slot cannot already hold the reply. */
		fu->st.completed++;
		fu_take(e, out);
		return 1;
	}
	e->deadline_ns = deadline_ns;
	return ev ? 2 : 0;
}

unsigned int
pm_rdma_fu_expire(struct pm_rdma_fu *fu, uint64_t now_ns,
		  struct pm_rdma_fu_done *out, unsigned int max)
{
	unsigned int n = 0;
	uint32_t i;

	for (i = 0; i <= fu->mask; i++) {
		struct pm_rdma_fu_ent *e = &fu->ent[i];

		if (e->state == 0 || e->deadline_ns > now_ns)
			continue;
		if (e->state & PM_RDMA_FU_REPLY) {
			if (n == max)
				continue;
			fu->st.no_t3++;
			fu_take(e, &out[n++]);
		} else {
			fu->st.orphan_t3++;
			e->state = 0;
		}
	}
	return n;
}

uint64_t
pm_rdma_fu_refl_delay(const struct pm_rdma_fu_done *d)
{
	if (!d->has_t3 || d->t3 < d->t2)
		return 0;
	return d->t3 - d->t2;
}

uint64_t
pm_rdma_fu_net_rtt(const struct pm_rdma_fu_done *d)
{
	uint64_t raw, refl;

	if (!d->has_t3 || d->t4 < d->t1 || d->t3 < d->t2)
		return 0;
	raw = d->t4 - d->t1;
	refl = d->t3 - d->t2;
	return refl > raw ? 0 : raw - refl;
}
