#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# pmesh-kafka-mock, checked from outside with kcat (which shares no code
# with pmesh beyond librdkafka): the command line (help, version, usage
# errors), the bootstrap file (written once topics exist, equal to the
# stdout line, removed at exit), topics and partition counts in Metadata,
# 1000 messages produced and consumed back, faults through the control
# FIFO (all brokers down -> kcat fails, up -> it works; one broker down,
# rtt, queued Produce errors that the client retries through, leader moves,
# unknown commands rejected with the list) and SIGUSR1/SIGUSR2, then
# SIGTERM -> exit 0 with the bootstrap file and FIFO gone.  A second,
# --quiet instance checks --brokers/--partitions/--topic.
#
# Env: PM_BUILD (default /work/main/build).  Exit 0 pass, 1 fail, 77 skip.
set -euo pipefail

if [ -z "${PM_MOCK_TEST_INNER:-}" ]; then
	export PM_MOCK_TEST_INNER=1
	exec timeout -k 5 100 bash "$0" "$@"
fi

build=${PM_BUILD:-/work/main/build}
mock=$build/kafka_sink/pmesh-kafka-mock

command -v kcat >/dev/null || { echo "SKIP: kcat not found"; exit 77; }
[ -x "$mock" ] || { echo "FAIL: $mock not built"; exit 1; }

