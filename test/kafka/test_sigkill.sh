#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A prober killed with SIGKILL while the brokers are down leaves its spool;
# restarted once they are back, it replays every spooled record.  On the
# way the spool is damaged the way a crash or a bad disk might (one byte
# flipped, the tail cut): the replay skips and counts those records, never
# stops, and everything else arrives.  Also: brokers unreachable at start
# is not fatal with a spool (the prober says so and spools).
. "$(dirname "$0")/kafka_lib.sh"
kt_need "$CAT" "$PROBER"
kt_start_mock --partitions 8 --quiet
kt_mock "down all"
fail=0

cat >"$KT/p.cfg" <<CFG
prober = { src_ip = "10.0.0.1"; gateway_mac = "02:00:00:00:00:02"; window_ms = 100;
           timeout_ms = 50; sink = "kafka"; };
targets = ( { ip = "10.0.0.2"; rate_pps = 1600; flows = 16; } );
kafka = { bootstrap = "$BS"; queue_ms = 1000; connect_ms = 1000; spool_dir = "$KT/spool";
          spool_fsync = "never"; batch_max = 16; };
CFG
kt_prober_bg first 120 -c "$KT/p.cfg"
PP=$KT_PROBER_PID
sleep 10
kill -9 $PP
wait $PP 2>/dev/null
echo "prober killed with SIGKILL after 10 s with the brokers down"
grep -o 'kafka: brokers .*' "$KT/first.err" | head -1
grep -q 'spooling to' "$KT/first.err" || { echo "FAIL: no 'spooling to' at start"; fail=1; }

timeout 60 "$CAT" --spool "$KT/spool" --stats >"$KT/spooled" 2>"$KT/spool.err"
tail -1 "$KT/spool.err"
# Damage: flip a byte in the middle of the newest segment, cut its tail.
seg=$(ls "$KT/spool"/*.pms | tail -1)
size=$(stat -c %s "$seg")
printf '\xff' | dd of="$seg" bs=1 seek=$((size / 2)) conv=notrunc status=none
truncate -s $((size - 7)) "$seg"
timeout 60 "$CAT" --spool "$KT/spool" --stats >"$KT/readable" 2>"$KT/readable.err"
tail -1 "$KT/readable.err"
echo "spool: $(wc -l <"$KT/spooled") summaries+events before damage, $(wc -l <"$KT/readable") readable after"

kt_mock "up all"
kt_prober second 4 -c "$KT/p.cfg"
rc=$?
grep -E 'kafka' "$KT/second.err" | cut -c1-200 | head -6
grep ': sink ' "$KT/second.err"
[ $rc -eq 0 ] || { echo "FAIL: restarted prober exited $rc"; fail=1; }
C=$(kt_field "$KT/second.err" spool_corrupt)
[ "${C:-0}" -ge 1 ] || { echo "FAIL: damage not counted (spool_corrupt ${C:-none})"; fail=1; }

kt_cat -t pmesh.summaries -t pmesh.events --exit-at-end --dedup >"$KT/kafka" 2>"$KT/cat.err"
python3 - "$KT/spooled" "$KT/readable" "$KT/kafka" <<'PY' || fail=1
import json, sys
ids = lambda f: {json.loads(l)["id"] for l in open(f) if l.strip()}
before, readable, kafka = ids(sys.argv[1]), ids(sys.argv[2]), ids(sys.argv[3])
missing = readable - kafka
print(f"spooled {len(before)}, readable after damage {len(readable)} "
      f"(lost to the damage {len(before - readable)}), delivered after restart "
      f"{len(readable & kafka)}, missing {len(missing)}")
sys.exit(0 if readable and not missing and len(before - readable) < len(before) / 2 else 1)
PY
exit $fail
