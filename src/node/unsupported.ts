// SPDX-License-Identifier: MIT
/**
 * What `xenspan/node` resolves to in runtimes without files (browsers): the same names, failing only
 * when called, never at import.
 * @module
 */
import type { ByteSource } from '../core/io.js';
import type { MergeWorkers } from './workers.js';
import type { Decompressor } from '../parse/compress/index.js';
import { XenspanError } from '../core/errors.js';

function unsupported(what: string): never {
  throw new XenspanError(
    'unsupported_runtime',
    `${what} needs Node or Deno; in a browser pass a Blob, File, ReadableStream or Uint8Array instead`,
  );
}

/** Not available in this runtime. */
export async function fileSource(_path: string): Promise<ByteSource> {
  return unsupported('fileSource');
}

/** Not available in this runtime. */
export function stdinSource(): ByteSource {
  return unsupported('stdinSource');
}

/** Not available in this runtime. */
export async function openSource(_pathOrDash: string): Promise<ByteSource> {
  return unsupported('openSource');
}

/** Not available in this runtime: in a browser, `createWebMergeWorkers` from `xenspan/web` gives Web Workers. */
export function createMergeWorkers(_count?: number): MergeWorkers {
  return unsupported('createMergeWorkers');
}

/** Not available in this runtime: decompressing it fails with `unsupported_runtime` (omit it to decompress in this thread). */
export const workerDecompressor: Decompressor = {
  decompress: () => unsupported('workerDecompressor'),
};
