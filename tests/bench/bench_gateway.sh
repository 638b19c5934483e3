#!/bin/sh
# bench_gateway.sh: fk-gateway with the scripted driver answering instantly.
#   1. non-streaming requests/s and p50/p99 latency, the gateway pinned to one core
#   2. 1,000 concurrent SSE streams held open: their time to first event
#   3. the gateway's RSS before and after
# Run from a build directory after `make check` built the scripted driver:
#   sh /path/to/tests/bench/bench_gateway.sh [SECONDS]
set -eu
B=${FK_TOP_BUILDDIR:-$(pwd)}
SECS=${1:-5}
T=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; rm -rf "$T"' EXIT
ulimit -n 8192 2>/dev/null || ulimit -n 4096 2>/dev/null || true
cat >"$T/scripts.json" <<'JSON'
{"default": "instant", "scripts": {
 "instant": {"harmony": "<|channel|>final<|message|>Hello there!<|return|>", "prompt_tokens": 10},
 "hold": {"prompt_tokens": 10, "repeat": 1, "pieces": [
   {"text": "<|channel|>", "special": true}, {"text": "final"}, {"text": "<|message|>", "special": true},
   {"text": "Held"}, {"text": " a"}, {"text": " b", "delay_ms": 5000}, {"text": " c", "delay_ms": 5000},
   {"text": " d", "delay_ms": 5000}, {"text": "<|return|>", "special": true, "delay_ms": 5000}]}
}}
JSON
printf 'FK_DRIVER=scripted\nFK_SCRIPT_FILE=%s\nFK_LISTEN=127.0.0.1:0\nFK_LOG_LEVEL=warn\nFK_STATS_INTERVAL_S=0\nFK_DRIVER_DIR=%s\n' \
  "$T/scripts.json" "$B/tests/scripted-driver/.libs" >"$T/.env"
taskset -c 0 "$B/gateway/fk-gateway" --env "$T/.env" 2>"$T/stderr" &
PID=$!
sleep 0.5
PORT=
for _ in $(seq 1 50); do
  PORT=$(grep -o 'listening on [0-9.]*:[0-9]*' "$T/stderr" | sed 's/.*://') || true
  [ -n "$PORT" ] && break
  sleep 0.1
done
[ -z "$PORT" ] && { echo "gateway did not start"; cat "$T/stderr"; exit 1; }
rss() { awk '/VmRSS/ {print $2 " kB"}' /proc/$PID/status; }
# CPU seconds (user + system) the gateway has used so far
cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / hz}' /proc/$PID/stat; }
echo "gateway pid $PID on port $PORT (pinned to CPU 0); RSS at start: $(rss)"
# The CPU time per request does not depend on how busy the machine is; its
# inverse is the requests/s one dedicated core would serve.
for c in 1 16 64; do
  before=$(cpu)
  out=$(taskset -c 1 "$B/tests/bench/bench_gateway" "$PORT" whole "$c" "$SECS")
  after=$(cpu)
  n=$(echo "$out" | sed -n 's/.*, \([0-9]*\) requests in.*/\1/p')
  echo "whole, $out; gateway CPU $(awk -v a="$before" -v b="$after" -v n="$n" 'BEGIN {printf "%.1f us/request (%.0f requests/s per core)", (b - a) * 1e6 / n, n / (b - a)}')"
done
echo "RSS after the request runs: $(rss)"

before=$(cpu)
taskset -c 1 "$B/tests/bench/bench_gateway" "$PORT" sse 1000 30 "$PID"
echo "gateway CPU for 1000 streams: $(awk -v a="$before" -v b="$(cpu)" 'BEGIN {printf "%.3f s", b - a}')"
echo "RSS after: $(rss)"
