// The chat page (GET /) in headless Chromium (Debian's chromium driven by
// playwright-core), against real gateways: the scripted driver's canned
// Harmony answers (reasoning, final, a tool call, a stall to stop, a core
// still loading, a failure mid-answer), the stand-in llama-server (A/B mode
// with answers that part, the llama core) and the native engine on the tiny
// model. Screenshots go to BUILDDIR/tests/screenshots/. Skipped, saying why,
// when /usr/bin/chromium is missing (scripts/deps.sh --test installs it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { startGateway, scriptedEnv, tmpDir } from './lib.mjs';
import { startFake, llamaEnv, waitReady } from './proxy_fake.mjs';

const CHROMIUM = '/usr/bin/chromium';
const SKIP = existsSync(CHROMIUM) ? false : `no ${CHROMIUM} (scripts/deps.sh --test installs Debian's chromium)`;
if (SKIP) console.log(`# ${SKIP}`);
const { chromium } = createRequire(process.env.FK_NODE_MODULES + '/')('playwright-core');
const SHOTS = join(process.env.FK_TOP_BUILDDIR, 'tests', 'screenshots');
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const WAIT = { timeout: 20000 };

let context;
const stops = [];
before(async () => {
  if (SKIP) return;
  mkdirSync(SHOTS, { recursive: true });
  // a fresh profile (playwright passes it as --user-data-dir)
  context = await chromium.launchPersistentContext(tmpDir(), { executablePath: CHROMIUM, headless: true, args: FLAGS });
});
after(async () => {
  await context?.close();
  // every gateway is stopped even when one of them failed (a process left
  // running would keep the test from ever ending); the first failure is
  // reported after
  const failures = [];
  for (const s of stops.reverse()) await s().catch((e) => failures.push(e));
  if (failures.length) throw failures[0];
});

async function gateway(env) {
  const gw = await startGateway({ env });
  stops.push(async () => { const r = await gw.stop(); assert.equal(r.code, 0, r.stderr); });
  return gw;
}
async function open(gw, viewport = { width: 1100, height: 800 }) {
  const p = await context.newPage();
  await p.setViewportSize(viewport);
  p.elsewhere = [];
  p.on('request', (r) => { if (!r.url().startsWith(gw.baseURL + '/')) p.elsewhere.push(r.url()); });
  await p.goto(gw.baseURL + '/');
  return p;
}
async function close(p) {
  assert.deepEqual(p.elsewhere, [], 'the page asks only its own origin');
  await p.close();
}
const byId = (p, id) => p.getByTestId(id);
async function ask(p, text, { key = false } = {}) {
  await byId(p, 'prompt').fill(text);
  if (key) await byId(p, 'prompt').press('Enter');
  else await byId(p, 'send').click();
}
const shot = (p, name) => p.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- the scripted driver ---------------------------------------------------------

const SCRIPTS = {
  reason: { harmony: '<|channel|>analysis<|message|>Two plus two: 2 + 2 = 4.<|end|><|start|>assistant<|channel|>final<|message|>The answer is 4.<|return|>', delay_ms: 20 },
  tool: { harmony: '<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "Paris"}<|call|>', delay_ms: 10 },
  stall: { harmony: '<|channel|>final<|message|>Counting: one two three', delay_ms: 30, stall: true },
  loading: { harmony: '<|channel|>final<|message|>never sent', refuse: { status: 503, type: 'service_unavailable', code: 'model_not_ready', message: 'Loading model: 40%', retry_after_s: 5 } },
  broken: { harmony: '<|channel|>final<|message|>Partial answer', delay_ms: 10, error: { status: 502, type: 'upstream_error', code: 'upstream_error', message: 'llama-server closed the connection' } },
};

