// The native engine end to end: the real fk-gateway with FK_CORE_KIND=vllm
// loads fk-driver-native.so over the tiny gpt-oss fixture, and the official
// openai client talks to it. The tiny model is random, so its text is
// gibberish: the tests check structure, usage counts, reproducibility and
// finish reasons, never words.
//
// Loading is held up on purpose: the model directory is a copy of the
// fixture (symlinks) whose tokenizer.json is a named pipe, so /health must
// say "loading" until the test writes the tokenizer into the pipe.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGateway, openaiClient, tmpDir, OpenAI } from './lib.mjs';

const FIXTURE = join(process.env.FK_FIXTURES, 'models', 'tiny-gptoss-bf16');
const require = createRequire(process.env.FK_NODE_MODULES + '/');
const { getEncoding } = require('js-tiktoken');
const enc = getEncoding('o200k_base');

const MODEL = 'tiny-gptoss-bf16';
const MAX_LEN = 1024;
const RAW = '<|start|>user<|message|>What is 2+2?<|end|><|start|>assistant';

const modelDir = join(tmpDir(), MODEL);
mkdirSync(modelDir);
for (const f of readdirSync(FIXTURE)) if (f !== 'tokenizer.json') symlinkSync(join(FIXTURE, f), join(modelDir, f));
const pipe = join(modelDir, 'tokenizer.json');
execFileSync('mkfifo', [pipe]);

let gw, client;
before(async () => {
  gw = await startGateway({
    env: {
      FK_CORE_KIND: 'vllm',
      VLLM_MODEL_CORE: modelDir,
      VLLM_MAX_MODEL_LEN: String(MAX_LEN),
      FRONTEND_MAX_TOKENS: '64',
      FK_THREADS: '1',
      FK_MAX_BATCH: '4',
    },
  });
  client = openaiClient(gw, { timeout: 60000 });
});
after(async () => {
  const r = await gw.stop();
  assert.equal(r.code, 0, `gateway exit: ${r.code} ${r.signal}\n${r.stderr}`);
});

async function getJSON(path) {
  const res = await fetch(gw.baseURL + path);
  return { status: res.status, headers: res.headers, body: await res.json() };
}

// Prometheus text -> { name: value } for unlabelled-by-bucket samples.
async function metrics() {
  const text = await (await fetch(gw.baseURL + '/metrics')).text();
  const out = {};
  for (const line of text.split('\n')) {
    const m = line.match(/^([a-zA-Z_:]+)(?:\{[^}]*\})? (\S+)$/);
    if (m && !(m[1] in out)) out[m[1]] = Number(m[2]);
  }
  return out;
}

async function until(what, fn, ms = 30000) {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > ms) assert.fail(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const complete = (body) => client.completions.create({ model: MODEL, max_tokens: 12, temperature: 0, ...body });

test('/health says loading (with progress) until the model is read, then ready', async () => {
  const h = await getJSON('/health');
  assert.equal(h.status, 503);
  assert.equal(h.body.status, 'loading');
  assert.match(h.body.detail, /^Loading model: \d+%$/);
  const models = await getJSON('/v1/models');
  assert.equal(models.status, 200);
  assert.equal(models.body.data[0].id, MODEL, 'the model id defaults to the directory name');

  // A request made while loading waits for the model.
  const early = fetch(gw.baseURL + '/v1/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, prompt: RAW, max_tokens: 4, temperature: 0 }),
  });
  await sleep(200);
  assert.equal((await getJSON('/health')).body.status, 'loading', 'still loading while the pipe is empty');

  const writer = spawn('sh', ['-c', 'cat "$1" > "$2"', 'sh', join(FIXTURE, 'tokenizer.json'), pipe], { stdio: 'ignore' });
  const wrote = new Promise((resolve) => writer.on('exit', resolve));
  await until('/health 200', async () => (await getJSON('/health')).status === 200);
  assert.equal(await wrote, 0);
  const ready = await getJSON('/health');
  assert.equal(ready.body.status, 'ok');

  const res = await early;
  assert.equal(res.status, 200, 'a request made while loading waits for the model');
  const body = await res.json();
  assert.equal(body.usage.prompt_tokens, 13);
});

test('/v1/models: one model with the configured max_model_len', async () => {
  const list = await client.models.list();
  assert.equal(list.data.length, 1);
  assert.equal(list.data[0].id, MODEL);
  assert.equal(list.data[0].max_model_len, MAX_LEN);
});

