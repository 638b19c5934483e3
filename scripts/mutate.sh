#!/bin/bash
# mutate.sh: the mutation check. Applies each one-line bug listed in
# tests/mutations.list (or LIST) to a scratch copy of the tree, one at a
# time, rebuilds what the entry's tests need (only the touched objects are
# recompiled) and runs those tests; every mutation must make one of them
# fail. Prints one line per mutation and "N mutations: K caught, S survived";
# exits 1 when a mutation survives, an entry no longer matches the code
# (stale), a mutant does not build, or the tests fail without any mutation.
#
#   scripts/mutate.sh [LIST]
#
# The scratch copy is build-mutate/ (FK_MUTATE_DIR): src/ holds the tracked
# and untracked-but-not-ignored files (a file is copied only when its
# contents differ, so make rebuilds only what changed), build/ is configured
# once (without -Werror: a mutant may warn). Tests get the environment
# `make check` gives them; FK_NODE_MODULES defaults to tests/node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
list=$top/${1:-tests/mutations.list}
scratch=${FK_MUTATE_DIR:-$top/build-mutate}
src=$scratch/src build=$scratch/build log=$scratch/log
jobs=${FK_MUTATE_JOBS:-2}
mkdir -p "$src" "$build" "$log"

say() { printf '%s\n' "$*"; }

# ---- the scratch copy --------------------------------------------------------------
sync_tree() {
    local f
    while IFS= read -r -d '' f; do
        [ -f "$f" ] || continue
        if ! cmp -s "$f" "$src/$f"; then
            mkdir -p "$src/$(dirname "$f")"
            cp "$f" "$src/$f"
        fi
    done < <(git ls-files -z -co --exclude-standard)
    chmod +x "$src"/autogen.sh "$src"/scripts/*.sh "$src"/tests/*.sh 2>/dev/null || true
}

configure_once() {
    if [ ! -x "$src/configure" ]; then
        (cd "$src" && ./autogen.sh) >"$log/autogen.log" 2>&1 ||
            { say "autogen failed: see $log/autogen.log"; exit 1; }
    fi
    if [ ! -f "$build/Makefile" ]; then
        (cd "$build" && "$src/configure" -q) >"$log/configure.log" 2>&1 ||
            { say "configure failed: see $log/configure.log"; exit 1; }
    fi
}

# ---- the list ------------------------------------------------------------------------
# One line per entry: name, file, from, to, nth, tests, build (\037-separated).
parse_list() {
    awk '
    function flush() {
        if (file != "" || from != "")
            printf "%s\037%s\037%s\037%s\037%s\037%s\037%s\n", name, file, from, to, nth, tests, build
        name = file = from = to = nth = tests = build = ""
    }
    /^[ \t]*$/ { flush(); next }
    /^#/ { if (name == "" && file == "") { sub(/^#[ \t]*/, ""); name = $0 } next }
    {
        key = $0; sub(/:.*/, "", key)
        val = $0; sub(/^[^:]*:[ \t]*/, "", val)
        if (key == "file") file = val
        else if (key == "from") from = val
        else if (key == "to") to = val
        else if (key == "nth") nth = val
        else if (key == "tests") tests = val
        else if (key == "build") build = val
        else { printf "mutations list: unknown key \"%s\"\n", key > "/dev/stderr"; exit 2 }
    }
    END { flush() }' "$list"
}

# Replace the nth (default: the only) occurrence of $FROM in $1 by $TO.
# Exit status 3 when $FROM is missing or ambiguous.
apply() {
    FROM=$2 TO=$3 NTH=$4 perl -e '
        my $file = shift;
        open(my $in, "<", $file) or die "$file: $!\n";
        local $/;
        my $s = <$in>;
        close $in;
        my @at;
        for (my $i = index($s, $ENV{FROM}); $i >= 0; $i = index($s, $ENV{FROM}, $i + 1)) { push @at, $i }
        my $n = $ENV{NTH} eq "" ? 0 : $ENV{NTH};
        if (@at == 0 || ($n == 0 && @at != 1) || $n > @at) { print scalar(@at), "\n"; exit 3 }
        my $i = $at[$n ? $n - 1 : 0];
        substr($s, $i, length $ENV{FROM}) = $ENV{TO};
        open(my $out, ">", $file) or die "$file: $!\n";
        print $out $s;
        close $out;
    ' "$1"
}

