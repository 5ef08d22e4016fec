#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# N summaries produced through the Kafka sink arrive exactly as written --
# ids, counts, histograms (compared as whole JSON lines) -- in both
# encodings; the messages carry the documented headers (read with kcat, an
# independent client); and a consumer meeting an unknown schema version
# refuses it with a clear message instead of printing garbage.
. "$(dirname "$0")/kafka_lib.sh"
kt_need "$CAT" "$KFEED"
kt_start_mock --partitions 32 --quiet
N=${PM_KT_N:-20000}
fail=0

for enc in binary json; do
	timeout 120 "$KFEED" -b "$BS" --id "rt-$enc" --encoding "$enc" --count "$N" \
		--lcores 16 --expect "$KT/exp.$enc" --spool-dir "$KT/spool.$enc" \
		>"$KT/feed.$enc" 2>&1 || { echo "FAIL: kfeed $enc"; cat "$KT/feed.$enc"; fail=1; }
	cat "$KT/feed.$enc"
done
kt_cat -t pmesh.summaries --exit-at-end --stats >"$KT/got" 2>"$KT/cat.err" ||
	{ echo "FAIL: pmesh-cat exited $?"; cat "$KT/cat.err"; fail=1; }
tail -2 "$KT/cat.err"
python3 - "$KT" "$N" <<'PY' || fail=1
import json, sys
kt, n = sys.argv[1], int(sys.argv[2])
got = {}
for line in open(f"{kt}/got"):
    got.setdefault(json.loads(line)["prober"], []).append(line.rstrip("\n"))
bad = 0
for enc in ("binary", "json"):
    exp = sorted(l.rstrip("\n") for l in open(f"{kt}/exp.{enc}"))
    g = sorted(got.get(f"rt-{enc}", []))
    same = sum(1 for a, b in zip(exp, g) if a == b)
    multi = sum(1 for l in exp if len(json.loads(l)["rtt_hist"]) > 100)
    print(f"{enc}: produced {len(exp)}, arrived {len(g)}, identical {same} "
          f"({multi} with >100 RTT buckets, i.e. several records)")
    if len(exp) != n or g != exp:
        bad = 1
        for a, b in zip(exp, g):
            if a != b:
                print(" first difference:\n  sent:", a[:300], "\n  got: ", b[:300])
                break
sys.exit(bad)
PY

# Headers, seen by kcat.
if command -v kcat >/dev/null; then
	h=$(timeout 30 kcat -C -b "$BS" -t pmesh.summaries -o beginning -c 1 -f '%h\n' 2>/dev/null)
	echo "kcat sees headers: $h"
	case $h in
	*pmesh-schema=3*pmesh-encoding=*pmesh-kind=summary*) ;;
	*) echo "FAIL: headers"; fail=1 ;;
	esac
	# A future schema, in each encoding: refused with a message, exit 3.
	printf 'PMB1\011\000\002\000\030\000\000\000\000\000\000\000\001\000\000\000\001\000\000\000' | timeout 30 kcat -P -b "$BS" -t pmesh.future \
		-H pmesh-encoding=binary -H pmesh-schema=2 -H pmesh-kind=summary
	echo '{"schema":9,"kind":"summary","id":"00000001-1-1"}' | timeout 30 kcat -P -b "$BS" \
		-t pmesh.future -H pmesh-encoding=json -H pmesh-schema=9 -H pmesh-kind=summary
	kt_cat -t pmesh.future --exit-at-end >"$KT/future.out" 2>"$KT/future.err"
	rc=$?
	cat "$KT/future.err"
	if [ $rc -ne 3 ] || [ -s "$KT/future.out" ] ||
	   [ "$(grep -c 'not supported\|newer than' "$KT/future.err")" -lt 2 ]; then
		echo "FAIL: unknown versions: exit $rc (want 3), $(wc -l <"$KT/future.out") lines printed"
		fail=1
	fi
else
	echo "kcat not installed: header and future-version checks skipped"
fi
exit $fail
