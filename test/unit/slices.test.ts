// SPDX-License-Identifier: MIT
// The exact merge in slices (DecodeOptions.helpers): the same rows and diagnostics as one merge, whatever
// the slice size, the number of helpers, helpers that fail, and TSCs that go backwards across a cut.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Diagnostics } from '../../src/core/diagnostics.js';
import { fromBlob } from '../../src/core/io.js';
import type { ByteSource } from '../../src/core/io.js';
import { fileSource } from '../../src/node/index.js';
import { decodeRecords, forEachRecordBatch } from '../../src/parse/decode.js';
import type { DecodeOptions } from '../../src/parse/decode.js';
import { SlicePlanner, joinSlices } from '../../src/parse/slices.js';
import { indexWindows } from '../../src/parse/window-index.js';
import type { SliceMergeHelper, SliceTask } from '../../src/parse/slices.js';
import { BatchDigest, mergedRows, seededRandom } from '../support/decode.js';
import { InThreadHelper, decodeBoth, diagnosticsText, shared } from '../support/slices.js';
import { realTraceNames, readTrace, tracePath } from '../support/shared.js';
import { EV, recordWords } from '../support/trace-builder.js';

/**
 * A trace of 1–6 pCPUs in rounds of windows. With `nasty`: records without TSC, TSCs that go backwards
 * (a little, or far after a jump), lost-records and wrap records.
 */
function randomTrace(seed: number): Uint8Array {
  const random = seededRandom(seed);
  const words: number[] = [];
  const pcpus = 1 + Math.floor(random() * 6);
  const tsc = Array.from({ length: pcpus }, () => BigInt(Math.floor(random() * 1000)));
  const nasty = seed % 2 === 0;
  const rounds = 3 + Math.floor(random() * 30);
  for (let round = 0; round < rounds; round++) {
    for (let pcpu = 0; pcpu < pcpus; pcpu++) {
      if (random() < 0.2) continue;
      const body: number[] = [];
      const count = Math.floor(random() * 40);
      for (let i = 0; i < count; i++) {
        tsc[pcpu]! += BigInt(Math.floor(random() * 200));
        let at: bigint | undefined = tsc[pcpu]!;
        let event = EV.runstate(1, Math.floor(random() * 4));
        const roll = random();
        if (nasty && roll < 0.02) event = EV.lost;
        else if (nasty && roll < 0.04) event = EV.wrap;
        if (nasty && random() < 0.03) at -= BigInt(Math.floor(random() * 3000));
        if (nasty && random() < 0.005) at += 1_000_000n;
        if (nasty && random() < 0.15) at = undefined;
        const payload = Array.from({ length: Math.floor(random() * 4) }, () => Math.floor(random() * 2 ** 32));
        body.push(...recordWords({ event, ...(at === undefined ? {} : { tsc: at < 0n ? 0n : at }), words: payload }));
      }
      words.push(0x2001f003, pcpu, body.length * 4, ...body);
    }
  }
  const bytes = new Uint8Array(words.length * 4);
  const view = new DataView(bytes.buffer);
  words.forEach((word, i) => view.setUint32(i * 4, word >>> 0, true));
  return bytes;
}

