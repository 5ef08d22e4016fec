#!/usr/bin/env bash
# Telemetry and SIGINT: while the prober runs (net_null, a static next-hop
# MAC), /pmesh/lcores and /pmesh/targets answer through DPDK's telemetry
# socket as dpdk-telemetry.py reads them; then SIGINT must stop it with exit
# 0 after the loss timeout, every probe resolved and the last windows
# flagged "final".
set -u
B=${PM_BUILD:-build}
command -v dpdk-telemetry.py >/dev/null || { echo "SKIP: dpdk-telemetry.py not installed"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
prefix=pm-tel-$$
tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill -INT "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp" "/var/run/dpdk/$prefix"
}
trap cleanup EXIT

timeout 60 "$B/app/prober/pmesh-prober" -l 0-1 --no-pci --no-huge -m 256 \
	--log-level=lib.eal:error --file-prefix "$prefix" --vdev=net_null0,no-rx=1 -- \
	--src-ip 10.0.0.1 --gateway-mac 02:00:00:00:00:02 --target 10.0.0.2 \
	--target 10.0.0.3:8620 --rate 1000 --flows 2 --window-ms 200 --duration 30 \
	--no-status --output "$tmp/out.json" 2>"$tmp/err" &
pid=$!
sock=/var/run/dpdk/$prefix/dpdk_telemetry.v2
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { echo "FAIL: no telemetry socket $sock"; cat "$tmp/err"; exit 1; }
sleep 2
echo "/pmesh/lcores" | dpdk-telemetry.py -f "$prefix" >"$tmp/lcores.json" 2>&1
echo "/pmesh/targets,0" | dpdk-telemetry.py -f "$prefix" >"$tmp/targets.json" 2>&1
python3 - "$tmp/lcores.json" "$tmp/targets.json" <<'PY'
import json, sys
def load(path):
    # dpdk-telemetry.py prints the JSON answer (possibly after a banner).
    text = open(path).read()
    return json.loads(text[text.index("{"):])
lc = load(sys.argv[1])["/pmesh/lcores"]
tg = load(sys.argv[2])["/pmesh/targets"]
ok = True
for lcore, c in lc.items():
    print(f"lcore {lcore}: tx_pkts {c['tx_pkts']} lost {c['lost']} flows {c['flows']}")
    ok &= c["tx_pkts"] > 0 and c["flows"] == 4 and "rx_truncated" in c
for i, t in sorted(tg.items()):
    print(f"target {i}: {t['name']} address {t['address']} sent {t['sent']} lost {t['lost']}")
    ok &= t["sent"] > 0 and t["address"] in ("10.0.0.2", "10.0.0.3")
ok &= len(lc) == 1 and len(tg) == 2
print("telemetry", "ok" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
[ $? -eq 0 ] || exit 1
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
pid=
echo "prober exit status after SIGINT: $rc"
[ $rc -eq 0 ] || { cat "$tmp/err"; exit 1; }
python3 - "$tmp/out.json" <<'PY'
import json, sys
s = l = r = fin = 0
for line in open(sys.argv[1]):
    d = json.loads(line)
    s += d["sent"]; l += d["lost"]; r += d["received"]
    fin += "final" in d["flags"]
print(f"after SIGINT: sent {s} lost {l} received {r}; {fin} final records")
ok = s > 0 and s == l + r and fin >= 1
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
