// SPDX-License-Identifier: MIT
/**
 * TRC_HW records: power management (frequency changes, C-state entry/exit) and IRQ vector management/handling.
 * @module
 */
import { fromRows } from './layout.js';
import type { BuiltinDecoder } from './layout.js';
import type { DecodedField } from './types.js';

/**
 * Adds `cycles` = (tsc_out_lo − tsc_in_lo) mod 2^32 for records carrying two truncated TSC stamps in words 1 and 2;
 * the difference is exact as long as the handler ran for less than 2^32 cycles.
 */
export function stampCycles(words: Uint32Array, start: number, count: number, out: DecodedField[]): void {
  if (count >= 3) out.push({ name: 'cycles', value: (words[start + 2] - words[start + 1]) >>> 0 });
}

/** Decoders of the TRC_HW_PM (0x008010xx) and TRC_HW_IRQ (0x008020xx) ids. */
export function hwDecoders(): BuiltinDecoder[] {
  return fromRows([
    [0x00801001, 'pm_freq_change', 'old_mhz:u32 new_mhz:u32'],
    // tick is the idle driver's 32-bit tick (TSC-based stime or ACPI PM timer), not a TSC.
    [0x00801002, 'pm_idle_entry', 'cstate:u32 tick:u32 expected_us:u32 predicted_us:u32'],
    // Up to four vectors pending in the local APIC when the CPU woke up.
    [0x00801003, 'pm_idle_exit', 'cstate:u32 tick:u32 pending0:u32 pending1:u32 pending2:u32 pending3:u32'],
    [0x00802001, 'irq_move_cleanup_delay', 'irq:u32 vector:u32 cpu:u32'],
    [0x00802002, 'irq_move_cleanup', 'irq:u32 vector:u32 cpu:u32'],
    // irq and vector share word 0; the rest is the first 192 bits of the CPU mask.
    [0x00802003, 'irq_bind_vector', 'irq:u16 vector:u16 cpus'],
    [0x00802004, 'irq_clear_vector', 'irq:u16 vector:u16 cpus'],
    [0x00802005, 'irq_move_finish', 'irq:u32 old_vector:u32 cpu:u32'],
    [0x00802006, 'irq_assign_vector', 'irq:u16 vector:u16 cpus'],
    [0x00802007, 'irq_unmapped_vector', 'vector:u32'],
    // The stamps are the low 32 bits of the TSC around the handler; the record's own TSC is about the end.
    [0x00802008, 'irq_handled', 'irq:u32 tsc_in_lo:u32 tsc_out_lo:u32', { extra: stampCycles }],
  ]);
}
