#!/bin/sh
# tests/device/run.sh: the CUDA backend's whole GPU check in one run, for
# anyone with an NVIDIA GPU (compute capability 8.0 or later; sized for an
# H100 or H200: under 8 minutes there, the build included):
#   1. build for the GPU (configure --with-cuda --with-cuda-arch=90 in
#      build-gpu/), unless FK_BUILD names a CUDA build made elsewhere (a
#      folder from scripts/device-bundle.sh, for a GPU machine that lacks the
#      build tools or libjansson);
#   2. every op on the GPU against the reference backend (test_cuda_ops);
#   3. the goldens on both tiny checkpoints with FK_BACKEND=cuda (golden.sh);
#   4. CPU against GPU on one 20b-shaped layer (compare_backends, tolerance
#      1e-3 of the largest logit);
#   5. a full 20b-shaped checkpoint written by fk-mkmodel --preset 20b
#      (13.8 GB, random weights) on this machine's disk, and bench_gpu on it:
#      the device-to-device copy bandwidth, decode at batch 1, 8, 32 and 64,
#      prefill of 512 and 4096 tokens, as tokens/s and as a fraction of the
#      bandwidth limit, and per-op times from CUDA events.
# Ends with "N passed, M failed" over steps 2-5; exit 0 only if none failed.
#
#   FK_BUILD=DIR   a CUDA build (or bundle) to use instead of building
#   FK_WORK=DIR    where the checkpoints are written (default /tmp/fk-device;
#                  needs 15 GB free)
#   FK_CUDA_ARCH   compute capability to build for (default 90)
#   OUT=DIR        when set, each step's log is copied there too
# FK_CUDA_SYNC=1 (a wait after every op, naming the one that fails) and
# FK_CUDA_GRAPHS=0 (no CUDA graphs) reach every program it runs.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
work=${FK_WORK:-/tmp/fk-device}
arch=${FK_CUDA_ARCH:-90}
passed=0
failed=0
t_start=$(date +%s)
mkdir -p "$work" || exit 2
[ -n "${OUT:-}" ] && mkdir -p "$OUT"

say() { echo; echo "==== $* ($(($(date +%s) - t_start)) s) ===="; }
# result NAME STATUS LOG: count a step (77 is a skip, which fails a GPU run)
result() {
    if [ "$2" -eq 0 ]; then
        passed=$((passed + 1)); echo "step $1: ok"
    else
        failed=$((failed + 1)); echo "step $1: FAILED (exit $2)"
    fi
    [ -n "${OUT:-}" ] && [ -f "$3" ] && cp "$3" "$OUT/"
    return 0
}

say "the GPU"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv

# ---- 1. build ---------------------------------------------------------------------------
if [ -n "${FK_BUILD:-}" ]; then
    build=$(cd "$FK_BUILD" && pwd) || exit 2
    say "1. using the build in $build"
    [ -d "$build/lib" ] && LD_LIBRARY_PATH="$build/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" &&
        export LD_LIBRARY_PATH
else
    build=$top/build-gpu
    say "1. building for sm_$arch in $build"
    jobs=$(nproc 2>/dev/null || echo 4)
    (
        set -e
        cd "$top"
        [ -x configure ] || ./autogen.sh >/dev/null
        mkdir -p "$build"
        cd "$build"
        [ -f Makefile ] || "$top/configure" -q --with-cuda --with-cuda-arch="$arch"
        make -s -j"$jobs" drivers/cuda/tools/fk-golden drivers/cuda/tools/fk-mkmodel \
            tests/unit/test_cuda_ops tests/device/bench_gpu tests/device/compare_backends
    ) > "$work/build.log" 2>&1
    rc=$?
    if [ $rc -ne 0 ]; then
        tail -n 30 "$work/build.log"
        echo "the build failed: it needs autoconf, automake, libtool, pkg-config, nvcc and the"
        echo "-dev packages of jansson, libevent, libcurl and pcre2; on a machine without them"
        echo "make a bundle elsewhere (scripts/device-bundle.sh) and set FK_BUILD"
        echo "0 passed, 1 failed"
        exit 1
    fi
