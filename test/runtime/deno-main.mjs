// SPDX-License-Identifier: MIT
// Deno side of the runtime smoke test: deno run --allow-read deno-main.mjs TRACE TRACE.gz
import { smoke, webWorkerRows } from './smoke.mjs';
import { createMergeWorkers, fileSource, workerDecompressor } from '../../dist/node/index.js';
import { readTraceStats } from '../../dist/index.js';
import { forEachRecordBatch } from '../../dist/parse/index.js';
import { createWebMergeWorkers } from '../../dist/web/index.js';

const [trace, gzipped] = Deno.args;
const result = await smoke(await Deno.readFile(trace), await Deno.readFile(gzipped));
// The Node entry works in Deno too (node: modules): a file read by seeking.
const fromFile = await readTraceStats(await fileSource(trace));
// Worker threads (node:worker_threads in Deno) merge slices of the file: the same rows as one thread.
const rowsOf = async (options) => {
  const rows = [];
  await forEachRecordBatch(await fileSource(trace), (batch) => {
    for (let i = 0; i < batch.length; i++) rows.push(`${batch.fileOffset[i]} ${batch.tscHi[i]} ${batch.tscLo[i]} ${batch.flags[i]}`);
  }, { merge: 'exact', ...options });
  return rows.join('\n');
};
const workers = createMergeWorkers(1);
let helperSlices = 0;
const helpers = workers.helpers.map((helper) => ({
  mergeSlice: (task) => (helperSlices++, helper.mergeSlice(task)),
  recycle: (rows) => helper.recycle(rows),
}));
const threaded = await rowsOf({ helpers, sliceBytes: 128 * 1024 });
await workers.close();
const threadedMatches = threaded === (await rowsOf({}));
// gzip decompressed in a worker thread (workerDecompressor): the records of the plain file.
let gzipWorkerStreams = 0;
const countingDecompressor = { decompress: (...args) => (gzipWorkerStreams++, workerDecompressor.decompress(...args)) };
const gzipInWorker = (await readTraceStats(await fileSource(gzipped), { decompressor: countingDecompressor })).records;
// Deno's Web Workers (xenspan/web) too, on a Blob and on shared bytes.
const webWorkers = await webWorkerRows(await Deno.readFile(trace), createWebMergeWorkers);
console.log(JSON.stringify({ ...result, fromFileRecords: fromFile.records, threadedMatches, helperSlices, webWorkers, gzipInWorker, gzipWorkerStreams, runtime: `deno ${Deno.version.deno}` }));