test('chat, whole and streamed: same greedy output, usage, finish length at max_tokens', async () => {
  const req = { model: MODEL, messages: [{ role: 'user', content: 'Say something.' }], max_tokens: 9, temperature: 0 };
  const whole = await client.chat.completions.create(req);
  assert.equal(whole.object, 'chat.completion');
  assert.equal(whole.choices.length, 1);
  assert.equal(whole.choices[0].finish_reason, 'length');
  const u = whole.usage;
  assert.equal(u.completion_tokens, 9);
  assert.ok(u.prompt_tokens > 20, 'the rendered Harmony prompt includes the system message');
  assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);

  const stream = await client.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  assert.equal(new Set(chunks.map((c) => c.id)).size, 1);
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  assert.deepEqual(
    [last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens],
    [u.prompt_tokens, u.completion_tokens, u.total_tokens],
  );
  const body = chunks.slice(0, -1);
  assert.equal(body.at(-1).choices[0].finish_reason, 'length');
  const text = (pick) => body.map((c) => pick(c.choices[0].delta) ?? '').join('');
  const m = whole.choices[0].message;
  assert.equal(text((d) => d.content), m.content ?? '');
  assert.equal(text((d) => d.reasoning_content), m.reasoning_content ?? '');
});

test('chat message text never becomes special tokens', async () => {
  const ask = async (content) =>
    (await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content }], max_tokens: 1, temperature: 0 })).usage.prompt_tokens;
  const plain = await ask('x');
  const spelled = await ask('x<|end|>');
  const want = enc.encode('x<|end|>').length - enc.encode('x').length;
  assert.ok(want > 1);
  assert.equal(spelled - plain, want, '"<|end|>" in a message is ordinary text');
});

test('raw completions: spelled-out specials are parsed, ids are accepted and range-checked', async () => {
  const r = await complete({ prompt: RAW });
  const specials = 4;
  const text = ['user', 'What is 2+2?', 'assistant'].reduce((n, s) => n + enc.encode(s).length, 0);
  assert.equal(r.usage.prompt_tokens, specials + text);
  assert.equal(r.object, 'text_completion');
  assert.equal(typeof r.choices[0].text, 'string');
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 12);

  const ids = [200006, 1428, 200008, 3575, 200007, 200006, 173781];
  const byIds = await complete({ prompt: ids });
  assert.equal(byIds.usage.prompt_tokens, ids.length);
  await assert.rejects(complete({ prompt: [200006, 999999] }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError, String(e));
    assert.match(e.message, /999999/);
    return true;
  });
});

test('seeded sampling is reproducible', async () => {
  const sample = async (seed) => (await complete({ prompt: RAW, temperature: 1, top_p: 0.9, seed, max_tokens: 16 })).choices[0].text;
  const a = await sample(42);
  const b = await sample(42);
  const c = await sample(43);
  assert.equal(a, b, 'same seed, same text');
  assert.notEqual(a, c, 'another seed, other text');
});

test('stop strings end the text before the match, across tokens', async () => {
  const base = (await complete({ prompt: RAW, max_tokens: 24 })).choices[0].text;
  // three ordinary characters from the middle of the output
  let at = -1;
  for (let i = 4; i + 3 <= base.length && at < 0; i++) {
    const s = base.slice(i, i + 3);
    if (/^[\x20-\x7e\u00a0-\ud7ff]{3}$/.test(s) && !s.includes('<')) at = i;
  }
  assert.ok(at > 0, `no plain window in ${JSON.stringify(base)}`);
  const stop = base.slice(at, at + 3);
  const r = await complete({ prompt: RAW, max_tokens: 24, stop: [stop, 'never-in-gibberish'] });
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.equal(r.choices[0].text, base.slice(0, base.indexOf(stop)));
  assert.ok(r.usage.completion_tokens < 24);

  const none = await complete({ prompt: RAW, max_tokens: 24, stop: 'never-in-gibberish' });
  assert.equal(none.choices[0].finish_reason, 'length');
  assert.equal(none.choices[0].text, base);
});

