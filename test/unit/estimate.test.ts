// SPDX-License-Identifier: MIT
// The TSC frequency fitted from scheduler records: hand-built batches with a known rate, and the real
// traces against `cpu_mhz` and against a fit of the (rdtsc, CLOCK_MONOTONIC) samples taken during capture.
import { existsSync, readFileSync } from 'node:fs';
import { seededRandom } from '../support/decode.js';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createRecordBatch } from '../../src/core/batch.js';
import type { RecordBatch } from '../../src/core/batch.js';
import { CpuHzEstimator, formatHz } from '../../src/clock/estimate.js';
import type { CpuHzEstimate } from '../../src/clock/estimate.js';
import { parseCpuHz } from '../../src/clock/hz.js';
import { forEachRecordBatch, forEachRecordInFileOrder } from '../../src/parse/decode.js';

// ---------------------------------------------------------------------------------------------------
// Synthetic scheduler activity

const INFPREV = 0x0002800e;
const INFNEXT = 0x0002800f;
const SWITCH = 0x0002800a;
const LOST = 0x0001f001;
const runstate = (from: number, to: number) => 0x00021001 | (from << 8) | (to << 4);
const IDLE = 0x7fff;

interface Row {
  readonly pcpu: number;
  readonly event: number;
  readonly tsc: bigint;
  readonly words: readonly number[];
}

interface SchedulerSim {
  readonly hz: number;
  readonly pcpus: number;
  readonly switchesPerPcpu: number;
  /** Mean slice length in ns. */
  readonly meanSliceNs: number;
  /** Delay between Xen's NOW() and the INFPREV record, uniform in [0, jitter) ns. */
  readonly jitterNs: number;
  /** Every `lostEvery`-th switch is followed by a lost-records gap whose switches are missing. */
  readonly lostEvery?: number;
  /** Write the lost-records marker for those gaps (a real trace always does). */
  readonly writeLostMarker?: boolean;
  /** Switch indices (on pCPU 0) whose slice lasts 5.5 s, so that its runtime word wraps at 2^32 ns. */
  readonly wrapAt?: readonly number[];
  readonly seed?: number;
  /** Only INFPREV and INFNEXT (smaller inputs for long simulations). */
  readonly minimal?: boolean;
}

/**
 * Rows of a credit2-like context-switch stream per pCPU, in each pCPU's order. TSC = hz·stime plus a
 * per-pCPU offset beyond 2^53 (absolute TSCs are large) plus the NOW()→record delay.
 */
function simulate(sim: SchedulerSim): Row[][] {
  const random = seededRandom(sim.seed ?? 1);
  const perPcpu: Row[][] = [];
  for (let p = 0; p < sim.pcpus; p++) {
    const rows: Row[] = [];
    const offset = 0x0123_4567_89ab_cdefn + BigInt(p) * 987_654_321n;
    const tscAt = (ns: number) => offset + BigInt(Math.round((ns * sim.hz) / 1e9));
    let now = 1e9 + p * 1234567;
    let current = { dom: IDLE, unit: p };
    let enteredAt = now;
    for (let k = 0; k < sim.switchesPerPcpu; k++) {
      const wraps = p === 0 && (sim.wrapAt ?? []).includes(k);
      now += wraps ? 5.5e9 : Math.round(sim.meanSliceNs * (0.05 + 1.9 * random()));
      const lostGap = sim.lostEvery !== undefined && k > 0 && k % sim.lostEvery === 0;
      if (lostGap) {
        // Switches went unrecorded for 8 ms; Xen writes the marker when tracing resumes, and by chance
        // the unit running then is the last one named before the gap.
        now += 7e6;
        if (sim.writeLostMarker !== false) rows.push({ pcpu: p, event: LOST, tsc: tscAt(now), words: [3, 0, 0, 0] });
        enteredAt = now;
        now += 1e6;
      }
      const next = current.dom === IDLE ? { dom: 0, unit: k % 3 } : { dom: IDLE, unit: p };
      let t = now + sim.jitterNs * random();
      const runtime = (now - enteredAt) % 4294967296;
      rows.push({ pcpu: p, event: INFPREV, tsc: tscAt(t), words: [current.dom, current.unit, runtime] });
      t += 300;
      rows.push({ pcpu: p, event: INFNEXT, tsc: tscAt(t), words: [next.dom, next.unit, 0, 10_000_000] });
      if (sim.minimal === true) {
        current = next;
        enteredAt = now;
        continue;
      }
      t += 300;
      rows.push({ pcpu: p, event: SWITCH, tsc: tscAt(t), words: [current.dom, current.unit, next.dom, next.unit] });
      t += 300;
      rows.push({ pcpu: p, event: runstate(0, 1), tsc: tscAt(t), words: [((current.dom << 16) | current.unit) >>> 0] });
      t += 300;
      rows.push({ pcpu: p, event: runstate(1, 0), tsc: tscAt(t), words: [((next.dom << 16) | next.unit) >>> 0] });
      current = next;
      enteredAt = now;
    }
    perPcpu.push(rows);
  }
  return perPcpu;
}

