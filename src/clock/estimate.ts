// SPDX-License-Identifier: MIT
/**
 * Estimates the TSC frequency from the trace itself, from the nanosecond runtimes that Xen's scheduler
 * writes into `TRC_SCHED_SWITCH_INFPREV` (spec §6.5).
 *
 * Method. In `sched_switch_units()` Xen writes INFPREV with `runtime = now − state_entry_time`, where
 * `now` is the `NOW()` of the current `schedule()` call and `state_entry_time` is the `now` of the call
 * that switched the unit in. On one pCPU the runtimes of consecutive switches therefore telescope:
 * their sum is exactly the system time between the first and the last switch. The matching TSC span is
 * the difference of the INFPREV timestamps of those switches. So the estimator follows each pCPU's
 * chain of switches (INFPREV whose unit is the INFNEXT of the previous switch), cuts it into windows of
 * ≥ 25 ms of summed runtime, later merges them into windows of 50–200 ms, and fits Hz = ΣTSC / Σns over
 * the windows whose rate is not an outlier (iterated median/MAD trimming).
 *
 * Why not a per-slice regression (TSC interval = a·runtime + b)? The delay between `NOW()` and the
 * record depends on why the scheduler ran (timer expiry after a long slice, blocking after a short one),
 * so the "intercept" correlates with the runtime; on the real traces that biased the slope by 1–5e-4.
 * Over a window only the delays of its two end switches remain, so the bias shrinks with window length,
 * and outlier windows absorb what per-slice fits cannot: records delayed by host preemption under
 * emulation, stime corrections at Xen's once-a-second calibration, runtimes wrapped at 2^32 ns.
 * @module
 */
import { EVENT_MASK, RECORD_FLAGS, TRC_LOST_RECORDS, tscDelta } from '../core/batch.js';
import type { RecordBatch } from '../core/batch.js';

/** A TSC frequency fitted from scheduler records. */
export interface CpuHzEstimate {
  /** Estimated TSC frequency in Hz. */
  readonly hz: number;
  /** Switch pairs (runtime, TSC interval) inside the windows kept after outlier rejection. */
  readonly samples: number;
  /** 1-sigma relative standard error of `hz` (from the scatter of the kept windows; e.g. 2e-6). */
  readonly relativeError: number;
}

const TRC_SCHED_SWITCH_INFPREV = 0x0002800e;
const TRC_SCHED_SWITCH_INFNEXT = 0x0002800f;
/** A TSC that is not the record's own cannot anchor a switch. */
const NOT_OWN_TSC = RECORD_FLAGS.inheritedTsc | RECORD_FLAGS.borrowedTsc;

/** Summed runtime at which a pCPU closes a base window. */
const BASE_WINDOW_NS = 25e6;
/** Base windows kept before pairs of them are merged (bounds memory on long traces). */
const MAX_BASE_WINDOWS = 1 << 16;
/** Limits of the fitted window length; the length aims at {@link TARGET_WINDOWS} windows. */
const MIN_FIT_WINDOW_NS = 50e6;
const MAX_FIT_WINDOW_NS = 200e6;
const TARGET_WINDOWS = 64;
/** Windows whose rate is further than this many robust sigmas (1.4826·MAD) from the fit are dropped. */
const TRIM_SIGMAS = 3.5;
/** What a result needs: enough switch pairs and windows, and a fit better than this relative error. */
const MIN_SAMPLES = 20;
const MIN_WINDOWS = 3;
const MAX_RELATIVE_ERROR = 1e-3;

/**
 * Incremental estimator of the TSC frequency. Add batches (any number and split; file order or
 * global time order: only each pCPU's own order matters), then call {@link CpuHzEstimator.result}.
 * Keeps a few numbers per pCPU and a bounded list of windows, never the records.
 * @example
 * const estimator = new CpuHzEstimator();
 * await forEachRecordInFileOrder(bytes, (batch) => estimator.add(batch));
 * const estimate = estimator.result(); // { hz: 2596122000…, samples, relativeError } or undefined
 */
export class CpuHzEstimator {
  // TSCs are kept as doubles relative to the first TSC seen, exact while the trace spans < 2^53 cycles.
  #baseHi = 0;
  #baseLo = 0;
  #hasBase = false;

