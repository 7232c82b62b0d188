// SPDX-License-Identifier: MIT
// The exact merge decodes each pCPU's windows in place, a piece at a time: windows larger than a piece,
// records cut between pieces, and damage inside a window whose framing is intact.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RECORD_FLAGS } from '../../src/core/batch.js';
import { Diagnostics } from '../../src/core/diagnostics.js';
import { fromBytes } from '../../src/core/io.js';
import type { ByteSource } from '../../src/core/io.js';
import { fileSource } from '../../src/node/index.js';
import { mergeExact } from '../../src/parse/exact.js';
import { indexWindows } from '../../src/parse/window-index.js';
import { EV, TraceBuilder } from '../support/trace-builder.js';
import type { RecordSpec } from '../support/trace-builder.js';
import { fileOrderRows, mergedRows, seededRandom } from '../support/decode.js';
import type { Row } from '../support/decode.js';

const run = EV.runstate(1, 0);

function referenceOrder(rows: readonly Row[]): Row[] {
  return [...rows].sort((a, b) => (a.tsc < b.tsc ? -1 : a.tsc > b.tsc ? 1 : a.offset - b.offset));
}

describe('exact merge in pieces', () => {
  it('merges windows much larger than what a pCPU reads at a time, records of every size cut anywhere', async () => {
    // 3 pCPUs, 2 rounds of ~1.4 MB windows: each is read in several pieces (256 KiB each, and at most to
    // the end of a 1 MiB cache block), so records of 4 to 40 bytes are cut between pieces.
    const random = seededRandom(7);
    const builder = new TraceBuilder();
    let tsc = 1_000_000n;
    for (let round = 0; round < 2; round++) {
      const roundStart = tsc;
      let roundEnd = tsc;
      for (const pcpu of [0, 1, 2]) {
        const records: RecordSpec[] = [];
        let t = roundStart;
        for (let k = 0; k < 60_000; k++) {
          t += BigInt(Math.floor(random() * 4)) * 5n;
          const words = Array.from({ length: Math.floor(random() * 8) }, (_, i) => (k + i) >>> 0);
          records.push(k > 0 && random() < 0.2 ? { event: run, words } : { event: run, tsc: t, words });
        }
        if (t > roundEnd) roundEnd = t;
        builder.window(pcpu, records);
      }
      tsc = roundEnd + 1n;
    }
    const bytes = builder.bytes();
    const { rows: fileRows } = await fileOrderRows(bytes);
    const expected = referenceOrder(fileRows);
    const exact = await mergedRows(bytes, { merge: 'exact' });
    expect(exact.merge).toBe('exact');
    expect(exact.rows.length).toBe(2 * 3 * 60_000);
    expect(exact.rows).toEqual(expected);
    expect(exact.diagnostics.counts).toEqual({});
    const stream = await mergedRows(bytes, { merge: 'stream' });
    expect(stream.rows).toEqual(expected);
  });

  it('gives records without a TSC at a pCPU start the first TSC that comes, across pieces', async () => {
    // 40,000 records without TSC (320 KB: more than one piece) before pCPU 1's first TSC.
    const untimed = Array.from({ length: 40_000 }, (_, k) => ({ event: run, words: [k] }));
    const bytes = new TraceBuilder()
      .window(0, [{ event: run, tsc: 500n, words: [0] }])
      .window(1, [...untimed, { event: run, tsc: 1000n, words: [1] }])
      .bytes();
    const { rows, diagnostics } = await mergedRows(bytes, { merge: 'exact' });
    expect(rows.length).toBe(40_002);
    expect(rows[0]).toMatchObject({ pcpu: 0, tsc: 500n });
    expect(rows.slice(1).every((r) => r.pcpu === 1 && r.tsc === 1000n)).toBe(true);
    expect(rows.slice(1).map((r) => r.words[0])).toEqual([...untimed.map((_, k) => k), 1]);
    expect(diagnostics.counts.missing_tsc_at_start).toBe(40_000);
  });
  it('puts a pCPU that never gets a TSC first, even when the first TSC is read after merging began', async () => {
    // pCPU 1 has 320 KB of records without TSC before its first TSC: the merge starts with pCPU 0's
    // TSC-less records (TSC 0) before any TSC is known, and must still order them first although they
    // come later in the file.
    const untimed = Array.from({ length: 40_000 }, (_, k) => ({ event: run, words: [k] }));
    const bytes = new TraceBuilder()
      .window(0, [])
      .window(1, [...untimed, { event: run, tsc: 5_000_000_000_000n, words: [1] }])
      .window(0, [{ event: run, words: [70] }, { event: run, words: [71] }])
      .bytes();
    const { rows } = await mergedRows(bytes, { merge: 'exact' });
    expect(rows.length).toBe(40_003);
    expect(rows.slice(0, 2).map((r) => [r.pcpu, r.tsc, r.words[0]])).toEqual([
      [0, 0n, 70],
      [0, 0n, 71],
    ]);
    expect(rows.slice(2).every((r) => r.pcpu === 1 && r.tsc === 5_000_000_000_000n)).toBe(true);
  });
  it('back-fills a pCPU start only from a record with a TSC of its own, as the stream merge does', async () => {
    // A wrap record with a TSC (Xen writes them without) is dropped; the record after it inherits its
    // TSC but still waits, with the ones before the wrap, for pCPU 1's first own TSC.
    const bytes = new TraceBuilder()
      .window(0, [{ event: run, tsc: 100n, words: [0] }, { event: run, tsc: 300n, words: [9] }])
      .window(1, [{ event: run, words: [1] }, { event: EV.wrap, tsc: 200n }, { event: run, words: [2] }, { event: run, tsc: 400n, words: [3] }])
      .bytes();
    const show = (rows: Row[]) => rows.map((r) => [r.pcpu, r.words[0], r.tsc]);
    const exact = await mergedRows(bytes, { merge: 'exact' });
    expect(show(exact.rows)).toEqual([
      [0, 0, 100n],
      [0, 9, 300n],
      [1, 1, 400n],
      [1, 2, 400n],
      [1, 3, 400n],
    ]);
    expect(show((await mergedRows(bytes, { merge: 'stream' })).rows)).toEqual(show(exact.rows));
  });

  it('gives a pCPU with little data a region no larger than its records, so thousands of pCPUs merge', async () => {
    const builder = new TraceBuilder();
    for (let pcpu = 0; pcpu < 3000; pcpu++) builder.window(pcpu, [{ event: run, tsc: BigInt(3000 - pcpu), words: [pcpu] }]);
    const { rows, merge } = await mergedRows(builder.bytes(), { merge: 'exact' });
    expect(merge).toBe('exact');
    expect(rows.map((r) => r.pcpu)).toEqual(Array.from({ length: 3000 }, (_, k) => 2999 - k));
  });
});

