// SPDX-License-Identifier: MIT
// The decoder's output must not depend on how the input is cut into chunks, nor on merge mode.
import { describe, expect, it } from 'vitest';
import { Diagnostics } from '../../src/core/diagnostics.js';
import type { ByteInput } from '../../src/core/io.js';
import { forEachRecordBatch } from '../../src/parse/decode.js';
import { BatchDigest, chunked, seededRandom } from '../support/decode.js';
import { EV, TraceBuilder, runstateWord } from '../support/trace-builder.js';
import { hasShared, readTrace } from '../support/shared.js';

async function digestOf(chunks: ByteInput, merge: 'stream' | 'exact' | 'auto' = 'stream') {
  const digest = new BatchDigest();
  const diagnostics = new Diagnostics();
  await forEachRecordBatch(chunks, (batch) => digest.add(batch), { merge, diagnostics });
  return { hash: digest.hash, records: digest.records, diagnostics: diagnostics.counts };
}

/** A small synthetic trace touching every framing case: TSC/no-TSC, 0–7 words, wrap, lost, 3 pCPUs. */
function syntheticTrace(): Uint8Array {
  const builder = new TraceBuilder();
  let tsc = 1000n;
  for (let round = 0; round < 6; round++) {
    for (const pcpu of [0, 1, 5]) {
      const records = [];
      for (let k = 0; k < 5; k++) {
        tsc += 37n;
        records.push({ event: EV.runstate(1, 0), tsc, words: [runstateWord(pcpu, k)] });
        records.push({ event: 0x00082000 + k, words: Array.from({ length: k }, (_, j) => j * 0x1010101) });
        records.push({ event: EV.hypercall, tsc: tsc + 1n, words: [36, 1, 2, 3, 4, 5, 6].slice(0, (k + round) % 8) });
      }
      if (round === 2) records.push({ event: EV.wrap, words: [0xdead] });
      if (round === 3) records.push({ event: EV.lost, tsc: tsc + 2n, words: [5, 0, Number(tsc), 0] });
      builder.window(pcpu, records);
    }
  }
  return builder.bytes();
}

describe('chunk boundaries', () => {
  const bytes = syntheticTrace();

  it('give the same records at every split point of a synthetic trace', async () => {
    const baseline = await digestOf([bytes]);
    expect(baseline.records).toBeGreaterThan(250);
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(await digestOf([bytes.subarray(0, cut), bytes.subarray(cut)])).toEqual(baseline);
    }
  });

  it('give the same records for every chunk size from 1 to 64 bytes', async () => {
    const baseline = await digestOf([bytes]);
    for (let size = 1; size <= 64; size++) expect(await digestOf(chunked(bytes, [size]))).toEqual(baseline);
  });

  it.skipIf(!hasShared)('give the same records for many chunk sizes on a real trace (domain-create-small)', async () => {
    const real = readTrace('domain-create-small');
    const baseline = await digestOf(real, 'exact');
    expect(baseline.records).toBe(63922);
    for (const sizes of [[1], [3], [7], [13, 1, 4093], [4096], [65537], [1 << 22]]) {
      expect(await digestOf(chunked(real, sizes))).toEqual(baseline);
    }
  });

  it.skipIf(!hasShared)('give the same records for random cuts of the large real traces', async () => {
    const random = seededRandom(42);
    for (const name of ['domain-create', 'pvh-domain-create', 'thirdparty-credit2-hvm-8cpu']) {
      const real = readTrace(name);
      const baseline = await digestOf(real, 'exact');
      const sizes = Array.from({ length: 64 }, () => 1 + Math.floor(random() * 300_000));
      expect(await digestOf(chunked(real, sizes))).toEqual(baseline);
    }
  });
});
