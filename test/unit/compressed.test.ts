// SPDX-License-Identifier: MIT
// Compressed inputs are recognised by their magic bytes and decode exactly like the plain bytes.
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import { XenspanError } from '../../src/core/errors.js';
import { readTraceStats } from '../../src/parse/stats.js';
import { forEachRecordBatch } from '../../src/parse/decode.js';
import { BatchDigest, chunked, countedStream, pauseOnce } from '../support/decode.js';

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

    it(`${compression}: a cut stream keeps what was decoded, or is one clear error when nothing was`, async () => {
      const cut = fixture(ext).subarray(0, fixture(ext).length >>> 1);
      const outcome = await readTraceStats(cut).catch((e: unknown) => e);
      if (outcome instanceof XenspanError) {
        // bzip2's first block is the whole fixture: half of it decodes to nothing.
        expect(outcome.code).toBe('corrupt_compressed_input');
        expect(compression).toBe('bzip2');
      } else {
        const stats = outcome as Awaited<ReturnType<typeof readTraceStats>>;
        expect(stats.records).toBeGreaterThan(0);
        expect(stats.diagnostics.compressed_input_damaged).toBe(1);
      }
    });
  }

  for (const [ext, compression] of [
    ['bz2', 'bzip2'],
    ['zst', 'zstd'],
  ] as const) {
    it(`${compression}: junk after the last stream keeps every record decoded before it`, async () => {
      const bytes = fixture(ext);
      const junk = new TextEncoder().encode('garbage\n');
      const trailing = new Uint8Array(bytes.length + junk.length);
      trailing.set(bytes);
      trailing.set(junk, bytes.length);
      const stats = await readTraceStats(trailing);
      const plain = await readTraceStats(head);
      expect(stats.records).toBe(plain.records);
      expect(stats.pcpus).toEqual(plain.pcpus);
      expect(stats.diagnostics).toEqual({ compressed_input_damaged: 1 });
    });
  }

  it('bzip2: a damaged only block is one error that says where, and hands over none of its bytes', async () => {
    const bytes = fixture('bz2').slice();
    bytes[bytes.length >>> 1] ^= 0x10;
    const error = await readTraceStats(bytes).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(XenspanError);
    expect((error as XenspanError).code).toBe('corrupt_compressed_input');
    expect((error as XenspanError).message).toMatch(/^corrupt bzip2 stream: .*compressed offset \d+/);
    // The offset is where the damaged block starts (its magic follows the 4-byte stream header), not where it ends.
    expect((error as XenspanError).offset).toBe(4);
  });

  it('gzip: damage inside a member says its records may be wrong; a cut does not', async () => {
    const gz = gzipSync(demo);
    const flipped = gz.slice();
    flipped[5000]! ^= 0x10;
    const damaged = await readTraceStats(flipped);
    expect(damaged.samples.find((s) => s.code === 'compressed_input_damaged')!.message).toMatch(/may be wrong/);
    const cut = await readTraceStats(gz.subarray(0, gz.length >>> 1));
    const message = cut.samples.find((s) => s.code === 'compressed_input_damaged')!.message;
    expect(message).toContain('corrupt gzip input');
    expect(message).not.toMatch(/may be wrong/);
  });

  it('gzip: junk after a good member is damage, but does not put the member in doubt', async () => {
    const gz = gzipSync(demo);
    const trailing = new Uint8Array(gz.length + 8);
    trailing.set(gz);
    trailing.set(new TextEncoder().encode('garbage\n'), gz.length);
    const stats = await readTraceStats(trailing);
    const message = stats.samples.find((s) => s.code === 'compressed_input_damaged')!.message;
    expect(message).toContain('corrupt gzip input');
    expect(message).not.toMatch(/may be wrong/);
  });

  it('a consumer that stops early releases a streamed input, plain or compressed', async () => {
    for (const [label, bytes] of [['plain', head], ['gz', fixture('gz')], ['bz2', fixture('bz2')], ['zst', fixture('zst')]] as const) {
      let released = false;
      async function* stream(): AsyncGenerator<Uint8Array> {
        try {
          for (let at = 0; at < bytes.length; at += 4096) yield bytes.slice(at, at + 4096);
        } finally {
          released = true;
        }
      }
      const stop = new Error('enough');
      await expect(forEachRecordBatch(stream(), () => {
        throw stop;
      }, { batchSize: 64 })).rejects.toBe(stop);
      await vi.waitFor(() => expect(released, label).toBe(true)); // gzip lets its pipe go without waiting for it
    }
  });

  it('gzip: a consumer that pauses holds the decompression and the reading back (bounded memory)', async () => {
    // Piped, Node 20's DecompressionStream read its whole input at once and kept all it decoded.
    const gz = gzipSync(Buffer.concat(Array.from({ length: 8 }, () => demo)), { level: 1 });
    const input = countedStream(gz, 16384);
    const pause = pauseOnce(300, input.read);
    const report = await forEachRecordBatch(input.stream, () => undefined, { merge: 'stream', backpressure: pause.backpressure });
    expect(report.compression).toBe('gzip');
    expect(input.read()).toBe(gz.length);
    expect(pause.seen.atPause).toBeLessThanOrEqual(4 * 16384);
    expect(pause.seen.afterPause).toBe(pause.seen.atPause);
  });

  it('gzip of a whole real trace (multi-chunk) equals the plain file', async () => {
    const gz = gzipSync(demo);
    expect(await digest(gz)).toEqual({ ...(await digest(demo)), compression: 'gzip', merge: 'stream' });
  });
});
