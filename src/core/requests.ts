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
export class PendingRequests<Result> {
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
