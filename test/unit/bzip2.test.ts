// SPDX-License-Identifier: MIT
// The bzip2 decoder: exact output on fixtures made by the reference `bzip2` CLI, in any chunking; round trips
// against the CLI when it is installed; damaged and cut input always ends in one XenspanError, never a hang.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { XenspanError } from '../../src/core/errors.js';
import { Bzip2Decompressor, isBzip2 } from '../../src/parse/compress/bzip2.js';
import { concatBytes } from '../support/bytes.js';

const FIXTURES = new URL('../fixtures/bzip2/', import.meta.url);
const hasBzip2 = (() => {
  const probe = spawnSync('bzip2', ['-c'], { input: new Uint8Array(0) });
  return probe.error === undefined && probe.status === 0;
})();

// ---- Deterministic inputs (the fixtures are these, compressed by `bzip2`; see regenerate below). ----

/** xorshift32: tiny and the same everywhere, so every input is rebuilt from its seed. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

function randomBytes(length: number, seed: number): Uint8Array {
  const next = prng(seed);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = next() & 0xff;
  return out;
}

const VOCABULARY = (
  'xen hypervisor domain vcpu pcpu runstate running runnable blocked offline credit2 scheduler tick timer ' +
  'interrupt event channel grant table page fault hypercall trace buffer record tsc cycles lost wrap ' +
  'migrate wake sleep yield idle dom0 domU memory p2m ept vmexit vmentry io port mmio'
).split(' ');

function words(length: number, seed: number): Uint8Array {
  const next = prng(seed);
  let text = '';
  while (text.length < length) {
    const r = next();
    text += VOCABULARY[r % VOCABULARY.length] + ((r >>> 8) % 11 === 0 ? '\n' : ' ');
  }
  return new TextEncoder().encode(text.slice(0, length));
}

/** Binary records shaped like xentrace ones: few event ids, a rising TSC, small words; many large MTF indices. */
function traceLike(length: number, seed: number): Uint8Array {
  const next = prng(seed);
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  let tscLo = 0x12345678;
  let tscHi = 0x1a2;
  for (let at = 0; at + 28 <= length; at += 28) {
    const r = next();
    view.setUint32(at, (0x00021000 + (r & 7)) | (0x3 << 28), true);
    tscLo += (r >>> 8) & 0x3fff;
    if (tscLo > 0xffffffff) {
      tscLo -= 0x100000000;
      tscHi++;
    }
    view.setUint32(at + 4, tscLo, true);
    view.setUint32(at + 8, tscHi, true);
    view.setUint32(at + 12, (r >>> 20) & 3, true);
    view.setUint32(at + 16, next() & 0xffff, true);
    view.setUint32(at + 20, next(), true);
    view.setUint32(at + 24, r & 0x8000 ? 0 : 0x7fff, true);
  }
  return out;
}

/** Runs of every awkward length: around the 4+count RLE (4, 5, 255–260), long ones, and RUNA/RUNB-heavy zeros. */
function runs(): Uint8Array {
  const parts: number[] = [];
  const lengths = [1, 2, 3, 4, 5, 6, 7, 8, 9, 250, 251, 252, 253, 254, 255, 256, 257, 258, 259, 260, 261, 262, 263, 518, 519, 1000, 4096, 70000];
  let separator = 1;
  for (const length of lengths) {
    for (const value of [0x00, 0x41, 0xff]) {
      for (let i = 0; i < length; i++) parts.push(value);
      parts.push((separator = (separator * 7 + 3) & 0xff));
    }
  }
  return Uint8Array.from(parts);
}

function repeat(byte: number, length: number): Uint8Array {
  return new Uint8Array(length).fill(byte);
}


interface Fixture {
  /** The original bytes. */
  readonly plain: Uint8Array;
  /** One `bzip2` level per stream; several streams are concatenated, as `cat a.bz2 b.bz2` makes. */
  readonly streams: readonly { readonly plain: Uint8Array; readonly level: number }[];
}

function fixture(streams: Fixture['streams']): Fixture {
  return { plain: concatBytes(streams.map((s) => s.plain)), streams };
}

