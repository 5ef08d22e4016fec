/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_rdma_msg: what the RDMA engine puts in a UD message.
 *
 * The payload is a STAMP packet (RFC 8762 unauthenticated base, 44 bytes,
 * big-endian, PTP timestamps) so lib/wire.c's decoders read both engines'
 * probes.  STAMP has no message-type field, so the type travels in the
 * send's immediate data (IBV_WR_SEND_WITH_IMM): a probe is a
 * Session-Sender packet; a reply and its follow-up are Session-Reflector
 * packets, the reply with ts (t3) zero and the follow-up with t3 filled in
 * (t3 is the reflector's send completion of the reply, known only after
 * it left).  Receive buffers start with 40 bytes of GRH room, as UD
 * requires.  Layout in docs/rdma.md.
 */
#ifndef PM_RDMA_MSG_H
#define PM_RDMA_MSG_H

#include <stdint.h>

#define PM_RDMA_GRH_LEN		40
#define PM_RDMA_MSG_LEN		44	/**< STAMP base packet */
#define PM_RDMA_QKEY		0x504d5348u	/**< "PMSH": fixed Q_Key */

/* Immediate data: "PM" then version 1 then the type. */
#define PM_RDMA_IMM_MAGIC	0x504d0100u
#define PM_RDMA_IMM_MASK	0xffffff00u

enum pm_rdma_msg_type {
	PM_RDMA_MSG_PROBE = 1,
	PM_RDMA_MSG_REPLY = 2,
	PM_RDMA_MSG_FOLLOWUP = 3,
};

/** Why a received message was refused; counted per cause. */
enum pm_rdma_msg_cause {
	PM_RDMA_MSG_OK = 0,
	PM_RDMA_MSG_NO_IMM,		/**< plain send: not pmesh */
	PM_RDMA_MSG_BAD_MAGIC,		/**< immediate is not ours */
	PM_RDMA_MSG_BAD_TYPE,		/**< ours, unknown type/version */
	PM_RDMA_MSG_SHORT,		/**< payload < 44 bytes after GRH */
	PM_RDMA_MSG_CAUSE_MAX
};

/** Decoded message (host order, times in ns). */
struct pm_rdma_msg {
	uint8_t type;		/**< enum pm_rdma_msg_type */
	uint16_t ssid;		/**< session (flow) id */
	uint32_t seq;		/**< prober's sequence (s_seq in replies) */
	uint32_t r_seq;		/**< reflector's own sequence */
	uint64_t t1;		/**< probe: prober's post time; replies: echo */
	uint64_t t2;		/**< replies: reflector receive completion */
	uint64_t t3;		/**< follow-up: reflector send completion */
};

const char *pm_rdma_msg_cause_str(int cause);

/** Immediate data (host order) for @type. */
static inline uint32_t
pm_rdma_msg_imm(enum pm_rdma_msg_type type)
{
	return PM_RDMA_IMM_MAGIC | (uint32_t)type;
}

/**
 * Write @m as a STAMP packet into @buf (>= PM_RDMA_MSG_LEN bytes; no GRH).
 * Returns PM_RDMA_MSG_LEN.
 */
int pm_rdma_msg_encode(uint8_t *buf, const struct pm_rdma_msg *m);

/**
 * Decode a received message: @has_imm/@imm (host order) from the CQE,
 * @buf/@len the payload after the GRH.  Returns PM_RDMA_MSG_OK or a cause.
 */
int pm_rdma_msg_decode(int has_imm, uint32_t imm, const uint8_t *buf,
		       uint32_t len, struct pm_rdma_msg *m);

#endif /* PM_RDMA_MSG_H */
