// SPDX-License-Identifier: MIT
// `xenspan/node`'s workerDecompressor: decompressing in a worker thread gives what decompressing in this
// thread gives (bytes, damage reports, errors, in order), stops with its consumer, and passes read
// errors through. It runs the built package (dist/node/decompress-worker.js): `npm test` builds first.
import { readFileSync } from 'node:fs';
import { Buffer } from 'node:buffer';
import { gzipSync } from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import { BatchDigest, countedStream, pauseOnce } from '../support/decode.js';

const dist = new URL('../../dist/', import.meta.url).href;
const { detectCompression, forEachRecordBatch, readTraceStats } = (await import(`${dist}parse/index.js`)) as typeof import('../../src/parse/index.js');
const { workerDecompressor } = (await import(`${dist}node/index.js`)) as typeof import('../../src/node/index.js');
const { Diagnostics } = (await import(`${dist}core/index.js`)) as typeof import('../../src/core/index.js');

/**
 * workerDecompressor, counting the streams it was given: each test checks that the worker did the work
 * (if the option were ignored, every comparison with this thread would pass too).
 */
let workerStreams = 0;
const inWorkerDecompressor: typeof workerDecompressor = {
  decompress(chunks, compression, options) {
    workerStreams++;
    return workerDecompressor.decompress(chunks, compression, options);
  },
};

const demo = new Uint8Array(readFileSync(new URL('../../demo/domain-create-small.xentrace', import.meta.url)));
const fixture = (ext: string) => new Uint8Array(readFileSync(new URL(`../fixtures/demo-head.xentrace.${ext}`, import.meta.url)));

/** Everything a decode gives: the merged rows' digest and every diagnostic, or the error's code, message and offset. */
async function outcome(input: Uint8Array | AsyncIterable<Uint8Array>, inWorker: boolean) {
  const digest = new BatchDigest();
  const diagnostics = new Diagnostics({ samplesPerCode: 1000 });
  try {
    await forEachRecordBatch(input, (batch) => digest.add(batch), { diagnostics, ...(inWorker ? { decompressor: inWorkerDecompressor } : {}) });
  } catch (error) {
    const { code, message, offset } = error as { code?: string; message: string; offset?: number };
    return { error: { code, message, offset }, records: digest.records, hash: digest.hash };
  }
  return { records: digest.records, hash: digest.hash, counts: diagnostics.counts, samples: diagnostics.samples.map((s) => `${s.code} ${s.offset} ${s.message}`) };
}

/**
 * A stream of `bytes` in 1000-byte chunks that fails after `upTo` of them: decoding it throws that very
 * read error, in this thread and in the worker.
 */
async function expectReadErrorAsItself(bytes: Uint8Array, upTo: number): Promise<void> {
  for (const inWorker of [false, true]) {
    const failure = new Error('disk on fire');
    async function* failing(): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < upTo; at += 1000) yield bytes.slice(at, Math.min(upTo, at + 1000));
      throw failure;
    }
    const seen = await forEachRecordBatch(failing(), () => undefined, inWorker ? { decompressor: inWorkerDecompressor } : {}).catch((e: unknown) => e);
    expect(seen, inWorker ? 'in a worker' : 'here').toBe(failure);
  }
}

/** The fixture whole, cut, with junk after it, and with a byte flipped at several places. */
function variants(bytes: Uint8Array): [string, Uint8Array][] {
  const out: [string, Uint8Array][] = [['whole', bytes], ['cut', bytes.subarray(0, bytes.length >>> 1)]];
  const junk = new Uint8Array(bytes.length + 8);
  junk.set(bytes);
  junk.set(new TextEncoder().encode('garbage\n'), bytes.length);
  out.push(['junk after', junk]);
  for (const at of [3, 20, 100, bytes.length >>> 2, bytes.length >>> 1, bytes.length - 30, bytes.length - 5]) {
    const flipped = bytes.slice();
    flipped[at]! ^= 0x24;
    out.push([`flipped at ${at}`, flipped]);
  }
  return out;
}

