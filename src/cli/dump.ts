// SPDX-License-Identifier: MIT
/**
 * `xenspan dump`: one line per record in global time order.
 * @module
 */
import { EVENT_MASK, RECORD_FLAGS, u64Of } from '../core/batch.js';
import type { RecordBatch } from '../core/batch.js';
import { formatFields } from '../core/catalogue/index.js';
import type { TraceRun } from '../core/pipeline.js';

const TWO_32 = 4294967296;
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

function tscText(hi: number, lo: number): string {
  return hi < SAFE_HI ? String(hi * TWO_32 + lo) : String(u64Of(hi, lo));
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

  /** Appends the lines of a batch to `out`. */
  format(batch: RecordBatch, run: TraceRun, out: (line: string) => void): void {
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
    const subject = this.#subject;
    const context = run.context;
    for (let i = 0; i < batch.length; i++) {
      const header = batch.header[i];
      const event = header & EVENT_MASK;
      const count = (header >>> 28) & 7;
      const start = batch.payloadIndex[i];
      const hi = batch.tscHi[i];
      const lo = batch.tscLo[i];
      let time = '-';
      if (hz !== undefined) {
        // The difference is exact in doubles: both halves are subtracted separately.
        const ns = ((hi - this.#originHi) * TWO_32 + (lo - this.#originLo)) * nsPerCycle;
        if (ns < fromNs || ns > toNs) continue;
        time = ns.toFixed(0);
      }
      const flags = batch.flags[i];
      const mark =
        (flags & RECORD_FLAGS.tscBackwards) !== 0
          ? '!'
          : (flags & RECORD_FLAGS.borrowedTsc) !== 0
            ? '^'
            : (flags & RECORD_FLAGS.inheritedTsc) !== 0
              ? '~'
              : ' ';
      const pcpu = batch.pcpu[i];
      let who: string;
      if (catalogue.subject(event, batch.words, start, count, subject)) {
        who = subject[1] >= 0 ? `d${subject[0]}v${subject[1]}` : `d${subject[0]}`;
      } else {
        const domid = context === undefined ? -1 : context.domid[i];
        who = domid >= 0 ? `[d${domid}v${context!.vcpu[i]}]` : '-';
      }
      let detail: string;
      if (this.#options.raw === true) {
        const words: string[] = [];
        for (let k = 0; k < count; k++) words.push(`0x${batch.words[start + k].toString(16).padStart(8, '0')}`);
        detail = `event=0x${event.toString(16).padStart(8, '0')} words=[${words.join(' ')}]`;
      } else {
        detail = formatFields(catalogue.decode(event, batch.words, start, count));
      }
      const name = catalogue.nameOf(event);
      out(
        `${time.padStart(13)} ${tscText(hi, lo).padStart(15)}${mark} p${String(pcpu).padEnd(3)} ${who.padEnd(10)} ${name}${detail === '' ? '' : ` ${detail}`}`,
      );
    }
  }
}
