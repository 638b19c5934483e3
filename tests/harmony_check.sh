#!/bin/sh
# harmony_check.sh: fk-harmony-check over the Harmony conformance vectors (TAP).
# Runs every vector, then shows the checker can fail: corrupted copies of
# vectors in a temporary directory must make it exit 1 with the summary line.
set -u
CHECK="$FK_TOP_BUILDDIR/harmony/fk-harmony-check"
VECTORS="$FK_FIXTURES/harmony"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/harmony_check.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else not_ok "$2"; fi; }

total=$(find "$VECTORS/" -name '*.json' | wc -l | tr -d ' ')
"$CHECK" "$VECTORS" >"$TMP/out" 2>&1
rc=$?
sed 's/^/# /' "$TMP/out"
check "$rc" "all vectors pass (exit 0)"
[ "$(tail -n 1 "$TMP/out")" = "$total passed, 0 failed" ]
check $? "summary line counts all $total vectors"
[ "$total" -gt 60 ] || { echo "Bail out! precondition failed: the fixture holds $total vectors, not all 64"; exit 1; }

# A parse vector whose expected content is wrong.
mkdir -p "$TMP/bad/a" "$TMP/bad/z"
cp "$VECTORS/parse/036-truncated-analysis.json" "$TMP/bad/a/"
sed '/"content":/s/about rhym/about rhyme/' "$VECTORS/parse/036-truncated-analysis.json" \
    >"$TMP/bad/z/036-corrupted.json"
"$CHECK" "$TMP/bad" >"$TMP/out" 2>&1
rc=$?
sed 's/^/# /' "$TMP/out"
[ "$rc" = 1 ]
check $? "a corrupted parse vector fails (exit 1)"
[ "$(tail -n 1 "$TMP/out")" = "1 passed, 1 failed" ]
check $? "summary line says 1 passed, 1 failed"
grep -q "^FAIL $TMP/bad/z/036-corrupted.json: .*content" "$TMP/out"
check $? "the failure names the file and the field"

# A parse vector that expects an error the input does not cause.
sed 's/"expected_error": null/"expected_error": "Unknown role: x"/' \
    "$VECTORS/parse/001-simple-reasoning-response.json" >"$TMP/bad/z/001-error.json"
"$CHECK" "$TMP/bad/z/001-error.json" >"$TMP/out" 2>&1
rc=$?
sed 's/^/# /' "$TMP/out"
[ "$rc" = 1 ] && grep -q "no error" "$TMP/out"
check $? "a missing expected error fails"

# A render vector with one byte changed.
mkdir -p "$TMP/render"
sed 's/Reasoning: medium/Reasoning: mediun/' "$VECTORS/render/001-simple-convo.json" \
    >"$TMP/render/001-corrupted.json"
"$CHECK" "$TMP/render" >"$TMP/out" 2>&1
rc=$?
sed 's/^/# /' "$TMP/out"
[ "$rc" = 1 ] && [ "$(tail -n 1 "$TMP/out")" = "0 passed, 1 failed" ]
check $? "a corrupted render vector fails"

# Nothing to run is not a pass.
mkdir -p "$TMP/empty"
"$CHECK" "$TMP/empty" >"$TMP/out" 2>&1
rc=$?
[ "$rc" = 1 ] && [ "$(tail -n 1 "$TMP/out")" = "0 passed, 0 failed" ]
check $? "an empty directory exits 1"

# A file that is not a vector.
echo '{"hello": 1}' >"$TMP/empty/x.json"
"$CHECK" "$TMP/empty" >"$TMP/out" 2>&1
rc=$?
[ "$rc" = 1 ] && grep -q "^FAIL .*x.json: neither" "$TMP/out"
check $? "a JSON file that is no vector fails"

"$CHECK" --help >"$TMP/out" 2>&1
rc=$?
[ "$rc" = 0 ] && grep -q "usage" "$TMP/out"
check $? "--help"

"$CHECK" --tokenizer "$FK_FIXTURES/tokenizer/tokenizer.json" "$VECTORS/parse" >"$TMP/out" 2>&1
rc=$?
[ "$rc" = 0 ]
check $? "parse vectors pass with tokenizer.json too"

echo "1..$n"
exit $failed
