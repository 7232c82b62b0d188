// SPDX-License-Identifier: MIT
// Found by a second review: every planned (and joined) slice's lanes carry pcpuBytes and bytesAfter of their pCPU.
import { expect, it } from 'vitest';
import { indexWindows } from '../../src/parse/window-index.js';
import { joinSlices, lastWindowBelow, planSlices } from '../../src/parse/slices.js';
import { TraceBuilder } from '../support/trace-builder.js';
import { runstateAt } from '../support/slices.js';
import { randomTrace2 } from '../support/slice-traces.js';

it('pcpuBytes and bytesAfter follow the whole pCPU, for planned and joined slices', async () => {
  let checked = 0;
  for (let seed = 1; seed <= 300; seed++) {
    const bytes = randomTrace2(seed, 3);
    const readAt = (o: number, l: number) => bytes.subarray(o, o + l);
    const index = await indexWindows(bytes.length, readAt);
    for (const sliceBytes of [64, 200, 1000]) {
      const slices = await planSlices(index, bytes.length, readAt, sliceBytes);
      for (let from = 0; from < slices.length; from++) {
        for (let to = from + 1; to <= Math.min(slices.length, from + 4); to++) {
          const slice = to === from + 1 ? slices[from]! : joinSlices(slices, from, to);
          for (const lane of slice.lanes) {
            const pcpu = index.pcpus.find((p) => p.pcpu === lane.pcpu)!;
            const total = pcpu.lengths.reduce((s, l) => s + l - 12, 0);
            // Record bytes of the pCPU up to the lane's end: its windows before the lane's last, and the lane's part of that.
            const last = pcpu.offsets.indexOf(lane.offsets.at(-1)!);
            let upTo = 0;
            for (let w = 0; w < last; w++) upTo += pcpu.lengths[w]! - 12;
            upTo += lane.lengths.at(-1)! - 12;
            expect({ seed, sliceBytes, from, to, pcpuBytes: lane.pcpuBytes, bytesAfter: lane.bytesAfter }).toEqual({ seed, sliceBytes, from, to, pcpuBytes: total, bytesAfter: total - upTo });
            checked++;
          }
        }
      }
    }
  }
  expect(checked).toBeGreaterThan(1000);
});

it('finds the last window starting below a TSC from any hint, in a few reads when the hint is near', async () => {
  // One pCPU, 60 windows of 5 records; window k starts at TSC 1000·k + 1000 (the first TSC window k's records carry).
  const b = new TraceBuilder();
  for (let k = 0; k < 60; k++) b.window(0, Array.from({ length: 5 }, (_, i) => runstateAt(BigInt(1000 * k + 1000 + 10 * i), i)));
  const bytes = b.bytes();
  let reads = 0;
  const readAt = (o: number, l: number) => {
    reads++;
    return bytes.subarray(o, o + l);
  };
  const index = await indexWindows(bytes.length, readAt);
  const windows = index.pcpus[0]!;
  expect(windows.offsets).toHaveLength(60);
  const expected = (tsc: number) => Math.max(-1, Math.min(59, Math.ceil(tsc / 1000) - 2)); // last k with 1000·k + 1000 < tsc
  let nearReads = 0;
  let nearSearches = 0;
  for (const tsc of [0, 999, 1000, 1001, 1040, 2000, 2001, 30_500, 59_999, 60_000, 60_001, 90_000]) {
    for (let hint = -3; hint < 64; hint++) {
      reads = 0;
      const found = await lastWindowBelow(windows, [0, tsc], readAt, hint);
      expect({ tsc, hint, found }).toEqual({ tsc, hint, found: expected(tsc) });
      if (Math.abs(hint - expected(tsc)) <= 1) {
        nearReads += reads;
        nearSearches++;
      }
    }
  }
  // A hint next to the answer: about two reads, the window and its neighbour (1.8 on average here; a
  // halving search of 60 windows takes 6 or 7).
  expect(nearReads / nearSearches).toBeLessThanOrEqual(3);
});
