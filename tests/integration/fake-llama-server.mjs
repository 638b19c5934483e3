#!/usr/bin/env node
// fake-llama-server.mjs: a stand-in for llama.cpp's llama-server, speaking the
// wire format described in docs/OPENAI-API.md, for the proxy driver's tests.
//
//   node fake-llama-server.mjs [--port N] [--loading-ms N] [--n-ctx N] [--model PATH] [--parallel N]
//                              [--no-slots] [--exit-on-eof]
//
// Prints "PORT <n>" on stdout once listening (port 0 picks a free one).
//
// Endpoints (upstream's):
//   GET  /health                503 {"error":{"code":503,...}} while loading, then 200 {"status":"ok"}
//   GET  /props                 {"default_generation_settings":{"n_ctx"},"model_path",...}
//   GET  /slots                 [{"id","n_ctx","speculative","is_processing"}] for --parallel
//                               slots (default 4), the first ones busy with the generation
//                               requests in progress; --no-slots: 501 as llama-server answers
//                               without --slots
//   POST /completion            native streaming (and non-streaming) completion; with
//                               n_probs each event carries completion_probabilities
//                               (made-up values: probsFor); response_fields trims
//                               the final result (pickFields)
//   POST /tokenize              user-defined Harmony tags always parsed, as the real one does
//   POST /v1/chat/completions   OpenAI shape with reasoning_content, stream or not
// With --parallel N given, at most N generations run at once and the rest
// wait for a slot in arrival order, as llama-server's do (without it: no limit).
// Control endpoints (the tests'):
//   GET  /__log                 every request seen: path, body, prompt ids and text,
//                               whether the client closed early; connection count
//   POST /__reset               forget the log
//   POST /__fault               {"script": {...}, "count": N}: the next N generation
//                               requests follow this script
//   POST /__health              {"loading_ms": N} (503 for N more ms) or {"down": true}
//
// A script (from /__fault, or written in the prompt / last message as
// `[[fake {...json...}]]`) may hold:
//   tokens: ["<|channel|>", "analysis", ...]   what the model samples: a string
//                        that is exactly a special token's spelling is that token,
//                        any other string is ordinary text (its tokens, whatever it
//                        spells), a number is that token id. Streamed one token per
//                        event as llama-server does ({"content":" derm","tokens":[40268],
//                        ...}; a token that leaves a UTF-8 character incomplete sends
//                        no event, text that may start a stop string is held back),
//                        then the end-of-generation token (content "", its id)
//   eos_id               that token (default <|return|> 200002); eos_none: none
//   no_ids: true         leave out "tokens" (an upstream that gives no ids)
//   ignore_n_predict, ignore_stop: true   generate past n_predict (chat: max_tokens,
//                        one delta per token) / stop strings
//   reasoning, content, tool_calls: [{name, arguments}]   (chat endpoint)
//   raw: true            chat: the reasoning stays in content as Harmony tags
//   fault: "slow_start" | "drip" | "drop" | "malformed" | "error_before" |
//          "error_after" | "stall" | "status" | "fragment" (events cut into
//          1-7 byte writes, CRLF line ends)
//   delay_ms             slow_start: before the headers; drip: between events
//   after                drop / malformed / error_after / stall: events sent first
//   status, code, type, message   error_before / status: the HTTP status and error body;
//                        error_after: the streamed error event's message (as llama-server
//                        sends it: data: {"error": {code, message, type}})
//   stop_type            how a script that runs out without an eos token ends ("limit")
import http from 'node:http';
import { createRequire } from 'node:module';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : dflt;
};
const port = Number(opt('--port', process.env.FAKE_LLAMA_PORT ?? 0));
let loadingMs = Number(opt('--loading-ms', 0));
let loadingUntil = 0; // set once listening
let down = false; // /__health {"down": true}: refuse /health with 500
const nCtx = Number(opt('--n-ctx', 8192));
const modelPath = opt('--model', '/models/gpt-oss-20b-mxfp4.gguf');
const nSlots = Number(opt('--parallel', 4));
const limitSlots = args.includes('--parallel');
let generating = 0; // generation requests holding a slot
const slotWaiters = []; // resolvers of requests waiting for one (--parallel)
function takeSlot() {
    if (!limitSlots || generating < nSlots) {
        generating++;
        return Promise.resolve();
    }
    return new Promise((resolve) => slotWaiters.push(resolve)); // handed over by releaseSlot
}
function releaseSlot() {
    const next = slotWaiters.shift();
    if (next) next();
    else generating--;
}
const slotsEndpoint = !args.includes('--no-slots');

