/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Kernel-socket STAMP reflector: pmesh-reflector --socket.
 *
 * For servers whose NIC cannot be handed to DPDK, this answers STAMP
 * (RFC 8762, stateless, with RFC 8972 TLVs) through ordinary UDP sockets.
 * Each worker thread owns one socket per listen address, all bound with
 * SO_REUSEPORT so the kernel spreads datagrams over the workers; a worker
 * sleeps in epoll_wait when idle and never spins.  t2 comes from the
 * kernel's receive timestamp (SO_TIMESTAMPING: a NIC hardware stamp when
 * one is there, else the software stamp taken when the packet entered the
 * stack), t3 from CLOCK_REALTIME just before sendmsg -- so the reflector
 * delay the prober subtracts covers the socket queue and this code.
 *
 * Replies are built in the receive buffer: same length as the request
 * (never larger: a reflector must not amplify), TLVs copied with U set on
 * types we do not know and M on a malformed one.  The request's TTL goes
 * into the reply and its DSCP is used for the reply, so both directions of
 * a probe travel in the same class.  Every datagram is counted once: as a
 * reply sent or under the reason it was dropped.
 *
 * With --rate-limit, a classic BPF program steers each source address to
 * one worker, so the per-source token buckets (pm_reflector.h) need no
 * locks and each source really gets the configured rate, not rate x threads.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <linux/filter.h>
#include <linux/net_tstamp.h>

#include "pm_cfg.h"
#include "pm_wire.h"
#include "pm_reflector.h"
#include "pm_wire_fast.h"	/* last: short helper names (put16 ...) */

#define SOCK_BATCH		32	/* datagrams per recvmmsg */
#define SOCK_BUF_LEN		PM_STAMP_MAX_PAYLOAD	/* larger: MSG_TRUNC */
#define SOCK_CTRL_LEN		256	/* room for stamp, TTL, TOS, pktinfo */
#define SOCK_BATCHES_PER_WAKE	4	/* then let other sockets have a turn */
#define SOCK_RCVBUF		(4 << 20)
#define SOCK_REPLY_TTL		255	/* as the DPDK reflector does */
#define HW_TS_MAX_SKEW_NS	1000000000ULL	/* PHC not tied to UTC: ignore */

static const char *const ctr_names[PM_REFL_CTR_MAX] = {
	[PM_REFL_RX] = "rx",
	[PM_REFL_TX] = "tx",
	[PM_REFL_SHORT] = "short",
	[PM_REFL_BAD_TLV] = "bad_tlv",
	[PM_REFL_DENIED] = "denied",
	[PM_REFL_RATELIMITED] = "ratelimited",
	[PM_REFL_OVERSIZE] = "oversize",
	[PM_REFL_RX_ERR] = "rx_err",
	[PM_REFL_TX_ERR] = "tx_err",
	[PM_REFL_TS_HW] = "ts_hw",
	[PM_REFL_TS_SW] = "ts_sw",
	[PM_REFL_TS_USER] = "ts_user",
	[PM_REFL_TS_HW_BAD] = "ts_hw_bad",
};

/*
 * One worker thread.  Only the owner writes its counters (relaxed atomic
 * stores); the main thread reads them for the stats line.
 */
struct sock_worker {
	unsigned int id;
	pthread_t tid;
	int started;
	int epfd;
	int fds[PM_REFL_MAX_LISTEN];
	unsigned int nfds;
	const struct pm_refl_sock_opts *o;
	uint16_t ee;			/* Error Estimate of our stamps */
	struct pm_refl_rl *rl;		/* NULL: no rate limit */
	uint8_t *bufs;			/* SOCK_BATCH x SOCK_BUF_LEN */
	uint8_t *ctrls;			/* SOCK_BATCH x SOCK_CTRL_LEN */
	uint64_t ctr[PM_REFL_CTR_MAX];
} __attribute__((aligned(64)));

static atomic_int sock_quit;
static atomic_int sock_failed;
static int sock_wake_fd = -1;		/* eventfd: readable once we stop */

const char *
pm_refl_ctr_name(int ctr)
{
	if (ctr < 0 || ctr >= PM_REFL_CTR_MAX)
		return "?";
	return ctr_names[ctr];
}

