/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The emulated verbs device behind verbs_emu.h: a test seam, linked into
 * test programs with -Wl,--wrap for each exported verb, never into
 * pmesh's own binaries.
 *
 * Objects are plain heap structs whose first member is the libibverbs
 * struct the caller sees (struct ibv_qp, struct ibv_cq_ex, ...); the
 * context is a real struct verbs_context, so the inline verbs of
 * <infiniband/verbs.h> find post_send/post_recv/poll_cq in its ops and
 * query_port/query_device_ex/create_cq_ex/query_rt_values in its extended
 * part.  A UD QP owns a non-blocking UDP socket bound to 127.0.0.1:0 and
 * its QPN is the bound port, unique on the host.  ibv_post_send() turns a
 * WR into one datagram (struct emu_hdr, then the gathered payload) to
 * 127.0.0.1:remote_qpn and queues the send completion at once; receives
 * happen when a CQ is polled: the datagrams of every QP that receives into
 * it are pulled in (each one consumes the oldest posted receive, behind a
 * 40-byte GRH), so no thread runs behind the caller's back.
 *
 * Completion stamps come from an emulated free-running HCA clock per
 * device: CLOCK_MONOTONIC_RAW scaled to hca_core_clock plus a per-device
 * offset, masked with completion_timestamp_mask.  Faults (drops, delay,
 * error completions, failing verbs, a port down) are set through the
 * environment; see verbs_emu.h.
 *
 * Locking: one mutex guards object creation and destruction; each CQ has
 * its own lock, taken only inside a verb (pollers and posters of
 * different threads may share a CQ), and each QP one for its receive
 * queue.  Configuration values are read
 * with relaxed atomics, so pm_verbs_emu_reload() may run at any time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "verbs_emu.h"

#define EMU_MAX_DEVS	64
#define EMU_MAGIC	0x504d5645u	/* "PMVE" */
#define EMU_MTU		1024		/* active_mtu IBV_MTU_1024 */
#define EMU_GRH_LEN	40
#define EMU_GID_TBL_LEN	4
#define EMU_MAX_WR	16384
#define EMU_MAX_SGE	16
#define EMU_MAX_CQE	(1 << 20)
#define EMU_MAX_INLINE	256
#define EMU_SOCK_BUF	(4 << 20)
#define EMU_WIRE_NS	1000		/* RX_STAMP=arrival: one hop's time */

#define LOAD(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define COUNT(x)	__atomic_fetch_add(&g_st.x, 1, __ATOMIC_RELAXED)

/* Verbs PM_VERBS_EMU_FAIL can make fail: one bit each. */
enum emu_verb {
	EV_GET_DEVICE_LIST,
	EV_OPEN_DEVICE,
	EV_QUERY_DEVICE,
	EV_QUERY_DEVICE_EX,
	EV_QUERY_PORT,
	EV_QUERY_GID,
	EV_QUERY_PKEY,
	EV_QUERY_RT_VALUES,
	EV_ALLOC_PD,
	EV_REG_MR,
	EV_CREATE_CQ,
	EV_CREATE_CQ_EX,
	EV_CREATE_QP,
	EV_MODIFY_QP,
	EV_QUERY_QP,
	EV_CREATE_AH,
	EV_POST_SEND,
	EV_POST_RECV,
	EV_POLL_CQ,
	EV__N,
};

static const char *const emu_verb_name[EV__N] = {
	[EV_GET_DEVICE_LIST] = "get_device_list",
	[EV_OPEN_DEVICE] = "open_device",
	[EV_QUERY_DEVICE] = "query_device",
	[EV_QUERY_DEVICE_EX] = "query_device_ex",
	[EV_QUERY_PORT] = "query_port",
	[EV_QUERY_GID] = "query_gid",
	[EV_QUERY_PKEY] = "query_pkey",
	[EV_QUERY_RT_VALUES] = "query_rt_values_ex",
	[EV_ALLOC_PD] = "alloc_pd",
	[EV_REG_MR] = "reg_mr",
	[EV_CREATE_CQ] = "create_cq",
	[EV_CREATE_CQ_EX] = "create_cq_ex",
	[EV_CREATE_QP] = "create_qp",
	[EV_MODIFY_QP] = "modify_qp",
	[EV_QUERY_QP] = "query_qp",
	[EV_CREATE_AH] = "create_ah",
	[EV_POST_SEND] = "post_send",
	[EV_POST_RECV] = "post_recv",
	[EV_POLL_CQ] = "poll_cq",
};

/* Parsed PM_VERBS_EMU_*; every field read and written with LOAD/STORE. */
struct emu_cfg {
	int ndev;
	uint64_t fail;		/* bit per enum emu_verb */
	uint64_t port_down;	/* bit per device index */
	uint64_t drop_thresh;	/* drop when a 32-bit draw is below */
	uint64_t seed;
	uint64_t delay_ns;
	uint64_t err_every;
	uint64_t khz;
	uint64_t ts_mask;
	int no_hwts;
	int rx_arrival;		/* stamp receives at arrival, not pull-in */
};

struct emu_dev {
	struct ibv_device dev;	/* first: struct ibv_device * is ours */
	int idx;
	uint64_t ts_off;	/* clock offset, LOAD/STORE */
};

struct emu_ctx {
	struct emu_dev *ed;
	struct verbs_context vc;	/* last: ends in struct ibv_context */
};

struct emu_pd {
	struct ibv_pd pd;
	int nref;		/* MRs, QPs, AHs on it (under g_lock) */
};

struct emu_ah {
	struct ibv_ah ah;
	union ibv_gid dgid;
	union ibv_gid sgid;
	uint8_t sgid_index;
	uint8_t tclass;
	uint8_t hop_limit;
	uint16_t dlid;
};

struct emu_qp;

struct emu_cqe {
	struct ibv_wc wc;
	uint64_t ts;		/* HCA clock, masked */
	struct emu_qp *sqp;	/* send completion: the QP it frees SQ room in */
	uint32_t retire;	/* how many WRs of that SQ */
};

struct emu_cq {
	struct ibv_cq_ex cx;	/* first: struct ibv_cq is its prefix */
	struct emu_ctx *ec;
	pthread_mutex_t lock;
	struct emu_cqe *ring;
	uint32_t cap, head, n;
	struct emu_cqe cur;	/* the cq_ex poll API's current entry */
	uint64_t wc_flags;
	struct emu_qp **rqps;	/* QPs receiving into this CQ */
	int nrqp, rqp_cap;
	int nref;		/* QPs using it (under g_lock) */
};

/* What travels in a datagram ahead of the payload (same host: host order). */
struct emu_hdr {
	uint32_t magic;
	uint32_t src_qpn;
	uint32_t qkey;
	uint32_t imm;		/* as in the WR: network order */
	uint32_t len;		/* payload bytes after this header */
	uint16_t slid;
	uint8_t has_imm;
	uint8_t sgid_index;
	uint8_t tclass;
	uint8_t hop_limit;
	uint8_t pad[6];
	uint8_t sgid[16];
	uint64_t send_ns;	/* CLOCK_MONOTONIC at the send */
	uint64_t send_raw_ns;	/* CLOCK_MONOTONIC_RAW at the send */
};

#define EMU_DGRAM_MAX	(sizeof(struct emu_hdr) + EMU_MTU)

struct emu_qp {
	struct ibv_qp qp;	/* first */
	struct emu_ctx *ec;
	struct emu_pd *epd;
	struct emu_cq *scq, *rcq;
	int fd;
	uint32_t qkey;
	int sq_sig_all;
	uint32_t max_send_wr, max_recv_wr, max_send_sge, max_recv_sge;
	uint32_t sq_out;	/* WRs not yet retired by a polled completion */
	uint32_t since_sig;	/* WRs since the last completion queued */
	uint64_t nsend;
	uint64_t prng;
	pthread_mutex_t rq_lock;
	uint64_t *rq_wrid;
	uint32_t *rq_nsge;
	struct ibv_sge *rq_sge;	/* max_recv_sge per slot */
	uint32_t rq_head, rq_n;
	ssize_t held;		/* bytes of a pulled-in, not delivered datagram */
	uint8_t buf[EMU_DGRAM_MAX + 1];
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static struct emu_cfg g_cfg;
static struct emu_dev g_dev[EMU_MAX_DEVS];
static struct pm_verbs_emu_stats g_st;
static struct pm_verbs_emu_live g_live;
static uint32_t g_key = 0x100;	/* lkey/rkey/handle source (g_lock) */
static uint64_t g_qp_seq;	/* QPs created, seeds their PRNG (g_lock) */

static uint64_t
splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t
env_u64(const char *name, uint64_t def)
{
	const char *s = getenv(name);
	char *end;
	unsigned long long v;

	if (s == NULL || *s == '\0')
		return def;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || *end != '\0') {
		fprintf(stderr, "verbs_emu: %s=%s: not a number, using %llu\n",
			name, s, (unsigned long long)def);
		return def;
	}
	return v;
}

