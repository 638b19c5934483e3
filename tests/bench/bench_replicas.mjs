// bench_replicas.mjs: requests per second and added latency with 1, 2 and 3
// stand-in llama-servers (replicas) behind one fk-gateway. Not a test:
// prints numbers.
//
//   FK_TOP_BUILDDIR=/path/to/build FK_NODE_MODULES=tests/node_modules \
//     node tests/bench/bench_replicas.mjs [--clients 24] [--seconds 5] [--token-ms 10] [--n 200]
//
// Each stand-in (fake-llama-server.mjs --parallel 4) runs at most 4
// generations at once and queues the rest, as llama-server does, and streams
// 15 tokens --token-ms apart, so one replica serves about 4 / (14 x token-ms)
// requests per second whatever the CPU. For N = 1, 2, 3 replicas, in one
// run: closed-loop load from --clients clients for --seconds, non-streaming
// chats with distinct prompts,
//   direct   the body the driver sends, replayed by the load generator to the
//            N stand-ins' /completion round-robin (a perfect client-side
//            balancer that costs nothing: the ceiling)
//   gateway  through fk-gateway's /v1/chat/completions, FK_CORE_API_BASE
//            listing the N stand-ins
// and prints requests/s of each and their ratio, p50/p99 latency of each and
// the difference (queueing included), and how the gateway spread the
// requests. Then, unloaded: --n requests one at a time, direct and through
// the gateway interleaved, without the token delay: the latency the gateway
// adds (rendering, tokenizing, choosing a replica, parsing the stream).
import http from 'node:http';
import { benchEnv } from './bench_env.mjs';

const args = process.argv.slice(2);
const opt = (k, d) => (args.includes(k) ? Number(args[args.indexOf(k) + 1]) : d);
const CLIENTS = opt('--clients', 24);
const SECONDS = opt('--seconds', 5);
const TOKEN_MS = opt('--token-ms', 10);
const N = opt('--n', 200);
benchEnv(['drivers/llamacpp-proxy/.libs']);
const { startGateway } = await import('../integration/lib.mjs');
const { startFake, llamaEnv, waitReady } = await import('../integration/proxy_fake.mjs');

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
const now = () => Number(process.hrtime.bigint()) / 1e6;

// POST json, read the whole answer; resolves { status, ms, body }
function post(url, body) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const data = JSON.stringify(body);
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, ms: now() - t0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const f1 = (x) => x.toFixed(1);

// CLIENTS clients, each sending request(i) back to back for SECONDS.
async function load(request) {
  const ms = [];
  let errors = 0, n = 0;
  const end = now() + SECONDS * 1000;
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (now() < end) {
      const r = await request(n++);
      if (r.status === 200) ms.push(r.ms); else errors++;
    }
  }));
  return { rps: ms.length / SECONDS, p50: pct(ms, 50), p99: pct(ms, 99), errors };
}

const script = `[[fake {"fault":"drip","delay_ms":${TOKEN_MS}}]]`;
const chat = (i, drip = true) => ({ model: 'gpt-oss-20b-mxfp4.gguf', messages: [{ role: 'user', content: `request ${i} ${drip ? script : ''}` }], max_tokens: 64 });

// The exact upstream request the driver makes for `body`, to replay directly.
async function upstreamBody(chatURL, used, body) {
  await post(chatURL, body);
  const last = await Promise.all(used.map((f) => f.last('/completion')));
  return last.filter(Boolean).sort((a, b) => b.t - a.t)[0].body;
}

// One request at a time, direct and through the gateway interleaved.
async function unloaded(chatURL, used, replay) {
  const d = [], g = [];
  for (let i = 0; i < N; i++) {
    d.push((await post(used[i % used.length].url + '/completion', replay)).ms);
    g.push((await post(chatURL, chat(i, false))).ms);
  }
  return { d, g };
}
const quiet = [];
const fakes = await Promise.all([0, 1, 2].map(() => startFake(['--parallel', '4'])));
console.log(`# bench_replicas: ${CLIENTS} clients, ${SECONDS} s per series; each stand-in: 4 slots, 15 tokens ${TOKEN_MS} ms apart`);
console.log(`# (one replica's ceiling: about ${f1(4000 / (14 * TOKEN_MS))} req/s)`);
console.log('\nreplicas  direct req/s  gateway req/s  ratio   direct p50/p99 ms   gateway p50/p99 ms   added p50/p99 ms   spread');
for (const n of [1, 2, 3]) {
  const used = fakes.slice(0, n);
  const gw = await startGateway({
    env: llamaEnv(fakes[0], { FK_CORE_API_BASE: used.map((f) => f.url).join(','), FK_LOG_LEVEL: 'warn', FK_LLAMA_HEALTH_READY_INTERVAL_MS: '1000' }),
  });
  await waitReady(gw);
  const chatURL = gw.baseURL + '/v1/chat/completions';
  const replay = await upstreamBody(chatURL, used, chat(-1));
  const replayQuiet = await upstreamBody(chatURL, used, chat(-2, false));
  quiet.push(await unloaded(chatURL, used, replayQuiet));
  for (const f of fakes) await f.reset();
  const direct = await load((i) => post(used[i % n].url + '/completion', replay));
  for (const f of fakes) await f.reset();
  const viaGw = await load((i) => post(chatURL, chat(i)));
  const spread = await Promise.all(used.map(async (f) => (await f.log()).requests.filter((r) => r.path === '/completion').length));
  console.log(`${String(n).padEnd(9)} ${f1(direct.rps).padStart(12)}  ${f1(viaGw.rps).padStart(13)}  ${(viaGw.rps / direct.rps).toFixed(2).padStart(5)}   ` +
    `${`${f1(direct.p50)}/${f1(direct.p99)}`.padStart(17)}   ${`${f1(viaGw.p50)}/${f1(viaGw.p99)}`.padStart(18)}   ` +
    `${`${f1(viaGw.p50 - direct.p50)}/${f1(viaGw.p99 - direct.p99)}`.padStart(16)}   ${spread.join('/')}` +
    (direct.errors + viaGw.errors ? `  (${direct.errors}/${viaGw.errors} errors)` : ''));
  await gw.stop();
}
console.log(`\nunloaded, one request at a time (${N} each), 15 tokens without delay`);
console.log('replicas  direct p50/p99 ms   gateway p50/p99 ms   added p50/p99 ms');
for (const [i, { d, g }] of quiet.entries()) {
  console.log(`${String(i + 1).padEnd(9)} ${`${pct(d, 50).toFixed(2)}/${pct(d, 99).toFixed(2)}`.padStart(17)}   ` +
    `${`${pct(g, 50).toFixed(2)}/${pct(g, 99).toFixed(2)}`.padStart(18)}   ${`${(pct(g, 50) - pct(d, 50)).toFixed(2)}/${(pct(g, 99) - pct(d, 99)).toFixed(2)}`.padStart(16)}`);
}
fakes.forEach((f) => f.stop());
agent.destroy();
