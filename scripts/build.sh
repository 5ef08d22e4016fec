#!/usr/bin/env bash
# build.sh: configure (or reconfigure) a meson build directory and compile it.
#
# Used by scripts/test.sh and scripts/demo.sh so that every entry point builds
# the same way.  A fresh directory gets `meson setup`; an existing one is only
# reconfigured when extra meson arguments are given (ninja regenerates on its
# own when a meson.build changed), so a rebuild with nothing new is a no-op.
#
# Usage: bash scripts/build.sh [BUILDDIR] [extra meson args...]
#   BUILDDIR defaults to "build" (relative to the repository root).
#   e.g.   bash scripts/build.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false
# Exit status: 0 when the build succeeded, non-zero otherwise.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

builddir=build
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
	builddir=$1
	shift
fi

if [ -f "$builddir/meson-private/coredata.dat" ]; then
	if [ $# -gt 0 ]; then
		echo "build: reconfiguring $builddir with: $*"
		meson setup --reconfigure "$builddir" "$@"
	fi
else
	echo "build: configuring $builddir${*:+ with: $*}"
	meson setup "$builddir" "$@"
fi

echo "build: compiling $builddir"
ninja -C "$builddir"
