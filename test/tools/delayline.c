/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pmesh-delayline: a link that takes its time.  This kernel has no netem,
 * so scripts/fabric.sh's `fault delay` cuts a ToR-spine link in two and
 * puts this program in between: every frame that arrives on one interface
 * leaves by the other DELAY microseconds later (plus up to JITTER), in
 * order.  Raw AF_PACKET sockets, one thread, poll() with the next
 * departure as timeout.  A lab tool, not a data path: frames beyond its
 * queue or larger than a slot are dropped and counted, and the counts are
 * printed when it stops (SIGINT/SIGTERM).
 *
 *   pmesh-delayline IF_A IF_B DELAY_US [JITTER_US]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DL_SLOTS	4096		/* frames in flight per direction */
#define DL_SLOT_LEN	2048		/* bytes per frame (MTU 1500 links) */

struct dl_dir {
	int in, out;			/* sockets */
	uint64_t due[DL_SLOTS];		/* ns, CLOCK_MONOTONIC */
	uint16_t len[DL_SLOTS];
	uint8_t (*buf)[DL_SLOT_LEN];
	uint32_t head, tail;		/* tail - head frames queued */
	uint64_t fwd, full, big, err;
};

static volatile sig_atomic_t dl_quit;

static void
dl_on_signal(int sig)
{
	(void)sig;
	dl_quit = 1;
}

static uint64_t
dl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A raw socket on @ifname, promiscuous, seeing only what arrives. */
static int
dl_open(const char *ifname)
{
	struct sockaddr_ll sll;
	struct packet_mreq mr;
	int fd, idx = (int)if_nametoindex(ifname);

	if (idx == 0) {
		fprintf(stderr, "pmesh-delayline: %s: no such interface\n", ifname);
		return -1;
	}
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));
	if (fd < 0) {
		fprintf(stderr, "pmesh-delayline: socket: %s (root?)\n", strerror(errno));
		return -1;
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = idx;
	memset(&mr, 0, sizeof(mr));
	mr.mr_ifindex = idx;
	mr.mr_type = PACKET_MR_PROMISC;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0) {
		fprintf(stderr, "pmesh-delayline: %s: %s\n", ifname, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Take what arrived on d->in into the queue, due at now + delay. */
static void
dl_rx(struct dl_dir *d, uint64_t delay, uint64_t jitter)
{
	struct sockaddr_ll from;
	socklen_t fl;
	uint8_t tmp[DL_SLOT_LEN];
	ssize_t n;
	uint32_t s;

	for (;;) {
		fl = sizeof(from);
		s = d->tail % DL_SLOTS;
		n = recvfrom(d->in, d->tail - d->head < DL_SLOTS ? d->buf[s] : tmp,
			     DL_SLOT_LEN, MSG_TRUNC, (struct sockaddr *)&from, &fl);
		if (n < 0)
			return;
		if (from.sll_pkttype == PACKET_OUTGOING)
			continue;	/* our own transmissions */
		if (n > DL_SLOT_LEN) {
			d->big++;
			continue;
		}
		if (d->tail - d->head >= DL_SLOTS) {
			d->full++;
			continue;
		}
		d->len[s] = (uint16_t)n;
		d->due[s] = dl_now() + delay + (jitter ? (uint64_t)rand() % jitter : 0);
		/* In order: never due before the frame ahead of it. */
		if (d->tail != d->head && d->due[s] < d->due[(d->tail - 1) % DL_SLOTS])
			d->due[s] = d->due[(d->tail - 1) % DL_SLOTS];
		d->tail++;
	}
}

/* Send what is due; returns ns until the next departure (or -1). */
static int64_t
dl_tx(struct dl_dir *d)
{
	uint64_t now = dl_now();
	uint32_t s;

	while (d->head != d->tail) {
		s = d->head % DL_SLOTS;
		if (d->due[s] > now)
			return (int64_t)(d->due[s] - now);
		if (send(d->out, d->buf[s], d->len[s], 0) < 0)
			d->err++;
		else
			d->fwd++;
		d->head++;
	}
	return -1;
}

int
main(int argc, char **argv)
{
	static struct dl_dir dir[2];
	struct sigaction sa;
	struct pollfd pfd[2];
	uint64_t delay, jitter = 0;
	int64_t wait, w;
	int fa, fb, i, ms;
	char *end;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: pmesh-delayline IF_A IF_B DELAY_US [JITTER_US]\n");
		return 2;
	}
	delay = strtoull(argv[3], &end, 10) * 1000;
	if (*end != '\0' || delay > 10000000000ull) {
		fprintf(stderr, "pmesh-delayline: DELAY_US %s: 0..10000000\n", argv[3]);
		return 2;
	}
	if (argc == 5) {
		jitter = strtoull(argv[4], &end, 10) * 1000;
		if (*end != '\0' || jitter > delay) {
			fprintf(stderr, "pmesh-delayline: JITTER_US %s: 0..DELAY_US\n", argv[4]);
			return 2;
		}
	}
	fa = dl_open(argv[1]);
	fb = dl_open(argv[2]);
	if (fa < 0 || fb < 0)
		return 1;
	for (i = 0; i < 2; i++) {
		dir[i].buf = malloc(DL_SLOTS * DL_SLOT_LEN);
		if (dir[i].buf == NULL)
			return 1;
	}
	dir[0].in = fa;
	dir[0].out = fb;
	dir[1].in = fb;
	dir[1].out = fa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = dl_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	pfd[0].fd = fa;
	pfd[1].fd = fb;
	pfd[0].events = pfd[1].events = POLLIN;
	while (!dl_quit) {
		wait = -1;
		for (i = 0; i < 2; i++) {
			w = dl_tx(&dir[i]);
			if (w >= 0 && (wait < 0 || w < wait))
				wait = w;
		}
		/* poll() counts in ms: spin the last millisecond. */
		ms = wait < 0 ? 100 : (int)(wait / 1000000);
		if (poll(pfd, 2, ms) > 0) {
			for (i = 0; i < 2; i++)
				if (pfd[i].revents & POLLIN)
					dl_rx(&dir[i], delay, jitter);
		}
	}
	for (i = 0; i < 2; i++)
		fprintf(stderr, "pmesh-delayline: %s -> %s: forwarded %" PRIu64 ", queue full %"
			PRIu64 ", too big %" PRIu64 ", send errors %" PRIu64 "\n",
			argv[1 + i], argv[2 - i], dir[i].fwd, dir[i].full, dir[i].big, dir[i].err);
	return 0;
}
