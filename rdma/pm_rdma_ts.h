/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_rdma_ts: HCA completion-timestamp arithmetic for the RDMA engine.
 *
 * A CQE timestamp is a free-running HCA counter, only
 * completion_timestamp_mask bits wide, ticking at hca_core_clock kHz.  The
 * engine needs differences of such stamps in ns (t4-t1, t3-t2) and, for
 * records, a host time; this module does the scaling, the wrap at the mask
 * and the correlation with host time from one ibv_query_rt_values_ex()
 * sample.  Pure C with no verbs dependency, so it is unit-tested here.
 */
#ifndef PM_RDMA_TS_H
#define PM_RDMA_TS_H

#include <stdint.h>

/** One HCA clock as the engine sees it. */
struct pm_rdma_clock {
	uint64_t mask;		/**< completion_timestamp_mask (2^n - 1) */
	uint64_t khz;		/**< hca_core_clock, kHz; 0 = unknown */
	uint64_t anchor_ticks;	/**< HCA ticks at anchor_ns (masked) */
	uint64_t anchor_ns;	/**< host ns (any clock) at anchor_ticks */
	uint64_t last;		/**< last raw value seen by extend() */
	uint64_t hi;		/**< wraps counted by extend(), times (mask+1) */
};

/**
 * Set up @clk for a device.  Returns 0, or -EINVAL if @mask is not of the
 * form 2^n - 1 (n >= 8) or @khz is 0.
 */
int pm_rdma_clock_init(struct pm_rdma_clock *clk, uint64_t mask, uint64_t khz);

/** Ticks from @a to @b, forward, modulo the mask (one wrap at most). */
static inline uint64_t
pm_rdma_ticks_delta(uint64_t mask, uint64_t a, uint64_t b)
{
	return (b - a) & mask;
}

/** @ticks of a @khz clock in ns, without overflow for any 64-bit input. */
uint64_t pm_rdma_ticks_to_ns(uint64_t khz, uint64_t ticks);

/** Forward interval from stamp @a to stamp @b in ns (wrap handled). */
uint64_t pm_rdma_clock_delta_ns(const struct pm_rdma_clock *clk,
				uint64_t a, uint64_t b);

/**
 * Anchor the clock: the HCA read @ticks (raw, masked) when the host clock
 * read @host_ns (from ibv_query_rt_values_ex's raw_clock and a host clock
 * read right around it).
 */
void pm_rdma_clock_anchor(struct pm_rdma_clock *clk, uint64_t ticks,
			  uint64_t host_ns);

/**
 * Host ns of a raw stamp: the anchor plus the signed distance from the
 * anchor, taken as the shorter way round the mask (so stamps up to half a
 * wrap before or after the anchor map correctly).
 */
uint64_t pm_rdma_clock_to_host_ns(const struct pm_rdma_clock *clk,
				  uint64_t ticks);

/**
 * Extend raw stamps, read in non-decreasing order at least once per half
 * wrap, to a 64-bit monotonic tick count.
 */
uint64_t pm_rdma_clock_extend(struct pm_rdma_clock *clk, uint64_t ticks);

/**
 * The 64-bit tick count congruent to raw stamp @ticks modulo (@mask + 1)
 * that lies nearest to @ref (a 64-bit count expected to be close: the last
 * extended stamp, advanced by the host time elapsed since).  Unlike
 * pm_rdma_clock_extend() it accepts stamps slightly out of order (a send
 * and a receive completion of one CQ), as long as they lie within half a
 * wrap of @ref.
 */
uint64_t pm_rdma_clock_extend_near(uint64_t mask, uint64_t ref,
				   uint64_t ticks);

#endif /* PM_RDMA_TS_H */
