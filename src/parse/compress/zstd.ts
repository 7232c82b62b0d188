// SPDX-License-Identifier: MIT
/**
 * zstd decompression by `fzstd`, plus the check fzstd leaves out: every frame's content checksum (the low 32 bits
 * of XXH64 of the frame's decoded bytes, stored little-endian after its last block).
 *
 * The decoded bytes are hashed as they stream out, so memory stays bounded. To know where a frame ends without
 * decoding it, its structure is walked here as well (RFC 8878): magic, frame header, 3-byte block headers up to
 * the one marked last, then the optional checksum; a skippable frame states its own size. Each frame gets its own
 * fzstd decoder and is pushed as `final` with its last byte, which makes fzstd emit all of its output right then
 * (fzstd holds back a frame of under 18 bytes until more input or `final` arrives).
 * @module
 */
import { Decompress } from 'fzstd';
import { XenspanError } from '../../core/errors.js';
import { Xxh64 } from './xxhash64.js';

const ZSTD_MAGIC = 0xfd2fb528;
/** Skippable frames use the 16 magics 0x184D2A50 to 0x184D2A5F. */
const SKIPPABLE_MAGIC = 0x184d2a50;
const BLOCK_RLE = 1;
const BLOCK_RESERVED = 3;
const DICTIONARY_ID_BYTES = [0, 1, 2, 4] as const;
/** zstd's default limit on a frame's window (ZSTD_WINDOWLOG_LIMIT_DEFAULT, 2^27 bytes). */
const MAX_WINDOW_BYTES = 2 ** 27;

// Where the walk is inside a frame. Fields are collected into `field`; content is only counted past.
const MAGIC = 0;
const DESCRIPTOR = 1;
const HEADER_REST = 2;
const BLOCK_HEADER = 3;
const BLOCK_CONTENT = 4;
const CHECKSUM = 5;
const SKIPPABLE_SIZE = 6;
const SKIPPABLE_CONTENT = 7;
type Phase = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7;

function readU32(bytes: Uint8Array): number {
  return (bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) >>> 0;
}

/** A `corrupt_compressed_input` error; `what` says where (the offset of the frame or of the damage). */
function corrupt(what: string, offset: number, cause?: unknown): XenspanError {
  return new XenspanError('corrupt_compressed_input', `corrupt zstd input: ${what}`, {
    offset,
    ...(cause === undefined ? {} : { cause }),
  });
}

