#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# test_fabric_paths.sh: path discovery by the DPDK prober on a fabric.
#
# scripts/fabric.sh (2 pods x 2 ToRs x 2 hosts x 4 spines), a socket
# reflector on every host, and pod 1's appliance running pmesh-prober on
# its AF_PACKET port with the pinglist pmesh-ctl writes for it (13 flows
# per target) and --trace-interval 4 for 10 s.  Then:
#  - every flow of every target has a path record, and the probes were
#    answered (the traces took nothing from them);
#  - a target in the appliance's rack is reached through its ToR
#    (10.64.0.1) at TTL 2; a target in another rack at TTL 4 through the
#    ToR, a spine (172.17-20.0.0: the address the fabric gives the spine's
#    link to rack 0) and the target's ToR;
#  - a flow traced twice took the same path both times (ECMP hashes the
#    5-tuple), and the flows to other racks used every spine;
#  - pmesh-ctl pinglist --paths gives each target off the rack the fewest
#    flows (first source ports) whose discovered paths cover all 4 spines;
#  - with spine 3 dropping everything, the flows whose records crossed it
#    lose all their probes, and every other flow gets answers (the fabric's
#    hash is symmetric: path and loss agree).
set -uo pipefail

. "${PM_SRC:-$(dirname "$0")/../..}/test/integration/pm_integ.sh"
pm_it_require nft
src=${PM_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
ctl=$PM_BUILD/app/ctl/pmesh-ctl
pm_require_file "$ctl"
name=p$(( $$ % 100000 ))
fab() { timeout 120 bash "$src/scripts/fabric.sh" --name "$name" "$@"; }
pm_on_exit "bash '$src/scripts/fabric.sh' down --name '$name' >/dev/null 2>&1"
tmp=$(pm_tmpdir)
pm_it_keep "$tmp"
fail=0
check() {	# STATUS MESSAGE...: 0 passes
	local st=$1
	shift
	if [ "$st" -eq 0 ]; then echo "ok:   $*"; else echo "FAIL: $*"; fail=1; fi
}

fab up >"$tmp/up.out" 2>&1 || { cat "$tmp/up.out"; pm_fail "fabric up"; }
topo=$(sed -n 's/^  topology: //p' "$tmp/up.out")
for p in 1 2; do
	for t in 1 2; do
		for h in 1 2; do
			pm_bg bash "$src/scripts/fabric.sh" --name "$name" exec "p${p}t${t}h$h" \
				"$PM_REFL" --socket --listen 0.0.0.0:862 2>>"$tmp/refl.err"
		done
	done
done
sleep 0.5

run_prober() {	# TAG DURATION
	cat >"$tmp/base-$1.cfg" <<-EOF
		prober = {
			id = "pod1-appliance";
			src_ip = "10.64.0.250";
			gateway = "10.64.0.1";
			duration_s = $2;
			idle_sleep_us = 100;
			trace_interval_s = 4;
			sink = "json";
			output = "$tmp/out-$1.json";
		};
	EOF
	"$ctl" pinglist --topology "$topo" --appliance pod1 --base "$tmp/base-$1.cfg" \
		-o "$tmp/prober-$1.cfg" 2>>"$tmp/ctl.err" || { cat "$tmp/ctl.err"; return 1; }
	timeout $(($2 + 60)) bash "$src/scripts/fabric.sh" --name "$name" exec p1a \
		"$PM_PROBER" -l 0-1 $(pm_it_eal "$1") --vdev=net_af_packet0,iface=eth0 -- \
		-c "$tmp/prober-$1.cfg" --no-status 2>"$tmp/prober-$1.err"
}

run_prober a 10
rc=$?
check $rc "prober exit status $rc"
grep "counters:" "$tmp/prober-a.err"
python3 - "$tmp/out-a.json" "$tmp/prober-a.cfg" >"$tmp/check-a" <<'PY'
import collections, json, re, sys
paths = collections.defaultdict(list)
sent = recv = 0
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d["kind"] == "path":
        paths[(d["dst"], d["sport"])].append(d["hops"])
    elif d["kind"] == "summary":
        sent += d["sent"]
        recv += d["received"]
targets = re.findall(r'ip = "([0-9.]+)"; port = 862; name = "[^"]*"; rate_pps = \d+; flows = (\d+)',
                     open(sys.argv[2]).read())
want = {(ip, 49152 + f) for ip, n in targets for f in range(int(n))}
ok = True
def check(cond, what):
    global ok
    print(("ok:   " if cond else "FAIL: ") + what)
    ok &= bool(cond)
check(want and want <= set(paths), f"{len(paths)} flows have path records; {len(want)} flows probed")
check(sent > 0 and recv >= 0.98 * sent, f"probes answered: {recv} of {sent}")
spines = re.compile(r"^172\.(17|18|19|20)\.0\.0$")
bad, stable, used = [], 0, collections.Counter()
for (ip, sport), runs in sorted(paths.items()):
    for h in runs:
        if ip.startswith("10.64.0."):
            good = h == ["10.64.0.1", ip]
        else:
            k = int(ip.split(".")[2])
            good = len(h) == 4 and h[0] == "10.64.0.1" and spines.match(h[1]) and \
                   h[2] == f"172.{h[1].split('.')[1]}.{k}.1" and h[3] == ip
        if not good:
            bad.append((ip, sport, h))
    if len(runs) > 1:
        stable += all(r == runs[0] for r in runs)
        if not all(r == runs[0] for r in runs):
            bad.append((ip, sport, "changed", runs))
    if not ip.startswith("10.64.0."):
        used[runs[0][1]] += 1
check(not bad, f"hops as the fabric is built ({len(bad)} wrong{': ' + str(bad[:2]) if bad else ''})")
check(stable > 0, f"{stable} flows traced twice or more took the same path every time")
check(len(used) == 4, f"flows to other racks crossed {len(used)} spines: {dict(used)}")
# For the next run: which flows cross spine 3.
with open(sys.argv[1] + ".spine3", "w") as f:
    for (ip, sport), runs in paths.items():
        if len(runs[0]) > 1 and runs[0][1] == "172.19.0.0":
            f.write(f"{ip} {sport}\n")
sys.exit(0 if ok else 1)
PY
rc=$?
cat "$tmp/check-a"
check $rc "path records of run a"

# Exact cover: pmesh-ctl sizes each target's flows from these paths.
"$ctl" pinglist --topology "$topo" --appliance pod1 --paths "$tmp/out-a.json" \
	-o "$tmp/exact.cfg" 2>"$tmp/exact.err"
rc=$?
cat "$tmp/exact.err"
python3 - "$tmp/exact.cfg" "$tmp/out-a.json" <<'PY'
import json, re, sys
spine = {}
for line in open(sys.argv[2]):
    d = json.loads(line)
    if d["kind"] == "path" and len(d["hops"]) == 4:
        spine[(d["dst"], d["sport"])] = d["hops"][1]
t = re.findall(r'ip = "([0-9.]+)";.*flows = (\d+); }.*# ([a-z-]+)(, flows from discovered paths)?',
               open(sys.argv[1]).read())
off = [(ip, int(n), bool(x)) for ip, n, lvl, x in t if not ip.startswith("10.64.0.")]
bad = [(ip, n) for ip, n, x in off
       if not x or len({spine.get((ip, 49152 + f)) for f in range(n)} - {None}) != 4 or n > 13]
print(f"  flows from paths: {[(ip, n) for ip, n, x in off]}")
print(("ok:   " if off and not bad else "FAIL: ") +
      f"{len(off)} targets off the rack get the fewest flows covering all 4 spines ({bad})")
sys.exit(0 if off and not bad else 1)
PY
check $((rc || $?)) "pmesh-ctl --paths: flows sized from discovered paths"

# Spine 3 drops everything: the flows that cross it (forward) lose it all.
fab fault drop 100 spine 3 >/dev/null
run_prober b 6
python3 - "$tmp/out-b.json" "$tmp/out-a.json.spine3" <<'PY'
import collections, json, sys
via3 = {tuple(l.split()) for l in open(sys.argv[2])}
via3 = {(a, int(b)) for a, b in via3}
s = collections.defaultdict(lambda: [0, 0])
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d["kind"] == "summary":
        s[(d["dst"], d["sport"])][0] += d["sent"]
        s[(d["dst"], d["sport"])][1] += d["received"]
wrong = [k for k in via3 if k in s and s[k][1] > 0]
cross = sum(1 for k in via3 if k in s)
others = [k for k in s if k not in via3 and s[k][1] == 0]
print(f"flows through spine 3: {cross}, of which answered: {len(wrong)}; "
      f"other flows with nothing back: {len(others)}")
sys.exit(0 if cross > 0 and not wrong and not others else 1)
PY
check $? "spine 3 down to 100 % drop: exactly the flows whose path crosses it lose everything"
fab fault clear >/dev/null

[ $fail -eq 0 ] && echo "PASS: fabric_paths" || echo "FAIL: fabric_paths"
exit $fail
