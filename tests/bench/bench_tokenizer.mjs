// bench_tokenizer.mjs: js-tiktoken (o200k_base ranks) encode throughput on a
// corpus file written by bench_tokenizer, for comparison with libfktok.
//
//   node bench_tokenizer.mjs CORPUS [IDS_OUT] [REPS]
//
// Finds js-tiktoken in $FK_NODE_MODULES or tests/node_modules. Prints
// "js-tiktoken: ... MB/s"; IDS_OUT gets the ids as little-endian int32.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const modules = process.env.FK_NODE_MODULES || join(here, '..', 'node_modules');
const require = createRequire(join(modules, 'x.js'));
const { Tiktoken } = require('js-tiktoken/lite');
const o200k = require('js-tiktoken/ranks/o200k_base');

const [corpusPath, idsPath, repsArg] = process.argv.slice(2);
if (!corpusPath) {
  console.error('usage: node bench_tokenizer.mjs CORPUS [IDS_OUT] [REPS]');
  process.exit(2);
}
const bytes = readFileSync(corpusPath);
const text = bytes.toString('utf8');
const t0 = performance.now();
const enc = new Tiktoken(o200k.default ?? o200k);
const loadS = (performance.now() - t0) / 1000;
const reps = Number(repsArg || 2);
let best = Infinity;
let ids = [];
for (let r = 0; r < reps; r++) {
  const s = performance.now();
  ids = enc.encode(text, [], []);
  best = Math.min(best, (performance.now() - s) / 1000);
}
const mb = bytes.length / 1e6;
console.log(`js-tiktoken: load ${loadS.toFixed(3)} s; corpus ${mb.toFixed(2)} MB, ${ids.length} tokens; ` +
  `encode best of ${reps}: ${best.toFixed(3)} s = ${(mb / best).toFixed(2)} MB/s`);
if (idsPath) writeFileSync(idsPath, Buffer.from(Int32Array.from(ids).buffer));
