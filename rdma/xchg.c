/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Out-of-band QPN exchange over UDP (see pm_rdma_xchg.h; layout in
 * docs/rdma.md).  The server is one thread blocked in poll() on its socket
 * and an eventfd that stop() writes; it answers each valid query with the
 * pre-encoded answer, the query's nonce copied in, and ignores (counts)
 * everything else, so a stray or hostile datagram costs one recvfrom.  The
 * client sends a query with a fresh nonce up to three times, each try
 * waiting a third of the timeout, and takes the first answer that carries
 * its nonce.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pm_rdma_xchg.h"

#define XCHG_TRIES	3
#define XCHG_QPN_MAX	0xffffffu	/* QPNs are 24 bits */
#define XCHG_LL_MAX	2		/* IBV_LINK_LAYER_ETHERNET */

struct pm_rdma_xchg_srv {
	int fd;
	int efd;
	uint16_t port;
	pthread_t thr;
	size_t ans_len;
	uint8_t ans[PM_RDMA_XCHG_MAX_LEN];
	atomic_uint_fast64_t answered;
	atomic_uint_fast64_t ignored;
};

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return ((uint32_t)get16(p) << 16) | get16(p + 2);
}

static uint64_t
get64(const uint8_t *p)
{
	return ((uint64_t)get32(p) << 32) | get32(p + 4);
}

static void
xchg_hdr(uint8_t *buf, uint8_t type, uint16_t len, uint64_t nonce)
{
	put32(buf, PM_RDMA_XCHG_MAGIC);
	buf[4] = PM_RDMA_XCHG_VERSION;
	buf[5] = type;
	put16(buf + 6, len);
	put64(buf + 8, nonce);
}

/* 0 if @buf[@len] is a well-formed header of @type announcing @len. */
static int
xchg_hdr_ok(const uint8_t *buf, size_t len, uint8_t type)
{
	if (len < PM_RDMA_XCHG_HDR_LEN || get32(buf) != PM_RDMA_XCHG_MAGIC ||
	    buf[4] != PM_RDMA_XCHG_VERSION || buf[5] != type ||
	    get16(buf + 6) != len)
		return -EPROTO;
	return 0;
}

/* Device name: 1..31 printable non-space bytes, then NULs only. */
static int
xchg_dev_ok(const uint8_t *d)
{
	int i, n = 0;

	while (n < 32 && d[n] != '\0') {
		if (d[n] < 0x21 || d[n] > 0x7e)
			return 0;
		n++;
	}
	if (n == 0 || n == 32)
		return 0;
	for (i = n; i < 32; i++)
		if (d[i] != '\0')
			return 0;
	return 1;
}

static int
xchg_peer_ok(const struct pm_rdma_peer *p)
{
	uint32_t i;

	if (p->nqpn == 0 || p->nqpn > PM_RDMA_XCHG_MAXQP ||
	    p->link_layer > XCHG_LL_MAX || p->port == 0)
		return 0;
	for (i = 0; i < p->nqpn; i++)
		if (p->qpn[i] > XCHG_QPN_MAX)
			return 0;
	return 1;
}

int
pm_rdma_xchg_encode(uint8_t *buf, size_t cap, const struct pm_rdma_peer *p)
{
	size_t len, n;
	uint32_t i;

	if (buf == NULL || p == NULL || !xchg_peer_ok(p))
		return -EINVAL;
	n = strnlen(p->dev, sizeof(p->dev));
	if (n == 0 || n >= sizeof(p->dev))
		return -EINVAL;
	len = PM_RDMA_XCHG_ANS_FIXED + 4 * (size_t)p->nqpn;
	if (cap < len)
		return -ENOSPC;
	memset(buf, 0, len);
	xchg_hdr(buf, PM_RDMA_XCHG_T_ANSWER, (uint16_t)len, 0);
	memcpy(buf + 16, p->gid, 16);
	put16(buf + 32, p->lid);
	buf[34] = p->link_layer;
	buf[35] = p->port;
	put32(buf + 36, p->nqpn);
	put64(buf + 40, p->boot_id);
	memcpy(buf + 48, p->dev, n);
	if (!xchg_dev_ok(buf + 48))
		return -EINVAL;
	for (i = 0; i < p->nqpn; i++)
		put32(buf + PM_RDMA_XCHG_ANS_FIXED + 4 * i, p->qpn[i]);
	return (int)len;
}

