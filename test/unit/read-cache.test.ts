// SPDX-License-Identifier: MIT
// The exact merge's shared block reads: partial reads at block ends, read-ahead, bounded memory, and an
// exact merge over a slow seekable source that reads the file about once.
import { describe, expect, it } from 'vitest';
import type { ByteSource } from '../../src/core/io.js';
import { fromBytes } from '../../src/core/io.js';
import { ReadCache } from '../../src/parse/read-cache.js';
import { decodeRecords, forEachRecordBatch } from '../../src/parse/decode.js';
import { mergedRows } from '../support/decode.js';
import { EV, TraceBuilder, runstateWord } from '../support/trace-builder.js';

const data = Uint8Array.from({ length: 1000 }, (_, k) => k & 0xff);

/** A readAt over `data` that answers on a later turn and logs what it was asked. */
function slowReadAt(bytes: Uint8Array, log: Array<[number, number]>) {
  return async (offset: number, length: number) => {
    log.push([offset, length]);
    await new Promise((resolve) => setTimeout(resolve, 0));
    return bytes.slice(offset, Math.min(bytes.length, offset + length));
  };
}

describe('ReadCache', () => {
  it('reads aligned blocks, returns at most the rest of a block, and reads the next block ahead', async () => {
    const log: Array<[number, number]> = [];
    const cache = new ReadCache(slowReadAt(data, log), data.length, 100, 4);
    expect(cache.cached(150, 10)).toBeUndefined();
    const piece = await cache.read(150, 80);
    expect(Array.from(piece)).toEqual(Array.from(data.subarray(150, 200))); // cut at the block end
    expect(log).toEqual([[100, 100], [200, 100]]); // block 1, then block 2 ahead
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(Array.from(cache.cached(200, 30)!)).toEqual(Array.from(data.subarray(200, 230)));
    expect(log).toHaveLength(3); // the first use of block 2 read block 3 ahead
    const last = await cache.read(990, 100);
    expect(Array.from(last)).toEqual(Array.from(data.subarray(990, 1000)));
    expect((await cache.read(1000, 10)).length).toBe(0);
  });

  it('copies blocks of shared memory into ordinary memory, and reuses those copies', async () => {
    // V8 copies a SharedArrayBuffer slowly unless source and target are alike modulo 8: the cache hands
    // out ordinary memory, so the merge's copies into its arena are fast. Here at an odd offset too.
    const buffer = new SharedArrayBuffer(1004);
    const shared = new Uint8Array(buffer, 4, 1000);
    shared.set(data);
    const spares: Uint8Array[] = [];
    const cache = new ReadCache(async (offset, length) => shared.subarray(offset, offset + length), data.length, 100, 2, spares);
    for (let at = 0; at < 1000; at += 37) {
      const piece = await cache.read(at, 37);
      expect(piece.buffer).not.toBeInstanceOf(SharedArrayBuffer);
      expect(Array.from(piece), `at ${at}`).toEqual(Array.from(data.subarray(at, at + piece.length)));
    }
    cache.release();
    const kept = spares.length;
    expect(kept).toBeGreaterThan(0); // the blocks' copies wait for the next cache
    const next = new ReadCache(async (offset, length) => shared.subarray(offset, offset + length), data.length, 100, 2, spares);
    expect(Array.from(await next.read(500, 10))).toEqual(Array.from(data.subarray(500, 510)));
    expect(spares.length).toBeLessThan(kept); // taken from the spares, not allocated
  });

  it('asks again when the source returns fewer bytes than asked before its end', async () => {
    const calls: Array<[number, number]> = [];
    const stingy = async (offset: number, length: number) => {
      calls.push([offset, length]);
      return data.slice(offset, Math.min(data.length, offset + Math.min(length, 30)));
    };
    const cache = new ReadCache(stingy, data.length, 100, 4);
    const piece = await cache.read(110, 80);
    expect(Array.from(piece)).toEqual(Array.from(data.subarray(110, 190)));
    expect(calls.slice(0, 4)).toEqual([[100, 100], [130, 70], [160, 40], [190, 10]]);
  });

  it('shares a block still being read and keeps at most maxBlocks', async () => {
    const log: Array<[number, number]> = [];
    const cache = new ReadCache(slowReadAt(data, log), data.length, 100, 3);
    const [a, b] = await Promise.all([cache.read(0, 10), cache.read(50, 10)]);
    expect(a[0]).toBe(0);
    expect(b[0]).toBe(50);
    expect(log.filter(([offset]) => offset === 0)).toHaveLength(1);
    for (let offset = 0; offset < 1000; offset += 100) await cache.read(offset, 100);
    await new Promise((resolve) => setTimeout(resolve, 5));
    // Going back to the first block reads it again: it was evicted to keep memory bounded.
    const before = log.length;
    await cache.read(0, 10);
    expect(log.length).toBeGreaterThan(before);
  });
});

