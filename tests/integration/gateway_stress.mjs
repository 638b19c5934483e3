// Many requests at once (whole, streamed, cancelled mid-stream, cancelled
// before output, refused, malformed, raw completions), then SIGTERM: every
// generation ends exactly once, the gauges return to zero, and the gateway
// exits 0 (under the ASan build that also means LeakSanitizer found nothing).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGateway, scriptedEnv } from './lib.mjs';

const scripts = {
  hello: { harmony: '<|channel|>analysis<|message|>Short thought.<|end|><|start|>assistant<|channel|>final<|message|>Hello there, friend.<|return|>' },
  slow: { harmony: '<|channel|>final<|message|>' + 'word '.repeat(100) + '<|return|>', delay_ms: 5 },
  silent: { harmony: '<|channel|>final<|message|>late', first_delay_ms: 30000 },
  fail: { harmony: '<|channel|>final<|message|>Par', error: { status: 502, code: 'upstream_error', message: 'gone' } },
  refuse: { harmony: 'x', refuse: { status: 429, type: 'rate_limit_error', code: 'too_many', message: 'busy', retry_after_s: 2 } },
};

let gw, sc;
before(async () => {
  sc = scriptedEnv(scripts);
  gw = await startGateway({ env: { ...sc.env, FK_KEEPALIVE_S: '0.05', FK_STATS_INTERVAL_S: '0.2' } });
});
after(async () => {
  const r = await gw.stop();
  assert.equal(r.code, 0, `gateway exit: ${r.code} ${r.signal}\n${r.stderr.slice(-4000)}`);
});

const url = (p) => gw.baseURL + p;
const chatBody = (script, extra = {}) => JSON.stringify({ messages: [{ role: 'user', content: `script:${script}` }], ...extra });

async function one(i) {
  const kind = i % 10;
  const headers = { 'content-type': 'application/json', 'x-request-id': `s-${i}` };
  if (kind === 0 || kind === 1) {
    const r = await fetch(url('/v1/chat/completions'), { method: 'POST', headers, body: chatBody('hello') });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).choices[0].message.content, 'Hello there, friend.');
  } else if (kind === 2) {
    const r = await fetch(url('/v1/chat/completions'), { method: 'POST', headers, body: chatBody('slow', { stream: true, stream_options: { include_usage: true } }) });
    const text = await r.text();
    assert.ok(text.endsWith('data: [DONE]\n\n'));
  } else if (kind === 3 || kind === 4) {
    const ac = new AbortController();
    const r = await fetch(url('/v1/chat/completions'), { method: 'POST', headers, signal: ac.signal, body: chatBody('slow', { stream: true }) });
    const reader = r.body.getReader();
    await reader.read();
    ac.abort();
  } else if (kind === 5) {
    const ac = new AbortController();
    const p = fetch(url('/v1/chat/completions'), { method: 'POST', headers, signal: ac.signal, body: chatBody('silent', { stream: i % 20 === 5 }) }).catch(() => null);
    await sleep(30);
    ac.abort();
    await p;
  } else if (kind === 6) {
    const r = await fetch(url('/v1/chat/completions'), { method: 'POST', headers, body: chatBody('fail', { stream: i % 20 === 6 }) });
    await r.text();
    assert.ok(r.status === 502 || r.status === 200);
  } else if (kind === 7) {
    const r = await fetch(url('/v1/chat/completions'), { method: 'POST', headers, body: chatBody('refuse') });
    assert.equal(r.status, 429);
    assert.equal(r.headers.get('retry-after'), '2');
    await r.text();
  } else if (kind === 8) {
    const r = await fetch(url('/v1/chat/completions'), { method: 'POST', headers, body: '{"messages": [' });
    assert.equal(r.status, 400);
    await r.text();
  } else {
    const r = await fetch(url('/v1/completions'), { method: 'POST', headers, body: JSON.stringify({ prompt: 'script:hello', stream: i % 20 === 9 }) });
    assert.equal(r.status, 200);
    await r.text();
  }
}

test('300 mixed requests, 25 at a time', async () => {
  const N = 300;
  let next = 0;
  const worker = async () => { while (next < N) await one(next++); };
  await Promise.all(Array.from({ length: 25 }, worker));
  // every generation the driver started has ended, exactly once
  for (let t = 0; t < 100; t++) {
    const m = await (await fetch(url('/metrics'))).text();
    if (/num_requests_running\{[^}]*\} 0\n/.test(m) && /num_requests_waiting\{[^}]*\} 0\n/.test(m)) break;
    await sleep(50);
  }
  const m = await (await fetch(url('/metrics'))).text();
  assert.match(m, /vllm:num_requests_running\{[^}]*\} 0\n/);
  assert.match(m, /vllm:num_requests_waiting\{[^}]*\} 0\n/);
  const log = sc.readLog();
  const started = log.filter((l) => l.startsWith('generate ')).map((l) => l.split(' ')[1]);
  const done = log.filter((l) => l.startsWith('done ')).map((l) => l.split(' ')[1]);
  assert.equal(new Set(started).size, started.length, 'request ids are unique');
  assert.deepEqual([...done].sort(), [...started].sort(), 'one done per generate');
  const cancelled = log.filter((l) => l.startsWith('done ') && l.endsWith(' cancelled')).length;
  assert.ok(cancelled >= 45, `disconnects cancelled their generations (${cancelled})`);
  const health = await fetch(url('/health'));
  assert.equal(health.status, 200);
});
