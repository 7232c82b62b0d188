// SPDX-License-Identifier: MIT
/**
 * The parse stage's async edge: input → (decompression) → scanner → merger → batches.
 * @module
 */
import { copyRecordBatch } from '../core/batch.js';
import type { RecordBatch } from '../core/batch.js';
import { Diagnostics } from '../core/diagnostics.js';
import { XenspanError } from '../core/errors.js';
import { toByteSource } from '../core/io.js';
import type { ByteInput, ByteSource } from '../core/io.js';
import { decompressChunks } from './compress/index.js';
import type { DecompressOptions, Decompressor } from './compress/index.js';
import { mergeExact } from './exact.js';
import { CpuMerger } from './merger.js';
import { RecordScanner } from './scanner.js';
import { describeMagic, detectCompression } from './sniff.js';
import type { Compression } from './sniff.js';
import { mergeExactInSlices } from './slices.js';
import type { SliceMergeHelper } from './slices.js';
import { indexWindows } from './window-index.js';

/** How records of different pCPUs are put in order. */
export type MergeMode = 'auto' | 'exact' | 'stream';

/** Options of {@link forEachRecordBatch} and {@link decodeRecords}. */
export interface DecodeOptions {
  /**
   * `exact` indexes the windows of a seekable input and merges pCPUs exactly; `stream` merges with the
   * round watermark and works on pipes; `auto` (default) picks `exact` when the input is seekable and
   * uncompressed.
   */
  readonly merge?: MergeMode;
  /** Where diagnostics go; a new collector when absent. */
  readonly diagnostics?: Diagnostics;
  /** Rows per batch. Default 8192. */
  readonly batchSize?: number;
  /** Stream merge: records buffered before early release. */
  readonly maxBufferedRecords?: number;
  /** Stream merge: cycles of cross-pCPU skew to wait for. */
  readonly skewSlackCycles?: number;
  /**
   * Called between reads; when it returns a promise, reading waits for it. Lets an iterating consumer
   * hold the producer back so that memory stays bounded.
   */
  readonly backpressure?: () => Promise<void> | undefined;
  /**
   * Threads that take part in an exact merge (`xenspan/node`'s `createMergeWorkers`). The merge is then
   * cut into slices that the calling thread and the helpers merge side by side; the rows and diagnostics
   * are the same as without helpers. Used when the input can be shared with them (a file, a Blob, bytes
   * in a `SharedArrayBuffer`) and no listener takes diagnostics live (`strict`, `onDiagnostic`); otherwise
   * ignored.
   */
  readonly helpers?: readonly SliceMergeHelper[];
  /** Input bytes per slice of a merge with helpers. Default: 8 MiB, less for inputs that would not give each thread four slices. */
  readonly sliceBytes?: number;
  /** Decompresses compressed input (`xenspan/node`'s `workerDecompressor`: in a worker thread). Default: in this thread. */
  readonly decompressor?: Decompressor;
}

/** What a decode run saw, besides the records. */
export interface DecodeReport {
  readonly merge: 'exact' | 'stream' | 'none';
  readonly compression: Compression | 'none';
  /** Decompressed bytes read. */
  readonly bytes: number;
  readonly diagnostics: Diagnostics;
}

/** An opened input: decompressed when needed, with random access kept only for plain seekable inputs. */
interface OpenedInput {
  readonly chunks: AsyncIterable<Uint8Array>;
  readonly compression: Compression | 'none';
  readonly seekable?: {
    readonly size: number;
    readAt(offset: number, length: number): Promise<Uint8Array>;
    readonly readAtSync?: ((offset: number, length: number) => Uint8Array) | undefined;
  };
}

async function openInput(source: ByteSource, diagnostics: Diagnostics, decompressor: Decompressor | undefined): Promise<OpenedInput> {
  const decompress = (chunks: AsyncIterable<Uint8Array>, compression: Compression, options: DecompressOptions): AsyncIterable<Uint8Array> =>
    decompressor === undefined ? decompressChunks(chunks, compression, options) : decompressor.decompress(chunks, compression, options);
  // Damage found after its bytes were decoded (a zstd frame failing its checksum) is reported, and decoding
  // goes on: those records are kept, flagged by the diagnostic as possibly wrong.
  const options: DecompressOptions = {
    onDamage: (error) =>
      diagnostics.report('compressed_input_damaged', error.offset === undefined ? {} : { offset: error.offset }, error.message),
  };
  if (source.readAt !== undefined && source.size !== undefined) {
    const head = await source.readAt(0, 16);
    const compression = detectCompression(head);
    if (compression !== undefined) return { chunks: decompress(source.chunks(), compression, options), compression };
    const readAt = source.readAt.bind(source);
    const readAtSync = source.readAtSync?.bind(source);
    return { chunks: source.chunks(), compression: 'none', seekable: { size: source.size, readAt, readAtSync } };
  }
  const { head, chunks } = await peek(source.chunks(), 4);
  const compression = detectCompression(head);
  if (compression !== undefined) return { chunks: decompress(chunks, compression, options), compression };
  return { chunks, compression: 'none' };
}