function hex32(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

/**
 * A push decompressor for zstd streams (concatenated and skippable frames included) that verifies content
 * checksums and content sizes. A mismatch goes to `ondamage` once the frame's output has gone to `ondata`
 * (nothing emitted is taken back), and decoding goes on with the next frame. A frame that cannot be
 * decoded, or whose structure is broken, throws `corrupt_compressed_input` with the frame's offset.
 */
export class ZstdDecompressor {
  readonly #ondata: (chunk: Uint8Array) => void;
  readonly #ondamage: (error: XenspanError) => void;
  /** The fzstd decoder of the frame being read; undefined between frames. */
  #decoder: Decompress | undefined;
  readonly #hash = new Xxh64();
  /** Compressed offset of the next byte to walk. */
  #offset = 0;
  /** Compressed offset of the current frame's first byte. */
  #frameOffset = 0;
  #phase: Phase = MAGIC;
  /** Bytes the current phase still takes. */
  #remaining = 4;
  /** The field being collected: a magic, a block header, a checksum, or the frame header's rest (13 bytes at most). */
  readonly #field = new Uint8Array(13);
  #fieldLength = 0;
  #checksummed = false;
  /** The frame's content size from its header (−1 when absent), and the bytes it has decoded to. */
  #contentSize = -1;
  #decodedBytes = 0;
  /** Where the content size sits in the header's rest, and its width in bytes (0: absent). */
  #contentSizeAt = 0;
  #contentSizeBytes = 0;
  /** The header has a window descriptor (the first byte of its rest): not a single-segment frame. */
  #windowDescriptor = false;
  #lastBlock = false;

  constructor(ondata: (chunk: Uint8Array) => void, ondamage: (error: XenspanError) => void) {
    this.#ondata = ondata;
    this.#ondamage = ondamage;
  }

  push(chunk: Uint8Array, final = false): void {
    let at = 0;
    while (at < chunk.length) {
      const decoder = this.#decoder ?? this.#startFrame();
      const { end, frameEnded } = this.#walk(chunk, at);
      try {
        decoder.push(chunk.subarray(at, end), frameEnded);
      } catch (error) {
        throw this.#corrupt(error);
      }
      at = end;
      if (frameEnded) this.#endFrame();
    }
    if (final && this.#decoder !== undefined) {
      throw corrupt(`it ends inside the frame at compressed offset ${this.#frameOffset}`, this.#offset);
    }
  }

  /** A new fzstd decoder for the frame that starts at the walk's offset. */
  #startFrame(): Decompress {
    this.#frameOffset = this.#offset;
    this.#checksummed = false;
    this.#contentSize = -1;
    this.#decodedBytes = 0;
    this.#hash.reset();
    this.#decoder = new Decompress((data) => {
      this.#decodedBytes += data.length;
      if (this.#checksummed) this.#hash.update(data);
      if (data.length > 0) this.#ondata(data);
    });
    return this.#decoder;
  }

  /**
   * fzstd failed inside the frame: the stream ends here. (Skipping to the next frame would leave the trace
   * resuming at an unknown point inside a window, with every later offset wrong.)
   */
  #corrupt(error: unknown): XenspanError {
    return corrupt(`the frame at compressed offset ${this.#frameOffset} cannot be decoded (${(error as Error).message})`, this.#frameOffset, error);
  }

  /** Checks the ended frame's checksum and content size (a skippable frame has neither). */
  #endFrame(): void {
    this.#decoder = undefined;
    const frame = `the frame at compressed offset ${this.#frameOffset}`;
    if (this.#checksummed) {
      const stored = readU32(this.#field);
      const computed = this.#hash.digest().lo;
      if (computed !== stored) {
        this.#damaged(
          `${frame} fails its content checksum (stored ${hex32(stored)}, computed ${hex32(computed)}): records decoded from it may be wrong`,
        );
        return;
      }
    }
    // fzstd does not compare the header's content size with what it decoded; zstd itself refuses a mismatch.
    if (this.#contentSize >= 0 && this.#contentSize !== this.#decodedBytes) {
      this.#damaged(`${frame} says it holds ${this.#contentSize} bytes but decodes to ${this.#decodedBytes}: its records may be wrong`);
    }
  }

  #damaged(what: string): void {
    this.#ondamage(corrupt(what, this.#frameOffset));
  }


  /** Walks chunk[at, …) until the current frame ends or the chunk does. */
  #walk(chunk: Uint8Array, at: number): { end: number; frameEnded: boolean } {
    while (at < chunk.length) {
      const take = Math.min(this.#remaining, chunk.length - at);
      if (this.#collecting()) {
        this.#field.set(chunk.subarray(at, at + take), this.#fieldLength);
        this.#fieldLength += take;
      }
      at += take;
      this.#offset += take;
      this.#remaining -= take;
      if (this.#remaining === 0 && this.#next()) return { end: at, frameEnded: true };
    }
    return { end: at, frameEnded: false };
  }

  #collecting(): boolean {
    const phase = this.#phase;
    return phase !== BLOCK_CONTENT && phase !== SKIPPABLE_CONTENT;
  }

  /** Moves past a finished phase (and any empty ones after it); true when that ends the frame. */
  #next(): boolean {
    for (;;) {
      const field = this.#field;
      switch (this.#phase) {
        case MAGIC: {
          const magic = readU32(field);
          if (magic === ZSTD_MAGIC) this.#enter(DESCRIPTOR, 1);
          else if ((magic & 0xfffffff0) >>> 0 === SKIPPABLE_MAGIC) this.#enter(SKIPPABLE_SIZE, 4);
          else {
            throw corrupt(`no zstd frame starts here, at compressed offset ${this.#frameOffset} (magic ${hex32(magic)})`, this.#frameOffset);
          }
          break;
        }
        case DESCRIPTOR: {
          const descriptor = field[0]!;
          const singleSegment = (descriptor >> 5) & 1;
          const contentSizeFlag = descriptor >> 6;
          this.#checksummed = ((descriptor >> 2) & 1) === 1;
          const windowBytes = singleSegment === 1 ? 0 : 1;
          const contentSizeBytes = contentSizeFlag === 0 ? singleSegment : 1 << contentSizeFlag;
          this.#windowDescriptor = singleSegment === 0;
          this.#contentSizeAt = windowBytes + DICTIONARY_ID_BYTES[descriptor & 3]!;
          this.#contentSizeBytes = contentSizeBytes;
          this.#enter(HEADER_REST, this.#contentSizeAt + contentSizeBytes);
          break;
        }
        case HEADER_REST:
          this.#contentSize = this.#readContentSize();
          this.#checkWindow();
          this.#enter(BLOCK_HEADER, 3);
          break;
        case BLOCK_HEADER: {
          const header = field[0]! | (field[1]! << 8) | (field[2]! << 16);
          const type = (header >> 1) & 3;
          if (type === BLOCK_RESERVED) {
            throw corrupt(`a block of the reserved type at compressed offset ${this.#offset - 3}`, this.#offset - 3);
          }
          this.#lastBlock = (header & 1) === 1;
          // An RLE block stores one byte, however many it stands for.
          this.#enter(BLOCK_CONTENT, type === BLOCK_RLE ? 1 : header >>> 3);
          break;
        }
        case BLOCK_CONTENT:
          if (!this.#lastBlock) this.#enter(BLOCK_HEADER, 3);
          else if (this.#checksummed) this.#enter(CHECKSUM, 4);
          else return this.#frameDone();
          break;
        case SKIPPABLE_SIZE:
          this.#enter(SKIPPABLE_CONTENT, readU32(field));
          break;
        case CHECKSUM:
        case SKIPPABLE_CONTENT:
          return this.#frameDone();
      }
      if (this.#remaining > 0) return false;
    }
  }

  /**
   * Refuses a frame whose window (what fzstd allocates) is over zstd's default limit of 128 MiB, as zstd
   * does: a damaged window descriptor would otherwise cost gigabytes.
   */
  #checkWindow(): void {
    // A single-segment frame's window is its content size; otherwise the descriptor is the header rest's first byte.
    let window = this.#contentSize;
    if (this.#windowDescriptor) {
      const descriptor = this.#field[0]!;
      const base = 2 ** (10 + (descriptor >> 3));
      window = base + (base / 8) * (descriptor & 7);
    }
    if (window > MAX_WINDOW_BYTES) {
      throw corrupt(
        `the frame at compressed offset ${this.#frameOffset} asks for a ${window}-byte window, over zstd's limit of ${MAX_WINDOW_BYTES}`,
        this.#frameOffset,
      );
    }
  }

  /** The content size field (little-endian; a 2-byte one counts from 256), or −1 when the header has none. */
  #readContentSize(): number {
    const bytes = this.#contentSizeBytes;
    if (bytes === 0) return -1;
    let value = 0;
    for (let i = bytes - 1; i >= 0; i--) value = value * 256 + this.#field[this.#contentSizeAt + i]!;
    return bytes === 2 ? value + 256 : value;
  }

  #enter(phase: Phase, length: number): void {
    this.#phase = phase;
    this.#remaining = length;
    this.#fieldLength = 0;
  }

  #frameDone(): true {
    this.#phase = MAGIC;
    this.#remaining = 4;
    // `field` keeps the checksum for #endFrame.
    this.#fieldLength = 0;
    return true;
  }
}
