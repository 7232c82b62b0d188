// SPDX-License-Identifier: MIT
/**
 * Files and stdin for Node and Deno: the only part of the library that touches the platform.
 * @module
 */
import { Buffer } from 'node:buffer';
import { readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ByteSource } from '../core/io.js';
import { XenspanError } from '../core/errors.js';

/** Bytes per read of a file or pipe: larger reads cost as much time and keep more memory alive until GC. */
const CHUNK_BYTES = 1 << 20;

/**
 * A seekable source over a file. Plain traces read this way are merged exactly (window index, then
 * per-pCPU reads), with memory bounded by the number of pCPUs, not the file size.
 * @example
 * const stats = await readTraceStats(await fileSource('trace.xentrace'));
 */
export async function fileSource(path: string): Promise<ByteSource> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new XenspanError('io_failed', `cannot open ${path}: ${(error as Error).message}`, { cause: error });
  }
  const stat = await handle.stat();
  if (stat.isDirectory()) {
    await handle.close();
    throw new XenspanError('io_failed', `cannot read ${path}: it is a directory`);
  }
  if (!stat.isFile()) {
    // A FIFO, /dev/stdin or a character device: no size, no seeking; read it as a stream.
    const stream = handle;
    return {
      name: path,
      async *chunks() {
        for (;;) {
          const buffer = uninitialized(CHUNK_BYTES);
          const { bytesRead } = await stream.read(buffer, 0, buffer.length, null);
          if (bytesRead === 0) return;
          yield buffer.subarray(0, bytesRead);
        }
      },
      close: () => stream.close(),
    };
  }
  const size = stat.size;
  const fh = handle;
  const absolute = resolve(path);
  const readAt = async (offset: number, length: number): Promise<Uint8Array> => {
    const buffer = uninitialized(Math.max(0, Math.min(length, size - offset)));
    let got = 0;
    while (got < buffer.length) {
      const { bytesRead } = await fh.read(buffer, got, buffer.length - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return got === buffer.length ? buffer : buffer.subarray(0, got);
  };
  const readAtSync = (offset: number, length: number): Uint8Array => {
    const buffer = uninitialized(Math.max(0, Math.min(length, size - offset)));
    let got = 0;
    while (got < buffer.length) {
      const bytesRead = readSync(fh.fd, buffer, got, buffer.length - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return got === buffer.length ? buffer : buffer.subarray(0, got);
  };
  return {
    name: path,
    size,
    async *chunks() {
      // Read ahead one chunk, so the disk (or page-cache copy, on libuv's thread) overlaps decoding.
      let next = size > 0 ? readAt(0, CHUNK_BYTES) : undefined;
      for (let at = 0; next !== undefined; at += CHUNK_BYTES) {
        const chunk = await next;
        next = at + CHUNK_BYTES < size ? readAt(at + CHUNK_BYTES, CHUNK_BYTES) : undefined;
        if (chunk.length === 0) return;
        yield chunk;
      }
    },
    readAt,
    readAtSync,
    close: () => fh.close(),
    // Helper threads open the file themselves (its size as read here: they read no further).
    share: () => ({ kind: 'file', path: absolute, size }),
  };
}

/**
 * A buffer to read into, not zero-filled first (a 1 MiB block per read made the zeroing show): callers
 * hand out only the part a read filled.
 */
function uninitialized(length: number): Uint8Array {
  return Buffer.allocUnsafeSlow(length);
}

/** A stream source over standard input (a pipe: merged with the round watermark). */
export function stdinSource(): ByteSource {
  return {
    name: 'stdin',
    async *chunks() {
      for await (const chunk of process.stdin as AsyncIterable<Uint8Array>) yield chunk;
    },
    // Read once: when the decode ends (early too, say at `dump --limit`), stdin is let go, so that the
    // process does not wait for the writer to close the pipe (a read may still be in flight).
    close: async () => {
      process.stdin.destroy();
    },
  };
}

/** `-` means standard input; anything else is a file path. */
export async function openSource(pathOrDash: string): Promise<ByteSource> {
  return pathOrDash === '-' ? stdinSource() : fileSource(pathOrDash);
}

export { createMergeWorkers } from './workers.js';
export { workerDecompressor } from './decompress.js';
export type { MergeWorkers } from './workers.js';
