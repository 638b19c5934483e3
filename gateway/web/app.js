// app.js: the gateway's chat page. Plain browser JavaScript, no build step,
// no dependency; it talks to this origin's /v1 only (the page's
// Content-Security-Policy allows nothing else).
//
//   chat      POST /v1/chat/completions, streamed: reasoning (analysis) in a
//             box above the answer (final), tool calls as cards; the whole
//             conversation is sent each turn
//   A/B mode  one prompt to two models at once, side by side, greedy or not
//             as the temperature says; content tokens (logprobs) and
//             reasoning characters from the first difference on are marked;
//             each side's time to first token and tokens/s
//   stop      aborts the fetch: the gateway sees the connection close and
//             cancels the generation upstream
//   errors    said in words: the core still loading (503 + Retry-After), the
//             core unreachable, an upstream failure, a missing API key
//
// Elements tests find by data-testid: prompt, send, stop, show-reasoning,
// model, model-b, ab-mode, max-tokens, temperature, api-key, error; in the
// latest answer: reasoning, content, tool-call, status, speed (A/B mode:
// reasoning-a, content-a, speed-a, ... -b). Model output is untrusted: it is
// only ever set as text, never as HTML.
'use strict';

const $ = (id) => document.getElementById(id);
const page = {
  history: [], // the conversation: [{role, content}]
  apiKey: '', // typed by the user when the gateway asks for one; kept in memory only
  running: null, // the AbortController of the request(s) in flight
};

// ---- requests and errors --------------------------------------------------------

function headers() {
  const h = { 'Content-Type': 'application/json' };
  if (page.apiKey) h.Authorization = `Bearer ${page.apiKey}`;
  return h;
}

class PageError extends Error {}

// An HTTP error reply in words.
async function errorText(res) {
  let e = {};
  try { e = (await res.json()).error ?? {}; } catch { /* not JSON */ }
  const msg = e.message ?? res.statusText;
  const retry = res.headers.get('Retry-After');
  const again = retry ? ` Try again in ${retry} s.` : '';
  if (res.status === 401) {
    $('api-key-label').hidden = false;
    return page.apiKey ? 'The gateway refused this API key. Check it and send again.'
      : 'This gateway needs an API key (FK_API_KEY): enter it above, then send again.';
  }
  if (res.status === 503 && e.code === 'model_not_ready') return `The core is still loading (${msg}).${again}`;
  if (res.status === 503 && e.code === 'core_unavailable') return `The core cannot be reached: ${msg}.${again}`;
  if (res.status === 503) return `The gateway is busy or not ready: ${msg}.${again}`;
  if (res.status === 502 || res.status === 504) return `The core failed (HTTP ${res.status}): ${msg}`;
  if (res.status === 404 && e.code === 'model_not_found') return `That model is not served here: ${msg}`;
  if (res.status === 400) return `The request was refused: ${msg}`;
  return `HTTP ${res.status}: ${msg}`;
}

function showError(text) {
  $('error').textContent = text;
  $('error').hidden = !text;
}

// ---- models ---------------------------------------------------------------------

async function loadModels() {
  let res;
  try {
    res = await fetch('/v1/models', { headers: headers() });
  } catch {
    return showError('Cannot reach the gateway.');
  }
  if (!res.ok) return showError(await errorText(res));
  const ids = ((await res.json()).data ?? []).map((m) => m.id);
  for (const [select, pick] of [[$('model'), 0], [$('model-b'), ids.length > 1 ? 1 : 0]]) {
    const keep = select.value;
    select.replaceChildren(...ids.map((id) => new Option(id, id)));
    select.value = ids.includes(keep) ? keep : ids[pick] ?? '';
  }
  showError('');
}

// ---- one answer on the page ----------------------------------------------------

// An answer box: name is null (chat) or 'a' / 'b' (A/B mode).
function answerView(parent, name, model) {
  const root = document.createElement('div');
  root.className = 'answer';
  const id = (what) => (name ? `${what}-${name}` : what);
  const el = (cls, testid, tag = 'div') => {
    const e = document.createElement(tag);
    e.className = cls;
    if (testid) e.dataset.testid = id(testid);
    root.append(e);
    return e;
  };
  if (name) el('side-name').textContent = `${name.toUpperCase()}: ${model}`;
  const view = {
    root,
    reasoningEl: el('reasoning', 'reasoning'),
    contentEl: el('content', 'content'),
    toolsEl: el('tools'),
    statusEl: el('status', 'status'),
    speedEl: el('speed', 'speed'),
    reasoning: '',
    content: '',
    tools: [], // [{name, args, card}]
    tokens: [], // content tokens from logprobs: [{key, span}]
    decoder: new TextDecoder('utf-8'),
  };
  view.reasoningEl.hidden = !$('show-reasoning').checked;
  view.statusEl.textContent = 'Waiting for the first token...';
  parent.append(root);
  return view;
}