/** Reads until `count` bytes are known, and gives back a stream that still starts at byte 0. */
async function peek(chunks: AsyncIterable<Uint8Array>, count: number): Promise<{ head: Uint8Array; chunks: AsyncIterable<Uint8Array> }> {
  const iterator = chunks[Symbol.asyncIterator]();
  const seen: Uint8Array[] = [];
  let length = 0;
  let done = false;
  while (length < count) {
    const next = await iterator.next();
    if (next.done === true) {
      done = true;
      break;
    }
    seen.push(next.value);
    length += next.value.length;
  }
  const head = new Uint8Array(Math.min(length, count));
  let at = 0;
  for (const chunk of seen) {
    if (at >= head.length) break;
    const part = chunk.subarray(0, head.length - at);
    head.set(part, at);
    at += part.length;
  }
  async function* replay(): AsyncGenerator<Uint8Array> {
    let finished = done;
    try {
      yield* seen;
      if (done) return;
      for (;;) {
        const next = await iterator.next();
        if (next.done === true) {
          finished = true;
          return;
        }
        yield next.value;
      }
    } finally {
      // A consumer that stops early releases the input (stdin would otherwise keep the process waiting
      // for its writer to close it).
      if (!finished) await iterator.return?.();
    }
  }
  return { head, chunks: replay() };
}

/**
 * Ends a decompressed stream at the first sign of damage instead of throwing, so that every record
 * decoded before it is kept; the damage becomes a data-loss diagnostic with its compressed offset.
 */
async function* untilDamaged(chunks: AsyncIterable<Uint8Array>, diagnostics: Diagnostics): AsyncGenerator<Uint8Array> {
  let any = false;
  try {
    for await (const chunk of chunks) {
      any = true;
      yield chunk;
    }
  } catch (error) {
    // Damage before the first byte: nothing to keep, so the error itself is the answer.
    if (!any || !(error instanceof XenspanError) || error.code !== 'corrupt_compressed_input') throw error;
    diagnostics.report(
      'compressed_input_damaged',
      error.offset === undefined ? {} : { offset: error.offset },
      `${error.message}; the records decoded before it are kept`,
    );
  }
}

function emptyInput(): never {
  throw new XenspanError('not_xentrace', `not a xentrace file: ${describeMagic(new Uint8Array(0))}`, { offset: 0 });
}

/**
 * Decodes every record in file order, without merging pCPUs (cheapest; what per-pCPU statistics need).
 * `onBatch` gets BORROWED batches.
 */
export async function forEachRecordInFileOrder(
  input: ByteInput,
  onBatch: (batch: RecordBatch) => void,
  options: Pick<DecodeOptions, 'diagnostics' | 'decompressor'> = {},
): Promise<DecodeReport> {
  const diagnostics = options.diagnostics ?? new Diagnostics();
  const source = toByteSource(input);
  try {
    const opened = await openInput(source, diagnostics, options.decompressor);
    const scanner = new RecordScanner({ onBatch, diagnostics });
    for await (const chunk of untilDamaged(opened.chunks, diagnostics)) scanner.push(chunk);
    if (scanner.offset === 0) emptyInput();
    scanner.end();
    return { merge: 'none', compression: opened.compression, bytes: scanner.offset, diagnostics };
  } finally {
    await source.close?.();
  }
}

/**
 * Decodes every record in global time order and hands the batches to `onBatch` (BORROWED: copy what you
 * keep). This is the fast path; {@link decodeRecords} is the iterable form.
 * @example
 * await forEachRecordBatch(bytes, (batch) => { total += batch.length });
 */
