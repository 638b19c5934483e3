#!/usr/bin/env node
// compare-cores.mjs: send the same chats to two models with greedy decoding,
// and report how far their answers agree: two cores behind one Forgekeeper
// gateway (FK_CORES), or two OpenAI endpoints.
//
//   node scripts/compare-cores.mjs BASE --models MODEL_A,MODEL_B [--chats FILE.jsonl] [--max-tokens N]
//   node scripts/compare-cores.mjs BASE_A BASE_B [--chats FILE.jsonl] [--max-tokens N]
//
// Without --models each BASE's first listed model is used. FILE.jsonl: one
// chat a line, {"messages": [...]} (default: a built-in set). Prints, per
// chat, whether reasoning and content match exactly and, if not, the first
// differing character; then the share of exact matches. Gateways started
// just before (in the background) are waited for: each BASE's /health must
// say "ok" (every core ready) within 60 s.
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const flag = (name, dflt) => {
    const i = args.indexOf(name);
    if (i < 0) return dflt;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
};
const chatsFile = flag('--chats', null);
const maxTokens = Number(flag('--max-tokens', '128'));
const models = flag('--models', null)?.split(',');
if (!(models ? args.length === 1 && models.length === 2 : args.length === 2) || !Number.isInteger(maxTokens) || maxTokens <= 0) {
    console.error('usage: compare-cores.mjs BASE --models MODEL_A,MODEL_B [--chats FILE.jsonl] [--max-tokens N]\n' +
        '       compare-cores.mjs BASE_A BASE_B [--chats FILE.jsonl] [--max-tokens N]');
    process.exit(2);
}
const bases = args.map((b) => b.replace(/\/+$/, ''));
// What to ask: a base URL and a model id (null: its first listed model).
const targets = models ? models.map((model) => ({ base: bases[0], model })) : bases.map((base) => ({ base, model: null }));

const builtin = [
    [{ role: 'user', content: 'What is 2 + 2?' }],
    [{ role: 'system', content: 'Answer in one sentence.' }, { role: 'user', content: 'Why is the sky blue?' }],
    [{ role: 'user', content: 'Write a haiku about autumn.' }],
    [{ role: 'user', content: 'List three prime numbers greater than 100.' }],
].map((messages) => ({ messages }));
const chats = chatsFile
    ? readFileSync(chatsFile, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l))
    : builtin;

/* Wait until BASE's gateway says every core is ready (at most 60 s). */
async function ready(base) {
    const health = base.replace(/\/v1$/, '') + '/health';
    const until = Date.now() + 60000;
    let said = false;
    for (;;) {
        const [status, body] = await fetch(health).then(async (r) => [r.status, await r.json().catch(() => ({}))], () => [0, {}]);
        if (status === 200 && (body.status ?? 'ok') === 'ok') return;
        if (Date.now() > until) throw new Error(`${health} did not say every core is ready within 60 s (last: ${status ? `${status} ${body.status}` : 'no connection'})`);
        if (!said) console.log(`waiting for ${health} ...`);
        said = true;
        await new Promise((r) => setTimeout(r, 100));
    }
}

async function ask({ base, model: wanted }, chat) {
    const model = wanted ?? (await (await fetch(`${base}/models`)).json()).data?.[0]?.id;
    const res = await fetch(`${base}/chat/completions`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ model, messages: chat.messages, temperature: 0, seed: 0, max_tokens: maxTokens }),
    });
    const body = await res.json();
    if (!res.ok) throw new Error(`${base}: HTTP ${res.status}: ${body.error?.message}`);
    const m = body.choices[0].message;
    return { model, reasoning: m.reasoning_content ?? '', content: m.content ?? '', usage: body.usage };
}

const firstDiff = (a, b) => {
    let i = 0;
    while (i < a.length && i < b.length && a[i] === b[i]) i++;
    return i === a.length && i === b.length ? -1 : i;
};

await Promise.all(bases.map(ready));
let same = 0;
for (const [n, chat] of chats.entries()) {
    const [a, b] = await Promise.all(targets.map((t) => ask(t, chat)));
    const dr = firstDiff(a.reasoning, b.reasoning);
    const dc = firstDiff(a.content, b.content);
    const ok = dr < 0 && dc < 0;
    if (ok) same++;
    const where = (d, field) => (d < 0 ? `${field} equal` : `${field} differs at char ${d}`);
    console.log(`chat ${n + 1}: ${ok ? 'identical' : 'DIFFERENT'} (${where(dr, 'reasoning')}, ${where(dc, 'content')}; ` +
        `prompt tokens ${a.usage?.prompt_tokens}/${b.usage?.prompt_tokens})`);
}
console.log(`${same} of ${chats.length} chats identical (${(100 * same / chats.length).toFixed(1)}%)`);
