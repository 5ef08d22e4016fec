#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# End-to-end test of the kernel-socket reflector (pmesh-reflector --socket)
# on 127.0.0.1, driven by stamp_client.py, a STAMP sender that shares no
# code with pmesh.  Checks: the command line (help, version, usage errors,
# --check-config), 1000 probes each of 44 B and 200 B (padding plus an
# unknown TLV) all answered with a correct RFC 8762 layout, DSCP reflected,
# garbage (short, random, bad TLV, oversized) survived and counted, replies
# never larger than requests, --allow denying loopback, --rate-limit.
#
# Env: PM_BUILD (default /work/main/build).  Exit 0 pass, 1 fail, 77 skip.
set -u

if [ -z "${PM_SOCK_TEST_INNER:-}" ]; then
	export PM_SOCK_TEST_INNER=1
	exec timeout -k 5 60 bash "$0" "$@"
fi

here=$(cd "$(dirname "$0")" && pwd)
build=${PM_BUILD:-/work/main/build}
refl=$build/app/reflector/pmesh-reflector
client=$here/stamp_client.py

command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 77; }
[ -x "$refl" ] || { echo "FAIL: $refl not built"; exit 1; }

tmp=$(mktemp -d /tmp/pm-sock-test.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	sleep 0.2
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fails=0
pass() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

free_port() {
	python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# start_refl LOG ARGS... : run the reflector in the background, wait until
# it listens; sets $rpid.
start_refl() {
	local log=$1 i
	shift
	"$refl" --socket "$@" 2>"$log" &
	rpid=$!
	pids+=("$rpid")
	for i in $(seq 50); do
		grep -q "listening on" "$log" && return 0
		kill -0 "$rpid" 2>/dev/null || break
		sleep 0.1
	done
	echo "reflector did not start:"; cat "$log"
	return 1
}

# stop_refl : SIGTERM, expect exit 0 and a final stats line.
stop_refl() {
	local rc
	kill -TERM "$rpid"
	wait "$rpid"
	rc=$?
	[ "$rc" -eq 0 ] && pass "reflector exits 0 on SIGTERM" ||
		fail "reflector exit code $rc on SIGTERM"
}

# stat LOG NAME : a counter from the final stats line.
stat() {
	awk -v k="$2" '/: final: / {
		sub(/.*: final: /, "")
		for (i = 1; i < NF; i += 2) if ($i == k) print $(i + 1)
	}' "$1"
}

# json FILE KEY : a top-level value of the client's JSON summary.
json() {
	python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

expect_rc() {
	local want=$1 what=$2 rc
	shift 2
	timeout 10 "$@" >"$tmp/out" 2>&1
	rc=$?
	if [ "$rc" -eq "$want" ]; then
		pass "$what (exit $rc)"
	else
		fail "$what: exit $rc, wanted $want"
		cat "$tmp/out"
	fi
}

# --- command line ---------------------------------------------------------
expect_rc 0 "--help" "$refl" --help
grep -q -- "--vdev=net_af_packet0" "$tmp/out" && grep -q -- "--socket" "$tmp/out" &&
	pass "--help teaches both modes" || fail "--help lacks an example"
expect_rc 0 "--version" "$refl" --version
expect_rc 2 "--threads 0" "$refl" --socket --threads 0
expect_rc 2 "--listen junk" "$refl" --socket --listen 1.2.3:x
expect_rc 2 "--allow with host bits" "$refl" --socket --allow 10.0.0.1/8
expect_rc 2 "unknown option" "$refl" --socket --frobnicate
expect_rc 2 "--check-config without -c" "$refl" --check-config

cat >"$tmp/good.cfg" <<'EOF'
reflector = {
    listen = "127.0.0.1:8620";
    threads = 2;
    allow = [ "127.0.0.0/8" ];
    rate_limit_pps = 1000;
};
EOF
cat >"$tmp/bad.cfg" <<'EOF'
reflector = {
    listen = "127.0.0.1:8620";
    threads = 999;
    colour = "blue";
};
EOF
expect_rc 0 "--check-config -c good (no EAL args)" "$refl" --check-config -c "$tmp/good.cfg"
expect_rc 0 "--socket -c good --check-config" "$refl" --socket -c "$tmp/good.cfg" --check-config
expect_rc 2 "--check-config -c bad" "$refl" --check-config -c "$tmp/bad.cfg"
grep -q "bad.cfg:[0-9]*:" "$tmp/out" && pass "config errors carry file:line" ||
	{ fail "config errors lack file:line"; cat "$tmp/out"; }

# --- probes, garbage, counters ---------------------------------------------
port=$(free_port)
log=$tmp/refl.log
start_refl "$log" --listen "127.0.0.1:$port" --threads 2 --stats-ms 200 ||
	exit 1

run_client() {	# OUT ARGS...
	local out=$1
	shift
	timeout 30 python3 "$client" "127.0.0.1:$port" "$@" >"$out"
}

if run_client "$tmp/c44.json" --count 1000 --size 44 --ssid 7 --require-all; then
	pass "1000 x 44 B: all answered, layout good: $(cat "$tmp/c44.json")"
else
	fail "1000 x 44 B: $(cat "$tmp/c44.json")"
fi
if run_client "$tmp/c200.json" --count 1000 --size 200 --ssid 65535 \
	--unknown-tlv --require-all; then
	pass "1000 x 200 B (padding + unknown TLV): all answered: $(cat "$tmp/c200.json")"
else
	fail "1000 x 200 B: $(cat "$tmp/c200.json")"
fi
if run_client "$tmp/ctos.json" --count 100 --size 48 --tos 0xb8 --require-all; then
	pass "DSCP EF reflected on 100 probes"
else
	fail "DSCP: $(cat "$tmp/ctos.json")"
fi
if run_client "$tmp/garbage.json" --garbage --count 20 --oversize 9500; then
	pass "garbage: no reply larger than its request: $(cat "$tmp/garbage.json")"
else
	fail "garbage: $(cat "$tmp/garbage.json")"
fi
kill -0 "$rpid" 2>/dev/null && pass "reflector alive after garbage" ||
	fail "reflector died on garbage"
if run_client "$tmp/after.json" --count 10 --require-all; then
	pass "still answering after garbage"
else
	fail "not answering after garbage: $(cat "$tmp/after.json")"
fi
grep -q "^pmesh-reflector: rx [0-9]* tx" "$log" && pass "periodic stats line" ||
	fail "no periodic stats line"
stop_refl

# 1000 + 1000 + 100 + 10 probes; 3 short + 20 random + bad_tlv + tlv_stub
# + 1 oversize garbage.
rx=$(stat "$log" rx); tx=$(stat "$log" tx)
echo "final: $(grep ': final: ' "$log")"
[ "$rx" = 2136 ] && pass "rx $rx" || fail "rx $rx, wanted 2136"
[ "$tx" = 2132 ] && pass "tx $tx" || fail "tx $tx, wanted 2132"
[ "$(stat "$log" short)" = 3 ] && pass "short 3" || fail "short $(stat "$log" short), wanted 3"
[ "$(stat "$log" oversize)" = 1 ] && pass "oversize 1" || fail "oversize $(stat "$log" oversize), wanted 1"
bt=$(stat "$log" bad_tlv)
[ "${bt:-0}" -ge 2 ] && pass "bad_tlv $bt" || fail "bad_tlv ${bt:-?}, wanted >= 2"
[ "$(stat "$log" tx_err)" = 0 ] && pass "tx_err 0" || fail "tx_err $(stat "$log" tx_err)"

# --- --allow denies loopback ------------------------------------------------
port=$(free_port)
log=$tmp/allow.log
start_refl "$log" --listen "127.0.0.1:$port" --allow 10.0.0.0/8 --stats-ms 0 ||
	exit 1
run_client "$tmp/allow.json" --count 20 --timeout 0.3
[ "$(json "$tmp/allow.json" received)" = 0 ] && pass "--allow 10.0.0.0/8: loopback unanswered" ||
	fail "--allow: $(cat "$tmp/allow.json")"
stop_refl
[ "$(stat "$log" denied)" = 20 ] && pass "denied 20" ||
	fail "denied $(stat "$log" denied), wanted 20"

# --- --rate-limit per source -------------------------------------------------
port=$(free_port)
log=$tmp/rl.log
start_refl "$log" --listen "127.0.0.1:$port" --threads 2 --rate-limit 50 \
	--stats-ms 0 || exit 1
run_client "$tmp/rl.json" --count 300 --window 0 --timeout 0.3
got=$(json "$tmp/rl.json" received)
stop_refl
rl=$(stat "$log" ratelimited)
if [ "$got" -ge 1 ] && [ "$got" -lt 300 ] && [ "${rl:-0}" -eq $((300 - got)) ]; then
	pass "--rate-limit 50: $got of 300 answered, ratelimited $rl"
else
	fail "--rate-limit 50: received $got, ratelimited ${rl:-?}"
fi

if [ "$fails" -ne 0 ]; then
	echo "$fails check(s) failed"
	exit 1
fi
echo "all checks passed"
exit 0
