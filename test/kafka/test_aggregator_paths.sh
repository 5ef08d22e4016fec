#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Path records on pmesh.paths map flows to spines.  The topology here has no
# static spine rules, so without path records every flow sits in the
# "unknown" row.  Path records are written for every flow of kfeed's 8-rack
# fabric -- half naming the spine, half giving only the hops (the spine's
# address among them) -- plus four that must be refused: malformed JSON, a
# spine the topology does not know, hops without any spine, schema 9.
# Then the summaries (spine2 dropping 5 %) are read: the spines table must
# equal the one static rules give (aggregator_tables' fabric), no flow is
# unknown, and the aggregator reports 256 path records applied, 4 refused.
. "$(dirname "$0")/kafka_lib.sh"
. "$(dirname "$0")/agg_lib.sh"
kt_need "$AGG" "$KFEED"
command -v kcat >/dev/null || { echo "SKIP: kcat not installed"; exit 77; }
kt_start_mock --partitions 4 --quiet
fail=0

agg_topology "$KT/static.cfg"
# The same fabric without the static rules.
sed '/static_spines/,/);/d' "$KT/static.cfg" >"$KT/topo.cfg"
grep -q static "$KT/topo.cfg" && { echo "FAIL: could not drop the static rules"; exit 1; }

python3 - "$KT/paths" <<'PY'
import json, sys
out = open(sys.argv[1], "w")
n = 0
for sp in range(4):
    for dr in range(8):
        for sr in range(8):
            rec = {"schema": 1, "kind": "path", "prober": "kt", "time_ns": 1700000000000000000,
                   "src": f"10.64.{sr}.10", "dst": f"10.64.{dr}.20", "sport": 49152 + sp,
                   "dport": 862, "proto": "udp"}
            if n % 2:
                rec["spine"] = f"spine{sp + 1}"
                rec["hops"] = []
            else:
                rec["hops"] = [f"10.64.{sr}.1", "*", f"10.254.0.{sp + 1}", f"10.64.{dr}.1"]
            out.write(json.dumps(rec, separators=(",", ":")) + "\n")
            n += 1
base = {"schema": 1, "kind": "path", "src": "10.64.0.10", "dst": "10.64.1.20",
        "sport": 40000, "dport": 862}
out.write('{"schema":1,"kind":"path","src":\n')
out.write(json.dumps(dict(base, spine="spine9")) + "\n")
out.write(json.dumps(dict(base, hops=["10.64.0.1", "*", "10.64.1.1"])) + "\n")
out.write(json.dumps(dict(base, schema=9, spine="spine1")) + "\n")
PY
# One record per message, keyed by the flow as a prober would.
timeout 30 kcat -P -b "$BS" -t pmesh.paths -K '|' -l <(awk '{ print NR "|" $0 }' "$KT/paths") ||
	{ echo "FAIL: kcat -P pmesh.paths"; exit 1; }
echo "wrote $(wc -l <"$KT/paths") path records"

N=$((8 * 8 * 4 * 30))
timeout 60 "$KFEED" -b "$BS" --id paths --fabric 8 --drop-spine 1 --drop-pct 5 --count $N \
	--lcores 4 --spool-dir "$KT/spool" >"$KT/feed.out" 2>&1 ||
	{ echo "FAIL: kfeed"; cat "$KT/feed.out"; exit 1; }

run() {
	timeout 120 "$AGG" -b "$BS" --topology "$1" --window-ms 10000 --grace-ms 0 \
		--until-idle 4000 --no-publish -g "$2" --output "$3" "${@:4}" 2>"$3.err"
	local rc=$?
	cat "$3.err"
	[ $rc -eq 0 ] || { echo "FAIL: aggregator ($2) exited $rc"; fail=1; }
}
run "$KT/topo.cfg" with-paths "$KT/paths.json"
run "$KT/static.cfg" static "$KT/static.json" --no-paths
run "$KT/topo.cfg" no-paths "$KT/none.json" --no-paths

grep -q "path records: 256 applied, 4 refused" "$KT/paths.json.err" ||
	{ echo "FAIL: expected 'path records: 256 applied, 4 refused'"; fail=1; }
grep -q "path record refused" "$KT/paths.json.err" ||
	{ echo "FAIL: no log line for a refused path record"; fail=1; }

python3 - "$KT" <<'PY' || fail=1
import json, os, sys
d = sys.argv[1]
def spines(f):
    out = []
    for line in open(os.path.join(d, f)):
        w = json.loads(line)
        out.append([(r["name"], r["sent"], r["lost"], r["flows"]) for r in w["tables"]["spines"]])
    return out
p, s, n = spines("paths.json"), spines("static.json"), spines("none.json")
ok = p == s and len(p) == 3
print(("ok:   " if ok else "FAIL: ") + f"spines from path records equal the static rules' "
      f"({len(p)} windows): {p[0] if p else None}")
unk = all(all(r[0] == "unknown" for r in w) for w in n)
print(("ok:   " if unk else "FAIL: ") + "without paths or rules every flow is unknown")
sys.exit(0 if ok and unk else 1)
PY
[ $fail -eq 0 ] && echo "PASS: aggregator_paths" || echo "FAIL: aggregator_paths"
exit $fail
