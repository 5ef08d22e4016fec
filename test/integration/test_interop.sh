#!/usr/bin/env bash
# test_interop.sh: pmesh's prober against a reflector that is not pmesh's.
#
# test/integration/twamp_light_reflector.py, written from RFC 5357/8762,
# answers like a TWAMP-Light reflector: NTP timestamps (Z clear), no SSID
# echo, its own sequence numbers.  The prober must match every reply (by
# addresses and ports), read t2/t3 in NTP format, and report a network RTT
# below the raw RTT with the reflector's delay inside it.
set -euo pipefail

. "${PM_SRC:-$(dirname "$0")/../..}/test/integration/pm_integ.sh"
pm_it_require
command -v python3 >/dev/null || pm_skip "python3 is missing"

RATE=200
FLOWS=4
DUR=5

tmp=$(pm_tmpdir)
pm_it_keep "$tmp"
pm_it_sock_topo
pm_bg pm_exec b timeout 120 python3 "$PM_SRC/test/integration/twamp_light_reflector.py" \
	10.0.0.2 862 >"$tmp/refl.out" 2>&1
refl=$PM_BG_PID
pm_wait_for 10 grep -q listening "$tmp/refl.out" || pm_fail "reflector did not start"

rc=0
pm_it_probe || rc=$?
rrc=0
pm_it_sigint "$refl" || rrc=$?
[ $rc -eq 0 ] || cat "$tmp/prober.err" >&2
grep -E "counters:" "$tmp/prober.err" || true
cat "$tmp/refl.out"

eval "$(pm_it_sums "$tmp/out.json")"
refl_n=$(sed -n 's/^reflected \([0-9]*\)/\1/p' "$tmp/refl.out")
read -r rtt_ok refl_min refl_max ts_ok <<<"$(python3 - "$tmp/out.json" <<'PY'
import json, sys
ok = 1; rmin = None; rmax = 0; ts_ok = 1
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d["received"] == 0:
        continue
    r = d["rtt_ns"]; raw = d["raw_rtt_ns"]; rd = d["refl_delay_ns"]
    # network RTT <= raw RTT, reflector delay present and under the raw RTT
    if not (0 < r["min"] <= raw["min"] and r["max"] <= raw["max"]):
        ok = 0
    if rd.get("n", 0) != d["received"] or rd["max"] > raw["max"]:
        ok = 0
    rmin = rd["min"] if rmin is None else min(rmin, rd["min"])
    rmax = max(rmax, rd["max"])
    if d["ts_refl"] != "remote" or "no_refl_ts" in d["flags"]:
        ts_ok = 0
print(ok, rmin or 0, rmax, ts_ok)
PY
)"
echo "sent $sent received $received lost $lost unmatched $unmatched;" \
	"reflector reflected $refl_n; reflector delay ${refl_min}..${refl_max} ns"

pm_it_check "rc == 0" "prober exit status $rc"
pm_it_check "rrc == 0" "reflector exit status $rrc"
pm_it_check "received > 0 && lost == 0" "every probe answered (received $received, lost $lost)"
pm_it_check "sent == received + lost" "sent $sent == received $received + lost $lost"
pm_it_check "unmatched == 0 && dup == 0" "no unmatched ($unmatched) or dup ($dup) replies"
pm_it_check "rtt_ok == 1" "network RTT within raw RTT, reflector delay counted for every reply"
pm_it_check "ts_ok == 1" "records say the reflector stamped (ts_refl remote, no no_refl_ts)"
pm_it_check "refl_min > 0 && refl_max < 50000000" "reflector delay from NTP stamps plausible (${refl_min}..${refl_max} ns)"
pm_it_result "$tmp/prober.err"