# ---- running tests as make check does ----------------------------------------------------
test_env() {
    env FK_TOP_SRCDIR="$src" FK_TOP_BUILDDIR="$build" FK_FIXTURES="$build/tests/fixtures-built" \
        FK_TOKENIZER_DATA="$src/tokenizer/data" \
        FK_DRIVER_DIR="$build/drivers/llamacpp-proxy/.libs:$build/drivers/cuda/.libs:$build/tests/scripted-driver/.libs" \
        FK_NODE_MODULES="${FK_NODE_MODULES:-$top/tests/node_modules}" "$@"
}

# Runs one test into $2; status 0 when it passed (exit 0, no "not ok", no bail out).
run_test() {
    local t=$1 out=$2 rc=0
    case $t in
    *.mjs) (cd "$build" && test_env timeout 600 node --test-reporter=tap "$src/$t") ;;
    *.sh) (cd "$build" && test_env timeout 600 sh "$src/$t") ;;
    *) (cd "$build" && test_env timeout 600 "./$t") ;;
    esac </dev/null >"$out" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] && ! grep -q -E '^[[:space:]]*not ok|^Bail out!' "$out"
}

# Make targets for an entry: its C tests (not scripts) and its extra targets.
targets_of() {
    local t
    for t in $1; do case $t in *.mjs | *.sh) ;; *) printf '%s ' "$t" ;; esac; done
    printf '%s\n' "$2"
}

build_targets() { # $1: targets, $2: log file
    # shellcheck disable=SC2086
    make -C "$build" -j"$jobs" -s $1 </dev/null >"$2" 2>&1
}

# ---- main --------------------------------------------------------------------------------
[ -f "$list" ] || { say "no mutations list: $list"; exit 1; }
entries=$(parse_list)
[ -n "$entries" ] || { say "the mutations list is empty"; exit 1; }
sync_tree
configure_once

all_tests=$(printf '%s\n' "$entries" | cut -d $'\037' -f6 | tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' ')
all_builds=$(printf '%s\n' "$entries" | cut -d $'\037' -f7 | tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' ')
say "building in $build: $(targets_of "$all_tests" "$all_builds")"
build_targets "$(targets_of "$all_tests" "$all_builds")" "$log/build.log" ||
    { tail -n 30 "$log/build.log"; say "the unmutated tree does not build"; exit 1; }
for t in $all_tests; do
    run_test "$t" "$log/baseline-$(basename "$t").log" ||
        { tail -n 30 "$log/baseline-$(basename "$t").log"; say "$t fails without any mutation"; exit 1; }
done
say "baseline: $(echo "$all_tests" | wc -w) tests pass unmutated"

n=0 caught=0 survived=0 broken=0
while IFS=$'\037' read -r name file from to nth tests extra; do
    n=$((n + 1))
    label="$n. $name ($file)"
    cp "$src/$file" "$log/original"
    if ! found=$(apply "$src/$file" "$from" "$to" "$nth"); then
        say "STALE     $label: 'from' found ${found:-0} times${nth:+, nth $nth}"
        broken=$((broken + 1))
        continue
    fi
    if ! build_targets "$(targets_of "$tests" "$extra")" "$log/build-$n.log"; then
        say "NO BUILD  $label: see $log/build-$n.log"
        broken=$((broken + 1))
    else
        by=""
        for t in $tests; do
            if ! run_test "$t" "$log/mutant-$n-$(basename "$t").log"; then by=$t; break; fi
        done
        if [ -n "$by" ]; then
            say "caught    $label by $by"
            caught=$((caught + 1))
        else
            say "SURVIVED  $label: $tests all pass with '$to'"
            survived=$((survived + 1))
        fi
    fi
    cp "$log/original" "$src/$file" # a new mtime: the next build recompiles it
done <<<"$entries"

say "$n mutations: $caught caught, $survived survived, $broken stale or not building"
[ "$survived" -eq 0 ] && [ "$broken" -eq 0 ]
