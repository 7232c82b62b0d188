// SPDX-License-Identifier: MIT
// Hand-built edge cases of the decoder: each input sits next to what it must produce.
import { describe, expect, it } from 'vitest';
import { RECORD_FLAGS } from '../../src/core/batch.js';
import { XenspanError } from '../../src/core/errors.js';
import { MAX_LISTED_GAPS, readTraceStats } from '../../src/parse/stats.js';
import { EV, TraceBuilder, runstateWord } from '../support/trace-builder.js';
import { fileOrderRows, mergedRows } from '../support/decode.js';
import { forEachRecordBatch } from '../../src/parse/decode.js';
import { isLostRecords, lostRecordsGapOf } from '../../src/parse/lost.js';

const running = EV.runstate(1, 0);

describe('records without TSC', () => {
  it('inherit the previous TSC of their pCPU and are marked', async () => {
    const bytes = new TraceBuilder()
      .window(0, [
        { event: running, tsc: 100n, words: [runstateWord(0, 0)] },
        { event: 0x00082012, words: [36] },
      ])
      .bytes();
    const { rows } = await mergedRows(bytes);
    expect(rows.map((r) => [r.tsc, r.flags & RECORD_FLAGS.inheritedTsc])).toEqual([
      [100n, 0],
      [100n, RECORD_FLAGS.inheritedTsc],
    ]);
  });

  it('at the start of a pCPU borrow the next TSC, with a diagnostic, in both merge modes', async () => {
    const bytes = new TraceBuilder()
      .window(1, [{ event: EV.vmentry }, { event: running, tsc: 500n, words: [runstateWord(1, 0)] }])
      .window(0, [{ event: running, tsc: 300n, words: [runstateWord(0, 0)] }, { event: running, tsc: 700n, words: [runstateWord(0, 1)] }])
      .bytes();
    for (const merge of ['exact', 'stream'] as const) {
      const { rows, diagnostics } = await mergedRows(bytes, { merge });
      expect(rows.map((r) => [r.pcpu, r.tsc])).toEqual([
        [0, 300n],
        [1, 500n],
        [1, 500n],
        [0, 700n],
      ]);
      expect(rows[1].flags & RECORD_FLAGS.borrowedTsc).toBe(RECORD_FLAGS.borrowedTsc);
      expect(diagnostics.counts.missing_tsc_at_start).toBe(1);
    }
  });

  it('on a pCPU that never has a TSC keep TSC 0 and are still emitted', async () => {
    const bytes = new TraceBuilder().window(3, [{ event: EV.guest, words: [1, 2] }]).bytes();
    const { rows } = await mergedRows(bytes);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ pcpu: 3, event: EV.guest, tsc: 0n, words: [1, 2] });
  });

  it('that keep TSC 0 tie with a real TSC 0 by file offset, in both merge modes', async () => {
    // pCPU 0 has a real TSC of 0 before pCPU 1's records, which never get a TSC: (TSC, offset) order.
    const bytes = new TraceBuilder()
      .window(0, [{ event: running, tsc: 0n, words: [runstateWord(0, 0)] }, { event: running, tsc: 10n, words: [runstateWord(0, 1)] }])
      .window(1, [{ event: EV.guest, words: [1] }, { event: EV.guest, words: [2] }])
      .bytes();
    for (const merge of ['exact', 'stream'] as const) {
      const { rows } = await mergedRows(bytes, { merge });
      expect(rows.map((r) => [r.pcpu, r.tsc])).toEqual([
        [0, 0n],
        [1, 0n],
        [1, 0n],
        [0, 10n],
      ]);
    }
  });
});

