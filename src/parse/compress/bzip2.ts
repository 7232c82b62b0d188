// SPDX-License-Identifier: MIT
/**
 * A push-based, streaming bzip2 decompressor that runs anywhere (browsers, Node, Deno): no platform APIs,
 * typed arrays only in the hot loops.
 *
 * Format recap (all fields MSB-first bit strings): a stream is `BZh` + level digit, then blocks, each opened by
 * the 48-bit magic 0x314159265359 and its CRC, then randomised bit, origPtr, the used-byte map, 2–6 Huffman
 * tables chosen per 50 symbols by MTF-coded selectors, and MTF/RUNA/RUNB-coded symbols of the BWT; the inverse
 * BWT output is finally run-length decoded (4 equal bytes + a count byte). A stream ends with the magic
 * 0x177245385090 and the combined CRC, padded to a byte; several streams may follow each other.
 *
 * Streaming: only the block tables (at most ~41 kB) are parsed all at once (retried as input grows); the
 * symbol loop saves its state whenever fewer than 4 buffered bytes remain, so the compressed buffer stays small
 * and a block is emitted as soon as its last bit has arrived and its CRC matched (never a byte before).
 * @module
 */
import { XenspanError } from '../../core/errors.js';

const GROUP_SIZE = 50;
const MAX_GROUPS = 6;
const MAX_ALPHA = 258;
const MAX_CODE_LEN = 20;
/** 900000 / 50 rounded up, plus slack; bzip2 1.0.8 also ignores selectors beyond this (CVE-2019-12900). */
const MAX_SELECTORS = 18002;
/** An encoder never needs more than 19 steps between neighbouring lengths; the cap bounds the table size. */
const MAX_LENGTH_STEPS = 2 * MAX_CODE_LEN;
/**
 * Upper bound of the table part of a block (bits: 315 header + 32767 × 6 selectors + 6 × (5 + 258 × 81) ≈ 40 kB):
 * with this much buffered, "too short" can no longer be the reason a parse fails.
 */
const MAX_TABLES_BYTES = 64 * 1024;
/** Codes up to this many bits decode with one table look-up; longer ones walk the canonical limits. */
const LUT_BITS = 10;
const LUT_SIZE = 1 << LUT_BITS;
const LUT_MASK = LUT_SIZE - 1;
/** Stride of the per-table limit/delta arrays (index = code length 0..20). */
const LEN_STRIDE = 24;
/** Big pushes are taken in pieces so the internal buffer never holds more than this plus the tables' slack. */
const PIECE_BYTES = 256 * 1024;
/** Zero bytes kept after the buffered input so the final bits can be read with the unchecked fast reader. */
const PAD_BYTES = 8;
const OUT_CHUNK = 1 << 20;
const MTF_SPACE = 4096;

const STATE_STREAM = 0;
const STATE_BLOCK_HEAD = 1;
const STATE_TABLES = 2;
const STATE_SYMBOLS = 3;
const STATE_END = 4;
const STATE_FAILED = 5;

/**
 * CRC-32 as bzip2 uses it: polynomial 0x04c11db7, MSB-first (not the reflected zlib variant). Eight tables for
 * slicing-by-8: table k (at k * 256) is the CRC of a byte followed by k zero bytes.
 */
const CRC_TABLES = (() => {
  const table = new Int32Array(8 * 256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    table[i] = c;
  }
  for (let i = 256; i < 8 * 256; i++) {
    const prev = table[i - 256];
    table[i] = (prev << 8) ^ table[prev >>> 24];
  }
  return table;
})();

/** Continues an (un-inverted, int32) bzip2 CRC over data[from, to), eight bytes a step. */
function crcUpdate(crc: number, data: Uint8Array, from: number, to: number): number {
  const t = CRC_TABLES;
  let i = from;
  for (const end = to - 8; i <= end; i += 8) {
    const x = crc ^ ((data[i] << 24) | (data[i + 1] << 16) | (data[i + 2] << 8) | data[i + 3]);
    crc =
      t[1792 + (x >>> 24)] ^
      t[1536 + ((x >>> 16) & 0xff)] ^
      t[1280 + ((x >>> 8) & 0xff)] ^
      t[1024 + (x & 0xff)] ^
      t[768 + data[i + 4]] ^
      t[512 + data[i + 5]] ^
      t[256 + data[i + 6]] ^
      t[data[i + 7]];
  }
  for (; i < to; i++) crc = (crc << 8) ^ t[(crc >>> 24) ^ data[i]];
  return crc;
}

/** True when bytes start with a bzip2 stream header ('BZh' + '1'..'9'). */
export function isBzip2(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68 && head[3] >= 0x31 && head[3] <= 0x39;
}

