/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_rdma_xchg: how a prober learns a reflector's QPNs.
 *
 * QPNs are chosen by the device when a QP is made and change on every
 * reflector restart, so probers ask for them over a one-datagram UDP
 * exchange on the management network: a 16-byte query carrying a nonce,
 * answered with the reflector's GID, LID, link layer, port, device name,
 * a boot id (random, new on every start, so a prober sees a restart) and
 * up to PM_RDMA_XCHG_MAXQP QPNs.  Fixed big-endian layout with a magic and
 * a version (docs/rdma.md); decoding refuses anything malformed with
 * -EPROTO.  Plain sockets and a pthread: no verbs, so it builds and is
 * tested without libibverbs.
 */
#ifndef PM_RDMA_XCHG_H
#define PM_RDMA_XCHG_H

#include <stddef.h>
#include <stdint.h>

#define PM_RDMA_XCHG_PORT	18515	/* default UDP port */
#define PM_RDMA_XCHG_MAXQP	64

#define PM_RDMA_XCHG_MAGIC	0x504d5158u	/* "PMQX" */
#define PM_RDMA_XCHG_VERSION	1
#define PM_RDMA_XCHG_T_QUERY	1
#define PM_RDMA_XCHG_T_ANSWER	2
#define PM_RDMA_XCHG_HDR_LEN	16	/* = the whole query */
#define PM_RDMA_XCHG_ANS_FIXED	80	/* answer without the QPN list */
#define PM_RDMA_XCHG_MAX_LEN	(PM_RDMA_XCHG_ANS_FIXED + 4 * PM_RDMA_XCHG_MAXQP)

struct pm_rdma_peer {
	uint8_t gid[16];
	uint16_t lid;
	uint8_t link_layer;	/* IBV_LINK_LAYER_* */
	uint8_t port;
	uint32_t nqpn;
	uint32_t qpn[PM_RDMA_XCHG_MAXQP];
	uint64_t boot_id;	/* random, new on every reflector start */
	char dev[32];		/* reflector's device name, for messages */
};

/* Ask the reflector at @ip:@port (host order) for its QPNs; 0 or -errno
 * (-ETIMEDOUT after @timeout_ms with 3 tries, -EPROTO bad answer;
 * -ECONNREFUSED instead of -ETIMEDOUT when the host said the port is
 * closed). */
int pm_rdma_xchg_query(uint32_t ip, uint16_t port, uint32_t timeout_ms,
		       struct pm_rdma_peer *out);

struct pm_rdma_xchg_srv;

/* Answer queries on @ip:@port with @self from a background thread. */
int pm_rdma_xchg_start(struct pm_rdma_xchg_srv **srv, uint32_t ip,
		       uint16_t port, const struct pm_rdma_peer *self);
void pm_rdma_xchg_stop(struct pm_rdma_xchg_srv *srv);

/** The UDP port @srv is bound to (host order; useful after port 0). */
uint16_t pm_rdma_xchg_srv_port(const struct pm_rdma_xchg_srv *srv);

/** Queries answered and datagrams ignored (not a valid query) so far. */
void pm_rdma_xchg_srv_counts(struct pm_rdma_xchg_srv *srv,
			     uint64_t *answered, uint64_t *ignored);

/* Encode/decode for tests and fuzzing: */
/** Answer for @p (nonce 0) into @buf; its length or -EINVAL / -ENOSPC. */
int pm_rdma_xchg_encode(uint8_t *buf, size_t cap, const struct pm_rdma_peer *p);
/** An answer from @buf[@len] into @p; 0 or -EPROTO (@p then undefined). */
int pm_rdma_xchg_decode(const uint8_t *buf, size_t len, struct pm_rdma_peer *p);

/** A random non-zero boot id (getrandom, else time and pid). */
uint64_t pm_rdma_xchg_boot_id(void);

/**
 * Parse "IP[:PORT]" (dotted IPv4; PORT defaults to @dflt_port) into host
 * order.  0 or -EINVAL.
 */
int pm_rdma_xchg_parse_addr(const char *s, uint16_t dflt_port, uint32_t *ip,
			    uint16_t *port);

#endif /* PM_RDMA_XCHG_H */