/* Calls @fn(item, arg) for each item of a comma-separated @s. */
static void
env_list(const char *s, void (*fn)(const char *, size_t, void *), void *arg)
{
	while (s != NULL && *s != '\0') {
		size_t n = strcspn(s, ",");

		if (n > 0)
			fn(s, n, arg);
		s += n;
		if (*s == ',')
			s++;
	}
}

static void
fail_item(const char *s, size_t n, void *arg)
{
	uint64_t *bits = arg;
	int i;

	if (n > 4 && strncmp(s, "ibv_", 4) == 0) {
		s += 4;
		n -= 4;
	}
	/* ibv_reg_mr reaches the library as ibv_reg_mr or ibv_reg_mr_iova2. */
	for (i = 0; i < EV__N; i++) {
		if (strlen(emu_verb_name[i]) == n &&
		    strncmp(emu_verb_name[i], s, n) == 0) {
			*bits |= 1ULL << i;
			return;
		}
	}
	fprintf(stderr, "verbs_emu: PM_VERBS_EMU_FAIL: unknown verb %.*s\n",
		(int)n, s);
}

static void
down_item(const char *s, size_t n, void *arg)
{
	uint64_t *bits = arg;
	int i;

	for (i = 0; i < EMU_MAX_DEVS; i++) {
		if (strlen(g_dev[i].dev.name) == n &&
		    strncmp(g_dev[i].dev.name, s, n) == 0)
			*bits |= 1ULL << i;
	}
}

void
pm_verbs_emu_reload(void)
{
	uint64_t fail = 0, down = 0, mask, seed, s;
	const char *v;
	double drop;
	int i, ndev;

	ndev = (int)env_u64("PM_VERBS_EMU_DEVS", 2);
	if (ndev > EMU_MAX_DEVS)
		ndev = EMU_MAX_DEVS;
	env_list(getenv("PM_VERBS_EMU_FAIL"), fail_item, &fail);
	env_list(getenv("PM_VERBS_EMU_PORT_DOWN"), down_item, &down);
	drop = 0;
	v = getenv("PM_VERBS_EMU_DROP");
	if (v != NULL && *v != '\0')
		drop = strtod(v, NULL);
	if (!(drop >= 0))
		drop = 0;
	if (drop > 1)
		drop = 1;
	seed = env_u64("PM_VERBS_EMU_SEED", 1);
	mask = env_u64("PM_VERBS_EMU_TS_MASK", (1ULL << 48) - 1);
	if (mask == 0 || (mask & (mask + 1)) != 0) {
		fprintf(stderr, "verbs_emu: PM_VERBS_EMU_TS_MASK %#llx is not 2^k-1\n",
			(unsigned long long)mask);
		mask = (1ULL << 48) - 1;
	}
	STORE(g_cfg.ndev, ndev);
	STORE(g_cfg.fail, fail);
	STORE(g_cfg.port_down, down);
	STORE(g_cfg.drop_thresh, (uint64_t)(drop * 4294967296.0));
	STORE(g_cfg.seed, seed);
	STORE(g_cfg.delay_ns, env_u64("PM_VERBS_EMU_DELAY_US", 0) * 1000);
	STORE(g_cfg.err_every, env_u64("PM_VERBS_EMU_ERR_EVERY", 0));
	STORE(g_cfg.khz, env_u64("PM_VERBS_EMU_KHZ", 1000000));
	STORE(g_cfg.ts_mask, mask);
	STORE(g_cfg.no_hwts, env_u64("PM_VERBS_EMU_NO_HWTS", 0) != 0);
	v = getenv("PM_VERBS_EMU_RX_STAMP");
	STORE(g_cfg.rx_arrival, v != NULL && strcmp(v, "arrival") == 0);
	/* Offsets depend only on the seed and the device: the same device in
	 * two processes has the same clock, as on one host. */
	for (i = 0; i < EMU_MAX_DEVS; i++) {
		s = seed * 0x100000001b3ULL + (uint64_t)i;
		STORE(g_dev[i].ts_off, splitmix64(&s));
	}
}

static void
emu_init(void)
{
	int i;

	for (i = 0; i < EMU_MAX_DEVS; i++) {
		struct ibv_device *d = &g_dev[i].dev;

		g_dev[i].idx = i;
		d->node_type = IBV_NODE_CA;
		d->transport_type = IBV_TRANSPORT_IB;
		snprintf(d->name, sizeof(d->name), "emu%d", i);
		snprintf(d->dev_name, sizeof(d->dev_name), "uverbs_emu%d", i);
		snprintf(d->dev_path, sizeof(d->dev_path),
			 "/nonexistent/verbs_emu/uverbs_emu%d", i);
		snprintf(d->ibdev_path, sizeof(d->ibdev_path),
			 "/nonexistent/verbs_emu/emu%d", i);
	}
	pm_verbs_emu_reload();
}

static void
emu_once(void)
{
	pthread_once(&g_once, emu_init);
}

static int
emu_failing(enum emu_verb v)
{
	emu_once();
	return (LOAD(g_cfg.fail) >> v) & 1;
}

static struct emu_dev *
emu_dev_of(struct ibv_device *d)
{
	struct emu_dev *ed = (struct emu_dev *)d;

	if (ed < g_dev || ed >= g_dev + EMU_MAX_DEVS)
		return NULL;
	return ed;
}

static struct emu_ctx *
emu_ctx_of(struct ibv_context *ctx)
{
	return (struct emu_ctx *)((uint8_t *)ctx -
				  offsetof(struct emu_ctx, vc.context));
}

static uint64_t
ns_of(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* The HCA clock of @ed when CLOCK_MONOTONIC_RAW read @raw_ns. */
static uint64_t
emu_hca_clock_at(const struct emu_dev *ed, uint64_t raw_ns)
{
	unsigned __int128 t = raw_ns;

	t = t * LOAD(g_cfg.khz) / 1000000;
	return ((uint64_t)t + LOAD(ed->ts_off)) & LOAD(g_cfg.ts_mask);
}

static uint64_t
emu_hca_clock(const struct emu_dev *ed)
{
	return emu_hca_clock_at(ed, ns_of(CLOCK_MONOTONIC_RAW));
}

uint64_t
pm_verbs_emu_clock(int devidx)
{
	emu_once();
	if (devidx < 0 || devidx >= EMU_MAX_DEVS)
		return 0;
	return emu_hca_clock(&g_dev[devidx]);
}

void
pm_verbs_emu_stats_get(struct pm_verbs_emu_stats *st)
{
	uint64_t *d = (uint64_t *)st, *s = (uint64_t *)&g_st;
	size_t i;

	for (i = 0; i < sizeof(*st) / sizeof(uint64_t); i++)
		d[i] = LOAD(s[i]);
}

void
pm_verbs_emu_stats_reset(void)
{
	uint64_t *s = (uint64_t *)&g_st;
	size_t i;

	for (i = 0; i < sizeof(g_st) / sizeof(uint64_t); i++)
		STORE(s[i], 0);
}

void
pm_verbs_emu_live_get(struct pm_verbs_emu_live *live)
{
	pthread_mutex_lock(&g_lock);
	*live = g_live;
	pthread_mutex_unlock(&g_lock);
}

/* The GID table: 0 link-local, 1 RoCEv2 ::ffff:127.0.0.(1+idx), rest empty. */
static void
emu_gid(const struct emu_dev *ed, int index, union ibv_gid *gid)
{
	memset(gid, 0, sizeof(*gid));
	if (index == 0) {
		gid->raw[0] = 0xfe;
		gid->raw[1] = 0x80;
		gid->raw[8] = 0x02;
		gid->raw[9] = 0x00;
		gid->raw[10] = 0x5e;
		gid->raw[11] = 0xff;
		gid->raw[12] = 0xfe;
		gid->raw[13] = 0x00;
		gid->raw[14] = 0x00;
		gid->raw[15] = (uint8_t)ed->idx;
	} else if (index == 1) {
		gid->raw[10] = 0xff;
		gid->raw[11] = 0xff;
		gid->raw[12] = 127;
		gid->raw[15] = (uint8_t)(1 + ed->idx);
	}
}

/* ---- devices ---------------------------------------------------------- */

struct ibv_device **__wrap_ibv_get_device_list(int *num_devices);
void __wrap_ibv_free_device_list(struct ibv_device **list);
const char *__wrap_ibv_get_device_name(struct ibv_device *device);
__be64 __wrap_ibv_get_device_guid(struct ibv_device *device);
struct ibv_context *__wrap_ibv_open_device(struct ibv_device *device);
int __wrap_ibv_close_device(struct ibv_context *context);
int __wrap_ibv_query_device(struct ibv_context *context,
			    struct ibv_device_attr *attr);
int __wrap_ibv_query_port(struct ibv_context *context, uint8_t port_num,
			  struct ibv_port_attr *attr);
int __wrap_ibv_query_gid(struct ibv_context *context, uint8_t port_num,
			 int index, union ibv_gid *gid);
int __wrap__ibv_query_gid_ex(struct ibv_context *context, uint32_t port_num,
			     uint32_t gid_index, struct ibv_gid_entry *entry,
			     uint32_t flags, size_t entry_size);
int __wrap_ibv_query_pkey(struct ibv_context *context, uint8_t port_num,
			  int index, __be16 *pkey);
struct ibv_pd *__wrap_ibv_alloc_pd(struct ibv_context *context);
int __wrap_ibv_dealloc_pd(struct ibv_pd *pd);
struct ibv_mr *__wrap_ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t length,
				 int access);
