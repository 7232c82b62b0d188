// SPDX-License-Identifier: MIT
/**
 * Buffered text output with backpressure, so that `dump` of a GB trace into a slow pipe stays bounded.
 * @module
 */

/** The few members of a Node writable stream the CLI uses. */
export interface TextStream {
  write(text: string): boolean;
  once(event: 'drain', listener: () => void): unknown;
}

/** Collects lines and writes them in large pieces; {@link LineWriter.wait} is the backpressure hook. */
export class LineWriter {
  readonly #stream: TextStream;
  #parts: string[] = [];
  #size = 0;
  #blocked: Promise<void> | undefined;

  constructor(stream: TextStream) {
    this.#stream = stream;
  }

  line(text: string): void {
    this.#parts.push(text);
    this.#size += text.length + 1;
    if (this.#size >= 1 << 16) this.flush();
  }

  flush(): void {
    if (this.#parts.length === 0) return;
    this.#parts.push('');
    const ok = this.#stream.write(this.#parts.join('\n'));
    this.#parts = [];
    this.#size = 0;
    if (!ok && this.#blocked === undefined) {
      this.#blocked = new Promise((resolve) =>
        this.#stream.once('drain', () => {
          this.#blocked = undefined;
          resolve();
        }),
      );
    }
  }

  /** A promise while the stream's buffer is full, else undefined. */
  wait(): Promise<void> | undefined {
    return this.#blocked;
  }
}
