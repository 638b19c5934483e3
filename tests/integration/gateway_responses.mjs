// The Responses API (POST /v1/responses, GET/DELETE /v1/responses/{id})
// through the official openai client against fk-gateway with the scripted
// driver: reasoning, answers and tool calls as output items, whole and
// streamed (the client's own stream helper rebuilds the response from the
// events), follow-ups with previous_response_id checked in the prompt the
// driver received, the store and its bounds, invalid inputs as typed errors,
// failures mid-stream, auth, metrics and the throughput line.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGateway, openaiClient, scriptedEnv, OpenAI } from './lib.mjs';

const scripts = {
  hello: { harmony: '<|channel|>analysis<|message|>The user greets me.<|end|><|start|>assistant<|channel|>final<|message|>Hello! How can I help?<|return|>' },
  tool: {
    harmony: '<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "Paris"}<|call|>',
    delay_ms: 1,
  },
  answer: { harmony: '<|channel|>analysis<|message|>It is sunny.<|end|><|start|>assistant<|channel|>final<|message|>Sunny in Paris.<|return|>' },
  preamble: { harmony: '<|channel|>commentary<|message|>Checking.<|end|><|start|>assistant<|channel|>commentary to=functions.get_time <|constrain|>json<|message|>{}<|call|>' },
  long: {
    pieces: [{ text: '<|channel|>', special: true, id: 200005 }, { text: 'final', id: 17196 }, { text: '<|message|>', special: true, id: 200008 },
      ...Array.from({ length: 30 }, (_, i) => ({ text: `w${i} `, id: 1000 + i })), { text: '<|return|>', special: true, id: 200002 }],
  },
  broken: { harmony: '<|channel|>final<|message|>Partial answer', error: { status: 502, type: 'server_error', code: 'upstream_error', message: 'the core fell over' } },
  refused: { harmony: '<|channel|>final<|message|>x<|return|>', refuse: { status: 503, type: 'unavailable_error', code: 'core_busy', message: 'no slot free' } },
};
const tools = [
  { type: 'function', name: 'get_weather', description: 'Gets the weather.', strict: true,
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false } },
  { type: 'function', name: 'get_time', parameters: { type: 'object', properties: {} } },
];
const MODEL = 'fk-scripted';

let gw, client, sc;
before(async () => {
  sc = scriptedEnv(scripts, { FK_STATS_INTERVAL_S: '0.3', FK_RESPONSES_STORE_MAX: '20' });
  gw = await startGateway({ env: sc.env });
  client = openaiClient(gw);
});
after(async () => {
  const r = await gw.stop();
  assert.equal(r.code, 0, `gateway exit: ${r.code} ${r.signal}\n${r.stderr}`);
});

let rid = 0;
const nextId = () => `rtest-${++rid}`;
// The request's x-request-id, so its lines can be found in the driver's log.
const withId = (id) => ({ headers: { 'x-request-id': id } });
// What the driver logged for a request: prompt (the flattened text), params, tools.
function logged(id) {
  const out = {};
  for (const line of sc.readLog()) {
    const [event, req, , ...rest] = line.split(' ');
    if (req !== id) continue;
    if (event === 'prompt') out.prompt = JSON.parse(rest.join(' '));
    if (event === 'tools') out.tools = JSON.parse(rest.join(' '));
    if (event === 'params') out.params = rest.join(' ');
  }
  return out;
}

// The raw stream: [{event, data}] and the text, read with fetch.
async function rawStream(body, headers = {}) {
  const res = await fetch(gw.baseURL + '/v1/responses', {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ ...body, stream: true }),
  });
  const text = await res.text();
  const events = text.split('\n\n').filter((b) => b.trim() && !b.startsWith(':')).map((b) => {
    const ev = /^event: (.*)$/m.exec(b)?.[1];
    const data = /^data: (.*)$/m.exec(b)?.[1];
    return { event: ev, data: data === undefined ? undefined : JSON.parse(data) };
  });
  return { status: res.status, headers: res.headers, text, events };
}

