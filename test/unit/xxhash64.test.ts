// SPDX-License-Identifier: MIT
// XXH64 (seed 0), the hash of zstd's content checksum: known vectors, and a slow BigInt reference for the rest.
import { describe, expect, it } from 'vitest';
import { Xxh64 } from '../../src/parse/compress/xxhash64.js';

const MASK = (1n << 64n) - 1n;
const P1 = 0x9e3779b185ebca87n;
const P2 = 0xc2b2ae3d27d4eb4fn;
const P3 = 0x165667b19e3779f9n;
const P4 = 0x85ebca77c2b2ae63n;
const P5 = 0x27d4eb2f165667c5n;

const rotl = (x: bigint, r: bigint) => ((x << r) | (x >> (64n - r))) & MASK;
const round = (acc: bigint, lane: bigint) => (rotl((acc + lane * P2) & MASK, 31n) * P1) & MASK;
const merge = (acc: bigint, v: bigint) => (((acc ^ round(0n, v)) * P1 + P4) & MASK);
function le(bytes: Uint8Array, at: number, n: number): bigint {
  let v = 0n;
  for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[at + i]!);
  return v;
}

/** The specification, step by step, in BigInt: slow and obviously right. */
function referenceXxh64(bytes: Uint8Array): bigint {
  let at = 0;
  let acc: bigint;
  if (bytes.length >= 32) {
    const v = [(P1 + P2) & MASK, P2, 0n, (0n - P1) & MASK];
    for (; at + 32 <= bytes.length; at += 32) {
      for (let k = 0; k < 4; k++) v[k] = round(v[k]!, le(bytes, at + 8 * k, 8));
    }
    acc = (rotl(v[0]!, 1n) + rotl(v[1]!, 7n) + rotl(v[2]!, 12n) + rotl(v[3]!, 18n)) & MASK;
    for (const lane of v) acc = merge(acc, lane);
  } else {
    acc = P5;
  }
  acc = (acc + BigInt(bytes.length)) & MASK;
  for (; at + 8 <= bytes.length; at += 8) acc = (rotl(acc ^ round(0n, le(bytes, at, 8)), 27n) * P1 + P4) & MASK;
  if (at + 4 <= bytes.length) {
    acc = (rotl(acc ^ ((le(bytes, at, 4) * P1) & MASK), 23n) * P2 + P3) & MASK;
    at += 4;
  }
  for (; at < bytes.length; at++) acc = (rotl(acc ^ ((BigInt(bytes[at]!) * P5) & MASK), 11n) * P1) & MASK;
  acc ^= acc >> 33n;
  acc = (acc * P2) & MASK;
  acc ^= acc >> 29n;
  acc = (acc * P3) & MASK;
  return acc ^ (acc >> 32n);
}

function hash(bytes: Uint8Array, pieces: number[] = [bytes.length]): bigint {
  const h = new Xxh64();
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = Math.max(1, pieces[i % pieces.length]!);
    h.update(bytes.subarray(at, at + size));
    at += size;
  }
  const { hi, lo } = h.digest();
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** Byte i is (167 i + 13) mod 256. */
function pattern(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 167 + 13) % 256;
  return bytes;
}

describe('XXH64', () => {
  it('matches known vectors (Python xxhash 4.0.1, i.e. the C library)', () => {
    // python: xxhash.xxh64_intdigest(bytes((i * 167 + 13) % 256 for i in range(n)))
    const vectors: [number, bigint][] = [
      [0, 0xef46db3751d8e999n],
      [1, 0x2078e1ad38ad738bn],
      [3, 0x634d95fc01a189cdn],
      [4, 0xeed340908a1ac6c6n],
      [8, 0x76f916c7bb523126n],
      [31, 0x65c5feb01da7464dn],
      [32, 0x7665c921c9bf2ec7n],
      [33, 0xb5a9d9ef259ae821n],
      [100, 0x74e502db362efd4cn],
      [1000, 0x626443c8029d0542n],
    ];
    for (const [length, expected] of vectors) {
      expect(hash(pattern(length)), `length ${length}`).toBe(expected);
      expect(referenceXxh64(pattern(length)), `reference, length ${length}`).toBe(expected);
    }
    const text = (s: string) => new TextEncoder().encode(s);
    expect(hash(text('a'))).toBe(0xd24ec4f1a98c6e5bn);
    expect(hash(text('abc'))).toBe(0x44bc2cf5ad770999n);
    // All-ones words carry through every add.
    expect(hash(new Uint8Array(1000).fill(0xff))).toBe(0xa71ddbdffe2fe70dn);
  });

  it('equals the BigInt reference for every length up to 300, fed whole or in odd pieces', () => {
    const bytes = pattern(300);
    for (let length = 0; length <= 300; length++) {
      const input = bytes.subarray(0, length);
      const expected = referenceXxh64(input);
      expect(hash(input), `length ${length}`).toBe(expected);
      expect(hash(input, [1, 5, 31, 2, 64]), `length ${length} in pieces`).toBe(expected);
    }
  });

  it('hashes unaligned views and random bytes like the reference', () => {
    let seed = 0x2545f491;
    const random = new Uint8Array(20_000);
    for (let i = 0; i < random.length; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) | 0;
      random[i] = seed >>> 23;
    }
    for (const start of [1, 2, 3]) {
      // A view at an odd byte offset cannot be read as 32-bit words directly.
      const view = random.subarray(start, start + 9_999);
      expect(hash(view)).toBe(referenceXxh64(view));
      expect(hash(view, [4093, 7])).toBe(referenceXxh64(view));
    }
  });

  it('starts over after reset', () => {
    const h = new Xxh64();
    h.update(pattern(77));
    h.reset();
    expect(h.digest()).toEqual({ hi: 0xef46db37, lo: 0x51d8e999 });
  });
});
