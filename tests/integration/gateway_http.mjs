// HTTP framing and connection edge cases on a raw socket: every refusal is an
// OpenAI-shaped JSON error (never an HTML page), conflicting Content-Length
// headers are refused, chunk extensions are accepted, a body over the limit
// gets a JSON 413 that node's http client and curl both read, a client that
// half-closes after its request is answered, and connections without a
// whole request head are closed after FK_HEADER_TIMEOUT_S.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import { startGateway, scriptedEnv } from './lib.mjs';

let gw, sc;
before(async () => {
  sc = scriptedEnv({
    hello: { harmony: '<|channel|>final<|message|>Hi<|return|>' },
    slow: { harmony: '<|channel|>final<|message|>Taking my time.<|return|>', first_delay_ms: 300 },
  });
  gw = await startGateway({ env: { ...sc.env, FK_MAX_BODY_BYTES: '65536', FK_HEADER_TIMEOUT_S: '1' } });
});
after(async () => {
  const r = await gw.stop();
  assert.equal(r.code, 0, `gateway exit: ${r.code} ${r.signal}\n${r.stderr}`);
});

// Send raw bytes; resolve with everything the gateway sent until it closed
// (or `ms` passed). halfClose: end our side after sending.
function raw(bytes, { halfClose = false, ms = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const s = net.connect(gw.port, '127.0.0.1');
    const chunks = [];
    const t0 = Date.now();
    const timer = setTimeout(() => { s.destroy(); resolve({ text: Buffer.concat(chunks).toString('latin1'), closed: false, ms: Date.now() - t0 }); }, ms);
    s.on('connect', () => { s.write(bytes); if (halfClose) s.end(); });
    s.on('data', (d) => chunks.push(d));
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
    s.on('close', () => { clearTimeout(timer); resolve({ text: Buffer.concat(chunks).toString('latin1'), closed: true, ms: Date.now() - t0 }); });
  });
}

// The final response in a raw reply (after any interim 1xx): status and
// parsed JSON body.
function lastResponse(text) {
  let at = 0;
  while (/^HTTP\/1\.1 1\d\d /.test(text.slice(at, at + 13))) at = text.indexOf('\r\n\r\n', at) + 4;
  const head = text.slice(at, text.indexOf('\r\n\r\n', at));
  const body = text.slice(text.indexOf('\r\n\r\n', at) + 4);
  const status = Number(head.split(' ')[1]);
  let json = null;
  try { json = JSON.parse(body.includes('\r\n') && /chunked/i.test(head) ? body.split('\r\n')[1] : body); } catch { /* not JSON */ }
  return { status, head, body, json };
}

const chatBody = JSON.stringify({ messages: [{ role: 'user', content: 'script:hello' }] });
const post = (headers, body = chatBody) =>
  `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${headers}\r\n${body}`;

function assertJsonError(r, status, code) {
  const res = lastResponse(r.text);
  assert.equal(res.status, status, r.text);
  assert.match(res.head, /content-type: application\/json/i, r.text);
  assert.ok(res.json?.error?.message, `an OpenAI error object: ${r.text}`);
  assert.equal(typeof res.json.error.type, 'string');
  if (code) assert.equal(res.json.error.code, code, r.text);
  assert.ok(!/<html/i.test(r.text), 'no HTML page');
  return res;
}

test('conflicting Content-Length headers are refused with 400; identical ones are fine', async () => {
  const n = Buffer.byteLength(chatBody);
  const bad = await raw(post(`Content-Length: ${n}\r\nContent-Length: ${n + 5}\r\n`) + 'xxxxx');
  const res = assertJsonError(bad, 400, 'malformed_request');
  assert.match(res.json.error.message, /conflicting Content-Length/);
  assert.equal(bad.closed, true, 'the connection is closed (its framing is unknown)');
  const same = await raw(post(`Content-Length: ${n}\r\nContent-Length: ${n}\r\nConnection: close\r\n`));
  assert.equal(lastResponse(same.text).status, 200, same.text);
});

