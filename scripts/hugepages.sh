#!/usr/bin/env bash
# hugepages.sh: make sure at least N 2 MiB hugepages are reserved for DPDK.
#
# Raises the kernel's reservation when fewer pages are reserved, never lowers
# it, and mounts nothing: pmesh's DPDK programs run with --in-memory, which
# takes hugepages through memfd without a hugetlbfs mount.  The reservation is
# runtime only and goes away at reboot.
#
# Usage: bash scripts/hugepages.sh [N]      (N defaults to 512, i.e. 1 GiB)
# Exit status: 0 when at least N pages are reserved afterwards, 1 otherwise
# (DPDK can still run with --no-huge -m 256).
set -euo pipefail

want=${1:-512}
case $want in
'' | *[!0-9]*)
	echo "usage: $0 [N]  (N = number of 2 MiB hugepages)" >&2
	exit 2
	;;
esac

# The /proc knob counts pages of the default size; use the per-size sysfs
# knob instead when the default is not 2 MiB.
knob=/proc/sys/vm/nr_hugepages
defsize=$(awk '/^Hugepagesize:/ { print $2 }' /proc/meminfo 2>/dev/null || true)
if [ "$defsize" != 2048 ] && [ -e /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages ]; then
	knob=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
fi
if [ ! -r "$knob" ]; then
	echo "hugepages: $knob not found; this kernel has no 2 MiB hugepages (use --no-huge)"
	exit 1
fi

have=$(cat "$knob")
if [ "$have" -lt "$want" ]; then
	# The kernel may give fewer pages than asked when memory is fragmented.
	if ! echo "$want" 2>/dev/null >"$knob"; then
		echo "hugepages: cannot write $knob (not root, or read-only /proc/sys)"
	fi
	have=$(cat "$knob")
fi

free=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo 2>/dev/null || echo "?")
echo "hugepages: $have x 2 MiB reserved ($((have * 2)) MiB), $free free; wanted $want"
if [ "$have" -lt "$want" ]; then
	echo "hugepages: fewer than wanted; DPDK programs may need --no-huge -m 256"
	exit 1
fi
