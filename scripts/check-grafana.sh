#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# check-grafana.sh DASHBOARD METRICS: does the Grafana dashboard only ask
# for what pmesh-aggregator serves, and will Grafana take it as it is?
#  - DASHBOARD parses as JSON, has a uid and a `datasource` template
#    variable of type datasource (Prometheus);
#  - every panel (rows' nested panels too) has a unique id and uses
#    ${datasource}, and so does each of its queries; every non-row panel has
#    a query, and panels do not overlap on the grid;
#  - every $variable a query names is a template variable (or a $__ one);
#  - table columns named "Value #X" belong to a query X of that panel, and
#    "Value" alone to a panel of one query (Grafana's naming for instant
#    table queries), so overrides and transformations find their columns;
#  - every pmesh_* metric named in a query or a template variable appears in
#    METRICS, a scrape of /metrics, as a sample line or a `# TYPE` line.
# test/kafka/metrics.sample is a hand-written scrape to check against; the
# aggregator_http test runs this against a live one.  Prints what it checked;
# exit 0 when all holds, 1 otherwise (each problem printed), 2 on usage.
set -u
if [ $# -ne 2 ] || [ ! -r "$1" ] || [ ! -r "$2" ]; then
	echo "usage: check-grafana.sh DASHBOARD.json METRICS-SCRAPE" >&2
	exit 2
fi
command -v python3 >/dev/null || { echo "check-grafana: python3 not found" >&2; exit 2; }
exec python3 - "$1" "$2" <<'PY'
import json, re, sys

dash_path, metrics_path = sys.argv[1], sys.argv[2]
DS_REFS = ("${datasource}", "$datasource")
METRIC = re.compile(r"\bpmesh_[a-z0-9_]+")
VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
bad = []

try:
    with open(dash_path) as f:
        d = json.load(f)
except ValueError as e:
    print(f"check-grafana: {dash_path}: not JSON: {e}")
    sys.exit(1)
if not isinstance(d, dict):
    print(f"check-grafana: {dash_path}: not a dashboard object")
    sys.exit(1)
print(f"check-grafana: {dash_path}: JSON ok, uid {d.get('uid')!r}, "
      f"schemaVersion {d.get('schemaVersion')}")

# What the scrape serves: `# TYPE name kind` lines and sample lines.
served = set()
with open(metrics_path) as f:
    for line in f:
        m = re.match(r"# TYPE ([a-zA-Z_:][\w:]*) ", line) or \
            re.match(r"([a-zA-Z_:][\w:]*)(?:\{| )", line)
        if m:
            served.add(m.group(1))
if not any(n.startswith("pmesh_") for n in served):
    bad.append(f"{metrics_path}: no pmesh_* metric at all (a failed scrape?)")

def walk(ps):
    for p in ps:
        yield p
        yield from walk(p.get("panels", []))

def ds_uid(x):
    ds = x.get("datasource")
    return ds.get("uid") if isinstance(ds, dict) else ds

tvars = d.get("templating", {}).get("list", [])
var_names = {v.get("name") for v in tvars}
if not d.get("uid"):
    bad.append("no uid")
if not any(v.get("name") == "datasource" and v.get("type") == "datasource" and
           v.get("query") == "prometheus" for v in tvars):
    bad.append("no 'datasource' template variable of type datasource (prometheus)")

names = {}          # metric -> where it is queried
ids = {}
nexpr = 0
used_vars = set()

def note_expr(expr, where):
    for n in METRIC.findall(expr):
        names.setdefault(n, where)
    for m in VAR.finditer(expr):
        v = next(g for g in m.groups() if g)
        used_vars.add(v)
        if not v.startswith("__") and v not in var_names:
            bad.append(f"{where}: ${v} is not a template variable")

for v in tvars:
    if v.get("type") != "query":
        continue
    if ds_uid(v) not in DS_REFS:
        bad.append(f"variable '{v.get('name')}' does not use ${{datasource}}")
    q = v.get("query")
    q = q.get("query", "") if isinstance(q, dict) else (q or "")
    note_expr(q, f"variable '{v.get('name')}'")

boxes = []
for p in walk(d.get("panels", [])):
    title = p.get("title")
    pid = p.get("id")
    if pid is None:
        bad.append(f"panel '{title}' has no id")
    elif pid in ids:
        bad.append(f"panel id {pid} used by '{ids[pid]}' and '{title}'")
    else:
        ids[pid] = title
    g = p.get("gridPos", {})
    if p in d.get("panels", []):    # nested (collapsed) panels have their own grid
        boxes.append((g.get("x", 0), g.get("y", 0), g.get("w", 0), g.get("h", 0), title))
    if p.get("type") == "row":
        continue
    if ds_uid(p) not in DS_REFS:
        bad.append(f"panel '{title}' does not use ${{datasource}}")
    targets = p.get("targets", [])
    if not targets:
        bad.append(f"panel '{title}' has no query")
    refids = set()
    for t in targets:
        nexpr += 1
        refids.add(t.get("refId"))
        if ds_uid(t) not in DS_REFS:
            bad.append(f"panel '{title}' query {t.get('refId')} does not use ${{datasource}}")
        if not t.get("expr", "").strip():
            bad.append(f"panel '{title}' query {t.get('refId')} has no expr")
        note_expr(t.get("expr", ""), f"panel '{title}' query {t.get('refId')}")
    # Grafana names an instant table query's value column "Value" when the
    # panel has one query, "Value #<refId>" when it has several.
    rest = json.dumps({k: p.get(k) for k in ("fieldConfig", "transformations")})
    for ref in set(re.findall(r"Value #(\w+)", rest)):
        if ref not in refids or len(targets) < 2:
            bad.append(f"panel '{title}' names column 'Value #{ref}' but has no such query "
                       f"among {len(targets)}")
    if re.search(r'"Value"', rest) and len(targets) != 1:
        bad.append(f"panel '{title}' names column 'Value' but has {len(targets)} queries")

for i, a in enumerate(boxes):
    for b in boxes[i + 1:]:
        if a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]:
            bad.append(f"panels '{a[4]}' and '{b[4]}' overlap on the grid")

missing = sorted(n for n in names if n not in served)
for n in missing:
    bad.append(f"{n} ({names[n]}): queried, but not in {metrics_path}")
print(f"check-grafana: {sum(1 for _ in walk(d.get('panels', [])))} panels (rows included), "
      f"{len(ids)} distinct ids, {nexpr} queries; ids, ${{datasource}}, grid, "
      f"value columns checked; variables used: {', '.join(sorted(used_vars)) or 'none'}")
print(f"check-grafana: {len(names)} pmesh metrics queried, {len(names) - len(missing)} "
      f"of them in {metrics_path} ({len(served)} names served):")
print("  " + " ".join(sorted(names)))
unused = sorted(n for n in served if n.startswith("pmesh_") and n not in names)
if unused:
    print(f"check-grafana: served but not charted: {' '.join(unused)}")
print(f"check-grafana: {'ok' if not bad else f'{len(bad)} problems'}")
for b in bad:
    print(f"  {b}")
sys.exit(1 if bad else 0)
PY