  // Per-pCPU state, indexed by a slot from #slotOf.
  readonly #slotOf = new Map<number, number>();
  #slots = 0;
  /** 1: an INFPREV is waiting for its INFNEXT. */
  #pending = new Uint8Array(8);
  /** 1: a unit was switched in at a known TSC and its INFPREV will close a slice. */
  #open = new Uint8Array(8);
  /** Domain and unit switched in (the INFNEXT of the last switch). */
  #nextDom = new Uint32Array(8);
  #nextUnit = new Uint32Array(8);
  /** Chain of the pCPU: consecutive switches with nothing lost between them. */
  #chain = new Float64Array(8);
  /** The open base window: TSC of its first switch, summed runtime, switch pairs. */
  #winStart = new Float64Array(8);
  #winNs = new Float64Array(8);
  #winPairs = new Float64Array(8);
  /** TSC of the last switch in the open window. */
  #winEnd = new Float64Array(8);
  #nextChain = 0;

  // Closed base windows, in the order they were closed.
  #count = 0;
  #baseWindowNs = BASE_WINDOW_NS;
  #wStart = new Float64Array(256);
  #wCycles = new Float64Array(256);
  #wNs = new Float64Array(256);
  #wPairs = new Float64Array(256);
  #wChain = new Float64Array(256);

