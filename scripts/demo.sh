#!/usr/bin/env bash
# demo.sh: README command 1 -- install, build, and watch pmesh probe two
# reflectors for ~20 s on a fresh Debian 12 box (root).
#
# Two network namespaces:
#   pm-*-probe   the DPDK prober on veth "p0" (AF_PACKET PMD), 10.0.0.1
#   pm-*-hosts   a Linux bridge joining
#                  - the kernel: a socket reflector on 10.0.0.2:862
#                  - veth "d0": a DPDK reflector (AF_PACKET PMD), 10.0.0.3
# The prober sends STAMP to both (1000 pps each over 4 flows), shows a live
# status line, writes JSON lines to demo-out/summaries.json and prints the
# per-target table at the end.  Everything it created is removed on exit or
# Ctrl-C.  Environment: DEMO_SECONDS (default 20), DEMO_RATE (default 1000).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
secs=${DEMO_SECONDS:-20}
rate=${DEMO_RATE:-1000}

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: run as root (it installs packages and creates network namespaces)" >&2
	exit 2
fi

echo "== demo: installing what is needed (apt, hugepages) and building"
bash scripts/deps.sh
bash scripts/hugepages.sh 256 || echo "demo: no hugepages; DPDK runs with --no-huge"
bash scripts/build.sh build >/dev/null
B=$root/build
out=$root/demo-out
mkdir -p "$out"

. "$root/scripts/netns.sh"
pm_require_netns

if grep -q '^HugePages_Free: *[1-9]' /proc/meminfo; then
	mem=(--in-memory)
else
	mem=(--no-huge -m 256)
fi
eal=(--no-pci "${mem[@]}" --log-level=lib.eal:error --log-level=lib.telemetry:error)

echo "== demo: two namespaces, a bridge, two reflectors"
pm_ns_add probe
pm_ns_add hosts
pm_veth probe p0 hosts p1
pm_veth hosts d0 hosts d1
pm_exec hosts ip link add br0 type bridge
pm_exec hosts ip link set p1 master br0
pm_exec hosts ip link set d1 master br0
pm_exec hosts ip link set br0 up
pm_addr hosts br0 10.0.0.2/24
pm_dpdk_iface probe p0 hosts p1
pm_dpdk_iface hosts d0 hosts d1

pm_bg pm_exec hosts "$B/app/reflector/pmesh-reflector" --socket --listen 10.0.0.2:862 \
	--stats-ms 0
sock_pid=$PM_BG_PID
pm_bg pm_exec hosts "$B/app/reflector/pmesh-reflector" -l 0-1 --main-lcore 1 \
	"${eal[@]}" --file-prefix "pmdemo-refl-$$" --vdev=net_af_packet0,iface=d0 -- \
	--ip 10.0.0.3 --idle-sleep-us 50 --stats-ms 0
dpdk_pid=$PM_BG_PID
sleep 2
for pid in $sock_pid $dpdk_pid; do
	kill -0 "$pid" 2>/dev/null || pm_fail "a reflector did not start"
done

echo "== demo: probing 10.0.0.2 (socket reflector) and 10.0.0.3 (DPDK reflector)"
echo "   for ${secs} s at ${rate} pps each over 4 flows; JSON lines -> demo-out/summaries.json"
set +e
pm_exec probe "$B/app/prober/pmesh-prober" -l 0-1 "${eal[@]}" \
	--file-prefix "pmdemo-probe-$$" --vdev=net_af_packet0,iface=p0 -- \
	--id demo --src-ip 10.0.0.1 \
	--target 10.0.0.2 --target 10.0.0.3 --rate "$rate" --flows 4 \
	--duration "$secs" --idle-sleep-us 50 --output "$out/summaries.json"
rc=$?
set -e
[ $rc -eq 0 ] || pm_fail "the prober exited with $rc"

n=$(wc -l <"$out/summaries.json")
echo
echo "== demo: $n summaries (one per flow and second) in demo-out/summaries.json; the last one,"
echo "   histograms left out (schema: docs/records.md):"
tail -n 1 "$out/summaries.json" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
d.pop("rtt_hist", None); d.pop("refl_hist", None)
print(json.dumps(d, indent=1))'
echo "== demo: done; try: build/app/prober/pmesh-prober -- --help"
