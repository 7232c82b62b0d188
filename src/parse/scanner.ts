// SPDX-License-Identifier: MIT
/**
 * RecordScanner: the synchronous, push-based heart of the decoder. Bytes of any size and alignment go in;
 * columnar batches of records in file order come out. No object is allocated per record.
 * @module
 */
import { CPU_CHANGE_HEADER, createRecordBatch } from '../core/batch.js';
import type { RecordBatch } from '../core/batch.js';
import { formatOffset } from '../core/diagnostics.js';
import type { Diagnostics } from '../core/diagnostics.js';
import { XenspanError } from '../core/errors.js';
import {
  MAX_PCPU,
  MAX_WINDOW_BYTES,
  PcpuTscState,
  STOP_CROSSES_END,
  STOP_HEADER_INSIDE,
  WindowCursor,
  decodeWindowRecords,
  plausibleWindowHeader,
  reportCrossesWindow,
} from './records.js';
import { describeMagic } from './sniff.js';

export { MAX_PCPU, MAX_WINDOW_BYTES };

/** Options of {@link RecordScanner}. */
export interface RecordScannerOptions {
  /** Receives each batch of decoded records, in file order. BORROWED: valid only during the call. */
  readonly onBatch: (batch: RecordBatch) => void;
  readonly diagnostics: Diagnostics;
  /** Size of the working buffer; a batch never holds more than a quarter of it in records. Default 256 KiB. */
  readonly bufferBytes?: number;
}

/**
 * Splits a xentrace byte stream into windows and records.
 *
 * It copies each pushed chunk into one aligned working buffer (memcpy is far cheaper than decoding) and
 * decodes whole words from it, so chunk boundaries may fall anywhere, even inside a word. Each batch
 * handed to `onBatch` reuses the same columns, and its `words` is the working buffer itself.
 *
 * Records without a TSC take their pCPU's last TSC (flag `inheritedTsc`); before any TSC on that pCPU
 * they get TSC 0 and flag `borrowedTsc`, and the merger back-fills them. Wrap-padding records are
 * passed on (their bytes count in the volume statistics); the merger drops them.
 */
export class RecordScanner {
  readonly #onBatch: (batch: RecordBatch) => void;
  readonly #diagnostics: Diagnostics;
  readonly #bytes: Uint8Array;
  readonly #words: Uint32Array;
  readonly #batch: RecordBatch;
  /** Bytes held in the working buffer (carry from the last push plus new bytes). */
  #fill = 0;
  /** Input offset of the working buffer's first byte. */
  #base = 0;
  /** Bytes of the current window not yet decoded; 0 = a CPU_CHANGE header comes next. */
  #windowLeft = 0;
  #windowPcpu = 0;
  #windowOffset = 0;
  #windowBytes = 0;
  #windowFirst = false;
  /** Whether a valid window was ever seen (the first bytes decide "is this xentrace at all"). */
  #started = false;
  /** Offset where skipping non-window bytes began, or -1. */
  #skipFrom = -1;
  /** Bytes of a corrupt window still to be thrown away. */
  #discardLeft = 0;
  #ended = false;
  /** Per-pCPU TSC state, indexed by pCPU number (dense enough in practice; MAX_PCPU bounds it). */
  readonly #tsc: PcpuTscState[] = [];
  readonly #cursor = new WindowCursor();
  #recordCount = 0;

  constructor(options: RecordScannerOptions) {
    this.#onBatch = options.onBatch;
    this.#diagnostics = options.diagnostics;
    const size = Math.max(4096, (options.bufferBytes ?? 1 << 18) & ~3);
    this.#bytes = new Uint8Array(size);
    this.#words = new Uint32Array(this.#bytes.buffer, 0, size >>> 2);
    this.#batch = createRecordBatch(size >>> 2, 0);
    this.#batch.words = this.#words;
  }

  /** Records decoded so far (wrap padding included). */
  get recordCount(): number {
    return this.#recordCount;
  }

  /** Input bytes consumed so far. */
  get offset(): number {
    return this.#base + this.#fill;
  }

