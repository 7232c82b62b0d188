// SPDX-License-Identifier: MIT
// Cases found by review: each one failed before its fix.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Diagnostics } from '../../src/core/diagnostics.js';
import type { ByteSource } from '../../src/core/io.js';
import { main } from '../../src/cli/main.js';
import { decodeRecords, forEachRecordBatch } from '../../src/parse/decode.js';
import { readTraceStats } from '../../src/parse/stats.js';
import { mergedRows } from '../support/decode.js';
import { EV, TraceBuilder } from '../support/trace-builder.js';

const run = EV.runstate(1, 0);
const demoPath = fileURLToPath(new URL('../../demo/domain-create-small.xentrace', import.meta.url));
const bin = fileURLToPath(new URL('../../dist/cli/bin.js', import.meta.url));

describe('merge keys and placeholder TSCs', () => {
  it('orders TSCs above 2^53 exactly even when the first record has no TSC', async () => {
    const b = 2n ** 55n;
    const bytes = new TraceBuilder()
      .window(0, [{ event: EV.wrap, words: [] }, { event: run, tsc: b + 10n, words: [0] }, { event: run, tsc: b + 13n, words: [0] }])
      .window(1, [{ event: run, tsc: b + 11n, words: [1] }, { event: run, tsc: b + 12n, words: [1] }])
      .bytes();
    for (const merge of ['exact', 'stream'] as const) {
      const { rows } = await mergedRows(bytes, { merge });
      expect(rows.map((r) => r.tsc - b)).toEqual([10n, 11n, 12n, 13n]);
    }
  });

  it('a record waiting for its first TSC is not reported late', async () => {
    const builder = new TraceBuilder();
    for (let k = 0; k < 4; k++) builder.window(0, [{ event: run, tsc: BigInt(1000 * (k + 1)), words: [0] }]);
    builder.window(1, [{ event: EV.vmentry }, { event: run, tsc: 5500n, words: [1] }]);
    builder.window(0, [{ event: run, tsc: 6000n, words: [0] }]);
    const { rows, diagnostics } = await mergedRows(builder.bytes(), { merge: 'stream' });
    expect(diagnostics.counts.late_record).toBeUndefined();
    expect(rows.map((r) => r.tsc)).toEqual([1000n, 2000n, 3000n, 4000n, 5500n, 5500n, 6000n]);
  });

  it('stops waiting for a TSC that never comes on a pCPU, and still emits everything', async () => {
    const records = Array.from({ length: 70_000 }, () => ({ event: 0x00082012, words: [36] }));
    const bytes = new TraceBuilder().window(0, [{ event: run, tsc: 10n, words: [0] }]).window(1, records).bytes();
    for (const merge of ['exact', 'stream'] as const) {
      let count = 0;
      await forEachRecordBatch(bytes, (batch) => (count += batch.length), { merge });
      expect(count).toBe(70_001);
    }
  });
});

