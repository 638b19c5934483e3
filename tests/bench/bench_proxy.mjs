// bench_proxy.mjs: what fk-gateway + the llama.cpp proxy driver add on top
// of the upstream. Not a test: prints numbers.
//
//   FK_TOP_BUILDDIR=/path/to/build FK_NODE_MODULES=tests/node_modules \
//     node tests/bench/bench_proxy.mjs [--n 400] [--concurrent 1000] [--seconds 5]
//
// In one run, against the fake llama-server:
//   1. added latency, non-streaming: the same generation direct to the fake's
//      /completion (the body the driver sends, replayed) and through the
//      gateway's /v1/chat/completions; p50/p99 of each and of the difference
//   2. added time to first token for streams (first data event vs first chunk)
//   3. requests/s: closed-loop load through the gateway, and the gateway's own
//      CPU time per request (from /proc), i.e. requests/s on one core
//   4. 1,000 concurrent streams through the gateway: all complete? wall time,
//      gateway RSS and CPU
//   5. the same latency and CPU figures in pass-through mode
//      (FRONTEND_USE_HARMONY=0: the body forwarded to /v1/chat/completions),
//      the closest to what a plain forwarding proxy does
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { benchEnv } from './bench_env.mjs';

const args = process.argv.slice(2);
const opt = (k, d) => (args.includes(k) ? Number(args[args.indexOf(k) + 1]) : d);
const N = opt('--n', 400);
const CONC = opt('--concurrent', 1000);
const SECONDS = opt('--seconds', 5);
benchEnv(['drivers/llamacpp-proxy/.libs']);
const { startGateway } = await import('../integration/lib.mjs');
const { startFake, llamaEnv, waitReady } = await import('../integration/proxy_fake.mjs');

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
const now = () => Number(process.hrtime.bigint()) / 1e6;

// POST json; resolves { status, ms, firstMs, body }
function post(url, body, { stream = false } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    let firstMs = null;
    const data = JSON.stringify(body);
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), authorization: 'Bearer sk-test' } }, (res) => {
      const chunks = [];
      res.on('data', (c) => {
        if (firstMs === null && (!stream || c.includes('data: '))) firstMs = now() - t0;
        chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode, ms: now() - t0, firstMs, body: Buffer.concat(chunks).toString() }));
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
const f3 = (x) => x.toFixed(3);

function procStat(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks = Number(s[11]) + Number(s[12]); // utime + stime
  const rssPages = Number(s[21]);
  return { cpuMs: (ticks * 1000) / 100, rssMiB: (rssPages * 4096) / 2 ** 20 };
}

const fake = await startFake();
const gw = await startGateway({ env: llamaEnv(fake, { FK_LOG_LEVEL: 'warn' }) });
await waitReady(gw);
const chatURL = gw.baseURL + '/v1/chat/completions';
const chatBody = { model: 'gpt-oss-20b-mxfp4.gguf', messages: [{ role: 'user', content: 'hi' }], max_tokens: 64 };

// The exact upstream request the driver makes, to replay directly.
await post(chatURL, chatBody);
const replay = (await fake.last('/completion')).body;
const directURL = fake.url + '/completion';

console.log(`# bench_proxy: fake llama-server (node) <- fk-gateway + fk-driver-llamacpp; ${N} requests per series`);
for (let i = 0; i < 50; i++) { await post(directURL, replay, { stream: true }); await post(chatURL, chatBody); } // warm-up

// 1 + 2: sequential, interleaved so drift hits both paths alike
const direct = [], viaGw = [], directFirst = [], gwFirst = [];
for (let i = 0; i < N; i++) {
  const d = await post(directURL, replay, { stream: true });
  const g = await post(chatURL, chatBody);
  if (g.status !== 200) throw new Error(`gateway answered ${g.status}: ${g.body}`);
  direct.push(d.ms);
  viaGw.push(g.ms);
  const ds = await post(directURL, replay, { stream: true });
  const gs = await post(chatURL, { ...chatBody, stream: true }, { stream: true });
  directFirst.push(ds.firstMs);
  gwFirst.push(gs.firstMs);
}
console.log('\n## non-streaming latency (ms)          p50      p99');
console.log(`direct /completion (stream read whole) ${f3(pct(direct, 50))}  ${f3(pct(direct, 99))}`);
console.log(`through the gateway (chat, whole)      ${f3(pct(viaGw, 50))}  ${f3(pct(viaGw, 99))}`);
console.log(`added                                  ${f3(pct(viaGw, 50) - pct(direct, 50))}  ${f3(pct(viaGw, 99) - pct(direct, 99))}`);
console.log('\n## time to first token, streams (ms)   p50      p99');
console.log(`direct first data event                ${f3(pct(directFirst, 50))}  ${f3(pct(directFirst, 99))}`);
console.log(`gateway first chunk                    ${f3(pct(gwFirst, 50))}  ${f3(pct(gwFirst, 99))}`);
console.log(`added                                  ${f3(pct(gwFirst, 50) - pct(directFirst, 50))}  ${f3(pct(gwFirst, 99) - pct(directFirst, 99))}`);

