// SPDX-License-Identifier: MIT
// Every real trace in ../shared/traces: volumes equal xenalyze's, records equal xentrace_format's (counts,
// first/last TSC, and one by one: TSC and event id) where there is one, and xenalyze --dump-all's (per pCPU:
// counts, first/last TSC, each record's time) where there is one; xenalyze's total time; global order holds,
// and stream merging equals exact merging. The compressed bench-large (324.7 MB) is streamed, never held.
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RECORD_FLAGS, TRC_LOST_RECORDS, TRC_TRACE_WRAP_BUFFER } from '../../src/core/batch.js';
import type { RecordBatch } from '../../src/core/batch.js';
import { Diagnostics } from '../../src/core/diagnostics.js';
import { fileSource } from '../../src/node/index.js';
import { decompressChunks } from '../../src/parse/compress/index.js';
import { RecordScanner } from '../../src/parse/scanner.js';
import { StatsCollector, readTraceStats } from '../../src/parse/stats.js';
import type { TraceStats } from '../../src/parse/stats.js';
import { detectCompression } from '../../src/parse/sniff.js';
import { forEachRecordBatch, forEachRecordInFileOrder } from '../../src/parse/decode.js';
import { BatchDigest, seededRandom } from '../support/decode.js';
import {
  compressedTraceNames,
  compressedTracePath,
  hasShared,
  metaTraceBytes,
  readTrace,
  readmeRecordMillions,
  realTraceNames,
  sharedTracesDir,
  xenalyzeVolumes,
} from '../support/shared.js';
import {
  XenalyzeTimeZero,
  readXenalyzeDump,
  xenalyzeCpuHz,
  xenalyzeDumpPath,
  xenalyzeTime,
  xenalyzeTotalTime,
} from '../support/xenalyze.js';

const names = realTraceNames();

/** Xen 4.17.7's `formats` file, which xentrace_format's outputs in ../shared/traces were made with. */
const formatsFile = join(sharedTracesDir, '..', 'xen-formats', 'formats-4.17.7');

/** Event ids by the name the formats file prints for them (a name may stand for several ids). */
function formatsIdsByName(): Map<string, Set<number>> {
  const ids = new Map<string, Set<number>>();
  for (const line of readFileSync(formatsFile, 'utf8').split('\n')) {
    const match = /^(0x[0-9a-fA-F]+)\s+CPU%\(cpu\)d\s+%\(tsc\)d \(\+%\(reltsc\)8d\)\s+(\S+)/.exec(line);
    if (!match) continue;
    const name = match[2]!;
    if (!ids.has(name)) ids.set(name, new Set());
    ids.get(name)!.add(Number.parseInt(match[1]!, 16));
  }
  return ids;
}

/** Lost-records records per pCPU; feed it batches. */
class LostRecordsPerPcpu {
  readonly counts = new Map<number, number>();

  add(batch: RecordBatch): void {
    for (let i = 0; i < batch.length; i++) {
      if ((batch.header[i] & 0x0fffffff) === TRC_LOST_RECORDS) {
        this.counts.set(batch.pcpu[i], (this.counts.get(batch.pcpu[i]) ?? 0) + 1);
      }
    }
  }
}

/** Wrap-padding records in a batch. */
function wrapsIn(batch: RecordBatch): number {
  let wraps = 0;
  for (let i = 0; i < batch.length; i++) if ((batch.header[i] & 0x0fffffff) === TRC_TRACE_WRAP_BUFFER) wraps++;
  return wraps;
}

/** Stats' bytes per class and pCPU against the "Log volume summary" of `xenalyze --summary`. */
function expectXenalyzeVolumes(name: string, stats: TraceStats, lostPerPcpu: Map<number, number>): void {
  // xenalyze processes each lost-records marker twice (at its first-loss TSC and at its own) and
  // counts its 28 bytes under gen both times: add them once more for the comparison.
  const expected = xenalyzeVolumes(name);
  expect(expected.size).toBeGreaterThan(0);
  const ours = new Map(
    stats.pcpus.map((p) => {
      const bytesOf: Record<string, number> = { ...p.bytes };
      const lost = lostPerPcpu.get(p.pcpu) ?? 0;
      if (lost > 0) bytesOf.gen = (bytesOf.gen ?? 0) + 28 * lost;
      return [p.pcpu, bytesOf];
    }),
  );
  expect(ours).toEqual(expected);
  expect(stats.lost.markers).toBe([...lostPerPcpu.values()].reduce((a, b) => a + b, 0));
}

