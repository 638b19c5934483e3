#!/bin/sh
# golden.sh: fk-golden on both tiny checkpoints against the transformers
# goldens (and once on the reference backend), and proof that it notices a wrong answer: a goldens file with one
# logit changed, and a model whose config asks for the rounded YaRN range.
# TAP; run by make check (FK_TOP_BUILDDIR, FK_FIXTURES).
set -u
GOLDEN="$FK_TOP_BUILDDIR/drivers/cuda/tools/fk-golden"
MODELS="$FK_FIXTURES/models"
GOLD="$MODELS/tiny-gptoss-goldens.safetensors"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/fk-golden.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
n=0
fail=0

ok() { # ok COND-STATUS NAME
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}

# Run fk-golden, show its report as TAP comments, return its exit status.
run() {
    "$GOLDEN" "$@" >"$TMP/out" 2>&1
    rc=$?
    sed 's/^/# /' "$TMP/out"
    return $rc
}

for form in bf16 mxfp4; do
    run --model "$MODELS/tiny-gptoss-$form" --goldens "$GOLD"
    rc=$?
    last=$(tail -n 1 "$TMP/out")
    ok $rc "tiny-gptoss-$form matches the goldens (exit $rc)"
    case "$last" in
    *" passed, 0 failed") ok 0 "tiny-gptoss-$form: last line \"$last\"" ;;
    *) ok 1 "tiny-gptoss-$form: last line \"$last\"" ;;
    esac
done

# The whole model on the reference backend (plain loops): the backend table
# carries everything the forward pass needs.
run --model "$MODELS/tiny-gptoss-mxfp4" --goldens "$GOLD" --backend ref
rc=$?
ok $rc "tiny-gptoss-mxfp4 on the reference backend matches the goldens (exit $rc)"

# One logit of harmony_chat.last_logits raised by 0.01 (well above the 1e-3
# tolerance): find its bytes through the safetensors header.
hlen=$(od -An -tu8 -N8 "$GOLD" | tr -d ' ')
span=$(head -c $((8 + hlen)) "$GOLD" | tail -c "$hlen" |
    sed -n 's/.*"harmony_chat\.last_logits":{[^}]*"data_offsets":\[\([0-9]*\),[0-9]*\].*/\1/p')
if [ -n "$span" ]; then
    cp "$GOLD" "$TMP/corrupt.safetensors"
    # Element 1000 of the F32 row: write 4 bytes of a different float (100.0f).
    printf '\000\000\310\102' | dd of="$TMP/corrupt.safetensors" bs=1 \
        seek=$((8 + hlen + span + 4000)) conv=notrunc 2>/dev/null
    run --model "$MODELS/tiny-gptoss-bf16" --goldens "$TMP/corrupt.safetensors"
    rc=$?
    [ $rc -eq 1 ] && grep -q '^FAIL harmony_chat' "$TMP/out" && grep -q '^3 passed, 1 failed$' "$TMP/out"
    ok $? "a corrupted golden logit is detected (exit $rc)"
else
    ok 1 "found harmony_chat.last_logits in the goldens header"
fi

# The same weights with a config that rounds the YaRN correction range
# (truncate true, the known bug): a different function, so it must fail.
mkdir "$TMP/wrong"
for f in "$MODELS/tiny-gptoss-bf16"/*; do ln -s "$f" "$TMP/wrong/"; done
rm "$TMP/wrong/config.json"
sed 's/"truncate": false/"truncate": true/' "$MODELS/tiny-gptoss-bf16/config.json" >"$TMP/wrong/config.json"
run --model "$TMP/wrong" --goldens "$GOLD"
rc=$?
ok $((rc != 1)) "a model with rounded YaRN is detected (exit $rc)"

# Bad usage and missing files are errors, not passes.
"$GOLDEN" --model "$MODELS/tiny-gptoss-bf16" --goldens "$TMP/none.safetensors" >/dev/null 2>&1
rc=$?
ok $((rc != 2)) "a missing goldens file exits 2 (exit $rc)"

echo "1..$n"
exit $fail