int
pm_rdma_xchg_decode(const uint8_t *buf, size_t len, struct pm_rdma_peer *p)
{
	uint32_t i, n;

	if (buf == NULL || p == NULL || len < PM_RDMA_XCHG_ANS_FIXED ||
	    len > PM_RDMA_XCHG_MAX_LEN ||
	    xchg_hdr_ok(buf, len, PM_RDMA_XCHG_T_ANSWER) != 0)
		return -EPROTO;
	n = get32(buf + 36);
	if (n == 0 || n > PM_RDMA_XCHG_MAXQP ||
	    len != PM_RDMA_XCHG_ANS_FIXED + 4 * (size_t)n ||
	    buf[34] > XCHG_LL_MAX || buf[35] == 0 || !xchg_dev_ok(buf + 48))
		return -EPROTO;
	memset(p, 0, sizeof(*p));
	memcpy(p->gid, buf + 16, 16);
	p->lid = get16(buf + 32);
	p->link_layer = buf[34];
	p->port = buf[35];
	p->nqpn = n;
	p->boot_id = get64(buf + 40);
	memcpy(p->dev, buf + 48, 32);
	for (i = 0; i < n; i++) {
		p->qpn[i] = get32(buf + PM_RDMA_XCHG_ANS_FIXED + 4 * i);
		if (p->qpn[i] > XCHG_QPN_MAX)
			return -EPROTO;
	}
	return 0;
}

uint64_t
pm_rdma_xchg_boot_id(void)
{
	struct timespec ts;
	uint64_t v = 0;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v)) {
		clock_gettime(CLOCK_REALTIME, &ts);
		v = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
		    ((uint64_t)getpid() << 16);
	}
	return v != 0 ? v : 1;
}

int
pm_rdma_xchg_parse_addr(const char *s, uint16_t dflt_port, uint32_t *ip,
			uint16_t *port)
{
	char host[INET_ADDRSTRLEN], *end;
	const char *colon;
	struct in_addr a;
	unsigned long v;
	size_t n;

	if (s == NULL)
		return -EINVAL;
	colon = strchr(s, ':');
	n = colon != NULL ? (size_t)(colon - s) : strlen(s);
	if (n == 0 || n >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, &a) != 1)
		return -EINVAL;
	*port = dflt_port;
	if (colon != NULL) {
		errno = 0;
		v = strtoul(colon + 1, &end, 10);
		if (errno != 0 || end == colon + 1 || *end != '\0' ||
		    v > 65535 || colon[1] == '-' || colon[1] == '+')
			return -EINVAL;
		*port = (uint16_t)v;
	}
	*ip = ntohl(a.s_addr);
	return 0;
}

static uint64_t
xchg_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int
pm_rdma_xchg_query(uint32_t ip, uint16_t port, uint32_t timeout_ms,
		   struct pm_rdma_peer *out)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	uint8_t q[PM_RDMA_XCHG_HDR_LEN], a[PM_RDMA_XCHG_MAX_LEN + 1];
	struct pm_rdma_peer p;
	struct pollfd pfd;
	uint64_t nonce, end;
	uint32_t per_try;
	int fd, try, rc = -ETIMEDOUT;
	ssize_t n;

	if (out == NULL || port == 0)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	sa.sin_addr.s_addr = htonl(ip);
	sa.sin_port = htons(port);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	per_try = timeout_ms / XCHG_TRIES;
	if (per_try == 0)
		per_try = 1;
	nonce = pm_rdma_xchg_boot_id();
	xchg_hdr(q, PM_RDMA_XCHG_T_QUERY, sizeof(q), nonce);
	for (try = 0; try < XCHG_TRIES; try++) {
		if (send(fd, q, sizeof(q), 0) < 0 && errno != ECONNREFUSED) {
			rc = -errno;
			break;
		}
		end = xchg_now_ms() + per_try;
		for (;;) {
			uint64_t now = xchg_now_ms();

			if (now >= end)
				break;
			pfd.fd = fd;
			pfd.events = POLLIN;
			pfd.revents = 0;
			if (poll(&pfd, 1, (int)(end - now)) <= 0)
				continue;
			n = recv(fd, a, sizeof(a), 0);
			if (n < 0) {
				/* ICMP port unreachable: no server (yet) */
				if (errno == ECONNREFUSED)
					rc = -ECONNREFUSED;
				continue;
			}
			if ((size_t)n >= PM_RDMA_XCHG_HDR_LEN &&
			    get32(a) == PM_RDMA_XCHG_MAGIC &&
			    get64(a + 8) != nonce)
				continue;	/* an older try's answer */
			if (pm_rdma_xchg_decode(a, (size_t)n, &p) != 0) {
				rc = -EPROTO;
				goto out;
			}
			*out = p;
			rc = 0;
			goto out;
		}
	}