struct ibv_mr *__wrap_ibv_reg_mr_iova(struct ibv_pd *pd, void *addr,
				      size_t length, uint64_t iova, int access);
struct ibv_mr *__wrap_ibv_reg_mr_iova2(struct ibv_pd *pd, void *addr,
				       size_t length, uint64_t iova,
				       unsigned int access);
int __wrap_ibv_dereg_mr(struct ibv_mr *mr);
struct ibv_cq *__wrap_ibv_create_cq(struct ibv_context *context, int cqe,
				    void *cq_context,
				    struct ibv_comp_channel *channel,
				    int comp_vector);
int __wrap_ibv_destroy_cq(struct ibv_cq *cq);
struct ibv_qp *__wrap_ibv_create_qp(struct ibv_pd *pd,
				    struct ibv_qp_init_attr *init);
int __wrap_ibv_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr,
			 int mask);
int __wrap_ibv_query_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr,
			int mask, struct ibv_qp_init_attr *init);
int __wrap_ibv_destroy_qp(struct ibv_qp *qp);
struct ibv_ah *__wrap_ibv_create_ah(struct ibv_pd *pd,
				    struct ibv_ah_attr *attr);
int __wrap_ibv_destroy_ah(struct ibv_ah *ah);

struct ibv_device **
__wrap_ibv_get_device_list(int *num_devices)
{
	struct ibv_device **list;
	int i, n;

	emu_once();
	pm_verbs_emu_reload();
	if (emu_failing(EV_GET_DEVICE_LIST)) {
		errno = ENOMEM;
		return NULL;
	}
	n = LOAD(g_cfg.ndev);
	list = calloc((size_t)n + 1, sizeof(*list));
	if (list == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		list[i] = &g_dev[i].dev;
	if (num_devices != NULL)
		*num_devices = n;
	return list;
}

void
__wrap_ibv_free_device_list(struct ibv_device **list)
{
	free(list);
}

const char *
__wrap_ibv_get_device_name(struct ibv_device *device)
{
	return device->name;
}

__be64
__wrap_ibv_get_device_guid(struct ibv_device *device)
{
	struct emu_dev *ed = emu_dev_of(device);

	return htobe64(0x02005efffe000000ULL | (ed != NULL ? ed->idx : 0xff));
}

static int emu_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc);
static int emu_req_notify_cq(struct ibv_cq *cq, int solicited_only);
static int emu_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr,
			 struct ibv_send_wr **bad);
static int emu_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr,
			 struct ibv_recv_wr **bad);
static int emu_query_port_ex(struct ibv_context *ctx, uint8_t port,
			     struct ibv_port_attr *attr, size_t len);
static int emu_query_device_ex(struct ibv_context *ctx,
			       const struct ibv_query_device_ex_input *in,
			       struct ibv_device_attr_ex *attr, size_t len);
static struct ibv_cq_ex *emu_create_cq_ex(struct ibv_context *ctx,
					  struct ibv_cq_init_attr_ex *attr);
static int emu_query_rt_values(struct ibv_context *ctx,
			       struct ibv_values_ex *values);

struct ibv_context *
__wrap_ibv_open_device(struct ibv_device *device)
{
	struct emu_dev *ed = emu_dev_of(device);
	struct ibv_context *ctx;
	struct emu_ctx *ec;

	if (emu_failing(EV_OPEN_DEVICE)) {
		errno = ENOMEM;
		return NULL;
	}
	if (ed == NULL) {
		errno = ENODEV;
		return NULL;
	}
	ec = calloc(1, sizeof(*ec));
	if (ec == NULL)
		return NULL;
	ec->ed = ed;
	ec->vc.sz = sizeof(ec->vc);
	ec->vc.query_port = emu_query_port_ex;
	ec->vc.query_device_ex = emu_query_device_ex;
	ec->vc.create_cq_ex = emu_create_cq_ex;
	ec->vc.query_rt_values = emu_query_rt_values;
	ctx = &ec->vc.context;
	ctx->device = device;
	ctx->ops.poll_cq = emu_poll_cq;
	ctx->ops.req_notify_cq = emu_req_notify_cq;
	ctx->ops.post_send = emu_post_send;
	ctx->ops.post_recv = emu_post_recv;
	ctx->cmd_fd = -1;
	ctx->async_fd = -1;
	ctx->num_comp_vectors = 1;
	pthread_mutex_init(&ctx->mutex, NULL);
	ctx->abi_compat = __VERBS_ABI_IS_EXTENDED;
	pthread_mutex_lock(&g_lock);
	g_live.ctx++;
	pthread_mutex_unlock(&g_lock);
	return ctx;
}

int
__wrap_ibv_close_device(struct ibv_context *context)
{
	struct emu_ctx *ec = emu_ctx_of(context);

	pthread_mutex_destroy(&context->mutex);
	free(ec);
	pthread_mutex_lock(&g_lock);
	g_live.ctx--;
	pthread_mutex_unlock(&g_lock);
	return 0;
}

static void
emu_fill_device_attr(const struct emu_dev *ed, struct ibv_device_attr *a)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->fw_ver, sizeof(a->fw_ver), "verbs_emu 1.0");
	a->node_guid = htobe64(0x02005efffe000000ULL | (uint64_t)ed->idx);
	a->sys_image_guid = a->node_guid;
	a->max_mr_size = UINT64_MAX;
	a->page_size_cap = 0xfffff000;
	a->vendor_id = 0;
	a->vendor_part_id = 0;
	a->max_qp = 65536;
	a->max_qp_wr = EMU_MAX_WR;
	a->device_cap_flags = IBV_DEVICE_PORT_ACTIVE_EVENT |
			      IBV_DEVICE_RC_RNR_NAK_GEN;
	a->max_sge = EMU_MAX_SGE;
	a->max_cq = 65536;
	a->max_cqe = EMU_MAX_CQE;
	a->max_mr = 65536;
	a->max_pd = 65536;
	a->max_ah = 65536;
	a->max_pkeys = 1;
	a->local_ca_ack_delay = 15;
	a->phys_port_cnt = 1;
}

int
__wrap_ibv_query_device(struct ibv_context *context,
			struct ibv_device_attr *attr)
{
	if (emu_failing(EV_QUERY_DEVICE))
		return errno = ENOMEM;
	emu_fill_device_attr(emu_ctx_of(context)->ed, attr);
	return 0;
}

static int
emu_query_device_ex(struct ibv_context *ctx,
		    const struct ibv_query_device_ex_input *in,
		    struct ibv_device_attr_ex *attr, size_t len)
{
	struct ibv_device_attr_ex a;
	int no_hwts;

	(void)in;
	if (emu_failing(EV_QUERY_DEVICE_EX))
		return errno = ENOMEM;
	if (len < sizeof(a.orig_attr))
		return EINVAL;
	no_hwts = LOAD(g_cfg.no_hwts);
	memset(&a, 0, sizeof(a));
	emu_fill_device_attr(emu_ctx_of(ctx)->ed, &a.orig_attr);
	a.completion_timestamp_mask = no_hwts ? 0 : LOAD(g_cfg.ts_mask);
	a.hca_core_clock = no_hwts ? 0 : LOAD(g_cfg.khz);
	a.phys_port_cnt_ex = 1;
	if (len > sizeof(a))
		len = sizeof(a);
	memset(attr, 0, len);
	memcpy(attr, &a, len);
	return 0;
}

