// SPDX-License-Identifier: MIT
/**
 * Buffered output with backpressure, so that `dump` of a GB trace into a slow pipe stays bounded.
 * Node-only (Buffer), like the rest of the CLI.
 * @module
 */
import { Buffer } from 'node:buffer';
import type { FieldTextWriter } from '../core/catalogue/index.js';

/** The few members of a Node writable stream the CLI uses. */
export interface TextStream {
  write(chunk: string | Uint8Array): boolean;
  once(event: 'drain', listener: () => void): unknown;
}

/** Writes chunks to a stream and says, until its 'drain', that the stream's buffer is full. */
export class DrainingStream {
  readonly #stream: TextStream;
  #blocked: Promise<void> | undefined;

  constructor(stream: TextStream) {
    this.#stream = stream;
  }

  write(chunk: Uint8Array): void {
    if (this.#stream.write(chunk) || this.#blocked !== undefined) return;
    this.#blocked = new Promise((resolve) =>
      this.#stream.once('drain', () => {
        this.#blocked = undefined;
        resolve();
      }),
    );
  }

  /** A promise while the stream's buffer is full, else undefined. */
  get blocked(): Promise<void> | undefined {
    return this.#blocked;
  }
}

/** Bytes written before a piece goes to the stream. */
const PIECE_BYTES = 1 << 16;
/** Room past PIECE_BYTES for the line that crosses it (a longer one grows the buffer). */
const LINE_ROOM = 512;
const SPACE = 0x20;
const HEX_DIGITS = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

/**
 * Writes lines as ASCII bytes straight into a buffer, so that `dump` builds no string per column:
 * numbers are written digit by digit and padded in place. Each full piece goes to the stream as a new
 * buffer (the stream may hold it until written); {@link LineWriter.wait} is the backpressure hook.
 */
export class LineWriter implements FieldTextWriter {
  readonly #stream: DrainingStream;
  #bytes = Buffer.allocUnsafe(PIECE_BYTES + LINE_ROOM);
  #at = 0;

  constructor(stream: TextStream) {
    this.#stream = new DrainingStream(stream);
  }

  /** Appends text as UTF-8. A loop: the texts are short, and Buffer.write costs more per call than this per byte. */
  text(value: string): void {
    const length = value.length;
    this.#room(length);
    const bytes = this.#bytes;
    let at = this.#at;
    for (let k = 0; k < length; k++) {
      const code = value.charCodeAt(k);
      if (code >= 0x80) {
        // Rare (names and fields are ASCII): the rest through the encoder.
        this.#at = at;
        this.#room((length - k) * 3);
        this.#at += this.#bytes.write(value.slice(k), this.#at, 'utf8');
        return;
      }
      bytes[at++] = code;
    }
    this.#at = at;
  }

  /** Appends one ASCII character code. */
  char(code: number): void {
    this.#room(1);
    this.#bytes[this.#at++] = code;
  }

  /** Appends text right-aligned in `width` columns, as `padStart` would. */
  alignedText(value: string, width: number): void {
    this.#room(Math.max(0, width - value.length));
    this.#at = writeSpaces(this.#bytes, this.#at, width - value.length);
    this.text(value);
  }

  /**
   * Appends a number as String() writes it, right-aligned in `width` columns. Safe non-negative integers
   * go through {@link writeUint}: String() is slow beyond 2^31 (V8's general double-to-string path).
   */
  integer(value: number, width = 0): void {
    if (!(value >= 0 && value <= Number.MAX_SAFE_INTEGER && Math.floor(value) === value)) {
      // Negative, fractional or huge: rare, so the general conversion.
      this.alignedText(String(value), width);
      return;
    }
    this.#room(width > MAX_SAFE_DIGITS ? width : MAX_SAFE_DIGITS);
    this.#at = writeUint(this.#bytes, this.#at, value, width);
  }

  /**
   * The buffer, with room for `count` more bytes from {@link LineWriter.at}: a caller that writes many
   * bytes per line writes them there itself and then sets `at` (no method call per byte).
   */
  reserve(count: number): Uint8Array {
    this.#room(count);
    return this.#bytes;
  }

  /** Where the next byte goes in the buffer that {@link LineWriter.reserve} returned. */
  get at(): number {
    return this.#at;
  }

  set at(at: number) {
    this.#at = at;
  }

  /** Appends 0x and 8 lowercase hex digits of a 32-bit value. */
  hex32(value: number): void {
    this.#room(10);
    this.#bytes[this.#at++] = 0x30;
    this.#bytes[this.#at++] = 0x78;
    this.#at = writeHexWord(this.#bytes, this.#at, value);
  }

  /** Appends 0x and 16 lowercase hex digits of a 64-bit value given as its high and low words. */
  hex64(hi: number, lo: number): void {
    this.#room(18);
    this.#bytes[this.#at++] = 0x30;
    this.#bytes[this.#at++] = 0x78;
    this.#at = writeHexWord(this.#bytes, writeHexWord(this.#bytes, this.#at, hi), lo);
  }

