#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Brokers down for 10 s in the middle of a prober run, then up: 0 summaries
# lost.  Records wait in librdkafka's queue (queue_ms = 2 s), then spool,
# then replay in order when the brokers return.  Consumer side: every
# summary id arrives (duplicates only from at-least-once replay, removed by
# id), and each lcore's sequence numbers have no gap.
. "$(dirname "$0")/kafka_lib.sh"
kt_need "$CAT" "$PROBER"
kt_start_mock --partitions 8 --quiet
DUR=${PM_KT_DUR:-30}
fail=0

cat >"$KT/p.cfg" <<CFG
prober = { src_ip = "10.0.0.1"; gateway_mac = "02:00:00:00:00:02"; window_ms = 100;
           timeout_ms = 50; sink = "kafka"; };
targets = ( { ip = "10.0.0.2"; rate_pps = 3200; flows = 32; } );
kafka = { bootstrap = "$BS"; queue_ms = 2000; spool_dir = "$KT/spool"; };
CFG
kt_prober_bg down "$DUR" -c "$KT/p.cfg"
PP=$KT_PROBER_PID
sleep 8
kt_mock "down all"
echo "t=8s: all brokers down"
sleep 10
kt_mock "up all"
echo "t=18s: brokers up"
wait $PP
rc=$?
grep -E 'kafka|sink' "$KT/down.err" | grep -v '^EAL' | cut -c1-200 | tail -12
[ $rc -eq 0 ] || { echo "FAIL: prober exited $rc"; fail=1; }

S=$(kt_field "$KT/down.err" summaries)
F=$(kt_field "$KT/down.err" failed)
SP=$(kt_field "$KT/down.err" spooled)
RP=$(kt_field "$KT/down.err" replayed)
PEND=$(kt_field "$KT/down.err" spool_pending)
kt_cat -t pmesh.summaries --exit-at-end --dedup --stats >"$KT/got" 2>"$KT/cat.err"
tail -2 "$KT/cat.err"
python3 - "$KT/got" "${S:-0}" <<'PY' || fail=1
import json, sys, collections
ids, seqs = set(), collections.defaultdict(list)
for line in open(sys.argv[1]):
    d = json.loads(line)
    ids.add(d["id"])
    seqs[(d["prober"], d["lcore"])].append((d["seq"], d["dropped_before"]))
gaps = 0
for k, v in seqs.items():
    v.sort()
    for (a, _), (b, drop) in zip(v, v[1:]):
        gaps += (b - a - 1) - drop
s = int(sys.argv[2])
print(f"prober wrote {s} summaries; {len(ids)} distinct arrived; unexplained seq gaps {gaps}")
sys.exit(0 if s > 0 and len(ids) == s and gaps == 0 else 1)
PY
echo "spooled $SP, replayed $RP, left in spool $PEND, failed $F"
[ "${F:-1}" -eq 0 ] || { echo "FAIL: $F summaries failed"; fail=1; }
[ "${SP:-0}" -gt 0 ] && [ "${RP:-0}" -gt 0 ] || { echo "FAIL: the outage did not go through the spool"; fail=1; }
[ "${PEND:-1}" -eq 0 ] || { echo "FAIL: $PEND summaries still in the spool"; fail=1; }
kt_cat -t pmesh.events --exit-at-end >"$KT/events" 2>/dev/null
for ev in start stop spool_drained; do
	grep -q "\"event\":\"$ev\"" "$KT/events" || { echo "FAIL: no $ev event"; fail=1; }
done
echo "events: $(grep -o '"event":"[a-z_]*"' "$KT/events" | sort | uniq -c | tr -s ' ' | tr '\n' ' ')"
exit $fail