static void
emu_fill_port_attr(const struct emu_dev *ed, struct ibv_port_attr *a)
{
	int down = (LOAD(g_cfg.port_down) >> ed->idx) & 1;

	memset(a, 0, sizeof(*a));
	a->state = down ? IBV_PORT_DOWN : IBV_PORT_ACTIVE;
	a->max_mtu = IBV_MTU_4096;
	a->active_mtu = IBV_MTU_1024;
	a->gid_tbl_len = EMU_GID_TBL_LEN;
	a->port_cap_flags = IBV_PORT_CM_SUP;
	a->max_msg_sz = 1U << 31;
	a->pkey_tbl_len = 1;
	a->lid = 0;		/* RoCE: no LIDs */
	a->max_vl_num = 1;
	a->active_width = 2;	/* 4x */
	a->active_speed = 32;	/* EDR */
	a->phys_state = down ? 3 : 5;	/* Disabled : LinkUp */
	a->link_layer = IBV_LINK_LAYER_ETHERNET;
}

static int
emu_query_port_ex(struct ibv_context *ctx, uint8_t port,
		  struct ibv_port_attr *attr, size_t len)
{
	struct ibv_port_attr a;

	if (emu_failing(EV_QUERY_PORT))
		return errno = ENOMEM;
	if (port != 1)
		return errno = EINVAL;
	emu_fill_port_attr(emu_ctx_of(ctx)->ed, &a);
	if (len > sizeof(a))
		len = sizeof(a);
	memcpy(attr, &a, len);
	return 0;
}

/* The exported (compat) symbol: the struct ends before 'flags'. */
int
__wrap_ibv_query_port(struct ibv_context *context, uint8_t port_num,
		      struct ibv_port_attr *attr)
{
	return emu_query_port_ex(context, port_num, attr,
				 offsetof(struct ibv_port_attr, flags));
}

int
__wrap_ibv_query_gid(struct ibv_context *context, uint8_t port_num,
		     int index, union ibv_gid *gid)
{
	if (emu_failing(EV_QUERY_GID)) {
		errno = ENOMEM;
		return -1;
	}
	if (port_num != 1 || index < 0 || index >= EMU_GID_TBL_LEN) {
		errno = EINVAL;
		return -1;
	}
	emu_gid(emu_ctx_of(context)->ed, index, gid);
	return 0;
}

int
__wrap__ibv_query_gid_ex(struct ibv_context *context, uint32_t port_num,
			 uint32_t gid_index, struct ibv_gid_entry *entry,
			 uint32_t flags, size_t entry_size)
{
	struct ibv_gid_entry e;

	if (emu_failing(EV_QUERY_GID))
		return ENOMEM;
	if (flags != 0 || port_num != 1 || gid_index >= EMU_GID_TBL_LEN)
		return EINVAL;
	if (gid_index > 1)
		return ENODATA;
	memset(&e, 0, sizeof(e));
	emu_gid(emu_ctx_of(context)->ed, (int)gid_index, &e.gid);
	e.gid_index = gid_index;
	e.port_num = 1;
	e.gid_type = gid_index == 0 ? IBV_GID_TYPE_ROCE_V1 :
				      IBV_GID_TYPE_ROCE_V2;
	e.ndev_ifindex = 1;
	if (entry_size > sizeof(e))
		entry_size = sizeof(e);
	memcpy(entry, &e, entry_size);
	return 0;
}

int
__wrap_ibv_query_pkey(struct ibv_context *context, uint8_t port_num,
		      int index, __be16 *pkey)
{
	(void)context;
	if (emu_failing(EV_QUERY_PKEY)) {
		errno = ENOMEM;
		return -1;
	}
	if (port_num != 1 || index != 0) {
		errno = EINVAL;
		return -1;
	}
	*pkey = htobe16(0xffff);
	return 0;
}

/* ---- PDs, MRs, AHs ---------------------------------------------------- */

struct ibv_pd *
__wrap_ibv_alloc_pd(struct ibv_context *context)
{
	struct emu_pd *p;

	if (emu_failing(EV_ALLOC_PD)) {
		errno = ENOMEM;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->pd.context = context;
	pthread_mutex_lock(&g_lock);
	p->pd.handle = g_key++;
	g_live.pd++;
	pthread_mutex_unlock(&g_lock);
	return &p->pd;
}

int
__wrap_ibv_dealloc_pd(struct ibv_pd *pd)
{
	struct emu_pd *p = (struct emu_pd *)pd;

	pthread_mutex_lock(&g_lock);
	if (p->nref > 0) {
		pthread_mutex_unlock(&g_lock);
		return EBUSY;
	}
	g_live.pd--;
	pthread_mutex_unlock(&g_lock);
	free(p);
	return 0;
}

static struct ibv_mr *
emu_reg_mr(struct ibv_pd *pd, void *addr, size_t length, uint64_t iova,
	   unsigned int access)
{
	struct emu_pd *p = (struct emu_pd *)pd;
	struct ibv_mr *mr;

	(void)access;
	if (emu_failing(EV_REG_MR)) {
		errno = ENOMEM;
		return NULL;
	}
	if (addr == NULL && length > 0) {
		errno = EINVAL;
		return NULL;
	}
	mr = calloc(1, sizeof(*mr));
	if (mr == NULL)
		return NULL;
	mr->context = pd->context;
	mr->pd = pd;
	mr->addr = (void *)(uintptr_t)iova;
	mr->length = length;
	pthread_mutex_lock(&g_lock);
	mr->handle = g_key++;
	mr->lkey = g_key++;
	mr->rkey = mr->lkey;
	p->nref++;
	g_live.mr++;
	pthread_mutex_unlock(&g_lock);
	return mr;
}

struct ibv_mr *
__wrap_ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t length, int access)
{
	return emu_reg_mr(pd, addr, length, (uintptr_t)addr,
			  (unsigned int)access);
}

struct ibv_mr *
__wrap_ibv_reg_mr_iova(struct ibv_pd *pd, void *addr, size_t length,
		       uint64_t iova, int access)
{
	return emu_reg_mr(pd, addr, length, iova, (unsigned int)access);
}

struct ibv_mr *
__wrap_ibv_reg_mr_iova2(struct ibv_pd *pd, void *addr, size_t length,
			uint64_t iova, unsigned int access)
{
	return emu_reg_mr(pd, addr, length, iova, access);
}

int
__wrap_ibv_dereg_mr(struct ibv_mr *mr)
{
	struct emu_pd *p = (struct emu_pd *)mr->pd;

	pthread_mutex_lock(&g_lock);
	p->nref--;
	g_live.mr--;
	pthread_mutex_unlock(&g_lock);
	free(mr);
	return 0;
}

