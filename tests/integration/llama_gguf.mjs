// fk-gguf's proof against the real llama-server: for one-token prompts
// (position 0, where RoPE is the identity) llama-server's most likely next
// token and its log-probability equal the native engine's (native_top1: the
// log-softmax of the engine's logits) on both tiny checkpoints, in bf16 and
// f32 GGUFs, and on a 20b-shaped fk-mkmodel checkpoint (one layer, the 20b
// dimensions, vocabulary cut to 8192 rows); and llama-server's /tokenize
// equals libfktok on the o200k_harmony tokenizer cases (with fk-gguf's
// default pre-tokenizer; llama.cpp's "gpt-4o" one splits the Devanagari case
// differently because its letter classes lack \p{M}).
//
// "Equal" allows for how llama.cpp's CPU kernels round, not for conversion
// error (test_gguf checks the conversion value by value): with f32 weights
// the two agree to ~0.003 in log-probability; llama.cpp rounds activations
// to bf16 for bf16 weights (~0.04) and to 8-bit blocks for MXFP4 experts,
// which on the 32-wide tiny model moves log-probabilities by up to ~0.13.
// The top-1 must match wherever the native margin over the second token
// exceeds the tolerance.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SKIP, makeGguf, startLlama, tool } from './real_llama.mjs';
import { tmpDir } from './lib.mjs';

const FIXTURES = process.env.FK_FIXTURES;
const PROMPTS = [200006, 0, 12345, 100, 199999, 200005, 40, 9000];
const servers = [];
after(async () => { for (const s of servers) await s.stop(); });

function nativeTop(dir, ids, k = 2) {
  const out = execFileSync(tool('native_top1'), [dir, String(k), ...ids.map(String)], { encoding: 'utf8' });
  return out.trim().split('\n').map((l) => JSON.parse(l));
}

async function compare(what, modelDir, ggufArgs, tol, prompts = PROMPTS, threads = 1) {
  const gguf = makeGguf(modelDir, ggufArgs);
  const srv = await startLlama(gguf, { ctx: 256, threads, parallel: 1 });
  servers.push(srv);
  const native = nativeTop(modelDir, prompts);
  let worst = 0;
  for (const [i, id] of prompts.entries()) {
    const r = await srv.post('/completion', { prompt: [id], n_predict: 1, n_probs: 2, temperature: 0, cache_prompt: false });
    const top = r.completion_probabilities[0].top_logprobs;
    const [n1, n2] = native[i].top;
    const diff = Math.abs(top[0].logprob - n1.logprob);
    worst = Math.max(worst, diff);
    if (n1.logprob - n2.logprob > tol) assert.equal(top[0].id, n1.id, `${what}, prompt [${id}]: top-1 token`);
    const llamaLp = top.find((t) => t.id === n1.id)?.logprob;
    assert.ok(llamaLp !== undefined, `${what}, prompt [${id}]: native top-1 ${n1.id} among llama-server's top 2`);
    assert.ok(Math.abs(llamaLp - n1.logprob) <= tol,
      `${what}, prompt [${id}]: log-probability of ${n1.id}: llama-server ${llamaLp}, native ${n1.logprob} (tolerance ${tol})`);
  }
  console.log(`# ${what}: ${prompts.length} prompts, largest log-probability difference ${worst.toFixed(5)}`);
  await srv.stop();
}

test('tiny MXFP4 checkpoint -> GGUF (MXFP4 experts, bf16 matrices): same top-1 and probability', { skip: SKIP }, async () => {
  await compare('tiny mxfp4', join(FIXTURES, 'models', 'tiny-gptoss-mxfp4'), [], 0.2);
});

test('tiny bf16 checkpoint -> GGUF (bf16): same top-1 and probability', { skip: SKIP }, async () => {
  await compare('tiny bf16', join(FIXTURES, 'models', 'tiny-gptoss-bf16'), [], 0.06);
});

test('tiny bf16 checkpoint -> GGUF --outtype f32: same top-1 and probability within 0.01', { skip: SKIP }, async () => {
  await compare('tiny bf16 as f32', join(FIXTURES, 'models', 'tiny-gptoss-bf16'), ['--outtype', 'f32'], 0.01);
});

test('20b-shaped checkpoint (1 layer, vocabulary 8192) -> GGUF: same top-1 and probability', { skip: SKIP }, async () => {
  const dir = join(tmpDir(), 'm20');
  execFileSync(tool('fk-mkmodel'), ['--out', dir, '--preset', '20b', '--layers', '1', '--vocab', '8192',
    '--tokenizer', join(FIXTURES, 'tokenizer', 'tokenizer.json')], { stdio: 'ignore' });
  await compare('20b-shaped mxfp4', dir, [], 0.05, [1, 100, 5000, 8000, 42, 7], 2);
});

test('llama-server /tokenize equals libfktok on the o200k_harmony cases', { skip: SKIP }, async () => {
  const cases = join(FIXTURES, 'tokenizer', 'o200k_harmony_cases.jsonl');
  // libfktok agrees with the case file (both tokenizer files)...
  execFileSync(tool('fk-tokenize'), ['--tokenizer', join(FIXTURES, 'tokenizer', 'tokenizer.json'), '--check', cases]);
  // ...and llama-server on the GGUF agrees with it, case by case.
  const srv = await startLlama(makeGguf(join(FIXTURES, 'models', 'tiny-gptoss-mxfp4')), { ctx: 256, parallel: 1 });
  servers.push(srv);
  const lines = readFileSync(cases, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.ok(lines.length >= 80, `${lines.length} cases`);
  for (const c of lines) {
    const r = await srv.post('/tokenize', { content: c.text, add_special: false, parse_special: true });
    assert.deepEqual(r.tokens, c.ids, `case ${c.name}`);
  }
  await srv.stop();
});