test('ask, the reasoning box, a tool call, the keyboard', { skip: SKIP }, async () => {
  const s = scriptedEnv(SCRIPTS, { FK_SCRIPT_MODEL: 'fk-scripted', FRONTEND_VLLM_MODEL: 'scripted-alias' });
  const gw = await gateway(s.env);
  const p = await open(gw);
  const models = (await (await fetch(gw.baseURL + '/v1/models')).json()).data.map((m) => m.id);
  assert.ok(models.length >= 2, 'the alias and the core\'s id');
  assert.deepEqual(await byId(p, 'model').locator('option').allTextContents(), models, 'every model from /v1/models');
  assert.ok(await byId(p, 'api-key').isHidden(), 'no key field when the gateway needs none');

  assert.equal(await p.evaluate(() => document.activeElement.dataset.testid), 'prompt', 'the prompt has the focus');
  await ask(p, 'What is 2+2? Think step by step. script:reason', { key: true });
  await p.waitForFunction(() => document.querySelector('[data-testid=content]')?.textContent === 'The answer is 4.', null, WAIT);
  assert.ok(await byId(p, 'reasoning').isHidden(), 'reasoning hidden until asked for');
  await byId(p, 'show-reasoning').check();
  assert.ok(await byId(p, 'reasoning').isVisible());
  assert.equal(await byId(p, 'reasoning').textContent(), 'Two plus two: 2 + 2 = 4.', 'the analysis channel');
  const [r, c] = [await byId(p, 'reasoning').boundingBox(), await byId(p, 'content').boundingBox()];
  assert.ok(r.y + r.height <= c.y, 'the reasoning box is above the answer');
  await p.waitForFunction(() => /^\d+ tokens in [\d.]+ s \([\d.]+ tokens\/s\), first text after \d+ ms$/.test(document.querySelector('[data-testid=speed]')?.textContent), null, WAIT);
  await shot(p, 'chat-reasoning');
  await byId(p, 'show-reasoning').uncheck();
  assert.ok(await byId(p, 'reasoning').isHidden(), 'and hidden again');

  // the keyboard alone: Tab from the prompt reaches Send
  await byId(p, 'prompt').fill('Weather in Paris? script:tool');
  await byId(p, 'prompt').press('Tab');
  assert.equal(await p.evaluate(() => document.activeElement.dataset.testid), 'send');
  await p.keyboard.press('Enter');
  const card = byId(p, 'tool-call');
  await card.waitFor(WAIT);
  await p.waitForFunction(() => document.querySelector('[data-testid=tool-call] pre')?.textContent.includes('"city": "Paris"'), null, WAIT);
  assert.match(await card.textContent(), /Tool call: get_weather/);
  assert.equal(await p.getByText('The answer is 4.').count(), 1, 'the earlier answer stays');
  await shot(p, 'chat-tool-call');
  const prompts = s.readLog().filter((l) => l.startsWith('prompt '));
  assert.ok(prompts.at(-1).includes('The answer is 4.'), 'the second turn carries the first answer');
  await close(p);
});

test('stop cancels the generation upstream; errors in words', { skip: SKIP }, async () => {
  const s = scriptedEnv(SCRIPTS);
  const gw = await gateway(s.env);
  const p = await open(gw);
  await ask(p, 'Count. script:stall');
  await p.waitForFunction(() => document.querySelector('[data-testid=content]')?.textContent.includes('three'), null, WAIT);
  assert.ok(await byId(p, 'send').isDisabled(), 'one request at a time');
  await byId(p, 'stop').click();
  await p.waitForFunction(() => document.querySelector('[data-testid=status]')?.textContent === 'Stopped.', null, WAIT);
  for (let i = 0; i < 100 && !s.readLog().some((l) => l.startsWith('cancel ')); i++) await sleep(50);
  assert.ok(s.readLog().some((l) => l.startsWith('cancel ')), 'the gateway cancelled the generation');
  assert.ok(await byId(p, 'send').isEnabled());
  await shot(p, 'stopped');

  await ask(p, 'Hello? script:loading');
  await p.waitForFunction(() => !document.querySelector('[data-testid=error]').hidden, null, WAIT);
  assert.equal(await byId(p, 'error').textContent(), 'The core is still loading (Loading model: 40%). Try again in 5 s.');
  await shot(p, 'error-loading');
  await ask(p, 'Go on. script:broken');
  await p.waitForFunction(() => /llama-server closed/.test(document.querySelector('[data-testid=error]').textContent), null, WAIT);
  assert.equal(await byId(p, 'error').textContent(), 'The core failed while answering: llama-server closed the connection');
  assert.equal(await byId(p, 'content').textContent(), 'Partial answer', 'what came before the failure stays');
  await ask(p, 'Again. script:reason');
  await p.waitForFunction(() => document.querySelector('[data-testid=content]')?.textContent === 'The answer is 4.', null, WAIT);
  assert.ok(await byId(p, 'error').isHidden(), 'the error goes with the next answer');
  await close(p);

  const fake = await startFake();
  const port = fake.port;
  fake.stop(); // nothing listens there now
  const down = await gateway(llamaEnv({ url: `http://127.0.0.1:${port}` }, { FRONTEND_VLLM_MODEL: 'stand-in' }));
  const q = await open(down);
  await ask(q, 'Hello?');
  await q.waitForFunction(() => !document.querySelector('[data-testid=error]').hidden, null, WAIT);
  assert.match(await byId(q, 'error').textContent(), /^The core cannot be reached: .+\. Try again in 5 s\.$/);
  await shot(q, 'error-unreachable');
  await close(q);
});