/**
 * `Total time` as `xenalyze --summary` prints it: from its time zero to the last TSC it processes (the
 * largest last TSC of a pCPU: it merges pCPUs by TSC), over its cpu_hz, two decimals.
 */
function totalTime(stats: TraceStats, zero: bigint, hz: number): string {
  let last = zero;
  for (const p of stats.pcpus) if (p.lastTsc !== undefined && p.lastTsc > last) last = p.lastTsc;
  return (Number(last - zero) / hz).toFixed(2);
}

/**
 * xenspan against `xenalyze --dump-all` (an independent decoder: xenalyze reads the file its own way and
 * prints each record with its pCPU and its time, a quantised function of its TSC: see xenalyzeTime). Compares,
 * pCPU by pCPU, the record count, the first and last TSC of `stats` (as xenalyze's time column), and, one by
 * one in file order, each record's TSC (own or inherited) as that time column. Adjustments, each because of
 * what xenalyze does, not what xenspan does:
 * - wrap-padding records: xenalyze prints nothing for them (base_process ignores TRC_TRACE_WRAP_BUFFER), so
 *   they are left out of the comparison and added back to the dump's count; their bytes are checked by the
 *   volume test, which xenalyze does count;
 * - HVM records that xenalyze only reports as `Unknown hvm event: <id>`, with no pCPU: left out by event id,
 *   and their number per id must equal the number of such lines;
 * - a record with no TSC before the first TSC of its pCPU: xenalyze gives it TSC 0 (blank time), xenspan
 *   borrows the next TSC and flags it, so it is expected blank and the pCPU's first TSC is that of the line
 *   after it.
 * xenalyze's time zero is not printed: it is computed by XenalyzeTimeZero from the records (the first order TSC
 * xenalyze processes); off by one cycle, it would shift the time of a good part of the records.
 */
async function expectXenalyzeDump(name: string, bytes: Uint8Array): Promise<void> {
  const dump = readXenalyzeDump(name);
  const hz = xenalyzeCpuHz(name);
  const timeZero = new XenalyzeTimeZero();
  await forEachRecordInFileOrder(bytes, (batch) => timeZero.add(batch));
  const zero = timeZero.value;

  interface Lane {
    compared: number;
    wraps: number;
    unknownHvm: number;
    noTscAtStart: number;
    seenTsc: boolean;
  }
  const lanes = new Map<number, Lane>();
  const unknownHvm = new Map<number, number>();
  const wrong: string[] = [];
  await forEachRecordInFileOrder(bytes, (batch) => {
    for (let i = 0; i < batch.length; i++) {
      const pcpu = batch.pcpu[i];
      let lane = lanes.get(pcpu);
      if (lane === undefined) {
        lane = { compared: 0, wraps: 0, unknownHvm: 0, noTscAtStart: 0, seenTsc: false };
        lanes.set(pcpu, lane);
      }
      const header = batch.header[i];
      const event = header & 0x0fffffff;
      if (event === TRC_TRACE_WRAP_BUFFER) {
        lane.wraps++;
        continue;
      }
      if (dump.unknownHvm.has(event)) {
        lane.unknownHvm++;
        unknownHvm.set(event, (unknownHvm.get(event) ?? 0) + 1);
        continue;
      }
      let time: string;
      if (header >>> 31 === 0 && (batch.flags[i] & RECORD_FLAGS.borrowedTsc) !== 0 && !lane.seenTsc) {
        time = '';
        lane.noTscAtStart++;
      } else {
        time = xenalyzeTime((BigInt(batch.tscHi[i]) << 32n) | BigInt(batch.tscLo[i]), zero, hz);
      }
      if (header >>> 31 === 1) lane.seenTsc = true;
      const theirs = dump.times.get(pcpu)?.[lane.compared];
      if (theirs !== time && wrong.length < 5) {
        const record = `0x${event.toString(16)} at offset ${batch.fileOffset[i]}`;
        wrong.push(`pCPU ${pcpu} record #${lane.compared} (${record}): ours ${time}, xenalyze ${theirs}`);
      }
      lane.compared++;
    }
  });
  expect(wrong).toEqual([]);
  expect(unknownHvm).toEqual(dump.unknownHvm);

  const stats = await readTraceStats(bytes);
  const fromXenspan = new Map(
    stats.pcpus.map((p) => [
      p.pcpu,
      {
        records: p.records,
        first: p.firstTsc === undefined ? undefined : xenalyzeTime(p.firstTsc, zero, hz),
        last: p.lastTsc === undefined ? undefined : xenalyzeTime(p.lastTsc, zero, hz),
      },
    ]),
  );
  const fromDump = new Map(
    [...dump.times].map(([pcpu, times]) => {
      const lane = lanes.get(pcpu) ?? { wraps: 0, unknownHvm: 0, noTscAtStart: 0 };
      const records = times.length + lane.wraps + lane.unknownHvm;
      return [pcpu, { records, first: times[lane.noTscAtStart], last: times.at(-1) }];
    }),
  );
  expect(fromXenspan).toEqual(fromDump);
  const compared = [...lanes.values()].reduce((sum, lane) => sum + lane.compared, 0);
  expect(compared).toBe([...dump.times.values()].reduce((sum, times) => sum + times.length, 0));
  expect(compared).toBeGreaterThan(10_000);
}

