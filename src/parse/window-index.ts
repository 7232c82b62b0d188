// SPDX-License-Identifier: MIT
/**
 * The first pass over a seekable input: where every CPU_CHANGE window is, without decoding records.
 * @module
 */
import { CPU_CHANGE_HEADER } from '../core/batch.js';
import { plausibleWindowHeader } from './records.js';

/** Windows of one pCPU, in file order. */
export interface PcpuWindows {
  readonly pcpu: number;
  /** File offsets of the windows' CPU_CHANGE headers. */
  readonly offsets: number[];
  /** Bytes of each window including its 12-byte header. */
  readonly lengths: number[];
}

/** Result of {@link indexWindows}. */
export interface WindowIndex {
  readonly pcpus: PcpuWindows[];
  /** True when every window header was where the previous window said; false means corruption (use streaming). */
  readonly clean: boolean;
  readonly windowCount: number;
}

/** Bytes read at a window header when reads wait (a promise each) and when they do not. */
const ASYNC_BLOCK = 64 * 1024;
const SYNC_BLOCK = 8 * 1024;
/**
 * A synchronous read after a window larger than SYNC_BLOCK: the next one is likely as large, so its
 * header is all a block would serve (a bigger block only costs its copy and allocation: on bench-large,
 * 27 KiB windows, 8 KiB blocks took 43–78 ms and 64-byte ones 20–31 ms).
 */
const SYNC_HEADER_BLOCK = 64;

/**
 * Walks the window headers of a seekable input. Reads a block at a header, so that small windows cost one
 * read per block rather than one per window. `readAt` may answer at once (a `Uint8Array`) or with a
 * promise: a synchronous reader is much faster here, since there is a read per window of a few KiB or more.
 */
export async function indexWindows(
  size: number,
  readAt: (offset: number, length: number) => Uint8Array | Promise<Uint8Array>,
): Promise<WindowIndex> {
  const byPcpu = new Map<number, PcpuWindows>();
  const pcpus: PcpuWindows[] = [];
  let block: Uint8Array = new Uint8Array(0);
  let view = new DataView(block.buffer);
  let blockAt = 0;
  let at = 0;
  let clean = true;
  let windowCount = 0;
  /** The first read tells whether reads wait; the block size follows. */
  let blockBytes = SYNC_BLOCK;
  let syncReads = false;
  while (at + 12 <= size) {
    if (at < blockAt || at + 12 > blockAt + block.length) {
      const read = readAt(at, Math.min(blockBytes, size - at));
      syncReads = read instanceof Uint8Array;
      block = read instanceof Uint8Array ? read : await read;
      if (!syncReads) blockBytes = ASYNC_BLOCK;
      // A reader may answer short before the end: ask again until a whole header is there.
      while (block.length < 12 && block.length > 0) {
        const more = readAt(at + block.length, 12 - block.length);
        const next = more instanceof Uint8Array ? more : await more;
        if (next.length === 0) break;
        const joined = new Uint8Array(block.length + next.length);
        joined.set(block);
        joined.set(next, block.length);
        block = joined;
      }
      view = new DataView(block.buffer, block.byteOffset, block.byteLength);
      blockAt = at;
      if (block.length < 12) {
        clean = false; // shorter than its size said: let the stream path report it
        break;
      }
    }
    const rel = at - blockAt;
    const header = view.getUint32(rel, true);
    const pcpu = view.getUint32(rel + 4, true);
    const bytes = view.getUint32(rel + 8, true);
    if (header !== CPU_CHANGE_HEADER || !plausibleWindowHeader(pcpu, bytes)) {
      clean = false;
      break;
    }
    let windows = byPcpu.get(pcpu);
    if (windows === undefined) {
      windows = { pcpu, offsets: [], lengths: [] };
      byPcpu.set(pcpu, windows);
      pcpus.push(windows);
    }
    if (12 + bytes > size - at) {
      // The last window is cut (or its size is wrong): the stream path reports it and resynchronises.
      clean = false;
      break;
    }
    windows.offsets.push(at);
    windows.lengths.push(12 + bytes);
    windowCount++;
    at += 12 + bytes;
    if (syncReads) blockBytes = 12 + bytes > SYNC_BLOCK ? SYNC_HEADER_BLOCK : SYNC_BLOCK;
  }
  // A tail shorter than a header is left to the scanner, which reports it.
  if (at < size && at + 12 > size) clean = false;
  return { pcpus, clean, windowCount };
}
