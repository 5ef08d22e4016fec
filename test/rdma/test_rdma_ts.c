/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of rdma/ts.c: kHz scaling, wrap at the completion timestamp
 * mask, and host-time correlation from an rt_values anchor.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pm_rdma_ts.h"

static void
test_init(void **state)
{
	struct pm_rdma_clock clk;

	(void)state;
	assert_int_equal(pm_rdma_clock_init(&clk, (1ULL << 48) - 1, 1000000), 0);
	assert_int_equal(pm_rdma_clock_init(&clk, 0x1234, 1000000), -EINVAL);
	assert_int_equal(pm_rdma_clock_init(&clk, 0xffff, 0), -EINVAL);
	assert_int_equal(pm_rdma_clock_init(&clk, UINT64_MAX, 156250), 0);
}

static void
test_scale(void **state)
{
	(void)state;
	/* 1 GHz: 1 tick = 1 ns. */
	assert_int_equal(pm_rdma_ticks_to_ns(1000000, 12345), 12345);
	/* ConnectX-4 style 156.25 MHz: 6.4 ns a tick. */
	assert_int_equal(pm_rdma_ticks_to_ns(156250, 1000), 6400);
	/* 250 MHz */
	assert_int_equal(pm_rdma_ticks_to_ns(250000, 3), 12);
	/* no 64-bit overflow: 2^60 ticks at 1 GHz */
	assert_int_equal(pm_rdma_ticks_to_ns(1000000, 1ULL << 60), 1ULL << 60);
	/* saturates instead of wrapping */
	assert_int_equal(pm_rdma_ticks_to_ns(1, UINT64_MAX), UINT64_MAX);
	assert_int_equal(pm_rdma_ticks_to_ns(0, 5), 0);
}

static void
test_wrap(void **state)
{
	struct pm_rdma_clock clk;
	uint64_t mask = (1ULL << 32) - 1;

	(void)state;
	assert_int_equal(pm_rdma_clock_init(&clk, mask, 1000000), 0);
	assert_int_equal(pm_rdma_clock_delta_ns(&clk, 100, 250), 150);
	/* across the wrap: a = mask - 9, b = 5 → 15 ticks */
	assert_int_equal(pm_rdma_clock_delta_ns(&clk, mask - 9, 5), 15);
	/* bits above the mask are ignored */
	assert_int_equal(pm_rdma_ticks_delta(mask, 1ULL << 40, (1ULL << 40) + 7), 7);

	/* extension: monotonic across two wraps */
	assert_int_equal(pm_rdma_clock_extend(&clk, 10), 10);
	assert_int_equal(pm_rdma_clock_extend(&clk, mask), mask);
	assert_int_equal(pm_rdma_clock_extend(&clk, 3), mask + 1 + 3);
	assert_int_equal(pm_rdma_clock_extend(&clk, 2), 2 * (mask + 1) + 2);
}

static void
test_correlate(void **state)
{
	struct pm_rdma_clock clk;
	uint64_t mask = (1ULL << 16) - 1;
	uint64_t host = 1700000000000000000ULL;

	(void)state;
	assert_int_equal(pm_rdma_clock_init(&clk, mask, 250000), 0); /* 4 ns */
	pm_rdma_clock_anchor(&clk, 1000, host);
	assert_int_equal(pm_rdma_clock_to_host_ns(&clk, 1000), host);
	assert_int_equal(pm_rdma_clock_to_host_ns(&clk, 1010), host + 40);
	/* before the anchor */
	assert_int_equal(pm_rdma_clock_to_host_ns(&clk, 990), host - 40);
	/* after the anchor across the wrap */
	pm_rdma_clock_anchor(&clk, mask - 1, host);
	assert_int_equal(pm_rdma_clock_to_host_ns(&clk, 3), host + 5 * 4);
	/* before the anchor across the wrap */
	pm_rdma_clock_anchor(&clk, 2, host);
	assert_int_equal(pm_rdma_clock_to_host_ns(&clk, mask), host - 3 * 4);
	/* anchor bits above the mask are dropped */
	pm_rdma_clock_anchor(&clk, (1ULL << 20) + 5, host);
	assert_int_equal(pm_rdma_clock_to_host_ns(&clk, 6), host + 4);
	/* never below zero */
	pm_rdma_clock_anchor(&clk, 100, 10);
	assert_int_equal(pm_rdma_clock_to_host_ns(&clk, 90), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_scale),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_correlate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