// ---- tokenizer: o200k_base + the Harmony specials (js-tiktoken) ----------------
const SPECIAL = {
    '<|startoftext|>': 199998, '<|endoftext|>': 199999, '<|return|>': 200002,
    '<|constrain|>': 200003, '<|channel|>': 200005, '<|start|>': 200006,
    '<|end|>': 200007, '<|message|>': 200008, '<|call|>': 200012,
};
const USER_DEFINED = ['<|start|>', '<|end|>', '<|message|>', '<|channel|>', '<|constrain|>'];
const ID_TO_SPECIAL = Object.fromEntries(Object.entries(SPECIAL).map(([k, v]) => [v, k]));
let enc = null;
function encoder() {
    if (enc) return enc;
    const req = createRequire((process.env.FK_NODE_MODULES ?? new URL('../node_modules', import.meta.url).pathname) + '/');
    const { Tiktoken } = req('js-tiktoken/lite');
    const ranks = req('js-tiktoken/ranks/o200k_base');
    const base = ranks.default ?? ranks;
    enc = new Tiktoken({ ...base, special_tokens: { ...base.special_tokens, ...SPECIAL } });
    return enc;
}
const escapeRe = (s) => s.replace(/[|\\^$*+?.()[\]{}]/g, '\\$&');
// llama-server's rule: user-defined tags always, the other specials only with parse_special.
function tokenize(text, parseSpecial) {
    const tags = parseSpecial ? Object.keys(SPECIAL) : USER_DEFINED;
    const re = new RegExp('(' + tags.map(escapeRe).join('|') + ')');
    const ids = [];
    for (const part of text.split(re)) {
        if (part === '') continue;
        if (tags.includes(part)) ids.push(SPECIAL[part]);
        else ids.push(...encoder().encode(part, [], []));
    }
    return ids;
}
function detokenize(ids) {
    let out = '';
    let run = [];
    const flush = () => { if (run.length) out += encoder().decode(run); run = []; };
    for (const id of ids) {
        if (typeof id === 'string') { flush(); out += id; }
        else if (ID_TO_SPECIAL[id]) { flush(); out += ID_TO_SPECIAL[id]; }
        else run.push(id);
    }
    flush();
    return out;
}

// ---- log and scripts ----------------------------------------------------------------
let log = [];
let connections = 0;
let pending = []; // [{script, count}] from /__fault
function nextScript(text) {
    const m = /\[\[fake (\{.*?\})\]\]/s.exec(text ?? '');
    if (m) {
        try { return JSON.parse(m[1]); } catch { return {}; }
    }
    while (pending.length) {
        const p = pending[0];
        if (p.count-- > 0) {
            if (p.count <= 0) pending.shift();
            return p.script;
        }
        pending.shift();
    }
    return {};
}
const DEFAULT_TOKENS = ['<|channel|>', 'analysis', '<|message|>', 'Think', 'ing', '.', '<|end|>',
    '<|start|>', 'assistant', '<|channel|>', 'final', '<|message|>', 'Hello', ' world', '!'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function readBody(req) {
    return new Promise((resolve) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        req.on('error', () => resolve(''));
    });
}
function sendJson(res, status, obj) {
    const body = JSON.stringify(obj);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
}
const errorBody = (code, message, type) => ({ error: { code, message, type } });
function startSse(res) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    res.flushHeaders();
}
// Write one SSE chunk; false when the client is gone.
function sse(res, text) {
    if (res.destroyed || res.writableEnded) return false;
    res.write(text);
    return true;
}
// Write an event in pieces of 1-7 bytes, each its own TCP segment.
async function sseFragmented(res, text) {
    const buf = Buffer.from(text);
    for (let i = 0; i < buf.length;) {
        const n = 1 + ((i * 7919) % 7);
        if (res.destroyed) return false;
        res.write(buf.subarray(i, i + n));
        i += n;
        await new Promise((r) => setImmediate(r));
    }
    return true;
}

