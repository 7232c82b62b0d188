// SPDX-License-Identifier: MIT
/**
 * The record loop of one window, shared by the file-order {@link RecordScanner} and the exact merge's
 * pCPU lanes: whole records into batch columns, TSC inheritance, and the per-record diagnostics.
 * @module
 */
import { CPU_CHANGE_HEADER, EVENT_MASK, RECORD_FLAGS, TRC_LOST_RECORDS, TRC_TRACE_WRAP_BUFFER, tscDelta, u64Of } from '../core/batch.js';
import type { RecordBatch } from '../core/batch.js';
import { formatOffset } from '../core/diagnostics.js';
import type { Diagnostics } from '../core/diagnostics.js';
import { lostRecordsPayload } from './lost.js';

/** Highest pCPU number accepted in a CPU_CHANGE header; larger ones are taken as corruption. */
export const MAX_PCPU = 0xffff;
/**
 * Largest plausible window. Xen's per-pCPU buffer is at most 65535 pages and a window holds less than
 * twice the data area, so anything above 512 MiB is corruption.
 */
export const MAX_WINDOW_BYTES = 512 * 1024 * 1024;

/**
 * Records of one pCPU that had no TSC before any on it wait for that pCPU's first TSC; beyond this many
 * a merge stops waiting (the stream merge holds no more, the exact merge reads no further for it), and
 * those that no TSC read so far can be given keep TSC 0 (memory stays bounded).
 */
export const MAX_WAITING_FOR_TSC = 1 << 16;

/** Whether the two words after a CPU_CHANGE header word (pCPU, window bytes) could be a real window's. */
export function plausibleWindowHeader(pcpu: number, bytes: number): boolean {
  return pcpu <= MAX_PCPU && bytes <= MAX_WINDOW_BYTES && (bytes & 3) === 0;
}

/**
 * Whether a plausible CPU_CHANGE window header, complete in `words` before `end`, stands at word `w`
 * (callers test `words[w] === CPU_CHANGE_HEADER` first: the cheap test that almost always fails).
 */
export function windowHeaderAt(words: Uint32Array, w: number, end: number): boolean {
  return words[w] === CPU_CHANGE_HEADER && w + 3 <= end && plausibleWindowHeader(words[w + 1]!, words[w + 2]!);
}

/** What one pCPU's decoding carries from record to record and from window to window. */
export class PcpuTscState {
  /** The pCPU's last TSC (what a record without one inherits). */
  lastLo = 0;
  lastHi = 0;
  /** Whether a record with a TSC was seen on this pCPU (a dropped wrap record's counts). */
  seen = false;
  /**
   * Records without TSC before this word take the TSC the exact merge's look-ahead found there, the
   * pCPU's first: it sets `lastLo`/`lastHi` to it as well as `borrowLo`/`borrowHi`. −1: none.
   */
  borrowEnd = -1;
  borrowLo = 0;
  borrowHi = 0;
  /**
   * From this word on, a record without TSC on a pCPU that had none yet (and not before `borrowEnd`)
   * stops the loop with {@link STOP_NEEDS_TSC}: the exact merge then looks ahead for the TSC to
   * borrow. Infinity (file order): such records take TSC 0 and never stop the loop.
   */
  waitFrom = Infinity;
}

/** {@link WindowCursor.stop}: the loop reached its limit (the window's end, or the end of the bytes so far). */
export const STOP_AT_LIMIT = 0;
/** {@link WindowCursor.stop}: a plausible CPU_CHANGE header stands where a record should (at `w`). */
export const STOP_HEADER_INSIDE = 1;
/** {@link WindowCursor.stop}: the record at `w` runs past the window's end. */
export const STOP_CROSSES_END = 2;
/** {@link WindowCursor.stop}: the record at `w` is not before the merge bound; its key is `key`. */
export const STOP_BOUND = 3;
/** {@link WindowCursor.stop}: the record at `w` has no TSC and must borrow one (see `PcpuTscState.waitFrom`). */
export const STOP_NEEDS_TSC = 4;

/** Where {@link decodeWindowRecords} is: read before a call, updated by it. */
export class WindowCursor {
  /** Index in `words` of the next record. */
  w = 0;
  /** Next row of the output batch. */
  n = 0;
  /** The next record is its window's first (flag `windowStart`). */
  first = false;
  /** Why the last call stopped (`STOP_*`). */
  stop = STOP_AT_LIMIT;
  /**
   * The exact merge's bound: the loop stops before a record whose (key, file offset) is not below
   * (`boundKey`, `boundOffset`), so that it writes one pCPU's run straight into the merged output. A key
   * is the record's TSC minus (`baseHi`, `baseLo`) as a double (see `tscDelta`). Infinity: no bound.
   */
  boundKey = Infinity;
  boundOffset = Infinity;
  baseHi = 0;
  baseLo = 0;
  /** Added to the payload indices written (the exact merge's slices count them from a block of the input). */
  payloadBase = 0;
  /** With {@link STOP_BOUND}: the key of the record at `w`, and its TSC words. */
  key = 0;
  keyLo = 0;
  keyHi = 0;
}

