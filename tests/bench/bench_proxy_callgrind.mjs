// bench_proxy_callgrind.mjs: the gateway's own cost per request in
// instructions (valgrind --tool=callgrind), through the llama proxy and with
// the scripted driver as the peer. Instruction counts do not depend on the
// machine's load, unlike wall or CPU times. Not a test: prints numbers.
//
//   FK_TOP_BUILDDIR=build-check FK_NODE_MODULES=tests/node_modules \
//     node tests/bench/bench_proxy_callgrind.mjs [--only real|fake] [--keep DIR]
//
// Two series, each measured twice per driver: the gateway runs under callgrind
// for 20 requests, then (a fresh process) for 220; the difference of the two
// totals over 200 is the cost of one request, without start-up and shutdown.
//   real: the real llama-server (tiny MXFP4 GGUF), POST /v1/completions with
//         the 7 ids of a rendered chat as the prompt, 4 tokens, greedy
//   fake: fake-llama-server.mjs, POST /v1/chat/completions "hi" (16 tokens:
//         its default reply and <|return|>)
// The scripted driver answers the same requests with the same output. The
// proxy's /health and /slots polls are set to once a minute: they cost per
// second, not per request, and a gateway under valgrind runs long enough for
// dozens of them.
// --keep DIR keeps the callgrind files (DIR/SERIES-DRIVER-K, for
// callgrind_annotate; tests/bench/callgrind_diff.py subtracts two of them).
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchEnv } from './bench_env.mjs';

const args = process.argv.slice(2);
const arg = (k) => (args.includes(k) ? args[args.indexOf(k) + 1] : null);
const ONLY = arg('--only');
const KEEP = arg('--keep');
const K0 = 20;
const K1 = 220;
benchEnv(['drivers/llamacpp-proxy/.libs', 'tests/scripted-driver/.libs']);
const { startGateway, tmpDir } = await import('../integration/lib.mjs');
const { SKIP, makeGguf, startLlama, tool } = await import('../integration/real_llama.mjs');
const { waitReady, startFake, llamaEnv } = await import('../integration/proxy_fake.mjs');
try {
  execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
} catch {
  console.log('# bench_proxy_callgrind: valgrind is not installed');
  process.exit(0);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function post(url, body) {
  return new Promise((res, rej) => {
    const data = JSON.stringify(body);
    const r = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, (s) => {
      const chunks = [];
      s.on('data', (c) => chunks.push(c));
      s.on('end', () => res({ status: s.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    r.on('error', rej);
    r.end(data);
  });
}

// Instructions the gateway executed in its whole life for k requests.
async function instructions(env, url, body, k, keepAs) {
  const out = join(tmpDir(), 'callgrind.out');
  const gw = await startGateway({ env, wrap: ['valgrind', '--tool=callgrind', `--callgrind-out-file=${out}`] });
  await waitReady(gw, 120000);
  for (let i = 0; i < k; i++) {
    const r = await post(gw.baseURL + url, body);
    if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.body}`);
  }
  const { code } = await gw.stop('SIGTERM', 120000);
  if (code !== 0) throw new Error(`fk-gateway exited with ${code}`);
  const m = /^(?:summary|totals): (\d+)/m.exec(readFileSync(out, 'utf8'));
  if (!m) throw new Error(`no totals in ${out}`);
  if (KEEP) copyFileSync(out, join(KEEP, `${keepAs}-${k}`));
  return Number(m[1]);
}
const perRequest = async (env, url, body, keepAs) =>
  ((await instructions(env, url, body, K1, keepAs)) - (await instructions(env, url, body, K0, keepAs))) / (K1 - K0);

const QUIET_POLLS = { FK_LLAMA_HEALTH_READY_INTERVAL_MS: '60000' };
function scriptedEnv(harmony, promptTokens) {
  const file = join(tmpDir(), 'scripts.json');
  writeFileSync(file, JSON.stringify({ default: 'one', scripts: { one: { harmony, prompt_tokens: promptTokens } } }));
  return { FK_DRIVER: 'scripted', FK_SCRIPT_FILE: file, FK_ACCEPT_ANY_MODEL: '1', FK_LOG_LEVEL: 'warn', FK_STATS_INTERVAL_S: '0' };
}

const k = (n) => Math.round(n / 100) * 100;
function row(name, proxy, scripted) {
  console.log(`${name.padEnd(46)} ${String(k(proxy)).padStart(9)} ${String(k(scripted)).padStart(9)}  ${(proxy / scripted).toFixed(2)}x`);
}
console.log(`# bench_proxy_callgrind: instructions of fk-gateway per request ((${K1} - ${K0} requests) / ${K1 - K0})`);
console.log(`${'series'.padEnd(46)} ${'proxy'.padStart(9)} ${'scripted'.padStart(9)}  ratio`);

if (ONLY !== 'fake') {
  if (SKIP) {
    console.log(`# real: ${SKIP}`);
  } else {
    const RENDERED = '<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\nKnowledge cutoff: 2024-06\nCurrent date: 2026-11-26\n\nReasoning: medium\n\n# Valid channels: analysis, commentary, final. Channel must be included for every message.<|end|><|start|>user<|message|>Hi<|end|><|start|>assistant';
    const ids = execFileSync(tool('fk-tokenize'), ['--special', RENDERED], { encoding: 'utf8' }).trim().split(/\s+/).map(Number).slice(-7);
    const srv = await startLlama(makeGguf(join(process.env.FK_FIXTURES, 'models', 'tiny-gptoss-mxfp4')), { ctx: 4096, parallel: 1, threads: 1 });
    const body = { model: 'tiny', prompt: ids, max_tokens: 4, temperature: 0 };
    const proxy = await perRequest({ FK_CORE_KIND: 'llama', FK_CORE_API_BASE: srv.baseURL, FRONTEND_VLLM_MODEL: 'tiny', FK_LOG_LEVEL: 'warn', FK_STATS_INTERVAL_S: '0', ...QUIET_POLLS }, '/v1/completions', body, 'real-proxy');
    // What the model wrote, so that the scripted driver answers alike.
    const gw = await startGateway({ env: { FK_CORE_KIND: 'llama', FK_CORE_API_BASE: srv.baseURL, FRONTEND_VLLM_MODEL: 'tiny', FK_LOG_LEVEL: 'warn' } });
    await waitReady(gw);
    const text = JSON.parse((await post(gw.baseURL + '/v1/completions', body)).body).choices[0].text;
    await gw.stop();
    await srv.stop();
    const scripted = await perRequest(scriptedEnv(text, ids.length), '/v1/completions', body, 'real-scripted');
    row(`real llama-server, completions, ${ids.length} ids, 4 tokens`, proxy, scripted);
  }
}
if (ONLY !== 'real') {
  const fake = await startFake();
  const body = { model: 'gpt-oss-20b-mxfp4.gguf', messages: [{ role: 'user', content: 'hi' }], max_tokens: 64 };
  const proxy = await perRequest(llamaEnv(fake, { FK_LOG_LEVEL: 'warn', FK_STATS_INTERVAL_S: '0', ...QUIET_POLLS }), '/v1/chat/completions', body, 'fake-proxy');
  fake.stop();
  const harmony = '<|channel|>analysis<|message|>Thinking.<|end|><|start|>assistant<|channel|>final<|message|>Hello world!<|return|>';
  const scripted = await perRequest(scriptedEnv(harmony, 17), '/v1/chat/completions', body, 'fake-scripted');
  row('fake upstream, chat "hi", 16 tokens', proxy, scripted);
}
agent.destroy();