// 3: closed-loop throughput and the gateway's CPU per request
async function load(url, body, conc, seconds) {
  let done = 0, errors = 0;
  const end = now() + seconds * 1000;
  await Promise.all(Array.from({ length: conc }, async () => {
    while (now() < end) {
      const r = await post(url, body, { stream: !!body.stream || url === directURL });
      if (r.status === 200) done++; else errors++;
    }
  }));
  return { done, errors, rps: done / seconds };
}
const directLoad = await load(directURL, replay, 16, SECONDS);
const s0 = procStat(gw.proc.pid);
const gwLoad = await load(chatURL, chatBody, 16, SECONDS);
const s1 = procStat(gw.proc.pid);
const cpuPerReq = (s1.cpuMs - s0.cpuMs) / gwLoad.done;
console.log('\n## throughput, 16 clients, non-streaming');
console.log(`direct to the fake                     ${directLoad.rps.toFixed(0)} req/s (${directLoad.errors} errors)`);
console.log(`through the gateway                    ${gwLoad.rps.toFixed(0)} req/s (${gwLoad.errors} errors)`);
console.log(`gateway CPU per request                ${f3(cpuPerReq)} ms  => ${(1000 / cpuPerReq).toFixed(0)} req/s per core (gateway+driver side only)`);

// 4: 1,000 concurrent streams (each drips 15 tokens 20 ms apart)
await fake.fault({ fault: 'drip', delay_ms: 20 }, CONC);
const c0 = procStat(gw.proc.pid);
const t0 = now();
const results = await Promise.all(Array.from({ length: CONC }, () => post(chatURL, { ...chatBody, stream: true }, { stream: true }).catch((e) => ({ status: 0, body: String(e) }))));
const wall = now() - t0;
const c1 = procStat(gw.proc.pid);
const ok = results.filter((r) => r.status === 200 && r.body.includes('data: [DONE]') && r.body.includes('"finish_reason":"stop"')).length;
const firsts = results.filter((r) => r.firstMs != null).map((r) => r.firstMs);
console.log(`\n## ${CONC} concurrent streams through the gateway (upstream drips 15 tokens, 20 ms apart)`);
console.log(`completed cleanly                      ${ok}/${CONC}`);
console.log(`wall time                              ${wall.toFixed(0)} ms (one stream alone: ~${15 * 20} ms)`);
console.log(`first chunk p50/p99                    ${f3(pct(firsts, 50))} / ${f3(pct(firsts, 99))} ms`);
console.log(`gateway CPU / RSS                      ${(c1.cpuMs - c0.cpuMs).toFixed(0)} ms / ${c1.rssMiB.toFixed(1)} MiB`);
const log = await fake.log();
console.log(`upstream connections opened in total   ${log.connections}`);

// 5: pass-through mode, direct /v1/chat/completions (streamed) vs the gateway
const gwPt = await startGateway({ env: llamaEnv(fake, { FK_LOG_LEVEL: 'warn', FRONTEND_USE_HARMONY: '0' }) });
await waitReady(gwPt);
const ptURL = gwPt.baseURL + '/v1/chat/completions';
const upChat = fake.url + '/v1/chat/completions';
const upBody = { ...chatBody, stream: true };
for (let i = 0; i < 50; i++) { await post(upChat, upBody, { stream: true }); await post(ptURL, chatBody); }
const ptDirect = [], ptGw = [];
for (let i = 0; i < N; i++) {
  ptDirect.push((await post(upChat, upBody, { stream: true })).ms);
  const g = await post(ptURL, chatBody);
  if (g.status !== 200) throw new Error(`pass-through gateway answered ${g.status}: ${g.body}`);
  ptGw.push(g.ms);
}
const p0 = procStat(gwPt.proc.pid);
const ptLoad = await load(ptURL, chatBody, 16, SECONDS);
const p1 = procStat(gwPt.proc.pid);
console.log('\n## pass-through mode, non-streaming (ms)  p50      p99');
console.log(`direct /v1/chat/completions (stream)   ${f3(pct(ptDirect, 50))}  ${f3(pct(ptDirect, 99))}`);
console.log(`through the gateway (chat, whole)      ${f3(pct(ptGw, 50))}  ${f3(pct(ptGw, 99))}`);
console.log(`added                                  ${f3(pct(ptGw, 50) - pct(ptDirect, 50))}  ${f3(pct(ptGw, 99) - pct(ptDirect, 99))}`);
console.log(`gateway CPU per request                ${f3((p1.cpuMs - p0.cpuMs) / ptLoad.done)} ms  => ${(1000 / ((p1.cpuMs - p0.cpuMs) / ptLoad.done)).toFixed(0)} req/s per core (${ptLoad.rps.toFixed(0)} req/s measured, 16 clients)`);

await gwPt.stop();
await gw.stop();
fake.stop();
agent.destroy();
