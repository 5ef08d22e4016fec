#!/usr/bin/env bash
# test_ctl_pinglist.sh: pmesh-ctl pinglist as a command -- its output is a
# prober file the prober accepts, --probe writes reflector-less targets,
# -o replaces the file whole (never half written), and bad input gets a
# clear error with exit 2.
set -u

src=${PM_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
build=${PM_BUILD:-$src/build}
ctl=$build/app/ctl/pmesh-ctl
prober=$build/app/prober/pmesh-prober
[[ -x $ctl && -x $prober ]] || { echo "SKIP: $ctl or $prober not built"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() {
	if eval "$1"; then echo "ok:   $2"; else echo "FAIL: $2"; fails=$((fails + 1)); fi
}

printf 'prober = { src_ip = "10.64.0.10"; gateway_mac = "02:00:00:00:00:01"; };\n' \
	>"$tmp/base.cfg"
topo=$src/config/topology.cfg

"$ctl" pinglist --topology "$topo" --appliance pod1 --base "$tmp/base.cfg" \
	-o "$tmp/p.cfg" 2>"$tmp/err"
rc=$?
check "[ $rc -eq 0 ]" "appliance list written (exit $rc)"
n=$(grep -c '{ ip = ' "$tmp/p.cfg")
check "[ $n -gt 0 ]" "$n targets"
"$prober" -- -c "$tmp/p.cfg" --check-config 2>"$tmp/chk"
rc=$?
check "[ $rc -eq 0 ]" "the prober accepts it: $(cat "$tmp/chk")"

for type in icmp tcp; do
	"$ctl" pinglist --topology "$topo" --appliance pod1 --base "$tmp/base.cfg" \
		--probe $type --port 22 -o "$tmp/$type.cfg" 2>/dev/null
	rc=$?
	k=$(grep -c "type = \"$type\"" "$tmp/$type.cfg")
	check "[ $rc -eq 0 ] && [ $k -eq $n ]" "--probe $type: $k of $n targets of type $type"
	"$prober" -- -c "$tmp/$type.cfg" --check-config 2>"$tmp/chk"
	rc=$?
	check "[ $rc -eq 0 ]" "the prober accepts the $type list"
done

# -o is atomic: the old file stays until the new one is whole; no temp left.
ino1=$(stat -c %i "$tmp/p.cfg")
"$ctl" pinglist --topology "$topo" --appliance pod1 --base "$tmp/base.cfg" --seed 7 \
	-o "$tmp/p.cfg" 2>/dev/null
ino2=$(stat -c %i "$tmp/p.cfg")
left=$(find "$tmp" -name 'p.cfg.tmp*' | wc -l)
check "[ $ino1 != $ino2 ] && [ $left -eq 0 ]" "-o replaced the file by rename (inode $ino1 -> $ino2), no temp file left"

"$ctl" pinglist --topology "$topo" --appliance pod1 --probe udp >/dev/null 2>"$tmp/err"
rc=$?
check "[ $rc -eq 2 ] && grep -q 'stamp, icmp or tcp' $tmp/err" "--probe udp: exit $rc, $(cat "$tmp/err")"
"$ctl" pinglist --topology "$topo" --appliance pod1 --probe icmp --rate 500 >/dev/null 2>"$tmp/err"
rc=$?
check "[ $rc -eq 2 ] && grep -q 'over the 100 pps' $tmp/err" "--probe icmp --rate 500: exit $rc, $(cat "$tmp/err")"
"$ctl" pinglist --topology "$topo" --appliance pod1 -o /nonexistent/dir/p.cfg 2>"$tmp/err"
rc=$?
check "[ $rc -eq 1 ]" "unwritable -o: exit $rc, $(cat "$tmp/err")"

echo "$fails failed"
[ $fails -eq 0 ]
