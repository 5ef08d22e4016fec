#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Fuzz the wire decoder (lib/wire.c) with libFuzzer + ASan + UBSan.
#
#   scripts/fuzz.sh [SECONDS]        (default 30)
#
# Builds test/fuzz/fuzz_wire.c straight with clang (no meson reconfigure
# needed), seeds a corpus with valid frames written by the same source built
# as a generator (-DPM_FUZZ_SEED_MAIN), runs for SECONDS and exits non-zero
# on any crash, leak or sanitizer report; the crashing input is kept in the
# build dir (crash-*) and can be replayed with: BUILD/fuzz_wire BUILD/crash-...
# The build dir is ${PM_FUZZ_DIR:-build-fuzz}, relative to the source root;
# its corpus/ grows across runs.
set -euo pipefail

secs=${1:-30}
case $secs in
''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.."
build=${PM_FUZZ_DIR:-build-fuzz}
mkdir -p "$build/corpus" "$build/seeds"
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

"$cc" -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -Ilib \
	lib/wire.c test/fuzz/fuzz_wire.c -o "$build/fuzz_wire"
"$cc" -g -O1 -DPM_FUZZ_SEED_MAIN -Ilib \
	lib/wire.c test/fuzz/fuzz_wire.c -o "$build/fuzz_wire_seed"
"$build/fuzz_wire_seed" "$build/seeds"

log=$build/fuzz.log
set +e
# New inputs go to corpus/ (first dir); seeds/ is read only.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
"$build/fuzz_wire" -max_total_time="$secs" -max_len=2048 \
	-print_final_stats=1 -artifact_prefix="$build/" \
	"$build/corpus" "$build/seeds" >"$log" 2>&1
rc=$?
set -e

runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
if [ "$rc" -ne 0 ]; then
	tail -n 60 "$log" >&2
	echo "fuzz_wire: CRASH (exit $rc) after ${runs:-?} runs;" \
		"input in $build/crash-* (log $log)" >&2
	exit 1
fi
echo "fuzz_wire: ${runs:-0} runs, no crash"