describe.skipIf(!hasShared)('real traces (../shared/traces)', () => {
  it('finds the real traces', () => {
    expect(names).toContain('domain-create-small');
    expect(names.length).toBeGreaterThanOrEqual(7);
  });

  for (const name of names) {
    describe(name, () => {
      it('has the volumes of xenalyze --summary, class by class and pCPU by pCPU', async () => {
        const bytes = readTrace(name);
        const stats = await readTraceStats(bytes);
        const lost = new LostRecordsPerPcpu();
        await forEachRecordInFileOrder(bytes, (batch) => lost.add(batch));
        expectXenalyzeVolumes(name, stats, lost.counts);
      });

      it("has xenalyze --summary's total time, from its time zero to the last TSC", async () => {
        const bytes = readTrace(name);
        const zero = new XenalyzeTimeZero();
        await forEachRecordInFileOrder(bytes, (batch) => zero.add(batch));
        expect(totalTime(await readTraceStats(bytes), zero.value, xenalyzeCpuHz(name))).toBe(xenalyzeTotalTime(name));
      });

      it.skipIf(!existsSync(xenalyzeDumpPath(name)))(
        'has the records of xenalyze --dump-all pCPU by pCPU: counts, first and last TSC, and each record\'s time',
        async () => {
          await expectXenalyzeDump(name, readTrace(name));
        },
      );

      const formatFile = join(sharedTracesDir, `${name}.xentrace_format.txt.gz`);
      it.skipIf(!existsSync(formatFile))('has the record counts and first/last TSC per pCPU of xentrace_format', async () => {
        const expected = new Map<number, { records: number; first?: bigint; last?: bigint }>();
        for (const line of gunzipSync(readFileSync(formatFile)).toString('utf8').split('\n')) {
          const match = /^CPU(\d+)\s+(\d+) /.exec(line);
          if (!match) continue;
          const pcpu = Number(match[1]);
          const entry = expected.get(pcpu) ?? { records: 0 };
          expected.set(pcpu, entry);
          if (line.includes(' cpu_change ')) continue;
          entry.records++;
          const tsc = BigInt(match[2]);
          if (tsc !== 0n) {
            entry.first ??= tsc;
            entry.last = tsc;
          }
        }
        const stats = await readTraceStats(readTrace(name));
        expect(new Map(stats.pcpus.map((p) => [p.pcpu, { records: p.records, first: p.firstTsc, last: p.lastTsc }]))).toEqual(expected);
      });

      it.skipIf(!existsSync(formatFile) || !existsSync(formatsFile))(
        'has xentrace_format\'s records one by one: per pCPU in file order, the same own TSC and event id',
        async () => {
          const theirs = new Map<number, { tsc: bigint; text: string }[]>();
          for (const line of gunzipSync(readFileSync(formatFile)).toString('utf8').split('\n')) {
            const match = /^CPU(\d+)\s+(\d+) \(\+\s*-?\d+\)\s+(.*)$/.exec(line);
            if (!match || match[3]!.startsWith('cpu_change ')) continue;
            const pcpu = Number(match[1]);
            if (!theirs.has(pcpu)) theirs.set(pcpu, []);
            theirs.get(pcpu)!.push({ tsc: BigInt(match[2]!), text: match[3]! });
          }
          const ours = new Map<number, { tsc: bigint; event: number }[]>();
          await forEachRecordInFileOrder(readTrace(name), (batch) => {
            for (let i = 0; i < batch.length; i++) {
              const pcpu = batch.pcpu[i]!;
              if (!ours.has(pcpu)) ours.set(pcpu, []);
              const header = batch.header[i]!;
              // xentrace_format prints 0 for a record without a TSC of its own.
              const tsc = header >>> 31 === 1 ? (BigInt(batch.tscHi[i]!) << 32n) | BigInt(batch.tscLo[i]!) : 0n;
              ours.get(pcpu)!.push({ tsc, event: header & 0x0fffffff });
            }
          });
          const idsByName = formatsIdsByName();
          let compared = 0;
          for (const [pcpu, records] of theirs) {
            const mine = ours.get(pcpu) ?? [];
            expect(mine.length, `pCPU ${pcpu}`).toBe(records.length);
            const wrong: string[] = [];
            records.forEach((record, i) => {
              const { tsc, event } = mine[i]!;
              const name = record.text.split(/\s+/)[0]!;
              // Ids the formats file does not name print as `unknown (0x<16 hex digits>)`.
              const unknown = /^unknown \(0x([0-9a-f]+)\)/.exec(record.text);
              const sameEvent = unknown ? Number.parseInt(unknown[1]!, 16) === event : idsByName.get(name)?.has(event) === true;
              if ((tsc !== record.tsc || !sameEvent) && wrong.length < 3) {
                wrong.push(`#${i}: ours ${tsc} 0x${event.toString(16)}, theirs ${record.tsc} ${record.text.slice(0, 60)}`);
              }
            });
            expect(wrong, `pCPU ${pcpu}`).toEqual([]);
            compared += records.length;
          }
          expect(compared).toBeGreaterThan(10_000);
        },
      );

      it('merges into non-decreasing TSC order, identically by seeking and by streaming', async () => {
        const bytes = readTrace(name);
        const results = [];
        for (const merge of ['exact', 'stream'] as const) {
          const digest = new BatchDigest();
          const diagnostics = new Diagnostics();
          const report = await forEachRecordBatch(bytes, (batch) => digest.add(batch), { merge, diagnostics });
          expect(report.merge).toBe(merge);
          const explained = (diagnostics.counts.tsc_backwards ?? 0) + (diagnostics.counts.late_record ?? 0);
          expect(digest.decreases).toBeLessThanOrEqual(explained);
          results.push({ hash: digest.hash, records: digest.records, diagnostics: diagnostics.counts });
        }
        expect(results[1]).toEqual(results[0]);
        const stats = await readTraceStats(bytes);
        let wraps = 0;
        await forEachRecordInFileOrder(bytes, (batch) => (wraps += wrapsIn(batch)));
        expect(results[0].records).toBe(stats.records - wraps);
      });
    });
  }
});

