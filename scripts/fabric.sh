#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# fabric.sh: a two-tier Clos data-center fabric in network namespaces, for
# pmesh's demo and fabric tests -- pods of racks (one ToR each, hosts
# behind it), every ToR linked to every spine, plain Linux routing with
# ECMP per 5-tuple -- and faults injected on command.
#
#   fabric.sh up [--pods 2] [--tors 2] [--hosts 2] [--spines 4] [--name ID]
#                [--topology FILE] [--asymmetric]
#   fabric.sh info | down | fault ... | exec NODE CMD...   [--name ID]
#
# Nodes (namespace pmf<ID>-<node>): spines s1..sS; ToRs p<P>t<T>; hosts
# p<P>t<T>h<H>; per pod an appliance p<P>a, cabled to the pod's first ToR
# for a DPDK prober (its interface eth0 carries no kernel address).
#
# Addresses are planned so that a hop names its element:
#   rack k = (P-1)*tors + (T-1)   prefix 10.64.0.0 + k*256, /24
#     ToR  (the rack's gateway)   .1      hosts .10+H      appliance .250
#   link ToR k <-> spine s        172.(16+s).k.0 spine side, .1 ToR side (/31)
# Routers answer traceroute with the address of the interface the probe came
# in on (icmp_errors_use_inbound_ifaddr), without ICMP rate limits: the
# second hop of a flow, 172.(16+s).*, is its spine.  ToRs hash each
# 5-tuple over the spines (fib_multipath_hash_policy 3, fields 0x37) with
# one seed: Linux's flow hash is symmetric, so a flow's replies come back
# over the spine its probes took, and a path record (one direction) says
# where both went.  --asymmetric gives every ToR its own seed instead, and
# return paths go their own way.
# `up` writes the matching pmesh topology file (docs/topology.md).
#
# Faults (nftables in the element's namespace; `fault clear` undoes all):
#   fault drop PCT spine S | tor P T | link P T S    random loss
#   fault blackhole PCT spine S | tor P T            PCT % of the 5-tuples
#                                                    (jhash) dropped, always
#   fault linkdown P T S                             the ToR-spine link down
#   fault delay US link P T S                        US microseconds more each
#                                                    way on a ToR-spine link:
#                                                    the link is cut in two and
#                                                    test/tools/delayline.c
#                                                    (pmesh-delayline) forwards
#                                                    between the halves
#   fault clear
#
# Limits: 1..15 spines, at most 255 racks, 1..200 hosts a rack.  8 pods x 8
# ToRs x 8 hosts x 8 spines (592 namespaces) come up in well under a minute.
# `down` removes every namespace of the fabric (and the processes in them)
# even when `up` failed half-way; it is safe to run twice.
set -euo pipefail

name=1
pods=2 tors=2 hosts=2 spines=4
topo=""
asym=0
statedir=/run/pmesh-fabric

die() { echo "fabric: $*" >&2; exit 2; }

usage() {
	sed -n '4,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

num() {	# num FLAG VALUE MIN MAX
	[[ $2 =~ ^[0-9]+$ ]] && [ "$2" -ge "$3" ] && [ "$2" -le "$4" ] ||
		die "$1 $2: expected an integer in $3..$4"
	echo "$2"
}

# Options go anywhere before an exec's command; the first word is the
# command, the rest its arguments.
cmd=""
args=()
while [ $# -gt 0 ]; do
	if [ "$cmd" = exec ] && [ ${#args[@]} -ge 1 ]; then
		args+=("$@")
		break
	fi
	case $1 in
	--pods) pods=$(num "$1" "${2:-}" 1 64); shift 2 ;;
	--tors) tors=$(num "$1" "${2:-}" 1 64); shift 2 ;;
	--hosts) hosts=$(num "$1" "${2:-}" 1 200); shift 2 ;;
	--spines) spines=$(num "$1" "${2:-}" 1 15); shift 2 ;;
	--name) [[ ${2:-} =~ ^[a-z0-9]{1,6}$ ]] || die "--name: 1..6 of a-z 0-9"; name=$2; shift 2 ;;
	--topology) topo=${2:-}; [ -n "$topo" ] || die "--topology: a file name"; shift 2 ;;
	--asymmetric) asym=1; shift ;;
	-h|--help) usage; exit 0 ;;
	*) if [ -z "$cmd" ]; then cmd=$1; else args+=("$1"); fi; shift ;;
	esac
