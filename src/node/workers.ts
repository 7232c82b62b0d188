// SPDX-License-Identifier: MIT
/**
 * Worker threads that take part in exact merges (`DecodeOptions.helpers`).
 * @module
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { WorkerSliceHelper, mergeWorkerPool } from '../parse/slice-workers.js';
import type { MergeWorkers } from '../parse/slice-workers.js';
import type { WorkerChannel } from '../core/requests.js';

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
  const helper = new WorkerSliceHelper(channelTo(worker, { unrefWhenIdle: true }));
  listenTo(worker, helper, 'xenspan merge worker');
  return helper;
}

/** A worker thread as a {@link WorkerChannel}; `unrefWhenIdle`: it keeps the process alive only while busy. */
export function channelTo(worker: Worker, options: { readonly unrefWhenIdle?: boolean } = {}): WorkerChannel {
  return {
    post: (message, transfer) => worker.postMessage(message, transfer),
    ...(options.unrefWhenIdle === true ? { busy: (outstanding: boolean) => (outstanding ? worker.ref() : worker.unref()) } : {}),
    terminate: async () => {
      await worker.terminate();
    },
  };
}

/** Hands a worker thread's messages to `owner`, and its crash or exit as a failure. */
export function listenTo(worker: Worker, owner: { receive(message: unknown): void; fail(error: Error): void }, name: string): void {
  worker.on('message', (message: unknown) => owner.receive(message));
  worker.on('error', (error) => owner.fail(error));
  worker.on('exit', (code) => owner.fail(new Error(`${name} exited (code ${code})`)));
}
