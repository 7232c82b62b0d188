// SPDX-License-Identifier: MIT
/**
 * Filtering records while decoding: event masks with xentrace's `-e` semantics, pCPUs, domains, vCPUs
 * and a TSC window.
 * @module
 */
import { EVENT_MASK } from '../core/batch.js';
import type { RecordBatch } from '../core/batch.js';
import type { EventCatalogue } from '../core/catalogue/index.js';
import type { ContextColumns } from './context.js';

/** What to keep. Every given criterion must hold; an absent one keeps everything. */
export interface RecordFilterOptions {
  /**
   * xentrace `-e` masks (a record is kept when it matches any of them). As in Xen, a record matches a
   * mask when `mask & event` is non-zero and both the class bits (16–27) and the subclass bits (12–15)
   * intersect: `0x0002f000` is all scheduler records, `0x00021000` only runstate changes.
   */
  readonly eventMasks?: readonly number[];
  readonly pcpus?: readonly number[];
  /**
   * Domains: a record is kept when it names one of them, or, when it names no domain (a PV hypercall,
   * a trap), when its pCPU was running one of them.
   */
  readonly domains?: readonly number[];
  /** vCPU ids, matched like `domains` (combine both to pick one vCPU of one domain). */
  readonly vcpus?: readonly number[];
  /** Keep records with TSC ≥ this. */
  readonly tscFrom?: bigint;
  /** Keep records with TSC ≤ this. */
  readonly tscTo?: bigint;
}

/** Whether `event` passes the xentrace event mask `mask` (Xen's own three-part test). */
export function matchesEventMask(mask: number, event: number): boolean {
  if ((mask & event & EVENT_MASK) === 0) return false;
  if (((mask >>> 16) & (event >>> 16) & 0xfff) === 0) return false;
  return ((mask >>> 12) & (event >>> 12) & 0xf) !== 0;
}

/** Whether the options filter anything at all. */
export function filtersAnything(options: RecordFilterOptions): boolean {
  return (
    options.eventMasks !== undefined ||
    options.pcpus !== undefined ||
    options.domains !== undefined ||
    options.vcpus !== undefined ||
    options.tscFrom !== undefined ||
    options.tscTo !== undefined
  );
}

const TWO_32 = 2n ** 32n;

/**
 * Drops rows of a batch in place (the batch must be one the caller may modify, such as the one a decode
 * callback hands over). Domain and vCPU matching of records that name no domain uses the running vCPU of
 * their pCPU, from {@link ContextColumns} filled for the same batch.
 */
export class RecordFilter {
  readonly #masks: readonly number[] | undefined;
  readonly #pcpus: ReadonlySet<number> | undefined;
  readonly #domains: ReadonlySet<number> | undefined;
  readonly #vcpus: ReadonlySet<number> | undefined;
  readonly #fromHi: number;
  readonly #fromLo: number;
  readonly #toHi: number;
  readonly #toLo: number;
  readonly #catalogue: EventCatalogue;
  readonly #subject = new Int32Array(2);

  constructor(options: RecordFilterOptions, catalogue: EventCatalogue) {
    this.#masks = options.eventMasks;
    this.#pcpus = options.pcpus === undefined ? undefined : new Set(options.pcpus);
    this.#domains = options.domains === undefined ? undefined : new Set(options.domains);
    this.#vcpus = options.vcpus === undefined ? undefined : new Set(options.vcpus);
    const from = options.tscFrom ?? 0n;
    const to = options.tscTo ?? 2n ** 64n - 1n;
    this.#fromHi = Number(from / TWO_32);
    this.#fromLo = Number(from % TWO_32);
    this.#toHi = Number(to / TWO_32);
    this.#toLo = Number(to % TWO_32);
    this.#catalogue = catalogue;
  }

  /** Whether matching needs each row's running vCPU (ContextColumns filled for the batch). */
  get needsContext(): boolean {
    return this.#domains !== undefined || this.#vcpus !== undefined;
  }

  /**
   * Removes the rows that do not match, keeping order, and returns the new length. When `context` is
   * given (required if {@link RecordFilter.needsContext}) its columns are compacted along.
   */
  apply(batch: RecordBatch, context?: ContextColumns): number {
    const n = batch.length;
    let kept = 0;
    for (let i = 0; i < n; i++) {
      if (!this.#keeps(batch, i, context)) continue;
      if (kept !== i) {
        moveRow(batch, i, kept);
        context?.move(i, kept);
      }
      kept++;
    }
    batch.length = kept;
    return kept;
  }

  #keeps(batch: RecordBatch, i: number, context: ContextColumns | undefined): boolean {
    const header = batch.header[i];
    const event = header & EVENT_MASK;
    if (this.#masks !== undefined) {
      let any = false;
      for (const mask of this.#masks) if (matchesEventMask(mask, event)) any = true;
      if (!any) return false;
    }
    const pcpu = batch.pcpu[i];
    if (this.#pcpus !== undefined && !this.#pcpus.has(pcpu)) return false;
    const hi = batch.tscHi[i];
    const lo = batch.tscLo[i];
    if (hi < this.#fromHi || (hi === this.#fromHi && lo < this.#fromLo)) return false;
    if (hi > this.#toHi || (hi === this.#toHi && lo > this.#toLo)) return false;
    if (this.#domains === undefined && this.#vcpus === undefined) return true;
    const subject = this.#subject;
    let domid: number;
    let vcpu: number;
    if (this.#catalogue.subject(event, batch.words, batch.payloadIndex[i], (header >>> 28) & 7, subject)) {
      domid = subject[0];
      vcpu = subject[1];
    } else if (context !== undefined) {
      domid = context.domid[i];
      vcpu = context.vcpu[i];
    } else {
      domid = -1;
      vcpu = -1;
    }
    if (this.#domains !== undefined && !this.#domains.has(domid)) return false;
    return this.#vcpus === undefined || this.#vcpus.has(vcpu);
  }
}

function moveRow(batch: RecordBatch, from: number, to: number): void {
  batch.pcpu[to] = batch.pcpu[from];
  batch.header[to] = batch.header[from];
  batch.tscLo[to] = batch.tscLo[from];
  batch.tscHi[to] = batch.tscHi[from];
  batch.flags[to] = batch.flags[from];
  batch.payloadIndex[to] = batch.payloadIndex[from];
  batch.fileOffset[to] = batch.fileOffset[from];
}
