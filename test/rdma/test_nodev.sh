#!/bin/bash
# pmesh-rdma on a machine without RDMA: every mode that needs a device exits
# 2 with a message saying no device was found and what to do.  Where a
# device exists, an unknown device name must give exit 2 naming it.
set -u
bin="$PM_BUILD/rdma/pmesh-rdma"
[ -x "$bin" ] || { echo "SKIP: $bin not built (no libibverbs)"; exit 77; }
fail=0
check() { # expected-rc pattern args...
	local want=$1 pat=$2; shift 2
	local out rc
	out=$("$bin" "$@" 2>&1); rc=$?
	if [ "$rc" -ne "$want" ] || ! grep -q -- "$pat" <<<"$out"; then
		echo "FAIL: pmesh-rdma $*: rc=$rc (want $want), output: $out"
		fail=1
	else
		echo "ok: pmesh-rdma $* -> $rc"
	fi
}
check 0 "Examples" --help
check 2 "unknown mode" bogus
check 2 "bad number .x. for --port" -p x prober
check 2 "bad number .-1. for --gid-index" prober -g -1
check 2 "unexpected argument" prober extra
check 2 "Usage" 
if [ -e /dev/infiniband ] && "$bin" list >/dev/null 2>&1; then
	check 2 "no RDMA device named 'pm_no_such_dev'" prober -d pm_no_such_dev
	check 2 "bad GID index 99999" prober -g 99999
else
	check 2 "no RDMA device" prober
	check 2 "no RDMA device pm_x found" reflector -d pm_x
	check 2 "rdma link add" validate
	check 2 "no RDMA device" list
fi
exit $fail
