// SPDX-License-Identifier: MIT
/**
 * The exact merge of a seekable input: each pCPU's windows are read and decoded in place, and merged by
 * (TSC, file offset) with bounded memory.
 * @module
 */
import { RECORD_FLAGS, copyRows, createRecordBatch, grownRecordBatch, tscDelta } from '../core/batch.js';
import type { RecordBatch } from '../core/batch.js';
import { formatOffset } from '../core/diagnostics.js';
import type { Diagnostics } from '../core/diagnostics.js';
import { HeadOrder } from './heads.js';
import { ReadCache } from './read-cache.js';
import type { ReadAt } from './read-cache.js';
import {
  MAX_WAITING_FOR_TSC,
  PcpuTscState,
  STOP_CROSSES_END,
  STOP_HEADER_INSIDE,
  WindowCursor,
  decodeWindowRecords,
  reportCrossesWindow,
} from './records.js';
import type { PcpuWindows } from './window-index.js';

/** Options of {@link mergeExact}. */
export interface ExactMergeOptions {
  /** Receives batches in global order. BORROWED: valid only during the call. */
  readonly onBatch: (batch: RecordBatch) => void;
  readonly diagnostics: Diagnostics;
  /** Rows per emitted batch. Default 8192. */
  readonly batchSize?: number;
  /** Called after each read; when it returns a promise, reading waits for it. */
  readonly backpressure?: (() => Promise<void> | undefined) | undefined;
}

const BORROWED = RECORD_FLAGS.borrowedTsc;
/** Bytes of the CPU_CHANGE header before each window's records. */
const WINDOW_HEADER_BYTES = 12;

/**
 * Bytes of its windows one pCPU reads per refill: at most 256 KiB, and together about 4 MiB, which bounds
 * the merge's memory whatever the number of pCPUs. With windows smaller than that, it also keeps the
 * readers within the ReadCache's 8 blocks of 1 MiB of each other (larger windows spread them further,
 * and some blocks are then read more than once).
 */
function readBytesPerRefill(pcpuCount: number): number {
  const bytes = Math.max(16 * 1024, Math.min(256 * 1024, Math.floor((4 << 20) / Math.max(1, pcpuCount))));
  return bytes & ~4095; // whole words (and pages): a piece then never ends inside a word
}

/**
 * One pCPU of the exact merge. Its windows' records (their 12-byte headers left out) are copied into the
 * lane's region of the arena that all lanes share, and decoded there into rows whose payload words stay
 * in the arena: the merge then copies only the row columns, never the words.
 */
class PcpuLane {
  readonly pcpu: number;
  readonly offsets: readonly number[];
  readonly lengths: readonly number[];
  /** Next window to read. */
  window = 0;
  /** Whether window `window` is open (its records are being read and decoded). */
  open = false;
  /** Bytes of the open window's records read so far. */
  read = 0;
  /** Bytes of records (of all its windows) the lane has still to read. */
  unread: number;
  /** No more windows: the lane is finished once its rows are emitted. */
  done = false;
  readonly tsc = new PcpuTscState();
  /** `w`: next arena word to decode; `n`: number of rows (the tail). */
  readonly cursor = new WindowCursor();
  /** Decoded rows; `words` is the shared arena. */
  rows: RecordBatch;
  /** Next row to emit. */
  head = 0;
  /** First row still waiting to borrow a TSC (see RECORD_FLAGS.borrowedTsc), or -1. */
  pendingBorrow = -1;
  /** The lane's words of the arena: [regionStart, regionEnd); data up to `fill`. */
  readonly regionStart: number;
  readonly regionEnd: number;
  fill: number;
  /** Arena word where the open window ends (beyond `fill` while some of it is unread). */
  windowEnd = 0;
  /** File offset of arena word 0 for the open window: a row's offset is `fileBase + 4 × word`. */
  fileBase = 0;
  /** Index of the lane in the merger (its slot in the head arrays). */
  readonly slot: number;
  /** Whether the lane is in the merger's order of heads. */
  active = false;

