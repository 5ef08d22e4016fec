/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_clock: turning counter ticks into nanoseconds, honestly.
 *
 * pmesh timestamps with whatever counter sits closest to the wire: the NIC's
 * free-running clock (RX timestamp dynfield), an HCA's completion clock, or
 * the CPU's TSC.  Each is a counter with a rate and sometimes a width (it
 * wraps).  This module holds the arithmetic, free of DPDK and verbs so that
 * it is unit-tested alone:
 *  - TSC calibration against CLOCK_MONOTONIC_RAW (EAL's rte_get_tsc_hz() is
 *    rounded to 10 MHz: 0.15% off on some hosts), anchored to CLOCK_REALTIME
 *    so a TSC value maps to Unix-epoch ns for the wire;
 *  - tick clocks of any width (mask) and rate (Hz or kHz), with wrap
 *    handling, anchored by a (ticks, ns) pair;
 *  - the name of each timestamp source, as records print it.
 * Conversions are fixed-point (mult/shift) so the data path does one
 * multiply and one shift, no division.
 */
#ifndef PM_CLOCK_H
#define PM_CLOCK_H

#include <stdint.h>

/** Where a timestamp came from.  Every record carries one per side. */
enum pm_ts_src {
	PM_TS_NONE = 0,		/**< no timestamp (e.g. reflector gave none) */
	PM_TS_TSC,		/**< CPU TSC read by the polling lcore */
	PM_TS_NIC,		/**< NIC hardware (RX dynfield) */
	PM_TS_NIC_SCHED,	/**< NIC send-on-timestamp (scheduled TX) */
	PM_TS_KERNEL_SW,	/**< kernel SO_TIMESTAMPING software stamp */
	PM_TS_KERNEL_HW,	/**< kernel SO_TIMESTAMPING hardware stamp */
	PM_TS_HCA,		/**< RDMA CQE completion timestamp */
	PM_TS_REALTIME,		/**< clock_gettime(CLOCK_REALTIME) in user space */
	PM_TS_REMOTE,		/**< taken by the peer; source unknown to us */
	PM_TS_SRC_MAX
};

/** "none", "tsc", "nic", "nic_sched", "kernel_sw", ... */
const char *pm_ts_src_str(int src);
/** Inverse of pm_ts_src_str(); -1 if unknown. */
int pm_ts_src_parse(const char *s);

/**
 * A counter -> Unix-epoch ns mapping:
 *   ns = base_ns + ((ticks - base_ticks) & mask) * mult >> shift
 * For the TSC, mask is ~0.  For narrower counters, deltas are taken modulo
 * the mask, so a counter that wrapped once since the anchor still converts;
 * re-anchor (pm_tclock_anchor) at least every half wrap period.
 */
struct pm_tclock {
	uint64_t hz;		/**< ticks per second */
	uint64_t mask;		/**< counter width mask (~0 for 64 bit) */
	uint64_t mult;		/**< ns per tick, fixed point */
	uint32_t shift;
	uint64_t base_ticks;
	uint64_t base_ns;	/**< Unix-epoch ns at base_ticks */
	uint64_t err_ns;	/**< honest error bound of a single stamp */
};

/**
 * Set rate and width.  @hz > 0; @mask = 2^n - 1 (n in 1..64).
 * Returns 0 or -EINVAL.
 */
int pm_tclock_init(struct pm_tclock *c, uint64_t hz, uint64_t mask);
/** Same with the rate in kHz, as verbs' hca_core_clock gives it. */
int pm_tclock_init_khz(struct pm_tclock *c, uint64_t khz, uint64_t mask);
/** Tie @ticks to @ns (Unix epoch). */
void pm_tclock_anchor(struct pm_tclock *c, uint64_t ticks, uint64_t ns);

/** Ticks -> Unix-epoch ns (delta taken modulo the mask). */
static inline uint64_t
pm_tclock_ns(const struct pm_tclock *c, uint64_t ticks)
{
	uint64_t d = (ticks - c->base_ticks) & c->mask;

	return c->base_ns + (uint64_t)(((unsigned __int128)d * c->mult) >> c->shift);
}

/** A tick delta (already known not to wrap) -> ns. */
static inline uint64_t
pm_tclock_delta_ns(const struct pm_tclock *c, uint64_t dticks)
{
	return (uint64_t)(((unsigned __int128)dticks * c->mult) >> c->shift);
}

/** ns -> ticks (for pacing and timeouts; not on the per-packet path). */
uint64_t pm_tclock_ticks(const struct pm_tclock *c, uint64_t ns);

/**
 * Calibrate a TSC-like counter read by @read_ticks against
 * CLOCK_MONOTONIC_RAW over @ms milliseconds, and anchor it to
 * CLOCK_REALTIME.  Sets hz, mult/shift, anchor and err_ns (from the
 * spread of the sample pairs).  Returns 0 or -errno.
 */
int pm_tclock_calibrate(struct pm_tclock *c, uint64_t (*read_ticks)(void),
			unsigned int ms);

/**
 * Estimate a second counter's rate against a reference one from two
 * (ticks, ref_ns) pairs taken some time apart, e.g. NIC clock from
 * rte_eth_read_clock() against the calibrated TSC.  Returns Hz, 0 if the
 * samples are unusable (no time elapsed, counter went backwards).
 */
uint64_t pm_tclock_rate_from_pairs(uint64_t t0, uint64_t ns0,
				   uint64_t t1, uint64_t ns1, uint64_t mask);

/** Wall-clock now (CLOCK_REALTIME) in Unix-epoch ns. */
uint64_t pm_clock_realtime_ns(void);
/** CLOCK_MONOTONIC_RAW in ns. */
uint64_t pm_clock_monoraw_ns(void);

#endif /* PM_CLOCK_H */