function showToolCall(view, index, name, args) {
  let t = view.tools[index];
  if (!t) {
    const card = document.createElement('div');
    card.className = 'tool-call';
    card.dataset.testid = 'tool-call';
    const title = document.createElement('div');
    title.className = 'name';
    const pre = document.createElement('pre');
    card.append(title, pre);
    view.toolsEl.append(card);
    t = view.tools[index] = { name: '', args: '', title, pre };
  }
  t.name += name ?? '';
  t.args += args ?? '';
  t.title.textContent = `Tool call: ${t.name}`;
  let shown = t.args;
  try { shown = JSON.stringify(JSON.parse(t.args), null, 2); } catch { /* still streaming */ }
  t.pre.textContent = shown;
}

// Content tokens as spans (A/B mode), from the chunk's logprobs entries.
function addTokens(view, entries) {
  for (const e of entries) {
    const span = document.createElement('span');
    span.textContent = view.decoder.decode(Uint8Array.from(e.bytes ?? []), { stream: true });
    view.contentEl.append(span);
    view.tokens.push({ key: (e.bytes ?? []).join(','), span });
  }
}

// One chunk's delta onto the view.
function applyChunk(view, chunk, withTokens) {
  const choice = chunk.choices?.[0];
  const d = choice?.delta ?? {};
  const reasoning = d.reasoning_content ?? d.reasoning;
  if (reasoning) {
    view.reasoning += reasoning;
    view.reasoningEl.textContent = view.reasoning;
  }
  if (d.content) {
    view.content += d.content;
    if (!withTokens || !choice.logprobs?.content) view.contentEl.append(d.content);
  }
  if (withTokens && choice?.logprobs?.content) addTokens(view, choice.logprobs.content);
  for (const tc of d.tool_calls ?? []) showToolCall(view, tc.index ?? 0, tc.function?.name, tc.function?.arguments);
  return Boolean(reasoning || d.content || d.tool_calls);
}

// Stream one request into view; its speed: completion tokens over the whole
// request, and the time to the first text. Resolves with {ttft, tokens, rate}.
async function stream(view, body, signal, onChunk) {
  const t0 = performance.now();
  let first = 0, tokens = 0, finish = '';
  const res = await fetch('/v1/chat/completions', { method: 'POST', headers: headers(), body: JSON.stringify(body), signal });
  if (!res.ok) throw new PageError(await errorText(res));
  const reader = res.body.getReader();
  const text = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += text.decode(value, { stream: true });
    let at;
    while ((at = buf.search(/\r?\n\r?\n/)) >= 0) {
      const event = buf.slice(0, at);
      buf = buf.slice(at).replace(/^\r?\n\r?\n/, '');
      const data = event.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      if (!data || data === '[DONE]') continue;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new PageError(`The core failed while answering: ${chunk.error.message ?? 'unknown error'}`);
      if (applyChunk(view, chunk, body.logprobs) && !first) {
        first = performance.now();
        view.statusEl.textContent = '';
      }
      finish = chunk.choices?.[0]?.finish_reason ?? finish;
      if (chunk.usage) tokens = chunk.usage.completion_tokens;
      onChunk?.();
    }
  }
  const end = performance.now();
  view.statusEl.textContent = finish === 'length' ? 'Stopped at max_tokens.' : '';
  const ttft = (first || end) - t0, seconds = (end - t0) / 1000;
  const rate = seconds > 0 ? tokens / seconds : 0;
  view.speedEl.textContent = `${tokens} tokens in ${seconds.toFixed(2)} s (${rate.toFixed(1)} tokens/s), first text after ${Math.round(ttft)} ms`;
  return { ttft, tokens, rate };
}

// ---- A/B: mark where the two sides part ------------------------------------------