/** The trace class's own records (0x0001f000–0x0001f003: lost records, wrap padding, …) share these bits. */
export const TRACE_OWN_MASK = EVENT_MASK & ~3;
export const TRACE_OWN_EVENTS = TRC_LOST_RECORDS & ~3;
const WINDOW_START = RECORD_FLAGS.windowStart;
const INHERITED = RECORD_FLAGS.inheritedTsc;
const BORROWED = RECORD_FLAGS.borrowedTsc | RECORD_FLAGS.inheritedTsc;
const BACKWARDS = RECORD_FLAGS.tscBackwards;

/**
 * Decodes the whole records of one window that lie in `words[cursor.w, min(windowEnd, nWords))` into rows
 * `cursor.n…` of `out` (its columns must have room for one row per word), all but the `pcpu` column,
 * which the caller fills. Row `payloadIndex` values are indices in `words`; file offsets are
 * `fileBase + 4 × index`.
 *
 * A record without TSC takes `tsc`'s last one (flag `inheritedTsc`); on a pCPU that had none yet it is
 * flagged `borrowedTsc` and takes the borrowed TSC (see `PcpuTscState`) or TSC 0, which a merge may
 * back-fill. With `dropWrap`, wrap-padding records are consumed without a row. With a bound in `cursor`,
 * the loop stops before the first record that does not come before it. One call per window piece or
 * merge run, so the caller's bookkeeping stays off the hot path.
 */
export function decodeWindowRecords(
  words: Uint32Array,
  nWords: number,
  windowEnd: number,
  pcpu: number,
  tsc: PcpuTscState,
  cursor: WindowCursor,
  out: RecordBatch,
  fileBase: number,
  dropWrap: boolean,
  diagnostics: Diagnostics,
): void {
  // Columns in locals: the record loop touches typed arrays only. The pCPU column is the caller's to
  // fill (a fill after the loop costs less than a store per record).
  const { header: headerColumn, tscLo: tscLoColumn, tscHi: tscHiColumn, flags: flagsColumn } = out;
  const { payloadIndex: payloadColumn, fileOffset: offsetColumn } = out;
  // Module bindings in locals: TurboFan loads and checks an imported or module-level constant each time
  // the loop reads it.
  const mask = EVENT_MASK;
  const cpuChange = CPU_CHANGE_HEADER;
  const wrapEvent = TRC_TRACE_WRAP_BUFFER;
  const lostEvent = TRC_LOST_RECORDS;
  const ownMask = TRACE_OWN_MASK;
  const ownEvents = TRACE_OWN_EVENTS;
  const windowStart = WINDOW_START;
  const inherited = INHERITED;
  const borrowed = BORROWED;
  const backwards = BACKWARDS;
  const limit = windowEnd < nWords ? windowEnd : nWords;
  const { boundKey, boundOffset, baseHi, baseLo } = cursor;
  const bounded = boundKey !== Infinity;
  const { borrowEnd, waitFrom } = tsc;
  const payloadShift = cursor.payloadBase + 1;
  // The exact merge's lanes: a bound, or records that may wait for or borrow a TSC (file order: neither).
  const merging = bounded || borrowEnd >= 0 || waitFrom !== Infinity;
  let w = cursor.w;
  let n = cursor.n;
  let lastLo = tsc.lastLo;
  let lastHi = tsc.lastHi;
  let seen = tsc.seen;
  let first = cursor.first;
  let stop = STOP_AT_LIMIT;
  while (w < limit) {
    const header = words[w]!;
    if (header === cpuChange && windowHeaderAt(words, w, nWords)) {
      // Xen never writes CPU_CHANGE inside a window: this window's size was wrong.
      stop = STOP_HEADER_INSIDE;
      break;
    }
    const tscWords = (header >>> 31) * 2;
    const size = 1 + tscWords + ((header >>> 28) & 7);
    if (w + size > limit) {
      // Past the window's end (corruption) or past the bytes received so far (wait for more).
      if (w + size > windowEnd) stop = STOP_CROSSES_END;
      break;
    }
    let borrowing = false;
    if (merging) {
      // The exact merge's checks, made before anything changes so that the loop can stop here and take
      // the same record up again. A wrap-padding record to drop is neither held back nor bounded.
      const dropped = dropWrap && (header & mask) === wrapEvent;
      if (tscWords === 0 && (!seen || w < borrowEnd) && !dropped) {
        // A pCPU's first records without TSC. Those before `borrowEnd` take the TSC the look-ahead found:
        // `lastLo`/`lastHi` hold it already, unless a dropped wrap record came between (then the row
        // takes it, and the wrap's TSC stays the last one for the backwards check).
        if (w < borrowEnd) {
          borrowing = seen;
        } else if (w >= waitFrom) {
          stop = STOP_NEEDS_TSC;
          break;
        }
      }
      if (bounded && !dropped) {
        const lo = tscWords !== 0 ? words[w + 1]! : borrowing ? tsc.borrowLo : lastLo;
        const hi = tscWords !== 0 ? words[w + 2]! : borrowing ? tsc.borrowHi : lastHi;
        const key = (hi - baseHi) * 4294967296 + (lo - baseLo); // tscDelta
        if (key > boundKey || (key === boundKey && fileBase + w * 4 >= boundOffset)) {
          cursor.key = key;
          cursor.keyLo = lo;
          cursor.keyHi = hi;
          stop = STOP_BOUND;
          break;
        }
      }
    }
    let flags = first ? windowStart : 0;
    first = false;
    if (tscWords !== 0) {
      const lo = words[w + 1]!;
      const hi = words[w + 2]!;
      if (seen && (hi < lastHi || (hi === lastHi && lo < lastLo))) {
        flags |= backwards;
        reportBackwards(diagnostics, pcpu, fileBase + w * 4, lastHi, lastLo, hi, lo);
      }
      lastLo = lo;
      lastHi = hi;
      seen = true;
    } else if (seen) {
      flags |= inherited;
    } else {
      flags |= borrowed;
      // Wrap padding never has a TSC and is junk: nothing is missing there.
      if ((header & mask) !== wrapEvent) reportBorrowed(diagnostics, pcpu, fileBase + w * 4);
    }
    if ((header & ownMask) === ownEvents) {
      // One test per record for the rare ones: lost-records markers and wrap padding.
      const event = header & mask;
      if (event === lostEvent) {
        reportLost(diagnostics, words, w, size, pcpu, fileBase + w * 4);
      } else if (dropWrap && event === wrapEvent) {
        w += size;
        continue;
      }
    }
    headerColumn[n] = header;
    tscLoColumn[n] = lastLo;
    tscHiColumn[n] = lastHi;
    if (borrowing) {
      tscLoColumn[n] = tsc.borrowLo;
      tscHiColumn[n] = tsc.borrowHi;
    }
    flagsColumn[n] = flags;
    payloadColumn[n] = w + payloadShift + tscWords;
    offsetColumn[n] = fileBase + w * 4;
    n++;
    w += size;
  }
  tsc.lastLo = lastLo;
  tsc.lastHi = lastHi;
  tsc.seen = seen;
  cursor.w = w;
  cursor.n = n;
  cursor.first = first;
  cursor.stop = stop;
}