  constructor(slot: number, windows: PcpuWindows, recordBytes: number, arena: Uint32Array, regionStart: number, regionEnd: number) {
    this.slot = slot;
    this.pcpu = windows.pcpu;
    this.offsets = windows.offsets;
    this.lengths = windows.lengths;
    this.unread = recordBytes;
    this.regionStart = regionStart;
    this.regionEnd = regionEnd;
    this.fill = regionStart;
    this.cursor.w = regionStart;
    const rows = Math.min(256, regionEnd - regionStart); // grows with what a piece holds (see #ensureRows)
    this.rows = createRecordBatch(rows, 0);
    this.rows.words = arena;
  }

  /** End of the rows that may be ordered now (rows from `pendingBorrow` on still wait for a TSC). */
  get readyEnd(): number {
    return this.pendingBorrow < 0 ? this.cursor.n : this.pendingBorrow;
  }
}

/**
 * Merges the records of a seekable input in (TSC, file offset) order, reading each pCPU's windows from
 * the window index. Memory: an arena of twice the per-refill read per pCPU (at most that pCPU's record
 * bytes), plus the rows decoded from it.
 */
export async function mergeExact(
  pcpus: readonly PcpuWindows[],
  size: number,
  readAt: ReadAt,
  options: ExactMergeOptions,
): Promise<void> {
  await new ExactMerger(pcpus, size, readAt, options).run();
}

class ExactMerger {
  readonly #onBatch: (batch: RecordBatch) => void;
  readonly #diagnostics: Diagnostics;
  readonly #backpressure: (() => Promise<void> | undefined) | undefined;
  readonly #batchSize: number;
  readonly #out: RecordBatch;
  readonly #cache: ReadCache;
  readonly #readBytes: number;
  readonly #arena: Uint32Array;
  readonly #arenaBytes: Uint8Array;
  readonly #lanes: PcpuLane[] = [];
  /** The lanes with a ready row, by slot (a lane's index), in the order of their heads. */
  readonly #heads: HeadOrder;
  /**
   * Merge keys are TSCs minus this base (the first TSC read), as doubles: exact while the trace spans
   * under 2^53 cycles (40 days at 2.6 GHz), however large the TSCs. They are computed where they are
   * compared, from the rows' TSC columns.
   */
  #baseHi = 0;
  #baseLo = 0;
  #baseSet = false;
  /** The base was set after heads were keyed: the order's keys must be computed again. */
  #rekey = false;

