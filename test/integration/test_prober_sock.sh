#!/usr/bin/env bash
# test_prober_sock.sh: the DPDK prober against the kernel-socket reflector.
#
# Namespace a runs pmesh-prober on an AF_PACKET port (va, 10.0.0.1); its
# veth peer vb in namespace b carries the kernel's 10.0.0.2/24 and
# pmesh-reflector --socket.  500 probes/s over 4 flows for 6 s on a clean
# link must all come back: no loss, every probe resolved once the prober
# has drained at exit (sent == received + lost), and about the number of
# probes the rate asks for.
set -euo pipefail

. "${PM_SRC:-$(dirname "$0")/../..}/test/integration/pm_integ.sh"
pm_it_require

RATE=500
FLOWS=4
DUR=6

tmp=$(pm_tmpdir)
pm_it_keep "$tmp"
pm_it_sock_topo
pm_it_sock_refl "$tmp/refl.err"

rc=0
pm_it_probe || rc=$?
rrc=0
pm_it_sigint "$PM_IT_SREFL" || rrc=$?

[ $rc -eq 0 ] || cat "$tmp/prober.err" >&2
grep -E "counters:" "$tmp/prober.err" || true
grep -E "final:" "$tmp/refl.err" || true
eval "$(pm_it_sums "$tmp/out.json")"
expected=$((RATE * DUR))
refl_tx=$(pm_it_ctr "$tmp/refl.err" tx "final:")
echo "records $records: sent $sent received $received lost $lost late $late" \
	"dup $dup unmatched $unmatched; expected ~$expected; reflector tx $refl_tx"

pm_it_check "rc == 0" "prober exit status $rc"
pm_it_check "rrc == 0" "socket reflector exit status $rrc"
pm_it_check "records > 0" "JSON summary records written ($records)"
pm_it_check "lost == 0" "no loss on a clean link (lost $lost)"
pm_it_check "sent == received + lost" \
	"every probe resolved: sent $sent == received $received + lost $lost"
pm_it_check "received * 10 > expected * 9" \
	"received $received > 90% of $RATE pps x $DUR s = $expected"
maxw=$(pm_it_max_window_sent "$tmp/out.json")
pm_it_check "maxw * 10 <= RATE * 11" \
	"pacing: at most 110% of $RATE probes in any 1 s window ($maxw)"
pm_it_check "dup == 0 && unmatched == 0" "no dup ($dup), no unmatched ($unmatched)"
pm_it_check "refl_tx >= received" "reflector sent $refl_tx >= received $received"
pm_it_result "$tmp/prober.err" "$tmp/refl.err"
