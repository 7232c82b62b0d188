// SPDX-License-Identifier: MIT
/**
 * PcpuQueue: a growable FIFO of one pCPU's records in columns, used by the merger.
 * @module
 */
import { RECORD_FLAGS, tscDelta } from '../core/batch.js';
import type { RecordBatch } from '../core/batch.js';

const BORROWED = RECORD_FLAGS.borrowedTsc;

/** Word offset from a record's header to its first payload word, for a header word. */
function payloadOffsetOf(header: number): number {
  return 1 + (header >>> 31) * 2;
}

/**
 * One pCPU's pending records. Rows arrive in runs (consecutive rows of one window) and are copied with
 * `TypedArray.set`; payload words are copied as the raw span of the run, and `payloadIndex` points into it.
 * That keeps the per-row work of the merge to a key comparison.
 */
export class PcpuQueue {
  readonly pcpu: number;
  header: Uint32Array;
  tscLo: Uint32Array;
  tscHi: Uint32Array;
  flags: Uint8Array;
  fileOffset: Float64Array;
  /**
   * Merge key of each row: its TSC minus the merger's base, as a double (exact while the trace spans
   * under 2^53 cycles). Computed once on append so that the merge compares one number per row.
   */
  keys: Float64Array;
  payloadIndex: Uint32Array;
  /** Raw words of the queued runs (headers and TSCs included); rows point into it. */
  words: Uint32Array;
  wordTail = 0;
  head = 0;
  tail = 0;
  /** Index of the first row still waiting for a TSC to borrow (see RECORD_FLAGS.borrowedTsc), or -1. */
  pendingBorrow = -1;
  /** The queue's slot in the merger's order of heads (its index). */
  readonly slot: number;
  /** Whether the queue is in the merger's order of heads. */
  active = false;

  constructor(pcpu: number, slot: number, capacity = 1024) {
    this.pcpu = pcpu;
    this.slot = slot;
    this.header = new Uint32Array(capacity);
    this.tscLo = new Uint32Array(capacity);
    this.tscHi = new Uint32Array(capacity);
    this.flags = new Uint8Array(capacity);
    this.fileOffset = new Float64Array(capacity);
    this.keys = new Float64Array(capacity);
    this.payloadIndex = new Uint32Array(capacity);
    this.words = new Uint32Array(capacity * 4);
  }

  /** Whether the head row may be ordered (it has a TSC, own, inherited or borrowed). */
  get headReady(): boolean {
    return this.readyEnd > this.head;
  }

  /** End of the rows that may be ordered now (rows from `pendingBorrow` on still wait for a TSC). */
  get readyEnd(): number {
    return this.pendingBorrow < 0 ? this.tail : this.pendingBorrow;
  }

  /**
   * Appends rows `from` to `to` (exclusive) of `batch`: consecutive records of this pCPU. Their payload
   * words are copied as the one span of `batch.words` that holds them, so the rows should be close
   * together there (one window, or the windows of one pCPU's scanner). Keys are TSC − (`baseHi`, `baseLo`).
   */
  appendRun(batch: RecordBatch, from: number, to: number, hasBorrowed: boolean, baseHi: number, baseLo: number): void {
    const count = to - from;
    const spanStart = batch.payloadIndex[from] - payloadOffsetOf(batch.header[from]);
    const spanEnd = batch.payloadIndex[to - 1] + ((batch.header[to - 1] >>> 28) & 7);
    const spanWords = spanEnd - spanStart;
    this.#reserve(count, spanWords);
    const t = this.tail;
    this.header.set(batch.header.subarray(from, to), t);
    this.tscLo.set(batch.tscLo.subarray(from, to), t);
    this.tscHi.set(batch.tscHi.subarray(from, to), t);
    this.flags.set(batch.flags.subarray(from, to), t);
    this.fileOffset.set(batch.fileOffset.subarray(from, to), t);
    this.words.set(batch.words.subarray(spanStart, spanEnd), this.wordTail);
    const shift = this.wordTail - spanStart;
    const source = batch.payloadIndex;
    const target = this.payloadIndex;
    for (let r = 0; r < count; r++) target[t + r] = source[from + r] + shift;
    this.wordTail += spanWords;
    this.tail = t + count;
    this.#computeKeys(t, this.tail, baseHi, baseLo);
    if (hasBorrowed || this.pendingBorrow >= 0) this.#trackBorrowed(t, this.tail, baseHi, baseLo);
  }

