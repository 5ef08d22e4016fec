/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NUMA placement of the RDMA engine (see pm_rdma_numa.h).  libnuma is used
 * only for allocation, and only when the build found it (PM_HAVE_NUMA);
 * node and CPU discovery read sysfs directly so that they are testable on
 * a fake tree.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef PM_HAVE_NUMA
#include <numa.h>
#endif

#include "pm_rdma_numa.h"

#define NUMA_PAGE	4096

static size_t
numa_len(size_t len)
{
	if (len == 0)
		return NUMA_PAGE;
	return (len + NUMA_PAGE - 1) & ~(size_t)(NUMA_PAGE - 1);
}

/* First line of @path into @buf; 0 or -errno. */
static int
read_line(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	int rc = 0;

	if (f == NULL)
		return -errno;
	if (fgets(buf, (int)cap, f) == NULL)
		rc = -EIO;
	fclose(f);
	return rc;
}

int
pm_rdma_numa_dev_node(const char *sysroot, const char *dev)
{
	char path[512], buf[32], *end;
	long v;

	if (dev == NULL || strchr(dev, '/') != NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/class/infiniband/%s/device/numa_node",
		 sysroot != NULL ? sysroot : PM_RDMA_SYSFS, dev);
	if (read_line(path, buf, sizeof(buf)) != 0)
		return -1;
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno != 0 || end == buf || (*end != '\0' && *end != '\n') ||
	    v < 0 || v > 4095)
		return -1;
	return (int)v;
}

static int
parse_cpu(const char **s, unsigned long *v)
{
	char *end;

	if (!isdigit((unsigned char)**s))
		return -EINVAL;
	errno = 0;
	*v = strtoul(*s, &end, 10);
	if (errno != 0 || *v >= CPU_SETSIZE)
		return -EINVAL;
	*s = end;
	return 0;
}

int
pm_rdma_cpulist_parse(const char *s, cpu_set_t *set)
{
	unsigned long a, b, i;
	int n = 0;

	CPU_ZERO(set);
	if (s == NULL)
		return -EINVAL;
	for (;;) {
		if (parse_cpu(&s, &a) != 0)
			return -EINVAL;
		b = a;
		if (*s == '-') {
			s++;
			if (parse_cpu(&s, &b) != 0 || b < a)
				return -EINVAL;
		}
		for (i = a; i <= b; i++) {
			if (!CPU_ISSET(i, set))
				n++;
			CPU_SET(i, set);
		}
		if (*s == ',') {
			s++;
			continue;
		}
		if (*s == '\n')
			s++;
		break;
	}
	return *s == '\0' ? n : -EINVAL;
}

int
pm_rdma_numa_node_cpus(const char *sysroot, int node, cpu_set_t *set)
{
	char path[512], buf[4096];
	int rc;

	CPU_ZERO(set);
	if (node < 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/devices/system/node/node%d/cpulist",
		 sysroot != NULL ? sysroot : PM_RDMA_SYSFS, node);
	rc = read_line(path, buf, sizeof(buf));
	if (rc != 0)
		return rc;
	return pm_rdma_cpulist_parse(buf, set);
}

void *
pm_rdma_numa_alloc(size_t len, int node, int *got)
{
	size_t alen = numa_len(len);
	void *p;

	*got = -1;
#ifdef PM_HAVE_NUMA
	if (node >= 0 && numa_available() >= 0 && node <= numa_max_node()) {
		p = numa_alloc_onnode(alen, node);
		if (p != NULL) {
			memset(p, 0, alen);
			*got = node;
			return p;
		}
	}
#else
	(void)node;
#endif
	p = aligned_alloc(NUMA_PAGE, alen);
	if (p != NULL)
		memset(p, 0, alen);
	return p;
}

void
pm_rdma_numa_free(void *p, size_t len, int got)
{
	if (p == NULL)
		return;
#ifdef PM_HAVE_NUMA
	if (got >= 0) {
		numa_free(p, numa_len(len));
		return;
	}
#else
	(void)len;
	(void)got;
#endif
	free(p);
}
