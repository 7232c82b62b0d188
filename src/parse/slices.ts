// SPDX-License-Identifier: MIT
/**
 * The exact merge in slices: cut at TSCs into parts that helper threads merge side by side, handed out
 * one after another, giving the rows one merge would give.
 *
 * Why the rows are the same: if every record before a cut has a TSC below the cut's TSC `T`, and each
 * pCPU's first record after the cut has one of at least `T`, then one merge emits every record before the
 * cut first (while any is a head, the smallest head is below `T`), in the order that merging those alone
 * gives. The planner makes sure of the second half when it chooses a cut; the first half is checked as
 * the slice is merged (its merge stops at the first record at or past `endTsc`), and a slice that fails
 * it is merged again together with the next one.
 * @module
 */
import { EVENT_MASK, TRC_TRACE_WRAP_BUFFER, copyRows, createRecordBatch, recordBytesOf } from '../core/batch.js';
import type { RecordBatch } from '../core/batch.js';
import { Diagnostics } from '../core/diagnostics.js';
import type { DiagnosticEvent } from '../core/diagnostics.js';
import { fromBlob, fromBytes } from '../core/io.js';
import type { SharedInput } from '../core/io.js';
import { mergeExact } from './exact.js';
import type { LaneWindows, MergeScratch } from './exact.js';
import { readFully } from './read-cache.js';
import type { ReadAt } from './read-cache.js';
import { TRACE_OWN_EVENTS, TRACE_OWN_MASK, windowHeaderAt } from './records.js';
import type { PcpuWindows, WindowIndex } from './window-index.js';

/** A TSC as its two 32-bit words, [hi, lo]. */
export type TscWords = readonly [number, number];

/** One slice of an exact merge: the part of each pCPU's records it holds. */
export interface MergeSlice {
  /** The pCPUs with records in the slice (windows cut where the slice starts and ends). */
  readonly lanes: LaneWindows[];
  /** pCPUs in the whole trace. */
  readonly pcpuCount: number;
  /** The TSC of the cut the slice starts at (absent for the first): its merge keys are measured from it. */
  readonly startTsc?: TscWords;
  /** Every record of the slice must have a TSC below this one (the next slice's cut); absent for the last. */
  readonly endTsc?: TscWords;
}

/** What a helper thread needs to merge a slice: the slice, and the input to read it from. */
export interface SliceTask {
  readonly input: SharedInput;
  readonly size: number;
  readonly slice: MergeSlice;
}

/** A merged slice, whose owner is the receiver. */
export interface SliceResult {
  /** The slice's rows, in merge order; payload words packed in `rows.words`. */
  readonly rows: RecordBatch;
  /** Whether every row's TSC is below the slice's `endTsc` (if not, the slice is merged again with the next). */
  readonly belowEnd: boolean;
  /** The diagnostics of the slice, in the order they were reported. */
  readonly diagnostics: readonly DiagnosticEvent[];
  /** Milliseconds the merge took where it ran (sizes the next slices; the reply may take longer to be seen). */
  readonly elapsed?: number;
}

/**
 * Merges slices in another thread: a plain object, so that each platform brings its own (`xenspan/node`
 * has `createMergeWorkers`). A rejected promise is not an error of the run: the slice is merged in the
 * calling thread instead.
 */
export interface SliceMergeHelper {
  mergeSlice(task: SliceTask): Promise<SliceResult>;
  /**
   * The rows of a result this helper gave are handed out and no longer read: their columns may be
   * written again (a slice's columns are tens of MB, and new memory costs more than reused).
   */
  recycle?(rows: RecordBatch): void;
}

/** Reads bytes at an offset, at once or later. */
type ReadAnyAt = (offset: number, length: number) => Uint8Array | Promise<Uint8Array>;

/** Bytes of a window's header. */
const HEADER_BYTES = 12;
/** Records read at a window's start to find its first TSC. */
const FIRST_TSC_BYTES = 512;
/** Windows of a pCPU looked through for a TSC, or for a cut, before giving up a place to cut. */
const WALK_WINDOWS = 8;

/** Where one pCPU's records are cut: before the record `skip` bytes into window `window`'s records. */
interface LaneCut {
  /** Index of the window; the window count for a cut after the pCPU's last record. */
  readonly window: number;
  readonly skip: number;
  /** The pCPU's last TSC before the cut; undefined when none comes before it. */
  readonly lastTsc: TscWords | undefined;
}

