// SPDX-License-Identifier: MIT
/**
 * Which vCPU runs on each pCPU, followed from runstate records.
 * @module
 */
import type { RecordBatch } from '../core/batch.js';

/** Runstate-change ids are 0x21001 | old << 8 | new << 4; this mask removes old and new. */
const RUNSTATE_ID_MASK = ~0x330 & 0x0fffffff;
const RUNSTATE_BASE = 0x00021001;
const CONTINUE_RUNNING = 0x00021002;
const RUNNING = 0;

/** Whether an event id is a runstate change. */
export function isRunstateChange(event: number): boolean {
  return (event & RUNSTATE_ID_MASK) === RUNSTATE_BASE;
}

/**
 * Tracks the vCPU running on every pCPU. Only `x→running`, `running→x` and `continue_running` records
 * are used: they are written on the pCPU where the vCPU runs (wake-ups come from other pCPUs).
 * Feed every record of a pCPU in that pCPU's order (global order is fine).
 */
export class PcpuContext {
  readonly #domid = new Map<number, number>();
  readonly #vcpu = new Map<number, number>();

  /** Updates the context with row `i` of `batch`. */
  update(batch: RecordBatch, i: number): void {
    const header = batch.header[i];
    const event = header & 0x0fffffff;
    if ((event & RUNSTATE_ID_MASK) !== RUNSTATE_BASE && event !== CONTINUE_RUNNING) return;
    if (((header >>> 28) & 7) === 0) return;
    const word = batch.words[batch.payloadIndex[i]];
    const domid = word >>> 16;
    const vcpu = word & 0xffff;
    const pcpu = batch.pcpu[i];
    if (event === CONTINUE_RUNNING || ((event >>> 4) & 3) === RUNNING) {
      this.#domid.set(pcpu, domid);
      this.#vcpu.set(pcpu, vcpu);
    } else if (((event >>> 8) & 3) === RUNNING && this.#domid.get(pcpu) === domid && this.#vcpu.get(pcpu) === vcpu) {
      this.#domid.set(pcpu, -1);
      this.#vcpu.set(pcpu, -1);
    }
  }

  /** Domain running on `pcpu`, or -1 when unknown. */
  domid(pcpu: number): number {
    return this.#domid.get(pcpu) ?? -1;
  }

  /** vCPU running on `pcpu`, or -1 when unknown. */
  vcpu(pcpu: number): number {
    return this.#vcpu.get(pcpu) ?? -1;
  }
}