/** Per-pCPU record counts and first/last own TSC of merged output, in arrays indexed by pCPU (no Map per record). */
class PcpuSpans {
  readonly records: number[] = [];
  readonly first: (bigint | undefined)[] = [];
  readonly last: (bigint | undefined)[] = [];
  readonly #lastHi: number[] = [];
  readonly #lastLo: number[] = [];

  add(batch: RecordBatch): void {
    const own = RECORD_FLAGS.inheritedTsc | RECORD_FLAGS.borrowedTsc;
    for (let i = 0; i < batch.length; i++) {
      const pcpu = batch.pcpu[i];
      this.records[pcpu] = (this.records[pcpu] ?? 0) + 1;
      if ((batch.flags[i] & own) !== 0) continue;
      if (this.first[pcpu] === undefined) this.first[pcpu] = (BigInt(batch.tscHi[i]) << 32n) | BigInt(batch.tscLo[i]);
      this.#lastHi[pcpu] = batch.tscHi[i];
      this.#lastLo[pcpu] = batch.tscLo[i];
    }
  }

  /** pCPU → records, first and last TSC (records without wraps: the merge drops wrap padding). */
  result(): Map<number, { records: number; first: bigint | undefined; last: bigint | undefined }> {
    const out = new Map<number, { records: number; first: bigint | undefined; last: bigint | undefined }>();
    this.records.forEach((records, pcpu) => {
      const hi = this.#lastHi[pcpu];
      const last = hi === undefined ? undefined : (BigInt(hi) << 32n) | BigInt(this.#lastLo[pcpu]!);
      out.set(pcpu, { records, first: this.first[pcpu], last });
    });
    return out;
  }
}

/** The first bytes of a file (its magic), without reading the rest. */
function fileHead(path: string): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const head = new Uint8Array(16);
    return head.subarray(0, readSync(fd, head, 0, head.length, 0));
  } finally {
    closeSync(fd);
  }
}