out:
	close(fd);
	return rc;
}

static void *
xchg_srv_main(void *arg)
{
	struct pm_rdma_xchg_srv *s = arg;
	uint8_t q[PM_RDMA_XCHG_HDR_LEN + 1], a[PM_RDMA_XCHG_MAX_LEN];
	struct sockaddr_in from;
	struct pollfd pfd[2];
	socklen_t fl;
	ssize_t n;

	memcpy(a, s->ans, s->ans_len);
	for (;;) {
		pfd[0].fd = s->fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = s->efd;
		pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents != 0)
			break;
		if (!(pfd[0].revents & POLLIN))
			continue;
		fl = sizeof(from);
		n = recvfrom(s->fd, q, sizeof(q), MSG_DONTWAIT,
			     (struct sockaddr *)&from, &fl);
		if (n < 0)
			continue;
		if (xchg_hdr_ok(q, (size_t)n, PM_RDMA_XCHG_T_QUERY) != 0 ||
		    n != PM_RDMA_XCHG_HDR_LEN || fl != sizeof(from)) {
			atomic_fetch_add(&s->ignored, 1);
			continue;
		}
		memcpy(a + 8, q + 8, 8);	/* echo the nonce */
		if (sendto(s->fd, a, s->ans_len, 0, (struct sockaddr *)&from,
			   fl) == (ssize_t)s->ans_len)
			atomic_fetch_add(&s->answered, 1);
	}
	return NULL;
}

int
pm_rdma_xchg_start(struct pm_rdma_xchg_srv **srv, uint32_t ip, uint16_t port,
		   const struct pm_rdma_peer *self)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	struct pm_rdma_xchg_srv *s;
	int rc;

	*srv = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->fd = s->efd = -1;
	rc = pm_rdma_xchg_encode(s->ans, sizeof(s->ans), self);
	if (rc < 0)
		goto fail;
	s->ans_len = (size_t)rc;
	s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		goto fail_errno;
	/* No SO_REUSEADDR: on UDP it would let a second reflector bind the
	 * same port and take half the queries. */
	sa.sin_addr.s_addr = htonl(ip);
	sa.sin_port = htons(port);
	if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(s->fd, (struct sockaddr *)&sa, &sl) != 0)
		goto fail_errno;
	s->port = ntohs(sa.sin_port);
	s->efd = eventfd(0, EFD_CLOEXEC);
	if (s->efd < 0)
		goto fail_errno;
	rc = pthread_create(&s->thr, NULL, xchg_srv_main, s);
	if (rc != 0) {
		rc = -rc;
		goto fail;
	}
	*srv = s;
	return 0;

fail_errno:
	rc = -errno;
fail:
	if (s->efd >= 0)
		close(s->efd);
	if (s->fd >= 0)
		close(s->fd);
	free(s);
	return rc;
}

void
pm_rdma_xchg_stop(struct pm_rdma_xchg_srv *srv)
{
	uint64_t one = 1;

	if (srv == NULL)
		return;
	if (write(srv->efd, &one, sizeof(one)) != sizeof(one))
		pthread_cancel(srv->thr);
	pthread_join(srv->thr, NULL);
	close(srv->efd);
	close(srv->fd);
	free(srv);
}

uint16_t
pm_rdma_xchg_srv_port(const struct pm_rdma_xchg_srv *srv)
{
	return srv->port;
}

void
pm_rdma_xchg_srv_counts(struct pm_rdma_xchg_srv *srv, uint64_t *answered,
			uint64_t *ignored)
{
	*answered = atomic_load(&srv->answered);
	*ignored = atomic_load(&srv->ignored);
}
