/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of rdma/xchg.c, the UDP QPN exchange: encode/decode round
 * trip, every truncation and extension of a valid answer refused, every
 * single-field corruption refused, random bytes never crash and are
 * refused unless they happen to be valid, address parsing, and a real
 * query and answer over 127.0.0.1 (wrong nonces, garbage and a server
 * that is not there included).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "pm_rdma_xchg.h"

#define LO	0x7f000001u

static void
mk_peer(struct pm_rdma_peer *p, uint32_t nqpn)
{
	uint32_t i;

	memset(p, 0, sizeof(*p));
	for (i = 0; i < 16; i++)
		p->gid[i] = (uint8_t)(0xf0 + i);
	p->lid = 0x1234;
	p->link_layer = 2;
	p->port = 1;
	p->nqpn = nqpn;
	for (i = 0; i < nqpn; i++)
		p->qpn[i] = 0x100 + i * 0x10101;
	p->boot_id = 0x0123456789abcdefULL;
	strcpy(p->dev, "mlx5_0");
}

static void
test_round_trip(void **state)
{
	uint8_t buf[PM_RDMA_XCHG_MAX_LEN];
	struct pm_rdma_peer a, b;
	uint32_t n;
	int len;

	(void)state;
	for (n = 1; n <= PM_RDMA_XCHG_MAXQP; n++) {
		mk_peer(&a, n);
		len = pm_rdma_xchg_encode(buf, sizeof(buf), &a);
		assert_int_equal(len, PM_RDMA_XCHG_ANS_FIXED + 4 * n);
		memset(&b, 0xaa, sizeof(b));
		assert_int_equal(pm_rdma_xchg_decode(buf, (size_t)len, &b), 0);
		assert_memory_equal(&a, &b, sizeof(a));
	}
	/* the documented layout: magic, version, type, length */
	mk_peer(&a, 2);
	len = pm_rdma_xchg_encode(buf, sizeof(buf), &a);
	assert_int_equal(len, 88);
	assert_memory_equal(buf, "PMQX\x01\x02\x00\x58", 8);
	assert_int_equal(buf[34], 2);
	assert_int_equal(buf[35], 1);
	assert_memory_equal(buf + 48, "mlx5_0\0", 7);
	assert_memory_equal(buf + 80, "\x00\x00\x01\x00", 4);
}

static void
test_encode_refuses(void **state)
{
	uint8_t buf[PM_RDMA_XCHG_MAX_LEN];
	struct pm_rdma_peer a;

	(void)state;
	mk_peer(&a, 4);
	assert_int_equal(pm_rdma_xchg_encode(buf, 95, &a), -ENOSPC);
	assert_int_equal(pm_rdma_xchg_encode(buf, 96, &a), 96);
	a.nqpn = 0;
	assert_int_equal(pm_rdma_xchg_encode(buf, sizeof(buf), &a), -EINVAL);
	a.nqpn = PM_RDMA_XCHG_MAXQP + 1;
	assert_int_equal(pm_rdma_xchg_encode(buf, sizeof(buf), &a), -EINVAL);
	mk_peer(&a, 4);
	a.qpn[3] = 1u << 24;
	assert_int_equal(pm_rdma_xchg_encode(buf, sizeof(buf), &a), -EINVAL);
	mk_peer(&a, 4);
	a.dev[0] = '\0';
	assert_int_equal(pm_rdma_xchg_encode(buf, sizeof(buf), &a), -EINVAL);
	memset(a.dev, 'x', sizeof(a.dev));
	assert_int_equal(pm_rdma_xchg_encode(buf, sizeof(buf), &a), -EINVAL);
	mk_peer(&a, 4);
	a.port = 0;
	assert_int_equal(pm_rdma_xchg_encode(buf, sizeof(buf), &a), -EINVAL);
	mk_peer(&a, 4);
	a.link_layer = 3;
	assert_int_equal(pm_rdma_xchg_encode(buf, sizeof(buf), &a), -EINVAL);
}

