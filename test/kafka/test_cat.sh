#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# pmesh-cat on its own: both encodings print the very lines the producer
# wrote; --dedup drops redelivered ids and counts them; --stats finds a
# sequence hole that dropped_before does not explain (and only that one);
# unknown versions and garbage are refused by topic[partition]@offset with
# exit 3; events print as they are; --count/--timeout-ms, -X and --spool
# (including a spool locked by a running prober) behave as --help says.
. "$(dirname "$0")/kafka_lib.sh"
kt_need "$CAT" "$KFEED"
command -v kcat >/dev/null || { echo "SKIP: kcat not installed"; exit 77; }
kt_start_mock --partitions 16 --quiet
N=2000
fail=0
ko() { echo "FAIL: $*"; fail=1; }

# 1. Both encodings, compared line for line with what was produced.
for enc in binary json; do
	timeout 60 "$KFEED" -b "$BS" --id "cat-$enc" --encoding "$enc" --count $N \
		--lcores 16 --expect "$KT/exp.$enc" --no-spool >/dev/null 2>&1 ||
		ko "kfeed $enc"
done
kt_cat -t pmesh.summaries --exit-at-end --stats >"$KT/got" 2>"$KT/got.err" ||
	ko "pmesh-cat exited $?"
tail -1 "$KT/got.err"
sort "$KT/exp.binary" "$KT/exp.json" | cmp -s - <(sort "$KT/got") ||
	ko "lines differ from what was produced"
grep -q "$((2 * N)) summaries, 0 events, 0 duplicates printed, 0 refused, gaps 0" \
	"$KT/got.err" || ko "stats"

# 2. Redelivery: the binary run again, same ids.
timeout 60 "$KFEED" -b "$BS" --id cat-binary --encoding binary --count $N \
	--lcores 16 --no-spool >/dev/null 2>&1 || ko "kfeed again"
kt_cat -t pmesh.summaries --exit-at-end --dedup --stats >"$KT/dd" 2>"$KT/dd.err"
tail -1 "$KT/dd.err"
[ "$(wc -l <"$KT/dd")" -eq $((2 * N)) ] && grep -q "$N duplicates dropped" "$KT/dd.err" ||
	ko "--dedup"

# 3. Gaps: seq 10..20 of one (prober, lcore) with 13-14 missing and only one
# of them announced by dropped_before, 17 missing and announced.
head -1 "$KT/exp.json" | python3 -c '
import json, sys
d = json.loads(sys.stdin.readline())
d["prober"] = "cat-gaps"
pid = d["id"].split("-")[0]
for seq, drop in ((10, 2), (11, 0), (12, 0), (15, 1), (16, 0), (18, 1), (19, 0), (20, 0)):
    d["seq"], d["dropped_before"] = seq, drop
    d["id"] = "%s-%d-%d" % (pid, d["lcore"], seq)
    print(json.dumps(d, separators=(",", ":")))
' >"$KT/gaps.json"
kcat -P -b "$BS" -t pmesh.gaps -k gaps -l -H pmesh-encoding=json -H pmesh-schema=2 \
	-H pmesh-kind=summary "$KT/gaps.json"
kt_cat -t pmesh.gaps --exit-at-end --stats >/dev/null 2>"$KT/gaps.err"
tail -1 "$KT/gaps.err"
grep -q "gaps 1, ring-dropped 4" "$KT/gaps.err" || ko "gap accounting"

# 4. Unknown versions, garbage, events.
printf 'PMB1\011\000\002\000\030\000\000\000\000\000\000\000\001\000\000\000\001\000\000\000' |
	kcat -P -b "$BS" -t pmesh.bad -p 0 -H pmesh-encoding=binary -H pmesh-schema=2 \
	-H pmesh-kind=summary
echo '{"schema":9,"kind":"summary","id":"00000001-1-1"}' |
	kcat -P -b "$BS" -t pmesh.bad -p 0 -H pmesh-encoding=json -H pmesh-schema=9
echo 'not json' | kcat -P -b "$BS" -t pmesh.bad -p 0
echo '{"schema":2,"kind":"event","id":"00000001-ev-7","event":"test"}' |
	kcat -P -b "$BS" -t pmesh.bad -p 0 -H pmesh-kind=event
kt_cat -t pmesh.bad --exit-at-end >"$KT/bad.out" 2>"$KT/bad.err"
rc=$?
cat "$KT/bad.err"
[ $rc -eq 3 ] || ko "refused messages: exit $rc, want 3"
grep -q 'pmesh.bad\[0\]@0: binary batch version 9 is not supported' "$KT/bad.err" ||
	ko "batch version message"
grep -q 'pmesh.bad\[0\]@1: .*9.*not supported' "$KT/bad.err" || ko "schema message"
grep -q 'pmesh.bad\[0\]@2: ' "$KT/bad.err" || ko "garbage message"
[ "$(cat "$KT/bad.out")" = '{"schema":2,"kind":"event","id":"00000001-ev-7","event":"test"}' ] ||
	ko "event not printed as is"

# 5. Options.
"$CAT" -b "$BS" -X foo=bar 2>"$KT/x.err"
rc=$?
[ $rc -eq 2 ] && grep -q '^pmesh-cat: -X foo=bar: No such configuration property' "$KT/x.err" ||
	ko "-X foo=bar: exit $rc: $(cat "$KT/x.err")"
kt_cat -t pmesh.summaries --count 10 >"$KT/c10" 2>/dev/null
rc=$?
[ $rc -eq 0 ] && [ "$(wc -l <"$KT/c10")" -eq 10 ] || ko "--count 10: exit $rc"
kt_cat -t pmesh.gaps --count 100 --timeout-ms 2000 >/dev/null 2>"$KT/to.err"
rc=$?
[ $rc -eq 1 ] && grep -q '8 of 100 records' "$KT/to.err" || ko "--timeout-ms: exit $rc"
"$CAT" --help | grep -q 'Exit status' || ko "--help"

# 6. A spool: what a producer left while the brokers were away.
timeout 60 "$KFEED" -b 127.0.0.1:9 --id cat-spool --encoding binary --count 500 \
	--lcores 4 --expect "$KT/exp.spool" --spool-dir "$KT/spool" --flush-ms 500 \
	>/dev/null 2>&1
timeout 30 "$CAT" --spool "$KT/spool" --stats >"$KT/sp" 2>"$KT/sp.err"
rc=$?
tail -1 "$KT/sp.err"
[ $rc -eq 0 ] && sort "$KT/exp.spool" | cmp -s - <(sort "$KT/sp") || ko "--spool: exit $rc"
flock "$KT/spool/lock" sleep 5 &
KT_PIDS+=($!)
sleep 0.5
timeout 30 "$CAT" --spool "$KT/spool" >/dev/null 2>"$KT/lk.err"
rc=$?
cat "$KT/lk.err"
[ $rc -eq 1 ] && grep -q 'in use' "$KT/lk.err" || ko "locked spool: exit $rc"
exit $fail