struct ibv_ah *
__wrap_ibv_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *attr)
{
	struct emu_pd *p = (struct emu_pd *)pd;
	struct emu_ctx *ec = emu_ctx_of(pd->context);
	struct emu_ah *a;

	if (emu_failing(EV_CREATE_AH)) {
		errno = ENOMEM;
		return NULL;
	}
	/* RoCE needs a GRH; the source GID must be a populated entry. */
	if (attr->port_num != 1 || !attr->is_global ||
	    attr->grh.sgid_index > 1) {
		errno = EINVAL;
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return NULL;
	a->ah.context = pd->context;
	a->ah.pd = pd;
	a->dgid = attr->grh.dgid;
	a->sgid_index = attr->grh.sgid_index;
	emu_gid(ec->ed, a->sgid_index, &a->sgid);
	a->tclass = attr->grh.traffic_class;
	a->hop_limit = attr->grh.hop_limit;
	a->dlid = attr->dlid;
	pthread_mutex_lock(&g_lock);
	a->ah.handle = g_key++;
	p->nref++;
	g_live.ah++;
	pthread_mutex_unlock(&g_lock);
	return &a->ah;
}

int
__wrap_ibv_destroy_ah(struct ibv_ah *ah)
{
	struct emu_pd *p = (struct emu_pd *)ah->pd;

	pthread_mutex_lock(&g_lock);
	p->nref--;
	g_live.ah--;
	pthread_mutex_unlock(&g_lock);
	free(ah);
	return 0;
}

/* ---- CQs -------------------------------------------------------------- */

static enum ibv_wc_opcode
rd_opcode(struct ibv_cq_ex *cx)
{
	return ((struct emu_cq *)cx)->cur.wc.opcode;
}

static uint32_t
rd_vendor_err(struct ibv_cq_ex *cx)
{
	return ((struct emu_cq *)cx)->cur.wc.vendor_err;
}

static uint32_t
rd_byte_len(struct ibv_cq_ex *cx)
{
	return ((struct emu_cq *)cx)->cur.wc.byte_len;
}

static __be32
rd_imm_data(struct ibv_cq_ex *cx)
{
	return ((struct emu_cq *)cx)->cur.wc.imm_data;
}

static uint32_t
rd_qp_num(struct ibv_cq_ex *cx)
{
	return ((struct emu_cq *)cx)->cur.wc.qp_num;
}

static uint32_t
rd_src_qp(struct ibv_cq_ex *cx)
{
	return ((struct emu_cq *)cx)->cur.wc.src_qp;
}

static unsigned int
rd_wc_flags(struct ibv_cq_ex *cx)
{
	return ((struct emu_cq *)cx)->cur.wc.wc_flags;
}

static uint32_t
rd_slid(struct ibv_cq_ex *cx)
{
	return ((struct emu_cq *)cx)->cur.wc.slid;
}

static uint8_t
rd_sl(struct ibv_cq_ex *cx)
{
	return ((struct emu_cq *)cx)->cur.wc.sl;
}

static uint8_t
rd_dlid_path_bits(struct ibv_cq_ex *cx)
{
	return ((struct emu_cq *)cx)->cur.wc.dlid_path_bits;
}

static uint64_t
rd_completion_ts(struct ibv_cq_ex *cx)
{
	return ((struct emu_cq *)cx)->cur.ts;
}

/* Queue @e on @cq (its lock held); a full CQ loses it, as an overrun. */
static int
cq_push(struct emu_cq *cq, const struct emu_cqe *e)
{
	if (cq->n == cq->cap) {
		COUNT(cq_overflow);
		return -ENOSPC;
	}
	cq->ring[(cq->head + cq->n) % cq->cap] = *e;
	cq->n++;
	return 0;
}

/* Take the oldest entry of @cq (lock held, n > 0), freeing SQ room. */
static void
cq_pop(struct emu_cq *cq, struct emu_cqe *e)
{
	*e = cq->ring[cq->head];
	cq->head = (cq->head + 1) % cq->cap;
	cq->n--;
	if (e->sqp != NULL)
		__atomic_fetch_sub(&e->sqp->sq_out, e->retire,
				   __ATOMIC_RELAXED);
}

static void cq_drain(struct emu_cq *cq);

static int
emu_poll_cq(struct ibv_cq *ibcq, int n, struct ibv_wc *wc)
{
	struct emu_cq *cq = (struct emu_cq *)ibcq;
	struct emu_cqe e;
	int i;

	if (emu_failing(EV_POLL_CQ)) {
		errno = ENOMEM;
		return -1;
	}
	pthread_mutex_lock(&cq->lock);
	cq_drain(cq);
	for (i = 0; i < n && cq->n > 0; i++) {
		cq_pop(cq, &e);
		wc[i] = e.wc;
	}
	pthread_mutex_unlock(&cq->lock);
	return i;
}

static int
emu_req_notify_cq(struct ibv_cq *cq, int solicited_only)
{
	(void)cq;
	(void)solicited_only;
	return EOPNOTSUPP;	/* no completion channels here: poll */
}

/*
 * The cq_ex poll API.  The CQ lock is not held between start_poll and
 * end_poll (an engine may post a reply on a QP of this CQ while it
 * iterates, as real providers allow); the current entry is a copy, so one
 * thread polls a given extended CQ at a time.
 */
static int
cx_next(struct emu_cq *cq, int drain)
{
	int rc = 0;

	pthread_mutex_lock(&cq->lock);
	if (drain)
		cq_drain(cq);
	if (cq->n == 0)
		rc = ENOENT;
	else
		cq_pop(cq, &cq->cur);
	pthread_mutex_unlock(&cq->lock);
	if (rc == 0) {
		cq->cx.status = cq->cur.wc.status;
		cq->cx.wr_id = cq->cur.wc.wr_id;
	}
	return rc;
}

static int
cx_start_poll(struct ibv_cq_ex *cx, struct ibv_poll_cq_attr *attr)
{
	if (attr != NULL && attr->comp_mask != 0)
		return EINVAL;
	if (emu_failing(EV_POLL_CQ))
		return ENOMEM;
	return cx_next((struct emu_cq *)cx, 1);
}

static int
cx_next_poll(struct ibv_cq_ex *cx)
{
	return cx_next((struct emu_cq *)cx, 0);
}

static void
cx_end_poll(struct ibv_cq_ex *cx)
{
	(void)cx;
}

static struct emu_cq *
emu_cq_new(struct ibv_context *ctx, uint32_t cqe, void *cq_context,
	   uint64_t wc_flags)
{
	struct emu_cq *cq;
	uint32_t cap;

	if (cqe == 0 || cqe > EMU_MAX_CQE) {
		errno = EINVAL;
		return NULL;
	}
	cq = calloc(1, sizeof(*cq));
	if (cq == NULL)
		return NULL;
	for (cap = 1; cap < cqe; cap <<= 1)
		;
	cq->ring = calloc(cap, sizeof(*cq->ring));
	if (cq->ring == NULL) {
		free(cq);
		return NULL;
	}
	cq->cap = cap;
	cq->ec = emu_ctx_of(ctx);
	cq->wc_flags = wc_flags;
	pthread_mutex_init(&cq->lock, NULL);
	cq->cx.context = ctx;
	cq->cx.cq_context = cq_context;
	cq->cx.cqe = (int)cap;
	pthread_mutex_init(&cq->cx.mutex, NULL);
	pthread_cond_init(&cq->cx.cond, NULL);
	cq->cx.start_poll = cx_start_poll;
	cq->cx.next_poll = cx_next_poll;
	cq->cx.end_poll = cx_end_poll;
	cq->cx.read_opcode = rd_opcode;
	cq->cx.read_vendor_err = rd_vendor_err;
	cq->cx.read_byte_len = rd_byte_len;
	cq->cx.read_imm_data = rd_imm_data;
	cq->cx.read_qp_num = rd_qp_num;
	cq->cx.read_src_qp = rd_src_qp;
	cq->cx.read_wc_flags = rd_wc_flags;
	cq->cx.read_slid = rd_slid;
	cq->cx.read_sl = rd_sl;
	cq->cx.read_dlid_path_bits = rd_dlid_path_bits;
	if (wc_flags & IBV_WC_EX_WITH_COMPLETION_TIMESTAMP)
		cq->cx.read_completion_ts = rd_completion_ts;
	pthread_mutex_lock(&g_lock);
	cq->cx.handle = g_key++;
	g_live.cq++;
	pthread_mutex_unlock(&g_lock);
	return cq;
}

struct ibv_cq *
__wrap_ibv_create_cq(struct ibv_context *context, int cqe, void *cq_context,
		     struct ibv_comp_channel *channel, int comp_vector)
{
	struct emu_cq *cq;

	(void)channel;
	if (emu_failing(EV_CREATE_CQ)) {
		errno = ENOMEM;
		return NULL;
	}
	if (cqe < 0 || comp_vector < 0 ||
	    comp_vector >= context->num_comp_vectors) {
		errno = EINVAL;
		return NULL;
	}
	cq = emu_cq_new(context, (uint32_t)cqe, cq_context,
			IBV_WC_STANDARD_FLAGS);
	return cq == NULL ? NULL : ibv_cq_ex_to_cq(&cq->cx);
}

static struct ibv_cq_ex *
emu_create_cq_ex(struct ibv_context *ctx, struct ibv_cq_init_attr_ex *attr)
{
	const uint64_t ok_flags = IBV_WC_STANDARD_FLAGS |
				  IBV_WC_EX_WITH_COMPLETION_TIMESTAMP;
	struct emu_cq *cq;

	if (emu_failing(EV_CREATE_CQ_EX)) {
		errno = ENOMEM;
		return NULL;
	}
	if ((attr->comp_mask & ~(uint32_t)(IBV_CQ_INIT_ATTR_MASK_FLAGS |
					   IBV_CQ_INIT_ATTR_MASK_PD)) != 0 ||
	    attr->comp_vector >= (uint32_t)ctx->num_comp_vectors) {
		errno = EINVAL;
		return NULL;
	}
	if ((attr->wc_flags & ~ok_flags) != 0 ||
	    ((attr->wc_flags & IBV_WC_EX_WITH_COMPLETION_TIMESTAMP) &&
	     LOAD(g_cfg.no_hwts))) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	cq = emu_cq_new(ctx, attr->cqe, attr->cq_context, attr->wc_flags);
	return cq == NULL ? NULL : &cq->cx;
}

int
__wrap_ibv_destroy_cq(struct ibv_cq *ibcq)
{
	struct emu_cq *cq = (struct emu_cq *)ibcq;

	pthread_mutex_lock(&g_lock);
	if (cq->nref > 0) {
		pthread_mutex_unlock(&g_lock);
		return EBUSY;
	}
	g_live.cq--;
	pthread_mutex_unlock(&g_lock);
	pthread_mutex_destroy(&cq->lock);
	pthread_mutex_destroy(&cq->cx.mutex);
	pthread_cond_destroy(&cq->cx.cond);
	free(cq->rqps);
	free(cq->ring);
	free(cq);
	return 0;
}

static int
emu_query_rt_values(struct ibv_context *ctx, struct ibv_values_ex *values)
{
	if (emu_failing(EV_QUERY_RT_VALUES))
		return ENOMEM;
	if (LOAD(g_cfg.no_hwts))
		return EOPNOTSUPP;
	if ((values->comp_mask & ~(uint32_t)IBV_VALUES_MASK_RAW_CLOCK) != 0)
		return EINVAL;
	if (values->comp_mask & IBV_VALUES_MASK_RAW_CLOCK) {
		/* As mlx5 does: the raw counter in tv_nsec, tv_sec 0. */
		values->raw_clock.tv_sec = 0;
		values->raw_clock.tv_nsec =
			(long)emu_hca_clock(emu_ctx_of(ctx)->ed);
	}
	return 0;
}

/* ---- QPs -------------------------------------------------------------- */

static int
cq_add_rqp(struct emu_cq *cq, struct emu_qp *q)
{
	struct emu_qp **a;
	int cap;

	pthread_mutex_lock(&cq->lock);
	if (cq->nrqp == cq->rqp_cap) {
		cap = cq->rqp_cap == 0 ? 4 : cq->rqp_cap * 2;
		a = realloc(cq->rqps, (size_t)cap * sizeof(*a));
		if (a == NULL) {
			pthread_mutex_unlock(&cq->lock);
			return -ENOMEM;
		}
		cq->rqps = a;
		cq->rqp_cap = cap;
	}
	cq->rqps[cq->nrqp++] = q;
	pthread_mutex_unlock(&cq->lock);
	return 0;
}

static void
cq_del_rqp(struct emu_cq *cq, struct emu_qp *q)
{
	int i;

	pthread_mutex_lock(&cq->lock);
	for (i = 0; i < cq->nrqp; i++) {
		if (cq->rqps[i] == q) {
			cq->rqps[i] = cq->rqps[--cq->nrqp];
			break;
		}
	}
	pthread_mutex_unlock(&cq->lock);
}

/* Forget @q in the entries still queued on @cq. */
static void
cq_scrub(struct emu_cq *cq, struct emu_qp *q)
{
	uint32_t i;

	pthread_mutex_lock(&cq->lock);
	for (i = 0; i < cq->n; i++) {
		struct emu_cqe *e = &cq->ring[(cq->head + i) % cq->cap];

		if (e->sqp == q)
			e->sqp = NULL;
	}
	pthread_mutex_unlock(&cq->lock);
}

static int
qp_socket(uint32_t *qpn)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof(sa);
	int fd, sz = EMU_SOCK_BUF;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Best effort: the kernel caps it at rmem_max / wmem_max. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	*qpn = ntohs(sa.sin_port);
	return fd;
}

