// SPDX-License-Identifier: MIT
/**
 * TRC_GEN meta records (lost records, wrap padding, xentrace's CPU_CHANGE) and TRC_DOM0OP domain add/remove.
 * @module
 */
import { stampCycles } from './hw.js';
import { fromRows } from './layout.js';
import type { BuiltinDecoder } from './layout.js';

/** Decoders of the TRC_GEN (0x0001F0xx) and TRC_DOM0OP (0x000410xx) ids. */
export function genDecoders(): BuiltinDecoder[] {
  return fromRows([
    // Word 1 is domain low / vCPU high: the reverse of runstate records.
    [0x0001f001, 'lost_records', 'count:u32 domid:u16 vcpu:u16 first_tsc:u64'],
    // Padding up to the end of the per-CPU buffer: its words are junk.
    [0x0001f002, 'wrap_buffer', 'junk'],
    // Written by xentrace, not Xen: frames each per-CPU window; the size is in bytes.
    [0x0001f003, 'cpu_change', 'cpu:u32 window_bytes:u32'],
    // Historic (Xen 2009–2011): IRQ stamps that became TRC_HW_IRQ_HANDLED; kept so old captures still decode.
    [0x0001f004, 'trace_irq', 'irq:u32 tsc_in_lo:u32 tsc_out_lo:u32', { extra: stampCycles }],
    [0x00041001, 'dom0_dom_add', 'domid:u32'],
    [0x00041002, 'dom0_dom_rem', 'domid:u32'],
  ]);
}
