# netns.sh: sourceable bash helpers for pmesh's integration tests.
#
# Every test that needs a network builds it out of network namespaces joined
# by veth pairs, so it never touches the host's own interfaces.  This library
# names those namespaces uniquely per run, remembers everything the run
# created (namespaces, background processes, temporary files) and removes it
# all from one EXIT/INT/TERM/HUP trap, so a failing or interrupted test leaves
# nothing behind.  Tests that cannot run here (not root, no netns, a missing
# binary) skip with exit status 77, which meson reports as SKIP.
#
# Usage (from test/integration/*.sh, which meson runs with PM_SRC/PM_BUILD set):
#   . "${PM_SRC:-$(dirname "$0")/../..}/scripts/netns.sh"
#   pm_require_netns
#   pm_ns_add a; pm_ns_add b
#   pm_veth a va b vb
#   pm_addr a va 10.0.0.1/24; pm_addr b vb 10.0.0.2/24
#   pm_bg pm_exec b "$PM_BUILD/app/reflector/pmesh-reflector" --socket ...
#   pm_timeout 30 pm_exec a ... || pm_fail "prober failed"
#
# Namespace arguments are short names ("a"); pm_ns turns one into the real
# name ($PM_NS_PREFIX-a).  Full names are accepted too.  Interface names live
# inside the namespaces, so they only need to be unique within a test (and at
# most 15 characters long).
#
# The library owns the EXIT, INT, TERM and HUP traps.  Do not set your own:
# register extra cleanup with pm_on_exit "command" instead.  Bash runs a trap
# only after the foreground command ends, so wait for long-running work with
# `pm_bg cmd; wait "$PM_BG_PID"` (interruptible) rather than in the foreground.
#
# Functions:
#   pm_ns_prefix                  print this run's prefix (pm-<pid>-<random>)
#   pm_ns NAME                    print the full namespace name for NAME
#   pm_ns_add NAME                create namespace NAME (loopback up)
#   pm_exec NS CMD...             run CMD inside namespace NS
#   pm_veth NS1 IF1 NS2 IF2       veth pair IF1 (in NS1) <-> IF2 (in NS2), both up
#   pm_addr NS IF CIDR            add an address to IF and bring it up
#   pm_mac NS IF                  print IF's MAC address
#   pm_neigh NS IF IP MAC         static (permanent) neighbour entry
#   pm_no_offload NS IF           checksum/segmentation offloads off on IF
#   pm_dpdk_iface NS IF [PNS PIF] hand IF to a DPDK AF_PACKET port: no kernel
#                                 IP, no ARP, no IPv6; offloads off on IF and,
#                                 if given, on its kernel-side peer PIF in PNS
#   pm_bg CMD... | pm_bg PID...   start CMD in the background (its PID goes to
#                                 $PM_BG_PID) or register PIDs; killed at exit.
#                                 `pm_bg pm_exec NS CMD...` runs CMD in NS with
#                                 $PM_BG_PID being CMD's own PID
#   pm_stop PID                   stop one registered process now (TERM, KILL)
#   pm_tmpdir                     print a temporary directory removed at exit
#   pm_on_exit CMD                run CMD (eval'd) during cleanup
#   pm_cleanup                    clean up now (idempotent; the trap calls it)
#   pm_timeout SECS CMD...        run CMD (a program, not a function) with a
#                                 time limit; returns 124 on timeout
#   pm_wait_for SECS CMD...       poll CMD every 0.1 s until it succeeds
#   pm_require_root               skip unless running as root
#   pm_require_netns              skip unless namespaces and veths can be made
#   pm_require_cmd CMD...         skip unless every CMD is on PATH
#   pm_require_file FILE...       skip unless every FILE exists
#   pm_skip REASON                print "SKIP: REASON" and exit 77
#   pm_fail MESSAGE               print "FAIL: MESSAGE" and exit 1
#   pm_sweep_stale                delete pm-<pid>-* namespaces whose test run
#                                 has died (SIGKILL) and that hold no process

if [ -n "${PM_NETNS_LOADED:-}" ]; then
	return 0
fi
PM_NETNS_LOADED=1

PM_NS_PREFIX="pm-$$-$RANDOM"
PM_NS_LIST=()
PM_BG_LIST=()		# "pid:starttime", so a recycled PID is never killed
PM_EXIT_CMDS=()
PM_TMP_BASE=${TMPDIR:-/tmp}
PM_BG_PID=

pm_ns_prefix()
{
	echo "$PM_NS_PREFIX"
}

pm_ns()
{
	case $1 in
	"$PM_NS_PREFIX"-*) echo "$1" ;;
	*) echo "$PM_NS_PREFIX-$1" ;;
	esac
}