test('whole: a reasoning item and an answer message; usage with reasoning tokens; echoed settings', async () => {
  const id = nextId();
  const r = await client.responses.create({ model: MODEL, input: 'hi script:hello', instructions: 'Be brief.', metadata: { run: '7' }, temperature: 0.5, top_p: 0.9 }, withId(id));
  assert.equal(r.object, 'response');
  assert.match(r.id, /^resp_[0-9a-f]{24}$/);
  assert.equal(r.status, 'completed');
  assert.equal(r.model, MODEL);
  assert.equal(typeof r.created_at, 'number');
  assert.equal(r.error, null);
  assert.equal(r.incomplete_details, null);
  assert.equal(r.output.length, 2);
  const [rs, msg] = r.output;
  assert.equal(rs.type, 'reasoning');
  assert.match(rs.id, /^rs_[A-Za-z0-9]{24}$/);
  assert.deepEqual(rs.summary, []);
  assert.deepEqual(rs.content, [{ type: 'reasoning_text', text: 'The user greets me.' }]);
  assert.equal(msg.type, 'message');
  assert.match(msg.id, /^msg_[A-Za-z0-9]{24}$/);
  assert.equal(msg.role, 'assistant');
  assert.equal(msg.status, 'completed');
  assert.equal(msg.phase, 'final_answer');
  assert.deepEqual(msg.content, [{ type: 'output_text', text: 'Hello! How can I help?', annotations: [], logprobs: [] }]);
  assert.equal(r.output_text, 'Hello! How can I help?', "the client's output_text helper finds the answer");
  assert.ok(r.usage.input_tokens > 0);
  assert.ok(r.usage.output_tokens > 0);
  assert.ok(r.usage.output_tokens_details.reasoning_tokens > 0 && r.usage.output_tokens_details.reasoning_tokens < r.usage.output_tokens);
  assert.equal(r.usage.input_tokens_details.cached_tokens, 0);
  assert.equal(r.usage.total_tokens, r.usage.input_tokens + r.usage.output_tokens);
  assert.equal(r.instructions, 'Be brief.');
  assert.deepEqual(r.metadata, { run: '7' });
  assert.equal(r.temperature, 0.5);
  assert.equal(r.top_p, 0.9);
  assert.equal(r.store, true);
  assert.equal(r.previous_response_id, null);
  const seen = logged(id);
  assert.match(seen.prompt, /<\|start\|>developer<\|message\|># Instructions\n\nBe brief\.<\|end\|><\|start\|>user<\|message\|>hi script:hello<\|end\|><\|start\|>assistant$/);
  assert.match(seen.params, /temperature=0\.5 top_p=0\.9/);
});

test("streamed: the client's stream helper rebuilds the response; events numbered from 0; no [DONE]", async () => {
  const stream = client.responses.stream({ model: MODEL, input: 'hi script:hello' });
  const events = [];
  let text = '', reasoning = '';
  stream.on('event', (e) => events.push(e));
  stream.on('response.output_text.delta', (e) => { text += e.delta; });
  stream.on('response.reasoning_text.delta', (e) => { reasoning += e.delta; });
  const final = await stream.finalResponse();
  assert.equal(text, 'Hello! How can I help?');
  assert.equal(reasoning, 'The user greets me.');
  assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i), 'sequence numbers 0, 1, 2, ...');
  assert.deepEqual(events.map((e) => e.type), [
    'response.created', 'response.in_progress',
    'response.output_item.added', 'response.content_part.added', 'response.reasoning_text.delta', 'response.reasoning_text.done',
    'response.content_part.done', 'response.output_item.done',
    'response.output_item.added', 'response.content_part.added', 'response.output_text.delta', 'response.output_text.done',
    'response.content_part.done', 'response.output_item.done',
    'response.completed',
  ], 'the documented order');
  assert.equal(final.status, 'completed');
  assert.equal(final.output[1].content[0].text, 'Hello! How can I help?');
  assert.equal(final.output[0].content[0].text, 'The user greets me.');
  const stored = await client.responses.retrieve(final.id);
  // (the stream helper adds `parsed` members to the output it returns)
  const strip = (r) => JSON.parse(JSON.stringify(r, (k, v) => (k === 'parsed' || k === 'output_text' || k === 'output_parsed' ? undefined : v)));
  assert.deepEqual(strip(stored), strip(final), 'GET returns what the stream ended with');
  const raw = await rawStream({ model: MODEL, input: 'hi script:hello' });
  assert.equal(raw.status, 200);
  assert.match(raw.headers.get('content-type'), /^text\/event-stream/);
  assert.ok(!raw.text.includes('[DONE]'), 'a Responses stream ends with its last event');
  assert.ok(raw.events.every((e) => e.event === e.data.type), 'each SSE event is named by its type');
  assert.equal(raw.events.at(-1).event, 'response.completed');
  const created = raw.events[0].data.response;
  assert.equal(created.status, 'in_progress');
  assert.deepEqual(created.output, []);
  assert.equal(created.usage, null);
});

