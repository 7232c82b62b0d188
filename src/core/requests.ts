// SPDX-License-Identifier: MIT
/**
 * Requests to another thread matched with their replies by id: what every kind of xenspan worker (merge
 * helpers, format workers) needs on its owner's side.
 * @module
 */

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
  settle(id: number, result: Result | undefined, error: string | undefined): boolean {
    const waiting = this.#waiting.get(id);
    if (waiting === undefined) return false;
    this.#waiting.delete(id);
    if (result !== undefined) waiting.resolve(result);
    else waiting.reject(new Error(error ?? 'no reply'));
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
