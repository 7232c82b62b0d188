// SPDX-License-Identifier: MIT
/**
 * Worker threads that take part in exact merges (`DecodeOptions.helpers`).
 * @module
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { RecordBatch } from '../core/batch.js';
import type { SliceMergeHelper, SliceResult, SliceTask } from '../parse/slices.js';

/** Helper threads for exact merges, and their end. */
export interface MergeWorkers {
  /** Pass these as `helpers` to `forEachRecordBatch`, `decodeRecords` or a pipeline. */
  readonly helpers: readonly SliceMergeHelper[];
  /** Ends the threads (tasks still running are rejected, and merged by their caller instead). */
  close(): Promise<void>;
}

/**
 * Starts `count` worker threads (default: one per core beyond the calling thread's, at least one) that
 * merge slices of an exact merge. They keep the process alive only while they work; reuse them across
 * decodes (a new thread's code starts cold) and close them when done.
 * @example
 * const workers = createMergeWorkers();
 * try { await forEachRecordBatch(await fileSource(path), onBatch, { helpers: workers.helpers }) }
 * finally { await workers.close() }
 */
export function createMergeWorkers(count = Math.max(1, availableParallelism() - 1)): MergeWorkers {
  const helpers = Array.from({ length: count }, () => new WorkerHelper());
  return {
    helpers,
    close: async () => {
      await Promise.all(helpers.map((helper) => helper.close()));
    },
  };
}

/**
 * The buffers of a batch's columns that a message can move to another thread instead of copying them:
 * all but those in shared memory, which are shared, never moved.
 */
export function movableBuffers(rows: RecordBatch): ArrayBuffer[] {
  return [rows.pcpu, rows.header, rows.tscLo, rows.tscHi, rows.flags, rows.payloadIndex, rows.fileOffset, rows.words]
    .map((column) => column.buffer)
    .filter((buffer): buffer is ArrayBuffer => buffer instanceof ArrayBuffer && buffer.byteLength > 0);
}

class WorkerHelper implements SliceMergeHelper {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, { resolve(result: SliceResult): void; reject(error: Error): void }>();
  #nextId = 0;
  #failure: Error | undefined;

  constructor() {
    this.#worker = new Worker(new URL('./merge-worker.js', import.meta.url));
    this.#worker.unref();
    this.#worker.on('message', (message: { id: number; result?: SliceResult; error?: string }) => {
      const waiting = this.#waiting.get(message.id);
      if (waiting === undefined) return;
      this.#waiting.delete(message.id);
      if (this.#waiting.size === 0) this.#worker.unref();
      if (message.result !== undefined) waiting.resolve(message.result);
      else waiting.reject(new Error(message.error ?? 'xenspan merge worker: no result'));
    });
    this.#worker.on('error', (error) => this.#fail(error));
    this.#worker.on('exit', (code) => this.#fail(new Error(`xenspan merge worker exited (code ${code})`)));
  }

  mergeSlice(task: SliceTask): Promise<SliceResult> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#worker.ref(); // the caller waits on this thread now
      this.#worker.postMessage({ id, task });
    });
  }

  recycle(rows: RecordBatch): void {
    if (this.#failure !== undefined) return;
    // The columns move back to the worker; payload words stay (they may be the caller's shared input).
    const columns = { ...rows, length: 0, words: new Uint32Array(0) };
    this.#worker.postMessage({ recycle: columns }, movableBuffers(columns));
  }

  async close(): Promise<void> {
    await this.#worker.terminate();
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const waiting of this.#waiting.values()) waiting.reject(error);
    this.#waiting.clear();
  }
}
