// A connection whose client closed it, at the moment something else on the
// gateway turns to it. evhttp frees such a connection at once, but libevent
// finalizes its bufferevent (and conn.c forgets the connection) only after
// the events already queued have run; an event of conn.c that flushed or
// closed that connection meanwhile released its socket bufferevent twice,
// and fk-gateway aborted on libevent's "refcnt > 0" assertion. Each case
// lines the events up deterministically: the client's bytes go out in one
// write, or the gateway is stopped (SIGSTOP) while the client acts and
// continued (SIGCONT) so that one event-loop pass sees everything at once.
// After each case the gateway must still answer, and it must exit cleanly.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGateway, scriptedEnv } from './lib.mjs';

let gw;
before(async () => {
  const sc = scriptedEnv({ hello: { harmony: '<|channel|>final<|message|>Hi<|return|>' } });
  gw = await startGateway({ env: { ...sc.env, FK_MAX_CONNECTIONS: '1', FK_HEADER_TIMEOUT_S: '1' } });
});
after(async () => {
  const r = await gw.stop();
  assert.equal(r.code, 0, `gateway exit: ${r.code} ${r.signal}\n${r.stderr}`);
});

// A raw connection: everything it received, and whether the gateway closed it.
async function connect() {
  const s = net.connect(gw.port, '127.0.0.1');
  const c = { s, text: '', closed: false };
  s.on('data', (d) => { c.text += d.toString('latin1'); });
  s.on('error', () => {});
  c.done = new Promise((resolve) => s.on('close', () => { c.closed = true; resolve(); }));
  await once(s, 'connect');
  return c;
}

// Resolves once the connection has received `re` (or closed).
async function received(c, re, ms = 5000) {
  const t0 = Date.now();
  while (!re.test(c.text) && !c.closed) {
    if (Date.now() - t0 > ms) assert.fail(`timed out waiting for ${re}; got ${JSON.stringify(c.text)}`);
    await sleep(5);
  }
}

// The gateway stopped while `fn` runs, then continued.
async function whileStopped(fn) {
  process.kill(gw.proc.pid, 'SIGSTOP');
  try {
    await fn();
  } finally {
    process.kill(gw.proc.pid, 'SIGCONT');
  }
}

// The gateway answers a new client (and so is alive).
async function assertServing() {
  const c = await connect();
  c.s.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await c.done;
  assert.match(c.text, /^HTTP\/1\.1 200 /, `a new client is answered; gateway stderr:\n${gw.stderr()}`);
}

test('a reply with Connection: close, and a partial request head pipelined behind it', async () => {
  // The reply is written out; evhttp closes; the bytes behind it are not read.
  const c = await connect();
  c.s.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /hea');
  await c.done;
  assert.match(c.text, /^HTTP\/1\.1 200 /);
  assert.equal(c.text.match(/HTTP\/1\.1/g).length, 1, 'one reply');
  await assertServing();
});

test('a new connection over FK_MAX_CONNECTIONS while the idle one closes', async () => {
  const idle = await connect();
  idle.s.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
  await received(idle, /\r\n\r\n\{.*\}\s*$/s);
  assert.equal(idle.closed, false, 'kept alive');
  let next;
  await whileStopped(async () => {
    next = await connect(); // queued first: its set-up evicts the idle one
    idle.s.destroy(); // then the idle one's EOF
    await sleep(50);
  });
  next.s.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await next.done;
  assert.match(next.text, /^HTTP\/1\.1 200 /, `the new connection is answered; gateway stderr:\n${gw.stderr()}`);
  await assertServing();
});
