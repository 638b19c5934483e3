// lib.mjs: run the real fk-gateway for integration tests.
//
//   import { startGateway, openaiClient, scriptedEnv, tmpDir } from './lib.mjs';
//
//   const gw = await startGateway({ env: { FK_DRIVER: 'scripted' } });
//     env:        keys written to a temporary .env (FK_LISTEN=127.0.0.1:0,
//                 FK_CURRENT_DATE=2026-11-26 and FK_LOG_LEVEL=info unless given);
//                 the same keys are removed from the child's environment so
//                 the file wins. FK_DRIVER_DIR comes from make check.
//     envText:    raw .env text instead of `env` (tests of the parser)
//     processEnv: extra variables for the child's environment
//     args:       extra command-line arguments
//     wrap:       a command the gateway runs under (['valgrind', '--tool=callgrind', ...])
//   gw.baseURL    'http://127.0.0.1:PORT' (the port the gateway logged)
//   gw.port, gw.proc, gw.envPath
//   gw.stderr()   everything the gateway wrote to stderr so far
//   await gw.waitForLog(/re/, ms)   resolves with the match once stderr has it
//   await gw.stop(signal = 'SIGTERM', ms = 20000) -> { code, signal, stderr }
//   await gw.exited(ms = 20000) -> the same, sending no signal (SIGKILL after ms)
//                 (an ASan/LSan report makes code non-zero: assert code === 0)
//
//   await runGateway({ env | envText, args }) -> { code, signal, stderr }
//                 for start-ups that must fail (bad config, missing driver)
//   openaiClient(gw, opts)  the official openai client on gw.baseURL + '/v1'
//                 (maxRetries 0; apiKey 'sk-test' unless opts.apiKey)
//   OpenAI        the openai module's default export (typed errors on it)
//   scriptedEnv(scripts, extra)  env for the scripted driver: writes
//                 {"scripts": scripts} to a temp file, sets FK_DRIVER=scripted,
//                 FK_SCRIPT_FILE and FK_SCRIPT_LOG; returns { env, logPath,
//                 readLog() } (readLog: the driver's event lines)
//   tmpDir()      a fresh temporary directory (removed at exit)
//   GATEWAY       the path of the fk-gateway binary under test
//
// gw.envPath is the .env the gateway read: rewrite it and send SIGHUP
// (gw.proc.kill('SIGHUP')) to test reloads.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TOP_BUILDDIR = process.env.FK_TOP_BUILDDIR;
const NODE_MODULES = process.env.FK_NODE_MODULES;
if (!TOP_BUILDDIR || !NODE_MODULES) throw new Error('run through make check (FK_TOP_BUILDDIR, FK_NODE_MODULES unset)');
export const GATEWAY = join(TOP_BUILDDIR, 'gateway', 'fk-gateway');

const require = createRequire(NODE_MODULES + '/');
const openaiModule = require('openai');
export const OpenAI = openaiModule.default ?? openaiModule.OpenAI ?? openaiModule;

const dirs = [];
process.on('exit', () => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

export function tmpDir() {
  const d = mkdtempSync(join(tmpdir(), 'fk-test-'));
  dirs.push(d);
  return d;
}

function quote(v) {
  return '"' + String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') + '"';
}

function prepare({ env = {}, envText = null, processEnv = {}, args = [], wrap = [] } = {}) {
  const dir = tmpDir();
  const envPath = join(dir, '.env');
  const merged = { FK_LISTEN: '127.0.0.1:0', FK_CURRENT_DATE: '2026-11-26', FK_LOG_LEVEL: 'info', ...env };
  const text = envText ?? Object.entries(merged).map(([k, v]) => `${k}=${quote(v)}`).join('\n') + '\n';
  writeFileSync(envPath, text);
  const childEnv = { ...process.env };
  const keys = envText ? [...envText.matchAll(/^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=/gm)].map((m) => m[1]) : Object.keys(merged);
  for (const k of keys) delete childEnv[k];
  Object.assign(childEnv, processEnv);
  const argv = [...wrap, GATEWAY, '--env', envPath, ...args];
  const proc = spawn(argv[0], argv.slice(1), { env: childEnv, stdio: ['ignore', 'inherit', 'pipe'] });
  let err = '';
  const waiters = new Set();
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (chunk) => {
    err += chunk;
    for (const w of waiters) w();
  });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  // resolves with the match of `re` in stderr, or rejects after `ms`
  const waitForLog = (re, ms = 20000) => new Promise((resolve, reject) => {
    const check = () => {
      const m = err.match(re);
      if (!m) return false;
      waiters.delete(check);
      clearTimeout(timer);
      resolve(m);
      return true;
    };
    const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`timed out waiting for ${re} in gateway stderr:\n${err}`)); }, ms);
    waiters.add(check);
    check();
  });
  return { proc, envPath, exited, waitForLog, stderr: () => err };
}

export async function startGateway(opts = {}) {
  const p = prepare(opts);
  const listening = p.waitForLog(/listening on (\S+):(\d+)/);
  const failed = p.exited.then(({ code, signal }) => {
    throw new Error(`fk-gateway exited (code ${code}, signal ${signal}) before listening:\n${p.stderr()}`);
  });
  const m = await Promise.race([listening, failed]);
  failed.catch(() => {});
  const host = m[1].includes(':') ? `[${m[1]}]` : m[1];
  const port = Number(m[2]);
  let stopped = null;
  return {
    baseURL: `http://${host}:${port}`,
    port,
    proc: p.proc,
    envPath: p.envPath,
    stderr: p.stderr,
    waitForLog: p.waitForLog,
    stop(signal = 'SIGTERM', ms = 20000) {
      if (stopped) return stopped;
      if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill(signal);
      const timer = setTimeout(() => p.proc.kill('SIGKILL'), ms);
      stopped = p.exited.then((r) => { clearTimeout(timer); return { ...r, stderr: p.stderr() }; });
      return stopped;
    },
    // the exit of a gateway the test already signalled itself: no second
    // signal (one arriving while it tears down would end it by default action)
    exited(ms = 20000) {
      const timer = setTimeout(() => p.proc.kill('SIGKILL'), ms);
      return p.exited.then((r) => { clearTimeout(timer); return { ...r, stderr: p.stderr() }; });
    },
  };
}

export async function runGateway(opts = {}) {
  const p = prepare(opts);
  const timer = setTimeout(() => p.proc.kill('SIGKILL'), 20000);
  const r = await p.exited;
  clearTimeout(timer);
  return { ...r, stderr: p.stderr() };
}

export function openaiClient(gw, opts = {}) {
  return new OpenAI({ baseURL: gw.baseURL + '/v1', apiKey: 'sk-test', maxRetries: 0, timeout: 20000, ...opts });
}

export function scriptedEnv(scripts, extra = {}) {
  const dir = tmpDir();
  const file = join(dir, 'scripts.json');
  const logPath = join(dir, 'script.log');
  writeFileSync(file, JSON.stringify({ scripts, default: extra.default ?? Object.keys(scripts)[0] }));
  const env = { FK_DRIVER: 'scripted', FK_SCRIPT_FILE: file, FK_SCRIPT_LOG: logPath, ...extra };
  delete env.default;
  return {
    env,
    logPath,
    readLog: () => (existsSync(logPath) ? readFileSync(logPath, 'utf8').split('\n').filter(Boolean) : []),
  };
}
