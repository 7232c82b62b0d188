// SPDX-License-Identifier: MIT
/**
 * `dump --threads N`: worker threads that turn batches into lines beside the main thread, the lines
 * written in the order of the batches. Formatting is most of dump's time (about nine tenths on
 * bench-large: the merge is the rest), and it is a function of the rows alone, so batches can be
 * formatted anywhere; the main thread formats one itself whenever every worker has two waiting.
 * @module
 */
import { Worker } from 'node:worker_threads';
import { copyRecordBatch } from '../core/batch.js';
import type { RecordBatch } from '../core/batch.js';
import type { CpuVendor, XenVersion } from '../core/catalogue/index.js';
import type { DumpFormatOptions, DumpFormatter, DumpView } from './dump.js';
import { Wakeup, WorkerRequests } from '../core/requests.js';
import { channelTo, listenTo } from '../node/workers.js';
import { DrainingStream, LineWriter } from './output.js';
import type { TextStream } from './output.js';

/** What a format worker needs to format as the main thread does (sent with every task: a few fields). */
export interface FormatSetup {
  readonly xenVersion: XenVersion;
  readonly cpuVendor: CpuVendor;
  readonly format: DumpFormatOptions;
}

/** A batch to format: its rows (payload words packed), time zero and the running vCPUs. */
export interface FormatTask {
  readonly id: number;
  readonly setup: FormatSetup;
  readonly rows: RecordBatch;
  readonly originTsc: bigint | undefined;
  readonly context: { readonly domid: Int32Array; readonly vcpu: Int32Array } | undefined;
}

/** Tasks a worker may hold: one being formatted, one waiting, so that it never idles between them. */
const TASKS_PER_WORKER = 2;

/** Lines of a batch, in the order of the batches: ready, or still being formatted by a worker. */
interface Entry {
  pieces: Uint8Array[] | undefined;
}

/** A LineWriter whose pieces are kept rather than written (a batch's lines wait for those before them). */
export function collectLines(pieces: Uint8Array[]): LineWriter {
  // A LineWriter writes bytes only (never the strings its stream type allows).
  return new LineWriter({ write: (chunk) => (pieces.push(chunk as Uint8Array), true), once: () => undefined });
}

class FormatThread {
  /**
   * Tasks the worker finished, counted in shared memory: the main thread sees it at once, while its
   * replies (the lines, as the pieces its LineWriter gave) wait for the main thread's event loop, which a
   * merge keeps busy for many batches.
   */
  readonly finished = new Int32Array(new SharedArrayBuffer(4));
  readonly worker = new Worker(new URL('./format-worker.js', import.meta.url), { workerData: { finished: this.finished } });
  readonly requests = new WorkerRequests<Uint8Array[]>(channelTo(this.worker));
  sent = 0;

  constructor() {
    listenTo(this.worker, this.requests, 'xenspan format worker');
  }

  /** Tasks sent and not finished. */
  get busy(): number {
    return this.sent - Atomics.load(this.finished, 0);
  }

  format(task: Omit<FormatTask, 'id'>): Promise<Uint8Array[]> {
    return this.requests.request((id): FormatTask => {
      this.sent++;
      return { id, ...task };
    });
  }
}

/**
 * Formats batches here and in `count` worker threads, writing the lines to `stream` in batch order.
 * Call {@link add} for each batch, pass {@link wait} as the pipeline's backpressure, then {@link finish}.
 * A worker that fails has its batches formatted here instead: the lines are the same.
 */
export class ParallelFormat {
  readonly #threads: FormatThread[];
  readonly #options: DumpFormatOptions;
  #setup: FormatSetup | undefined;
  readonly #formatter: DumpFormatter;
  readonly #stream: DrainingStream;
  readonly #queue: Entry[] = [];
  /** Batches formatted here, and by the workers (a worker's failed task counts here). */
  formattedHere = 0;
  formattedByWorkers = 0;
  /** Woken when the first entry's lines come (waited for when the queue is full, or the run is finishing). */
  readonly #headReady = new Wakeup();

  /** `formatter`: the main thread's, made with `options`. */
  constructor(count: number, options: DumpFormatOptions, formatter: DumpFormatter, stream: TextStream) {
    this.#threads = Array.from({ length: count }, () => new FormatThread());
    this.#options = options;
    this.#formatter = formatter;
    this.#stream = new DrainingStream(stream);
  }

  /** Formats a batch (BORROWED: copied before this returns when a worker takes it). */
  add(batch: RecordBatch, view: DumpView): void {
    const thread = this.#threads.find((t) => t.requests.failure === undefined && t.busy < TASKS_PER_WORKER);
    if (thread === undefined) {
      this.#queue.push({ pieces: this.#formatHere(batch, view) });
      this.#write();
      return;
    }
    const rows = copyRecordBatch(batch);
    const context =
      view.context === undefined ? undefined : { domid: view.context.domid.slice(0, batch.length), vcpu: view.context.vcpu.slice(0, batch.length) };
    const entry: Entry = { pieces: undefined };
    this.#queue.push(entry);
    // The same for every batch of the run: made once.
    const { xenVersion, cpuVendor } = view.setup.catalogue;
    this.#setup ??= { xenVersion, cpuVendor, format: this.#options };
    thread.format({ setup: this.#setup, rows, originTsc: view.originTsc, context }).then(
      (pieces) => {
        this.formattedByWorkers++;
        this.#done(entry, pieces);
      },
      // The same rows, formatted here: nothing is lost with the worker.
      () => this.#done(entry, this.#formatHere(rows, { setup: view.setup, originTsc: view.originTsc, context })),
    );
  }

  /** A promise while more lines wait than the workers may hold, or while the stream is full. */
  wait(): Promise<void> | undefined {
    const blocked = this.#stream.blocked;
    if (blocked !== undefined) return blocked;
    if (this.#queue.length <= this.#threads.length * TASKS_PER_WORKER + 1) return undefined;
    return this.#headReady.next();
  }

  /** Writes every batch's lines, then ends the workers. */
  async finish(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        if (this.#queue[0]!.pieces === undefined) await this.#headReady.next();
        this.#write();
        await this.#stream.blocked;
      }
    } finally {
      await this.close();
    }
  }

  /** Ends the workers (a run stopped early leaves lines unwritten). */
  async close(): Promise<void> {
    await Promise.all(this.#threads.map((thread) => thread.requests.close('xenspan format worker')));
  }

  #formatHere(batch: RecordBatch, view: DumpView): Uint8Array[] {
    this.formattedHere++;
    const pieces: Uint8Array[] = [];
    const writer = collectLines(pieces);
    this.#formatter.format(batch, view, writer);
    writer.flush();
    return pieces;
  }

  #done(entry: Entry, pieces: Uint8Array[]): void {
    entry.pieces = pieces;
    if (entry === this.#queue[0]) {
      this.#write();
      this.#headReady.wake();
    }
  }

  /** Writes the lines of the first batches, as far as they are formatted. */
  #write(): void {
    const queue = this.#queue;
    let written = 0;
    while (written < queue.length && queue[written]!.pieces !== undefined) {
      for (const piece of queue[written]!.pieces!) this.#stream.write(piece);
      written++;
    }
    queue.splice(0, written);
  }
}
