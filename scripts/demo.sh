#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# demo.sh: README command 1 -- pmesh finds a faulty spine.  On a fresh
# Debian 12 box, as root: installs and builds, then
#  1. brings up a data-center fabric in network namespaces
#     (scripts/fabric.sh: 2 pods x 2 ToRs x 2 hosts x 4 spines) and starts a
#     socket reflector on every host;
#  2. starts pmesh-kafka-mock (librdkafka's mock cluster) and the
#     aggregator next to the pod-1 probe appliance (the mock listens on
#     127.0.0.1 only, so Kafka's clients share the appliance's namespace;
#     the aggregator's web page is reachable from the host through a small
#     management link);
#  3. writes the appliance's pinglist with pmesh-ctl and runs pmesh-prober
#     on its DPDK port (AF_PACKET), with path discovery on;
#  4. lets the fabric run clean, then drops 5 % of the packets on spine 2,
#     and prints every table window as it closes until the alert names
#     spine2 -- and how long after the fault it came;
#  5. tears everything down on exit or Ctrl-C.
# About 2 minutes.  Outputs stay in demo-out/ (tables.json, paths and
# summaries from the prober's JSON, logs).
#
# Environment: DEMO_CLEAN_S (clean phase, default 25), DEMO_FAULT ("drop 5
# spine 2"; any fabric.sh fault), DEMO_EXPECT (the element the alert must
# name, default spine2, or kind:K; "none" for a clean run), DEMO_FAULT_S
# (how long to wait for it, default 60), DEMO_RATE (pps per target, default
# 200), DEMO_FLOWS (flows per target; default: enough to cover the spines),
# DEMO_WINDOW_MS (tables, default 10000), DEMO_AFTER_WINDOWS (windows shown
# after the alert, default 1), DEMO_NO_INSTALL=1 (skip apt and
# the build: tests), DEMO_OUT (default demo-out).
# Exit status: 0 when the expected alert came (or, for "none", no alert),
# 1 otherwise, 2 on setup errors.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 2
clean_s=${DEMO_CLEAN_S:-25}
fault=${DEMO_FAULT:-drop 5 spine 2}
expect=${DEMO_EXPECT:-spine2}
fault_s=${DEMO_FAULT_S:-60}
rate=${DEMO_RATE:-200}
flows=${DEMO_FLOWS:+--flows $DEMO_FLOWS}
window_ms=${DEMO_WINDOW_MS:-10000}
out=${DEMO_OUT:-$root/demo-out}
name=demo$(( $$ % 100 ))
B=${PM_BUILD:-$root/build}
F="bash $root/scripts/fabric.sh --name $name"
pids=()

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: run as root (it installs packages and creates network namespaces)" >&2
	exit 2
fi
if [ -z "${DEMO_NO_INSTALL:-}" ]; then
	echo "== demo: installing what is needed (apt, hugepages) and building"
	bash scripts/deps.sh || exit 2
	bash scripts/build.sh build >/dev/null || exit 2
fi
for f in "$B/app/prober/pmesh-prober" "$B/app/reflector/pmesh-reflector" \
	 "$B/app/aggregator/pmesh-aggregator" "$B/app/ctl/pmesh-ctl" \
	 "$B/kafka_sink/pmesh-kafka-mock"; do
	[ -x "$f" ] || { echo "demo: $f is not built" >&2; exit 2; }
done