  /** Takes the scheduler records of a BORROWED batch (nothing of it is kept). */
  add(batch: RecordBatch): void {
    const { header, pcpu, tscLo, tscHi, flags, payloadIndex, words } = batch;
    for (let i = 0; i < batch.length; i++) {
      const h = header[i];
      const event = h & EVENT_MASK;
      if (event !== TRC_SCHED_SWITCH_INFPREV && event !== TRC_SCHED_SWITCH_INFNEXT && event !== TRC_LOST_RECORDS) continue;
      const slot = this.#slot(pcpu[i]);
      const wordCount = (h >>> 28) & 7;
      if (event === TRC_LOST_RECORDS) {
        // Records of this pCPU are missing: no slice may span the gap.
        this.#open[slot] = 0;
        this.#pending[slot] = 0;
        continue;
      }
      if ((flags[i] & NOT_OWN_TSC) !== 0 || h >>> 31 === 0 || wordCount < 2) {
        this.#open[slot] = 0;
        this.#pending[slot] = 0;
        continue;
      }
      const at = payloadIndex[i];
      if (event === TRC_SCHED_SWITCH_INFNEXT) {
        if (this.#pending[slot] === 1) {
          this.#nextDom[slot] = words[at];
          this.#nextUnit[slot] = words[at + 1];
          this.#open[slot] = 1;
          this.#pending[slot] = 0;
        } else {
          this.#open[slot] = 0;
        }
        continue;
      }
      // INFPREV: closes the slice of the unit switched in at the previous switch, if it is that unit.
      if (!this.#hasBase) {
        this.#baseHi = tscHi[i];
        this.#baseLo = tscLo[i];
        this.#hasBase = true;
      }
      const tsc = tscDelta(tscHi[i]!, tscLo[i]!, this.#baseHi, this.#baseLo);
      if (wordCount >= 3 && this.#open[slot] === 1 && this.#nextDom[slot] === words[at] && this.#nextUnit[slot] === words[at + 1]) {
        const ns = (this.#winNs[slot] += words[at + 2]);
        this.#winPairs[slot] += 1;
        this.#winEnd[slot] = tsc;
        if (ns >= this.#baseWindowNs) {
          this.#pushWindow(this.#winStart[slot], tsc - this.#winStart[slot], ns, this.#winPairs[slot], this.#chain[slot]);
          this.#winStart[slot] = tsc;
          this.#winNs[slot] = 0;
          this.#winPairs[slot] = 0;
        }
      } else {
        // A new chain: what the old one had gathered still counts as a (short) window.
        if (this.#winPairs[slot] > 0) {
          this.#pushWindow(this.#winStart[slot], this.#winEnd[slot] - this.#winStart[slot], this.#winNs[slot], this.#winPairs[slot], this.#chain[slot]);
        }
        this.#chain[slot] = this.#nextChain++;
        this.#winStart[slot] = tsc;
        this.#winNs[slot] = 0;
        this.#winPairs[slot] = 0;
      }
      this.#open[slot] = 0;
      this.#pending[slot] = 1;
    }
  }

  /**
   * The fitted frequency, or `undefined` when the records added so far hold too little scheduler data
   * (fewer than 20 usable switch pairs or 3 windows) or the fit is poor (relative error above 1e-3).
   */
  result(): CpuHzEstimate | undefined {
    const windows = this.#fitWindows();
    const n = windows.cycles.length;
    if (n < MIN_WINDOWS) return undefined;
    const { cycles, ns, pairs } = windows;
    const rate = new Float64Array(n);
    for (let i = 0; i < n; i++) rate[i] = cycles[i] / ns[i];

    // Rounding of TSCs and ns to integers is the least scatter a window rate can have; the floor keeps
    // exact (synthetic) data from being trimmed on it.
    const floor = roundingFloor(cycles, ns);
    // Start from the weighted median, then alternate trimming and the ratio fit until the kept set is
    // stable. After the first pass the scale comes from the kept windows only: emulated hosts give
    // heavy tails (half the windows on bench-large), and a scale that still includes them lets
    // one-sided outliers pull the fit by 1e-4.
    let center = weightedMedian(rate, ns);
    let keep = new Uint8Array(n).fill(1);
    const deviation = new Float64Array(n);
    for (let iteration = 0; iteration < 50; iteration++) {
      let inside = 0;
      for (let i = 0; i < n; i++) {
        if (keep[i] === 1) deviation[inside++] = Math.abs(rate[i] - center);
      }
      const scale = 1.4826 * median(deviation.subarray(0, inside));
      const cut = Math.max(TRIM_SIGMAS * scale, Math.abs(center) * floor);
      const next = new Uint8Array(n);
      let sumCycles = 0;
      let sumNs = 0;
      for (let i = 0; i < n; i++) {
        if (Math.abs(rate[i] - center) <= cut) {
          next[i] = 1;
          sumCycles += cycles[i];
          sumNs += ns[i];
        }
      }
      if (sumNs === 0) return undefined;
      const nextCenter = sumCycles / sumNs;
      const stable = nextCenter === center && next.every((k, i) => k === keep[i]);
      center = nextCenter;
      keep = next;
      if (stable) break;
    }

    let kept = 0;
    let samples = 0;
    let sumW = 0;
    let sumW2 = 0;
    let sumWD2 = 0;
    let sumCycles = 0;
    for (let i = 0; i < n; i++) {
      if (keep[i] === 0) continue;
      kept += 1;
      samples += pairs[i];
      sumW += ns[i];
      sumW2 += ns[i] * ns[i];
      sumWD2 += ns[i] * (rate[i] - center) ** 2;
      sumCycles += cycles[i];
    }
    if (kept < MIN_WINDOWS || samples < MIN_SAMPLES || !(center > 0)) return undefined;
    // Standard error of a weighted mean (weights = window ns), with a floor of one TSC tick over all kept cycles.
    const variance = (sumWD2 / sumW) * (sumW2 / (sumW * sumW)) * (kept / (kept - 1));
    const relativeError = Math.max(Math.sqrt(variance) / center, 1 / sumCycles);
    if (!Number.isFinite(relativeError) || relativeError > MAX_RELATIVE_ERROR) return undefined;
    return { hz: center * 1e9, samples, relativeError };
  }

  #slot(cpu: number): number {
    let slot = this.#slotOf.get(cpu);
    if (slot === undefined) {
      slot = this.#slots++;
      this.#slotOf.set(cpu, slot);
      if (slot >= this.#pending.length) this.#growSlots(slot + 1);
      this.#chain[slot] = this.#nextChain++;
    }
    return slot;
  }

  #growSlots(min: number): void {
    const size = Math.max(min, this.#pending.length * 2);
    this.#pending = grow(this.#pending, size);
    this.#open = grow(this.#open, size);
    this.#nextDom = grow(this.#nextDom, size);
    this.#nextUnit = grow(this.#nextUnit, size);
    this.#chain = grow(this.#chain, size);
    this.#winStart = grow(this.#winStart, size);
    this.#winNs = grow(this.#winNs, size);
    this.#winPairs = grow(this.#winPairs, size);
    this.#winEnd = grow(this.#winEnd, size);
  }

  #pushWindow(start: number, cycles: number, ns: number, pairs: number, chain: number): void {
    if (this.#count === this.#wNs.length) {
      if (this.#count >= MAX_BASE_WINDOWS) this.#halveWindows();
      else {
        const size = this.#count * 2;
        this.#wStart = grow(this.#wStart, size);
        this.#wCycles = grow(this.#wCycles, size);
        this.#wNs = grow(this.#wNs, size);
        this.#wPairs = grow(this.#wPairs, size);
        this.#wChain = grow(this.#wChain, size);
      }
    }
    const k = this.#count++;
    this.#wStart[k] = start;
    this.#wCycles[k] = cycles;
    this.#wNs[k] = ns;
    this.#wPairs[k] = pairs;
    this.#wChain[k] = chain;
  }

  /** Merges consecutive windows of each chain pairwise and doubles the base length (sums stay exact). */
  #halveWindows(): void {
    const partner = new Map<number, number>();
    let out = 0;
    for (let k = 0; k < this.#count; k++) {
      const chain = this.#wChain[k];
      const into = partner.get(chain);
      if (into !== undefined) {
        this.#wCycles[into] += this.#wCycles[k];
        this.#wNs[into] += this.#wNs[k];
        this.#wPairs[into] += this.#wPairs[k];
        partner.delete(chain);
        continue;
      }
      this.#wStart[out] = this.#wStart[k];
      this.#wCycles[out] = this.#wCycles[k];
      this.#wNs[out] = this.#wNs[k];
      this.#wPairs[out] = this.#wPairs[k];
      this.#wChain[out] = chain;
      partner.set(chain, out);
      out++;
    }
    this.#count = out;
    this.#baseWindowNs *= 2;
  }

  /** Base windows merged (within chains) into windows of the fit length, in start-TSC order. */
  #fitWindows(): { cycles: Float64Array; ns: Float64Array; pairs: Float64Array } {
    const count = this.#count;
    let totalNs = 0;
    for (let k = 0; k < count; k++) totalNs += this.#wNs[k];
    const length = Math.min(MAX_FIT_WINDOW_NS, Math.max(MIN_FIT_WINDOW_NS, totalNs / TARGET_WINDOWS));
    // Sorting by start TSC makes the result independent of the order in which pCPUs were fed.
    const order = Array.from({ length: count }, (_, k) => k).sort((a, b) => this.#wStart[a] - this.#wStart[b] || a - b);
    const open = new Map<number, { start: number; cycles: number; ns: number; pairs: number }>();
    const merged: { start: number; cycles: number; ns: number; pairs: number }[] = [];
    for (const k of order) {
      const chain = this.#wChain[k];
      let acc = open.get(chain);
      if (acc === undefined) {
        acc = { start: this.#wStart[k], cycles: 0, ns: 0, pairs: 0 };
        open.set(chain, acc);
      }
      acc.cycles += this.#wCycles[k];
      acc.ns += this.#wNs[k];
      acc.pairs += this.#wPairs[k];
      if (acc.ns >= length) {
        merged.push(acc);
        open.delete(chain);
      }
    }
    // Each pCPU's open window is the latest part of its chain.
    for (let slot = 0; slot < this.#slots; slot++) {
      if (this.#winPairs[slot] === 0) continue;
      const chain = this.#chain[slot];
      const acc = open.get(chain) ?? { start: this.#winStart[slot], cycles: 0, ns: 0, pairs: 0 };
      acc.cycles += this.#winEnd[slot] - this.#winStart[slot];
      acc.ns += this.#winNs[slot];
      acc.pairs += this.#winPairs[slot];
      open.set(chain, acc);
    }
    // A chain's tail (or a short chain, between lost records) shorter than the fit length still counts
    // when it spans at least half the shortest fit length.
    for (const acc of open.values()) if (acc.ns >= MIN_FIT_WINDOW_NS / 2) merged.push(acc);
    merged.sort((a, b) => a.start - b.start);
    return {
      cycles: Float64Array.from(merged, (m) => m.cycles),
      ns: Float64Array.from(merged, (m) => m.ns),
      pairs: Float64Array.from(merged, (m) => m.pairs),
    };
  }
}

function grow<T extends Float64Array | Uint32Array | Uint8Array>(array: T, size: number): T {
  const next = new (array.constructor as new (length: number) => T)(size);
  next.set(array);
  return next;
}

/** Relative rate scatter that integer rounding alone gives a typical window (4 units at each end). */
function roundingFloor(cycles: Float64Array, ns: Float64Array): number {
  return 4 / median(ns) + 4 / median(cycles.map(Math.abs));
}

function median(values: Float64Array): number {
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function weightedMedian(values: Float64Array, weights: Float64Array): number {
  const order = Array.from(values, (_, i) => i).sort((a, b) => values[a] - values[b]);
  let total = 0;
  for (const w of weights) total += w;
  let seen = 0;
  for (const i of order) {
    seen += weights[i];
    if (seen >= total / 2) return values[i];
  }
  return values[order[order.length - 1]];
}

const UNITS: readonly (readonly [number, string])[] = [
  [1e6, 'M'],
  [1e3, 'K'],
];

/**
 * Formats a frequency the way `--cpu-hz` and `xl info`'s `cpu_mhz` write it: 3 decimals in MHz
 * (kHz precision) from 1 MHz up, else in kHz or Hz. `parseCpuHz` reads it back.
 * @example formatHz(2596122000) // → '2596.122M'; formatHz(24e6) // → '24.000M'
 */
export function formatHz(hz: number): string {
  for (const [scale, suffix] of UNITS) if (Math.abs(hz) >= scale) return `${(hz / scale).toFixed(3)}${suffix}`;
  return hz.toFixed(3);
}
