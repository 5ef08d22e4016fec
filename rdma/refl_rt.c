/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reflector threads and device opening (see pm_rdma_rt.h).
 *
 * Every QP is opened on the control thread before any reflector thread
 * starts (buffers on the RNIC's node), so a failure is reported once with
 * the verb that failed and nothing is left half running; the threads then
 * only poll.  Each thread is created already pinned (pthread attribute),
 * so not even its first poll runs on the wrong CPU.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "pm_rdma_ahc.h"
#include "pm_rdma_numa.h"
#include "pm_rdma_refl.h"
#include "pm_rdma_rt.h"
#include "pm_rdma_ud.h"

#define RT_NRECV	512
#define RT_NSEND	256

struct rt_qp {
	struct pm_rdma_ud ud;
	struct pm_rdma_ahc ahc;
	struct pm_rdma_refl refl;
};

struct rt_thr {
	struct pm_rdma_rt *rt;
	pthread_t thr;
	int started;
	int cpu;			/**< -1: not pinned */
	unsigned int nqp;
	struct rt_qp *qp[PM_RDMA_XCHG_MAXQP];
};

struct pm_rdma_rt {
	atomic_int quit;
	unsigned int nthr;
	struct rt_thr thr[PM_RDMA_XCHG_MAXQP];
	struct pm_rdma_xchg_srv *srv;
	struct pm_rdma_peer self;
	uint8_t ts_src;
	const char *ts_why;
};

static void *
rt_main(void *arg)
{
	struct rt_thr *t = arg;
	unsigned int i;

	while (!atomic_load_explicit(&t->rt->quit, memory_order_relaxed))
		for (i = 0; i < t->nqp; i++)
			pm_rdma_refl_poll(&t->qp[i]->refl);
	return NULL;
}

static void
rt_free(struct pm_rdma_rt *rt)
{
	unsigned int i, j;

	for (i = 0; i < rt->nthr; i++) {
		for (j = 0; j < rt->thr[i].nqp; j++) {
			struct rt_qp *q = rt->thr[i].qp[j];

			pm_rdma_ahc_fini(&q->ahc);
			pm_rdma_ud_close(&q->ud);
			free(q);
		}
	}
	free(rt);
}

/* The @i-th CPU of @set, round robin; -1 if the set is empty. */
static int
rt_cpu(const cpu_set_t *set, unsigned int i)
{
	int n = CPU_COUNT(set), c, k = 0;

	if (n == 0)
		return -1;
	i %= (unsigned int)n;
	for (c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, set) && (unsigned int)k++ == i)
			return c;
	return -1;
}

