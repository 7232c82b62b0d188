// SPDX-License-Identifier: MIT
// zstd content checksums: fzstd skips them, so a damaged frame used to decode to invented records silently.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Diagnostics } from '../../src/core/diagnostics.js';
import { XenspanError } from '../../src/core/errors.js';
import { decompressChunks } from '../../src/parse/compress/index.js';
import { ZstdDecompressor } from '../../src/parse/compress/zstd.js';
import { forEachRecordBatch } from '../../src/parse/decode.js';
import { readTraceStats } from '../../src/parse/stats.js';
import { concatBytes } from '../support/bytes.js';
import { BatchDigest, chunked } from '../support/decode.js';

const demo = new Uint8Array(readFileSync(new URL('../../demo/domain-create-small.xentrace', import.meta.url)));
const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`../fixtures/${name}`, import.meta.url)));
/** `zstd -19` of the first 305136 bytes of the demo: one frame with a checksum. */
const withChecksum = fixture('demo-head.xentrace.zst');
/** `zstd -19 --no-check` of the first 72908 bytes (four whole windows) of the demo. */
const withoutChecksum = fixture('demo-4-windows.no-check.xentrace.zst');

const hex = (text: string) => Uint8Array.from(text.match(/../g)!, (byte) => parseInt(byte, 16));
// Made with zstd 1.5.4: `printf abc | zstd | xxd -p` (16 bytes, a raw block), `printf '' | zstd` (13 bytes),
// `head -c 300000 /dev/zero | zstd` (31 bytes: a compressed block, then RLE blocks of 131072 and 37856 zeros).
const ABC = hex('28b52ffd0458190000616263990977ad');
const EMPTY = hex('28b52ffd240001000099e9d851');
const ZEROS = hex('28b52ffd04585400001000000100fbff39c00202001000039f04002d28de26');
/** A skippable frame (magic 0x184D2A5E) with 5 bytes of payload. */
const SKIPPABLE = hex('5e2a4d180500000068656c6c6f');

const concat = (...parts: Uint8Array[]): Uint8Array => concatBytes(parts);

/** A zstd frame holding `data` (at most 128 KiB) as one raw block: single segment, 4-byte content size, no checksum. */
function rawFrame(data: Uint8Array): Uint8Array {
  const header = Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0xa0, ...u32le(data.length));
  const block = (data.length << 3) | 1; // raw (type 0), last
  return concat(header, Uint8Array.of(block & 0xff, (block >> 8) & 0xff, (block >> 16) & 0xff), data);
}

function u32le(value: number): number[] {
  return [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24];
}

function withByteFlipped(bytes: Uint8Array, at: number): Uint8Array {
  const copy = bytes.slice();
  copy[at]! ^= 0x40;
  return copy;
}

/** Byte equality without vitest's element-by-element diff (slow on 300 kB). */
function expectSameBytes(actual: Uint8Array, expected: Uint8Array, what = 'bytes'): void {
  let differ = actual.length === expected.length ? -1 : Math.min(actual.length, expected.length);
  for (let i = 0; differ < 0 && i < actual.length; i++) if (actual[i] !== expected[i]) differ = i;
  expect(differ, `${what}: ${actual.length} vs ${expected.length} bytes, first difference at`).toBe(-1);
}

const hasChecksumFlag = (frame: Uint8Array) => (frame[4]! & 4) !== 0;

/** Decompresses, keeping what came out before an error and the error itself. */
async function unzstd(input: Uint8Array, sizes: number[] = [input.length]): Promise<{ bytes: Uint8Array; error?: unknown }> {
  const out: Uint8Array[] = [];
  try {
    for await (const chunk of decompressChunks(toAsync(chunked(input, sizes)), 'zstd')) out.push(chunk);
  } catch (error) {
    return { bytes: concat(...out), error };
  }
  return { bytes: concat(...out) };
}

async function* toAsync(chunks: Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* chunks;
}

/**
 * Offset of the first literal byte of the first compressed block whose literals are stored raw: changing it
 * changes decoded bytes without breaking the block's structure, so only the checksum can notice.
 */