const INPUTS: Record<string, Fixture> = {
  empty: fixture([{ plain: new Uint8Array(0), level: 9 }]),
  text: fixture([{ plain: new TextEncoder().encode('xenspan turns Xen traces into spans.\nbzip2 fixture, short text.\n'), level: 9 }]),
  runs: fixture([{ plain: runs(), level: 9 }]),
  random: fixture([{ plain: randomBytes(40_000, 1), level: 9 }]),
  // > 100 kB at level 1: several blocks; half text, half binary records.
  multiblock: fixture([{ plain: concatBytes([words(150_000, 2), traceLike(150_000, 3)]), level: 1 }]),
  concat: fixture([
    { plain: words(20_000, 7), level: 9 },
    { plain: traceLike(30_000, 8), level: 3 },
  ]),
  // One byte value only (smallest alphabet), and more than 1 MiB out of one block.
  single: fixture([{ plain: repeat(0x61, 3_000_000), level: 9 }]),
  // A periodic block: its BWT links form several short cycles rather than one.
  periodic: fixture([{ plain: new TextEncoder().encode('ab'.repeat(5000)), level: 9 }]),
};

function compressWithCli(plain: Uint8Array, level: number): Uint8Array {
  const result = spawnSync('bzip2', ['-c', `-${level}`], { input: plain, maxBuffer: 1 << 30 });
  if (result.status !== 0) throw new Error(`bzip2 failed: ${String(result.stderr)}`);
  return new Uint8Array(result.stdout);
}

function readFixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(`${name}.bz2`, FIXTURES)));
}

// ---- Helpers. ----

/** Decodes `input` pushed in chunks of the sizes `size()` returns (all of it at once by default). */
function decode(input: Uint8Array, size: () => number = () => input.length, finalSeparately = false, parts: Uint8Array[] = []): Uint8Array {
  const decoder = new Bzip2Decompressor((chunk) => parts.push(chunk));
  let at = 0;
  while (at < input.length) {
    const end = Math.min(input.length, at + Math.max(1, size()));
    decoder.push(input.subarray(at, end), !finalSeparately && end === input.length);
    at = end;
  }
  if (finalSeparately || input.length === 0) decoder.push(new Uint8Array(0), true);
  // Concatenating only at the end also checks that handed-over chunks are never reused.
  return concatBytes(parts);
}

/** Index of the first difference, or -1 when equal (cheaper and clearer than toEqual on megabytes). */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

function expectSame(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual.length).toBe(expected.length);
  expect(firstDifference(actual, expected)).toBe(-1);
}

/** Runs `run` and returns the error it throws, failing the test if it does not throw. */
function errorOf(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error, got none');
}

function expectCorrupt(input: Uint8Array, what: string): void {
  const error = errorOf(() => decode(input));
  if (!(error instanceof XenspanError)) throw new Error(`${what}: threw ${String(error)} instead of a XenspanError`);
  expect(error.code, what).toBe('corrupt_compressed_input');
  expect(error.offset, what).toBeTypeOf('number');
  expect(error.offset!, what).toBeGreaterThanOrEqual(0);
  expect(error.offset!, what).toBeLessThanOrEqual(input.length);
  expect(error.message, what).not.toContain('\n');
}

/** How many block headers (the 48-bit magic, at any bit offset) a compressed file holds. */
function countBlocks(bytes: Uint8Array): number {
  let hi = 0;
  let lo = 0;
  let count = 0;
  for (const byte of bytes) {
    for (let bit = 7; bit >= 0; bit--) {
      hi = ((hi << 1) | (lo >>> 23)) & 0xffffff;
      lo = ((lo << 1) | ((byte >>> bit) & 1)) & 0xffffff;
      if (hi === 0x314159 && lo === 0x265359) count++;
    }
  }
  return count;
}

// ---- Tests. ----

describe('isBzip2', () => {
  it('recognises BZh1..BZh9 and nothing else', () => {
    const head = (text: string) => new TextEncoder().encode(text);
    for (let level = 1; level <= 9; level++) expect(isBzip2(head(`BZh${level}1AY&SY`))).toBe(true);
    expect(isBzip2(head('BZh0'))).toBe(false);
    expect(isBzip2(head('BZh:'))).toBe(false);
    expect(isBzip2(head('BZh'))).toBe(false);
    expect(isBzip2(head('BZ0'))).toBe(false);
    expect(isBzip2(head('bzh9'))).toBe(false);
    expect(isBzip2(new Uint8Array(0))).toBe(false);
    expect(isBzip2(Uint8Array.of(0x1f, 0x8b, 0x08, 0x00))).toBe(false);
    expect(isBzip2(readFixture('text'))).toBe(true);
  });
});

