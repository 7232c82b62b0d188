// SPDX-License-Identifier: MIT
/**
 * Columnar record batches: how records travel between stages without an object per record.
 * @module
 */

/** Header word of the CPU_CHANGE record xentrace writes before every window. */
export const CPU_CHANGE_HEADER = 0x2001f003;
/** Event id of the CPU_CHANGE record (never inside a window). */
export const TRC_TRACE_CPU_CHANGE = 0x0001f003;
/** Event id of Xen's lost-records marker. */
export const TRC_LOST_RECORDS = 0x0001f001;
/** Event id of Xen's wrap-padding record (junk payload). */
export const TRC_TRACE_WRAP_BUFFER = 0x0001f002;
/** Mask of the 28-bit event id inside a header word. */
export const EVENT_MASK = 0x0fffffff;

/** Bits of {@link RecordBatch.flags}. */
export const RECORD_FLAGS = {
  /** The record had no TSC of its own: `tscLo`/`tscHi` are its pCPU's previous TSC. */
  inheritedTsc: 1,
  /**
   * The record had no TSC and its pCPU had none before it either. The decoder gives it the TSC of the
   * next record with one on that pCPU (or 0 at the end of the input) and says so with a diagnostic.
   */
  borrowedTsc: 2,
  /** The record's TSC is lower than the previous one on its pCPU (reported as `tsc_backwards`). */
  tscBackwards: 4,
  /** The first record of a CPU_CHANGE window (stream merging uses window order to find xentrace's rounds). */
  windowStart: 8,
} as const;

/**
 * Records in columns. Row `i` is one record; its payload words are
 * `words[payloadIndex[i]] … words[payloadIndex[i] + extraCount(header[i]) - 1]`.
 *
 * BORROWED: a producer reuses the columns for its next batch. A consumer that keeps data past the
 * callback or iteration step that handed it the batch must copy it ({@link copyRecordBatch}).
 */
export interface RecordBatch {
  /** Number of valid rows. */
  length: number;
  /** pCPU that wrote the record (from the window's CPU_CHANGE). */
  readonly pcpu: Uint32Array;
  /** Raw header word: event id `h & 0x0fffffff`, payload words `(h >>> 28) & 7`, TSC present `h >>> 31`. */
  readonly header: Uint32Array;
  /** Low 32 bits of the record's TSC (own, inherited or borrowed: see `flags`). */
  readonly tscLo: Uint32Array;
  /** High 32 bits of the record's TSC. */
  readonly tscHi: Uint32Array;
  /** {@link RECORD_FLAGS} bits. */
  readonly flags: Uint8Array;
  /** Index into `words` of the record's first payload word. */
  readonly payloadIndex: Uint32Array;
  /** Payload words of the rows (see `payloadIndex`). */
  words: Uint32Array;
  /** Byte offset of the record's header in the (decompressed) input. */
  readonly fileOffset: Float64Array;
}

/** Event id of a header word. */
export function eventOf(header: number): number {
  return header & EVENT_MASK;
}

/** Number of payload words of a header word (0–7). */
export function extraCountOf(header: number): number {
  return (header >>> 28) & 7;
}

/** Whether a header word says a TSC follows it. */
export function hasTsc(header: number): boolean {
  return header >>> 31 === 1;
}

/** Stored size in bytes of a record with this header word (4 to 40). */
export function recordBytesOf(header: number): number {
  return 4 + (header >>> 31) * 8 + ((header >>> 28) & 7) * 4;
}

/** Allocates an empty batch for `capacity` rows and `wordCapacity` payload words. */
export function createRecordBatch(capacity: number, wordCapacity = capacity * 7): RecordBatch {
  return {
    length: 0,
    pcpu: new Uint32Array(capacity),
    header: new Uint32Array(capacity),
    tscLo: new Uint32Array(capacity),
    tscHi: new Uint32Array(capacity),
    flags: new Uint8Array(capacity),
    payloadIndex: new Uint32Array(capacity),
    words: new Uint32Array(wordCapacity),
    fileOffset: new Float64Array(capacity),
  };
}

/**
 * Copies rows `[from, from + count)` of `source` to rows `at…` of `target` (which may be `source`: the
 * ranges may overlap), every column but `words`; payload indices are copied as they are.
 */
export function copyRows(source: RecordBatch, target: RecordBatch, from: number, count: number, at = 0): void {
  const end = from + count;
  target.pcpu.set(source.pcpu.subarray(from, end), at);
  target.header.set(source.header.subarray(from, end), at);
  target.tscLo.set(source.tscLo.subarray(from, end), at);
  target.tscHi.set(source.tscHi.subarray(from, end), at);
  target.flags.set(source.flags.subarray(from, end), at);
  target.payloadIndex.set(source.payloadIndex.subarray(from, end), at);
  target.fileOffset.set(source.fileOffset.subarray(from, end), at);
}

/** A compact copy of a batch that the caller owns (payload words packed). */
export function copyRecordBatch(batch: RecordBatch): RecordBatch {
  const n = batch.length;
  let wordCount = 0;
  for (let i = 0; i < n; i++) wordCount += (batch.header[i] >>> 28) & 7;
  const copy = createRecordBatch(n, wordCount);
  copyRows(batch, copy, 0, n); // payload indices are rewritten below, for the packed words
  let w = 0;
  for (let i = 0; i < n; i++) {
    const count = (batch.header[i] >>> 28) & 7;
    const from = batch.payloadIndex[i];
    copy.payloadIndex[i] = w;
    for (let k = 0; k < count; k++) copy.words[w++] = batch.words[from + k];
  }
  copy.length = n;
  return copy;
}

/**
 * A batch with room for `capacity` rows holding rows `[0, count)` of `batch`, payload indices unchanged
 * and the same `words` (for a producer whose rows outgrew their columns).
 */
export function grownRecordBatch(batch: RecordBatch, capacity: number, count: number): RecordBatch {
  const grown = createRecordBatch(capacity, 0);
  grown.words = batch.words;
  copyRows(batch, grown, 0, count);
  grown.length = batch.length;
  return grown;
}

/**
 * TSC (`hi`, `lo`) minus TSC (`baseHi`, `baseLo`), as a double: exact while the difference stays below
 * 2^53 cycles (40 days at 2.6 GHz), however large the TSCs, because each half is subtracted on its own.
 * The hot loops' way to compare and subtract TSCs without BigInt.
 */
export function tscDelta(hi: number, lo: number, baseHi: number, baseLo: number): number {
  return (hi - baseHi) * 4294967296 + (lo - baseLo);
}

/** A 64-bit value whose high word is below this is a safe integer (hi·2^32 + lo < 2^53) as a double. */
export const SAFE_HIGH_WORD = 1 << 21;

/** A 64-bit value from its two stored words, as a BigInt (for output and messages, not for hot loops). */
export function u64Of(hi: number, lo: number): bigint {
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** TSC of row `i` as a BigInt (for output, not for hot loops). */
export function tscOf(batch: RecordBatch, i: number): bigint {
  return u64Of(batch.tscHi[i], batch.tscLo[i]);
}
