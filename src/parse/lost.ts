// SPDX-License-Identifier: MIT
/**
 * Lost-records markers as gaps: where Xen dropped records on one pCPU because its buffer was full.
 * @module
 */
import { EVENT_MASK, TRC_LOST_RECORDS, tscOf, u64Of } from '../core/batch.js';
import type { RecordBatch } from '../core/batch.js';

/**
 * A gap in one pCPU's records: Xen could not store `records` records there from `fromTsc` until the
 * marker was written at `toTsc` (spec §1.2). Whatever ran on that pCPU meanwhile is unknown.
 */
export interface LostRecordsGap {
  readonly pcpu: number;
  /** Records Xen dropped. */
  readonly records: number;
  /** TSC of the first record lost; undefined when the marker is too short to carry it. */
  readonly fromTsc: bigint | undefined;
  /** TSC of the marker: when records were stored again. */
  readonly toTsc: bigint;
  /** Domain and vCPU running when the marker was written; undefined when the marker lacks them. */
  readonly domid: number | undefined;
  readonly vcpu: number | undefined;
  /** Byte offset of the marker in the (decompressed) input. */
  readonly offset: number;
}

/** Whether row `row` of `batch` is a lost-records marker. */
export function isLostRecords(batch: RecordBatch, row: number): boolean {
  return (batch.header[row]! & EVENT_MASK) === TRC_LOST_RECORDS;
}

/** What a lost-records marker's payload says; a field the marker is too short to carry is undefined (count: 0). */
export type LostRecordsPayload = Pick<LostRecordsGap, 'records' | 'fromTsc' | 'domid' | 'vcpu'>;

/**
 * Reads a lost-records payload of `count` words at `words[at]`: the count, then domain (low 16 bits) and
 * vCPU (high 16 bits), then the first lost record's TSC (low word first).
 */
export function lostRecordsPayload(words: Uint32Array, at: number, count: number): LostRecordsPayload {
  const who = count >= 2 ? words[at + 1]! : undefined;
  return {
    records: count >= 1 ? words[at]! : 0,
    fromTsc: count >= 4 ? u64Of(words[at + 3]!, words[at + 2]!) : undefined,
    domid: who === undefined ? undefined : who & 0xffff,
    vcpu: who === undefined ? undefined : who >>> 16,
  };
}

/** The gap a lost-records row describes (undefined for any other row). */
export function lostRecordsGapOf(batch: RecordBatch, row: number): LostRecordsGap | undefined {
  if (!isLostRecords(batch, row)) return undefined;
  const payload = lostRecordsPayload(batch.words, batch.payloadIndex[row]!, (batch.header[row]! >>> 28) & 7);
  return { pcpu: batch.pcpu[row]!, ...payload, toTsc: tscOf(batch, row), offset: batch.fileOffset[row]! };
}