/** A cut of the whole merge at a TSC: one {@link LaneCut} per pCPU, in the index's order. */
interface Cut {
  readonly tsc: TscWords;
  readonly lanes: readonly LaneCut[];
}

function below(hi: number, lo: number, than: TscWords): boolean {
  return hi < than[0] || (hi === than[0] && lo < than[1]);
}

/**
 * Words of the record at word `w` of a window's `words`; 0 where a CPU_CHANGE look-alike stands there
 * (damage) or the record runs past the words read.
 */
function recordWordsAt(words: Uint32Array, w: number): number {
  if (windowHeaderAt(words, w, words.length)) return 0;
  const size = recordBytesOf(words[w]!) >>> 2;
  return w + size > words.length ? 0 : size;
}

/** Words of `bytes` (a copy when they are not 4-byte aligned). */
function wordsOf(bytes: Uint8Array): Uint32Array {
  if ((bytes.byteOffset & 3) === 0) return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
  return new Uint32Array(bytes.slice(0, bytes.length & ~3).buffer);
}

/**
 * A cut of the merge near file offset `target`, after `previous`, at a TSC where the rule in the module's
 * comment holds for every pCPU; undefined where it cannot be made sure of (damage, records without TSC
 * at a pCPU's start, TSCs going backwards across the cut).
 */
async function cutAt(index: WindowIndex, target: number, previous: Cut | undefined, readAt: ReadAnyAt): Promise<Cut | undefined> {
  const tsc = await tscNear(index.pcpus, target, readAt);
  if (tsc === undefined) return undefined;
  if (previous !== undefined && !below(previous.tsc[0], previous.tsc[1], tsc)) return undefined;
  const lanes: LaneCut[] = [];
  for (const windows of index.pcpus) {
    const before = previous?.lanes[lanes.length];
    const cut = await laneCut(windows, tsc, readAt, lastAtOrBefore(windows.offsets, target));
    if (cut === undefined) return undefined;
    if (before !== undefined && (cut.window < before.window || (cut.window === before.window && cut.skip < before.skip))) return undefined;
    lanes.push(cut);
  }
  return { tsc, lanes };
}

/** The TSC of the first ordinary record with one in the window that holds file offset `target`. */
async function tscNear(pcpus: readonly PcpuWindows[], target: number, readAt: ReadAnyAt): Promise<TscWords | undefined> {
  let best: { windows: PcpuWindows; window: number } | undefined;
  for (const windows of pcpus) {
    const window = lastAtOrBefore(windows.offsets, target);
    if (window < 0) continue;
    if (best === undefined || windows.offsets[window]! > best.windows.offsets[best.window]!) best = { windows, window };
  }
  if (best === undefined) return undefined;
  const words = await bodyOf(best.windows, best.window, readAt);
  for (let w = 0, size = 0; w < words.length; w += size) {
    size = recordWordsAt(words, w);
    if (size === 0) return undefined;
    const header = words[w]!;
    if (header >>> 31 !== 0 && (header & TRACE_OWN_MASK) !== TRACE_OWN_EVENTS) return [words[w + 2]!, words[w + 1]!];
  }
  return undefined;
}

/** Index of the last offset not after `target` (offsets ascending); −1 if none. */
function lastAtOrBefore(offsets: readonly number[], target: number): number {
  let low = 0;
  let high = offsets.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (offsets[mid]! <= target) low = mid + 1;
    else high = mid;
  }
  return low - 1;
}

async function bodyOf(windows: PcpuWindows, window: number, readAt: ReadAnyAt, limit = Infinity): Promise<Uint32Array> {
  const length = Math.min(limit, windows.lengths[window]! - HEADER_BYTES);
  return wordsOf(await readAt(windows.offsets[window]! + HEADER_BYTES, length));
}

/**
 * The pCPU's first TSC from a window's start on that records without one could borrow (not a wrap
 * record's, which the merge drops): in the window's first bytes, else in all of it, else in the next
 * windows' (an empty window, say); undefined when none is found that way.
 */