pm_skip()
{
	echo "SKIP: $*" >&2
	exit 77
}

pm_fail()
{
	echo "FAIL: $*" >&2
	exit 1
}

pm_require_root()
{
	[ "$(id -u)" -eq 0 ] || pm_skip "needs root"
}

pm_require_cmd()
{
	local c

	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || pm_skip "needs '$c' (bash scripts/deps.sh)"
	done
}

pm_require_file()
{
	local f

	for f in "$@"; do
		[ -e "$f" ] || pm_skip "$f not built"
	done
}

pm_require_netns()
{
	local probe="$PM_NS_PREFIX-probe"

	pm_require_root
	pm_require_cmd ip
	# Containers may forbid creating namespaces or veths; find out now
	# rather than fail half-way through a test.
	PM_NS_LIST+=("$probe")
	ip netns add "$probe" 2>/dev/null ||
		pm_skip "cannot create network namespaces here"
	if ! ip -n "$probe" link add pmv0 type veth peer name pmv1 2>/dev/null; then
		ip netns del "$probe" 2>/dev/null
		pm_skip "cannot create veth pairs here"
	fi
	ip netns del "$probe"
	unset 'PM_NS_LIST[-1]'
}

pm_ns_add()
{
	local ns

	ns=$(pm_ns "$1")
	# Registered before creation, so an interrupt in between cannot leak it.
	PM_NS_LIST+=("$ns")
	ip netns add "$ns" || return
	ip -n "$ns" link set lo up
}

pm_exec()
{
	local ns

	ns=$(pm_ns "$1")
	shift
	ip netns exec "$ns" "$@"
}

pm_veth()
{
	local n1 n2

	n1=$(pm_ns "$1")
	n2=$(pm_ns "$3")
	# Created inside the namespaces, never in the host's, so parallel runs
	# may use the same interface names.
	ip -n "$n1" link add "$2" type veth peer name "$4" netns "$n2" || return
	ip -n "$n1" link set "$2" up &&
		ip -n "$n2" link set "$4" up
}

pm_addr()
{
	local ns

	ns=$(pm_ns "$1")
	ip -n "$ns" addr add "$3" dev "$2" &&
		ip -n "$ns" link set "$2" up
}

pm_mac()
{
	ip -n "$(pm_ns "$1")" -br link show dev "$2" | awk '{ print $3 }'
}

pm_neigh()
{
	ip -n "$(pm_ns "$1")" neigh replace "$3" lladdr "$4" dev "$2" nud permanent
}

pm_no_offload()
{
	local ns f rc=0

	ns=$(pm_ns "$1")
	command -v ethtool >/dev/null || {
		echo "pm_no_offload: ethtool missing" >&2
		return 1
	}
	# A veth hands the peer packets whose checksum the kernel never filled
	# in (CHECKSUM_PARTIAL); an AF_PACKET reader such as DPDK's net_af_packet
	# sees them as corrupt.  Turning TX checksumming off makes the kernel
	# compute checksums in software.  The rest are best effort.
	ip netns exec "$ns" ethtool -K "$2" tx off >/dev/null 2>&1 || {
		echo "pm_no_offload: cannot turn off tx checksumming on $2" >&2
		rc=1
	}
	for f in rx tso gso gro; do
		ip netns exec "$ns" ethtool -K "$2" "$f" off >/dev/null 2>&1 || true
	done
	return $rc
}

pm_dpdk_iface()
{
	local ns

	ns=$(pm_ns "$1")
	# DPDK answers on this wire itself; a kernel IP here would make the
	# kernel answer ARP (and ICMP) in parallel with the DPDK port.
	ip -n "$ns" addr flush dev "$2" || return
	ip -n "$ns" link set dev "$2" arp off up || return
	ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1" \
		>/dev/null 2>&1 || true
	pm_no_offload "$1" "$2" || return
	if [ $# -ge 4 ]; then
		pm_no_offload "$3" "$4" || return
	fi
}

# Print the start time (clock ticks since boot) of process $1, empty if gone.
_pm_starttime()
{
	local stat f

	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	# Fields after "(comm) "; comm may hold spaces.  starttime is field 22,
	# the 20th after comm.
	read -r -a f <<<"${stat##*) }"
	echo "${f[19]}"
}

# True while process $1 with start time $2 runs (zombies count as gone).
_pm_alive()
{
	local stat

	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ] || return 1
	[ -z "$2" ] || [ "$(_pm_starttime "$1")" = "$2" ]
}

