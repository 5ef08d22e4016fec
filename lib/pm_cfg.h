/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_cfg: prober and reflector configuration, from libconfig files or
 * command-line flags, checked against one declarative schema.
 *
 * Every key is a row of a table (name, type, bounds, default, where it goes,
 * one line of help), in the manner of Redis' config.c.  Loading a file walks
 * the table, then reports every problem at once -- unknown keys, wrong types,
 * out-of-range values, missing required keys, cross-key conflicts -- as
 * "file:line: message", and the caller exits 2 with nothing started.
 * Quick-mode flags fill the same structs and go through the same checks
 * (errors then read "--flag: message").  docs/config.md lists every key.
 */
#ifndef PM_CFG_H
#define PM_CFG_H

#include <stddef.h>
#include <stdint.h>

#define PM_CFG_NAME_MAX		64
#define PM_CFG_PATH_MAX		256
#define PM_CFG_MAX_TARGETS	1000000
#define PM_CFG_MAX_FLOWS	1024
#define PM_CFG_MAX_PORTS	8
#define PM_CFG_MAX_ALLOW	64

#define PM_CFG_MAX_KPROPS	64

/** A librdkafka property passed through as is ("name=value"). */
struct pm_kafka_prop {
	char name[96];
	char value[416];
	int line;			/**< line in the config file (0: flag) */
};

/** The RDMA engine (prober.engine = "rdma"); docs/config.md, group "rdma". */
struct pm_rdma_cfg {
	char device[32];		/**< RNIC name; "" = the first one */
	uint32_t port;			/**< RNIC port, default 1 */
	uint32_t gid_index;		/**< our GID (RoCEv2 needs the right one) */
	uint32_t sl;			/**< InfiniBand service level, 0..15 */
	uint8_t hw_timestamps;		/**< CQE timestamps when the RNIC has them */
	uint8_t rsvd[3];
	uint16_t xchg_port;		/**< reflectors' QPN exchange UDP port */
	uint16_t rsvd2;
	uint32_t recv_depth;		/**< receives posted per QP */
	uint32_t xchg_timeout_ms;	/**< a reflector must answer within this */
	int line;			/**< line of the group (0: flags/absent) */
};

/** The Kafka sink (sink = "kafka"); docs/config.md, group "kafka". */
struct pm_kafka_cfg {
	char bootstrap[PM_CFG_PATH_MAX];	/**< bootstrap.servers */
	char encoding[16];		/**< "binary" (default) or "json" */
	char topic_summaries[PM_CFG_NAME_MAX * 2];
	char topic_events[PM_CFG_NAME_MAX * 2];
	char topic_paths[PM_CFG_NAME_MAX * 2];
	uint32_t queue_ms;		/**< a message waits this long in librdkafka, then spools */
	uint32_t queue_max;		/**< messages librdkafka may hold */
	uint32_t queue_full_ms;		/**< queue full: poll this long before spooling */
	uint32_t flush_ms;		/**< bounded flush at shutdown */
	uint32_t batch_max;		/**< binary: summaries per message */
	uint32_t connect_ms;		/**< brokers must answer within this at start */
	uint8_t spool;			/**< spool when brokers are away (default true) */
	uint8_t rsvd[3];
	char spool_dir[PM_CFG_PATH_MAX];	/**< default /var/spool/pmesh/<id> */
	uint64_t spool_max_mb;
	uint32_t spool_segment_mb;
	char spool_fsync[16];		/**< never | interval | always */
	uint32_t spool_fsync_ms;
	struct pm_kafka_prop props[PM_CFG_MAX_KPROPS];
	uint32_t nprops;
	int line;			/**< line of the kafka group (0: none/flags) */
};