describe('exact merge in slices', () => {
  it('gives the rows and diagnostics of one merge on random traces, with TSCs going backwards across cuts', async () => {
    const helpers = [new InThreadHelper(), new InThreadHelper(), new InThreadHelper(), new InThreadHelper(3)];
    // XENSPAN_FUZZ_SEEDS=1000 for a longer search.
    const seeds = Number(process.env['XENSPAN_FUZZ_SEEDS'] ?? 40);
    for (let seed = 1; seed <= seeds; seed++) {
      const bytes = randomTrace(seed);
      for (const sliceBytes of [64, 300, 2048]) {
        for (const set of [[helpers[0]!], helpers.slice(1, 3), [helpers[3]!]]) {
          for (const batchSize of [1, 7, 8192]) {
            const { one, sliced } = await decodeBoth(bytes, { helpers: set, sliceBytes, batchSize });
            const where = `seed ${seed}, ${sliceBytes}-byte slices, ${set.length} helper(s), batches of ${batchSize}`;
            expect(sliced.rows, where).toEqual(one.rows);
            expect(diagnosticsText(sliced.diagnostics), where).toBe(diagnosticsText(one.diagnostics));
          }
        }
      }
    }
    // Not a vacuous pass: helpers merged slices, some of them held records past their end (merged again
    // with the next here), and the failing helper's slices were merged here.
    const given = helpers.reduce((sum, helper) => sum + helper.slices, 0);
    expect(given).toBeGreaterThan(1000);
    expect(helpers.reduce((sum, helper) => sum + helper.pastEnd, 0)).toBeGreaterThan(20);
    expect(helpers[3]!.slices).toBeGreaterThan(3);
    expect(helpers[0]!.recycled).toBeGreaterThan(0);
  });

  it('stops merging a slice of its own at the first record past its end and hands out nothing twice', async () => {
    // pCPU 1's TSC jumps far ahead and comes back: the cuts planned in its later windows do not hold.
    const words: number[] = [];
    let tsc = 1000n;
    for (let round = 0; round < 40; round++) {
      for (const pcpu of [0, 1]) {
        const body: number[] = [];
        for (let i = 0; i < 20; i++) {
          tsc += 10n;
          const at = pcpu === 1 && round === 5 && i === 3 ? tsc + 50_000n : tsc;
          body.push(...recordWords({ event: EV.runstate(1, 0), tsc: at, words: [round, i] }));
        }
        words.push(0x2001f003, pcpu, body.length * 4, ...body);
      }
    }
    const bytes = new Uint8Array(words.length * 4);
    words.forEach((word, i) => new DataView(bytes.buffer).setUint32(i * 4, word >>> 0, true));
    const helper = new InThreadHelper();
    const { one, sliced } = await decodeBoth(bytes, { helpers: [helper], sliceBytes: 200, batchSize: 3 });
    expect(sliced.rows).toEqual(one.rows);
    expect(diagnosticsText(sliced.diagnostics)).toBe(diagnosticsText(one.diagnostics));
    expect(one.diagnostics.counts.tsc_backwards).toBe(1);
    expect(helper.slices).toBeGreaterThan(1); // before the jump; after it the rest is merged here in one
  });

  it('plans slices of the sizes asked for, which together hold every record once', async () => {
    const bytes = randomTrace(21);
    // Seed 21 has windows without records, which hold no TSC to plan by.
    const index = await indexWindows(bytes.length, (offset, length) => bytes.subarray(offset, offset + length));
    const planner = new SlicePlanner(index, bytes.length, (offset, length) => bytes.subarray(offset, offset + length));
    const asked = [2000, 500, 4000, 1000];
    for (let k = 0; !planner.done; k++) await planner.next(asked[k % asked.length]!);
    const slices = planner.slices;
    expect(slices.length).toBeGreaterThanOrEqual(4);
    const sizes = slices.map((slice) => slice.lanes.reduce((sum, lane) => lane.lengths.reduce((s, l) => s + l - 12, sum) - (lane.firstSkip ?? 0), 0));
    // About the size asked for: a cut falls at a record within a window near the target.
    for (let k = 1; k < slices.length - 1; k++) expect(sizes[k]!, `slice ${k}`).toBeLessThan(3 * asked[k % asked.length]! + 2000);
    expect(slices.slice(0, -1).every((slice) => slice.endTsc !== undefined)).toBe(true);
    expect(slices[slices.length - 1]!.endTsc).toBeUndefined();
    // Joined again, they are the whole index.
    const whole = joinSlices(slices, 0, slices.length);
    const byPcpu = new Map(whole.lanes.map((lane) => [lane.pcpu, lane]));
    for (const windows of index.pcpus) {
      expect(byPcpu.get(windows.pcpu)?.offsets).toEqual(windows.offsets);
      expect(byPcpu.get(windows.pcpu)?.lengths).toEqual(windows.lengths);
      expect(byPcpu.get(windows.pcpu)?.firstSkip ?? 0).toBe(0);
    }
  });

  it('leaves helpers out when the input cannot be shared with them', async () => {
    const bytes = randomTrace(3);
    const helper = new InThreadHelper();
    // Bytes in an ordinary ArrayBuffer: other threads cannot see them.
    const { rows } = await mergedRows(bytes, { merge: 'exact', helpers: [helper], sliceBytes: 64 });
    expect(rows).toEqual((await mergedRows(bytes, { merge: 'exact' })).rows);
    expect(helper.slices).toBe(0);
  });

  it('shares a Blob and a file', async () => {
    const bytes = randomTrace(5);
    const reference = (await mergedRows(bytes, { merge: 'exact' })).rows;
    const helper = new InThreadHelper();
    const blob = new Blob([bytes]);
    expect((await mergedRows(fromBlob(blob), { merge: 'exact', helpers: [helper], sliceBytes: 256 })).rows).toEqual(reference);
    expect(helper.slices).toBeGreaterThan(0);
    const dir = mkdtempSync(join(tmpdir(), 'xenspan-slices-'));
    try {
      const path = join(dir, 'trace.xentrace');
      writeFileSync(path, bytes);
      const source = await fileSource(path);
      expect(source.share?.()).toEqual({ kind: 'file', path, size: bytes.length });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('works through decodeRecords, batches owned by the caller', async () => {
    const bytes = randomTrace(8);
    const reference = (await mergedRows(bytes, { merge: 'exact' })).rows.map((row) => row.offset);
    const offsets: number[] = [];
    for await (const batch of decodeRecords(shared(bytes), { merge: 'exact', helpers: [new InThreadHelper()], sliceBytes: 128 })) {
      offsets.push(...batch.fileOffset.subarray(0, batch.length));
    }
    expect(offsets).toEqual(reference);
  });

  for (const name of realTraceNames()) {
    it(`gives the rows of one merge on the real trace ${name}`, async () => {
      const bytes = readTrace(name);
      const helper = new InThreadHelper();
      const { one, sliced } = await decodeBoth(bytes, { helpers: [helper], sliceBytes: 256 * 1024 });
      expect(sliced.rows.length).toBe(one.rows.length);
      expect(sliced.rows).toEqual(one.rows);
      expect(diagnosticsText(sliced.diagnostics)).toBe(diagnosticsText(one.diagnostics));
      if (bytes.length > 1 << 20) expect(helper.slices).toBeGreaterThan(0);
    });
  }
});

describe('merge worker threads (xenspan/node createMergeWorkers, built package)', () => {
  it('merge a file and shared bytes in worker threads to the rows of one merge', async () => {
    // Worker threads load the built module (dist/node/merge-worker.js); `npm test` builds first.
    const node = await import(new URL('../../dist/node/index.js', import.meta.url).href);
    const name = realTraceNames().includes('domain-create') ? 'domain-create' : undefined;
    const bytes = name === undefined ? randomTrace(10) : readTrace(name);
    const reference = await mergedRows(bytes, { merge: 'exact' });
    const workers = node.createMergeWorkers(2);
    const dir = mkdtempSync(join(tmpdir(), 'xenspan-workers-'));
    try {
      const path = name === undefined ? join(dir, 'trace.xentrace') : tracePath(name);
      if (name === undefined) writeFileSync(path, bytes);
      const sliceBytes = Math.max(64, bytes.length >>> 4);
      for (const input of [await fileSource(path), shared(bytes)]) {
        const counted = workers.helpers.map((helper: SliceMergeHelper) => {
          const counting = { slices: 0, mergeSlice: (task: SliceTask) => (counting.slices++, helper.mergeSlice(task)), recycle: helper.recycle?.bind(helper) };
          return counting;
        });
        const { rows, diagnostics } = await mergedRows(input, { merge: 'exact', helpers: counted, sliceBytes });
        expect(rows).toEqual(reference.rows);
        expect(diagnosticsText(diagnostics)).toBe(diagnosticsText(reference.diagnostics));
        expect(counted.reduce((sum: number, helper: { slices: number }) => sum + helper.slices, 0)).toBeGreaterThan(2);
      }
    } finally {
      await workers.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('merge one slice at a time each, whatever the decodes sharing them (run side by side, or one stopped early)', async () => {
    // A worker's merges share its arena and read blocks: two at once overwrote each other's (review).
    const node = await import(new URL('../../dist/node/index.js', import.meta.url).href);
    const name = realTraceNames().includes('pvh-domain-create') ? 'pvh-domain-create' : undefined;
    const dir = mkdtempSync(join(tmpdir(), 'xenspan-workers-'));
    const workers = node.createMergeWorkers(1);
    try {
      const bytes = name === undefined ? randomTrace(30) : readTrace(name);
      const path = name === undefined ? join(dir, 'trace.xentrace') : tracePath(name);
      if (name === undefined) writeFileSync(path, bytes);
      const sliceBytes = Math.max(64, Math.min(1 << 20, bytes.length >>> 5));
      const digestOf = async (options: DecodeOptions, input: Uint8Array | ByteSource = bytes) => {
        const digest = new BatchDigest();
        const diagnostics = new Diagnostics({ samplesPerCode: 1000 });
        await forEachRecordBatch(input, (batch) => digest.add(batch), { merge: 'exact', diagnostics, ...options });
        return `${digest.records} ${digest.hash} ${diagnosticsText(diagnostics)}`;
      };
      const reference = await digestOf({});
      const decode = async () => digestOf({ helpers: workers.helpers, sliceBytes }, await fileSource(path));
      for (let round = 0; round < 3; round++) {
        for (const result of await Promise.all([decode(), decode(), decode()])) expect(result).toBe(reference);
      }
      // A decode stopped by its consumer leaves the worker merging; the next decode's slices wait for it.
      const stop = new Error('enough');
      await expect(
        forEachRecordBatch(await fileSource(path), () => {
          throw stop;
        }, { merge: 'exact', helpers: workers.helpers, sliceBytes }),
      ).rejects.toBe(stop);
      expect(await decode()).toBe(reference);
    } finally {
      await workers.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('merge here what a closed worker cannot', async () => {
    const node = await import(new URL('../../dist/node/index.js', import.meta.url).href);
    const bytes = randomTrace(12);
    const workers = node.createMergeWorkers(1);
    await workers.close();
    const { rows } = await mergedRows(shared(bytes), { merge: 'exact', helpers: workers.helpers, sliceBytes: 128 });
    expect(rows).toEqual((await mergedRows(bytes, { merge: 'exact' })).rows);
  });
});
