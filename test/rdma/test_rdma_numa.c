/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of rdma/numa.c: CPU list parsing, the RNIC's NUMA node and
 * the node's CPUs read from a fake sysfs tree, and node allocation (with
 * or without libnuma the memory is zeroed, page-aligned and freed).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "pm_rdma_numa.h"

static void
test_cpulist(void **state)
{
	cpu_set_t s;

	(void)state;
	assert_int_equal(pm_rdma_cpulist_parse("0-3,8,10-11\n", &s), 7);
	assert_true(CPU_ISSET(0, &s) && CPU_ISSET(3, &s) && CPU_ISSET(8, &s));
	assert_false(CPU_ISSET(4, &s));
	assert_true(CPU_ISSET(11, &s));
	assert_int_equal(pm_rdma_cpulist_parse("5", &s), 1);
	assert_int_equal(pm_rdma_cpulist_parse("1,1,0-1", &s), 2);
	assert_int_equal(pm_rdma_cpulist_parse("", &s), -EINVAL);
	assert_int_equal(pm_rdma_cpulist_parse("3-1", &s), -EINVAL);
	assert_int_equal(pm_rdma_cpulist_parse("1,", &s), -EINVAL);
	assert_int_equal(pm_rdma_cpulist_parse("a", &s), -EINVAL);
	assert_int_equal(pm_rdma_cpulist_parse("1-", &s), -EINVAL);
	assert_int_equal(pm_rdma_cpulist_parse("-1", &s), -EINVAL);
	assert_int_equal(pm_rdma_cpulist_parse("99999", &s), -EINVAL);
	assert_int_equal(pm_rdma_cpulist_parse("1 2", &s), -EINVAL);
	assert_int_equal(pm_rdma_cpulist_parse(NULL, &s), -EINVAL);
}

static void
put(const char *root, const char *rel, const char *text)
{
	char path[512], cmd[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	assert_int_equal(system(cmd), 0);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
test_sysfs(void **state)
{
	char root[] = "/tmp/pm_numa_XXXXXX", cmd[128];
	cpu_set_t s;

	(void)state;
	assert_non_null(mkdtemp(root));
	put(root, "class/infiniband/mlx5_0/device/numa_node", "1\n");
	put(root, "class/infiniband/rxe0/device/numa_node", "-1\n");
	put(root, "class/infiniband/bad/device/numa_node", "x\n");
	put(root, "devices/system/node/node1/cpulist", "4-7,12\n");
	assert_int_equal(pm_rdma_numa_dev_node(root, "mlx5_0"), 1);
	assert_int_equal(pm_rdma_numa_dev_node(root, "rxe0"), -1);
	assert_int_equal(pm_rdma_numa_dev_node(root, "bad"), -1);
	assert_int_equal(pm_rdma_numa_dev_node(root, "none"), -1);
	assert_int_equal(pm_rdma_numa_dev_node(root, "../x"), -1);
	assert_int_equal(pm_rdma_numa_node_cpus(root, 1, &s), 5);
	assert_true(CPU_ISSET(12, &s));
	assert_int_equal(pm_rdma_numa_node_cpus(root, 2, &s), -ENOENT);
	assert_int_equal(pm_rdma_numa_node_cpus(root, -1, &s), -EINVAL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

static void
test_alloc(void **state)
{
	uint8_t *p;
	size_t i;
	int got;

	(void)state;
	/* node 0 exists everywhere libnuma works; -1 is plain allocation */
	p = pm_rdma_numa_alloc(10000, 0, &got);
	assert_non_null(p);
	assert_true(got == 0 || got == -1);
	assert_int_equal((uintptr_t)p % 4096, 0);
	for (i = 0; i < 10000; i++)
		assert_int_equal(p[i], 0);
	memset(p, 1, 10000);
	pm_rdma_numa_free(p, 10000, got);
	p = pm_rdma_numa_alloc(100, -1, &got);
	assert_non_null(p);
	assert_int_equal(got, -1);
	pm_rdma_numa_free(p, 100, got);
	/* a node that does not exist falls back to plain memory */
	p = pm_rdma_numa_alloc(100, 4000, &got);
	assert_non_null(p);
	assert_int_equal(got, -1);
	pm_rdma_numa_free(p, 100, got);
	pm_rdma_numa_free(NULL, 0, -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpulist),
		cmocka_unit_test(test_sysfs),
		cmocka_unit_test(test_alloc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
