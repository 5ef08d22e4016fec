#!/usr/bin/env bash
# bench-engine.sh: how fast is pmesh's STAMP engine next to dpdk-testpmd,
# and how much memory does a large prober take.  A benchmark, not a test.
#
# Throughput: two DPDK processes joined by memif (the multi-Mpps path between
# processes on one box, docs/benchmarks.md), each busy-polling its own core.
#   pmesh:   pmesh-prober --line-rate (memif client)  <->  pmesh-reflector (server)
#   testpmd: dpdk-testpmd flowgen (client)            <->  dpdk-testpmd macswap (server)
# Both figures are round trips counted at the client: pmesh's "received"
# (matched STAMP replies) per second, testpmd's client Rx-pps.  The runs
# alternate, round after round, so that load from anything else on the box
# hits both alike; compare the ratio, not the absolute figures.  pmesh probes
# are 44-byte STAMP payloads, 86-byte frames: testpmd runs with 86-byte
# frames (the like-for-like ratio, printed as the main one) and with 64-byte
# frames (the customary figure).  Besides the ratio of the medians it prints
# the median of the per-round ratios: a round's runs are next to each other
# in time, so their ratio suffers least from load that comes and goes.
#
# Memory: a prober with 10,000 targets x 16 flows at 16 probes/s per target
# runs on net_null,no-rx=1 (no peer needed; every probe times out as lost,
# the most bookkeeping per probe) while its hugepages (HugetlbPages, which
# Linux keeps out of VmRSS) and resident memory are sampled; the peaks count.
#
# Usage: bash scripts/bench-engine.sh
# Environment:
#   BENCH_ROUNDS=3        alternating rounds
#   BENCH_DURATION=10     seconds measured per run
#   BENCH_BUILD=build     meson build directory (built when missing)
#   BENCH_MEM_TARGETS=10000, BENCH_MEM_FLOWS=16, BENCH_MEM_SECONDS=8
#   BENCH_KEEP=1          keep the work directory (outputs, JSON) for reading
# Exit status: 0 when every figure was produced, 1 when a run gave none,
# 2 on a setup failure (no binaries).  Takes about a minute a round.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 2

rounds=${BENCH_ROUNDS:-3}
dur=${BENCH_DURATION:-10}
bdir=${BENCH_BUILD:-build}
mem_targets=${BENCH_MEM_TARGETS:-10000}
mem_flows=${BENCH_MEM_FLOWS:-16}
mem_secs=${BENCH_MEM_SECONDS:-8}
warm=3			# testpmd: seconds of warm-up before samples count

prober=$bdir/app/prober/pmesh-prober
reflector=$bdir/app/reflector/pmesh-reflector
testpmd=$(command -v dpdk-testpmd || true)
eal=(--no-pci --in-memory --log-level=lib.eal:error --log-level=lib.telemetry:error)

work=$(mktemp -d /tmp/pm-bench.XXXXXX)
pids=()
socks=()
failed=0
keep=0			# set when something is worth reading afterwards

# Kill only what this script started, server side last, then tidy up.
cleanup() {
	local i p
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		p=${pids[i]}
		kill -0 "$p" 2>/dev/null || continue
		kill -INT "$p" 2>/dev/null
		sleep 1
		kill -0 "$p" 2>/dev/null && kill -TERM "$p" 2>/dev/null
	done
	for p in "${socks[@]}"; do
		rm -f "$p"
	done
	if [ "${BENCH_KEEP:-0}" = 1 ] || [ "$keep" = 1 ]; then
		echo "bench: outputs kept in $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget() {
	local rest=() p
	for p in "${pids[@]}"; do
		[ "$p" = "$1" ] || rest+=("$p")
	done
	pids=("${rest[@]}")
}

