#!/usr/bin/env bash
# test_reload.sh: a new pinglist on SIGHUP, and on a file change with
# --watch-config, without a restart.
#
# Namespace a runs pmesh-prober (AF_PACKET on va, 10.0.0.1); namespace b
# (10.0.0.2) runs socket reflectors on 862 and 8620 and answers pings.
#  Run 1 (SIGHUP), 14 s, 1 s windows:
#    start  A = 10.0.0.2:862 stamp 200 pps x 2 flows, B = 10.0.0.2 icmp 50 pps
#    t=5 s  file rewritten: A kept, B removed, C = 10.0.0.2:8620 added; SIGHUP
#    t=9 s  file broken (syntax error); SIGHUP: refused, nothing changes
#  must show: A's flows run through both reloads with no gap in their
#  windows, no loss and the rate's count of probes (nothing restarted); B
#  writes a "final" summary within 2 s of the reload and nothing after; C
#  appears as target 2 and is answered; the broken file is reported as
#  file:line: message; reload events in the log.
#  Run 2 (--watch-config), 8 s: the file is replaced (rename) at t=4 s with
#  no signal: C added, taken within 2 s.
set -euo pipefail

. "${PM_SRC:-$(dirname "$0")/../..}/test/integration/pm_integ.sh"
pm_it_require

tmp=$(pm_tmpdir)
pm_it_keep "$tmp"
pm_it_sock_topo
pm_it_sock_refl "$tmp/refl.err"
pm_bg pm_exec b timeout 120 "$PM_REFL" --socket --listen 10.0.0.2:8620 --stats-ms 0 \
	2>"$tmp/refl2.err"
pm_wait_for 10 grep -q "listening on" "$tmp/refl2.err" || pm_fail "reflector 2 did not start"

# write_cfg FILE DURATION TARGETS...: a prober file, written whole (rename).
write_cfg()
{
	local file=$1 dur=$2

	shift 2
	{
		echo "prober = { src_ip = \"10.0.0.1\"; duration_s = $dur; idle_sleep_us = 20;"
		echo "  status_ms = 0; output = \"$tmp/out-$(basename "$file" .cfg).json\"; };"
		echo "targets = ("
		local first=1 t
		for t in "$@"; do
			[ $first -eq 1 ] || echo ","
			first=0
			case $t in
			A) echo '{ ip = "10.0.0.2"; rate_pps = 200; flows = 2; }' ;;
			B) echo '{ ip = "10.0.0.2"; type = "icmp"; rate_pps = 50; }' ;;
			C) echo '{ ip = "10.0.0.2"; port = 8620; rate_pps = 100; }' ;;
			esac
		done
		echo ");"
	} >"$file.tmp"
	mv "$file.tmp" "$file"
}

prober_bg()
{
	pm_bg pm_exec a "$PM_PROBER" -l 0-1 $(pm_it_eal a) --vdev=net_af_packet0,iface=va -- \
		"$@"
}

# ---- run 1: SIGHUP ----
write_cfg "$tmp/p.cfg" 14 A B
prober_bg -c "$tmp/p.cfg" 2>"$tmp/prober.err"
pid=$PM_BG_PID
sleep 5
write_cfg "$tmp/p.cfg" 14 A C
t_reload=$(date +%s%N)
kill -HUP "$pid"
sleep 4
echo 'targets = ( { ip = "10.0.0.2"; rate_pps = 10 }' >"$tmp/p.cfg"	# unclosed
echo 'prober = { src_ip = "10.0.0.1"; };' >>"$tmp/p.cfg"
kill -HUP "$pid"
rc=0
wait "$pid" || rc=$?
grep -E "reload|counters:" "$tmp/prober.err" || true

python3 - "$tmp/out-p.json" "$t_reload" >"$tmp/r1" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
recs = [r for r in recs if r.get("kind") == "summary"]
t_reload = int(sys.argv[2])
W = 1000000000
def sel(t):
    return [r for r in recs if r["target"] == t]
A, B, C = sel(0), sel(1), sel(2)
# A: per flow, consecutive windows from first to last, no gap
gaps = 0
for fl in {r["flow"] for r in A}:
    ws = sorted(r["window_start_ns"] for r in A if r["flow"] == fl)
    gaps += sum(1 for x, y in zip(ws, ws[1:]) if y - x != W)