test('chunked bodies with chunk extensions and trailers are accepted', async () => {
  const b = Buffer.from(chatBody);
  const half = Math.floor(b.length / 2);
  const body = `${half.toString(16)};name=value;q="x y"\r\n${b.subarray(0, half)}\r\n` +
    `${(b.length - half).toString(16)} ; ext\r\n${b.subarray(half)}\r\n0\r\nX-Trailer: 1\r\n\r\n`;
  const r = await raw(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body}`);
  const res = lastResponse(r.text);
  assert.equal(res.status, 200, r.text);
  assert.equal(res.json.choices[0].message.content, 'Hi');
});

test('a chunked body of exactly FK_MAX_BODY_BYTES (65536) is served, one byte more is 413', async () => {
  const sized = (n) => {
    const bare = JSON.stringify({ messages: [{ role: 'user', content: 'script:hello' }], pad: '' }).length;
    const b = Buffer.from(JSON.stringify({ messages: [{ role: 'user', content: 'script:hello' }], pad: 'x'.repeat(n - bare) }));
    assert.equal(b.length, n, 'the test builds a body of the size it wants');
    const cut = 40000; // two chunks, the second one crossing any limit
    return `${cut.toString(16)}\r\n${b.subarray(0, cut)}\r\n${(n - cut).toString(16)}\r\n${b.subarray(cut)}\r\n0\r\n\r\n`;
  };
  const head = 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n';
  for (const n of [65535, 65536]) {
    const r = await raw(head + sized(n));
    const res = lastResponse(r.text);
    assert.equal(res.status, 200, `${n} bytes: ${r.text.slice(0, 300)}`);
    assert.equal(res.json.choices[0].message.content, 'Hi');
  }
  assertJsonError(await raw(head + sized(65537)), 413, 'request_too_large');
});

test('every framing refusal is an OpenAI JSON error, never an HTML page', async () => {
  const cases = [
    ['GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n', 400, 'malformed_request'],
    ['GET /health HTTP/2.0\r\nHost: x\r\n\r\n', 505, 'http_version_not_supported'],
    ['BREW /health HTTP/1.1\r\nHost: x\r\n\r\n', 405, 'method_not_allowed'],
    ['GET /health HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n', 400, 'malformed_request'],
    ['GET /health HTTP/1.1\nHost: x\n\n', 400, 'malformed_request'],
    ['GET /health HTTP/1.1\r\nBad Name: x\r\n\r\n', 400, 'malformed_request'],
    [post('Content-Length: 12\r\nExpect: 200-ok\r\n'), 417, 'expectation_failed'],
    [post('Transfer-Encoding: gzip\r\n'), 501, 'not_implemented'],
    [post('Transfer-Encoding: chunked\r\nContent-Length: 5\r\n'), 400, 'malformed_request'],
    ['HEAD /health HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc', 400, 'malformed_request'],
    ['POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400, 'malformed_request'],
    ['GET /health HTTP/1.1\r\nX-Big: ' + 'a'.repeat(70000) + '\r\n\r\n', 431, 'request_header_fields_too_large'],
    [post('Content-Length: 99999999\r\n'), 413, 'request_too_large'],
  ];
  for (const [bytes, status, code] of cases) {
    const r = await raw(bytes);
    assertJsonError(r, status, code);
  }
  const ok = await fetch(gw.baseURL + '/health');
  assert.equal(ok.status, 200, 'still serving');
});

test('a body over the limit: node\'s http client and curl both read the JSON 413', async () => {
  const big = Buffer.alloc(9 << 20, 0x61);
  const res = await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: gw.port, path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': big.length } }, (r) => {
      let text = '';
      r.setEncoding('utf8');
      r.on('data', (d) => { text += d; });
      r.on('end', () => resolve({ status: r.statusCode, text }));
    });
    req.on('error', reject);
    req.end(big);
  });
  assert.equal(res.status, 413, res.text);
  assert.equal(JSON.parse(res.text).error.code, 'request_too_large');
  const curl = spawnSync('curl', ['-s', '-w', '\n%{http_code}', '-H', 'content-type: application/json', '--data-binary', '@-', gw.baseURL + '/v1/chat/completions'], { input: big });
  assert.equal(curl.status, 0, curl.stderr?.toString());
  const out = curl.stdout.toString();
  const body = out.slice(0, out.lastIndexOf('\n'));
  assert.equal(out.slice(out.lastIndexOf('\n') + 1), '413', out);
  assert.equal(JSON.parse(body).error.code, 'request_too_large');
});

test('a client that half-closes after a whole request is answered (whole and streamed)', async () => {
  const body = JSON.stringify({ messages: [{ role: 'user', content: 'script:slow' }] });
  const r = await raw(post(`Content-Length: ${Buffer.byteLength(body)}\r\n`, body), { halfClose: true });
  const res = lastResponse(r.text);
  assert.equal(res.status, 200, r.text);
  assert.equal(res.json.choices[0].message.content, 'Taking my time.');
  const sbody = JSON.stringify({ stream: true, messages: [{ role: 'user', content: 'script:slow' }] });
  const s = await raw(post(`Content-Length: ${Buffer.byteLength(sbody)}\r\n`, sbody), { halfClose: true });
  assert.match(s.text, /HTTP\/1\.1 200/);
  assert.match(s.text, /Taking/);
  assert.match(s.text, /data: \[DONE\]/);
  assert.equal(s.closed, true);
});

test('connections without a whole request head are closed after FK_HEADER_TIMEOUT_S', async () => {
  const silent = await raw('', { ms: 6000 });
  assert.equal(silent.closed, true, 'a silent connection is closed');
  assert.equal(silent.text, '', 'without a reply');
  assert.ok(silent.ms >= 900 && silent.ms < 4000, `closed after ${silent.ms} ms`);
  const partial = await raw('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n', { ms: 6000 });
  assert.equal(partial.closed, true);
  assertJsonError(partial, 408, 'request_timeout');
});
