// SPDX-License-Identifier: MIT
/**
 * The body of a Web Worker that merges slices (see `createWebMergeWorkers`): answers slice tasks on shared
 * bytes or Blobs (`serveSliceTasks`).
 * @module
 */
import { serveSliceTasks } from '../parse/slice-workers.js';

/** The part of a worker's global scope used here (the package is typed without the WebWorker library). */
interface WorkerScope {
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
  onmessage: ((event: { readonly data: unknown }) => void) | null;
}

const scope = globalThis as unknown as WorkerScope;
const serve = serveSliceTasks((message, transfer) => scope.postMessage(message, transfer));
scope.onmessage = (event) => serve(event.data);
