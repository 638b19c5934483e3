#!/bin/sh
# readme_commands.sh: the commands README.md shows run as written, from a
# folder laid out like a fresh clone (the tracked folders, linked), with the
# built programs on PATH as setup.sh would install them.
#
# Every indented command line of README.md, and every command in its
# benchmark table, must be one this script knows: it runs it (substituting
# only free ports for fixed ones and a private folder for /tmp), or skips it
# with the reason printed. A command added to the README without being
# covered here fails the first test point. Also checked: fk-gateway,
# fk-golden and fk-mkmodel --help explain their options, and every gateway
# key is documented in README.md's table and in conf/llama.env.
set -u
top=${FK_TOP_SRCDIR:?run through make check}
build=${FK_TOP_BUILDDIR:?run through make check}
t=$(mktemp -d)
pids=
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    rm -rf "$t"
}
trap cleanup EXIT
mkdir "$t/root" "$t/elsewhere"
for d in conf scripts tests tokenizer; do ln -s "$top/$d" "$t/root/$d"; done
PATH=$build/gateway:$build/drivers/cuda/tools:$build/ab:$PATH
export PATH

n=0
pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() {
    n=$((n + 1))
    echo "not ok $n - $1"
    [ $# -gt 1 ] && printf '%s\n' "$2" | sed 's/^/# /'
}
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
# wait_for URL SECONDS: until it answers 200
wait_for() {
    i=0
    while [ $i -lt $(($2 * 10)) ]; do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# ---- the commands the README shows --------------------------------------------
# Indented lines (joined over trailing backslashes, comments and "# ..." lines
# dropped) and the backticked commands of the benchmark table.
awk '
    /^    / && (cont != "" || /^    [^ |#]/) {
        line = substr($0, 5)
        sub(/^ +/, "", line)
        sub(/[ ]+#.*$/, "", line)
        if (cont != "") { line = cont " " line; cont = "" }
        if (line ~ /\\$/) { sub(/[ ]*\\$/, "", line); cont = line; next }
        print line
        next
    }
    /^\| [^|]* \| `[^`]*` \|$/ { s = $0; sub(/^\| [^|]* \| `/, "", s); sub(/` \|$/, "", s); print s }
' "$top/README.md" | sed 's/  */ /g' >"$t/commands"

known='./scripts/setup.sh
./scripts/test.sh
curl -s http://127.0.0.1:8001/v1/chat/completions -H '"'"'Content-Type: application/json'"'"' -d '"'"'{"model":"tiny-gptoss","messages":[{"role":"user","content":"Hi"}],"max_tokens":16}'"'"'
curl -s http://127.0.0.1:8001/v1/responses -H '"'"'Content-Type: application/json'"'"' -d '"'"'{"model":"tiny-gptoss","input":"Hi","max_output_tokens":16}'"'"'
sh scripts/llama-server.sh
sh scripts/llama-server.sh --cached
sh scripts/llama-server.sh --bench
xz -dc tests/fixtures/tokenizer/tokenizer.json.xz >tokenizer.json
fk-gguf --model tests/fixtures/models/tiny-gptoss-mxfp4 --tokenizer tokenizer.json --out tiny.gguf
$(sh scripts/llama-server.sh) -m tiny.gguf --port 8080 -c 4096
FK_CORE_API_BASE=http://127.0.0.1:8080 fk-gateway --env conf/llama.env
FK_CORES=conf/vllm.env fk-gateway --env conf/llama.env
fk-ab --a BASE_URL [--a-model ID] --b BASE_URL [--b-model ID] [--chats FILE.jsonl] [--max-tokens N] [--json] [--html FILE]
fk-ab --a http://127.0.0.1:8001 --a-model gpt-oss-20b-mxfp4.gguf --b http://127.0.0.1:8001 --b-model gpt-oss-20b --html ab.html
fk-mkmodel --from tests/fixtures/models/tiny-gptoss-mxfp4 --experts-form bf16 --out /tmp/tiny-bf16
printf '"'"'VLLM_MODEL_CORE=/tmp/tiny-bf16\nFRONTEND_VLLM_MODEL=tiny-gptoss-bf16\n'"'"' >/tmp/bf16.env
FK_LISTEN=127.0.0.1:8011 FK_CORES=/tmp/bf16.env fk-gateway --env conf/default.env & gw=$!
fk-ab --a http://127.0.0.1:8011 --a-model tiny-gptoss --b http://127.0.0.1:8011 --b-model tiny-gptoss-bf16 --max-tokens 16
kill $gw
build-check/tests/bench/bench_harmony_parser 8 7
sh tests/bench/bench_tokenizer.sh build-check
sh tests/bench/bench_load.sh build-check
sh tests/bench/bench_engine.sh build-check
sh tests/bench/bench_vs_llamacpp.sh build-check
build-check/tests/bench/bench_matmul
build-check/tests/bench/bench_sampler
FK_TOKENIZER_DATA=tokenizer/data build-check/tests/bench/bench_constrain
FK_TOP_BUILDDIR=build-check FK_NODE_MODULES=tests/node_modules node tests/bench/bench_constrain.mjs
build-check/tests/bench/bench_scheduler
sh tests/bench/bench_prefix.sh build-check
cd build-check && sh ../tests/bench/bench_gateway.sh 5
FK_TOP_BUILDDIR=build-check FK_NODE_MODULES=tests/node_modules node tests/bench/bench_proxy.mjs
FK_TOP_BUILDDIR=build-check FK_NODE_MODULES=tests/node_modules node tests/bench/bench_proxy_real.mjs
FK_TOP_BUILDDIR=build-check FK_NODE_MODULES=tests/node_modules node tests/bench/bench_proxy_callgrind.mjs
FK_TOP_BUILDDIR=build-check FK_NODE_MODULES=tests/node_modules node tests/bench/bench_replicas.mjs
sh tests/device/run.sh'
unknown=$(printf '%s\n' "$known" | sed 's/  */ /g' | grep -vxF -f - "$t/commands")
if [ -z "$unknown" ] && [ -s "$t/commands" ]; then
    pass "every README command ($(wc -l <"$t/commands") of them) is run or skipped here"
else
    fail "README commands this test does not cover (add them here)" "$unknown"
fi

skip "./scripts/setup.sh" "installs into /usr/local and serves until stopped; tests/setup_prefix.sh runs it with stand-ins"
skip "./scripts/test.sh" "it runs this test"

# The embedded default and the README's first request.
port=$(free_port)
(cd "$t/root" && FK_LISTEN=127.0.0.1:$port exec fk-gateway --env conf/default.env) 2>"$t/default.log" &
pids="$pids $!"
if wait_for "http://127.0.0.1:$port/health" 60; then
    out=$(cd "$t/root" && curl -s http://127.0.0.1:$port/v1/chat/completions -H 'Content-Type: application/json' \
        -d '{"model":"tiny-gptoss","messages":[{"role":"user","content":"Hi"}],"max_tokens":16}')
    case $out in
    *'"object":"chat.completion"'*'"completion_tokens":16'*) pass "fk-gateway --env conf/default.env, then the README's curl request" ;;
    *) fail "the README's curl request" "$out" ;;
    esac
    out=$(cd "$t/root" && curl -s http://127.0.0.1:$port/v1/responses -H 'Content-Type: application/json' \
        -d '{"model":"tiny-gptoss","input":"Hi","max_output_tokens":16}')
    case $out in
    *'"object":"response"'*'"output_tokens":16'*) pass "the README's /v1/responses curl request" ;;
    *) fail "the README's /v1/responses curl request" "$out" ;;
    esac
else
    fail "fk-gateway --env conf/default.env did not become ready" "$(cat "$t/default.log")"
fi
# The same file named from another folder: its relative model path still resolves.
port2=$(free_port)
(cd "$t/elsewhere" && FK_LISTEN=127.0.0.1:$port2 exec fk-gateway --env "$t/root/conf/default.env") 2>"$t/elsewhere.log" &
pids="$pids $!"
if wait_for "http://127.0.0.1:$port2/health" 60; then
    pass "fk-gateway --env /path/to/conf/default.env from another folder"
else
    fail "fk-gateway --env /path/to/conf/default.env from another folder" "$(cat "$t/elsewhere.log")"
fi

# llama-server: built here only when the cache has it (the build takes minutes).
cached=$(cd "$t/root" && sh scripts/llama-server.sh --cached 2>/dev/null)
rc=$?
if [ $rc -eq 0 ] && [ -x "$cached" ]; then
    pass "sh scripts/llama-server.sh --cached prints the cached build"
    [ -x "$(cd "$t/root" && sh scripts/llama-server.sh)" ] && pass "sh scripts/llama-server.sh (cached: prints the path)" ||
        fail "sh scripts/llama-server.sh"
    [ -x "$(cd "$t/root" && sh scripts/llama-server.sh --bench)" ] && pass "sh scripts/llama-server.sh --bench" ||
        fail "sh scripts/llama-server.sh --bench"
elif [ $rc -eq 1 ]; then
    pass "sh scripts/llama-server.sh --cached: not built yet (exit 1, as documented)"
    skip "sh scripts/llama-server.sh" "builds llama.cpp (about 9 minutes); CI builds it"
    skip "sh scripts/llama-server.sh --bench" "llama-server is not built here"
else
    fail "sh scripts/llama-server.sh --cached exited $rc"
fi

if (cd "$t/root" && xz -dc tests/fixtures/tokenizer/tokenizer.json.xz >tokenizer.json &&
    fk-gguf --model tests/fixtures/models/tiny-gptoss-mxfp4 --tokenizer tokenizer.json --out tiny.gguf) \
    >"$t/gguf.log" 2>&1 && [ -s "$t/root/tiny.gguf" ]; then
    pass "xz -dc ... >tokenizer.json, then fk-gguf ... --out tiny.gguf"
else
    fail "xz -dc ... >tokenizer.json, then fk-gguf ... --out tiny.gguf" "$(cat "$t/gguf.log")"
fi

if [ $rc -eq 0 ] && [ -x "$cached" ]; then
    lport=$(free_port)
    (cd "$t/root" && exec $(sh scripts/llama-server.sh) -m tiny.gguf --port "$lport" -c 4096) >"$t/llama.log" 2>&1 &
    pids="$pids $!"
    if [ -s "$t/root/tiny.gguf" ] && wait_for "http://127.0.0.1:$lport/health" 120; then
        pass "\$(sh scripts/llama-server.sh) -m tiny.gguf --port 8080 -c 4096"
        gport=$(free_port)
        (cd "$t/root" && FK_LISTEN=127.0.0.1:$gport FK_CORE_API_BASE=http://127.0.0.1:$lport exec fk-gateway --env conf/llama.env) 2>"$t/gwllama.log" &
        pids="$pids $!"
        if wait_for "http://127.0.0.1:$gport/health" 60 &&
            curl -s "http://127.0.0.1:$gport/v1/chat/completions" -H 'Content-Type: application/json' \
                -d '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":4}' | grep -q '"chat.completion"'; then
            pass "FK_CORE_API_BASE=http://127.0.0.1:8080 fk-gateway --env conf/llama.env answers a chat"
        else
            fail "FK_CORE_API_BASE=http://127.0.0.1:8080 fk-gateway --env conf/llama.env" "$(cat "$t/gwllama.log")"
        fi
    else
        fail "llama-server on tiny.gguf did not become ready" "$(tail -n 20 "$t/llama.log")"
    fi
else
    skip "\$(sh scripts/llama-server.sh) -m tiny.gguf --port 8080 -c 4096" "llama-server is not built here"
    skip "FK_CORE_API_BASE=http://127.0.0.1:8080 fk-gateway --env conf/llama.env" "no llama-server to point at"
fi
skip "fk-ab --a BASE_URL [--a-model ID] ..." "the synopsis; the example below runs it"
skip "the first 'Comparing cores' block (conf/llama.env + FK_CORES=conf/vllm.env)" "needs gpt-oss-20b in /models and llama-server serving it"
skip "sh tests/device/run.sh" "the GPU run: needs an NVIDIA GPU, builds with nvcc and writes a 13.8 GB checkpoint"

# "Example that runs here": the block as a script; only the port and /tmp differ.
p1=$(free_port)
sed -n '/^    fk-mkmodel --from/,/^    kill \$gw/p' "$top/README.md" | sed 's/^    //' |
    sed "s#/tmp/tiny-bf16#$t/tiny-bf16#g; s#/tmp/bf16.env#$t/bf16.env#g; s/8011/$p1/g" >"$t/example.sh"
if [ "$(wc -l <"$t/example.sh")" -eq 5 ] &&
    out=$(cd "$t/root" && timeout 180 sh "$t/example.sh" 2>"$t/example.log"); then
    case $out in
    *"token agreement 1.000 (64 of 64 tokens before the first divergence); 4 of 4 chats identical"*)
        pass "the 'Example that runs here' block: one gateway, both cores, fk-ab finds 4 of 4 chats identical, the gateway stopped" ;;
    *) fail "the 'Example that runs here' block" "$out" ;;
    esac
else
    fail "the 'Example that runs here' block failed" "$(cat "$t/example.sh" "$t/example.log")"
fi

# Benchmarks: the proxy and replica ones (node, relative paths) with small
# sizes; the others run for minutes.
if [ ! -d "$t/root/tests/node_modules" ]; then
    skip "FK_TOP_BUILDDIR=build-check FK_NODE_MODULES=tests/node_modules node tests/bench/bench_proxy.mjs" "no tests/node_modules in this source tree (make distcheck)"
elif out=$(cd "$t/root" && ln -s "$build" build-check &&
    FK_TOP_BUILDDIR=build-check FK_NODE_MODULES=tests/node_modules \
        timeout 120 node tests/bench/bench_proxy.mjs --n 20 --concurrent 20 --seconds 1 2>&1); then
    case $out in
    *"added   "*) pass "FK_TOP_BUILDDIR=build-check FK_NODE_MODULES=tests/node_modules node tests/bench/bench_proxy.mjs (small sizes)" ;;
    *) fail "bench_proxy.mjs printed no numbers" "$out" ;;
    esac
else
    fail "bench_proxy.mjs as the README gives it" "$out"
fi
if [ ! -d "$t/root/tests/node_modules" ]; then
    skip "FK_TOP_BUILDDIR=build-check FK_NODE_MODULES=tests/node_modules node tests/bench/bench_replicas.mjs" "no tests/node_modules in this source tree (make distcheck)"
elif out=$(cd "$t/root" && { [ -e build-check ] || ln -s "$build" build-check; } &&
    FK_TOP_BUILDDIR=build-check FK_NODE_MODULES=tests/node_modules \
        timeout 120 node tests/bench/bench_replicas.mjs --clients 4 --seconds 1 --n 10 2>&1); then
    case $out in
    *"unloaded, one request at a time"*"added p50/p99"*) pass "FK_TOP_BUILDDIR=build-check FK_NODE_MODULES=tests/node_modules node tests/bench/bench_replicas.mjs (small sizes)" ;;
    *) fail "bench_replicas.mjs printed no numbers" "$out" ;;
    esac
else
    fail "bench_replicas.mjs as the README gives it" "$out"
fi
skip "the other benchmark commands" "they run for minutes (bench_load writes a 13.8 GB model); by hand"

# ---- --help explains, and points at what is installed ------------------------------
for tool in fk-gateway fk-golden fk-mkmodel fk-ab; do
    out=$($tool --help 2>&1)
    if [ $? -eq 0 ] && [ "$(printf '%s\n' "$out" | wc -l)" -ge 8 ] && ! printf '%s' "$out" | grep -q 'gateway/config.h'; then
        pass "$tool --help explains its options"
    else
        fail "$tool --help" "$out"
    fi
done

# ---- every gateway key is documented --------------------------------------------
keys=$(sed -n '/ gateway_keys\[\] = {/,/^};/p' "$top/gateway/gateway_config.c" |
    grep -o '"FK_[A-Z_]*"' | tr -d '"')
missing=
for k in $keys; do
    grep -q "^| \`$k\` |" "$top/README.md" || missing="$missing README:$k"
    grep -q "^#* *$k=" "$top/conf/llama.env" || missing="$missing conf/llama.env:$k"
done
if [ -n "$keys" ] && [ -z "$missing" ]; then
    pass "every gateway key ($(echo $keys | wc -w)) is in README.md's table and conf/llama.env"
else
    fail "gateway keys not documented" "$missing"
fi
echo "1..$n"