async function firstTscOf(windows: PcpuWindows, window: number, readAt: ReadAnyAt): Promise<TscWords | undefined> {
  for (let at = window; at < windows.offsets.length && at < window + WALK_WINDOWS; at++) {
    const bodyBytes = windows.lengths[at]! - HEADER_BYTES;
    for (const limit of [FIRST_TSC_BYTES, Infinity]) {
      const words = await bodyOf(windows, at, readAt, limit);
      const whole = words.length * 4 >= bodyBytes;
      let w = 0;
      for (let size = 0; w < words.length; w += size) {
        size = recordWordsAt(words, w);
        if (size === 0) break;
        const header = words[w]!;
        if (header >>> 31 !== 0 && (header & EVENT_MASK) !== TRC_TRACE_WRAP_BUFFER) return [words[w + 2]!, words[w + 1]!];
      }
      // Damage (a look-alike, a record running past the window's end) means no cut near it; a record cut
      // by the first read is read whole.
      if (whole) {
        if (w < words.length) return undefined;
        break;
      }
    }
  }
  return undefined;
}

/**
 * The header word of a pCPU's first record (past windows without records) if one is near its start and
 * whole in its window (one that runs past it is damage, reported as soon as one merge starts).
 */
async function firstHeaderOf(windows: PcpuWindows, readAt: ReadAnyAt): Promise<number | undefined> {
  for (let at = 0; at < windows.offsets.length && at < WALK_WINDOWS; at++) {
    const words = await bodyOf(windows, at, readAt, 4);
    if (words.length === 0) continue;
    return recordBytesOf(words[0]!) <= windows.lengths[at]! - HEADER_BYTES ? words[0] : undefined;
  }
  return undefined;
}

/**
 * Index of the last of a pCPU's windows whose first TSC is below `tsc` (−1: none), found by galloping
 * from window `hint` either way, then halving: windows near the cut's file offset are near its TSC too,
 * so this takes a few reads, where a search of all the windows took about ten for each pCPU at each cut.
 * Undefined where a window on the way is damaged.
 */
export async function lastWindowBelow(windows: PcpuWindows, tsc: TscWords, readAt: ReadAnyAt, hint: number): Promise<number | undefined> {
  const count = windows.offsets.length;
  /** Whether window `at`'s first TSC is below `tsc`; undefined: damaged. */
  const starts = async (at: number): Promise<boolean | undefined> => {
    const first = await firstTscOf(windows, at, readAt);
    return first === undefined ? undefined : below(first[0], first[1], tsc);
  };
  if (count === 0) return -1;
  // The answer lies in [belowAt, aboveAt): window `belowAt` starts below the TSC (or is −1), `aboveAt`
  // does not (or is `count`).
  let belowAt = -1;
  let aboveAt = count;
  const start = Math.min(count - 1, Math.max(0, hint));
  const startsBelow = await starts(start);
  if (startsBelow === undefined) return undefined;
  if (startsBelow) {
    belowAt = start;
    for (let step = 1; belowAt + step < count; step *= 2) {
      const probe = await starts(belowAt + step);
      if (probe === undefined) return undefined;
      if (!probe) {
        aboveAt = belowAt + step;
        break;
      }
      belowAt += step;
    }
  } else {
    aboveAt = start;
    for (let step = 1; aboveAt - step >= 0; step *= 2) {
      const probe = await starts(aboveAt - step);
      if (probe === undefined) return undefined;
      if (probe) {
        belowAt = aboveAt - step;
        break;
      }
      aboveAt -= step;
    }
  }
  while (aboveAt - belowAt > 1) {
    const mid = (belowAt + aboveAt) >>> 1;
    const probe = await starts(mid);
    if (probe === undefined) return undefined;
    if (probe) belowAt = mid;
    else aboveAt = mid;
  }
  return belowAt;
}

/**
 * Where one pCPU is cut at `tsc`: before its first record with a TSC of at least `tsc`, found from the
 * last window whose first TSC is below it (searched from window `hint`). Undefined where the rule cannot
 * be made sure of.
 */
