/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of rdma/followup.c: follow-ups in order, out of order,
 * missing (timeout: completed without t3), orphaned, duplicated, and slots
 * reused while open; and the RTT arithmetic of a completed probe.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pm_rdma_fu.h"

static void
test_init(void **state)
{
	struct pm_rdma_fu fu;

	(void)state;
	assert_int_equal(pm_rdma_fu_init(&fu, 6), -EINVAL);
	assert_int_equal(pm_rdma_fu_init(&fu, 0), -EINVAL);
	assert_int_equal(pm_rdma_fu_init(&fu, 8), 0);
	pm_rdma_fu_fini(&fu);
}

static void
test_in_order(void **state)
{
	struct pm_rdma_fu fu;
	struct pm_rdma_fu_done d;

	(void)state;
	assert_int_equal(pm_rdma_fu_init(&fu, 8), 0);
	assert_int_equal(pm_rdma_fu_reply(&fu, 5, 2, 1000, 50000, 9000, 100, &d), 0);
	assert_int_equal(pm_rdma_fu_t3(&fu, 5, 51500, 100, &d), 1);
	assert_int_equal(d.seq, 5);
	assert_int_equal(d.flow, 2);
	assert_true(d.has_t3);
	assert_int_equal(pm_rdma_fu_refl_delay(&d), 1500);
	/* raw 8000, minus reflector 1500 */
	assert_int_equal(pm_rdma_fu_net_rtt(&d), 6500);
	assert_int_equal(fu.st.completed, 1);
	assert_int_equal(pm_rdma_fu_expire(&fu, UINT64_MAX, &d, 1), 0);
	pm_rdma_fu_fini(&fu);
}

static void
test_out_of_order(void **state)
{
	struct pm_rdma_fu fu;
	struct pm_rdma_fu_done d;

	(void)state;
	assert_int_equal(pm_rdma_fu_init(&fu, 8), 0);
	assert_int_equal(pm_rdma_fu_t3(&fu, 9, 700, 100, &d), 0);
	assert_int_equal(pm_rdma_fu_reply(&fu, 9, 0, 10, 600, 1010, 100, &d), 1);
	assert_true(d.has_t3);
	assert_int_equal(pm_rdma_fu_net_rtt(&d), 900);
	/* duplicate follow-up after completion starts a new (orphan) slot */
	assert_int_equal(pm_rdma_fu_t3(&fu, 9, 700, 100, &d), 0);
	assert_int_equal(pm_rdma_fu_expire(&fu, 100, &d, 1), 0);
	assert_int_equal(fu.st.orphan_t3, 1);
	pm_rdma_fu_fini(&fu);
}

static void
test_missing(void **state)
{
	struct pm_rdma_fu fu;
	struct pm_rdma_fu_done d[4];

	(void)state;
	assert_int_equal(pm_rdma_fu_init(&fu, 8), 0);
	assert_int_equal(pm_rdma_fu_reply(&fu, 1, 0, 0, 0, 10, 100, d), 0);
	assert_int_equal(pm_rdma_fu_reply(&fu, 2, 0, 0, 0, 10, 200, d), 0);
	/* not yet due */
	assert_int_equal(pm_rdma_fu_expire(&fu, 99, d, 4), 0);
	assert_int_equal(pm_rdma_fu_expire(&fu, 100, d, 4), 1);
	assert_int_equal(d[0].seq, 1);
	assert_false(d[0].has_t3);
	assert_int_equal(d[0].t3, 0);
	assert_int_equal(pm_rdma_fu_net_rtt(&d[0]), 0);
	assert_int_equal(pm_rdma_fu_refl_delay(&d[0]), 0);
	/* late follow-up for an expired probe is an orphan, not a match */
	assert_int_equal(pm_rdma_fu_t3(&fu, 1, 5, 300, d), 0);
	/* max bounds the output; the rest wait */
	assert_int_equal(pm_rdma_fu_expire(&fu, 1000, d, 0), 0);
	assert_int_equal(pm_rdma_fu_expire(&fu, 1000, d, 4), 1);
	assert_int_equal(d[0].seq, 2);
	assert_int_equal(fu.st.no_t3, 2);
	assert_int_equal(fu.st.orphan_t3, 1);
	pm_rdma_fu_fini(&fu);
}

static void
test_evict_and_dup(void **state)
{
	struct pm_rdma_fu fu;
	struct pm_rdma_fu_done d;

	(void)state;
	assert_int_equal(pm_rdma_fu_init(&fu, 4), 0);
	assert_int_equal(pm_rdma_fu_reply(&fu, 1, 7, 0, 0, 10, 100, &d), 0);
	/* duplicate reply */
	assert_int_equal(pm_rdma_fu_reply(&fu, 1, 7, 0, 0, 10, 100, &d), 0);
	assert_int_equal(fu.st.dup, 1);
	/* seq 5 lands on seq 1's slot: 1 comes out without t3 */
	assert_int_equal(pm_rdma_fu_reply(&fu, 5, 3, 0, 0, 20, 100, &d), 2);
	assert_int_equal(d.seq, 1);
	assert_int_equal(d.flow, 7);
	assert_false(d.has_t3);
	/* and the same through a follow-up */
	assert_int_equal(pm_rdma_fu_t3(&fu, 9, 1, 100, &d), 2);
	assert_int_equal(d.seq, 5);
	assert_int_equal(fu.st.evicted, 2);
	assert_int_equal(fu.st.no_t3, 2);
	pm_rdma_fu_fini(&fu);
}

static void
test_inconsistent(void **state)
{
	struct pm_rdma_fu_done d = {
		.has_t3 = 1, .t1 = 100, .t2 = 0, .t3 = 500, .t4 = 200,
	};

	(void)state;
	/* reflector delay larger than raw RTT: clocks disagree; never negative */
	assert_int_equal(pm_rdma_fu_net_rtt(&d), 0);
	d.t3 = 0;
	d.t2 = 10;
	assert_int_equal(pm_rdma_fu_refl_delay(&d), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_in_order),
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_evict_and_dup),
		cmocka_unit_test(test_inconsistent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
