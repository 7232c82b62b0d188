// SPDX-License-Identifier: MIT
/**
 * Per-pCPU volume statistics: the `stats` command, and the figures xenalyze prints as its
 * "Log volume summary".
 * @module
 */
import { EVENT_MASK, RECORD_FLAGS, TRC_LOST_RECORDS, u64Of } from '../core/batch.js';
import type { RecordBatch } from '../core/batch.js';
import { EVENT_CLASSES, classTable } from '../core/classes.js';
import type { EventClass } from '../core/classes.js';
import { UnknownEventReporter, createCatalogue } from '../core/catalogue/index.js';
import type { CatalogueOptions } from '../core/catalogue/index.js';
import { createRunDiagnostics } from '../core/diagnostics.js';
import type { DiagnosticCode, DiagnosticEvent, DiagnosticListener } from '../core/diagnostics.js';
import type { ByteInput } from '../core/io.js';
import type { Decompressor } from './compress/index.js';
import { forEachRecordInFileOrder } from './decode.js';
import { lostRecordsGapOf } from './lost.js';
import type { LostRecordsGap } from './lost.js';

/** Statistics of one pCPU. */
export interface PcpuStats {
  readonly pcpu: number;
  /** Records, wrap padding included. */
  readonly records: number;
  /** Stored bytes of the records per class (CPU_CHANGE framing excluded; classes with 0 bytes omitted). */
  readonly bytes: Partial<Record<EventClass, number>>;
  /** First and last TSC of records that carry one (undefined when none does). */
  readonly firstTsc: bigint | undefined;
  readonly lastTsc: bigint | undefined;
}

/** Statistics of a whole trace. */
export interface TraceStats {
  readonly records: number;
  /** pCPUs in ascending order. */
  readonly pcpus: readonly PcpuStats[];
  /**
   * Lost-records markers: their count, the records Xen dropped, and the gaps of the first
   * {@link MAX_LISTED_GAPS} markers in file order (memory stays bounded); `gapsNotListed` counts the rest.
   */
  readonly lost: {
    readonly markers: number;
    readonly recordsLost: number;
    readonly gaps: readonly LostRecordsGap[];
    readonly gapsNotListed: number;
  };
  readonly diagnostics: Partial<Record<DiagnosticCode, number>>;
  /** The first few diagnostics of each code, with where and why, in the order they happened. */
  readonly samples: readonly DiagnosticEvent[];
}

const CLASS_COUNT = EVENT_CLASSES.length;
/** Gaps {@link TraceStats} lists (a real trace has at most a marker per window; a damaged one may have more). */
export const MAX_LISTED_GAPS = 10_000;
const OWN_TSC_MASK = RECORD_FLAGS.inheritedTsc;

/**
 * Accumulates {@link TraceStats} from batches in any order (file order is cheapest). One pass, typed-array
 * counters, no allocation per record.
 */
export class StatsCollector {
  #slots = new Map<number, number>();
  #pcpus: number[] = [];
  #records: number[] = [];
  #bytes = new Float64Array(16 * CLASS_COUNT);
  #firstHi: number[] = [];
  #firstLo: number[] = [];
  #lastHi: number[] = [];
  #lastLo: number[] = [];
  #hasTsc: boolean[] = [];
  #lostMarkers = 0;
  #recordsLost = 0;
  #gaps: LostRecordsGap[] = [];
  #total = 0;

