#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# bench-pinglist.sh: what the pinglist controller costs for a whole data
# center.  A benchmark, not a test.
#
# A topology of 50 pods x 50 racks x 40 servers (100,000 servers, 2,500
# racks, 8 spines; one pattern) and `pmesh-ctl pinglist --all`: every
# server's list (its rack, k = 2 pairs per rack pair of its pod, k-pod = 1
# per pod pair), computed and counted.  Rounds, their times and the median
# are printed; the target is under 1 s for the 100,000 lists.
#
# Usage: bash scripts/bench-pinglist.sh
# Environment: BENCH_ROUNDS=5, BENCH_BUILD=build, BENCH_PODS=50,
#              BENCH_RACKS=50 (per pod), BENCH_SERVERS=40 (per rack)
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 2
rounds=${BENCH_ROUNDS:-5}
bdir=${BENCH_BUILD:-build}
pods=${BENCH_PODS:-50}
racks=${BENCH_RACKS:-50}
servers=${BENCH_SERVERS:-40}
ctl=$bdir/app/ctl/pmesh-ctl
work=$(mktemp -d /tmp/pm-benchpl.XXXXXX)
trap 'rm -rf "$work"' EXIT

if [ ! -x "$ctl" ]; then
	bash scripts/build.sh "$bdir" >/dev/null || { echo "bench: build failed" >&2; exit 2; }
fi
{
	echo "topology = {"
	echo "  patterns = ( { pods = $pods; racks_per_pod = $racks; pod_name = \"pod%u\";"
	echo "                 rack_name = \"pod%u-r%u\"; base = \"10.0.0.0\"; rack_prefix = 26;"
	echo "                 tor_host = 1; servers = $servers; server_first = 10; } );"
	echo "  spines = ("
	for s in 1 2 3 4 5 6 7 8; do
		echo "    { name = \"spine$s\"; }$([ $s -lt 8 ] && echo ,)"
	done
	echo "  );"
	echo "};"
} >"$work/topo.cfg"

echo "bench-pinglist: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg);" \
	"$pods pods x $racks racks x $servers servers = $((pods * racks * servers)) servers"
: >"$work/t"
for r in $(seq "$rounds"); do
	line=$("$ctl" pinglist --topology "$work/topo.cfg" --all) ||
		{ echo "bench: pmesh-ctl failed" >&2; exit 1; }
	echo "  round $r: $line"
	echo "$line" | sed -n 's/.* in \([0-9.]*\) s .*/\1/p' >>"$work/t"
done
med=$(sort -g "$work/t" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
echo "median: $med s for $((pods * racks * servers)) servers' pinglists (target < 1 s)"
