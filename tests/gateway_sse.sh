#!/bin/sh
# gateway_sse.sh: raw curl against fk-gateway (scripted driver, fixed ids)
# pins the SSE framing byte for byte: headers, chunk order, usage chunk,
# tool-call deltas, an error after the stream started, raw completions.
set -u
: "${FK_TOP_BUILDDIR:?run through make check}"
T=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }

cat >"$T/scripts.json" <<'EOF'
{"default": "hi", "scripts": {
 "hi": {"harmony": "<|channel|>analysis<|message|>Hm.<|end|><|start|>assistant<|channel|>final<|message|>Hi \"you\" é<|return|>", "prompt_tokens": 7},
 "fail": {"harmony": "<|channel|>final<|message|>Par", "prompt_tokens": 3, "error": {"status": 502, "type": "server_error", "code": "upstream_error", "message": "core went away"}},
 "tool": {"harmony": "<|channel|>commentary to=functions.f <|constrain|>json<|message|>{\"a\": 1}<|call|>", "prompt_tokens": 5, "delay_ms": 1}
}}
EOF
printf 'FK_DRIVER=scripted\nFK_SCRIPT_FILE=%s\nFK_TEST_FIXED_IDS=1\nFK_LISTEN=127.0.0.1:0\nFK_KEEPALIVE_S=0\n' "$T/scripts.json" >"$T/.env"
"$FK_TOP_BUILDDIR/gateway/fk-gateway" --env "$T/.env" 2>"$T/stderr" &
PID=$!
PORT=
for _ in $(seq 1 100); do
  PORT=$(sed -n 's/.*listening on [0-9.]*:\([0-9][0-9]*\).*/\1/p' "$T/stderr")
  [ -n "$PORT" ] && break
  sleep 0.1
done
if [ -z "$PORT" ]; then
  echo "Bail out! the gateway did not start: $(cat "$T/stderr")"
  exit 1
fi
URL="http://127.0.0.1:$PORT"

# check NAME FILE: compare $T/FILE with the expected bytes on stdin
check() {
  cat >"$T/want"
  # tool call ids are random by design; pin their shape, not their letters
  sed -E 's/"id":"call_[A-Za-z0-9]{24}"/"id":"call_X"/g' "$T/$2" >"$T/got"
  if cmp -s "$T/want" "$T/got"; then ok "$1"; else
    not_ok "$1"
    diff "$T/want" "$T/got" | sed 's/^/# /'
  fi
}

curl -sS -N -D "$T/h1" -o "$T/b1" -H 'x-request-id: t1' "$URL/v1/chat/completions" \
  -d '{"messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":true}}'
tr -d '\r' <"$T/h1" | grep -v '^Date:' >"$T/h1n"
check "SSE headers" h1n <<'EOF'
HTTP/1.1 200 OK
x-request-id: t1
Content-Type: text/event-stream
Cache-Control: no-cache
X-Accel-Buffering: no
Transfer-Encoding: chunked

EOF
check "chat stream with usage chunk" b1 <<'EOF'
data: {"id":"chatcmpl-000001","object":"chat.completion.chunk","created":1764000000,"model":"fk-scripted","choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"Hm.","reasoning":"Hm."},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-000001","object":"chat.completion.chunk","created":1764000000,"model":"fk-scripted","choices":[{"index":0,"delta":{"content":"Hi \"you\" é"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-000001","object":"chat.completion.chunk","created":1764000000,"model":"fk-scripted","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}

data: {"id":"chatcmpl-000001","object":"chat.completion.chunk","created":1764000000,"model":"fk-scripted","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":14,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":2}}}

data: [DONE]

EOF

curl -sS -N -o "$T/b2" -H 'x-request-id: t2' "$URL/v1/chat/completions" \
  -d '{"messages":[{"role":"user","content":"script:fail"}],"stream":true}'
check "an error after the stream started" b2 <<'EOF'
data: {"id":"chatcmpl-000002","object":"chat.completion.chunk","created":1764000000,"model":"fk-scripted","choices":[{"index":0,"delta":{"role":"assistant","content":"Par"},"logprobs":null,"finish_reason":null}]}

data: {"error":{"message":"core went away","type":"server_error","param":null,"code":"upstream_error"}}

data: [DONE]

EOF

curl -sS -N -o "$T/b3" -H 'x-request-id: t3' "$URL/v1/chat/completions" \
  -d '{"messages":[{"role":"user","content":"script:tool"}],"stream":true,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"number"}}}}}]}'
check "tool call deltas" b3 <<'EOF'
data: {"id":"chatcmpl-000003","object":"chat.completion.chunk","created":1764000000,"model":"fk-scripted","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_X","type":"function","function":{"name":"f","arguments":""}}]},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-000003","object":"chat.completion.chunk","created":1764000000,"model":"fk-scripted","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-000003","object":"chat.completion.chunk","created":1764000000,"model":"fk-scripted","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":" 1}"}}]},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-000003","object":"chat.completion.chunk","created":1764000000,"model":"fk-scripted","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]}

data: [DONE]

EOF

curl -sS -N -o "$T/b4" -H 'x-request-id: t4' "$URL/v1/completions" -d '{"prompt":"script:hi","stream":true}'
check "raw completion stream spells specials out" b4 <<'EOF'
data: {"id":"cmpl-000004","object":"text_completion","created":1764000000,"model":"fk-scripted","choices":[{"index":0,"text":"<|channel|>analysis<|message|>Hm.<|end|><|start|>assistant<|channel|>final<|message|>Hi \"you\" é<|return|>","logprobs":null,"finish_reason":null}]}

data: {"id":"cmpl-000004","object":"text_completion","created":1764000000,"model":"fk-scripted","choices":[{"index":0,"text":"","logprobs":null,"finish_reason":"stop"}]}

data: [DONE]

EOF

curl -sS -o "$T/b5" -H 'x-request-id: t5' "$URL/v1/chat/completions" -d '{"messages":[{"role":"user","content":"x"}]}'
check "chat, whole" b5 <<'EOF'
{"id":"chatcmpl-000005","object":"chat.completion","created":1764000000,"model":"fk-scripted","choices":[{"index":0,"message":{"role":"assistant","content":"Hi \"you\" é","reasoning_content":"Hm.","reasoning":"Hm."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":14,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":2}}}
EOF

curl -sS -o "$T/b6" -H 'x-request-id: t6' "$URL/v1/chat/completions" -d '{"messages":[{"role":"user","content":"script:fail"}]}'
check "error before any output is an HTTP error" b6 <<'EOF'
{"error":{"message":"core went away","type":"server_error","param":null,"code":"upstream_error"}}
EOF

kill -TERM "$PID"
wait "$PID"
rc=$?
PID=
if [ "$rc" -eq 0 ]; then ok "SIGTERM exits 0"; else not_ok "SIGTERM exits 0 (got $rc)"; sed 's/^/# /' "$T/stderr"; fi
echo "1..$n"
[ "$fails" -eq 0 ]
