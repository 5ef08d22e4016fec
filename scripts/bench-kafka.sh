#!/usr/bin/env bash
# bench-kafka.sh: what the Kafka sink costs.  A benchmark, not a test.
#
# (a) Sink throughput: kfeed pushes N synthetic summaries (the same
#     deterministic ones each time) through pm_sink_kafka -- encoding,
#     batching, delivery reports, the spool standing by -- into
#     pmesh-kafka-mock, timed until the last one is acknowledged; its peer
#     is a plain librdkafka producer sending the very same message bytes
#     (pre-encoded, same keys, headers and producer settings) to the same
#     cluster.  Printed: summaries/s and MB/s of each, and the ratio
#     (target >= 0.9).  Both encodings.
# (b) Prober cost: pmesh-prober at line rate over a memif pair to
#     pmesh-reflector (as scripts/bench-engine.sh), with 1024 flows and
#     100 ms windows (about 10,000 summaries/s), once into Kafka (binary)
#     and once into the JSON sink writing /dev/null; replies/s of each and
#     the ratio (target >= 0.97).
# Runs alternate, round after round, so that load from anything else hits
# both alike: compare ratios, not absolute figures (PLATFORM.md).
#
# Usage: bash scripts/bench-kafka.sh
# Environment: BENCH_ROUNDS=3, BENCH_N=200000 (summaries for (a)),
#   BENCH_DURATION=10 (seconds per prober run), BENCH_BUILD=build,
#   BENCH_PART=ab (run only a or b)
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 2
rounds=${BENCH_ROUNDS:-3}
n=${BENCH_N:-200000}
dur=${BENCH_DURATION:-10}
bdir=${BENCH_BUILD:-build}
part=${BENCH_PART:-ab}
mock=$bdir/kafka_sink/pmesh-kafka-mock
kfeed=$bdir/test/kafka/kfeed
prober=$bdir/app/prober/pmesh-prober
reflector=$bdir/app/reflector/pmesh-reflector
eal=(--no-pci --in-memory --log-level=lib.eal:error --log-level=lib.telemetry:error)
work=$(mktemp -d /tmp/pm-benchk.XXXXXX)
pids=()

cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -INT "$p" 2>/dev/null
	done
	for p in "${pids[@]}"; do
		timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$work" /tmp/pm-benchk-$$.sock
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ ! -x "$mock" ] || [ ! -x "$kfeed" ] || [ ! -x "$prober" ]; then
	bash scripts/build.sh "$bdir" >/dev/null || { echo "bench: build failed" >&2; exit 2; }
fi
bash scripts/hugepages.sh 512 >/dev/null 2>&1 || true

median() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "n/a"; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

start_mock() {
	rm -f "$work/bootstrap"
	"$mock" --brokers 3 --partitions 16 --bootstrap-file "$work/bootstrap" --quiet \
		>/dev/null 2>"$work/mock.err" &
	mock_pid=$!
	pids+=("$mock_pid")
	for _ in $(seq 100); do [ -s "$work/bootstrap" ] && break; sleep 0.1; done
	bs=$(cat "$work/bootstrap")
}

stop_mock() {
	kill -INT "$mock_pid" 2>/dev/null
	wait "$mock_pid" 2>/dev/null
}

echo "bench-kafka: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $rounds rounds"

