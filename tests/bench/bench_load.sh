#!/bin/sh
# bench_load.sh: how long the loader takes on a 20b-shaped checkpoint, and
# proof that it copies nothing (not a test; prints numbers).
#
#   tests/bench/bench_load.sh [BUILDDIR]      (default: the current directory)
#
# Writes a random checkpoint with the gpt-oss-20b dimensions (24 layers, MXFP4
# experts, ~13.8 GB) with fk-mkmodel into a temporary directory, but only if
# the disk has room for it plus a 2 GB margin; otherwise it uses as many
# layers as fit and says so. Then bench_load times fk_checkpoint_open and
# fk_checkpoint_prefault and prints VmHWM / RssAnon / RssFile after each:
# after open the resident set stays small (only headers were read), and
# prefault grows RssFile (page cache mapped in), not RssAnon (no copy).
# The page cache is not dropped first (that needs root), so "open" runs on a
# warm cache right after writing. The files are deleted afterwards.
set -eu
build=${1:-.}
mk=$build/drivers/cuda/tools/fk-mkmodel
bench=$build/tests/bench/bench_load
for p in "$mk" "$bench"; do
    [ -x "$p" ] || { echo "bench_load.sh: $p not built (make $p)" >&2; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fk-bench-load-XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# Bytes per layer and outside the layers, for the 20b shapes (MXFP4 experts).
per_layer=$((2 * 2880 * 2 + (4096 * 2880 + 4096 + 2 * 512 * 2880 + 2 * 512 + 2880 * 4096 + 2880 + 64) * 2 \
    + (32 * 2880 + 32) * 2 + 32 * 5760 * 90 * 17 + 32 * 2880 * 90 * 17 + (32 * 5760 + 32 * 2880) * 2))
fixed=$(((201088 * 2880 * 2 + 2880) * 2))
avail=$(($(df -Pk "$tmp" | awk 'NR == 2 { print $4 }') * 1024))
margin=$((2 * 1024 * 1024 * 1024))
layers=24
while [ $layers -gt 1 ] && [ $((fixed + layers * per_layer + margin)) -gt "$avail" ]; do
    layers=$((layers - 1))
done
size=$((fixed + layers * per_layer))
if [ $layers -lt 24 ]; then
    echo "only $((avail / 1000000000)) GB free: using $layers layers instead of 24"
fi
echo "writing a 20b-shaped checkpoint: $layers layers, MXFP4 experts, $(awk "BEGIN { printf \"%.2f\", $size / 1e9 }") GB"
start=$(date +%s.%N)
"$mk" --out "$tmp/model" --preset 20b --layers "$layers" --shards 3 --seed 1
end=$(date +%s.%N)
awk "BEGIN { printf \"fk-mkmodel: %.1f s (%.2f GB/s)\n\", $end - $start, $size / 1e9 / ($end - $start) }"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1e6 }' /proc/meminfo) RAM"
"$bench" "$tmp/model"