/** File-like order: each pCPU's rows in windows of `window` rows, the pCPUs taking turns. */
function fileOrder(perPcpu: Row[][], window = 64): Row[] {
  const out: Row[] = [];
  for (let at = 0; perPcpu.some((rows) => at < rows.length); at += window) {
    for (const rows of perPcpu) out.push(...rows.slice(at, at + window));
  }
  return out;
}

/** Global TSC order (stable, so each pCPU keeps its order). */
function timeOrder(perPcpu: Row[][]): Row[] {
  return perPcpu.flat().sort((a, b) => (a.tsc < b.tsc ? -1 : a.tsc > b.tsc ? 1 : 0));
}

/** Packs rows into batches of `size` rows, reusing ONE batch object like the decoder does. */
function* batches(rows: readonly Row[], size: number): Generator<RecordBatch> {
  const batch = createRecordBatch(size);
  for (let start = 0; start < rows.length; start += size) {
    batch.words.fill(0xdeadbeef); // stale data from the previous batch must not matter
    let w = 0;
    const end = Math.min(rows.length, start + size);
    for (let i = start; i < end; i++) {
      const row = rows[i];
      const r = i - start;
      batch.pcpu[r] = row.pcpu;
      batch.header[r] = (0x80000000 | (row.words.length << 28) | row.event) >>> 0;
      batch.tscLo[r] = Number(row.tsc & 0xffffffffn);
      batch.tscHi[r] = Number(row.tsc >> 32n);
      batch.flags[r] = 0;
      batch.payloadIndex[r] = w;
      for (const word of row.words) batch.words[w++] = word >>> 0;
      batch.fileOffset[r] = i * 16;
    }
    batch.length = end - start;
    yield batch;
  }
}

function estimate(rows: readonly Row[], batchSize = 4096): CpuHzEstimate | undefined {
  const estimator = new CpuHzEstimator();
  for (const batch of batches(rows, batchSize)) estimator.add(batch);
  return estimator.result();
}

const base: SchedulerSim = { hz: 1.8e9, pcpus: 4, switchesPerPcpu: 1500, meanSliceNs: 4e6, jitterNs: 3000 };