static void
qp_free(struct emu_qp *q)
{
	if (q->fd >= 0)
		close(q->fd);
	pthread_mutex_destroy(&q->rq_lock);
	pthread_mutex_destroy(&q->qp.mutex);
	pthread_cond_destroy(&q->qp.cond);
	free(q->rq_wrid);
	free(q->rq_nsge);
	free(q->rq_sge);
	free(q);
}

struct ibv_qp *
__wrap_ibv_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *init)
{
	struct ibv_qp_cap *cap = &init->cap;
	struct emu_qp *q;
	uint64_t s;
	size_t nr;
	int rc;

	if (emu_failing(EV_CREATE_QP)) {
		errno = ENOMEM;
		return NULL;
	}
	if (init->qp_type != IBV_QPT_UD || init->srq != NULL) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	if (init->send_cq == NULL || init->recv_cq == NULL ||
	    cap->max_send_wr == 0 || cap->max_send_wr > EMU_MAX_WR ||
	    cap->max_recv_wr > EMU_MAX_WR || cap->max_send_sge > EMU_MAX_SGE ||
	    cap->max_recv_sge > EMU_MAX_SGE ||
	    cap->max_inline_data > EMU_MAX_INLINE) {
		errno = EINVAL;
		return NULL;
	}
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		return NULL;
	q->fd = -1;
	pthread_mutex_init(&q->rq_lock, NULL);
	pthread_mutex_init(&q->qp.mutex, NULL);
	pthread_cond_init(&q->qp.cond, NULL);
	q->max_send_wr = cap->max_send_wr;
	q->max_recv_wr = cap->max_recv_wr;
	q->max_send_sge = cap->max_send_sge > 0 ? cap->max_send_sge : 1;
	q->max_recv_sge = cap->max_recv_sge > 0 ? cap->max_recv_sge : 1;
	nr = q->max_recv_wr > 0 ? q->max_recv_wr : 1;
	q->rq_wrid = calloc(nr, sizeof(*q->rq_wrid));
	q->rq_nsge = calloc(nr, sizeof(*q->rq_nsge));
	q->rq_sge = calloc(nr * q->max_recv_sge, sizeof(*q->rq_sge));
	if (q->rq_wrid == NULL || q->rq_nsge == NULL || q->rq_sge == NULL) {
		qp_free(q);
		errno = ENOMEM;
		return NULL;
	}
	rc = qp_socket(&q->qp.qp_num);
	if (rc < 0) {
		qp_free(q);
		errno = -rc;
		return NULL;
	}
	q->fd = rc;
	q->ec = emu_ctx_of(pd->context);
	q->epd = (struct emu_pd *)pd;
	q->scq = (struct emu_cq *)init->send_cq;
	q->rcq = (struct emu_cq *)init->recv_cq;
	q->sq_sig_all = init->sq_sig_all;
	q->qp.context = pd->context;
	q->qp.qp_context = init->qp_context;
	q->qp.pd = pd;
	q->qp.send_cq = init->send_cq;
	q->qp.recv_cq = init->recv_cq;
	q->qp.state = IBV_QPS_RESET;
	q->qp.qp_type = IBV_QPT_UD;
	if (cq_add_rqp(q->rcq, q) != 0) {
		qp_free(q);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_lock(&g_lock);
	q->qp.handle = g_key++;
	s = LOAD(g_cfg.seed) ^ (g_qp_seq++ * 0xd1342543de82ef95ULL);
	q->prng = splitmix64(&s) | 1;
	q->epd->nref++;
	q->scq->nref++;
	q->rcq->nref++;
	g_live.qp++;
	pthread_mutex_unlock(&g_lock);
	return &q->qp;
}

/* Push a flush completion for each posted receive, then forget them. */
static void
rq_flush(struct emu_qp *q, int push)
{
	struct emu_cqe e;

	pthread_mutex_lock(&q->rcq->lock);
	pthread_mutex_lock(&q->rq_lock);
	while (q->rq_n > 0) {
		if (push) {
			memset(&e, 0, sizeof(e));
			e.wc.wr_id = q->rq_wrid[q->rq_head];
			e.wc.status = IBV_WC_WR_FLUSH_ERR;
			e.wc.opcode = IBV_WC_RECV;
			e.wc.qp_num = q->qp.qp_num;
			e.ts = emu_hca_clock(q->ec->ed);
			cq_push(q->rcq, &e);
		}
		q->rq_head = (q->rq_head + 1) % q->max_recv_wr;
		q->rq_n--;
	}
	q->rq_head = 0;
	pthread_mutex_unlock(&q->rq_lock);
	pthread_mutex_unlock(&q->rcq->lock);
}

int
__wrap_ibv_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask)
{
	struct emu_qp *q = (struct emu_qp *)qp;
	enum ibv_qp_state cur = qp->state, nxt = cur;
	int req = 0, opt = IBV_QP_CUR_STATE;

	if (emu_failing(EV_MODIFY_QP))
		return errno = ENOMEM;
	if (mask & IBV_QP_STATE)
		nxt = attr->qp_state;
	if (nxt == IBV_QPS_RESET || nxt == IBV_QPS_ERR) {
		req = IBV_QP_STATE;
	} else if (cur == IBV_QPS_RESET && nxt == IBV_QPS_INIT) {
		req = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
		      IBV_QP_QKEY;
	} else if (cur == IBV_QPS_INIT && nxt == IBV_QPS_INIT) {
		opt |= IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_QKEY;
	} else if (cur == IBV_QPS_INIT && nxt == IBV_QPS_RTR) {
		req = IBV_QP_STATE;
		opt |= IBV_QP_PKEY_INDEX | IBV_QP_QKEY;
	} else if (cur == IBV_QPS_RTR && nxt == IBV_QPS_RTS) {
		req = IBV_QP_STATE | IBV_QP_SQ_PSN;
		opt |= IBV_QP_QKEY;
	} else if (cur == IBV_QPS_RTS && nxt == IBV_QPS_RTS) {
		opt |= IBV_QP_QKEY;
	} else {
		return EINVAL;
	}
	if ((mask & req) != req || (mask & ~(req | opt)) != 0)
		return EINVAL;
	if (((mask & IBV_QP_PORT) && attr->port_num != 1) ||
	    ((mask & IBV_QP_PKEY_INDEX) && attr->pkey_index != 0))
		return EINVAL;
	if (mask & IBV_QP_QKEY)
		q->qkey = attr->qkey;
	if (nxt == IBV_QPS_RESET)
		rq_flush(q, 0);
	else if (nxt == IBV_QPS_ERR)
		rq_flush(q, 1);
	qp->state = nxt;
	return 0;
}

