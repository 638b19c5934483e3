#!/bin/sh
# Prints "N passed, M failed" from an Automake test-suite.log (failures and
# errors count as failed; skips are reported apart), plus the failing tests.
set -eu
log=${1:-test-suite.log}
[ -f "$log" ] || { echo "summary: no $log"; echo "0 passed, 1 failed"; exit 0; }
total() { sed -n "s/^# $1: *//p" "$log" | head -n 1; }
pass=$(total PASS); fail=$(total FAIL); err=$(total ERROR); skip=$(total SKIP); xpass=$(total XPASS)
grep -E '^(FAIL|ERROR|XPASS):' "$log" | sed 's/^/  /' || true
echo "$pass passed, $((fail + err + xpass)) failed, $skip skipped"
