// SPDX-License-Identifier: MIT
// A trace cut at any offset decodes without throwing, keeps every complete record before the cut and
// says that the end was cut.
import { describe, expect, it } from 'vitest';
import { Diagnostics } from '../../src/core/diagnostics.js';
import { XenspanError } from '../../src/core/errors.js';
import { forEachRecordBatch, forEachRecordInFileOrder } from '../../src/parse/decode.js';
import { seededRandom } from '../support/decode.js';
import { EV, TraceBuilder, runstateWord } from '../support/trace-builder.js';
import { hasShared, readTrace } from '../support/shared.js';

/** Offsets of the ends of complete records, from a file-order decode of the whole input. */
async function recordEnds(bytes: Uint8Array): Promise<number[]> {
  const ends: number[] = [];
  await forEachRecordInFileOrder(bytes, (batch) => {
    for (let i = 0; i < batch.length; i++) {
      const h = batch.header[i];
      ends.push(batch.fileOffset[i] + 4 + (h >>> 31) * 8 + ((h >>> 28) & 7) * 4);
    }
  });
  return ends;
}

async function decodeCut(bytes: Uint8Array, merge: 'exact' | 'stream') {
  const diagnostics = new Diagnostics();
  let records = 0;
  await forEachRecordInFileOrder(bytes, (batch) => (records += batch.length), { diagnostics: new Diagnostics() });
  let merged = 0;
  await forEachRecordBatch(bytes, (batch) => (merged += batch.length), { merge, diagnostics });
  return { records, merged, diagnostics };
}

function expectCutHandled(cut: number, ends: number[], fullLength: number, result: Awaited<ReturnType<typeof decodeCut>>) {
  const complete = ends.filter((end) => end <= cut).length;
  expect(result.records).toBe(complete);
  const atBoundary = cut === fullLength || ends.includes(cut);
  if (!atBoundary) expect(result.diagnostics.counts.truncated_window).toBe(1);
}

describe('truncation', () => {
  const builder = new TraceBuilder();
  for (let round = 0; round < 4; round++) {
    for (const pcpu of [0, 1]) {
      builder.window(pcpu, [
        { event: EV.runstate(1, 0), tsc: BigInt(100 * round + pcpu), words: [runstateWord(0, pcpu)] },
        { event: 0x00082012, words: [36] },
        { event: EV.hypercall, tsc: BigInt(100 * round + pcpu + 10), words: [36, 1, 2] },
      ]);
    }
  }
  const bytes = builder.bytes();

  it('at every offset of a synthetic trace: no throw, complete records kept, the cut reported', async () => {
    const ends = await recordEnds(bytes);
    for (let cut = 12; cut < bytes.length; cut++) {
      for (const merge of ['exact', 'stream'] as const) {
        expectCutHandled(cut, ends, bytes.length, await decodeCut(bytes.subarray(0, cut), merge));
      }
    }
  });

  it('inside the very first header is "not a xentrace file", never a crash', async () => {
    for (let cut = 1; cut < 12; cut++) {
      const error = await decodeCut(bytes.subarray(0, cut), 'stream').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(XenspanError);
      expect((error as XenspanError).code).toBe('not_xentrace');
    }
  });

  it.skipIf(!hasShared)('at random offsets of a real trace', async () => {
    const real = readTrace('domain-create-small');
    const ends = await recordEnds(real);
    const random = seededRandom(7);
    for (let k = 0; k < 25; k++) {
      const cut = 12 + Math.floor(random() * (real.length - 12));
      for (const merge of ['exact', 'stream'] as const) {
        expectCutHandled(cut, ends, real.length, await decodeCut(real.subarray(0, cut), merge));
      }
    }
  });
});
