#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# test_loss_burst.sh: adaptive probing (--loss-burst) on a lossy path.
#
# test_prober_loss.sh's topology, nftables dropping 20 % of the probes, the
# prober at 40 probes/s over 4 flows (10 a flow) with --loss-burst 10 for
# 12 s.  A flow that loses in a window is probed 10 times faster for the
# next one: summaries flagged "burst" carry about 10 x the probes of the
# others (at least 5 x on average), the bursts counter says how many, a
# flow never bursts two windows running, and the loss measured is the
# injected one (12-28 %).  Every probe is still resolved.
set -euo pipefail

. "${PM_SRC:-$(dirname "$0")/../..}/test/integration/pm_integ.sh"
pm_it_require nft

RATE=40
FLOWS=4
DUR=12
DROP_PCT=20

tmp=$(pm_tmpdir)
pm_it_keep "$tmp"
pm_it_sock_topo
pm_it_nft_drop "$DROP_PCT"
pm_it_sock_refl "$tmp/refl.err"

rc=0
pm_it_probe --loss-burst 10 || rc=$?
pm_it_sigint "$PM_IT_SREFL" || true
grep -E "counters:" "$tmp/prober.err" || true
bursts=$(pm_it_ctr "$tmp/prober.err" bursts "counters:")
bursts=${bursts:-0}

prc=0
python3 - "$tmp/out.json" "$bursts" <<'PY' || prc=$?
import collections, json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rows = [r for r in rows if r["kind"] == "summary" and "final" not in r["flags"]]
burst = [r for r in rows if "burst" in r["flags"]]
normal = [r for r in rows if "burst" not in r["flags"]]
ok = True
def check(cond, what):
    global ok
    print(("ok:   " if cond else "FAIL: ") + what)
    ok &= bool(cond)
bs = sum(r["sent"] for r in burst) / max(1, len(burst))
ns = sum(r["sent"] for r in normal) / max(1, len(normal))
check(len(burst) >= 4, f"{len(burst)} burst windows of {len(rows)} (counter: {sys.argv[2]})")
check(int(sys.argv[2]) >= len(burst), "the bursts counter covers them")
check(bs >= 5 * ns, f"a burst window sends {bs:.1f} probes, a normal one {ns:.1f}")
by_flow = collections.defaultdict(list)
for r in rows:
    by_flow[r["flow"]].append((r["window_start_ns"], "burst" in r["flags"]))
twice = sum(1 for w in by_flow.values() for a, b in zip(sorted(w), sorted(w)[1:]) if a[1] and b[1])
check(twice == 0, f"no flow bursts two windows running ({twice})")
# A probe lost in a burst window is counted lost a timeout later, in the
# next window: judge the loss over the whole run.
lost = sum(r["lost"] for r in rows)
res = sum(r["received"] + r["lost"] for r in rows)
loss = lost / res if res else 0
check(0.12 <= loss <= 0.28, f"loss {100 * loss:.1f} % on {res} probes (injected 20 %)")
sys.exit(0 if ok else 1)
PY
eval "$(pm_it_sums "$tmp/out.json")"
pm_it_check "rc == 0" "prober exit status $rc"
pm_it_check "prc == 0" "burst windows as described"
pm_it_check "sent == received + lost" \
	"every probe resolved: sent $sent == received $received + lost $lost"
pm_it_result "$tmp/prober.err" "$tmp/refl.err"
