// SPDX-License-Identifier: MIT
// Found by a second review: random traces with late pCPUs, empty windows, long runs without TSC at pCPU starts, wrap and
// lost records at window starts, records cut by their window's end, look-alike headers.
import { describe, expect, it } from 'vitest';
import { InThreadHelper } from '../support/slices.js';
import { decodeBoth, diagnosticsText } from '../support/slices.js';
import { randomTrace2 } from '../support/slice-traces.js';

describe('exact merge in slices, random traces with more features', () => {
  it('random traces with more features give the rows and diagnostics of one merge', async () => {
    const seeds = Number(process.env['XENSPAN_FUZZ_SEEDS'] ?? 60);
    // Feature bits: 1 empty windows, 2 runs without TSC at pCPU starts, 4 wrap/lost records, 8 TSCs going
    // backwards or jumping, 16 records without TSC, 32 look-alike headers, 64 records cut by their window.
    // 0x41 failed at seed 49 before the planner refused cuts near a late pCPU's damaged first record
    // (slices-edges-2, F).
    const featureSets = process.env['XENSPAN_FEATURES'] === undefined ? [0xff, 0x41] : [Number(process.env['XENSPAN_FEATURES'])];
    const failures: string[] = [];
    let slices = 0;
    for (const features of featureSets)
    for (let seed = 1; seed <= seeds && failures.length < 5; seed++) {
      const bytes = randomTrace2(seed, features);
      for (const sliceBytes of [64, 300, 2048]) {
        for (const batchSize of [7, 8192]) {
          const helper = new InThreadHelper();
          const { one, sliced } = await decodeBoth(bytes, { helpers: [helper, new InThreadHelper()], sliceBytes, batchSize });
          slices += helper.slices;
          const where = `features ${features}, seed ${seed}, ${sliceBytes}-byte slices, batches of ${batchSize}`;
          if (one.merge !== sliced.merge) failures.push(`${where}: merge ${one.merge} vs ${sliced.merge}`);
          else if (JSON.stringify(sliced.rows, (_k, v) => (typeof v === 'bigint' ? String(v) : v)) !== JSON.stringify(one.rows, (_k, v) => (typeof v === 'bigint' ? String(v) : v))) {
            const i = sliced.rows.findIndex((r, k) => r.offset !== one.rows[k]?.offset || r.tsc !== one.rows[k]?.tsc || r.flags !== one.rows[k]?.flags);
            failures.push(`${where}: rows differ at ${i} (${sliced.rows.length} vs ${one.rows.length})`);
          } else if (diagnosticsText(sliced.diagnostics) !== diagnosticsText(one.diagnostics)) {
            failures.push(`${where}: diagnostics differ\n one: ${diagnosticsText(one.diagnostics)}\n sliced: ${diagnosticsText(sliced.diagnostics)}`);
          }
          if (failures.length > 0) break;
        }
        if (failures.length > 0) break;
      }
    }
    expect(failures).toEqual([]);
    // Not a vacuous pass: the helpers merged slices (172 with the default 60 seeds).
    expect(slices).toBeGreaterThan(100);
  }, 600_000);
});
