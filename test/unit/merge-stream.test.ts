// SPDX-License-Identifier: MIT
// The stream merger: round watermark, memory cap, late records; and the iterable/Blob/stream inputs.
import { describe, expect, it } from 'vitest';
import { Diagnostics } from '../../src/core/diagnostics.js';
import { fromReadableStream } from '../../src/core/io.js';
import { decodeRecords, forEachRecordBatch } from '../../src/parse/decode.js';
import { EV, TraceBuilder } from '../support/trace-builder.js';
import { chunked, mergedRows } from '../support/decode.js';

const run = EV.runstate(1, 0);

/** Rounds of windows (pCPU 0 then 1), each record 10 cycles after the last of its pCPU. */
function rounds(count: number, perWindow: number, skew = 0n): Uint8Array {
  const builder = new TraceBuilder();
  let tsc = 1000n;
  for (let round = 0; round < count; round++) {
    for (const pcpu of [0, 1]) {
      const records = [];
      for (let k = 0; k < perWindow; k++) records.push({ event: run, tsc: tsc + BigInt(k * 10) + (pcpu === 1 ? skew : 0n), words: [pcpu] });
      builder.window(pcpu, records);
    }
    tsc += BigInt(perWindow * 10);
  }
  return builder.bytes();
}

describe('stream merge', () => {
  it('releases records round by round, so memory does not grow with the trace', async () => {
    const bytes = rounds(200, 50);
    let maxBatch = 0;
    let batches = 0;
    const report = await forEachRecordBatch(
      bytes,
      (batch) => {
        batches++;
        maxBatch = Math.max(maxBatch, batch.length);
      },
      { merge: 'stream', batchSize: 64 },
    );
    expect(report.merge).toBe('stream');
    expect(batches).toBeGreaterThan(200 * 100 / 64 - 1);
    expect(maxBatch).toBeLessThanOrEqual(64);
  });

  it('matches the exact merge when pCPUs are skewed less than a round', async () => {
    const bytes = rounds(20, 30, 150n);
    const exact = await mergedRows(bytes, { merge: 'exact' });
    const stream = await mergedRows(bytes, { merge: 'stream' });
    expect(stream.rows).toEqual(exact.rows);
    expect(stream.diagnostics.counts).toEqual({});
  });

  it('reports a record later than the watermark allowed and still emits it', async () => {
    // pCPU 1's window in round 3 holds a record far older than round 1's last TSC.
    const builder = new TraceBuilder();
    builder.window(0, [{ event: run, tsc: 100n, words: [0] }]).window(1, [{ event: run, tsc: 110n, words: [1] }]);
    builder.window(0, [{ event: run, tsc: 200n, words: [0] }]).window(1, [{ event: run, tsc: 210n, words: [1] }]);
    builder.window(0, [{ event: run, tsc: 300n, words: [0] }]).window(1, [{ event: run, tsc: 50n, words: [1] }]);
    builder.window(0, [{ event: run, tsc: 400n, words: [0] }]);
    const { rows, diagnostics } = await mergedRows(builder.bytes(), { merge: 'stream' });
    expect(rows).toHaveLength(7);
    expect(diagnostics.counts.late_record).toBe(1);
    expect(diagnostics.counts.tsc_backwards).toBe(1);
    expect(rows.map((r) => r.tsc)).toContain(50n);
  });

  it('forces records out under the memory cap, with a diagnostic, in order', async () => {
    // One huge round: nothing can be released by the watermark before the cap.
    const builder = new TraceBuilder();
    const records = Array.from({ length: 3000 }, (_, k) => ({ event: run, tsc: BigInt(1000 + k), words: [0] }));
    builder.window(0, records).window(1, records);
    const diagnostics = new Diagnostics();
    let previous = -1n;
    let ordered = true;
    let count = 0;
    await forEachRecordBatch(
      chunked(builder.bytes(), [4096]),
      (batch) => {
        for (let i = 0; i < batch.length; i++) {
          const tsc = (BigInt(batch.tscHi[i]) << 32n) | BigInt(batch.tscLo[i]);
          if (tsc < previous) ordered = false;
          previous = tsc;
        }
        count += batch.length;
      },
      { merge: 'stream', maxBufferedRecords: 1024, diagnostics },
    );
    expect(count).toBe(6000);
    expect(diagnostics.counts.sorter_forced_flush).toBe(1);
    // pCPU 0's window was released early; pCPU 1's equal TSCs then arrive late: reported, not dropped.
    expect(ordered).toBe(false);
    expect(diagnostics.counts.late_record).toBeGreaterThan(0);
  });
});

describe('inputs', () => {
  const bytes = rounds(5, 4);

  it('decodeRecords yields owned batches in order (async iterable form)', async () => {
    const kept = [];
    for await (const batch of decodeRecords(bytes, { batchSize: 8 })) kept.push(batch);
    const flat = kept.flatMap((b) => Array.from(b.tscLo.subarray(0, b.length)));
    expect(flat).toEqual([...flat].sort((a, b) => a - b));
    expect(flat).toHaveLength(40);
  });

  it('reads a Blob (seekable: exact merge) and a ReadableStream (stream merge) alike', async () => {
    const fromBlob = await mergedRows(new Blob([bytes]));
    expect(fromBlob.merge).toBe('exact');
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < bytes.length; at += 7) controller.enqueue(bytes.slice(at, at + 7));
        controller.close();
      },
    });
    const fromStream = await mergedRows(fromReadableStream(stream));
    expect(fromStream.merge).toBe('stream');
    expect(fromStream.rows).toEqual(fromBlob.rows);
    const fromIterable = await mergedRows([bytes.subarray(0, 100), bytes.subarray(100)]);
    expect(fromIterable.rows).toEqual(fromBlob.rows);
  });
});