test('context: too long a prompt is refused with both numbers; a long one is cut at the limit', async () => {
  const long = 'word' + ' word'.repeat(1100);
  const n = enc.encode(long).length;
  await assert.rejects(complete({ prompt: long }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError, String(e));
    assert.equal(e.code, 'context_length_exceeded');
    assert.match(e.message, new RegExp(`\\b${MAX_LEN}\\b`));
    assert.match(e.message, new RegExp(`\\b${n}\\b`));
    return true;
  });
  const fits = 'word' + ' word'.repeat(1000);
  const r = await complete({ prompt: fits, max_tokens: 60 });
  assert.equal(r.usage.prompt_tokens, enc.encode(fits).length);
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, MAX_LEN - r.usage.prompt_tokens);
});

test('two concurrent requests both complete, each as it would alone', async () => {
  const reqA = { prompt: RAW, max_tokens: 20 };
  const reqB = { prompt: '<|start|>user<|message|>Name a color.<|end|><|start|>assistant', max_tokens: 14 };
  const soloA = (await complete(reqA)).choices[0].text;
  const soloB = (await complete(reqB)).choices[0].text;
  const streamed = async (req) => {
    const s = await complete({ ...req, stream: true });
    let text = '';
    let finish = null;
    for await (const c of s) {
      text += c.choices[0]?.text ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    return { text, finish };
  };
  const [a, b] = await Promise.all([streamed(reqA), streamed(reqB)]);
  assert.equal(a.finish, 'length');
  assert.equal(b.finish, 'length');
  assert.equal(a.text, soloA);
  assert.equal(b.text, soloB);
});

test('a client that disconnects cancels its generation and frees its slot', async () => {
  const before = await metrics();
  const ac = new AbortController();
  const res = await fetch(gw.baseURL + '/v1/completions', {
    method: 'POST',
    signal: ac.signal,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, prompt: RAW, max_tokens: 900, temperature: 0, stream: true }),
  });
  const reader = res.body.getReader();
  const first = await reader.read();
  assert.ok(first.value.length > 0);
  ac.abort();
  const after = await until('the cancellation', async () => {
    const m = await metrics();
    return m['vllm:num_requests_running'] === 0 &&
      m['fk_generations_cancelled_total'] === before['fk_generations_cancelled_total'] + 1 && m;
  }, 10000);
  const generated = after['vllm:generation_tokens_total'] - before['vllm:generation_tokens_total'];
  assert.ok(generated < 900, `generation stopped early (${generated} tokens counted)`);
  // the slot is free: a new request runs at once
  const r = await complete({ prompt: RAW, max_tokens: 3 });
  assert.equal(r.usage.completion_tokens, 3);
  assert.equal((await getJSON('/health')).status, 200);
});

test('a growing chat reuses the KV of its earlier turns: usage.prompt_tokens_details.cached_tokens', async () => {
  const before = await metrics();
  const user1 = { role: 'user', content: 'Tell me about the weather in Lisbon in spring, please. ' + 'More detail. '.repeat(20) };
  const t1 = await client.chat.completions.create({ model: MODEL, messages: [user1], max_tokens: 4, temperature: 0 });
  assert.equal(typeof t1.usage.prompt_tokens_details.cached_tokens, 'number');
  const p1 = t1.usage.prompt_tokens;
  const t2 = await client.chat.completions.create({
    model: MODEL,
    messages: [user1, { role: 'assistant', content: 'Sure.' }, { role: 'user', content: 'And in autumn?' }],
    max_tokens: 4,
    temperature: 0,
  });
  const cached = t2.usage.prompt_tokens_details.cached_tokens;
  assert.equal(cached % 16, 0, `whole blocks of 16 (${cached})`);
  assert.ok(cached >= Math.floor(p1 / 16) * 16 - 16, `turn 2 reuses turn 1's ${p1}-token prompt (${cached} cached)`);
  assert.ok(cached < t2.usage.prompt_tokens);
  const r = await complete({ prompt: RAW, max_tokens: 2 });
  assert.equal(typeof r.usage.prompt_tokens_details.cached_tokens, 'number', 'completions report it too');
  const after = await metrics();
  assert.ok(after['vllm:prefix_cache_hits_total'] - before['vllm:prefix_cache_hits_total'] >= cached);
  assert.ok(after['vllm:prefix_cache_queries_total'] > after['vllm:prefix_cache_hits_total']);
  assert.equal(after['vllm:num_preemptions_total'], 0);
  assert.ok(after['vllm:kv_cache_usage_perc'] >= 0 && after['vllm:kv_cache_usage_perc'] <= 1);
});
