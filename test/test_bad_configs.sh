#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Every file of the bad-config corpus must make the binaries refuse it:
# `--check-config` exits 2 and prints (on stderr) each line of NAME.expect.
# refl_*.cfg go to pmesh-reflector, the rest to pmesh-prober.  The shipped
# examples (config/prober.cfg, config/reflector.cfg) must pass with exit 0.
# No EAL is started: --check-config only loads and checks.
#
# Env: PM_BUILD (build dir), PM_SRC (source dir); meson sets both.
# Exit 0 all pass, 1 any failure, 77 when the binaries are not built.

set -u

src=${PM_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
build=${PM_BUILD:-$src/build}
prober=$build/app/prober/pmesh-prober
refl=$build/app/reflector/pmesh-reflector
corpus=$src/test/bad-config

if [[ ! -x $prober || ! -x $refl ]]; then
	echo "SKIP: $prober or $refl not built"
	exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fails=0
n=0

# run_check KIND FILE: run the right binary on FILE; stderr to $tmp/err.
run_check() {
	if [[ $1 == refl ]]; then
		timeout 20 "$refl" --check-config -c "$2" >"$tmp/out" 2>"$tmp/err"
	else
		timeout 20 "$prober" -- -c "$2" --check-config >"$tmp/out" 2>"$tmp/err"
	fi
}

kind_of() {
	case $(basename "$1") in
	refl_*) echo refl ;;
	*) echo prober ;;
	esac
}

for cfg in "$corpus"/*.cfg; do
	name=$(basename "$cfg" .cfg)
	expect=$corpus/$name.expect
	n=$((n + 1))
	run_check "$(kind_of "$cfg")" "$cfg"
	rc=$?
	why=""
	if [[ $rc -ne 2 ]]; then
		why="exit $rc, want 2"
	elif [[ ! -f $expect ]]; then
		why="no $name.expect"
	else
		while IFS= read -r line || [[ -n $line ]]; do
			[[ -z $line || $line == \#* ]] && continue
			if ! grep -qF -- "$line" "$tmp/err"; then
				why="missing: $line"
				break
			fi
		done <"$expect"
	fi
	if [[ -z $why ]]; then
		echo "PASS $name"
	else
		echo "FAIL $name: $why"
		sed 's/^/    stderr: /' "$tmp/err" | head -20
		fails=$((fails + 1))
	fi
done

for ex in prober reflector; do
	cfg=$src/config/$ex.cfg
	n=$((n + 1))
	kind=prober
	[[ $ex == reflector ]] && kind=refl
	run_check "$kind" "$cfg"
	rc=$?
	if [[ $rc -eq 0 ]]; then
		echo "PASS config/$ex.cfg"
	else
		echo "FAIL config/$ex.cfg: exit $rc, want 0"
		sed 's/^/    stderr: /' "$tmp/err" | head -20
		fails=$((fails + 1))
	fi
done

echo "$((n - fails))/$n passed"
[[ $fails -eq 0 ]] || exit 1
exit 0