export async function forEachRecordBatch(
  input: ByteInput,
  onBatch: (batch: RecordBatch) => void,
  options: DecodeOptions = {},
): Promise<DecodeReport> {
  const diagnostics = options.diagnostics ?? new Diagnostics();
  const source = toByteSource(input);
  const output = { onBatch, diagnostics, ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }) };
  try {
    const opened = await openInput(source, diagnostics, options.decompressor);
    const mode = options.merge ?? 'auto';
    if (mode === 'exact' && opened.seekable === undefined) {
      throw new XenspanError('invalid_options', `merge 'exact' needs a seekable, uncompressed input; ${source.name} is not`, {
        option: 'merge',
      });
    }
    if (opened.seekable !== undefined && mode !== 'stream') {
      if (opened.seekable.size === 0) emptyInput();
      const index = await indexWindows(opened.seekable.size, opened.seekable.readAtSync ?? opened.seekable.readAt);
      if (index.clean) {
        const { size, readAt, readAtSync } = opened.seekable;
        // A live listener (strict mode, say) must hear of each diagnostic when its record comes; the slices
        // report theirs when their rows are handed out.
        const useHelpers = options.helpers !== undefined && options.helpers.length > 0 && !diagnostics.live;
        const shared = useHelpers ? source.share?.() : undefined;
        if (shared !== undefined) {
          await mergeExactInSlices(index, size, readAt, readAtSync ?? readAt, {
            ...output,
            backpressure: options.backpressure,
            helpers: options.helpers!,
            input: shared,
            ...(options.sliceBytes === undefined ? {} : { sliceBytes: options.sliceBytes }),
          });
        } else {
          await mergeExact(index.pcpus, size, readAt, { ...output, backpressure: options.backpressure });
        }
        return { merge: 'exact', compression: 'none', bytes: opened.seekable.size, diagnostics };
      }
      // A damaged file: the stream path resynchronises and reports where.
    }
    // Only the stream merge waits for rounds: the watermark's options are its own.
    const merger = new CpuMerger({
      ...output,
      ...(options.maxBufferedRecords === undefined ? {} : { maxBufferedRecords: options.maxBufferedRecords }),
      ...(options.skewSlackCycles === undefined ? {} : { skewSlackCycles: options.skewSlackCycles }),
    });
    const scanner = new RecordScanner({ onBatch: (batch) => merger.ingest(batch), diagnostics });
    for await (const chunk of untilDamaged(opened.chunks, diagnostics)) {
      scanner.push(chunk);
      await options.backpressure?.();
    }
    if (scanner.offset === 0) emptyInput();
    scanner.end();
    merger.finish();
    return { merge: 'stream', compression: opened.compression, bytes: scanner.offset, diagnostics };
  } finally {
    await source.close?.();
  }
}

/**
 * Decodes every record in global time order as an async iterable of batches the caller owns.
 * @example
 * for await (const batch of decodeRecords(file)) console.log(batch.length);
 */
export async function* decodeRecords(input: ByteInput, options: DecodeOptions = {}): AsyncGenerator<RecordBatch, DecodeReport> {
  // The sync core pushes batches through a callback; queue copies and hand them out between reads.
  const ready: RecordBatch[] = [];
  let wake: (() => void) | undefined;
  let resume: (() => void) | undefined;
  let finished = false;
  let failure: unknown;
  let report: DecodeReport | undefined;
  let cancelled = false;
  const run = forEachRecordBatch(
    input,
    (batch) => {
      if (cancelled) throw CANCELLED;
      ready.push(copyRecordBatch(batch));
      wake?.();
    },
    {
      ...options,
      backpressure: () => (ready.length > 4 ? new Promise<void>((resolve) => (resume = resolve)) : undefined),
    },
  ).then(
    (r) => {
      report = r;
      finished = true;
      wake?.();
    },
    (error: unknown) => {
      failure = error;
      finished = true;
      wake?.();
    },
  );
  try {
    for (;;) {
      if (ready.length > 0) {
        const batch = ready.shift()!;
        if (ready.length <= 4) {
          resume?.();
          resume = undefined;
        }
        yield batch;
        continue;
      }
      if (finished) break;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    // A consumer that stops early (break) must not leave the producer waiting with the input open.
    if (!finished) {
      cancelled = true;
      ready.length = 0;
      resume?.();
    }
    await run;
  }
  if (failure !== undefined && failure !== CANCELLED) throw failure;
  return report!;
}

const CANCELLED = new Error('decodeRecords: the consumer stopped');
