#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Ring-full accounting: with an artificially tiny ring between the lcore and
# the export thread (--export-ring 4) most summaries cannot be handed over.
# Each one is counted (summaries_dropped), burns its sequence number, and is
# announced by a ring_drop event and by the next summary's dropped_before
# (when there is a next one): the consumer finds no gap that is not
# explained, and no loss that is not counted.
. "$(dirname "$0")/kafka_lib.sh"
kt_need "$CAT" "$PROBER"
kt_start_mock --partitions 8 --quiet
fail=0

kt_prober ring 5 --target 10.0.0.2 --rate 51200 --flows 512 --window-ms 10 \
	--timeout-ms 5 --kafka "$BS" --spool-dir "$KT/spool" --export-ring 4
rc=$?
[ $rc -eq 0 ] || { echo "FAIL: prober exited $rc"; tail -5 "$KT/ring.err"; fail=1; }
grep -o 'counters:.*' "$KT/ring.err" | grep -o 'summaries [0-9]* summaries_dropped [0-9]*'
S=$(sed -n 's/.* summaries \([0-9]*\) summaries_dropped.*/\1/p' "$KT/ring.err" | tail -1)
D=$(sed -n 's/.* summaries_dropped \([0-9]*\).*/\1/p' "$KT/ring.err" | tail -1)
kt_cat -t pmesh.summaries --exit-at-end --dedup >"$KT/got" 2>"$KT/cat.err"
kt_cat -t pmesh.events --exit-at-end >"$KT/events" 2>/dev/null
python3 - "$KT/got" "$KT/events" "${S:-0}" "${D:-0}" <<'PY' || fail=1
import json, sys, collections
seqs = collections.defaultdict(list)
n = 0
for line in open(sys.argv[1]):
    d = json.loads(line); n += 1
    seqs[d["lcore"]].append((d["seq"], d["dropped_before"]))
explained = unexplained = 0
for v in seqs.values():
    v.sort()
    explained += v[0][1]          # drops before an lcore's first summary
    for (a, _), (b, drop) in zip(v, v[1:]):
        explained += drop
        unexplained += (b - a - 1) - drop
ev = sum(json.loads(l)["dropped"] for l in open(sys.argv[2])
         if '"event":"ring_drop"' in l)
s, d = int(sys.argv[3]), int(sys.argv[4])
print(f"prober: {s} summaries handed over, {d} dropped (ring full); kafka: {n} arrived, "
      f"gaps explained by dropped_before {explained}, unexplained {unexplained}; "
      f"ring_drop events total {ev}")
# Drops after an lcore's last summary have no later summary to announce
# them: ring_drop events (and the stop event) count every one.
ok = d > 0 and n == s and unexplained == 0 and ev == d and explained <= d
print(f"drops announced by a later summary {explained}, after the last one {d - explained}")
sys.exit(0 if ok else 1)
PY
exit $fail
