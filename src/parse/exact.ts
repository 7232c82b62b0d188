// SPDX-License-Identifier: MIT
/**
 * The exact merge of a seekable input: each pCPU's windows are read in pieces, and their records decoded
 * straight into the output in (TSC, file offset) order, with bounded memory.
 * @module
 */
import { CPU_CHANGE_HEADER, EVENT_MASK, SAFE_HIGH_WORD, TRC_TRACE_WRAP_BUFFER, createRecordBatch, recordBytesOf, tscDelta } from '../core/batch.js';
import type { RecordBatch } from '../core/batch.js';
import { formatOffset } from '../core/diagnostics.js';
import type { Diagnostics } from '../core/diagnostics.js';
import { HeadOrder, LINEAR_REORDER_MAX } from './heads.js';
import { ReadCache } from './read-cache.js';
import type { ReadAt } from './read-cache.js';
import {
  MAX_WAITING_FOR_TSC,
  PcpuTscState,
  STOP_BOUND,
  STOP_CROSSES_END,
  STOP_HEADER_INSIDE,
  STOP_NEEDS_TSC,
  TRACE_OWN_EVENTS,
  TRACE_OWN_MASK,
  WindowCursor,
  decodeWindowRecords,
  windowHeaderAt,
  reportCrossesWindow,
} from './records.js';
import type { PcpuWindows } from './window-index.js';

/**
 * One pCPU's windows for the exact merge: the window index's, or a part of them that starts or ends
 * inside a window (a slice of the merge, see `slices.ts`).
 */
export interface LaneWindows extends PcpuWindows {
  /**
   * Bytes of the first window's records before the lane's first record (0 when the lane starts at a
   * window's start). A window's `length` may likewise end before the window does.
   */
  readonly firstSkip?: number;
  /** The pCPU's last TSC before the lane's first record, as [hi, lo], when some records came before it. */
  readonly resumeTsc?: readonly [number, number];
  /**
   * A part of a pCPU's windows, merged as a slice: the record bytes of all its windows, and of those after
   * this part. The lane's memory, and when records waiting for a first TSC stop waiting, then follow the
   * whole pCPU, as in one merge of every window.
   */
  readonly pcpuBytes?: number;
  readonly bytesAfter?: number;
}

/** Memory that merges run one after another reuse: the arena, and the read cache's copies of shared memory. */
export interface MergeScratch {
  arena?: Uint32Array;
  blocks?: Uint8Array[];
}

/** Options of {@link mergeExact}. */
export interface ExactMergeOptions {
  /** Receives batches in global order. BORROWED: valid only during the call. */
  readonly onBatch: (batch: RecordBatch) => void;
  readonly diagnostics: Diagnostics;
  /** Rows per emitted batch. Default 8192. */
  readonly batchSize?: number;
  /** Called after each read; when it returns a promise, reading waits for it. */
  readonly backpressure?: (() => Promise<void> | undefined) | undefined;
  /**
   * Payload indices count words from this file offset, in a block of the input that the caller reads
   * (`words` is left empty), instead of pointing into the merge's own buffer. Rows then outlive the
   * merge's reads, so batches are handed out only when full and at the end, each a new one that the
   * receiver owns. What a slice merged for another thread needs (see `slices.ts`).
   */
  readonly payloadFrom?: number;
  /**
   * Memory kept from one merge to the next (a slice's merges, one after another): the arena is taken
   * from here when it is large enough, and left here. Megabytes each time otherwise.
   */
  readonly scratch?: MergeScratch;
  /** pCPUs of the whole trace, when this merge is a slice of it: how much each pCPU reads at a time follows it. */
  readonly pcpuCount?: number;
  /**
   * The TSC merge keys are measured from, as [hi, lo], instead of the first one met: a slice's cut TSC,
   * so that a corrupt TSC far from the rest at a slice's start does not blur the order after it.
   */
  readonly baseTsc?: readonly [number, number];
  /** With `payloadFrom`: a batch to write the first rows into (its columns are reused; `batchSize` at most its room). */
  readonly output?: RecordBatch;
  /**
   * The merge stops before the first record, in merge order, whose TSC is not below this one, as [hi, lo]
   * (a slice's end: see `slices.ts`). Checked by merge key once per run of records, where a pass over
   * the rows cost about a nanosecond per row; row by row only when the end is 2^53 cycles or more from
   * the merge's base, where keys round.
   */
  readonly endTsc?: readonly [number, number];
}

