// SPDX-License-Identifier: MIT
// What every runtime must agree on (Node, Deno, a browser): the built package decodes a trace from bytes,
// a Blob, a Web ReadableStream and gzip, with the same statistics and the same merged order.
// Plain JavaScript over the built files, so that any runtime can load it as it is.
import { forEachRecordBatch, readTraceStats } from '../../dist/index.js';

/**
 * FNV-1a over the merged rows' pCPU, header and TSC (equal digests mean the same order), and with
 * `everyColumn` over their flags, file offsets and payload words too (then they mean the same rows).
 */
async function digestRows(input, options, everyColumn) {
  let hash = 0x811c9dc5;
  let records = 0;
  const mix = (value) => {
    hash = Math.imul(hash ^ (value >>> 0), 0x01000193) >>> 0;
  };
  await forEachRecordBatch(
    input,
    (batch) => {
      for (let i = 0; i < batch.length; i++) {
        const header = batch.header[i];
        mix(batch.pcpu[i]);
        mix(header);
        mix(batch.tscLo[i]);
        mix(batch.tscHi[i]);
        if (!everyColumn) continue;
        mix(batch.flags[i]);
        mix(batch.fileOffset[i] % 0x100000000);
        mix(Math.floor(batch.fileOffset[i] / 0x100000000));
        const extra = (header >>> 28) & 7;
        for (let w = 0; w < extra; w++) mix(batch.words[batch.payloadIndex[i] + w]);
      }
      records += batch.length;
    },
    options,
  );
  return { records, hash };
}

async function mergedDigest(input, merge) {
  return digestRows(input, { merge }, false);
}

function statsSummary(stats) {
  return {
    records: stats.records,
    pcpus: stats.pcpus.map((p) => ({ pcpu: p.pcpu, records: p.records, bytes: p.bytes, first: String(p.firstTsc), last: String(p.lastTsc) })),
    diagnostics: stats.diagnostics,
  };
}

/** Runs the checks on a plain trace and its gzip copy. */
export async function smoke(trace, gzipped) {
  return {
    fromBytes: statsSummary(await readTraceStats(trace)),
    fromBlob: statsSummary(await readTraceStats(new Blob([trace]))),
    fromStream: statsSummary(await readTraceStats(new Blob([trace]).stream())),
    fromGzip: statsSummary(await readTraceStats(gzipped)),
    exact: await mergedDigest(trace, 'exact'),
    stream: await mergedDigest(trace, 'stream'),
  };
}

/** The digest of every column of the exactly merged rows; `options` go to forEachRecordBatch (helpers, say). */
export async function rowsDigest(input, options = {}) {
  return digestRows(input, { merge: 'exact', ...options }, true);
}

/**
 * Web Workers (`createWebMergeWorkers` from xenspan/web) merge 128 KiB slices of a Blob, and of shared
 * bytes where the runtime offers them (a browser: to a cross-origin isolated page): the rows' digests,
 * to equal one thread's, and how many slices the workers merged (a worker that fails leaves its slices
 * to the calling thread, which gives the same rows: the count shows that the workers did the work).
 */
export async function webWorkerRows(trace, createWebMergeWorkers) {
  const workers = createWebMergeWorkers(2);
  let workerSlices = 0;
  const helpers = workers.helpers.map((helper) => ({
    mergeSlice: async (task) => {
      const result = await helper.mergeSlice(task);
      workerSlices++;
      return result;
    },
    recycle: (rows) => helper.recycle(rows),
  }));
  const options = { helpers, sliceBytes: 128 * 1024 };
  try {
    const fromBlob = await rowsDigest(new Blob([trace]), options);
    let fromShared = null;
    if (typeof SharedArrayBuffer === 'function' && globalThis.crossOriginIsolated !== false) {
      const shared = new Uint8Array(new SharedArrayBuffer(trace.length));
      shared.set(trace);
      fromShared = await rowsDigest(shared, options);
    }
    return { fromBlob, fromShared, workerSlices };
  } finally {
    await workers.close();
  }
}
