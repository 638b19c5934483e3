#!/bin/sh
# Builds llama.cpp's llama-server and llama-bench for the CPU from the source
# that the npm package node-llama-cpp@3.21.1 bundles (llama.cpp 0.4.0, commit
# 80fb11a), once per machine, and prints the path of llama-server.
#
# The build is cached outside the checkout, keyed by commit:
#     ${FK_LLAMA_CACHE:-${XDG_CACHE_HOME:-~/.cache}/forgekeeper}/llama.cpp-COMMIT/bin/
# A second run prints the cached path at once. About 9 minutes on 2 cores.
# The binaries are built for this CPU (GGML_NATIVE): a cached build that does
# not run here (a cache shared with another machine) is rebuilt. Concurrent
# runs wait for one build (flock) instead of building twice.
#   scripts/llama-server.sh            build if needed, print .../bin/llama-server
#   scripts/llama-server.sh --bench    print .../bin/llama-bench instead
#   scripts/llama-server.sh --cached   print the path only if already built (exit 1 if not)
set -eu

pkg=node-llama-cpp@3.21.1
commit=80fb11ac73e66d89eae2c6a91d8a77428fa733ed
cache=${FK_LLAMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/forgekeeper}
dest=$cache/llama.cpp-$(echo $commit | cut -c1-12)
tool=llama-server
only_cached=0
for a in "$@"; do
    case $a in
    --bench) tool=llama-bench ;;
    --cached) only_cached=1 ;;
    *) echo "usage: $0 [--bench] [--cached]" >&2; exit 2 ;;
    esac
done

# A usable build: both programs present, and they run on this CPU.
built() {
    [ -x "$dest/bin/llama-server" ] && [ -x "$dest/bin/llama-bench" ] &&
        "$dest/bin/llama-server" --version >/dev/null 2>&1
}

if built; then
    echo "$dest/bin/$tool"
    exit 0
fi
[ $only_cached -eq 1 ] && exit 1

for t in git cmake g++ npm tar; do
    command -v $t >/dev/null 2>&1 || { echo "llama-server.sh: needs $t (scripts/deps.sh --test installs it)" >&2; exit 1; }
done
mkdir -p "$cache"
if command -v flock >/dev/null 2>&1; then
    exec 9>"$cache/llama.cpp.lock"
    flock 9
    if built; then # another run finished the build while this one waited
        echo "$dest/bin/$tool"
        exit 0
    fi
fi
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
{
    echo "llama-server.sh: building llama.cpp $commit into $dest (about 9 minutes on 2 cores)"
    cd "$work"
    npm pack --silent "$pkg" >/dev/null
    tar xzf node-llama-cpp-*.tgz package/llama/gitRelease.bundle
    git clone -q package/llama/gitRelease.bundle src
    got=$(git -C src rev-parse HEAD)
    [ "$got" = "$commit" ] || { echo "llama-server.sh: $pkg bundles $got, expected $commit" >&2; exit 1; }
    cmake -S src -B build -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DBUILD_SHARED_LIBS=OFF >cmake.log 2>&1 ||
        { tail -n 40 cmake.log >&2; exit 1; }
    cmake --build build -j"$(nproc)" --target llama-server llama-bench >build.log 2>&1 ||
        { tail -n 40 build.log >&2; exit 1; }
    mkdir -p "$work/out/bin"
    cp build/bin/llama-server build/bin/llama-bench "$work/out/bin/"
    echo "$commit" >"$work/out/COMMIT"
    rm -rf "$dest"
    mv "$work/out" "$dest"
} >&2
echo "$dest/bin/$tool"
