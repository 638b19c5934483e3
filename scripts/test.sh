#!/bin/sh
# Runs every test: installs build and test dependencies (apt-get, npm), builds
# with -Werror in build-check/, runs `make check`, and prints a last line
# "N passed, M failed". Extra arguments go to configure (e.g. --enable-sanitizers).
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
builddir=${BUILDDIR:-build-check}

sh scripts/deps.sh --test
(cd tests && npm ci --no-audit --no-fund --loglevel=error)
[ -x configure ] || ./autogen.sh
mkdir -p "$builddir"
cd "$builddir"
"$top/configure" -q --enable-werror "$@"
make -j"$(nproc)"
status=0
make -j"$(nproc)" check || status=$?
sh "$top/scripts/summary.sh" test-suite.log
exit $status