describe('damage inside a window whose framing is intact', () => {
  it('a record running past the end of its window: the rest of the window is skipped, as when streaming', async () => {
    // pCPU 0's window is 20 bytes: a 12-byte record, then a header that claims 12 more bytes than remain.
    const bytes = new TraceBuilder()
      .window(0, [{ event: run, tsc: 1n, words: [] }], 20)
      .raw(0x90021010) // TSC and 1 word: 16 bytes, 8 of them past the window's end
      .raw(0x00000005)
      .window(1, [{ event: run, tsc: 2n, words: [7] }])
      .window(0, [{ event: run, tsc: 3n, words: [8] }])
      .bytes();
    for (const merge of ['exact', 'stream'] as const) {
      const { rows, diagnostics, merge: used } = await mergedRows(bytes, { merge });
      expect(used).toBe(merge);
      expect(rows.map((r) => [r.pcpu, r.tsc])).toEqual([
        [0, 1n],
        [1, 2n],
        [0, 3n],
      ]);
      expect(diagnostics.counts).toEqual({ record_crosses_window: 1 });
      expect(diagnostics.samples[0]?.offset).toBe(24);
    }
  });

  it('a record running past the end of a window whose end is not read yet', async () => {
    // One pCPU, one window that ends 4 bytes after the first 1 MiB block: the last piece read before the
    // block boundary ends inside the bad record, so the merge must skip bytes it has not read.
    const block = 1 << 20;
    // Records from offset 12 up to 8 bytes before the block boundary: 16-byte ones and one of 12 bytes.
    const filler: RecordSpec[] = [];
    const fillerBytes = block - 8 - 12;
    const fillerCount = Math.floor(fillerBytes / 16) + 1;
    for (let k = 0; k < fillerCount - 1; k++) filler.push({ event: run, tsc: BigInt(10 + k), words: [k] });
    filler.push({ event: run, tsc: BigInt(10 + fillerCount - 1) });
    expect((fillerCount - 1) * 16 + 12).toBe(fillerBytes);
    const bodyBytes = fillerBytes + 12; // the bad record's 8 bytes before the boundary, 4 after
    const bytes = new TraceBuilder()
      .window(0, filler, bodyBytes)
      .raw(0xf0021010, 0x11111111, 0x22222222) // a header claiming TSC and 7 words (40 bytes)
      .window(0, [{ event: run, tsc: BigInt(10 + fillerCount), words: [1] }])
      .bytes();
    const diagnostics = new Diagnostics();
    const { rows } = await mergedRows(bytes, { merge: 'exact', diagnostics });
    expect(rows.length).toBe(fillerCount + 1);
    expect(rows.at(-1)).toMatchObject({ tsc: BigInt(10 + fillerCount), words: [1] });
    expect(diagnostics.counts).toEqual({ record_crosses_window: 1 });
    expect(diagnostics.samples[0]?.offset).toBe(block - 8);
    const stream = await mergedRows(bytes, { merge: 'stream' });
    expect(stream.rows).toEqual(rows);
  });

  it('a CPU_CHANGE look-alike inside a window is skipped and the window read on', async () => {
    // The window's size is right (the next header is where it says), so the look-alike is damage.
    const bytes = new TraceBuilder()
      .window(0, [{ event: run, tsc: 1n, words: [1] }], 16 + 12 + 16)
      .raw(0x2001f003, 1, 0)
      .raw(0x90021010, 3, 0, 2) // a record: TSC 3, one word
      .window(1, [{ event: run, tsc: 2n, words: [9] }])
      .bytes();
    const { rows, diagnostics } = await mergedRows(bytes, { merge: 'exact' });
    expect(rows.map((r) => [r.pcpu, r.tsc, r.words])).toEqual([
      [0, 1n, [1]],
      [1, 2n, [9]],
      [0, 3n, [2]],
    ]);
    expect(diagnostics.counts).toEqual({ window_cut_short: 1 });
    expect(diagnostics.samples[0]).toMatchObject({ pcpu: 0, offset: 28 });
  });
});