/** Peak growth of the JS heap and array buffers over a run, sampled every few batches. */
class PeakMemory {
  readonly #start = PeakMemory.#now();
  #peak = 0;
  #calls = 0;

  static #now(): number {
    const usage = process.memoryUsage();
    return usage.heapUsed + usage.arrayBuffers;
  }

  sample(): void {
    if (this.#calls++ % 16 !== 0) return;
    this.#peak = Math.max(this.#peak, PeakMemory.#now() - this.#start);
  }

  get peakGrowth(): number {
    return this.#peak;
  }
}

const compressedNames = compressedTraceNames();

/**
 * The compressed real traces (bench-large: 70.9 MB of zstd, 324.7 MB and 18.6 M records decompressed) are read
 * the way a user reads them: streamed from the file, decompressed on the fly, merged by the round watermark (a
 * compressed input cannot be merged by seeking). Two passes, about 6 s each on 2 cores: the public path, then one
 * decompression feeding a file-order decode (for the statistics) and a stream merge of randomly re-cut chunks,
 * compared with the first pass's (so the second test needs the first). Its references: the summary of xenalyze
 * (volumes, total time), the capture's size (NAME.meta.txt) and record count (../shared/traces/README.md). There
 * is no dump nor xentrace_format output for it, so no independent reference for per-pCPU counts and first/last
 * TSC: those are checked between the merge and the file-order statistics, and the global span by the total time.
 */