describe('Bzip2Decompressor on fixtures made by bzip2', () => {
  it.skipIf(!hasBzip2)('the committed fixtures are the documented inputs (needs bzip2 installed)', () => {
    for (const [name, input] of Object.entries(INPUTS)) {
      const made = concatBytes(input.streams.map((s) => compressWithCli(s.plain, s.level)));
      expect(firstDifference(readFixture(name), made), name).toBe(-1);
    }
  });

  for (const name of Object.keys(INPUTS)) {
    it(`${name}: decodes exactly, whole and one byte at a time`, () => {
      const input = INPUTS[name]!;
      const bytes = readFixture(name);
      expect(isBzip2(bytes)).toBe(true);
      expectSame(decode(bytes), input.plain);
      expectSame(decode(bytes, () => 1), input.plain);
      expectSame(decode(bytes, () => 7, true), input.plain);
    });
  }

  it('the fixtures cover what they claim: several blocks, two streams, level 1', () => {
    const multiblock = readFixture('multiblock');
    expect(multiblock[3]).toBe(0x31);
    expect(countBlocks(multiblock)).toBeGreaterThanOrEqual(3);
    expect(streamEndsOf(readFixture('concat')).size).toBe(1);
    expect(countBlocks(readFixture('concat'))).toBe(2);
    expect(countBlocks(readFixture('empty'))).toBe(0);
  });

  it('every split point of the small fixtures gives the same output', () => {
    for (const name of ['text', 'runs', 'periodic', 'empty', 'concat']) {
      const bytes = readFixture(name);
      const plain = INPUTS[name]!.plain;
      // Every cut of the small ones; of the 17 kB concatenation, every cut near the stream boundary and a sample.
      const cuts = new Set<number>();
      const step = bytes.length > 1000 ? 41 : 1;
      for (let cut = 0; cut <= bytes.length; cut += step) cuts.add(cut);
      cuts.add(bytes.length);
      for (const end of streamEndsOf(bytes)) for (let cut = end - 40; cut <= end + 40; cut++) cuts.add(cut);
      for (const cut of cuts) {
        const parts: Uint8Array[] = [];
        const decoder = new Bzip2Decompressor((chunk) => parts.push(chunk));
        decoder.push(bytes.subarray(0, cut));
        decoder.push(bytes.subarray(cut), true);
        const out = concatBytes(parts);
        if (firstDifference(out, plain) !== -1) expect.fail(`${name} split at ${cut}`);
      }
    }
  });

  it('random chunk sizes (seeded) give the same output for the big fixtures', () => {
    for (const name of ['multiblock', 'random', 'single', 'concat']) {
      const bytes = readFixture(name);
      for (const seed of [1, 2, 3]) {
        const next = prng(seed * 7919);
        const limits = [16, 4096, 100_000];
        const limit = limits[seed - 1]!;
        expectSame(decode(bytes, () => 1 + (next() % limit), seed === 2), INPUTS[name]!.plain);
      }
    }
  });

  it('a single huge push is taken in pieces and still decodes', () => {
    const plain = INPUTS.multiblock!.plain;
    const bytes = readFixture('multiblock');
    // The same stream four times over, as one push of several hundred kB.
    const four = concatBytes([bytes, bytes, bytes, bytes]);
    expectSame(decode(four), concatBytes([plain, plain, plain, plain]));
  });

  it('hands decoded bytes over during push, as soon as a block is complete', () => {
    const bytes = readFixture('multiblock');
    let received = 0;
    const decoder = new Bzip2Decompressor((chunk) => (received += chunk.length));
    decoder.push(bytes.subarray(0, bytes.length - 20));
    // All blocks but (at most) the last are out before the final push.
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan(INPUTS.multiblock!.plain.length);
    decoder.push(bytes.subarray(bytes.length - 20), true);
    expect(received).toBe(INPUTS.multiblock!.plain.length);
  });
});

describe.skipIf(!hasBzip2)('round trip with the bzip2 CLI (needs bzip2 installed)', () => {
  const kinds: Record<string, (length: number, seed: number) => Uint8Array> = {
    random: randomBytes,
    words,
    traceLike,
    runs: (length, seed) => {
      const next = prng(seed);
      const out = new Uint8Array(length);
      for (let i = 0; i < length; ) {
        const r = next();
        const n = Math.min(length - i, (r >>> 8) % 700);
        out.fill(r & 3, i, i + n);
        i += Math.max(1, n);
      }
      return out;
    },
    mixed: (length, seed) => concatBytes([traceLike(length >>> 1, seed), words(length - (length >>> 1), seed + 1)]),
  };
  const names = Object.keys(kinds);
  const next = prng(2024);
  for (let level = 1; level <= 9; level++) {
    for (let k = 0; k < 2; k++) {
      const kind = names[(level * 2 + k) % names.length]!;
      // Sizes from a few bytes to a little over two blocks of this level.
      const size = k === 0 ? next() % 5000 : 100_000 * level + (next() % (150_000 * level));
      const seed = next();
      it(`level ${level}, ${kind}, ${size} bytes`, () => {
        const plain = kinds[kind]!(size, seed);
        const bytes = compressWithCli(plain, level);
        expectSame(decode(bytes), plain);
        const chunks = prng(seed);
        expectSame(decode(bytes, () => 1 + (chunks() % 70_000)), plain);
      });
    }
  }

  it('streams of different levels concatenated', () => {
    const parts = [1, 9, 5, 2].map((level, i) => ({ plain: kinds[names[i % names.length]!]!(30_000 + i * 1000, i + 50), level }));
    const bytes = concatBytes(parts.map((p) => compressWithCli(p.plain, p.level)));
    expectSame(decode(bytes, () => 3000), concatBytes(parts.map((p) => p.plain)));
  });
});

