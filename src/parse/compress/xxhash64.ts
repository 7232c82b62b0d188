// SPDX-License-Identifier: MIT
/**
 * Streaming XXH64 with seed 0, the hash of zstd's content checksum, written from the public xxHash specification.
 * JavaScript has no fast 64-bit integers (BigInt allocates), so a 64-bit value is a pair of int32 words (hi:lo) and
 * products are built from `Math.imul` and 16-bit halves: integer-only arithmetic, which engines compile to plain
 * 32-bit machine operations (a float-product variant measured slower).
 * @module
 */

const P1_HI = 0x9e3779b1 | 0;
const P1_LO = 0x85ebca87 | 0;
const P2_HI = 0xc2b2ae3d | 0;
const P2_LO = 0x27d4eb4f | 0;
// 16-bit halves of the low words, for mulHigh in the hot loop.
const P1_LO_B1 = 0x85eb;
const P1_LO_B0 = 0xca87;
const P2_LO_B1 = 0x27d4;
const P2_LO_B0 = 0xeb4f;
const P3_HI = 0x165667b1;
const P3_LO = 0x9e3779f9 | 0;
const P4_HI = 0x85ebca77 | 0;
const P4_LO = 0xc2b2ae63 | 0;
const P5_HI = 0x27d4eb2f;
const P5_LO = 0x165667c5;
const STRIPE_BYTES = 32;
/** Words viewed straight over the input need a little-endian host; others go through a DataView. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const SCRATCH_WORDS = 2048;
/** How far each lane accumulator is rotated before they are summed. */
const LANE_ROTATIONS = [1, 7, 12, 18] as const;

/** The high 32 bits of the unsigned product a × b, with b given as its 16-bit halves b1:b0. */
function mulHigh(a: number, b1: number, b0: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const cross0 = Math.imul(a1, b0);
  const cross1 = Math.imul(a0, b1);
  const middle = (Math.imul(a0, b0) >>> 16) + (cross0 & 0xffff) + (cross1 & 0xffff);
  return (Math.imul(a1, b1) + (cross0 >>> 16) + (cross1 >>> 16) + (middle >>> 16)) | 0;
}

// Results of the word-pair helpers of the final mix (returning a pair would allocate).
let outHi = 0;
let outLo = 0;

/** (ah:al) × (bh:bl) mod 2^64. */
function mul(ah: number, al: number, bh: number, bl: number): void {
  outHi = (mulHigh(al, bl >>> 16, bl & 0xffff) + Math.imul(ah, bl) + Math.imul(al, bh)) | 0;
  outLo = Math.imul(al, bl);
}

/** (ah:al) + (bh:bl) mod 2^64. */
function add(ah: number, al: number, bh: number, bl: number): void {
  const lo = (al + bl) | 0;
  outHi = (ah + bh + ((lo >>> 0) < (bl >>> 0) ? 1 : 0)) | 0;
  outLo = lo;
}

/** Rotates (hi:lo) left by 1 ≤ r ≤ 31 bits. */
function rotl(hi: number, lo: number, r: number): void {
  outHi = (hi << r) | (lo >>> (32 - r));
  outLo = (lo << r) | (hi >>> (32 - r));
}

/** The specification's round: ((acc + lane × P2) rotl 31) × P1. */
function round(accHi: number, accLo: number, laneHi: number, laneLo: number): void {
  mul(laneHi, laneLo, P2_HI, P2_LO);
  add(accHi, accLo, outHi, outLo);
  rotl(outHi, outLo, 31);
  mul(outHi, outLo, P1_HI, P1_LO);
}

/** (acc ^ round(0, value)) × P1 + P4: folds an accumulator into the result at the end. */
function mergeAccumulator(accHi: number, accLo: number, valueHi: number, valueLo: number): void {
  round(0, 0, valueHi, valueLo);
  mul(accHi ^ outHi, accLo ^ outLo, P1_HI, P1_LO);
  add(outHi, outLo, P4_HI, P4_LO);
}

function readI32(bytes: Uint8Array, at: number): number {
  return bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
}

/** XXH64 (seed 0) of a byte stream given in pieces of any size. */
export class Xxh64 {
  /** The four lane accumulators, each as (lo, hi). */
  private readonly lanes = new Int32Array(8);
  /** Bytes hashed so far (exact up to 2^53). */
  private length = 0;
  /** The start of a stripe that has not arrived whole yet. */
  private readonly pending = new Uint8Array(STRIPE_BYTES);
  private pendingLength = 0;
  private scratch: Int32Array | undefined;

  constructor() {
    this.reset();
  }

  /** Starts over, as for a new input. */
  reset(): void {
    const lanes = this.lanes;
    add(P1_HI, P1_LO, P2_HI, P2_LO);
    lanes[0] = outLo;
    lanes[1] = outHi;
    lanes[2] = P2_LO;
    lanes[3] = P2_HI;
    lanes[4] = 0;
    lanes[5] = 0;
    // 0 - P1, as two's complement.
    add(~P1_HI, ~P1_LO, 0, 1);
    lanes[6] = outLo;
    lanes[7] = outHi;
    this.length = 0;
    this.pendingLength = 0;
  }

