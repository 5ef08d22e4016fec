/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_reflector: what the pieces of pmesh-reflector share.
 *
 * The binary has two engines behind one command line (main.c): the DPDK
 * reflector (dpdk.c) that owns a port and answers STAMP at line rate, and
 * the kernel-socket reflector (sock.c) for plain servers where no port can
 * be taken from the kernel.  Both apply the same safety rules to the
 * network they face -- a source allowlist and a per-source token bucket --
 * so those rules live here as inlines, free of DPDK and of sockets, and
 * both engines count every drop under the same names.
 */
#ifndef PM_REFLECTOR_H
#define PM_REFLECTOR_H

#include <stdint.h>

#include "pm_cfg.h"

#define PM_REFL_PROG		"pmesh-reflector"
#define PM_REFL_MAX_LISTEN	16	/**< --listen addresses */
#define PM_REFL_MAX_THREADS	64	/**< socket mode --threads */
/** Honest error bound of a kernel software stamp (and of the t3 read). */
#define PM_REFL_SOCK_ERR_NS	1000

/** One socket-mode listen address (host order). */
struct pm_refl_listen {
	uint32_t ip;
	uint16_t port;
};

/** Everything socket mode needs; filled by main.c from flags or -c FILE. */
struct pm_refl_sock_opts {
	struct pm_reflector_cfg cfg;	/**< allow, rate_limit_pps, threads,
					 *   stats_ms, clock_synced */
	struct pm_refl_listen listen[PM_REFL_MAX_LISTEN];
	unsigned int nlisten;
};

/**
 * Counters, one set per worker.  Every datagram lands in rx and then in
 * exactly one of tx, tx_err, short, denied, ratelimited or oversize;
 * bad_tlv additionally marks answered requests whose TLVs were malformed,
 * and the ts_* counters say which clock gave t2 for each reply built.
 */
enum pm_refl_ctr {
	PM_REFL_RX = 0,		/**< datagrams received */
	PM_REFL_TX,		/**< replies sent */
	PM_REFL_SHORT,		/**< payload < 44 bytes: dropped */
	PM_REFL_BAD_TLV,	/**< TLVs do not tile the payload (replied, M flag) */
	PM_REFL_DENIED,		/**< source outside --allow: dropped */
	PM_REFL_RATELIMITED,	/**< source over --rate-limit: dropped */
	PM_REFL_OVERSIZE,	/**< payload > PM_STAMP_MAX_PAYLOAD: dropped */
	PM_REFL_RX_ERR,		/**< recvmmsg failed */
	PM_REFL_TX_ERR,		/**< sendmsg failed: reply lost */
	PM_REFL_TS_HW,		/**< t2 from a NIC hardware stamp */
	PM_REFL_TS_SW,		/**< t2 from a kernel software stamp */
	PM_REFL_TS_USER,	/**< no kernel stamp: t2 read in user space */
	PM_REFL_TS_HW_BAD,	/**< hardware stamp > 1 s off the system clock: ignored */
	PM_REFL_CTR_MAX
};

/** Counter name as the stats line prints it ("rx", "bad_tlv", ...). */
const char *pm_refl_ctr_name(int ctr);

/**
 * One diagnostic line on stderr: "pmesh-reflector: <level>: <message>".
 */