  constructor(pcpus: readonly PcpuWindows[], size: number, readAt: ReadAt, options: ExactMergeOptions) {
    this.#onBatch = options.onBatch;
    this.#diagnostics = options.diagnostics;
    this.#backpressure = options.backpressure;
    this.#batchSize = options.batchSize ?? 8192;
    this.#cache = new ReadCache(readAt, size);
    this.#readBytes = readBytesPerRefill(pcpus.length);
    // A lane's region: room for one read plus as much again (rows waiting for a TSC, the carry of a cut
    // record), or for all of its records when that is less, so that pCPUs with little data cost little.
    const recordBytes = pcpus.map((windows) => windows.lengths.reduce((sum, length) => sum + length - WINDOW_HEADER_BYTES, 0));
    const regionWords = recordBytes.map((bytes) => Math.min(2 * this.#readBytes, bytes + 64) >>> 2);
    this.#arena = new Uint32Array(Math.max(1, regionWords.reduce((sum, words) => sum + words, 0)));
    this.#arenaBytes = new Uint8Array(this.#arena.buffer);
    let regionStart = 0;
    pcpus.forEach((windows, i) => {
      this.#lanes.push(new PcpuLane(i, windows, recordBytes[i]!, this.#arena, regionStart, regionStart + regionWords[i]!));
      regionStart += regionWords[i]!;
    });
    this.#heads = new HeadOrder(pcpus.length);
    this.#out = createRecordBatch(this.#batchSize, 0);
    this.#out.words = this.#arena;
  }

  async run(): Promise<void> {
    for (const lane of this.#lanes) await this.#refill(lane);
    for (;;) {
      const starving = this.#emit();
      if (starving === undefined) break;
      await this.#refill(starving);
      await this.#backpressure?.();
    }
  }

  /**
   * Emits while every unfinished lane has a ready row; returns the lane that needs reading, or
   * undefined when everything was emitted. The output is flushed first: its rows point into the arena.
   */
  #emit(): PcpuLane | undefined {
    const heads = this.#heads;
    const baseHi = this.#baseHi;
    const baseLo = this.#baseLo;
    if (this.#rekey) {
      // The base came after some heads were keyed (they had no TSC): key them again.
      this.#rekey = false;
      heads.rekey((slot) => this.#headKeyOf(this.#lanes[slot]!));
    }
    for (const lane of this.#lanes) {
      if (lane.head < lane.readyEnd) {
        if (!lane.active) {
          heads.insert(lane.slot, this.#headKeyOf(lane), lane.rows.fileOffset[lane.head]!);
          lane.active = true;
        }
      } else if (!lane.done || lane.head < lane.cursor.n) {
        this.#flushOut();
        return lane;
      }
    }
    const lanes = this.#lanes;
    const out = this.#out;
    // Columns in locals: the run loop touches typed arrays only.
    const { pcpu: outPcpu, header: outHeader, tscLo: outLo, tscHi: outHi, flags: outFlags } = out;
    const { fileOffset: outOffset, payloadIndex: outPayload } = out;
    const batchSize = this.#batchSize;
    let n = out.length;
    while (heads.count > 0) {
      // The first lane in the order has the smallest head; the second one's head ends its run.
      const q = lanes[heads.order[0]!]!;
      const otherKey = heads.secondKey;
      const otherOffset = heads.secondOffset;
      const first = q.head;
      const readyEnd = q.readyEnd;
      let end = readyEnd;
      if (end - first > batchSize - n) end = first + batchSize - n;
      // Copy rows from the head (the smallest record) while they stay ahead of the runner-up. The
      // payload words stay where they are: the output's `words` is the arena.
      const { fileOffset: offsets, header, tscLo: lo, tscHi: hi, flags, payloadIndex: payload } = q.rows;
      const pcpu = q.pcpu;
      let h = first;
      let k: number;
      do {
        outPcpu[n] = pcpu;
        outHeader[n] = header[h]!;
        outLo[n] = lo[h]!;
        outHi[n] = hi[h]!;
        outFlags[n] = flags[h]!;
        outOffset[n] = offsets[h]!;
        outPayload[n] = payload[h]!;
        n++;
        h++;
      } while (
        h < end &&
        ((k = tscDelta(hi[h]!, lo[h]!, baseHi, baseLo)) < otherKey || (k === otherKey && offsets[h]! < otherOffset))
      );
      q.head = h;
      if (n === batchSize) {
        out.length = n;
        this.#flushOut();
        n = 0;
      }
      if (h < readyEnd) {
        heads.firstMoved(tscDelta(hi[h]!, lo[h]!, baseHi, baseLo), offsets[h]!);
      } else {
        heads.removeFirst();
        q.active = false;
        if (!q.done || h < q.cursor.n) {
          out.length = n;
          this.#flushOut();
          return q;
        }
      }
    }
    out.length = n;
    this.#flushOut();
    return undefined;
  }

  /** Merge key of a lane's head row. */
  #headKeyOf(lane: PcpuLane): number {
    return tscDelta(lane.rows.tscHi[lane.head]!, lane.rows.tscLo[lane.head]!, this.#baseHi, this.#baseLo);
  }

  #flushOut(): void {
    const out = this.#out;
    if (out.length === 0) return;
    this.#onBatch(out);
    out.length = 0;
  }

  /** Reads and decodes the lane's next piece (once the merge has taken every ready row of it). */
  async #refill(lane: PcpuLane): Promise<void> {
    this.#compact(lane);
    if (
      lane.pendingBorrow >= 0 &&
      ((lane.regionEnd - lane.fill) * 4 < Math.min(this.#readBytes, lane.unread) ||
        lane.cursor.n - lane.pendingBorrow > MAX_WAITING_FOR_TSC)
    ) {
      // A pCPU whose records never carry a TSC (a handler-only capture): stop waiting, keep memory bounded.
      this.#settleBorrowed(lane);
    }
    const keyFrom = lane.pendingBorrow >= 0 ? lane.pendingBorrow : lane.cursor.n;
    let budget = Math.min(this.#readBytes, (lane.regionEnd - lane.fill) * 4);
    const { offsets, lengths, cursor } = lane;
    while (budget > 0 && lane.window < offsets.length) {
      const body = lengths[lane.window]! - WINDOW_HEADER_BYTES;
      const bodyAt = offsets[lane.window]! + WINDOW_HEADER_BYTES;
      if (!lane.open) {
        lane.open = true;
        lane.read = 0;
        cursor.first = true;
        cursor.w = lane.fill;
        lane.windowEnd = lane.fill + (body >>> 2);
        lane.fileBase = bodyAt - lane.fill * 4;
      }
      if (lane.read < body) {
        const at = bodyAt + lane.read;
        const want = Math.min(budget, body - lane.read);
        // No await (a promise per window) when the block is already there.
        const bytes = this.#cache.cached(at, want) ?? (await this.#cache.read(at, want));
        const whole = bytes.length & ~3;
        this.#arenaBytes.set(whole === bytes.length ? bytes : bytes.subarray(0, whole), lane.fill * 4);
        lane.fill += whole >>> 2;
        lane.read += whole;
        lane.unread -= whole;
        budget -= whole;
        this.#ensureRows(lane);
        this.#decode(lane);
        if (whole === 0) {
          // The input ended before its index said (a file that shrank): the pCPU ends here.
          this.#reportTruncated(lane, body);
          lane.window = offsets.length;
          lane.open = false;
          break;
        }
      } else {
        this.#decode(lane);
      }
      if (lane.read >= body && cursor.w >= lane.windowEnd) {
        lane.open = false;
        lane.window++;
      }
    }
    if (lane.window >= offsets.length && !lane.open) lane.done = true;
    this.#trackBorrowed(lane, keyFrom);
    if (lane.done) this.#settleBorrowed(lane);
  }

  /** Decodes the lane's unread words of its open window. */
  #decode(lane: PcpuLane): void {
    const cursor = lane.cursor;
    for (;;) {
      decodeWindowRecords(this.#arena, lane.fill, lane.windowEnd, lane.pcpu, lane.tsc, cursor, lane.rows, lane.fileBase, true, this.#diagnostics);
      const at = lane.fileBase + cursor.w * 4;
      if (cursor.stop === STOP_HEADER_INSIDE) {
        // The window chain is intact (the index walked it), so the window's size was right and this is
        // damage inside it: skip the look-alike header and go on with the window's records.
        const windowAt = lane.offsets[lane.window]!;
        this.#diagnostics.report(
          'window_cut_short',
          { pcpu: lane.pcpu, offset: at },
          () =>
            `pCPU ${lane.pcpu}'s window at ${formatOffset(windowAt)} holds a CPU_CHANGE header at ${formatOffset(at)} although the next window starts where its size says; skipped that header`,
        );
        cursor.w += 3;
        continue;
      }
      if (cursor.stop === STOP_CROSSES_END) {
        reportCrossesWindow(this.#diagnostics, lane.pcpu, at, this.#arena[cursor.w]!, (lane.windowEnd - cursor.w) * 4);
        if (lane.windowEnd <= lane.fill) {
          cursor.w = lane.windowEnd;
        } else {
          // The rest of the window is not read yet: do not read it.
          cursor.w = lane.fill;
          lane.windowEnd = lane.fill;
          const body = lane.lengths[lane.window]! - WINDOW_HEADER_BYTES;
          lane.unread -= body - lane.read;
          lane.read = body;
        }
      }
      return;
    }
  }

  /** Makes room for one row per undecoded word (what decodeWindowRecords may write). */
  #ensureRows(lane: PcpuLane): void {
    const need = lane.cursor.n + (lane.fill - lane.cursor.w);
    const old = lane.rows;
    if (need <= old.header.length) return;
    let capacity = old.header.length * 2;
    while (capacity < need) capacity *= 2;
    lane.rows = grownRecordBatch(old, capacity, lane.cursor.n);
  }

  /** Moves the lane's rows not yet emitted, and their words and the undecoded ones, to the front. */
  #compact(lane: PcpuLane): void {
    const rows = lane.rows;
    const cursor = lane.cursor;
    const head = lane.head;
    const live = cursor.n - head;
    // The first word still needed: the header of the first row not emitted, or the first undecoded one.
    const keepFrom = live > 0 ? rows.payloadIndex[head]! - 1 - (rows.header[head]! >>> 31) * 2 : cursor.w;
    const shift = keepFrom - lane.regionStart;
    if (shift > 0) {
      this.#arena.copyWithin(lane.regionStart, keepFrom, lane.fill);
      lane.fill -= shift;
      cursor.w -= shift;
      lane.windowEnd -= shift;
      lane.fileBase += shift * 4;
    }
    if (head === 0 && shift === 0) return;
    copyRows(rows, rows, head, live);
    for (let r = 0; r < live; r++) rows.payloadIndex[r] -= shift;
    if (lane.pendingBorrow >= 0) lane.pendingBorrow -= head;
    lane.head = 0;
    cursor.n = live;
  }

  /**
   * Rows that had no TSC before any on their pCPU take the first one that comes (back-filled here);
   * until it does they wait. Sets the merge's base from the first TSC read. `from`: the first new row
   * (or the first waiting one).
   */
  #trackBorrowed(lane: PcpuLane, from: number): void {
    const rows = lane.rows;
    const n = lane.cursor.n;
    const flags = rows.flags;
    const lo = rows.tscLo;
    const hi = rows.tscHi;
    for (let r = from; r < n; r++) {
      if ((flags[r]! & BORROWED) !== 0) {
        if (lane.pendingBorrow < 0) lane.pendingBorrow = r;
      } else if (lane.pendingBorrow >= 0) {
        // Rows after a dropped wrap record that had a TSC inherit it, but they wait, like the stream
        // merge's queues, for a record with a TSC of its own.
        if (rows.header[r]! >>> 31 === 0) continue;
        for (let b = lane.pendingBorrow; b < r; b++) {
          lo[b] = lo[r]!;
          hi[b] = hi[r]!;
        }
        lane.pendingBorrow = -1;
      } else {
        break; // only the first rows of a pCPU can borrow
      }
    }
    if (!this.#baseSet) {
      const end = lane.readyEnd;
      for (let r = from; r < end; r++) {
        if ((flags[r]! & BORROWED) !== 0) continue; // settled without a TSC: no base
        this.#baseHi = hi[r]!;
        this.#baseLo = lo[r]!;
        this.#baseSet = true;
        this.#rekey = this.#heads.count > 0;
        break;
      }
    }
  }

  /** Rows still waiting to borrow a TSC keep TSC 0, so they come before every record with one. */
  #settleBorrowed(lane: PcpuLane): void {
    lane.pendingBorrow = -1;
  }

  #reportTruncated(lane: PcpuLane, body: number): void {
    const windowAt = lane.offsets[lane.window]!;
    const missing = body - lane.read;
    this.#diagnostics.report(
      'truncated_window',
      { pcpu: lane.pcpu, offset: windowAt },
      () =>
        `input ends ${missing} bytes short of the end of pCPU ${lane.pcpu}'s ${body}-byte window at ${formatOffset(windowAt)}`,
    );
  }
}
