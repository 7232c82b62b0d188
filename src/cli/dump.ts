// SPDX-License-Identifier: MIT
/**
 * `xenspan dump`: one line per record in global time order.
 * @module
 */
import { EVENT_MASK, RECORD_FLAGS, SAFE_HIGH_WORD, tscDelta, u64Of } from '../core/batch.js';
import type { RecordBatch } from '../core/batch.js';
import type { EventCatalogue } from '../core/catalogue/index.js';
import { writeSpaces, writeUint } from './output.js';
import type { LineWriter } from './output.js';


/**
 * What formatting a batch needs besides its rows: the pipeline's run gives it (`TraceRun`), and a format
 * worker rebuilds it from what it was sent.
 */
export interface DumpView {
  readonly setup: { readonly catalogue: EventCatalogue };
  /** Time zero (the first TSC of the trace in time order). */
  readonly originTsc: bigint | undefined;
  /** The running vCPU of each row (see `ContextColumns`), when followed. */
  readonly context: { readonly domid: Int32Array; readonly vcpu: Int32Array } | undefined;
}

/** Options of the dump formatter. */
export interface DumpFormatOptions {
  /** TSC frequency for the time column; without it the column shows `-`. */
  readonly hz?: number;
  /** Print payload words in hex instead of decoded fields. */
  readonly raw?: boolean;
  /** Keep only records at or after this many ns from time zero (needs hz). */
  readonly fromNs?: number;
  /** Keep only records at or before this many ns from time zero (needs hz). */
  readonly toNs?: number;
}

/**
 * Formats records as stable, greppable lines:
 * `<ns since time zero> <tsc><mark> p<pcpu> <subject> <event> <field=value …>`.
 * The mark after the TSC is blank for a record's own TSC, `~` when inherited from the previous record of
 * its pCPU, `^` when borrowed from the next, `!` when it went backwards. The subject is `dDvV` when the
 * record names a domain and vCPU, `dD` when only a domain, `[dDvV]` (brackets) for the vCPU that was
 * running on the pCPU when the record names none, `-` when unknown.
 */
export class DumpFormatter {
  readonly #options: DumpFormatOptions;
  readonly #subject = new Int32Array(2);
  readonly #names = new EventNameBytes();
  #originHi = 0;
  #originLo = 0;
  #originSet = false;

  constructor(options: DumpFormatOptions) {
    this.#options = options;
  }