  /** Ends the line; sends the buffer to the stream when it is full. */
  endLine(): void {
    this.char(0x0a);
    if (this.#at >= PIECE_BYTES) this.flush();
  }

  /** Sends what is buffered (whole lines and any started one). */
  flush(): void {
    if (this.#at === 0) return;
    const piece = this.#bytes.subarray(0, this.#at);
    this.#bytes = Buffer.allocUnsafe(PIECE_BYTES + LINE_ROOM);
    this.#at = 0;
    this.#stream.write(piece);
  }

  /** A promise while the stream's buffer is full, else undefined. */
  wait(): Promise<void> | undefined {
    return this.#stream.blocked;
  }

  /** Makes room for `count` more bytes, growing the buffer for a very long line. */
  #room(count: number): void {
    if (this.#at + count <= this.#bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.#bytes.length * 2, this.#at + count));
    this.#bytes.copy(grown, 0, 0, this.#at);
    this.#bytes = grown;
  }

}

/** Writes `count` spaces at `at` (none when count ≤ 0); returns where they end. */
export function writeSpaces(bytes: Uint8Array, at: number, count: number): number {
  for (let k = 0; k < count; k++) bytes[at++] = SPACE;
  return at;
}

/** Digits of the largest safe integer (2^53 − 1). */
export const MAX_SAFE_DIGITS = 16;

/**
 * Writes a safe non-negative integer in decimal at `at`, right-aligned in `width` columns (the caller
 * made room for max(width, 16) bytes); returns where it ends. 32-bit arithmetic throughout (twice as
 * fast as on doubles): the low 8 digits and the rest (below 2^53 / 10^8 < 2^31) separately when the
 * value is larger than 2^31, two digits per division.
 */
export function writeUint(bytes: Uint8Array, at: number, value: number, width: number): number {
  let high = 0;
  let low = value | 0;
  if (value > 0x7fffffff) {
    high = Math.floor(value / 1e8) | 0;
    low = (value - high * 1e8) | 0;
  }
  const n = high > 0 ? digitCount(high) + 8 : digitCount(low);
  for (let pad = width - n; pad > 0; pad--) bytes[at++] = SPACE;
  const end = at + n;
  let p = end;
  if (high > 0) {
    // Exactly 8 digits, leading zeros included: two halves of four, each two pairs (independent
    // divisions rather than a chain of four).
    const upper = (low / 10000) | 0;
    const lower = low - upper * 10000;
    const u1 = (upper / 100) | 0;
    const l1 = (lower / 100) | 0;
    const u2 = (upper - u1 * 100) << 1;
    const l2 = (lower - l1 * 100) << 1;
    p -= 8;
    bytes[p] = DIGIT_PAIRS[u1 << 1]!;
    bytes[p + 1] = DIGIT_PAIRS[(u1 << 1) + 1]!;
    bytes[p + 2] = DIGIT_PAIRS[u2]!;
    bytes[p + 3] = DIGIT_PAIRS[u2 + 1]!;
    bytes[p + 4] = DIGIT_PAIRS[l1 << 1]!;
    bytes[p + 5] = DIGIT_PAIRS[(l1 << 1) + 1]!;
    bytes[p + 6] = DIGIT_PAIRS[l2]!;
    bytes[p + 7] = DIGIT_PAIRS[l2 + 1]!;
    low = high;
  }
  while (low >= 100) {
    const next = (low / 100) | 0;
    const pair = (low - next * 100) << 1;
    bytes[--p] = DIGIT_PAIRS[pair + 1]!;
    bytes[--p] = DIGIT_PAIRS[pair]!;
    low = next;
  }
  if (low >= 10) {
    bytes[--p] = DIGIT_PAIRS[(low << 1) + 1]!;
    bytes[--p] = DIGIT_PAIRS[low << 1]!;
  } else {
    bytes[--p] = 0x30 + low;
  }
  return end;
}

/** Writes the 8 lowercase hex digits of a 32-bit word at `at`; returns where they end. */
function writeHexWord(bytes: Uint8Array, at: number, word: number): number {
  for (let shift = 28; shift >= 0; shift -= 4) bytes[at++] = HEX_DIGITS[(word >>> shift) & 15]!;
  return at;
}

/** "00" … "99" as ASCII codes: two digits per division. */
const DIGIT_PAIRS = Uint8Array.from({ length: 200 }, (_, i) => 0x30 + (i & 1 ? (i >> 1) % 10 : ((i >> 1) / 10) | 0));

/** Decimal digits of a non-negative 32-bit integer. */
function digitCount(value: number): number {
  if (value < 100000) return value < 100 ? (value < 10 ? 1 : 2) : value < 1000 ? 3 : value < 10000 ? 4 : 5;
  return value < 10000000 ? (value < 1000000 ? 6 : 7) : value < 100000000 ? 8 : value < 1000000000 ? 9 : 10;
}
