// The driver ABI's size rules (drivers/driver.h), seen through the real
// gateway: fk-driver-scripted-small.so is the scripted driver built with
// smaller structs (its table ends before `metrics`, whose slot holds a
// function that aborts; its pieces, stats and errors end early, with values
// just past their end that must not be read). The full scripted driver is
// the control. Also: the request's tools reach the driver as JSON text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, scriptedEnv, openaiClient } from './lib.mjs';

const scripts = {
  hello: { harmony: '<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final<|message|>Hello there, friend<|return|>' },
  fail: { harmony: '<|channel|>final<|message|>Par', error: { status: 503, type: 'unavailable_error', code: 'busy', message: 'scripted failure', retry_after_s: 5 } },
};
const user = (text) => [{ role: 'user', content: text }];

async function withGateway(driver, fn) {
  const sc = scriptedEnv(scripts, { FK_DRIVER: driver, FK_STATS_INTERVAL_S: '0.2' });
  const gw = await startGateway({ env: sc.env });
  try {
    await fn(gw, openaiClient(gw), sc);
  } finally {
    const r = await gw.stop();
    assert.equal(r.code, 0, `gateway exit ${r.code} ${r.signal}\n${r.stderr}`);
  }
}

test('a smaller driver table is accepted and its missing metrics() is never called', async () => {
  await withGateway('scripted-small', async (gw, client) => {
    await client.chat.completions.create({ model: 'fk-scripted', messages: user('script:hello') });
    const m = await (await fetch(gw.baseURL + '/metrics')).text();
    assert.match(m, /^vllm:num_requests_running\{core="default",model_name="fk-scripted"\} 0$/m, '/metrics answers');
    assert.doesNotMatch(m, /kv_cache_usage|fk_core_backend_info/, 'no engine gauges without metrics()');
    await gw.waitForLog(/Running: 0 reqs, Waiting: 0 reqs$/m, 5000);
    assert.doesNotMatch(gw.stderr(), /beyond the table/);
  });
});

test('pieces, stats and errors smaller than the host\'s are read by their size', async () => {
  await withGateway('scripted-small', async (gw, client) => {
    const r = await client.chat.completions.create({ model: 'fk-scripted', messages: user('script:hello') });
    assert.equal(r.choices[0].message.content, 'Hello there, friend', 'pieces found at their stride');
    assert.equal(r.choices[0].message.reasoning_content, 'Think.');
    assert.equal(r.usage.completion_tokens, 14, 'completion_tokens beyond the stats size is absent: the pieces are counted');
    const s = await client.chat.completions.create({ model: 'fk-scripted', messages: user('script:hello'), stream: true });
    let text = '';
    for await (const c of s) text += c.choices[0]?.delta?.content ?? '';
    assert.equal(text, 'Hello there, friend', 'streamed the same');
    const res = await fetch(gw.baseURL + '/v1/chat/completions', { method: 'POST', body: JSON.stringify({ messages: user('script:fail') }) });
    assert.equal(res.status, 503);
    assert.equal((await res.json()).error.code, 'busy');
    assert.equal(res.headers.get('retry-after'), null, 'retry_after_s beyond the error size is absent');
  });
});

test('the full-size driver (control): its stats, error and metrics() are read', async () => {
  await withGateway('scripted', async (gw, client, sc) => {
    const r = await client.chat.completions.create({ model: 'fk-scripted', messages: user('script:hello') });
    assert.equal(r.choices[0].message.content, 'Hello there, friend');
    assert.equal(r.usage.completion_tokens, 14);
    const res = await fetch(gw.baseURL + '/v1/chat/completions', { method: 'POST', body: JSON.stringify({ messages: user('script:fail') }) });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '5');
    const m = await (await fetch(gw.baseURL + '/metrics')).text();
    assert.match(m, /^vllm:kv_cache_usage_perc\{core="default",model_name="fk-scripted"\} 0$/m);
    await gw.waitForLog(/Waiting: 0 reqs, KV cache usage: 0\.0%$/m, 5000);
  });
});

test('the request\'s tools reach the driver as JSON text', async () => {
  await withGateway('scripted', async (gw, client, sc) => {
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    await client.chat.completions.create({ model: 'fk-scripted', messages: user('script:hello'), tools }, { headers: { 'x-request-id': 'tools-1' } });
    const line = sc.readLog().find((l) => l.startsWith('tools tools-1 '));
    assert.ok(line, 'a tools line was logged');
    assert.deepEqual(JSON.parse(line.slice('tools tools-1 hello '.length)), tools);
    await client.chat.completions.create({ model: 'fk-scripted', messages: user('script:hello') }, { headers: { 'x-request-id': 'tools-2' } });
    assert.equal(sc.readLog().find((l) => l.startsWith('tools tools-2 ')), undefined, 'no tools: tools_json is NULL');
  });
});
