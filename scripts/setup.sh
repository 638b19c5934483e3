#!/bin/sh
# Set up and run: installs the build dependencies, builds and installs
# Forgekeeper (prefix /usr/local unless PREFIX is set), then runs fk-gateway
# on its embedded default: the native engine on CPU with the tiny gpt-oss
# model shipped in tests/fixtures (conf/default.env). Ctrl-C stops it.
# Running it again with another PREFIX reconfigures the build for it.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
prefix=${PREFIX:-/usr/local}

sh scripts/deps.sh
[ -x configure ] || ./autogen.sh
mkdir -p build
cd build
# configure again when the build was set up for another prefix
configured=$(sed -n 's/^prefix = //p' Makefile 2>/dev/null || true)
[ "$configured" = "$prefix" ] || ../configure --prefix="$prefix" -q
make -j"$(nproc)"
if [ -w "$prefix" ] || { [ ! -e "$prefix" ] && [ -w "$(dirname "$prefix")" ]; } ||
    [ "$(id -u)" -eq 0 ]; then
    make install >/dev/null
else
    sudo make install >/dev/null
fi
cd "$top"
echo "setup: starting $prefix/bin/fk-gateway --env conf/default.env (http://127.0.0.1:8001/v1)"
exec "$prefix/bin/fk-gateway" --env conf/default.env