describe('damaged framing', () => {
  it('a window size past the end does not swallow the windows after it', async () => {
    const bytes = new TraceBuilder()
      .window(1, [{ event: run, tsc: 100n, words: [1] }], 400_000)
      .window(0, [{ event: run, tsc: 300n, words: [0] }])
      .bytes();
    for (const merge of ['exact', 'stream'] as const) {
      const { rows, diagnostics } = await mergedRows(bytes, { merge });
      expect(rows.map((r) => [r.pcpu, r.tsc])).toEqual([
        [1, 100n],
        [0, 300n],
      ]);
      expect(diagnostics.counts.window_cut_short).toBe(1);
    }
  });

  it('a seekable source shorter than its size ends instead of looping', async () => {
    const bytes = new TraceBuilder().window(0, [{ event: run, tsc: 1n, words: [0] }, { event: run, tsc: 2n, words: [0] }]).bytes();
    const shrunk: ByteSource = {
      name: 'shrinking',
      size: bytes.length,
      async *chunks() {
        yield bytes;
      },
      // The index sees the whole header, then reads come back short.
      readAt: async (offset, length) => (offset === 0 && length >= 12 ? bytes.subarray(0, 12 + 16) : new Uint8Array(0)),
    };
    const diagnostics = new Diagnostics();
    let count = 0;
    await forEachRecordBatch(shrunk, (batch) => (count += batch.length), { diagnostics });
    expect(count).toBe(1);
    expect(diagnostics.counts.truncated_window).toBe(1);
  });

  it('a cut compressed file keeps what was decoded before the cut and says so', async () => {
    const demo = new Uint8Array(readFileSync(demoPath));
    const gz = gzipSync(demo);
    const diagnostics = new Diagnostics();
    let count = 0;
    await forEachRecordBatch(gz.subarray(0, gz.length >>> 1), (batch) => (count += batch.length), { diagnostics });
    expect(count).toBeGreaterThan(10_000);
    expect(diagnostics.counts.compressed_input_damaged).toBe(1);
    const stats = await readTraceStats(gz.subarray(0, gz.length >>> 1));
    expect(stats.records).toBeGreaterThan(10_000);
    expect(stats.diagnostics.compressed_input_damaged).toBe(1);
  });
});

describe('consumers and platform edges', () => {
  it('breaking out of decodeRecords closes the input', async () => {
    const bytes = new Uint8Array(readFileSync(demoPath));
    let closed = false;
    const source: ByteSource = {
      name: 'spy',
      size: bytes.length,
      async *chunks() {
        for (let at = 0; at < bytes.length; at += 4096) yield bytes.subarray(at, at + 4096);
      },
      readAt: async (offset, length) => bytes.subarray(offset, offset + length),
      close: async () => {
        closed = true;
      },
    };
    for await (const batch of decodeRecords(source, { batchSize: 16 })) {
      expect(batch.length).toBeGreaterThan(0);
      break;
    }
    expect(closed).toBe(true);
  });

  it('a directory and an implausible first header are one clear error each', async () => {
    let stderr = '';
    const io = { stdout: { write: () => true, once: () => undefined }, stderr: { write: (t: string) => (stderr += t) } };
    expect(await main(['stats', mkdtempSync(`${tmpdir()}/xenspan-dir-`)], io)).toBe(1);
    expect(stderr).toMatch(/^xenspan: cannot read .* it is a directory\n$/);
    const error = await mergedRows(new Uint8Array(new TraceBuilder().raw(0x2001f003, 70000, 8, 0, 0).bytes())).catch((e: unknown) => e);
    expect((error as Error).message).toContain('names pCPU 70000 and a window of 8 bytes');
  });

  it.skipIf(!existsSync(bin) || !existsSync('/dev/stdin'))('reads a path that is a pipe (/dev/stdin) as a stream', () => {
    const piped = spawnSync('sh', ['-c', `cat "${demoPath}" | "${process.execPath}" "${bin}" stats --json /dev/stdin`], { encoding: 'utf8' });
    expect(piped.stderr).toBe('');
    expect(JSON.parse(piped.stdout).records).toBe(63922);
  });
});

describe('records without any TSC on the first pCPU read (exact merge)', () => {
  it('come first, in file order, as in stream mode, before the merger has a base TSC', async () => {
    const T = 1_000_000_000_000n;
    const event = EV.runstate(1, 0);
    const bytes = new TraceBuilder()
      .window(0, [{ event, words: [1] }, { event, words: [2] }])
      .window(1, [{ event, tsc: T, words: [3] }, { event, tsc: T + 10n, words: [4] }, { event, tsc: T + 20n, words: [5] }])
      .window(0, [{ event, words: [6] }, { event, words: [7] }])
      .bytes();
    const exact = await mergedRows(bytes, { merge: 'exact' });
    const stream = await mergedRows(bytes, { merge: 'stream' });
    expect(exact.rows.map((r) => r.words[0])).toEqual([1, 2, 6, 7, 3, 4, 5]);
    expect(exact.rows).toEqual(stream.rows);
  });
});