  /**
   * Feeds bytes. `at` is the input offset of `chunk` when it does not simply continue the previous one
   * (a seekable reader jumping to the next window of one pCPU); the scanner must then be between windows.
   */
  push(chunk: Uint8Array, at?: number): void {
    if (this.#ended) throw new XenspanError('misuse', 'RecordScanner.push called after end()');
    if (at !== undefined && at !== this.#base + this.#fill) {
      if (this.#fill !== 0 || this.#windowLeft !== 0) {
        throw new XenspanError('misuse', `RecordScanner.push jumped to ${at} in the middle of a window`, { offset: at });
      }
      this.#base = at;
    }
    const capacity = this.#bytes.length;
    let from = 0;
    while (from < chunk.length) {
      const n = Math.min(capacity - this.#fill, chunk.length - from);
      this.#bytes.set(chunk.subarray(from, from + n), this.#fill);
      this.#fill += n;
      from += n;
      this.#decode();
    }
  }

  /** Signals the end of input: reports a cut final window or record. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (!this.#started && this.#fill > 0) this.#notXentrace();
    if (this.#skipFrom >= 0) this.#reportSkip(this.#base + this.#fill);
    if (this.#windowLeft > 0 || this.#fill > 0) {
      const missing = this.#windowLeft > 0 ? this.#windowLeft - this.#fill : 12 - this.#fill;
      const pcpu = this.#windowPcpu;
      const where = this.#windowLeft > 0 ? this.#windowOffset : this.#base;
      this.#diagnostics.report(
        'truncated_window',
        this.#windowLeft > 0 ? { pcpu, offset: where } : { offset: where },
        () =>
          this.#windowLeft > 0
            ? `input ends ${missing} bytes short of the end of pCPU ${pcpu}'s ${this.#windowBytes}-byte window at ${formatOffset(where)}`
            : `input ends inside a CPU_CHANGE header at ${formatOffset(where)}`,
      );
    }
    this.#fill = 0;
    this.#windowLeft = 0;
  }

  #decode(): void {
    // A pass ends early when it must drop a number of bytes that is not a whole word (resynchronising
    // on a window header at an odd offset); the next pass then starts aligned on that header.
    while (this.#decodePass()) {
      // the loop body is the pass itself
    }
  }

  /** Decodes what the working buffer holds; returns whether another pass is needed. */
  #decodePass(): boolean {
    const words = this.#words;
    const batch = this.#batch;
    const nWords = this.#fill >>> 2;
    const base = this.#base;
    let w = 0;
    let n = 0;
    /** Bytes to drop at the end of this pass when that is not a whole number of words, or -1. */
    let dropBytes = -1;
    for (;;) {
      if (this.#discardLeft > 0) {
        const k = Math.min(this.#discardLeft >>> 2, nWords - w);
        w += k;
        this.#discardLeft -= k * 4;
        if (this.#discardLeft > 0) break;
        continue;
      }
      if (this.#windowLeft === 0) {
        // A CPU_CHANGE header is due: [0x2001f003, pcpu, window bytes].
        if (w + 3 > nWords) break;
        if (words[w] !== CPU_CHANGE_HEADER || !this.#plausibleWindow(words[w + 1], words[w + 2], base + w * 4)) {
          if (!this.#started) this.#notXentrace();
          if (this.#skipFrom < 0) this.#skipFrom = base + w * 4;
          // The next window header may sit at any byte (a file spliced at an odd offset): look for its
          // bytes, not only for aligned words.
          const next = this.#findHeaderBytes(w * 4 + 1);
          if (next >= 0 && (next & 3) === 0) {
            w = next >>> 2;
            continue;
          }
          // Drop everything before it (or all but the last 3 bytes, which may start one) and realign.
          const drop = next >= 0 ? next : this.#fill - 3;
          if (drop > w * 4) dropBytes = drop;
          break;
        }
        if (this.#skipFrom >= 0) this.#reportSkip(base + w * 4);
        this.#started = true;
        this.#windowPcpu = words[w + 1];
        this.#windowBytes = words[w + 2];
        this.#windowOffset = base + w * 4;
        this.#windowLeft = words[w + 2];
        this.#windowFirst = true;
        w += 3;
        continue;
      }
      // Inside a window: decode whole records up to the window end or the end of the data.
      const pcpu = this.#windowPcpu;
      const windowEnd = w + (this.#windowLeft >>> 2);
      const cursor = this.#cursor;
      cursor.w = w;
      cursor.n = n;
      cursor.first = this.#windowFirst;
      decodeWindowRecords(words, nWords, windowEnd, pcpu, this.#tscOf(pcpu), cursor, batch, base, false, this.#diagnostics);
      batch.pcpu.fill(pcpu, n, cursor.n);
      w = cursor.w;
      n = cursor.n;
      this.#windowFirst = cursor.first;
      const cutShort = cursor.stop === STOP_HEADER_INSIDE;
      const crossed = cursor.stop === STOP_CROSSES_END;
      if (cutShort) {
        const at = base + w * 4;
        const windowOffset = this.#windowOffset;
        this.#diagnostics.report(
          'window_cut_short',
          { pcpu, offset: at },
          () =>
            `pCPU ${pcpu}'s window at ${formatOffset(windowOffset)} claims ${this.#windowBytes} bytes but a CPU_CHANGE header follows at ${formatOffset(at)}; resuming there`,
        );
        this.#windowLeft = 0;
        continue;
      }
      if (crossed) {
        reportCrossesWindow(this.#diagnostics, pcpu, base + w * 4, words[w]!, (windowEnd - w) * 4);
        this.#discardLeft = (windowEnd - w) * 4;
        this.#windowLeft = 0;
        continue;
      }
      this.#windowLeft = (windowEnd - w) * 4;
      if (w < windowEnd) break; // the next record is not complete yet
    }
    if (n > 0) {
      this.#recordCount += n;
      batch.length = n;
      this.#onBatch(batch);
      batch.length = 0;
    }
    // Keep the unconsumed tail (at most one record or header, plus a partial word) for the next push.
    const consumed = dropBytes >= 0 ? dropBytes : w * 4;
    if (consumed > 0) {
      this.#bytes.copyWithin(0, consumed, this.#fill);
      this.#fill -= consumed;
      this.#base += consumed;
    }
    return dropBytes >= 0 && this.#fill >= 12;
  }

  /** Byte position in the working buffer of the next CPU_CHANGE header's bytes (03 f0 01 20), or -1. */
  #findHeaderBytes(from: number): number {
    const bytes = this.#bytes;
    const end = this.#fill - 3;
    for (let p = from; p < end; p++) {
      p = bytes.indexOf(0x03, p);
      if (p < 0 || p >= end) return -1;
      if (bytes[p + 1] === 0xf0 && bytes[p + 2] === 0x01 && bytes[p + 3] === 0x20) return p;
    }
    return -1;
  }

  #tscOf(pcpu: number): PcpuTscState {
    return (this.#tsc[pcpu] ??= new PcpuTscState());
  }

  #plausibleWindow(pcpu: number, bytes: number, at: number): boolean {
    if (plausibleWindowHeader(pcpu, bytes)) return true;
    if (this.#started) {
      this.#diagnostics.report(
        'implausible_window',
        { offset: at },
        () => `CPU_CHANGE header at ${formatOffset(at)} names pCPU ${pcpu} and a window of ${bytes} bytes`,
      );
    }
    return false;
  }

  #reportSkip(to: number): void {
    const from = this.#skipFrom;
    this.#skipFrom = -1;
    this.#diagnostics.report(
      'not_a_window',
      { offset: from },
      () => `expected a CPU_CHANGE window header at ${formatOffset(from)}; skipped ${to - from} bytes to the next one`,
    );
  }

  #notXentrace(): never {
    const head = this.#bytes.subarray(0, Math.min(this.#fill, 16));
    if (this.#fill >= 12 && this.#words[0] === CPU_CHANGE_HEADER) {
      throw new XenspanError(
        'not_xentrace',
        `not a usable xentrace file: the first CPU_CHANGE header at offset ${this.#base} names pCPU ${this.#words[1]} and a window of ${this.#words[2]} bytes (at most pCPU ${MAX_PCPU}, a multiple of 4 up to ${MAX_WINDOW_BYTES} bytes)`,
        { offset: this.#base },
      );
    }
    throw new XenspanError(
      'not_xentrace',
      `not a xentrace file: ${describeMagic(head)} at offset ${this.#base} (a trace starts with the CPU_CHANGE header 03 f0 01 20)`,
      { offset: this.#base },
    );
  }
}
