#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Summaries in, tables out, exact.  kfeed plays a fabric of 8 racks (2 pods)
# and 4 spines: every rack pair, one flow per spine, 100 probes a flow a
# second for 30 s of event time, and the flows over spine2 lose 2 %.  The
# aggregator (3 windows of 10 s) must publish, per window, rack-pair and
# spine rows whose counts equal the sums of what was produced, and name
# spine2 as its first alert, in every window, with nothing else ahead of it.
. "$(dirname "$0")/kafka_lib.sh"
AGG=$B/app/aggregator/pmesh-aggregator
kt_need "$AGG" "$KFEED" "$CAT"
kt_start_mock --partitions 8 --quiet
fail=0

. "$(dirname "$0")/agg_lib.sh"
agg_topology "$KT/topo.cfg"
N=$((8 * 8 * 4 * 30))
timeout 60 "$KFEED" -b "$BS" --id fab --fabric 8 --drop-spine 1 --drop-pct 2 --count $N \
	--lcores 4 --expect "$KT/exp.json" --spool-dir "$KT/spool" >"$KT/feed.out" 2>&1 ||
	{ echo "FAIL: kfeed"; cat "$KT/feed.out"; fail=1; }
cat "$KT/feed.out"
timeout 120 "$AGG" -b "$BS" --topology "$KT/topo.cfg" --window-ms 10000 --grace-ms 0 \
	--until-idle 4000 --output "$KT/tables.json" 2>"$KT/agg.err"
rc=$?
cat "$KT/agg.err"
[ $rc -eq 0 ] || { echo "FAIL: aggregator exited $rc"; fail=1; }
kt_cat -t pmesh.tables --exit-at-end >"$KT/published" 2>/dev/null
echo "published to pmesh.tables: $(wc -l <"$KT/published") windows"
python3 - "$KT/exp.json" "$KT/tables.json" "$KT/published" <<'PY' || fail=1
import collections, json, sys
def rack(ip):
    k = (int(ip.split(".")[2]))
    return f"pod{k // 4 + 1}-r{k % 4 + 1}"
exp = collections.defaultdict(lambda: [0, 0, 0])   # (win, src, dst) -> sent, lost, flows
spn = collections.defaultdict(lambda: [0, 0])
for line in open(sys.argv[1]):
    d = json.loads(line)
    w = d["window_start_ns"] // 10**10 * 10**10
    e = exp[(w, rack(d["src"]), rack(d["dst"]))]
    e[0] += d["sent"]; e[1] += d["lost"]; e[2] += 1
    s = spn[(w, "spine%d" % (d["sport"] - 49151))]
    s[0] += d["sent"]; s[1] += d["lost"]
tables = [json.loads(l) for l in open(sys.argv[2])]
bad = 0
print(f"windows: {len(tables)}; expected {len({k[0] for k in exp})}")
if len(tables) != len({k[0] for k in exp}):
    bad = 1
for t in tables:
    w = t["window_start_ns"]
    rows = t["tables"]["rack_pairs"]
    got = {(r["src"], r["dst"]): (r["sent"], r["lost"], r["flows"]) for r in rows}
    want = {(k[1], k[2]): tuple(v) for k, v in exp.items() if k[0] == w}
    sp = {r["name"]: (r["sent"], r["lost"]) for r in t["tables"]["spines"]}
    spw = {k[1]: tuple(v) for k, v in spn.items() if k[0] == w}
    alerts = t.get("alerts", [])
    first = alerts[0]["element"] if alerts else None
    print(f"window {w}: {len(rows)} rack pairs, exact {got == want}; spines exact {sp == spw}; "
          f"fleet sent {t['tables']['fleet'][0]['sent']} lost {t['tables']['fleet'][0]['lost']}; "
          f"first alert {first!r} ({alerts[0]['text'] if alerts else '-'})")
    if got != want or sp != spw or first != "spine2" or alerts[0]["kind"] != "spine":
        bad = 1
pub = [json.loads(l) for l in open(sys.argv[3])]
if sorted(p["window_start_ns"] for p in pub) != sorted(t["window_start_ns"] for t in tables):
    print("published windows differ from --output"); bad = 1
sys.exit(bad)
PY
exit $fail
