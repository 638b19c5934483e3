// fk-ab against real gateways, asserting on its --json report:
//  - the stand-in llama-server behind two gateways, each playing canned Harmony
//    tokens: answers that part at a known token (where, which tokens, both
//    sides' reasoning and final), a tool call placed alike, a token the
//    upstream sends without its id matched by its text; the terminal table,
//    the self-contained --html page, an unreachable side;
//  - the native engine on the tiny checkpoint in its MXFP4 form and the bf16
//    form fk-mkmodel --from derives (the same function): they agree on every
//    token and probability;
//  - the native engine against the real llama-server on the same weights (the
//    bf16 checkpoint as an f32 GGUF from fk-gguf; skipped when llama-server is
//    not built): llama.cpp rounds gpt-oss's YaRN correction range, so on chat
//    prompts (dozens of tokens) the first token's log-probability already
//    differs and greedy tokens part within a few tokens, while one-token
//    prompts agree at the first token; a native checkpoint whose config asks
//    for the rounding (rope_scaling.truncate: true) moves most of the way back.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync, symlinkSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startGateway, tmpDir } from './lib.mjs';
import { startFake, llamaEnv, waitReady } from './proxy_fake.mjs';
import { SKIP, makeGguf, startLlama } from './real_llama.mjs';

const FK_AB = join(process.env.FK_TOP_BUILDDIR, 'ab', 'fk-ab');
const MODELS = join(process.env.FK_FIXTURES, 'models');
const DATE = '2026-01-01';
const stops = [];
after(async () => { for (const s of stops.reverse()) await s(); });

