// SPDX-License-Identifier: MIT
/**
 * `xenspan dump`: one line per record in global time order.
 * @module
 */
import { EVENT_MASK, RECORD_FLAGS, tscDelta, u64Of } from '../core/batch.js';
import type { RecordBatch } from '../core/batch.js';
import { writeFields } from '../core/catalogue/index.js';
import type { TraceRun } from '../core/pipeline.js';
import type { LineWriter } from './output.js';

const SAFE_HI = 1 << 21; // hi·2^32 + lo stays below 2^53

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
  #originHi = 0;
  #originLo = 0;
  #originSet = false;

  constructor(options: DumpFormatOptions) {
    this.#options = options;
  }

  /**
   * Writes the lines of a batch to `out`. `startLine` runs before each line (the caller's `--limit`
   * throws from it).
   */
  format(batch: RecordBatch, run: TraceRun, out: LineWriter, startLine: () => void): void {
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
      startLine();
      // Column 1: ns since time zero, right-aligned in 13 (`-` without a TSC frequency).
      if (hz === undefined) {
        out.padTo(12);
        out.char(DASH);
      } else {
        const rounded = Math.round(ns);
        if (ns >= 0 && rounded < SAFE_INTEGER) out.integer(rounded, 13);
        else out.alignedText(ns.toFixed(0), 13); // negative (a borrowed TSC) or huge
      }
      out.char(SPACE);
      // Column 2: the TSC, right-aligned in 15, and its mark.
      if (hi < SAFE_HI) out.integer(tscDelta(hi, lo, 0, 0), 15);
      else out.alignedText(String(u64Of(hi, lo)), 15);
      const flags = batch.flags[i]!;
      out.char(
        (flags & RECORD_FLAGS.tscBackwards) !== 0
          ? 0x21 // !
          : (flags & RECORD_FLAGS.borrowedTsc) !== 0
            ? 0x5e // ^
            : (flags & RECORD_FLAGS.inheritedTsc) !== 0
              ? 0x7e // ~
              : SPACE,
      );
      // Column 3: p<pcpu>, left-aligned in 4.
      out.char(SPACE);
      out.char(0x70); // p
      const pcpuAt = out.column;
      out.integer(batch.pcpu[i]!);
      out.padTo(pcpuAt + 3);
      // Column 4: the subject, left-aligned in 10.
      out.char(SPACE);
      const whoAt = out.column;
      if (catalogue.subject(event, batch.words, start, count, subject)) {
        out.char(0x64); // d
        out.integer(subject[0]!);
        if (subject[1]! >= 0) {
          out.char(0x76); // v
          out.integer(subject[1]!);
        }
      } else {
        const domid = context === undefined ? -1 : context.domid[i]!;
        if (domid >= 0) {
          out.char(0x5b); // [
          out.char(0x64);
          out.integer(domid);
          out.char(0x76);
          out.integer(context!.vcpu[i]!);
          out.char(0x5d); // ]
        } else {
          out.char(DASH);
        }
      }
      out.padTo(whoAt + 10);
      // Event name and fields.
      out.char(SPACE);
      out.text(catalogue.nameOf(event));
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
        const fields = catalogue.decode(event, batch.words, start, count);
        if (fields.length > 0) {
          out.char(SPACE);
          writeFields(fields, out);
        }
      }
      out.endLine();
    }
  }
}

const SPACE = 0x20;
const DASH = 0x2d;
const SAFE_INTEGER = 2 ** 53;
