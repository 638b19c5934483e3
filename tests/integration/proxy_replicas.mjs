// The llama core with several replicas (FK_CORE_API_BASE=URL,URL,URL),
// through fk-gateway and the openai client: load spreads over the replicas;
// a conversation's turns stay on one replica; a replica that fails before any
// output is retried on another, one that fails after it is reported and not
// retried; a replica killed mid-stream ends its streams with clean errors,
// is avoided within one health period, and rejoins once restarted. First
// against three stand-ins (fake-llama-server.mjs), then against three real
// llama-servers (scripts/llama-server.sh) serving the tiny model (skipped,
// saying why, when it is not built).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGateway, openaiClient, OpenAI } from './lib.mjs';
import { startFake, waitReady } from './proxy_fake.mjs';
import { SKIP, makeGguf, startLlama } from './real_llama.mjs';

const MODEL = 'gpt-oss-20b-mxfp4.gguf';
const HEALTH_READY_MS = 300; // FK_LLAMA_HEALTH_READY_INTERVAL_MS: "one health period" below
const user = (text) => [{ role: 'user', content: text }];
const drip = (ms) => `[[fake {"fault":"drip","delay_ms":${ms}}]]`;

async function gatewayFor(urls, extra = {}) {
  const gw = await startGateway({
    env: {
      FK_CORE_KIND: 'llama', FK_CORE_API_BASE: urls.join(','), FRONTEND_VLLM_MODEL: MODEL,
      FK_LLAMA_HEALTH_INTERVAL_MS: '100', FK_LLAMA_HEALTH_READY_INTERVAL_MS: String(HEALTH_READY_MS), ...extra,
    },
  });
  await waitReady(gw);
  return gw;
}

const health = async (gw) => (await fetch(gw.baseURL + '/health')).json();
const completions = async (fake) => (await fake.log()).requests.filter((r) => r.path === '/completion');

// Every replica ready (the core is ready as soon as one is).
async function allReady(gw, ms = 10000) {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) {
    const reps = (await health(gw)).cores[0].replicas;
    if (reps.every((r) => r.status === 'ok' && r.slots !== undefined)) return reps;
  }
  throw new Error(`not every replica became ready: ${JSON.stringify((await health(gw)).cores[0].replicas)}`);
}

async function streamText(stream) {
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
  return text;
}

test('stand-ins: load spreads; a conversation stays on its replica; /health and /metrics show each', async () => {
  const fakes = await Promise.all([startFake(), startFake(), startFake()]);
  const gw = await gatewayFor(fakes.map((f) => f.url));
  try {
    const reps = await allReady(gw);
    assert.deepEqual(reps.map((r) => [r.url, r.slots, r.slots_idle]), fakes.map((f) => [f.url, 4, 4]), '/slots read');
    const client = openaiClient(gw);
    // 30 slow streams at once, each a different prompt: 10 per replica.
    await Promise.all(Array.from({ length: 30 }, (_, i) =>
      client.chat.completions.create({ model: MODEL, messages: user(`request ${i} ${drip(30)}`), stream: true }).then(streamText)));
    const counts = await Promise.all(fakes.map(async (f) => (await completions(f)).length));
    assert.deepEqual(counts, [10, 10, 10], `30 concurrent requests spread evenly: ${counts}`);
    const m = await (await fetch(gw.baseURL + '/metrics')).text();
    for (const f of fakes) {
      assert.match(m, new RegExp(`^fk_replica_requests_total\\{core="default",model_name="${MODEL}",replica="${f.url}"\\} 10$`, 'm'));
      assert.match(m, new RegExp(`^fk_replica_up\\{core="default",model_name="${MODEL}",replica="${f.url}"\\} 1$`, 'm'));
    }
    await Promise.all(fakes.map((f) => f.reset()));

    // Five conversations of three turns, interleaved (plain round-robin would
    // move them: 5 is no multiple of 3): each stays where it began.
    const convs = Array.from({ length: 5 }, (_, c) => user(`conversation ${c}: tell me about the number ${c}`));
    const where = Array.from({ length: 5 }, () => []);
    for (let turn = 0; turn < 3; turn++) {
      for (let c = 0; c < 5; c++) {
        const before = await Promise.all(fakes.map(async (f) => (await completions(f)).length));
        const r = await client.chat.completions.create({ model: MODEL, messages: convs[c] });
        const after = await Promise.all(fakes.map(async (f) => (await completions(f)).length));
        where[c].push(after.findIndex((n, i) => n > before[i]));
        convs[c] = [...convs[c], { role: 'assistant', content: r.choices[0].message.content }, { role: 'user', content: `and turn ${turn + 2}?` }];
      }
    }
    for (const [c, w] of where.entries()) assert.ok(w.every((x) => x === w[0] && x >= 0), `conversation ${c} stayed on one replica: ${w}`);
    assert.ok(new Set(where.map((w) => w[0])).size >= 2, `the conversations spread: ${where.map((w) => w[0])}`);
    const m2 = await (await fetch(gw.baseURL + '/metrics')).text();
    const sticky = [...m2.matchAll(/^fk_replica_sticky_total\{[^}]*\} (\d+)$/gm)].reduce((s, x) => s + Number(x[1]), 0);
    assert.equal(sticky, 10, 'turns 2 and 3 of each conversation went by their prefix');
  } finally {
    const r = await gw.stop();
    fakes.forEach((f) => f.stop());
    assert.equal(r.code, 0, r.stderr);
  }
});

