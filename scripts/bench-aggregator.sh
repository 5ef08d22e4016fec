#!/usr/bin/env bash
# bench-aggregator.sh: what pmesh-aggregator costs per summary, next to a
# consumer that does nothing with what it reads.  A benchmark, not a test.
#
# kfeed plays a fabric of 64 racks and 4 spines and writes N binary
# summaries once into a fresh pmesh-kafka-mock (3 brokers), over enough
# partitions and lcores (message keys) that the mock keeps them all.  Then,
# round after round, the same topic is read three ways, each from the
# beginning with a fresh consumer group:
#  (a) pmesh-aggregator --until-idle 2000 --no-publish --output /dev/null:
#      decoding, topology joins, dedup, tables, localization, JSON;
#  (b) kcat -G GROUP -e -q: the same kind of consumer (group join,
#      cooperative fetch, offsets) discarding every message;
#  (c) kcat -C -e -q: a group-less consumer, the fastest read there is.
# Printed per round and as medians:
#  - end to end: summaries/s from start to the last summary (the
#    aggregator's wall time minus its 2 s idle wait) next to (b)'s, and
#    their ratio (target >= 0.8); both include the group join (~3 s with
#    the mock's initial rebalance delay);
#  - steady state: summaries/s between the aggregator's first and last
#    message (it prints both times) next to (c)'s wall time;
#  - per core: summaries per CPU-second (user + sys of every thread,
#    librdkafka's included; target >= 1,000,000 for the binary encoding).
# Runs alternate so that load from anything else hits them alike: compare
# ratios more than absolute figures.
#
# Usage: bash scripts/bench-aggregator.sh
# Environment: BENCH_ROUNDS=3, BENCH_N=1000000, BENCH_BUILD=build
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 2
rounds=${BENCH_ROUNDS:-3}
n=${BENCH_N:-1000000}
bdir=${BENCH_BUILD:-build}
idle_ms=2000
mock=$bdir/kafka_sink/pmesh-kafka-mock
kfeed=$bdir/test/kafka/kfeed
agg=$bdir/app/aggregator/pmesh-aggregator
topic=pmesh.summaries
work=$(mktemp -d /tmp/pm-benchagg.XXXXXX)
pids=()

cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -INT "$p" 2>/dev/null
	done
	for p in "${pids[@]}"; do
		timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for t in "$mock" "$kfeed" "$agg"; do
	if [ ! -x "$t" ]; then
		bash scripts/build.sh "$bdir" >/dev/null || { echo "bench: build failed" >&2; exit 2; }
		break
	fi
