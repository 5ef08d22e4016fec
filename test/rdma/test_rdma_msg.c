/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of rdma/msg.c: probe, reply and follow-up round trips, the
 * payload read back by lib/wire.c's STAMP decoders (one decoder for both
 * engines), and refusals per cause for foreign or malformed messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pm_wire.h"
#include "pm_rdma_msg.h"

#define T1 1700000000123456789ULL

static void
test_probe(void **state)
{
	struct pm_rdma_msg m = { .type = PM_RDMA_MSG_PROBE, .ssid = 7,
				 .seq = 42, .t1 = T1 }, d;
	struct pm_stamp_sender s;
	uint8_t buf[64];

	(void)state;
	assert_int_equal(pm_rdma_msg_encode(buf, &m), PM_RDMA_MSG_LEN);
	assert_int_equal(pm_wire_stamp_sender_decode(buf, PM_RDMA_MSG_LEN, &s),
			 PM_WIRE_OK);
	assert_int_equal(s.seq, 42);
	assert_int_equal(s.ssid, 7);
	assert_int_equal(pm_wire_ts_to_ns(s.ts, s.ee), T1);
	assert_int_equal(pm_rdma_msg_decode(1, pm_rdma_msg_imm(PM_RDMA_MSG_PROBE),
					    buf, PM_RDMA_MSG_LEN, &d),
			 PM_RDMA_MSG_OK);
	assert_int_equal(d.type, PM_RDMA_MSG_PROBE);
	assert_int_equal(d.seq, 42);
	assert_int_equal(d.t1, T1);
}

static void
test_reply_followup(void **state)
{
	struct pm_rdma_msg m = { .type = PM_RDMA_MSG_REPLY, .ssid = 3,
				 .seq = 9, .r_seq = 100, .t1 = T1,
				 .t2 = T1 + 5000, .t3 = T1 + 7000 }, d;
	struct pm_stamp_reflector r;
	uint8_t buf[PM_RDMA_MSG_LEN];

	(void)state;
	pm_rdma_msg_encode(buf, &m);
	assert_int_equal(pm_wire_stamp_reflector_decode(buf, sizeof(buf), &r),
			 PM_WIRE_OK);
	assert_int_equal(r.s_seq, 9);
	assert_int_equal(r.seq, 100);
	assert_int_equal(r.ts, 0);	/* reply: t3 not known yet */
	assert_int_equal(pm_rdma_msg_decode(1, pm_rdma_msg_imm(PM_RDMA_MSG_REPLY),
					    buf, sizeof(buf), &d), 0);
	assert_int_equal(d.t2, T1 + 5000);
	assert_int_equal(d.t3, 0);
	assert_int_equal(d.t1, T1);

	m.type = PM_RDMA_MSG_FOLLOWUP;
	pm_rdma_msg_encode(buf, &m);
	assert_int_equal(pm_rdma_msg_decode(1,
			 pm_rdma_msg_imm(PM_RDMA_MSG_FOLLOWUP), buf, sizeof(buf),
			 &d), 0);
	assert_int_equal(d.type, PM_RDMA_MSG_FOLLOWUP);
	assert_int_equal(d.seq, 9);
	assert_int_equal(d.r_seq, 100);
	assert_int_equal(d.t3, T1 + 7000);
	assert_int_equal(d.ssid, 3);
}

static void
test_refused(void **state)
{
	struct pm_rdma_msg d;
	uint8_t buf[PM_RDMA_MSG_LEN] = { 0 };

	(void)state;
	assert_int_equal(pm_rdma_msg_decode(0, 0, buf, sizeof(buf), &d),
			 PM_RDMA_MSG_NO_IMM);
	assert_int_equal(pm_rdma_msg_decode(1, 0x12345601, buf, sizeof(buf), &d),
			 PM_RDMA_MSG_BAD_MAGIC);
	assert_int_equal(pm_rdma_msg_decode(1, PM_RDMA_IMM_MAGIC | 9, buf,
					    sizeof(buf), &d),
			 PM_RDMA_MSG_BAD_TYPE);
	assert_int_equal(pm_rdma_msg_decode(1, PM_RDMA_IMM_MAGIC, buf,
					    sizeof(buf), &d),
			 PM_RDMA_MSG_BAD_TYPE);
	assert_int_equal(pm_rdma_msg_decode(1, pm_rdma_msg_imm(PM_RDMA_MSG_REPLY),
					    buf, 43, &d), PM_RDMA_MSG_SHORT);
	assert_int_equal(pm_rdma_msg_decode(1, pm_rdma_msg_imm(PM_RDMA_MSG_PROBE),
					    buf, 0, &d), PM_RDMA_MSG_SHORT);
	assert_string_equal(pm_rdma_msg_cause_str(PM_RDMA_MSG_SHORT), "short");
	assert_string_equal(pm_rdma_msg_cause_str(99), "unknown");
	assert_string_equal(pm_rdma_msg_cause_str(-1), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_reply_followup),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