describe('CpuHzEstimator on synthetic scheduler records', () => {
  it('recovers 1.8 GHz with an honest error', () => {
    const result = estimate(fileOrder(simulate(base)));
    expect(result).toBeDefined();
    const error = result!.hz / 1.8e9 - 1;
    expect(Math.abs(error)).toBeLessThan(1e-6);
    expect(Math.abs(error)).toBeLessThan(4 * result!.relativeError);
    expect(result!.relativeError).toBeLessThan(1e-6);
    expect(result!.samples).toBeGreaterThan(5000);
  });

  it('recovers an Arm-like 24 MHz generic timer', () => {
    const result = estimate(fileOrder(simulate({ ...base, hz: 24e6, seed: 7 })));
    expect(result).toBeDefined();
    const error = result!.hz / 24e6 - 1;
    expect(Math.abs(error)).toBeLessThan(2e-6);
    expect(Math.abs(error)).toBeLessThan(4 * result!.relativeError);
    expect(formatHz(result!.hz)).toBe('24.000M');
  });

  it('is exact on jitter-free records', () => {
    const result = estimate(fileOrder(simulate({ ...base, hz: 2596.122e6, jitterNs: 0, switchesPerPcpu: 300 })));
    expect(result!.hz / 2596.122e6 - 1).toBeCloseTo(0, 8);
    expect(formatHz(result!.hz)).toBe('2596.122M');
  });

  it('gives the same estimate for any batch split and for file or time order', () => {
    const perPcpu = simulate({ ...base, switchesPerPcpu: 600, seed: 3 });
    const inFileOrder = fileOrder(perPcpu);
    const reference = estimate(inFileOrder, inFileOrder.length);
    expect(reference).toBeDefined();
    for (const size of [1, 7, 100, 8192]) expect(estimate(inFileOrder, size)).toEqual(reference);
    expect(estimate(fileOrder(perPcpu, 5))).toEqual(reference);
    expect(estimate(timeOrder(perPcpu), 333)).toEqual(reference);
  });

  it('excludes slices that cross a lost-records marker', () => {
    // A gap of 8 ms after every 10th slice: paired across it, every window would run ~20 % fast.
    const sim = { ...base, switchesPerPcpu: 800, lostEvery: 10 };
    const withMarker = estimate(fileOrder(simulate(sim)));
    const error = Math.abs(withMarker!.hz / 1.8e9 - 1);
    // Chains of ~40 ms between the gaps: shorter windows, so a larger (and honest) error than above.
    expect(error).toBeLessThan(1e-5);
    expect(error).toBeLessThan(4 * withMarker!.relativeError);
    // The same records without the marker show what the marker protects from.
    const withoutMarker = estimate(fileOrder(simulate({ ...sim, writeLostMarker: false })));
    expect(withoutMarker === undefined || Math.abs(withoutMarker.hz / 1.8e9 - 1) > 1e-3).toBe(true);
  });

  it('drops a slice whose runtime wrapped at 2^32 ns', () => {
    const result = estimate(fileOrder(simulate({ ...base, wrapAt: [100, 900] })));
    expect(Math.abs(result!.hz / 1.8e9 - 1)).toBeLessThan(1e-6);
  });

  it('stays accurate when a long trace makes it merge its stored windows', () => {
    // 4 × 25000 slices of ~50 ms: ~5000 s of runtime, far beyond 65536 windows of 25 ms.
    const sim = { ...base, switchesPerPcpu: 25_000, meanSliceNs: 50e6, jitterNs: 20_000, minimal: true, seed: 11 };
    const result = estimate(fileOrder(simulate(sim), 512), 8192);
    expect(result).toBeDefined();
    expect(Math.abs(result!.hz / 1.8e9 - 1)).toBeLessThan(1e-7);
    expect(Math.abs(result!.hz / 1.8e9 - 1)).toBeLessThan(4 * result!.relativeError);
    expect(result!.samples).toBeGreaterThan(90_000);
  });

  it('is undefined without enough switches', () => {
    expect(new CpuHzEstimator().result()).toBeUndefined();
    expect(estimate(fileOrder(simulate({ ...base, pcpus: 1, switchesPerPcpu: 12 })))).toBeUndefined();
    // Runstate records alone (no INFPREV) say nothing about ns.
    const runstateOnly = fileOrder(simulate(base)).filter((row) => row.event !== INFPREV && row.event !== INFNEXT);
    expect(estimate(runstateOnly)).toBeUndefined();
  });

  it('ignores records whose TSC is not their own', () => {
    const rows = fileOrder(simulate({ ...base, switchesPerPcpu: 400 }));
    const estimator = new CpuHzEstimator();
    for (const batch of batches(rows, 1000)) {
      // Mark every INFPREV as inheriting its TSC: no slice can be timed.
      for (let i = 0; i < batch.length; i++) if ((batch.header[i] & 0x0fffffff) === INFPREV) batch.flags[i] = 1;
      estimator.add(batch);
    }
    expect(estimator.result()).toBeUndefined();
  });
});