static void
test_truncations(void **state)
{
	uint8_t buf[PM_RDMA_XCHG_MAX_LEN + 8];
	struct pm_rdma_peer a, b;
	size_t i;
	int len;

	(void)state;
	mk_peer(&a, PM_RDMA_XCHG_MAXQP);
	len = pm_rdma_xchg_encode(buf, sizeof(buf), &a);
	assert_int_equal(len, PM_RDMA_XCHG_MAX_LEN);
	/* every shorter prefix, each copied so ASan sees over-reads */
	for (i = 0; i < (size_t)len; i++) {
		uint8_t *cp = malloc(i ? i : 1);

		assert_non_null(cp);
		memcpy(cp, buf, i);
		assert_int_equal(pm_rdma_xchg_decode(cp, i, &b), -EPROTO);
		free(cp);
	}
	/* longer than announced, and over the maximum */
	assert_int_equal(pm_rdma_xchg_decode(buf, (size_t)len + 4, &b),
			 -EPROTO);
	/* the length field and nqpn agree with a shorter size: still no */
	mk_peer(&a, 3);
	len = pm_rdma_xchg_encode(buf, sizeof(buf), &a);
	buf[39] = 2;	/* nqpn 2, datagram holds 3 */
	assert_int_equal(pm_rdma_xchg_decode(buf, (size_t)len, &b), -EPROTO);
	assert_int_equal(pm_rdma_xchg_decode(NULL, 10, &b), -EPROTO);
}

static void
test_corruptions(void **state)
{
	static const struct {
		size_t off;
		uint8_t val;
	} bad[] = {
		{ 0, 'X' },		/* magic */
		{ 3, 'Y' },
		{ 4, 2 },		/* version */
		{ 5, 1 },		/* a query, not an answer */
		{ 5, 9 },		/* unknown type */
		{ 7, 0x59 },		/* length field */
		{ 34, 3 },		/* link layer */
		{ 35, 0 },		/* port 0 */
		{ 36, 1 },		/* nqpn huge */
		{ 39, 0 },		/* nqpn 0 */
		{ 48, 0 },		/* empty device name */
		{ 49, ' ' },		/* space in the name */
		{ 50, 0x07 },		/* control char */
		{ 60, 'z' },		/* junk after the NUL */
		{ 80, 0x01 },		/* QPN >= 2^24 */
	};
	uint8_t buf[PM_RDMA_XCHG_MAX_LEN], cp[PM_RDMA_XCHG_MAX_LEN];
	struct pm_rdma_peer a, b;
	unsigned int i;
	int len;

	(void)state;
	mk_peer(&a, 2);
	len = pm_rdma_xchg_encode(buf, sizeof(buf), &a);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(cp, buf, (size_t)len);
		cp[bad[i].off] = bad[i].val;
		assert_int_equal(pm_rdma_xchg_decode(cp, (size_t)len, &b),
				 -EPROTO);
	}
	/* a 31-character name is fine, 32 without NUL is not */
	memset(a.dev, 'n', 31);
	a.dev[31] = '\0';
	len = pm_rdma_xchg_encode(buf, sizeof(buf), &a);
	assert_true(len > 0);
	assert_int_equal(pm_rdma_xchg_decode(buf, (size_t)len, &b), 0);
	buf[48 + 31] = 'n';
	assert_int_equal(pm_rdma_xchg_decode(buf, (size_t)len, &b), -EPROTO);
}

static void
test_random(void **state)
{
	uint8_t buf[PM_RDMA_XCHG_MAX_LEN + 16];
	struct pm_rdma_peer b;
	uint32_t x = 12345;
	unsigned int it, ok = 0;
	size_t len, i;

	(void)state;
	for (it = 0; it < 200000; it++) {
		len = it % sizeof(buf);
		for (i = 0; i < len; i++) {
			x = x * 1103515245u + 12345u;
			buf[i] = (uint8_t)(x >> 16);
		}
		/* half the time, a valid header so the deeper checks run */
		if (len >= 16 && (it & 1)) {
			memcpy(buf, "PMQX\x01\x02", 6);
			buf[6] = (uint8_t)(len >> 8);
			buf[7] = (uint8_t)len;
			buf[36] = buf[37] = buf[38] = 0;
		}
		if (pm_rdma_xchg_decode(buf, len, &b) == 0)
			ok++;
	}
	/* random bytes essentially never make a valid answer */
	assert_true(ok < 10);
}

static void
test_parse_addr(void **state)
{
	uint32_t ip;
	uint16_t port;

	(void)state;
	assert_int_equal(pm_rdma_xchg_parse_addr("10.1.2.3", 18515, &ip, &port), 0);
	assert_int_equal(ip, 0x0a010203);
	assert_int_equal(port, 18515);
	assert_int_equal(pm_rdma_xchg_parse_addr("0.0.0.0:7", 1, &ip, &port), 0);
	assert_int_equal(ip, 0);
	assert_int_equal(port, 7);
	assert_int_equal(pm_rdma_xchg_parse_addr("1.2.3.4:", 1, &ip, &port), -EINVAL);
	assert_int_equal(pm_rdma_xchg_parse_addr("1.2.3.4:70000", 1, &ip, &port), -EINVAL);
	assert_int_equal(pm_rdma_xchg_parse_addr("1.2.3.4:-1", 1, &ip, &port), -EINVAL);
	assert_int_equal(pm_rdma_xchg_parse_addr("1.2.3.4:5x", 1, &ip, &port), -EINVAL);
	assert_int_equal(pm_rdma_xchg_parse_addr("host:5", 1, &ip, &port), -EINVAL);
	assert_int_equal(pm_rdma_xchg_parse_addr(":5", 1, &ip, &port), -EINVAL);
	assert_int_equal(pm_rdma_xchg_parse_addr("", 1, &ip, &port), -EINVAL);
}

