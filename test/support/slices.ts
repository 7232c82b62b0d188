// SPDX-License-Identifier: MIT
// Helpers for the tests of the exact merge in slices.
import { mergeSlice, sharedInputReader } from '../../src/parse/slices.js';
import type { SliceMergeHelper, SliceTask } from '../../src/parse/slices.js';

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