static inline void
ctr_inc(struct sock_worker *w, int ctr)
{
	__atomic_store_n(&w->ctr[ctr], w->ctr[ctr] + 1, __ATOMIC_RELAXED);
}

static inline uint64_t
ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ULL + (uint64_t)ts->tv_nsec;
}

static inline uint64_t
clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts_ns(&ts);
}

static void
sock_wake(void)
{
	uint64_t one = 1;
	ssize_t r;

	/* Nobody reads the eventfd, so once written it stays readable and
	 * every epoll set and the main loop's poll see it. */
	r = write(sock_wake_fd, &one, sizeof(one));
	(void)r;
}

static void
sock_on_signal(int sig)
{
	int saved = errno;

	(void)sig;
	atomic_store(&sock_quit, 1);
	sock_wake();
	errno = saved;
}

/*
 * Walk the TLVs after the base packet, marking for the sender what we did
 * with them (RFC 8972 4): U on every type we do not implement (we implement
 * only Extra Padding), M on the first malformed one, after which the rest
 * is copied untouched.  Returns 1 when the TLVs are malformed.
 */
static int
sock_tlv_mark(uint8_t *p, uint32_t len)
{
	uint32_t off = PM_STAMP_BASE_LEN;
	uint16_t tlen;

	while (off < len) {
		if (len - off < PM_STAMP_TLV_HDR_LEN)
			return 1;	/* a stub too short for a header */
		memcpy(&tlen, p + off + 2, sizeof(tlen));
		tlen = be16toh(tlen);
		if ((uint32_t)tlen > len - off - PM_STAMP_TLV_HDR_LEN) {
			p[off] |= PM_STAMP_TLV_F_M;
			return 1;
		}
		if (p[off + 1] != PM_STAMP_TLV_PADDING)
			p[off] |= PM_STAMP_TLV_F_U;
		off += PM_STAMP_TLV_HDR_LEN + tlen;
	}
	return 0;
}

/*
 * Turn the sender packet in @p (@len bytes, >= 44) into the reflector
 * packet of RFC 8762 4.3.1, in place.  Stateless: our sequence number is
 * the sender's.  t3 is left 0 for the caller to write just before sending.
 * Returns 0, or -1 when @p is not a sender packet.
 */
static int
sock_reflect(struct sock_worker *w, uint8_t *p, uint32_t len, uint64_t t2_ns,
	     uint8_t ttl)
{
	struct pm_stamp_sender s;
	unsigned int ntlv;
	int bad;

	if (pm_wire_stamp_sender_decode(p, len, &s) != PM_WIRE_OK)
		return -1;
	/* pm_wire decides validity (shared with the DPDK reflector); the
	 * local walk only sets flags, and a bad packet is still answered with
	 * the malformed TLV marked, as RFC 8972 asks. */
	bad = pm_wire_stamp_tlv_check(p, len, &ntlv) != PM_WIRE_OK;
	bad |= sock_tlv_mark(p, len);
	if (bad)
		ctr_inc(w, PM_REFL_BAD_TLV);

	put32(p + PM_STAMP_OFF_SEQ, s.seq);
	put64(p + PM_STAMP_OFF_TS, 0);
	put16(p + PM_STAMP_OFF_EE, w->ee);
	put16(p + PM_STAMP_OFF_SSID, s.ssid);
	put64(p + PM_STAMP_OFF_RX_TS, pm_wire_ptp_from_ns(t2_ns));
	put32(p + PM_STAMP_OFF_S_SEQ, s.seq);
	put64(p + PM_STAMP_OFF_S_TS, s.ts);
	put16(p + PM_STAMP_OFF_S_EE, s.ee);
	put16(p + PM_STAMP_OFF_S_EE + 2, 0);	/* MBZ */
	p[PM_STAMP_OFF_S_TTL] = ttl;
	memset(p + PM_STAMP_OFF_S_TTL + 1, 0,
	       PM_STAMP_BASE_LEN - PM_STAMP_OFF_S_TTL - 1);	/* MBZ */
	return 0;
}

/* What the control messages of one datagram told us. */
struct sock_rx_meta {
	uint64_t sw_ns;		/* 0: none */
	uint64_t hw_ns;		/* 0: none */
	int ttl;		/* -1: none */
	int tos;		/* -1: none */
	int have_pktinfo;
	struct in_pktinfo pktinfo;
};

