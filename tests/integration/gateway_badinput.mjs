// Bad requests: each is a 4xx OpenAI error naming the field, and the gateway
// keeps serving afterwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, scriptedEnv } from './lib.mjs';

let gw;
before(async () => {
  const sc = scriptedEnv({ hello: { harmony: '<|channel|>final<|message|>Hi<|return|>' } });
  gw = await startGateway({ env: { ...sc.env, FK_MAX_BODY_BYTES: '65536', FK_MAX_MESSAGES: '8', VLLM_MAX_MODEL_LEN: '4096', FRONTEND_MAX_TOKENS: '512' } });
});
after(async () => {
  const r = await gw.stop();
  assert.equal(r.code, 0, `gateway exit: ${r.code} ${r.signal}\n${r.stderr}`);
});

async function send(path, body, headers = {}) {
  const res = await fetch(gw.baseURL + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

function assertError(r, status, param, code) {
  assert.equal(r.status, status, r.text);
  assert.ok(r.json?.error, `an OpenAI error object: ${r.text}`);
  const e = r.json.error;
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0);
  assert.equal(typeof e.type, 'string');
  assert.equal(e.param, param, `param in ${r.text}`);
  if (code) assert.equal(e.code, code, `code in ${r.text}`);
  assert.ok(e.code === null || typeof e.code === 'string', 'string code');
}

const msgs = [{ role: 'user', content: 'hi' }];
const chat = (extra) => JSON.stringify({ model: 'fk-scripted', messages: msgs, ...extra });

test('malformed JSON and non-objects', async () => {
  for (const body of ['{', '{"model":', 'nul', '[]', '"text"', '{"a":1}{', '']) {
    const r = await send('/v1/chat/completions', body);
    assert.equal(r.status, 400, `${JSON.stringify(body)} -> ${r.text}`);
    assert.ok(r.json.error.message);
  }
});

test('invalid UTF-8 in the body', async () => {
  const body = Buffer.concat([Buffer.from('{"messages":[{"role":"user","content":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}]}')]);
  const r = await send('/v1/chat/completions', body);
  assertError(r, 400, null, 'invalid_json');
});

test('wrong types name the field', async () => {
  const cases = [
    [{ model: 42 }, 'model'], [{ messages: 'hi' }, 'messages'], [{ messages: [] }, 'messages'],
    [{ stream: 'yes' }, 'stream'], [{ stream_options: 1 }, 'stream_options'],
    [{ stream_options: { include_usage: 'y' } }, 'stream_options.include_usage'],
    [{ max_tokens: 'many' }, 'max_tokens'], [{ max_tokens: 1.5 }, 'max_tokens'],
    [{ max_completion_tokens: [] }, 'max_completion_tokens'],
    [{ temperature: 'hot' }, 'temperature'], [{ top_p: {} }, 'top_p'], [{ seed: 'x' }, 'seed'],
    [{ stop: 5 }, 'stop'], [{ stop: ['a', 7] }, 'stop'], [{ n: 'one' }, 'n'],
    [{ presence_penalty: 'x' }, 'presence_penalty'], [{ frequency_penalty: true }, 'frequency_penalty'],
    [{ logprobs: 1 }, 'logprobs'], [{ top_logprobs: 'x' }, 'top_logprobs'],
    [{ tools: {} }, 'tools'], [{ tool_choice: 5 }, 'tool_choice'], [{ reasoning_effort: 3 }, 'reasoning_effort'],
  ];
  for (const [extra, param] of cases) {
    const body = JSON.stringify({ model: 'fk-scripted', messages: msgs, ...extra });
    assertError(await send('/v1/chat/completions', body), 400, param);
  }
  const t = await send('/v1/chat/completions', JSON.stringify({ messages: msgs, temperature: 'hot' }));
  assert.equal(t.json.error.message, "'temperature' must be a number, got a string", 'the message says what came');
  const m = await send('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 5 }] }));
  assert.match(m.json.error.message, /expected a string or an array of content parts, got an integer$/, 'the same type names in the Harmony mapper');
});

test('out-of-range values name the field', async () => {
  const cases = [
    [{ max_tokens: -1 }, 'max_tokens'], [{ max_tokens: 0 }, 'max_tokens'], [{ max_tokens: 1e12 }, 'max_tokens'],
    [{ max_tokens: 4097 }, 'max_tokens'], [{ max_completion_tokens: -5 }, 'max_completion_tokens'],
    [{ temperature: 2.5 }, 'temperature'], [{ temperature: -0.1 }, 'temperature'], [{ top_p: 1.5 }, 'top_p'],
    [{ n: 2 }, 'n'], [{ n: 0 }, 'n'], [{ stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
    [{ presence_penalty: 3 }, 'presence_penalty'], [{ frequency_penalty: -2.5 }, 'frequency_penalty'],
    [{ top_logprobs: 21 }, 'top_logprobs'], [{ tool_choice: 'sometimes' }, 'tool_choice'],
    [{ reasoning_effort: 'extreme' }, 'reasoning_effort'],
  ];
  for (const [extra, param] of cases) assertError(await send('/v1/chat/completions', chat(extra)), 400, param, 'invalid_value');
});

test('bad messages are 400s naming the message field', async () => {
  const cases = [
    [[{ role: 'wizard', content: 'x' }], /^messages\[0\]/],
    [[{ content: 'x' }], /^messages\[0\]/],
    [[{ role: 'user', content: 5 }], /^messages\[0\]/],
    [['just a string'], /^messages\[0\]/],
    [[{ role: 'user', content: 'ok' }, { role: 'tool', content: 'r', tool_call_id: 'nope' }], /^messages\[1\]/],
  ];
  for (const [messages, re] of cases) {
    const r = await send('/v1/chat/completions', JSON.stringify({ messages }));
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.error.param ?? '', re, r.text);
  }
});

// A body of exactly `size` bytes: the chat request padded with an ignored field.
function bodyOf(size) {
  const bare = chat({ pad: '' }).length;
  const b = chat({ pad: 'x'.repeat(size - bare) });
  assert.equal(b.length, size, 'the test builds a body of the size it wants');
  return b;
}

test('FK_MAX_BODY_BYTES (65536): a body of exactly the limit is served, one byte more is 413', async () => {
  for (const size of [65535, 65536]) {
    const r = await send('/v1/chat/completions', bodyOf(size));
    assert.equal(r.status, 200, `${size} bytes: ${r.text}`);
    assert.equal(r.json.choices[0].message.content, 'Hi');
  }
  const over = await send('/v1/chat/completions', bodyOf(65537));
  assertError(over, 413, null, 'request_too_large');
  assert.equal(over.json.error.message, 'the request body is 65537 bytes; the limit is 65536 bytes');
  assertError(await send('/v1/completions', bodyOf(65537)), 413, null, 'request_too_large');
});

test('FK_MAX_MESSAGES (8): exactly 8 messages are served, 9 are a 400', async () => {
  const messages = (n) => Array.from({ length: n }, () => ({ role: 'user', content: 'x' }));
  const r = await send('/v1/chat/completions', JSON.stringify({ messages: messages(8) }));
  assert.equal(r.status, 200, r.text);
  assertError(await send('/v1/chat/completions', JSON.stringify({ messages: messages(9) })), 400, 'messages', 'invalid_value');
});

test('VLLM_MAX_MODEL_LEN (4096): max_tokens 4096 is served, 4097 is a 400', async () => {
  const r = await send('/v1/chat/completions', chat({ max_tokens: 4096 }));
  assert.equal(r.status, 200, r.text);
  assertError(await send('/v1/chat/completions', chat({ max_tokens: 4097 })), 400, 'max_tokens', 'invalid_value');
  assertError(await send('/v1/completions', JSON.stringify({ prompt: 'x', max_tokens: 4097 })), 400, 'max_tokens', 'invalid_value');
});

test('huge bodies: 413 as an OpenAI error, whatever the size', async () => {
  const r = await send('/v1/chat/completions', chat({ pad: 'x'.repeat(100000) }));
  assertError(r, 413, null, 'request_too_large');
  const r2 = await send('/v1/chat/completions', chat({ pad: 'x'.repeat(3 << 20) }));
  assertError(r2, 413, null, 'request_too_large');
});

test('unknown model: 404 model_not_found; unknown path 404; wrong method 405', async () => {
  const unknown = await send('/v1/chat/completions', JSON.stringify({ model: 'gpt-5', messages: msgs }));
  assertError(unknown, 404, 'model', 'model_not_found');
  assert.equal(unknown.json.error.message, "The model 'gpt-5' does not exist or is not served here; served: 'fk-scripted'.", 'the 404 names what is served');
  assertError(await send('/v1/completions', JSON.stringify({ model: 'gpt-5', prompt: 'x' })), 404, 'model', 'model_not_found');
  assertError(await send('/v1/nothing', '{}'), 404, null, 'unknown_url');
  const r = await fetch(gw.baseURL + '/v1/chat/completions');
  assert.equal(r.status, 405);
  assert.equal(r.headers.get('allow'), 'POST');
});

test('fields the core would ignore are refused, naming them: logit_bias, response_format', async () => {
  assertError(await send('/v1/chat/completions', chat({ logit_bias: { 1000: 5 } })), 400, 'logit_bias', 'unsupported_parameter');
  assertError(await send('/v1/chat/completions', chat({ response_format: { type: 'json_object' } })), 400, 'response_format', 'unsupported_parameter');
  assertError(await send('/v1/chat/completions', chat({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: {} } } })), 400, 'response_format', 'unsupported_parameter');
  assertError(await send('/v1/completions', JSON.stringify({ prompt: 'x', logit_bias: { 1: 1 } })), 400, 'logit_bias', 'unsupported_parameter');
  assertError(await send('/v1/completions', JSON.stringify({ prompt: 'x', response_format: { type: 'text' } })), 400, 'response_format', 'unsupported_parameter');
  for (const extra of [{ logit_bias: {} }, { logit_bias: null }, { response_format: { type: 'text' } }, { response_format: null }]) {
    const r = await send('/v1/chat/completions', chat(extra));
    assert.equal(r.status, 200, `${JSON.stringify(extra)}: ${r.text}`);
  }
});

test('raw completions: bad prompts', async () => {
  assertError(await send('/v1/completions', JSON.stringify({})), 400, 'prompt', 'missing_required_parameter');
  assertError(await send('/v1/completions', JSON.stringify({ prompt: 5 })), 400, 'prompt');
  assertError(await send('/v1/completions', JSON.stringify({ prompt: [1, 'x'] })), 400, 'prompt');
  assertError(await send('/v1/completions', JSON.stringify({ prompt: [-1] })), 400, 'prompt');
  assertError(await send('/v1/completions', JSON.stringify({ prompt: 'x', skip_special_tokens: 'y' })), 400, 'skip_special_tokens');
});

test('prompt over VLLM_MAX_MODEL_LEN: the driver\'s 400 context_length_exceeded', async () => {
  const r = await send('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'word '.repeat(5000) }] }));
  assertError(r, 400, 'messages', 'context_length_exceeded');
  assert.match(r.json.error.message, /4096/);
});

test('CORS: no header without FK_CORS_ORIGINS', async () => {
  const r = await fetch(gw.baseURL + '/v1/models', { headers: { origin: 'http://evil.example' } });
  assert.equal(r.headers.get('access-control-allow-origin'), null);
});

test('the gateway still serves after all of that', async () => {
  const r = await send('/v1/chat/completions', chat({}));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.choices[0].message.content, 'Hi');
});