test('stand-ins: a failure before any output is retried on another replica; after output it is reported, once', async () => {
  // Every replica answers 503 (loading) once: each is tried once, the last
  // failure sends the request back to the gateway, which waits for the core
  // to be ready and submits it again; the client sees only the answer.
  const fakes = await Promise.all([startFake(), startFake(), startFake()]);
  const gw = await gatewayFor(fakes.map((f) => f.url));
  try {
    await allReady(gw);
    const client = openaiClient(gw);
    await Promise.all(fakes.map((f) => f.fault({ fault: 'status', status: 503, message: 'Loading model', type: 'unavailable_error' }, 1)));
    const r = await client.chat.completions.create({ model: MODEL, messages: user('Hello') });
    assert.equal(r.choices[0].message.content, 'Hello world!', 'the client got an answer');
    const tries = await Promise.all(fakes.map(async (f) => (await completions(f)).length));
    assert.ok(tries.every((n) => n >= 1), `each replica was tried: ${tries}`);
    assert.equal(tries.reduce((a, b) => a + b, 0), 4, `three failed tries and the one that answered: ${tries}`);
    const m = await (await fetch(gw.baseURL + '/metrics')).text();
    const retries = [...m.matchAll(/^fk_replica_retries_total\{[^}]*\} (\d+)$/gm)].map((x) => Number(x[1]));
    assert.equal(retries.reduce((a, b) => a + b, 0), 2, 'two replicas handed it on to another');
    const failures = [...m.matchAll(/^fk_replica_failures_total\{[^}]*\} (\d+)$/gm)].map((x) => Number(x[1]));
    assert.deepEqual(failures, [1, 1, 1], 'each counts its failure');
    await gw.waitForLog(/failed before any output; retried on http/);
    await allReady(gw);
    await Promise.all(fakes.map((f) => f.reset()));

    await Promise.all(fakes.map((f) => f.fault({ fault: 'drop', after: 3 }, 1)));
    let text = '', err = null;
    try {
      text = await streamText(await client.chat.completions.create({ model: MODEL, messages: user('Hello'), stream: true }));
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof OpenAI.APIError, `the stream ended with an error: ${err}`);
    const n = await Promise.all(fakes.map(async (f) => (await completions(f)).length));
    assert.equal(n.reduce((a, b) => a + b, 0), 1, `not retried after output: ${n} (${JSON.stringify(text)})`);
  } finally {
    const r = await gw.stop();
    fakes.forEach((f) => f.stop());
    assert.equal(r.code, 0, r.stderr);
  }
});