// ---- POST /completion ---------------------------------------------------------------
// The token ids a script's pieces stand for, as a model samples them: a piece
// that is exactly one special token's spelling is that token; any other string
// is ordinary text (o200k_base without specials, so tags spelled inside it stay
// ordinary tokens, as when a model copies injected text); a number is that id.
function scriptIds(pieces) {
    const ids = [];
    for (const p of pieces) {
        if (typeof p === 'number') ids.push(p);
        else if (SPECIAL[p] !== undefined) ids.push(SPECIAL[p]);
        else ids.push(...encoder().encode(String(p), [], []));
    }
    return ids;
}
const EOG = new Set([SPECIAL['<|return|>'], SPECIAL['<|call|>'], SPECIAL['<|endoftext|>']]);
// A token's bytes as llama-server renders them without --special: the
// user-defined tags spelled out, control tokens (<|return|>, <|call|>, ...) empty.
function pieceBytes(id) {
    const sp = ID_TO_SPECIAL[id];
    if (sp) return Buffer.from(USER_DEFINED.includes(sp) ? sp : '');
    const b = encoder().textMap.get(id);
    return b ? Buffer.from(b) : Buffer.alloc(0);
}
// llama.cpp's validate_utf8: the length without a multi-byte character cut off at the end.
function validUtf8Len(buf) {
    const len = buf.length;
    for (let i = 1; i <= 4 && i <= len; i++) {
        const c = buf[len - i];
        if ((c & 0xe0) === 0xc0 && i < 2) return len - i;
        if ((c & 0xf0) === 0xe0 && i < 3) return len - i;
        if ((c & 0xf8) === 0xf0 && i < 4) return len - i;
    }
    return len;
}
// llama.cpp's string_find_partial_stop: where a prefix of `stop` ends `text`, or -1.
function partialStop(text, stop) {
    for (let len = Math.min(text.length, stop.length); len > 0; len--) {
        if (text.subarray(text.length - len).equals(stop.subarray(0, len))) return text.length - len;
    }
    return -1;
}
// llama-server's process_token, token by token: one event per sampled token
// ({content, tokens: [id]}), none for a token that leaves a UTF-8 character
// incomplete (its bytes go out with the next event), text held back while it
// could be the start of a stop string, cut at a full stop string. Returns the
// events and how generation ended.
function generate(ids, stopWords, nPredict, endType) {
    const stops = stopWords.map((w) => Buffer.from(String(w)));
    let text = Buffer.alloc(0);
    let sent = 0;
    let n = 0;
    const events = [];
    const all = [];
    let stopType = endType;
    let stoppingWord = '';
    for (const id of ids) {
        const piece = pieceBytes(id);
        text = Buffer.concat([text, piece]);
        all.push(id);
        n += 1;
        let done = false;
        if (validUtf8Len(text) === text.length) {
            const pos = Math.min(sent, text.length);
            const test = text.subarray(pos);
            let sendText = true;
            let full = -1;
            for (const w of stops) {
                const from = Math.max(0, test.length - (w.length + piece.length));
                const at = test.indexOf(w, from);
                if (at >= 0 && (full < 0 || at < full)) { full = at; stoppingWord = w.toString(); }
            }
            if (full >= 0) {
                text = text.subarray(0, pos + full);
                stopType = 'word';
                done = true;
            } else if (!EOG.has(id)) {
                sendText = !stops.some((w) => partialStop(test, w) >= 0);
            }
            let content = Buffer.alloc(0);
            if (sendText) {
                content = text.subarray(Math.min(sent, text.length));
                sent += content.length;
            }
            events.push({ content: content.toString(), tokens: [id], n_decoded: n, stop_word: done });
        }
        if (!done && EOG.has(id)) { stopType = 'eos'; done = true; }
        if (!done && n >= nPredict) { stopType = 'limit'; done = true; }
        if (done) break;
    }
    return { events, text: text.toString(), all, n, stopType, stoppingWord };
}