function markDivergence(a, b) {
  let i = 0;
  while (i < a.tokens.length && i < b.tokens.length && a.tokens[i].key === b.tokens[i].key) i++;
  const parted = i < a.tokens.length && i < b.tokens.length;
  for (const v of [a, b]) {
    v.tokens.forEach((t, k) => {
      t.span.classList.toggle('diverge', parted && k >= i);
      t.span.classList.toggle('first', parted && k === i);
    });
  }
  let r = 0;
  while (r < a.reasoning.length && r < b.reasoning.length && a.reasoning[r] === b.reasoning[r]) r++;
  const rParted = r < a.reasoning.length && r < b.reasoning.length;
  for (const v of [a, b]) {
    if (!rParted) {
      v.reasoningEl.textContent = v.reasoning;
      continue;
    }
    const rest = document.createElement('span');
    rest.className = 'diverge';
    rest.textContent = v.reasoning.slice(r);
    v.reasoningEl.replaceChildren(v.reasoning.slice(0, r), rest);
  }
}

// ---- sending ------------------------------------------------------------------------

function settings() {
  const n = Number($('max-tokens').value), t = Number($('temperature').value);
  return {
    max_tokens: Number.isInteger(n) && n > 0 ? n : undefined,
    temperature: Number.isFinite(t) && t >= 0 && t <= 2 ? t : undefined,
    stream: true,
    stream_options: { include_usage: true },
  };
}

function newTurn(text) {
  for (const e of $('log').querySelectorAll('[data-testid]')) e.removeAttribute('data-testid');
  const turn = document.createElement('div');
  turn.className = 'turn';
  const user = document.createElement('div');
  user.className = 'user';
  user.textContent = text;
  turn.append(user);
  $('log').append(turn);
  return turn;
}

function setRunning(controller) {
  page.running = controller;
  $('stop').disabled = !controller;
  $('send').disabled = Boolean(controller);
}

// A failed or stopped request: the view says so, the page shows why.
function ended(view, err) {
  if (err.name === 'AbortError') {
    view.statusEl.textContent = 'Stopped.';
    return;
  }
  view.statusEl.textContent = 'Failed.';
  showError(err instanceof PageError ? err.message : `Cannot reach the gateway: ${err.message}`);
}

async function sendChat(text, controller) {
  const turn = newTurn(text);
  const sides = document.createElement('div');
  sides.className = 'sides';
  turn.append(sides);
  const view = answerView(sides, null);
  const messages = [...page.history, { role: 'user', content: text }];
  try {
    await stream(view, { ...settings(), model: $('model').value, messages }, controller.signal);
    page.history = [...messages, { role: 'assistant', content: view.content }];
  } catch (err) {
    ended(view, err);
  }
}

async function sendAB(text, controller) {
  const turn = newTurn(text);
  const sides = document.createElement('div');
  sides.className = 'sides two';
  turn.append(sides);
  const models = [$('model').value, $('model-b').value];
  const [a, b] = ['a', 'b'].map((n, i) => answerView(sides, n, models[i]));
  const mark = () => markDivergence(a, b);
  const body = (model) => ({ ...settings(), model, messages: [{ role: 'user', content: text }], logprobs: true });
  await Promise.all([a, b].map((v, i) => stream(v, body(models[i]), controller.signal, mark).catch((err) => ended(v, err))));
  mark();
}

async function send() {
  const text = $('prompt').value.trim();
  if (!text || page.running) return;
  showError('');
  $('prompt').value = '';
  const controller = new AbortController();
  setRunning(controller);
  try {
    await ($('ab-mode').checked ? sendAB(text, controller) : sendChat(text, controller));
  } finally {
    setRunning(null);
    $('prompt').focus();
  }
}

function stop() {
  page.running?.abort();
}

// ---- wiring ---------------------------------------------------------------------------

function init() {
  $('ask').addEventListener('submit', (e) => { e.preventDefault(); send(); });
  $('stop').addEventListener('click', stop);
  $('prompt').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
  });
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') stop(); });
  $('show-reasoning').addEventListener('change', () => {
    for (const box of $('log').querySelectorAll('.reasoning')) box.hidden = !$('show-reasoning').checked;
  });
  $('ab-mode').addEventListener('change', () => document.body.classList.toggle('ab', $('ab-mode').checked));
  $('settings').addEventListener('submit', (e) => e.preventDefault());
  $('api-key').addEventListener('change', () => { page.apiKey = $('api-key').value.trim(); loadModels(); });
  document.body.classList.toggle('ab', $('ab-mode').checked);
  loadModels();
  $('prompt').focus();
}

init();
