// SPDX-License-Identifier: MIT
// Deno side of the runtime smoke test: deno run --allow-read deno-main.mjs TRACE TRACE.gz
import { smoke } from './smoke.mjs';
import { fileSource } from '../../dist/node/index.js';
import { readTraceStats } from '../../dist/index.js';

const [trace, gzipped] = Deno.args;
const result = await smoke(await Deno.readFile(trace), await Deno.readFile(gzipped));
// The Node entry works in Deno too (node: modules): a file read by seeking.
const fromFile = await readTraceStats(await fileSource(trace));
console.log(JSON.stringify({ ...result, fromFileRecords: fromFile.records, runtime: `deno ${Deno.version.deno}` }));