/** Thrown out of a merge whose rows reached its end TSC, checked row by row (see `#flushOut`). */
const PAST_END = Symbol('past the end TSC');

/** How many of a batch's first rows have a TSC below `end` (they are in TSC order up to the first that does not). */
function rowsBelow(batch: RecordBatch, end: readonly [number, number]): number {
  const [endHi, endLo] = end;
  const { tscHi, tscLo } = batch;
  for (let i = 0; i < batch.length; i++) {
    const hi = tscHi[i]!;
    if (hi > endHi || (hi === endHi && tscLo[i]! >= endLo)) return i;
  }
  return batch.length;
}

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

/** What {@link ExactMerger} learns of a lane's next record. */
const READY = 0;
/** The lane's next record is not read yet. */
const STARVING = 1;
/** The lane has nothing more. */
const FINISHED = 2;

/**
 * One pCPU of the exact merge. Its windows' records (their 12-byte headers left out) are copied into the
 * lane's region of the arena that all lanes share, window after window. They are decoded only when the
 * merge takes them: the record loop writes a run of this pCPU's records straight into the merged output
 * and stops before the first one that another pCPU's head precedes. Payload words stay in the arena.
 */
class PcpuLane {
  readonly pcpu: number;
  readonly offsets: readonly number[];
  readonly lengths: readonly number[];
  /** Next window to read, and the bytes of its records read so far. */
  readWindow = 0;
  readInWindow = 0;
  /** Bytes of records (of all its windows) the lane has still to read. */
  unread: number;
  /** Bytes of the pCPU's records after the lane's windows (see {@link LaneWindows.bytesAfter}). */
  readonly bytesAfter: number;
  /** No more windows to read. */
  doneReading = false;
  readonly tsc = new PcpuTscState();
  /** `w`: the next record to decode (the lane's head once the merge has keyed it). */
  readonly cursor = new WindowCursor();
  /**
   * Windows read into the arena and not yet decoded to their end, from `queueHead` on: where each ends
   * in the arena and the file offset of its arena word 0 (a record's offset is `base + 4 × word`). They
   * lie back to back; the first is the one `cursor` is in.
   */
  readonly queueEnd: number[] = [];
  readonly queueBase: number[] = [];
  /** Index of each queued window in `offsets`. */
  readonly queueWindow: number[] = [];
  queueHead = 0;
  /** The lane's words of the arena: [regionStart, regionEnd); data up to `fill`. */
  readonly regionStart: number;
  readonly regionEnd: number;
  fill: number;
  /** Index of the lane in the merger (its slot in the head arrays). */
  readonly slot: number;
  /** Whether the lane is in the merger's order of heads. */
  active = false;

  /** Bytes of the first window's records that the lane leaves out (see {@link LaneWindows.firstSkip}). */
  readonly firstSkip: number;

  constructor(slot: number, windows: LaneWindows, recordBytes: number, regionStart: number, regionEnd: number) {
    this.slot = slot;
    this.pcpu = windows.pcpu;
    this.offsets = windows.offsets;
    this.lengths = windows.lengths;
    this.firstSkip = windows.firstSkip ?? 0;
    this.readInWindow = this.firstSkip;
    this.unread = recordBytes - this.firstSkip;
    this.bytesAfter = windows.bytesAfter ?? 0;
    this.regionStart = regionStart;
    this.regionEnd = regionEnd;
    this.fill = regionStart;
    this.cursor.w = regionStart;
    this.cursor.first = this.firstSkip === 0;
    this.tsc.waitFrom = regionStart; // records without a TSC at the pCPU's start wait to borrow one
    if (windows.resumeTsc !== undefined) {
      // A lane that starts after some of its pCPU's records: it goes on from their last TSC.
      this.tsc.seen = true;
      this.tsc.lastHi = windows.resumeTsc[0];
      this.tsc.lastLo = windows.resumeTsc[1];
    }
  }

  /** File offset of the record at the cursor. */
  get headOffset(): number {
    return this.queueBase[this.queueHead]! + this.cursor.w * 4;
  }
}

/**
 * Merges the records of a seekable input in (TSC, file offset) order, reading each pCPU's windows from
 * the window index. Memory: an arena of twice the per-refill read per pCPU (at most that pCPU's record
 * bytes), and one output batch. Resolves to false when it stopped at {@link ExactMergeOptions.endTsc}.
 */
