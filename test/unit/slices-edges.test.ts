// SPDX-License-Identifier: MIT
// Edge cases of the exact merge in slices, found by review: each gave rows or diagnostics other than one
// merge's. Where the planner cannot make sure a cut keeps them, it makes none there (no slices at all,
// in A and B): the rows are still compared.
import { describe, expect, it } from 'vitest';
import { Diagnostics } from '../../src/core/diagnostics.js';
import { decodeTrace } from '../../src/core/pipeline.js';
import type { SliceMergeHelper } from '../../src/parse/slices.js';
import { InThreadHelper, decodeWithHelper, diagnosticsText, runstateAt, shared } from '../support/slices.js';
import { mergedRows } from '../support/decode.js';
import { EV, TraceBuilder, recordWords } from '../support/trace-builder.js';
import type { RecordSpec } from '../support/trace-builder.js';

const rs = runstateAt;
/** pCPU 0 records at 1000.. from the start; pCPU 1 only in later rounds (its first window given). */
function twoPcpus(late: (round: number) => RecordSpec[] | undefined, extra0?: (round: number, i: number) => RecordSpec | undefined) {
  const b = new TraceBuilder();
  let tsc = 1000n;
  for (let round = 0; round < 40; round++) {
    const recs: RecordSpec[] = [];
    for (let i = 0; i < 10; i++) { tsc += 10n; recs.push(extra0?.(round, i) ?? rs(tsc, round * 100 + i)); }
    b.window(0, recs);
    const l = late(round);
    if (l !== undefined) b.window(1, l);
  }
  return b.bytes();
}

describe('exact merge in slices: where a cut cannot be made sure of', () => {
  it('A: wrap record with a TSC first on a pCPU that starts after a cut', async () => {
    // pCPU 1's first window: a wrap record with a large TSC, then a record whose TSC is early.
    const bytes = twoPcpus((round) => (round === 30 ? [{ event: EV.wrap, tsc: 1_000_000n }, rs(1500n, 7777)] : undefined));
    const { one, sliced } = await decodeWithHelper(bytes, 256);
    expect(sliced.rows.map((r) => r.offset)).toEqual(one.rows.map((r) => r.offset));
    expect(diagnosticsText(sliced.diagnostics)).toBe(diagnosticsText(one.diagnostics));
  });

  it('B: damage at the start of a pCPU that starts after a cut: diagnostics order', async () => {
    // pCPU 0 has a TSC going backwards late (a diagnostic in a late slice); pCPU 1 starts late with a
    // CPU_CHANGE look-alike in its first window (reported when the single merge starts).
    const bytes = twoPcpus(
      (round) => (round === 30 ? [] : undefined),
      (round, i) => (round === 5 && i === 5 ? rs(1000n, 5) : undefined),
    );
    // Build pCPU 1's late window by hand: look-alike header, then records.
    const b = new TraceBuilder();
    let tsc = 1000n;
    for (let round = 0; round < 40; round++) {
      const recs: RecordSpec[] = [];
      for (let i = 0; i < 10; i++) { tsc += 10n; recs.push(round === 2 && i === 5 ? rs(900n, 5) : rs(tsc, round * 100 + i)); }
      b.window(0, recs);
      if (round === 30) {
        const body = [0x2001f003, 1, 8, ...recordWords(rs(tsc + 5n, 1)), ...recordWords(rs(tsc + 6n, 2))];
        b.raw(0x2001f003, 1, body.length * 4, ...body);
      }
    }
    void bytes;
    const { one, sliced } = await decodeWithHelper(b.bytes(), 256);
    expect(sliced.rows).toEqual(one.rows);
    expect(diagnosticsText(sliced.diagnostics)).toBe(diagnosticsText(one.diagnostics));
  });

  it('C: TSCs that span more than 2^53 cycles: slices keep exact TSC order where one merge cannot', async () => {
    // One merge compares TSCs as doubles from one base, exact below 2^53 cycles from it (the README says
    // so); each slice has its own base, so here the slices are in order and one merge is not: the one
    // documented place where the rows may differ.
    const b = new TraceBuilder();
    const base = 1n << 60n;
    b.window(0, [rs(0n, 0)]);
    for (let round = 0; round < 30; round++) {
      for (const pcpu of [0, 1]) {
        const recs: RecordSpec[] = [];
        for (let i = 0; i < 10; i++) recs.push(rs(base + BigInt(round * 1000 + i * 20 + (pcpu === 1 ? 10 : 0)), i));
        b.window(pcpu, recs);
      }
    }
    const { one, sliced, helper } = await decodeWithHelper(b.bytes(), 256);
    expect(helper.slices).toBeGreaterThan(0);
    const inOrder = [...sliced.rows].sort((x, y) => (x.tsc < y.tsc ? -1 : x.tsc > y.tsc ? 1 : x.offset - y.offset));
    expect(sliced.rows.map((r) => r.offset)).toEqual(inOrder.map((r) => r.offset));
    expect(one.rows.map((r) => r.offset)).not.toEqual(inOrder.map((r) => r.offset));
  });
});

