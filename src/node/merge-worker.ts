// SPDX-License-Identifier: MIT
/**
 * The body of a merge worker thread (see `createMergeWorkers`): merges the slices it is sent and sends
 * back their rows, moving the column buffers rather than copying them.
 * @module
 */
import { parentPort } from 'node:worker_threads';
import { mergeSlice, sharedInputReader } from '../parse/slices.js';
import { fileSource } from './index.js';
import { movableBuffers } from './workers.js';
import type { SliceTask } from '../parse/slices.js';
import type { MergeScratch } from '../parse/exact.js';
import type { RecordBatch } from '../core/batch.js';
import type { ReadAt } from '../parse/read-cache.js';

/** A message from the thread that owns the worker. */
interface TaskMessage {
  readonly id: number;
  readonly task?: SliceTask;
  /** Columns of an earlier result that may be written again. */
  readonly recycle?: RecordBatch;
}

/** Recycled columns (a slice's are tens of MB: new memory costs more than reused). */
const spares: RecordBatch[] = [];
/** The task being merged; the next waits for it. */
let queue: Promise<unknown> = Promise.resolve();
/** The worker's merges reuse one arena. */
const scratch: MergeScratch = {};

const port = parentPort;
if (port === null) throw new Error('xenspan merge worker: not started as a worker thread');

port.on('message', (message: TaskMessage) => {
  if (message.recycle !== undefined) {
    if (spares.length < 2) spares.push(message.recycle);
    return;
  }
  // One slice at a time, in the order sent: the merges share `scratch`, and more than one decode may
  // use this worker (a decode stopped early leaves its slice running when the next one starts).
  const running = queue.then(() => run(message.task!));
  queue = running.then(
    () => undefined,
    () => undefined,
  );
  void running.then(
    ({ result, transfer }) => port.postMessage({ id: message.id, result }, transfer),
    (error: unknown) => port.postMessage({ id: message.id, error: error instanceof Error ? error.message : String(error) }),
  );
});

async function run(task: SliceTask) {
  const { input } = task;
  let close: (() => Promise<void>) | undefined;
  let readAt: ReadAt | undefined = sharedInputReader(input);
  if (readAt === undefined && input.kind === 'file') {
    // Opened per slice: a worker holds no file open between tasks.
    const source = await fileSource(input.path);
    close = source.close;
    readAt = source.readAt;
  }
  if (readAt === undefined) throw new Error(`xenspan merge worker: cannot read a '${input.kind}' input`);
  try {
    const result = await mergeSlice(task.slice, task.size, readAt, spares.pop(), scratch);
    const { rows } = result;
    return { result, transfer: movableBuffers(rows) };
  } finally {
    await close?.();
  }
}