export async function mergeExact(
  pcpus: readonly LaneWindows[],
  size: number,
  readAt: ReadAt,
  options: ExactMergeOptions,
): Promise<boolean> {
  const merger = new ExactMerger(pcpus, size, readAt, options);
  await merger.run();
  return !merger.pastEnd;
}

class ExactMerger {
  readonly #onBatch: (batch: RecordBatch) => void;
  readonly #diagnostics: Diagnostics;
  readonly #backpressure: (() => Promise<void> | undefined) | undefined;
  readonly #batchSize: number;
  #out: RecordBatch;
  /** See {@link ExactMergeOptions.payloadFrom}; undefined: rows point into the arena. */
  readonly #payloadFrom: number | undefined;
  readonly #cache: ReadCache;
  readonly #readBytes: number;
  readonly #arena: Uint32Array;
  readonly #arenaBytes: Uint8Array;
  readonly #lanes: PcpuLane[] = [];
  /** The lanes with a keyed head, by slot (a lane's index), in the order of their heads. */
  readonly #heads: HeadOrder;
  /**
   * Merge keys are TSCs minus this base (the first TSC met), as doubles: exact while the trace spans
   * under 2^53 cycles (40 days at 2.6 GHz), however large the TSCs. Every lane's cursor holds it.
   */
  #baseSet = false;
  #baseHi = 0;
  #baseLo = 0;
  /**
   * {@link ExactMergeOptions.endTsc} as a merge key once the base is set (Infinity: no end, no base yet,
   * or an end too far from the base to key exactly: then `#endRows` holds it, and each batch's rows are
   * checked).
   */
  readonly #endTsc: readonly [number, number] | undefined;
  #endKey = Infinity;
  #endRows: readonly [number, number] | undefined;
  /** Whether the merge stopped at the end TSC. */
  pastEnd = false;
  /**
   * The run loop's state of each lane in its heads, by slot (see {@link #mirror}): the next record's
   * word, the last word the loop may read (−1: the lane's records go through the full loop), the file
   * offset of arena word 0 of the window, what makes a payload index of a word, the pCPU's last TSC.
   */
  readonly #runW: Int32Array;
  readonly #runLimit: Int32Array;
  readonly #runFileBase: Float64Array;
  readonly #runPayloadShift: Float64Array;
  readonly #runLastLo: Uint32Array;
  readonly #runLastHi: Uint32Array;
  readonly #runPcpu: Uint32Array;