async function laneCut(windows: PcpuWindows, tsc: TscWords, readAt: ReadAnyAt, hint: number): Promise<LaneCut | undefined> {
  const count = windows.offsets.length;
  const from = await lastWindowBelow(windows, tsc, readAt, hint);
  if (from === undefined) return undefined;
  if (from < 0) {
    // No window starts below the TSC: the whole pCPU is after the cut, if its first record is an ordinary
    // one with a TSC. Then one merge, too, reports nothing of this pCPU, drops nothing and waits for
    // nothing before it; and it is its head until the records before the cut are all out.
    const header = await firstHeaderOf(windows, readAt);
    if (header === undefined || header >>> 31 === 0 || (header & TRACE_OWN_MASK) === TRACE_OWN_EVENTS) return undefined;
    return { window: 0, skip: 0, lastTsc: undefined };
  }
  let lastTsc: TscWords | undefined;
  /**
   * Whether a record with a TSC that is not wrap padding comes before the cut: records without TSC at
   * the pCPU's start borrow the first such TSC, which must then come before the cut too.
   */
  let borrowable = false;
  // The cut is in this window or at the next one's first record with a TSC (which starts at or after
  // `tsc`), past any windows without one.
  let window = from;
  for (; window < count && window < from + WALK_WINDOWS; window++) {
    const words = await bodyOf(windows, window, readAt);
    for (let w = 0, size = 0; w < words.length; w += size) {
      size = recordWordsAt(words, w);
      if (size === 0) return undefined;
      const header = words[w]!;
      if (header >>> 31 !== 0) {
        const hi = words[w + 2]!;
        const lo = words[w + 1]!;
        if (!below(hi, lo, tsc)) {
          // The trace class's own records (a wrap record is dropped, not merged) make no cut.
          if ((header & TRACE_OWN_MASK) === TRACE_OWN_EVENTS || lastTsc === undefined || !borrowable) return undefined;
          return { window, skip: w * 4, lastTsc };
        }
        lastTsc = [hi, lo];
        if ((header & EVENT_MASK) !== TRC_TRACE_WRAP_BUFFER) borrowable = true;
      }
    }
  }
  return window >= count ? { window: count, skip: 0, lastTsc } : undefined;
}

/** Each pCPU's record bytes from each of its windows on (and 0 past the last), made once per index. */
const bytesFromCache = new WeakMap<PcpuWindows, Float64Array>();

/**
 * Record bytes of a pCPU's windows from each window on: a slice's lanes need them at each cut, where a
 * sum over all the windows cost many pCPUs a tenth of planning.
 */
function recordBytesFrom(windows: PcpuWindows): Float64Array {
  let sums = bytesFromCache.get(windows);
  if (sums === undefined) {
    const count = windows.offsets.length;
    sums = new Float64Array(count + 1);
    for (let window = count - 1; window >= 0; window--) sums[window] = sums[window + 1]! + windows.lengths[window]! - HEADER_BYTES;
    bytesFromCache.set(windows, sums);
  }
  return sums;
}

/** The part of one pCPU's windows between two cuts (undefined: the pCPU's start, or its end). */
function laneBetween(windows: PcpuWindows, from: LaneCut | undefined, to: LaneCut | undefined): LaneWindows | undefined {
  const count = windows.offsets.length;
  const startWindow = from?.window ?? 0;
  const skip = from?.skip ?? 0;
  const endWindow = to?.window ?? count;
  const endSkip = to?.skip ?? 0;
  if (startWindow > endWindow || (startWindow === endWindow && skip >= endSkip)) return undefined;
  const offsets: number[] = [];
  const lengths: number[] = [];
  for (let window = startWindow; window < count && (window < endWindow || endSkip > 0); window++) {
    offsets.push(windows.offsets[window]!);
    lengths.push(window === endWindow ? HEADER_BYTES + endSkip : windows.lengths[window]!);
    if (window === endWindow) break;
  }
  if (offsets.length === 0) return undefined;
  const bytesFrom = recordBytesFrom(windows);
  const pcpuBytes = bytesFrom[0]!;
  const bytesAfter = endWindow < count ? bytesFrom[endWindow]! - endSkip : 0;
  return {
    pcpu: windows.pcpu,
    offsets,
    lengths,
    pcpuBytes,
    bytesAfter,
    ...(skip === 0 ? {} : { firstSkip: skip }),
    ...(from?.lastTsc === undefined ? {} : { resumeTsc: from.lastTsc }),
  };
}