describe('exact merge over a slow seekable source', () => {
  it('gives the stream order and reads the windows about once, even when they are tiny', async () => {
    const builder = new TraceBuilder();
    for (let round = 0; round < 40000; round++) {
      for (const pcpu of [0, 1, 2]) {
        const tsc = BigInt(1000 + round * 100 + pcpu);
        builder.window(pcpu, [{ event: EV.runstate(1, 0), tsc, words: [runstateWord(pcpu, round & 0xffff)] }]);
      }
    }
    const bytes = builder.bytes();
    expect(bytes.length).toBeGreaterThan(2 << 20); // several blocks
    const log: Array<[number, number]> = [];
    const memory = fromBytes(bytes);
    const source: ByteSource = { name: 'slow', size: bytes.length, chunks: () => memory.chunks(), readAt: slowReadAt(bytes, log) };
    const exact = await mergedRows(source, { merge: 'exact' });
    const stream = await mergedRows(bytes, { merge: 'stream' });
    expect(exact.merge).toBe('exact');
    expect(exact.rows).toEqual(stream.rows);
    expect(exact.rows).toHaveLength(120000);
    // 120000 windows; the window index reads 64 KiB blocks and the merge 1 MiB blocks.
    expect(log.length).toBeLessThan(200);
    const read = log.reduce((sum, [, length]) => sum + length, 0);
    expect(read).toBeLessThan(bytes.length * 2.5);
  });

  it('keeps the readers of many pCPUs within the cache, so the file is read about once', async () => {
    // 40 pCPUs of 8 KiB windows: with 256 KiB read per pCPU the readers would be 10 MiB apart, more than
    // the 8 blocks of the cache, and blocks would be read again and again.
    const builder = new TraceBuilder();
    const perWindow = 8192 / 16;
    for (let round = 0; round < 40; round++) {
      for (let pcpu = 0; pcpu < 40; pcpu++) {
        const records = [];
        for (let k = 0; k < perWindow; k++) {
          records.push({ event: EV.runstate(1, 0), tsc: BigInt(1_000_000 + round * 100_000 + k * 100 + pcpu), words: [pcpu] });
        }
        builder.window(pcpu, records);
      }
    }
    const bytes = builder.bytes();
    const log: Array<[number, number]> = [];
    const memory = fromBytes(bytes);
    const source: ByteSource = { name: 'slow', size: bytes.length, chunks: () => memory.chunks(), readAt: slowReadAt(bytes, log) };
    let records = 0;
    const report = await forEachRecordBatch(source, (batch) => (records += batch.length), { merge: 'exact' });
    expect(report.merge).toBe('exact');
    expect(records).toBe(40 * 40 * perWindow);
    const read = log.reduce((sum, [, length]) => sum + length, 0);
    expect(read).toBeLessThan(bytes.length * 2.5); // the window index, then each block once or so
  });

  it('reports a read that fails ahead of the readers as the run\'s error, not as an unhandled rejection', async () => {
    const builder = new TraceBuilder();
    for (let round = 0; round < 60000; round++) {
      for (const pcpu of [0, 1]) builder.window(pcpu, [{ event: EV.runstate(1, 0), tsc: BigInt(1000 + round * 10 + pcpu), words: [round] }]);
    }
    const bytes = builder.bytes();
    const memory = fromBytes(bytes);
    const source: ByteSource = {
      name: 'flaky',
      size: bytes.length,
      chunks: () => memory.chunks(),
      readAt: async (offset, length) => {
        if (offset === 1 << 20) throw new Error('EIO in the second MiB');
        await new Promise((resolve) => setTimeout(resolve, 0));
        return bytes.subarray(offset, Math.min(bytes.length, offset + length));
      },
    };
    let records = 0;
    const consume = async () => {
      // A slow consumer: the block after the first is read ahead, and fails, long before it is needed.
      for await (const batch of decodeRecords(source, { merge: 'exact', batchSize: 100 })) {
        records += batch.length;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    };
    await expect(consume()).rejects.toThrow('EIO in the second MiB');
    expect(records).toBeGreaterThan(0);
  });
});
