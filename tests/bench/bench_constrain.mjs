// bench_constrain.mjs: what constraining tool arguments costs per token on
// each core, end to end (not a test: prints numbers).
//
// The tiny gpt-oss fixture behind the gateway, on the native engine and
// (when scripts/llama-server.sh has built it) on the real llama-server with
// the same checkpoint converted by fk-gguf. Per core, one request at a time
// at temperature 1: FK_BENCH_CALLS (20) forced calls (tool_choice naming a
// function: every token constrained) and as many unconstrained chats of
// about the same length; milliseconds per generated token for each, and the
// difference, which is the constraint's cost per token on that core.
//
//   FK_TOP_BUILDDIR=build-check FK_NODE_MODULES=tests/node_modules node tests/bench/bench_constrain.mjs
import { join } from 'node:path';
import { benchEnv } from './bench_env.mjs';

benchEnv(['drivers/llamacpp-proxy/.libs', 'drivers/cuda/.libs']);
const { startGateway, openaiClient } = await import('../integration/lib.mjs');
const { SKIP, makeGguf, startLlama } = await import('../integration/real_llama.mjs');

const FIXTURE = join(process.env.FK_FIXTURES, 'models', 'tiny-gptoss-mxfp4');
const CALLS = Number(process.env.FK_BENCH_CALLS || 20);
const TOOL = {
  type: 'function',
  function: {
    name: 'note',
    parameters: {
      type: 'object',
      properties: { title: { type: 'string', maxLength: 24 }, tags: { type: 'array', items: { type: 'string', maxLength: 6 }, maxItems: 4 }, n: { type: 'integer' } },
      required: ['title', 'tags', 'n'],
      additionalProperties: false,
    },
  },
};
const MESSAGES = [{ role: 'user', content: 'Take a note.' }];

// Sequential requests: total wall time over total completion tokens.
async function msPerToken(client, model, make) {
  let tokens = 0;
  const t0 = performance.now();
  for (let i = 0; i < CALLS; i++) {
    const r = await client.chat.completions.create({ model, messages: MESSAGES, temperature: 1, seed: i, ...make(i) });
    tokens += r.usage.completion_tokens;
  }
  return { ms: (performance.now() - t0) / tokens, tokens };
}

async function measure(label, gw, model) {
  const client = openaiClient(gw, { timeout: 600000 });
  const forced = await msPerToken(client, model, () => ({ tools: [TOOL], tool_choice: { type: 'function', function: { name: 'note' } }, max_tokens: 200 }));
  const per = Math.max(1, Math.round(forced.tokens / CALLS));
  const free = await msPerToken(client, model, () => ({ max_tokens: per }));
  console.log(`${label.padEnd(14)} unconstrained ${free.ms.toFixed(2)} ms/token (${free.tokens} tokens), ` +
    `constrained ${forced.ms.toFixed(2)} ms/token (${forced.tokens} tokens): ` +
    `+${(forced.ms - free.ms).toFixed(2)} ms/token, ${(forced.ms / free.ms).toFixed(2)}x`);
}

const native = await startGateway({ env: { FK_CORE_KIND: 'vllm', VLLM_MODEL_CORE: FIXTURE, VLLM_MAX_MODEL_LEN: '2048', FK_THREADS: '1' } });
try {
  await measure('native', native, 'tiny-gptoss-mxfp4');
} finally {
  await native.stop();
}
if (SKIP) {
  console.log(`llama-server   skipped: ${SKIP}`);
} else {
  const srv = await startLlama(makeGguf(FIXTURE), { ctx: 2048, parallel: 1 });
  const gw = await startGateway({ env: { FK_CORE_KIND: 'llama', FK_CORE_API_BASE: srv.baseURL, FRONTEND_VLLM_MODEL: 'tiny', VLLM_MAX_MODEL_LEN: '2048', FRONTEND_MAX_TOKENS: '256' } });
  try {
    for (let i = 0; i < 100 && (await fetch(gw.baseURL + '/health')).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
    await measure('llama-server', gw, 'tiny');
  } finally {
    await gw.stop();
    await srv.stop();
  }
}