done
[ -n "$cmd" ] || { usage >&2; exit 2; }
P=pmf$name-
state=$statedir/$name.env

ns() { echo "$P$1"; }
in_ns() { local n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }
rack() { echo $(( ($1 - 1) * tors + $2 - 1 )); }
rack_net() { local k=$1; echo "10.$((64 + k / 256)).$((k % 256))"; }

load_state() {
	[ -r "$state" ] || die "no fabric '$name' (run: fabric.sh up --name $name)"
	# shellcheck disable=SC1090
	. "$state"
}

list_ns() { ip netns list 2>/dev/null | awk -v p="$P" 'index($1, p) == 1 { print $1 }'; }

fabric_down() {
	local n pid
	for n in $(list_ns); do
		for pid in $(ip netns pids "$n" 2>/dev/null); do
			kill -TERM "$pid" 2>/dev/null || true
		done
	done
	sleep 0.2
	for n in $(list_ns); do
		for pid in $(ip netns pids "$n" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null || true
		done
		ip netns del "$n" 2>/dev/null || true
	done
	# What `up` and `fault delay` wrote under $statedir goes too; a
	# topology written to a path the caller chose (--topology) stays.
	rm -f "$state" "$statedir/$name.topology.cfg" "$statedir/$name".dl*.log
}

# Router sysctls: forwarding, traceroute-friendly ICMP, ECMP per 5-tuple.
router_sysctls() {	# NODE SEED
	in_ns "$1" sh -c "
		sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
			net.ipv4.conf.default.rp_filter=0 net.ipv4.icmp_ratelimit=0 \
			net.ipv4.icmp_msgs_per_sec=100000 net.ipv4.icmp_msgs_burst=10000 \
			net.ipv4.icmp_errors_use_inbound_ifaddr=1 \
			net.ipv4.fib_multipath_hash_policy=3 \
			net.ipv4.fib_multipath_hash_fields=0x37 \
			net.ipv4.conf.all.ignore_routes_with_linkdown=1 \
			net.ipv6.conf.all.disable_ipv6=1 &&
		{ sysctl -qw net.ipv4.fib_multipath_hash_seed=$2 2>/dev/null || true; }"
}

# Routes, (re)made: a link that went down took its routes with it.
tor_route() {	# P T: default route over every spine whose link is up
	local k s route="route replace default"
	k=$(rack "$1" "$2")
	for s in $(seq "$spines"); do
		route+=" nexthop via 172.$((16 + s)).$k.0 dev s$s"
	done
	ip -n "$(ns "p${1}t$2")" $route
}

spine_routes() {	# S: a route to every rack
	local p t k
	for p in $(seq "$pods"); do
		for t in $(seq "$tors"); do
			k=$(rack "$p" "$t")
			echo "route replace $(rack_net "$k").0/24 via 172.$((16 + $1)).$k.1"
		done
	done | ip -n "$(ns "s$1")" -batch -
}

write_topology() {	# FILE
	local s k
	{
		echo "# pmesh topology of fabric '$name' (scripts/fabric.sh up): $pods pods x"
		echo "# $tors racks x $hosts hosts, $spines spines."
		echo "topology = {"
		echo "  patterns = ( { pods = $pods; racks_per_pod = $tors; pod_name = \"pod%u\";"
		echo "                 rack_name = \"pod%u-r%u\"; base = \"10.64.0.0\"; rack_prefix = 24;"
		echo "                 tor_host = 1; servers = $hosts; server_first = 10; } );"
		echo "  spines = ("
		for s in $(seq "$spines"); do
			printf '    { name = "spine%u"; addresses = [' "$s"
			for k in $(seq 0 $((pods * tors - 1))); do
				printf '%s"172.%u.%u.0"' "$([ "$k" -gt 0 ] && echo ", ")" $((16 + s)) "$k"
			done
			printf ' ]; }%s\n' "$([ "$s" -lt "$spines" ] && echo ",")"
		done
		echo "  );"
		echo "};"
	} >"$1"
}

fabric_up() {
	local p t h s k net seed b
	[ "$(id -u)" -eq 0 ] || die "up needs root"
	[ $((pods * tors)) -le 255 ] || die "at most 255 racks ($pods x $tors)"
	[ -z "$(list_ns)" ] || die "fabric '$name' is up already (fabric.sh down --name $name)"
	mkdir -p "$statedir"
	trap 'echo "fabric: up failed; removing what was made" >&2; fabric_down' ERR
	b=$(mktemp -d /tmp/pmf-batch.XXXXXX)
	# Namespaces, loopback up.
	for s in $(seq "$spines"); do ip netns add "$(ns "s$s")"; done
	for p in $(seq "$pods"); do
		ip netns add "$(ns "p${p}a")"
		for t in $(seq "$tors"); do
			ip netns add "$(ns "p${p}t$t")"
			for h in $(seq "$hosts"); do ip netns add "$(ns "p${p}t${t}h$h")"; done
		done
	done
	for n in $(list_ns); do ip -n "$n" link set lo up; done

	seed=1000
	for p in $(seq "$pods"); do
		for t in $(seq "$tors"); do
			k=$(rack "$p" "$t")
			net=$(rack_net "$k")
			tor=$(ns "p${p}t$t")
			# ToR: a bridge for the rack, links to every spine, ECMP default.
			{
				echo "link add br0 type bridge"
				echo "addr add $net.1/24 dev br0"
				echo "link set br0 up"
				for h in $(seq "$hosts"); do
					echo "link add h$h type veth peer name eth0 netns $(ns "p${p}t${t}h$h")"
					echo "link set h$h master br0 up"
				done
				if [ "$t" -eq 1 ]; then
					echo "link add app type veth peer name eth0 netns $(ns "p${p}a")"
					echo "link set app master br0 up"
				fi
				for s in $(seq "$spines"); do
					echo "link add s$s type veth peer name p${p}t$t netns $(ns "s$s")"
					echo "addr add 172.$((16 + s)).$k.1/31 dev s$s"
					echo "link set s$s up"
				done
			} >"$b/tor"
			ip -n "$tor" -batch "$b/tor"
			tor_route "$p" "$t"
			# Frames to the appliance leave with their checksums done:
			# the kernel's are partial (offload) until a device without
			# it sends them, and the DPDK port there would read garbage.
			[ "$t" -ne 1 ] || ip netns exec "$tor" ethtool -K app tx off \
				>/dev/null 2>&1 || true
			[ "$asym" -eq 0 ] || seed=$((seed + 7919))
			router_sysctls "p${p}t$t" "$seed"
			# Hosts.
			for h in $(seq "$hosts"); do
				ip -n "$(ns "p${p}t${t}h$h")" -batch - <<-EOF
					addr add $net.$((9 + h))/24 dev eth0
					link set eth0 up
					route add default via $net.1
				EOF
			done
		done
		# The appliance: eth0 up, no address (a DPDK port takes it).
		in_ns "p${p}a" sh -c "sysctl -qw net.ipv6.conf.all.disable_ipv6=1; \
			ip link set eth0 up; ethtool -K eth0 tx off rx off tso off gso off gro off \
			>/dev/null 2>&1 || true"
	done
	# Spines: the ToR side of each link, a route to each rack.
	for s in $(seq "$spines"); do
		{
			for p in $(seq "$pods"); do
				for t in $(seq "$tors"); do
					k=$(rack "$p" "$t")
					echo "addr add 172.$((16 + s)).$k.0/31 dev p${p}t$t"
					echo "link set p${p}t$t up"
				done
			done
		} >"$b/spine"
		ip -n "$(ns "s$s")" -batch "$b/spine"
		spine_routes "$s"
		router_sysctls "s$s" $((seed + s))
	done
	rm -rf "$b"
	trap - ERR
	cat >"$state" <<-EOF
		pods=$pods tors=$tors hosts=$hosts spines=$spines
		topo=${topo:-$statedir/$name.topology.cfg}
	EOF
	write_topology "${topo:-$statedir/$name.topology.cfg}"
	fabric_info
}

fabric_info() {
	local p t k
	load_state
	echo "fabric '$name': $pods pods x $tors ToRs x $hosts hosts, $spines spines;" \
		"$(list_ns | wc -l) namespaces ($P*)"
	echo "  topology: $topo"
	echo "  hosts:    10.64.<rack>.10..$((9 + hosts)), gateway .1 (rack k = (pod-1)*$tors + tor-1)"
	echo "  spines:   s1..s$spines, hop addresses 172.<16+spine>.<rack>.0"
	for p in $(seq "$pods"); do
		k=$(rack "$p" 1)
		echo "  pod $p appliance: namespace $(ns "p${p}a"), interface eth0 (no kernel" \
			"address): use $(rack_net "$k").250/24, gateway $(rack_net "$k").1"
	done
	echo "  run in a node: fabric.sh exec p1t1h1 ping 10.64.$((pods * tors - 1)).10"
}

# The delay line: ToR s<S> <-> [dla  dl<P>t<T>s<S>  dlb] <-> spine p<P>t<T>.
delayline_bin() {
	local b
	for b in "${PM_DELAYLINE:-}" "${PM_BUILD:-$(dirname "$0")/../build}/test/tools/pmesh-delayline"; do
		[ -n "$b" ] && [ -x "$b" ] && { echo "$b"; return; }
	done
	die "pmesh-delayline is not built (ninja -C build test/tools/pmesh-delayline)"
}

link_delay() {	# P T S US
	local k dl bin tor=$(ns "p${1}t$2") sp=$(ns "s$3")
	bin=$(delayline_bin)
	k=$(rack "$1" "$2")
	dl=$(ns "dl${1}t${2}s$3")
	[ ! -e "/run/netns/$dl" ] || die "that link is delayed already (fault clear first)"
	ip netns add "$dl"
	ip -n "$dl" link set lo up
	ip -n "$tor" link del "s$3"
	ip -n "$tor" link add "s$3" type veth peer name dla netns "$dl"
	ip -n "$sp" link add "p${1}t$2" type veth peer name dlb netns "$dl"
	ip -n "$tor" addr add "172.$((16 + $3)).$k.1/31" dev "s$3"
	ip -n "$sp" addr add "172.$((16 + $3)).$k.0/31" dev "p${1}t$2"
	# Raw sockets copy frames as they are: no partial checksums.
	ip netns exec "$tor" ethtool -K "s$3" tx off >/dev/null 2>&1 || true
	ip netns exec "$sp" ethtool -K "p${1}t$2" tx off >/dev/null 2>&1 || true
	ip -n "$tor" link set "s$3" up
	ip -n "$sp" link set "p${1}t$2" up
	ip -n "$dl" link set dla up
	ip -n "$dl" link set dlb up
	tor_route "$1" "$2"
	spine_routes "$3"
	ip netns exec "$dl" setsid "$bin" dla dlb "$4" >"$statedir/$name.dl${1}t${2}s$3.log" 2>&1 </dev/null &
}

link_undelay() {	# P T S
	local k pid tor=$(ns "p${1}t$2") sp=$(ns "s$3") dl=$(ns "dl${1}t${2}s$3")
	k=$(rack "$1" "$2")
	for pid in $(ip netns pids "$dl" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
	sleep 0.1
	ip netns del "$dl"
	ip -n "$tor" link add "s$3" type veth peer name "p${1}t$2" netns "$sp"
	ip -n "$tor" addr add "172.$((16 + $3)).$k.1/31" dev "s$3"
	ip -n "$sp" addr add "172.$((16 + $3)).$k.0/31" dev "p${1}t$2"
	ip -n "$tor" link set "s$3" up
	ip -n "$sp" link set "p${1}t$2" up
}

# nft rules in NODE's forward hook; one table per fabric, added to.
nft_add() {	# NODE RULE
	in_ns "$1" nft -f - <<-EOF
		table inet pmfault {
			chain faults { type filter hook forward priority 0; policy accept; }
		}
		add rule inet pmfault faults $2
	EOF
}

fault_target() {	# what... -> "NODE MATCH"
	case ${1:-} in
	spine) [[ ${2:-} =~ ^[0-9]+$ ]] && [ "$2" -ge 1 ] && [ "$2" -le "$spines" ] ||
		die "spine S: 1..$spines"; echo "s$2 -" ;;
	tor) [[ ${2:-}${3:-} =~ ^[0-9]+$ ]] && [ "$2" -ge 1 ] && [ "$2" -le "$pods" ] &&
		[ "$3" -ge 1 ] && [ "$3" -le "$tors" ] || die "tor P T: pod 1..$pods, ToR 1..$tors"
		echo "p${2}t$3 -" ;;
	link) [[ ${2:-}${3:-}${4:-} =~ ^[0-9]+$ ]] && [ "$2" -ge 1 ] && [ "$2" -le "$pods" ] &&
		[ "$3" -ge 1 ] && [ "$3" -le "$tors" ] && [ "$4" -ge 1 ] && [ "$4" -le "$spines" ] ||
		die "link P T S: pod 1..$pods, ToR 1..$tors, spine 1..$spines"
		echo "s$4 p${2}t$3" ;;
	*) die "fault: where? spine S | tor P T | link P T S" ;;
	esac
}

