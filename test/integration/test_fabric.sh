#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# test_fabric.sh: scripts/fabric.sh builds the Clos it promises, its faults
# do what they say, and it leaves nothing behind.
#
# On a 2 pods x 2 ToRs x 2 hosts x 4 spines fabric, with kernel UDP flows
# from pod 1 to pod 2 (test/integration/fabric_probe.py):
#  - every host reaches every rack; the hop at TTL 2 of each flow is a
#    spine address; 64 flows cover at least 3 of the 4 spines; paths are
#    the same when asked twice (ECMP per 5-tuple);
#  - the topology file it writes loads in pmesh-aggregator;
#  - drop 30 % on spine 2: flows whose path crosses it lose 35-65 % (the
#    hash is symmetric, so replies cross it too: 1 - 0.7^2 = 51 %), the
#    others under 2 %;
#  - black hole 50 % of the 5-tuples on spine 3: every flow loses all or
#    nothing, and some lose all;
#  - 100 % drop on the link pod 1 ToR 1 <-> spine 1: exactly the flows
#    whose path uses it lose everything;
#  - link down pod 1 ToR 1 <-> spine 4: no flow takes spine 4;
#  - 2 ms delay each way on the link the pings take (pmesh-delayline):
#    their RTT grows by 3.5-8 ms, and is back after fault clear;
#  - fault clear: all flows back, spine 4 used again, no loss;
#  - bad input: a percentage of 150, an unknown spine, a second `up` and an
#    unknown node each fail with a message;
#  - down: no namespace and no state file of the fabric remains; then 8 x 8 x 8 x 8 (592
#    namespaces) comes up, carries a flow across, and goes down clean
#    (times printed).
set -uo pipefail

