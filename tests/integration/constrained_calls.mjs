// constrained_calls.mjs: tool arguments that always parse, on both cores,
// through the official openai client. The tiny gpt-oss fixture has random
// weights, so at temperature 1 only the constraint can make its output a
// valid call: for each schema, FK_CALLS (200) calls with tool_choice naming
// the function must all come back as that function's call whose arguments
// parse (JSON.parse) and validate (ajv, an independent JSON Schema
// validator). Also tool_choice "required" with several tools (a tool is
// named, then its arguments), and a streamed forced call.
//
// The native engine (FK_CORE_KIND=vllm) masks tokens itself; the real
// llama-server (scripts/llama-server.sh's cached build, skipped with the
// reason when it is not built) gets the same constraint as a GBNF grammar
// from the proxy driver (FK_CORE_KIND=llama), on the same checkpoint
// converted by fk-gguf.
//
// FK_CALLS (default 200; 40 in a sanitizer build) calls per schema on the native engine;
// FK_CALLS_LLAMA (default 25) on llama-server, whose grammar sampling
// checks the whole 201,088-token vocabulary against the grammar for almost
// every token a random model draws (about 0.1 s a token on one CPU thread):
// FK_CALLS_LLAMA=200 runs the full count there too (about an hour).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { startGateway, openaiClient } from './lib.mjs';
import { SKIP, makeGguf, startLlama } from './real_llama.mjs';

const require = createRequire(process.env.FK_NODE_MODULES + '/');
const Ajv = require('ajv').default;
const ajv = new Ajv({ allErrors: true });

const FIXTURE = join(process.env.FK_FIXTURES, 'models', 'tiny-gptoss-mxfp4');
const CALLS = Number(process.env.FK_CALLS || (process.env.FK_SANITIZED === '1' ? 40 : 200));
const CALLS_LLAMA = Number(process.env.FK_CALLS_LLAMA || 25);

// One schema per concern; strings carry maxLength so that a random model's
// strings end (each character is a token it chooses freely).
const SCHEMAS = {
  strings: {
    type: 'object',
    properties: { city: { type: 'string', maxLength: 12 }, note: { type: 'string', minLength: 1, maxLength: 6 } },
    required: ['city', 'note'],
    additionalProperties: false,
  },
  enums: {
    type: 'object',
    properties: {
      unit: { enum: ['celsius', 'fahrenheit'] },
      level: { enum: [1, 2, 3, null] },
      flag: { type: 'boolean' },
    },
    required: ['unit', 'flag'],
  },
  numbers: {
    type: 'object',
    properties: { days: { type: 'integer' }, ratio: { type: 'number' }, count: { type: ['integer', 'null'] } },
    required: ['days', 'ratio'],
    additionalProperties: false,
  },
  arrays: {
    type: 'object',
    properties: {
      tags: { type: 'array', items: { type: 'string', maxLength: 4 }, maxItems: 3 },
      ids: { type: 'array', items: { type: 'integer' }, minItems: 1, maxItems: 2 },
    },
    required: ['ids'],
  },
  nested: {
    type: 'object',
    properties: {
      user: {
        type: 'object',
        properties: {
          name: { type: 'string', maxLength: 8 },
          address: { type: 'object', properties: { zip: { type: 'string', maxLength: 5 }, main: { type: 'boolean' } }, required: ['main'] },
        },
        required: ['name', 'address'],
        additionalProperties: false,
      },
      mode: { anyOf: [{ const: 'fast' }, { type: 'integer' }] },
    },
    required: ['user'],
    additionalProperties: false,
  },
};
const TOOLS = Object.entries(SCHEMAS).map(([name, parameters]) => ({ type: 'function', function: { name, description: `The ${name} tool.`, parameters } }));
const VALIDATE = Object.fromEntries(Object.entries(SCHEMAS).map(([name, s]) => [name, ajv.compile(s)]));

const stops = [];
after(async () => { for (const s of stops.reverse()) await s(); });

const MESSAGES = [{ role: 'user', content: 'Call the tool.' }];

// Run `n` requests with at most `width` in flight.
async function pool(n, width, fn) {
  const out = new Array(n);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  }));
  return out;
}

// Whether one chat completion is a valid call to `name` (else why not).
function check(r, names) {
  const choice = r.choices[0];
  const calls = choice.message.tool_calls ?? [];
  if (choice.finish_reason !== 'tool_calls') return `finish_reason ${choice.finish_reason}: ${JSON.stringify(choice.message)}`;
  if (calls.length !== 1) return `${calls.length} calls`;
  const { name, arguments: text } = calls[0].function;
  if (!names.includes(name)) return `called ${name}`;
  let args;
  try {
    args = JSON.parse(text);
  } catch (e) {
    return `arguments do not parse (${e.message}): ${text}`;
  }
  if (!VALIDATE[name](args)) return `arguments invalid for ${name} (${ajv.errorsText(VALIDATE[name].errors)}): ${text}`;
  return null;
}

