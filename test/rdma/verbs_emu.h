/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * An emulated RDMA verbs "device" for tests on machines without an RNIC.
 *
 * This is a test seam, not a verbs provider: libibverbs never loads it and
 * nothing pmesh ships links it.  A test program is linked with
 * -Wl,--wrap=<sym> for each exported verb (meson: pm_verbs_emu_dep in
 * test/rdma/meson.build), so its calls to ibv_get_device_list(),
 * ibv_create_qp() and the rest land in __wrap_<sym> here.  The inline
 * data-path verbs of <infiniband/verbs.h> (ibv_post_send, ibv_post_recv,
 * ibv_poll_cq, ibv_create_cq_ex, ibv_query_device_ex,
 * ibv_query_rt_values_ex, the ibv_cq_ex poll API) reach it through the
 * function pointers of the struct verbs_context and struct ibv_cq_ex it
 * hands out.
 *
 * What it emulates: PM_VERBS_EMU_DEVS (default 2) RoCE devices emu0..,
 * one port each, and UD QPs only.  A QP is a non-blocking UDP socket on
 * 127.0.0.1 and its QPN is the socket's port, so QPs of different
 * processes on this host reach each other.  A send is one datagram; the
 * receiver pulls datagrams in when its receive CQ is polled, scatters
 * a 40-byte GRH and the payload into the oldest posted receive and queues
 * the completion.  Completions carry stamps of an emulated HCA clock.
 *
 * Environment (read again by every ibv_get_device_list() and by
 * pm_verbs_emu_reload()):
 *   PM_VERBS_EMU_DEVS=N        number of devices (1..64, default 2)
 *   PM_VERBS_EMU_PORT_DOWN=emu1[,..] these devices' port is PORT_DOWN
 *   PM_VERBS_EMU_FAIL=verb[,..] these verbs fail with ENOMEM ("ibv_"
 *                              prefix optional, e.g. ibv_create_qp)
 *   PM_VERBS_EMU_DROP=F        drop this fraction of sends (0..1)
 *   PM_VERBS_EMU_SEED=S        seed of the drop PRNG and clock offsets (1)
 *   PM_VERBS_EMU_DELAY_US=N    hold each datagram N us before delivery
 *   PM_VERBS_EMU_ERR_EVERY=N   every Nth send of a QP completes with
 *                              IBV_WC_RETRY_EXC_ERR (and is not sent)
 *   PM_VERBS_EMU_KHZ=K         hca_core_clock in kHz (default 1000000)
 *   PM_VERBS_EMU_TS_MASK=M     completion_timestamp_mask (2^k-1, default
 *                              2^48-1; decimal or 0x..)
 *   PM_VERBS_EMU_NO_HWTS=1     no completion timestamps (mask 0, cq_ex
 *                              with COMPLETION_TIMESTAMP: EOPNOTSUPP)
 *   PM_VERBS_EMU_RX_STAMP=arrival  stamp a receive at its arrival (send
 *                              time + delay + 1 us of wire), not when a
 *                              poll pulls it in: RTTs free of the
 *                              receiver's scheduling, as with an HCA
 */
#ifndef PM_VERBS_EMU_H
#define PM_VERBS_EMU_H

#include <stdint.h>

/** Counters of what the emulation did and dropped (process-wide). */
struct pm_verbs_emu_stats {
	uint64_t tx;		/**< datagrams handed to the socket */
	uint64_t tx_drop;	/**< sends dropped by PM_VERBS_EMU_DROP */
	uint64_t tx_err;	/**< sends failed by PM_VERBS_EMU_ERR_EVERY */
	uint64_t tx_sock_err;	/**< sendto() failed (buffer full, ...) */
	uint64_t tx_len_err;	/**< message longer than the path MTU */
	uint64_t rx;		/**< receive completions (success) */
	uint64_t rx_no_recv;	/**< dropped: no receive posted */
	uint64_t rx_qkey;	/**< dropped: Q_Key mismatch */
	uint64_t rx_state;	/**< dropped: QP not in RTR/RTS */
	uint64_t rx_len_err;	/**< receive buffer too small */
	uint64_t rx_bad;	/**< not an emulation datagram */
	uint64_t cq_overflow;	/**< completions lost to a full CQ */
};

/** Live emulated objects (for leak checks in tests). */
struct pm_verbs_emu_live {
	int ctx;
	int pd;
	int mr;
	int cq;
	int qp;
	int ah;
};

/** Re-read the PM_VERBS_EMU_* environment. */
void pm_verbs_emu_reload(void);

/** Copy the process-wide counters. */
void pm_verbs_emu_stats_get(struct pm_verbs_emu_stats *st);

/** Zero the process-wide counters. */
void pm_verbs_emu_stats_reset(void);

/** Count the live emulated objects. */
void pm_verbs_emu_live_get(struct pm_verbs_emu_live *live);

/**
 * The emulated HCA clock of device @devidx now: what
 * ibv_query_rt_values_ex() returns, already masked.
 */
uint64_t pm_verbs_emu_clock(int devidx);

#endif /* PM_VERBS_EMU_H */