// n_probs: llama-server's completion_probabilities for a token, made up but
// fixed and a possible distribution: logprob -1 - (id % 97) / 64 for the
// token, the alternatives the token itself and then id+1, id+2, ... one nat
// apart (so their probabilities sum to less than 0.6).
const fakeLogprob = (id) => -1 - (id % 97) / 64;
function probsFor(id, n) {
    const entry = (t, logprob) => {
        const text = detokenize([t]);
        return { id: t, token: text, bytes: [...Buffer.from(text)], logprob };
    };
    const top = [];
    for (let k = 0; k < n; k++) top.push(entry(id + k, fakeLogprob(id) - k));
    return { ...entry(id, fakeLogprob(id)), top_logprobs: top };
}

// response_fields: the final result keeps only these paths ("a/b" is
// a.b), each under its path, as llama-server's json_get_nested_values does.
function pickFields(obj, paths) {
    if (!Array.isArray(paths) || paths.length === 0) return obj;
    const out = {};
    for (const path of paths) {
        let cur = obj, ok = true;
        for (const k of String(path).split('/')) {
            if (ok && cur && typeof cur === 'object' && !Array.isArray(cur) && k in cur) cur = cur[k];
            else ok = false;
        }
        if (ok) out[path] = cur;
    }
    return out;
}

