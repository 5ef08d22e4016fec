#!/usr/bin/env bash
# test.sh: set up the machine and run every pmesh test; the README's test command.
#
# Steps, each reported as it runs and again in a summary at the end:
#   1. scripts/deps.sh          install missing packages (a no-op when none are)
#   2. scripts/hugepages.sh     reserve 2 MiB hugepages (a warning if it cannot)
#   3. build "build" with --werror, run the unit, dpdk, kafka, integration and rdma
#      suites (rdma needs an RDMA device: it skips, exit 77, where there is none)
#   4. build "build-asan" with ASan+UBSan, run the unit suite there
#   5. scripts/fuzz.sh 30       if present: libFuzzer, 30 s per target, one test
# A build that fails counts as one failed test; the tests whose programs did
# build still run, and each test whose program is missing counts as failed.
# The very last line of output is always "N passed, N failed, N skipped",
# summed over every meson test (Ok and Expected-fail pass; Fail, Timeout,
# Unexpected-pass and errors fail) plus the fuzz run.
#
# Usage: bash scripts/test.sh          (from any directory; as root for the
#                                       integration suite, which skips otherwise)
# Environment: PM_TEST_BUILD, PM_TEST_ASAN_BUILD (build directory names),
#              PM_TEST_FUZZ_SECS (fuzzing time, default 30).
# Exit status: 0 when nothing failed, 1 otherwise.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1

build_dir=${PM_TEST_BUILD:-build}
asan_dir=${PM_TEST_ASAN_BUILD:-build-asan}
fuzz_secs=${PM_TEST_FUZZ_SECS:-30}

passed=0
failed=0
skipped=0
summary=()

# Sanitizer findings must fail the test that triggers them; UBSan only
# prints by default.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

step()
{
	echo
	echo "=== $* ==="
}

# Record one line for the final summary: STEP RESULT.
note()
{
	summary+=("$(printf '  %-40s %s' "$1" "$2")")
}

# Print "PASSED FAILED SKIPPED" for the meson test log $1; list the
# skipped tests' reasons on stderr (the last "SKIP..." line each printed,
# else its last line).
count_testlog()
{
	if command -v python3 >/dev/null; then
		python3 - "$1" <<'EOF'
import json
import sys

ok = ("OK", "EXPECTEDFAIL")
skip = ("SKIP",)
p = f = s = 0
with open(sys.argv[1]) as log:
    for line in log:
        line = line.strip()
        if not line:
            continue
        t = json.loads(line)
        r = t.get("result", "ERROR")
        if r in ok:
            p += 1
        elif r in skip:
            s += 1
            out = (t.get("stdout") or "").splitlines()
            err = (t.get("stderr") or "").splitlines()
            tagged = [l for l in out + err if l.startswith("SKIP")]
            lines = [l for l in err + out if l.strip()]
            why = (tagged or lines or ["(no reason printed)"])[-1].strip()
            print("  skipped %s: %s" % (t.get("name"), why), file=sys.stderr)
        else:
            f += 1
print(p, f, s)
EOF
	else
		# Without python, take meson's own summary from its text log.
		awk -F: '
			/^Ok:/ || /^Expected Fail:/ { p += $2 }
			/^Fail:/ || /^Unexpected Pass:/ || /^Timeout:/ { f += $2 }
			/^Skipped:/ { s += $2 }
			END { print p + 0, f + 0, s + 0 }
		' "${1%.json}.txt"
	fi
}

# Print "run NAME" or "missing NAME" for each test of build dir $1 in the
# suites $2...: "missing" when its program was not built.
list_tests()
{
	meson introspect --tests "$1" | python3 -c '
import json
import os
import sys

want = set(sys.argv[1:])
for t in json.load(sys.stdin):
    suites = {s.split(":")[-1] for s in t["suite"]}
    if not suites & want:
        continue
    state = "run" if os.path.exists(t["cmd"][0]) else "missing"
    print(state, t["name"])
' "${@:2}"
}

