// SPDX-License-Identifier: MIT
// Helpers for the tests of the exact merge in slices.
import { Diagnostics } from '../../src/core/diagnostics.js';
import type { DecodeOptions } from '../../src/parse/decode.js';
import { mergeSlice, sharedInputReader } from '../../src/parse/slices.js';
import type { SliceMergeHelper, SliceTask } from '../../src/parse/slices.js';
import { mergedRows } from './decode.js';
import { EV } from './trace-builder.js';
import type { RecordSpec } from './trace-builder.js';

/** Bytes in shared memory, which helpers can read. */
export function shared(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(new SharedArrayBuffer(bytes.length));
  copy.set(bytes);
  return copy;
}

/** A helper that merges in this thread, counting what it was given and what failed its end check. */
export class InThreadHelper implements SliceMergeHelper {
  slices = 0;
  pastEnd = 0;
  recycled = 0;
  failEvery: number;

  /** `failEvery`: every so many slices, fail instead (0: never). */
  constructor(failEvery = 0) {
    this.failEvery = failEvery;
  }

  async mergeSlice(task: SliceTask) {
    this.slices++;
    if (this.failEvery > 0 && this.slices % this.failEvery === 0) throw new Error('this helper failed');
    const result = await mergeSlice(task.slice, task.size, sharedInputReader(task.input)!);
    if (!result.belowEnd) this.pastEnd++;
    return result;
  }

  recycle(): void {
    this.recycled++;
  }
}

/** Every diagnostic, in order, as one comparable text. */
export function diagnosticsText(diagnostics: Diagnostics): string {
  return JSON.stringify(diagnostics.counts) + diagnostics.samples.map((e) => `\n${e.code} ${e.pcpu} ${e.offset} ${e.message}`).join('');
}

/** One merge of `bytes`, and the merge of a shared copy with `options` (helpers, slice size…). */
export async function decodeBoth(bytes: Uint8Array, options: DecodeOptions) {
  const one = await mergedRows(bytes, { merge: 'exact', diagnostics: new Diagnostics({ samplesPerCode: 1000 }) });
  const sliced = await mergedRows(shared(bytes), { merge: 'exact', diagnostics: new Diagnostics({ samplesPerCode: 1000 }), ...options });
  return { one, sliced };
}

/** {@link decodeBoth} with one in-thread helper and slices of `sliceBytes`. */
export async function decodeWithHelper(bytes: Uint8Array, sliceBytes: number) {
  const helper = new InThreadHelper();
  return { ...(await decodeBoth(bytes, { helpers: [helper], sliceBytes })), helper };
}

/** A runstate record at `tsc`, its payload word `i`. */
export function runstateAt(tsc: bigint, i = 0): RecordSpec {
  return { event: EV.runstate(1, 0), tsc, words: [i] };
}
