// Faults between fk-gateway's llama.cpp driver (Harmony mode) and the fake
// llama-server, seen through the official openai client: every one ends with
// a clean error (HTTP status for whole answers, an error event for streams,
// what was streamed before it kept) and never a hang. Also the upstream
// loading and down.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, OpenAI } from './lib.mjs';
import { startFake, llamaEnv, waitReady, startProxied, stopProxied } from './proxy_fake.mjs';

const MODEL = 'gpt-oss-20b-mxfp4.gguf';
const user = (text) => [{ role: 'user', content: text }];

let fake, gw, client;
before(async () => ({ fake, gw, client } = await startProxied({ FK_LLAMA_IDLE_TIMEOUT_S: '1', FK_LLAMA_FIRST_BYTE_TIMEOUT_S: '1' }, { timeout: 15000 })));
after(() => stopProxied({ fake, gw }));

// [script, HTTP status for a whole answer, code, pieces before the fault?]
const FAULTS = [
  [{ fault: 'drop', after: 4 }, 502, 'upstream_error', true],
  [{ fault: 'malformed', after: 4 }, 502, 'upstream_error', true],
  [{ fault: 'error_before' }, 502, 'upstream_error', false],
  [{ fault: 'error_after', after: 5 }, 502, 'upstream_error', true],
  [{ fault: 'stall', after: 4 }, 504, 'upstream_timeout', true],
  [{ fault: 'slow_start', delay_ms: 2500 }, 504, 'upstream_timeout', false],
];

for (const [script, status, code, partial] of FAULTS) {
  test(`${script.fault}: whole answer is HTTP ${status} ${code}`, async () => {
    await fake.fault(script);
    const t0 = Date.now();
    await assert.rejects(client.chat.completions.create({ model: MODEL, messages: user('x') }), (e) => {
      assert.ok(e instanceof OpenAI.APIError, String(e));
      assert.equal(e.status, status, e.message);
      assert.equal(e.code, code);
      return true;
    });
    assert.ok(Date.now() - t0 < 8000, 'no hang');
  });

  test(`${script.fault}: a stream ends with an error event after what it streamed`, async () => {
    await fake.fault(script);
    let reasoning = '';
    let err = null;
    try {
      const stream = await client.chat.completions.create({ model: MODEL, messages: user('x'), stream: true });
      for await (const c of stream) reasoning += c.choices[0]?.delta?.reasoning_content ?? '';
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof OpenAI.APIError, `the stream failed visibly: ${err}`);
    if (partial) assert.ok(reasoning.length > 0, 'what was streamed before the fault stays');
  });
}

// llama-server's own output parser failing after output: the driver asks it
// not to parse (a real llama-server 0.4.0 then never fails there, see
// llama_real.mjs); one that still does ends the answer with what it generated.
const PARSER_FAILURE = { fault: 'error_after', after: 5, message: 'The model produced output that does not match the expected Content-only format' };

test('llama-server output parser failure: the whole answer is what was generated, finish length', async () => {
  await fake.fault(PARSER_FAILURE);
  const r = await client.chat.completions.create({ model: MODEL, messages: user('x') });
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.choices[0].message.reasoning_content, 'Thinking', 'the five tokens before it: <|channel|> analysis <|message|> Think ing');
  assert.match(gw.stderr(), /output parser rejected the output after 5 tokens/);
});

