// real_llama.mjs: the real llama-server (built by scripts/llama-server.sh) for
// tests, and GGUFs made by fk-gguf.
//
//   import { LLAMA_SERVER, SKIP, makeGguf, startLlama, tool } from './real_llama.mjs';
//
//   SKIP          false, or why these tests cannot run (no cached llama-server:
//                 run scripts/llama-server.sh; CI builds it). FK_LLAMA_SERVER=PATH
//                 names another llama-server binary.
//   tool(name)    a program of the build: 'fk-gguf', 'fk-mkmodel', 'native_top1', ...
//   makeGguf(dir, args)  runs fk-gguf on a checkpoint directory; the GGUF path
//   startLlama(gguf, { ctx, threads, parallel, args })  llama-server on a free
//                 port, resolved once /health says ok:
//     .baseURL, .port, .proc, .log() (its stderr so far), .clearLog()
//     .waitLog(re, ms)  resolves once its stderr matches re (it logs with a delay)
//     .post(path, body) -> parsed JSON (throws on a non-2xx status)
//     .kill9()      SIGKILL, resolves when it is gone
//     .restart()    the same command on the same port, resolves when healthy
//     .stop()       SIGTERM (SIGKILL after 5 s)
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpDir } from './lib.mjs';

const TOP_SRCDIR = process.env.FK_TOP_SRCDIR;
const TOP_BUILDDIR = process.env.FK_TOP_BUILDDIR;

function findServer() {
  if (process.env.FK_LLAMA_SERVER) return process.env.FK_LLAMA_SERVER;
  try {
    return execFileSync('sh', [join(TOP_SRCDIR, 'scripts', 'llama-server.sh'), '--cached'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

export const LLAMA_SERVER = findServer();
export const SKIP = LLAMA_SERVER && existsSync(LLAMA_SERVER)
  ? false
  : 'llama-server is not built here (run scripts/llama-server.sh once; CI builds it)';
if (SKIP) console.log(`# ${SKIP}`);

const TOOLS = {
  'fk-gguf': 'drivers/cuda/tools/fk-gguf',
  'fk-mkmodel': 'drivers/cuda/tools/fk-mkmodel',
  'fk-tokenize': 'tokenizer/fk-tokenize',
  native_top1: 'tests/integration/native_top1',
};
export const tool = (name) => join(TOP_BUILDDIR, TOOLS[name]);

export function makeGguf(modelDir, args = []) {
  const out = join(tmpDir(), 'model.gguf');
  execFileSync(tool('fk-gguf'), ['--model', modelDir, '--out', out, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  return out;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Servers still running when the test process exits are killed with it.
const running = new Set();
process.on('exit', () => { for (const p of running) p.kill('SIGKILL'); });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function healthy(baseURL, ms, proc) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) return false;
    try {
      const r = await fetch(baseURL + '/health');
      if (r.status === 200) return true;
    } catch { /* not listening yet */ }
    await sleep(50);
  }
  return false;
}

export async function startLlama(gguf, { ctx = 4096, threads = 1, parallel = 4, args = [] } = {}) {
  const port = await freePort();
  const argv = ['-m', gguf, '--host', '127.0.0.1', '--port', String(port), '-c', String(ctx),
    '-t', String(threads), '-np', String(parallel), '--no-webui', '--metrics', ...args];
  const baseURL = `http://127.0.0.1:${port}`;
  let log = '';
  let proc;
  const launch = async () => {
    proc = spawn(LLAMA_SERVER, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => { log += d; });
    server.proc = proc;
    running.add(proc);
    proc.once('exit', () => running.delete(proc));
    if (!(await healthy(baseURL, 60000, proc))) {
      proc.kill('SIGKILL');
      throw new Error(`llama-server did not become healthy:\n${log.slice(-4000)}`);
    }
  };
  const gone = (p) => (p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', r)));
  const server = {
    baseURL,
    port,
    proc: null,
    log: () => log,
    clearLog() { log = ''; },
    async waitLog(re, ms = 5000) {
      for (const end = Date.now() + ms; !re.test(log) && Date.now() < end;) await sleep(20);
      return re.test(log);
    },
    async post(path, body) {
      const r = await fetch(baseURL + path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      const text = await r.text();
      if (!r.ok) throw new Error(`llama-server ${path}: HTTP ${r.status}: ${text}`);
      return JSON.parse(text);
    },
    async kill9() {
      const p = proc;
      p.kill('SIGKILL');
      await gone(p);
    },
    restart: launch,
    async stop() {
      const p = proc;
      if (p.exitCode !== null || p.signalCode !== null) return;
      const timer = setTimeout(() => p.kill('SIGKILL'), 5000);
      p.kill('SIGTERM');
      await gone(p);
      clearTimeout(timer);
    },
  };
  await launch();
  return server;
}