/**
 * Push-based bzip2 decoder. Memory stays bounded (about two 900 kB blocks plus their tables) whatever the input size.
 *
 * In numbers: at level 9 the block vector takes 3.6 MB and the inverse BWT's text 1.8 MB (both grown on demand,
 * so small inputs stay small), plus up to 1 MiB of output and tens of kB of compressed input.
 *
 * Output is handed over once a block's CRC has matched, except that a block decoding to more than 1 MiB (long
 * runs) is handed over in 1 MiB pieces as it goes. After an error every further `push` throws the same error.
 * Data after the last stream that is not another stream is an error (the bzip2 CLI only warns). Randomised
 * blocks (only bzip2 0.9.0 and older wrote them) are rejected as unsupported.
 * @example
 * const parts: Uint8Array[] = [];
 * const d = new Bzip2Decompressor((chunk) => parts.push(chunk));
 * for (const chunk of compressedChunks) d.push(chunk);
 * d.push(new Uint8Array(0), true);
 */
export class Bzip2Decompressor {
  private readonly ondata: (chunk: Uint8Array) => void;

  // Buffered compressed input: bytes [0, len) of buf, read position bitPos; buf[0] is input offset `base`.
  private buf = new Uint8Array(64 * 1024 + PAD_BYTES);
  private len = 0;
  private bitPos = 0;
  private base = 0;

  private state = STATE_STREAM;
  private failure: unknown;
  private streams = 0;
  private blockMax = 0;
  private streamCrc = 0;
  private blockCrc = 0;
  /** Compressed offset of the byte where the current block's magic starts (blocks are bit-aligned). */
  private blockAt = 0;
  /** Bytes available when the table parse last came up short; the next try waits for twice as many. */
  private tablesTried = 0;

  // Per-block tables.
  private origPtr = 0;
  private eob = 0;
  private nSelectors = 0;
  private readonly selectors = new Uint8Array(MAX_SELECTORS);
  private readonly lut = new Uint16Array(MAX_GROUPS * LUT_SIZE);
  private readonly limit = new Int32Array(MAX_GROUPS * LEN_STRIDE);
  private readonly delta = new Int32Array(MAX_GROUPS * LEN_STRIDE);
  private readonly perm = new Uint16Array(MAX_GROUPS * MAX_ALPHA);
  private readonly maxLens = new Uint8Array(MAX_GROUPS);
  private readonly lens = new Uint8Array(MAX_ALPHA);
  private readonly lenCount = new Int32Array(MAX_CODE_LEN + 1);

  // Symbol-loop state, saved between pushes.
  private selIdx = 0;
  private groupLeft = 0;
  private table = 0;
  private run = 0;
  private runShift = 0;
  private nblock = 0;
  /**
   * MTF list holding byte values directly (the used-map translation is folded in), kept as 16 sub-lists of 16
   * so that moving entry n to the front costs about n/16 + n%16 moves instead of n: binary traces have many
   * large MTF indices. Sub-list k starts at mtfa[mtfBase[k]]; the lists creep down and are re-packed at the end.
   */
  private readonly mtfa = new Uint8Array(MTF_SPACE);
  private readonly mtfBase = new Int32Array(16);
  private readonly counts = new Int32Array(256);
  private readonly starts = new Int32Array(256);
  /** BWT vector: low 8 bits the byte (last column), bits 8–27 the row of the next text position. */
  private tt = new Uint32Array(0);
  /** The block after the inverse BWT, before the final run-length decoding, in stretches (see walk). */
  private text = new Uint8Array(0);
  private text2 = new Uint8Array(0);
  private readonly segs = new Int32Array(12);

  private out: Uint8Array | undefined;
  private op = 0;
  /** Bytes of `out` that belong to blocks whose CRC has been checked. */
  private goodOp = 0;

  /** @param ondata receives decoded bytes; each chunk belongs to the receiver. */
  constructor(ondata: (chunk: Uint8Array) => void) {
    this.ondata = ondata;
  }

  /**
   * Feed compressed bytes of any size and alignment. `final` = this is the last chunk. Decoded bytes are handed
   * to `ondata` synchronously; each chunk handed over is owned by the receiver (not reused).
   * @throws XenspanError `corrupt_compressed_input` for damaged or truncated input, `misuse` after the final push.
   */
  push(chunk: Uint8Array, final = false): void {
    if (this.state === STATE_FAILED) throw this.failure;
    if (this.state === STATE_END) throw new XenspanError('misuse', 'bzip2 decoder: push after the final chunk');
    try {
      let at = 0;
      do {
        const end = Math.min(chunk.length, at + PIECE_BYTES);
        this.append(chunk, at, end);
        const last = end === chunk.length;
        if (last && final) this.buf.fill(0, this.len, this.len + PAD_BYTES);
        this.decode(last && final);
        at = end;
      } while (at < chunk.length);
      this.flushOut();
      if (this.state === STATE_END) this.release();
    } catch (error) {
      this.state = STATE_FAILED;
      // Hand over what was verified before the damage (whole blocks whose CRC matched), then report it.
      this.op = this.goodOp;
      try {
        this.flushOut();
      } catch {
        // The receiver's own failure must not hide the decoding error.
      }
      // Our own failures are XenspanErrors; anything else came from `ondata` and is passed on untouched.
      this.failure = error;
      this.release();
      throw error;
    }
  }

