// SPDX-License-Identifier: MIT
/**
 * Worker threads that take part in exact merges (`DecodeOptions.helpers`).
 * @module
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { WorkerSliceHelper, mergeWorkerPool } from '../parse/slice-workers.js';
import type { MergeWorkers } from '../parse/slice-workers.js';

export type { MergeWorkers } from '../parse/slice-workers.js';

/**
 * Starts `count` worker threads (default: one per core beyond the calling thread's, at least one) that
 * merge slices of an exact merge. They keep the process alive only while they work; reuse them across
 * decodes (a new thread's code starts cold) and close them when done.
 * @example
 * const workers = createMergeWorkers();
 * try { await forEachRecordBatch(await fileSource(path), onBatch, { helpers: workers.helpers }) }
 * finally { await workers.close() }
 */
export function createMergeWorkers(count = spareCores()): MergeWorkers {
  return mergeWorkerPool(count, threadHelper);
}

/** Cores beyond the calling thread's, at least one: how many worker threads are worth starting. */
export function spareCores(): number {
  return Math.max(1, availableParallelism() - 1);
}

/** A helper over a new worker thread, unref'd while it has no task: a process that forgets it still exits. */
function threadHelper(): WorkerSliceHelper {
  const worker = new Worker(new URL('./merge-worker.js', import.meta.url));
  worker.unref();
  const helper = new WorkerSliceHelper({
    post: (message, transfer) => worker.postMessage(message, transfer),
    busy: (outstanding) => (outstanding ? worker.ref() : worker.unref()),
    terminate: async () => {
      await worker.terminate();
    },
  });
  worker.on('message', (message: unknown) => helper.receive(message));
  worker.on('error', (error) => helper.fail(error));
  worker.on('exit', (code) => helper.fail(new Error(`xenspan merge worker exited (code ${code})`)));
  return helper;
}
