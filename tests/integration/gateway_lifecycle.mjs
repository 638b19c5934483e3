// Start-up, configuration and driver-loading errors, /health from loading to
// ready, /metrics after traffic, the throughput log line, CORS, and SIGTERM
// letting an in-flight stream finish before exiting 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { startGateway, runGateway, scriptedEnv, openaiClient, tmpDir, GATEWAY } from './lib.mjs';

const hello = { hello: { harmony: '<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final<|message|>Hi there<|return|>' } };

test('--help, --version, a bad argument, a missing --env file', () => {
  const help = spawnSync(GATEWAY, ['--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^usage: fk-gateway \[--env FILE\]/);
  const version = spawnSync(GATEWAY, ['--version'], { encoding: 'utf8' });
  assert.equal(version.status, 0);
  assert.match(version.stdout, /^fk-gateway \d+\.\d+\.\d+\n$/);
  const bad = spawnSync(GATEWAY, ['--frobnicate'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown argument '--frobnicate'/);
  const missing = spawnSync(GATEWAY, ['--env', '/nonexistent/x.env'], { encoding: 'utf8' });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /\/nonexistent\/x\.env: No such file or directory/);
});

test('a FIFO (or a directory) as the .env is refused at once, not waited on', async () => {
  const dir = tmpDir();
  const fifo = join(dir, 'fifo.env');
  const mk = spawnSync('mkfifo', [fifo]);
  assert.equal(mk.status, 0, 'mkfifo');
  for (const [path, what] of [[fifo, 'a FIFO'], [dir, 'a directory']]) {
    const t0 = Date.now();
    const r = spawnSync(GATEWAY, ['--env', path], { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 1, `${what}: ${r.stderr} ${r.signal}`);
    assert.match(r.stderr, new RegExp(`${what}, not a regular file`));
    assert.ok(Date.now() - t0 < 5000, `${what}: refused in ${Date.now() - t0} ms`);
  }
});

test('a bad value stops start-up with FILE:LINE: KEY: why', async () => {
  const r = await runGateway({ envText: '# comment\nFK_DRIVER=scripted\n\nFK_MAX_BODY_BYTES=lots\n' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\.env:4: FK_MAX_BODY_BYTES: 'lots' is not an integer/);
  const r2 = await runGateway({ envText: 'FK_CORE_KIND=gguf\n' });
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /\.env:1: FK_CORE_KIND: 'gguf' must be llama or vllm/);
  const r3 = await runGateway({ envText: 'FK_DRIVER=scripted\nFK_LISTEN="127.0.0.1:99999"\n' });
  assert.match(r3.stderr, /\.env:2: FK_LISTEN: .*port must be 0\.\.65535/);
  const r4 = await runGateway({ envText: 'FK_DRIVER=scripted\nexport BROKEN\n' });
  assert.match(r4.stderr, /\.env:2: BROKEN: expected '=' after the key/);
  const r5 = await runGateway({ envText: "FK_DRIVER=scripted\nX='unterminated\n" });
  assert.match(r5.stderr, /\.env:2: unterminated single-quoted value/);
  const r6 = await runGateway({ envText: 'FK_DRIVER=scripted\nFK_LISTEN 127.0.0.1:8001\n' });
  assert.equal(r6.code, 1);
  assert.match(r6.stderr, /\.env:2: FK_LISTEN: expected '=' after the key \(a line is KEY=VALUE\)/);
});

test('a port in use names the reason and FK_LISTEN', async () => {
  const sc = scriptedEnv(hello);
  const gw = await startGateway({ env: sc.env });
  try {
    const r = await runGateway({ env: { ...sc.env, FK_LISTEN: `127.0.0.1:${gw.port}` } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${gw.port}: Address already in use; set FK_LISTEN to a free HOST:PORT`));
  } finally {
    assert.equal((await gw.stop()).code, 0);
  }
});

test('the environment overrides the file, and unknown FK_ keys warn', async () => {
  const sc = scriptedEnv(hello);
  const gw = await startGateway({
    envText: `FK_DRIVER=scripted\nFK_SCRIPT_FILE=${sc.env.FK_SCRIPT_FILE}\nFK_LISTEN=127.0.0.1:1\nFK_TYPO_KEY=1\nFK_LLAMA_SLOTS=4\nFK_SCRIPT_MODEL='from-file'\nfk_keepalive_s=3\nfrontend_max_tokens=5\nFK_PUBLIC_ENDPOINTS=/health,/version,/metrics\n`,
    processEnv: { FK_LISTEN: '127.0.0.1:0', FK_SCRIPT_MODEL: 'from-env' },
  });
  try {
    const models = await (await fetch(gw.baseURL + '/v1/models')).json();
    assert.equal(models.data[0].id, 'from-env', 'a driver key from the environment wins');
    assert.match(gw.stderr(), /\.env:4: FK_TYPO_KEY: unknown key/);
    assert.match(gw.stderr(), /\.env:7: fk_keepalive_s: keys are case-sensitive; did you mean FK_KEEPALIVE_S\? \(ignored\)/);
    assert.match(gw.stderr(), /\.env:8: frontend_max_tokens: keys are case-sensitive; did you mean FRONTEND_MAX_TOKENS\?/);
    assert.doesNotMatch(gw.stderr(), /FK_LLAMA_SLOTS/, 'driver keys do not warn');
    assert.doesNotMatch(gw.stderr(), /FK_PUBLIC_ENDPOINTS/, 'a gateway-wide key is known');
  } finally {
    assert.equal((await gw.stop()).code, 0);
  }
});

test('driver loading errors are clear', async () => {
  const missing = await runGateway({ env: { FK_DRIVER: 'nonesuch' } });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /driver 'nonesuch' not found: no fk-driver-nonesuch\.so in .*scripted-driver.*, found: .*\bscripted\b/);
  assert.match(missing.stderr, /found: .*\bllamacpp\b/, 'the drivers there are listed');
  const abi = await runGateway({ env: { FK_DRIVER: 'badabi' } });
  assert.match(abi.stderr, /driver ABI version 43, but this gateway speaks version 2/);
  const nosym = await runGateway({ env: { FK_DRIVER: 'nosym' } });
  assert.match(nosym.stderr, /fk-driver-nosym\.so: missing symbol fk_driver_init/);
  const declined = await runGateway({ env: { FK_DRIVER: 'scripted', FK_SCRIPT_PROBE_DECLINE: 'no GPU here' } });
  assert.match(declined.stderr, /driver 'scripted' declined: no GPU here/);
  const failed = await runGateway({ env: { FK_DRIVER: 'scripted', FK_SCRIPT_CREATE_FAIL: 'weights missing' } });
  assert.match(failed.stderr, /could not start: weights missing/);
  const kind = await runGateway({ env: { FK_CORE_KIND: 'llama', FK_DRIVER_DIR: '/nonexistent' } });
  assert.match(kind.stderr, /driver 'llamacpp' not found: no fk-driver-llamacpp\.so in \/nonexistent, found none/);
});

test('/health: 503 loading, then 200 ok; requests meanwhile wait for the core', async () => {
  const sc = scriptedEnv(hello);
  const gw = await startGateway({ env: { ...sc.env, FK_SCRIPT_LOAD_MS: '700', FK_KEEPALIVE_S: '0.1' } });
  try {
    const h = await fetch(gw.baseURL + '/health');
    assert.equal(h.status, 503);
    const body = await h.json();
    assert.equal(body.status, 'loading');
    assert.match(body.detail, /Loading model: \d+%/);
    assert.equal(body.core, 'vllm');
    const t0 = Date.now();
    const whole = fetch(gw.baseURL + '/v1/chat/completions', { method: 'POST', body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }) });
    const streamed = await fetch(gw.baseURL + '/v1/chat/completions', { method: 'POST', body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }], stream: true }) });
    const c = await whole;
    assert.equal(c.status, 200, 'a request made while loading is answered once the core is ready');
    assert.equal((await c.json()).choices[0].message.content, 'Hi there');
    assert.ok(Date.now() - t0 >= 400, 'it waited for the load');
    const text = await streamed.text();
    assert.match(text, /^(: keep-alive\n\n)+data: /, 'the stream was kept alive while it waited');
    assert.match(text, /"content":"Hi there"/);
    assert.equal(sc.readLog().filter((l) => l.startsWith('generate ')).length, 2, 'generate() ran only once ready');
    const ok = await fetch(gw.baseURL + '/health');
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), {
      status: 'ok', core: 'vllm', model: 'fk-scripted',
      cores: [{ name: 'default', kind: 'vllm', driver: 'scripted', model: 'fk-scripted', status: 'ok' }],
    });
  } finally {
    assert.equal((await gw.stop()).code, 0);
  }
});

test('a core still loading after FK_WAIT_READY_S: 503 model_not_ready with Retry-After', async () => {
  const sc = scriptedEnv(hello);
  const gw = await startGateway({ env: { ...sc.env, FK_SCRIPT_LOAD_MS: '5000', FK_WAIT_READY_S: '0.3' } });
  try {
    const t0 = Date.now();
    const c = await fetch(gw.baseURL + '/v1/chat/completions', { method: 'POST', body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }) });
    assert.equal(c.status, 503);
    assert.equal(c.headers.get('retry-after'), '5');
    const e = (await c.json()).error;
    assert.equal(e.code, 'model_not_ready');
    assert.match(e.message, /still loading after 0\.3 s \(FK_WAIT_READY_S\): Loading model: \d+%/);
    assert.ok(Date.now() - t0 >= 250, 'it waited FK_WAIT_READY_S first');
    const gone = new AbortController();
    const pending = fetch(gw.baseURL + '/v1/chat/completions', { method: 'POST', body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }), signal: gone.signal }).catch(() => null);
    await sleep(100);
    gone.abort();
    await pending;
    await sleep(300);
    const m = await (await fetch(gw.baseURL + '/metrics')).text();
    assert.match(m, /^vllm:num_requests_waiting\{core="default",model_name="fk-scripted"\} 0$/m, 'a client that left while waiting is gone');
    assert.equal(sc.readLog().filter((l) => l.startsWith('generate ')).length, 0, 'generate() never ran');
  } finally {
    assert.equal((await gw.stop()).code, 0);
  }
});
test('/metrics after traffic, and the throughput log line', async () => {
  const sc = scriptedEnv(hello);
  const gw = await startGateway({ env: { ...sc.env, FK_STATS_INTERVAL_S: '0.3' } });
  try {
    const client = openaiClient(gw);
    for (let i = 0; i < 3; i++) await client.chat.completions.create({ model: 'fk-scripted', messages: [{ role: 'user', content: 'hi' }] });
    const s = await client.chat.completions.create({ model: 'fk-scripted', messages: [{ role: 'user', content: 'hi' }], stream: true });
    for await (const _ of s);
    await fetch(gw.baseURL + '/v1/chat/completions', { method: 'POST', body: '{' });
    const res = await fetch(gw.baseURL + '/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/plain/);
    const m = await res.text();
    assert.match(m, /^fk_http_requests_total\{endpoint="\/v1\/chat\/completions",status="200"\} 4$/m);
    assert.match(m, /^fk_http_requests_total\{endpoint="\/v1\/chat\/completions",status="400"\} 1$/m);
    assert.match(m, /^vllm:e2e_request_latency_seconds_count\{core="default",model_name="fk-scripted"\} 4$/m);
    assert.match(m, /^vllm:time_to_first_token_seconds_bucket\{core="default",model_name="fk-scripted",le="\+Inf"\} 4$/m);
    assert.match(m, /^# TYPE vllm:inter_token_latency_seconds histogram$/m);
    assert.match(m, /^vllm:generation_tokens_total\{core="default",model_name="fk-scripted"\} 52$/m);
    assert.match(m, /^vllm:prompt_tokens_total\{core="default",model_name="fk-scripted"\} [1-9]\d*$/m);
    assert.match(m, /^vllm:num_requests_running\{core="default",model_name="fk-scripted"\} 0$/m);
    assert.match(m, /^vllm:num_requests_waiting\{core="default",model_name="fk-scripted"\} 0$/m);
    assert.match(m, /^vllm:kv_cache_usage_perc\{core="default",model_name="fk-scripted"\} 0$/m, 'the driver\'s metrics()');
    assert.match(m, /^fk_core_backend_info\{core="default",model_name="fk-scripted",backend="scripted"\} 1$/m);
    await gw.waitForLog(/Core default: Avg prompt throughput: [\d.]+ tokens\/s, Avg generation throughput: [1-9][\d.]* tokens\/s, Running: 0 reqs, Waiting: 0 reqs, KV cache usage: 0\.0%$/m, 5000);
  } finally {
    assert.equal((await gw.stop()).code, 0);
  }
});

test('CORS: preflight and allowed origins', async () => {
  const sc = scriptedEnv(hello);
  const gw = await startGateway({ env: { ...sc.env, FK_CORS_ORIGINS: 'http://a.example, http://b.example', FK_API_KEY: 'k' } });
  try {
    const pre = await fetch(gw.baseURL + '/v1/chat/completions', {
      method: 'OPTIONS',
      headers: { origin: 'http://b.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'http://b.example');
    assert.match(pre.headers.get('access-control-allow-methods'), /POST/);
    assert.equal(pre.headers.get('access-control-allow-headers'), 'authorization, content-type');
    const denied = await fetch(gw.baseURL + '/v1/models', { headers: { origin: 'http://c.example', authorization: 'Bearer k' } });
    assert.equal(denied.headers.get('access-control-allow-origin'), null);
    const ok = await fetch(gw.baseURL + '/v1/models', { headers: { origin: 'http://a.example', authorization: 'Bearer k' } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('access-control-allow-origin'), 'http://a.example');
  } finally {
    assert.equal((await gw.stop()).code, 0);
  }
});

test('SIGTERM: new connections refused, the in-flight stream finishes, exit 0', async () => {
  const sc = scriptedEnv({ slow: { harmony: '<|channel|>final<|message|>' + 'tick '.repeat(20) + '<|return|>', delay_ms: 30 } });
  const gw = await startGateway({ env: { ...sc.env, FK_SHUTDOWN_GRACE_S: '10' } });
  const res = await fetch(gw.baseURL + '/v1/chat/completions', {
    method: 'POST', body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }], stream: true }),
  });
  const reader = res.body.getReader();
  let text = new TextDecoder().decode((await reader.read()).value);
  gw.proc.kill('SIGTERM');
  await gw.waitForLog(/SIGTERM: stopping; 1 request\(s\) in flight/);
  await assert.rejects(fetch(gw.baseURL + '/health'), 'no new connections');
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  assert.ok(text.endsWith('data: [DONE]\n\n'));
  assert.match(text, /"finish_reason":"stop"/);
  const content = [...text.matchAll(/"content":"([^"]*)"/g)].map((m) => m[1]).join('');
  assert.equal(content, 'tick '.repeat(20));
  const r = await gw.exited();
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /shutdown complete/);
});

test('SIGTERM: past the grace period the stream is cancelled with an error event', async () => {
  const sc = scriptedEnv({ stall: { harmony: '<|channel|>final<|message|>part', stall: true } });
  const gw = await startGateway({ env: { ...sc.env, FK_SHUTDOWN_GRACE_S: '0.3' } });
  const res = await fetch(gw.baseURL + '/v1/chat/completions', {
    method: 'POST', body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }], stream: true }),
  });
  const reader = res.body.getReader();
  let text = '';
  text += new TextDecoder().decode((await reader.read()).value);
  gw.proc.kill('SIGTERM');
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  assert.match(text, /data: \{"error":\{"message":"[^"]*shutting down","type":"unavailable_error","param":null,"code":"server_shutting_down"\}\}\n\ndata: \[DONE\]\n\n$/);
  const r = await gw.exited();
  assert.equal(r.code, 0, r.stderr);
  assert.ok(sc.readLog().some((l) => l.startsWith('cancel ')));
});

test('SIGHUP reloads: new requests use the new core, in-flight ones finish on the old; a bad file keeps the old', async () => {
  const sc = scriptedEnv({ slow: { harmony: '<|channel|>final<|message|>' + 'tock '.repeat(15) + '<|return|>', delay_ms: 40 } });
  const gw = await startGateway({ env: { ...sc.env, FK_SCRIPT_MODEL: 'model-a' } });
  try {
    const models = async () => (await (await fetch(gw.baseURL + '/v1/models')).json()).data.map((m) => m.id);
    assert.deepEqual(await models(), ['model-a']);
    const res = await fetch(gw.baseURL + '/v1/chat/completions', {
      method: 'POST', body: JSON.stringify({ model: 'model-a', messages: [{ role: 'user', content: 'x' }], stream: true }),
    });
    const reader = res.body.getReader();
    let text = new TextDecoder().decode((await reader.read()).value);
    const original = readFileSync(gw.envPath, 'utf8');
    writeFileSync(gw.envPath, original.replace('FK_SCRIPT_MODEL="model-a"', 'FK_SCRIPT_MODEL="model-b"'));
    gw.proc.kill('SIGHUP');
    await gw.waitForLog(/core default reloaded: vllm, driver scripted; 1 request\(s\) finish on the previous core/);
    assert.deepEqual(await models(), ['model-b']);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    const content = [...text.matchAll(/"content":"([^"]*)"/g)].map((m) => m[1]).join('');
    assert.equal(content, 'tock '.repeat(15), 'the in-flight stream finished on the old core');
    assert.match(text, /"model":"model-a"/);
    await gw.waitForLog(/unloading the previous core/);
    writeFileSync(gw.envPath, original + 'FK_MAX_BODY_BYTES=lots\n');
    gw.proc.kill('SIGHUP');
    await gw.waitForLog(/reload failed: .*\.env:\d+: FK_MAX_BODY_BYTES: 'lots' is not an integer; the previous configuration stays/);
    const h = await (await fetch(gw.baseURL + '/health')).json();
    assert.equal(h.status, 'ok');
    assert.match(h.reload_error, /FK_MAX_BODY_BYTES/);
    assert.deepEqual(await models(), ['model-b']);
  } finally {
    const r = await gw.stop();
    assert.equal(r.code, 0, r.stderr);
  }
});