  /** Drops the big buffers once no more input can come, in case the decoder object outlives its use. */
  private release(): void {
    this.tt = new Uint32Array(0);
    this.text = new Uint8Array(0);
    this.text2 = new Uint8Array(0);
    this.buf = new Uint8Array(0);
    this.len = 0;
    this.bitPos = 0;
    this.out = undefined;
    this.op = 0;
  }

  private append(chunk: Uint8Array, from: number, to: number): void {
    // Drop whole bytes already consumed; what remains is at most the pending tables or a few bytes.
    const drop = this.bitPos >>> 3;
    if (drop > 0) {
      this.buf.copyWithin(0, drop, this.len);
      this.len -= drop;
      this.bitPos -= drop * 8;
      this.base += drop;
    }
    const need = this.len + (to - from) + PAD_BYTES;
    if (need > this.buf.length) {
      const grown = new Uint8Array(Math.max(need, this.buf.length * 2));
      grown.set(this.buf.subarray(0, this.len));
      this.buf = grown;
    }
    this.buf.set(chunk.subarray(from, to), this.len);
    this.len += to - from;
  }

  private error(message: string, bitPos: number): XenspanError {
    const truncated = bitPos > this.len * 8;
    return corrupt(
      truncated ? 'truncated bzip2 stream: the input ends before the end-of-stream marker' : `corrupt bzip2 stream: ${message}`,
      this.base + Math.min(bitPos >>> 3, this.len),
    );
  }

  /** Reads n ≤ 24 bits at bitPos; the caller has checked they are buffered. */
  private take(n: number): number {
    const buf = this.buf;
    let p = this.bitPos;
    let v = 0;
    for (let i = 0; i < n; i++, p++) v = (v << 1) | ((buf[p >>> 3] >>> (7 - (p & 7))) & 1);
    this.bitPos = p;
    return v;
  }

  private decode(final: boolean): void {
    for (;;) {
      const avail = this.len * 8 - this.bitPos;
      switch (this.state) {
        case STATE_STREAM: {
          if (avail < 32) {
            if (!final) return;
            if (avail === 0 && this.streams > 0) {
              this.state = STATE_END;
              return;
            }
            throw corrupt(
              avail === 0
                ? 'truncated bzip2 stream: no data'
                : this.streams > 0
                  ? `corrupt bzip2 stream: ${avail >>> 3} stray bytes after the end of a stream`
                  : 'truncated bzip2 stream: incomplete header',
              this.base + (this.bitPos >>> 3),
            );
          }
          const at = this.bitPos >>> 3;
          if (!isBzip2(this.buf.subarray(at, at + 4))) {
            throw corrupt(
              this.streams > 0
                ? 'corrupt bzip2 stream: data after the end of a stream is not another bzip2 stream'
                : "not a bzip2 stream: the header is not 'BZh1'..'BZh9'",
              this.base + at,
            );
          }
          this.blockMax = (this.buf[at + 3] - 0x30) * 100000;
          this.streamCrc = 0;
          this.bitPos += 32;
          this.state = STATE_BLOCK_HEAD;
          break;
        }
        case STATE_BLOCK_HEAD: {
          if (avail < 80) {
            if (!final) return;
            throw this.error('', this.len * 8 + 1);
          }
          const start = this.bitPos;
          const hi = this.take(24);
          const lo = this.take(24);
          const crc = ((this.take(16) << 16) | this.take(16)) >>> 0;
          if (hi === 0x314159 && lo === 0x265359) {
            this.blockCrc = crc;
            this.blockAt = this.base + (start >>> 3);
            this.tablesTried = 0;
            this.state = STATE_TABLES;
          } else if (hi === 0x177245 && lo === 0x385090) {
            if (crc !== this.streamCrc) {
              throw corrupt(
                `corrupt bzip2 stream: stream CRC ${hex(crc)} != computed ${hex(this.streamCrc)}`,
                this.base + ((this.bitPos - 32) >>> 3),
              );
            }
            this.bitPos = (this.bitPos + 7) & ~7;
            this.streams++;
            this.state = STATE_STREAM;
          } else {
            throw this.error('bad block magic', start);
          }
          break;
        }
        case STATE_TABLES: {
          const bytes = this.len - (this.bitPos >>> 3);
          // Retry only after the buffer has doubled, so 1-byte pushes stay linear overall.
          if (!final && bytes < MAX_TABLES_BYTES && bytes < 2 * this.tablesTried) return;
          this.tablesTried = Math.max(bytes, 1);
          if (!this.readTables()) {
            if (final) throw this.error('', this.len * 8 + 1);
            return;
          }
          this.state = STATE_SYMBOLS;
          break;
        }
        case STATE_SYMBOLS: {
          if (!this.readSymbols(final)) return;
          this.finishBlock();
          this.state = STATE_BLOCK_HEAD;
          break;
        }
        default:
          return;
      }
    }
  }

