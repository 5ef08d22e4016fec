#!/usr/bin/env bash
# demo-basic.sh: install, build, and watch pmesh probe two
# reflectors for ~20 s on a fresh Debian 12 box (root).
#
# Two network namespaces:
#   pm-*-probe   the DPDK prober on veth "p0" (AF_PACKET PMD), 10.0.0.1
#   pm-*-hosts   a Linux bridge joining
#                  - the kernel: a socket reflector on 10.0.0.2:862
#                  - veth "d0": a DPDK reflector (AF_PACKET PMD), 10.0.0.3
# The prober sends STAMP to both (1000 pps each over 4 flows), shows a live
# status line, and streams its summaries and events into Kafka: here
# pmesh-kafka-mock, librdkafka's mock cluster, which listens on 127.0.0.1
# only -- so it runs in the prober's namespace, next to its clients (a real
# deployment points --kafka at real brokers).  Halfway through, the brokers
# go away for 5 s: the status line shows the spool filling and draining.
# At the end pmesh-cat reads back what arrived (demo-out/summaries.json),
# and the prober prints its per-target table.  Everything it created is
# removed on exit or Ctrl-C.  Environment: DEMO_SECONDS (default 20),
# DEMO_RATE (default 1000).
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

echo "== demo: a Kafka cluster (pmesh-kafka-mock: 3 brokers, topics pmesh.summaries/events)"
rm -f "$out/bootstrap" "$out/mock.ctl" "$out/summaries.json" "$out/events.json"
rm -rf "$out/spool"
pm_bg pm_exec probe "$B/kafka_sink/pmesh-kafka-mock" --brokers 3 --partitions 8 \
	--bootstrap-file "$out/bootstrap" --control "$out/mock.ctl" --quiet >"$out/mock.out"
mock_pid=$PM_BG_PID
for _ in $(seq 50); do [ -s "$out/bootstrap" ] && break; sleep 0.1; done
[ -s "$out/bootstrap" ] || pm_fail "pmesh-kafka-mock did not start"
bs=$(cat "$out/bootstrap")
echo "   bootstrap servers: $bs (in namespace $(pm_ns probe))"

echo "== demo: probing 10.0.0.2 (socket reflector) and 10.0.0.3 (DPDK reflector)"
echo "   for ${secs} s at ${rate} pps each over 4 flows, into Kafka (binary encoding);"
echo "   the brokers go down at $((secs / 2)) s for 5 s: records spool, then replay"
( sleep $((secs / 2)); echo "down all" >"$out/mock.ctl"; sleep 5;
  echo "up all" >"$out/mock.ctl" ) &
fault_pid=$!
pm_on_exit "kill $fault_pid 2>/dev/null"
set +e
pm_exec probe "$B/app/prober/pmesh-prober" -l 0-1 "${eal[@]}" \
	--file-prefix "pmdemo-probe-$$" --vdev=net_af_packet0,iface=p0 -- \
	--id demo --src-ip 10.0.0.1 \
	--target 10.0.0.2 --target 10.0.0.3 --rate "$rate" --flows 4 \
	--duration "$secs" --idle-sleep-us 50 \
	--kafka "$bs" --spool-dir "$out/spool" --kafka-queue-ms 2000
rc=$?
set -e
wait "$fault_pid" 2>/dev/null || true
[ $rc -eq 0 ] || pm_fail "the prober exited with $rc"

echo
echo "== demo: what arrived in Kafka, read back with pmesh-cat (deduplicated by record id):"
pm_exec probe "$B/app/ctl/pmesh-cat" -b "$bs" -t pmesh.summaries --exit-at-end --dedup \
	--stats >"$out/summaries.json"
pm_exec probe "$B/app/ctl/pmesh-cat" -b "$bs" -t pmesh.events --exit-at-end \
	>"$out/events.json" 2>/dev/null
n=$(wc -l <"$out/summaries.json")
echo "   events: $(grep -o '"event":"[a-z_]*"' "$out/events.json" | cut -d'"' -f4 | sort |
	uniq -c | awk '{printf "%s %s, ", $2, $1}' | sed 's/, $//')"
echo "   $n summaries (one per flow and second) in demo-out/summaries.json; the last one,"
echo "   histograms left out (schema: docs/records.md):"
tail -n 1 "$out/summaries.json" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
d.pop("rtt_hist", None); d.pop("refl_hist", None)
print(json.dumps(d, indent=1))'
echo "== demo: done; try: build/app/prober/pmesh-prober -- --help"