done
command -v kcat >/dev/null || { echo "bench: kcat not installed" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time missing (apt-get install time)" >&2; exit 2; }

median() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "n/a"; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# The 64 racks kfeed --fabric 64 plays: 16 pods of 4, rack k is 10.64.k.0/24.
. test/kafka/agg_lib.sh
agg_topology "$work/topo.cfg" 16

# A binary summary of this fabric is ~265 bytes and the mock keeps only
# the newest ~5 MiB of a partition.  Messages are keyed by prober-lcore and
# keys hash unevenly, so kfeed plays 4 lcores per partition and the
# partitions are sized for ~1 MiB on average (BENCH_N up to ~1,000,000);
# every round checks that the aggregator read all N summaries.
parts=$(( (n * 265 / 1048576) + 1 ))
[ $parts -lt 16 ] && parts=16
[ $parts -gt 256 ] && parts=256
lcores=$((parts * 4))
"$mock" --brokers 3 --partitions "$parts" --bootstrap-file "$work/bootstrap" --quiet \
	>/dev/null 2>"$work/mock.err" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/bootstrap" ] && break; sleep 0.1; done
[ -s "$work/bootstrap" ] || { echo "bench: mock did not start" >&2; cat "$work/mock.err"; exit 1; }
bs=$(cat "$work/bootstrap")

echo "bench-aggregator: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $rounds rounds," \
	"$n binary summaries, $parts partitions"
timeout 600 "$kfeed" -b "$bs" --id bench --fabric 64 --lcores "$lcores" --count "$n" \
	--encoding binary --no-spool >"$work/feed.out" 2>&1 ||
	{ echo "bench: kfeed failed"; cat "$work/feed.out"; exit 1; }
sed 's/^/  /' "$work/feed.out"

# What is in the topic (outside any timing): messages and payload bytes.
read -r msgs bytes < <(timeout 600 kcat -C -b "$bs" -t $topic -o beginning -e -q -f '%S\n' |
	awk '{ m++; b += $1 } END { print m + 0, b + 0 }')
echo "  topic $topic: $msgs messages, $bytes payload bytes" \
	"($(awk -v b="$bytes" -v n="$n" 'BEGIN { printf "%.0f", b / n }') bytes/summary)"

# run NAME CMD...: time CMD (wall, user, sys into $work/NAME.time).
run() {
	local name=$1
	shift
	/usr/bin/time -f '%e %U %S' -o "$work/$name.time" timeout 900 "$@"
}

for f in e2e_agg e2e_raw e2e_ratio ss_agg ss_raw ss_ratio cpu_agg cpu_raw; do
	: >"$work/$f"
done
for r in $(seq "$rounds"); do
	run agg "$agg" -b "$bs" --topology "$work/topo.cfg" -g "bench-agg-$r-$$" --no-publish \
		--until-idle $idle_ms --output /dev/null 2>"$work/agg.err"
	arc=$?
	run rawg kcat -G "bench-kcat-$r-$$" -b "$bs" -o beginning -e -q $topic >/dev/null 2>&1
	grc=$?
	run rawc kcat -C -b "$bs" -t $topic -o beginning -e -q >/dev/null 2>&1
	crc=$?
	if [ $arc -ne 0 ] || [ $grc -ne 0 ] || [ $crc -ne 0 ]; then
		echo "bench: round $r: aggregator exit $arc, kcat -G exit $grc, kcat -C exit $crc" >&2
		cat "$work/agg.err" >&2
		exit 1
	fi
	got=$(tail -1 "$work/agg.err" | sed -n 's/.* \([0-9]*\) summaries,.*/\1/p')
	if [ "${got:-0}" -ne "$n" ]; then
		echo "bench: round $r: the aggregator read ${got:-?} summaries of $n (the mock" \
			"keeps ~5 MiB a partition: lower BENCH_N): $(tail -1 "$work/agg.err")" >&2
		exit 1
	fi
	span=$(sed -n 's/.*first message \([0-9.]*\) s after start, last \([0-9.]*\) s after the first.*/\2/p' \
		"$work/agg.err")
	read -r aw au as <"$work/agg.time"
	read -r gw _ _ <"$work/rawg.time"
	read -r cw cu cs <"$work/rawc.time"
	awk -v n="$n" -v aw="$aw" -v au="$au" -v as="$as" -v i="$idle_ms" -v span="${span:-0}" \
	    -v gw="$gw" -v cw="$cw" -v cu="$cu" -v cs="$cs" -v d="$work" -v r="$r" 'BEGIN {
		e = aw - i / 1000; if (e <= 0) e = 0.001
		if (gw <= 0) gw = 0.001; if (cw <= 0) cw = 0.001; if (span <= 0) span = 0.001
		ac = au + as; if (ac <= 0) ac = 0.001
		cc = cu + cs; if (cc <= 0) cc = 0.001
		printf "  round %d: end to end: aggregator %.2f s (%.0f summaries/s), kcat -G %.2f s (%.0f/s): ratio %.2f\n", \
			r, e, n / e, gw, n / gw, gw / e
		printf "           steady state: aggregator %.2f s first to last message (%.0f/s), kcat -C %.2f s (%.0f/s): ratio %.2f\n", \
			span, n / span, cw, n / cw, cw / span
		printf "           per core: aggregator %.2f s CPU, %.0f summaries per CPU-second; kcat -C %.2f s CPU, %.0f\n", \
			ac, n / ac, cc, n / cc
		print n / e >>(d "/e2e_agg"); print n / gw >>(d "/e2e_raw"); print gw / e >>(d "/e2e_ratio")
		print n / span >>(d "/ss_agg"); print n / cw >>(d "/ss_raw"); print cw / span >>(d "/ss_ratio")
		print n / ac >>(d "/cpu_agg"); print n / cc >>(d "/cpu_raw")
	}'
done
tail -1 "$work/agg.err" | sed 's/^/  last aggregator run: /'
m() { median <"$work/$1"; }
echo "medians over $rounds rounds ($n binary summaries):"
printf '  end to end:   aggregator %.0f summaries/s, kcat -G %.0f/s, ratio %.2f (target >= 0.8)\n' \
	"$(m e2e_agg)" "$(m e2e_raw)" "$(m e2e_ratio)"
printf '  steady state: aggregator %.0f summaries/s, kcat -C %.0f/s, ratio %.2f\n' \
	"$(m ss_agg)" "$(m ss_raw)" "$(m ss_ratio)"
printf '  per core:     aggregator %.0f summaries per CPU-second (target >= 1000000), kcat -C %.0f\n' \
	"$(m cpu_agg)" "$(m cpu_raw)"