  /**
   * Parses origPtr, the used map, selectors and code lengths, and builds the decoding tables. Returns false when
   * the buffered input ends first (bits past the end read as zeros, which keeps every loop finite).
   */
  private readTables(): boolean {
    const buf = this.buf;
    const end = this.len * 8;
    let p = this.bitPos;
    const bit = (): number => {
      const v = p < end ? (buf[p >>> 3] >>> (7 - (p & 7))) & 1 : 0;
      p++;
      return v;
    };
    const bits = (n: number): number => {
      let v = 0;
      for (let i = 0; i < n; i++) v = (v << 1) | bit();
      return v;
    };
    // A failed check past the end of the buffer means "wait for more", not "corrupt".
    const fail = (message: string): false => {
      if (p > end) return false;
      throw this.error(message, p);
    };

    if (bit() !== 0) return fail('randomised block (written by bzip2 before 0.9.5), which is not supported');
    const origPtr = bits(24);
    const mtfa = this.mtfa;
    const top = MTF_SPACE - 256;
    let nInUse = 0;
    const used = bits(16);
    for (let i = 0; i < 16; i++) {
      if ((used & (0x8000 >>> i)) === 0) continue;
      const word = bits(16);
      for (let j = 0; j < 16; j++) if ((word & (0x8000 >>> j)) !== 0) mtfa[top + nInUse++] = i * 16 + j;
    }
    for (let k = 0; k < 16; k++) this.mtfBase[k] = top + 16 * k;
    if (nInUse === 0) return fail('block uses no byte values');
    const alphaSize = nInUse + 2;
    const nGroups = bits(3);
    if (nGroups < 2 || nGroups > MAX_GROUPS) return fail(`${nGroups} Huffman tables (2..6 allowed)`);
    const nSelectors = bits(15);
    if (nSelectors === 0) return fail('no selectors');
    const order = [0, 1, 2, 3, 4, 5];
    const selectors = this.selectors;
    for (let i = 0; i < nSelectors; i++) {
      let j = 0;
      while (bit() !== 0) if (++j >= nGroups) return fail('selector out of range');
      const v = order[j];
      for (; j > 0; j--) order[j] = order[j - 1];
      order[0] = v;
      if (i < MAX_SELECTORS) selectors[i] = v;
    }
    const lens = this.lens;
    for (let t = 0; t < nGroups; t++) {
      let curr = bits(5);
      for (let s = 0; s < alphaSize; s++) {
        for (let steps = 0; ; steps++) {
          if (curr < 1 || curr > MAX_CODE_LEN) return fail(`Huffman code length ${curr} out of range`);
          if (bit() === 0) break;
          if (steps >= MAX_LENGTH_STEPS) return fail('Huffman code length coding too long');
          curr += bit() === 0 ? 1 : -1;
        }
        lens[s] = curr;
      }
      const problem = this.buildTable(t, alphaSize);
      if (problem !== undefined) return fail(problem);
    }
    if (p > end) return false;

    this.bitPos = p;
    this.origPtr = origPtr;
    this.eob = nInUse + 1;
    this.nSelectors = Math.min(nSelectors, MAX_SELECTORS);
    this.selIdx = -1;
    this.groupLeft = 0;
    this.table = 0;
    this.run = 0;
    this.runShift = 0;
    this.nblock = 0;
    this.counts.fill(0);
    return true;
  }