test('a tool call, then previous_response_id with its output: the prompt holds the earlier turn', async () => {
  const id1 = nextId(), id2 = nextId(), id3 = nextId();
  const r1 = await client.responses.create({ model: MODEL, input: "What's the weather in Paris? script:tool", tools, instructions: 'First instructions.' }, withId(id1));
  assert.equal(r1.status, 'completed');
  const call = r1.output[1];
  assert.equal(call.type, 'function_call');
  assert.equal(call.name, 'get_weather');
  assert.equal(call.arguments, '{"city": "Paris"}');
  assert.equal(call.status, 'completed');
  assert.match(call.call_id, /^call_[A-Za-z0-9]{24}$/);
  assert.match(call.id, /^fc_[A-Za-z0-9]{24}$/);
  assert.equal(r1.output_text, '');
  assert.deepEqual(logged(id1).tools, tools.map(({ type, ...fn }) => ({ type, function: fn })), 'the driver gets the tools in chat shape');

  const r2 = await client.responses.create({
    model: MODEL, previous_response_id: r1.id, tools, instructions: 'Second instructions.',
    input: [{ type: 'function_call_output', call_id: call.call_id, output: 'sunny script:answer' }],
  }, withId(id2));
  assert.equal(r2.previous_response_id, r1.id);
  assert.equal(r2.output_text, 'Sunny in Paris.');
  const p2 = logged(id2).prompt;
  assert.ok(p2.endsWith(
    "<|start|>user<|message|>What's the weather in Paris? script:tool<|end|>" +
    '<|start|>assistant<|channel|>analysis<|message|>Need the weather.<|end|>' +
    '<|start|>assistant to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{"city": "Paris"}<|call|>' +
    '<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>sunny script:answer<|end|><|start|>assistant'),
  `the earlier turn, its reasoning kept before the call (Harmony's rule while calling):\n${p2}`);
  assert.match(p2, /# Instructions\n\nSecond instructions\.\n\n# Tools/);
  assert.ok(!p2.includes('First instructions'), 'instructions are not carried over');

  const r3 = await client.responses.create({ model: MODEL, previous_response_id: r2.id, tools, input: 'Thanks! script:hello' }, withId(id3));
  assert.equal(r3.output_text, 'Hello! How can I help?');
  const p3 = logged(id3).prompt;
  assert.ok(p3.includes('<|start|>assistant<|channel|>final<|message|>Sunny in Paris.<|end|><|start|>user<|message|>Thanks! script:hello<|end|><|start|>assistant'), p3);
  assert.ok(p3.includes('{"city": "Paris"}<|call|>'), 'the call stays');
  assert.ok(!p3.includes('Need the weather.') && !p3.includes('It is sunny.'), 'a finished turn drops its analysis, as chat does');

  // The same conversation sent whole (as the Agents SDK and Codex do, store
  // off) renders the same prompt.
  const id4 = nextId();
  await client.responses.create({
    model: MODEL, tools, instructions: 'Second instructions.', store: false,
    input: [{ role: 'user', content: "What's the weather in Paris? script:tool" }, ...r1.output,
      { type: 'function_call_output', call_id: call.call_id, output: 'sunny script:answer' }],
  }, withId(id4));
  assert.equal(logged(id4).prompt, p2, 'the items sent back whole give the same prompt');
});

test('streamed tool call: argument deltas, then the whole call', async () => {
  const stream = client.responses.stream({ model: MODEL, input: 'weather? script:tool', tools });
  let args = '';
  const types = [];
  stream.on('event', (e) => types.push(e.type));
  stream.on('response.function_call_arguments.delta', (e) => { args += e.delta; });
  const final = await stream.finalResponse();
  assert.equal(args, '{"city": "Paris"}');
  assert.ok(types.includes('response.function_call_arguments.done'));
  const call = final.output.find((o) => o.type === 'function_call');
  assert.equal(call.name, 'get_weather');
  assert.equal(call.arguments, '{"city": "Paris"}');
});

test('a preamble is a commentary message before the call; reasoning.effort reaches the prompt', async () => {
  const id = nextId();
  const r = await client.responses.create({ model: MODEL, input: 'time? script:preamble', tools, reasoning: { effort: 'high' } }, withId(id));
  assert.deepEqual(r.output.map((o) => [o.type, o.phase]), [['message', 'commentary'], ['function_call', undefined]]);
  assert.equal(r.reasoning.effort, 'high');
  assert.match(logged(id).prompt, /Reasoning: high/);
});

test('max_output_tokens: status incomplete with the reason, whole and streamed', async () => {
  const id = nextId();
  const r = await client.responses.create({ model: MODEL, input: 'go script:long', max_output_tokens: 8 }, withId(id));
  assert.equal(r.status, 'incomplete');
  assert.deepEqual(r.incomplete_details, { reason: 'max_output_tokens' });
  assert.equal(r.usage.output_tokens, 8);
  assert.equal(r.output[0].status, 'incomplete');
  assert.equal(r.max_output_tokens, 8);
  assert.match(logged(id).params, /max_tokens=8 /);
  const raw = await rawStream({ model: MODEL, input: 'go script:long', max_output_tokens: 8 });
  assert.equal(raw.events.at(-1).event, 'response.incomplete');
  assert.equal(raw.events.at(-1).data.response.status, 'incomplete');
});

test('store: GET and DELETE; store false and unknown ids are 404 in OpenAI\'s shape', async () => {
  const r = await client.responses.create({ model: MODEL, input: 'hi script:hello' });
  const got = await client.responses.retrieve(r.id);
  assert.equal(got.id, r.id);
  assert.deepEqual(got.output, r.output);
  await client.responses.delete(r.id);
  await assert.rejects(client.responses.retrieve(r.id), (e) => e instanceof OpenAI.NotFoundError && e.code === 'response_not_found');
  await assert.rejects(client.responses.delete(r.id), OpenAI.NotFoundError);
  await assert.rejects(
    client.responses.create({ model: MODEL, input: 'again', previous_response_id: r.id }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404 && e.code === 'previous_response_not_found' &&
      e.param === 'previous_response_id' && e.type === 'invalid_request_error' && e.message.includes(r.id));
  const unstored = await client.responses.create({ model: MODEL, input: 'hi script:hello', store: false });
  assert.equal(unstored.store, false);
  await assert.rejects(client.responses.retrieve(unstored.id), OpenAI.NotFoundError);
  const res = await fetch(`${gw.baseURL}/v1/responses/${r.id}/input_items`);
  assert.equal(res.status, 404);
  const post = await fetch(`${gw.baseURL}/v1/responses/${unstored.id}`, { method: 'POST', body: '{}' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, DELETE');
});

test('invalid inputs: 400 naming the field, as typed errors', async () => {
  const bad = async (body, param, re) => {
    await assert.rejects(client.responses.create({ model: MODEL, ...body }), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError, `${JSON.stringify(body)}: ${e}`);
      assert.equal(e.param, param, JSON.stringify(body));
      assert.match(e.message, re);
      return true;
    });
  };
  await bad({ input: 'x', tools: [{ type: 'web_search_preview' }, ...tools, { type: 'file_search', vector_store_ids: ['v'] }] },
    'tools[0].type', /'web_search_preview', 'file_search' are not supported/);
  await bad({}, 'input', /'input' is required/);
  await bad({ input: 42 }, 'input', /a string or an array/);
  await bad({ input: [{ type: 'computer_call_output', call_id: 'c' }] }, 'input[0].type', /'computer_call_output' is not supported/);
  await bad({ input: [{ type: 'function_call_output', call_id: 'nope', output: 'x' }] }, 'input[0].call_id', /no earlier function_call/);
  await bad({ input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'http://x/y.png' }] }] }, 'input[0].content[0].type', /only 'input_text' or 'output_text'/);
  await bad({ input: 'x', reasoning: { effort: 'extreme' } }, 'reasoning.effort', /low, medium, high/);
  await bad({ input: 'x', max_output_tokens: 0 }, 'max_output_tokens', /between 1/);
  await bad({ input: 'x', background: true }, 'background', /not supported/);
  await bad({ input: 'x', text: { format: { type: 'json_schema', name: 's', schema: {} } } }, 'text.format', /structured output/);
  await bad({ input: 'x', metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) }, 'metadata', /16/);
  await bad({ input: 'x', tools, tool_choice: { type: 'function', name: 'nope' } }, 'tool_choice.name', /no function named 'nope'/);
  await bad({ input: 'x', previous_response_id: '' }, 'previous_response_id', /must not be empty/);
  await assert.rejects(client.responses.create({ model: 'gpt-4o', input: 'x' }), (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
  const res = await fetch(gw.baseURL + '/v1/responses', { method: 'POST', body: '{"input": ' });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error.code, 'invalid_json');
});

