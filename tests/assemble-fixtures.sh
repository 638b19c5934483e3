#!/bin/sh
# assemble-fixtures.sh SRC OUT MKMODEL: assemble the test fixtures in the build tree.
#
# The repository keeps each fixture once and small (the device machines take
# at most 64 MiB of tracked tree): tokenizer.json is stored xz-compressed, and
# only the MXFP4 tiny checkpoint is stored, because the bf16 one is exactly
# its dequantization (MXFP4 values are bf16 values). This script builds OUT
# (what tests see as $FK_FIXTURES) from SRC (tests/fixtures):
#   harmony/, models/tiny-gptoss-goldens.safetensors, tokenizer/*.jsonl  symlinks
#   tokenizer/tokenizer.json                  decompressed from tokenizer.json.xz
#   models/tiny-gptoss-mxfp4/                 symlinks, plus tokenizer.json
#   models/tiny-gptoss-bf16/                  fk-mkmodel --from the MXFP4 one
set -eu
src=$1 out=$2 mk=$3
tmp="$out.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp/tokenizer" "$tmp/models/tiny-gptoss-mxfp4"
ln -s "$src/harmony" "$tmp/harmony"
for f in "$src"/tokenizer/*; do
    case $f in
    *.xz) xz -dc "$f" >"$tmp/tokenizer/$(basename "$f" .xz)" ;;
    *) ln -s "$f" "$tmp/tokenizer/$(basename "$f")" ;;
    esac
done
ln -s "$src/models/tiny-gptoss-goldens.safetensors" "$tmp/models/"
for f in "$src"/models/tiny-gptoss-mxfp4/*; do ln -s "$f" "$tmp/models/tiny-gptoss-mxfp4/"; done
"$mk" --from "$src/models/tiny-gptoss-mxfp4" --experts-form bf16 --shards 2 \
    --out "$tmp/models/tiny-gptoss-bf16" >/dev/null
for m in mxfp4 bf16; do ln -s ../../tokenizer/tokenizer.json "$tmp/models/tiny-gptoss-$m/tokenizer.json"; done
rm -rf "$out"
mv "$tmp" "$out"