describe('window index', () => {
  it('asks again when a reader answers short, instead of giving up the exact merge', async () => {
    const builder = new TraceBuilder();
    for (let k = 0; k < 20; k++) builder.window(k % 2, [{ event: run, tsc: BigInt(k), words: [k] }]);
    const bytes = builder.bytes();
    const stingy: ByteSource = {
      name: 'stingy',
      size: bytes.length,
      chunks: () => fromBytes(bytes).chunks(),
      readAt: async (offset, length) => bytes.slice(offset, offset + Math.min(length, 8)),
    };
    const { rows, merge, diagnostics } = await mergedRows(stingy, { merge: 'auto' });
    expect(merge).toBe('exact');
    expect(rows.map((r) => r.words[0])).toEqual(Array.from({ length: 20 }, (_, k) => k));
    expect(diagnostics.counts).toEqual({});
  });

  it('is the same whether the reader answers at once or with a promise, damaged or not', async () => {
    const random = seededRandom(3);
    const builder = new TraceBuilder();
    for (let k = 0; k < 400; k++) {
      const records = Array.from({ length: Math.floor(random() * 900) }, (_, i) => ({ event: run, tsc: BigInt(k * 1000 + i), words: [i] }));
      builder.window(k % 3, records);
    }
    const clean = builder.bytes();
    const cut = clean.subarray(0, clean.length - 6);
    const spliced = new Uint8Array([...clean.subarray(0, 200_000), 0, ...clean.subarray(200_000)]);
    for (const bytes of [clean, cut, spliced]) {
      const sync = await indexWindows(bytes.length, (offset, length) => bytes.slice(offset, offset + length));
      const async = await indexWindows(bytes.length, async (offset, length) => bytes.slice(offset, offset + length));
      expect(sync).toEqual(async);
    }
    const index = await indexWindows(clean.length, (offset, length) => clean.slice(offset, offset + length));
    expect(index.clean).toBe(true);
    expect(index.windowCount).toBe(400);
    expect(index.pcpus.map((p) => p.offsets.length)).toEqual([134, 133, 133]);
    expect((await indexWindows(cut.length, (offset, length) => cut.slice(offset, offset + length))).clean).toBe(false);
  });
});

