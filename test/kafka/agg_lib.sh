# SPDX-License-Identifier: BSD-3-Clause
# Shared by the aggregator tests (sourced after kafka_lib.sh): the 8-rack,
# 4-spine topology kfeed --fabric 8 plays, and a table comparer.
AGG=${B:-build}/app/aggregator/pmesh-aggregator

# agg_topology FILE [PODS]: PODS pods (default 2) of 4 racks, rack k being
# 10.64.k.0/24 as kfeed --fabric (4 x PODS) plays it, and 4 spines chosen
# by source port.
agg_topology() {
	cat >"$1" <<CFG
topology = {
  patterns = ( { pods = ${2:-2}; racks_per_pod = 4; pod_name = "pod%u"; rack_name = "pod%u-r%u";
                 base = "10.64.0.0"; rack_prefix = 24; pod_first = 1; rack_first = 1; } );
  spines = ( { name = "spine1"; addresses = [ "10.254.0.1" ]; },
             { name = "spine2"; addresses = [ "10.254.0.2" ]; },
             { name = "spine3"; addresses = [ "10.254.0.3" ]; },
             { name = "spine4"; addresses = [ "10.254.0.4" ]; } );
  static_spines = (
    { src_rack = "*"; dst_rack = "*"; sport_first = 49152; sport_last = 49152; spine = "spine1"; },
    { src_rack = "*"; dst_rack = "*"; sport_first = 49153; sport_last = 49153; spine = "spine2"; },
    { src_rack = "*"; dst_rack = "*"; sport_first = 49154; sport_last = 49154; spine = "spine3"; },
    { src_rack = "*"; dst_rack = "*"; sport_first = 49155; sport_last = 49155; spine = "spine4"; } );
};
CFG
}

# agg_compare REF FILE...: the tables of FILE... (several runs or several
# instances: rows of one window and element are summed) must equal REF's.
agg_compare() {
	python3 - "$@" <<'PY'
import collections, json, sys
KEYS = ("sent", "received", "lost", "flows")
def load(files):
    t = collections.defaultdict(lambda: collections.defaultdict(lambda: [0] * len(KEYS)))
    for f in files:
        for line in open(f):
            d = json.loads(line)
            w = d["window_start_ns"]
            for name, rows in d["tables"].items():
                for r in rows:
                    el = (name, r.get("src", r.get("name")), r.get("dst"))
                    acc = t[w][el]
                    for i, k in enumerate(KEYS):
                        acc[i] += r[k]
    return t
ref, got = load(sys.argv[1:2]), load(sys.argv[2:])
ok = ref == got and len(ref) > 0
nrows = sum(len(v) for v in ref.values())
print(f"reference: {len(ref)} windows, {nrows} rows; compared: {len(got)} windows; "
      f"{'identical' if ok else 'DIFFERENT'}")
if not ok:
    for w in sorted(set(ref) | set(got)):
        if ref.get(w) != got.get(w):
            print(" first differing window", w)
            break
sys.exit(0 if ok else 1)
PY
}