  constructor(pcpus: readonly LaneWindows[], size: number, readAt: ReadAt, options: ExactMergeOptions) {
    this.#onBatch = options.onBatch;
    this.#diagnostics = options.diagnostics;
    this.#backpressure = options.backpressure;
    this.#batchSize = Math.min(options.batchSize ?? 8192, options.output?.header.length ?? Infinity);
    this.#cache = new ReadCache(readAt, size, undefined, undefined, options.scratch === undefined ? undefined : (options.scratch.blocks ??= []));
    this.#readBytes = readBytesPerRefill(options.pcpuCount ?? pcpus.length);
    // A lane's region: room for one read plus as much again (records waiting for a TSC, the carry of a
    // cut record), or for all of its records when that is less, so that pCPUs with little data cost little.
    const recordBytes = pcpus.map((windows) => windows.lengths.reduce((sum, length) => sum + length - WINDOW_HEADER_BYTES, 0));
    const regionWords = recordBytes.map((bytes, i) => Math.min(2 * this.#readBytes, (pcpus[i]!.pcpuBytes ?? bytes) + 64) >>> 2);
    const arenaWords = Math.max(1, regionWords.reduce((sum, words) => sum + words, 0));
    const spare = options.scratch?.arena;
    this.#arena = spare !== undefined && spare.length >= arenaWords ? spare : new Uint32Array(arenaWords);
    if (options.scratch !== undefined) options.scratch.arena = this.#arena;
    this.#arenaBytes = new Uint8Array(this.#arena.buffer);
    let regionStart = 0;
    pcpus.forEach((windows, i) => {
      this.#lanes.push(new PcpuLane(i, windows, recordBytes[i]!, regionStart, regionStart + regionWords[i]!));
      regionStart += regionWords[i]!;
    });
    const slots = Math.max(1, pcpus.length);
    this.#runW = new Int32Array(slots);
    this.#runLimit = new Int32Array(slots);
    this.#runFileBase = new Float64Array(slots);
    this.#runPayloadShift = new Float64Array(slots);
    this.#runLastLo = new Uint32Array(slots);
    this.#runLastHi = new Uint32Array(slots);
    this.#runPcpu = Uint32Array.from(pcpus, (windows) => windows.pcpu);
    this.#endTsc = options.endTsc;
    if (options.baseTsc !== undefined) {
      this.#baseSet = true;
      [this.#baseHi, this.#baseLo] = options.baseTsc;
      this.#keyEnd();
      for (const lane of this.#lanes) [lane.cursor.baseHi, lane.cursor.baseLo] = options.baseTsc;
    }
    this.#heads = new HeadOrder(pcpus.length);
    this.#payloadFrom = options.payloadFrom;
    this.#out = (this.#payloadFrom === undefined ? undefined : options.output) ?? createRecordBatch(this.#batchSize, 0);
    this.#out.length = 0;
    this.#out.flags.fill(0);
    if (this.#payloadFrom === undefined) this.#out.words = this.#arena;
  }

  async run(): Promise<void> {
    try {
      await this.#merge();
    } catch (error) {
      // A batch's rows reached the end TSC (see #flushOut): the merge stops there.
      if (error !== PAST_END) throw error;
    } finally {
      this.#cache.release();
    }
  }

  async #merge(): Promise<void> {
    for (const lane of this.#lanes) await this.#refill(lane);
    for (;;) {
      const starving = this.#emit();
      if (starving === null) continue; // a new output batch: #emit takes up its columns
      if (starving === undefined) break;
      await this.#refill(starving);
      await this.#backpressure?.();
    }
  }

  /**
   * Emits while every unfinished lane has its next record read; returns the lane that needs reading, or
   * undefined when everything was emitted. The output is flushed first: its rows point into the arena.
   */
  #emit(): PcpuLane | undefined | null {
    const heads = this.#heads;
    for (const lane of this.#lanes) {
      if (lane.active) continue;
      const state = this.#prepare(lane);
      if (state === READY) {
        if (!this.#baseSet) this.#takeBase(lane);
        heads.insert(lane.slot, lane.cursor.key, lane.headOffset);
        lane.active = true;
        this.#mirror(lane);
      } else if (state === STARVING) {
        this.#flushBeforeRead();
        return lane;
      }
    }
    const lanes = this.#lanes;
    const out = this.#out;
    const arena = this.#arena;
    const batchSize = this.#batchSize;
    // Columns and the run state in locals: the run loop touches typed arrays only.
    const { pcpu: outPcpu, header: outHeader, tscLo: outLo, tscHi: outHi } = out;
    const { fileOffset: outOffset, payloadIndex: outPayload } = out;
    const runW = this.#runW;
    const runLimit = this.#runLimit;
    const runFileBase = this.#runFileBase;
    const runPayloadShift = this.#runPayloadShift;
    const runLastLo = this.#runLastLo;
    const runLastHi = this.#runLastHi;
    const runPcpu = this.#runPcpu;
    const { key: headKey, offset: headOffset, order } = heads;
    let baseHi = this.#baseHi;
    let baseLo = this.#baseLo;
    // Imported constants in locals too: read in the loop, each cost a load and a check per record.
    const ownMask = TRACE_OWN_MASK;
    const ownEvents = TRACE_OWN_EVENTS;
    let endKey = this.#endKey;
    while (heads.count > 0) {
      // The first slot in the order has the smallest head; the runner-up's head ends its run, which is
      // decoded straight into the output. So does the end key: the first head at or past it ends the merge.
      const count = heads.count;
      const slot = order[0]!;
      if (headKey[slot]! >= endKey) {
        this.pastEnd = true;
        break;
      }
      let boundKey = Infinity;
      let boundOffset = Infinity;
      if (count > 1) {
        const second = order[1]!;
        boundKey = headKey[second]!;
        boundOffset = headOffset[second]!;
      }
      if (endKey <= boundKey) {
        boundKey = endKey;
        boundOffset = -Infinity;
      }
      // The common case, written out here rather than called: most runs are one or two records. It takes
      // what decodeWindowRecords would give the same flags (0) for: records with a TSC of their own, not
      // before their pCPU's previous one, not the trace class's own, not a window's first (a lane whose
      // next record may be one has a limit of −1). Anything else goes to decodeWindowRecords, in #decodeRun.
      const limit = runLimit[slot]!;
      const fileBase = runFileBase[slot]!;
      const payloadShift = runPayloadShift[slot]!;
      const pcpu = runPcpu[slot]!;
      let w = runW[slot]!;
      let n = out.length;
      let lastLo = runLastLo[slot]!;
      let lastHi = runLastHi[slot]!;
      let nextKey = NaN;
      while (n < batchSize) {
        const header = arena[w]!;
        const size = 3 + ((header >>> 28) & 7);
        // A CPU_CHANGE header has no TSC bit: damage inside a window goes to the full loop too.
        if (header >>> 31 === 0 || (header & ownMask) === ownEvents || w + size > limit) break;
        const lo = arena[w + 1]!;
        const hi = arena[w + 2]!;
        if (hi < lastHi || (hi === lastHi && lo < lastLo)) break;
        const offset = fileBase + w * 4;
        // tscDelta, written out: an imported function is loaded and checked at each call.
        const key = (hi - baseHi) * 4294967296 + (lo - baseLo);
        if (key > boundKey || (key === boundKey && offset >= boundOffset)) {
          nextKey = key;
          break;
        }
        outPcpu[n] = pcpu;
        outHeader[n] = header;
        outLo[n] = lo;
        outHi[n] = hi;
        // No flags: they are 0 in the output until written (see #flushOut), and one store less per record
        // is 2-3% of the merge on bench-large.
        outPayload[n] = w + payloadShift;
        outOffset[n] = offset;
        lastLo = lo;
        lastHi = hi;
        n++;
        w += size;
      }
      runW[slot] = w;
      runLastLo[slot] = lastLo;
      runLastHi[slot] = lastHi;
      out.length = n;
      if (nextKey === nextKey) {
        // Stopped by the runner-up (NaN otherwise): the next record is this lane's new head, moved back
        // to its place (HeadOrder.firstMoved written out: the call measured 2-5% slower on bench-large).
        const offset = fileBase + w * 4;
        headKey[slot] = nextKey;
        headOffset[slot] = offset;
        if (count <= LINEAR_REORDER_MAX) {
          let i = 0;
          for (; i + 1 < count; i++) {
            const other = order[i + 1]!;
            const k = headKey[other]!;
            if (k > nextKey || (k === nextKey && headOffset[other]! > offset)) break;
            order[i] = other;
          }
          order[i] = slot;
        } else {
          heads.firstMoved(nextKey, offset);
        }
        continue;
      }
      const q = lanes[slot]!;
      q.cursor.w = w;
      q.tsc.lastLo = lastLo;
      q.tsc.lastHi = lastHi;
      if (this.#decodeRun(q, boundKey, boundOffset) === STARVING) return q;
      if (this.#out !== out) return null;
      baseHi = this.#baseHi;
      baseLo = this.#baseLo;
      endKey = this.#endKey;
    }
    this.#flushOut(true);
    return undefined;
  }

  /**
   * Copies a lane's state to the run loop's arrays (after anything but the run loop moved it). The loop
   * reads them rather than the lane's objects: loading a dozen object fields per run, for runs of two
   * records on average, cost about 6% of the merge (480–490 → 450–464 ms on bench-large).
   */
  #mirror(lane: PcpuLane): void {
    const slot = lane.slot;
    const at = lane.queueHead;
    const fast = lane.tsc.seen && !lane.cursor.first && this.#baseSet && at < lane.queueEnd.length;
    this.#runW[slot] = lane.cursor.w;
    this.#runLastLo[slot] = lane.tsc.lastLo;
    this.#runLastHi[slot] = lane.tsc.lastHi;
    // −1: every record stops the run loop at once, and goes through the full loop.
    this.#runLimit[slot] = fast ? Math.min(lane.queueEnd[at]!, lane.fill) : -1;
    const fileBase = fast ? lane.queueBase[at]! : 0;
    this.#runFileBase[slot] = fileBase;
    this.#runPayloadShift[slot] = this.#payloadFrom === undefined ? 3 : 3 + (fileBase - this.#payloadFrom) / 4;
  }

  /**
   * The first lane's run through the full record loop (anything the short path in #emit leaves), then
   * its next head: READY (moved to its place), STARVING (out of the order, output flushed) or FINISHED.
   * Kept out of #emit, and large enough that the compiler does not inline it there: #emit's budget for
   * inlining goes to what runs for every run (HeadOrder's getters and firstMoved). When this method
   * once shrank by a line and was inlined, the getters were not, and the merge went from 0.49 to 0.57 s
   * on bench-large.
   */
  #decodeRun(q: PcpuLane, boundKey: number, boundOffset: number): number {
    const heads = this.#heads;
    const batchSize = this.#batchSize;
    const cursor = q.cursor;
    const at = q.queueHead;
    cursor.boundKey = boundKey;
    cursor.boundOffset = boundOffset;
    if (this.#out.length === batchSize) this.#flushOut();
    const out = this.#out; // after the flush: with payloadFrom, that hands out the batch and starts a new one
    const first = out.length;
    cursor.n = first;
    cursor.payloadBase = this.#payloadFrom === undefined ? 0 : (q.queueBase[at]! - this.#payloadFrom) / 4;
    // A record is a word at least, so the rows left in the output bound the words decoded; and never
    // fewer words than the next record has, so that it is always decoded.
    const headWords = recordBytesOf(this.#arena[cursor.w]!) >>> 2;
    const wordsEnd = Math.min(q.fill, cursor.w + Math.max(batchSize - first, headWords));
    decodeWindowRecords(this.#arena, wordsEnd, q.queueEnd[at]!, q.pcpu, q.tsc, cursor, out, q.queueBase[at]!, true, this.#diagnostics);
    out.pcpu.fill(q.pcpu, first, cursor.n);
    out.length = cursor.n;
    if (cursor.n === batchSize) this.#flushOut();
    const state = cursor.stop === STOP_BOUND ? READY : this.#prepare(q);
    if (state === READY) {
      if (this.#baseSet) {
        heads.firstMoved(cursor.key, q.headOffset);
      } else {
        heads.removeFirst();
        this.#takeBase(q);
        heads.insert(q.slot, cursor.key, q.headOffset);
      }
      this.#mirror(q);
    } else {
      heads.removeFirst();
      q.active = false;
      if (state === STARVING) this.#flushBeforeRead();
    }
    return state;
  }

  /**
   * Brings the lane's cursor to its next record, keyed (READY), handling what lies before it: window
   * ends, damage, the wait for a first TSC. STARVING: that record is not read yet.
   */
  #prepare(lane: PcpuLane): number {
    const cursor = lane.cursor;
    // The bound −Infinity stops the record loop at the first record it would write, which it keys.
    cursor.boundKey = -Infinity;
    cursor.boundOffset = -Infinity;
    cursor.n = this.#out.length;
    for (;;) {
      const at = lane.queueHead;
      if (at >= lane.queueEnd.length) return lane.doneReading ? FINISHED : STARVING;
      const windowEnd = lane.queueEnd[at]!;
      const fileBase = lane.queueBase[at]!;
      cursor.payloadBase = this.#payloadFrom === undefined ? 0 : (fileBase - this.#payloadFrom) / 4;
      decodeWindowRecords(this.#arena, lane.fill, windowEnd, lane.pcpu, lane.tsc, cursor, this.#out, fileBase, true, this.#diagnostics);
      switch (cursor.stop) {
        case STOP_BOUND:
          return READY;
        case STOP_HEADER_INSIDE: {
          // The window chain is intact (the index walked it), so the window's size was right and this is
          // damage inside it: skip the look-alike header and go on with the window's records.
          const offset = fileBase + cursor.w * 4;
          const windowAt = lane.offsets[lane.queueWindow[at]!]!;
          this.#diagnostics.report(
            'window_cut_short',
            { pcpu: lane.pcpu, offset },
            () =>
              `pCPU ${lane.pcpu}'s window at ${formatOffset(windowAt)} holds a CPU_CHANGE header at ${formatOffset(offset)} although the next window starts where its size says; skipped that header`,
          );
          cursor.w += 3;
          continue;
        }
        case STOP_CROSSES_END:
          reportCrossesWindow(this.#diagnostics, lane.pcpu, fileBase + cursor.w * 4, this.#arena[cursor.w]!, (windowEnd - cursor.w) * 4);
          if (windowEnd <= lane.fill) {
            cursor.w = windowEnd;
          } else {
            // The rest of the window is not read: the input ended inside it (reported when read), or it
            // is the window being read, whose rest is then not read at all.
            cursor.w = lane.fill;
            lane.queueEnd[at] = lane.fill;
            if (!lane.doneReading) {
              const body = lane.lengths[lane.readWindow]! - WINDOW_HEADER_BYTES;
              lane.unread -= body - lane.readInWindow;
              lane.readWindow++;
              lane.readInWindow = 0;
              lane.doneReading = lane.readWindow >= lane.offsets.length;
            }
          }
          continue;
        case STOP_NEEDS_TSC:
          if (this.#lookAhead(lane) === STARVING) return STARVING;
          continue;
        default:
          // The window's next record is not read yet, unless the input ended inside the window (reported
          // when read, with the record it cut).
          if (cursor.w < windowEnd && !lane.doneReading) return STARVING;
          lane.queueHead++;
          cursor.first = true;
      }
    }
  }

  /**
   * The lane's next record has no TSC and its pCPU had none yet: finds the first record with a TSC of
   * its own in what is read (a dropped wrap record's does not count), whose TSC the waiting records
   * borrow. STARVING when more must be read to find it; when the lane can read no more, or too many
   * records wait, they keep TSC 0 and stop waiting.
   */
  #lookAhead(lane: PcpuLane): number {
    const arena = this.#arena;
    const tsc = lane.tsc;
    const fill = lane.fill;
    let w = lane.cursor.w;
    let waiting = 0;
    search: for (let at = lane.queueHead; at < lane.queueEnd.length; at++) {
      const windowEnd = lane.queueEnd[at]!;
      const limit = Math.min(windowEnd, fill);
      while (w < limit) {
        const header = arena[w]!;
        if (header === CPU_CHANGE_HEADER && windowHeaderAt(arena, w, fill)) {
          w += 3; // a look-alike the record loop skips (and reports) when it gets there
          continue;
        }
        const size = recordBytesOf(header) >>> 2;
        if (w + size > limit) {
          // A record running past its window: the record loop skips the rest of the window. Otherwise,
          // or when the window is not read to its end yet, this is the end of what is read.
          if (w + size > windowEnd && windowEnd <= fill) w = windowEnd;
          break;
        }
        if (header >>> 31 !== 0 && (header & EVENT_MASK) !== TRC_TRACE_WRAP_BUFFER) {
          tsc.borrowEnd = w;
          tsc.borrowLo = tsc.lastLo = arena[w + 1]!;
          tsc.borrowHi = tsc.lastHi = arena[w + 2]!;
          return READY;
        }
        w += size;
        waiting++;
      }
      if (w < windowEnd) break search;
    }
    const room = (lane.regionEnd - fill) * 4 >= Math.min(this.#readBytes, lane.unread + lane.bytesAfter);
    if (waiting <= MAX_WAITING_FOR_TSC && !lane.doneReading && room) return STARVING;
    // A pCPU whose records never carry a TSC (a handler-only capture): stop waiting, keep memory bounded.
    tsc.waitFrom = Math.max(w, lane.cursor.w + 1);
    return READY;
  }

  /** Sets the merge's base from the lane's keyed head when that has a TSC, and keys every head again. */
  #takeBase(lane: PcpuLane): void {
    const cursor = lane.cursor;
    const tsc = lane.tsc;
    // A record that keeps TSC 0 for want of one gives no base (a TSC that is 0 does).
    if (this.#arena[cursor.w]! >>> 31 === 0 && !tsc.seen && cursor.w >= tsc.borrowEnd) return;
    this.#baseSet = true;
    const baseHi = cursor.keyHi;
    const baseLo = cursor.keyLo;
    this.#baseHi = baseHi;
    this.#baseLo = baseLo;
    this.#keyEnd();
    for (const other of this.#lanes) {
      const c = other.cursor;
      c.baseHi = baseHi;
      c.baseLo = baseLo;
      c.key = tscDelta(c.keyHi, c.keyLo, baseHi, baseLo);
    }
    // Heads keyed before the base (records keeping TSC 0) are keyed again.
    this.#heads.rekey((slot) => this.#lanes[slot]!.cursor.key);
    // The run loop takes lanes only once the base is set.
    for (const other of this.#lanes) if (other.active) this.#mirror(other);
  }

  /**
   * Keys the end TSC from the base. Before there is a base, only records keeping TSC 0 for want of one
   * are merged, and no end is below that.
   */
  #keyEnd(): void {
    const end = this.#endTsc;
    if (end === undefined) return;
    // Keys are exact within 2^53 cycles of the base; a record's key that rounds lies far beyond the end
    // either way, so comparing keys then agrees with comparing TSCs.
    if (Math.abs(end[0] - this.#baseHi) < SAFE_HIGH_WORD - 1) {
      this.#endKey = tscDelta(end[0], end[1], this.#baseHi, this.#baseLo);
    } else {
      this.#endRows = end;
    }
  }

  /** Hands the output out; `last`: the merge is done. */
  #flushOut(last = false): void {
    const out = this.#out;
    let pastEnd = false;
    if (this.#endRows !== undefined) {
      const below = rowsBelow(out, this.#endRows);
      pastEnd = below < out.length;
      out.length = below;
    }
    if (out.length > 0) this.#onBatch(out);
    if (pastEnd) {
      this.pastEnd = true;
      throw PAST_END;
    }
    if (out.length === 0) return;
    if (this.#payloadFrom === undefined) {
      out.length = 0;
      // The run loop leaves flags unwritten (0): clear what the full loop wrote, or the receiver.
      out.flags.fill(0);
    } else if (!last) {
      // The receiver keeps the batch.
      this.#out = createRecordBatch(this.#batchSize, 0);
    }
  }

  /** Hands the output out before a read overwrites the arena its rows point into (unless they do not). */
  #flushBeforeRead(): void {
    if (this.#payloadFrom === undefined) this.#flushOut();
  }

  /** Reads the lane's next piece (the output is flushed: nothing points into its region). */
  async #refill(lane: PcpuLane): Promise<void> {
    this.#compact(lane);
    let budget = Math.min(this.#readBytes, (lane.regionEnd - lane.fill) * 4);
    const { offsets, lengths } = lane;
    while (budget > 0 && lane.readWindow < offsets.length) {
      const body = lengths[lane.readWindow]! - WINDOW_HEADER_BYTES;
      const bodyAt = offsets[lane.readWindow]! + WINDOW_HEADER_BYTES;
      const skip = lane.readWindow === 0 ? lane.firstSkip : 0;
      if (lane.readInWindow === skip) {
        lane.queueEnd.push(lane.fill + ((body - skip) >>> 2));
        lane.queueBase.push(bodyAt + skip - lane.fill * 4);
        lane.queueWindow.push(lane.readWindow);
      }
      if (lane.readInWindow < body) {
        const at = bodyAt + lane.readInWindow;
        const want = Math.min(budget, body - lane.readInWindow);
        // No await (a promise per window) when the block is already there.
        const bytes = this.#cache.cached(at, want) ?? (await this.#cache.read(at, want));
        const whole = bytes.length & ~3;
        if (whole === 0) {
          // The input ended before its index said (a file that shrank): the pCPU ends here.
          this.#reportTruncated(lane, body);
          lane.readWindow = offsets.length;
          break;
        }
        this.#arenaBytes.set(whole === bytes.length ? bytes : bytes.subarray(0, whole), lane.fill * 4);
        lane.fill += whole >>> 2;
        lane.readInWindow += whole;
        lane.unread -= whole;
        budget -= whole;
      }
      if (lane.readInWindow >= body) {
        lane.readWindow++;
        lane.readInWindow = 0;
      }
    }
    lane.doneReading = lane.readWindow >= offsets.length;
  }

  /** Moves the lane's words from its cursor on (the words before it are emitted) to the front of its region. */
  #compact(lane: PcpuLane): void {
    const cursor = lane.cursor;
    const keepFrom = cursor.w;
    const shift = keepFrom - lane.regionStart;
    lane.queueEnd.splice(0, lane.queueHead);
    lane.queueBase.splice(0, lane.queueHead);
    lane.queueWindow.splice(0, lane.queueHead);
    lane.queueHead = 0;
    if (shift <= 0) return;
    this.#arena.copyWithin(lane.regionStart, keepFrom, lane.fill);
    lane.fill -= shift;
    cursor.w -= shift;
    for (let i = 0; i < lane.queueEnd.length; i++) {
      lane.queueEnd[i]! -= shift;
      lane.queueBase[i]! += shift * 4;
    }
    const tsc = lane.tsc;
    tsc.borrowEnd -= shift;
    tsc.waitFrom -= shift;
  }

  #reportTruncated(lane: PcpuLane, body: number): void {
    const windowAt = lane.offsets[lane.readWindow]!;
    const missing = body - lane.readInWindow;
    this.#diagnostics.report(
      'truncated_window',
      { pcpu: lane.pcpu, offset: windowAt },
      () =>
        `input ends ${missing} bytes short of the end of pCPU ${lane.pcpu}'s ${body}-byte window at ${formatOffset(windowAt)}`,
    );
  }
}
