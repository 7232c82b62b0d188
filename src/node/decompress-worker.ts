// SPDX-License-Identifier: MIT
/**
 * The body of a decompress worker thread (see `workerDecompressor`): decompresses the chunks its owner
 * sends as `decompressChunks` does in one thread, and sends back the bytes, damage and errors in order.
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { Wakeup } from '../core/requests.js';
import { decompressChunks } from '../parse/compress/index.js';
import { crossedError, rebuiltError } from '../core/requests.js';
import type { CrossedError } from '../core/requests.js';
import type { DecompressWorkerData, FromDecompressWorker, ToDecompressWorker } from './decompress.js';

if (parentPort === null) throw new Error('xenspan decompress worker: not started as a worker thread');
const port: MessagePort = parentPort;
const { compression, forwardDamage } = workerData as DecompressWorkerData;
const post = (message: FromDecompressWorker): void => port.postMessage(message);

/** Output bytes sent and not yet taken by the owner: past this the worker waits. */
const MAX_UNTAKEN = 8 << 20;
/** Compressed chunks asked for ahead, so that reading overlaps decompressing. */
const READ_AHEAD = 2;

const input: Uint8Array[] = [];
let inputEnded = false;
let inputError: { error: CrossedError } | undefined;
let asked = false;
let untaken = 0;
// Two waiters can be parked at once (gzip's DecompressionStream pulls compressed() for input while run()
// waits for an ack): both are woken by each message.
const messages = new Wakeup();

function askForInput(): void {
  if (asked || inputEnded || inputError !== undefined || input.length >= READ_AHEAD) return;
  asked = true;
  post({ type: 'more' });
}

port.on('message', (message: ToDecompressWorker) => {
  switch (message.type) {
    case 'input':
      asked = false;
      input.push(message.chunk);
      askForInput();
      break;
    case 'end':
      asked = false;
      inputEnded = true;
      break;
    case 'fail':
      asked = false;
      inputError = { error: message.error };
      break;
    case 'ack':
      untaken -= message.bytes;
      break;
  }
  messages.wake();
});

async function* compressed(): AsyncGenerator<Uint8Array> {
  for (;;) {
    askForInput();
    while (input.length === 0) {
      // The owner's read error is thrown here, where one thread would have met it.
      if (inputError !== undefined) throw Object.assign(rebuiltError(inputError.error), { forwardedRead: true });
      if (inputEnded) return;
      await messages.next();
    }
    yield input.shift()!;
  }
}

async function run(): Promise<void> {
  try {
    const options = forwardDamage ? { onDamage: (error: Error) => post({ type: 'damage', error: crossedError(error) }) } : {};
    for await (const chunk of decompressChunks(compressed(), compression, options)) {
      // A copy, moved: a decompressor may hand out views of memory it writes again.
      const copy = new Uint8Array(chunk);
      const message: FromDecompressWorker = { type: 'data', chunk: copy };
      port.postMessage(message, [copy.buffer]);
      untaken += chunk.length;
      while (untaken > MAX_UNTAKEN) await messages.next();
    }
    post({ type: 'done' });
  } catch (error) {
    post({ type: 'error', error: crossedError(error, (error as { forwardedRead?: boolean }).forwardedRead === true) });
  }
}

void run();