// fk-ab with args -> { code, stdout, stderr }
function ab(args) {
  return new Promise((resolve) => {
    execFile(FK_AB, args, { maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
}
async function abJson(a, b, args = []) {
  const r = await ab(['--a', a.baseURL, '--b', b.baseURL, '--date', DATE, '--json', ...args]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}
function chatsFile(lines) {
  const f = join(tmpDir(), 'chats.jsonl');
  writeFileSync(f, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  return f;
}
const user = (content) => ({ messages: [{ role: 'user', content }] });
async function gateway(env) {
  const gw = await startGateway({ env });
  stops.push(async () => { const r = await gw.stop(); assert.equal(r.code, 0, r.stderr); });
  await waitReady(gw, 60000);
  return gw;
}

// Every report field the README names, with consistent numbers.
function checkShape(r) {
  assert.ok(r.a.model && r.b.model && r.a.base && r.b.base, 'both sides named');
  let agreed = 0, compared = 0;
  for (const c of r.chats) {
    const d = c.first_divergence;
    assert.ok(d === null || (Number.isInteger(d) && d >= 0), 'first_divergence: an index or null');
    assert.equal(c.compared_tokens, Math.max(c.a.tokens, c.b.tokens));
    assert.equal(c.agreed_tokens, d === null ? c.compared_tokens : d);
    assert.deepEqual(c.a.ids.slice(0, c.agreed_tokens), c.b.ids.slice(0, c.agreed_tokens), 'the same tokens up to the divergence');
    if (d !== null && d < c.a.tokens && d < c.b.tokens) assert.notEqual(c.a.ids[d], c.b.ids[d], 'different tokens at the divergence');
    assert.equal(c.positions.length, Math.min(d === null ? c.compared_tokens : d + 1, c.a.tokens, c.b.tokens), 'one entry per compared position');
    for (const s of [c.a, c.b]) {
      assert.equal(s.pieces.length, s.tokens);
      assert.equal(s.prompt_tokens, c.prompt_tokens, 'the core saw the prompt fk-ab rendered');
      assert.ok(s.ttft_ms > 0 && s.total_ms >= s.ttft_ms, 'timings');
      for (const m of s.messages) assert.ok(m.from <= m.to && m.to <= s.tokens, 'message spans inside the answer');
    }
    agreed += c.agreed_tokens;
    compared += c.compared_tokens;
  }
  assert.equal(r.summary.chats, r.chats.length);
  assert.equal(r.summary.agreed_tokens, agreed);
  assert.equal(r.summary.compared_tokens, compared);
  assert.ok(Math.abs(r.summary.token_agreement - agreed / compared) < 1e-12, 'summary.token_agreement');
  assert.deepEqual(r.summary.first_divergences, r.chats.map((c) => c.first_divergence));
}

// ---- stand-ins: canned Harmony answers -----------------------------------------

const T = (...t) => ({ tokens: t });
const harmony = (reasoning, final) => T('<|channel|>', 'analysis', '<|message|>', reasoning, '<|end|>',
  '<|start|>', 'assistant', '<|channel|>', 'final', '<|message|>', final, '<|return|>');
const toolCall = T('<|channel|>', 'commentary', ' to=functions.get_weather', ' ', '<|constrain|>', 'json',
  '<|message|>', '{"city":"Paris"}', '<|call|>');
// 9685 ends inside a UTF-8 character: llama-server (and the stand-in) holds
// its bytes back and sends them with the next token, under that id only.
const heldBack = T('<|channel|>', 'final', '<|message|>', 'A', 9685, '.RUN', ' done', '<|return|>');

test('stand-ins: where canned answers part, reasoning and final, a tool call, an unnamed token', async () => {
  const fakeA = await startFake(), fakeB = await startFake();
  stops.push(async () => { fakeA.stop(); fakeB.stop(); });
  const gwA = await gateway(llamaEnv(fakeA, { FRONTEND_VLLM_MODEL: 'stand-in-a' }));
  const gwB = await gateway(llamaEnv(fakeB, { FRONTEND_VLLM_MODEL: 'stand-in-b' }));
  const chats = chatsFile([user('What is 2+2? Think step by step.'), user('Weather in Paris?'), user('Say something.')]);
  for (const s of [harmony('Two plus two is four.', 'The answer is 4.'), toolCall, heldBack]) await fakeA.fault(s, 1);
  for (const s of [harmony('Two plus two is four.', 'The answer is 5.'), toolCall, heldBack]) await fakeB.fault(s, 1);
  const html = join(tmpDir(), 'report.html');
  const r = await abJson(gwA, gwB, ['--chats', chats, '--max-tokens', '40', '--top-k', '2', '--html', html]);
  checkShape(r);
  assert.deepEqual([r.a.model, r.b.model], ['stand-in-a', 'stand-in-b'], 'models from /v1/models');

  const [c1, c2, c3] = r.chats;
  const d = c1.first_divergence;
  assert.ok(Number.isInteger(d), 'the answers part');
  assert.equal(c1.a.pieces.slice(0, d).join(''), '<|channel|>analysis<|message|>Two plus two is four.<|end|><|start|>assistant<|channel|>final<|message|>The answer is ',
    'everything before "4" / "5" agrees');
  assert.deepEqual([c1.divergence.a.text, c1.divergence.b.text], ['4', '5'], 'the diverging tokens');
  assert.equal(c1.a.reasoning, 'Two plus two is four.');
  assert.equal(c1.b.reasoning, 'Two plus two is four.');
  assert.deepEqual([c1.a.final, c1.b.final], ['The answer is 4.', 'The answer is 5.']);
  assert.deepEqual(c1.a.messages.map((m) => [m.channel, m.from]), [['analysis', 0], ['final', c1.a.messages[1].from]]);
  assert.equal(c1.a.messages[0].to, c1.a.messages[1].from, 'the final message starts where the analysis ended');
  assert.equal(c1.mean_abs_logprob_diff, 0, 'the stand-ins give the same made-up values for the same tokens');
  assert.ok(c1.positions.slice(0, d).every((p) => p.top_k_overlap === 1), 'the same alternatives before it');
  assert.equal(c1.positions[d].logprob_diff, null, 'no difference of one token at the divergence');
  assert.ok(c1.token_agreement > 0.5 && c1.token_agreement < 1);

  assert.equal(c2.first_divergence, null, 'the tool call agrees');
  assert.deepEqual(c2.a.messages.map((m) => [m.channel, m.recipient, m.text]), [['commentary', 'functions.get_weather', '{"city":"Paris"}']]);

  assert.equal(c3.first_divergence, null, 'an unnamed token matches by its text');
  assert.deepEqual([c3.a.unnamed_tokens, c3.b.unnamed_tokens], [1, 1], 'the held-back token came without its id');
  assert.equal(c3.a.final, 'A\ufffd.RUN done');

  assert.equal(r.summary.identical_chats, 2);
  assert.ok(r.summary.token_agreement < 1);

  const page = readFileSync(html, 'utf8');
  assert.match(page, /^<!DOCTYPE html>/);
  assert.equal((page.match(/<svg /g) ?? []).length, 4, 'four plots: divergence, log-probability, two speeds');
  assert.doesNotMatch(page, /<script|<link|<img|src=|href=|url\(|@import/i, 'nothing loaded from anywhere');
  assert.match(page, /part at token \d+/);
  assert.match(page, /&lt;\|channel\|&gt;/, 'token text escaped');
});

test('stand-ins: the terminal table, and an unreachable side', async () => {
  const fake = await startFake();
  stops.push(async () => fake.stop());
  const gw = await gateway(llamaEnv(fake, { FRONTEND_VLLM_MODEL: 'stand-in' }));
  const text = await ab(['--a', gw.baseURL + '/v1/', '--b', gw.baseURL, '--max-tokens', '20']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^A: http:\/\/127\.0\.0\.1:\d+ \(stand-in\)$/m, 'a base with /v1/ is the same base');
  assert.match(text.stdout, /token agreement 1\.000 \(\d+ of \d+ tokens/);
  assert.match(text.stdout, /4 of 4 chats identical/, 'the built-in set');
  assert.match(text.stdout, /A: analysis 0-\d+, final \d+-\d+/, 'where the reasoning and the final went');
  const down = await ab(['--a', gw.baseURL, '--b', 'http://127.0.0.1:1', '--wait', '0']);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /^fk-ab: B \(http:\/\/127\.0\.0\.1:1\/v1\/models\): /m);
  const usage = await ab(['--a', gw.baseURL]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /usage: fk-ab --a BASE_URL/);
  const bad = await ab(['--a', gw.baseURL, '--b', gw.baseURL, '--chats', chatsFile([{ nothing: 1 }])]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /chats\.jsonl:1: a line must be an object with "messages" or "prompt"/);
});

// ---- the native engine -----------------------------------------------------------

const native = (dir, model) => gateway({ FK_CORE_KIND: 'vllm', VLLM_MODEL_CORE: dir, FRONTEND_VLLM_MODEL: model, FK_THREADS: '1' });

test('native MXFP4 vs native bf16: every token and probability agrees', async () => {
  const a = await native(join(MODELS, 'tiny-gptoss-mxfp4'), 'tiny-mxfp4');
  const b = await native(join(MODELS, 'tiny-gptoss-bf16'), 'tiny-bf16');
  const r = await abJson(a, b, ['--max-tokens', '24']);
  checkShape(r);
  assert.equal(r.summary.token_agreement, 1);
  assert.deepEqual(r.chats.map((c) => c.first_divergence), [null, null, null, null]);
  assert.ok(r.summary.max_abs_logprob_diff < 1e-3, `log-probabilities within 1e-3 (${r.summary.max_abs_logprob_diff})`);
  assert.equal(r.summary.top_k_overlap, 1);
  for (const c of r.chats) assert.deepEqual(c.a.messages, c.b.messages, 'reasoning and final in the same places');
  console.log(`# MXFP4 vs bf16: agreement ${r.summary.token_agreement}, max |dlogprob| ${r.summary.max_abs_logprob_diff}`);
});

// The bf16 tiny checkpoint with rope_scaling.truncate set (llama.cpp's rounding).
function truncatedCopy() {
  const src = join(MODELS, 'tiny-gptoss-bf16');
  const dir = join(tmpDir(), 'tiny-bf16-truncate');
  mkdirSync(dir);
  for (const f of readdirSync(src)) if (f !== 'config.json') symlinkSync(join(src, f), join(dir, f));
  const config = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8'));
  assert.equal(config.rope_scaling.truncate, false, 'the fixture asks for the unrounded range');
  config.rope_scaling.truncate = true;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}
const firstDiff = (r) => r.chats.map((c) => c.positions[0]?.logprob_diff).filter((v) => typeof v === 'number').map(Math.abs);
const mean = (v) => v.reduce((s, x) => s + x, 0) / v.length;

test('native vs the real llama-server: YaRN\'s rounded correction range shows on long prompts', { skip: SKIP }, async () => {
  const srv = await startLlama(makeGguf(join(MODELS, 'tiny-gptoss-bf16'), ['--outtype', 'f32']), { ctx: 4096, parallel: 1, threads: 1 });
  stops.push(() => srv.stop());
  const llama = await gateway({ FK_CORE_KIND: 'llama', FK_CORE_API_BASE: srv.baseURL, FRONTEND_VLLM_MODEL: 'tiny-gguf', FK_LLAMA_HEALTH_INTERVAL_MS: '100' });
  const nat = await native(join(MODELS, 'tiny-gptoss-bf16'), 'tiny-bf16');
  const rounded = await native(truncatedCopy(), 'tiny-bf16-truncate');
  const oneToken = chatsFile([200006, 12345, 100, 9000].map((id) => ({ prompt: [id] })));

  const chats = await abJson(nat, llama, ['--max-tokens', '32']);
  checkShape(chats);
  const single = await abJson(nat, llama, ['--max-tokens', '32', '--chats', oneToken]);
  checkShape(single);
  const control = await abJson(rounded, llama, ['--max-tokens', '32']);
  checkShape(control);
  const [dChats, dSingle, dControl] = [chats, single, control].map(firstDiff);
  console.log(`# native vs llama-server, chats (${chats.chats.map((c) => c.prompt_tokens)} prompt tokens): agreement ${chats.summary.token_agreement.toFixed(3)}, first divergences ${chats.summary.first_divergences}, first-token |dlogprob| ${dChats.map((v) => v.toFixed(4))}`);
  console.log(`# one-token prompts: agreement ${single.summary.token_agreement.toFixed(3)}, first divergences ${single.summary.first_divergences}, first-token |dlogprob| ${dSingle.map((v) => v.toFixed(4))}`);
  console.log(`# native with truncate: true vs llama-server, chats: agreement ${control.summary.token_agreement.toFixed(3)}, first divergences ${control.summary.first_divergences}, first-token |dlogprob| ${dControl.map((v) => v.toFixed(4))}`);

  assert.ok(chats.summary.token_agreement < 1, 'greedy tokens part on chat prompts');
  assert.ok(Math.min(...chats.chats.map((c) => c.first_divergence ?? Infinity)) <= 16, 'within a few tokens');
  assert.ok(mean(dChats) > 0.02, `the first token's log-probability already differs on chat prompts (${dChats})`);
  assert.equal(dSingle.length, 4, 'one-token prompts agree on the first token');
  assert.ok(Math.max(...dSingle) < 0.005, `and on its log-probability (${dSingle})`);
  assert.ok(mean(dControl) < mean(dChats) / 2, `rounding as llama.cpp does brings the native engine closer (${mean(dControl)} vs ${mean(dChats)})`);
  assert.ok(control.summary.mean_abs_logprob_diff < chats.summary.mean_abs_logprob_diff, 'over every compared position too');
});