async function forcedCalls(gw, model, label, CALLS) {
  const client = openaiClient(gw, { timeout: 600000 });
  for (const name of Object.keys(SCHEMAS)) {
    const results = await pool(CALLS, 4, (i) => client.chat.completions.create({
      model, messages: MESSAGES, tools: TOOLS, tool_choice: { type: 'function', function: { name } },
      temperature: 1, max_tokens: 256, seed: i,
    }).then((r) => check(r, [name]), (e) => `request failed: ${e.message}`));
    const bad = results.filter(Boolean);
    console.log(`# ${label} ${name}: ${CALLS - bad.length} of ${CALLS} calls parse and validate`);
    assert.deepEqual(bad.slice(0, 3), [], `${label} ${name}: every forced call parses and validates`);
  }

  // "required": the model names one of several tools, then its arguments
  const named = new Set();
  const results = await pool(CALLS, 4, (i) => client.chat.completions.create({
    model, messages: MESSAGES, tools: TOOLS, tool_choice: 'required', temperature: 1, max_tokens: 256, seed: 1000 + i,
  }).then((r) => {
    const why = check(r, Object.keys(SCHEMAS));
    if (!why) named.add(r.choices[0].message.tool_calls[0].function.name);
    return why;
  }, (e) => `request failed: ${e.message}`));
  const bad = results.filter(Boolean);
  console.log(`# ${label} required: ${CALLS - bad.length} of ${CALLS} calls name a tool and validate (tools named: ${[...named].sort().join(', ')})`);
  assert.deepEqual(bad.slice(0, 3), [], `${label}: tool_choice required always calls a tool validly`);
  if (CALLS >= 20) assert.ok(named.size >= 2, `${label}: the model chose among the tools (${[...named].join(', ')})`);

  // streamed: the deltas assemble into the same kind of valid call
  const stream = await client.chat.completions.create({
    model, messages: MESSAGES, tools: TOOLS, tool_choice: { type: 'function', function: { name: 'nested' } },
    temperature: 1, max_tokens: 256, stream: true,
  });
  let args = '';
  let fname = null;
  let finish = null;
  for await (const chunk of stream) {
    const d = chunk.choices[0]?.delta;
    for (const tc of d?.tool_calls ?? []) {
      fname ??= tc.function?.name;
      args += tc.function?.arguments ?? '';
    }
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(fname, 'nested');
  assert.equal(finish, 'tool_calls');
  assert.ok(VALIDATE.nested(JSON.parse(args)), `${label}: the streamed arguments validate: ${args}`);
}

test('native engine: forced tool calls always parse and validate', { timeout: 3600000 }, async () => {
  const gw = await startGateway({
    env: { FK_CORE_KIND: 'vllm', VLLM_MODEL_CORE: FIXTURE, VLLM_MAX_MODEL_LEN: '4096', FK_THREADS: '1', FK_MAX_BATCH: '4' },
  });
  stops.push(async () => assert.equal((await gw.stop()).code, 0));
  await forcedCalls(gw, 'tiny-gptoss-mxfp4', 'native', CALLS);
  // a schema no document satisfies is refused up front, naming the field
  const client = openaiClient(gw);
  const bad = [{ type: 'function', function: { name: 'f', parameters: { type: 'string', minLength: 3, maxLength: 1 } } }];
  await assert.rejects(client.chat.completions.create({ model: 'tiny-gptoss-mxfp4', messages: MESSAGES, tools: bad, max_tokens: 4 }),
    (e) => e.status === 400 && e.param === 'tools[0].function.parameters' && /no JSON document/.test(e.message));
});

test('real llama-server: forced tool calls always parse and validate', { skip: SKIP, timeout: 3600000 }, async () => {
  const srv = await startLlama(makeGguf(FIXTURE), { ctx: 4096, parallel: 4 });
  stops.push(() => srv.stop());
  const gw = await startGateway({
    env: { FK_CORE_KIND: 'llama', FK_CORE_API_BASE: srv.baseURL, FRONTEND_VLLM_MODEL: 'tiny', VLLM_MAX_MODEL_LEN: '1024', FRONTEND_MAX_TOKENS: '256',
      FK_LLAMA_HEALTH_INTERVAL_MS: '100' },
  });
  stops.push(async () => assert.equal((await gw.stop()).code, 0));
  for (let i = 0; i < 100 && (await fetch(gw.baseURL + '/health')).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
  await forcedCalls(gw, 'tiny', 'llama-server', CALLS_LLAMA);
});