  /** Adds a batch. */
  add(batch: RecordBatch): void {
    const classes = classTable();
    const n = batch.length;
    const pcpus = batch.pcpu;
    const headers = batch.header;
    const flags = batch.flags;
    const mask = EVENT_MASK;
    let i = 0;
    // Rows come in runs of one pCPU (a window); handle a run with locals only.
    while (i < n) {
      const pcpu = pcpus[i];
      const slot = this.#slot(pcpu);
      const bytes = this.#bytes;
      const base = slot * CLASS_COUNT;
      let end = i + 1;
      while (end < n && pcpus[end] === pcpu) end++;
      let firstOwn = -1;
      let lastOwn = -1;
      for (let r = i; r < end; r++) {
        const header = headers[r];
        bytes[base + classes[(header >>> 16) & 0xfff]] += 4 + (header >>> 31) * 8 + ((header >>> 28) & 7) * 4;
        if ((flags[r] & OWN_TSC_MASK) === 0) {
          if (firstOwn < 0) firstOwn = r;
          lastOwn = r;
        }
        if ((header & mask) === TRC_LOST_RECORDS) {
          const gap = lostRecordsGapOf(batch, r)!;
          this.#lostMarkers++;
          this.#recordsLost += gap.records;
          if (this.#gaps.length < MAX_LISTED_GAPS) this.#gaps.push(gap);
        }
      }
      this.#records[slot] += end - i;
      if (firstOwn >= 0) {
        if (!this.#hasTsc[slot]) {
          this.#hasTsc[slot] = true;
          this.#firstHi[slot] = batch.tscHi[firstOwn];
          this.#firstLo[slot] = batch.tscLo[firstOwn];
        }
        this.#lastHi[slot] = batch.tscHi[lastOwn];
        this.#lastLo[slot] = batch.tscLo[lastOwn];
      }
      i = end;
    }
    this.#total += n;
  }

  #slot(pcpu: number): number {
    let slot = this.#slots.get(pcpu);
    if (slot === undefined) {
      slot = this.#pcpus.length;
      this.#slots.set(pcpu, slot);
      this.#pcpus.push(pcpu);
      this.#records.push(0);
      this.#hasTsc.push(false);
      this.#firstHi.push(0);
      this.#firstLo.push(0);
      this.#lastHi.push(0);
      this.#lastLo.push(0);
      if ((slot + 1) * CLASS_COUNT > this.#bytes.length) {
        const grown = new Float64Array(this.#bytes.length * 2);
        grown.set(this.#bytes);
        this.#bytes = grown;
      }
    }
    return slot;
  }

  /** The statistics so far. */
  result(diagnostics: Partial<Record<DiagnosticCode, number>> = {}, samples: readonly DiagnosticEvent[] = []): TraceStats {
    const pcpus: PcpuStats[] = this.#pcpus.map((pcpu, slot) => {
      const bytes: Partial<Record<EventClass, number>> = {};
      for (let c = 0; c < CLASS_COUNT; c++) {
        const value = this.#bytes[slot * CLASS_COUNT + c];
        if (value > 0) bytes[EVENT_CLASSES[c]] = value;
      }
      return {
        pcpu,
        records: this.#records[slot],
        bytes,
        firstTsc: this.#hasTsc[slot] ? u64Of(this.#firstHi[slot], this.#firstLo[slot]) : undefined,
        lastTsc: this.#hasTsc[slot] ? u64Of(this.#lastHi[slot], this.#lastLo[slot]) : undefined,
      };
    });
    pcpus.sort((a, b) => a.pcpu - b.pcpu);
    return {
      records: this.#total,
      pcpus,
      lost: {
        markers: this.#lostMarkers,
        recordsLost: this.#recordsLost,
        gaps: [...this.#gaps],
        gapsNotListed: this.#lostMarkers - this.#gaps.length,
      },
      diagnostics: { ...diagnostics },
      samples: [...samples],
    };
  }
}

/**
 * Options of {@link readTraceStats}. The catalogue's options say which event ids are known: the others
 * are counted as `unknown_event` (or `guest_record`), as `dump` counts them.
 */
export interface ReadStatsOptions extends CatalogueOptions {
  /** Throw `strict_violation` at the first data-loss or error diagnostic. */
  readonly strict?: boolean;
  readonly onDiagnostic?: DiagnosticListener;
  /** Decompresses compressed input (see `DecodeOptions.decompressor`). */
  readonly decompressor?: Decompressor;
}

/**
 * Per-pCPU record counts, bytes per class, first and last TSC, lost records and diagnostics: one pass
 * in file order, no merge (order does not change the figures).
 * @example
 * const stats = await readTraceStats(bytes); stats.pcpus[0].bytes.sched
 */
export async function readTraceStats(input: ByteInput, options: ReadStatsOptions = {}): Promise<TraceStats> {
  const diagnostics = createRunDiagnostics(options);
  const collector = new StatsCollector();
  const unknown = new UnknownEventReporter(createCatalogue(options), diagnostics);
  await forEachRecordInFileOrder(
    input,
    (batch) => {
      collector.add(batch);
      unknown.check(batch);
    },
    { diagnostics, ...(options.decompressor === undefined ? {} : { decompressor: options.decompressor }) },
  );
  return collector.result(diagnostics.counts, diagnostics.samples);
}
