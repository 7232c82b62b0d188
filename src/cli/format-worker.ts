// SPDX-License-Identifier: MIT
/**
 * The body of a format worker thread (`dump --threads N`, see `format-workers.ts`): formats the batches
 * it is sent as the main thread would, and sends the lines back, their buffers moved.
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createCatalogue } from '../core/catalogue/index.js';
import { crossedError } from '../core/requests.js';
import type { EventCatalogue } from '../core/catalogue/index.js';
import { DumpFormatter } from './dump.js';
import type { FormatSetup, FormatTask } from './format-workers.js';
import type { WorkerReply } from '../core/requests.js';
import { collectLines } from './format-workers.js';

const port = parentPort;
if (port === null) throw new Error('xenspan format worker: not started as a worker thread');
/** Tasks finished, which the main thread reads without waiting for this thread's replies. */
const finished = (workerData as { finished: Int32Array }).finished;

/** The catalogue and formatter of the run (one per process; built on its first task). */
let made: { key: string; catalogue: EventCatalogue; formatter: DumpFormatter } | undefined;

function madeFor(setup: FormatSetup): { catalogue: EventCatalogue; formatter: DumpFormatter } {
  const key = JSON.stringify(setup);
  if (made?.key !== key) {
    made = { key, catalogue: createCatalogue({ xenVersion: setup.xenVersion, cpuVendor: setup.cpuVendor }), formatter: new DumpFormatter(setup.format) };
  }
  return made;
}

port.on('message', (task: FormatTask) => {
  let reply: WorkerReply<Uint8Array[]>;
  const transfer: ArrayBuffer[] = [];
  try {
    const { catalogue, formatter } = madeFor(task.setup);
    const pieces: Uint8Array[] = [];
    const writer = collectLines(pieces);
    formatter.format(task.rows, { setup: { catalogue }, originTsc: task.originTsc, context: task.context }, writer);
    writer.flush();
    for (const piece of pieces) if (piece.buffer instanceof ArrayBuffer && !transfer.includes(piece.buffer)) transfer.push(piece.buffer);
    reply = { id: task.id, result: pieces };
  } catch (error) {
    reply = { id: task.id, error: crossedError(error) };
  }
  port.postMessage(reply, transfer);
  Atomics.add(finished, 0, 1);
});