  #computeKeys(from: number, to: number, baseHi: number, baseLo: number): void {
    const keys = this.keys;
    const hi = this.tscHi;
    const lo = this.tscLo;
    for (let r = from; r < to; r++) keys[r] = tscDelta(hi[r]!, lo[r]!, baseHi, baseLo);
  }

  /**
   * Rows still waiting to borrow a TSC keep TSC 0 (no TSC came on this pCPU): they take `zeroKey`, the
   * key of TSC 0, so that they tie with a real TSC 0 by file offset as in the exact merge.
   */
  settleBorrowed(zeroKey: number): void {
    if (this.pendingBorrow < 0) return;
    this.keys.fill(zeroKey, this.pendingBorrow, this.tail);
    this.pendingBorrow = -1;
  }

  /** Drops everything (after the merger consumed all rows). */
  clear(): void {
    this.head = 0;
    this.tail = 0;
    this.wordTail = 0;
  }

  #trackBorrowed(from: number, to: number, baseHi: number, baseLo: number): void {
    for (let r = from; r < to; r++) {
      if ((this.flags[r] & BORROWED) !== 0) {
        if (this.pendingBorrow < 0) this.pendingBorrow = r;
      } else if (this.pendingBorrow >= 0 && this.header[r] >>> 31 === 1) {
        // The first own TSC after records that had none: they take it, and its key (the base exists now:
        // the merger sets it from the first record with a TSC, before appending).
        for (let b = this.pendingBorrow; b < r; b++) {
          this.tscLo[b] = this.tscLo[r];
          this.tscHi[b] = this.tscHi[r];
        }
        this.#computeKeys(this.pendingBorrow, r, baseHi, baseLo);
        this.pendingBorrow = -1;
      }
    }
  }

  #reserve(rows: number, words: number): void {
    if (this.tail + rows <= this.header.length && this.wordTail + words <= this.words.length) return;
    // Slide the live rows and their words to the front, then grow whatever is still too small.
    const head = this.head;
    const live = this.tail - head;
    const wordStart = live > 0 ? this.payloadIndex[head] - payloadOffsetOf(this.header[head]) : this.wordTail;
    const liveWords = this.wordTail - wordStart;
    const rowCapacity = Math.max(this.header.length, nextPowerOfTwo(live + rows));
    const wordCapacity = Math.max(this.words.length, nextPowerOfTwo(liveWords + words));
    this.header = moved(this.header, rowCapacity, head, this.tail, (n) => new Uint32Array(n));
    this.tscLo = moved(this.tscLo, rowCapacity, head, this.tail, (n) => new Uint32Array(n));
    this.tscHi = moved(this.tscHi, rowCapacity, head, this.tail, (n) => new Uint32Array(n));
    this.flags = moved(this.flags, rowCapacity, head, this.tail, (n) => new Uint8Array(n));
    this.fileOffset = moved(this.fileOffset, rowCapacity, head, this.tail, (n) => new Float64Array(n));
    this.keys = moved(this.keys, rowCapacity, head, this.tail, (n) => new Float64Array(n));
    this.payloadIndex = moved(this.payloadIndex, rowCapacity, head, this.tail, (n) => new Uint32Array(n));
    this.words = moved(this.words, wordCapacity, wordStart, this.wordTail, (n) => new Uint32Array(n));
    for (let r = 0; r < live; r++) this.payloadIndex[r] -= wordStart;
    if (this.pendingBorrow >= 0) this.pendingBorrow -= head;
    this.head = 0;
    this.tail = live;
    this.wordTail = liveWords;
  }
}

function nextPowerOfTwo(n: number): number {
  let p = 1024;
  while (p < n) p *= 2;
  return p;
}

/** `array[start, end)` moved to the front of an array of `capacity` (the same one when it is big enough). */
function moved<T extends Uint32Array | Uint8Array | Float64Array>(
  array: T,
  capacity: number,
  start: number,
  end: number,
  create: (n: number) => T,
): T {
  if (capacity === array.length) {
    array.copyWithin(0, start, end);
    return array;
  }
  const next = create(capacity);
  next.set(array.subarray(start, end) as never);
  return next;
}