void pm_refl_log(const char *level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/**
 * Run the kernel-socket reflector until SIGINT/SIGTERM.  Returns the exit
 * code: 0 after a clean stop, 1 when sockets or threads cannot be set up.
 */
int pm_refl_sock_main(const struct pm_refl_sock_opts *o);

/**
 * DPDK mode: @argc/@argv as given to main() (EAL arguments, "--", then the
 * reflector's own).  Returns the exit code (0, 1, or 2).
 */
int pm_refl_dpdk_main(int argc, char **argv);

/* Source allowlist ---------------------------------------------------- */

/**
 * 1 when host-order @ip falls in one of the @n prefixes, or when the list
 * is empty (no allowlist configured means everyone).
 */
static inline int
pm_refl_allowed(const struct pm_prefix *allow, uint32_t n, uint32_t ip)
{
	uint32_t i;

	if (n == 0)
		return 1;
	for (i = 0; i < n; i++)
		if ((ip & allow[i].mask) == allow[i].addr)
			return 1;
	return 0;
}

/* Per-source token bucket --------------------------------------------- */

/*
 * A fixed-size table so that a flood of spoofed sources costs memory we
 * chose up front: each source hashes to a set of PM_REFL_RL_WAYS slots and,
 * when the set is full, takes the slot idle the longest.  An evicted source
 * comes back with a full bucket, which is the price of bounded memory.
 * Tokens are kept in units of 1e-9 token so refill is integer arithmetic;
 * the bucket holds one second of traffic (at least one packet).
 * One table per worker: callers arrange that a source always reaches the
 * same worker (sock.c steers by source address), so no locks.
 */
#define PM_REFL_RL_SETS		1024
#define PM_REFL_RL_WAYS		4
#define PM_REFL_RL_UNIT		1000000000ULL

struct pm_refl_rl_slot {
	uint32_t ip;
	uint32_t used;		/**< 0: free */
	uint64_t tokens;	/**< in 1e-9 tokens */
	uint64_t last_ns;	/**< last refill */
};

struct pm_refl_rl {
	uint64_t pps;		/**< 0: no limit */
	uint64_t cap;		/**< bucket size, 1e-9 tokens */
	struct pm_refl_rl_slot slot[PM_REFL_RL_SETS * PM_REFL_RL_WAYS];
};

static inline void
pm_refl_rl_init(struct pm_refl_rl *rl, uint64_t pps)
{
	uint32_t i;

	/* Above 1e9 pps the arithmetic below could overflow; nobody needs it. */
	if (pps > PM_REFL_RL_UNIT)
		pps = PM_REFL_RL_UNIT;
	rl->pps = pps;
	rl->cap = pps * PM_REFL_RL_UNIT;
	for (i = 0; i < PM_REFL_RL_SETS * PM_REFL_RL_WAYS; i++)
		rl->slot[i].used = 0;
}

/**
 * Take one token for source @ip at time @now_ns (any monotonic clock).
 * Returns 1 when the packet may be answered, 0 when over the limit.
 */
static inline int
pm_refl_rl_take(struct pm_refl_rl *rl, uint32_t ip, uint64_t now_ns)
{
	struct pm_refl_rl_slot *set, *s = NULL, *victim;
	uint64_t dt;
	uint32_t h, i;

	if (rl->pps == 0)
		return 1;
	/* Fibonacci hashing: neighbouring addresses land in different sets. */
	h = (uint32_t)(ip * 2654435761u) >> 22;
	set = &rl->slot[(h % PM_REFL_RL_SETS) * PM_REFL_RL_WAYS];
	victim = &set[0];
	for (i = 0; i < PM_REFL_RL_WAYS; i++) {
		if (set[i].used && set[i].ip == ip) {
			s = &set[i];
			break;
		}
		if (!set[i].used)
			victim = &set[i];
		else if (victim->used && set[i].last_ns < victim->last_ns)
			victim = &set[i];
	}
	if (s == NULL) {
		s = victim;
		s->ip = ip;
		s->used = 1;
		s->tokens = rl->cap;
		s->last_ns = now_ns;
	} else if (now_ns > s->last_ns) {
		dt = now_ns - s->last_ns;
		/* A full second refills any bucket; clamping keeps dt*pps
		 * inside 64 bits. */
		if (dt > PM_REFL_RL_UNIT)
			dt = PM_REFL_RL_UNIT;
		s->tokens += dt * rl->pps;
		if (s->tokens > rl->cap)
			s->tokens = rl->cap;
		s->last_ns = now_ns;
	}
	if (s->tokens < PM_REFL_RL_UNIT)
		return 0;
	s->tokens -= PM_REFL_RL_UNIT;
	return 1;
}

#endif /* PM_REFLECTOR_H */