describe('a file read by seeking', () => {
  it('reads the same bytes at once as with a promise, and merges as the bytes in memory do', async () => {
    const random = seededRandom(5);
    const builder = new TraceBuilder();
    for (let k = 0; k < 60; k++) {
      const records = Array.from({ length: 1 + Math.floor(random() * 3000) }, (_, i) => ({ event: run, tsc: BigInt(k * 10_000 + i * 3 + (k % 2)), words: [i] }));
      builder.window(k % 2, records);
    }
    const bytes = builder.bytes();
    const dir = mkdtempSync(join(tmpdir(), 'xenspan-exact-'));
    const path = join(dir, 'trace.xentrace');
    writeFileSync(path, bytes);
    try {
      const source = await fileSource(path);
      try {
        for (const [offset, length] of [[0, 12], [4096, 70_000], [bytes.length - 5, 100], [bytes.length + 10, 4]]) {
          expect(source.readAtSync!(offset!, length!)).toEqual(await source.readAt!(offset!, length!));
        }
      } finally {
        await source.close?.();
      }
      const fromFile = await mergedRows(await fileSource(path), { merge: 'exact' });
      const inMemory = await mergedRows(bytes, { merge: 'exact' });
      expect(fromFile.merge).toBe('exact');
      expect(fromFile.rows.length).toBe(inMemory.rows.length);
      expect(fromFile.rows).toEqual(inMemory.rows);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * What the exact merge means, written the slow way: the file-order records of each pCPU (wrap padding
 * left out) as queues, and at every step the queue whose head has the smallest (TSC, file offset).
 */
function smallestHeadMerge(rows: readonly Row[]): Row[] {
  const queues = new Map<number, Row[]>();
  for (const row of rows) if (row.event !== EV.wrap) (queues.get(row.pcpu) ?? queues.set(row.pcpu, []).get(row.pcpu)!).push(row);
  const heads = [...queues.values()].map((queue) => ({ queue, at: 0 }));
  const merged: Row[] = [];
  for (;;) {
    let best: (typeof heads)[number] | undefined;
    for (const head of heads) {
      if (head.at >= head.queue.length) continue;
      const row = head.queue[head.at]!;
      const other = best?.queue[best.at];
      if (other === undefined || row.tsc < other.tsc || (row.tsc === other.tsc && row.offset < other.offset)) best = head;
    }
    if (best === undefined) return merged;
    merged.push(best.queue[best.at++]!);
  }
}

describe('exact merge of every kind of record', () => {
  it('takes the smallest head at every step, with records that have no TSC, go backwards, mark losses or pad', async () => {
    // Runs are decoded straight into the output; ordinary records take a short path and the others the
    // full record loop, so these traces mix both within runs, at window starts and across batch ends.
    for (const seed of [11, 12, 13, 14]) {
      const random = seededRandom(seed);
      const builder = new TraceBuilder();
      const pcpus = [0, 1, 2, 5];
      const started = new Set<number>();
      let roundStart = (1n << 60n) + 1_000n; // far past 2^53: keys are relative to the first TSC
      for (let round = 0; round < 40; round++) {
        let roundEnd = roundStart;
        for (const pcpu of pcpus) {
          const records: RecordSpec[] = [];
          let tsc = roundStart;
          const count = Math.floor(random() * 9);
          for (let k = 0; k < count; k++) {
            tsc += BigInt(Math.floor(random() * 3)) * 10n;
            const kind = started.has(pcpu) ? random() : 1;
            if (kind < 0.08) records.push({ event: run, words: [pcpu, k] });
            else if (kind < 0.12) records.push({ event: EV.lost, tsc, words: [k, pcpu, 5, 0] });
            else if (kind < 0.16) records.push({ event: EV.wrap, words: [9, 9, 9, 9, 9, 9, 9] });
            else if (kind < 0.19) records.push({ event: run, tsc: tsc - 15n, words: [pcpu, k] });
            else records.push({ event: run, tsc, words: [pcpu, k] });
            started.add(pcpu);
          }
          if (tsc > roundEnd) roundEnd = tsc;
          builder.window(pcpu, records);
        }
        roundStart = roundEnd + 10n;
      }
      const bytes = builder.bytes();
      const fileOrder = await fileOrderRows(bytes);
      const expected = smallestHeadMerge(fileOrder.rows);
      expect(expected.length).toBeGreaterThan(400);
      expect(fileOrder.diagnostics.counts.tsc_backwards).toBeGreaterThan(0);
      for (const batchSize of [8192, 5]) {
        const { rows, diagnostics } = await mergedRows(bytes, { merge: 'exact', batchSize });
        expect(rows, `seed ${seed}, batch ${batchSize}`).toEqual(expected);
        expect(diagnostics.counts).toEqual(fileOrder.diagnostics.counts);
      }
    }
  });
});

/** Windows from raw words: [pCPU, records' words] each (a CPU_CHANGE header, then the records). */
function rawWindows(windows: ReadonlyArray<readonly [number, readonly number[]]>): Uint8Array {
  const words: number[] = [];
  for (const [pcpu, body] of windows) words.push(0x2001f003, pcpu, body.length * 4, ...body);
  return new Uint8Array(new Uint32Array(words).buffer);
}
const UNTIMED = 0x00021001; // runstate, no TSC, no payload
const timed = (lo: number, hi = 0) => [0x80021001, lo, hi];

describe('exact merge: cases found by fuzzing it against the merge it replaced', () => {
  it('a pCPU start waiting for its first TSC looks past a CPU_CHANGE look-alike and a record cut by its window', async () => {
    const lookAlike = rawWindows([[0, [UNTIMED, 0x2001f003, 0, 0, ...timed(1)]]]);
    const cut = rawWindows([[0, [UNTIMED, 0x90021001]], [0, timed(5)]]);
    for (const [bytes, tsc, code] of [
      [lookAlike, 1n, 'window_cut_short'],
      [cut, 5n, 'record_crosses_window'],
    ] as const) {
      const { rows, diagnostics } = await mergedRows(bytes, { merge: 'exact' });
      expect(rows.map((r) => r.tsc)).toEqual([tsc, tsc]);
      expect(rows[0]!.flags & RECORD_FLAGS.borrowedTsc).toBe(RECORD_FLAGS.borrowedTsc);
      expect(diagnostics.counts).toEqual({ [code]: 1, missing_tsc_at_start: 1 });
    }
  });

  it('records waiting for a first TSC that is read already borrow it, however many they are', async () => {
    const bytes = rawWindows([[0, [...Array.from({ length: 65_537 }, () => UNTIMED), ...timed(1000)]]]);
    const { rows } = await mergedRows(bytes, { merge: 'exact' });
    expect(rows.length).toBe(65_538);
    expect(rows.every((r) => r.tsc === 1000n)).toBe(true);
  });

  it('a wrap record with a TSC between waiting records stays the last TSC for the backwards check', async () => {
    // Rows 0 and 1 borrow 400; the wrap's 500 came before 400 on this pCPU, which is reported.
    const bytes = rawWindows([[1, [UNTIMED, 0x8001f002, 500, 0, UNTIMED, ...timed(400)]]]);
    const { rows, diagnostics } = await mergedRows(bytes, { merge: 'exact' });
    const { inheritedTsc, borrowedTsc, tscBackwards, windowStart } = RECORD_FLAGS;
    expect(rows.map((r) => [r.tsc, r.flags])).toEqual([
      [400n, windowStart | borrowedTsc | inheritedTsc],
      [400n, inheritedTsc],
      [400n, tscBackwards],
    ]);
    expect(diagnostics.counts).toEqual({ missing_tsc_at_start: 1, tsc_backwards: 1 });
  });

  it('keys exactly from a first TSC that is 0, even beside a TSC near 2^63', async () => {
    const bytes = rawWindows([[0, [...timed(0), ...timed(1)]], [1, timed(0)], [2, timed(0, 0x80000000)]]);
    const { rows } = await mergedRows(bytes, { merge: 'exact' });
    expect(rows.map((r) => [r.pcpu, r.tsc])).toEqual([
      [0, 0n],
      [1, 0n],
      [0, 1n],
      [2, 1n << 63n],
    ]);
  });

  it('reports an input that shrank after indexing once, not also as a record running past its window', async () => {
    const bytes = rawWindows([[0, [...timed(100), ...timed(200)]]]);
    for (const keep of [16, 20, 28, 30]) {
      const shrinking: ByteSource = {
        name: 'shrinking',
        size: bytes.length,
        chunks: () => fromBytes(bytes).chunks(),
        readAtSync: (offset, length) => bytes.slice(offset, offset + length),
        readAt: async (offset, length) => bytes.slice(offset, Math.min(offset + length, keep)),
      };
      const { rows, diagnostics, merge } = await mergedRows(shrinking, { merge: 'exact' });
      expect(merge).toBe('exact');
      expect(rows.map((r) => r.tsc)).toEqual(keep >= 24 ? [100n] : []);
      expect(diagnostics.counts).toEqual({ truncated_window: 1 });
    }
  });
});

describe('exact merge with an end TSC (a slice of a merge with helpers)', () => {
  // pCPU 0: TSCs 100, 2^54 − 1, 2^54 + 5, 2^54 + 10; the end is 2^54. Keys measured from 0 round to
  // multiples of 4 there, so 2^54 − 1 keys like the end itself: only a check of the TSCs keeps it.
  const end = 1n << 54n;
  const b = new TraceBuilder();
  b.window(0, [100n, end - 1n, end + 5n, end + 10n].map((tsc, i) => ({ event: EV.runstate(1, 0), tsc, words: [i] })));
  const bytes = b.bytes();
  const endWords: [number, number] = [Number(end >> 32n), 0];

  async function mergeTo(baseTsc: [number, number]) {
    const index = await indexWindows(bytes.length, fromBytes(bytes).readAt!);
    const tscs: bigint[] = [];
    const toEnd = await mergeExact(index.pcpus, bytes.length, fromBytes(bytes).readAt!, {
      diagnostics: new Diagnostics(),
      baseTsc,
      endTsc: endWords,
      onBatch: (batch) => {
        for (let i = 0; i < batch.length; i++) tscs.push((BigInt(batch.tscHi[i]!) << 32n) | BigInt(batch.tscLo[i]!));
      },
    });
    return { toEnd, tscs };
  }

  it('stops before the first record at or past the end, by TSC, however far the end is from the base', async () => {
    // Base 0: the end is 2^54 cycles away, past exact keys; the rows are checked one by one.
    expect(await mergeTo([0, 0])).toEqual({ toEnd: false, tscs: [100n, end - 1n] });
    // Base near the end: keys are exact, checked once per run.
    expect(await mergeTo([Number(end >> 32n) - 1, 0])).toEqual({ toEnd: false, tscs: [100n, end - 1n] });
  });
});