async function completion(req, res, body, entry) {
    const prompt = body.prompt;
    let ids = [];
    if (Array.isArray(prompt)) {
        for (const p of prompt) {
            if (typeof p === 'number') ids.push(p);
            else ids.push(...tokenize(String(p), true));
        }
    } else if (typeof prompt === 'string') ids = tokenize(prompt, true);
    else return sendJson(res, 400, errorBody(400, '"prompt" must be a string or an array', 'invalid_request_error'));
    entry.prompt_ids = ids;
    entry.prompt_text = detokenize(ids);
    if (ids.length >= nCtx) {
        return sendJson(res, 400, errorBody(400, `the request exceeds the available context size (${ids.length} >= ${nCtx})`, 'exceed_context_size_error'));
    }
    const s = nextScript(entry.prompt_text);
    entry.script = s;
    const out = scriptIds(s.tokens ?? DEFAULT_TOKENS);
    if (!s.eos_none) out.push(s.eos_id ?? SPECIAL['<|return|>']);
    const nPredict = body.n_predict > 0 && !s.ignore_n_predict ? body.n_predict : Infinity;
    const stops = Array.isArray(body.stop) && !s.ignore_stop ? body.stop : [];
    if (s.fault === 'slow_start') await sleep(s.delay_ms ?? 500);
    if (s.fault === 'error_before' || s.fault === 'status') {
        const st = s.status ?? 500;
        return sendJson(res, st, errorBody(s.code ?? st, s.message ?? 'Internal server error', s.type ?? 'server_error'));
    }
    const t0 = Date.now();
    const stream = body.stream === true;
    const gen = generate(out, stops, nPredict, s.stop_type ?? 'limit');
    const n = gen.n;
    const timings = { prompt_n: ids.length, prompt_ms: 1.5, predicted_n: n, predicted_ms: 2.5 * n, predicted_per_second: 400, cache_n: 0 };
    const final = {
        index: 0, content: '', tokens: [], id_slot: 0, stop: true,
        model: modelPath, tokens_predicted: n, tokens_evaluated: ids.length,
        generation_settings: { n_predict: body.n_predict ?? -1, temperature: body.temperature ?? 0.8 },
        prompt: entry.prompt_text, has_new_line: false, truncated: false, stop_type: gen.stopType,
        stopping_word: gen.stoppingWord, tokens_cached: ids.length + n, timings,
    };
    if (!stream) {
        const whole = { ...final, content: gen.text, tokens: gen.all };
        if (body.n_probs > 0) whole.completion_probabilities = gen.all.map((id) => probsFor(id, body.n_probs));
        if (s.no_ids) delete whole.tokens;
        return sendJson(res, 200, pickFields(whole, body.response_fields));
    }
    startSse(res);
    let sent = 0;
    for (const e of gen.events) {
        if (s.fault === 'drop' && sent === (s.after ?? 2)) { await sleep(30); res.socket.destroy(); return; }
        if (s.fault === 'malformed' && sent === (s.after ?? 2)) { sse(res, 'data: {"content": "oops", "tokens": [1,\n\n'); res.end(); return; }
        if (s.fault === 'error_after' && sent === (s.after ?? 2)) {
            sse(res, 'data: ' + JSON.stringify(errorBody(500, s.message ?? 'Internal server error', 'server_error')) + '\n\n');
            res.end();
            return;
        }
        if (s.fault === 'stall' && sent === (s.after ?? 2)) return; // keep the socket open, say nothing
        if (s.fault === 'drip' && sent > 0) await sleep(s.delay_ms ?? 50);
        const ev = { index: 0, content: e.content, tokens: e.tokens, stop: false, id_slot: -1, tokens_predicted: e.n_decoded, tokens_evaluated: ids.length };
        if (body.n_probs > 0) ev.completion_probabilities = e.tokens.map((id) => probsFor(id, body.n_probs));
        if (s.no_ids) delete ev.tokens;
        if (e.stop_word) ev.timings = timings;
        const line = 'data: ' + JSON.stringify(ev) + (s.fault === 'fragment' ? '\r\n\r\n' : '\n\n');
        if (!(s.fault === 'fragment' ? await sseFragmented(res, line) : sse(res, line))) return;
        sent += 1;
        // Give slow readers and cancellations a chance to show.
        if (sent % 8 === 0) await sleep(0);
    }
    if (['drop', 'malformed', 'error_after', 'stall'].includes(s.fault) && sent < (s.after ?? 2)) {
        if (s.fault === 'stall') return;
        res.socket.destroy();
        return;
    }
    entry.generated_ms = Date.now() - t0;
    sse(res, 'data: ' + JSON.stringify(pickFields(final, body.response_fields)) + '\n\n');
    res.end();
}