print("a_sent=%d a_received=%d a_lost=%d a_gaps=%d a_flows=%d" % (
    sum(r["sent"] for r in A), sum(r["received"] for r in A),
    sum(r["lost"] for r in A), gaps, len({r["flow"] for r in A})))
bfinal = [r for r in B if "final" in r["flags"]]
blast = max((r["window_start_ns"] for r in B), default=0)
print("b_records=%d b_final=%d b_engine_icmp=%d b_last_after_reload_ms=%d" % (
    len(B), len(bfinal), all(r["engine"] == "dpdk-icmp" for r in B),
    (blast - t_reload) // 1000000 if B else -1))
cfirst = min((r["window_start_ns"] for r in C), default=0)
print("c_records=%d c_sent=%d c_received=%d c_lost=%d c_first_after_reload_ms=%d c_port=%d" % (
    len(C), sum(r["sent"] for r in C), sum(r["received"] for r in C),
    sum(r["lost"] for r in C), (cfirst - t_reload) // 1000000 if C else -99999,
    C[0]["dport"] if C else 0))
print("other_targets=%d" % len([r for r in recs if r["target"] > 2]))
PY
cat "$tmp/r1"
. "$tmp/r1"
unknown=$(pm_it_ctr "$tmp/prober.err" unknown_flow "counters:")
pm_it_check "rc == 0" "prober exit status $rc"
pm_it_check "a_flows == 2 && a_gaps == 0" "A: both flows, every window from start to end, no gap ($a_gaps)"
pm_it_check "a_lost == 0 && a_sent == a_received" "A: nothing lost across the reloads ($a_received of $a_sent)"
pm_it_check "a_sent >= 200 * 14 * 9 / 10 && a_sent <= 200 * 14 * 11 / 10" \
	"A: $a_sent probes, the rate's 2800 (+-10 %): its pacing never restarted"
pm_it_check "b_records > 0 && b_engine_icmp == 1" "B probed before the reload ($b_records records)"
pm_it_check "b_final == 1 && b_last_after_reload_ms <= 2000" \
	"B: one final summary, its last window starts ${b_last_after_reload_ms} ms after the reload (<= 2000)"
pm_it_check "c_records > 0 && c_port == 8620 && c_lost == 0 && c_received == c_sent" \
	"C added as target 2 on port $c_port: $c_received of $c_sent answered"
pm_it_check "c_first_after_reload_ms >= -1000 && c_first_after_reload_ms <= 1000" \
	"C starts in the window the reload happened in (${c_first_after_reload_ms} ms)"
pm_it_check "other_targets == 0" "no other target index"
pm_it_check "unknown == 0" "no reply went unmatched to a flow (unknown_flow $unknown)"
grep -q "reload 1: .*1 targets kept, 1 added, 1 removed" "$tmp/prober.err"; r=$?
pm_it_check "r == 0" "reload 1 logged: 1 kept, 1 added, 1 removed"
grep -qE "reload: $tmp/p.cfg:[0-9]+: " "$tmp/prober.err"; r=$?
pm_it_check "r == 0" "the broken file reported as file:line: message"
grep -q "still probing the previous targets" "$tmp/prober.err"; r=$?
pm_it_check "r == 0" "the broken file changed nothing"

# ---- run 2: --watch-config ----
write_cfg "$tmp/w.cfg" 8 A
prober_bg -c "$tmp/w.cfg" --watch-config 2>"$tmp/prober2.err"
pid=$PM_BG_PID
sleep 4
t_reload=$(date +%s%N)
write_cfg "$tmp/w.cfg" 8 A C
rc=0
wait "$pid" || rc=$?
grep -E "reload" "$tmp/prober2.err" || true
python3 - "$tmp/out-w.json" "$t_reload" >"$tmp/r2" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
C = [r for r in recs if r.get("kind") == "summary" and r["target"] == 1]
first = min((r["window_start_ns"] for r in C), default=0)
print("w_c_received=%d w_c_first_ms=%d" % (sum(r["received"] for r in C),
      (first - int(sys.argv[2])) // 1000000 if C else -99999))
PY
cat "$tmp/r2"
. "$tmp/r2"
pm_it_check "rc == 0" "run 2: prober exit status $rc"
pm_it_check "w_c_received > 0 && w_c_first_ms <= 2000 && w_c_first_ms >= -1000" \
	"--watch-config: the renamed file's new target probed from ${w_c_first_ms} ms on ($w_c_received answered)"
pm_it_result "$tmp/prober.err" "$tmp/prober2.err"
