// SPDX-License-Identifier: MIT
/**
 * CpuMerger: puts the records of all pCPUs into one global TSC order.
 * @module
 */
import { EVENT_MASK, RECORD_FLAGS, TRC_TRACE_WRAP_BUFFER, createRecordBatch, tscDelta } from '../core/batch.js';
import type { RecordBatch } from '../core/batch.js';
import { formatOffset } from '../core/diagnostics.js';
import type { Diagnostics } from '../core/diagnostics.js';
import { HeadOrder } from './heads.js';
import { PcpuQueue } from './queue.js';
import { MAX_WAITING_FOR_TSC } from './records.js';

/** Options of {@link CpuMerger}. */
export interface CpuMergerOptions {
  /** Receives batches in global order. BORROWED: valid only during the call. */
  readonly onBatch: (batch: RecordBatch) => void;
  readonly diagnostics: Diagnostics;
  /** Rows per emitted batch. Default 8192. */
  readonly batchSize?: number;
  /**
   * Stream mode only: records buffered before the merger must release some ahead of the round watermark
   * (bounding memory). Default 2 Mi records (about 120 MB).
   */
  readonly maxBufferedRecords?: number;
  /** Stream mode only: cycles subtracted from the round watermark to absorb cross-pCPU TSC skew. Default 0. */
  readonly skewSlackCycles?: number;
}

const WRAP_HEADER_EVENT = TRC_TRACE_WRAP_BUFFER;
const WINDOW_START = RECORD_FLAGS.windowStart;
const BORROWED = RECORD_FLAGS.borrowedTsc;

/**
 * The stream merge: a k-way merge over per-pCPU queues, ordered by (TSC, file offset), for inputs read
 * once from start to end. Ties go to the record earlier in the file, so the order is the one the exact
 * merge of a seekable input gives (`ExactMerger`).
 *
 * The caller {@link CpuMerger.ingest}s scanner batches in file order; records are released when
 * xentrace's round structure proves nothing earlier can still come (spec §1.3: once round k is read,
 * later rounds hold only records after the last TSC of round k−1).
 *
 * Wrap-padding records are dropped here. Within a pCPU the file order is kept even when its TSC goes
 * backwards (the scanner reports that), so the global order can only decrease where a diagnostic says so.
 */
export class CpuMerger {
  readonly #onBatch: (batch: RecordBatch) => void;
  readonly #diagnostics: Diagnostics;
  readonly #out: RecordBatch;
  readonly #batchSize: number;
  readonly #maxBuffered: number;
  readonly #slack: number;
  readonly #queues: PcpuQueue[] = [];
  readonly #queueByPcpu = new Map<number, PcpuQueue>();
  /** Queues whose head row is ready, by slot (their index in `#queues`), in the order of their heads. */
  readonly #heads = new HeadOrder(8);
  /** Keys are TSCs minus this base (the first TSC seen), so that doubles hold them exactly. */
  #baseHi = 0;
  #baseLo = 0;
  #baseSet = false;
  #buffered = 0;
  #outWords = 0;
  /** Key of the last record emitted (-Infinity before any). */
  #emittedKey = -Infinity;
  // Stream mode round tracking, in keys. Every record of rounds ≤ k−1 was written before round k's
  // reads began, so anything read after round k lies beyond the largest key seen up to round k−1.
  #lastWindowPcpu = -1;
  /** Largest key seen so far (through the round being read). */
  #roundMax = -Infinity;
  /** Largest key seen through the previous round: the watermark once the current round is complete. */
  #previousRoundMax = -Infinity;
  #rounds = 0;
  #forcedFlush = false;

  constructor(options: CpuMergerOptions) {
    this.#onBatch = options.onBatch;
    this.#diagnostics = options.diagnostics;
    this.#batchSize = options.batchSize ?? 8192;
    this.#out = createRecordBatch(this.#batchSize);
    this.#maxBuffered = options.maxBufferedRecords ?? 1 << 21;
    this.#slack = options.skewSlackCycles ?? 0;
  }