fi
echo "built in $(($(date +%s) - t_start)) s"
mk=$build/drivers/cuda/tools/fk-mkmodel
fixtures=$build/tests/fixtures-built
if [ ! -f "$fixtures/models/tiny-gptoss-bf16/config.json" ]; then
    sh "$top/tests/assemble-fixtures.sh" "$top/tests/fixtures" "$fixtures" "$mk" || exit 2
fi

# ---- 2. every op ----------------------------------------------------------------------------
say "2. every op on the GPU against the reference backend"
"$build/tests/unit/test_cuda_ops" > "$work/ops.log" 2>&1
rc=$?
grep -E '^(not ok|# )' "$work/ops.log" | head -n 40
n_ok=$(grep -c '^ok' "$work/ops.log")
n_bad=$(grep -c '^not ok' "$work/ops.log")
echo "test_cuda_ops: $n_ok ok, $n_bad not ok"
grep -q '^1\.\.0 # SKIP' "$work/ops.log" && { cat "$work/ops.log"; rc=77; }
if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
    echo "again with FK_CUDA_SYNC=1 (a wait after every op names the one that fails):"
    FK_CUDA_SYNC=1 timeout 120 "$build/tests/unit/test_cuda_ops" 2>&1 | grep -E '^not ok|^#' | head -n 20
    if command -v compute-sanitizer >/dev/null; then
        echo "and under compute-sanitizer (memcheck):"
        FK_CUDA_SYNC=1 timeout 240 compute-sanitizer --tool memcheck --print-limit 10 \
            "$build/tests/unit/test_cuda_ops" > "$work/sanitizer.log" 2>&1
        grep -E 'ERROR SUMMARY|Invalid|at 0x|by thread|in [a-z_]+kernel' "$work/sanitizer.log" | head -n 30
    fi
fi
result "2 (ops)" $rc "$work/ops.log"

# ---- 3. goldens -------------------------------------------------------------------------------
say "3. goldens on both tiny checkpoints, FK_BACKEND=cuda"
FK_BACKEND=cuda FK_TOP_BUILDDIR=$build FK_FIXTURES=$fixtures sh "$top/tests/golden.sh" \
    > "$work/golden.log" 2>&1
rc=$?
grep -E '^(ok|not ok)|PASS|FAIL|backend' "$work/golden.log"
result "3 (goldens)" $rc "$work/golden.log"

# ---- 4. one 20b layer, CPU against GPU --------------------------------------------------------
say "4. one 20b-shaped layer: CPU against GPU"
layer=$work/fk-20b-1layer
[ -f "$layer/config.json" ] ||
    "$mk" --preset 20b --layers 1 --vocab 32768 --out "$layer" > "$work/layer.log" 2>&1
"$build/tests/device/compare_backends" --model "$layer" --tokens 96 --batch 8 --steps 8 \
    > "$work/compare.log" 2>&1
rc=$?
cat "$work/compare.log"
result "4 (CPU vs GPU)" $rc "$work/compare.log"

# ---- 5. the 20b shape: speed ------------------------------------------------------------------
say "5. a 20b-shaped checkpoint (fk-mkmodel --preset 20b) and its speed"
full=$work/fk-20b
if [ ! -f "$full/config.json" ]; then
    t=$(date +%s)
    "$mk" --preset 20b --out "$full" > "$work/mkmodel.log" 2>&1 || { cat "$work/mkmodel.log"; }
    echo "written in $(($(date +%s) - t)) s: $(du -sh "$full" | cut -f1)"
fi
"$build/tests/device/bench_gpu" --model "$full" --batch 1 --batch 8 --batch 32 --batch 64 \
    --prefill 512 --prefill 4096 --steps 32 --context 128 > "$work/bench.log" 2>&1
rc=$?
cat "$work/bench.log"
result "5 (speed)" $rc "$work/bench.log"

echo
echo "total time $(($(date +%s) - t_start)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