test('stand-ins: a replica killed mid-stream: clean errors, avoided within one health period, rejoins when restarted', async () => {
  const fakes = await Promise.all([startFake(), startFake(), startFake()]);
  const gw = await gatewayFor(fakes.map((f) => f.url));
  try {
    await allReady(gw);
    const client = openaiClient(gw);
    const streams = await Promise.all(Array.from({ length: 9 }, (_, i) =>
      client.chat.completions.create({ model: MODEL, messages: user(`long ${i} ${drip(150)}`), stream: true })));
    const results = streams.map(async (s) => {
      let text = '';
      try {
        for await (const c of s) text += c.choices[0]?.delta?.content ?? '';
        return { text };
      } catch (e) {
        return { text, err: e };
      }
    });
    await sleep(200);
    const victim = fakes[1];
    const onVictim = (await completions(victim)).length;
    victim.proc.kill('SIGKILL');
    const t0 = Date.now();
    let seen = null;
    for (; Date.now() - t0 < 2 * HEALTH_READY_MS; await sleep(20)) {
      const rep = (await health(gw)).cores[0].replicas[1];
      if (rep.status === 'unavailable') { seen = Date.now() - t0; break; }
    }
    assert.ok(seen !== null && seen <= HEALTH_READY_MS, `the killed replica is marked down within one health period (${seen} ms)`);
    const quick = await Promise.all(Array.from({ length: 12 }, (_, i) => client.chat.completions.create({ model: MODEL, messages: user(`after ${i}`) })));
    assert.equal(quick.length, 12, 'every request after the kill succeeds');
    const done = await Promise.all(results);
    const failed = done.filter((d) => d.err);
    assert.equal(failed.length, onVictim, `the streams on the killed replica (${onVictim}) failed, the rest finished`);
    for (const d of failed) {
      assert.ok(d.err instanceof OpenAI.APIError, String(d.err));
      assert.match(String(d.err.message), /upstream_error|connection to llama-server|ended the stream/, String(d.err.message));
    }
    for (const d of done.filter((x) => !x.err)) assert.equal(d.text, 'Hello world!');
    assert.equal((await health(gw)).status, 'ok', 'the core stays ready');

    const back = await startFake(['--port', String(victim.port)]);
    fakes[1] = back;
    await allReady(gw, 5000);
    await Promise.all(Array.from({ length: 9 }, (_, i) =>
      client.chat.completions.create({ model: MODEL, messages: user(`again ${i} ${drip(20)}`), stream: true }).then(streamText)));
    assert.equal((await completions(back)).length, 3, 'the restarted replica takes its share again');
  } finally {
    const r = await gw.stop();
    fakes.forEach((f) => f.stop());
    assert.equal(r.code, 0, r.stderr);
  }
});