static void
sock_rx_meta(struct msghdr *mh, struct sock_rx_meta *m)
{
	struct scm_timestamping tss;
	struct cmsghdr *cm;
	int v;

	m->sw_ns = 0;
	m->hw_ns = 0;
	m->ttl = -1;
	m->tos = -1;
	m->have_pktinfo = 0;
	for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_TIMESTAMPING &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(tss))) {
			memcpy(&tss, CMSG_DATA(cm), sizeof(tss));
			m->sw_ns = ts_ns(&tss.ts[0]);
			m->hw_ns = ts_ns(&tss.ts[2]);
		} else if (cm->cmsg_level == IPPROTO_IP &&
			   cm->cmsg_type == IP_TTL &&
			   cm->cmsg_len >= CMSG_LEN(sizeof(int))) {
			memcpy(&v, CMSG_DATA(cm), sizeof(v));
			m->ttl = v;
		} else if (cm->cmsg_level == IPPROTO_IP &&
			   cm->cmsg_type == IP_TOS &&
			   cm->cmsg_len >= CMSG_LEN(1)) {
			m->tos = *(uint8_t *)CMSG_DATA(cm);
		} else if (cm->cmsg_level == IPPROTO_IP &&
			   cm->cmsg_type == IP_PKTINFO &&
			   cm->cmsg_len >= CMSG_LEN(sizeof(m->pktinfo))) {
			memcpy(&m->pktinfo, CMSG_DATA(cm), sizeof(m->pktinfo));
			m->have_pktinfo = 1;
		}
	}
}

/*
 * Pick t2: the NIC's stamp when there is one and it is on the system
 * clock's timescale (a PHC nobody synchronised can be anywhere), else the
 * kernel's software stamp, else now.
 */
static uint64_t
sock_t2(struct sock_worker *w, const struct sock_rx_meta *m)
{
	uint64_t ref, d;

	if (m->hw_ns != 0) {
		ref = m->sw_ns != 0 ? m->sw_ns : clock_ns(CLOCK_REALTIME);
		d = m->hw_ns > ref ? m->hw_ns - ref : ref - m->hw_ns;
		if (d <= HW_TS_MAX_SKEW_NS) {
			ctr_inc(w, PM_REFL_TS_HW);
			return m->hw_ns;
		}
		ctr_inc(w, PM_REFL_TS_HW_BAD);
	}
	if (m->sw_ns != 0) {
		ctr_inc(w, PM_REFL_TS_SW);
		return m->sw_ns;
	}
	ctr_inc(w, PM_REFL_TS_USER);
	return clock_ns(CLOCK_REALTIME);
}

/* Send the reply in @p back to @to, from the address the request reached,
 * with the request's DSCP. */