describe('wrap padding', () => {
  it('is dropped from the records but counted in gen bytes, with or without TSC', async () => {
    const bytes = new TraceBuilder()
      .window(0, [
        { event: running, tsc: 10n, words: [0] },
        { event: EV.wrap, words: [0xdeadbeef, 0xdeadbeef, 1, 2, 3, 4, 5] },
        { event: EV.wrap, tsc: 11n, words: [9, 9, 9, 9, 9, 9, 9] },
        { event: running, tsc: 12n, words: [0] },
      ])
      .bytes();
    const { rows } = await mergedRows(bytes);
    expect(rows.map((r) => r.tsc)).toEqual([10n, 12n]);
    const stats = await readTraceStats(bytes);
    expect(stats.pcpus[0].bytes).toEqual({ sched: 32, gen: 32 + 40 });
    expect(stats.pcpus[0].records).toBe(4);
  });
});

describe('wrap padding at a pCPU start', () => {
  it('is not reported as a record missing its TSC (real traces start windows with it)', async () => {
    const bytes = new TraceBuilder()
      .window(0, [{ event: EV.wrap, words: [1, 2, 3, 4, 5, 6, 7] }, { event: running, tsc: 10n, words: [0] }])
      .window(1, [{ event: running, tsc: 11n, words: [0] }])
      .bytes();
    for (const merge of ['exact', 'stream'] as const) {
      const { rows, diagnostics } = await mergedRows(bytes, { merge });
      expect(rows.map((r) => r.tsc)).toEqual([10n, 11n]);
      expect(diagnostics.counts).toEqual({});
    }
    const { diagnostics } = await fileOrderRows(bytes);
    expect(diagnostics.counts).toEqual({});
  });
});

describe('lost records', () => {
  it('are decoded, counted and reported with pCPU, domain and vCPU', async () => {
    const bytes = new TraceBuilder()
      .window(1, [
        { event: running, tsc: 1000n, words: [runstateWord(2, 0)] },
        { event: EV.lost, tsc: 5000n, words: [77, (3 << 16) | 2, 1500, 0] },
      ])
      .bytes();
    const { rows, diagnostics } = await mergedRows(bytes);
    expect(rows[1]).toMatchObject({ event: EV.lost, tsc: 5000n, words: [77, (3 << 16) | 2, 1500, 0] });
    expect(diagnostics.counts.lost_records).toBe(1);
    expect(diagnostics.samples[0].message).toContain('lost 77 records while d2v3 ran from TSC 1500');
    const stats = await readTraceStats(bytes);
    expect(stats.lost).toEqual({
      markers: 1,
      recordsLost: 77,
      gaps: [{ pcpu: 1, records: 77, fromTsc: 1500n, toTsc: 5000n, domid: 2, vcpu: 3, offset: 12 + 16 }],
      gapsNotListed: 0,
    });
  });

  it('are listed up to MAX_LISTED_GAPS by stats, and the rest counted (memory stays bounded)', async () => {
    const markers = Array.from({ length: MAX_LISTED_GAPS + 5 }, (_, k) => ({ event: EV.lost, tsc: BigInt(100 + k), words: [1, 0, k, 0] }));
    const stats = await readTraceStats(new TraceBuilder().window(2, markers).bytes());
    expect(stats.lost.markers).toBe(MAX_LISTED_GAPS + 5);
    expect(stats.lost.recordsLost).toBe(MAX_LISTED_GAPS + 5);
    expect(stats.lost.gaps).toHaveLength(MAX_LISTED_GAPS);
    expect(stats.lost.gaps.at(-1)).toMatchObject({ pcpu: 2, fromTsc: BigInt(MAX_LISTED_GAPS - 1), toTsc: BigInt(100 + MAX_LISTED_GAPS - 1) });
    expect(stats.lost.gapsNotListed).toBe(5);
  });

  it('are gaps on their pCPU, in the library and in stats, even when the marker is short', async () => {
    const bytes = new TraceBuilder()
      .window(0, [{ event: running, tsc: 10n, words: [0] }, { event: EV.lost, tsc: 20n, words: [5] }])
      .window(1, [{ event: running, tsc: 11n, words: [0] }])
      .bytes();
    const rows: { gap: ReturnType<typeof lostRecordsGapOf>; lost: boolean }[] = [];
    await forEachRecordBatch(bytes, (batch) => {
      for (let row = 0; row < batch.length; row++) rows.push({ gap: lostRecordsGapOf(batch, row), lost: isLostRecords(batch, row) });
    });
    // In time order: p0 at 10, p1 at 11, then p0's marker at 20 (its payload has the count only).
    expect(rows.map((r) => r.lost)).toEqual([false, false, true]);
    expect(rows[2]!.gap).toEqual({ pcpu: 0, records: 5, fromTsc: undefined, toTsc: 20n, domid: undefined, vcpu: undefined, offset: 12 + 16 });
    expect(rows[0]!.gap).toBeUndefined();
    const stats = await readTraceStats(bytes);
    expect(stats.lost.gaps).toEqual([rows[2]!.gap]);
  });
});