# ---- (a) sink vs raw producer ----------------------------------------------
if [[ $part == *a* ]]; then
	for enc in binary json; do
		cnt=$n
		[ "$enc" = json ] && cnt=$((n / 4))
		: >"$work/a-$enc.sink"
		: >"$work/a-$enc.raw"
		: >"$work/a-$enc.ratio"
		for r in $(seq "$rounds"); do
			start_mock	# a fresh cluster each run: same partition sizes
			"$kfeed" -b "$bs" --mode raw --encoding "$enc" --count "$cnt" \
				>"$work/raw.out" 2>&1
			stop_mock
			start_mock
			"$kfeed" -b "$bs" --mode sink --encoding "$enc" --count "$cnt" \
				--spool-dir "$work/spool" >"$work/sink.out" 2>&1
			stop_mock
			rs=$(sed -n 's/.*: \([0-9]*\) summaries\/s.*/\1/p' "$work/raw.out")
			ss=$(sed -n 's/.*: \([0-9]*\) summaries\/s.*/\1/p' "$work/sink.out")
			mb=$(sed -n 's/.*, \([0-9.]*\) MB, .*/\1/p' "$work/raw.out")
			if [ -z "$rs" ] || [ -z "$ss" ]; then
				echo "bench: run failed:"; cat "$work/raw.out" "$work/sink.out"; continue
			fi
			echo "$ss" >>"$work/a-$enc.sink"
			echo "$rs" >>"$work/a-$enc.raw"
			awk -v a="$ss" -v b="$rs" 'BEGIN { printf "%.3f\n", a / b }' >>"$work/a-$enc.ratio"
			printf "  (a) %-6s round %d: sink %8d summaries/s (%.1f MB/s), raw producer %8d summaries/s (%.1f MB/s), ratio %.2f\n" \
				"$enc" "$r" "$ss" "$(awk -v m="$mb" -v s="$ss" -v c="$cnt" 'BEGIN{print m*s/c}')" \
				"$rs" "$(awk -v m="$mb" -v s="$rs" -v c="$cnt" 'BEGIN{print m*s/c}')" \
				"$(awk -v a="$ss" -v b="$rs" 'BEGIN { print a / b }')"
		done
		echo "(a) $enc, $cnt summaries ($mb MB of messages): sink median $(median <"$work/a-$enc.sink")/s," \
			"raw producer median $(median <"$work/a-$enc.raw")/s;" \
			"median per-round ratio $(median <"$work/a-$enc.ratio") (target >= 0.9)"
	done
fi

# ---- (b) prober with Kafka vs JSON to /dev/null -----------------------------
prober_run() {	# name, sink args...: prints replies/s
	local name=$1 sock=/tmp/pm-benchk-$$.sock rp pp
	shift
	rm -f "$sock"
	timeout -k 5 -s INT $((dur + 60)) "$reflector" -l 0-1 --main-lcore 0 "${eal[@]}" \
		--file-prefix "pmbk-r-$$" --vdev="net_memif0,role=server,socket=$sock" \
		-- --ip 10.0.0.2 --stats-ms 0 >"$work/$name.refl" 2>&1 &
	rp=$!
	pids+=("$rp")
	sleep 2
	timeout -k 5 -s INT $((dur + 40)) "$prober" -l 0-1 --main-lcore 1 "${eal[@]}" \
		--file-prefix "pmbk-p-$$" --vdev="net_memif0,role=client,socket=$sock" \
		-- --src-ip 10.0.0.1 --target 10.0.0.2 --flows 1024 --line-rate \
		--budget-pps 100000000 --budget-mbps 1000000 --duration "$dur" \
		--window-ms 100 --no-status "$@" >"$work/$name.log" 2>&1
	sleep 0.5
	kill -INT "$rp" 2>/dev/null
	wait "$rp" 2>/dev/null
	rm -f "$sock"
	sed -n 's/.*counters: .* replies \([0-9]*\).*/\1/p' "$work/$name.log" |
		awk -v d="$dur" '{ printf "%.0f\n", $1 / d }'
}

if [[ $part == *b* ]]; then
	: >"$work/b.on"
	: >"$work/b.off"
	: >"$work/b.ratio"
	start_mock
	for r in $(seq "$rounds"); do
		off=$(prober_run off --output /dev/null)
		on=$(prober_run on --kafka "$bs" --spool-dir "$work/pspool")
		if [ -z "$off" ] || [ -z "$on" ]; then
			echo "bench: prober run failed:"; tail -3 "$work/off.log" "$work/on.log"; continue
		fi
		sline=$(grep ': sink ' "$work/on.log" | sed 's/.*sink kafka: //')
		echo "$on" >>"$work/b.on"
		echo "$off" >>"$work/b.off"
		awk -v a="$on" -v b="$off" 'BEGIN { printf "%.3f\n", a / b }' >>"$work/b.ratio"
		printf "  (b) round %d: Kafka on %.3f Mpps, off (JSON to /dev/null) %.3f Mpps, ratio %.3f [%s]\n" \
			"$r" "$(awk -v v="$on" 'BEGIN{print v/1e6}')" "$(awk -v v="$off" 'BEGIN{print v/1e6}')" \
			"$(awk -v a="$on" -v b="$off" 'BEGIN { print a / b }')" "$sline"
	done
	stop_mock
	echo "(b) prober replies/s, 1024 flows, 100 ms windows: Kafka on median $(median <"$work/b.on")," \
		"off median $(median <"$work/b.off"); median per-round ratio $(median <"$work/b.ratio") (target >= 0.97)"
fi
