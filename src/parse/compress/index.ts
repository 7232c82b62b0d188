// SPDX-License-Identifier: MIT
/**
 * Streaming decompression of gzip, bzip2 and zstd inputs, recognised by their magic bytes.
 * gzip uses the platform's `DecompressionStream` (Node ≥ 18, Deno, browsers); zstd uses `fzstd` (Node 20
 * has no zstd) with our check of its content checksums; bzip2 uses our own push decoder (no maintained
 * streaming one exists for all runtimes).
 * @module
 */
import { XenspanError } from '../../core/errors.js';
import type { Compression } from '../sniff.js';

/** Compressed bytes handed to a decompressor at a time. */
const PUSH_BYTES = 64 * 1024;

/** A push decompressor: bytes in, decoded chunks handed to the callback given at construction. */
interface PushDecompressor {
  push(chunk: Uint8Array, final?: boolean): void;
}

/** Where a push decompressor reports damage found only after the data concerned was handed on. */
type OnDamage = (error: XenspanError) => void;

/** Options of {@link decompressChunks}. */
export interface DecompressOptions {
  /**
   * Receives damage found only after the bytes concerned were yielded (a zstd frame that fails its content
   * checksum: its bytes may be wrong), and decompression goes on. Without it, the first such damage ends the
   * stream, with that error, once everything has been yielded.
   */
  readonly onDamage?: OnDamage;
}

/**
 * Decompresses a stream: a plugin, so that the work can go elsewhere (`xenspan/node`'s
 * `workerDecompressor` runs it in a worker thread). It must yield and fail as {@link decompressChunks}
 * does, which is the default.
 */
export interface Decompressor {
  decompress(chunks: AsyncIterable<Uint8Array>, compression: Compression, options: DecompressOptions): AsyncIterable<Uint8Array>;
}

/** Decompresses a chunk stream of the given format, keeping memory bounded. */
export function decompressChunks(
  chunks: AsyncIterable<Uint8Array>,
  compression: Compression,
  options: DecompressOptions = {},
): AsyncIterable<Uint8Array> {
  if (compression === 'gzip') return gunzipChunks(chunks);
  // Loaded on demand: a plain trace never pays for a decompressor.
  return pushDecompress(chunks, compression, options.onDamage, async (ondata, ondamage) => {
    if (compression === 'zstd') {
      const { ZstdDecompressor } = await import('./zstd.js');
      return new ZstdDecompressor(ondata, ondamage);
    }
    const { Bzip2Decompressor } = await import('./bzip2.js');
    return new Bzip2Decompressor(ondata);
  });
}

async function* pushDecompress(
  chunks: AsyncIterable<Uint8Array>,
  compression: Compression,
  onDamage: OnDamage | undefined,
  create: (ondata: (chunk: Uint8Array) => void, ondamage: OnDamage) => Promise<PushDecompressor>,
): AsyncGenerator<Uint8Array> {
  let ready: Uint8Array[] = [];
  let damage: XenspanError | undefined;
  const decoder = await create(
    (chunk) => {
      if (chunk.length > 0) ready.push(chunk);
    },
    onDamage ??
      ((error) => {
        damage ??= error;
      }),
  );
  let offset = 0;
  const push = (chunk: Uint8Array, final: boolean): void => {
    try {
      decoder.push(chunk, final);
    } catch (error) {
      // Our decoders' errors say their compressed offset; of anything else, the piece it came from is known.
      if (error instanceof XenspanError) throw error;
      throw new XenspanError(
        'corrupt_compressed_input',
        `corrupt ${compression} input near compressed offset ${offset}: ${(error as Error).message}`,
        { offset, cause: error },
      );
    }
    offset += chunk.length;
  };
  try {
    for await (const chunk of chunks) {
      // Small pushes, so that a highly compressed chunk never expands all at once in memory.
      for (let at = 0; at < chunk.length; at += PUSH_BYTES) {
        push(chunk.subarray(at, at + PUSH_BYTES), false);
        if (ready.length > 0) {
          const out = ready;
          ready = [];
          yield* out;
        }
      }
    }
    push(new Uint8Array(0), true);
  } catch (error) {
    // What the push that failed (junk after the last stream, a corrupt block) decoded before failing
    // still goes out, before the error; damage met earlier is not hidden by it.
    yield* ready;
    if (damage === undefined || !(error instanceof XenspanError)) throw error;
    // The error that ends the stream keeps its code (a read failure stays one).
    throw new XenspanError(error.code, `${damage.message}; then ${error.message}`, {
      ...(damage.offset === undefined ? {} : { offset: damage.offset }),
      cause: error,
    });
  }
  yield* ready;
  if (damage !== undefined) throw damage;
}

