// SPDX-License-Identifier: MIT
// Compressed inputs are recognised by their magic bytes and decode exactly like the plain bytes.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { XenspanError } from '../../src/core/errors.js';
import { readTraceStats } from '../../src/parse/stats.js';
import { forEachRecordBatch } from '../../src/parse/decode.js';
import { BatchDigest, chunked } from '../support/decode.js';

const demo = new Uint8Array(readFileSync(new URL('../../demo/domain-create-small.xentrace', import.meta.url)));
const head = demo.subarray(0, 305136);
const fixture = (ext: string) => new Uint8Array(readFileSync(new URL(`../fixtures/demo-head.xentrace.${ext}`, import.meta.url)));

async function digest(input: Uint8Array | Iterable<Uint8Array>) {
  const d = new BatchDigest();
  const report = await forEachRecordBatch(input, (batch) => d.add(batch));
  return { hash: d.hash, records: d.records, compression: report.compression, merge: report.merge };
}

describe('compressed input', () => {
  for (const [ext, compression] of [
    ['gz', 'gzip'],
    ['bz2', 'bzip2'],
    ['zst', 'zstd'],
  ] as const) {
    it(`${compression} decodes to the same records as the plain bytes, streamed, in any chunking`, async () => {
      const plain = await digest(head);
      expect(plain.merge).toBe('exact');
      const bytes = fixture(ext);
      const whole = await digest(bytes);
      expect(whole).toEqual({ ...plain, compression, merge: 'stream' });
      expect(await digest(chunked(bytes, [1, 7, 4093]))).toEqual(whole);
      const stats = await readTraceStats(bytes);
      expect(stats).toEqual(await readTraceStats(head));
    });

    it(`${compression}: a damaged stream is one clear error, not a crash`, async () => {
      const bytes = fixture(ext).slice();
      // Cut the stream short: nothing after the cut can be decoded, and the decoder must say so.
      const cut = bytes.subarray(0, bytes.length >>> 1);
      const error = await readTraceStats(cut).catch((e: unknown) => e);
      if (error instanceof XenspanError) {
        expect(['corrupt_compressed_input']).toContain(error.code);
      } else {
        // Some decoders deliver what they could and stop: then the trace itself must be reported as cut.
        expect((error as { diagnostics: Record<string, number> }).diagnostics.truncated_window).toBe(1);
      }
    });
  }

  it('gzip of a whole real trace (multi-chunk) equals the plain file', async () => {
    const gz = gzipSync(demo);
    expect(await digest(gz)).toEqual({ ...(await digest(demo)), compression: 'gzip', merge: 'stream' });
  });
});
