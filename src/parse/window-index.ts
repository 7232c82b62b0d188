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

const BLOCK = 64 * 1024;

/**
 * Walks the window headers of a seekable input. Reads 64 KiB blocks so that small windows cost one read
 * per block rather than one per window.
 */
export async function indexWindows(
  size: number,
  readAt: (offset: number, length: number) => Promise<Uint8Array>,
): Promise<WindowIndex> {
  const byPcpu = new Map<number, PcpuWindows>();
  const pcpus: PcpuWindows[] = [];
  let block: Uint8Array = new Uint8Array(0);
  let view = new DataView(block.buffer);
  let blockAt = 0;
  let at = 0;
  let clean = true;
  let windowCount = 0;
  while (at + 12 <= size) {
    if (at < blockAt || at + 12 > blockAt + block.length) {
      block = await readAt(at, Math.min(BLOCK, size - at));
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
  }
  // A tail shorter than a header is left to the scanner, which reports it.
  if (at < size && at + 12 > size) clean = false;
  return { pcpus, clean, windowCount };
}