tmp=$(mktemp -d /tmp/pm-kmock-test.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	sleep 0.2
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fails=0
pass() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

expect_rc() {	# WANT WHAT CMD...
	local want=$1 what=$2 rc=0
	shift 2
	timeout 10 "$@" >"$tmp/out" 2>&1 || rc=$?
	if [ "$rc" -eq "$want" ]; then
		pass "$what (exit $rc)"
	else
		fail "$what: exit $rc, wanted $want"
		cat "$tmp/out"
	fi
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# start_mock TAG ARGS... : run the mock in the background with
# --bootstrap-file $tmp/TAG.kb, wait for the file; sets $mpid.
start_mock() {
	local tag=$1 i
	shift
	"$mock" --bootstrap-file "$tmp/$tag.kb" "$@" \
		>"$tmp/$tag.stdout" 2>"$tmp/$tag.log" &
	mpid=$!
	pids+=("$mpid")
	for i in $(seq 100); do
		[ -s "$tmp/$tag.kb" ] && return 0
		kill -0 "$mpid" 2>/dev/null || break
		sleep 0.1
	done
	echo "mock did not start:"
	cat "$tmp/$tag.log"
	return 1
}

# stop_mock TAG : SIGTERM, expect exit 0 and the bootstrap file gone.
stop_mock() {
	local tag=$1 rc=0
	kill -TERM "$mpid"
	wait "$mpid" || rc=$?
	[ "$rc" -eq 0 ] && pass "$tag: exit 0 on SIGTERM" ||
		fail "$tag: exit $rc on SIGTERM"
	[ ! -e "$tmp/$tag.kb" ] && pass "$tag: bootstrap file removed" ||
		fail "$tag: bootstrap file left behind"
}

# ctl CMD REGEX : send one command, wait for its one answer line, check it.
nlines() { grep -c '^pmesh-kafka-mock: ' "$log" || true; }
ctl() {
	local cmd=$1 re=$2 before i last
	before=$(nlines)
	echo "$cmd" >"$fifo"
	for i in $(seq 50); do
		[ "$(nlines)" -gt "$before" ] && break
		sleep 0.1
	done
	last=$(grep '^pmesh-kafka-mock: ' "$log" | tail -n 1)
	if [ "$(nlines)" -eq $((before + 1)) ] && [[ $last =~ $re ]]; then
		pass "'$cmd' -> $last"
	else
		fail "'$cmd': answer '$last', wanted /$re/ (lines $before -> $(nlines))"
	fi
}

# meta_ok : does kcat get Metadata within 3 s?
meta_ok() { timeout 10 kcat -b "$kb" -L -m 3 >"$tmp/meta" 2>&1; }

# --- command line -----------------------------------------------------------
expect_rc 0 "--help" "$mock" --help
if grep -q "127.0.0.1" "$tmp/out" && grep -q "kcat -b" "$tmp/out" &&
	grep -q -- "--kafka" "$tmp/out" && grep -q "SIGUSR1" "$tmp/out" &&
	grep -q "leader TOPIC PARTITION ID" "$tmp/out"; then
	pass "--help teaches: loopback, kcat, prober --kafka, commands"
else
	fail "--help lacks loopback, an example or the commands"
fi
expect_rc 0 "--version" "$mock" --version
expect_rc 2 "--brokers 0" "$mock" --brokers 0
expect_rc 2 "--partitions x" "$mock" --partitions x
expect_rc 2 "--topic with a slash" "$mock" --topic a/b
expect_rc 2 "--topic twice" "$mock" --topic a --topic a
expect_rc 2 "unknown option" "$mock" --frobnicate
expect_rc 2 "missing value" "$mock" --brokers
expect_rc 2 "stray argument" "$mock" stray
touch "$tmp/notfifo"
expect_rc 2 "--control on a regular file" "$mock" --control "$tmp/notfifo"

# --- default instance: topics, produce/consume ------------------------------
fifo=$tmp/ctl
log=$tmp/main.log
t0=$(now_ms)
start_mock main --control "$fifo"
echo "figure: bootstrap file after $(($(now_ms) - t0)) ms"
kb=$(cat "$tmp/main.kb")
[ "$kb" = "$(cat "$tmp/main.stdout")" ] && pass "stdout line = bootstrap file: $kb" ||
	fail "stdout '$(cat "$tmp/main.stdout")' != file '$kb'"
[[ $kb =~ ^127\.0\.0\.1:[0-9]+,127\.0\.0\.1:[0-9]+,127\.0\.0\.1:[0-9]+$ ]] &&
	pass "3 brokers on 127.0.0.1" || fail "bootstrap list '$kb'"
[ -p "$fifo" ] && pass "control FIFO created" || fail "no FIFO at $fifo"
start="3 brokers on 127.0.0.1 (bootstrap $kb), topics pmesh.summaries pmesh.events"
start+=" pmesh.paths pmesh.tables pmesh.alerts x 16 partitions; control FIFO $fifo; this is a test broker"
grep -qF "$start" "$log" &&
	pass "start line" || { fail "start line"; cat "$log"; }

if meta_ok; then
	re='^  topic "pmesh\.(summaries|events|paths|tables)" with 16 partitions'
	n=$(grep -Ec "$re" "$tmp/meta" || true)
	[ "$n" -eq 4 ] && pass "Metadata: 4 pmesh topics x 16 partitions" ||
		{ fail "Metadata: $n of 4 topics with 16 partitions"; cat "$tmp/meta"; }
	grep -q "^ 3 brokers:" "$tmp/meta" && pass "Metadata: 3 brokers" ||
		fail "Metadata: not 3 brokers"
else
	fail "kcat -L failed"; cat "$tmp/meta"
fi

seq -f "msg-%04g" 1000 >"$tmp/sent"
t0=$(now_ms)
sed 's/^\(.*\)$/\1:\1/' "$tmp/sent" >"$tmp/keyed"	# key = value
if timeout 30 kcat -b "$kb" -P -t pmesh.events -K: <"$tmp/keyed" 2>"$tmp/kp.err"; then
	pass "produced 1000 keyed messages in $(($(now_ms) - t0)) ms"
else
	fail "kcat -P failed"; cat "$tmp/kp.err"
fi
t0=$(now_ms)
timeout 30 kcat -b "$kb" -C -t pmesh.events -o beginning -e -q >"$tmp/got" 2>"$tmp/kc.err" || true
got=$(wc -l <"$tmp/got")
if [ "$got" -eq 1000 ] && diff -q <(sort "$tmp/got") "$tmp/sent" >/dev/null; then
	pass "consumed all 1000 back, none extra, in $(($(now_ms) - t0)) ms"
else
	fail "consumed $got of 1000"; head -3 "$tmp/kc.err"
fi
parts=$(timeout 30 kcat -b "$kb" -C -t pmesh.events -o beginning -e -q -f '%p\n' | sort -u | wc -l)
[ "$parts" -gt 1 ] && pass "keys spread over $parts partitions" ||
	fail "all messages in $parts partition(s)"

# --- faults through the FIFO -------------------------------------------------
ctl "bogus" "^pmesh-kafka-mock: error: unknown command 'bogus'; commands: down all\|ID, up all\|ID, rtt"
ctl "down 4" "^pmesh-kafka-mock: error: usage: down all\|ID \(ID 1\.\.3\)$"
ctl "down all" "^pmesh-kafka-mock: all brokers down$"
ctl "status" "^pmesh-kafka-mock: status: 3 brokers, 3 down: 1,2,3; 1 down, 2 down, 3 down;"
t0=$(now_ms)
if meta_ok; then
	fail "kcat -L succeeded with all brokers down"
else
	pass "all down: kcat -L fails ($(($(now_ms) - t0)) ms)"
fi
ctl "up all" "^pmesh-kafka-mock: all brokers up$"
meta_ok && pass "all up again: kcat -L works" || { fail "kcat -L after up"; cat "$tmp/meta"; }

ctl "down 2" "^pmesh-kafka-mock: broker 2 down$"
ctl "status" "^pmesh-kafka-mock: status: 3 brokers, 1 down: 2; 1 up, 2 down, 3 up;"
ctl "up 2" "^pmesh-kafka-mock: broker 2 up$"
ctl "rtt all 50" "^pmesh-kafka-mock: all brokers rtt 50 ms$"
t0=$(now_ms)
meta_ok && pass "kcat -L with 50 ms rtt: $(($(now_ms) - t0)) ms" || fail "kcat -L with rtt"
ctl "rtt 3 0" "^pmesh-kafka-mock: broker 3 rtt 0 ms$"
ctl "status" "^pmesh-kafka-mock: status: 3 brokers, 0 down; 1 up rtt 50 ms, 2 up rtt 50 ms, 3 up;"
ctl "rtt all 0" "^pmesh-kafka-mock: all brokers rtt 0 ms$"

ctl "error Produce NOT_LEADER_FOR_PARTITION 3" \
	"^pmesh-kafka-mock: next 3 Produce \(0\) requests fail with NOT_LEADER_FOR_PARTITION \(6\)$"
ctl "error 22 RD_KAFKA_RESP_ERR__TRANSPORT 1" \
	"^pmesh-kafka-mock: next 1 InitProducerId \(22\) requests fail with _TRANSPORT \(-195\)$"
ctl "error Metadata clear" "^pmesh-kafka-mock: cleared queued errors on Metadata \(3\) requests$"
ctl "error InitProducerId clear" "^pmesh-kafka-mock: cleared queued errors on InitProducerId \(22\) requests$"
ctl "error Produce NO_SUCH_ERROR 1" "^pmesh-kafka-mock: error: error: unknown error code 'NO_SUCH_ERROR'"
ctl "error Nonsense 6 1" "^pmesh-kafka-mock: error: error: expected APIKEY"
# The client retries through retriable Produce errors: all arrive.
seq -f "retry-%02g" 20 | timeout 30 kcat -b "$kb" -P -t pmesh.paths -p 0 2>"$tmp/kp2.err" || true
n=$(timeout 30 kcat -b "$kb" -C -t pmesh.paths -p 0 -o beginning -e -q | grep -c '^retry-' || true)
[ "$n" -eq 20 ] && pass "3 NOT_LEADER Produce errors retried through: 20 of 20 arrived" ||
	fail "after Produce errors: $n of 20 arrived"

ctl "leader pmesh.events 0 3" "^pmesh-kafka-mock: pmesh\.events \[0\] leader is broker 3$"
if meta_ok && grep -q "partition 0, leader 3," <(sed -n '/topic "pmesh.events"/,/topic /p' "$tmp/meta"); then
	pass "Metadata shows pmesh.events [0] led by broker 3"
else
	fail "leader move not in Metadata"
fi
ctl "leader pmesh.events 99 1" "^pmesh-kafka-mock: error: leader pmesh\.events \[99\]: "
ctl "leader pmesh.events 0 4" "^pmesh-kafka-mock: error: leader: ID: expected 1\.\.3 or -1"

# --- signals ------------------------------------------------------------------
before=$(nlines)
kill -USR1 "$mpid"
sleep 0.3
grep -q "all brokers down (SIGUSR1)" "$log" && pass "SIGUSR1 answered" || fail "SIGUSR1 not answered"
meta_ok && fail "kcat -L succeeded after SIGUSR1" || pass "SIGUSR1: kcat -L fails"
kill -USR2 "$mpid"
sleep 0.3
grep -q "all brokers up (SIGUSR2)" "$log" && pass "SIGUSR2 answered" || fail "SIGUSR2 not answered"
meta_ok && pass "SIGUSR2: kcat -L works" || fail "kcat -L after SIGUSR2"
[ "$(nlines)" -eq $((before + 2)) ] || fail "signals gave $(($(nlines) - before)) lines, wanted 2"

stop_mock main
[ ! -e "$fifo" ] && pass "FIFO removed" || fail "FIFO left behind"
grep -v '^pmesh-kafka-mock: ' "$log" >"$tmp/other" || true
[ ! -s "$tmp/other" ] && pass "no stray lines on stderr" ||
	{ fail "stray stderr lines"; cat "$tmp/other"; }

# --- one broker, own topics, --quiet ------------------------------------------
log=$tmp/small.log
start_mock small --quiet --brokers 1 --partitions 2 --topic t.one --topic t_two
kb=$(cat "$tmp/small.kb")
[[ $kb =~ ^127\.0\.0\.1:[0-9]+$ ]] && pass "--brokers 1: $kb" || fail "--brokers 1: '$kb'"
if meta_ok; then
	n=$(grep -Ec '^  topic "(t\.one|t_two)" with 2 partitions' "$tmp/meta" || true)
	[ "$n" -eq 2 ] && pass "--topic x2 --partitions 2" || { fail "topics"; cat "$tmp/meta"; }
	grep -q 'pmesh\.' "$tmp/meta" && fail "default topics created too" ||
		pass "only the --topic topics"
	grep -q "replicas: 1, isrs: 1" "$tmp/meta" && pass "replication factor 1" ||
		fail "replication factor"
else
	fail "kcat -L on the small instance"
fi
stop_mock small
[ ! -s "$log" ] && pass "--quiet: nothing on stderr" || { fail "--quiet"; cat "$log"; }

if [ "$fails" -ne 0 ]; then
	echo "$fails check(s) failed"
	exit 1
fi
echo "all checks passed"
exit 0
