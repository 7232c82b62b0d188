// SPDX-License-Identifier: MIT
// The merge's order against a reference: a stable sort of the file-order records by (TSC, file offset).
// The pCPU counts cross the point where the merger switches between a linear scan and a heap, both ways.
import { describe, expect, it } from 'vitest';
import { EV, TraceBuilder } from '../support/trace-builder.js';
import type { RecordSpec } from '../support/trace-builder.js';
import { fileOrderRows, mergedRows, seededRandom } from '../support/decode.js';
import type { Row } from '../support/decode.js';

const run = EV.runstate(1, 0);

/**
 * Rounds of windows in rising pCPU order, as xentrace writes them. Within a round every pCPU's TSCs rise
 * from the round's start, drawn from a coarse grid so that different pCPUs often share a TSC exactly.
 * pCPUs listed in `stopAfter` write no window after that round (the active set shrinks).
 */
function roundsTrace(seed: number, pcpus: readonly number[], roundCount: number, stopAfter: ReadonlyMap<number, number>): Uint8Array {
  const random = seededRandom(seed);
  const builder = new TraceBuilder();
  let roundStart = 1_000_000n;
  for (let round = 0; round < roundCount; round++) {
    let roundEnd = roundStart;
    for (const pcpu of pcpus) {
      if (round > (stopAfter.get(pcpu) ?? Infinity)) continue;
      const records: RecordSpec[] = [];
      let tsc = roundStart;
      const count = Math.floor(random() * 7);
      for (let k = 0; k < count; k++) {
        tsc += BigInt(Math.floor(random() * 3)) * 10n; // steps of 0, 10 or 20 cycles: many exact ties
        // Some records carry no TSC: they inherit their pCPU's last one (not at a pCPU's very start).
        const inherit = k > 0 && random() < 0.1;
        records.push(inherit ? { event: run, words: [pcpu, k] } : { event: run, tsc, words: [pcpu, k] });
      }
      if (tsc > roundEnd) roundEnd = tsc;
      builder.window(pcpu, records);
    }
    roundStart = roundEnd + 10n;
  }
  return builder.bytes();
}

function referenceOrder(rows: readonly Row[]): Row[] {
  return [...rows].sort((a, b) => (a.tsc < b.tsc ? -1 : a.tsc > b.tsc ? 1 : a.offset - b.offset));
}

const cases: Array<{ name: string; pcpus: number[]; stopAfter: Map<number, number> }> = [
  { name: '2 pCPUs', pcpus: [0, 1], stopAfter: new Map() },
  { name: '5 sparse pCPUs', pcpus: [0, 3, 7, 64, 300], stopAfter: new Map() },
  { name: '9 pCPUs (one past the linear scan)', pcpus: [0, 1, 2, 3, 4, 5, 6, 7, 8], stopAfter: new Map() },
  {
    name: '40 pCPUs, 34 of which stop early (heap, then a linear scan)',
    pcpus: Array.from({ length: 40 }, (_, k) => k),
    stopAfter: new Map(Array.from({ length: 34 }, (_, k) => [k + 6, 8 + (k % 5)] as [number, number])),
  },
];

describe('merge order', () => {
  for (const { name, pcpus, stopAfter } of cases) {
    it(`equals a stable sort by (TSC, file offset): ${name}`, async () => {
      for (const seed of [1, 2, 3]) {
        const bytes = roundsTrace(seed, pcpus, 30, stopAfter);
        const expected = referenceOrder((await fileOrderRows(bytes)).rows);
        expect(expected.length).toBeGreaterThan(100);
        for (const merge of ['exact', 'stream'] as const) {
          // Small batches too, so that runs are cut by the batch end as well as by the runner-up.
          for (const batchSize of [8192, 7]) {
            const { rows, diagnostics } = await mergedRows(bytes, { merge, batchSize });
            expect(rows, `${merge}, seed ${seed}, batch ${batchSize}`).toEqual(expected);
            expect(diagnostics.counts).toEqual({});
          }
        }
      }
    });
  }
});