# Run meson test in build dir $1 on the suites $2..., without rebuilding,
# and add its counts to the totals under the summary label $label.  After
# a failed build only the tests whose programs exist run (meson refuses to
# start otherwise); each missing one counts as failed.
run_meson_tests()
{
	local dir=$1 log counts p f s rc=0 state name x
	local suites=() names=() missing=()

	shift
	for x in "$@"; do
		suites+=(--suite "$x")
	done
	if command -v python3 >/dev/null; then
		while read -r state name; do
			if [ "$state" = run ]; then
				names+=("$name")
			else
				missing+=("$name")
			fi
		done < <(list_tests "$dir" "$@")
		if [ ${#missing[@]} -gt 0 ]; then
			echo "not built, counted as failed: ${missing[*]}"
		fi
	fi
	log=$dir/meson-logs/testlog.json
	rm -f "$log" "${log%.json}.txt"
	if [ ${#missing[@]} -eq 0 ] || [ ${#names[@]} -gt 0 ]; then
		meson test -C "$dir" --no-rebuild --print-errorlogs "${suites[@]}" \
			"${names[@]}" "${extra_args[@]}" || rc=$?
	fi
	p=0 f=0 s=0
	if [ -f "$log" ]; then
		counts=$(count_testlog "$log") || counts="0 0 0"
		read -r p f s <<<"$counts"
	fi
	if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
		# meson failed for a reason no single test shows (interrupted...)
		echo "meson test exited $rc without a failing test; counted as one"
		f=1
	fi
	f=$((f + ${#missing[@]}))
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
	note "$label" "$p passed, $f failed, $s skipped"
}

# Build dir $1 with the meson arguments $3... and run its suites $2 (comma
# separated) with the meson test arguments in $extra_args.  A failed build
# counts as one failed test; whatever did build is still tested.
build_and_test()
{
	local dir=$1 suites=$2 t0

	shift 2
	step "build $dir ($*)"
	t0=$SECONDS
	if bash "$root/scripts/build.sh" "$dir" "$@"; then
		note "build $dir" "ok ($((SECONDS - t0)) s)"
	else
		note "build $dir" "FAILED (counted as one failure)"
		failed=$((failed + 1))
		echo "build of $dir failed; building what can be built, to test that"
		ninja -C "$dir" -k 0 >/dev/null 2>&1
		if [ ! -f "$dir/build.ninja" ]; then
			return
		fi
	fi
	step "tests in $dir: ${suites//,/, }"
	t0=$SECONDS
	label="tests $dir ($suites)"
	IFS=, read -r -a suites <<<"$suites"
	run_meson_tests "$dir" "${suites[@]}"
	summary[-1]+=" ($((SECONDS - t0)) s)"
}

# Sourcing stops here, so the helpers above can be tried on their own.
if [ "${BASH_SOURCE[0]}" != "$0" ]; then
	return 0
fi

start=$SECONDS

step "dependencies (scripts/deps.sh)"
if bash scripts/deps.sh; then
	note "deps" "ok"
else
	note "deps" "FAILED (counted as one failure)"
	failed=$((failed + 1))
fi

step "hugepages (scripts/hugepages.sh)"
if bash scripts/hugepages.sh; then
	note "hugepages" "ok"
else
	note "hugepages" "fewer than wanted (DPDK tests fall back to --no-huge)"
fi

# Namespaces of earlier runs that were SIGKILLed (a meson timeout) would
# pile up; drop the ones whose run is gone.
if [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null; then
	bash -c '. scripts/netns.sh && pm_sweep_stale'
fi

extra_args=()
build_and_test "$build_dir" unit,dpdk,kafka,integration,rdma --werror -Db_sanitize=none
extra_args=(--timeout-multiplier 3)
build_and_test "$asan_dir" unit -Db_sanitize=address,undefined -Db_lundef=false

if [ -f scripts/fuzz.sh ]; then
	step "fuzz (scripts/fuzz.sh $fuzz_secs)"
	t0=$SECONDS
	# The limit covers the clang build as well as the fuzzing itself.
	if timeout -k 10 $((fuzz_secs + 600)) bash scripts/fuzz.sh "$fuzz_secs"; then
		note "fuzz" "passed ($((SECONDS - t0)) s)"
		passed=$((passed + 1))
	else
		note "fuzz" "FAILED ($((SECONDS - t0)) s)"
		failed=$((failed + 1))
	fi
else
	note "fuzz" "scripts/fuzz.sh not present"
fi

echo
echo "=== summary ($((SECONDS - start)) s) ==="
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