test('real llama-servers: spread, a conversation stays, kill -9 and restart', { skip: SKIP }, async () => {
  const gguf = makeGguf(join(process.env.FK_FIXTURES, 'models', 'tiny-gptoss-mxfp4'));
  const servers = await Promise.all([0, 1, 2].map(() => startLlama(gguf, { ctx: 4096, parallel: 2, threads: 1, args: ['--no-warmup'] })));
  const gw = await gatewayFor(servers.map((s) => s.baseURL), { FRONTEND_VLLM_MODEL: 'tiny-gptoss' });
  const predicted = async (s) => {
    const text = await (await fetch(s.baseURL + '/metrics')).text();
    return Number(/^llamacpp:tokens_predicted_total (\S+)$/m.exec(text)?.[1] ?? NaN);
  };
  const counts = () => Promise.all(servers.map(predicted));
  try {
    const reps = await allReady(gw, 30000);
    assert.deepEqual(reps.map((r) => r.slots), [2, 2, 2], 'each llama-server\'s /slots: 2 slots');
    const client = openaiClient(gw, { timeout: 60000 });
    const c0 = await counts();
    await Promise.all(Array.from({ length: 6 }, (_, i) =>
      client.chat.completions.create({ model: 'tiny-gptoss', messages: user(`Story number ${i}.`), max_tokens: 32, temperature: 1, seed: i })));
    const c1 = await counts();
    assert.ok(c1.every((n, i) => n > c0[i]), `every llama-server generated: ${c0} -> ${c1}`);

    let messages = user('Tell me about rivers.');
    const served = [];
    for (let turn = 0; turn < 3; turn++) {
      const before = await counts();
      const r = await client.chat.completions.create({ model: 'tiny-gptoss', messages, max_tokens: 16, temperature: 0 });
      const after = await counts();
      served.push(after.findIndex((n, i) => n > before[i]));
      messages = [...messages, { role: 'assistant', content: r.choices[0].message.content ?? '' }, { role: 'user', content: 'Go on.' }];
    }
    assert.ok(served.every((s) => s === served[0] && s >= 0), `the conversation stayed on one llama-server: ${served}`);

    // Six long streams, two per llama-server; once each has output, one
    // llama-server is killed. Its streams must fail cleanly; the others must
    // go on (a few more chunks each, then they are cancelled: their length is
    // not the point).
    const live = Array.from({ length: 6 }, (_, i) => {
      const ac = new AbortController();
      const st = { n: 0, err: null, ended: false, ac };
      st.done = client.chat.completions.create({ model: 'tiny-gptoss', messages: user(`Go on and on ${i}.`), max_tokens: 3000, temperature: 1, seed: 10 + i, stream: true }, { signal: ac.signal })
        .then(async (s) => { for await (const c of s) if (c.choices[0]?.delta) st.n++; })
        .catch((e) => { st.err = e; })
        .finally(() => { st.ended = true; });
      return st;
    });
    const until = async (pred, ms, what) => {
      for (const end = Date.now() + ms; !pred(); await sleep(20)) if (Date.now() > end) throw new Error(`timed out: ${what}`);
    };
    await until(() => live.every((st) => st.n > 0 || st.ended), 30000, 'every stream has output');
    const busy = (await (await fetch(servers[2].baseURL + '/slots')).json()).filter((x) => x.is_processing).length;
    await servers[2].kill9();
    const atKill = live.map((st) => st.n);
    const t0 = Date.now();
    let seen = null;
    for (; Date.now() - t0 < 2 * HEALTH_READY_MS; await sleep(20)) {
      if ((await health(gw)).cores[0].replicas[2].status === 'unavailable') { seen = Date.now() - t0; break; }
    }
    assert.ok(seen !== null && seen <= HEALTH_READY_MS, `marked down within one health period (${seen} ms)`);
    const after = await Promise.all(Array.from({ length: 4 }, (_, i) =>
      client.chat.completions.create({ model: 'tiny-gptoss', messages: user(`Short ${i}`), max_tokens: 4 })));
    assert.equal(after.length, 4, 'requests after the kill succeed on the others');
    await until(() => live.every((st, i) => st.ended || st.n >= atKill[i] + 5), 30000, 'the other streams go on');
    const failed = live.filter((st) => st.err);
    live.forEach((st) => st.ac.abort());
    await Promise.all(live.map((st) => st.done));
    assert.ok(busy >= 1, 'the killed llama-server was generating');
    assert.equal(failed.length, busy, `the streams on the killed llama-server (${busy}) failed, no others`);
    for (const st of failed) assert.ok(st.err instanceof OpenAI.APIError, String(st.err));

    await servers[2].restart();
    await allReady(gw, 30000);
    const p0 = await predicted(servers[2]);
    await Promise.all(Array.from({ length: 6 }, (_, i) =>
      client.chat.completions.create({ model: 'tiny-gptoss', messages: user(`Again ${i}.`), max_tokens: 16, temperature: 1, seed: 20 + i })));
    assert.ok((await predicted(servers[2])) > p0, 'the restarted llama-server takes requests again');
  } finally {
    const r = await gw.stop();
    await Promise.all(servers.map((s) => s.stop()));
    assert.equal(r.code, 0, r.stderr);
  }
});
