#!/bin/sh
# device-bundle.sh [DIR]: build the programs of the GPU run (tests/device/run.sh)
# here, for compute capability 90 (H100, H200), and gather them into DIR
# (default build-device-bundle/, ignored by git; about 15 MB) with the one
# shared library they need that a CUDA machine may lack (libjansson). For a
# GPU machine without the build tools: copy DIR next to the checkout there and
#     FK_BUILD=build-device-bundle sh tests/device/run.sh
# The programs link the CUDA runtime statically and need only the NVIDIA
# driver there. Needs what scripts/test.sh needs, and nvcc.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
out=${1:-build-device-bundle}
build=build-device
sh scripts/deps.sh --test
[ -x configure ] || ./autogen.sh
mkdir -p "$build"
(cd "$build" && "$top/configure" -q --with-cuda --with-cuda-arch="${FK_CUDA_ARCH:-90}" &&
    make -j"$(nproc)" drivers/cuda/tools/fk-golden drivers/cuda/tools/fk-mkmodel \
        tests/unit/test_cuda_ops tests/device/bench_gpu tests/device/compare_backends)
rm -rf "$out"
for p in drivers/cuda/tools/fk-golden drivers/cuda/tools/fk-mkmodel tests/unit/test_cuda_ops \
    tests/device/bench_gpu tests/device/compare_backends; do
    mkdir -p "$out/$(dirname "$p")"
    strip -o "$out/$p" "$build/$p"
done
mkdir -p "$out/lib"
jansson=$(ldd "$build/drivers/cuda/tools/fk-golden" | sed -n 's/.*libjansson[^ ]* => \([^ ]*\).*/\1/p')
cp -L "$jansson" "$out/lib/"
du -sh "$out"