describe('formatHz', () => {
  it('writes 3 decimals in MHz (or kHz, Hz below that) and reads back', () => {
    expect(formatHz(2596122000)).toBe('2596.122M');
    expect(formatHz(2596121600.4)).toBe('2596.122M');
    expect(formatHz(2.4e9)).toBe('2400.000M');
    expect(formatHz(32768)).toBe('32.768K');
    expect(formatHz(999)).toBe('999.000');
    for (const hz of [2596122000, 24e6, 1e9, 1e6]) expect(parseCpuHz(formatHz(hz))).toBe(hz);
    // Below 1 MHz no TSC runs: --cpu-hz refuses it.
    expect(() => parseCpuHz(formatHz(32768))).toThrow('between 1M and 100G');
  });
});

// ---------------------------------------------------------------------------------------------------
// Real traces

const tracesUrl = new URL('../../../shared/traces/', import.meta.url);
const tracesDir = fileURLToPath(tracesUrl);
const fileOf = (name: string) => fileURLToPath(new URL(name, tracesUrl));
const exists = (name: string) => existsSync(fileOf(name));

/** The ours-traces with scheduler records (INFPREV/INFNEXT): all but pv-hypercalls. */
const OURS_WITH_SCHED = ['sched-only', 'domain-create-small', 'domain-selfshutdown', 'domain-create', 'pvh-domain-create'];

function metaMhz(name: string): number {
  const match = /cpu_mhz\s*:\s*([\d.]+)/.exec(readFileSync(fileOf(`${name}.meta.txt`), 'utf8'));
  if (!match) throw new Error(`no cpu_mhz in ${name}.meta.txt`);
  return parseCpuHz(`${match[1]}M`);
}

/**
 * Hz from the sampler's (rdtsc, CLOCK_MONOTONIC) pairs. Under emulation dom0's clock strays from the
 * TSC by milliseconds for seconds at a time, so a plain least-squares fit can be 3e-4 off: this takes
 * the line that most samples lie within 25 µs of (consensus over sample pairs ≥ 1 s apart), then
 * refits it by least squares on those samples.
 */
function samplerHz(name: string): { hz: number; inliers: number } {
  const rows = readFileSync(fileOf(`${name}.sampler.txt`), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => line.trim().split(/\s+/).map(Number));
  const spans = rows.map((r) => r[5] - r[4]).sort((a, b) => a - b);
  const typical = spans[spans.length >> 1];
  // Samples whose two rdtscs are far apart were preempted between them.
  const kept = rows.filter((r) => r[5] - r[4] < 2 * typical);
  const x0 = kept[0][2];
  const y0 = kept[0][4];
  const xs = kept.map((r) => r[2] - x0);
  const ys = kept.map((r) => (r[4] + r[5]) / 2 - y0);
  const within = (a: number, b: number) => {
    const tolerance = a * 25_000;
    const inside: number[] = [];
    for (let k = 0; k < xs.length; k++) if (Math.abs(ys[k] - a * xs[k] - b) < tolerance) inside.push(k);
    return inside;
  };
  let best = { count: -1, a: 0, b: 0 };
  const step = Math.max(1, Math.floor(xs.length / 150));
  for (let i = 0; i < xs.length; i += step) {
    for (let j = i + step; j < xs.length; j += step) {
      if (xs[j] - xs[i] < 1e9) continue;
      const a = (ys[j] - ys[i]) / (xs[j] - xs[i]);
      const b = ys[i] - a * xs[i];
      const count = within(a, b).length;
      if (count > best.count) best = { count, a, b };
    }
  }
  let { a, b } = best;
  let inside: number[] = [];
  for (let pass = 0; pass < 3; pass++) {
    inside = within(a, b);
    let sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (const k of inside) {
      sx += xs[k];
      sy += ys[k];
      sxx += xs[k] * xs[k];
      sxy += xs[k] * ys[k];
    }
    const n = inside.length;
    a = (n * sxy - sx * sy) / (n * sxx - sx * sx);
    b = (sy - a * sx) / n;
  }
  return { hz: a * 1e9, inliers: inside.length };
}

async function estimateFile(bytes: Uint8Array): Promise<CpuHzEstimate | undefined> {
  const estimator = new CpuHzEstimator();
  await forEachRecordInFileOrder(bytes, (batch) => estimator.add(batch));
  return estimator.result();
}