test('the page is public, the API key field when FK_API_KEY is set; FK_WEB_DIR=none', { skip: SKIP }, async () => {
  const s = scriptedEnv(SCRIPTS, { FK_API_KEY: 'sk-page-test' });
  const gw = await gateway(s.env);
  const files = { '/': 'text/html', '/app.js': 'text/javascript', '/app.css': 'text/css' };
  for (const [path, type] of Object.entries(files)) {
    const r = await fetch(gw.baseURL + path);
    assert.equal(r.status, 200, `${path} without a key`);
    assert.equal(r.headers.get('content-type'), `${type}; charset=utf-8`);
    assert.match(r.headers.get('content-security-policy'), /default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'/);
    assert.equal(r.headers.get('access-control-allow-origin'), null, 'same-origin: no CORS');
  }
  assert.equal((await fetch(gw.baseURL + '/v1/models')).status, 401, 'the API still needs the key');
  const other = await fetch(gw.baseURL + '/index.html');
  assert.equal(other.status, 404);
  assert.equal((await other.json()).error.code, 'unknown_url', '"/" is no prefix');
  const { FK_API_KEY: _, ...keyless } = s.env;
  const off = await gateway({ ...keyless, FK_WEB_DIR: 'none' });
  const r = await fetch(off.baseURL + '/');
  assert.equal(r.status, 404);
  assert.match((await r.json()).error.message, /FK_WEB_DIR=none/);
  const p = await open(gw);
  await p.waitForFunction(() => !document.querySelector('[data-testid=error]').hidden, null, WAIT);
  assert.match(await byId(p, 'error').textContent(), /needs an API key/);
  assert.ok(await byId(p, 'api-key').isVisible());
  assert.equal(await byId(p, 'model').locator('option').count(), 0);
  await byId(p, 'api-key').fill('sk-page-test');
  await byId(p, 'api-key').press('Enter');
  await p.waitForFunction(() => document.querySelector('[data-testid=model]').options.length > 0, null, WAIT);
  await ask(p, 'script:reason');
  await p.waitForFunction(() => document.querySelector('[data-testid=content]')?.textContent === 'The answer is 4.', null, WAIT);
  assert.ok(await byId(p, 'error').isHidden());
  await close(p);
});

// ---- the llama core (stand-in) -----------------------------------------------------

const harmony = (reasoning, final) => ({ tokens: ['<|channel|>', 'analysis', '<|message|>', reasoning, '<|end|>',
  '<|start|>', 'assistant', '<|channel|>', 'final', '<|message|>', final, '<|return|>'] });

test('A/B mode: two answers side by side, the diverging tokens marked, each side\'s speed; phone width', { skip: SKIP }, async () => {
  const fake = await startFake();
  stops.push(async () => fake.stop());
  const gw = await gateway(llamaEnv(fake, { FRONTEND_VLLM_MODEL: 'stand-in' }));
  await waitReady(gw);
  const p = await open(gw);
  await byId(p, 'ab-mode').check();
  assert.ok(await byId(p, 'model-b').isVisible(), 'a second model picker');
  await byId(p, 'show-reasoning').check();
  await byId(p, 'temperature').fill('0');
  await fake.fault(harmony('Two plus two is four.', 'The answer is 4.'), 1);
  await fake.fault(harmony('Two plus two is four.', 'The answer is 5.'), 1);
  await ask(p, 'What is 2+2? Think step by step.');
  for (const side of ['a', 'b'])
    await p.waitForFunction((s) => /tokens\/s/.test(document.querySelector(`[data-testid=speed-${s}]`)?.textContent), side, WAIT);
  const texts = [await byId(p, 'content-a').textContent(), await byId(p, 'content-b').textContent()];
  assert.deepEqual(texts.sort(), ['The answer is 4.', 'The answer is 5.'], 'one prompt, two answers');
  const first = [];
  for (const side of ['a', 'b']) {
    const marked = byId(p, `content-${side}`).locator('.diverge');
    assert.equal(await marked.count(), 2, `${side}: the diverging token and the one after it`);
    first.push(await byId(p, `content-${side}`).locator('.diverge.first').textContent());
    assert.equal(await byId(p, `reasoning-${side}`).textContent(), 'Two plus two is four.');
    assert.equal(await byId(p, `reasoning-${side}`).locator('.diverge').count(), 0, 'the same reasoning is not marked');
    assert.match(await byId(p, `speed-${side}`).textContent(), /^\d+ tokens in [\d.]+ s \([\d.]+ tokens\/s\), first text after \d+ ms$/);
  }
  assert.deepEqual(first.sort(), ['4', '5'], 'the first diverging tokens');
  const body = (await fake.last('/completion')).body;
  assert.equal(body.temperature, 0, 'the temperature control');
  const [a, b] = [await byId(p, 'content-a').boundingBox(), await byId(p, 'content-b').boundingBox()];
  assert.ok(b.x > a.x + a.width - 1 && Math.abs(a.y - b.y) < 2, 'side by side');
  await shot(p, 'ab-mode');

  await p.setViewportSize({ width: 375, height: 740 });
  const [na, nb] = [await byId(p, 'content-a').boundingBox(), await byId(p, 'content-b').boundingBox()];
  assert.ok(nb.y > na.y && Math.abs(na.x - nb.x) < 2, 'stacked on a phone');
  assert.ok(await p.evaluate(() => document.scrollingElement.scrollWidth <= window.innerWidth), 'no sideways scrolling at 375 px');
  await shot(p, 'ab-mode-phone');
  await close(p);
});

test('the page on the llama core (stand-in) and on the native engine', { skip: SKIP }, async () => {
  const fake = await startFake();
  stops.push(async () => fake.stop());
  const llama = await gateway(llamaEnv(fake, { FRONTEND_VLLM_MODEL: 'stand-in' }));
  await waitReady(llama);
  let p = await open(llama);
  await byId(p, 'show-reasoning').check();
  await ask(p, 'Hi', { key: true });
  await p.waitForFunction(() => document.querySelector('[data-testid=content]')?.textContent === 'Hello world!', null, WAIT);
  assert.equal(await byId(p, 'reasoning').textContent(), 'Thinking.', 'the stand-in\'s canned analysis');
  await shot(p, 'llama-core');
  await close(p);

  const native = await gateway({ FK_CORE_KIND: 'vllm', VLLM_MODEL_CORE: join(process.env.FK_FIXTURES, 'models', 'tiny-gptoss-mxfp4'),
    FRONTEND_VLLM_MODEL: 'tiny-gptoss', FK_THREADS: '1' });
  p = await open(native, { width: 375, height: 740 });
  await byId(p, 'max-tokens').fill('16');
  await ask(p, 'Hi', { key: true });
  await p.waitForFunction(() => /^16 tokens in [\d.]+ s/.test(document.querySelector('[data-testid=speed]')?.textContent), null, { timeout: 90000 });
  assert.equal(await byId(p, 'status').textContent(), 'Stopped at max_tokens.');
  assert.ok(await p.evaluate(() => document.scrollingElement.scrollWidth <= window.innerWidth), 'readable at phone width');
  await shot(p, 'native-core-phone');
  await close(p);
});
