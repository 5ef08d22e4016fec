#!/usr/bin/env bash
# No usable port: EAL found none, or the one given failed to start (a memif
# asked for zero-copy in a mode that cannot have it).  Prober and reflector
# must say so and exit 2 (configuration), not crash.
set -u
B=${PM_BUILD:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" /var/run/dpdk/pm-noport-$$*' EXIT
eal="-l 0-1 --no-pci --in-memory --log-level=lib.eal:error"
fail=0
check() {
	local what=$1 rc
	shift
	timeout 30 "$@" >"$tmp/out" 2>&1
	rc=$?
	if [ $rc -eq 2 ] && grep -q "port 0 does not exist" "$tmp/out"; then
		echo "$what: exit 2, \"$(grep -o 'port 0 does not exist[^;]*' "$tmp/out")\""
	else
		echo "$what: exit $rc (want 2 and 'port 0 does not exist'):"
		tail -5 "$tmp/out"
		fail=1
	fi
}
check "prober, no --vdev" $B/app/prober/pmesh-prober $eal --file-prefix pm-noport-$$-1 -- \
	--src-ip 10.0.0.1 --target 10.0.0.2 --duration 1 --output /dev/null
check "prober, memif that failed" $B/app/prober/pmesh-prober $eal --file-prefix pm-noport-$$-2 \
	--vdev=net_memif0,role=client,socket=$tmp/none.sock,zero-copy=yes -- \
	--src-ip 10.0.0.1 --target 10.0.0.2 --duration 1 --output /dev/null
check "reflector, no --vdev" $B/app/reflector/pmesh-reflector $eal --file-prefix pm-noport-$$-3 -- \
	--ip 10.0.0.2
[ $fail -eq 0 ] && echo PASS && exit 0
echo FAIL
exit 1