describe('exact merge in slices: strict mode and live diagnostics', () => {
  /** pCPUs 0 and 1 interleaved; pCPU 0's TSC goes backwards once at `backAt` (round, i). */
  function trace(backRound: number): Uint8Array {
    const b = new TraceBuilder();
    let tsc = 1000n;
    for (let round = 0; round < 200; round++) {
      for (const pcpu of [0, 1]) {
        const recs: RecordSpec[] = [];
        for (let i = 0; i < 10; i++) { tsc += 10n; recs.push(pcpu === 0 && round === backRound && i === 5 ? rs(tsc - 15n, i) : rs(tsc, i)); }
        b.window(pcpu, recs);
      }
    }
    return b.bytes();
  }
  async function rowsBeforeStrictError(bytes: Uint8Array, helpers?: SliceMergeHelper[]) {
    let rows = 0;
    let error = '';
    try {
      await decodeTrace(bytes, (batch) => { rows += batch.length; }, { merge: 'exact', strict: true, batchSize: 64, ...(helpers === undefined ? {} : { helpers }) });
    } catch (e) { error = (e as Error).message.slice(0, 40); }
    return { rows, error };
  }
  it('D: strict mode stops where the single merge stops (helpers are left out with a live listener)', async () => {
    const bytes = shared(trace(3));
    const one = await rowsBeforeStrictError(bytes);
    const sliced = await rowsBeforeStrictError(bytes, [new InThreadHelper()]);
    expect(one.error).toContain('strict');
    expect(sliced).toEqual(one);
  });
});

describe('exact merge in slices: records waiting for a TSC with many pCPUs', () => {
  it('E: records waiting for a TSC stop waiting where one merge stops, whatever the pCPUs of a slice', async () => {
    const b = new TraceBuilder();
    // pCPU 0 starts with 51,200 records without TSC (200 KiB), then its first TSC.
    const waiting: RecordSpec[] = Array.from({ length: 51_200 }, () => ({ event: EV.runstate(1, 0) }));
    b.window(0, [...waiting, rs(1500n)]);
    for (let round = 0; round < 40; round++) {
      for (let pcpu = 0; pcpu < 64; pcpu++) {
        if (pcpu >= 20 && round < 30) continue; // pCPUs 20-63 start late
        const recs: RecordSpec[] = [];
        for (let i = 0; i < 10; i++) recs.push(rs(BigInt(2000 + round * 1000 + i * 10 + pcpu % 10), i));
        b.window(pcpu, recs);
      }
    }
    const bytes = b.bytes();
    const { one, sliced, helper } = await decodeWithHelper(bytes, 100_000);
    const tscZero = (rows: { tsc: bigint }[]) => rows.filter((r) => r.tsc === 0n).length;
    expect({ tscZero: tscZero(sliced.rows), rows: sliced.rows.length }).toEqual({ tscZero: tscZero(one.rows), rows: one.rows.length });
    expect(sliced.rows).toEqual(one.rows);
    expect(helper.slices).toBeGreaterThan(0);
  });
});

describe('exact merge in slices: a pCPU whose first window starts with more than 512 bytes without TSC', () => {
  it('A2: its early records come where one merge puts them, not after later slices', async () => {
    const b = new TraceBuilder();
    let tsc = 1000n;
    for (let round = 0; round < 40; round++) {
      const recs: RecordSpec[] = [];
      for (let i = 0; i < 10; i++) { tsc += 10n; recs.push(rs(tsc, i)); }
      b.window(0, recs);
      // pCPU 1: a first window of 200 records without TSC, then records at TSC 1005..; its next window comes late.
      if (round === 0) b.window(1, [...Array.from({ length: 200 }, () => ({ event: EV.runstate(1, 0) })), rs(1005n, 1), rs(1006n, 2)]);
      if (round === 30) b.window(1, [rs(tsc + 5n, 3)]);
    }
    const { one, sliced, helper } = await decodeWithHelper(b.bytes(), 256);
    expect(helper.slices).toBeGreaterThan(0);
    const firstOfPcpu1 = (rows: { pcpu: number }[]) => rows.findIndex((r) => r.pcpu === 1);
    expect(firstOfPcpu1(sliced.rows)).toBe(firstOfPcpu1(one.rows));
    expect(sliced.rows.map((r) => r.offset)).toEqual(one.rows.map((r) => r.offset));
  });
});
