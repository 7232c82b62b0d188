// SPDX-License-Identifier: MIT
// Helpers that run the decoder and turn batches into comparable values.
import type { RecordBatch } from '../../src/core/batch.js';
import { Diagnostics } from '../../src/core/diagnostics.js';
import type { ByteInput } from '../../src/core/io.js';
import { forEachRecordBatch, forEachRecordInFileOrder } from '../../src/parse/decode.js';
import type { DecodeOptions } from '../../src/parse/decode.js';

export interface Row {
  pcpu: number;
  event: number;
  tsc: bigint;
  flags: number;
  words: number[];
  offset: number;
}

function rowsFrom(batch: RecordBatch, into: Row[]): void {
  for (let i = 0; i < batch.length; i++) {
    const count = (batch.header[i] >>> 28) & 7;
    const start = batch.payloadIndex[i];
    into.push({
      pcpu: batch.pcpu[i],
      event: batch.header[i] & 0x0fffffff,
      tsc: (BigInt(batch.tscHi[i]) << 32n) | BigInt(batch.tscLo[i]),
      flags: batch.flags[i],
      words: Array.from(batch.words.subarray(start, start + count)),
      offset: batch.fileOffset[i],
    });
  }
}

/** All records in global order, as objects (small inputs only). */
export async function mergedRows(input: ByteInput, options: DecodeOptions = {}): Promise<{ rows: Row[]; diagnostics: Diagnostics; merge: string }> {
  const diagnostics = options.diagnostics ?? new Diagnostics();
  const rows: Row[] = [];
  const report = await forEachRecordBatch(input, (batch) => rowsFrom(batch, rows), { ...options, diagnostics });
  return { rows, diagnostics, merge: report.merge };
}

/** All records in file order, as objects (small inputs only). */
export async function fileOrderRows(input: ByteInput): Promise<{ rows: Row[]; diagnostics: Diagnostics }> {
  const diagnostics = new Diagnostics();
  const rows: Row[] = [];
  await forEachRecordInFileOrder(input, (batch) => rowsFrom(batch, rows), { diagnostics });
  return { rows, diagnostics };
}

/**
 * An order-sensitive digest of every column of every record (FNV-1a over 32-bit values), for comparing
 * big decodes without keeping them.
 */
export class BatchDigest {
  hash = 0x811c9dc5;
  records = 0;
  /** TSC order violations between consecutive records (count). */
  decreases = 0;
  #lastHi = -1;
  #lastLo = 0;

  #mix(value: number): void {
    let h = this.hash ^ (value >>> 0);
    h = Math.imul(h, 0x01000193);
    this.hash = h >>> 0;
  }

  add(batch: RecordBatch): void {
    for (let i = 0; i < batch.length; i++) {
      const header = batch.header[i];
      this.#mix(batch.pcpu[i]);
      this.#mix(header);
      this.#mix(batch.tscLo[i]);
      this.#mix(batch.tscHi[i]);
      this.#mix(batch.flags[i]);
      this.#mix(batch.fileOffset[i]);
      const start = batch.payloadIndex[i];
      for (let k = 0; k < ((header >>> 28) & 7); k++) this.#mix(batch.words[start + k]);
      const hi = batch.tscHi[i];
      const lo = batch.tscLo[i];
      if (hi < this.#lastHi || (hi === this.#lastHi && lo < this.#lastLo)) this.decreases++;
      this.#lastHi = hi;
      this.#lastLo = lo;
    }
    this.records += batch.length;
  }
}

/** Splits bytes into chunks at the given sizes, cycling through them. */
export function* chunked(bytes: Uint8Array, sizes: readonly number[]): Generator<Uint8Array> {
  let at = 0;
  let k = 0;
  while (at < bytes.length) {
    const size = sizes[k++ % sizes.length];
    yield bytes.subarray(at, at + size);
    at += size;
  }
}

/** A deterministic pseudo-random generator (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `bytes` as a stream of `size`-byte chunks that counts the bytes it has handed out (`read`). */
export function countedStream(bytes: Uint8Array, size: number): { readonly stream: AsyncGenerator<Uint8Array>; readonly read: () => number } {
  let read = 0;
  async function* stream(): AsyncGenerator<Uint8Array> {
    for (let at = 0; at < bytes.length; at += size) {
      read += Math.min(size, bytes.length - at);
      yield bytes.slice(at, at + size);
    }
  }
  return { stream: stream(), read: () => read };
}

/**
 * A backpressure hook that pauses a decode once, for `ms`, and notes `read()` when the pause starts and
 * when it ends: a producer that honours backpressure reads nothing meanwhile, or a bounded amount.
 */
export function pauseOnce(ms: number, read: () => number) {
  const seen = { atPause: -1, afterPause: -1 };
  const backpressure = (): Promise<void> | undefined => {
    if (seen.atPause >= 0) return undefined;
    seen.atPause = read();
    return new Promise<void>((resolve) =>
      setTimeout(() => {
        seen.afterPause = read();
        resolve();
      }, ms),
    );
  };
  return { backpressure, seen };
}
