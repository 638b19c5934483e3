// The shipped native path against the float64 reference, end to end: the real
// fk-gateway loads each tiny checkpoint (MXFP4, and the bf16 one derived from
// it) through fk-driver-native.so, and the official openai client sends raw
// /v1/completions with each golden prompt as token ids, greedy, as many
// tokens as the goldens hold. The answer must be the goldens' greedy_ids
// (tests/fixtures/models/tiny-gptoss-goldens.safetensors, written by
// transformers in float64; every golden step's top-1 margin is above 0.01,
// far beyond the engine's error, see fk-golden.c). fk-golden checks the
// forward pass; this checks what users run: the scheduler, the sampler's
// greedy path, detokenization and the gateway, one request at a time and all
// prompts batched together.
//
// The ids are compared through the text: the completion's text must be the
// golden ids' bytes, each token's bytes read from the fixture's tokenizer.json
// (GPT-2 byte-level vocabulary), joined and read as UTF-8 with U+FFFD for
// invalid sequences, the gateway's rule; the usage must count the tokens.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startGateway, openaiClient } from './lib.mjs';

const MODELS = join(process.env.FK_FIXTURES, 'models');

// safetensors: { name: { dtype, shape, data: Buffer } }
function readSafetensors(path) {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const out = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    out[name] = { ...t, data: buf.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]) };
  }
  return out;
}

function int64s(t) {
  assert.equal(t.dtype, 'I64');
  const ids = [];
  for (let i = 0; i < t.data.length; i += 8) ids.push(Number(t.data.readBigInt64LE(i)));
  return ids;
}

// The goldens: [{ name, prompt: [ids], greedy: [ids], margins: [..] }].
const tensors = readSafetensors(join(MODELS, 'tiny-gptoss-goldens.safetensors'));
const goldens = Object.keys(tensors).filter((k) => k.endsWith('.greedy_ids')).sort().map((k) => {
  const name = k.slice(0, -'.greedy_ids'.length);
  const margins = tensors[`${name}.greedy_margins`];
  const m = [];
  for (let i = 0; i < margins.data.length; i += 8) m.push(margins.data.readDoubleLE(i));
  return { name, prompt: int64s(tensors[`${name}.ids`]), greedy: int64s(tensors[k]), margins: m };
});

// Token id -> its bytes, from tokenizer.json's byte-level vocabulary.
function tokenBytes() {
  const tj = JSON.parse(readFileSync(join(process.env.FK_FIXTURES, 'tokenizer', 'tokenizer.json'), 'utf8'));
  const bs = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = [...bs];
  for (let b = 0, n = 0; b < 256; b++) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n++); }
  const byteOf = new Map(cs.map((c, i) => [String.fromCodePoint(c), bs[i]]));
  const bytesOf = new Map();
  for (const [piece, id] of Object.entries(tj.model.vocab)) bytesOf.set(id, Buffer.from([...piece].map((ch) => byteOf.get(ch))));
  return bytesOf;
}
const bytesOf = tokenBytes();
const textOf = (ids) => Buffer.concat(ids.map((id) => bytesOf.get(id))).toString('utf8');

// Preconditions (the fixture, not the code under test): four prompts whose
// every golden step has a clear margin and ordinary tokens only.
assert.deepEqual(goldens.map((g) => g.name), ['apache_text', 'harmony_chat', 'one_token', 'random_ids']);
for (const g of goldens) {
  assert.ok(g.prompt.length >= 1 && g.greedy.length === 16, g.name);
  assert.ok(Math.min(...g.margins) > 0.01, `${g.name}: every golden step has a margin above 0.01`);
  for (const id of g.greedy) assert.ok(bytesOf.has(id), `${g.name}: ${id} is an ordinary token`);
}

for (const form of ['mxfp4', 'bf16']) describe(`tiny-gptoss-${form}`, () => {
  const model = `tiny-gptoss-${form}`;
  let gw, client;
  before(async () => {
    gw = await startGateway({
      env: { FK_CORE_KIND: 'vllm', VLLM_MODEL_CORE: join(MODELS, model), VLLM_MAX_MODEL_LEN: '512', FRONTEND_MAX_TOKENS: '16', FK_THREADS: '1', FK_MAX_BATCH: '4', FK_WAIT_READY_S: '600' },
    });
    client = openaiClient(gw, { timeout: 600000 });
  });
  after(async () => {
    const r = await gw.stop();
    assert.equal(r.code, 0, `gateway exit: ${r.code} ${r.signal}\n${r.stderr}`);
  });

  const complete = (g) => client.completions.create({ model, prompt: g.prompt, max_tokens: g.greedy.length, temperature: 0 });
  const check = (g, r, how) => {
    assert.equal(r.usage.prompt_tokens, g.prompt.length, `${model} ${g.name} ${how}: prompt tokens`);
    assert.equal(r.usage.completion_tokens, g.greedy.length, `${model} ${g.name} ${how}: completion tokens`);
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.choices[0].text, textOf(g.greedy), `${model} ${g.name} ${how}: the golden greedy continuation`);
  };

  test(`${model}: greedy decoding through fk-gateway gives the goldens' greedy_ids, one request at a time`, async () => {
    for (const g of goldens) check(g, await complete(g), 'alone');
  });

  test(`${model}: the same with all four prompts batched together, and streamed`, async () => {
    const all = await Promise.all(goldens.map(complete));
    goldens.forEach((g, i) => check(g, all[i], 'batched'));
    const g = goldens.find((x) => x.name === 'harmony_chat');
    const stream = await client.completions.create({ model, prompt: g.prompt, max_tokens: g.greedy.length, temperature: 0, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    assert.equal(text, textOf(g.greedy), `${model} harmony_chat streamed`);
  });
});