/** The slice between two cuts (undefined: the start of the merge, or its end). */
function sliceBetween(index: WindowIndex, from: Cut | undefined, to: Cut | undefined): MergeSlice {
  const lanes: LaneWindows[] = [];
  index.pcpus.forEach((windows, i) => {
    const lane = laneBetween(windows, from?.lanes[i], to?.lanes[i]);
    if (lane !== undefined) lanes.push(lane);
  });
  return {
    lanes,
    pcpuCount: index.pcpus.length,
    ...(from === undefined ? {} : { startTsc: from.tsc }),
    ...(to === undefined ? {} : { endTsc: to.tsc }),
  };
}

/** Plans an exact merge's slices one at a time, each of the size asked for (about: cuts fall where they can). */
export class SlicePlanner {
  /** The slices planned so far, in order; the last one ends the merge once {@link done}. */
  readonly slices: MergeSlice[] = [];
  readonly #index: WindowIndex;
  readonly #size: number;
  readonly #readAt: ReadAnyAt;
  #previous: Cut | undefined;
  /** Where the last cut was searched from. */
  #target = 0;
  #done = false;

  constructor(index: WindowIndex, size: number, readAt: ReadAnyAt) {
    this.#index = index;
    this.#size = size;
    this.#readAt = readAt;
  }

  /** Whether the last slice is planned. */
  get done(): boolean {
    return this.#done;
  }

