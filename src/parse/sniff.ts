// SPDX-License-Identifier: MIT
/**
 * Recognising what an input is from its first bytes.
 * @module
 */

/** Compression formats recognised by their magic bytes. */
export type Compression = 'gzip' | 'zstd' | 'bzip2';

/** The compression of an input from its first bytes, or undefined for none recognised. */
export function detectCompression(head: Uint8Array): Compression | undefined {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  if (head.length >= 4 && head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68 && head[3] >= 0x31 && head[3] <= 0x39) {
    return 'bzip2';
  }
  return undefined;
}

/** A short description of what the first bytes look like, for the "not a xentrace file" error. */
export function describeMagic(head: Uint8Array): string {
  if (head.length === 0) return 'the input is empty';
  const hex = Array.from(head.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  if (head.length < 12) return `only ${head.length} bytes (${hex}), less than one CPU_CHANGE header`;
  if (head[0] === 0x20 && head[1] === 0x01 && head[2] === 0xf0 && head[3] === 0x03) {
    return `a big-endian CPU_CHANGE header (${hex}), which xenspan does not decode`;
  }
  if (head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46) return `an ELF binary (${hex})`;
  if (head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58) return `xz-compressed data (${hex}), not supported: use gzip, bzip2 or zstd`;
  if (head[0] === 0x50 && head[1] === 0x4b) return `a zip archive (${hex})`;
  let printable = 0;
  for (const b of head) if ((b >= 0x20 && b < 0x7f) || b === 0x0a || b === 0x0d || b === 0x09) printable++;
  if (printable === head.length) return `text ("${String.fromCharCode(...head.subarray(0, 12)).replace(/[\r\n\t]/g, ' ')}…")`;
  return `first bytes ${hex}`;
}