  /** Builds the canonical-code tables of group t from lens[0..alphaSize); returns a problem or undefined. */
  private buildTable(t: number, alphaSize: number): string | undefined {
    const lens = this.lens;
    const count = this.lenCount;
    count.fill(0);
    let maxLen = 0;
    for (let s = 0; s < alphaSize; s++) {
      const l = lens[s];
      count[l]++;
      if (l > maxLen) maxLen = l;
    }
    const lb = t * LEN_STRIDE;
    const pb = t * MAX_ALPHA;
    const limit = this.limit;
    const delta = this.delta;
    const perm = this.perm;
    // Canonical codes: by length, then by symbol. limit[l] is one past the last code of length l;
    // perm[code + delta[l]] is its symbol.
    let code = 0;
    let index = 0;
    for (let l = 1; l <= MAX_CODE_LEN; l++) {
      const n = count[l];
      if (code + n > 1 << l) return 'over-subscribed Huffman table';
      limit[lb + l] = code + n;
      delta[lb + l] = index - code;
      for (let s = 0; s < alphaSize; s++) if (lens[s] === l) perm[pb + index++] = s;
      code = (code + n) << 1;
    }
    this.maxLens[t] = maxLen;
    const lut = this.lut;
    const base = t * LUT_SIZE;
    lut.fill(0, base, base + LUT_SIZE);
    for (let l = 1; l <= LUT_BITS && l <= maxLen; l++) {
      const first = limit[lb + l] - count[l];
      for (let k = 0; k < count[l]; k++) {
        const entry = (perm[pb + first + k + delta[lb + l]] << 5) | l;
        const from = (first + k) << (LUT_BITS - l);
        lut.fill(entry, base + from, base + from + (1 << (LUT_BITS - l)));
      }
    }
    return undefined;
  }

