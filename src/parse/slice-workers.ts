// SPDX-License-Identifier: MIT
/**
 * The messages between an exact merge and a worker that merges slices for it, whatever the platform's
 * workers are (`xenspan/node`'s worker threads, `xenspan/web`'s Web Workers): {@link WorkerSliceHelper} is
 * the owner's side, {@link serveSliceTasks} the worker's. A platform only adapts its worker object.
 * @module
 */
import type { RecordBatch } from '../core/batch.js';
import { WorkerRequests, crossedError } from '../core/requests.js';
import type { WorkerChannel, WorkerReply } from '../core/requests.js';

export type { WorkerChannel } from '../core/requests.js';
import type { SharedInput } from '../core/io.js';
import type { MergeScratch } from './exact.js';
import type { ReadAt } from './read-cache.js';
import { mergeSlice, sharedInputReader } from './slices.js';
import type { SliceMergeHelper, SliceResult, SliceTask } from './slices.js';

/** A message from the owner to the worker. */
interface TaskMessage {
  readonly id?: number;
  readonly task?: SliceTask;
  /** Columns of an earlier result that may be written again. */
  readonly recycle?: RecordBatch;
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

/**
 * A {@link SliceMergeHelper} that sends each slice to a worker. The platform passes what the worker says
 * to {@link receive}, and its crash or exit to {@link fail}; from then on every task is rejected (and so
 * merged by the calling thread).
 */
export class WorkerSliceHelper implements SliceMergeHelper {
  readonly #requests: WorkerRequests<SliceResult>;

  /** A helper over `channel`: the platform's worker, adapted (see {@link WorkerChannel}). */
  constructor(channel: WorkerChannel) {
    this.#requests = new WorkerRequests(channel);
  }

  /** Sends the slice to the worker; rejected when the worker fails or has failed (then merge it here). */
  mergeSlice(task: SliceTask): Promise<SliceResult> {
    return this.#requests.request((id): TaskMessage => ({ id, task }));
  }

  /** Moves the columns of a result back to the worker, which writes its next results into them. */
  recycle(rows: RecordBatch): void {
    if (this.#requests.failure !== undefined) return;
    // The columns move back to the worker; payload words stay (they may be the caller's shared input).
    const columns = { ...rows, length: 0, words: new Uint32Array(0) };
    const message: TaskMessage = { recycle: columns };
    this.#requests.tell(message, movableBuffers(columns));
  }

  /** A message from the worker. */
  receive(message: unknown): void {
    this.#requests.receive(message);
  }

  /** The worker failed or ended: its tasks, and all later ones, are rejected. */
  fail(error: Error): void {
    this.#requests.fail(error);
  }

  /** Ends the worker; its tasks still running are rejected. */
  async close(): Promise<void> {
    await this.#requests.close('xenspan merge worker');
  }
}

/** Helper workers for exact merges, and their end. */
export interface MergeWorkers {
  /** Pass these as `helpers` to `forEachRecordBatch`, `decodeRecords` or a pipeline. */
  readonly helpers: readonly SliceMergeHelper[];
  /** Ends the workers (tasks still running are rejected, and merged by their caller instead). */
  close(): Promise<void>;
}

/** `count` helpers, each over a worker that `start` makes, closed together. */
export function mergeWorkerPool(count: number, start: () => WorkerSliceHelper): MergeWorkers {
  const helpers = Array.from({ length: count }, start);
  return {
    helpers,
    close: async () => {
      await Promise.all(helpers.map((helper) => helper.close()));
    },
  };
}

/** How a worker reads a task's input, and closes what it opened for it. */
export type OpenSharedInput = (input: SharedInput) => Promise<{ readAt: ReadAt; close?: () => Promise<void> }>;

/** Bytes in a `SharedArrayBuffer` and Blobs: what any worker can read without its platform. */
export const openSharedInput: OpenSharedInput = async (input) => {
  const readAt = sharedInputReader(input);
  if (readAt === undefined) throw new Error(`xenspan merge worker: cannot read a '${input.kind}' input here`);
  return { readAt };
};

/**
 * The worker's side: returns the function to call with each message the worker receives. It merges the
 * tasks one at a time, in the order sent (their merges share memory, and more than one decode may use the
 * worker: one stopped early leaves its slice running when the next starts), and posts each result with
 * its column buffers moved.
 */
export function serveSliceTasks(
  post: (message: unknown, transfer: ArrayBuffer[]) => void,
  open: OpenSharedInput = openSharedInput,
): (message: unknown) => void {
  /** Recycled columns (a slice's are tens of MB: new memory costs more than reused). */
  const spares: RecordBatch[] = [];
  /** The worker's merges reuse one arena. */
  const scratch: MergeScratch = {};
  let queue: Promise<unknown> = Promise.resolve();
  const run = async (task: SliceTask): Promise<SliceResult> => {
    const { readAt, close } = await open(task.input);
    try {
      return await mergeSlice(task.slice, task.size, readAt, spares.pop(), scratch);
    } finally {
      await close?.();
    }
  };
  return (message) => {
    const { id, task, recycle } = message as TaskMessage;
    if (recycle !== undefined) {
      if (spares.length < 2) spares.push(recycle);
      return;
    }
    if (id === undefined || task === undefined) return;
    const running = queue.then(() => run(task));
    queue = running.then(
      () => undefined,
      () => undefined,
    );
    const fail = (error: unknown): void => {
      const reply: WorkerReply<SliceResult> = { id, error: crossedError(error) };
      post(reply, []);
    };
    void running.then((result) => {
      const reply: WorkerReply<SliceResult> = { id, result };
      try {
        post(reply, movableBuffers(result.rows));
      } catch (error) {
        // A result that cannot be posted (a clone error, say) must still settle its task: the owner merges it.
        fail(error);
      }
    }, fail);
  };
}
