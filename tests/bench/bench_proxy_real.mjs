// bench_proxy_real.mjs: what fk-gateway + the llama.cpp proxy driver add in
// front of the real llama-server. Not a test: prints numbers.
//
//   FK_TOP_BUILDDIR=build-check FK_NODE_MODULES=tests/node_modules \
//     node tests/bench/bench_proxy_real.mjs [--n 300] [--max-tokens 4]
//
// llama-server (scripts/llama-server.sh) serves the tiny MXFP4 checkpoint
// converted by fk-gguf. The same prompt ids (a rendered Harmony chat) go
//   direct:   POST /completion with the body the driver sends, read to its end
//   gateway:  POST /v1/completions with the ids as the prompt, non-streaming
// interleaved one after the other, greedy, max_tokens tokens each. Printed:
// p50/p99 of both and of the per-pair difference (the added latency), and the
// gateway process's CPU time per request (/proc/PID/task/*/schedstat: robust on a busy
// machine, unlike wall times), next to the same figure for the gateway with
// the scripted driver (no upstream at all) measured in the same run.
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchEnv } from './bench_env.mjs';

const args = process.argv.slice(2);
const opt = (k, d) => (args.includes(k) ? Number(args[args.indexOf(k) + 1]) : d);
const N = opt('--n', 300);
const MAX_TOKENS = opt('--max-tokens', 4);
benchEnv(['drivers/llamacpp-proxy/.libs', 'tests/scripted-driver/.libs']);
const { startGateway, tmpDir } = await import('../integration/lib.mjs');
const { SKIP, makeGguf, startLlama, tool } = await import('../integration/real_llama.mjs');
const { waitReady, startFake, llamaEnv } = await import('../integration/proxy_fake.mjs');
if (SKIP) { console.log(`# bench_proxy_real: ${SKIP}`); process.exit(0); }

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const now = () => Number(process.hrtime.bigint()) / 1e6;
function post(url, body) {
  return new Promise((res, rej) => {
    const data = JSON.stringify(body);
    const t0 = now();
    const r = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, (s) => {
      const chunks = [];
      s.on('data', (c) => chunks.push(c));
      s.on('end', () => res({ status: s.statusCode, ms: now() - t0, body: Buffer.concat(chunks).toString() }));
    });
    r.on('error', rej);
    r.end(data);
  });
}
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const f3 = (x) => x.toFixed(3);
// CPU time of every thread of pid in ms, from schedstat (nanoseconds).
function cpuMs(pid) {
  let ns = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
  return ns / 1e6;
}

// The ids of a rendered chat (what the gateway sends for "Hi").
const RENDERED = '<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\nKnowledge cutoff: 2024-06\nCurrent date: 2026-11-26\n\nReasoning: medium\n\n# Valid channels: analysis, commentary, final. Channel must be included for every message.<|end|><|start|>user<|message|>Hi<|end|><|start|>assistant';
const ids = execFileSync(tool('fk-tokenize'), ['--special', RENDERED], { encoding: 'utf8' }).trim().split(/\s+/).map(Number);

const srv = await startLlama(makeGguf(join(process.env.FK_FIXTURES, 'models', 'tiny-gptoss-mxfp4')), { ctx: 4096, parallel: 1, threads: 1 });
const gw = await startGateway({ env: { FK_CORE_KIND: 'llama', FK_CORE_API_BASE: srv.baseURL, FRONTEND_VLLM_MODEL: 'tiny', FK_LOG_LEVEL: 'warn', FK_STATS_INTERVAL_S: '0' } });
await waitReady(gw);
const gwBody = { model: 'tiny', prompt: ids, max_tokens: MAX_TOKENS, temperature: 0 };
// The body the driver sends upstream for that request, recorded by the
// stand-in (same driver, same ids) and replayed direct to llama-server.
const fake = await startFake();
const rec = await startGateway({ env: llamaEnv(fake, { FRONTEND_VLLM_MODEL: 'tiny', FK_LOG_LEVEL: 'warn' }) });
await waitReady(rec);
await post(rec.baseURL + '/v1/completions', gwBody);
const direct = (await fake.last('/completion')).body;
await rec.stop();
fake.stop();

for (let i = 0; i < 20; i++) { await post(srv.baseURL + '/completion', direct); await post(gw.baseURL + '/v1/completions', gwBody); }
const d = [], g = [], diff = [];
const c0 = cpuMs(gw.proc.pid);
for (let i = 0; i < N; i++) {
  const a = await post(srv.baseURL + '/completion', direct);
  const b = await post(gw.baseURL + '/v1/completions', gwBody);
  if (a.status !== 200 || b.status !== 200) throw new Error(`HTTP ${a.status} / ${b.status}: ${b.body}`);
  d.push(a.ms); g.push(b.ms); diff.push(b.ms - a.ms);
}
const gwCpu = (cpuMs(gw.proc.pid) - c0) / N;

// The scripted driver in the same run: the gateway's own cost per request.
const dir = tmpDir();
const scripts = join(dir, 'scripts.json');
writeFileSync(scripts, JSON.stringify({ default: 'instant', scripts: { instant: { harmony: '<|channel|>final<|message|>Hello there!<|return|>', prompt_tokens: ids.length } } }));
const sgw = await startGateway({ env: { FK_DRIVER: 'scripted', FK_SCRIPT_FILE: scripts, FK_ACCEPT_ANY_MODEL: '1', FK_LOG_LEVEL: 'warn', FK_STATS_INTERVAL_S: '0' } });
for (let i = 0; i < 20; i++) await post(sgw.baseURL + '/v1/completions', gwBody);
const s0 = cpuMs(sgw.proc.pid);
for (let i = 0; i < N; i++) await post(sgw.baseURL + '/v1/completions', gwBody);
const scriptedCpu = (cpuMs(sgw.proc.pid) - s0) / N;

const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`# bench_proxy_real: llama-server (tiny MXFP4 GGUF, 1 thread) <- fk-gateway + fk-driver-llamacpp`);
console.log(`# ${N} interleaved pairs, prompt ${ids.length} ids, ${MAX_TOKENS} tokens, greedy; load average ${load} (wall times under that load)`);
console.log('\n## latency (ms)                          p50      p99');
console.log(`direct /completion (stream to its end) ${f3(pct(d, 50))}  ${f3(pct(d, 99))}`);
console.log(`through the gateway (/v1/completions)  ${f3(pct(g, 50))}  ${f3(pct(g, 99))}`);
console.log(`added, per pair                        ${f3(pct(diff, 50))}  ${f3(pct(diff, 99))}`);
console.log('\n## gateway CPU per request (ms, from /proc)');
console.log(`llama proxy, real llama-server         ${f3(gwCpu)}`);
console.log(`scripted driver (no upstream)          ${f3(scriptedCpu)}`);
console.log(`ratio                                  ${(gwCpu / scriptedCpu).toFixed(2)}x`);
await sgw.stop();
await gw.stop();
await srv.stop();
agent.destroy();
