#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# pmesh-aggregator --http: what a person and Prometheus see.
#  - before any window: / says so, /tables is 503, /metrics has the counters;
#    POST is 405, an unknown path 404; a bad --http is exit 2, a taken port
#    exit 1, each with a message;
#  - kfeed plays the 8-rack, 4-spine fabric: spine2 drops 2 %, flows to
#    rack pod2-r2 lose 20 % more, flows to pod1-r3 take 200 us longer; once a
#    window is emitted, /tables is that window, /metrics carries its rows and
#    alerts, and every metric docs/grafana's dashboard queries
#    (scripts/check-grafana.sh);
#  - headless Chromium renders / : its DOM holds one cell per rack pair of
#    /tables in each heatmap, with the pair's drop rate and p99 and the
#    colour of its class (yellow 0.1-1 %, red >= 5 %; green p99, red for the
#    slow rack), the spine bars and the alerts; its screenshot shows each
#    colour over its cells' area (the heatmaps are drawn, not just sent).
. "$(dirname "$0")/kafka_lib.sh"
. "$(dirname "$0")/agg_lib.sh"
kt_need "$AGG" "$KFEED"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
CHROME=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROME" ] || { echo "SKIP: chromium not installed (apt-get install chromium)"; exit 77; }
root=$(cd "$(dirname "$0")/../.." && pwd)
fail=0
agg_topology "$KT/topo.cfg"

# Usage errors first: no broker needed.
"$AGG" -b 127.0.0.1:1 --topology "$KT/topo.cfg" --http nonsense 2>"$KT/e1"
rc=$?
[ $rc -eq 2 ] && grep -q "expected IPv4:PORT" "$KT/e1" ||
	{ echo "FAIL: --http nonsense: exit $rc: $(cat "$KT/e1")"; fail=1; }
echo "--http nonsense: exit $rc: $(head -1 "$KT/e1")"

kt_start_mock --partitions 4 --quiet
"$AGG" -b "$BS" --topology "$KT/topo.cfg" --window-ms 10000 --grace-ms 0 --duration 170 \
	--http 127.0.0.1:0 --output "$KT/tables.json" 2>"$KT/agg.err" &
AGG_PID=$!
KT_PIDS+=($AGG_PID)
port=""
for i in $(seq 100); do
	port=$(grep -o 'http://127.0.0.1:[0-9]*' "$KT/agg.err" 2>/dev/null | grep -o '[0-9]*$')
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || { echo "FAIL: no 'serving http' line"; cat "$KT/agg.err"; exit 1; }
U=http://127.0.0.1:$port
echo "aggregator serves $U"

"$AGG" -b "$BS" --topology "$KT/topo.cfg" --http 127.0.0.1:$port 2>"$KT/e2"
rc=$?
[ $rc -eq 1 ] && grep -q "cannot listen" "$KT/e2" ||
	{ echo "FAIL: port taken: exit $rc: $(cat "$KT/e2")"; fail=1; }
echo "port taken: exit $rc: $(head -1 "$KT/e2")"

code() { curl -s -o "$KT/body" -w '%{http_code}' --max-time 10 "$@"; }
c=$(code "$U/tables"); [ "$c" = 503 ] || { echo "FAIL: /tables before a window: $c"; fail=1; }
c=$(code "$U/"); [ "$c" = 200 ] && grep -q "No window emitted yet" "$KT/body" ||
	{ echo "FAIL: / before a window: $c"; fail=1; }
c=$(code "$U/metrics"); [ "$c" = 200 ] && grep -q '^pmesh_aggregator_windows_total 0$' "$KT/body" ||
	{ echo "FAIL: /metrics before a window: $c"; fail=1; }
c=$(code -X POST -d x "$U/metrics"); [ "$c" = 405 ] || { echo "FAIL: POST: $c"; fail=1; }
c=$(code "$U/nowhere"); [ "$c" = 404 ] || { echo "FAIL: /nowhere: $c"; fail=1; }
echo "before any window: /tables 503, / 200, /metrics 200, POST 405, /nowhere 404"

N=$((8 * 8 * 4 * 30))
timeout 60 "$KFEED" -b "$BS" --id web --fabric 8 --drop-spine 1 --drop-pct 2 --count $N \
	--drop-rack 5 --rack-drop-pct 20 --slow-rack 2 --lcores 4 --spool-dir "$KT/spool" >"$KT/feed.out" 2>&1 ||
	{ echo "FAIL: kfeed"; cat "$KT/feed.out"; exit 1; }
cat "$KT/feed.out"
# 30 s of summaries, 10 s windows, no grace: two windows close, the third
# stays open while the aggregator waits for more.
for i in $(seq 300); do
	[ "$(wc -l <"$KT/tables.json" 2>/dev/null)" -ge 2 ] && break
	sleep 0.2
done
sleep 1
[ "$(wc -l <"$KT/tables.json")" -eq 2 ] ||
	{ echo "FAIL: $(wc -l <"$KT/tables.json") windows emitted, expected 2"; cat "$KT/agg.err"; fail=1; }