/* A UDP socket on 127.0.0.1 (ephemeral port) standing in for a server. */
static int
udp_on_lo(uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(LO);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static void
test_live(void **state)
{
	struct pm_rdma_xchg_srv *srv;
	struct pm_rdma_peer self, got;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	uint64_t answered, ignored;
	uint8_t junk[40] = "PMQX\x01\x01\x00\x28";
	uint16_t port;
	int fd, i;

	(void)state;
	mk_peer(&self, 5);
	assert_int_equal(pm_rdma_xchg_start(&srv, LO, 0, &self), 0);
	port = pm_rdma_xchg_srv_port(srv);
	assert_true(port != 0);
	/* the server ignores garbage and malformed queries */
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	sa.sin_addr.s_addr = htonl(LO);
	sa.sin_port = htons(port);
	assert_int_equal(sendto(fd, junk, sizeof(junk), 0,
				(struct sockaddr *)&sa, sizeof(sa)), 40);
	assert_int_equal(sendto(fd, "hello", 5, 0, (struct sockaddr *)&sa,
				sizeof(sa)), 5);
	close(fd);
	assert_int_equal(pm_rdma_xchg_query(LO, port, 1500, &got), 0);
	assert_memory_equal(&got, &self, sizeof(self));
	assert_int_equal(pm_rdma_xchg_query(LO, port, 1500, &got), 0);
	/* The server counts an answer after sending it: give its thread
	 * the moment to do so (not a timing check: up to 5 s). */
	for (i = 0; i < 500; i++) {
		pm_rdma_xchg_srv_counts(srv, &answered, &ignored);
		if (answered == 2 && ignored == 2)
			break;
		usleep(10000);
	}
	assert_int_equal(answered, 2);
	assert_int_equal(ignored, 2);
	/* a second server on the same port: EADDRINUSE */
	{
		struct pm_rdma_xchg_srv *s2;

		assert_int_equal(pm_rdma_xchg_start(&s2, LO, port, &self),
				 -EADDRINUSE);
		assert_null(s2);
	}
	/* a bad self is refused up front */
	{
		struct pm_rdma_xchg_srv *s2;

		self.nqpn = 0;
		assert_int_equal(pm_rdma_xchg_start(&s2, LO, 0, &self),
				 -EINVAL);
	}
	pm_rdma_xchg_stop(srv);
	/* nobody there any more: refused (ICMP) or timed out, quickly */
	fd = pm_rdma_xchg_query(LO, port, 300, &got);
	assert_true(fd == -ECONNREFUSED || fd == -ETIMEDOUT);
}

static void
test_silent_and_bad_server(void **state)
{
	uint8_t q[64], ans[PM_RDMA_XCHG_MAX_LEN];
	struct pm_rdma_peer got, self;
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	uint16_t port;
	pid_t pid;
	int fd, rc, len;

	(void)state;
	/* a socket that never answers: -ETIMEDOUT after the timeout */
	fd = udp_on_lo(&port);
	assert_int_equal(pm_rdma_xchg_query(LO, port, 150, &got), -ETIMEDOUT);
	close(fd);

	/* a server answering first with a stale nonce, then garbage */
	fd = udp_on_lo(&port);
	mk_peer(&self, 1);
	len = pm_rdma_xchg_encode(ans, sizeof(ans), &self);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from,
			     &fl) == 16) {
			/* nonce 0 != the query's: ignored by the client */
			sendto(fd, ans, (size_t)len, 0,
			       (struct sockaddr *)&from, fl);
			/* then its nonce, but cut short: -EPROTO */
			memcpy(ans + 8, q + 8, 8);
			sendto(fd, ans, 20, 0, (struct sockaddr *)&from, fl);
		}
		_exit(0);
	}
	rc = pm_rdma_xchg_query(LO, port, 1500, &got);
	assert_int_equal(rc, -EPROTO);
	close(fd);
	assert_int_equal(waitpid(pid, &rc, 0), pid);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_corruptions),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_parse_addr),
		cmocka_unit_test(test_live),
		cmocka_unit_test(test_silent_and_bad_server),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