function firstRawLiteral(frame: Uint8Array): number {
  const descriptor = frame[4]!;
  const singleSegment = (descriptor >> 5) & 1;
  const contentSizeFlag = descriptor >> 6;
  let at = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][descriptor & 3]! + (contentSizeFlag === 0 ? singleSegment : 1 << contentSizeFlag);
  for (;;) {
    const header = frame[at]! | (frame[at + 1]! << 8) | (frame[at + 2]! << 16);
    const type = (header >> 1) & 3;
    const literals = frame[at + 3]!;
    if (type === 2 && (literals & 3) === 0) {
      // Raw literals: Size_Format selects a 1, 2 or 3-byte section header.
      const sizeFormat = (literals >> 2) & 3;
      return at + 3 + (sizeFormat === 1 ? 2 : sizeFormat === 3 ? 3 : 1);
    }
    if (header & 1) throw new Error('no compressed block with raw literals');
    at += 3 + (type === 1 ? 1 : header >>> 3);
  }
}

describe('zstd content checksum', () => {
  it('a frame with a checksum decodes cleanly, the same as the plain bytes', async () => {
    expect(hasChecksumFlag(withChecksum)).toBe(true);
    const stats = await readTraceStats(withChecksum);
    expect(stats.diagnostics).not.toHaveProperty('compressed_input_damaged');
    expect(stats).toEqual(await readTraceStats(demo.subarray(0, 305136)));
  });

  it('a frame without a checksum (zstd --no-check) still decodes, in any chunking', async () => {
    expect(hasChecksumFlag(withoutChecksum)).toBe(false);
    const { bytes, error } = await unzstd(withoutChecksum, [1, 7, 4093]);
    expect(error).toBeUndefined();
    expectSameBytes(bytes, demo.subarray(0, 72908));
    const stats = await readTraceStats(withoutChecksum);
    expect(stats.diagnostics).not.toHaveProperty('compressed_input_damaged');
    expect(stats).toEqual(await readTraceStats(demo.subarray(0, 72908)));
  });

  it('a corrupted literal byte decodes on in fzstd, and the checksum reports the frame as damaged', async () => {
    const literal = firstRawLiteral(withChecksum);
    const corrupt = withByteFlipped(withChecksum, literal + 100);
    const { bytes, error } = await unzstd(corrupt);
    // Everything fzstd produced was streamed before the mismatch could be known.
    expect(bytes.length).toBe(305136);
    expect(Buffer.from(bytes).equals(demo.subarray(0, 305136))).toBe(false);
    expect(error).toBeInstanceOf(XenspanError);
    expect(error).toMatchObject({ code: 'corrupt_compressed_input', offset: 0 });
    expect((error as Error).message).toMatch(/frame at compressed offset 0 fails its content checksum .*records decoded from it may be wrong/);

    const diagnostics = new Diagnostics();
    let records = 0;
    await forEachRecordBatch(corrupt, (batch) => (records += batch.length), { diagnostics });
    expect(records).toBeGreaterThan(10_000);
    expect(diagnostics.counts.compressed_input_damaged).toBe(1);
    const sample = diagnostics.samples.find((s) => s.code === 'compressed_input_damaged');
    expect(sample).toMatchObject({ severity: 'data_loss', offset: 0 });
    expect(sample!.message).toContain('content checksum');
    expect((await readTraceStats(corrupt)).diagnostics.compressed_input_damaged).toBe(1);
  });

  it('a damaged stored checksum keeps every record, and says so', async () => {
    const corrupt = withByteFlipped(withChecksum, withChecksum.length - 1);
    const clean = new BatchDigest();
    await forEachRecordBatch(withChecksum, (batch) => clean.add(batch));
    const kept = new BatchDigest();
    const diagnostics = new Diagnostics();
    await forEachRecordBatch(chunked(corrupt, [4093]), (batch) => kept.add(batch), { diagnostics });
    expect(kept.records).toBe(clean.records);
    expect(kept.hash).toBe(clean.hash);
    expect(diagnostics.counts).toEqual({ compressed_input_damaged: 1 });
  });

  it('concatenated, tiny, RLE and skippable frames decode in any chunking', async () => {
    const input = concat(ABC, SKIPPABLE, ZEROS, EMPTY, withoutChecksum, ABC);
    const expected = concat(new TextEncoder().encode('abc'), new Uint8Array(300_000), demo.subarray(0, 72908), new TextEncoder().encode('abc'));
    for (const sizes of [[input.length], [1], [3, 17, 5], [4093]]) {
      const { bytes, error } = await unzstd(input, sizes);
      expect(error).toBeUndefined();
      expectSameBytes(bytes, expected, `chunks of ${sizes.join(',')}`);
    }
  });

  it("a frame's output is complete when its last byte is pushed, even a frame fzstd would hold back", () => {
    // fzstd waits for 18 bytes before it reads a frame header: ABC (16 bytes) alone would stay silent.
    const input = concat(ABC, SKIPPABLE, ZEROS, EMPTY, ABC);
    const ends = [ABC.length, ABC.length + SKIPPABLE.length, ABC.length + SKIPPABLE.length + ZEROS.length];
    let emitted = 0;
    const decoder = new ZstdDecompressor(
      (chunk) => (emitted += chunk.length),
      (error) => {
        throw error;
      },
    );
    const seen: number[] = [];
    for (let at = 0; at < input.length; at++) {
      decoder.push(input.subarray(at, at + 1));
      if (ends.includes(at + 1)) seen.push(emitted);
    }
    decoder.push(new Uint8Array(0), true);
    expect(seen).toEqual([3, 3, 300_003]);
    expect(emitted).toBe(300_006);
  });

  it('a mismatch is reported and decoding goes on with the next frame', async () => {
    const badAbc = withByteFlipped(ABC, ABC.length - 1);
    const abc = new TextEncoder().encode('abc');
    const input = concat(badAbc, ZEROS, SKIPPABLE, badAbc, ABC);
    const expected = concat(abc, new Uint8Array(300_000), abc, abc);
    // Without onDamage: every frame is decoded, then the first mismatch ends the stream.
    const plain = await unzstd(input, [1]);
    expectSameBytes(plain.bytes, expected);
    expect(plain.error).toMatchObject({ code: 'corrupt_compressed_input', offset: 0 });
    expect((plain.error as Error).message).toContain('stored 0xed770999, computed 0xad770999');
    // With it: one report per damaged frame, and no error.
    for (const sizes of [[input.length], [1], [5, 3]]) {
      const reports: XenspanError[] = [];
      const out: Uint8Array[] = [];
      for await (const chunk of decompressChunks(toAsync(chunked(input, sizes)), 'zstd', { onDamage: (e) => reports.push(e) })) out.push(chunk);
      expectSameBytes(concat(...out), expected, `chunks of ${sizes.join(',')}`);
      expect(reports.map((r) => r.offset)).toEqual([0, ABC.length + ZEROS.length + SKIPPABLE.length]);
    }
  });

  it('records of a damaged frame are kept with a diagnostic, and later frames still decode', async () => {
    // Two frames: the demo head (its literal corrupted), then four whole windows of the demo again.
    const corrupt = withByteFlipped(withChecksum, firstRawLiteral(withChecksum) + 100);
    const diagnostics = new Diagnostics();
    let records = 0;
    await forEachRecordBatch(concat(corrupt, withoutChecksum), (batch) => (records += batch.length), { diagnostics });
    const second = (await readTraceStats(withoutChecksum)).records;
    const first = (await readTraceStats(withChecksum)).records;
    expect(records).toBe(first + second);
    expect(diagnostics.counts.compressed_input_damaged).toBe(1);
    expect(diagnostics.samples.find((s) => s.code === 'compressed_input_damaged')!.message).toContain('content checksum');
  });

  it('without onDamage, an earlier mismatch is not hidden by the error that ends the stream', async () => {
    const badAbc = withByteFlipped(ABC, ABC.length - 1);
    const { bytes, error } = await unzstd(concat(badAbc, ABC, hex('00000000')));
    expect(bytes).toEqual(new TextEncoder().encode('abcabc'));
    expect(error).toMatchObject({ code: 'corrupt_compressed_input', offset: 0 });
    expect((error as Error).message).toMatch(/fails its content checksum .*; then corrupt zstd input: no zstd frame starts here/);
  });

  it('a frame that cannot be decoded ends the stream with its offset; the frames before it are kept', async () => {
    const broken = withByteFlipped(withChecksum, 20); // inside the first block: fzstd says "invalid zstd data"
    const { bytes, error } = await unzstd(concat(withoutChecksum, broken, ABC), [4093]);
    expectSameBytes(bytes, demo.subarray(0, 72908));
    expect(error).toMatchObject({ code: 'corrupt_compressed_input', offset: withoutChecksum.length });
    expect((error as Error).message).toMatch(
      new RegExp(`^corrupt zstd input: the frame at compressed offset ${withoutChecksum.length} cannot be decoded \\(.+\\)$`),
    );
    // As records: the first frame's, and the damage as a diagnostic.
    const diagnostics = new Diagnostics();
    let records = 0;
    await forEachRecordBatch(concat(withoutChecksum, broken), (batch) => (records += batch.length), { diagnostics });
    expect(records).toBe((await readTraceStats(withoutChecksum)).records);
    expect(diagnostics.counts).toEqual({ compressed_input_damaged: 1 });
  });

  it('an error that ends the stream after a mismatch keeps its own code', async () => {
    const badAbc = withByteFlipped(ABC, ABC.length - 1);
    async function* failingSource(): AsyncGenerator<Uint8Array> {
      yield badAbc;
      throw new XenspanError('io_failed', 'cannot read trace.zst: EIO');
    }
    const out: Uint8Array[] = [];
    const error = await (async () => {
      for await (const chunk of decompressChunks(failingSource(), 'zstd')) out.push(chunk);
    })().catch((e: unknown) => e);
    expect(concat(...out)).toEqual(new TextEncoder().encode('abc'));
    expect(error).toMatchObject({ code: 'io_failed', offset: 0 });
    expect((error as Error).message).toMatch(/fails its content checksum .*; then cannot read trace\.zst: EIO$/);
  });

  it('damage does not turn bytes that are not a trace into an empty trace', async () => {
    // 'abc' with a bad checksum, and the same bytes after a good frame: still not a xentrace file.
    const badAbc = withByteFlipped(ABC, ABC.length - 1);
    await expect(forEachRecordBatch(badAbc, () => undefined)).rejects.toMatchObject({ code: 'not_xentrace' });
    await expect(readTraceStats(concat(ABC, badAbc))).rejects.toMatchObject({ code: 'not_xentrace' });
    await expect(forEachRecordBatch(rawFrame(demo.subarray(1000, 60_000)), () => undefined)).rejects.toMatchObject({ code: 'not_xentrace' });
  });

  it("a frame asking for a window over zstd's 128 MiB limit is refused before fzstd allocates it", async () => {
    // An empty frame (one empty raw block) whose window descriptor is 0x88: 2^(10+17) = 128 MiB, allowed;
    // 0x89 asks for 2^27 + 2^27/8 = 144 MiB.
    const frame = (descriptor: number) => Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0x00, descriptor, 0x01, 0x00, 0x00);
    const allowed = await unzstd(frame(0x88));
    expect(allowed).toEqual({ bytes: new Uint8Array(0) });
    const refused = await unzstd(frame(0x89));
    expect(refused.error).toMatchObject({ code: 'corrupt_compressed_input', offset: 0 });
    expect((refused.error as Error).message).toBe(
      `corrupt zstd input: the frame at compressed offset 0 asks for a ${2 ** 27 + 2 ** 24}-byte window, over zstd's limit of ${2 ** 27}`,
    );
  });

  it("a frame whose header's content size disagrees with what it decodes to is reported", async () => {
    // A 4-byte content size, and a single segment (no window descriptor): the size is bytes 5–8.
    expect([withChecksum[4]! >> 6, (withChecksum[4]! >> 5) & 1]).toEqual([2, 1]);
    const reports: XenspanError[] = [];
    const out: Uint8Array[] = [];
    for await (const chunk of decompressChunks(toAsync([withByteFlipped(withChecksum, 7)]), 'zstd', { onDamage: (e) => reports.push(e) })) {
      out.push(chunk);
    }
    expectSameBytes(concat(...out), demo.subarray(0, 305136));
    expect(reports.map((r) => r.message)).toEqual([
      `corrupt zstd input: the frame at compressed offset 0 says it holds ${305136 ^ (0x40 << 16)} bytes but decodes to 305136: its records may be wrong`,
    ]);
  });

  it('structural damage is still one clear error: a cut frame, a bad magic, a reserved block type', async () => {
    const cut = await unzstd(withChecksum.subarray(0, withChecksum.length - 2));
    expect(cut.error).toMatchObject({ code: 'corrupt_compressed_input', offset: withChecksum.length - 2 });
    expect((cut.error as Error).message).toContain('inside the frame at compressed offset 0');
    const trailing = await unzstd(concat(ABC, hex('00000000')), [ABC.length, 4]);
    expect(trailing.bytes).toEqual(new TextEncoder().encode('abc'));
    expect(trailing.error).toMatchObject({ code: 'corrupt_compressed_input', offset: ABC.length });
    const reserved = ABC.slice();
    reserved[6]! |= 6;
    expect((await unzstd(reserved)).error).toMatchObject({ code: 'corrupt_compressed_input', offset: 6 });
  });
});
