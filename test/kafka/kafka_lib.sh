# SPDX-License-Identifier: BSD-3-Clause
# Shared by the kafka suite's scripts (sourced, not run).
#
# kt_start_mock [ARGS]   start pmesh-kafka-mock in the background with a
#                        control FIFO; sets BS (bootstrap servers)
# kt_mock CMD            send a control command ("down all", "up all", ...)
# kt_prober NAME DUR ... run pmesh-prober on net_null (every probe is lost,
#                        which is fine: summaries are what is tested) into
#                        Kafka; stderr in $KT/NAME.err; extra args appended
# kt_prober_bg NAME DUR  the same in the background; KT_PROBER_PID
# kt_cat ARGS            pmesh-cat against the mock
# kt_field FILE KEY      the number after KEY in the prober's last "sink" line
#
# Everything started is killed (by PID) and removed on exit, even on failure.
set -u

B=${PM_BUILD:-build}
MOCK=$B/kafka_sink/pmesh-kafka-mock
CAT=$B/app/ctl/pmesh-cat
PROBER=$B/app/prober/pmesh-prober
KFEED=$B/test/kafka/kfeed
KT=$(mktemp -d /tmp/pm-kafka-test.XXXXXX)
KT_PIDS=()
BS=""

kt_cleanup() {
	local p
	for p in "${KT_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${KT_PIDS[@]}"; do
		timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null
		kill -9 "$p" 2>/dev/null
	done
	rm -rf "$KT" /var/run/dpdk/pm-kt-$$-*
}
trap kt_cleanup EXIT

kt_need() {
	local f
	for f in "$@"; do
		if [ ! -x "$f" ]; then
			echo "SKIP: $f not built (librdkafka missing?)"
			exit 77
		fi
	done
}

kt_start_mock() {
	kt_need "$MOCK"
	"$MOCK" --bootstrap-file "$KT/bootstrap" --control "$KT/mock.ctl" "$@" \
		>"$KT/mock.out" 2>"$KT/mock.err" &
	KT_PIDS+=($!)
	KT_MOCK_PID=$!
	local i
	for i in $(seq 100); do
		[ -s "$KT/bootstrap" ] && break
		sleep 0.1
	done
	if [ ! -s "$KT/bootstrap" ]; then
		echo "FAIL: pmesh-kafka-mock did not start"; cat "$KT/mock.err"; exit 1
	fi
	BS=$(cat "$KT/bootstrap")
}

kt_mock() {
	echo "$*" >"$KT/mock.ctl"
	sleep 0.2
}

kt_prober() {
	local name=$1 dur=$2
	shift 2
	timeout $((dur + 60)) "$PROBER" -l 0-1 --no-pci --no-huge -m 256 \
		--log-level=lib.eal:error --file-prefix "pm-kt-$$-$name" --vdev=net_null0 -- \
		--src-ip 10.0.0.1 --gateway-mac 02:00:00:00:00:02 --no-status \
		--duration "$dur" --id "kt-$name" "$@" 2>"$KT/$name.err"
}

# kt_prober_bg NAME DUR ...: the same in the background, without timeout(1)
# in between, so that KT_PROBER_PID is the prober itself (SIGKILL tests);
# --duration bounds it and the exit trap kills it.
kt_prober_bg() {
	local name=$1 dur=$2
	shift 2
	"$PROBER" -l 0-1 --no-pci --no-huge -m 256 \
		--log-level=lib.eal:error --file-prefix "pm-kt-$$-$name" --vdev=net_null0 -- \
		--src-ip 10.0.0.1 --gateway-mac 02:00:00:00:00:02 --no-status \
		--duration "$dur" --id "kt-$name" "$@" 2>"$KT/$name.err" &
	KT_PROBER_PID=$!
	KT_PIDS+=($KT_PROBER_PID)
}

kt_cat() {
	timeout 120 "$CAT" -b "$BS" "$@"
}

kt_field() {
	grep ': sink ' "$1" | tail -1 | sed -n "s/.* $2 \([0-9]*\).*/\1/p"
}
