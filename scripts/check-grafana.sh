#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# check-grafana.sh DASHBOARD METRICS: does the Grafana dashboard only ask
# for what pmesh-aggregator serves?
#  - DASHBOARD parses as JSON, has a uid, a `datasource` template variable,
#    and panels with unique ids that all use ${datasource};
#  - every pmesh_* metric named in a query or template variable appears in
#    METRICS, a scrape of /metrics (a sample line or a # TYPE line).
# The aggregator_http test runs it against a live scrape.  Exit 0 when all
# holds, 1 otherwise (each problem printed), 2 on usage.
set -u
if [ $# -ne 2 ] || [ ! -r "$1" ] || [ ! -r "$2" ]; then
	echo "usage: check-grafana.sh DASHBOARD.json METRICS-SCRAPE" >&2
	exit 2
fi
exec python3 - "$1" "$2" <<'PY'
import json, re, sys

dash_path, metrics_path = sys.argv[1], sys.argv[2]
bad = []
try:
    d = json.load(open(dash_path))
except ValueError as e:
    print(f"check-grafana: {dash_path}: not JSON: {e}")
    sys.exit(1)

served = set()
for line in open(metrics_path):
    m = re.match(r"# TYPE (\w+) ", line) or re.match(r"([a-zA-Z_:][\w:]*)[{ ]", line)
    if m:
        served.add(m.group(1))

def panels(ps):
    for p in ps:
        yield p
        yield from panels(p.get("panels", []))

names = set()
ids = {}
exprs = 0
for p in panels(d.get("panels", [])):
    pid = p.get("id")
    if pid in ids:
        bad.append(f"panel id {pid} used by '{ids[pid]}' and '{p.get('title')}'")
    ids[pid] = p.get("title")
    if p.get("type") == "row":
        continue
    if (p.get("datasource") or {}).get("uid") != "${datasource}":
        bad.append(f"panel '{p.get('title')}' does not use ${{datasource}}")
    for t in p.get("targets", []):
        exprs += 1
        if (t.get("datasource") or {}).get("uid") != "${datasource}":
            bad.append(f"panel '{p.get('title')}' query {t.get('refId')} does not use ${{datasource}}")
        names.update(re.findall(r"\bpmesh_[a-z0-9_]+", t.get("expr", "")))
tvars = d.get("templating", {}).get("list", [])
if not any(v.get("name") == "datasource" and v.get("type") == "datasource" for v in tvars):
    bad.append("no 'datasource' template variable")
for v in tvars:
    q = v.get("query")
    q = q.get("query", "") if isinstance(q, dict) else (q or "")
    names.update(re.findall(r"\bpmesh_[a-z0-9_]+", q))
if not d.get("uid"):
    bad.append("no uid")
missing = sorted(n for n in names if n not in served)
for n in missing:
    bad.append(f"{n}: queried, but not in {metrics_path}")
print(f"check-grafana: {len(ids)} panels, {exprs} queries, {len(names)} metrics queried, "
      f"{len(served)} served: {'ok' if not bad else f'{len(bad)} problems'}")
for b in bad:
    print(f"  {b}")
sys.exit(1 if bad else 0)
PY
