// SPDX-License-Identifier: MIT
// Found by a second review: every planned (and joined) slice's lanes carry pcpuBytes and bytesAfter of their pCPU.
import { expect, it } from 'vitest';
import { indexWindows } from '../../src/parse/window-index.js';
import { joinSlices, planSlices } from '../../src/parse/slices.js';
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