static void
sock_send(struct sock_worker *w, int fd, uint8_t *p, uint32_t len,
	  struct sockaddr_in *to, const struct sock_rx_meta *m)
{
	union {
		uint8_t buf[CMSG_SPACE(sizeof(struct in_pktinfo)) +
			    CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct in_pktinfo pi;
	struct cmsghdr *cm;
	struct msghdr mh;
	struct iovec iov;
	size_t clen = 0;
	int tos;

	memset(&mh, 0, sizeof(mh));
	memset(&ctl, 0, sizeof(ctl));
	iov.iov_base = p;
	iov.iov_len = len;
	mh.msg_name = to;
	mh.msg_namelen = sizeof(*to);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	cm = CMSG_FIRSTHDR(&mh);
	if (m->have_pktinfo) {
		/* ipi_spec_dst is the local address the request reached
		 * (an interface address even for broadcast): reply from it
		 * so the sender's 4-tuple matches on a multi-homed host. */
		memset(&pi, 0, sizeof(pi));
		pi.ipi_spec_dst = m->pktinfo.ipi_spec_dst;
		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		clen += CMSG_SPACE(sizeof(pi));
		cm = CMSG_NXTHDR(&mh, cm);
	}
	if (m->tos > 0 && (m->tos & 0xfc) != 0 && cm != NULL) {
		tos = m->tos & 0xfc;	/* DSCP only; ECN is the path's */
		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_TOS;
		cm->cmsg_len = CMSG_LEN(sizeof(tos));
		memcpy(CMSG_DATA(cm), &tos, sizeof(tos));
		clen += CMSG_SPACE(sizeof(tos));
	}
	mh.msg_controllen = clen;
	if (clen == 0)
		mh.msg_control = NULL;

	/* t3 as late as user space can take it. */
	put64(p + PM_STAMP_OFF_TS,
	      pm_wire_ptp_from_ns(clock_ns(CLOCK_REALTIME)));
	if (sendmsg(fd, &mh, MSG_DONTWAIT) < 0)
		ctr_inc(w, PM_REFL_TX_ERR);
	else
		ctr_inc(w, PM_REFL_TX);
}

/* Handle one received datagram. */
static void
sock_one(struct sock_worker *w, int fd, struct mmsghdr *mm, uint64_t mono_ns)
{
	const struct pm_reflector_cfg *cfg = &w->o->cfg;
	struct sockaddr_in *from = mm->msg_hdr.msg_name;
	uint8_t *p = mm->msg_hdr.msg_iov->iov_base;
	uint32_t len = mm->msg_len;
	struct sock_rx_meta m;
	uint32_t src;
	uint64_t t2;

	ctr_inc(w, PM_REFL_RX);
	if (mm->msg_hdr.msg_namelen < sizeof(*from) ||
	    from->sin_family != AF_INET) {
		ctr_inc(w, PM_REFL_DENIED);
		return;
	}
	src = ntohl(from->sin_addr.s_addr);
	if (!pm_refl_allowed(cfg->allow, cfg->nallow, src)) {
		ctr_inc(w, PM_REFL_DENIED);
		return;
	}
	if (w->rl != NULL && !pm_refl_rl_take(w->rl, src, mono_ns)) {
		ctr_inc(w, PM_REFL_RATELIMITED);
		return;
	}
	if (mm->msg_hdr.msg_flags & MSG_TRUNC) {
		ctr_inc(w, PM_REFL_OVERSIZE);
		return;
	}
	if (len < PM_STAMP_BASE_LEN) {
		ctr_inc(w, PM_REFL_SHORT);
		return;
	}
	sock_rx_meta(&mm->msg_hdr, &m);
	t2 = sock_t2(w, &m);
	if (sock_reflect(w, p, len, t2, m.ttl < 0 ? 0 : (uint8_t)m.ttl) < 0) {
		ctr_inc(w, PM_REFL_SHORT);
		return;
	}
	sock_send(w, fd, p, len, from, &m);
}

/* Read what @fd holds, a few batches at most so that one busy socket does
 * not starve the others of this worker. */
static void
sock_drain(struct sock_worker *w, int fd)
{
	struct sockaddr_in from[SOCK_BATCH];
	struct mmsghdr mm[SOCK_BATCH];
	struct iovec iov[SOCK_BATCH];
	uint64_t mono = 0;
	int b, i, n;

	for (b = 0; b < SOCK_BATCHES_PER_WAKE; b++) {
		memset(mm, 0, sizeof(mm));
		for (i = 0; i < SOCK_BATCH; i++) {
			iov[i].iov_base = w->bufs + (size_t)i * SOCK_BUF_LEN;
			iov[i].iov_len = SOCK_BUF_LEN;
			mm[i].msg_hdr.msg_name = &from[i];
			mm[i].msg_hdr.msg_namelen = sizeof(from[i]);
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
			mm[i].msg_hdr.msg_control =
				w->ctrls + (size_t)i * SOCK_CTRL_LEN;
			mm[i].msg_hdr.msg_controllen = SOCK_CTRL_LEN;
		}
		n = recvmmsg(fd, mm, SOCK_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				ctr_inc(w, PM_REFL_RX_ERR);
			return;
		}
		if (w->rl != NULL)
			mono = clock_ns(CLOCK_MONOTONIC);
		for (i = 0; i < n; i++)
			sock_one(w, fd, &mm[i], mono);
		if (n < SOCK_BATCH)
			return;
	}
}

static void *
sock_worker_main(void *arg)
{
	struct sock_worker *w = arg;
	struct epoll_event ev[PM_REFL_MAX_LISTEN + 1];
	int i, n;

	while (!atomic_load_explicit(&sock_quit, memory_order_relaxed)) {
		n = epoll_wait(w->epfd, ev, PM_REFL_MAX_LISTEN + 1, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			pm_refl_log("error", "worker %u: epoll_wait: %s",
				    w->id, strerror(errno));
			atomic_store(&sock_failed, 1);
			atomic_store(&sock_quit, 1);
			sock_wake();
			break;
		}
		for (i = 0; i < n; i++) {
			if (ev[i].data.fd == sock_wake_fd)
				return NULL;
			sock_drain(w, ev[i].data.fd);
		}
	}
	return NULL;
}

/*
 * Steer each source address to one socket of the reuseport group (index =
 * hash(source) mod threads), so one worker's token bucket sees all of a
 * source's packets.  The program runs with the packet data at the UDP
 * payload; SKF_NET_OFF reaches back to the IPv4 header.
 */
static int
sock_attach_steering(int fd, unsigned int nthreads)
{
	struct sock_filter code[] = {
		{ BPF_LD | BPF_W | BPF_ABS, 0, 0, (uint32_t)(SKF_NET_OFF + 12) },
		{ BPF_ALU | BPF_MUL | BPF_K, 0, 0, 2654435761u },
		{ BPF_ALU | BPF_RSH | BPF_K, 0, 0, 16 },
		{ BPF_ALU | BPF_MOD | BPF_K, 0, 0, nthreads },
		{ BPF_RET | BPF_A, 0, 0, 0 },
	};
	struct sock_fprog prog = {
		.len = sizeof(code) / sizeof(code[0]),
		.filter = code,
	};

	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog,
		       sizeof(prog)) < 0)
		return -errno;
	return 0;
}

