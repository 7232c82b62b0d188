// SPDX-License-Identifier: MIT
/**
 * Which vCPU runs on each pCPU, followed from runstate records.
 * @module
 */
import { EVENT_MASK } from '../core/batch.js';
import type { RecordBatch } from '../core/batch.js';

/** Runstate-change ids are 0x21001 | old << 8 | new << 4; this mask removes old and new. */
const RUNSTATE_ID_MASK = EVENT_MASK & ~0x330;
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
    const event = header & EVENT_MASK;
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

/**
 * Per-row running vCPU for a batch: `domid[i]`/`vcpu[i]` is what ran on row i's pCPU when the record was
 * written (-1 unknown). Filled before filtering, so a filtered view keeps the context its records had.
 */
export class ContextColumns {
  readonly #context = new PcpuContext();
  domid = new Int32Array(0);
  vcpu = new Int32Array(0);

  /** Computes the columns for every row of `batch` (feed every batch, in order). */
  fill(batch: RecordBatch): void {
    if (this.domid.length < batch.length) {
      this.domid = new Int32Array(batch.length);
      this.vcpu = new Int32Array(batch.length);
    }
    const context = this.#context;
    for (let i = 0; i < batch.length; i++) {
      context.update(batch, i);
      const pcpu = batch.pcpu[i];
      this.domid[i] = context.domid(pcpu);
      this.vcpu[i] = context.vcpu(pcpu);
    }
  }

  /** Moves row `from` to `to` (for in-place filtering). */
  move(from: number, to: number): void {
    this.domid[to] = this.domid[from];
    this.vcpu[to] = this.vcpu[from];
  }
}