/** Reports a record that runs past its window's end (the caller skips the rest of the window). */
export function reportCrossesWindow(diagnostics: Diagnostics, pcpu: number, at: number, header: number, skipped: number): void {
  diagnostics.report(
    'record_crosses_window',
    { pcpu, offset: at },
    () =>
      `record at ${formatOffset(at)} (header 0x${header.toString(16).padStart(8, '0')}) runs past the end of pCPU ${pcpu}'s window; skipped ${skipped} bytes`,
  );
}

function reportLost(diagnostics: Diagnostics, words: Uint32Array, w: number, size: number, pcpu: number, at: number): void {
  diagnostics.report('lost_records', { pcpu, offset: at }, () => {
    const tscWords = (words[w]! >>> 31) * 2;
    const lost = lostRecordsPayload(words, w + 1 + tscWords, size - 1 - tscWords);
    const who = lost.domid === undefined ? '' : ` while d${lost.domid}v${lost.vcpu} ran`;
    const first = lost.fromTsc === undefined ? '' : ` from TSC ${lost.fromTsc}`;
    return `pCPU ${pcpu}: Xen lost ${lost.records} records${who}${first} (marker at ${formatOffset(at)})`;
  });
}

function reportBorrowed(diagnostics: Diagnostics, pcpu: number, at: number): void {
  diagnostics.report(
    'missing_tsc_at_start',
    { pcpu, offset: at },
    () => `pCPU ${pcpu}: record at ${formatOffset(at)} has no TSC and none came before it on this pCPU`,
  );
}

function reportBackwards(diagnostics: Diagnostics, pcpu: number, at: number, lastHi: number, lastLo: number, hi: number, lo: number): void {
  diagnostics.report('tsc_backwards', { pcpu, offset: at }, () => {
    const last = u64Of(lastHi, lastLo);
    const now = u64Of(hi, lo);
    return `pCPU ${pcpu}: TSC ${now} at ${formatOffset(at)} is ${last - now} cycles before the previous record's ${last}`;
  });
}
