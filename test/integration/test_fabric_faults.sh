#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# test_fabric_faults.sh: the whole pipeline finds the fault -- fabric,
# socket reflectors, pmesh-kafka-mock, the DPDK prober on the pod-1
# appliance with its pmesh-ctl pinglist and path discovery, pmesh-aggregator
# -- by running scripts/demo.sh (README command 1) with each fault:
#
#  1. drop 5 % on spine 2 (10 s tables): an alert names spine2 (an early
#     one: before its table window closes); in the first window wholly
#     under the fault spine2 ranks first by drop rate and alerts, within
#     +-20 % of what 5 %
#     each way gives a flow crossing it both ways (9.75 %: 7.8-11.7 %),
#     every other spine under 0.2 %; the time from the fault to the alert
#     is printed;
#  2. black hole of 10 % of the 5-tuples on spine 3 (32 flows a target,
#     5 s tables): a blackhole alert whose flows all crossed spine3;
#  3. drop 5 % on the ToR of pod 2 rack 1 (5 s tables): an alert names the
#     ToR pod2-r1;
#  4. no fault for 60 s: no alert at all.
set -uo pipefail

. "${PM_SRC:-$(dirname "$0")/../..}/test/integration/pm_integ.sh"
pm_it_require nft curl
src=${PM_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
pm_require_file "$PM_BUILD/app/aggregator/pmesh-aggregator" "$PM_BUILD/app/ctl/pmesh-ctl" \
	"$PM_BUILD/kafka_sink/pmesh-kafka-mock"
tmp=$(pm_tmpdir)
pm_it_keep "$tmp"
fail=0

demo() {	# TAG, then env assignments
	local tag=$1
	shift
	env DEMO_NO_INSTALL=1 PM_BUILD="$PM_BUILD" DEMO_OUT="$tmp/$tag" "$@" \
		timeout 300 bash "$src/scripts/demo.sh" >"$tmp/$tag.log" 2>&1
	local rc=$?
	grep -E "ALERT|== demo: (fault|the alert|no alert)" "$tmp/$tag.log" | tail -4
	return $rc
}
verdict() {	# STATUS MESSAGE
	if [ "$1" -eq 0 ]; then echo "ok:   $2"; else echo "FAIL: $2"; fail=1; fi
}

demo spine DEMO_CLEAN_S=22 DEMO_AFTER_WINDOWS=2 DEMO_FAULT="drop 5 spine 2" DEMO_EXPECT=spine2
verdict $? "spine 2 at 5 %: an alert names spine2"
python3 - "$tmp/spine" <<'PY'
import json, os, sys
d = sys.argv[1]
ws = [json.loads(l) for l in open(os.path.join(d, "tables.json"))]
early = [json.loads(l) for l in open(os.path.join(d, "alerts.json"))]
at = float(open(os.path.join(d, "fault_at")).read()) * 1e9
print(f"  early alerts: {len(early)}: " + "; ".join(
    f"{e['alert']['text']} (window +{(e['as_of_ns'] - e['window_start_ns']) / 1e9 + 1:.0f} s)"
    for e in early))
# Judge the first window wholly under the fault.
w = next((w for w in ws if w["window_start_ns"] >= at), None)
if w is None:
    print("FAIL: no table window wholly under the fault"); sys.exit(1)
sp = sorted(w["tables"]["spines"], key=lambda r: -r["drop_rate"])
print("  spines: " + ", ".join(f"{r['name']} {100 * r['drop_rate']:.2f}%" for r in sp))
ok = sp[0]["name"] == "spine2" and 0.078 <= sp[0]["drop_rate"] <= 0.117 and \
     all(r["drop_rate"] < 0.002 for r in sp[1:]) and \
     any(a["element"] == "spine2" for a in w["alerts"])
print(("ok:   " if ok else "FAIL: ") + "spine2 first at 7.8-11.7 %, the others under 0.2 %, "
      "and its window alerts on it")
ok_e = bool(early) and early[0]["alert"]["element"] == "spine2" and \
       all(e["alert"]["element"] == "spine2" or e["alert"]["kind"] == "tor" for e in early)
print(("ok:   " if ok_e else "FAIL: ") + "the first early alert names spine2")
sys.exit(0 if ok and ok_e else 1)
PY
verdict $? "spine 2's table"
grep -o "the alert named spine2 [0-9.]* s after the fault.*" "$tmp/spine.log" || true

demo blackhole DEMO_AFTER_WINDOWS=0 DEMO_CLEAN_S=14 DEMO_WINDOW_MS=5000 DEMO_FLOWS=32 DEMO_FAULT_S=40 \
	DEMO_FAULT="blackhole 10 spine 3" DEMO_EXPECT=kind:blackhole
verdict $? "black hole on spine 3: a blackhole alert"
python3 - "$tmp/blackhole/tables.json" "$tmp/blackhole/alerts.json" <<'PY'
import json, sys
bh = [a for l in open(sys.argv[1]) for a in json.loads(l)["alerts"] if a["kind"] == "blackhole"]
bh += [e["alert"] for l in open(sys.argv[2]) for e in [json.loads(l)]
       if e["alert"]["kind"] == "blackhole"]
spines = {a.get("spine") for a in bh}
print(f"  blackhole alerts (tables and early): {len(bh)}, via {spines}: "
      f"{bh[0]['text'] if bh else '-'}")
sys.exit(0 if bh and spines == {"spine3"} else 1)
PY
verdict $? "every black-hole alert names spine3"

demo tor DEMO_AFTER_WINDOWS=0 DEMO_CLEAN_S=14 DEMO_WINDOW_MS=5000 DEMO_FAULT_S=40 \
	DEMO_FAULT="drop 5 tor 2 1" DEMO_EXPECT=pod2-r1
verdict $? "ToR pod2-r1 at 5 %: an alert names it"

demo clean DEMO_CLEAN_S=5 DEMO_WINDOW_MS=5000 DEMO_FAULT=none DEMO_FAULT_S=60
verdict $? "clean fabric for 60 s: no alert"
n=$(grep -c . "$tmp/clean/tables.json" 2>/dev/null || echo 0)
e=$(grep -c . "$tmp/clean/alerts.json" 2>/dev/null) || true
[ "$n" -ge 10 ] && [ "${e:-0}" -eq 0 ]
verdict $? "clean fabric: $n windows of tables, none with an alert, ${e:-0} early alerts"

[ $fail -eq 0 ] && echo "PASS: fabric_faults" || echo "FAIL: fabric_faults"
exit $fail