curl -s --max-time 10 "$U/tables" >"$KT/tables.now"
curl -s --max-time 10 "$U/metrics" >"$KT/metrics"
curl -s --max-time 10 "$U/?cdf=pair:pod1-r2%3Epod2-r3" >"$KT/page.cdf"
echo "/metrics: $(grep -vc '^#' "$KT/metrics") samples"

python3 - "$KT" <<'PY' || fail=1
import json, os, sys
d = sys.argv[1]
last = open(os.path.join(d, "tables.json")).read().splitlines()[-1]
now = open(os.path.join(d, "tables.now")).read().strip()
ok = True
def check(cond, what):
    global ok
    print(("ok:   " if cond else "FAIL: ") + what)
    ok &= cond
check(json.loads(now) == json.loads(last), "/tables is the newest window of --output")
m = {}
for line in open(os.path.join(d, "metrics")):
    if line.startswith("#") or not line.strip():
        continue
    k, v = line.rsplit(" ", 1)
    m[k] = float(v)
t = json.loads(last)
check(m.get('pmesh_window_start_seconds') == t["window_start_ns"] / 1e9,
      "pmesh_window_start_seconds is the window's start")
for s in t["tables"]["spines"]:
    k = 'pmesh_spine_drop_ratio{spine="%s"}' % s["name"]
    check(abs(m.get(k, -1) - s["drop_rate"]) < 1e-6, f"{k} = {m.get(k)} (tables: {s['drop_rate']})")
for s in t["tables"]["tors"]:
    k = 'pmesh_tor_rtt_seconds{tor="%s",pod="%s",quantile="0.99"}' % (s["name"], s["name"].split("-")[0])
    check(abs(m.get(k, -1) - s["rtt_ns"]["p99"] / 1e9) < 1e-9, f"{k} = {m.get(k)}")
rp = t["tables"]["rack_pairs"]
n = sum(1 for k in m if k.startswith("pmesh_rack_pair_probes{"))
check(n == len(rp), f"{n} rack-pair series for {len(rp)} rack pairs")
al = t["alerts"]
check(m.get('pmesh_alerts') == len(al) and len(al) >= 1, f"pmesh_alerts {m.get('pmesh_alerts')}, "
      f"tables: {[(a['kind'], a['element']) for a in al]}")
for i, a in enumerate(al):
    k = 'pmesh_alert{kind="%s",table="%s",element="%s",rank="%d"}' % (a["kind"], a["table"], a["element"], i + 1)
    check(k in m, f"{k} = {m.get(k)}")
check(m.get('pmesh_aggregator_summaries_total', 0) >= 2 * 8 * 8 * 4 * 10,
      f"summaries_total {m.get('pmesh_aggregator_summaries_total')}")
page = open(os.path.join(d, "page.cdf")).read()
check("Network RTT CDF: rack pair pod1-r2 → pod2-r3" in page and 'id="cdf-plot"' in page,
      "?cdf=pair:pod1-r2>pod2-r3 draws that pair's CDF")
sys.exit(0 if ok else 1)
PY

bash "$root/scripts/check-grafana.sh" "$root/docs/grafana/pmesh-dashboard.json" "$KT/metrics" ||
	{ echo "FAIL: the Grafana dashboard queries what /metrics does not serve"; fail=1; }

chrome() {
	timeout 60 "$CHROME" --headless --no-sandbox --disable-gpu --hide-scrollbars \
		--force-color-profile=srgb --user-data-dir="$KT/chrome" \
		--window-size=1400,1500 "$@" 2>>"$KT/chrome.err"
}
chrome --dump-dom "$U/" >"$KT/dom.html" || { echo "FAIL: chromium --dump-dom"; tail -5 "$KT/chrome.err"; fail=1; }
chrome --screenshot="$KT/page.png" "$U/" >/dev/null ||
	{ echo "FAIL: chromium --screenshot"; tail -5 "$KT/chrome.err"; fail=1; }
[ -s "$KT/page.png" ] || { echo "FAIL: no screenshot"; fail=1; }

python3 - "$KT" <<'PY' || fail=1
import collections, html.parser, json, os, struct, sys, zlib
d = sys.argv[1]
t = json.loads(open(os.path.join(d, "tables.now")).read())
SLA = 0.001
FILL = ["#dddddd", "#1a9850", "#a6d96a", "#fee08b", "#fc8d59", "#d73027"]
def cls(r):
    if r["received"] + r["lost"] == 0: return 0
    if r["lost"] == 0: return 1
    x = r["drop_rate"]
    return 2 if x < SLA else 3 if x < 10 * SLA else 4 if x < 50 * SLA else 5
