/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-peer address handle cache (see pm_rdma_ahc.h): open addressing with
 * linear probing on an FNV-1a hash of (GID, LID); entries are never
 * removed while the cache lives, so probing needs no tombstones.
 */
#include <string.h>

#include "pm_rdma_ahc.h"

void
pm_rdma_ahc_init(struct pm_rdma_ahc *c, struct ibv_pd *pd, uint8_t port,
		 uint8_t sgid_index, uint8_t tclass, uint8_t sl)
{
	memset(c, 0, sizeof(*c));
	c->pd = pd;
	c->port = port;
	c->sgid_index = sgid_index;
	c->tclass = tclass;
	c->sl = sl;
}

void
pm_rdma_ahc_fini(struct pm_rdma_ahc *c)
{
	uint32_t i;

	for (i = 0; i < PM_RDMA_AHC_SLOTS; i++) {
		if (c->ent[i].used && c->ent[i].ah != NULL)
			ibv_destroy_ah(c->ent[i].ah);
		c->ent[i].used = 0;
	}
	c->n = 0;
}

static uint32_t
ahc_hash(const uint8_t *gid, uint16_t lid)
{
	uint32_t h = 2166136261u;
	int i;

	for (i = 0; i < 16; i++)
		h = (h ^ gid[i]) * 16777619u;
	h = (h ^ (lid & 0xff)) * 16777619u;
	h = (h ^ (lid >> 8)) * 16777619u;
	return h;
}

struct ibv_ah *
pm_rdma_ahc_get(struct pm_rdma_ahc *c, const struct pm_rdma_ev *ev)
{
	static const uint8_t zero[16];
	const uint8_t *gid = ev->has_grh ? ev->grh_sgid : zero;
	uint16_t lid = ev->has_grh ? 0 : ev->slid;
	struct pm_rdma_ahc_ent *e;
	struct ibv_ah_attr aa;
	uint32_t i, h = ahc_hash(gid, lid);

	for (i = 0; i < PM_RDMA_AHC_SLOTS; i++) {
		e = &c->ent[(h + i) & (PM_RDMA_AHC_SLOTS - 1)];
		if (!e->used)
			break;
		if (e->lid == lid && memcmp(e->gid, gid, 16) == 0)
			return e->ah;
	}
	/* Keep a quarter free so probing stays short. */
	if (i == PM_RDMA_AHC_SLOTS || c->n >= PM_RDMA_AHC_SLOTS * 3 / 4) {
		c->full++;
		return NULL;
	}
	memset(&aa, 0, sizeof(aa));
	aa.port_num = c->port;
	aa.sl = c->sl;
	aa.dlid = ev->slid;
	if (ev->has_grh) {
		aa.is_global = 1;
		memcpy(aa.grh.dgid.raw, gid, 16);
		aa.grh.sgid_index = c->sgid_index;
		aa.grh.hop_limit = 64;
		aa.grh.traffic_class = c->tclass;
	}
	e->ah = ibv_create_ah(c->pd, &aa);
	if (e->ah == NULL) {
		c->create_err++;
		return NULL;
	}
	memcpy(e->gid, gid, 16);
	e->lid = lid;
	e->global = ev->has_grh;
	e->used = 1;
	c->n++;
	c->created++;
	return e->ah;
}

struct ibv_ah *
pm_rdma_ahc_resolve(void *arg, const struct pm_rdma_ev *ev)
{
	return pm_rdma_ahc_get(arg, ev);
}
