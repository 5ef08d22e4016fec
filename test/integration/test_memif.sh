#!/usr/bin/env bash
# test_memif.sh: prober and DPDK reflector at high rate over net_memif.
#
# memif is the multi-Mpps path between two DPDK processes on one host (shared
# memory rings, no kernel on the data path), so it is where the prober's
# pacing, matching and accounting get exercised at a rate AF_PACKET cannot
# carry.  The reflector is the memif server and starts first; the prober is
# the client.  There is no kernel on this wire: the reflector answers the
# prober's ARP for 10.0.0.2 itself.
#
# 200,000 probes/s over 8 flows for 5 s.  The prober busy-polls (its worker
# on lcore 1); the reflector's worker sits on lcore 0 (main lcore 1) and
# sleeps when idle, since this box has two cores.  Checks: every probe
# resolved (sent == received + lost), no duplicate or unmatched replies, at
# least 99% answered, and the reflector reflected at least what came back.
#
# Then 4 s at line rate with the default in-flight cap (512 probes per probe
# lcore): the rings never hold more than the reflector and the prober take,
# so every probe is answered (lost 0, none late), and the turns the cap held
# back are counted (inflight_held > 0).  Half way the prober is stopped
# (SIGSTOP) for 1.3 s, longer than the 1 s loss timeout, as a preempted lcore
# or a paused VM would be: the replies of the probes in flight wait in its RX
# ring meanwhile, and must be taken as answers, not declared lost, when it
# runs again; the stall is counted (lcore_stalls) and the records of the
# windows it spans carry the "stall" flag.
#
# Both processes run in a namespace of their own: memif's control socket is
# an abstract unix socket, which lives in the network namespace, and the
# cleanup then finds anything left running there.  The prober stops first
# (its duration ends, it drains, it exits) and only then the reflector: in
# DPDK 22.11 one memif side leaving while traffic flows can crash the other.
set -euo pipefail

. "${PM_SRC:-$(dirname "$0")/../..}/test/integration/pm_integ.sh"
pm_it_require

RATE=200000
FLOWS=8
DUR=5

tmp=$(pm_tmpdir)
pm_it_keep "$tmp"
sock=pm-memif-$$.sock
pm_ns_add m

pm_bg pm_exec m timeout 90 "$PM_REFL" -l 0-1 --main-lcore 1 $(pm_it_eal r) \
	--vdev=net_memif0,role=server,socket=$sock -- \
	--ip 10.0.0.2 --idle-sleep-us 20 --stats-ms 0 2>"$tmp/refl.err"
refl=$PM_BG_PID
pm_wait_for 20 grep -q "reflecting STAMP" "$tmp/refl.err" || {
	cat "$tmp/refl.err" >&2
	pm_fail "DPDK reflector (memif server) did not start"
}
# Let the server's listening socket settle before the client connects.
sleep 1

rc=0
t0=$(date +%s%N)
pm_it_run 60 m "$PM_PROBER" -l 0-1 $(pm_it_eal p) \
	--vdev=net_memif0,role=client,socket=$sock -- \
	--src-ip 10.0.0.1 --target 10.0.0.2 --rate $RATE --flows $FLOWS \
	--budget-pps 1000000 --duration $DUR --no-status \
	--output "$tmp/out.json" 2>"$tmp/prober.err" || rc=$?
t1=$(date +%s%N)
lrc=0
pm_bg pm_exec m timeout 60 "$PM_PROBER" -l 0-1 $(pm_it_eal p) \
	--vdev=net_memif0,role=client,socket=$sock -- \
	--src-ip 10.0.0.1 --target 10.0.0.2 --line-rate --flows $FLOWS \
	--budget-pps 100000000 --budget-mbps 1000000 --duration 4 --no-status \
	--output "$tmp/line.json" 2>"$tmp/line.err"
line=$PM_BG_PID
sleep 2
lpid=$(pgrep -P "$line" | head -n 1 || true)
if [ -n "$lpid" ]; then
	kill -STOP "$lpid"
	sleep 1.3
	kill -CONT "$lpid"
fi
wait "$line" || lrc=$?
rrc=0
kill -0 "$refl" 2>/dev/null || echo "reflector died while the prober ran" >&2
pm_it_sigint "$refl" || rrc=$?

[ $rc -eq 0 ] || cat "$tmp/prober.err" >&2
[ $rrc -eq 0 ] || cat "$tmp/refl.err" >&2
grep -E "counters:" "$tmp/prober.err" || true
grep -E "final:" "$tmp/refl.err" || true
eval "$(pm_it_sums "$tmp/out.json")"
reflected=$(pm_it_ctr "$tmp/refl.err" reflected "final:")
echo "records $records: sent $sent received $received lost $lost late $late" \
	"dup $dup unmatched $unmatched reordered $reordered; reflector reflected $reflected"
echo "achieved $((sent / DUR)) probes/s sent, $((received / DUR)) answered/s" \
	"(asked $RATE; prober ran $(((t1 - t0) / 1000000)) ms)"

pm_it_check "rc == 0" "prober exit status $rc"
pm_it_check "rrc == 0" "DPDK reflector exit status $rrc"
pm_it_check "records > 0" "JSON summary records written ($records)"
pm_it_check "sent == received + lost" \
	"every probe resolved: sent $sent == received $received + lost $lost"
pm_it_check "dup == 0" "no duplicate replies ($dup)"
pm_it_check "unmatched == 0" "no unmatched replies ($unmatched)"
pm_it_check "sent > 0 && received * 100 >= sent * 99" \
	"received $received >= 99% of sent $sent"
pm_it_check "reflected >= received" "reflector reflected $reflected >= received $received"

[ $lrc -eq 0 ] || cat "$tmp/line.err" >&2
grep -E "counters:" "$tmp/line.err" || true
l_tx=$(pm_it_ctr "$tmp/line.err" tx_pkts "counters:")
l_rep=$(pm_it_ctr "$tmp/line.err" replies "counters:")
l_lost=$(pm_it_ctr "$tmp/line.err" lost "counters:")
l_late=$(pm_it_ctr "$tmp/line.err" late "counters:")
l_held=$(pm_it_ctr "$tmp/line.err" inflight_held "counters:")
l_stalls=$(pm_it_ctr "$tmp/line.err" lcore_stalls "counters:")
l_stall_us=$(pm_it_ctr "$tmp/line.err" lcore_stall_us "counters:")
l_flagged=$(grep -c '"stall"' "$tmp/line.json" || true)
echo "line rate, cap 512: sent $l_tx answered $l_rep lost $l_lost late $l_late" \
	"turns held $l_held; stopped ${lpid:+1.3 s}: stalls $l_stalls ($l_stall_us us)," \
	"records flagged $l_flagged"
pm_it_check "lrc == 0" "line-rate prober exit status $lrc"
pm_it_check "l_tx > 0 && l_rep == l_tx" "line rate: every probe answered ($l_rep of $l_tx)"
pm_it_check "l_lost == 0 && l_late == 0" \
	"line rate, stopped 1.3 s: none lost ($l_lost) or late ($l_late)"
pm_it_check "l_held > 0" "line rate: turns held by the cap counted ($l_held)"
pm_it_check "l_stalls >= 1 && l_stall_us >= 1000000" \
	"the stop is counted: lcore_stalls $l_stalls, lcore_stall_us $l_stall_us"
pm_it_check "l_flagged >= 1" "records of the stalled windows flagged \"stall\" ($l_flagged)"
pm_it_result "$tmp/prober.err" "$tmp/refl.err"