test('failures: before the first byte an HTTP error; mid-stream response.failed then an error event the client raises', async () => {
  await assert.rejects(client.responses.create({ model: MODEL, input: 'x script:refused', stream: true }),
    (e) => e instanceof OpenAI.APIError && e.status === 503 && e.code === 'core_busy');
  const raw = await rawStream({ model: MODEL, input: 'x script:broken' });
  assert.equal(raw.status, 200);
  const names = raw.events.map((e) => e.event);
  assert.deepEqual(names.slice(-2), ['response.failed', 'error']);
  const failed = raw.events.at(-2).data.response;
  assert.equal(failed.status, 'failed');
  assert.deepEqual(failed.error, { code: 'upstream_error', message: 'the core fell over' });
  assert.equal(failed.output[0].content[0].text, 'Partial answer', 'the output so far is kept');
  const err = raw.events.at(-1).data;
  assert.equal(err.code, 'upstream_error');
  assert.equal(err.message, 'the core fell over');
  assert.equal(err.sequence_number, raw.events.length - 1);
  assert.ok(!raw.text.includes('[DONE]'));
  let text = '';
  await assert.rejects(async () => {
    const stream = await client.responses.create({ model: MODEL, input: 'x script:broken', stream: true });
    for await (const e of stream) if (e.type === 'response.output_text.delta') text += e.delta;
  }, (e) => e instanceof OpenAI.APIError && /the core fell over/.test(e.message));
  assert.equal(text, 'Partial answer', 'the text before the failure arrived');
});