static int
sock_set_int(int fd, int level, int name, int val, const char *what)
{
	if (setsockopt(fd, level, name, &val, sizeof(val)) < 0) {
		pm_refl_log("error", "setsockopt %s: %s", what,
			    strerror(errno));
		return -errno;
	}
	return 0;
}

/* One socket of the reuseport group for @l.  Returns the fd or -errno. */
static int
sock_open(const struct pm_refl_listen *l)
{
	struct sockaddr_in sa;
	char ipbuf[16];
	int fd, rc;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		pm_refl_log("error", "socket: %s", strerror(errno));
		return rc;
	}
	rc = sock_set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
	if (rc == 0)
		rc = sock_set_int(fd, SOL_SOCKET, SO_TIMESTAMPING,
				  SOF_TIMESTAMPING_RX_SOFTWARE |
				  SOF_TIMESTAMPING_SOFTWARE |
				  SOF_TIMESTAMPING_RX_HARDWARE |
				  SOF_TIMESTAMPING_RAW_HARDWARE,
				  "SO_TIMESTAMPING");
	if (rc == 0)
		rc = sock_set_int(fd, IPPROTO_IP, IP_RECVTTL, 1, "IP_RECVTTL");
	if (rc == 0)
		rc = sock_set_int(fd, IPPROTO_IP, IP_RECVTOS, 1, "IP_RECVTOS");
	if (rc == 0)
		rc = sock_set_int(fd, IPPROTO_IP, IP_PKTINFO, 1, "IP_PKTINFO");
	if (rc == 0)
		rc = sock_set_int(fd, IPPROTO_IP, IP_TTL, SOCK_REPLY_TTL,
				  "IP_TTL");
	if (rc != 0)
		goto fail;
	/* A bigger queue absorbs bursts from many probers; the kernel caps
	 * it at rmem_max, which is fine. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &(int){ SOCK_RCVBUF },
			 sizeof(int));

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(l->ip);
	sa.sin_port = htons(l->port);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		pm_refl_log("error", "cannot listen on %s:%u: %s",
			    pm_cfg_fmt_ipv4(l->ip, ipbuf), l->port,
			    strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return rc;
}

static void
sock_totals(const struct sock_worker *ws, unsigned int nw,
	    uint64_t tot[PM_REFL_CTR_MAX])
{
	unsigned int i;
	int c;

	for (c = 0; c < PM_REFL_CTR_MAX; c++)
		tot[c] = 0;
	for (i = 0; i < nw; i++)
		for (c = 0; c < PM_REFL_CTR_MAX; c++)
			tot[c] += __atomic_load_n(&ws[i].ctr[c],
						  __ATOMIC_RELAXED);
}

static void
sock_print_stats(const struct sock_worker *ws, unsigned int nw,
		 const char *tag)
{
	uint64_t tot[PM_REFL_CTR_MAX];
	char line[512];
	size_t off = 0;
	int c;

	sock_totals(ws, nw, tot);
	for (c = 0; c < PM_REFL_CTR_MAX && off < sizeof(line); c++)
		off += snprintf(line + off, sizeof(line) - off, "%s%s %" PRIu64,
				c ? " " : "", ctr_names[c], tot[c]);
	fprintf(stderr, PM_REFL_PROG ": %s%s\n", tag, line);
}

static void
sock_cleanup(struct sock_worker *ws, unsigned int nw)
{
	unsigned int i, j;

	for (i = 0; i < nw; i++) {
		for (j = 0; j < ws[i].nfds; j++)
			close(ws[i].fds[j]);
		if (ws[i].epfd >= 0)
			close(ws[i].epfd);
		free(ws[i].rl);
		free(ws[i].bufs);
		free(ws[i].ctrls);
	}
	free(ws);
}

/* Build the workers: buffers, one socket per listen address each (made in
 * thread order so socket i of every group belongs to worker i, which the
 * steering program relies on), and an epoll set with the wake eventfd. */
