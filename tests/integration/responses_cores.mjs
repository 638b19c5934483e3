// /v1/responses on real models, through the official openai client: the
// native engine (FK_CORE_KIND=vllm) on the tiny gpt-oss fixture, and the
// real llama-server (scripts/llama-server.sh's cached build; skipped with
// the reason when it is not built) on the same checkpoint converted by
// fk-gguf, behind FK_CORE_KIND=llama. The tiny model is random, so the
// checks are of structure, never words: greedy output whole and streamed
// agree, usage adds up, max_output_tokens gives "incomplete", and a
// previous_response_id follow-up's prompt holds the earlier turn (its input
// tokens exceed the earlier prompt's; the real llama-server serves the
// shared prefix from its cache).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startGateway, openaiClient } from './lib.mjs';
import { SKIP, makeGguf, startLlama } from './real_llama.mjs';

const FIXTURE = join(process.env.FK_FIXTURES, 'models', 'tiny-gptoss-mxfp4');
const LONG = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');

const stops = [];
after(async () => { for (const s of stops.reverse()) await s(); });

async function nativeGateway() {
  const gw = await startGateway({
    env: { FK_CORE_KIND: 'vllm', VLLM_MODEL_CORE: FIXTURE, VLLM_MAX_MODEL_LEN: '1024', FRONTEND_MAX_TOKENS: '64', FK_THREADS: '1', FK_MAX_BATCH: '2' },
  });
  stops.push(async () => assert.equal((await gw.stop()).code, 0));
  return gw;
}

async function llamaGateway() {
  const srv = await startLlama(makeGguf(FIXTURE), { ctx: 1024, parallel: 1 });
  stops.push(() => srv.stop());
  const gw = await startGateway({
    env: { FK_CORE_KIND: 'llama', FK_CORE_API_BASE: srv.baseURL, FRONTEND_VLLM_MODEL: 'tiny', VLLM_MAX_MODEL_LEN: '1024', FRONTEND_MAX_TOKENS: '64',
      FK_LLAMA_HEALTH_INTERVAL_MS: '100' },
  });
  stops.push(async () => assert.equal((await gw.stop()).code, 0));
  for (let i = 0; i < 100 && (await fetch(gw.baseURL + '/health')).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
  return gw;
}

// The text of every output item, for comparing two responses.
const texts = (r) => r.output.map((o) => (o.type === 'function_call' ? o.arguments : o.content?.map((c) => c.text).join('')));

async function checkCore(gw, model, { cachedFollowUp }) {
  const client = openaiClient(gw, { timeout: 120000 });
  const ask = { model, input: `Please repeat: ${LONG}`, max_output_tokens: 12, temperature: 0 };
  const whole = await client.responses.create(ask);
  assert.equal(whole.object, 'response');
  assert.ok(['completed', 'incomplete'].includes(whole.status));
  if (whole.status === 'incomplete') assert.deepEqual(whole.incomplete_details, { reason: 'max_output_tokens' });
  const u = whole.usage;
  assert.ok(u.input_tokens > 60, `the long input was counted (${u.input_tokens})`);
  assert.ok(u.output_tokens > 0 && u.output_tokens <= 12, `output tokens within max_output_tokens (${u.output_tokens})`);
  assert.equal(u.total_tokens, u.input_tokens + u.output_tokens);
  assert.ok(u.output_tokens_details.reasoning_tokens <= u.output_tokens);

  const stream = client.responses.stream(ask);
  const seqs = [];
  let last = null;
  stream.on('event', (e) => { seqs.push(e.sequence_number); last = e; });
  await stream.done();
  // (the client's stream helper keeps only response.completed as its final
  // snapshot; an incomplete response ends with response.incomplete)
  assert.equal(last.type, `response.${whole.status}`);
  const streamed = last.response;
  assert.deepEqual(seqs, seqs.map((_, i) => i), 'sequence numbers from 0 without gaps');
  assert.deepEqual(texts(streamed), texts(whole), 'greedy: the stream gives the same output as the whole response');
  assert.equal(streamed.usage.output_tokens, whole.usage.output_tokens);
  assert.equal(streamed.status, whole.status);

  // A follow-up continues the stored conversation: its prompt holds the long
  // first turn, so it is longer than the first prompt, while the same short
  // input alone is shorter.
  const alone = await client.responses.create({ model, input: 'Go on.', max_output_tokens: 4, temperature: 0 });
  const follow = await client.responses.create({ model, input: 'Go on.', max_output_tokens: 4, temperature: 0, previous_response_id: whole.id });
  assert.ok(alone.usage.input_tokens < u.input_tokens, `alone ${alone.usage.input_tokens} < first ${u.input_tokens}`);
  assert.ok(follow.usage.input_tokens > u.input_tokens,
    `the follow-up's prompt (${follow.usage.input_tokens} tokens) holds the first turn (${u.input_tokens})`);
  console.log(`# ${model}: ${whole.status}, items [${whole.output.map((o) => o.type)}], input ${u.input_tokens}, output ${u.output_tokens}; ` +
    `follow-up input ${follow.usage.input_tokens} (cached ${follow.usage.input_tokens_details.cached_tokens}), alone ${alone.usage.input_tokens}`);
  if (cachedFollowUp)
    assert.ok(follow.usage.input_tokens_details.cached_tokens > 0, `the shared prefix came from the cache (${follow.usage.input_tokens_details.cached_tokens})`);
  return follow;
}

test('native engine, tiny model: whole and streamed agree, usage, previous_response_id', async () => {
  const gw = await nativeGateway();
  await checkCore(gw, 'tiny-gptoss-mxfp4', { cachedFollowUp: false });
});

test('real llama-server, tiny model as GGUF: whole and streamed agree, usage, previous_response_id from its cache', { skip: SKIP }, async () => {
  const gw = await llamaGateway();
  await checkCore(gw, 'tiny', { cachedFollowUp: true });
});