cleanup() {
	local p
	trap - EXIT INT TERM
	for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do
		timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null
	done
	$F down >/dev/null 2>&1
	rm -rf "/var/run/dpdk/pmdemo$$"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted"; exit 130' INT TERM
bg() { "$@" & pids+=($!); }

rm -rf "$out"
mkdir -p "$out"
echo "== demo: a fabric of 2 pods x 2 ToRs x 2 hosts, 4 spines (scripts/fabric.sh)"
$F up >"$out/fabric.txt" 2>&1 || { cat "$out/fabric.txt"; exit 2; }
sed 's/^/   /' "$out/fabric.txt"
topo=$(sed -n 's/^  topology: //p' "$out/fabric.txt")
cp "$topo" "$out/topology.cfg"

echo "== demo: a socket reflector on each of the 8 hosts"
for p in 1 2; do for t in 1 2; do for h in 1 2; do
	bg $F exec "p${p}t${t}h$h" "$B/app/reflector/pmesh-reflector" --socket \
		--listen 0.0.0.0:862 --stats-ms 0 2>>"$out/reflectors.log"
done; done; done

# The appliance's namespace holds Kafka's clients; a management veth lets
# the host reach the aggregator's web page.
app=pmf$name-p1a
ip link add "pmdm$name" type veth peer name mgmt netns "$app" || exit 2
ip addr add 169.254.77.1/30 dev "pmdm$name"
ip link set "pmdm$name" up
ip -n "$app" addr add 169.254.77.2/30 dev mgmt
ip -n "$app" link set mgmt up
url=http://169.254.77.2:8080/

echo "== demo: pmesh-kafka-mock (3 brokers) and pmesh-aggregator (tables every $((window_ms / 1000)) s)"
bg $F exec p1a "$B/kafka_sink/pmesh-kafka-mock" --brokers 3 --partitions 4 \
	--bootstrap-file "$out/bootstrap" --quiet >"$out/mock.out" 2>"$out/mock.err"
for _ in $(seq 100); do [ -s "$out/bootstrap" ] && break; sleep 0.1; done
[ -s "$out/bootstrap" ] || { echo "demo: the Kafka mock did not start" >&2; cat "$out/mock.err"; exit 2; }
bs=$(cat "$out/bootstrap")
bg $F exec p1a "$B/app/aggregator/pmesh-aggregator" -b "$bs" --topology "$topo" \
	--window-ms "$window_ms" --grace-ms 1000 --partition-idle-ms 3000 \
	--output "$out/tables.json" --alerts-output "$out/alerts.json" \
	--http 169.254.77.2:8080 2>"$out/aggregator.log"

echo "== demo: the pod-1 appliance's pinglist (pmesh-ctl pinglist --appliance pod1)"
cat >"$out/appliance-base.cfg" <<EOF
prober = {
	id = "pod1-appliance";
	src_ip = "10.64.0.250";		# on the appliance's DPDK port
	gateway = "10.64.0.1";		# its ToR
	window_ms = 1000;
	idle_sleep_us = 50;		# a shared 2-core box: do not spin
	trace_interval_s = 10;		# path discovery: flows -> spines
	sink = "kafka";
};
kafka = {
	bootstrap = "$bs";
	encoding = "binary";
	spool = false;
};
EOF
"$B/app/ctl/pmesh-ctl" pinglist --topology "$topo" --appliance pod1 --rate "$rate" $flows \
	--base "$out/appliance-base.cfg" -o "$out/appliance.cfg" 2>&1 | sed 's/^/   /'

echo "== demo: pmesh-prober on the appliance"
if grep -q '^HugePages_Free: *[1-9]' /proc/meminfo; then mem="--in-memory"; else mem="--no-huge -m 256"; fi
bg $F exec p1a "$B/app/prober/pmesh-prober" -l 0-1 --no-pci $mem --log-level=lib.eal:error \
	--file-prefix "pmdemo$$" --vdev=net_af_packet0,iface=eth0 -- -c "$out/appliance.cfg" \
	--no-status 2>"$out/prober.log"

echo "== demo: the tables, as each window closes (the page: $url)"
bg python3 "$root/scripts/demo-tables.py" "$out/tables.json"
sleep "$clean_s"
kill "${pids[-1]}" 2>/dev/null
unset 'pids[-1]'

if [ "$fault" = none ]; then
	echo; echo "== demo: no fault: watching $fault_s s more for any alert"
	python3 "$root/scripts/demo-tables.py" "$out/tables.json" --alerts "$out/alerts.json" \
		--until-alert '*' \
		--timeout "$fault_s"
	rc=$?
	[ $rc -eq 1 ] && rc=0 || rc=1
else
	echo
	echo "== demo: fault: $fault (scripts/fabric.sh fault $fault)"
	$F fault $fault | sed 's/^/   /'
	at=$(date +%s.%N)
	echo "$at" >"$out/fault_at"
	python3 "$root/scripts/demo-tables.py" "$out/tables.json" --alerts "$out/alerts.json" \
		--fault-at "$at" \
		--until-alert "$expect" --timeout "$fault_s"
	rc=$?
	if [ $rc -eq 0 ]; then
		echo
		echo "== demo: the alert named $expect $(awk -v a="$at" -v b="$(date +%s.%N)" \
			'BEGIN { printf "%.1f", b - a }') s after the fault (an early alert:" \
			"two 1 s probe windows in a row showed it; the $((window_ms / 1000)) s" \
			"table window closes later)"
		if [ "${DEMO_AFTER_WINDOWS:-1}" -gt 0 ]; then
			echo "== demo: the next window, wholly under the fault"
			python3 "$root/scripts/demo-tables.py" "$out/tables.json" \
				--windows "${DEMO_AFTER_WINDOWS:-1}" \
				--timeout $((window_ms * 2 / 1000 + 5)) || true
		fi
	else
		echo "== demo: no alert named $expect within $fault_s s" >&2
	fi
fi
echo "== demo: the heatmap page: $url (while the demo runs); tables in $out/tables.json"
curl -s --max-time 5 -o "$out/page.html" "$url" || true
exit $rc
