#!/bin/sh
# tokenizer_cases: fk-tokenize --check runs the o200k_harmony fixture cases
# with both tokenizer files (tokenizer.json and the bundled tiktoken ranks),
# and must fail (and say so) on a case file with one corrupted id. TAP.
set -u
fk=$FK_TOP_BUILDDIR/tokenizer/fk-tokenize
cases=$FK_FIXTURES/tokenizer/o200k_harmony_cases.jsonl
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fktok-cases.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
n=0
fails=0
check() { # check OK NAME: one test point
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails + 1)); fi
}
total=$(grep -c . "$cases")

for tok in "$FK_FIXTURES/tokenizer/tokenizer.json" "$FK_TOKENIZER_DATA/o200k_base.tiktoken"; do
    name=$(basename "$tok")
    "$fk" --tokenizer "$tok" --check "$cases" >"$tmp/out" 2>&1
    rc=$?
    last=$(tail -n 1 "$tmp/out")
    check $rc "$name: --check exits 0"
    [ "$last" = "$total passed, 0 failed" ]; check $? "$name: all $total cases pass ($last)"
    [ "$rc" = 0 ] || sed 's/^/# /' "$tmp/out" | head -n 20
done

# The default tokenizer (no --tokenizer) is the bundled one.
"$fk" --check "$cases" >"$tmp/out" 2>&1
check $? "default tokenizer: --check exits 0"

# One id changed in one case: exactly that case fails, by name.
awk 'NR == 8 { sub(/"ids":\[[0-9]+/, "\"ids\":[7") } { print }' "$cases" >"$tmp/bad.jsonl"
"$fk" --check "$tmp/bad.jsonl" >"$tmp/out" 2>&1
rc=$?
[ "$rc" != 0 ]; check $? "a corrupted case file makes --check fail"
[ "$(tail -n 1 "$tmp/out")" = "$((total - 1)) passed, 1 failed" ]; check $? "and counts exactly one failure"
grep -q '^FAIL .*edge-7' "$tmp/out"; check $? "and names the broken case"

# A line that is not a case is a failure with its line number.
printf '%s\n' '{"name":"ok","text":"hi","ids":[3686]}' 'not json' '{"name":"x","ids":[1]}' >"$tmp/lines.jsonl"
"$fk" --check "$tmp/lines.jsonl" >"$tmp/out" 2>&1
rc=$?
[ "$rc" != 0 ] && grep -q 'lines.jsonl:2: bad JSON' "$tmp/out" && grep -q 'lines.jsonl:3: missing "text"' "$tmp/out"
check $? "bad lines are reported with their line numbers"
[ "$(tail -n 1 "$tmp/out")" = "1 passed, 2 failed" ]; check $? "and counted as failures"

# Printing ids; specials only with --special.
[ "$("$fk" 'a<|end|>' 2>&1)" != "64 200007" ] && [ "$("$fk" --special 'a<|end|>')" = "64 200007" ]
check $? "--special recognises <|end|>, plain text does not"
[ "$(printf 'hello world' | "$fk")" = "24912 2375" ]; check $? "text on stdin"
"$fk" --tokenizer "$tmp/missing.json" x >"$tmp/out" 2>&1
[ $? != 0 ] && grep -q "missing.json" "$tmp/out"; check $? "a missing tokenizer file is a clear error"

echo "1..$n"
[ "$fails" = 0 ]
