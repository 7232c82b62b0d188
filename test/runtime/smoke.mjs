// SPDX-License-Identifier: MIT
// What every runtime must agree on (Node, Deno, a browser): the built package decodes a trace from bytes,
// a Blob, a Web ReadableStream and gzip, with the same statistics and the same merged order.
// Plain JavaScript over the built files, so that any runtime can load it as it is.
import { forEachRecordBatch, readTraceStats } from '../../dist/index.js';

/** FNV-1a over the merged rows' pCPU, header and TSC: equal digests mean the same order. */
async function mergedDigest(input, merge) {
  let hash = 0x811c9dc5;
  let records = 0;
  const mix = (value) => {
    hash = Math.imul(hash ^ (value >>> 0), 0x01000193) >>> 0;
  };
  await forEachRecordBatch(
    input,
    (batch) => {
      for (let i = 0; i < batch.length; i++) {
        mix(batch.pcpu[i]);
        mix(batch.header[i]);
        mix(batch.tscLo[i]);
        mix(batch.tscHi[i]);
      }
      records += batch.length;
    },
    { merge },
  );
  return { records, hash };
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