/** One probed target (host order addresses). */
struct pm_target_cfg {
	char name[PM_CFG_NAME_MAX];	/**< defaults to the address */
	uint32_t ip;
	uint16_t port;			/**< default prober.dst_port (862) */
	uint16_t flows;			/**< distinct UDP source ports, 1..1024 */
	uint64_t rate_pps;		/**< probes/s for the whole target */
	uint16_t size;			/**< STAMP payload bytes: 44, 48..9000 */
	uint8_t dscp;			/**< 0..63 */
	uint8_t probe;			/**< enum pm_probe_type, from type */
	uint8_t port_dflt;		/**< port not given: the engine's default */
	char type[8];			/**< "stamp" (default), "icmp" or "tcp" */
	uint32_t max_rate_pps;		/**< ceiling incl. bursts; 0: none (stamp),
					 * PM_CFG_NOREFL_MAX_PPS (icmp, tcp) */
	int line;			/**< line in the config file (0: flags) */
};

/** How a target is probed (docs/config.md, key "type"). */
enum pm_probe_type {
	PM_PROBE_STAMP = 0,	/**< STAMP to a reflector: network RTT */
	PM_PROBE_ICMP,		/**< ICMP echo, any host: raw RTT */
	PM_PROBE_TCP,		/**< TCP SYN to port, SYN-ACK or RST back: raw RTT */
};

/** Default per-target ceiling for icmp and tcp targets (servers that run
 * nothing of ours and did not ask to be probed). */
#define PM_CFG_NOREFL_MAX_PPS	100

/** "stamp", "icmp", "tcp" -> enum pm_probe_type; -1 if none of them. */
int pm_probe_type_parse(const char *s);
const char *pm_probe_type_str(int type);

struct pm_prober_cfg {
	char id[PM_CFG_NAME_MAX];	/**< prober name; default hostname */
	uint32_t src_ip;		/**< required */
	uint32_t gateway_ip;		/**< next hop; 0: targets are on-link */
	uint8_t gateway_mac[6];		/**< static next-hop MAC ... */
	uint8_t have_gateway_mac;	/**< ... used when set (no ARP) */
	uint8_t clock_synced;		/**< declare the clock UTC-synced (S bit) */
	uint16_t port_id;		/**< DPDK port index, default 0 */
	uint16_t src_port_base;		/**< first UDP source port, default 49152 */
	uint16_t dst_port;		/**< default target port, default 862 */
	uint16_t rsvd;
	uint32_t window_ms;		/**< summary window, default 1000 */
	uint32_t timeout_ms;		/**< loss timeout; 0 = auto (1000, line rate 10) */
	uint64_t budget_pps;		/**< global ceiling, default 1000000 */
	uint64_t budget_mbps;		/**< global ceiling on wire Mbit/s, default 1000 */
	uint8_t line_rate;		/**< ignore rates, send as fast as the port takes */
	uint8_t rsvd2[3];
	uint32_t inflight_max;		/**< line rate: probes in flight per lcore; 0 = no cap */
	uint32_t idle_sleep_us;		/**< sleep after empty polls; 0 = busy-poll */
	uint32_t duration_s;		/**< 0 = until signalled */
	uint32_t status_ms;		/**< status line period, default 1000 */
	uint32_t rx_desc;		/**< default 1024 */
	uint32_t tx_desc;		/**< default 1024 */
	uint32_t mbufs;			/**< per port, default 8191 */
	char sink[16];			/**< "json" or "kafka" */
	char output[PM_CFG_PATH_MAX];	/**< json sink destination, "-" = stdout */
	uint32_t export_ring;		/**< records per lcore ring; 0 = auto */
	uint32_t trace_interval_s;	/**< path discovery per flow; 0 = off */
	uint32_t trace_max_ttl;		/**< highest TTL traced, default 8 */
	uint32_t loss_burst;		/**< after a lossy window, probe the flow this
					 * many times faster for a window; 0/1 off */
	char engine[8];			/**< "dpdk" (default) or "rdma" */
	struct pm_kafka_cfg kafka;
	struct pm_rdma_cfg rdma;
	struct pm_target_cfg *targets;	/**< malloc'd, ntargets */
	uint32_t ntargets;
};

/** An IPv4 prefix for the reflector allowlist. */
struct pm_prefix {
	uint32_t addr;
	uint32_t mask;
};