int
__wrap_ibv_query_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask,
		    struct ibv_qp_init_attr *init)
{
	struct emu_qp *q = (struct emu_qp *)qp;

	(void)mask;
	if (emu_failing(EV_QUERY_QP))
		return errno = ENOMEM;
	memset(attr, 0, sizeof(*attr));
	attr->qp_state = qp->state;
	attr->cur_qp_state = qp->state;
	attr->path_mtu = IBV_MTU_1024;
	attr->qkey = q->qkey;
	attr->port_num = 1;
	attr->cap.max_send_wr = q->max_send_wr;
	attr->cap.max_recv_wr = q->max_recv_wr;
	attr->cap.max_send_sge = q->max_send_sge;
	attr->cap.max_recv_sge = q->max_recv_sge;
	if (init != NULL) {
		memset(init, 0, sizeof(*init));
		init->qp_context = qp->qp_context;
		init->send_cq = qp->send_cq;
		init->recv_cq = qp->recv_cq;
		init->cap = attr->cap;
		init->qp_type = IBV_QPT_UD;
		init->sq_sig_all = q->sq_sig_all;
	}
	return 0;
}

int
__wrap_ibv_destroy_qp(struct ibv_qp *qp)
{
	struct emu_qp *q = (struct emu_qp *)qp;

	cq_del_rqp(q->rcq, q);
	cq_scrub(q->scq, q);
	pthread_mutex_lock(&g_lock);
	q->epd->nref--;
	q->scq->nref--;
	q->rcq->nref--;
	g_live.qp--;
	pthread_mutex_unlock(&g_lock);
	qp_free(q);
	return 0;
}

/* ---- data path -------------------------------------------------------- */

static uint32_t
qp_rand32(struct emu_qp *q)
{
	/* xorshift64* */
	q->prng ^= q->prng >> 12;
	q->prng ^= q->prng << 25;
	q->prng ^= q->prng >> 27;
	return (uint32_t)((q->prng * 0x2545f4914f6cdd1dULL) >> 32);
}

/*
 * One UD send: the datagram to 127.0.0.1:remote_qpn, or a fault.  Returns
 * the completion status; *ts gets the stamp (at the sendto).
 */
static enum ibv_wc_status
send_one(struct emu_qp *q, const struct ibv_send_wr *wr, uint64_t *ts)
{
	struct emu_ah *ah = (struct emu_ah *)wr->wr.ud.ah;
	uint8_t pkt[EMU_DGRAM_MAX];
	struct emu_hdr *h = (struct emu_hdr *)pkt;
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	uint64_t every = LOAD(g_cfg.err_every);
	uint32_t len = 0, qpn = wr->wr.ud.remote_qpn & 0xffffff;
	int i;

	q->nsend++;
	if (every != 0 && q->nsend % every == 0) {
		COUNT(tx_err);
		*ts = emu_hca_clock(q->ec->ed);
		return IBV_WC_RETRY_EXC_ERR;
	}
	for (i = 0; i < wr->num_sge; i++) {
		const struct ibv_sge *sg = &wr->sg_list[i];

		if (sg->length > EMU_MTU - len) {
			COUNT(tx_len_err);
			*ts = emu_hca_clock(q->ec->ed);
			return IBV_WC_LOC_LEN_ERR;
		}
		memcpy(pkt + sizeof(*h) + len, (void *)(uintptr_t)sg->addr,
		       sg->length);
		len += sg->length;
	}
	memset(h, 0, sizeof(*h));
	h->magic = EMU_MAGIC;
	h->src_qpn = q->qp.qp_num;
	/* A Q_Key with the high bit set means "use the QP's own". */
	h->qkey = (wr->wr.ud.remote_qkey & 0x80000000u) ? q->qkey :
							  wr->wr.ud.remote_qkey;
	h->has_imm = wr->opcode == IBV_WR_SEND_WITH_IMM;
	h->imm = h->has_imm ? (uint32_t)wr->imm_data : 0;
	h->len = len;
	h->slid = 0;
	h->sgid_index = ah->sgid_index;
	h->tclass = ah->tclass;
	h->hop_limit = ah->hop_limit;
	memcpy(h->sgid, ah->sgid.raw, 16);
	h->send_ns = ns_of(CLOCK_MONOTONIC);
	if (qp_rand32(q) < LOAD(g_cfg.drop_thresh)) {
		COUNT(tx_drop);
		*ts = emu_hca_clock(q->ec->ed);
		return IBV_WC_SUCCESS;
	}
	sa.sin_port = htons((uint16_t)qpn);
	/* The send's stamp and the arrival time of RX_STAMP=arrival. */
	h->send_raw_ns = ns_of(CLOCK_MONOTONIC_RAW);
	*ts = emu_hca_clock_at(q->ec->ed, h->send_raw_ns);
	if (qpn == 0 || qpn > 65535) {
		COUNT(tx);	/* no such QP: lost on the wire */
	} else if (sendto(q->fd, pkt, sizeof(*h) + len, 0,
			  (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		COUNT(tx_sock_err);
	} else {
		COUNT(tx);
	}
	return IBV_WC_SUCCESS;
}

static void
send_complete(struct emu_qp *q, uint64_t wr_id, enum ibv_wc_status st,
	      uint64_t ts)
{
	struct emu_cqe e;

	memset(&e, 0, sizeof(e));
	e.wc.wr_id = wr_id;
	e.wc.status = st;
	e.wc.opcode = IBV_WC_SEND;
	e.wc.qp_num = q->qp.qp_num;
	e.wc.vendor_err = st == IBV_WC_SUCCESS ? 0 : 0x81;
	e.ts = ts;
	e.sqp = q;
	e.retire = q->since_sig;
	q->since_sig = 0;
	pthread_mutex_lock(&q->scq->lock);
	if (cq_push(q->scq, &e) != 0)
		__atomic_fetch_sub(&q->sq_out, e.retire, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&q->scq->lock);
}

static int
emu_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr,
	      struct ibv_send_wr **bad)
{
	struct emu_qp *q = (struct emu_qp *)qp;
	enum ibv_wc_status st;
	uint64_t ts;

	for (; wr != NULL; wr = wr->next) {
		if (emu_failing(EV_POST_SEND)) {
			*bad = wr;
			return ENOMEM;
		}
		if ((qp->state != IBV_QPS_RTS && qp->state != IBV_QPS_ERR) ||
		    (wr->opcode != IBV_WR_SEND &&
		     wr->opcode != IBV_WR_SEND_WITH_IMM) ||
		    wr->num_sge < 0 || (uint32_t)wr->num_sge > q->max_send_sge ||
		    wr->wr.ud.ah == NULL) {
			*bad = wr;
			return EINVAL;
		}
		if (LOAD(q->sq_out) >= q->max_send_wr) {
			*bad = wr;
			return ENOMEM;
		}
		__atomic_fetch_add(&q->sq_out, 1, __ATOMIC_RELAXED);
		q->since_sig++;
		if (qp->state == IBV_QPS_ERR) {
			send_complete(q, wr->wr_id, IBV_WC_WR_FLUSH_ERR,
				      emu_hca_clock(q->ec->ed));
			continue;
		}
		st = send_one(q, wr, &ts);
		/* Errors complete whether signaled or not, as on an HCA. */
		if (st != IBV_WC_SUCCESS || q->sq_sig_all ||
		    (wr->send_flags & IBV_SEND_SIGNALED))
			send_complete(q, wr->wr_id, st, ts);
	}
	return 0;
}

static int
emu_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr,
	      struct ibv_recv_wr **bad)
{
	struct emu_qp *q = (struct emu_qp *)qp;
	uint32_t i;
	int rc = 0;

