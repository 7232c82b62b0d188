// SPDX-License-Identifier: MIT
/**
 * `xenspan/web`: Web Workers that take part in exact merges (`DecodeOptions.helpers`), for browsers and
 * Deno. They read what a Web Worker can be given: a `Blob` or `File`, or bytes in a `SharedArrayBuffer`
 * (which a browser offers only to a cross-origin isolated page). Universal: no `node:` module.
 * @module
 */
import { XenspanError } from '../core/errors.js';
import { WorkerSliceHelper, mergeWorkerPool } from '../parse/slice-workers.js';
import type { MergeWorkers } from '../parse/slice-workers.js';

export type { MergeWorkers } from '../parse/slice-workers.js';

/** The part of the platform's `Worker` used here (the package is typed without the DOM library). */
interface WebWorker {
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
  terminate(): void;
  onmessage: ((event: { readonly data: unknown }) => void) | null;
  onmessageerror: ((event: unknown) => void) | null;
  onerror: ((event: { readonly message?: string; preventDefault?(): void }) => void) | null;
}
type WebWorkerConstructor = new (url: URL, options: { readonly type: 'module'; readonly name?: string }) => WebWorker;
/** The platform's Worker, named as bundlers look for it (Vite and webpack match `new Worker(new URL(…))` literally). */
declare const Worker: WebWorkerConstructor | undefined;

/**
 * Starts `count` Web Workers (default: one per core beyond the calling thread's, at least one) that merge
 * slices of an exact merge. Reuse them across decodes (a new worker's code starts cold) and close them
 * when done. A worker that cannot start or read the input (a file path, say) fails its slices, which the
 * calling thread then merges itself: the rows are the same, only slower.
 * @example
 * const workers = createWebMergeWorkers();
 * try { await forEachRecordBatch(file, onBatch, { helpers: workers.helpers }) }
 * finally { await workers.close() }
 */
export function createWebMergeWorkers(count?: number): MergeWorkers {
  const platform = globalThis as unknown as { navigator?: { hardwareConcurrency?: number } };
  if (typeof Worker !== 'function') {
    throw new XenspanError('unsupported_runtime', 'createWebMergeWorkers needs Web Workers; under Node use createMergeWorkers from xenspan/node');
  }
  const cores = platform.navigator?.hardwareConcurrency ?? 2;
  return mergeWorkerPool(count ?? Math.max(1, cores - 1), () => webHelper());
}

function webHelper(): WorkerSliceHelper {
  // Written as bundlers expect it (`new Worker(new URL(…, import.meta.url), { type: 'module' })`) so that
  // they ship the worker's module too.
  const worker = new Worker!(new URL('./merge-worker.js', import.meta.url), { type: 'module', name: 'xenspan merge worker' });
  const helper = new WorkerSliceHelper({
    post: (message, transfer) => worker.postMessage(message, transfer),
    terminate: () => worker.terminate(),
  });
  worker.onmessage = (event) => helper.receive(event.data);
  worker.onmessageerror = () => helper.fail(new Error('xenspan merge worker: a message could not be read'));
  worker.onerror = (event) => {
    // Handled here (its slices go back to the caller), not reported again as uncaught.
    event.preventDefault?.();
    helper.fail(new Error(`xenspan merge worker failed: ${event.message ?? 'it could not start'}`));
  };
  return helper;
}
