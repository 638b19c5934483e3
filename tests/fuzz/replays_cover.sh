#!/bin/sh
# Every fuzz target (tests/fuzz/fuzz_NAME.c) has a seed corpus
# (tests/fuzz/corpus/NAME) and a replay built for `make check`
# (tests/fuzz/replay_NAME, listed in FUZZ_REPLAYS in tests/fuzz/local.mk).
src=${FK_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${FK_TOP_BUILDDIR:-.}
n=0
fail=0
out=
for f in "$src"/tests/fuzz/fuzz_*.c; do
    name=$(basename "$f" .c); name=${name#fuzz_}
    n=$((n + 1))
    if [ -d "$src/tests/fuzz/corpus/$name" ] && [ -x "$build/tests/fuzz/replay_$name" ]; then
        out="${out}ok $n - fuzz_$name has a corpus and a replay
"
    else
        fail=1
        out="${out}not ok $n - fuzz_$name: corpus tests/fuzz/corpus/$name or replay tests/fuzz/replay_$name missing (add it to FUZZ_REPLAYS)
"
    fi
done
echo "1..$n"
printf '%s' "$out"
exit $fail
