// SPDX-License-Identifier: MIT
// Bytes removed or inserted in the middle of a trace (a bad copy, a spliced capture): the decoder
// resynchronises on the next window header whatever its byte alignment, and keeps every window after it.
import { describe, expect, it } from 'vitest';
import { chunked, fileOrderRows, mergedRows, seededRandom } from '../support/decode.js';
import type { Row } from '../support/decode.js';
import { EV, TraceBuilder, runstateWord } from '../support/trace-builder.js';
import { hasShared, readTrace } from '../support/shared.js';

const running = EV.runstate(1, 0);

/** Twelve windows of three 16-byte records on pCPUs 0 and 1; window k spans bytes 60·k to 60·k + 59. */
function twelveWindows(): Uint8Array {
  const builder = new TraceBuilder();
  for (let k = 0; k < 12; k++) {
    const tsc = BigInt(1000 + k * 100);
    builder.window(k % 2, [0n, 10n, 20n].map((d) => ({ event: running, tsc: tsc + d, words: [runstateWord(0, k)] })));
  }
  return builder.bytes();
}

/** `bytes` with `count` bytes removed at `at` (count < 0 inserts -count junk bytes there instead). */
function splice(bytes: Uint8Array, at: number, count: number): Uint8Array {
  if (count >= 0) {
    const out = new Uint8Array(bytes.length - count);
    out.set(bytes.subarray(0, at));
    out.set(bytes.subarray(at + count), at);
    return out;
  }
  const out = new Uint8Array(bytes.length - count);
  out.set(bytes.subarray(0, at));
  out.fill(0x5a, at, at - count);
  out.set(bytes.subarray(at), at - count);
  return out;
}

/** Rows as (pCPU, TSC, payload), without offsets, which move with the splice. */
function content(rows: readonly Row[]): string[] {
  return rows.map((r) => `${r.pcpu}@${r.tsc}:${r.words.join(',')}`);
}

describe('splices', () => {
  const whole = twelveWindows();

  it('keeps every window before and from two after a window damaged at any offset', async () => {
    const original = content((await fileOrderRows(whole)).rows);
    // Window 4 spans bytes 240–299, its records 252–299. Its records after the damage are garbage, and
    // window 5 is lost when the damage moved its header across window 4's claimed end; windows 0–3 and
    // 6–11 always survive. (Damage to a window's own header that leaves it plausible, with a size past
    // the end of the file, swallows the rest: the scanner then reports a truncated window.)
    const before = original.slice(0, 12);
    const after = original.slice(18);
    for (let at = 252; at < 300; at++) {
      for (const count of [1, 2, 3, 4, 5, -1, -2, -3, -4]) {
        if (count > 0 && at + count > 300) continue;
        const damaged = splice(whole, at, count);
        const label = `${count > 0 ? 'removed' : 'inserted'} ${Math.abs(count)} at ${at}`;
        const fileOrder = await fileOrderRows(damaged);
        const got = content(fileOrder.rows);
        expect(got.slice(0, 12), label).toEqual(before);
        expect(got.slice(-18), label).toEqual(after);
        const problems = Object.values(fileOrder.diagnostics.counts).reduce((sum, n) => sum + n, 0);
        expect(problems, label).toBeGreaterThan(0);
        for (const merge of ['stream', 'exact'] as const) {
          const merged = new Set(content((await mergedRows(damaged, { merge })).rows));
          expect([...before, ...after].filter((row) => !merged.has(row)), `${label}, ${merge}`).toEqual([]);
        }
      }
    }
  });

  it('says where the skipped bytes begin and how many there were', async () => {
    // One junk byte between windows 4 and 5: window 5's header now sits at an odd offset.
    const damaged = splice(whole, 300, -1);
    const { rows, diagnostics } = await mergedRows(damaged, { merge: 'stream' });
    expect(rows).toHaveLength(36);
    expect(diagnostics.counts).toEqual({ not_a_window: 1 });
    const skip = diagnostics.samples.find((s) => s.code === 'not_a_window');
    expect(skip?.offset).toBe(300);
    expect(skip?.message).toContain('skipped 1 bytes');
  });

  it('resynchronises the same way whatever the chunk sizes', async () => {
    for (const [at, count] of [[300, -1], [301, -3], [270, 2], [255, 1]] as const) {
      const damaged = splice(whole, at, count);
      const expected = await mergedRows(damaged, { merge: 'stream' });
      for (const size of [1, 2, 3, 5, 7, 13, 61]) {
        const got = await mergedRows(chunked(damaged, [size]), { merge: 'stream' });
        expect(got.rows, `splice ${count} at ${at}, chunks of ${size}`).toEqual(expected.rows);
        expect(got.diagnostics.counts).toEqual(expected.diagnostics.counts);
      }
    }
  });

  it.skipIf(!hasShared)('keeps the rest of a real trace after one byte is lost mid-file', async () => {
    const bytes = readTrace('domain-create-small');
    const original = (await fileOrderRows(bytes)).rows;
    const random = seededRandom(7);
    for (let trial = 0; trial < 3; trial++) {
      const at = Math.floor(bytes.length * (0.2 + 0.6 * random()));
      const { rows } = await fileOrderRows(splice(bytes, at, 1));
      // Every record that started at least one window (here: 64 KiB is more than any window) after the
      // splice is decoded unchanged, one byte earlier.
      const after = original.filter((r) => r.offset > at + 65536);
      const got = new Set(rows.filter((r) => r.offset > at).map((r) => `${r.offset + 1}:${r.pcpu}:${r.tsc}`));
      const missing = after.filter((r) => !got.has(`${r.offset}:${r.pcpu}:${r.tsc}`));
      expect(after.length).toBeGreaterThan(0);
      expect(missing, `splice at ${at}`).toHaveLength(0);
    }
  });
});
