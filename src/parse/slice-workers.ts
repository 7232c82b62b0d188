// SPDX-License-Identifier: MIT
/**
 * The messages between an exact merge and a worker that merges slices for it, whatever the platform's
 * workers are (`xenspan/node`'s worker threads, `xenspan/web`'s Web Workers): {@link WorkerSliceHelper} is
 * the owner's side, {@link serveSliceTasks} the worker's. A platform only adapts its worker object.
 * @module
 */
import type { RecordBatch } from '../core/batch.js';
import { PendingRequests, crossedError } from '../core/requests.js';
import type { CrossedError } from '../core/requests.js';
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

/** A message from the worker to the owner: a task's result or its failure. */
interface ReplyMessage {
  readonly id: number;
  readonly result?: SliceResult;
  readonly error?: CrossedError;
}

/** The owner's end of a channel to one worker: a platform's worker object, adapted. */
export interface WorkerChannel {
  /** Posts a message, moving (not copying) the buffers in `transfer`. */
  post(message: unknown, transfer: ArrayBuffer[]): void;
  /** Told when tasks start and stop being outstanding (a Node worker keeps its process alive only then). */
  busy?(outstanding: boolean): void;
  /** Ends the worker. */
  terminate(): Promise<void> | void;
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
  readonly #channel: WorkerChannel;
  readonly #requests = new PendingRequests<SliceResult>();

  /** A helper over `channel`: the platform's worker, adapted (see {@link WorkerChannel}). */
  constructor(channel: WorkerChannel) {
    this.#channel = channel;
  }

  /** Sends the slice to the worker; rejected when the worker fails or has failed (then merge it here). */
  mergeSlice(task: SliceTask): Promise<SliceResult> {
    return this.#requests.request((id) => {
      if (this.#requests.size === 1) this.#channel.busy?.(true);
      const message: TaskMessage = { id, task };
      this.#channel.post(message, []);
    });
  }

  /** Moves the columns of a result back to the worker, which writes its next results into them. */
  recycle(rows: RecordBatch): void {
    if (this.#requests.failure !== undefined) return;
    // The columns move back to the worker; payload words stay (they may be the caller's shared input).
    const columns = { ...rows, length: 0, words: new Uint32Array(0) };
    const message: TaskMessage = { recycle: columns };
    this.#channel.post(message, movableBuffers(columns));
  }

  /** A message from the worker. */
  receive(message: unknown): void {
    const reply = message as ReplyMessage;
    if (this.#requests.settle(reply.id, reply.result, reply.error ?? { message: 'xenspan merge worker: no result' }) && this.#requests.size === 0) {
      this.#channel.busy?.(false);
    }
  }

  /** The worker failed or ended: its tasks, and all later ones, are rejected. */
  fail(error: Error): void {
    this.#requests.fail(error);
  }

  /** Ends the worker; its tasks still running are rejected. */
  async close(): Promise<void> {
    this.fail(new Error('xenspan merge worker: closed'));
    await this.#channel.terminate();
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
      const reply: ReplyMessage = { id, error: crossedError(error) };
      post(reply, []);
    };
    void running.then((result) => {
      const reply: ReplyMessage = { id, result };
      try {
        post(reply, movableBuffers(result.rows));
      } catch (error) {
        // A result that cannot be posted (a clone error, say) must still settle its task: the owner merges it.
        fail(error);
      }
    }, fail);
  };
}