fabric_fault() {
	local kind=${1:-} pct node ifn tgt
	load_state
	case $kind in
	drop|blackhole)
		pct=$(num "fault $kind" "${2:-}" 0 100)
		tgt=$(fault_target "${@:3}")
		node=${tgt% *}
		ifn=${tgt#* }
		# nft compares "mod 100" results with 0..99: 100 % drops all.
		if [ "$kind" = drop ]; then
			rule="numgen random mod 100 < $pct drop"
			[ "$pct" -eq 100 ] && rule="drop"
		else
			[ "$ifn" = - ] || die "blackhole: on a spine or a ToR"
			rule="meta l4proto { tcp, udp } jhash ip saddr . ip daddr . th sport . th dport mod 100 seed 0x5eed < $pct drop"
			[ "$pct" -eq 100 ] && rule="meta l4proto { tcp, udp } drop"
		fi
		if [ "$ifn" = - ]; then
			nft_add "$node" "$rule"
		else
			nft_add "$node" "iifname \"$ifn\" $rule"
			nft_add "$node" "oifname \"$ifn\" $rule"
		fi
		echo "fault: $kind $pct % at ${*:3}"
		;;
	delay)
		pct=$(num "fault delay" "${2:-}" 1 1000000)
		[ "${3:-}" = link ] || die "fault delay US link P T S"
		tgt=$(fault_target link "${@:4}")
		link_delay "$4" "$5" "$6" "$pct"
		echo "fault: link pod $4 ToR $5 <-> spine $6 delayed by $pct us each way"
		;;
	linkdown)
		tgt=$(fault_target link "${@:2}")
		ip -n "$(ns "s$4")" link set "p${2}t$3" down
		ip -n "$(ns "p${2}t$3")" link set "s$4" down
		echo "fault: link pod $2 ToR $3 <-> spine $4 down"
		;;
	clear)
		for node in $(list_ns); do
			ip netns exec "$node" nft delete table inet pmfault 2>/dev/null || true
		done
		for node in $(list_ns); do
			[[ ${node#"$P"} =~ ^dl([0-9]+)t([0-9]+)s([0-9]+)$ ]] &&
				link_undelay "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" \
					"${BASH_REMATCH[3]}"
		done
		for p in $(seq "$pods"); do
			for t in $(seq "$tors"); do
				for s in $(seq "$spines"); do
					ip -n "$(ns "s$s")" link set "p${p}t$t" up
					ip -n "$(ns "p${p}t$t")" link set "s$s" up
				done
				tor_route "$p" "$t"
			done
		done
		for s in $(seq "$spines"); do spine_routes "$s"; done
		echo "fault: cleared"
		;;
	*) die "fault: drop | blackhole | linkdown | delay | clear" ;;
	esac
}

case $cmd in
up) fabric_up ;;
down) fabric_down; echo "fabric '$name': down" ;;
info) fabric_info ;;
fault) fabric_fault "${args[@]}" ;;
exec)
	[ ${#args[@]} -ge 2 ] || die "exec NODE CMD..."
	[ -e "/run/netns/$(ns "${args[0]}")" ] || die "no node ${args[0]} in fabric '$name'"
	exec ip netns exec "$(ns "${args[0]}")" "${args[@]:1}"
	;;
-h|--help|help) usage ;;
*) die "unknown command '$cmd' (up, down, info, fault, exec; --help)" ;;
esac
