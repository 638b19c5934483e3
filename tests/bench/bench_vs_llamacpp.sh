#!/bin/sh
# bench_vs_llamacpp.sh: the native engine (bench_engine) and llama.cpp
# (llama-bench) on the same weights, same threads, back to back, ROUNDS
# times, then the ratios.
#   tests/bench/bench_vs_llamacpp.sh [BUILDDIR] [ROUNDS]
# Environment:
#   FK_BENCH_MODEL   the checkpoint (default /tmp/fk-bench-20b-2l: 20b shapes,
#                    2 layers, made with fk-mkmodel when missing); its GGUF
#                    is written beside it as MODEL.gguf by fk-gguf
#   FK_BENCH_LAYERS  layers when the checkpoint is made (default 2; 24 is the
#                    full 20b shape, 13.8 GB)
#   FK_BENCH_PROMPTS prefill lengths (default "128 512")
#   FK_BENCH_THREADS threads for both engines (default: all CPUs)
#   FK_BENCH_STEPS   decoded tokens per measurement (default 16)
#   FK_BENCH_KERNELS the native engine's FK_CPU_KERNELS (default auto)
# llama-bench comes from scripts/llama-server.sh --bench (built once, cached).
# Each round runs every prefill length and decode (batch 1; ours also batch
# 8) on both engines; the summary takes each engine's best round (the least
# disturbed on a shared machine) and prints ours / llama.cpp, with the read
# bandwidth bench_engine measured.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-.}" && pwd)
ROUNDS=${2:-3}
MODEL=${FK_BENCH_MODEL:-/tmp/fk-bench-20b-2l}
LAYERS=${FK_BENCH_LAYERS:-2}
PROMPTS=${FK_BENCH_PROMPTS:-128 512}
THREADS=${FK_BENCH_THREADS:-$(nproc)}
STEPS=${FK_BENCH_STEPS:-16}
KERNELS=${FK_BENCH_KERNELS:-auto}
GGUF="$MODEL.gguf"

LLAMA_BENCH=$(sh "$top/scripts/llama-server.sh" --bench)
if [ ! -f "$MODEL/config.json" ]; then
    echo "creating $MODEL with fk-mkmodel (20b shapes, $LAYERS layers, MXFP4 experts)"
    "$BUILD/drivers/cuda/tools/fk-mkmodel" --preset 20b --layers "$LAYERS" --experts-form mxfp4 \
        --out "$MODEL"
fi
if [ ! -f "$GGUF" ]; then
    tok="$MODEL/tokenizer.json"
    [ -f "$tok" ] || xz -dc "$top/tests/fixtures/tokenizer/tokenizer.json.xz" >"$tok"
    echo "creating $GGUF with fk-gguf"
    "$BUILD/drivers/cuda/tools/fk-gguf" --model "$MODEL" --out "$GGUF" --tokenizer "$tok"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/fk-vs-llama.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs," \
    "$THREADS threads; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# llama-bench csv: the avg_ts of the row with n_prompt $2 and n_gen $3.
llama_ts() {
    awk -F, -v p="$2" -v g="$3" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        { gsub(/"/, "") } $c["n_prompt"] == p && $c["n_gen"] == g { print $c["avg_ts"] }' "$1"
}
# Largest number after "KEY " over the rounds.
best() {
    awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k && $(i + 1) + 0 > m) m = $(i + 1) + 0 }
        END { printf "%.2f", m }' "$TMP/rounds"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }

plist=$(echo "$PROMPTS" | tr ' ' ',')
for r in $(seq 1 "$ROUNDS"); do
    line="round $r:"
    first=1
    for p in $PROMPTS; do
        if [ $first -eq 1 ]; then
            batches="--batch 1 --batch 8"
        else
            batches="--batch 0"
        fi
        # shellcheck disable=SC2086
        "$BUILD/tests/bench/bench_engine" --model "$MODEL" --threads "$THREADS" --prompt "$p" \
            --steps "$STEPS" $batches --bw-mib 1024 --kernels "$KERNELS" >"$TMP/ours" 2>&1 ||
            { cat "$TMP/ours" >&2; exit 1; }
        line="$line ours_p$p $(awk '/^prefill/ { print $6 }' "$TMP/ours")"
        if [ $first -eq 1 ]; then
            line="$line ours_d1 $(awk '/^decode batch 1:/ { print $8 }' "$TMP/ours")"
            line="$line ours_d8 $(awk '/^decode batch 8:/ { print $8 }' "$TMP/ours")"
            line="$line bw $(awk '/^memory read bandwidth/ { print $4 }' "$TMP/ours")"
            line="$line rss_mib $(awk '/^RSS after decoding/ { print $4 }' "$TMP/ours")"
        fi
        first=0
    done
    "$LLAMA_BENCH" -m "$GGUF" -t "$THREADS" -p "$plist" -n "$STEPS" -r 1 -o csv >"$TMP/llama" \
        2>"$TMP/llama.err" || { cat "$TMP/llama.err" >&2; exit 1; }
    for p in $PROMPTS; do line="$line llama_p$p $(llama_ts "$TMP/llama" "$p" 0)"; done
    line="$line llama_d1 $(llama_ts "$TMP/llama" 0 "$STEPS")"
    echo "$line" | tee -a "$TMP/rounds"
done

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "best of $ROUNDS rounds, $THREADS threads, kernels $KERNELS, $(basename "$MODEL"):"
printf '%-24s %12s %12s %8s\n' "(tokens/s)" "native" "llama.cpp" "ratio"
for p in $PROMPTS; do
    o=$(best "ours_p$p") l=$(best "llama_p$p")
    printf '%-24s %12s %12s %8s\n' "prefill $p" "$o" "$l" "$(ratio "$o" "$l")"
done
o1=$(best ours_d1) l1=$(best llama_d1) o8=$(best ours_d8)
printf '%-24s %12s %12s %8s\n' "decode batch 1" "$o1" "$l1" "$(ratio "$o1" "$l1")"
printf '%-24s %12s %12s %8s\n' "decode batch 8 (sum)" "$o8" "-" "$(ratio "$o8" "$o1") of b1"
echo "read bandwidth (best round): $(best bw) GB/s; native RSS after decoding $(best rss_mib) MiB"