/** The parts of the platform's `DecompressionStream` used here (the package is typed without the DOM library). */
interface DecompressionStreamLike {
  readonly readable: { getReader(): { read(): Promise<{ done: boolean; value?: Uint8Array }>; cancel(): Promise<void> } };
  readonly writable: {
    getWriter(): { write(chunk: Uint8Array): Promise<void>; close(): Promise<void>; abort(reason?: unknown): Promise<void> };
  };
}
type DecompressionStreamConstructor = new (format: 'gzip') => DecompressionStreamLike;

/**
 * Compressed bytes written to the gzip decompressor at a time, and only while its reader waits for
 * output: what it decodes ahead is then one piece's output at most (64 MiB at gzip's largest ratio,
 * about 1032:1). Piped instead, Node 20's `DecompressionStream` took its whole input at once and held
 * everything it decoded (a 10 MB gzip was read whole before the first 16 KiB came out).
 */
const GUNZIP_PIECE = 64 * 1024;

async function* gunzipChunks(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const web = globalThis as unknown as { DecompressionStream?: DecompressionStreamConstructor };
  if (web.DecompressionStream === undefined) {
    throw new XenspanError('unsupported_runtime', 'gzip input needs DecompressionStream, which this runtime lacks');
  }
  const gunzip = new web.DecompressionStream('gzip');
  const writer = gunzip.writable.getWriter();
  const reader = gunzip.readable.getReader();
  const iterator = chunks[Symbol.asyncIterator]();
  // The input's own read error is thrown as itself (as by the other formats), not as corrupt gzip input.
  let readFailed: { error: unknown } | undefined;
  let inputDone = false;
  let rest: Uint8Array = new Uint8Array(0);
  /** Writes the next piece of input, or closes the writer at its end (one at a time: see `feeding`). */
  const feed = async (): Promise<void> => {
    if (rest.length === 0) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await iterator.next();
      } catch (error) {
        readFailed = { error };
        inputDone = true;
        await writer.abort(error); // the reader then fails, and says why
        return;
      }
      if (next.done === true) {
        inputDone = true;
        await writer.close();
        return;
      }
      rest = next.value;
    }
    const piece = rest.subarray(0, GUNZIP_PIECE);
    rest = rest.subarray(piece.length);
    await writer.write(piece);
  };
  let feeding: Promise<void> | undefined;
  let ended = false;
  try {
    for (;;) {
      const read = reader.read();
      let settled = false;
      const readSettled = read.then(
        () => void (settled = true),
        () => void (settled = true),
      );
      // Input goes in only while this read waits for output.
      while (!settled) {
        if (feeding === undefined && !inputDone) {
          // A failed write fails the reader too (the stream errors): the reader reports it.
          feeding = feed()
            .catch(() => undefined)
            .finally(() => (feeding = undefined));
        }
        if (feeding === undefined) {
          await readSettled;
          break;
        }
        await Promise.race([readSettled, feeding]);
      }
      let next: { done: boolean; value?: Uint8Array };
      try {
        next = await read;
      } catch (error) {
        ended = true;
        if (readFailed !== undefined) throw readFailed.error;
        if (error instanceof XenspanError) throw error;
        const message = (error as Error).message;
        // gzip checks a member's bytes only at its end: after a failed check or undecodable data (not a cut,
        // nor junk where a next member would start), what this member decoded before the error may be wrong.
        const suspect = /data check|invalid/i.test(message);
        throw new XenspanError(
          'corrupt_compressed_input',
          `corrupt gzip input: ${message}${suspect ? ' (gzip checks a member only at its end: its records may be wrong)' : ''}`,
          { cause: error },
        );
      }
      if (next.done) {
        ended = true;
        return;
      }
      if (next.value !== undefined && next.value.length > 0) yield next.value;
    }
  } finally {
    if (!ended) {
      // A consumer that stopped early: let the decompressor and the input go. Not awaited: a read of the
      // input in flight (a pipe whose writer is idle) may never end.
      void reader.cancel().catch(() => undefined);
      void writer.abort().catch(() => undefined);
    }
    if (!inputDone) void Promise.resolve(iterator.return?.()).catch(() => undefined);
  }
}
