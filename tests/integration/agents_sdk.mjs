// A real client no one here wrote: an agent built with the OpenAI Agents SDK
// (npm @openai/agents, pinned in tests/package.json) pointed at fk-gateway's
// /v1/responses runs a tool-calling turn end to end, whole and streamed: the
// model (the scripted driver playing canned Harmony) calls get_weather, the
// SDK runs the tool and sends the conversation back (its reasoning item
// included), and the model's answer is the run's final output. A second run
// continues through previous_response_id (the gateway's store).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { startGateway, openaiClient, scriptedEnv } from './lib.mjs';

const require = createRequire(process.env.FK_NODE_MODULES + '/');
const { Agent, run, tool, setDefaultOpenAIClient, setOpenAIAPI, setTracingDisabled } = require('@openai/agents');
const { z } = require('zod');

const scripts = {
  agent_tool: {
    harmony: '<|channel|>analysis<|message|>I should look up the weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}<|call|>',
    delay_ms: 1,
  },
  agent_answer: {
    harmony: '<|channel|>analysis<|message|>The tool says sunny.<|end|><|start|>assistant<|channel|>final<|message|>It is sunny in Paris.<|return|>',
    delay_ms: 1,
  },
  agent_more: { harmony: '<|channel|>final<|message|>You are welcome.<|return|>' },
};

let gw, sc;
const calls = [];
const getWeather = tool({
  name: 'get_weather',
  description: 'Gets the current weather for a city.',
  parameters: z.object({ city: z.string() }),
  execute: async ({ city }) => {
    calls.push(city);
    return `sunny in ${city} script:agent_answer`;
  },
});
const agent = () => new Agent({
  name: 'Weather agent',
  instructions: 'Answer questions about the weather with the get_weather tool.',
  model: 'fk-scripted',
  tools: [getWeather],
});

before(async () => {
  sc = scriptedEnv(scripts);
  gw = await startGateway({ env: sc.env });
  setTracingDisabled(true); // nothing may leave this machine
  setOpenAIAPI('responses');
  setDefaultOpenAIClient(openaiClient(gw));
});
after(async () => {
  const r = await gw.stop();
  assert.equal(r.code, 0, `gateway exit: ${r.code} ${r.signal}\n${r.stderr}`);
});

// The prompts the driver received, in order.
const prompts = () => sc.readLog().filter((l) => l.startsWith('prompt ')).map((l) => JSON.parse(l.split(' ').slice(3).join(' ')));

test('an Agents SDK agent runs a tool-calling turn through /v1/responses', async () => {
  const before = prompts().length;
  calls.length = 0;
  const result = await run(agent(), "What's the weather in Paris? script:agent_tool");
  assert.equal(result.finalOutput, 'It is sunny in Paris.');
  assert.deepEqual(calls, ['Paris'], 'the SDK ran the tool once with the model\'s arguments');
  const ps = prompts().slice(before);
  assert.equal(ps.length, 2, 'two model calls: the tool call, then the answer');
  assert.match(ps[0], /# Instructions\n\nAnswer questions about the weather with the get_weather tool\.\n\n# Tools\n\n## functions\n\nnamespace functions \{\n\n\/\/ Gets the current weather for a city\.\ntype get_weather = \(_: \{\ncity: string,\n\}\) => any;/);
  assert.ok(ps[1].endsWith(
    "<|start|>user<|message|>What's the weather in Paris? script:agent_tool<|end|>" +
    '<|start|>assistant<|channel|>analysis<|message|>I should look up the weather.<|end|>' +
    '<|start|>assistant to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{"city":"Paris"}<|call|>' +
    '<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>sunny in Paris script:agent_answer<|end|>' +
    '<|start|>assistant'), `the SDK sent the turn back whole, its reasoning item kept:\n${ps[1]}`);
  const items = result.newItems.map((i) => i.type);
  assert.deepEqual(items.filter((t) => t !== 'reasoning_item'), ['tool_call_item', 'tool_call_output_item', 'message_output_item']);
});

test('the same agent, streamed', async () => {
  calls.length = 0;
  const result = await run(agent(), "Weather in Paris? script:agent_tool", { stream: true });
  let text = '';
  const kinds = new Set();
  for await (const ev of result) {
    kinds.add(ev.type);
    if (ev.type === 'raw_model_stream_event' && ev.data.type === 'output_text_delta') text += ev.data.delta;
  }
  await result.completed;
  assert.equal(result.finalOutput, 'It is sunny in Paris.');
  assert.equal(text, 'It is sunny in Paris.', 'the answer arrived as text deltas');
  assert.deepEqual(calls, ['Paris']);
  assert.ok(kinds.has('run_item_stream_event') && kinds.has('raw_model_stream_event'));
});

test('a second run continues through previous_response_id', async () => {
  const first = await run(agent(), "What's the weather in Paris? script:agent_tool");
  assert.match(first.lastResponseId, /^resp_/);
  const before = prompts().length;
  const second = await run(agent(), 'Thanks! script:agent_more', { previousResponseId: first.lastResponseId });
  assert.equal(second.finalOutput, 'You are welcome.');
  const p = prompts().slice(before)[0];
  assert.ok(p.includes('<|start|>assistant<|channel|>final<|message|>It is sunny in Paris.<|end|><|start|>user<|message|>Thanks! script:agent_more<|end|><|start|>assistant'),
    `the stored conversation came first:\n${p}`);
  assert.ok(p.includes("What's the weather in Paris? script:agent_tool"));
});