  /**
   * Writes the lines of a batch to `out`, at most `maxLines` of them (the caller's `--limit`); returns
   * how many it wrote, or −1 when it stopped because a line beyond `maxLines` was due.
   */
  format(batch: RecordBatch, run: DumpView, out: LineWriter, maxLines = Infinity): number {
    const { catalogue } = run.setup;
    if (!this.#originSet && run.originTsc !== undefined) {
      this.#originHi = Number(run.originTsc >> 32n);
      this.#originLo = Number(run.originTsc & 0xffffffffn);
      this.#originSet = true;
    }
    const hz = this.#options.hz;
    const nsPerCycle = hz === undefined ? 0 : 1e9 / hz;
    const fromNs = this.#options.fromNs ?? -Infinity;
    const toNs = this.#options.toNs ?? Infinity;
    const raw = this.#options.raw === true;
    const subject = this.#subject;
    const context = run.context;
    const names = this.#names;
    let lines = 0;
    for (let i = 0; i < batch.length; i++) {
      const header = batch.header[i]!;
      const event = header & EVENT_MASK;
      const count = (header >>> 28) & 7;
      const start = batch.payloadIndex[i]!;
      const hi = batch.tscHi[i]!;
      const lo = batch.tscLo[i]!;
      let ns = NaN;
      if (hz !== undefined) {
        ns = tscDelta(hi, lo, this.#originHi, this.#originLo) * nsPerCycle;
        if (ns < fromNs || ns > toNs) continue;
      }
      if (lines === maxLines) return -1;
      lines++;
      const name = names.get(event, catalogue);
      // The columns before the fields are written straight into the output buffer.
      const bytes = out.reserve(FIXED_COLUMNS_MAX + name.length);
      let at = out.at;
      // Column 1: ns since time zero, right-aligned in 13 (`-` without a TSC frequency).
      if (hz === undefined) {
        at = writeSpaces(bytes, at, 12);
        bytes[at++] = DASH;
      } else {
        const rounded = Math.round(ns);
        if (ns >= 0 && rounded <= Number.MAX_SAFE_INTEGER) at = writeUint(bytes, at, rounded, 13);
        else at = writeAligned(bytes, at, ns.toFixed(0), 13); // negative (a borrowed TSC) or huge
      }
      bytes[at++] = SPACE;
      // Column 2: the TSC, right-aligned in 15, and its mark.
      if (hi < SAFE_HIGH_WORD) at = writeUint(bytes, at, tscDelta(hi, lo, 0, 0), 15);
      else at = writeAligned(bytes, at, String(u64Of(hi, lo)), 15);
      const flags = batch.flags[i]!;
      bytes[at++] =
        (flags & RECORD_FLAGS.tscBackwards) !== 0
          ? 0x21 // !
          : (flags & RECORD_FLAGS.borrowedTsc) !== 0
            ? 0x5e // ^
            : (flags & RECORD_FLAGS.inheritedTsc) !== 0
              ? 0x7e // ~
              : SPACE;
      // Column 3: p<pcpu>, left-aligned in 4.
      bytes[at++] = SPACE;
      bytes[at++] = 0x70; // p
      const pcpuAt = at;
      const pcpu = batch.pcpu[i]!;
      if (pcpu < 10) bytes[at++] = 0x30 + pcpu;
      else at = writeUint(bytes, at, pcpu, 0);
      at = writeSpaces(bytes, at, pcpuAt + 3 - at);
      // Column 4: the subject, left-aligned in 10.
      bytes[at++] = SPACE;
      const whoAt = at;
      if (catalogue.subject(event, batch.words, start, count, subject)) {
        bytes[at++] = 0x64; // d
        at = writeInt(bytes, at, subject[0]!);
        if (subject[1]! >= 0) {
          bytes[at++] = 0x76; // v
          at = writeInt(bytes, at, subject[1]!);
        }
      } else {
        const domid = context === undefined ? -1 : context.domid[i]!;
        if (domid >= 0) {
          bytes[at++] = 0x5b; // [
          bytes[at++] = 0x64; // d
          at = writeInt(bytes, at, domid);
          bytes[at++] = 0x76; // v
          at = writeInt(bytes, at, context!.vcpu[i]!);
          bytes[at++] = 0x5d; // ]
        } else {
          bytes[at++] = DASH;
        }
      }
      at = writeSpaces(bytes, at, whoAt + 10 - at);
      // Event name and fields.
      bytes[at++] = SPACE;
      for (let k = 0; k < name.length; k++) bytes[at++] = name[k]!;
      out.at = at;
      if (raw) {
        out.text(' event=');
        out.hex32(event);
        out.text(' words=[');
        for (let k = 0; k < count; k++) {
          if (k > 0) out.char(SPACE);
          out.hex32(batch.words[start + k]!);
        }
        out.char(0x5d); // ]
      } else {
        catalogue.writeFields(event, batch.words, start, count, out);
      }
      out.endLine();
    }
    return lines;
  }
}

/**
 * Event names as the UTF-8 bytes the line gets, cached by id in a direct-mapped table: a line copies
 * its name's bytes instead of asking the catalogue and encoding the string again.
 */
class EventNameBytes {
  readonly #ids = new Int32Array(1024).fill(-1);
  readonly #bytes: Uint8Array[] = new Array<Uint8Array>(1024);
  readonly #encoder = new TextEncoder();

  get(event: number, catalogue: EventCatalogue): Uint8Array {
    const slot = Math.imul(event, 0x9e3779b1) >>> 22;
    if (this.#ids[slot] === event) return this.#bytes[slot]!;
    const bytes = this.#encoder.encode(catalogue.nameOf(event));
    this.#ids[slot] = event;
    this.#bytes[slot] = bytes;
    return bytes;
  }
}

/**
 * Room the columns before the fields take, their name aside: ns (13, or up to 22 for a huge or
 * negative value), TSC (20) and its mark, pCPU (`p` and 5 digits), the subject (`[d` 11 `v` 11 `]`) and
 * the spaces between them.
 */
const FIXED_COLUMNS_MAX = 96;

/** Writes ASCII text right-aligned in `width` columns, as padStart would. */
function writeAligned(bytes: Uint8Array, at: number, text: string, width: number): number {
  at = writeSpaces(bytes, at, width - text.length);
  for (let k = 0; k < text.length; k++) bytes[at++] = text.charCodeAt(k);
  return at;
}

/** Writes a 32-bit integer as String() would (the one-digit ids of most lines without a call). */
function writeInt(bytes: Uint8Array, at: number, value: number): number {
  if (value >= 0 && value < 10) {
    bytes[at] = 0x30 + value;
    return at + 1;
  }
  return value >= 0 ? writeUint(bytes, at, value, 0) : writeAligned(bytes, at, String(value), 0);
}

const SPACE = 0x20;
const DASH = 0x2d;