. "${PM_SRC:-$(dirname "$0")/../..}/scripts/netns.sh"
pm_require_netns
pm_require_cmd nft python3 ip
src=${PM_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
agg=${PM_BUILD:-$src/build}/app/aggregator/pmesh-aggregator
name=t$(( $$ % 100000 ))
big=b$(( $$ % 100000 ))
fab() { timeout 120 bash "$src/scripts/fabric.sh" --name "$name" "$@"; }
probe() { fab exec "$1" python3 "$src/test/integration/fabric_probe.py" "${@:2}"; }
pm_on_exit "bash '$src/scripts/fabric.sh' down --name '$name' >/dev/null 2>&1; \
	bash '$src/scripts/fabric.sh' down --name '$big' >/dev/null 2>&1"
tmp=$(pm_tmpdir)
fail=0
check() {	# STATUS MESSAGE...: 0 passes
	local st=$1
	shift
	if [ "$st" -eq 0 ]; then echo "ok:   $*"; else echo "FAIL: $*"; fail=1; fi
}

t0=$(date +%s)
fab up >"$tmp/up.out" 2>&1 || { cat "$tmp/up.out"; pm_fail "fabric up"; }
echo "up in $(( $(date +%s) - t0 )) s: $(head -1 "$tmp/up.out")"
DST=10.64.3.10		# pod 2, ToR 2, host 1
N=64

reach=0
for k in 0 1 2 3; do
	for h in 10 11; do
		fab exec p1t1h1 ping -c1 -W2 "10.64.$k.$h" >/dev/null 2>&1 && reach=$((reach + 1))
	done
done
check $((reach != 8)) "p1t1h1 reaches all 8 hosts ($reach)"

bg_echo() {
	pm_bg bash "$src/scripts/fabric.sh" --name "$name" exec p2t2h1 \
		python3 "$src/test/integration/fabric_probe.py" echo
	sleep 0.5
}
bg_echo

probe p1t1h1 paths $DST 40000 $N >"$tmp/paths1"
probe p1t1h1 paths $DST 40000 $N >"$tmp/paths2"
cmp -s "$tmp/paths1" "$tmp/paths2"
check $? "paths asked twice are the same"
spread=$(awk '{ print $2 }' "$tmp/paths1" | sort | uniq -c | tr -s ' ' | tr '\n' ',')
nspines=$(awk '$2 ~ /^172\.(17|18|19|20)\.0\.0$/ { print $2 }' "$tmp/paths1" | sort -u | wc -l)
bad=$(awk '$2 !~ /^172\.(17|18|19|20)\.0\.0$/' "$tmp/paths1" | wc -l)
check $((bad != 0 || nspines < 3)) "hop 2 is a spine for every flow, $nspines spines used ($spread)"

if [ -x "$agg" ]; then
	topo=$(sed -n 's/^  topology: //p' "$tmp/up.out")
	timeout 20 "$agg" -b 127.0.0.1:1 --topology "$topo" --duration 1 --no-publish \
		>/dev/null 2>"$tmp/agg.err"
	rc=$?
	check $((rc == 2)) "the fabric's topology loads in pmesh-aggregator (exit $rc)"
	[ $rc -ne 2 ] || cat "$tmp/agg.err"
fi

# loss_by_spine FILE: per forward spine, "spine lost% flows"
loss_by_spine() {
	join "$tmp/paths1" "$1" | awk '{ l[$2] += $3 - $4; n[$2] += $3; f[$2]++ }
		END { for (k in l) printf "%s %.1f %d\n", k, 100 * l[k] / n[k], f[k] }' | sort
}

fab fault drop 30 spine 2 >/dev/null
probe p1t1h1 loss $DST 40000 $N 100 >"$tmp/loss1"
loss_by_spine "$tmp/loss1" >"$tmp/by1"
sed 's/^/  drop 30 % spine 2: /' "$tmp/by1"
s2=$(awk '$1 == "172.18.0.0" { print $2 }' "$tmp/by1")
other=$(join "$tmp/paths1" "$tmp/loss1" | awk '$2 != "172.18.0.0" { l += $3 - $4; n += $3 }
	END { printf "%.1f", n ? 100 * l / n : 0 }')
awk -v a="${s2:-0}" -v b="$other" 'BEGIN { exit !(a >= 35 && a <= 65 && b < 2) }'
check $? "spine 2's flows lose ${s2:-?} % (35..65), the others $other % (< 2)"
fab fault clear >/dev/null

fab fault blackhole 50 spine 3 >/dev/null
probe p1t1h1 loss $DST 40000 $N 40 >"$tmp/loss2"
partial=$(awk '$3 != 0 && $3 != $2' "$tmp/loss2" | wc -l)
holed=$(awk '$3 == 0' "$tmp/loss2" | wc -l)
check $((partial != 0 || holed == 0)) "black hole: $holed flows lose all, $partial lose part"
fab fault clear >/dev/null

fab fault drop 100 link 1 1 1 >/dev/null
probe p1t1h1 loss $DST 40000 $N 20 >"$tmp/loss3"
wrong=$(join "$tmp/paths1" "$tmp/loss3" | awk '($2 == "172.17.0.0") != ($4 == 0)' | wc -l)
gone=$(awk '$3 == 0' "$tmp/loss3" | wc -l)
check "$wrong" "100 % drop on link pod 1 ToR 1 - spine 1: exactly its flows lost" \
	"($gone lost, $wrong wrong)"
fab fault clear >/dev/null

fab fault linkdown 1 1 4 >/dev/null
probe p1t1h1 paths $DST 40000 $N >"$tmp/paths3"
via4=$(awk '$2 == "172.20.0.0"' "$tmp/paths3" | wc -l)
check "$via4" "link to spine 4 down: $via4 flows still take spine 4"
fab fault clear >/dev/null

# Delay: 2 ms each way on the link the pings take (ICMP echo hashes on
# the addresses only: one path).
rtt() {	# after one ping: a rewired link first resolves its neighbours
	fab exec p1t1h1 ping -c 1 -W 3 "$DST" >/dev/null
	fab exec p1t1h1 ping -c 20 -i 0.05 -W 2 "$DST" | awk -F/ '/^rtt/ { print $5 }'
}
sp=$(fab exec p1t1h1 ping -c1 -t2 -W1 "$DST" | sed -n 's/^From 172\.\([0-9]*\)\.0\.0.*/\1/p' | head -1)
sp=$(( ${sp:-17} - 16 ))
base=$(rtt)
fab fault delay 2000 link 1 1 "$sp" >/dev/null
slow=$(rtt)
fab fault clear >/dev/null
after=$(rtt)
awk -v b="${base:-0}" -v s="${slow:-0}" -v a="${after:-0}" \
	'BEGIN { exit !(s >= b + 3.5 && s <= b + 8 && a < b + 1) }'
check $? "2 ms each way on link pod 1 ToR 1 - spine $sp: ping RTT ${base:-?} ms ->" \
	"${slow:-?} ms, ${after:-?} ms after fault clear"
probe p1t1h1 paths $DST 40000 $N >"$tmp/paths4"
cmp -s "$tmp/paths1" "$tmp/paths4"
check $? "fault clear: the paths are back as they were"
probe p1t1h1 loss $DST 40000 $N 20 >"$tmp/loss4"
lost=$(awk '{ l += $2 - $3 } END { print l + 0 }' "$tmp/loss4")
check "$lost" "fault clear: $lost datagrams lost"

fab fault drop 150 spine 1 >"$tmp/e1" 2>&1; rc=$?
check $((rc != 2)) "drop 150: exit $rc, $(cat "$tmp/e1")"
fab fault drop 10 spine 9 >"$tmp/e2" 2>&1; rc=$?
check $((rc != 2)) "spine 9: exit $rc, $(cat "$tmp/e2")"
fab up >"$tmp/e3" 2>&1; rc=$?
check $((rc != 2)) "second up: exit $rc, $(cat "$tmp/e3")"
fab exec p9t9h9 true >"$tmp/e4" 2>&1; rc=$?
check $((rc != 2)) "unknown node: exit $rc, $(cat "$tmp/e4")"

fab down >/dev/null
left=$(ip netns list | grep -c "^pmf$name-")
check "$left" "down: $left namespaces left"
files=$(ls /run/pmesh-fabric/"$name".* 2>/dev/null | wc -l)
check "$files" "down: $files state files left in /run/pmesh-fabric"

t0=$(date +%s)
timeout 300 bash "$src/scripts/fabric.sh" --name "$big" up --pods 8 --tors 8 --hosts 8 \
	--spines 8 >"$tmp/big.out" 2>&1
rc=$?
t1=$(date +%s)
n=$(ip netns list | grep -c "^pmf$big-")
check $((rc != 0 || n != 592)) "8x8x8x8: up exit $rc in $((t1 - t0)) s, $n namespaces (592)"
timeout 20 bash "$src/scripts/fabric.sh" --name "$big" exec p1t1h1 ping -c5 -i0.2 -W2 10.64.63.17 \
	>/dev/null 2>&1
check $? "8x8x8x8: pod 1 reaches pod 8's last host"
timeout 300 bash "$src/scripts/fabric.sh" --name "$big" down >/dev/null 2>&1
t2=$(date +%s)
n=$(ip netns list | grep -c "^pmf$big-")
check "$n" "8x8x8x8: down in $((t2 - t1)) s, $n namespaces left"

[ $fail -eq 0 ] && echo "PASS: fabric" || echo "FAIL: fabric"
exit $fail