int
pm_rdma_rt_start(struct pm_rdma_rt **rtp, const struct pm_rdma_dev *dev,
		 const struct pm_rdma_rt_cfg *cfg, char *err, size_t errlen)
{
	struct pm_rdma_rt *rt;
	pthread_attr_t attr;
	cpu_set_t one;
	const char *what;
	unsigned int i, j;
	int rc;

	*rtp = NULL;
	if (cfg->nthreads == 0 || cfg->qps_per_thread == 0 ||
	    cfg->nthreads * cfg->qps_per_thread > PM_RDMA_XCHG_MAXQP) {
		snprintf(err, errlen, "threads x qps-per-thread must be 1..%d",
			 PM_RDMA_XCHG_MAXQP);
		return -EINVAL;
	}
	rt = calloc(1, sizeof(*rt));
	if (rt == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memcpy(rt->self.gid, dev->gid.raw, 16);
	rt->self.lid = dev->lid;
	rt->self.link_layer = dev->link_layer;
	rt->self.port = dev->port;
	rt->self.boot_id = pm_rdma_xchg_boot_id();
	snprintf(rt->self.dev, sizeof(rt->self.dev), "%s", dev->name);
	rt->ts_src = PM_TS_HCA;
	for (i = 0; i < cfg->nthreads; i++) {
		struct rt_thr *t = &rt->thr[i];

		t->rt = rt;
		t->cpu = cfg->pin ? rt_cpu(&cfg->cpus, i) : -1;
		rt->nthr++;
		for (j = 0; j < cfg->qps_per_thread; j++) {
			struct rt_qp *q = calloc(1, sizeof(*q));

			if (q == NULL) {
				snprintf(err, errlen, "out of memory");
				rc = -ENOMEM;
				goto fail;
			}
			rc = pm_rdma_ud_open_node(&q->ud, dev->ctx, dev->port,
						  cfg->nrecv ? cfg->nrecv :
						  RT_NRECV,
						  cfg->nsend ? cfg->nsend :
						  RT_NSEND, cfg->ud_flags,
						  cfg->tsc_clk, dev->numa_node,
						  &what);
			if (rc != 0) {
				free(q);
				snprintf(err, errlen, "%s port %u: %s failed: "
					 "%s; check memlock limits (ulimit -l) "
					 "and the device's QP/CQ limits",
					 dev->name, dev->port, what,
					 strerror(-rc));
				goto fail;
			}
			t->qp[t->nqp++] = q;
			if (q->ud.ts_src != PM_TS_HCA) {
				rt->ts_src = q->ud.ts_src;
				rt->ts_why = q->ud.ts_why;
			}
			pm_rdma_ahc_init(&q->ahc, q->ud.pd, dev->port,
					 dev->gid_index, 0, 0);
			pm_rdma_refl_init(&q->refl, &q->ud, pm_rdma_ahc_resolve,
					  &q->ahc);
			rt->self.qpn[rt->self.nqpn++] = pm_rdma_ud_qpn(&q->ud);
		}
	}
	rc = pm_rdma_xchg_start(&rt->srv, cfg->xchg_ip, cfg->xchg_port,
				&rt->self);
	if (rc != 0) {
		snprintf(err, errlen, "QPN exchange server on UDP port %u: %s; "
			 "check --xchg (port in use by another reflector?)",
			 cfg->xchg_port, strerror(-rc));
		goto fail;
	}
	for (i = 0; i < rt->nthr; i++) {
		struct rt_thr *t = &rt->thr[i];

		pthread_attr_init(&attr);
		if (t->cpu >= 0) {
			CPU_ZERO(&one);
			CPU_SET(t->cpu, &one);
			pthread_attr_setaffinity_np(&attr, sizeof(one), &one);
		}
		rc = pthread_create(&t->thr, &attr, rt_main, t);
		pthread_attr_destroy(&attr);
		if (rc != 0) {
			snprintf(err, errlen, "reflector thread %u (cpu %d): "
				 "%s", i, t->cpu, strerror(rc));
			rc = -rc;
			goto fail_threads;
		}
		t->started = 1;
	}
	*rtp = rt;
	return 0;

fail_threads:
	atomic_store(&rt->quit, 1);
	for (i = 0; i < rt->nthr; i++)
		if (rt->thr[i].started)
			pthread_join(rt->thr[i].thr, NULL);
	pm_rdma_xchg_stop(rt->srv);
fail:
	rt_free(rt);
	return rc;
}

const struct pm_rdma_peer *
pm_rdma_rt_self(const struct pm_rdma_rt *rt)
{
	return &rt->self;
}

uint16_t
pm_rdma_rt_xchg_port(const struct pm_rdma_rt *rt)
{
	return pm_rdma_xchg_srv_port(rt->srv);
}

int
pm_rdma_rt_ts_src(const struct pm_rdma_rt *rt, const char **why)
{
	if (why != NULL)
		*why = rt->ts_why;
	return rt->ts_src;
}

static void
rt_report(const struct pm_rdma_rt *rt, FILE *f)
{
	unsigned int i, j, c;

	for (i = 0; i < rt->nthr; i++) {
		const struct rt_thr *t = &rt->thr[i];
		struct pm_rdma_refl_stats s = { 0 };
		struct pm_rdma_ud_stats u = { 0 };
		uint64_t ah_err = 0, ah_full = 0;

		for (j = 0; j < t->nqp; j++) {
			const struct rt_qp *q = t->qp[j];

			s.probes += q->refl.st.probes;
			s.replies += q->refl.st.replies;
			s.followups += q->refl.st.followups;
			s.no_t3 += q->refl.st.no_t3;
			s.no_ah += q->refl.st.no_ah;
			s.pending_full += q->refl.st.pending_full;
			s.send_err += q->refl.st.send_err;
			s.unexpected += q->refl.st.unexpected;
			for (c = 0; c < PM_RDMA_MSG_CAUSE_MAX; c++)
				u.rx_bad[c] += q->ud.st.rx_bad[c];
			u.tx_post_err += q->ud.st.tx_post_err;
			u.tx_busy += q->ud.st.tx_busy;
			u.wc_err += q->ud.st.wc_err;
			u.rx_repost_err += q->ud.st.rx_repost_err;
			u.poll_err += q->ud.st.poll_err;
			ah_err += q->ahc.create_err;
			ah_full += q->ahc.full;
		}
		fprintf(f, "pmesh-rdma reflector: thread %u cpu %d qps %u: "
			"probes %" PRIu64 " replies %" PRIu64 " followups %"
			PRIu64 " no_t3 %" PRIu64 " no_ah %" PRIu64
			" (ah_create_err %" PRIu64 " ah_full %" PRIu64 ")"
			" pending_full %" PRIu64 " send_err %" PRIu64
			" (tx_busy %" PRIu64 " tx_post_err %" PRIu64 ")"
			" unexpected %" PRIu64, i, t->cpu, t->nqp,
			s.probes, s.replies, s.followups, s.no_t3, s.no_ah,
			ah_err, ah_full, s.pending_full, s.send_err,
			u.tx_busy, u.tx_post_err, s.unexpected);
		for (c = 1; c < PM_RDMA_MSG_CAUSE_MAX; c++)
			fprintf(f, " rx_%s %" PRIu64, pm_rdma_msg_cause_str(c),
				u.rx_bad[c]);
		fprintf(f, " wc_err %" PRIu64 " rx_repost_err %" PRIu64
			" poll_err %" PRIu64 "\n", u.wc_err, u.rx_repost_err,
			u.poll_err);
	}
}

void
pm_rdma_rt_stop(struct pm_rdma_rt *rt, FILE *report)
{
	unsigned int i;
	uint64_t answered, ignored;

	if (rt == NULL)
		return;
	atomic_store(&rt->quit, 1);
	for (i = 0; i < rt->nthr; i++)
		if (rt->thr[i].started)
			pthread_join(rt->thr[i].thr, NULL);
	pm_rdma_xchg_srv_counts(rt->srv, &answered, &ignored);
	pm_rdma_xchg_stop(rt->srv);
	if (report != NULL) {
		rt_report(rt, report);
		fprintf(report, "pmesh-rdma reflector: xchg answered %" PRIu64
			" ignored %" PRIu64 "\n", answered, ignored);
	}
	rt_free(rt);
}

int
pm_rdma_dev_open(struct pm_rdma_dev *d, const char *name, int port,
		 int gid_index)
{
	struct ibv_device **list;
	struct ibv_device *dev = NULL;
	struct ibv_context *ctx;
	struct ibv_device_attr da;
	struct ibv_port_attr pa;
	int i, n = 0, rc = -ENODEV;

	memset(d, 0, sizeof(*d));
	list = ibv_get_device_list(&n);
	if (list == NULL || n == 0) {
		fprintf(stderr, "%s: error: no RDMA device%s%s found "
			"(ibverbs sees none; /dev/infiniband %s); load the "
			"RNIC driver or add Soft-RoCE: rdma link add rxe0 "
			"type rxe netdev IF\n",
			program_invocation_short_name,
			name != NULL ? " " : "", name != NULL ? name : "",
			access("/dev/infiniband", F_OK) == 0 ? "exists" :
			"is missing");
		if (list != NULL)
			ibv_free_device_list(list);
		return -ENODEV;
	}
	for (i = 0; i < n && dev == NULL; i++)
		if (name == NULL || strcmp(ibv_get_device_name(list[i]), name) == 0)
			dev = list[i];
	if (dev == NULL) {
		fprintf(stderr, "%s: error: no RDMA device named '%s'; "
			"see `pmesh-rdma list` or `rdma link`\n",
			program_invocation_short_name, name);
		goto out_list;
	}
	snprintf(d->name, sizeof(d->name), "%s", ibv_get_device_name(dev));
	ctx = ibv_open_device(dev);
	if (ctx == NULL) {
		rc = errno != 0 ? -errno : -EIO;
		fprintf(stderr, "%s: error: %s: cannot open device: %s; "
			"check /dev/infiniband permissions and the driver\n",
			program_invocation_short_name,
			d->name, strerror(-rc));
		goto out_list;
	}
	memset(&da, 0, sizeof(da));
	if (ibv_query_device(ctx, &da) != 0 || port < 1 ||
	    port > da.phys_port_cnt) {
		fprintf(stderr, "%s: error: %s: no port %d "
			"(device has %u); check --port\n",
			program_invocation_short_name, d->name, port,
			da.phys_port_cnt);
		rc = -EINVAL;
		goto out_ctx;
	}
	if (ibv_query_port(ctx, (uint8_t)port, &pa) != 0) {
		rc = errno != 0 ? -errno : -EIO;
		fprintf(stderr, "%s: error: %s port %d: query failed: "
			"%s\n",
			program_invocation_short_name, d->name, port, strerror(-rc));
		goto out_ctx;
	}
	if (pa.state != IBV_PORT_ACTIVE) {
		fprintf(stderr, "%s: error: %s port %d is %s, not "
			"ACTIVE; check the cable/netdev (`rdma link`, "
			"`ibstat`)\n",
			program_invocation_short_name, d->name, port,
			ibv_port_state_str(pa.state));
		rc = -ENETDOWN;
		goto out_ctx;
	}
	if (gid_index < 0 || gid_index >= pa.gid_tbl_len || gid_index > 255 ||
	    ibv_query_gid(ctx, (uint8_t)port, gid_index, &d->gid) != 0) {
		fprintf(stderr, "%s: error: %s port %d: bad GID index "
			"%d (table has %d); check `show_gids` for a RoCEv2 "
			"GID with an IP\n",
			program_invocation_short_name, d->name, port, gid_index,
			pa.gid_tbl_len);
		rc = -EINVAL;
		goto out_ctx;
	}
	ibv_free_device_list(list);
	d->ctx = ctx;
	d->port = (uint8_t)port;
	d->gid_index = (uint8_t)gid_index;
	d->link_layer = pa.link_layer;
	d->lid = pa.lid;
	d->numa_node = pm_rdma_numa_dev_node(NULL, d->name);
	return 0;

out_ctx:
	ibv_close_device(ctx);
out_list:
	ibv_free_device_list(list);
	return rc;
}

void
pm_rdma_dev_close(struct pm_rdma_dev *d)
{
	if (d->ctx != NULL)
		ibv_close_device(d->ctx);
	d->ctx = NULL;
}