describe('damaged input', () => {
  // A damaged file must never decode to wrong bytes silently. The CRCs catch every change to the output; a few
  // changes leave the output as it was (a padding bit after a stream, a lower level digit that still fits, code
  // lengths of symbols a table never decodes) and then the exact original bytes are the right answer.
  function damageOutcomes(name: string, positions: Iterable<number>, damage: (bytes: Uint8Array, at: number) => void) {
    const bytes = readFixture(name);
    const plain = INPUTS[name]!.plain;
    let errors = 0;
    let unchanged = 0;
    for (const at of positions) {
      const damaged = bytes.slice();
      damage(damaged, at);
      let out: Uint8Array | undefined;
      const handedOver: Uint8Array[] = [];
      try {
        out = decode(damaged, undefined, false, handedOver);
      } catch (error) {
        if (!(error instanceof XenspanError)) throw new Error(`${name} damaged at ${at}: threw ${String(error)}`);
        expect(error.code).toBe('corrupt_compressed_input');
        expect(error.offset).toBeGreaterThanOrEqual(0);
        expect(error.offset).toBeLessThanOrEqual(damaged.length);
        // Only verified blocks are handed over before the error: never a wrong byte.
        const before = concatBytes(handedOver);
        if (firstDifference(before, plain.subarray(0, before.length)) !== -1) {
          expect.fail(`${name} damaged at ${at}: handed over unverified bytes before the error`);
        }
        errors++;
        continue;
      }
      if (firstDifference(out, plain) !== -1) expect.fail(`${name} damaged at ${at}: wrong output without an error`);
      unchanged++;
    }
    return { errors, unchanged };
  }

  function* every(step: number, length: number): Generator<number> {
    for (let at = 0; at < length; at += step) yield at;
  }

  it('flipped bytes anywhere: a corrupt_compressed_input error (or, rarely, the exact original)', () => {
    let errors = 0;
    let unchanged = 0;
    for (const name of ['text', 'runs', 'random', 'multiblock', 'concat', 'periodic', 'single', 'empty']) {
      const length = readFixture(name).length;
      const outcome = damageOutcomes(name, every(Math.max(1, Math.floor(length / 300)), length), (bytes, at) => {
        bytes[at] ^= 0xff;
      });
      errors += outcome.errors;
      unchanged += outcome.unchanged;
    }
    expect(errors).toBeGreaterThan(1000);
    expect(unchanged).toBeLessThan(errors / 50);
  });

  it('flipped single bits (seeded): an error (or, rarely, the exact original)', () => {
    const next = prng(99);
    let errors = 0;
    let unchanged = 0;
    for (const name of ['text', 'runs', 'multiblock', 'random', 'concat']) {
      const length = readFixture(name).length;
      const positions = Array.from({ length: 200 }, () => next() % length);
      const outcome = damageOutcomes(name, positions, (bytes, at) => {
        bytes[at] ^= 1 << (next() & 7);
      });
      errors += outcome.errors;
      unchanged += outcome.unchanged;
    }
    expect(errors).toBeGreaterThan(900);
    expect(unchanged).toBeLessThan(errors / 20);
  });

  it('the level digit: any level whose block size fits decodes; a block too big for it is an error', () => {
    const multiblock = readFixture('multiblock').slice();
    expect(multiblock[3]).toBe(0x31);
    multiblock[3] = 0x39;
    expectSame(decode(multiblock), INPUTS.multiblock!.plain);
    const random = readFixture('random').slice();
    random[3] = 0x31; // its 40 000-byte block fits level 1 too
    expectSame(decode(random), INPUTS.random!.plain);
    random[3] = 0x30;
    expectCorrupt(random, 'level 0');
    if (hasBzip2) {
      const big = compressWithCli(randomBytes(150_000, 5), 2);
      big[3] = 0x31;
      expectCorrupt(big, 'a 150 kB block at level 1');
    }
  });

  it('cut short anywhere: a corrupt_compressed_input error', () => {
    for (const name of ['text', 'runs', 'random', 'multiblock', 'concat', 'periodic', 'single', 'empty']) {
      const bytes = readFixture(name);
      const validCuts = name === 'concat' ? streamEndsOf(bytes) : new Set<number>();
      const step = Math.max(1, Math.floor(bytes.length / 300));
      for (let cut = 0; cut < bytes.length; cut += step) {
        if (validCuts.has(cut)) continue;
        expectCorrupt(bytes.subarray(0, cut), `${name}: cut at ${cut}`);
        // The same when the input arrived in pieces and `final` came on its own.
        const error = errorOf(() => decode(bytes.subarray(0, cut), () => 5, true));
        expect(error).toBeInstanceOf(XenspanError);
      }
    }
  });

  it('not bzip2, trailing garbage, and an empty input are errors', () => {
    expectCorrupt(new Uint8Array(0), 'empty');
    expectCorrupt(new TextEncoder().encode('BZh0 is not a level'), 'level 0');
    expectCorrupt(Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0, 0, 0), 'gzip');
    const text = readFixture('text');
    expectCorrupt(concatBytes([text, new TextEncoder().encode('garbage')]), 'trailing garbage');
    expectCorrupt(concatBytes([text, Uint8Array.of(0)]), 'one trailing zero');
    // A header and nothing more.
    expectCorrupt(text.subarray(0, 4), 'header only');
  });

  it('rejects randomised blocks (bzip2 before 0.9.5) with a clear message', () => {
    const bytes = readFixture('text').slice();
    // The randomised bit follows header (32 bits), block magic (48) and block CRC (32): bit 112, byte 14's MSB.
    bytes[14] |= 0x80;
    const error = errorOf(() => decode(bytes));
    expect(error).toBeInstanceOf(XenspanError);
    expect((error as XenspanError).message).toMatch(/randomised/);
    expect((error as XenspanError).offset).toBe(14);
  });

  it('hands over the blocks verified before the damage, then throws; later pushes throw the same error', () => {
    const bytes = readFixture('multiblock').slice();
    const plain = INPUTS.multiblock!.plain;
    // Damage the last block (its symbols end a few bytes before the end-of-stream marker).
    bytes[bytes.length - 40] ^= 0x55;
    const parts: Uint8Array[] = [];
    const decoder = new Bzip2Decompressor((chunk) => parts.push(chunk));
    const error = errorOf(() => decoder.push(bytes, true));
    expect(error).toBeInstanceOf(XenspanError);
    const out = concatBytes(parts);
    expect(out.length).toBeGreaterThan(200_000);
    expect(out.length).toBeLessThan(plain.length);
    expect(firstDifference(out, plain.subarray(0, out.length))).toBe(-1);
    expect(errorOf(() => decoder.push(new Uint8Array(1)))).toBe(error);
  });

  it('a push after the final one is misuse', () => {
    const decoder = new Bzip2Decompressor(() => {});
    decoder.push(readFixture('text'), true);
    const error = errorOf(() => decoder.push(new Uint8Array(0)));
    expect(error).toBeInstanceOf(XenspanError);
    expect((error as XenspanError).code).toBe('misuse');
  });

  it("an exception from ondata comes through unchanged", () => {
    const boom = new Error('receiver failed');
    const decoder = new Bzip2Decompressor(() => {
      throw boom;
    });
    expect(errorOf(() => decoder.push(readFixture('text'), true))).toBe(boom);
  });
});

/** Where the first stream of a concatenated file ends: decode prefixes until one is a complete file. */
function streamEndsOf(bytes: Uint8Array): Set<number> {
  const ends = new Set<number>();
  for (let cut = 4; cut < bytes.length; cut++) {
    if (!isBzip2(bytes.subarray(cut, cut + 4))) continue;
    try {
      decode(bytes.subarray(0, cut));
      ends.add(cut);
    } catch {
      // Not a stream boundary.
    }
  }
  return ends;
}

// Writes the fixtures from the inputs above: XENSPAN_REGEN_BZIP2=1 npx vitest run test/unit/bzip2.test.ts
it.runIf(process.env.XENSPAN_REGEN_BZIP2 === '1' && hasBzip2)('regenerates the fixtures with the bzip2 CLI', () => {
  mkdirSync(FIXTURES, { recursive: true });
  for (const [name, input] of Object.entries(INPUTS)) {
    writeFileSync(new URL(`${name}.bz2`, FIXTURES), concatBytes(input.streams.map((s) => compressWithCli(s.plain, s.level))));
  }
});
