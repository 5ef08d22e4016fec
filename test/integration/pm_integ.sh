# pm_integ.sh: shared pieces of the prober/reflector integration tests.
#
# The integration tests run the real pmesh-prober and pmesh-reflector inside
# network namespaces (scripts/netns.sh builds and removes them) and judge the
# run by what the programs print: the prober's JSON summary lines, its
# "counters:" line at exit and the reflectors' "final:" lines.  This file
# holds what those tests share: finding the binaries, the EAL arguments that
# work on this kind of machine, the usual "prober on a DPDK veth, kernel
# socket reflector on the other end" topology, and small parsers for the
# output.  It is sourced, never run; it sources netns.sh itself.
#
# Every DPDK process gets its own --file-prefix (pmt<pid><tag>) so that two
# tests, or two processes of one test, never share EAL runtime files; those
# files are removed at exit.

PM_SRC=${PM_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PM_BUILD=${PM_BUILD:-$PM_SRC/build}
. "$PM_SRC/scripts/netns.sh"

PM_PROBER=$PM_BUILD/app/prober/pmesh-prober
PM_REFL=$PM_BUILD/app/reflector/pmesh-reflector

# Skip unless we are root, namespaces work, the programs are built and the
# usual tools are present.  Extra commands may be named as arguments.
pm_it_require()
{
	pm_require_netns
	pm_require_file "$PM_PROBER" "$PM_REFL"
	pm_require_cmd timeout python3 ethtool "$@"
	# Runtime files of our DPDK processes (plain --no-huge still writes
	# them under /var/run/dpdk/<prefix>).
	pm_on_exit "rm -rf /var/run/dpdk/pmt$$*"
}

# With PM_IT_KEEP=DIR in the environment, copy the test's temporary
# directory $1 (outputs, logs, captures) to DIR at exit, for a post-mortem.
pm_it_keep()
{
	[ -n "${PM_IT_KEEP:-}" ] || return 0
	pm_on_exit "rm -rf '$PM_IT_KEEP'; cp -r '$1' '$PM_IT_KEEP'"
}

# The largest number of probes sent in one summary window, over all flows
# of JSON file $1: pacing, unlike --duration, does not depend on when the
# control thread gets the CPU.
pm_it_max_window_sent()
{
	python3 - "$1" <<'EOF'
import json, sys
from collections import Counter
w = Counter()
try:
    for line in open(sys.argv[1]):
        r = json.loads(line)
        if r.get("kind") == "summary":
            w[r["window_start_ns"]] += r["sent"]
except OSError:
    pass
print(max(w.values(), default=0))
EOF
}

# EAL arguments for a DPDK process tagged $1 (unique within the test).
# Without hugepages prepared, --no-huge -m 256 is what works here; --no-pci
# keeps the virtio PMD off the host's NIC.
pm_it_eal()
{
	echo "--no-pci --no-huge -m 256 --file-prefix pmt$$$1 --log-level=lib.eal:error"
}

# Namespaces a and b joined by va <-> vb.  va belongs to a DPDK AF_PACKET
# port (no kernel IP, no ARP, offloads off on both ends so the kernel fills
# in checksums); vb keeps the kernel's 10.0.0.2/24 for the socket reflector.
pm_it_sock_topo()
{
	pm_ns_add a || return
	pm_ns_add b || return
	pm_veth a va b vb || return
	pm_dpdk_iface a va b vb || return
	pm_addr b vb 10.0.0.2/24 || return
	# Replies leave through vb, the way the probes came in, but make sure
	# no reverse-path check or stray IPv6 chatter gets in the way.
	pm_exec b sysctl -qw net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.vb.rp_filter=0 \
		net.ipv6.conf.vb.disable_ipv6=1 >/dev/null
}

# Start the socket reflector in namespace b on 10.0.0.2:862, stderr to $1;
# its PID goes to $PM_IT_SREFL.  Returns once the socket is bound.
pm_it_sock_refl()
{
	local err=$1

	shift
	pm_bg pm_exec b timeout 120 "$PM_REFL" --socket --listen 10.0.0.2:862 \
		--stats-ms 0 "$@" 2>"$err"
	PM_IT_SREFL=$PM_BG_PID
	pm_wait_for 10 grep -q "listening on" "$err" || {
		cat "$err" >&2
		pm_fail "socket reflector did not start"
	}
}

# The prober of the two-namespace topology (pm_it_sock_topo): namespace a,
# AF_PACKET on va, 10.0.0.1 -> 10.0.0.2, at $RATE probes/s over $FLOWS flows
# for $DUR s, JSON to $tmp/out.json, stderr to $tmp/prober.err; extra
# prober flags as arguments.  Returns the prober's exit status.
pm_it_probe()
{
	pm_it_run 60 a "$PM_PROBER" -l 0-1 $(pm_it_eal a) \
		--vdev=net_af_packet0,iface=va -- \
		--src-ip 10.0.0.1 --target 10.0.0.2 --rate "$RATE" --flows "$FLOWS" \
		--duration "$DUR" --idle-sleep-us 20 --no-status \
		--output "$tmp/out.json" "$@" 2>"$tmp/prober.err"
}

# nftables in namespace b drops $1 % of the probes at random before the
# reflector sees them (chain inet pmt in, with a counter).
pm_it_nft_drop()
{
	pm_exec b nft add table inet pmt ||
		pm_skip "nftables does not work in a namespace here"
	pm_exec b nft add chain inet pmt in '{ type filter hook input priority 0; }'
	pm_exec b nft add rule inet pmt in udp dport 862 \
		numgen random mod 100 '<' "$1" counter drop
}

# Run CMD in namespace $2 with a time limit of $1 seconds (pm_timeout needs
# a program, and pm_exec is a function).
pm_it_run()
{
	local secs=$1 ns

	ns=$(pm_ns "$2")
	shift 2
	pm_timeout "$secs" ip netns exec "$ns" "$@"
}

# Stop background process $1 with SIGINT and wait for it; returns its exit
# status (0 expected from a clean shutdown).
pm_it_sigint()
{
	local rc=0

	kill -INT "$1" 2>/dev/null || true
	wait "$1" || rc=$?
	return $rc
}

# Sums over the JSON summary lines of file $1, printed as shell assignments
# (sent=N received=N lost=N late=N dup=N reordered=N unmatched=N stalled=N
# records=N); eval the output.  Lines that are not summaries are ignored;
# a line that is not JSON fails.
pm_it_sums()
{
	python3 - "$1" <<'EOF'
import json, sys
keys = ("sent", "received", "lost", "late", "dup", "reordered",
        "unmatched", "stalled")
tot = dict.fromkeys(keys, 0)
n = 0
try:
    with open(sys.argv[1]) as f:
        lines = f.readlines()
except OSError as e:
    # Still print zeros, so that the checks report what is missing.
    print("echo 'no JSON output: %s' >&2;" % e.strerror, end=" ")
    lines = []
for line in lines:
    if not line.strip():
        continue
    r = json.loads(line)
    if r.get("kind") != "summary":
        continue
    n += 1
    for k in keys:
        tot[k] += r[k]
print(" ".join("%s=%d" % (k, tot[k]) for k in keys), "records=%d" % n)
EOF
}

# Value of counter $2 in the last line of file $1 that contains $3
# ("counters:" for the prober, "final:" for the reflectors), where
# counters are written "name value"; 0 when absent (the prober omits zeros).
pm_it_ctr()
{
	awk -v name="$2" -v tag="$3" '
		index($0, tag) { line = $0 }
		END {
			n = split(line, w, " ")
			for (i = 1; i < n; i++)
				if (w[i] == name && w[i + 1] ~ /^[0-9]+$/) {
					print w[i + 1]
					exit
				}
			print 0
		}' "$1"
}

# Fail with message $2 unless the arithmetic condition $1 holds.
pm_it_check()
{
	if (($1)); then
		echo "ok:   $2"
	else
		echo "FAIL: $2" >&2
		PM_IT_FAILED=1
	fi
}

PM_IT_FAILED=0

# Exit 1 if any pm_it_check failed, after showing file(s) $@ for diagnosis.
pm_it_result()
{
	local f

	if [ "$PM_IT_FAILED" -ne 0 ]; then
		for f in "$@"; do
			[ -s "$f" ] || continue
			echo "---- $f (tail)" >&2
			tail -n 20 "$f" >&2
		done
		pm_fail "some checks failed"
	fi
	echo "PASS"
}
