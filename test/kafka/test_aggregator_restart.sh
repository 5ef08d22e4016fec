#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# An aggregator killed with SIGKILL mid-run and restarted produces the same
# tables as an uninterrupted run: offsets are committed only for messages
# wholly inside emitted windows, with the newest emitted window in the
# commit's metadata.  Also: two aggregators in one consumer group split the
# partitions, and their partial tables sum to the single run's.
. "$(dirname "$0")/kafka_lib.sh"
. "$(dirname "$0")/agg_lib.sh"
kt_need "$AGG" "$KFEED"
kt_start_mock --partitions 8 --quiet
agg_topology "$KT/topo.cfg"
fail=0
aggr() {	# name group args...: run in a subshell or with &; it execs
	local name=$1 group=$2
	shift 2
	exec "$AGG" -b "$BS" --topology "$KT/topo.cfg" -g "$group" --window-ms 10000 \
		--grace-ms 0 --no-publish --output "$KT/$name.json" "$@" 2>"$KT/$name.err"
}

# 60 s of event time (6 windows), produced over ~12 s.
N=$((8 * 8 * 4 * 60))
( timeout 120 "$KFEED" -b "$BS" --id fab --fabric 8 --drop-spine 1 --drop-pct 2 \
	--count $N --lcores 16 --rate 1280 --spool-dir "$KT/spool" >"$KT/feed.out" 2>&1 ) &
feed=$!
KT_PIDS+=($feed)

# Killed while the summaries still flow, then restarted.
aggr k1 killed &
K=$!
KT_PIDS+=($K)
# Two instances of one group, from the start.
aggr g1 pair --until-idle 5000 &
G1=$!
KT_PIDS+=($G1)
aggr g2 pair --until-idle 5000 &
G2=$!
KT_PIDS+=($G2)
sleep 7
kill -9 $K
wait $K 2>/dev/null
echo "killed after 7 s with $(wc -l <"$KT/k1.json") windows emitted"
wait $feed
cat "$KT/feed.out"
aggr k2 killed --until-idle 4000 &
P=$!
KT_PIDS+=($P)
wait $P || { echo "FAIL: restarted aggregator"; fail=1; }
# The reference: a fresh group reading everything at once.
aggr ref whole --until-idle 4000 &
P=$!
KT_PIDS+=($P)
wait $P || { echo "FAIL: reference aggregator"; fail=1; }
wait $G1 $G2
tail -1 "$KT/k2.err"
echo "restart equivalence:"
agg_compare "$KT/ref.json" "$KT/k1.json" "$KT/k2.json" || fail=1
echo "group of two: instance 1 $(sed -n 's/.* \([0-9]*\) summaries.*/\1/p' "$KT/g1.err") summaries," \
	"instance 2 $(sed -n 's/.* \([0-9]*\) summaries.*/\1/p' "$KT/g2.err") summaries"
for f in g1 g2; do
	n=$(sed -n 's/.* \([0-9]*\) summaries.*/\1/p' "$KT/$f.err")
	[ "${n:-0}" -gt 0 ] || { echo "FAIL: instance $f got no partitions"; fail=1; }
done
agg_compare "$KT/ref.json" "$KT/g1.json" "$KT/g2.json" || fail=1
[ -n "${PM_KT_KEEP:-}" ] && cp "$KT"/*.json "$KT"/*.err "$PM_KT_KEEP"/
exit $fail
