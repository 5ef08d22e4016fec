#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# pmesh-prober's RDMA engine against pmesh-rdma reflector threads, end to
# end, on the emulated verbs of test/rdma/verbs_emu.c (UD sends as UDP
# datagrams on 127.0.0.1, an emulated HCA clock for CQE timestamps).  The
# emulation is a test seam for this machine, which has no RDMA device; the
# same programs built without it run on Soft-RoCE and ConnectX (suite rdma,
# docs/rdma.md).  What it shows: QPN exchange, several QPs per target,
# probe -> reply -> follow-up matching, the prober's host delay in every
# record (host_delay_ns), a reflector restart followed (new QPNs learned
# without restarting the prober), records of engine rdma-ud with
# hca (or tsc) timestamps, loss accounting against a known drop rate, and
# clear exit-2 errors for a wrong device, GID index, a port that is down or
# a QP the RNIC refuses.
#
# Env: PM_BUILD (build dir); meson sets it.  Exit 0 pass, 1 fail, 77 skip.

set -u

build=${PM_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
prober=$build/test/rdma/pmesh-prober-emu
refl=$build/test/rdma/pmesh-rdma-emu

if [[ ! -x $prober || ! -x $refl ]]; then
	echo "SKIP: $prober or $refl not built (needs libibverbs-dev and DPDK)"
	exit 77
fi

tmp=$(mktemp -d)
rpid=
cleanup() {
	if [[ -n $rpid ]] && kill -0 "$rpid" 2>/dev/null; then
		kill -TERM "$rpid" 2>/dev/null
		for _ in $(seq 50); do
			kill -0 "$rpid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$rpid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# EAL without hugepages (docs/config.md): only lcores and rings are needed.
eal=(-l 0-1 --no-pci --no-huge -m 256 --log-level=lib.eal:error)
xport=$((20000 + RANDOM % 20000))

# start_refl ENV...: a reflector on emu1 with 2 threads x 2 QPs.
start_refl() {
	env "$@" "$refl" reflector -d emu1 -g 1 --threads 2 --qps-per-thread 2 \
		--xchg "127.0.0.1:$xport" >"$tmp/refl.out" 2>&1 &
	rpid=$!
	for _ in $(seq 50); do
		grep -q "qpn\|QPN" "$tmp/refl.out" 2>/dev/null && return 0
		kill -0 "$rpid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$tmp/refl.out"
	return 1
}

stop_refl() {
	kill -TERM "$rpid" 2>/dev/null
	wait "$rpid" 2>/dev/null
	rpid=
}

# run_prober NAME ENV... -- ARGS...: JSON records to $tmp/NAME.json.
run_prober() {
	local name=$1 envs=()

	shift
	while [[ $1 != -- ]]; do
		envs+=("$1")
		shift
	done
	shift
	timeout -k 5 60 env "${envs[@]}" "$prober" "${eal[@]}" -- --engine rdma \
		--rdma-device emu0 --rdma-gid-index 1 --target "127.0.0.1:$xport" \
		--no-status -o "$tmp/$name.json" "$@" >"$tmp/$name.out" 2>&1
}

# sum FILE KEY: the sum of KEY over the summaries of FILE.
sum() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
t = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("kind") == "summary":
        t += r.get(sys.argv[2], 0)
print(t)
EOF
}

# 1. Clean: every probe answered, every record rdma-ud with HCA stamps,
#    network RTT below the raw RTT, 4 flows on 4 distinct QPs.
start_refl PM_VERBS_EMU_SEED=1 || { fail "reflector did not start"; exit 1; }
run_prober clean PM_VERBS_EMU_SEED=2 -- --rate 400 --flows 4 --duration 4
rc=$?
[[ $rc -eq 0 ]] || { fail "clean run exit $rc"; cat "$tmp/clean.out"; }
python3 - "$tmp/clean.json" <<'EOF' || fails=$((fails + 1))
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
s = [r for r in recs if r.get("kind") == "summary"]
sent = sum(r["sent"] for r in s)
recv = sum(r["received"] for r in s)
lost = sum(r["lost"] for r in s)
bad = [r for r in s if r["engine"] != "rdma-ud" or r["ts_tx"] != "hca" or r["ts_rx"] != "hca"]
flows = {(r["flow"], r["sport"]) for r in s}
n_rtt = sum(r.get("rtt_ns", {}).get("n", 0) for r in s)
n_host = sum(r.get("host_delay_ns", {}).get("n", 0) for r in s)
print(f"clean: {len(s)} summaries, sent {sent}, received {recv}, lost {lost}, "
      f"{n_rtt} network RTTs, {n_host} prober host delays, flows/QPs {sorted(flows)}")
ok = True
if sent < 1400 or recv != sent or lost != 0:
    print("FAIL: clean run lost probes or sent too few"); ok = False
if bad:
    print(f"FAIL: {len(bad)} records not rdma-ud/hca, e.g. {bad[0]}"); ok = False
if len({f for f, _ in flows}) != 4 or len({q for _, q in flows}) != 4:
    print("FAIL: expected 4 flows on 4 distinct QPs"); ok = False
if n_host != recv or any(r["schema"] != 3 for r in s):
    print(f"FAIL: {n_host} host delays for {recv} replies (schema 3 records)"); ok = False
if n_rtt < recv * 0.99:
    print(f"FAIL: only {n_rtt} of {recv} replies have t3 (network RTT)"); ok = False
for r in s:
    if r["received"] and not (r["rtt_ns"]["max"] <= r["raw_rtt_ns"]["max"]):
        print(f"FAIL: network RTT above raw RTT: {r}"); ok = False; break
sys.exit(0 if ok else 1)
EOF
stop_refl

# 1b. The reflector restarts mid-run (new QPNs): the prober's peer watcher
#     learns them and the flows are answered again, without a restart.
start_refl || { fail "reflector did not start"; exit 1; }
run_prober restart -- --rate 200 --flows 2 --duration 9 &
ppid=$!
sleep 3
stop_refl
start_refl || { fail "reflector did not restart"; exit 1; }
wait "$ppid"
rc=$?
[[ $rc -eq 0 ]] || { fail "restart run exit $rc"; cat "$tmp/restart.out"; }
grep -q "reflector restarted" "$tmp/restart.out" || fail "the prober did not say the reflector restarted"
python3 - "$tmp/restart.json" <<'EOF' || fails=$((fails + 1))
import json, sys
s = [json.loads(l) for l in open(sys.argv[1])]
s = [r for r in s if r.get("kind") == "summary"]
wins = sorted({r["window_start_ns"] for r in s})
sent = sum(r["sent"] for r in s); recv = sum(r["received"] for r in s)
last = [r for r in s if r["window_start_ns"] in wins[-3:-1]]
lrecv = sum(r["received"] for r in last); lsent = sum(r["sent"] for r in last)
print(f"reflector restart: sent {sent}, received {recv}; the last full windows "
      f"{lrecv} of {lsent} answered")
sys.exit(0 if lsent > 0 and lrecv >= 0.95 * lsent and recv >= 0.5 * sent else 1)
EOF
stop_refl

# 1c. A new target list from the config file (--watch-config) while
#     probing: target A is replaced by B (another reflector): A's flows
#     retire with a final summary, B's start with new QPs, no restart.
xport2=$((xport + 1))
"$refl" reflector -d emu1 -g 1 --xchg "127.0.0.1:$xport2" >"$tmp/refl2.out" 2>&1 &
r2pid=$!
start_refl || { fail "reflector did not start"; exit 1; }
cfgfile() {
	{
		echo 'prober = { engine = "rdma"; window_ms = 500; };'
		echo 'rdma = { device = "emu0"; gid_index = 1; };'
		echo "targets = ( $1 );"
	} >"$tmp/r.cfg.tmp" && mv "$tmp/r.cfg.tmp" "$tmp/r.cfg"
}
cfgfile "{ ip = \"127.0.0.1\"; port = $xport; name = \"A\"; rate_pps = 200; flows = 2; }"
timeout -k 5 60 "$prober" "${eal[@]}" -- -c "$tmp/r.cfg" --watch-config --duration 8 \
	--no-status -o "$tmp/reload.json" >"$tmp/reload.out" 2>&1 &
ppid=$!
sleep 3
cfgfile "{ ip = \"127.0.0.1\"; port = $xport2; name = \"B\"; rate_pps = 200; flows = 3; }"
wait "$ppid"
rc=$?
kill -TERM "$r2pid" 2>/dev/null
wait "$r2pid" 2>/dev/null
stop_refl
[[ $rc -eq 0 ]] || { fail "reload run exit $rc"; cat "$tmp/reload.out"; }
grep -q "reload 1: .* 0 targets kept, 1 added, 1 removed" "$tmp/reload.out" ||
	fail "no reload logged: $(grep -i reload "$tmp/reload.out")"
python3 - "$tmp/reload.json" <<'EOF' || fails=$((fails + 1))
import json, sys
s = [json.loads(l) for l in open(sys.argv[1])]
s = [r for r in s if r.get("kind") == "summary"]
a = [r for r in s if r["target"] == 0]; b = [r for r in s if r["target"] == 1]
a_final = [r for r in a if "final" in r["flags"]]
a_sent = sum(r["sent"] for r in a); a_res = sum(r["received"] + r["lost"] for r in a)
b_sent = sum(r["sent"] for r in b); b_recv = sum(r["received"] for r in b)
b_flows = {r["flow"] for r in b}
print(f"reload: A sent {a_sent}, resolved {a_res}, {len(a_final)} final summaries; "
      f"B sent {b_sent}, received {b_recv}, flows {sorted(b_flows)}")
ok = len(a_final) == 2 and a_sent == a_res and b_sent > 0 and b_recv == b_sent \
     and b_flows == {0, 1, 2} and a[-1]["window_start_ns"] < max(r["window_start_ns"] for r in b)
sys.exit(0 if ok else 1)
EOF

# 2. 10 % of all sends dropped (probes, replies and follow-ups): measured
#    loss ~ 1 - 0.9^2 = 19 % of probes; replies whose follow-up was lost
#    still count as received, without a network RTT (never an invented t3).
start_refl PM_VERBS_EMU_DROP=0.1 PM_VERBS_EMU_SEED=3 || { fail "reflector did not start"; exit 1; }
run_prober lossy PM_VERBS_EMU_DROP=0.1 PM_VERBS_EMU_SEED=4 -- --rate 1000 --flows 2 \
	--duration 4
rc=$?
[[ $rc -eq 0 ]] || { fail "lossy run exit $rc"; cat "$tmp/lossy.out"; }
python3 - "$tmp/lossy.json" <<'EOF' || fails=$((fails + 1))
import json, sys
s = [json.loads(l) for l in open(sys.argv[1])]
s = [r for r in s if r.get("kind") == "summary"]
sent = sum(r["sent"] for r in s); recv = sum(r["received"] for r in s)
lost = sum(r["lost"] for r in s); late = sum(r["late"] for r in s)
n_rtt = sum(r.get("rtt_ns", {}).get("n", 0) for r in s)
no_t3 = sum(1 for r in s if "no_refl_ts" in r.get("flags", []))
loss = lost / sent if sent else 0
print(f"lossy: sent {sent}, received {recv}, lost {lost} ({100*loss:.1f} %), late {late}, "
      f"network RTTs {n_rtt}, windows flagged no_refl_ts {no_t3}")
ok = sent == recv + lost and 0.15 <= loss <= 0.23 and n_rtt < recv
if not ok:
    print("FAIL: expected sent = received + lost, loss 15..23 %, some replies without t3")
sys.exit(0 if ok else 1)
EOF
stop_refl

# 3. An RNIC without CQE timestamps (as rxe): the TSC path, said so.
start_refl PM_VERBS_EMU_NO_HWTS=1 || { fail "reflector did not start"; exit 1; }
run_prober tsc PM_VERBS_EMU_NO_HWTS=1 -- --rate 200 --flows 1 --duration 2
rc=$?
[[ $rc -eq 0 ]] || { fail "tsc run exit $rc"; cat "$tmp/tsc.out"; }
python3 - "$tmp/tsc.json" <<'EOF' || fails=$((fails + 1))
import json, sys
s = [json.loads(l) for l in open(sys.argv[1])]
s = [r for r in s if r.get("kind") == "summary"]
src = {(r["ts_tx"], r["ts_rx"]) for r in s}
recv = sum(r["received"] for r in s)
print(f"no CQE timestamps: sources {src}, received {recv}")
sys.exit(0 if src == {("tsc", "tsc")} and recv > 300 else 1)
EOF
grep -q "TSC at poll" "$tmp/tsc.out" || fail "the prober did not say it uses the TSC"

# 4. Bad input: exit 2 naming the device / GID / port.
run_prober nodev -- --rdma-device mlx9_9 --rate 10 --duration 1
rc=$?
[[ $rc -eq 2 ]] && grep -q "mlx9_9" "$tmp/nodev.out" ||
	fail "unknown device: exit $rc, $(grep -i mlx9 "$tmp/nodev.out")"
timeout -k 5 30 "$prober" "${eal[@]}" -- --engine rdma --rdma-device emu0 \
	--rdma-gid-index 9 --target "127.0.0.1:$xport" --duration 1 --no-status \
	-o /dev/null >"$tmp/gid.out" 2>&1
rc=$?
[[ $rc -eq 2 ]] && grep -q "GID index 9" "$tmp/gid.out" || fail "bad GID index: exit $rc"
timeout -k 5 30 env PM_VERBS_EMU_PORT_DOWN=emu0 "$prober" "${eal[@]}" -- --engine rdma \
	--rdma-device emu0 --rdma-gid-index 1 --target "127.0.0.1:$xport" --duration 1 \
	--no-status -o /dev/null >"$tmp/down.out" 2>&1
rc=$?
[[ $rc -eq 2 ]] && grep -q "not ACTIVE" "$tmp/down.out" || fail "port down: exit $rc"
# The RNIC refuses our QP (its limit, locked memory): exit 2, named.
timeout -k 5 30 env PM_VERBS_EMU_FAIL=ibv_create_qp "$prober" "${eal[@]}" -- --engine rdma \
	--rdma-device emu0 --rdma-gid-index 1 --target "127.0.0.1:$xport" --duration 1 \
	--no-status -o /dev/null >"$tmp/qp.out" 2>&1
rc=$?
[[ $rc -eq 2 ]] && grep -q "ibv_create_qp" "$tmp/qp.out" || fail "QP refused: exit $rc"
stop_refl
# No reflector at all: the target is named, exit 1 (nothing to probe).
run_prober norefl -- --rate 10 --duration 1
rc=$?
[[ $rc -eq 1 ]] && grep -q "no QPNs" "$tmp/norefl.out" || fail "no reflector: exit $rc"

if [[ $fails -ne 0 ]]; then
	echo "$fails check(s) failed"
	exit 1
fi
echo "all checks passed"
