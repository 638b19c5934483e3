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
#   FK_BENCH_THREADS threads for both engines (default: all CPUs)
#   FK_BENCH_STEPS   decoded tokens per measurement (default 16)
#   FK_BENCH_KERNELS the native engine's FK_CPU_KERNELS (default auto)
# llama-bench comes from scripts/llama-server.sh --bench (built once, cached).
# Each round runs prefill 128 and 512 and decode (batch 1; ours also batch 8)
# on both; the summary takes each engine's best round (the least disturbed on
# a shared machine) and prints ours / llama.cpp, with the read bandwidth
# bench_engine measured.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-.}" && pwd)
ROUNDS=${2:-3}
MODEL=${FK_BENCH_MODEL:-/tmp/fk-bench-20b-2l}
LAYERS=${FK_BENCH_LAYERS:-2}
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
    [ -x "$BUILD/drivers/cuda/tools/fk-gguf" ] || {
        echo "bench_vs_llamacpp.sh: needs $BUILD/drivers/cuda/tools/fk-gguf to convert $MODEL" >&2
        exit 1
    }
    tok="$MODEL/tokenizer.json"
    [ -f "$tok" ] || xz -dc "$top/tests/fixtures/tokenizer/tokenizer.json.xz" >"$tok"
    echo "creating $GGUF with fk-gguf"
    "$BUILD/drivers/cuda/tools/fk-gguf" --model "$MODEL" --out "$GGUF" --tokenizer "$tok"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/fk-vs-llama.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs," \
    "$THREADS threads; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# Best (largest) value of field $2 over lines matching $1 in file $3.
best() {
    awk -v pat="$1" -v f="$2" '$0 ~ pat { v = $f + 0; if (v > m) m = v } END { printf "%.2f", m }' "$3"
}

for r in $(seq 1 "$ROUNDS"); do
    "$BUILD/tests/bench/bench_engine" --model "$MODEL" --threads "$THREADS" --prompt 128 \
        --steps "$STEPS" --batch 1 --batch 8 --bw-mib 1024 --kernels "$KERNELS" >"$TMP/ours128" 2>&1
    "$BUILD/tests/bench/bench_engine" --model "$MODEL" --threads "$THREADS" --prompt 512 \
        --steps 1 --batch 0 --bw-mib 1024 --kernels "$KERNELS" >"$TMP/ours512" 2>&1
    "$LLAMA_BENCH" -m "$GGUF" -t "$THREADS" -p 128,512 -n "$STEPS" -r 1 -o csv >"$TMP/llama" \
        2>"$TMP/llama.err" || { cat "$TMP/llama.err" >&2; exit 1; }
    # ours: "prefill N tokens: T s, X tokens/s" / "decode batch B: mean ... = X tokens/s ..."
    p128=$(awk '/^prefill/ { print $6 }' "$TMP/ours128")
    p512=$(awk '/^prefill/ { print $6 }' "$TMP/ours512")
    d1=$(awk '/^decode batch 1:/ { print $8 }' "$TMP/ours128")
    d8=$(awk '/^decode batch 8:/ { print $8 }' "$TMP/ours128")
    bw=$(awk '/^memory read bandwidth/ { print $4 }' "$TMP/ours128")
    # llama-bench csv: n_prompt, n_gen and avg_ts columns, found by name.
    lp128=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        { gsub(/"/, "") } $c["n_prompt"] == 128 && $c["n_gen"] == 0 { print $c["avg_ts"] }' "$TMP/llama")
    lp512=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        { gsub(/"/, "") } $c["n_prompt"] == 512 && $c["n_gen"] == 0 { print $c["avg_ts"] }' "$TMP/llama")
    ld=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        { gsub(/"/, "") } $c["n_prompt"] == 0 && $c["n_gen"] > 0 { print $c["avg_ts"] }' "$TMP/llama")
    echo "round $r: ours prefill128 $p128 prefill512 $p512 decode1 $d1 decode8 $d8 tok/s;" \
        "llama.cpp prefill128 $lp128 prefill512 $lp512 decode1 $ld tok/s; bandwidth $bw GB/s" |
        tee -a "$TMP/rounds"
done

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
R="$TMP/rounds"
o128=$(best round 5 "$R") o512=$(best round 7 "$R") o1=$(best round 9 "$R") o8=$(best round 11 "$R")
l128=$(best round 15 "$R") l512=$(best round 17 "$R") l1=$(best round 19 "$R") bw=$(best round 22 "$R")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }
echo "best of $ROUNDS rounds, $THREADS threads, kernels $KERNELS, $(basename "$MODEL"):"
printf '%-22s %12s %12s %8s\n' "" "native" "llama.cpp" "ratio"
printf '%-22s %12s %12s %8s\n' "prefill 128 (tok/s)" "$o128" "$l128" "$(ratio "$o128" "$l128")"
printf '%-22s %12s %12s %8s\n' "prefill 512 (tok/s)" "$o512" "$l512" "$(ratio "$o512" "$l512")"
printf '%-22s %12s %12s %8s\n' "decode batch 1 (tok/s)" "$o1" "$l1" "$(ratio "$o1" "$l1")"
printf '%-22s %12s %12s %8s\n' "decode batch 8 (tok/s)" "$o8" "-" "$(ratio "$o8" "$o1") of b1"
echo "read bandwidth (best): $bw GB/s"