test('pass-through mode (FRONTEND_USE_HARMONY=0) refuses /v1/responses with the reason', async () => {
  const sc2 = scriptedEnv(scripts);
  const gw2 = await startGateway({ env: { ...sc2.env, FRONTEND_USE_HARMONY: '0' } });
  try {
    await assert.rejects(openaiClient(gw2).responses.create({ model: MODEL, input: 'hi' }),
      (e) => e instanceof OpenAI.BadRequestError && /FRONTEND_USE_HARMONY=1/.test(e.message));
  } finally {
    assert.equal((await gw2.stop()).code, 0);
  }
});

test('auth: every /v1/responses route needs the key', async () => {
  const sc2 = scriptedEnv(scripts);
  const gw2 = await startGateway({ env: { ...sc2.env, FK_API_KEY: 'sekret' } });
  try {
    await assert.rejects(openaiClient(gw2, { apiKey: 'wrong' }).responses.create({ model: MODEL, input: 'hi' }), OpenAI.AuthenticationError);
    await assert.rejects(openaiClient(gw2, { apiKey: 'wrong' }).responses.retrieve('resp_x'), OpenAI.AuthenticationError);
    const del = await fetch(gw2.baseURL + '/v1/responses/resp_x', { method: 'DELETE' });
    assert.equal(del.status, 401);
    const r = await openaiClient(gw2, { apiKey: 'sekret' }).responses.create({ model: MODEL, input: 'hi script:hello' });
    assert.equal(r.output_text, 'Hello! How can I help?');
  } finally {
    assert.equal((await gw2.stop()).code, 0);
  }
});

