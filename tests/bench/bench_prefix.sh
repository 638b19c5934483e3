#!/bin/sh
# bench_prefix.sh: time to first token for turn 1 and turn 8 of a growing
# chat, with and without the prefix cache, on the 20b-shaped benchmark
# checkpoint (built once with fk-mkmodel, as bench_engine.sh does).
#   tests/bench/bench_prefix.sh [BUILDDIR] [bench_prefix options...]
# FK_BENCH_MODEL: where the checkpoint lives (default /tmp/fk-bench-20b-2l);
# FK_TOKENIZER_DATA defaults to the source tree's tokenizer/data.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
: "${FK_TOKENIZER_DATA:=$src/tokenizer/data}"
export FK_TOKENIZER_DATA
BUILD=${1:-.}
[ $# -gt 0 ] && shift
MODEL=${FK_BENCH_MODEL:-/tmp/fk-bench-20b-2l}
if [ ! -f "$MODEL/config.json" ]; then
    echo "creating $MODEL with fk-mkmodel (20b shapes, 2 layers, MXFP4 experts)"
    "$BUILD/drivers/cuda/tools/fk-mkmodel" --preset 20b --layers 2 --experts-form mxfp4 --out "$MODEL"
fi
exec "$BUILD/tests/bench/bench_prefix" --model "$MODEL" "$@"
