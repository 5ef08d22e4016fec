/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm_rdma_numa: where an RNIC's threads and buffers belong.
 *
 * A busy-polling thread and the buffers the HCA DMAs into should sit on
 * the RNIC's NUMA node.  This module reads the node from sysfs
 * (/sys/class/infiniband/DEV/device/numa_node), the node's CPUs
 * (/sys/devices/system/node/nodeN/cpulist), parses CPU lists ("0-3,8,10-11")
 * and allocates on a node with libnuma when the build has it (plain
 * page-aligned allocation otherwise).  No verbs; the sysfs root is a
 * parameter so tests use a fake tree.
 */
#ifndef PM_RDMA_NUMA_H
#define PM_RDMA_NUMA_H

#include <sched.h>
#include <stddef.h>

/** Default sysfs root. */
#define PM_RDMA_SYSFS	"/sys"

/**
 * NUMA node of RDMA device @dev under @sysroot (NULL: /sys); -1 when the
 * device has none (single-node host, virtual device) or it is unreadable.
 */
int pm_rdma_numa_dev_node(const char *sysroot, const char *dev);

/**
 * Parse a kernel CPU list ("0-3,8,10-11\n") into @set (cleared first).
 * Returns the number of CPUs, or -EINVAL (empty, bad syntax, CPU beyond
 * CPU_SETSIZE, descending range).
 */
int pm_rdma_cpulist_parse(const char *s, cpu_set_t *set);

/** CPUs of NUMA node @node under @sysroot into @set; count or -errno. */
int pm_rdma_numa_node_cpus(const char *sysroot, int node, cpu_set_t *set);

/**
 * @len zeroed bytes, page-aligned, on @node when @node >= 0 and libnuma
 * works (then *@got = @node), else plain (*@got = -1).  NULL on failure.
 */
void *pm_rdma_numa_alloc(size_t len, int node, int *got);

/** Free what pm_rdma_numa_alloc() returned (@got as it said). */
void pm_rdma_numa_free(void *p, size_t len, int got);

#endif /* PM_RDMA_NUMA_H */
