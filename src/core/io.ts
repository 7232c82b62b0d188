// SPDX-License-Identifier: MIT
/**
 * Byte inputs: everything xenspan reads becomes a {@link ByteSource} of `Uint8Array` chunks, optionally
 * with random access. No platform module is imported here; files and stdin live in `xenspan/node`.
 * @module
 */
import { XenspanError } from './errors.js';

/** A source of trace bytes. */
export interface ByteSource {
  /** A name for messages (a path, "stdin", "blob"). */
  readonly name: string;
  /** Total size in bytes when known. */
  readonly size?: number;
  /** The bytes in order, in chunks of any size. May be called once. */
  chunks(): AsyncIterable<Uint8Array>;
  /**
   * Reads `length` bytes at `offset` (fewer at the end). Present only for seekable inputs; it lets the
   * decoder merge pCPUs exactly with bounded memory.
   */
  readAt?(offset: number, length: number): Promise<Uint8Array>;
  /**
   * {@link ByteSource.readAt} without waiting, for sources that can (bytes in memory, a local file). The
   * window index of an exact merge makes a small read per window header, where a promise each costs more
   * than the read itself.
   */
  readAtSync?(offset: number, length: number): Uint8Array;
  /** Releases the underlying handle. */
  close?(): Promise<void>;
  /**
   * How another thread can read the same bytes, for an exact merge with helper threads
   * (`DecodeOptions.helpers`); undefined when it cannot.
   */
  share?(): SharedInput | undefined;
}

/**
 * A seekable input as another thread can open it: bytes in a `SharedArrayBuffer`, a local file, or a Blob
 * (Blobs cross to workers without a copy).
 */
export type SharedInput =
  | { readonly kind: 'bytes'; readonly buffer: SharedArrayBuffer; readonly byteOffset: number; readonly length: number }
  | { readonly kind: 'file'; readonly path: string; readonly size: number }
  | { readonly kind: 'blob'; readonly blob: BlobLike };

/** Minimal structural view of a Web `Blob`, so the core needs no DOM typings. */
export interface BlobLike {
  readonly size: number;
  slice(start?: number, end?: number): BlobLike;
  arrayBuffer(): Promise<ArrayBuffer>;
  stream(): unknown;
}

/** Minimal structural view of a Web `ReadableStream<Uint8Array>` (its reader is used as below). */
export interface ReadableStreamLike {
  getReader(): unknown;
}

/** The part of a default stream reader that xenspan uses. */
interface StreamReaderLike {
  read(): Promise<{ done: boolean; value?: Uint8Array }>;
  releaseLock(): void;
}

/** Anything xenspan accepts as trace input. */
export type ByteInput =
  | ByteSource
  | Uint8Array
  | ArrayBuffer
  | BlobLike
  | ReadableStreamLike
  | AsyncIterable<Uint8Array>
  | Iterable<Uint8Array>;

function isByteSource(input: object): input is ByteSource {
  return typeof (input as ByteSource).chunks === 'function' && typeof (input as ByteSource).name === 'string';
}

function isBlob(input: object): input is BlobLike {
  return typeof (input as BlobLike).slice === 'function' && typeof (input as BlobLike).arrayBuffer === 'function';
}

function isReadableStream(input: object): input is ReadableStreamLike {
  return typeof (input as ReadableStreamLike).getReader === 'function';
}

/**
 * Normalises any {@link ByteInput} into a {@link ByteSource}. Byte arrays and Blobs are seekable.
 * @example
 * const source = toByteSource(await file.arrayBuffer());
 */
export function toByteSource(input: ByteInput): ByteSource {
  if (input instanceof Uint8Array) return fromBytes(input);
  if (input instanceof ArrayBuffer) return fromBytes(new Uint8Array(input));
  if (typeof input !== 'object' || input === null) {
    throw new XenspanError('invalid_options', 'trace input must be bytes, a Blob, a stream or an async iterable', {
      option: 'input',
    });
  }
  if (isByteSource(input)) return input;
  if (isBlob(input)) return fromBlob(input);
  if (isReadableStream(input)) return fromReadableStream(input);
  if (Symbol.asyncIterator in input || Symbol.iterator in input) {
    const iterable = input as AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
    return { name: 'iterable', chunks: () => toAsync(iterable) };
  }
  throw new XenspanError('invalid_options', 'trace input must be bytes, a Blob, a stream or an async iterable', {
    option: 'input',
  });
}

async function* toAsync(iterable: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for await (const chunk of iterable) yield chunk;
}

/** A seekable source over bytes in memory, handed out in 1 MiB chunks. */
export function fromBytes(bytes: Uint8Array, name = 'bytes'): ByteSource {
  return {
    name,
    size: bytes.length,
    async *chunks() {
      for (let at = 0; at < bytes.length; at += 1 << 20) yield bytes.subarray(at, at + (1 << 20));
    },
    readAt: async (offset, length) => bytes.subarray(offset, Math.min(bytes.length, offset + length)),
    readAtSync: (offset, length) => bytes.subarray(offset, Math.min(bytes.length, offset + length)),
    share: () =>
      // Only memory that other threads see can be shared; anything else would have to be copied.
      typeof SharedArrayBuffer !== 'undefined' && bytes.buffer instanceof SharedArrayBuffer
        ? { kind: 'bytes', buffer: bytes.buffer, byteOffset: bytes.byteOffset, length: bytes.length }
        : undefined,
  };
}

/** A seekable source over a Web `Blob` or `File`. */
export function fromBlob(blob: BlobLike, name = 'blob'): ByteSource {
  return {
    name,
    size: blob.size,
    async *chunks() {
      const step = 4 << 20;
      for (let at = 0; at < blob.size; at += step) {
        yield new Uint8Array(await blob.slice(at, Math.min(blob.size, at + step)).arrayBuffer());
      }
    },
    readAt: async (offset, length) =>
      new Uint8Array(await blob.slice(offset, Math.min(blob.size, offset + length)).arrayBuffer()),
    share: () => ({ kind: 'blob', blob }),
  };
}

/** A stream source over a Web `ReadableStream` of bytes. */
export function fromReadableStream(stream: ReadableStreamLike, name = 'stream'): ByteSource {
  return {
    name,
    async *chunks() {
      const reader = stream.getReader() as StreamReaderLike;
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          if (value !== undefined && value.length > 0) yield value;
        }
      } finally {
        reader.releaseLock();
      }
    },
  };
}
