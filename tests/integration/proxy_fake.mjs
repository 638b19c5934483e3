// proxy_fake.mjs: start fake-llama-server.mjs for the proxy tests and talk
// to its control endpoints. Not a test itself.
//
//   const fake = await startFake(['--loading-ms', '500']);
//   fake.url                       'http://127.0.0.1:PORT'
//   await fake.fault(script, n)    the next n generation requests follow `script`
//   await fake.log()               { requests: [...], connections }
//   await fake.last(path)          the last logged request to `path`
//   await fake.waitFor(pred, ms)   poll the log until pred(log) is true
//   await fake.health(body)        /__health ({loading_ms} or {down})
//   fake.stop()
//
//   ({ fake, gw, client } = await startProxied(env, clientOpts))  in before()
//   await stopProxied({ fake, gw })                               in after()
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { startGateway, openaiClient } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const FAKE_SCRIPT = join(here, 'fake-llama-server.mjs');

export async function startFake(args = []) {
  const proc = spawn(process.execPath, [FAKE_SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('fake llama-server did not start')), 30000);
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /PORT (\d+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    proc.on('exit', (code) => reject(new Error(`fake llama-server exited (${code})`)));
  });
  const url = `http://127.0.0.1:${port}`;
  const call = async (path, body) => {
    const r = await fetch(url + path, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) });
    return r.json();
  };
  const fake = {
    url,
    port,
    proc,
    fault: (script, count = 1) => call('/__fault', { script, count }),
    log: () => call('/__log'),
    reset: () => call('/__reset', {}),
    health: (body) => call('/__health', body),
    async last(path) {
      const { requests } = await fake.log();
      return requests.filter((r) => r.path === path).at(-1);
    },
    async waitFor(pred, ms = 5000) {
      const end = Date.now() + ms;
      for (;;) {
        const log = await fake.log();
        if (pred(log)) return log;
        if (Date.now() > end) return null;
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop() { proc.kill('SIGTERM'); },
  };
  return fake;
}

// Environment for fk-gateway in front of `fake` (FK_CORE_KIND=llama).
export function llamaEnv(fake, extra = {}) {
  return {
    FK_CORE_KIND: 'llama',
    FK_CORE_API_BASE: fake.url,
    FRONTEND_VLLM_MODEL: 'gpt-oss-20b-mxfp4.gguf',
    FK_LLAMA_HEALTH_INTERVAL_MS: '100',
    FK_LLAMA_HEALTH_READY_INTERVAL_MS: '300',
    ...extra,
  };
}

// Wait until the gateway says its core is ready.
export async function waitReady(gw, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const r = await fetch(gw.baseURL + '/health').catch(() => null);
    if (r && r.status === 200) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error('gateway core never became ready');
}

// A fresh fake and fk-gateway in front of it (llamaEnv(fake, extra)), ready
// to serve, with an openai client (openaiClient's opts): { fake, gw, client }.
export async function startProxied(extra = {}, clientOpts = {}) {
  const fake = await startFake();
  const gw = await startGateway({ env: llamaEnv(fake, extra) });
  const client = openaiClient(gw, clientOpts);
  await waitReady(gw);
  return { fake, gw, client };
}

// Stop what startProxied started; the gateway must exit with status 0.
export async function stopProxied({ fake, gw }) {
  const r = await gw.stop();
  fake.stop();
  assert.equal(r.code, 0, `gateway exit: ${r.code} ${r.signal}\n${r.stderr}`);
}