  /**
   * The hot loop: Huffman symbols → RUNA/RUNB runs and MTF → tt. Returns true at end of block, false when it
   * needs more input (state saved). Stops 4 bytes short of the buffered end unless final, so the refill never
   * reads unbuffered bytes.
   */
  private readSymbols(final: boolean): boolean {
    const buf = this.buf;
    let tt = this.tt;
    const lut = this.lut;
    const limit = this.limit;
    const delta = this.delta;
    const perm = this.perm;
    const maxLens = this.maxLens;
    const selectors = this.selectors;
    const mtfa = this.mtfa;
    const mtfBase = this.mtfBase;
    const counts = this.counts;
    const nSelectors = this.nSelectors;
    const eob = this.eob;
    const blockMax = this.blockMax;
    // tt grows on demand (small inputs stay small); `room` is how far it may fill before growing or failing.
    let room = Math.min(tt.length, blockMax);
    const safeEnd = final ? this.len + 4 : this.len - 3;

    let ip = this.bitPos >>> 3;
    let bitBuf = 0;
    let bitCount = 0;
    if ((this.bitPos & 7) !== 0) {
      bitBuf = buf[ip++];
      bitCount = 8 - (this.bitPos & 7);
    }
    let selIdx = this.selIdx;
    let groupLeft = this.groupLeft;
    let table = this.table;
    let run = this.run;
    let runShift = this.runShift;
    let nblock = this.nblock;

    for (;;) {
      if (ip >= safeEnd) {
        if (final) throw this.error('', this.len * 8 + 1);
        this.bitPos = ip * 8 - bitCount;
        this.selIdx = selIdx;
        this.groupLeft = groupLeft;
        this.table = table;
        this.run = run;
        this.runShift = runShift;
        this.nblock = nblock;
        return false;
      }
      if (groupLeft === 0) {
        if (++selIdx >= nSelectors) throw this.error('more symbols than selectors', ip * 8 - bitCount);
        table = selectors[selIdx];
        groupLeft = GROUP_SIZE;
      }
      groupLeft--;
      while (bitCount <= 24) {
        bitBuf = (bitBuf << 8) | buf[ip++];
        bitCount += 8;
      }
      let sym: number;
      const entry = lut[(table << LUT_BITS) | ((bitBuf >>> (bitCount - LUT_BITS)) & LUT_MASK)];
      if (entry !== 0) {
        bitCount -= entry & 31;
        sym = entry >>> 5;
      } else {
        const v = (bitBuf >>> (bitCount - MAX_CODE_LEN)) & 0xfffff;
        const maxLen = maxLens[table];
        const lb = table * LEN_STRIDE;
        let l = LUT_BITS + 1;
        sym = -1;
        for (; l <= maxLen; l++) {
          const c = v >>> (MAX_CODE_LEN - l);
          if (c < limit[lb + l]) {
            sym = perm[table * MAX_ALPHA + c + delta[lb + l]];
            break;
          }
        }
        if (sym < 0) throw this.error('invalid Huffman code', ip * 8 - bitCount);
        bitCount -= l;
      }

      if (sym < 2) {
        // RUNA/RUNB: bijective base-2 digits of a run length, least significant first.
        run += (sym + 1) << runShift;
        runShift++;
        if (run > blockMax) throw this.error('run longer than the block size', ip * 8 - bitCount);
        continue;
      }
      if (run > 0) {
        if (nblock + run > room) {
          if (nblock + run > blockMax) throw this.error('block longer than its level allows', ip * 8 - bitCount);
          tt = this.growTt(nblock + run);
          room = Math.min(tt.length, blockMax);
        }
        const b = mtfa[mtfBase[0]];
        counts[b] += run;
        if (run < 16) for (let i = 0; i < run; i++) tt[nblock + i] = b;
        else tt.fill(b, nblock, nblock + run);
        nblock += run;
        run = 0;
        runShift = 0;
      }
      if (sym === eob) break;
      if (nblock >= room) {
        if (nblock >= blockMax) throw this.error('block longer than its level allows', ip * 8 - bitCount);
        tt = this.growTt(nblock + 1);
        room = Math.min(tt.length, blockMax);
      }
      const n = sym - 1;
      let lno = n >>> 4;
      const first = mtfBase[lno];
      const b = mtfa[first + (n & 15)];
      // Shift the entries before it in its sub-list up by one. The fall-through switches are unrolled loops: a
      // loop with a data-dependent trip count mispredicts on nearly every symbol (measured ~25% of this stage).
      switch (n & 15) {
        case 15:
          mtfa[first + 15] = mtfa[first + 14];
        // falls through
        case 14:
          mtfa[first + 14] = mtfa[first + 13];
        // falls through
        case 13:
          mtfa[first + 13] = mtfa[first + 12];
        // falls through
        case 12:
          mtfa[first + 12] = mtfa[first + 11];
        // falls through
        case 11:
          mtfa[first + 11] = mtfa[first + 10];
        // falls through
        case 10:
          mtfa[first + 10] = mtfa[first + 9];
        // falls through
        case 9:
          mtfa[first + 9] = mtfa[first + 8];
        // falls through
        case 8:
          mtfa[first + 8] = mtfa[first + 7];
        // falls through
        case 7:
          mtfa[first + 7] = mtfa[first + 6];
        // falls through
        case 6:
          mtfa[first + 6] = mtfa[first + 5];
        // falls through
        case 5:
          mtfa[first + 5] = mtfa[first + 4];
        // falls through
        case 4:
          mtfa[first + 4] = mtfa[first + 3];
        // falls through
        case 3:
          mtfa[first + 3] = mtfa[first + 2];
        // falls through
        case 2:
          mtfa[first + 2] = mtfa[first + 1];
        // falls through
        case 1:
          mtfa[first + 1] = mtfa[first];
      }
      if (lno === 0) {
        mtfa[first] = b;
      } else {
        // Each earlier sub-list hands its last entry to the front of the next one, then b goes in front.
        mtfBase[lno] = first + 1;
        switch (lno) {
          case 15:
            mtfa[--mtfBase[15]] = mtfa[mtfBase[14] + 15];
          // falls through
          case 14:
            mtfa[--mtfBase[14]] = mtfa[mtfBase[13] + 15];
          // falls through
          case 13:
            mtfa[--mtfBase[13]] = mtfa[mtfBase[12] + 15];
          // falls through
          case 12:
            mtfa[--mtfBase[12]] = mtfa[mtfBase[11] + 15];
          // falls through
          case 11:
            mtfa[--mtfBase[11]] = mtfa[mtfBase[10] + 15];
          // falls through
          case 10:
            mtfa[--mtfBase[10]] = mtfa[mtfBase[9] + 15];
          // falls through
          case 9:
            mtfa[--mtfBase[9]] = mtfa[mtfBase[8] + 15];
          // falls through
          case 8:
            mtfa[--mtfBase[8]] = mtfa[mtfBase[7] + 15];
          // falls through
          case 7:
            mtfa[--mtfBase[7]] = mtfa[mtfBase[6] + 15];
          // falls through
          case 6:
            mtfa[--mtfBase[6]] = mtfa[mtfBase[5] + 15];
          // falls through
          case 5:
            mtfa[--mtfBase[5]] = mtfa[mtfBase[4] + 15];
          // falls through
          case 4:
            mtfa[--mtfBase[4]] = mtfa[mtfBase[3] + 15];
          // falls through
          case 3:
            mtfa[--mtfBase[3]] = mtfa[mtfBase[2] + 15];
          // falls through
          case 2:
            mtfa[--mtfBase[2]] = mtfa[mtfBase[1] + 15];
          // falls through
          case 1:
            mtfa[--mtfBase[1]] = mtfa[mtfBase[0] + 15];
        }
        mtfa[--mtfBase[0]] = b;
        if (mtfBase[0] === 0) {
          // Out of room below: pack the sub-lists back at the top (sources lie at or below their targets).
          let kk = MTF_SPACE - 1;
          for (lno = 15; lno >= 0; lno--) {
            const from = mtfBase[lno];
            for (let i = 15; i >= 0; i--) mtfa[kk--] = mtfa[from + i];
            mtfBase[lno] = kk + 1;
          }
        }
      }
      counts[b]++;
      tt[nblock++] = b;
    }

    const endPos = ip * 8 - bitCount;
    if (endPos > this.len * 8) throw this.error('', endPos);
    this.bitPos = endPos;
    this.nblock = nblock;
    return true;
  }