  /** Plans the next slice, of about `bytes` of input (the last one when less than half as much again is left). */
  async next(bytes: number): Promise<void> {
    if (this.#done) return;
    const step = Math.max(4096, Math.floor(bytes / 4));
    for (let target = this.#target + bytes; target + bytes / 2 < this.#size; target += step) {
      const cut = await cutAt(this.#index, target, this.#previous, this.#readAt);
      if (cut === undefined) continue;
      this.slices.push(sliceBetween(this.#index, this.#previous, cut));
      this.#previous = cut;
      this.#target = target;
      return;
    }
    this.slices.push(sliceBetween(this.#index, this.#previous, undefined));
    this.#done = true;
  }
}

/** Plans a whole exact merge in slices of about `sliceBytes` of input each (at least one). */
export async function planSlices(index: WindowIndex, size: number, readAt: ReadAnyAt, sliceBytes: number): Promise<MergeSlice[]> {
  const planner = new SlicePlanner(index, size, readAt);
  while (!planner.done) await planner.next(sliceBytes);
  return planner.slices;
}

/**
 * Joins neighbouring slices into one (when a slice's rows did not all come before the next cut).
 * `slices[from … to − 1]` become one slice.
 */
export function joinSlices(slices: readonly MergeSlice[], from: number, to: number): MergeSlice {
  type Joined = { -readonly [K in keyof LaneWindows]: LaneWindows[K] } & { offsets: number[]; lengths: number[] };
  const byPcpu = new Map<number, Joined>();
  for (let k = from; k < to; k++) {
    for (const lane of slices[k]!.lanes) {
      const joined = byPcpu.get(lane.pcpu);
      if (joined === undefined) {
        byPcpu.set(lane.pcpu, {
          pcpu: lane.pcpu,
          offsets: [...lane.offsets],
          lengths: [...lane.lengths],
          ...(lane.firstSkip === undefined ? {} : { firstSkip: lane.firstSkip }),
          ...(lane.resumeTsc === undefined ? {} : { resumeTsc: lane.resumeTsc }),
          ...(lane.pcpuBytes === undefined ? {} : { pcpuBytes: lane.pcpuBytes }),
          ...(lane.bytesAfter === undefined ? {} : { bytesAfter: lane.bytesAfter }),
        });
        continue;
      }
      if (lane.bytesAfter !== undefined) joined.bytesAfter = lane.bytesAfter;
      let first = 0;
      const last = joined.offsets.length - 1;
      if (joined.offsets[last] === lane.offsets[0]) {
        // A window the cut went through: its two parts become one again.
        joined.lengths[last] = lane.lengths[0]!;
        first = 1;
      }
      for (let i = first; i < lane.offsets.length; i++) {
        joined.offsets.push(lane.offsets[i]!);
        joined.lengths.push(lane.lengths[i]!);
      }
    }
  }
  const end = slices[to - 1]!.endTsc;
  const { pcpuCount, startTsc } = slices[from]!;
  return {
    lanes: [...byPcpu.values()],
    pcpuCount,
    ...(startTsc === undefined ? {} : { startTsc }),
    ...(end === undefined ? {} : { endTsc: end }),
  };
}

/** The span of the input a slice's records lie in: [start, end). */
function blockOf(slice: MergeSlice): { start: number; end: number } {
  let start = Infinity;
  let end = 0;
  for (const lane of slice.lanes) {
    start = Math.min(start, lane.offsets[0]! + HEADER_BYTES + (lane.firstSkip ?? 0));
    const last = lane.offsets.length - 1;
    end = Math.max(end, lane.offsets[last]! + lane.lengths[last]!);
  }
  return start < end ? { start, end } : { start: 0, end: 0 };
}

/** A recorder of diagnostics, to be reported again, in order, where the slice's rows are handed out. */
function recordDiagnostics(): { diagnostics: Diagnostics; events: DiagnosticEvent[] } {
  const events: DiagnosticEvent[] = [];
  return { diagnostics: new Diagnostics({ samplesPerCode: 0, onDiagnostic: (event) => events.push(event) }), events };
}

/**
 * Merges one slice of an input and keeps its rows: what a helper thread does. The rows' payload words are
 * the block of the input that the slice spans (a view when the input is shared memory, else a copy).
 */
export async function mergeSlice(
  slice: MergeSlice,
  size: number,
  readAt: ReadAt,
  spare?: RecordBatch,
  scratch?: MergeScratch,
): Promise<SliceResult> {
  const started = performance.now();
  const { diagnostics, events } = recordDiagnostics();
  const block = blockOf(slice);
  // The rows' payload words are this block; the merge reads it too, from memory (a file is read once).
  const blockBytes = await readFully(readAt, block.start, block.end - block.start);
  const blockEnd = block.start + blockBytes.length;
  const readBlock: ReadAt = async (offset, length) =>
    offset >= block.start && offset + length <= blockEnd
      ? blockBytes.subarray(offset - block.start, offset - block.start + length)
      : readAt(offset, length);
  const parts: RecordBatch[] = [];
  const batchSize = sliceBatchSize(block.end - block.start);
  const output = spare !== undefined && spare.header.length >= batchSize ? spare : undefined;
  const belowEnd = await mergeExact(slice.lanes, size, readBlock, {
    onBatch: (batch) => parts.push(batch),
    ...(slice.endTsc === undefined ? {} : { endTsc: slice.endTsc }),
    diagnostics,
    batchSize,
    pcpuCount: slice.pcpuCount,
    ...(slice.startTsc === undefined ? {} : { baseTsc: slice.startTsc }),
    payloadFrom: block.start,
    ...(output === undefined ? {} : { output }),
    ...(scratch === undefined ? {} : { scratch }),
  });
  if (parts.length === 0) parts.push(output ?? createRecordBatch(1, 0));
  const rows = parts.length === 1 ? parts[0]! : joinBatches(parts);
  rows.words = wordsOf(blockBytes);
  return { rows, belowEnd, diagnostics: events, elapsed: performance.now() - started };
}

/**
 * Rows of the batch a slice of `bytes` is merged into: room for records of 12 bytes on average
 * (bench-large's are 17), so one batch and seldom two. Rounded up to 128 Ki rows, so that slices of
 * about the same size can reuse each other's batches (see {@link SliceMergeHelper.recycle}).
 */
function sliceBatchSize(bytes: number): number {
  const step = 1 << 17;
  return Math.max(1, Math.ceil(bytes / 12 / step)) * step;
}

/** Batches' rows one after another in one batch (payload indices as they are). */
function joinBatches(parts: readonly RecordBatch[]): RecordBatch {
  const joined = createRecordBatch(Math.max(1, parts.reduce((sum, part) => sum + part.length, 0)), 0);
  for (const part of parts) {
    copyRows(part, joined, 0, part.length, joined.length);
    joined.length += part.length;
  }
  return joined;
}

/**
 * Reads a shared input in the thread that received it: bytes in a `SharedArrayBuffer` or a Blob;
 * undefined for a file, which needs the platform (`xenspan/node`'s workers open it themselves).
 */
export function sharedInputReader(input: SharedInput): ReadAt | undefined {
  if (input.kind === 'bytes') return fromBytes(new Uint8Array(input.buffer, input.byteOffset, input.length)).readAt;
  if (input.kind === 'blob') return fromBlob(input.blob).readAt;
  return undefined;
}

/** Options of {@link mergeExactInSlices}. */
export interface SlicedMergeOptions {
  readonly onBatch: (batch: RecordBatch) => void;
  readonly diagnostics: Diagnostics;
  readonly batchSize?: number;
  readonly backpressure?: (() => Promise<void> | undefined) | undefined;
  /** The threads that merge slices besides the calling one. */
  readonly helpers: readonly SliceMergeHelper[];
  /** How helpers read the input. */
  readonly input: SharedInput;
  /** Input bytes per slice. Default: 8 MiB, less for inputs that would not give each thread four slices. */
  readonly sliceBytes?: number;
}

/** Slices a helper holds at most: one merging, one more to go on with (see `dispatch` in {@link mergeExactInSlices}). */
const HELPER_AHEAD = 2;

/** Bytes of input a slice's records take (its windows' parts, headers left out). */
function sliceBytesOf(slice: MergeSlice): number {
  let bytes = 0;
  for (const lane of slice.lanes) {
    for (const length of lane.lengths) bytes += length - HEADER_BYTES;
    bytes -= lane.firstSkip ?? 0;
  }
  return bytes;
}

/**
 * The exact merge with helper threads: the calling thread and each helper merge slices side by side,
 * handed out in order with their diagnostics (a slice's diagnostics after its rows). Every `threads`-th
 * slice is the calling thread's, which hands its rows straight out; the helpers take the others, up to
 * two each, and their rows wait (memory: two slices' rows per helper). Slices are planned as they are
 * needed, the helpers' sized so that they take about as long as the calling thread's (which also runs
 * the consumer of the rows).
 */
export async function mergeExactInSlices(
  index: WindowIndex,
  size: number,
  readAt: ReadAt,
  readAtNow: ReadAnyAt,
  options: SlicedMergeOptions,
): Promise<void> {
  const { onBatch, backpressure, helpers } = options;
  const batchSize = options.batchSize ?? 8192;
  const threads = helpers.length + 1;
  const baseBytes = options.sliceBytes ?? Math.min(8 << 20, Math.max(256 << 10, Math.ceil(size / (4 * threads))));
  const planner = new SlicePlanner(index, size, readAtNow);
  const slices = planner.slices;
  /**
   * A helper's slice size over this thread's, from how fast each merged its last slices (bytes per ms,
   * this thread's with the consumer's time in it). With a slow consumer helpers take larger slices.
   */
  let helperShare = 1;
  let ownRate = 0;
  let helperRate = 0;
  const learn = (): void => {
    if (ownRate > 0 && helperRate > 0) helperShare = Math.min(2, Math.max(0.25, helperRate / ownRate));
  };
  /** Plans slices up to slice `k`; who merges each follows the order of {@link dispatch}. */
  const plan = async (k: number): Promise<void> => {
    while (slices.length <= k && !planner.done) {
      const own = slices.length % threads === 0;
      await planner.next(own ? baseBytes : Math.round(baseBytes * helperShare));
    }
  };
  /**
   * Slices given to helpers and not handed out yet, by index: their result (undefined when the helper
   * failed), and who merges them.
   */
  const pending = new Map<number, { helper: SliceMergeHelper; result: Promise<SliceResult | undefined> }>();
  const failed = new Set<SliceMergeHelper>();
  /** The first slice from which helpers may be given more: those before are taken or handed out. */
  let next = 0;
  /** This thread's merges reuse one arena and one set of read blocks. */
  const scratch: MergeScratch = {};
  /** Slices a helper holds (merging, waiting in its queue, or merged and not handed out). */
  const inHand = (helper: SliceMergeHelper): number => {
    let count = 0;
    for (const task of pending.values()) if (task.helper === helper) count++;
    return count;
  };
  const dispatch = async (): Promise<void> => {
    // Every `threads`-th slice is this thread's, merged when it gets there with its rows handed straight
    // out; helpers take the others in order. Each helper holds up to HELPER_AHEAD of them, so that it goes
    // on to its next one without waiting for this thread to hand out the last: a helper that waited for
    // that sat idle, and this thread waited for it, about 7% of the time on bench-large. Memory: the rows
    // of HELPER_AHEAD slices per helper.
    for (const helper of helpers) {
      while (!failed.has(helper) && inHand(helper) < HELPER_AHEAD) {
        while (next % threads === 0 || pending.has(next)) next++;
        await plan(next);
        if (next >= slices.length) return;
        const k = next++;
        const slice = slices[k]!;
        const started = performance.now();
        const result = helper.mergeSlice({ input: options.input, size, slice }).then(
          (merged) => {
            helperRate = sliceBytesOf(slice) / Math.max(0.01, merged.elapsed ?? performance.now() - started);
            learn();
            return merged;
          },
          // A helper that failed gets no more work; its slices are merged here instead.
          () => {
            failed.add(helper);
            return undefined;
          },
        );
        pending.set(k, { helper, result });
      }
    }
  };
  const report = (events: readonly DiagnosticEvent[]): void => {
    for (const event of events) options.diagnostics.report(event.code, event, event.message);
  };

  /**
   * Merges `slice` here, handing its rows out as they come but for the first `skip` (handed out already).
   * Stops at a row at or past the slice's end TSC (rows before it are right: see the module's comment) and
   * returns how many rows were handed out in all, or −1 when the slice was merged to its end.
   */
  const mergeHere = async (slice: MergeSlice, skip: number): Promise<number> => {
    const { diagnostics, events } = recordDiagnostics();
    let handed = 0;
    const started = performance.now();
    const toEnd = await mergeExact(slice.lanes, size, readAt, {
      diagnostics,
      batchSize,
      backpressure,
      scratch,
      pcpuCount: slice.pcpuCount,
      ...(slice.startTsc === undefined ? {} : { baseTsc: slice.startTsc }),
      ...(slice.endTsc === undefined ? {} : { endTsc: slice.endTsc }),
      onBatch: (batch) => {
        const from = Math.min(batch.length, Math.max(0, skip - handed));
        if (from < batch.length) onBatch(from === 0 ? batch : rowsView(batch, from, batch.length));
        handed += batch.length;
      },
    });
    if (!toEnd) return handed;
    ownRate = sliceBytesOf(slice) / Math.max(0.01, performance.now() - started);
    learn();
    report(events);
    return -1;
  };


  for (let k = 0; ; ) {
    await plan(k);
    if (k >= slices.length) break;
    await dispatch();
    const task = pending.get(k);
    pending.delete(k);
    const result = task === undefined ? undefined : await task.result;
    let end = k + 1;
    if (result?.belowEnd === true) {
      report(result.diagnostics);
      for (let at = 0; at < result.rows.length; at += batchSize) {
        onBatch(rowsView(result.rows, at, Math.min(result.rows.length, at + batchSize)));
        const wait = backpressure?.();
        if (wait !== undefined) await wait;
      }
      task!.helper.recycle?.(result.rows);
      k = end;
      continue;
    }
    // Here: this thread's slice, one whose helper failed, or one that holds a record past its end (then
    // it is merged again together with the next slice, and with more as long as that happens).
    if (result !== undefined) end++;
    let handed = 0;
    for (;;) {
      await plan(end - 1);
      end = Math.min(end, slices.length);
      for (let j = k + 1; j < end; j++) pending.delete(j);
      next = Math.max(next, end);
      await dispatch();
      handed = await mergeHere(end === k + 1 ? slices[k]! : joinSlices(slices, k, end), handed);
      if (handed < 0) break;
      if (end > k + 1) {
        // Twice past a cut: a TSC far ahead, say, that the records after it stay behind. Merged again and
        // again, each time one slice longer, the rest would cost its square; it is merged here in one.
        while (!planner.done) await planner.next(baseBytes);
        end = slices.length;
      } else {
        end++;
      }
    }
    k = end;
  }
}

/** Rows [from, to) of a batch as a batch of views. */
function rowsView(rows: RecordBatch, from: number, to: number): RecordBatch {
  return {
    length: to - from,
    pcpu: rows.pcpu.subarray(from, to),
    header: rows.header.subarray(from, to),
    tscLo: rows.tscLo.subarray(from, to),
    tscHi: rows.tscHi.subarray(from, to),
    flags: rows.flags.subarray(from, to),
    payloadIndex: rows.payloadIndex.subarray(from, to),
    words: rows.words,
    fileOffset: rows.fileOffset.subarray(from, to),
  };
}