  /** Hashes the next bytes of the input. */
  update(bytes: Uint8Array): void {
    this.length += bytes.length;
    let at = 0;
    if (this.pendingLength > 0) {
      at = Math.min(STRIPE_BYTES - this.pendingLength, bytes.length);
      this.pending.set(bytes.subarray(0, at), this.pendingLength);
      this.pendingLength += at;
      if (this.pendingLength < STRIPE_BYTES) return;
      this.stripes(this.pending, 0, STRIPE_BYTES);
      this.pendingLength = 0;
    }
    const whole = bytes.length - ((bytes.length - at) % STRIPE_BYTES);
    if (whole > at) this.stripes(bytes, at, whole);
    if (whole < bytes.length) {
      this.pending.set(bytes.subarray(whole), 0);
      this.pendingLength = bytes.length - whole;
    }
  }

  /** The hash of every byte given to {@link update} since the last reset, as unsigned 32-bit halves. */
  digest(): { hi: number; lo: number } {
    const lanes = this.lanes;
    if (this.length >= STRIPE_BYTES) {
      outHi = 0;
      outLo = 0;
      for (let lane = 0; lane < 4; lane++) {
        const hi = outHi;
        const lo = outLo;
        rotl(lanes[2 * lane + 1]!, lanes[2 * lane]!, LANE_ROTATIONS[lane]!);
        add(hi, lo, outHi, outLo);
      }
      for (let lane = 0; lane < 4; lane++) mergeAccumulator(outHi, outLo, lanes[2 * lane + 1]!, lanes[2 * lane]!);
    } else {
      outHi = P5_HI;
      outLo = P5_LO;
    }
    add(outHi, outLo, Math.floor(this.length / 0x1_0000_0000) | 0, this.length | 0);
    const tail = this.pending;
    const end = this.pendingLength;
    let at = 0;
    for (; at + 8 <= end; at += 8) {
      const hi = outHi;
      const lo = outLo;
      round(0, 0, readI32(tail, at + 4), readI32(tail, at));
      rotl(hi ^ outHi, lo ^ outLo, 27);
      mul(outHi, outLo, P1_HI, P1_LO);
      add(outHi, outLo, P4_HI, P4_LO);
    }
    if (at + 4 <= end) {
      const hi = outHi;
      const lo = outLo;
      mul(0, readI32(tail, at), P1_HI, P1_LO);
      rotl(hi ^ outHi, lo ^ outLo, 23);
      mul(outHi, outLo, P2_HI, P2_LO);
      add(outHi, outLo, P3_HI, P3_LO);
      at += 4;
    }
    for (; at < end; at++) {
      const hi = outHi;
      const lo = outLo;
      mul(0, tail[at]!, P5_HI, P5_LO);
      rotl(hi ^ outHi, lo ^ outLo, 11);
      mul(outHi, outLo, P1_HI, P1_LO);
    }
    // Avalanche: xor-shift 33, × P2, xor-shift 29, × P3, xor-shift 32.
    mul(outHi, outLo ^ (outHi >>> 1), P2_HI, P2_LO);
    mul(outHi ^ (outHi >>> 29), outLo ^ ((outLo >>> 29) | (outHi << 3)), P3_HI, P3_LO);
    return { hi: outHi >>> 0, lo: (outLo ^ outHi) >>> 0 };
  }

  /** Hashes the whole stripes of bytes[start, end) as little-endian words. */
  private stripes(bytes: Uint8Array, start: number, end: number): void {
    if (LITTLE_ENDIAN && ((bytes.byteOffset + start) & 3) === 0) {
      this.stripeWords(new Int32Array(bytes.buffer, bytes.byteOffset + start, (end - start) >>> 2));
      return;
    }
    // Unaligned (an Int32Array view needs alignment) or big-endian: through a small word buffer.
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const scratch = (this.scratch ??= new Int32Array(SCRATCH_WORDS));
    for (let at = start; at < end; ) {
      const count = Math.min(SCRATCH_WORDS, (end - at) >>> 2);
      for (let i = 0; i < count; i++) scratch[i] = view.getInt32(at + 4 * i, true);
      this.stripeWords(count === SCRATCH_WORDS ? scratch : scratch.subarray(0, count));
      at += 4 * count;
    }
  }

  /** The hot loop: one round per 8-byte lane, four lanes per stripe; `words` holds whole stripes. */
  private stripeWords(words: Int32Array): void {
    const lanes = this.lanes;
    for (let w = 0; w < words.length; w += 8) {
      for (let k = 0; k < 8; k += 2) {
        const laneLo = words[w + k]!;
        const laneHi = words[w + k + 1]!;
        // acc + lane × P2
        const productLo = Math.imul(laneLo, P2_LO);
        const productHi = mulHigh(laneLo, P2_LO_B1, P2_LO_B0) + Math.imul(laneHi, P2_LO) + Math.imul(laneLo, P2_HI);
        const sumLo = (lanes[k]! + productLo) | 0;
        const sumHi = lanes[k + 1]! + productHi + ((sumLo >>> 0) < (productLo >>> 0) ? 1 : 0);
        // rotl 31, then × P1
        const lo = (sumLo << 31) | (sumHi >>> 1);
        const hi = (sumHi << 31) | (sumLo >>> 1);
        lanes[k] = Math.imul(lo, P1_LO);
        lanes[k + 1] = mulHigh(lo, P1_LO_B1, P1_LO_B0) + Math.imul(hi, P1_LO) + Math.imul(lo, P1_HI);
      }
    }
  }
}