  /**
   * Inverse BWT: follows the links from row to row, writing the text (before the final run-length decoding) to
   * `text`/`text2` as up to four segments, listed in text order in `segs` (buffer 0/1, start, end); returns how
   * many. Each step is a cache miss that depends on the one before, the main cost of bzip2 decoding; four walks
   * at once overlap their misses. Walk 0 starts at text position 0, walks 1–3 at arbitrary rows (so at unknown
   * positions); every start row is marked (bit 31) and a walk stops on reaching a marked row, so the walks cover
   * disjoint stretches that chain into the text. Walks 1 and 3 write backwards from the end of their buffer, so
   * two walks share one buffer without knowing their lengths in advance.
   */
  private walk(nblock: number): number {
    const tt = this.tt;
    const text = this.text;
    const text2 = this.text2;
    const origPtr = this.origPtr;
    const MARK = 0x80000000;
    const last = nblock - 1;
    const s0 = tt[origPtr] >>> 8;
    const s1 = nblock >>> 2;
    const s2 = nblock >>> 1;
    const s3 = (nblock * 3) >>> 2;
    tt[s0] |= MARK;
    // A start row that coincides with an earlier one is already marked: that walk is skipped.
    let on1 = tt[s1] < MARK;
    if (on1) tt[s1] |= MARK;
    let on2 = tt[s2] < MARK;
    if (on2) tt[s2] |= MARK;
    let on3 = tt[s3] < MARK;
    if (on3) tt[s3] |= MARK;
    const start1 = on1;
    const start2 = on2;
    const start3 = on3;
    let on0 = true;
    let c0 = 0;
    let c1 = 0;
    let c2 = 0;
    let c3 = 0;
    // Each walk first emits its own (marked) start row.
    let t = tt[s0];
    text[c0++] = t;
    let p0 = (t >>> 8) & 0xfffff;
    let p1 = s1;
    let p2 = s2;
    let p3 = s3;
    if (on1) {
      t = tt[p1];
      text[last - c1++] = t;
      p1 = (t >>> 8) & 0xfffff;
    }
    if (on2) {
      t = tt[p2];
      text2[c2++] = t;
      p2 = (t >>> 8) & 0xfffff;
    }
    if (on3) {
      t = tt[p3];
      text2[last - c3++] = t;
      p3 = (t >>> 8) & 0xfffff;
    }
    // Walks visit disjoint rows, so together they take at most nblock steps, even on damaged links.
    while (on0 || on1 || on2 || on3) {
      if (on0) {
        const v = tt[p0];
        if (v >= MARK) on0 = false;
        else {
          text[c0++] = v;
          p0 = v >>> 8;
        }
      }
      if (on1) {
        const v = tt[p1];
        if (v >= MARK) on1 = false;
        else {
          text[last - c1++] = v;
          p1 = v >>> 8;
        }
      }
      if (on2) {
        const v = tt[p2];
        if (v >= MARK) on2 = false;
        else {
          text2[c2++] = v;
          p2 = v >>> 8;
        }
      }
      if (on3) {
        const v = tt[p3];
        if (v >= MARK) on3 = false;
        else {
          text2[last - c3++] = v;
          p3 = v >>> 8;
        }
      }
    }
    tt[s0] &= ~MARK;
    tt[s1] &= ~MARK;
    tt[s2] &= ~MARK;
    tt[s3] &= ~MARK;

    // Chain the stretches: walk 0 comes first; each walk is followed by the one whose start row it reached.
    const segs = this.segs;
    let count = 0;
    let total = 0;
    let end = p0;
    segs[0] = 0;
    segs[1] = 0;
    segs[2] = c0;
    total = c0;
    count = 1;
    for (let guard = 0; guard < 3 && end !== s0; guard++) {
      if (start1 && end === s1) {
        text.subarray(nblock - c1, nblock).reverse();
        segs.set([0, nblock - c1, nblock], 3 * count);
        total += c1;
        end = p1;
      } else if (start2 && end === s2) {
        segs.set([1, 0, c2], 3 * count);
        total += c2;
        end = p2;
      } else if (start3 && end === s3) {
        text2.subarray(nblock - c3, nblock).reverse();
        segs.set([1, nblock - c3, nblock], 3 * count);
        total += c3;
        end = p3;
      } else {
        break;
      }
      count++;
    }
    if (end === s0 && total === nblock) return count;

    // A periodic block ("abab…") has a shorter cycle that the text goes round several times, and some start rows
    // may lie off it; so may damaged data, which the CRC then rejects. The plain single walk is right for both.
    let pos = s0;
    for (let k = 0; k < nblock; k++) {
      const v = tt[pos];
      text[k] = v;
      pos = v >>> 8;
    }
    segs[0] = 0;
    segs[1] = 0;
    segs[2] = nblock;
    return 1;
  }

