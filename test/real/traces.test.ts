// SPDX-License-Identifier: MIT
// Every real trace in ../shared/traces: volumes equal xenalyze's, records equal xentrace_format's (counts,
// first/last TSC, and one by one: TSC and event id), global order holds, and stream merging equals exact merging.
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TRC_LOST_RECORDS, TRC_TRACE_WRAP_BUFFER } from '../../src/core/batch.js';
import { Diagnostics } from '../../src/core/diagnostics.js';
import { readTraceStats } from '../../src/parse/stats.js';
import { forEachRecordBatch, forEachRecordInFileOrder } from '../../src/parse/decode.js';
import { BatchDigest } from '../support/decode.js';
import { hasShared, readTrace, realTraceNames, sharedTracesDir, xenalyzeVolumes } from '../support/shared.js';

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
        // xenalyze processes each lost-records marker twice (at its first-loss TSC and at its own) and
        // counts its 28 bytes under gen both times: add them once more for the comparison.
        const lostPerPcpu = new Map<number, number>();
        await forEachRecordInFileOrder(bytes, (batch) => {
          for (let i = 0; i < batch.length; i++) {
            if ((batch.header[i] & 0x0fffffff) === TRC_LOST_RECORDS) {
              lostPerPcpu.set(batch.pcpu[i], (lostPerPcpu.get(batch.pcpu[i]) ?? 0) + 1);
            }
          }
        });
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
      });

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
        await forEachRecordInFileOrder(bytes, (batch) => {
          for (let i = 0; i < batch.length; i++) if ((batch.header[i] & 0x0fffffff) === TRC_TRACE_WRAP_BUFFER) wraps++;
        });
        expect(results[0].records).toBe(stats.records - wraps);
      });
    });
  }
});
