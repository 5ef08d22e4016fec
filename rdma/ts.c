/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * HCA timestamp arithmetic (see pm_rdma_ts.h).  Everything is integer: the
 * clock rate is in kHz, so ns = ticks * 1e6 / khz, done in 128 bits because
 * a 64-bit ticks * 1e6 overflows after ~5 hours of a 1 GHz counter.
 */
#include <errno.h>
#include <stdint.h>

#include "pm_rdma_ts.h"

int
pm_rdma_clock_init(struct pm_rdma_clock *clk, uint64_t mask, uint64_t khz)
{
	if (khz == 0 || mask < 0xff || (mask & (mask + 1)) != 0)
		return -EINVAL;
	*clk = (struct pm_rdma_clock){ .mask = mask, .khz = khz };
	return 0;
}

uint64_t
pm_rdma_ticks_to_ns(uint64_t khz, uint64_t ticks)
{
	unsigned __int128 v = (unsigned __int128)ticks * 1000000u;

	if (khz == 0)
		return 0;
	v /= khz;
	return v > UINT64_MAX ? UINT64_MAX : (uint64_t)v;
}

uint64_t
pm_rdma_clock_delta_ns(const struct pm_rdma_clock *clk, uint64_t a,
		       uint64_t b)
{
	return pm_rdma_ticks_to_ns(clk->khz,
				   pm_rdma_ticks_delta(clk->mask, a, b));
}

void
pm_rdma_clock_anchor(struct pm_rdma_clock *clk, uint64_t ticks,
		     uint64_t host_ns)
{
	clk->anchor_ticks = ticks & clk->mask;
	clk->anchor_ns = host_ns;
}

uint64_t
pm_rdma_clock_to_host_ns(const struct pm_rdma_clock *clk, uint64_t ticks)
{
	uint64_t fwd = pm_rdma_ticks_delta(clk->mask, clk->anchor_ticks, ticks);
	uint64_t back;

	/* The shorter way round: a stamp taken just before the anchor is
	 * "almost a full wrap ahead" in forward terms. */
	if (fwd <= clk->mask / 2)
		return clk->anchor_ns + pm_rdma_ticks_to_ns(clk->khz, fwd);
	back = pm_rdma_ticks_to_ns(clk->khz, (clk->mask - fwd) + 1);
	return back > clk->anchor_ns ? 0 : clk->anchor_ns - back;
}

uint64_t
pm_rdma_clock_extend(struct pm_rdma_clock *clk, uint64_t ticks)
{
	ticks &= clk->mask;
	if (ticks < clk->last)
		clk->hi += clk->mask + 1;
	clk->last = ticks;
	return clk->hi + ticks;
}

uint64_t
pm_rdma_clock_extend_near(uint64_t mask, uint64_t ref, uint64_t ticks)
{
	uint64_t fwd = (ticks - ref) & mask;

	if (fwd <= mask / 2)
		return ref + fwd;
	/* behind @ref by (mask + 1 - fwd); never below zero */
	fwd = mask - fwd + 1;
	return fwd > ref ? (ticks & mask) : ref - fwd;
}