# p99 classes: x the median p99 of the rack pairs (no p99 SLA given).
p99s = sorted(r["rtt_ns"]["p99"] for r in t["tables"]["rack_pairs"] if r["rtt_ns"]["n"])
ref = p99s[len(p99s) // 2]
def pcls(r):
    if r["rtt_ns"]["n"] == 0: return 0
    for i, k in enumerate((1.25, 2, 4, 10)):
        if r["rtt_ns"]["p99"] <= ref * k: return i + 1
    return 5
ok = True
def check(cond, what):
    global ok
    print(("ok:   " if cond else "FAIL: ") + what)
    ok &= cond

class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.svg = []
        self.cells = {}
        self.pcells = {}
        self.bars = {}
        self.alerts = []
        self.start = None
    def handle_starttag(self, tag, a):
        a = dict(a)
        if tag == "svg":
            self.svg.append(a.get("id"))
        cur = self.svg[-1] if self.svg else None
        if tag == "rect" and cur == "heat-drop" and a.get("class") == "cell":
            self.cells[(a["data-src"], a["data-dst"])] = a
        if tag == "rect" and cur == "heat-p99" and a.get("class") == "cell":
            self.pcells[(a["data-src"], a["data-dst"])] = a
        if tag == "rect" and cur == "spine-bars" and a.get("class") == "bar":
            self.bars[a["data-spine"]] = a
        if tag == "tr" and a.get("class") == "alert":
            self.alerts.append(a.get("data-kind"))
        if tag == "p" and a.get("id") == "window":
            self.start = int(a["data-start-ns"])
    def handle_endtag(self, tag):
        if tag == "svg" and self.svg:
            self.svg.pop()
p = P()
p.feed(open(os.path.join(d, "dom.html")).read())
check(p.start == t["window_start_ns"], f"the page shows window {p.start}")
rp = t["tables"]["rack_pairs"]
check(len(p.cells) == len(rp) and len(p.pcells) == len(rp),
      f"heatmaps: {len(p.cells)} and {len(p.pcells)} cells for {len(rp)} rack pairs")
want = collections.Counter()
bad = 0
for r in rp:
    c = p.cells.get((r["src"], r["dst"]))
    if c is None or abs(float(c["data-drop"]) - r["drop_rate"]) > 1e-6 or \
       c["fill"] != FILL[cls(r)]:
        bad += 1
    c = p.pcells.get((r["src"], r["dst"]))
    if c is None or int(c["data-p99-ns"]) != r["rtt_ns"]["p99"] or c["fill"] != FILL[pcls(r)]:
        bad += 1
    want[FILL[cls(r)]] += 1
    want[FILL[pcls(r)]] += 1
check(bad == 0, f"every cell carries its pair's drop rate or p99 and its colour ({bad} wrong); "
      f"cells per colour {dict(want)}")
check(len(want) >= 3, f"the fabric shows {len(want)} colours (at least 3 expected)")
sp = t["tables"]["spines"]
check(set(p.bars) == {s["name"] for s in sp} and
      all(p.bars[s["name"]]["fill"] == FILL[cls(s)] for s in sp),
      "spine bars: " + ", ".join(f"{s['name']} {s['drop_rate']:.4f} {p.bars.get(s['name'], {}).get('fill')}" for s in sp))
check(p.alerts == [a["kind"] for a in t["alerts"]], f"alerts on the page: {p.alerts}")

# The screenshot: decode the PNG (8-bit RGB/RGBA, not interlaced) and count
# the cells' colours.
def png(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        n, typ = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if typ == b"IHDR":
            w, h, depth, ctype, _, _, inter = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and inter == 0, (depth, ctype, inter)
        elif typ == b"IDAT":
            idat += body
        pos += 12 + n
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    out, prev, i = [], bytearray(stride), 0
    for y in range(h):
        f = raw[i]; line = bytearray(raw[i + 1:i + 1 + stride]); i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1: line[x] = (line[x] + a) & 255
            elif f == 2: line[x] = (line[x] + b) & 255
            elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                pr = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[x] = (line[x] + pr) & 255
        out.append(bytes(line)); prev = line
    return w, h, bpp, out
w, h, bpp, rows = png(os.path.join(d, "page.png"))
count = collections.Counter()
for line in rows:
    for x in range(0, w * bpp, bpp):
        count[line[x:x + 3]] += 1
def px(hexc):
    rgb = bytes.fromhex(hexc[1:])
    return sum(v for k, v in count.items() if all(abs(k[j] - rgb[j]) <= 3 for j in range(3)))
cell_px = 29 * 29		# 8 racks: 30 px cells, 1 px gap
for colour, n in want.items():
    got = px(colour)
    check(got >= 0.9 * n * cell_px, f"screenshot {w}x{h}: {got} px of {colour}, "
          f"cells need {n * cell_px}")
bars = max(s["drop_rate"] for s in sp)
top = [s for s in sp if s["drop_rate"] == bars][0]
got = px(FILL[cls(top)])
check(got >= 0.9 * 420 * 18, f"screenshot: {top['name']}'s full-length bar, {got} px of {FILL[cls(top)]}")
sys.exit(0 if ok else 1)
PY

kill -INT $AGG_PID
timeout 20 tail --pid=$AGG_PID -f /dev/null
wait $AGG_PID
rc=$?
[ $rc -eq 0 ] || { echo "FAIL: aggregator exited $rc after SIGINT"; fail=1; }
tail -1 "$KT/agg.err"
[ $fail -eq 0 ] && echo "PASS: aggregator_http" || echo "FAIL: aggregator_http"
exit $fail
