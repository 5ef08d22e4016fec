#!/usr/bin/env bash
# The line-rate in-flight cap (inflight_max, --inflight).  On net_null,no-rx
# nothing ever answers: every probe stays in flight until the 1 s timeout
# declares it lost.  With --inflight 100 the prober may send 100 probes in
# the first second, and then as many more as timed out (the last period's
# losses stand for the lost probes not yet timed out): a few hundred in 2 s;
# every turn it holds back is counted (inflight_held), and every probe sent
# is accounted lost.  With --inflight 0 (no cap) the same run sends until
# its flows' tracker rings (16384 probes each at line rate) are full of
# unanswered probes: tens of thousands.
set -u
B=${PM_BUILD:-build}
P=$B/app/prober/pmesh-prober
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

run() { # name, inflight
	timeout 60 "$P" -l 0-1 --no-pci --no-huge -m 256 --log-level=lib.eal:error \
		--file-prefix "pm-inflight-$$-$1" --vdev=net_null0,no-rx=1 -- \
		--src-ip 10.0.0.1 --gateway-mac 02:00:00:00:00:02 --target 10.0.0.2 \
		--line-rate --inflight "$2" --budget-pps 200000 --duration 2 \
		--timeout-ms 1000 --flows 4 --no-status --output "$tmp/$1.json" \
		2>"$tmp/$1.err"
	local rc=$?
	if [ $rc -ne 0 ]; then
		echo "FAIL $1: prober exited $rc"
		cat "$tmp/$1.err"
		fail=1
	fi
}
counter() { # file, name
	sed -n "s/.*counters:.* $2 \([0-9]*\).*/\1/p" "$1"
}

run cap 100
tx=$(counter "$tmp/cap.err" tx_pkts)
held=$(counter "$tmp/cap.err" inflight_held)
lost=$(counter "$tmp/cap.err" lost)
echo "--inflight 100, nothing answers, 2 s: sent ${tx:-?}, lost ${lost:-?}, turns held ${held:-?}"
if [ -z "$tx" ] || [ "$tx" -lt 100 ] || [ "$tx" -gt 700 ]; then
	echo "FAIL: expected 100..700 probes sent under the cap"
	fail=1
fi
if [ -z "$held" ] || [ "$held" -eq 0 ]; then
	echo "FAIL: no held turns counted"
	fail=1
fi
if [ "${lost:-x}" != "${tx:-y}" ]; then
	echo "FAIL: every probe sent must end lost"
	fail=1
fi

run nocap 0
tx=$(counter "$tmp/nocap.err" tx_pkts)
held=$(counter "$tmp/nocap.err" inflight_held)
echo "--inflight 0, 2 s at --budget-pps 200000: sent ${tx:-?}, turns held ${held:-0}"
if [ -z "$tx" ] || [ "$tx" -lt 20000 ] || [ "${held:-0}" -ne 0 ]; then
	echo "FAIL: without a cap only the budget and the tracker rings bound it"
	fail=1
fi
[ $fail -eq 0 ] && echo PASS
exit $fail