describe.skipIf(!hasShared)('real compressed traces, streamed (../shared/traces)', () => {
  it('finds bench-large', () => {
    expect(compressedNames).toContain('bench-large');
  });

  for (const name of compressedNames) {
    describe(name, () => {
      let streamed: { hash: number; records: number; diagnostics: object; pcpus: ReturnType<PcpuSpans['result']> } | undefined;

      it('merges by streaming into non-decreasing TSC order except where a diagnostic says why, in bounded memory', async () => {
        const path = compressedTracePath(name);
        const digest = new BatchDigest();
        const spans = new PcpuSpans();
        const diagnostics = new Diagnostics();
        const memory = new PeakMemory();
        const report = await forEachRecordBatch(
          await fileSource(path),
          (batch) => {
            digest.add(batch);
            spans.add(batch);
            memory.sample();
          },
          { diagnostics },
        );
        expect(report.compression).toBe(detectCompression(fileHead(path)));
        expect(report.merge).toBe('stream');
        // Every byte of the capture was decoded: its size is in the `ls -l` of NAME.meta.txt.
        expect(report.bytes).toBe(metaTraceBytes(name));
        const explained = (diagnostics.counts.tsc_backwards ?? 0) + (diagnostics.counts.late_record ?? 0);
        expect(digest.decreases).toBeLessThanOrEqual(explained);
        // Bounded: far below the decompressed size, whatever the garbage collector left behind.
        expect(memory.peakGrowth).toBeLessThan(Math.min(256 << 20, report.bytes / 2));
        streamed = { hash: digest.hash, records: digest.records, diagnostics: diagnostics.counts, pcpus: spans.result() };
      });

      it("has xenalyze --summary's volumes and total time, the README's record count, the same merge for random cuts", async () => {
        const source = await fileSource(compressedTracePath(name));
        const compression = detectCompression(fileHead(compressedTracePath(name)));
        if (compression === undefined) throw new Error(`${name} is not compressed`);
        // One decompression feeds both: whole decompressed chunks to a file-order decode for the statistics,
        // and the same bytes cut at random (a quarter of the cuts 1–15 bytes apart, inside headers and TSCs) to
        // a stream merge, which must give the records of the first test, one by one.
        const stats = new StatsCollector();
        const lost = new LostRecordsPerPcpu();
        const timeZero = new XenalyzeTimeZero();
        const wraps = new Map<number, number>();
        const fileOrderDiagnostics = new Diagnostics();
        const scanner = new RecordScanner({
          onBatch: (batch) => {
            stats.add(batch);
            lost.add(batch);
            timeZero.add(batch);
            for (let i = 0; i < batch.length; i++) {
              const pcpu = batch.pcpu[i];
              if ((batch.header[i] & 0x0fffffff) === TRC_TRACE_WRAP_BUFFER) wraps.set(pcpu, (wraps.get(pcpu) ?? 0) + 1);
            }
          },
          diagnostics: fileOrderDiagnostics,
        });
        const random = seededRandom(7);
        let cuts = 0;
        async function* randomlyCut(): AsyncGenerator<Uint8Array> {
          for await (const chunk of decompressChunks(source.chunks(), compression!)) {
            scanner.push(chunk);
            for (let at = 0; at < chunk.length; cuts++) {
              const size = random() < 0.25 ? 1 + Math.floor(random() * 15) : 1 + Math.floor(random() * 200_000);
              yield chunk.subarray(at, at + size);
              at += size;
            }
          }
          scanner.end();
        }
        const digest = new BatchDigest();
        const diagnostics = new Diagnostics();
        try {
          const report = await forEachRecordBatch(randomlyCut(), (batch) => digest.add(batch), { merge: 'stream', diagnostics });
          expect(report.merge).toBe('stream');
        } finally {
          await source.close?.();
        }
        expect(cuts).toBeGreaterThan(5_000);
        const result = stats.result(fileOrderDiagnostics.counts);

        expectXenalyzeVolumes(name, result, lost.counts);
        expect(totalTime(result, timeZero.value, xenalyzeCpuHz(name))).toBe(xenalyzeTotalTime(name));
        // ../shared/traces/README.md gives the record count to 0.1 M.
        const millions = readmeRecordMillions(name);
        expect(millions).toBeDefined();
        expect(Math.round(result.records / 1e5) / 10).toBe(millions);

        // The merge kept every record but the wrap padding, each on its pCPU with that pCPU's first and last
        // TSC, whatever the cuts.
        expect(streamed, 'the streaming test ran').toBeDefined();
        expect({ hash: digest.hash, records: digest.records, diagnostics: diagnostics.counts }).toEqual({
          hash: streamed!.hash,
          records: streamed!.records,
          diagnostics: streamed!.diagnostics,
        });
        expect(streamed!.pcpus).toEqual(
          new Map(
            result.pcpus.map((p) => [p.pcpu, { records: p.records - (wraps.get(p.pcpu) ?? 0), first: p.firstTsc, last: p.lastTsc }]),
          ),
        );
      });
    });
  }
});
