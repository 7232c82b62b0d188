// SPDX-License-Identifier: MIT
/**
 * Decompression in a worker thread (`workerDecompressor`): the calling thread reads the compressed input
 * and decodes records while the worker decompresses, which is most of the time of a compressed trace
 * (fzstd and our checksum checks on zstd, our bzip2 decoder, or the platform's gzip).
 * @module
 */
import { Worker } from 'node:worker_threads';
import type { XenspanError } from '../core/errors.js';
import { Wakeup, crossedError, rebuiltError } from '../core/requests.js';
import type { CrossedError } from '../core/requests.js';
import type { DecompressOptions, Decompressor } from '../parse/compress/index.js';
import type { Compression } from '../parse/sniff.js';

/** What the owner sends the worker. */
export type ToDecompressWorker =
  | { readonly type: 'input'; readonly chunk: Uint8Array }
  | { readonly type: 'end' }
  | { readonly type: 'fail'; readonly error: CrossedError }
  | { readonly type: 'ack'; readonly bytes: number };

/** What the worker sends its owner, in stream order. */
export type FromDecompressWorker =
  | { readonly type: 'more' }
  | { readonly type: 'data'; readonly chunk: Uint8Array }
  | { readonly type: 'damage'; readonly error: CrossedError }
  | { readonly type: 'error'; readonly error: CrossedError }
  | { readonly type: 'done' };

/** What the worker is started with. */
export interface DecompressWorkerData {
  readonly compression: Compression;
  /** Whether damage goes to the owner's `onDamage` as found (else the first ends the stream, as in one thread). */
  readonly forwardDamage: boolean;
}

/**
 * A {@link Decompressor} that decompresses each stream in a worker thread of its own, started with the
 * stream and ended with it (early too: when the consumer stops reading). The bytes, damage reports and
 * errors are those of decompressing in the calling thread, in the same order; memory stays bounded
 * (the worker waits when 8 MiB of its output are not yet taken).
 * @example
 * await readTraceStats(await fileSource('trace.xentrace.zst'), { decompressor: workerDecompressor })
 */
export const workerDecompressor: Decompressor = {
  decompress: (chunks, compression, options) => decompressInWorker(chunks, compression, options),
};

async function* decompressInWorker(
  chunks: AsyncIterable<Uint8Array>,
  compression: Compression,
  options: DecompressOptions,
): AsyncGenerator<Uint8Array> {
  const workerData: DecompressWorkerData = { compression, forwardDamage: options.onDamage !== undefined };
  const worker = new Worker(new URL('./decompress-worker.js', import.meta.url), { workerData });
  const inbox: (FromDecompressWorker | { type: 'crash'; error: Error })[] = [];
  const arrivals = new Wakeup();
  const deliver = (message: FromDecompressWorker | { type: 'crash'; error: Error }): void => {
    if (message.type === 'more') {
      // Read at once, not when the consumer next pulls: a consumer busy with earlier bytes must not
      // leave the worker without input.
      if (reading === undefined) feed();
      return;
    }
    inbox.push(message);
    arrivals.wake();
  };
  worker.on('message', deliver);
  worker.on('error', (error) => deliver({ type: 'crash', error }));
  worker.on('exit', (code) => deliver({ type: 'crash', error: new Error(`xenspan decompress worker exited (code ${code})`) }));
  const post = (message: ToDecompressWorker): void => worker.postMessage(message);
  const iterator = chunks[Symbol.asyncIterator]();
  let readError: unknown;
  let reading: Promise<void> | undefined;
  // Reads the next compressed chunk for the worker (asked for ahead of need), without holding up the rest.
  const read = async (): Promise<void> => {
    try {
      const next = await iterator.next();
      if (next.done === true) post({ type: 'end' });
      else {
        // postMessage clones a view's whole ArrayBuffer (fromBytes hands out 1 MiB views of the whole
        // input): send a view of part of a buffer as a copy of its own, moved.
        const chunk = next.value;
        const whole = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength;
        if (whole || (typeof SharedArrayBuffer !== 'undefined' && chunk.buffer instanceof SharedArrayBuffer)) post({ type: 'input', chunk });
        else {
          const copy = new Uint8Array(chunk); // a copy (Buffer's slice() would be a view, and moving it would detach the caller's bytes)
          worker.postMessage({ type: 'input', chunk: copy } satisfies ToDecompressWorker, [copy.buffer]);
        }
      }
    } catch (error) {
      readError = error;
      post({ type: 'fail', error: crossedError(error) });
    } finally {
      reading = undefined;
    }
  };
  const feed = (): void => {
    reading = read();
  };
  try {
    for (;;) {
      while (inbox.length === 0) await arrivals.next();
      const message = inbox.shift()!;
      switch (message.type) {
        case 'data':
          yield message.chunk;
          post({ type: 'ack', bytes: message.chunk.length });
          break;
        case 'damage':
          options.onDamage?.(rebuiltError(message.error) as XenspanError);
          break;
        case 'error':
          throw message.error.forwarded === true && readError !== undefined ? readError : rebuiltError(message.error);
        case 'done':
          return;
        case 'crash':
          throw message.error;
      }
    }
  } finally {
    worker.removeAllListeners();
    await worker.terminate();
    // A read in flight: the source is still released once it ends (without waiting for it here: a pipe
    // may never deliver), as decompressing in this thread would release it.
    const pending = reading;
    if (pending === undefined) await iterator.return?.();
    else void pending.then(() => iterator.return?.()).catch(() => undefined);
  }
}