test('llama-server output parser failure: the stream ends normally with finish length', async () => {
  await fake.fault(PARSER_FAILURE);
  const stream = await client.chat.completions.create({ model: MODEL, messages: user('x'), stream: true });
  let reasoning = '', finish = null;
  for await (const c of stream) {
    reasoning += c.choices[0]?.delta?.reasoning_content ?? '';
    finish = c.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(reasoning, 'Thinking');
  assert.equal(finish, 'length');
});

test('the upstream still serves after all the faults', async () => {
  const r = await client.chat.completions.create({ model: MODEL, messages: user('hi') });
  assert.equal(r.choices[0].message.content, 'Hello world!');
});

test('loading upstream: /health says so, and a request made meanwhile waits for the load', async () => {
  await fake.health({ loading_ms: 1500 });
  await new Promise((r) => setTimeout(r, 500));
  const h = await fetch(gw.baseURL + '/health');
  assert.equal(h.status, 503);
  assert.equal((await h.json()).status, 'loading');
  const res = await fetch(gw.baseURL + '/v1/chat/completions', {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
    body: JSON.stringify({ model: MODEL, messages: user('hi') }),
  });
  assert.equal(res.status, 200, 'the request waits for the upstream to finish loading');
  assert.equal((await res.json()).choices[0].message.content, 'Hello world!');
  await waitReady(gw, 10000);
  const r = await client.chat.completions.create({ model: MODEL, messages: user('hi') });
  assert.equal(r.choices[0].message.content, 'Hello world!');
});

test('upstream down: requests fail with 503 at once (no waiting), with Retry-After and a hint', async () => {
  const gw2 = await startGateway({ env: llamaEnv({ url: 'http://127.0.0.1:9' }) });
  try {
    await new Promise((r) => setTimeout(r, 400));
    const h = await fetch(gw2.baseURL + '/health');
    assert.equal(h.status, 503);
    const hb = await h.json();
    assert.equal(hb.status, 'unavailable');
    assert.match(hb.detail, /http:\/\/127\.0\.0\.1:9 \(connection refused\): start llama-server there, or set FK_CORE_API_BASE/);
    const t0 = Date.now();
    const res = await fetch(gw2.baseURL + '/v1/chat/completions', {
      method: 'POST', headers: { authorization: 'Bearer sk-test' }, body: JSON.stringify({ model: MODEL, messages: user('hi') }),
    });
    const ms = Date.now() - t0;
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '5');
    const e = (await res.json()).error;
    assert.equal(e.code, 'core_unavailable');
    assert.match(e.message, /connection refused.*FK_CORE_API_BASE/);
    assert.ok(ms < 2000, `answered in ${ms} ms, not after FK_WAIT_READY_S (60 s)`);
  } finally {
    const r = await gw2.stop();
    assert.equal(r.code, 0, r.stderr);
  }
});

test('an upstream that answers 503 (loading) before any output: the request waits and then succeeds', async () => {
  await waitReady(gw, 10000);
  await fake.fault({ fault: 'status', status: 503, code: 503, type: 'unavailable_error', message: 'Loading model' });
  const r = await client.chat.completions.create({ model: MODEL, messages: user('hi') });
  assert.equal(r.choices[0].message.content, 'Hello world!');
  const log = await fake.log();
  assert.ok(log.requests.filter((q) => q.path === '/completion').length >= 2, 'sent again after the 503');
});

test('a stopped upstream (SIGSTOP) fails a waiting request within seconds and /health says so; a killed one shows within about a second', async () => {
  const f = await startFake();
  // The default poll periods and first-byte timeout (600 s), as shipped.
  const g = await startGateway({ env: llamaEnv(f, { FK_LLAMA_HEALTH_INTERVAL_MS: '', FK_LLAMA_HEALTH_READY_INTERVAL_MS: '' }) });
  try {
    await waitReady(g);
    f.proc.kill('SIGSTOP');
    const t0 = Date.now();
    const res = await fetch(g.baseURL + '/v1/chat/completions', {
      method: 'POST', body: JSON.stringify({ model: MODEL, messages: user('hi') }), signal: AbortSignal.timeout(60000),
    });
    const ms = Date.now() - t0;
    const e = (await res.json()).error;
    assert.equal(res.status, 504, JSON.stringify(e));
    assert.equal(e.code, 'upstream_timeout');
    assert.match(e.message, /stopped answering/);
    assert.ok(ms < 20000, `failed after ${ms} ms, not after FK_LLAMA_FIRST_BYTE_TIMEOUT_S (600 s)`);
    const h = await fetch(g.baseURL + '/health');
    assert.equal(h.status, 503, 'the gateway says the core is unavailable');
    f.proc.kill('SIGCONT');
    await waitReady(g, 15000);
    f.proc.kill('SIGKILL');
    const t1 = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - t1 < 10000) {
      status = (await fetch(g.baseURL + '/health')).status;
      if (status === 200) await new Promise((r) => setTimeout(r, 50));
    }
    const shown = Date.now() - t1;
    assert.equal(status, 503);
    assert.ok(shown < 2500, `/health said ok for ${shown} ms after the upstream died`);
  } finally {
    f.proc.kill('SIGCONT');
    f.stop();
    const r = await g.stop();
    assert.equal(r.code, 0, r.stderr);
  }
});