function report(name: string, result: CpuHzEstimate | undefined, truth?: number): void {
  const text =
    result === undefined
      ? 'undefined'
      : `${formatHz(result.hz)} (${(result.hz / 1e6).toFixed(6)} MHz) ± ${(result.relativeError * 1e6).toFixed(2)} ppm from ${result.samples} pairs` +
        (truth === undefined ? '' : `, ${((result.hz / truth - 1) * 1e6).toFixed(2)} ppm from cpu_mhz`);
  process.stderr.write(`estimate ${name}: ${text}\n`);
}

function expectClose(result: CpuHzEstimate, meta: number, sampler: number): void {
  const vsMeta = result.hz / meta - 1;
  const vsSampler = result.hz / sampler - 1;
  expect(Math.abs(vsMeta)).toBeLessThan(1e-4);
  expect(Math.abs(vsSampler)).toBeLessThan(1e-4);
  // Honest error bar: the true rate lies within 4 sigma (cpu_mhz itself is rounded to 1 kHz, ~4e-7).
  expect(Math.abs(vsMeta)).toBeLessThan(4 * result.relativeError + 4e-7);
  expect(result.relativeError).toBeLessThan(5e-5);
}

describe('CpuHzEstimator on real traces', () => {
  it.skipIf(!existsSync(tracesDir))('the sampler fit agrees with cpu_mhz (so both can judge the estimate)', () => {
    for (const name of [...OURS_WITH_SCHED, 'pv-hypercalls']) {
      if (!exists(`${name}.sampler.txt`)) continue;
      const { hz, inliers } = samplerHz(name);
      expect(inliers).toBeGreaterThan(100);
      expect(Math.abs(hz / metaMhz(name) - 1)).toBeLessThan(1e-5);
    }
  });

  for (const name of OURS_WITH_SCHED) {
    it.skipIf(!exists(`${name}.xentrace`))(`${name}: within 1e-4 of cpu_mhz and of the sampler fit`, async () => {
      const result = await estimateFile(new Uint8Array(readFileSync(fileOf(`${name}.xentrace`))));
      const meta = metaMhz(name);
      report(name, result, meta);
      expect(result).toBeDefined();
      expect(result!.samples).toBeGreaterThan(500);
      expectClose(result!, meta, samplerHz(name).hz);
    });
  }

  it.skipIf(!exists('bench-large.xentrace.zst'))('bench-large (zstd, 312 s, 4 pCPUs): within 1e-4', async () => {
    const result = await estimateFile(new Uint8Array(readFileSync(fileOf('bench-large.xentrace.zst'))));
    const meta = metaMhz('bench-large');
    report('bench-large', result, meta);
    expect(result).toBeDefined();
    expectClose(result!, meta, samplerHz('bench-large').hz);
  });

  it.skipIf(!exists('sched-only.xentrace'))('gives the same estimate in file order and in time order, any batch size', async () => {
    const bytes = new Uint8Array(readFileSync(fileOf('sched-only.xentrace')));
    const reference = await estimateFile(bytes);
    for (const batchSize of [97, 8192]) {
      const estimator = new CpuHzEstimator();
      await forEachRecordBatch(bytes, (batch) => estimator.add(batch), { batchSize });
      expect(estimator.result()).toEqual(reference);
    }
  });

  it.skipIf(!exists('pv-hypercalls.xentrace'))('pv-hypercalls (no scheduler records) → undefined', async () => {
    expect(await estimateFile(new Uint8Array(readFileSync(fileOf('pv-hypercalls.xentrace'))))).toBeUndefined();
  });

  it.skipIf(!exists('thirdparty-credit2-hvm-8cpu.xentrace'))('thirdparty-credit2-hvm-8cpu (unknown rate): a tight, plausible fit', async () => {
    const result = await estimateFile(new Uint8Array(readFileSync(fileOf('thirdparty-credit2-hvm-8cpu.xentrace'))));
    report('thirdparty-credit2-hvm-8cpu', result);
    expect(result).toBeDefined();
    expect(result!.hz).toBeGreaterThan(1e9);
    expect(result!.hz).toBeLessThan(6e9);
    // Real hardware, no emulation noise: the windows agree to a few ppm.
    expect(result!.relativeError).toBeLessThan(2e-6);
    expect(result!.samples).toBeGreaterThan(5000);
  });
});
