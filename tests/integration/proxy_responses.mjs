// /v1/responses on the llama core (FK_CORE_KIND=llama, Harmony mode) in front
// of the stand-in llama-server, through the official openai client: the
// driver tokenizes the rendered prompt and streams /completion, the gateway
// reads the canned Harmony back as output items. The prompt the stand-in
// received shows what a previous_response_id follow-up renders.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { OpenAI } from './lib.mjs';
import { startProxied, stopProxied } from './proxy_fake.mjs';

const MODEL = 'gpt-oss-20b-mxfp4.gguf';
// What the model samples for a tool call: the header in ordinary tokens, as
// gpt-oss writes it, ended by <|call|>.
const CALL = {
  tokens: ['<|channel|>', 'analysis', '<|message|>', 'Need the weather.', '<|end|>', '<|start|>', 'assistant',
    '<|channel|>', 'commentary to=functions.get_weather ', '<|constrain|>', 'json', '<|message|>', '{"city": "Paris"}'],
  eos_id: 200012,
};
const ANSWER = { tokens: ['<|channel|>', 'final', '<|message|>', 'Sunny.'] };
const tools = [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }];

let fake, gw, client;
before(async () => ({ fake, gw, client } = await startProxied({ VLLM_MAX_MODEL_LEN: '2000', FRONTEND_MAX_TOKENS: '100' })));
after(() => stopProxied({ fake, gw }));

test('whole: reasoning and answer items from the upstream tokens; usage from the driver', async () => {
  const r = await client.responses.create({ model: MODEL, input: 'hi', max_output_tokens: 50, temperature: 0.5 });
  assert.equal(r.status, 'completed');
  assert.deepEqual(r.output.map((o) => o.type), ['reasoning', 'message']);
  assert.equal(r.output[0].content[0].text, 'Thinking.');
  assert.equal(r.output_text, 'Hello world!');
  const last = await fake.last('/completion');
  assert.equal(r.usage.input_tokens, last.prompt_ids.length, 'input tokens = ids the driver sent');
  assert.equal(r.usage.output_tokens, 16);
  assert.ok(r.usage.output_tokens_details.reasoning_tokens > 0);
  assert.equal(last.body.n_predict, 50);
  assert.equal(last.body.temperature, 0.5);
  assert.match(last.prompt_text, /<\|start\|>user<\|message\|>hi<\|end\|><\|start\|>assistant$/);
});

test('streamed: the stream helper rebuilds the same items', async () => {
  const stream = client.responses.stream({ model: MODEL, input: 'hi' });
  let text = '';
  stream.on('response.output_text.delta', (e) => { text += e.delta; });
  const final = await stream.finalResponse();
  assert.equal(text, 'Hello world!');
  assert.equal(final.output[0].content[0].text, 'Thinking.');
  assert.equal(final.status, 'completed');
});

test('a tool call, then its output through previous_response_id: the upstream prompt holds the earlier turn', async () => {
  await fake.fault(CALL, 1);
  const r1 = await client.responses.create({ model: MODEL, input: 'Weather in Paris?', tools });
  const call = r1.output.find((o) => o.type === 'function_call');
  assert.equal(call?.name, 'get_weather');
  assert.equal(call.arguments, '{"city": "Paris"}');
  assert.equal(r1.status, 'completed');
  await fake.fault(ANSWER, 1);
  const r2 = await client.responses.create({
    model: MODEL, tools, previous_response_id: r1.id,
    input: [{ type: 'function_call_output', call_id: call.call_id, output: 'sunny' }],
  });
  assert.equal(r2.output_text, 'Sunny.');
  const last = await fake.last('/completion');
  assert.ok(last.prompt_text.endsWith(
    '<|start|>user<|message|>Weather in Paris?<|end|>' +
    '<|start|>assistant<|channel|>analysis<|message|>Need the weather.<|end|>' +
    '<|start|>assistant to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{"city": "Paris"}<|call|>' +
    '<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>sunny<|end|><|start|>assistant'),
  last.prompt_text);
  assert.equal(r2.usage.input_tokens, last.prompt_ids.length);
});

test('invalid inputs are refused before the upstream is asked', async () => {
  const before = (await fake.log()).requests.filter((q) => q.path === '/completion').length;
  await assert.rejects(client.responses.create({ model: MODEL, input: 'x', tools: [{ type: 'code_interpreter', container: { type: 'auto' } }] }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'tools[0].type' && /'code_interpreter'/.test(e.message));
  await assert.rejects(client.responses.create({ model: MODEL, input: 'x', previous_response_id: 'resp_unknown' }), OpenAI.NotFoundError);
  const afterN = (await fake.log()).requests.filter((q) => q.path === '/completion').length;
  assert.equal(afterN, before);
});
