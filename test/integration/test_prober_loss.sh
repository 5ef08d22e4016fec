#!/usr/bin/env bash
# test_prober_loss.sh: the prober measures the loss that nftables injects.
#
# Same topology as test_prober_sock.sh (DPDK prober in a on va, socket
# reflector in b on vb, 10.0.0.2/24), plus an nftables rule in b that drops
# 10% of the probes at random before the reflector sees them.  1000 probes/s
# (spread over 4 flows) for 10 s give ~10,000 probes: the measured loss
# lost / (received + lost) must land in [8%, 12%] (the binomial standard
# deviation is 0.3%, so the band is over 6 sigma wide), every probe must be resolved
# (sent == received + lost), and the prober's count of lost probes must match
# what nftables says it dropped, give or take the probes other causes lose.
set -euo pipefail

. "${PM_SRC:-$(dirname "$0")/../..}/test/integration/pm_integ.sh"
pm_it_require nft

RATE=1000
FLOWS=4
DUR=10
DROP_PCT=10

tmp=$(pm_tmpdir)
pm_it_keep "$tmp"
pm_it_sock_topo
pm_it_nft_drop "$DROP_PCT"
pm_it_sock_refl "$tmp/refl.err"

rc=0
pm_it_probe || rc=$?
rrc=0
pm_it_sigint "$PM_IT_SREFL" || rrc=$?

[ $rc -eq 0 ] || cat "$tmp/prober.err" >&2
grep -E "counters:" "$tmp/prober.err" || true
grep -E "final:" "$tmp/refl.err" || true
# "counter packets N bytes M drop"
nft_drops=$(pm_exec b nft list chain inet pmt in |
	awk '/numgen/ { for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1) }')
nft_drops=${nft_drops:-0}
eval "$(pm_it_sums "$tmp/out.json")"
refl_tx=$(pm_it_ctr "$tmp/refl.err" tx "final:")
# Loss in per-mille and basis points, integers for bash.
resolved=$((received + lost))
loss_bp=$((resolved ? lost * 10000 / resolved : 0))
echo "records $records: sent $sent received $received lost $lost late $late" \
	"dup $dup unmatched $unmatched; nft dropped $nft_drops;" \
	"reflector tx $refl_tx; measured loss $((loss_bp / 100)).$(printf %02d $((loss_bp % 100)))%"

pm_it_check "rc == 0" "prober exit status $rc"
pm_it_check "rrc == 0" "socket reflector exit status $rrc"
# Enough probes for the statistics (at 5,000 the band is still 4.7 sigma
# wide); fewer than asked for happen when other work starves the prober.
pm_it_check "sent >= RATE * DUR / 2" "sent $sent >= 50% of $((RATE * DUR))"
pm_it_check "sent == received + lost" \
	"every probe resolved: sent $sent == received $received + lost $lost"
pm_it_check "loss_bp >= 800 && loss_bp <= 1200" \
	"measured loss $loss_bp bp within [800, 1200] bp (injected $DROP_PCT%)"
# Everything nftables dropped is lost; little else may be (the kernel
# socket path may drop a handful when the box is busy).
pm_it_check "lost >= nft_drops && lost - nft_drops <= sent / 200" \
	"lost $lost matches nftables drops $nft_drops (+ at most 0.5% other loss)"
pm_it_check "dup == 0 && unmatched == 0" "no dup ($dup), no unmatched ($unmatched)"
pm_it_check "refl_tx == received + late" \
	"reflector sent $refl_tx == received $received + late $late"
pm_it_result "$tmp/prober.err" "$tmp/refl.err"