  /** The queue of a pCPU, created on first use. */
  queue(pcpu: number): PcpuQueue {
    let q = this.#queueByPcpu.get(pcpu);
    if (q === undefined) {
      q = new PcpuQueue(pcpu, this.#queues.length);
      this.#queueByPcpu.set(pcpu, q);
      this.#queues.push(q);
      this.#heads.reserve(this.#queues.length);
    }
    return q;
  }

  /** Stream mode: appends a batch in file order and releases what the round watermark allows. */
  ingest(batch: RecordBatch): void {
    this.#add(batch);
    if (this.#buffered > this.#maxBuffered) {
      if (!this.#forcedFlush) {
        this.#forcedFlush = true;
        this.#diagnostics.report(
          'sorter_forced_flush',
          {},
          `more than ${this.#maxBuffered} records waited for the round watermark; releasing the oldest early`,
        );
      }
      this.#emitUntil(Infinity, this.#maxBuffered >>> 1);
      this.#flushOut();
    }
  }

  #add(batch: RecordBatch): void {
    const n = batch.length;
    if (n === 0) return;
    if (!this.#baseSet) {
      // The base must be a real TSC: a placeholder 0 would leave keys as whole TSCs, inexact above 2^53.
      for (let r = 0; r < n; r++) {
        if ((batch.flags[r] & BORROWED) === 0 && (batch.header[r] & EVENT_MASK) !== WRAP_HEADER_EVENT) {
          this.#baseHi = batch.tscHi[r];
          this.#baseLo = batch.tscLo[r];
          this.#baseSet = true;
          break;
        }
      }
    }
    const pcpus = batch.pcpu;
    const headers = batch.header;
    const flags = batch.flags;
    const mask = EVENT_MASK; // a local: the run loop below reads it per row
    let i = 0;
    while (i < n) {
      if ((headers[i] & mask) === WRAP_HEADER_EVENT) {
        // Dropped, but a window that starts with padding still starts a window.
        if ((flags[i] & WINDOW_START) !== 0) this.#windowStarts(pcpus[i]);
        i++;
        continue;
      }
      // A run: consecutive rows of one window, so that xentrace's rounds are seen and no other pCPU's
      // words are copied with it.
      const pcpu = pcpus[i];
      let end = i + 1;
      let rowFlags = flags[i];
      while (end < n && pcpus[end] === pcpu && (flags[end] & WINDOW_START) === 0 && (headers[end] & mask) !== WRAP_HEADER_EVENT) {
        rowFlags |= flags[end];
        end++;
      }
      const borrowed = (rowFlags & BORROWED) !== 0;
      if ((flags[i] & WINDOW_START) !== 0) this.#windowStarts(pcpu);
      // Rows still waiting to borrow a TSC hold a placeholder 0: they say nothing about lateness or rounds.
      if (!borrowed) {
        const firstKey = this.#keyOf(batch.tscHi[i], batch.tscLo[i]);
        const lastKey = this.#keyOf(batch.tscHi[end - 1], batch.tscLo[end - 1]);
        const runMax = lastKey > firstKey ? lastKey : firstKey;
        if (runMax > this.#roundMax) this.#roundMax = runMax;
        if (firstKey < this.#emittedKey) this.#reportLate(pcpu, batch.fileOffset[i], this.#emittedKey - firstKey);
      }
      const q = this.queue(pcpu);
      q.appendRun(batch, i, end, borrowed, this.#baseHi, this.#baseLo);
      this.#buffered += end - i;
      if (q.pendingBorrow >= 0 && q.tail - q.pendingBorrow > MAX_WAITING_FOR_TSC) {
        // A pCPU whose records never carry a TSC (a handler-only capture): stop waiting, keep memory bounded.
        q.settleBorrowed(this.#zeroKey());
      }
      i = end;
    }
    this.#admitReadyQueues();
  }

  /** A window of `pcpu` begins: xentrace's next round starts when pCPU ids stop increasing. */
  #windowStarts(pcpu: number): void {
    if (pcpu <= this.#lastWindowPcpu) this.#endRound();
    this.#lastWindowPcpu = pcpu;
  }

  /** TSC relative to the base, as a double: exact while the trace spans under 2^53 cycles (~40 days at 2.6 GHz). */
  #keyOf(hi: number, lo: number): number {
    return tscDelta(hi, lo, this.#baseHi, this.#baseLo);
  }

  /**
   * Key of TSC 0, which rows that never got a TSC keep. Before any base, −Infinity: such rows all lie
   * before the first TSC in the file, so they precede any real TSC 0 by offset too.
   */
  #zeroKey(): number {
    return this.#baseSet ? this.#keyOf(0, 0) : -Infinity;
  }

  #reportLate(pcpu: number, at: number, behind: number): void {
    this.#diagnostics.report(
      'late_record',
      { pcpu, offset: at },
      () =>
        `pCPU ${pcpu}: record at ${formatOffset(at)} arrived ${behind} cycles behind records already emitted (raise skewSlackCycles)`,
    );
  }