describe('workerDecompressor (xenspan/node)', () => {
  for (const [ext, name] of [['gz', 'gzip'], ['bz2', 'bzip2'], ['zst', 'zstd']] as const) {
    it(`${name}: the rows, diagnostics and errors of decompressing in this thread, intact or damaged`, async () => {
      for (const [label, bytes] of variants(fixture(ext))) {
        const here = await outcome(bytes, false);
        const streams = workerStreams;
        expect(await outcome(bytes, true), `${name} ${label}`).toEqual(here);
        // Decompressed by the worker, unless the damage hit the magic bytes (then it is not compressed input).
        const compressed = detectCompression(bytes.subarray(0, 16)) !== undefined;
        expect(workerStreams, `${name} ${label}: decompressed by the worker`).toBe(streams + (compressed ? 1 : 0));
      }
      // Statistics too (their own decode path).
      expect(await readTraceStats(fixture(ext), { decompressor: inWorkerDecompressor })).toEqual(await readTraceStats(fixture(ext)));
    });
  }

  it('keeps up with a slow consumer of more output than it may hold untaken (8 MiB), multi-member gzip', async () => {
    const members = Array.from({ length: 8 }, () => gzipSync(demo));
    const gz = new Uint8Array(members.reduce((sum, m) => sum + m.length, 0));
    let at = 0;
    for (const member of members) {
      gz.set(member, at);
      at += member.length;
    }
    let calls = 0;
    const slow = { backpressure: () => (++calls % 50 === 0 ? new Promise<void>((resolve) => setTimeout(resolve, 2)) : undefined) };
    const digest = async (inWorker: boolean) => {
      const d = new BatchDigest();
      await forEachRecordBatch(gz, (batch) => d.add(batch), { ...slow, ...(inWorker ? { decompressor: inWorkerDecompressor } : {}) });
      return [d.records, d.hash];
    };
    const here = await digest(false);
    expect(here[0]).toBeGreaterThan(8 * 60000);
    const streams = workerStreams;
    expect(await digest(true)).toEqual(here);
    expect(workerStreams).toBe(streams + 1);
  });

  it('does not hang when gzip pulls input while the worker waits for its consumer (every waiter woken)', async () => {
    // gzip's DecompressionStream pulls compressed input while the worker waits for acks: two waiters at once.
    const gz = gzipSync(Buffer.concat(Array.from({ length: 12 }, () => demo)), { level: 1 });
    const slow = { backpressure: () => new Promise<void>((resolve) => setTimeout(resolve, 5)) };
    const digest = async (inWorker: boolean) => {
      const d = new BatchDigest();
      await forEachRecordBatch(gz, (batch) => d.add(batch), { ...slow, merge: 'stream', ...(inWorker ? { decompressor: inWorkerDecompressor } : {}) });
      return [d.records, d.hash];
    };
    expect(await digest(true)).toEqual(await digest(false));
  }, 60_000);

  it('releases the source when the consumer stops during a read, and throws a gzip read error as itself', async () => {
    const zst = fixture('zst');
    let released = false;
    const source = {
      name: 'slow',
      size: zst.length,
      readAt: async (offset: number, length: number) => zst.subarray(offset, offset + length),
      async *chunks() {
        try {
          for (let at = 0; at < zst.length; at += 4096) {
            await new Promise((resolve) => setTimeout(resolve, 20));
            yield zst.slice(at, at + 4096);
          }
        } finally {
          released = true;
        }
      },
    };
    const stop = new Error('stop');
    await expect(forEachRecordBatch(source, () => { throw stop; }, { merge: 'stream', decompressor: inWorkerDecompressor })).rejects.toBe(stop);
    await vi.waitFor(() => expect(released).toBe(true));
    await expectReadErrorAsItself(fixture('gz'), 60000);
  });

  it('stops decompressing, and reading, while about 8 MiB wait for a consumer that has paused', async () => {
    // 24 copies of the demo (30 MB), gzip'd: while the consumer waits, the worker may run about 8 MiB (plus
    // a chunk) ahead of it, and asks for no more input than that needs; without the bound it reads it all.
    const gz = gzipSync(Buffer.concat(Array.from({ length: 24 }, () => demo)), { level: 1 });
    const input = countedStream(gz, 16384);
    const pause = pauseOnce(1500, input.read);
    const streams = workerStreams;
    await forEachRecordBatch(input.stream, () => undefined, { merge: 'stream', decompressor: inWorkerDecompressor, backpressure: pause.backpressure });
    expect(workerStreams).toBe(streams + 1);
    expect(input.read()).toBe(gz.length);
    // At most about 8 MiB of output ahead, at gzip's ratio here (about 3), plus read-ahead: well under half.
    expect(pause.seen.afterPause).toBeGreaterThan(0);
    expect(pause.seen.afterPause).toBeLessThan(gz.length / 2);
  });

  it('sends views of a larger buffer as copies of their own: the caller\'s bytes stay whole and unmoved', async () => {
    // fromBytes hands out views of the whole input; a view posted as it is clones its whole buffer, and a
    // view moved would detach the caller's bytes.
    const zst = fixture('zst');
    const backing = new Uint8Array(zst.length + 8192);
    backing.set(zst, 4096);
    const views = async function* (): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < zst.length; at += 10000) yield backing.subarray(4096 + at, 4096 + Math.min(zst.length, at + 10000));
    };
    const streams = workerStreams;
    const inWorker = await outcome(views(), true);
    expect(workerStreams).toBe(streams + 1);
    expect(inWorker).toEqual(await outcome(zst, false));
    expect(backing.byteLength).toBe(zst.length + 8192);
    expect(backing.subarray(4096, 4096 + zst.length)).toEqual(zst);
  });

  it('stops with a consumer that stops, and passes the input\'s own read error through', async () => {
    const zst = fixture('zst');
    const stop = new Error('enough');
    let batches = 0;
    const stopped = await forEachRecordBatch(zst, () => {
      if (++batches === 2) throw stop;
    }, { batchSize: 256, decompressor: inWorkerDecompressor }).catch((e: unknown) => e);
    expect(stopped).toBe(stop);
    // A source that fails after two chunks: the same error object, after the records decoded before it.
    await expectReadErrorAsItself(zst, 2000);
  });
});