# Ask a process we started to stop (SIGINT), give it $2 seconds, then kill it.
stop_pid() {
	local pid=$1 grace=${2:-5} i
	kill -INT "$pid" 2>/dev/null
	for ((i = 0; i < grace * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	# timeout(1) passes TERM on to the program; KILL would orphan it.
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		sleep 2
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	local rc=$?
	forget "$pid"
	return $rc
}

# Give a process we started $2 seconds to exit by itself, then stop it.
wait_pid() {
	local pid=$1 grace=${2:-10} i rc
	for ((i = 0; i < grace * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		stop_pid "$pid" 5
		return $?
	fi
	wait "$pid" 2>/dev/null
	rc=$?
	forget "$pid"
	return $rc
}

# A memif server listens: the client may connect.  DPDK 22.11's memif puts
# its socket in the abstract namespace by default (socket-abstract=yes, no
# file), so look for the listener in /proc/net/unix, "@path" or "path".
wait_sock() {
	local s=$1 pid=$2 i
	for ((i = 0; i < 100; i++)); do
		awk -v a="@$s" -v b="$s" '$NF == a || $NF == b { f = 1 } END { exit !f }' \
			/proc/net/unix && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# ---- setup ----------------------------------------------------------------

if ! bash scripts/hugepages.sh 512; then
	echo "bench: could not reserve 512 hugepages; trying with what there is" >&2
fi
if [ ! -x "$prober" ] || [ ! -x "$reflector" ]; then
	bash scripts/build.sh "$bdir" || {
		echo "bench: build failed" >&2
		exit 2
	}
else
	ninja -C "$bdir" app/prober/pmesh-prober app/reflector/pmesh-reflector >/dev/null ||
		echo "bench: rebuild failed; using the binaries already there" >&2
fi
if [ ! -x "$prober" ] || [ ! -x "$reflector" ]; then
	echo "bench: $prober or $reflector missing" >&2
	exit 2
fi
if [ -z "$testpmd" ]; then
	echo "bench: dpdk-testpmd not found (apt-get install dpdk); pmesh figures only" >&2
fi

echo "bench: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
	"$rounds rounds of ${dur} s, work dir $work"

# ---- one pmesh run --------------------------------------------------------

# Prints the round-trip Mpps over the whole windows inside the run, or
# nothing.  JSON summaries are per flow and window; windows are aligned to
# the wall clock, so the first and last windows with traffic are partial.
pmesh_run() {
	local sock=/tmp/pm-bench-$$.sock out=$work/pmesh-$1
	local rp pp rc i

	shift

	rm -f "$sock"
	socks+=("$sock")
	timeout -k 10 -s INT $((dur + 60)) "$reflector" -l 0-1 --main-lcore 0 "${eal[@]}" \
		--file-prefix "pmb-r-$$" --vdev="net_memif0,role=server,socket=$sock" \
		-- --ip 10.0.0.2 --stats-ms 0 >"$out.refl.log" 2>&1 &
	rp=$!
	pids+=("$rp")
	if ! wait_sock "$sock" "$rp"; then
		echo "bench: pmesh-reflector did not start ($out.refl.log):" >&2
		tail -5 "$out.refl.log" >&2
		stop_pid "$rp" 2
		return 1
	fi
	# The client stops first (after --duration it stops sending, waits
	# for replies in flight, then leaves); the server after.
	timeout -k 10 -s INT $((dur + 30)) "$prober" -l 0-1 --main-lcore 1 "${eal[@]}" \
		--file-prefix "pmb-p-$$" --vdev="net_memif0,role=client,socket=$sock" \
		-- --src-ip 10.0.0.1 --target 10.0.0.2 --flows 16 --line-rate \
		--budget-pps 100000000 --budget-mbps 1000000 --duration "$dur" \
		--no-status --output "$out.json" "$@" >"$out.log" 2>&1 &
	pp=$!
	pids+=("$pp")
	# It should leave ~1 s (one loss timeout) after --duration.  If not,
	# record where it hangs before stopping it.
	for ((i = 0; i < (dur + 15) * 10; i++)); do
		kill -0 "$pp" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pp" 2>/dev/null; then
		echo "bench: WARNING: pmesh-prober still running $((dur + 15)) s after start;" \
			"stacks in $out.hang.txt" >&2
		keep=1
		if command -v gdb >/dev/null; then
			timeout 30 gdb -p "$(pgrep -P "$pp" | head -1)" -batch \
				-ex "thread apply all bt" >"$out.hang.txt" 2>&1
		fi
		stop_pid "$pp" 5
		rc=$?
	else
		wait "$pp"
		rc=$?
		forget "$pp"
	fi
	sleep 0.5
	stop_pid "$rp" 5
	rm -f "$sock"
	if [ $rc -ne 0 ]; then
		echo "bench: pmesh-prober exited $rc ($out.log):" >&2
		tail -5 "$out.log" >&2
	fi
	[ -s "$out.json" ] || return 1
	# Window sums; "counters" line: the whole run's replies / duration.
	python3 - "$out.json" "$out.log" "$dur" <<'EOF'
import collections, json, re, sys
win = collections.defaultdict(lambda: [0, 0])
ms = 1000
with open(sys.argv[1]) as f:
    for line in f:
        try:
            j = json.loads(line)
        except ValueError:
            continue
        if j.get("kind") != "summary":
            continue
        ms = j.get("window_ms", 1000)
        w = win[j["window_start_ns"]]
        w[0] += j["sent"]
        w[1] += j["received"]
busy = [k for k in sorted(win) if win[k][0] > 0]
inner = busy[1:-1]
whole = ""
with open(sys.argv[2]) as f:
    m = re.search(r"counters: tx_pkts (\d+) .* replies (\d+)", f.read())
    if m:
        whole = "%.3f" % (int(m.group(2)) / float(sys.argv[3]) / 1e6)
if not inner:
    sys.exit(1)
rx = sum(win[k][1] for k in inner)
print("%.3f %d %s" % (rx / (len(inner) * ms / 1000.0) / 1e6, len(inner), whole))
EOF
}

# ---- one testpmd run ------------------------------------------------------

# Both testpmds run interactive, fed through FIFOs, so that traffic is
# stopped on both sides before either closes its port (the 22.11 memif PMD
# can crash when the peer leaves while traffic flows) and so that the client
# reports its RX rate over exactly the measured interval: testpmd's "show
# port stats" gives Rx-pps since the previous show, timed by testpmd itself.
# Prints the client's Rx Mpps over the $dur seconds after $warm of warm-up.
testpmd_run() {
	local len=$2 sock=/tmp/pm-bench-$$.sock out=$work/testpmd-$1-$2
	local sp cp src=0 crc=0

	rm -f "$sock" "$out.s.in" "$out.c.in"
	socks+=("$sock")
	mkfifo "$out.s.in" "$out.c.in" || return 1
	timeout -k 10 -s INT $((dur + warm + 60)) "$testpmd" -l 0-1 --main-lcore 0 "${eal[@]}" \
		--file-prefix "pmb-ts-$$" --vdev="net_memif0,role=server,socket=$sock" \
		-- -i --forward-mode=macswap --port-topology=loop --nb-cores=1 \
		<"$out.s.in" >"$out.server.log" 2>&1 &
	sp=$!
	pids+=("$sp")
	exec 7>"$out.s.in"
	echo start >&7
	if ! wait_sock "$sock" "$sp"; then
		echo "bench: testpmd server did not start ($out.server.log):" >&2
		tail -5 "$out.server.log" >&2
		exec 7>&-
		stop_pid "$sp" 2
		return 1
	fi
	timeout -k 10 -s INT $((dur + warm + 30)) "$testpmd" -l 0-1 --main-lcore 1 "${eal[@]}" \
		--file-prefix "pmb-tc-$$" --vdev="net_memif0,role=client,socket=$sock" \
		-- -i --forward-mode=flowgen --flowgen-flows=16 --txpkts="$len" \
		--port-topology=loop --nb-cores=1 \
		<"$out.c.in" >"$out.client.log" 2>&1 &
	cp=$!
	pids+=("$cp")
	exec 8>"$out.c.in"
	sleep 2		# EAL init and memif connection
	echo start >&8
	sleep "$warm"
	echo "show port stats 0" >&8
	sleep "$dur"
	echo "show port stats 0" >&8
	# Stop traffic (client, then server), then leave (client, then server).
	echo stop >&8
	sleep 1
	echo stop >&7
	sleep 0.5
	echo quit >&8
	exec 8>&-
	wait_pid "$cp" 15 || crc=$?
	sleep 0.5
	echo quit >&7
	exec 7>&-
	wait_pid "$sp" 15 || src=$?
	rm -f "$sock" "$out.s.in" "$out.c.in"
	if [ $crc -ne 0 ] || [ $src -ne 0 ]; then
		echo "bench: testpmd $len B: client exited $crc, server $src" \
			"(139 = segfault) after the measurement" >&2
	fi
	# The second "Rx-pps:" is the rate over the measured interval.
	tr -d '\033' <"$out.client.log" | awk '/Rx-pps:/ { if (++k == 2) v = $2 }
		END {
			if (k < 2)
				exit 1
			printf "%.3f\n", v / 1e6
		}'
}

median() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "n/a"; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.2f\n", a / b }'
}

# ---- throughput rounds ----------------------------------------------------

pm_all=()
rr_all=()
tp86_all=()
tp64_all=()
for ((r = 1; r <= rounds; r++)); do
	# Run in this shell (no $(...)): the EXIT trap must see every PID.
	if pmesh_run "$r" >"$work/res"; then
		read -r pm pmwin pmwhole <"$work/res"
		pm_all+=("$pm")
	else
		pm=n/a pmwin=0 pmwhole=
		failed=1
	fi
	tp86=n/a tp64=n/a
	if [ -n "$testpmd" ]; then
		if testpmd_run "$r" 86 >"$work/res"; then
			read -r tp86 <"$work/res"
			tp86_all+=("$tp86")
		else
			failed=1
		fi
		if testpmd_run "$r" 64 >"$work/res"; then
			read -r tp64 <"$work/res"
			tp64_all+=("$tp64")
		else
			failed=1
		fi
	fi
	printf 'round %d: pmesh %s Mpps, testpmd %s Mpps (86 B frames), testpmd %s Mpps (64 B)' \
		"$r" "$pm" "$tp86" "$tp64"
	printf '   [pmesh over %s whole windows; whole run incl. ramp and drain: %s Mpps;' \
		"$pmwin" "${pmwhole:-?}"
	rr=n/a
	if [ "$pm" != n/a ] && [ "$tp86" != n/a ]; then
		rr=$(ratio "$pm" "$tp86")
		rr_all+=("$rr")
	fi
	printf ' ratio this round %s]\n' "$rr"
done

pm_med=$(printf '%s\n' "${pm_all[@]}" | grep -v '^$' | median)
tp86_med=$(printf '%s\n' "${tp86_all[@]}" | grep -v '^$' | median)
tp64_med=$(printf '%s\n' "${tp64_all[@]}" | grep -v '^$' | median)
echo "frames: pmesh 86 B (14 Ethernet + 20 IPv4 + 8 UDP + 44 STAMP); testpmd 86 B and 64 B"
rr_med=$(printf '%s\n' "${rr_all[@]}" | grep -v '^$' | median)
echo "median: pmesh $pm_med Mpps, testpmd $tp86_med Mpps (86 B), testpmd $tp64_med Mpps (64 B)"
echo "ratio pmesh/testpmd = $(ratio "$pm_med" "$tp86_med") (target >= 0.9)  [same 86 B frames]"
echo "median of per-round ratios pmesh/testpmd = $rr_med  [same 86 B frames]"
echo "ratio pmesh/testpmd-64B = $(ratio "$pm_med" "$tp64_med")  [pmesh 86 B vs testpmd 64 B frames]"

# ---- memory ---------------------------------------------------------------

cfg=$work/mem.cfg
{
	cat <<EOF
# Generated by scripts/bench-engine.sh: $mem_targets targets x $mem_flows flows.
prober = {
	id = "bench-mem";
	src_ip = "10.0.0.1";
	gateway_mac = "02:00:00:00:00:fe";
	window_ms = 1000;
	timeout_ms = 1000;
	budget_pps = $((mem_targets * 16 * 2));
	budget_mbps = 100000;
	duration_s = $mem_secs;
	status_ms = 1000;
	sink = "json";
	output = "/dev/null";	# ~1.4 M summaries: counted, not kept
};

targets = (
EOF
	awk -v n="$mem_targets" -v fl="$mem_flows" 'BEGIN {
		for (i = 0; i < n; i++)
			printf "\t{ ip = \"10.%d.%d.%d\"; rate_pps = 16; flows = %d; }%s\n",
				1 + int(i / 62500), int(i / 250) % 250, i % 250 + 1, fl,
				i + 1 < n ? "," : ""
	}'
	echo ");"
} >"$cfg"

hp_used() {
	awk '/^HugePages_Total:/ { t = $2 } /^HugePages_Free:/ { f = $2 }
	     /^Hugepagesize:/ { s = $2 } END { printf "%d\n", (t - f) * s / 1024 }' /proc/meminfo
}

hp0=$(hp_used)
mlog=$work/mem.log
timeout -k 10 -s INT $((mem_secs + 60)) "$prober" -l 0-1 --main-lcore 1 "${eal[@]}" \
	--file-prefix "pmb-m-$$" --vdev=net_null0,no-rx=1 -- -c "$cfg" --no-status >"$mlog" 2>&1 &
tp=$!
pids+=("$tp")
# Sample the prober itself, not timeout(1), its parent.
mp=
for ((i = 0; i < 50; i++)); do
	mp=$(pgrep -P "$tp" | head -1)
	[ -n "$mp" ] && break
	sleep 0.1
done
mp=${mp:-$tp}
# Sample until it exits: peak of each figure (kB).
peak_hp=0 peak_rss=0 peak_anon=0 peak_file=0 peak_shm=0 peak_htlb=0 nsamp=0
while kill -0 "$mp" 2>/dev/null; do
	if [ -r /proc/"$mp"/status ]; then
		read -r rss anon file shm htlb < <(awk '
			/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 }
			/^RssShmem:/ { s = $2 } /^HugetlbPages:/ { h = $2 }
			END { print r + 0, a + 0, f + 0, s + 0, h + 0 }' /proc/"$mp"/status 2>/dev/null)
		hp=$(($(hp_used) - hp0))
		((hp > peak_hp)) && peak_hp=$hp
		((${rss:-0} > peak_rss)) && peak_rss=$rss
		((${anon:-0} > peak_anon)) && peak_anon=$anon
		((${file:-0} > peak_file)) && peak_file=$file
		((${shm:-0} > peak_shm)) && peak_shm=$shm
		((${htlb:-0} > peak_htlb)) && peak_htlb=$htlb
		nsamp=$((nsamp + 1))
		# smaps_rollup once, in steady state, for the hugetlb split.
		if [ "$nsamp" = 10 ]; then
			grep -E 'Rss|Hugetlb' /proc/"$mp"/smaps_rollup >"$work/mem.smaps" 2>/dev/null
		fi
	fi
	sleep 0.5
done
wait "$tp"
mrc=$?
forget "$tp"
if [ $mrc -ne 0 ] || [ "$nsamp" -lt 4 ]; then
	echo "bench: memory run: prober exited $mrc after $nsamp samples; its last words:"
	grep -v '^$' "$mlog" | tail -8
	failed=1
fi
# hugetlb pages are not in VmRSS on Linux >= 4.5 (they show as HugetlbPages).
hp_proc=$((peak_htlb / 1024))
echo "memory $mem_targets targets x $mem_flows flows:" \
	"hugepages $hp_proc MiB (system-wide in use rose by $peak_hp MiB)," \
	"RSS $((peak_rss / 1024)) MiB (anon $((peak_anon / 1024)), file $((peak_file / 1024))," \
	"shmem $((peak_shm / 1024)))," \
	"total $(((peak_htlb + peak_rss) / 1024)) MiB (target <= 256 MB)" \
	"[peaks over $nsamp samples; RSS file = mapped DPDK/libc code]"
if [ -s "$work/mem.smaps" ]; then
	echo "memory smaps_rollup (steady state, kB): $(tr -s ' \n' ' ' <"$work/mem.smaps")"
fi
echo "memory run: $(grep -o 'counters:.*' "$mlog" | head -1)"
echo "bench: load average at the end $(cut -d' ' -f1-3 /proc/loadavg)" \
	"(other work on the box skews figures)"

exit $failed