test('store bounds: FK_RESPONSES_STORE_MAX evicts the oldest, FK_RESPONSES_STORE_TTL_S expires', async () => {
  const sc2 = scriptedEnv(scripts);
  const gw2 = await startGateway({ env: { ...sc2.env, FK_RESPONSES_STORE_MAX: '2', FK_RESPONSES_STORE_TTL_S: '1' } });
  try {
    const c = openaiClient(gw2);
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await c.responses.create({ model: MODEL, input: 'hi script:hello' })).id);
    await assert.rejects(c.responses.retrieve(ids[0]), OpenAI.NotFoundError, 'the oldest of three went');
    assert.equal((await c.responses.retrieve(ids[1])).id, ids[1]);
    assert.equal((await c.responses.retrieve(ids[2])).id, ids[2]);
    await sleep(1300);
    await assert.rejects(c.responses.retrieve(ids[2]), OpenAI.NotFoundError, 'expired after FK_RESPONSES_STORE_TTL_S');
    await assert.rejects(c.responses.create({ model: MODEL, input: 'x', previous_response_id: ids[1] }),
      (e) => e instanceof OpenAI.NotFoundError && e.code === 'previous_response_not_found');
  } finally {
    assert.equal((await gw2.stop()).code, 0);
  }
});

test('metrics and the throughput line count Responses requests', async () => {
  const m = await (await fetch(gw.baseURL + '/metrics')).text();
  const count = (re) => Number(re.exec(m)?.[1] ?? 0);
  assert.ok(count(/^fk_http_requests_total\{endpoint="\/v1\/responses",status="200"\} (\d+)$/m) >= 10, m);
  assert.ok(count(/^fk_http_requests_total\{endpoint="\/v1\/responses",status="400"\} (\d+)$/m) >= 13);
  assert.ok(count(/^fk_http_requests_total\{endpoint="\/v1\/responses",status="404"\} (\d+)$/m) >= 2);
  assert.ok(count(/^fk_http_requests_total\{endpoint="\/v1\/responses\/\{id\}",status="200"\} (\d+)$/m) >= 3);
  assert.ok(count(/^fk_http_requests_total\{endpoint="\/v1\/responses\/\{id\}",status="404"\} (\d+)$/m) >= 3);
  assert.ok(count(/^vllm:e2e_request_latency_seconds_count\{core="default",model_name="fk-scripted"\} (\d+)$/m) >= 10);
  assert.ok(count(/^vllm:generation_tokens_total\{core="default",model_name="fk-scripted"\} (\d+)$/m) > 100);
  await gw.waitForLog(/Avg prompt throughput: [1-9][\d.]* tokens\/s, Avg generation throughput: [1-9][\d.]* tokens\/s/m, 5000);
});