struct pm_reflector_cfg {
	uint32_t ip;			/**< our address (DPDK mode: required) */
	uint16_t ports[PM_CFG_MAX_PORTS];	/**< UDP ports served, default {862} */
	uint32_t nports;
	uint16_t port_id;		/**< DPDK port index, default 0 */
	uint8_t clock_synced;
	uint8_t rsvd;
	struct pm_prefix allow[PM_CFG_MAX_ALLOW];	/**< empty: everyone */
	uint32_t nallow;
	uint64_t rate_limit_pps;	/**< per source address; 0 = none */
	uint32_t threads;		/**< socket mode threads, default 1 */
	uint32_t idle_sleep_us;		/**< DPDK mode idle backoff, 0 = busy */
	uint32_t stats_ms;		/**< status line period, 0 = off */
	uint32_t rx_desc;
	uint32_t tx_desc;
	uint32_t mbufs;
	char listen[PM_CFG_PATH_MAX];	/**< socket mode "IP:PORT" */
};

/** Collected diagnostics: each line "file:line: message". */
struct pm_cfg_errs {
	unsigned int n;
	size_t len;
	char buf[8192];
};

void pm_cfg_errs_init(struct pm_cfg_errs *e);
/** Add "file:line: message" (line 0: "file: message"). */
void pm_cfg_err(struct pm_cfg_errs *e, const char *file, int line,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

void pm_prober_cfg_defaults(struct pm_prober_cfg *c);
/**
 * Add a "name=value" librdkafka property (flag --kafka-prop, or a file's
 * kafka.properties entry at @line).  -EINVAL (no '=' / empty name / too
 * long: @why says which) or -E2BIG.
 */
int pm_kafka_cfg_add_prop(struct pm_kafka_cfg *k, const char *nv, int line,
			  char *why, size_t cap);
/**
 * Load @path into @c (defaults first).  Returns 0, or -EINVAL with every
 * problem in @e (nothing half-applied is to be used), or -errno when the
 * file cannot be read (also in @e).
 */
int pm_prober_cfg_load(const char *path, struct pm_prober_cfg *c,
		       struct pm_cfg_errs *e);
/** Cross-key checks shared by file and flag modes (@src names the origin). */
int pm_prober_cfg_check(const struct pm_prober_cfg *c, const char *src,
			struct pm_cfg_errs *e);
/** Append a target (flag mode); -ENOMEM or -E2BIG. */
int pm_prober_cfg_add_target(struct pm_prober_cfg *c,
			     const struct pm_target_cfg *t);
void pm_prober_cfg_free(struct pm_prober_cfg *c);

void pm_reflector_cfg_defaults(struct pm_reflector_cfg *c);
int pm_reflector_cfg_load(const char *path, struct pm_reflector_cfg *c,
			  struct pm_cfg_errs *e);
int pm_reflector_cfg_check(const struct pm_reflector_cfg *c, const char *src,
			   struct pm_cfg_errs *e);

/* Shared with the other libconfig readers (topology). */
struct config_t;
/**
 * Open and parse @path into @cf (config_init'ed here; config_destroy it).
 * Returns 0, or -errno / -EINVAL with the reason in @e ("file:line: ...").
 */
int pm_cfg_open(struct config_t *cf, const char *path, struct pm_cfg_errs *e);
/** Order the diagnostics added since byte @from by line, stably. */
void pm_cfg_errs_sort(struct pm_cfg_errs *e, size_t from);
/** Levenshtein distance of short names (UINT32_MAX past PM_CFG_NAME_MAX). */
unsigned int pm_cfg_edit_distance(const char *a, const char *b);

/* Small parsers shared by config files and flags: 0 or -EINVAL. */
int pm_cfg_parse_ipv4(const char *s, uint32_t *ip);
/** "IP" or "IP:PORT"; *port untouched when absent. */
int pm_cfg_parse_ipv4_port(const char *s, uint32_t *ip, uint16_t *port);
int pm_cfg_parse_mac(const char *s, uint8_t mac[6]);
int pm_cfg_parse_prefix(const char *s, struct pm_prefix *p);
/** Format host-order @ip into @buf[16]. */
const char *pm_cfg_fmt_ipv4(uint32_t ip, char *buf);

#endif /* PM_CFG_H */
