// Several cores behind one gateway (FK_CORES), on the scripted driver: routing
// by model, /v1/models, /health, /metrics and the throughput line per core,
// start-up errors (an id claimed twice, a core without an id), the layering
// of a core file over the main .env, and reloads (SIGHUP and a watched file
// change) that add, remove and replace cores with streams in flight: none
// dropped, none duplicated; a replacement that fails keeps the old core and
// says why on /health; one that is still loading keeps new requests on the
// old core until it is ready.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startGateway, runGateway, scriptedEnv, tmpDir } from './lib.mjs';

const say = (text, extra = {}) => ({ harmony: `<|channel|>final<|message|>${text}<|return|>`, ...extra });

// A seed-style .env for one scripted core: its model id and what it says.
function coreFile(dir, name, model, text, extra = {}) {
  const sc = scriptedEnv({ main: say(text, extra.script ?? {}) });
  const keys = { FRONTEND_VLLM_MODEL: model, FK_SCRIPT_FILE: sc.env.FK_SCRIPT_FILE, FK_SCRIPT_LOG: sc.logPath, ...(extra.keys ?? {}) };
  const path = join(dir, name);
  writeFileSync(path, Object.entries(keys).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  return { path, readLog: sc.readLog };
}

const chat = (gw, model, extra = {}) => fetch(gw.baseURL + '/v1/chat/completions', {
  method: 'POST', body: JSON.stringify({ model, messages: [{ role: 'user', content: 'x' }], ...extra }),
});
const answer = async (gw, model) => {
  const r = await chat(gw, model);
  const body = await r.json();
  return r.status === 200 ? body.choices[0].message.content : `HTTP ${r.status}: ${body.error?.message}`;
};
const health = async (gw) => (await fetch(gw.baseURL + '/health')).json();
const modelIds = async (gw) => (await (await fetch(gw.baseURL + '/v1/models')).json()).data.map((m) => m.id);

// The whole text of a stream, and every content delta in order.
async function readStream(res) {
  const text = await res.text();
  const content = [...text.matchAll(/"content":"([^"]*)"/g)].map((m) => m[1]).join('');
  return { text, content, done: text.trimEnd().endsWith('data: [DONE]'), error: /"error":/.test(text) };
}

test('two cores: routed by model, listed together, reported per core', async () => {
  const dir = tmpDir();
  const b = coreFile(dir, 'b.env', 'model-b', 'from B');
  const a = scriptedEnv({ main: say('from A') });
  const gw = await startGateway({ env: { ...a.env, FRONTEND_VLLM_MODEL: 'model-a', FK_CORES: b.path, FK_STATS_INTERVAL_S: '0.3' } });
  try {
    assert.deepEqual(await modelIds(gw), ['fk-scripted', 'model-a', 'model-b']);
    assert.equal(await answer(gw, 'model-a'), 'from A');
    assert.equal(await answer(gw, 'model-b'), 'from B');
    assert.equal(await answer(gw, undefined), 'from A', 'no model: the default core');
    assert.equal(a.readLog().filter((l) => l.startsWith('generate ')).length, 2);
    assert.equal(b.readLog().filter((l) => l.startsWith('generate ')).length, 1);
    const r = await chat(gw, 'model-c');
    assert.equal(r.status, 404);
    assert.match((await r.json()).error.message, /The model 'model-c' does not exist .*served: 'fk-scripted', 'model-a', 'model-b'\./);
    const h = await health(gw);
    assert.equal(h.status, 'ok');
    assert.deepEqual(h.cores.map((c) => [c.name, c.model, c.status]), [['default', 'model-a', 'ok'], [b.path, 'model-b', 'ok']]);
    const m = await (await fetch(gw.baseURL + '/metrics')).text();
    assert.match(m, /^vllm:e2e_request_latency_seconds_count\{core="default",model_name="model-a"\} 2$/m);
    assert.match(m, new RegExp(`^vllm:e2e_request_latency_seconds_count\\{core="${b.path}",model_name="model-b"\\} 1$`, 'm'));
    assert.equal(m.match(/^# TYPE vllm:num_requests_running gauge$/gm).length, 1, 'one header per family');
    await gw.waitForLog(new RegExp(`Core ${b.path}: Avg prompt throughput: [\\d.]+ tokens/s, Avg generation throughput: [1-9]`), 5000);
    const v = await (await fetch(gw.baseURL + '/version')).json();
    assert.deepEqual(v.cores.map((c) => c.name), ['default', b.path]);
  } finally {
    const r = await gw.stop();
    assert.equal(r.code, 0, r.stderr);
  }
});

test('start-up errors: one id claimed twice names both files; a core file without an id', async () => {
  const dir = tmpDir();
  const dup = coreFile(dir, 'dup.env', 'model-a', 'x');
  const a = scriptedEnv({ main: say('A') });
  const r = await runGateway({ env: { ...a.env, FRONTEND_VLLM_MODEL: 'model-a', FK_CORES: dup.path } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`model id 'model-a' \\(FRONTEND_VLLM_MODEL\\) is claimed by two cores: \\S+/\\.env and ${dup.path}\\n`));
  const silent = join(dir, 'silent.env');
  writeFileSync(silent, 'FK_SCRIPT_MODEL=other\n');
  const r2 = await runGateway({ env: { ...a.env, FRONTEND_VLLM_MODEL: 'model-a', FK_CORES: silent } });
  assert.match(r2.stderr, /claimed by two cores: .* \(which does not set it and inherits the main \.env's\)/);
  const r3 = await runGateway({ env: { ...a.env, FK_CORES: silent } });
  assert.match(r3.stderr, new RegExp(`${silent}: FRONTEND_VLLM_MODEL is not set: a core listed in FK_CORES needs the model id that routes to it`));
  const r4 = await runGateway({ env: { ...a.env, FK_CORES: `${dup.path}, ,x.env` } });
  assert.match(r4.stderr, /FK_CORES: '.*': an empty entry/);
  const r5 = await runGateway({ env: { ...a.env, FK_CORES: join(dir, 'missing.env') } });
  assert.match(r5.stderr, /missing\.env: No such file or directory/);
});

test('a core file is read over the main .env: its lines win, the rest is inherited; gateway keys warn', async () => {
  const dir = tmpDir();
  const b = coreFile(dir, 'b.env', 'model-b', 'from B', { keys: { FK_LISTEN: '127.0.0.1:1', FRONTEND_MAX_TOKENS: '3' } });
  const a = scriptedEnv({ main: say('one two three four five six') });
  const gw = await startGateway({ env: { ...a.env, FRONTEND_VLLM_MODEL: 'model-a', FK_CORES: b.path, FRONTEND_MAX_TOKENS: '2' } });
  try {
    await gw.waitForLog(new RegExp(`${b.path}:4: FK_LISTEN: read from the main \\.env only; ignored in a core file \\(FK_CORES\\)`));
    const logA = a.readLog();
    await answer(gw, 'model-a');
    await answer(gw, 'model-b');
    assert.ok(a.readLog().slice(logA.length).some((l) => /^params .* max_tokens=2\b/.test(l)), 'the default core: FRONTEND_MAX_TOKENS of the main .env');
    assert.ok(b.readLog().some((l) => /^params .* max_tokens=3\b/.test(l)), 'the core file: its own FRONTEND_MAX_TOKENS');
    assert.equal((await health(gw)).cores[1].kind, 'vllm', 'FK_CORE_KIND inherited');
  } finally {
    const r = await gw.stop();
    assert.equal(r.code, 0, r.stderr);
  }
});

test('reload adds, replaces and removes cores; streams in flight finish once, on the core they started on', async () => {
  const dir = tmpDir();
  const oldText = 'old '.repeat(10);
  const b = coreFile(dir, 'b.env', 'model-b', oldText, { script: { delay_ms: 60 } });
  const a = scriptedEnv({ main: say('from A') });
  const gw = await startGateway({ env: { ...a.env, FRONTEND_VLLM_MODEL: 'model-a', FK_CORES: b.path, FK_RELOAD_WATCH_MS: '100' } });
  try {
    // 12 streams on b have started when b's file changes (the watcher
    // reloads it); 12 more start while it swaps.
    const first = await Promise.all(Array.from({ length: 12 }, () => chat(gw, 'model-b', { stream: true })));
    const nb = coreFile(dir, 'b.env', 'model-b', 'new');
    const second = [];
    for (let i = 0; i < 12; i++) {
      second.push(chat(gw, 'model-b', { stream: true }));
      await sleep(25);
    }
    await gw.waitForLog(new RegExp(`core ${b.path} reloaded: vllm, driver scripted; \\d+ request\\(s\\) finish on the previous core`), 5000);
    const results = await Promise.all([...first, ...(await Promise.all(second))].map(readStream));
    for (const r of results) {
      assert.ok(r.done && !r.error, `every stream ends with [DONE] and no error: ${r.text.slice(-200)}`);
      assert.ok(r.content === oldText || r.content === 'new', `each stream is one core's whole answer, once: ${JSON.stringify(r.content)}`);
    }
    for (const r of results.slice(0, 12)) assert.equal(r.content, oldText, 'streams in flight finished on the old core');
    assert.equal(await answer(gw, 'model-b'), 'new', 'after the swap the new core answers');
    const generated = [...b.readLog(), ...nb.readLog()].filter((l) => l.startsWith('generate ')).map((l) => l.split(' ')[1]);
    assert.equal(generated.length, 25, 'each request was generated once: 24 streams and one more');
    assert.equal(new Set(generated).size, generated.length, 'no request was generated twice');
    await gw.waitForLog(new RegExp(`core ${b.path}: unloading the previous core`), 5000);

    // add a core named relative to the main .env's folder; remove b
    const main = readFileSync(gw.envPath, 'utf8');
    const c = coreFile(dirname(gw.envPath), 'c.env', 'model-c', 'from C');
    writeFileSync(gw.envPath, main.replace(/FK_CORES=.*/, 'FK_CORES="c.env"'));
    await gw.waitForLog(/core c\.env added/, 5000);
    await gw.waitForLog(new RegExp(`core ${b.path} removed; 0 request\\(s\\) finish on it`), 5000);
    assert.deepEqual(await modelIds(gw), ['fk-scripted', 'model-a', 'model-c']);
    assert.equal(await answer(gw, 'model-c'), 'from C');
    assert.equal((await chat(gw, 'model-b')).status, 404);
    assert.equal(c.readLog().filter((l) => l.startsWith('generate ')).length, 1);
  } finally {
    const r = await gw.stop();
    assert.equal(r.code, 0, r.stderr);
  }
});

test('a replacement that fails keeps the old core and says why; one still loading keeps new requests on the old', async () => {
  const dir = tmpDir();
  const b = coreFile(dir, 'b.env', 'model-b', 'old b');
  const a = scriptedEnv({ main: say('from A') });
  const gw = await startGateway({ env: { ...a.env, FRONTEND_VLLM_MODEL: 'model-a', FK_CORES: b.path, FK_RELOAD_WATCH_MS: '0' } });
  try {
    const original = readFileSync(b.path, 'utf8');
    writeFileSync(b.path, original + 'FK_SCRIPT_CREATE_FAIL="no weights here"\n');
    gw.proc.kill('SIGHUP');
    await gw.waitForLog(new RegExp(`core ${b.path}: reload failed: .*no weights here; the running core stays`));
    const h = await health(gw);
    assert.equal(h.status, 'ok');
    assert.match(h.cores[1].reload_error, /no weights here/);
    assert.match(h.reload_error, /no weights here/);
    assert.equal(await answer(gw, 'model-b'), 'old b', 'the old core still serves');

    writeFileSync(b.path, original.replace('FRONTEND_VLLM_MODEL=model-b', 'FRONTEND_VLLM_MODEL=model-b\nFK_SCRIPT_MODEL=slow\nFK_SCRIPT_LOAD_MS=1500'));
    gw.proc.kill('SIGHUP');
    await gw.waitForLog(new RegExp(`core ${b.path} changed: loading it beside the running one`));
    const pending = await health(gw);
    assert.equal(pending.cores[1].pending.status, 'loading', '/health shows the replacement loading');
    assert.equal(pending.cores[1].reload_error, undefined, 'the earlier failure is forgotten');
    assert.equal(await answer(gw, 'model-b'), 'old b', 'meanwhile the old core answers at once');
    await gw.waitForLog(new RegExp(`core ${b.path} reloaded`), 5000);
    assert.ok((await modelIds(gw)).includes('slow'), 'the new core serves now');

    writeFileSync(gw.envPath, readFileSync(gw.envPath, 'utf8') + 'FK_CORES="b.env,b.env"\n');
    gw.proc.kill('SIGHUP');
    await gw.waitForLog(/reload failed: .*FK_CORES: 'b\.env' is listed twice; the previous configuration stays/);
    assert.match((await health(gw)).reload_error, /listed twice/);
    assert.equal(await answer(gw, 'model-a'), 'from A');
  } finally {
    const r = await gw.stop();
    assert.equal(r.code, 0, r.stderr);
  }
});