  /** Enlarges tt (keeping its contents) to hold at least `need` entries, at most the block size. */
  private growTt(need: number): Uint32Array<ArrayBuffer> {
    const grown = new Uint32Array(Math.min(this.blockMax, Math.max(need, 2 * this.tt.length, 1 << 16)));
    grown.set(this.tt);
    this.tt = grown;
    return grown;
  }

  /** Inverse BWT, final run-length decoding, CRC check; output goes to ondata in chunks. */
  private finishBlock(): void {
    const nblock = this.nblock;
    const tt = this.tt;
    const blockOffset = this.blockAt;
    if (this.origPtr >= nblock) {
      throw corrupt(`corrupt bzip2 stream: a block has origPtr ${this.origPtr}, outside its ${nblock} bytes`, blockOffset, BLOCK_START);
    }
    const counts = this.counts;
    const starts = this.starts;
    let sum = 0;
    for (let b = 0; b < 256; b++) {
      starts[b] = sum;
      sum += counts[b];
    }
    // Link each row to the row of the next text position (the "T vector"), stored above the byte in tt.
    for (let i = 0; i < nblock; i++) {
      const b = tt[i] & 0xff;
      tt[starts[b]++] |= i << 8;
    }

    if (this.text.length < nblock) {
      this.text = new Uint8Array(this.tt.length);
      this.text2 = new Uint8Array(this.tt.length);
    }
    const segments = this.walk(nblock);
    const segs = this.segs;

    // Final run-length decoding into `out`. The block's bytes are held until its CRC matches (a block
    // is at most 900 kB before this stage, 46 MB after it at the very worst), so a damaged block hands
    // nothing over: earlier blocks' verified bytes go out first, and `out` grows rather than flushes.
    if (this.op > 0) this.flushOut();
    let out = this.out ?? new Uint8Array(Math.min(OUT_CHUNK, Math.max(1 << 16, 2 * nblock)));
    let op = 0;
    let room = out.length - 256;
    let last = -1;
    let same = 0;
    for (let si = 0; si < segments; si++) {
      const text = segs[3 * si] === 0 ? this.text : this.text2;
      for (let k = segs[3 * si + 1], end = segs[3 * si + 2]; k < end; k++) {
        // One byte here is at most 255 bytes out: make room first so the paths below need no checks.
        if (op > room) {
          const grown = new Uint8Array(out.length * 2);
          grown.set(out.subarray(0, op));
          out = grown;
          room = out.length - 256;
        }
        const b = text[k];
        if (same === 4) {
          // After four equal bytes, this byte is how many more copies follow.
          same = 0;
          if (b < 16) for (let r = 0; r < b; r++) out[op++] = last;
          else {
            out.fill(last, op, op + b);
            op += b;
          }
          continue;
        }
        if (b === last) same++;
        else {
          last = b;
          same = 1;
        }
        out[op++] = b;
      }
    }
    // The CRC over the whole block, eight bytes at a time.
    const crc = crcUpdate(-1, out, 0, op);
    this.out = out;
    this.op = op;

    const computed = ~crc >>> 0;
    if (computed !== this.blockCrc) {
      throw corrupt(
        `corrupt bzip2 stream: a block fails its CRC (stored ${hex(this.blockCrc)}, computed ${hex(computed)})`,
        blockOffset,
        BLOCK_START,
      );
    }
    this.streamCrc = (((this.streamCrc << 1) | (this.streamCrc >>> 31)) ^ computed) >>> 0;
    this.goodOp = op;
  }

  /** Hands the pending output over; a mostly empty chunk is copied so the big buffer can be reused. */
  private flushOut(): void {
    const out = this.out;
    const n = this.op;
    this.goodOp = 0;
    if (out === undefined || n === 0) return;
    this.op = 0;
    if (n < out.length >>> 2) {
      this.ondata(out.slice(0, n));
    } else {
      this.out = new Uint8Array(OUT_CHUNK);
      this.ondata(n === out.length ? out : out.subarray(0, n));
    }
  }
}

/** How {@link corrupt} says that its offset is where the damaged block starts, not where the damage was found. */
const BLOCK_START = ', where the block starts';

/** A `corrupt_compressed_input` error whose message says its compressed offset. */
function corrupt(message: string, offset: number, where = ''): XenspanError {
  return new XenspanError('corrupt_compressed_input', `${message} (at compressed offset ${offset}${where})`, { offset });
}

function hex(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}
