// Disconnects cancel their generation at once (streamed and whole requests),
// and a client that stops reading pauses the driver until it reads again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGateway, scriptedEnv } from './lib.mjs';

const big = 'x'.repeat(1000);
const scripts = {
  slow: { harmony: '<|channel|>final<|message|>' + 'word '.repeat(200) + '<|return|>', delay_ms: 20 },
  stall: { harmony: '<|channel|>final<|message|>partial answer', stall: true },
  silent: { harmony: '<|channel|>final<|message|>never', first_delay_ms: 60000 },
  big: { pieces: [{ text: big }], repeat: 20000 },
};

let gw, sc;
before(async () => {
  sc = scriptedEnv(scripts);
  gw = await startGateway({ env: { ...sc.env, FK_KEEPALIVE_S: '0.2' } });
});
after(async () => {
  const r = await gw.stop();
  assert.equal(r.code, 0, `gateway exit: ${r.code} ${r.signal}\n${r.stderr}`);
});

// Lines of the driver's log for one request id, polled until `want` appears.
async function waitForEvent(id, want, ms = 5000) {
  const t0 = Date.now();
  for (;;) {
    const lines = sc.readLog().filter((l) => l.split(' ')[1] === id);
    if (lines.some((l) => l.startsWith(want))) return lines;
    if (Date.now() - t0 > ms) assert.fail(`no "${want}" for ${id} in driver log:\n${lines.join('\n')}`);
    await sleep(20);
  }
}

function post(path, body, id) {
  return fetch(gw.baseURL + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': id },
    body: JSON.stringify(body),
  });
}

test('a streaming client that disconnects cancels its generation', async () => {
  const ac = new AbortController();
  const res = await fetch(gw.baseURL + '/v1/chat/completions', {
    method: 'POST', signal: ac.signal,
    headers: { 'content-type': 'application/json', 'x-request-id': 'cancel-stream' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'script:slow' }], stream: true }),
  });
  const reader = res.body.getReader();
  const first = await reader.read();
  assert.ok(first.value.length > 0);
  const t0 = Date.now();
  ac.abort();
  const lines = await waitForEvent('cancel-stream', 'done');
  assert.ok(lines.some((l) => l.startsWith('cancel ')), lines.join('\n'));
  assert.match(lines.at(-1), /^done cancel-stream slow cancelled$/);
  assert.ok(Date.now() - t0 < 3000, `cancelled within ${Date.now() - t0} ms`);
});

test('a disconnect during a stall (no output to write) still cancels', async () => {
  const ac = new AbortController();
  const res = await fetch(gw.baseURL + '/v1/chat/completions', {
    method: 'POST', signal: ac.signal,
    headers: { 'content-type': 'application/json', 'x-request-id': 'cancel-stall' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'script:stall' }], stream: true }),
  });
  await res.body.getReader().read();
  await waitForEvent('cancel-stall', 'stall');
  ac.abort();
  const lines = await waitForEvent('cancel-stall', 'done');
  assert.match(lines.at(-1), /cancelled$/);
});

test('a non-streaming client that disconnects before any output cancels too', async () => {
  const ac = new AbortController();
  const p = fetch(gw.baseURL + '/v1/chat/completions', {
    method: 'POST', signal: ac.signal,
    headers: { 'content-type': 'application/json', 'x-request-id': 'cancel-whole' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'script:silent' }] }),
  }).catch((e) => e);
  await waitForEvent('cancel-whole', 'generate');
  ac.abort();
  await p;
  const lines = await waitForEvent('cancel-whole', 'done');
  assert.match(lines.at(-1), /cancelled$/);
});

test('keep-alive comments flow while the core is silent', async () => {
  const ac = new AbortController();
  const res = await fetch(gw.baseURL + '/v1/chat/completions', {
    method: 'POST', signal: ac.signal,
    headers: { 'content-type': 'application/json', 'x-request-id': 'keepalive' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'script:silent' }], stream: true }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  const reader = res.body.getReader();
  let text = '';
  while ((text.match(/: keep-alive\n\n/g) ?? []).length < 2) text += new TextDecoder().decode((await reader.read()).value);
  assert.match(text, /^(: keep-alive\n\n)+$/);
  ac.abort();
  await waitForEvent('keepalive', 'done');
});

test('a client that stops reading pauses the driver; reading again resumes it', async () => {
  const body = JSON.stringify({ prompt: 'script:big', stream: true, max_tokens: 100000 });
  let bytes = 0;
  let done = false;
  const finished = new Promise((resolve, reject) => {
    const req = http.request(gw.baseURL + '/v1/completions', {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'slow-reader' },
    }, (res) => {
      res.pause();
      // let the gateway fill the socket, then read everything
      waitForEvent('slow-reader', 'pause', 10000).then(() => {
        res.on('data', (c) => { bytes += c.length; });
        res.on('end', () => { done = true; resolve(); });
        res.resume();
      }, reject);
    });
    req.on('error', reject);
    req.end(body);
  });
  await finished;
  assert.ok(done);
  assert.ok(bytes > 20000 * 1000, `got ${bytes} bytes`);
  const lines = await waitForEvent('slow-reader', 'done', 10000);
  assert.ok(lines.some((l) => l.startsWith('resume ')), 'resumed');
  assert.match(lines.at(-1), /^done slow-reader big stop$/);
});
