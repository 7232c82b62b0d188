// SPDX-License-Identifier: MIT
/**
 * Requests to another thread matched with their replies by id, the errors that cross with them, and
 * wake-ups: what every kind of xenspan worker (merge helpers, format workers, the decompressor) needs.
 * @module
 */
import { XenspanError } from './errors.js';
import type { ErrorCode } from './errors.js';

/**
 * The requests a channel's other end has not answered yet. After {@link fail} every waiting request, and
 * every later one, is rejected with that error.
 */
class PendingRequests<Result> {
  readonly #waiting = new Map<number, { resolve(result: Result): void; reject(error: Error): void }>();
  #nextId = 0;
  #failure: Error | undefined;

  /** Requests waiting for their reply. */
  get size(): number {
    return this.#waiting.size;
  }

  /** Why the channel failed, if it did. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Registers a request under a new id, then `send`s it with that id; the promise is its reply. */
  request(send: (id: number) => void): Promise<Result> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      send(id);
    });
  }

  /**
   * A reply: the request's result, or (when `result` is undefined) the error the other end sent.
   * False when no request waits under that id (one already failed, say).
   */
  settle(id: number, result: Result | undefined, error: CrossedError | undefined): boolean {
    const waiting = this.#waiting.get(id);
    if (waiting === undefined) return false;
    this.#waiting.delete(id);
    if (result !== undefined) waiting.resolve(result);
    else waiting.reject(rebuiltError(error ?? { message: 'no reply' }));
    return true;
  }

  /** The other end failed or ended. */
  fail(error: Error): void {
    this.#failure ??= error;
    for (const waiting of this.#waiting.values()) waiting.reject(error);
    this.#waiting.clear();
  }
}

/** The owner's end of a channel to one worker: a platform's worker object, adapted. */
export interface WorkerChannel {
  /** Posts a message, moving (not copying) the buffers in `transfer`. */
  post(message: unknown, transfer: ArrayBuffer[]): void;
  /** Told when requests start and stop being outstanding (a Node worker keeps its process alive only then). */
  busy?(outstanding: boolean): void;
  /** Ends the worker. */
  terminate(): Promise<void> | void;
}

/** A worker's answer to request `id`: its result, or the error it met. */
export interface WorkerReply<Result> {
  readonly id: number;
  readonly result?: Result;
  readonly error?: CrossedError;
}

/**
 * Requests to one worker over a channel, each answered by a {@link WorkerReply}. The platform passes what
 * the worker says to {@link receive}, and its crash or exit to {@link fail}; from then on every request is
 * rejected.
 */
export class WorkerRequests<Result> {
  readonly #channel: WorkerChannel;
  readonly #pending = new PendingRequests<Result>();

  constructor(channel: WorkerChannel) {
    this.#channel = channel;
  }

  /** Requests waiting for their reply. */
  get size(): number {
    return this.#pending.size;
  }

  /** Why the worker failed, if it did. */
  get failure(): Error | undefined {
    return this.#pending.failure;
  }

  /** Posts the message `messageFor(id)`; the promise is the reply's result. */
  request(messageFor: (id: number) => unknown, transfer: ArrayBuffer[] = []): Promise<Result> {
    return this.#pending.request((id) => {
      if (this.#pending.size === 1) this.#channel.busy?.(true);
      this.#channel.post(messageFor(id), transfer);
    });
  }

  /** Posts a message that wants no reply (nothing once the worker failed). */
  tell(message: unknown, transfer: ArrayBuffer[] = []): void {
    if (this.#pending.failure === undefined) this.#channel.post(message, transfer);
  }

  /** A message from the worker (a {@link WorkerReply}). */
  receive(message: unknown): void {
    const reply = message as WorkerReply<Result>;
    if (this.#pending.settle(reply.id, reply.result, reply.error ?? { message: 'the worker sent no result' }) && this.#pending.size === 0) {
      this.#channel.busy?.(false);
    }
  }

  /** The worker failed or ended: its requests, and all later ones, are rejected. */
  fail(error: Error): void {
    this.#pending.fail(error);
  }

  /** Ends the worker; its requests still waiting are rejected. */
  async close(what: string): Promise<void> {
    this.fail(new Error(`${what}: closed`));
    await this.#channel.terminate();
  }
}

/**
 * Wakes whoever waits for the next event, however many wait: one promise that they all share. (Single
 * wake-up slots lost a waiter twice, each time hanging a run.)
 */
export class Wakeup {
  #waiting: { readonly promise: Promise<void>; readonly resolve: () => void } | undefined;

  /** Resolves at the next {@link wake}. */
  next(): Promise<void> {
    if (this.#waiting === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((done) => (resolve = done));
      this.#waiting = { promise, resolve };
    }
    return this.#waiting.promise;
  }

  /** Wakes every waiter. */
  wake(): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.resolve();
  }
}

/** An error as it crosses threads: a XenspanError keeps its code and offset. */
export interface CrossedError {
  readonly message: string;
  readonly code?: ErrorCode;
  readonly offset?: number;
  /** The worker threw the read error the owner sent it (the owner throws its own object again). */
  readonly forwarded?: boolean;
}

/** An error as a message can carry it (`forwarded`: the owner's read error, coming back). */
export function crossedError(error: unknown, forwarded = false): CrossedError {
  const message = error instanceof Error ? error.message : String(error);
  if (!(error instanceof XenspanError)) return forwarded ? { message, forwarded } : { message };
  return { message, code: error.code, ...(error.offset === undefined ? {} : { offset: error.offset }), ...(forwarded ? { forwarded } : {}) };
}

/** The error again on this side: a XenspanError with its code and offset, else a plain Error. */
export function rebuiltError(error: CrossedError): Error {
  if (error.code === undefined) return new Error(error.message);
  return new XenspanError(error.code, error.message, error.offset === undefined ? {} : { offset: error.offset });
}
