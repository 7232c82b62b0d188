// SPDX-License-Identifier: MIT
/**
 * TRC_SCHED_MIN (runstate changes) and TRC_SCHED_VERBOSE records: the generic scheduler's view of vCPUs and units.
 * @module
 */
import { fromRows, layoutDecoder } from './layout.js';
import type { BuiltinDecoder } from './layout.js';
import { RUNSTATE_NAMES } from './names.js';

/** Base id of runstate changes; the old state sits in bits 8–9 and the new one in bits 4–5. */
export const RUNSTATE_CHANGE = 0x00021001;

/** Id of the runstate change from `oldState` to `newState` (0 running, 1 runnable, 2 blocked, 3 offline). */
export function runstateEvent(oldState: number, newState: number): number {
  return RUNSTATE_CHANGE | ((oldState & 3) << 8) | ((newState & 3) << 4);
}

/** Decoders of the TRC_SCHED_MIN (0x000210xx) and TRC_SCHED_VERBOSE (0x000280xx) ids. */
export function schedDecoders(): BuiltinDecoder[] {
  const out: BuiltinDecoder[] = [];
  for (let from = 0; from < 4; from++) {
    for (let to = 0; to < 4; to++) {
      // The payload is {u16 vcpu, u16 domain}; xenalyze also accepts two trailing 64-bit counters (no emitter known).
      out.push(
        layoutDecoder(runstateEvent(from, to), 'runstate_change', 'vcpu:du perf1:u64 perf2:u64', {
          fixed: [
            { name: 'old_state', value: RUNSTATE_NAMES[from] },
            { name: 'new_state', value: RUNSTATE_NAMES[to] },
          ],
        }),
      );
    }
  }
  out.push(
    ...fromRows([
      [0x00021002, 'continue_running', 'vcpu:du'],
      [0x00028001, 'sched_dom_add', 'domid:u32'],
      [0x00028002, 'sched_dom_rem', 'domid:u32'],
      [0x00028003, 'vcpu_sleep', 'domid:u32 vcpu:u32'],
      [0x00028004, 'vcpu_wake', 'domid:u32 vcpu:u32'],
      [0x00028005, 'vcpu_yield', 'domid:u32 vcpu:u32'],
      [0x00028006, 'vcpu_block', 'domid:u32 vcpu:u32'],
      [0x00028007, 'shutdown', 'domid:u32 vcpu:u32 reason:u32=shutdown'],
      [0x00028008, 'sched_ctl', ''],
      [0x00028009, 'sched_adjdom', 'domid:u32'],
      // The subject of a switch is the unit that gets the pCPU.
      [
        0x0002800a,
        'switch',
        'prev_domid:u32 prev_unit:u32 next_domid:u32 next_unit:u32',
        { subject: ['next_domid', 'next_unit'] },
      ],
      [0x0002800b, 's_timer_fn', ''],
      [0x0002800c, 't_timer_fn', ''],
      [0x0002800d, 'dom_timer_fn', ''],
      // Times are s_time_t nanoseconds truncated to 32 bits: runtime wraps after ~4.29 s, slices are signed.
      [0x0002800e, 'switch_infprev', 'domid:u32 unit:u32 runtime_ns:u32'],
      [0x0002800f, 'switch_infnext', 'domid:u32 unit:u32 waited_ns:u32 slice_ns:i32'],
      [0x00028010, 'shutdown_code', 'domid:u32 vcpu:u32 reason:u32=shutdown'],
      [0x00028011, 'switch_infcont', 'domid:u32 unit:u32 runtime_ns:u32 slice_ns:i32'],
    ]),
  );
  return out;
}
