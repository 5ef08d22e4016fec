#!/usr/bin/env bash
# test_netns_lib.sh: self-test of scripts/netns.sh, the library every
# integration test builds its network with.
#
# Checks that two namespaces joined by a veth pair can ping each other, that
# pm_dpdk_iface really silences the kernel on a port handed to DPDK, and that
# cleanup removes every namespace and background process the run made: on a
# normal exit, on a failing exit, on SIGTERM and on SIGINT.
set -euo pipefail

src=${PM_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
lib=$src/scripts/netns.sh
. "$lib"

pm_require_netns
pm_require_cmd ping ethtool timeout

prefix=$(pm_ns_prefix)
[[ $prefix == pm-$$-* ]] || pm_fail "prefix '$prefix' does not start with pm-$$-"

# True when any namespace named $1-* exists.
ns_left()
{
	ip netns list | awk '{ print $1 }' | grep -q -- "^$1-"
}

# True when process $1 still runs (zombies count as gone).
proc_alive()
{
	local st

	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}

# --- namespaces, veth, addresses, ping -------------------------------------
pm_ns_add a
pm_ns_add b
pm_veth a va b vb
pm_addr a va 10.199.0.1/24
pm_addr b vb 10.199.0.2/24
pm_exec a ping -c 2 -i 0.2 -W 2 -q 10.199.0.2 >/dev/null ||
	pm_fail "no ping across the veth pair"
[ -n "$(pm_mac b vb)" ] || pm_fail "pm_mac printed nothing"
echo "ok: ping across $(pm_ns a) -> $(pm_ns b)"

# --- a port handed to DPDK: no kernel address, no ARP, offloads off --------
pm_dpdk_iface b vb a va
ip -n "$(pm_ns b)" -o addr show dev vb | grep -q 'inet ' &&
	pm_fail "vb kept its IPv4 address"
ip -n "$(pm_ns b)" link show dev vb | grep -q NOARP ||
	pm_fail "vb still answers ARP"
pm_exec a ethtool -k va | grep -q '^tx-checksumming: off' ||
	pm_fail "tx checksumming still on for va"
ip -n "$(pm_ns a)" neigh flush dev va
if pm_exec a ping -c 1 -W 1 -q 10.199.0.2 >/dev/null 2>&1; then
	pm_fail "kernel still answers on a DPDK port"
fi
echo "ok: pm_dpdk_iface silenced the kernel on vb"

# --- pm_bg, pm_stop, pm_timeout, pm_wait_for --------------------------------
pm_bg pm_exec b sleep 300
bgpid=$PM_BG_PID
proc_alive "$bgpid" || pm_fail "background process did not start"
pm_bg sleep 300
pm_stop "$PM_BG_PID"
proc_alive "$PM_BG_PID" && pm_fail "pm_stop left $PM_BG_PID running"
rc=0
pm_timeout 1 sleep 10 2>/dev/null || rc=$?
[ $rc -eq 124 ] || pm_fail "pm_timeout returned $rc, want 124"
pm_wait_for 5 test -d /proc/$$ || pm_fail "pm_wait_for missed a true condition"
echo "ok: background processes, timeouts"

# --- cleanup in child runs that fail, get SIGTERM, get SIGINT, skip -------
tmp=$(pm_tmpdir)

# A child run that builds a small network and a background process, evals
# $3 (more set-up), writes "PREFIX PID" to the file named by $2 and then
# evals $4.  The file appears only once everything is started and
# registered, so a signal sent when it appears never races a fork (a
# process started but not yet in PM_BG_LIST would outlive the cleanup and
# hold the test's output open).
child='
	. "$1"
	pm_ns_add x
	pm_ns_add y
	pm_veth x vx y vy
	pm_bg pm_exec y sleep 300
	first=$PM_BG_PID
	eval "$3"
	echo "$(pm_ns_prefix) $first" >"$2.tmp"
	mv "$2.tmp" "$2"
	eval "$4"
'

# Check that the child run recorded in $tmp/$1 left nothing behind.
check_clean()
{
	local p pid

	read -r p pid <"$tmp/$1"
	[[ $p == pm-* ]] || pm_fail "$1: bad prefix '$p'"
	ns_left "$p" && pm_fail "$1: namespaces $p-* left behind"
	proc_alive "$pid" && pm_fail "$1: background pid $pid left running"
	echo "ok: $1 cleaned up"
}

rc=0
bash -c "$child" child "$lib" "$tmp/fail" '' 'exit 3' || rc=$?
[ $rc -eq 3 ] || pm_fail "failing child exited $rc, want 3"
check_clean fail

for sig in TERM INT; do
	# Job control, so the background child does not start with SIGINT
	# ignored (bash ignores it in asynchronous commands otherwise).
	set -m
	bash -c "$child" child "$lib" "$tmp/$sig" 'pm_bg sleep 300' 'wait' &
	cpid=$!
	set +m
	pm_bg "$cpid"
	pm_wait_for 20 test -e "$tmp/$sig" || pm_fail "$sig child did not start"
	kill -"$sig" "$cpid"
	rc=0
	wait "$cpid" || rc=$?
	want=143
	[ "$sig" = INT ] && want=130
	[ $rc -eq $want ] || pm_fail "child killed by SIG$sig exited $rc, want $want"
	check_clean "$sig"
done

rc=0
out=$(bash -c '. "$1"; pm_skip "no widget here"' child "$lib" 2>&1) || rc=$?
[ $rc -eq 77 ] || pm_fail "pm_skip exited $rc, want 77"
[ "$out" = "SKIP: no widget here" ] || pm_fail "pm_skip printed '$out'"
echo "ok: pm_skip exits 77 with its reason"

# --- this run's own cleanup --------------------------------------------------
pm_cleanup
ns_left "$prefix" && pm_fail "namespaces $prefix-* left after pm_cleanup"
proc_alive "$bgpid" && pm_fail "background pid $bgpid left after pm_cleanup"
[ -e "$tmp" ] && pm_fail "temporary directory $tmp left after pm_cleanup"
echo "ok: pm_cleanup removed everything"
