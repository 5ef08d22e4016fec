#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Fuzz the decoders of untrusted input with libFuzzer + ASan + UBSan: the
# wire decoder (lib/wire.c) and the Kafka message decoders (lib/enc.c).
#
#   scripts/fuzz.sh [SECONDS]        (default 30, per target)
#
# Builds test/fuzz/fuzz_wire.c straight with clang (no meson reconfigure
# needed), seeds a corpus with valid frames written by the same source built
# as a generator (-DPM_FUZZ_SEED_MAIN), runs for SECONDS and exits non-zero
# on any crash, leak or sanitizer report; the crashing input is kept in the
# build dir (crash-*) and can be replayed with: BUILD/fuzz_wire BUILD/crash-...
# The build dir is ${PM_FUZZ_DIR:-build-fuzz}, relative to the source root;
# its corpus-NAME/ directories grow across runs.
set -euo pipefail

secs=${1:-30}
case $secs in
''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.."
build=${PM_FUZZ_DIR:-build-fuzz}
mkdir -p "$build"
cc=${CC_FUZZ:-clang}

if ! command -v "$cc" >/dev/null; then
	echo "fuzz.sh: $cc not found (apt-get install clang)" >&2
	exit 2
fi

# libFuzzer's runtime ships apart from clang on Debian (libclang-rt-N-dev).
have_fuzzer_rt() {
	echo 'int LLVMFuzzerTestOneInput(const char *d, long n)
	      { (void)d; (void)n; return 0; }' |
		"$cc" -x c -fsanitize=fuzzer - -o "$build/.rt_probe" \
			>/dev/null 2>&1
}
if ! have_fuzzer_rt; then
	major=$("$cc" -dumpversion | cut -d. -f1)
	pkg=libclang-rt-$major-dev
	echo "fuzz.sh: libFuzzer runtime missing; installing $pkg" >&2
	if [ "$(id -u)" -ne 0 ] ||
	    ! apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [0-9]'
	then
		echo "fuzz.sh: cannot install $pkg here; install it" >&2
		exit 2
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y "$pkg" >&2
	have_fuzzer_rt || { echo "fuzz.sh: still no runtime" >&2; exit 2; }
fi
rm -f "$build/.rt_probe"

# fuzz_one NAME MAXLEN "SOURCES" [libFuzzer flags...]: build NAME (and its
# seed generator), seed, fuzz for $secs; 1 on any crash or report.
fuzz_one() {
	local name=$1 maxlen=$2 srcs=$3 log rc runs
	shift 3
	# shellcheck disable=SC2086
	"$cc" -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -Ilib $srcs -lconfig -lm -o "$build/$name"
	# shellcheck disable=SC2086
	"$cc" -g -O1 -DPM_FUZZ_SEED_MAIN -Ilib $srcs -lconfig -lm -o "$build/${name}_seed"
	mkdir -p "$build/corpus-$name" "$build/seeds-$name"
	"$build/${name}_seed" "$build/seeds-$name"
	log=$build/$name.log
	set +e
	# New inputs go to corpus-NAME/ (first dir); seeds-NAME/ is read only.
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	"$build/$name" -max_total_time="$secs" -max_len="$maxlen" \
		-print_final_stats=1 -artifact_prefix="$build/" "$@" \
		"$build/corpus-$name" "$build/seeds-$name" >"$log" 2>&1
	rc=$?
	set -e
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	if [ "$rc" -ne 0 ]; then
		tail -n 60 "$log" >&2
		echo "$name: CRASH (exit $rc) after ${runs:-?} runs;" \
			"input in $build/crash-* (log $log)" >&2
		return 1
	fi
	echo "$name: ${runs:-0} runs in $secs s, no crash"
}

fail=0
# Frames off the wire: every decoder of lib/wire.c.
fuzz_one fuzz_wire 2048 "lib/wire.c test/fuzz/fuzz_wire.c" || fail=1
# Kafka messages: binary batches and JSON lines (lib/enc.c), with a
# dictionary of the JSON keys.
fuzz_one fuzz_enc 8192 "lib/enc.c lib/record.c lib/hist.c lib/clock.c lib/cfg.c \
	test/fuzz/fuzz_enc.c" -dict=test/fuzz/enc.dict || fail=1
exit $fail
