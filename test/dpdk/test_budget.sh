#!/usr/bin/env bash
# Probe safety: in line-rate mode on net_null (a port that takes everything)
# the prober must send at its budget and never above it, in packets per
# second and in wire Mbit/s.  No in-flight cap (--inflight 0): nothing ever
# answers here, and the budget alone is under test (test_inflight.sh has
# the cap).  Bound: budget x (duration + 10 ms bucket) plus
# the main loop's 50 ms duration granularity.
set -u
B=${PM_BUILD:-build}
P=$B/app/prober/pmesh-prober
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

run() { # name, duration, budget args...
	local name=$1 dur=$2
	shift 2
	timeout 60 "$P" -l 0-1 --no-pci --no-huge -m 256 --log-level=lib.eal:error \
		--file-prefix "pm-budget-$$-$name" --vdev=net_null0 -- \
		--src-ip 10.0.0.1 --gateway-mac 02:00:00:00:00:02 --target 10.0.0.2 \
		--line-rate --inflight 0 --duration "$dur" --timeout-ms 100 --no-status \
		--output "$tmp/$name.json" "$@" 2>"$tmp/$name.err"
	local rc=$?
	if [ $rc -ne 0 ]; then
		echo "FAIL $name: prober exited $rc"; cat "$tmp/$name.err"; fail=1; return
	fi
	sed -n 's/.*counters: tx_pkts \([0-9]*\).*/\1/p' "$tmp/$name.err"
}

dur=3
# 1. packets: 20000 pps ceiling
tx=$(run pps $dur --budget-pps 20000 --flows 4)
if [ -n "$tx" ]; then
	max=$((20000 * dur + 20000 * 60 / 1000 + 200))
	min=$((20000 * dur * 9 / 10))
	echo "pps budget 20000 x ${dur}s: sent $tx (allowed $min..$max)"
	[ "$tx" -le "$max" ] && [ "$tx" -ge "$min" ] || { echo "FAIL pps budget"; fail=1; }
fi
# 2. bytes: 1000-byte payloads (1066 B on the wire) under 10 Mbit/s = 1172 pps
tx=$(run mbps $dur --budget-mbps 10 --size 1000)
if [ -n "$tx" ]; then
	pps=$((10000000 / 8 / 1066))
	max=$((pps * dur + pps * 60 / 1000 + 2))
	min=$((pps * dur * 9 / 10))
	echo "Mbit/s budget 10 x ${dur}s, 1066-byte frames: sent $tx (allowed $min..$max)"
	[ "$tx" -le "$max" ] && [ "$tx" -ge "$min" ] || { echo "FAIL mbps budget"; fail=1; }
fi
# Every probe into net_null is lost, and the records must say so exactly.
if [ $fail -eq 0 ]; then
	python3 - "$tmp/pps.json" <<'PY' || fail=1
import json, sys
s = l = r = 0
for line in open(sys.argv[1]):
    d = json.loads(line)
    s += d["sent"]; l += d["lost"]; r += d["received"]
print(f"records: sent {s} lost {l} received {r}")
sys.exit(0 if s == l and r == 0 and s > 0 else 1)
PY
fi
exit $fail