// ---- POST /v1/chat/completions --------------------------------------------------------
function chatPlan(s, maxTokens) {
    const reasoning = s.reasoning ?? (s.tool_calls ? 'Need a tool.' : 'Thinking.');
    const content = s.content ?? (s.tool_calls ? '' : 'Hello world!');
    const tools = (s.tool_calls ?? []).map((t, i) => ({ id: `call_${i}abc`, name: t.name, arguments: typeof t.arguments === 'string' ? t.arguments : JSON.stringify(t.arguments ?? {}) }));
    const split = (str) => str.match(/.{1,4}/gs) ?? [];
    const deltas = [];
    if (s.raw) {
        let raw = `<|channel|>analysis<|message|>${reasoning}<|end|><|start|>assistant<|channel|>final<|message|>${content}`;
        for (const p of raw.split(/(<\|[a-z]+\|>)/).filter((x) => x)) deltas.push({ content: p });
    } else {
        for (const p of split(reasoning)) deltas.push({ reasoning_content: p });
        for (const p of split(content)) deltas.push({ content: p });
        tools.forEach((t, i) => {
            deltas.push({ tool_calls: [{ index: i, id: t.id, type: 'function', function: { name: t.name, arguments: '' } }] });
            for (const p of split(t.arguments)) deltas.push({ tool_calls: [{ index: i, function: { arguments: p } }] });
        });
    }
    // One delta per token, as llama-server streams: max_tokens cuts the deltas.
    if (deltas.length > maxTokens) {
        deltas.length = maxTokens;
        const text = (k) => deltas.map((d) => d[k] ?? '').join('');
        return { reasoning: text('reasoning_content'), content: text('content'), tools: [], deltas, finish: 'length' };
    }
    return { reasoning, content, tools, deltas, finish: tools.length ? 'tool_calls' : (s.finish_reason ?? 'stop') };
}
async function chat(req, res, body, entry) {
    const msgs = Array.isArray(body.messages) ? body.messages : [];
    const last = msgs.length ? msgs[msgs.length - 1] : {};
    const lastText = typeof last.content === 'string' ? last.content : JSON.stringify(last.content ?? '');
    const s = nextScript(lastText);
    entry.script = s;
    if (s.fault === 'slow_start') await sleep(s.delay_ms ?? 500);
    if (s.fault === 'error_before' || s.fault === 'status') {
        const st = s.status ?? 500;
        return sendJson(res, st, errorBody(s.code ?? st, s.message ?? 'Internal server error', s.type ?? 'server_error'));
    }
    const plan = chatPlan(s, body.max_tokens > 0 && !s.ignore_n_predict ? body.max_tokens : Infinity);
    const id = 'chatcmpl-fake' + entry.n;
    const created = Math.floor(Date.now() / 1000);
    const usage = { prompt_tokens: 17, completion_tokens: plan.deltas.length, total_tokens: 17 + plan.deltas.length };
    const timings = { prompt_n: 17, prompt_ms: 1.5, predicted_n: plan.deltas.length, predicted_ms: 2.5 * plan.deltas.length };
    if (body.stream !== true) {
        if (s.fault === 'error_after') {
            await sleep(s.delay_ms ?? 20);
            return sendJson(res, 500, errorBody(500, s.message ?? 'Internal server error', 'server_error'));
        }
        const message = { role: 'assistant', content: s.raw ? plan.deltas.map((d) => d.content).join('') : plan.content || null };
        if (!s.raw) message.reasoning_content = plan.reasoning;
        if (plan.tools.length) message.tool_calls = plan.tools.map((t) => ({ id: t.id, type: 'function', function: { name: t.name, arguments: t.arguments } }));
        return sendJson(res, 200, { id, object: 'chat.completion', created, model: body.model ?? 'fake', choices: [{ index: 0, message, finish_reason: plan.finish }], usage, timings });
    }
    startSse(res);
    const chunk = (delta, finish = null, extra = {}) => 'data: ' + JSON.stringify({ choices: [{ finish_reason: finish, index: 0, delta }], created, id, model: body.model ?? 'fake', system_fingerprint: 'b0-fake', object: 'chat.completion.chunk', ...extra }) + '\n\n';
    sse(res, chunk({ role: 'assistant', content: null }));
    let sent = 0;
    for (const d of plan.deltas) {
        if (s.fault === 'drop' && sent === (s.after ?? 2)) { await sleep(30); res.socket.destroy(); return; }
        if (s.fault === 'malformed' && sent === (s.after ?? 2)) { sse(res, 'data: {"choices": [{"delta": \n\n'); res.end(); return; }
        if (s.fault === 'error_after' && sent === (s.after ?? 2)) {
            sse(res, 'data: ' + JSON.stringify(errorBody(500, s.message ?? 'Internal server error', 'server_error')) + '\n\n');
            res.end();
            return;
        }
        if (s.fault === 'stall' && sent === (s.after ?? 2)) return;
        if (s.fault === 'drip' && sent > 0) await sleep(s.delay_ms ?? 50);
        if (!sse(res, chunk(d))) return;
        sent += 1;
    }
    sse(res, chunk({}, plan.finish, { timings }));
    if (body.stream_options?.include_usage) sse(res, 'data: ' + JSON.stringify({ choices: [], created, id, model: body.model ?? 'fake', object: 'chat.completion.chunk', usage, timings }) + '\n\n');
    sse(res, 'data: [DONE]\n\n');
    res.end();
}

