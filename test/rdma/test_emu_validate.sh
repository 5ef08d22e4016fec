#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# pmesh-rdma reflector and validate on the emulated verbs device
# (test/rdma/verbs_emu.c: UD QPs as UDP sockets on 127.0.0.1, an emulated
# HCA clock).  Two "hosts" (two processes, devices emu0 and emu1, each with
# its own exchange port) run the same validate command against each other;
# then a lossy run must fail the loss threshold (exit 1), the TSC path must
# work, a reflector with 2 threads x 2 QPs serves 4 QPNs and prints
# per-thread counters on SIGTERM, and bad input exits 2.
#
# Env: PM_BUILD (build dir); meson sets it.  Exit 0 pass, 1 fail, 77 skip.
set -u
build=${PM_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
bin=$build/test/rdma/pmesh-rdma-emu
[ -x "$bin" ] || { echo "SKIP: $bin not built (no libibverbs)"; exit 77; }

tmp=$(mktemp -d)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${pids[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

pa=$((20000 + RANDOM % 20000))
pb=$((pa + 1))
common=(--duration 2 --rate 500 --timeout-ms 300 --wait 5 --cpus none)

# 1. Two hosts validate each other (and themselves): exit 0, a table row
#    per peer with samples and hca stamps.
"$bin" validate -d emu0 -g 1 --xchg "127.0.0.1:$pa" --peer "127.0.0.1:$pa" \
	--peer "127.0.0.1:$pb" --max-loss 1 --max-p99-us 100000 "${common[@]}" \
	>"$tmp/a.out" 2>"$tmp/a.err" &
a=$!; pids+=("$a")
"$bin" validate -d emu1 -g 1 --xchg "127.0.0.1:$pb" --peer "127.0.0.1:$pa" \
	--peer "127.0.0.1:$pb" --max-loss 1 --max-p99-us 100000 "${common[@]}" \
	>"$tmp/b.out" 2>"$tmp/b.err" &
b=$!; pids+=("$b")
wait "$a"; ra=$?
wait "$b"; rb=$?
for h in a b; do
	echo "--- host $h"; cat "$tmp/$h.out"
done
[ "$ra" -eq 0 ] || { fail "validate a exit $ra"; cat "$tmp/a.err"; }
[ "$rb" -eq 0 ] || { fail "validate b exit $rb"; cat "$tmp/b.err"; }
n=$(grep -c " hca ok$" "$tmp/a.out")
[ "$n" -eq 2 ] || fail "host a: want 2 passing hca rows, got $n"
grep -q "probes [1-9]" "$tmp/a.err" || fail "host a: reflector counters missing"
# sent ~ 2 s x 500 pps per pair
awk '$4 ~ /^[0-9]+$/ && ($5 < 800 || $5 > 1100) { bad = 1 } END { exit bad }' \
	"$tmp/a.out" || fail "host a: sent counts off"

# 2. 20% drop in the emulation: loss > 1% fails, exit 1.
PM_VERBS_EMU_DROP=0.2 PM_VERBS_EMU_SEED=7 "$bin" validate -d emu0 -g 1 \
	--xchg "127.0.0.1:$pa" --peer "127.0.0.1:$pa" --max-loss 1 \
	--max-p99-us 100000 "${common[@]}" >"$tmp/l.out" 2>"$tmp/l.err"
rc=$?
cat "$tmp/l.out"
[ "$rc" -eq 1 ] || fail "lossy validate exit $rc (want 1)"
grep -q "FAIL (loss)" "$tmp/l.out" || fail "lossy validate: no loss failure"

# 3. No CQE timestamps: the TSC path, still passing.
PM_VERBS_EMU_NO_HWTS=1 "$bin" validate -d emu0 -g 1 --xchg "127.0.0.1:$pa" \
	--peer "127.0.0.1:$pa" --max-p99-us 100000 "${common[@]}" \
	>"$tmp/t.out" 2>"$tmp/t.err"
rc=$?
cat "$tmp/t.out"
[ "$rc" -eq 0 ] || { fail "tsc validate exit $rc"; cat "$tmp/t.err"; }
grep -q " tsc ok$" "$tmp/t.out" || fail "tsc validate: no tsc row"

# 4. Reflector: 2 threads x 2 QPs, 4 QPNs, per-thread counters on SIGTERM.
"$bin" reflector -d emu1 -g 1 --threads 2 --qps-per-thread 2 \
	--xchg "127.0.0.1:$pb" >"$tmp/r.out" 2>"$tmp/r.err" &
r=$!; pids+=("$r")
for _ in $(seq 50); do
	grep -q "qpn" "$tmp/r.out" && break
	sleep 0.1
done
grep -Eq "qpn [0-9]+,[0-9]+,[0-9]+,[0-9]+$" "$tmp/r.out" ||
	fail "reflector: want 4 QPNs: $(cat "$tmp/r.out")"
"$bin" validate -d emu0 -g 1 --xchg "127.0.0.1:$pa" --peer "127.0.0.1:$pb" \
	--max-p99-us 100000 "${common[@]}" >"$tmp/v.out" 2>&1 ||
	fail "validate against the reflector: $(cat "$tmp/v.out")"
grep -q "emu1 .*   4 " "$tmp/v.out" || fail "validate: peer with 4 QPs not seen"
kill -TERM "$r"
wait "$r"; rc=$?
cat "$tmp/r.err"
[ "$rc" -eq 0 ] || fail "reflector exit $rc after SIGTERM"
[ "$(grep -c "thread [01] cpu" "$tmp/r.err")" -eq 2 ] ||
	fail "reflector: want 2 per-thread counter lines"
grep -q "rx_no_imm 0" "$tmp/r.err" || fail "reflector: refusal causes missing"

# 5. Bad input: exit 2 with what to check.
check2() { # pattern args...
	local pat=$1 out rc; shift
	out=$("$bin" "$@" 2>&1); rc=$?
	if [ "$rc" -ne 2 ] || ! grep -q -- "$pat" <<<"$out"; then
		fail "pmesh-rdma-emu $*: rc=$rc, output: $out"
	else
		echo "ok: $* -> 2"
	fi
}
check2 "no RDMA device named 'emu9'" reflector -d emu9
check2 "bad GID index 99" reflector -d emu0 -g 99
check2 "validate needs peers" validate -d emu0 -g 1
check2 "bad --peer" validate -d emu0 --peer 1.2.3
check2 "bad --cpus" reflector -d emu0 --cpus 9-1
check2 "at most 64 QPs" reflector -d emu0 --threads 9 --qps-per-thread 8
check2 "is not IPv4" validate -d emu0 --peers /dev/stdin <<<"nonsense"
PM_VERBS_EMU_PORT_DOWN=emu0 check2 "emu0 port 1 is .*not ACTIVE" reflector -d emu0
"$bin" reflector -d emu1 -g 1 --xchg "127.0.0.1:$pb" >/dev/null 2>&1 &
r=$!; pids+=("$r")
sleep 0.5
check2 "port in use" reflector -d emu0 -g 1 --xchg "127.0.0.1:$pb"

[ "$fails" -eq 0 ] && echo "PASS" || echo "$fails failure(s)"
[ "$fails" -eq 0 ]
