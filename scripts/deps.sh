#!/bin/sh
# Installs the Debian packages Forgekeeper builds and tests with. Idempotent:
# apt-get runs only when something is missing. Usage: scripts/deps.sh [--test]
#   (no flag)  what building and running the gateway needs (and curl, which
#              the README's first request uses)
#   --test     also the test tools: clang + sanitizer runtimes, curl, Node.js,
#              cmake + git for scripts/llama-server.sh, and chromium, the
#              headless browser the chat page's tests drive
set -eu

build_pkgs="build-essential autoconf automake libtool pkg-config libevent-dev libjansson-dev libcurl4-openssl-dev libpcre2-dev curl"
test_pkgs="clang libclang-rt-14-dev clang-format curl xz-utils cmake git chromium"

want=$build_pkgs
[ "${1:-}" = "--test" ] && want="$want $test_pkgs"
# Node.js may come from Debian or elsewhere; install Debian's only when absent.
[ "${1:-}" = "--test" ] && ! command -v npm >/dev/null 2>&1 && want="$want nodejs npm"

missing=
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "deps: installing$missing"
    SUDO=
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
