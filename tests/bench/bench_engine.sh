#!/bin/sh
# bench_engine.sh: build (once) a memory-bound benchmark checkpoint with the
# real gpt-oss-20b head and expert layout but 2 layers (~1.4 GB with the
# embeddings; MXFP4 experts), then run bench_engine on it.
#   tests/bench/bench_engine.sh [BUILDDIR] [bench_engine options...]
# FK_BENCH_MODEL: where the checkpoint lives (default /tmp/fk-bench-20b-2l).
set -eu
BUILD=${1:-.}
[ $# -gt 0 ] && shift
MODEL=${FK_BENCH_MODEL:-/tmp/fk-bench-20b-2l}
if [ ! -f "$MODEL/config.json" ]; then
    echo "creating $MODEL with fk-mkmodel (20b shapes, 2 layers, MXFP4 experts)"
    "$BUILD/drivers/cuda/tools/fk-mkmodel" --preset 20b --layers 2 --experts-form mxfp4 --out "$MODEL"
fi
exec "$BUILD/tests/bench/bench_engine" --model "$MODEL" "$@"
