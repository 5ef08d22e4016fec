#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Bad Kafka input to the prober: an unknown librdkafka property is named
# (exit 2, before EAL starts); brokers unreachable at start without a
# spool is an error naming the address (exit 1); with a spool it is not
# fatal: the prober says so, spools, and the spool holds the records.
. "$(dirname "$0")/kafka_lib.sh"
kt_need "$CAT" "$PROBER"
fail=0

timeout 20 "$PROBER" -- --src-ip 10.0.0.1 --target 10.0.0.2 --kafka 127.0.0.1:9 \
	--kafka-prop no.such.thing=1 --check-config 2>"$KT/prop.err"
rc=$?
cat "$KT/prop.err"
[ $rc -eq 2 ] && grep -q -- '--kafka-prop: no.such.thing=1: No such configuration property' "$KT/prop.err" ||
	{ echo "FAIL: unknown property: exit $rc"; fail=1; }

kt_prober nospool 2 --target 10.0.0.2 --kafka 127.0.0.1:9 --no-spool
rc=$?
grep -o 'kafka: brokers .*' "$KT/nospool.err" | head -1
[ $rc -eq 1 ] && grep -q 'brokers 127.0.0.1:9 did not answer' "$KT/nospool.err" ||
	{ echo "FAIL: unreachable without spool: exit $rc"; fail=1; }

kt_prober spool 3 --target 10.0.0.2 --rate 100 --flows 4 --kafka 127.0.0.1:9 \
	--spool-dir "$KT/spool" --kafka-prop message.timeout.ms=1000
rc=$?
grep -o 'kafka: brokers .*' "$KT/spool.err" | head -1
grep ': sink ' "$KT/spool.err"
timeout 30 "$CAT" --spool "$KT/spool" --stats >"$KT/spooled" 2>"$KT/cat.err"
n=$(grep -c '"kind":"summary"' "$KT/spooled")
echo "unreachable with spool: exit $rc, $n summaries in the spool"
[ $rc -eq 0 ] && [ "$n" -gt 0 ] && grep -q 'spooling to' "$KT/spool.err" ||
	{ echo "FAIL: unreachable with spool"; fail=1; }
exit $fail