  /** Emits everything still buffered, in order (end of input). */
  finish(): void {
    for (const q of this.#queues) q.settleBorrowed(this.#zeroKey());
    this.#emitUntil(Infinity, 0);
    this.#flushOut();
  }

  #endRound(): void {
    this.#rounds++;
    if (this.#rounds >= 2) this.#emitUntil(this.#previousRoundMax - this.#slack, 0);
    this.#previousRoundMax = this.#roundMax;
  }

  #admitReadyQueues(): void {
    for (const q of this.#queues) {
      if (!q.active && q.headReady) {
        this.#heads.insert(q.slot, q.keys[q.head]!, q.fileOffset[q.head]!);
        q.active = true;
      }
    }
  }

  /**
   * Emits records in order while the smallest has a key ≤ `limit` and more than `keep` records are
   * buffered. Each step takes the queue with the smallest head and the runner-up's head, then emits the
   * queue's rows up to the runner-up with one key comparison each.
   */
  #emitUntil(limit: number, keep: number): void {
    // Queues refilled since the last call (even mid-batch) must compete too.
    this.#admitReadyQueues();
    const heads = this.#heads;
    const queues = this.#queues;
    const out = this.#out;
    // Columns in locals: the run loop touches typed arrays only.
    const { words: outWords, pcpu: outPcpu, header: outHeader, tscLo: outLo, tscHi: outHi, flags: outFlags } = out;
    const { fileOffset: outOffset, payloadIndex: outPayload } = out;
    const batchSize = this.#batchSize;
    let budget = this.#buffered - keep;
    while (heads.count > 0 && budget > 0) {
      const q = queues[heads.order[0]!]!;
      if (heads.key[q.slot]! > limit) break; // the smallest record is beyond the limit
      const otherKey = heads.secondKey;
      const otherOffset = heads.secondOffset;
      const first = q.head;
      let end = q.readyEnd;
      if (end - first > budget) end = first + budget;
      if (end - first > batchSize - out.length) end = first + batchSize - out.length;
      // The head is the smallest record; the rows after it go while they stay ahead of the runner-up.
      const keys = q.keys;
      const offsets = q.fileOffset;
      let h = first + 1;
      if (limit < otherKey) {
        while (h < end && keys[h]! <= limit) h++;
      } else {
        let k: number;
        while (h < end && ((k = keys[h]!) < otherKey || (k === otherKey && offsets[h]! < otherOffset))) h++;
      }
      // Copy the run to the output (inline: runs are a couple of rows, a call per run costs more).
      {
        const qHeader = q.header;
        const qLo = q.tscLo;
        const qHi = q.tscHi;
        const qFlags = q.flags;
        const qPayload = q.payloadIndex;
        const qWords = q.words;
        const pcpu = q.pcpu;
        let n = out.length;
        let w = this.#outWords;
        for (let r = first; r < h; r++) {
          const header = qHeader[r]!;
          outPcpu[n] = pcpu;
          outHeader[n] = header;
          outLo[n] = qLo[r]!;
          outHi[n] = qHi[r]!;
          outFlags[n] = qFlags[r]!;
          outOffset[n] = offsets[r]!;
          outPayload[n] = w;
          const count = (header >>> 28) & 7;
          const p = qPayload[r]!;
          for (let k = 0; k < count; k++) outWords[w + k] = qWords[p + k]!;
          w += count;
          n++;
        }
        this.#outWords = w;
        out.length = n;
      }
      this.#emittedKey = keys[h - 1]!;
      budget -= h - first;
      this.#buffered -= h - first;
      q.head = h;
      if (out.length === batchSize) this.#flushOut();
      if (h === q.readyEnd) {
        if (h === q.tail) q.clear();
        heads.removeFirst();
        q.active = false;
      } else {
        heads.firstMoved(keys[h]!, offsets[h]!);
      }
    }
  }

  #flushOut(): void {
    const out = this.#out;
    if (out.length === 0) return;
    this.#onBatch(out);
    out.length = 0;
    this.#outWords = 0;
  }
}
