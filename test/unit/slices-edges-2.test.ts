// SPDX-License-Identifier: MIT
// Found by a second review: edge cases where the exact merge in slices still differs from one merge.
import { describe, expect, it } from 'vitest';
import { Diagnostics } from '../../src/core/diagnostics.js';
import { decodeTrace } from '../../src/core/pipeline.js';
import { InThreadHelper, decodeWithHelper, diagnosticsText, runstateAt, shared } from '../support/slices.js';
import { mergedRows } from '../support/decode.js';
import { EV, TraceBuilder, recordWords } from '../support/trace-builder.js';
import type { RecordSpec } from '../support/trace-builder.js';

const rs = runstateAt;

describe('exact merge in slices, second review', () => {
  it('F: a pCPU that starts after a cut with a first record cut short by its window: diagnostics order', async () => {
    // pCPU 0: records from TSC 1000 on, one going backwards in round 5. pCPU 1 starts in round 30 with a
    // window of 8 bytes: a record header with TSC whose TSC's high word is past the window's end.
    const b = new TraceBuilder();
    let tsc = 1000n;
    for (let round = 0; round < 40; round++) {
      const recs: RecordSpec[] = [];
      for (let i = 0; i < 10; i++) { tsc += 10n; recs.push(round === 5 && i === 5 ? rs(900n, i) : rs(tsc, i)); }
      b.window(0, recs);
      if (round === 30) {
        const record = recordWords(rs(tsc + 5n, 1));
        b.raw(0x2001f003, 1, 8, ...record.slice(0, 2));
        b.window(1, [rs(tsc + 6n, 2), rs(tsc + 7n, 3)]);
      }
    }
    // The planner makes no cut it cannot be sure of (here none at all): the same rows and diagnostics.
    const { one, sliced } = await decodeWithHelper(b.bytes(), 256);
    expect(sliced.rows).toEqual(one.rows);
    expect(diagnosticsText(sliced.diagnostics)).toBe(diagnosticsText(one.diagnostics));
  });

  it('G: a corrupt TSC far ahead as a pCPU\'s first record after a cut: the slice measures from it and blurs', async () => {
    // Each round: pCPU 0 at base+0..90, then pCPUs 1 and 2 interleaved 3 cycles apart from base+100. From
    // round 10, pCPU 0's first record has TSC 2^62 (damage), which a later cut puts first on pCPU 0's lane
    // (the slice is then merged again with the next ones, to the end, as that record stays past each end). One merge measures from TSC 1000 and keeps
    // pCPUs 1 and 2 exact; a slice measures from its first lane's head, 2^62, and orders them by offset.
    const b = new TraceBuilder();
    for (let round = 0; round < 40; round++) {
      const base = BigInt(1000 + round * 1000);
      b.window(0, Array.from({ length: 10 }, (_, i) => rs(round === 10 && i === 0 ? 1n << 62n : base + BigInt(i * 10), i)));
      for (const pcpu of [1, 2]) b.window(pcpu, Array.from({ length: 10 }, (_, i) => rs(base + BigInt(100 + i * 10 + (pcpu - 1) * 3), i)));
    }
    const { one, sliced, helper } = await decodeWithHelper(b.bytes(), 256);
    expect(helper.slices).toBeGreaterThan(0);
    expect(sliced.rows.map((r) => r.offset)).toEqual(one.rows.map((r) => r.offset));
  });

  it('H: decodeTrace: the merge\'s diagnostics and those reported as rows pass each keep their order and counts', async () => {
    // Slice 0 (the calling thread's) has an unknown event (reported by decodeTrace as its batch passes)
    // before a TSC going backwards (reported by the merge as it decodes that record, before the batch is
    // handed out). One merge: tsc_backwards, then unknown_event; with helpers a slice's merge diagnostics
    // come together with its rows (documented), so the two kinds may interleave otherwise.
    const b = new TraceBuilder();
    let tsc = 1000n;
    for (let round = 0; round < 4000; round++) {
      for (const pcpu of [0, 1]) {
        const recs: RecordSpec[] = [];
        for (let i = 0; i < 10; i++) {
          tsc += 10n;
          if (round === 0 && pcpu === 0 && i === 1) recs.push({ event: 0x0000ffff, tsc, words: [1] });
          else recs.push(round === 0 && pcpu === 0 && i === 5 ? rs(tsc - 25n, i) : rs(tsc, i));
        }
        b.window(pcpu, recs);
      }
    }
    const bytes = shared(b.bytes());
    const run = async (helpers: InThreadHelper[]) => {
      const { setup } = await decodeTrace(bytes, () => {}, { merge: 'exact', helpers });
      const samples = setup.diagnostics.samples.map((e) => `${e.code} ${e.offset}`);
      const passing = (line: string) => line.startsWith('unknown_event') || line.startsWith('guest_record');
      return { counts: setup.diagnostics.counts, merge: samples.filter((line) => !passing(line)), passing: samples.filter(passing) };
    };
    const helper = new InThreadHelper();
    const sliced = await run([helper]);
    expect(helper.slices).toBeGreaterThan(0);
    const one = await run([]);
    expect(sliced.merge).toEqual(one.merge);
    expect(sliced.passing).toEqual(one.passing);
    expect({ ...sliced.counts }).toEqual({ ...one.counts });
  });

  it('I: one TSC far ahead early on does not make the calling thread merge the rest of the trace over and over', async () => {
    // pCPU 0's record of round 100 has its TSC's high word corrupt (2^46 ahead): in one merge, as in every
    // slice after it, that record comes last (its pCPU's later records wait behind it). Each slice from
    // there fails its end check and is merged again together with the next, from the same start: the
    // work grows with the square of the slices left. Reads (backpressure calls) stand for the work.
    const rounds = 20_000;
    const trace = (corrupt: boolean) => {
    const words = new Uint32Array(rounds * 2 * 43);
    let w = 0;
    for (let r = 0; r < rounds; r++) {
      for (const p of [0, 1]) {
        words.set([0x2001f003, p, 160], w);
        w += 3;
        for (let i = 0; i < 10; i++) {
          const tsc = 1000 + r * 1000 + i * 10 + p * 5;
          words.set([0x90021101, tsc % 2 ** 32, corrupt && r === 100 && p === 0 && i === 0 ? 0x4000 : Math.floor(tsc / 2 ** 32), i], w);
          w += 4;
        }
      }
    }
    return shared(new Uint8Array(words.buffer));
    };
    const reads = async (bytes: Uint8Array, helpers?: InThreadHelper[]) => {
      let calls = 0;
      const backpressure = () => { calls++; return undefined; };
      await mergedRows(bytes, { merge: 'exact', backpressure, ...(helpers === undefined ? {} : { helpers, sliceBytes: 64 << 10 }) });
      return calls;
    };
    const clean = await reads(trace(false), [new InThreadHelper()]);
    const corrupt = await reads(trace(true), [new InThreadHelper()]);
    expect(corrupt).toBeLessThan(3 * clean);
  }, 60_000);
});
