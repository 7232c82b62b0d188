// SPDX-License-Identifier: MIT
/**
 * ReadCache: large reads shared by the per-pCPU readers of the exact merge.
 * @module
 */

/** Reads `length` bytes at `offset` of a seekable input (fewer at its end). */
export type ReadAt = (offset: number, length: number) => Promise<Uint8Array>;

/**
 * Reads `length` bytes, asking again after a short read: a source may return fewer bytes than asked
 * before its end (an HTTP range reader, say), and a short block would silently cut the pCPUs reading it.
 * Stops early only when the source gives nothing (the input ended before its size said).
 */
export async function readFully(readAt: ReadAt, at: number, length: number): Promise<Uint8Array> {
  const first = await readAt(at, length);
  if (first.length >= length || first.length === 0) return first;
  const whole = new Uint8Array(length);
  whole.set(first);
  let got = first.length;
  while (got < length) {
    const more = await readAt(at + got, length - got);
    if (more.length === 0) break;
    whole.set(more.subarray(0, length - got), got);
    got += more.length;
  }
  return got === length ? whole : whole.subarray(0, got);
}

interface Block {
  /** Set once the read finished. */
  bytes: Uint8Array | undefined;
  /** The ordinary memory `bytes` were copied into from shared memory, given back when the block goes. */
  copy?: Uint8Array;
  readonly pending: Promise<Uint8Array>;
  /** Whether a reader used it yet (its first use reads the next block ahead). */
  used: boolean;
}

/**
 * The exact merge reads each pCPU's windows separately, but xentrace writes the windows of all pCPUs
 * round by round, so the readers move through the same region of the file together. The file is read
 * in aligned blocks that serve every reader, which turns one read per window (slow on traces of small
 * windows) into one per block; the block after one in use is read ahead, so reading overlaps decoding.
 * A read returns at most the rest of its block: callers loop. Memory: at most `maxBlocks` blocks.
 */
export class ReadCache {
  readonly #readAt: ReadAt;
  readonly #size: number;
  readonly #blockBytes: number;
  readonly #maxBlocks: number;
  /** Blocks by block number (offset / blockBytes), in the order they were read. */
  readonly #blocks = new Map<number, Block>();

  /** Copies of blocks read from shared memory that went, for the next ones (see `#own`). */
  readonly #spares: Uint8Array[];

  /** `spares`: kept from one cache to the next, so that a run of merges allocates its copies once. */
  constructor(readAt: ReadAt, size: number, blockBytes = 1 << 20, maxBlocks = 8, spares: Uint8Array[] = []) {
    this.#readAt = readAt;
    this.#size = size;
    this.#blockBytes = blockBytes;
    this.#maxBlocks = maxBlocks;
    this.#spares = spares;
  }

  /**
   * Up to `length` bytes at `offset` (at least one, at most to the end of its block) when the block
   * holding `offset` is already read: no promise on this path.
   */
  cached(offset: number, length: number): Uint8Array | undefined {
    const number = Math.floor(offset / this.#blockBytes);
    const block = this.#blocks.get(number);
    if (block?.bytes === undefined) return undefined;
    return this.#slice(block, block.bytes, number, offset, length);
  }

  /** Up to `length` bytes at `offset`, at most to the end of its block; empty only past the end of the input. */
  async read(offset: number, length: number): Promise<Uint8Array> {
    const number = Math.floor(offset / this.#blockBytes);
    const block = this.#blocks.get(number) ?? this.#load(number);
    const bytes = block.bytes ?? (await block.pending);
    return this.#slice(block, bytes, number, offset, length);
  }

  #slice(block: Block, bytes: Uint8Array, number: number, offset: number, length: number): Uint8Array {
    if (!block.used) {
      // First use: readers move forward, so read the next block ahead.
      block.used = true;
      const next = number + 1;
      if (next * this.#blockBytes < this.#size && !this.#blocks.has(next)) this.#load(next);
    }
    const from = offset - number * this.#blockBytes;
    return bytes.subarray(from, Math.min(from + length, bytes.length));
  }

  /** Gives the copies of shared memory back to the spares (the cache is not used after this). */
  release(): void {
    for (const block of this.#blocks.values()) this.#giveBack(block);
    this.#blocks.clear();
  }

  /** A block that goes: its copy of shared memory (if any) waits for the next block read. */
  #giveBack(block: Block): void {
    if (block.copy !== undefined && this.#spares.length <= this.#maxBlocks) this.#spares.push(block.copy);
  }

  /**
   * Bytes in shared memory (a `SharedArrayBuffer`) are copied into ordinary memory once: V8 copies shared
   * memory word by word, and 6 times slower, unless source and target start alike modulo 8, which the
   * merge's copies of windows (at any word) into its arena seldom do. One copy here, from an 8-byte
   * boundary to one, is fast; later copies from it are too.
   */
  #own(bytes: Uint8Array, block: Block): Uint8Array {
    if (typeof SharedArrayBuffer === 'undefined' || !(bytes.buffer instanceof SharedArrayBuffer)) return bytes;
    const lead = bytes.byteOffset & 7;
    let copy = this.#spares.pop();
    if (copy === undefined || copy.length < bytes.length + lead) copy = new Uint8Array(Math.max(this.#blockBytes, bytes.length) + 8);
    copy.set(new Uint8Array(bytes.buffer, bytes.byteOffset - lead, bytes.length + lead));
    block.copy = copy;
    return copy.subarray(lead, lead + bytes.length);
  }

  #load(number: number): Block {
    const blocks = this.#blocks;
    if (blocks.size >= this.#maxBlocks) {
      // Evict the oldest block whose read finished (a reader may be waiting on the others).
      for (const [old, block] of blocks) {
        if (block.bytes !== undefined) {
          blocks.delete(old);
          this.#giveBack(block);
          break;
        }
      }
    }
    const at = number * this.#blockBytes;
    const block: Block = {
      bytes: undefined,
      used: false,
      pending: readFully(this.#readAt, at, Math.min(this.#blockBytes, this.#size - at)).then((bytes) => (block.bytes = this.#own(bytes, block))),
    };
    // A read ahead may fail before any reader awaits it: the reader that does gets the error; until then
    // it must not count as an unhandled rejection (which ends a Node process).
    block.pending.catch(() => undefined);
    blocks.set(number, block);
    return block;
  }
}