// ---- the server -------------------------------------------------------------------
let nRequests = 0;
const GENERATION_PATHS = ['/completion', '/v1/chat/completions'];
const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const raw = req.method === 'POST' ? await readBody(req) : '';
    if (url.pathname.startsWith('/__')) return control(url.pathname, raw, res);
    const entry = { n: ++nRequests, method: req.method, path: url.pathname, conn: req.socket.fakeId, closed_early: false, t: Date.now() };
    log.push(entry);
    res.on('close', () => { if (!res.writableFinished) entry.closed_early = true; entry.t_end = Date.now(); });
    let body = {};
    if (raw) {
        try { body = JSON.parse(raw); } catch {
            return sendJson(res, 400, errorBody(400, 'Failed to parse the request body as JSON', 'invalid_request_error'));
        }
    }
    entry.body = body;
    if (req.method === 'GET' && url.pathname === '/health') {
        if (down) return sendJson(res, 500, errorBody(500, 'broken', 'server_error'));
        if (Date.now() < loadingUntil) return sendJson(res, 503, errorBody(503, 'Loading model', 'unavailable_error'));
        return sendJson(res, 200, { status: 'ok' });
    }
    if (req.method === 'GET' && url.pathname === '/props') {
        return sendJson(res, 200, { default_generation_settings: { n_ctx: nCtx }, total_slots: nSlots, model_path: modelPath, chat_template: '', build_info: 'b0-fake' });
    }
    if (Date.now() < loadingUntil) return sendJson(res, 503, errorBody(503, 'Loading model', 'unavailable_error'));
    if (req.method === 'GET' && url.pathname === '/slots') {
        if (!slotsEndpoint) return sendJson(res, 501, errorBody(501, 'This server does not support slots endpoint. Start it with `--slots`', 'not_supported_error'));
        return sendJson(res, 200, Array.from({ length: nSlots }, (_, id) => ({ id, n_ctx: nCtx, speculative: false, is_processing: id < generating })));
    }
    if (req.method === 'POST' && url.pathname === '/tokenize') {
        const ids = tokenize(String(body.content ?? ''), body.parse_special === true);
        return sendJson(res, 200, { tokens: ids });
    }
    if (GENERATION_PATHS.includes(url.pathname) && req.method === 'POST') {
        await takeSlot();
        if (res.destroyed) return releaseSlot(); // the client left while it waited
        res.on('close', releaseSlot);
    }
    if (req.method === 'POST' && url.pathname === '/completion') return completion(req, res, body, entry);
    if (req.method === 'POST' && url.pathname === '/v1/chat/completions') return chat(req, res, body, entry);
    sendJson(res, 404, errorBody(404, 'File Not Found', 'not_found_error'));
});
function control(path, raw, res) {
    let body = {};
    try { body = raw ? JSON.parse(raw) : {}; } catch { return sendJson(res, 400, { error: 'bad json' }); }
    if (path === '/__log') return sendJson(res, 200, { requests: log, connections });
    if (path === '/__reset') { log = []; connections = 0; pending = []; return sendJson(res, 200, { ok: true }); }
    if (path === '/__fault') { pending.push({ script: body.script ?? {}, count: body.count ?? 1 }); return sendJson(res, 200, { ok: true }); }
    if (path === '/__health') {
        if ('loading_ms' in body) loadingUntil = Date.now() + Number(body.loading_ms);
        if ('down' in body) down = !!body.down;
        return sendJson(res, 200, { ok: true });
    }
    sendJson(res, 404, { error: 'unknown control endpoint' });
}
server.on('connection', (sock) => {
    sock.fakeId = ++connections;
    sock.setNoDelay(true);
});
server.keepAliveTimeout = 60000;
encoder(); // load the ranks before answering anything (it blocks for a second or more)
server.listen(port, '127.0.0.1', () => {
    loadingUntil = Date.now() + loadingMs;
    process.stdout.write(`PORT ${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
if (args.includes('--exit-on-eof')) {
    process.stdin.on('end', () => process.exit(0)); // the parent went away
    process.stdin.resume();
}
