#!/bin/bash
# rdma suite: needs an RDMA device.  Checks that pmesh-rdma lists the
# devices and at least one port.  (The loopback probe is test_loopback.c;
# the prober<->reflector threads test is not written yet: docs/rdma.md.)
set -u
bin="$PM_BUILD/rdma/pmesh-rdma"
[ -x "$bin" ] || { echo "SKIP: pmesh-rdma not built (no libibverbs)"; exit 77; }
if [ ! -e /dev/infiniband ]; then
	echo "SKIP: no RDMA device (no /dev/infiniband; this kernel has no RDMA;" \
	     "on Soft-RoCE: rdma link add rxe0 type rxe netdev IF)"
	exit 77
fi
out=$("$bin" list) || { echo "FAIL: pmesh-rdma list"; exit 1; }
echo "$out"
grep -q "port 1: " <<<"$out" || { echo "FAIL: no port listed"; exit 1; }
exit 0
