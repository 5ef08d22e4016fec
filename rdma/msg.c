/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * UD message encode/decode (see pm_rdma_msg.h).  Decoding goes through
 * lib/wire.c's STAMP decoders so the two engines cannot disagree on the
 * layout; encoding writes the same offsets (PM_STAMP_OFF_*).
 */
#include <string.h>

#include "pm_wire.h"
#include "pm_rdma_msg.h"

static const char *const cause_str[PM_RDMA_MSG_CAUSE_MAX] = {
	[PM_RDMA_MSG_OK] = "ok",
	[PM_RDMA_MSG_NO_IMM] = "no_imm",
	[PM_RDMA_MSG_BAD_MAGIC] = "bad_magic",
	[PM_RDMA_MSG_BAD_TYPE] = "bad_type",
	[PM_RDMA_MSG_SHORT] = "short",
};

const char *
pm_rdma_msg_cause_str(int cause)
{
	if (cause < 0 || cause >= PM_RDMA_MSG_CAUSE_MAX)
		return "unknown";
	return cause_str[cause];
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v);
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, v >> 32);
	put32(p + 4, v);
}

int
pm_rdma_msg_encode(uint8_t *buf, const struct pm_rdma_msg *m)
{
	/* Error estimate: unsynchronized, PTP format (Z=1), 0 error. */
	uint16_t ee = pm_wire_ee_make(0, 1, 0);

	memset(buf, 0, PM_RDMA_MSG_LEN);
	put16(buf + PM_STAMP_OFF_SSID, m->ssid);
	if (m->type == PM_RDMA_MSG_PROBE) {
		put32(buf + PM_STAMP_OFF_SEQ, m->seq);
		put64(buf + PM_STAMP_OFF_TS, pm_wire_ptp_from_ns(m->t1));
		put16(buf + PM_STAMP_OFF_EE, ee);
		return PM_RDMA_MSG_LEN;
	}
	put32(buf + PM_STAMP_OFF_SEQ, m->r_seq);
	if (m->type == PM_RDMA_MSG_FOLLOWUP)
		put64(buf + PM_STAMP_OFF_TS, pm_wire_ptp_from_ns(m->t3));
	put16(buf + PM_STAMP_OFF_EE, ee);
	put64(buf + PM_STAMP_OFF_RX_TS, pm_wire_ptp_from_ns(m->t2));
	put32(buf + PM_STAMP_OFF_S_SEQ, m->seq);
	put64(buf + PM_STAMP_OFF_S_TS, pm_wire_ptp_from_ns(m->t1));
	put16(buf + PM_STAMP_OFF_S_EE, ee);
	buf[PM_STAMP_OFF_S_TTL] = 255;	/* UD has no TTL; STAMP's "unknown" */
	return PM_RDMA_MSG_LEN;
}

int
pm_rdma_msg_decode(int has_imm, uint32_t imm, const uint8_t *buf,
		   uint32_t len, struct pm_rdma_msg *m)
{
	struct pm_stamp_sender s;
	struct pm_stamp_reflector r;
	uint32_t type;

	if (!has_imm)
		return PM_RDMA_MSG_NO_IMM;
	if ((imm & PM_RDMA_IMM_MASK) != PM_RDMA_IMM_MAGIC)
		return PM_RDMA_MSG_BAD_MAGIC;
	type = imm & ~PM_RDMA_IMM_MASK;
	if (type < PM_RDMA_MSG_PROBE || type > PM_RDMA_MSG_FOLLOWUP)
		return PM_RDMA_MSG_BAD_TYPE;
	if (len < PM_RDMA_MSG_LEN)
		return PM_RDMA_MSG_SHORT;
	memset(m, 0, sizeof(*m));
	m->type = type;
	if (type == PM_RDMA_MSG_PROBE) {
		if (pm_wire_stamp_sender_decode(buf, len, &s) != PM_WIRE_OK)
			return PM_RDMA_MSG_SHORT;
		m->ssid = s.ssid;
		m->seq = s.seq;
		m->t1 = pm_wire_ptp_to_ns(s.ts);
		return PM_RDMA_MSG_OK;
	}
	if (pm_wire_stamp_reflector_decode(buf, len, &r) != PM_WIRE_OK)
		return PM_RDMA_MSG_SHORT;
	m->ssid = r.ssid;
	m->seq = r.s_seq;
	m->r_seq = r.seq;
	m->t1 = pm_wire_ptp_to_ns(r.s_ts);
	m->t2 = pm_wire_ptp_to_ns(r.rx_ts);
	if (type == PM_RDMA_MSG_FOLLOWUP)
		m->t3 = pm_wire_ptp_to_ns(r.ts);
	return PM_RDMA_MSG_OK;
}