# Send TERM, give the process 3 s, then KILL; reap it when it is our child.
_pm_kill()
{
	local pid=$1 st=$2 i

	_pm_alive "$pid" "$st" || {
		wait "$pid" 2>/dev/null || true
		return 0
	}
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 30; i++)); do
		_pm_alive "$pid" "$st" || break
		sleep 0.1
	done
	if _pm_alive "$pid" "$st"; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	return 0
}

pm_bg()
{
	local p

	case ${1:-} in
	'' )
		echo "pm_bg: nothing to run" >&2
		return 2
		;;
	pm_exec)
		# Run ip itself in the background, not a subshell running the
		# function, so that $PM_BG_PID is the process that gets exec'd.
		ip netns exec "$(pm_ns "$2")" "${@:3}" &
		PM_BG_PID=$!
		PM_BG_LIST+=("$PM_BG_PID:$(_pm_starttime "$PM_BG_PID")")
		;;
	*[!0-9]*)
		"$@" &
		PM_BG_PID=$!
		PM_BG_LIST+=("$PM_BG_PID:$(_pm_starttime "$PM_BG_PID")")
		;;
	*)
		for p in "$@"; do
			PM_BG_LIST+=("$p:$(_pm_starttime "$p")")
		done
		;;
	esac
}

pm_stop()
{
	local i e

	for i in "${!PM_BG_LIST[@]}"; do
		e=${PM_BG_LIST[$i]}
		if [ "${e%%:*}" = "$1" ]; then
			_pm_kill "${e%%:*}" "${e#*:}"
			unset 'PM_BG_LIST[i]'
		fi
	done
}

pm_tmpdir()
{
	# Usually called as $(pm_tmpdir), in a subshell that cannot register
	# anything here: cleanup finds the directories by this run's prefix.
	mktemp -d "$PM_TMP_BASE/$PM_NS_PREFIX.XXXXXX"
}

pm_on_exit()
{
	PM_EXIT_CMDS+=("$*")
}

pm_cleanup()
{
	local e ns pid i

	for e in "${PM_BG_LIST[@]}"; do
		_pm_kill "${e%%:*}" "${e#*:}"
	done
	PM_BG_LIST=()
	# Whatever still runs inside our namespaces was started by this run
	# (directly or by a process we started): stop it by PID before the
	# namespace goes, or the namespace and its veths would outlive us.
	for ns in "${PM_NS_LIST[@]}"; do
		[ -e "/run/netns/$ns" ] || continue
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			[ "$pid" != "$$" ] && [ "$pid" != "${BASHPID:-$$}" ] || continue
			_pm_kill "$pid" "$(_pm_starttime "$pid")"
		done
	done
	for ((i = ${#PM_EXIT_CMDS[@]} - 1; i >= 0; i--)); do
		eval "${PM_EXIT_CMDS[$i]}" || true
	done
	PM_EXIT_CMDS=()
	for ns in "${PM_NS_LIST[@]}"; do
		[ -e "/run/netns/$ns" ] || continue
		ip netns del "$ns" 2>/dev/null ||
			echo "pm_cleanup: could not delete namespace $ns" >&2
	done
	PM_NS_LIST=()
	rm -rf -- "$PM_TMP_BASE/$PM_NS_PREFIX".*
}

pm_timeout()
{
	local secs=$1 rc=0

	shift
	timeout -k 5 "$secs" "$@" || rc=$?
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		echo "TIMEOUT after ${secs}s: $*" >&2
	fi
	return $rc
}

pm_wait_for()
{
	local deadline

	deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		if [ $SECONDS -ge $deadline ]; then
			echo "pm_wait_for: gave up waiting for: $*" >&2
			return 1
		fi
		sleep 0.1
	done
}

pm_sweep_stale()
{
	local ns pid

	for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
		[[ $ns =~ ^pm-([0-9]+)-[0-9]+- ]] || continue
		pid=${BASH_REMATCH[1]}
		[ -e "/proc/$pid" ] && continue
		[ -z "$(ip netns pids "$ns" 2>/dev/null)" ] || continue
		ip netns del "$ns" 2>/dev/null && echo "pm_sweep_stale: removed $ns"
	done
	return 0
}

_pm_on_exit()
{
	local rc=$?

	trap - EXIT
	pm_cleanup
	exit $rc
}

_pm_on_signal()
{
	trap - EXIT INT TERM HUP
	echo "interrupted by SIG$1; cleaning up" >&2
	pm_cleanup
	exit "$2"
}

trap _pm_on_exit EXIT
trap '_pm_on_signal INT 130' INT
trap '_pm_on_signal TERM 143' TERM
trap '_pm_on_signal HUP 129' HUP