describe('TSC going backwards within a pCPU', () => {
  it('keeps the pCPU order, flags the record and says so', async () => {
    const bytes = new TraceBuilder()
      .window(0, [
        { event: running, tsc: 900n, words: [0] },
        { event: running, tsc: 800n, words: [0] },
        { event: running, tsc: 950n, words: [0] },
      ])
      .bytes();
    const { rows, diagnostics } = await mergedRows(bytes);
    expect(rows.map((r) => r.tsc)).toEqual([900n, 800n, 950n]);
    expect(rows[1].flags & RECORD_FLAGS.tscBackwards).toBe(RECORD_FLAGS.tscBackwards);
    expect(diagnostics.counts.tsc_backwards).toBe(1);
    expect(diagnostics.samples[0].message).toContain('100 cycles before');
  });
});

describe('unusual but valid content', () => {
  it('decodes TRC_GUEST records as ordinary records', async () => {
    const bytes = new TraceBuilder().window(0, [{ event: running, tsc: 5n, words: [0] }, { event: EV.guest, words: [7] }]).bytes();
    const { rows } = await mergedRows(bytes);
    expect(rows.map((r) => r.event)).toEqual([running, EV.guest]);
    const stats = await readTraceStats(bytes);
    expect(stats.pcpus[0].bytes.guest).toBe(8);
  });

  it('stats counts TRC_GUEST records and unknown event ids in its diagnostics, as dump does', async () => {
    const unknown = 0x0002f0ff; // a sched-class id no Xen version defines
    const bytes = new TraceBuilder()
      .window(0, [
        { event: running, tsc: 5n, words: [0] },
        { event: EV.guest, words: [7] },
        { event: unknown, tsc: 6n, words: [1] },
        { event: unknown, tsc: 7n, words: [2] },
        { event: running, tsc: 8n, words: [0] },
      ])
      .bytes();
    const stats = await readTraceStats(bytes);
    expect(stats.diagnostics).toEqual({ guest_record: 1, unknown_event: 2 });
    const { decodeTrace } = await import('../../src/core/pipeline.js');
    const { setup } = await decodeTrace(bytes, () => undefined);
    expect(setup.diagnostics.counts).toEqual(stats.diagnostics);
  });

  it('handles pCPU 300 and far more pCPUs than xenalyze', async () => {
    const builder = new TraceBuilder();
    for (let pcpu = 0; pcpu < 400; pcpu += 50) builder.window(pcpu, [{ event: running, tsc: BigInt(1000 - pcpu), words: [0] }]);
    builder.window(300, [{ event: running, tsc: 2000n, words: [0] }]);
    const { rows } = await mergedRows(builder.bytes());
    expect(rows.map((r) => r.pcpu)).toEqual([350, 300, 250, 200, 150, 100, 50, 0, 300]);
  });

  it('accepts 64-bit TSCs above 2^53 exactly', async () => {
    const big = 2n ** 60n + 12345n;
    const bytes = new TraceBuilder().window(0, [{ event: running, tsc: big, words: [0] }, { event: running, tsc: big + 1n, words: [0] }]).bytes();
    const { rows } = await mergedRows(bytes);
    expect(rows.map((r) => r.tsc)).toEqual([big, big + 1n]);
  });
});