	if (qp->state == IBV_QPS_ERR) {
		/* Flushed at once. */
		for (; wr != NULL; wr = wr->next) {
			struct emu_cqe e;

			memset(&e, 0, sizeof(e));
			e.wc.wr_id = wr->wr_id;
			e.wc.status = IBV_WC_WR_FLUSH_ERR;
			e.wc.opcode = IBV_WC_RECV;
			e.wc.qp_num = qp->qp_num;
			pthread_mutex_lock(&q->rcq->lock);
			cq_push(q->rcq, &e);
			pthread_mutex_unlock(&q->rcq->lock);
		}
		return 0;
	}
	pthread_mutex_lock(&q->rq_lock);
	for (; wr != NULL; wr = wr->next) {
		if (emu_failing(EV_POST_RECV)) {
			rc = ENOMEM;
			break;
		}
		if (qp->state == IBV_QPS_RESET || wr->num_sge < 0 ||
		    (uint32_t)wr->num_sge > q->max_recv_sge) {
			rc = EINVAL;
			break;
		}
		if (q->rq_n >= q->max_recv_wr) {
			rc = ENOMEM;
			break;
		}
		i = (q->rq_head + q->rq_n) % q->max_recv_wr;
		q->rq_wrid[i] = wr->wr_id;
		q->rq_nsge[i] = (uint32_t)wr->num_sge;
		memcpy(&q->rq_sge[(size_t)i * q->max_recv_sge], wr->sg_list,
		       (size_t)wr->num_sge * sizeof(*wr->sg_list));
		q->rq_n++;
	}
	pthread_mutex_unlock(&q->rq_lock);
	if (rc != 0)
		*bad = wr;
	return rc;
}

/* An IPv6-style GRH (IBTA vol 1 8.3): the source GID at 8, dest at 24. */
static void
grh_build(uint8_t *g, const struct emu_hdr *h, const union ibv_gid *dgid)
{
	uint16_t paylen = (uint16_t)(h->len + 12 + 8 + (h->has_imm ? 4 : 0) +
				     4);	/* BTH, DETH, ImmDt, ICRC */

	g[0] = (uint8_t)(0x60 | (h->tclass >> 4));
	g[1] = (uint8_t)(h->tclass << 4);
	g[2] = 0;
	g[3] = 0;
	g[4] = (uint8_t)(paylen >> 8);
	g[5] = (uint8_t)paylen;
	g[6] = 0x1b;		/* next header: IBA transport */
	g[7] = h->hop_limit;
	memcpy(g + 8, h->sgid, 16);
	memcpy(g + 24, dgid->raw, 16);
}

/* Copy @len bytes of @src into the scatter list, from byte @off on. */
static void
scatter(const struct ibv_sge *sg, uint32_t nsge, uint32_t off,
	const uint8_t *src, uint32_t len)
{
	uint32_t i, n;

	for (i = 0; i < nsge && len > 0; i++) {
		if (off >= sg[i].length) {
			off -= sg[i].length;
			continue;
		}
		n = sg[i].length - off;
		if (n > len)
			n = len;
		memcpy((uint8_t *)(uintptr_t)sg[i].addr + off, src, n);
		src += n;
		len -= n;
		off = 0;
	}
}

/*
 * Deliver the datagram held by @q into its oldest receive.  Returns 1 when
 * it was consumed (delivered or dropped), 0 when it must wait (delay).
 */
static int
deliver(struct emu_qp *q, struct emu_cq *cq)
{
	const struct emu_hdr *h = (const struct emu_hdr *)q->buf;
	const struct ibv_sge *sg;
	uint8_t grh[EMU_GRH_LEN];
	union ibv_gid dgid;
	struct emu_cqe e;
	uint64_t delay;
	uint32_t i, room = 0, nsge;

	if ((size_t)q->held < sizeof(*h) || h->magic != EMU_MAGIC ||
	    h->len != (size_t)q->held - sizeof(*h)) {
		COUNT(rx_bad);
		return 1;
	}
	/* With arrival stamps a datagram is also held for a wire time, so a
	 * zero delay still gives a network RTT above zero. */
	delay = LOAD(g_cfg.delay_ns);
	if (LOAD(g_cfg.rx_arrival))
		delay += EMU_WIRE_NS;
	if (delay != 0 && ns_of(CLOCK_MONOTONIC) < h->send_ns + delay)
		return 0;
	if (q->qp.state != IBV_QPS_RTR && q->qp.state != IBV_QPS_RTS) {
		COUNT(rx_state);
		return 1;
	}
	if (h->qkey != q->qkey) {
		COUNT(rx_qkey);
		return 1;
	}
	memset(&e, 0, sizeof(e));
	pthread_mutex_lock(&q->rq_lock);
	if (q->rq_n == 0) {
		pthread_mutex_unlock(&q->rq_lock);
		COUNT(rx_no_recv);
		return 1;
	}
	i = q->rq_head;
	q->rq_head = (q->rq_head + 1) % q->max_recv_wr;
	q->rq_n--;
	e.wc.wr_id = q->rq_wrid[i];
	nsge = q->rq_nsge[i];
	sg = &q->rq_sge[(size_t)i * q->max_recv_sge];
	for (i = 0; i < nsge; i++)
		room += sg[i].length;
	/* Arrival: when a wire would have brought it (send + delay + wire),
	 * as an HCA stamps it however late the host polls. */
	if (LOAD(g_cfg.rx_arrival))
		e.ts = emu_hca_clock_at(q->ec->ed, h->send_raw_ns + delay);
	else
		e.ts = emu_hca_clock(q->ec->ed);
	e.wc.opcode = IBV_WC_RECV;
	e.wc.qp_num = q->qp.qp_num;
	if (room < EMU_GRH_LEN + h->len) {
		COUNT(rx_len_err);
		e.wc.status = IBV_WC_LOC_LEN_ERR;
	} else {
		emu_gid(q->ec->ed, h->sgid_index, &dgid);
		grh_build(grh, h, &dgid);
		scatter(sg, nsge, 0, grh, EMU_GRH_LEN);
		scatter(sg, nsge, EMU_GRH_LEN, q->buf + sizeof(*h), h->len);
		COUNT(rx);
		e.wc.status = IBV_WC_SUCCESS;
		e.wc.byte_len = EMU_GRH_LEN + h->len;
		e.wc.src_qp = h->src_qpn;
		e.wc.slid = h->slid;
		e.wc.wc_flags = IBV_WC_GRH;
		if (h->has_imm) {
			e.wc.wc_flags |= IBV_WC_WITH_IMM;
			e.wc.imm_data = h->imm;
		}
	}
	pthread_mutex_unlock(&q->rq_lock);
	cq_push(cq, &e);
	return 1;
}

/* Pull in what the QPs receiving into @cq got, while @cq has room. */
static void
cq_drain(struct emu_cq *cq)
{
	struct emu_qp *q;
	int i;

	for (i = 0; i < cq->nrqp; i++) {
		q = cq->rqps[i];
		while (cq->n < cq->cap) {
			if (q->held == 0) {
				q->held = recv(q->fd, q->buf, sizeof(q->buf),
					       MSG_DONTWAIT);
				if (q->held < 0) {
					q->held = 0;
					break;	/* EAGAIN, or nothing usable */
				}
				if (q->held == 0) {
					COUNT(rx_bad);
					continue;
				}
			}
			if (!deliver(q, cq))
				break;
			q->held = 0;
		}
	}
}
