#!/bin/sh
# bench_tokenizer.sh: libfktok vs js-tiktoken on the same generated corpus,
# one core each; prints both MB/s figures, the ratio, and whether the ids agree.
#
#   tests/bench/bench_tokenizer.sh [BUILDDIR] [MB]
#
# BUILDDIR holds the built tests/bench/bench_tokenizer (default: the current
# directory). FK_TOKENIZER_DATA defaults to the source tree's tokenizer/data.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-.}
mb=${2:-8}
: "${FK_TOKENIZER_DATA:=$src/tokenizer/data}"
: "${FK_NODE_MODULES:=$src/tests/node_modules}"
export FK_TOKENIZER_DATA FK_NODE_MODULES
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fktok-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

c_line=$(taskset -c 0 "$build/tests/bench/bench_tokenizer" --mb "$mb" --corpus "$tmp/corpus.txt" --ids "$tmp/c.ids" 2>&1 ||
         "$build/tests/bench/bench_tokenizer" --mb "$mb" --corpus "$tmp/corpus.txt" --ids "$tmp/c.ids")
echo "libfktok:    $c_line"
js_line=$(taskset -c 0 node "$src/tests/bench/bench_tokenizer.mjs" "$tmp/corpus.txt" "$tmp/js.ids" 2>&1 ||
          node "$src/tests/bench/bench_tokenizer.mjs" "$tmp/corpus.txt" "$tmp/js.ids")
echo "$js_line"
c_mbs=$(echo "$c_line" | sed -n 's/.* = \([0-9.]*\) MB\/s.*/\1/p')
js_mbs=$(echo "$js_line" | sed -n 's/.* = \([0-9.]*\) MB\/s.*/\1/p')
awk -v c="$c_mbs" -v j="$js_mbs" 'BEGIN { printf "ratio libfktok / js-tiktoken: %.2fx\n", c / j }'
if cmp -s "$tmp/c.ids" "$tmp/js.ids"; then
    echo "ids: identical ($(($(wc -c <"$tmp/c.ids") / 4)) tokens)"
else
    echo "ids: DIFFER: $(cmp "$tmp/c.ids" "$tmp/js.ids" 2>&1 | head -n 1) (byte offset / 4 = token index)"
    exit 1
fi