static int
sock_setup(const struct pm_refl_sock_opts *o, struct sock_worker *ws,
	   unsigned int nw, uint16_t ee)
{
	const struct pm_reflector_cfg *cfg = &o->cfg;
	struct epoll_event ev;
	unsigned int i, l;
	char ipbuf[16];
	int fd, rc;

	for (i = 0; i < nw; i++) {
		ws[i].id = i;
		ws[i].o = o;
		ws[i].ee = ee;
		ws[i].epfd = epoll_create1(EPOLL_CLOEXEC);
		if (ws[i].epfd < 0) {
			pm_refl_log("error", "epoll_create1: %s",
				    strerror(errno));
			return -1;
		}
		ws[i].bufs = malloc((size_t)SOCK_BATCH * SOCK_BUF_LEN);
		ws[i].ctrls = malloc((size_t)SOCK_BATCH * SOCK_CTRL_LEN);
		if (cfg->rate_limit_pps != 0) {
			ws[i].rl = malloc(sizeof(*ws[i].rl));
			if (ws[i].rl != NULL)
				pm_refl_rl_init(ws[i].rl, cfg->rate_limit_pps);
		}
		if (ws[i].bufs == NULL || ws[i].ctrls == NULL ||
		    (cfg->rate_limit_pps != 0 && ws[i].rl == NULL)) {
			pm_refl_log("error", "out of memory");
			return -1;
		}
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.fd = sock_wake_fd;
		if (epoll_ctl(ws[i].epfd, EPOLL_CTL_ADD, sock_wake_fd,
			      &ev) < 0) {
			pm_refl_log("error", "epoll_ctl: %s", strerror(errno));
			return -1;
		}
	}
	for (l = 0; l < o->nlisten; l++) {
		for (i = 0; i < nw; i++) {
			fd = sock_open(&o->listen[l]);
			if (fd < 0)
				return -1;
			ws[i].fds[ws[i].nfds++] = fd;
			memset(&ev, 0, sizeof(ev));
			ev.events = EPOLLIN;
			ev.data.fd = fd;
			if (epoll_ctl(ws[i].epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
				pm_refl_log("error", "epoll_ctl: %s",
					    strerror(errno));
				return -1;
			}
		}
		if (cfg->rate_limit_pps != 0 && nw > 1) {
			rc = sock_attach_steering(ws[0].fds[l], nw);
			if (rc < 0)
				pm_refl_log("warning",
					    "%s:%u: cannot steer sources to threads (%s): "
					    "--rate-limit applies per thread",
					    pm_cfg_fmt_ipv4(o->listen[l].ip, ipbuf),
					    o->listen[l].port, strerror(-rc));
		}
	}
	return 0;
}

int
pm_refl_sock_main(const struct pm_refl_sock_opts *o)
{
	const struct pm_reflector_cfg *cfg = &o->cfg;
	struct sigaction sa, old_int, old_term;
	sigset_t all, old_mask;
	struct sock_worker *ws;
	unsigned int nw, i;
	uint64_t now, next;
	struct pollfd pfd;
	char ipbuf[16], rlbuf[48];
	int rc = 1, timeout;
	uint16_t ee;

	nw = cfg->threads == 0 ? 1 : cfg->threads;
	if (nw > PM_REFL_MAX_THREADS || o->nlisten == 0 ||
	    o->nlisten > PM_REFL_MAX_LISTEN) {
		pm_refl_log("error", "bad socket-mode options");
		return 2;
	}
	atomic_store(&sock_quit, 0);
	atomic_store(&sock_failed, 0);
	sock_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sock_wake_fd < 0) {
		pm_refl_log("error", "eventfd: %s", strerror(errno));
		return 1;
	}
	ws = aligned_alloc(64, sizeof(*ws) * nw);
	if (ws == NULL) {
		pm_refl_log("error", "out of memory");
		goto close_wake;
	}
	memset(ws, 0, sizeof(*ws) * nw);
	for (i = 0; i < nw; i++)
		ws[i].epfd = -1;

	/* Our stamps: PTP format, S only when told the clock is UTC-synced. */
	ee = pm_wire_ee_make(cfg->clock_synced, 1, PM_REFL_SOCK_ERR_NS);
	if (sock_setup(o, ws, nw, ee) < 0)
		goto free_ws;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sock_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);

	/* Workers take no signals: the main thread handles them. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old_mask);
	for (i = 0; i < nw; i++) {
		if (pthread_create(&ws[i].tid, NULL, sock_worker_main,
				   &ws[i]) != 0) {
			pm_refl_log("error", "cannot start worker %u", i);
			atomic_store(&sock_failed, 1);
			atomic_store(&sock_quit, 1);
			sock_wake();
			break;
		}
		ws[i].started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);

	for (i = 0; i < o->nlisten; i++)
		pm_refl_log("info", "listening on %s:%u",
			    pm_cfg_fmt_ipv4(o->listen[i].ip, ipbuf),
			    o->listen[i].port);
	if (cfg->rate_limit_pps != 0)
		snprintf(rlbuf, sizeof(rlbuf), "%" PRIu64 " pps per source",
			 cfg->rate_limit_pps);
	pm_refl_log("info",
		    "socket mode: %u thread%s, t2 from kernel timestamps, "
		    "error bound %u ns, clock %s, allow %s, rate limit %s",
		    nw, nw == 1 ? "" : "s", PM_REFL_SOCK_ERR_NS,
		    cfg->clock_synced ? "synced" : "unsynced",
		    cfg->nallow ? "listed prefixes only" : "all",
		    cfg->rate_limit_pps ? rlbuf : "off");

	next = clock_ns(CLOCK_MONOTONIC) + (uint64_t)cfg->stats_ms * 1000000ULL;
	pfd.fd = sock_wake_fd;
	pfd.events = POLLIN;
	while (!atomic_load(&sock_quit)) {
		timeout = -1;
		if (cfg->stats_ms != 0) {
			now = clock_ns(CLOCK_MONOTONIC);
			if (now >= next) {
				sock_print_stats(ws, nw, "");
				next += (uint64_t)cfg->stats_ms * 1000000ULL;
				if (next <= now)
					next = now + (uint64_t)cfg->stats_ms *
						     1000000ULL;
			}
			timeout = (int)((next - now + 999999) / 1000000);
		}
		/* EINTR and the eventfd both end the wait; the loop test
		 * decides. */
		(void)poll(&pfd, 1, timeout);
	}

	for (i = 0; i < nw; i++)
		if (ws[i].started)
			pthread_join(ws[i].tid, NULL);
	sock_print_stats(ws, nw, "final: ");
	rc = atomic_load(&sock_failed) ? 1 : 0;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
free_ws:
	sock_cleanup(ws, nw);
close_wake:
	close(sock_wake_fd);
	sock_wake_fd = -1;
	return rc;
}