describe('damaged input', () => {
  it('reports a window that runs past the end of the file and keeps what came before', async () => {
    const bytes = new TraceBuilder().window(0, [{ event: running, tsc: 1n, words: [0] }, { event: running, tsc: 2n, words: [0] }], 4096).bytes();
    for (const merge of ['exact', 'stream'] as const) {
      const { rows, diagnostics } = await mergedRows(bytes, { merge });
      expect(rows).toHaveLength(2);
      expect(diagnostics.counts.truncated_window).toBe(1);
      expect(diagnostics.samples.find((s) => s.code === 'truncated_window')?.message).toContain('4096-byte window at offset 0');
    }
  });

  it('skips junk between windows to the next plausible one and says where', async () => {
    const bytes = new TraceBuilder()
      .window(0, [{ event: running, tsc: 1n, words: [0] }])
      .raw(0x12345678, 0x2001f003, 0xffffff, 0x3) // junk, then a CPU_CHANGE look-alike with an implausible pCPU
      .window(1, [{ event: running, tsc: 2n, words: [0] }])
      .bytes();
    const { rows, diagnostics } = await mergedRows(bytes);
    expect(rows.map((r) => r.pcpu)).toEqual([0, 1]);
    expect(diagnostics.counts.not_a_window).toBe(1);
    expect(diagnostics.counts.implausible_window).toBe(1);
    expect(diagnostics.samples.find((s) => s.code === 'not_a_window')?.offset).toBe(28);
  });

  it('skips the rest of a window when a record runs past its end', async () => {
    const bytes = new TraceBuilder()
      .window(0, [{ event: running, tsc: 1n, words: [0] }, { event: running, tsc: 2n, words: [0] }], 20)
      .window(1, [{ event: running, tsc: 3n, words: [0] }])
      .bytes();
    // The second record starts at byte 16 of a 20-byte window: it cannot fit. Its remaining words are junk
    // that the scanner resynchronises over.
    const { rows, diagnostics } = await mergedRows(bytes, { merge: 'stream' });
    expect(rows.map((r) => r.tsc)).toEqual([1n, 3n]);
    expect(diagnostics.counts.record_crosses_window).toBe(1);
  });

  it('refuses input that is not a trace with one clear error at offset 0', async () => {
    const cases: [Uint8Array, RegExp][] = [
      [new TextEncoder().encode('hello, this is not a trace at all'), /not a xentrace file: text/],
      [new Uint8Array(0), /the input is empty/],
      [new Uint8Array([3, 0xf0, 1]), /only 3 bytes/],
      [new Uint8Array([0x20, 0x01, 0xf0, 0x03, 0, 0, 0, 0, 0, 0, 0, 0]), /big-endian/],
    ];
    for (const [bytes, message] of cases) {
      const error = await mergedRows(bytes).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(XenspanError);
      expect((error as XenspanError).code).toBe('not_xentrace');
      expect((error as XenspanError).offset).toBe(0);
      expect((error as XenspanError).message).toMatch(message);
    }
  });

  it('file order decoding sees wrap records and every pCPU window in file order', async () => {
    const bytes = new TraceBuilder()
      .window(1, [{ event: running, tsc: 9n, words: [0] }])
      .window(0, [{ event: EV.wrap, words: [] }, { event: running, tsc: 3n, words: [0] }])
      .bytes();
    const { rows } = await fileOrderRows(bytes);
    expect(rows.map((r) => [r.pcpu, r.event])).toEqual([
      [1, running],
      [0, EV.wrap],
      [0, running],
    ]);
  });
});
