// SPDX-License-Identifier: MIT
/**
 * TRC_PV records: entry points of PV guests (traps, faults, emulation; `+0x100` = 64-bit guest) and the hypercall
 * records, which common code also writes for multicall sub-calls of HVM/PVH guests.
 * @module
 */
import { addressPair, builtinDecoder, clampCount, decoderBase, emitCode, emitRaw, fromRows } from './layout.js';
import type { BuiltinDecoder, FieldSink } from './layout.js';
import { gnttabCmdName, hypercallName } from './names.js';

/** TRC_PV_HYPERCALL_V2: hypercall entry with op and selected arguments. */
export const PV_HYPERCALL_V2 = 0x0020100d;
/** TRC_PV_HYPERCALL_SUBCALL: one entry of a multicall, same encoding as V2. */
export const PV_HYPERCALL_SUBCALL = 0x0020200e;

const HYPERCALL_MMU_UPDATE = 1;
const HYPERCALL_GRANT_TABLE_OP = 20;
const HYPERCALL_MMUEXT_OP = 26;
/** MMU_UPDATE_PREEMPTED: set in the count of a continued mmu_update/mmuext_op. */
const PREEMPTED = 0x80000000;
/** Grant-table commands keep their continuation state above bit 11. */
const GNTTAB_CMD_BITS = 12;

/** Continuation hints Xen leaves in the recorded arguments (arg0, arg1; undefined when absent) of a few hypercalls. */
function hypercallHints(op: number, arg0: number | undefined, arg1: number | undefined, sink: FieldSink): void {
  if (op === HYPERCALL_MMU_UPDATE || op === HYPERCALL_MMUEXT_OP) {
    if (arg1 !== undefined && (arg1 & PREEMPTED) !== 0) sink.number('preempted', 1, false);
  } else if (op === HYPERCALL_GRANT_TABLE_OP) {
    if (arg0 === undefined) return;
    const base = arg0 & ((1 << GNTTAB_CMD_BITS) - 1);
    emitCode(sink, 'cmd', base, gnttabCmdName(base));
    const state = arg0 >>> GNTTAB_CMD_BITS;
    if (state !== 0) sink.number('continuation', state, false);
  }
}

/** Names of the six hypercall argument fields. */
const ARG_NAMES = ['arg0', 'arg1', 'arg2', 'arg3', 'arg4', 'arg5'] as const;

/**
 * Decoder of the V2/SUBCALL encoding: word 0 = op (bits 0–19) and six 2-bit argument fields (bits 20–31: 00
 * absent, 01 one word, 10 two words low/high, 11 reserved); the present arguments follow in order as `arg<i>`.
 */
function hypercallDecoder(id: number, name: string): BuiltinDecoder {
  return builtinDecoder(decoderBase(id, name, {}), (words, start, count, sink) => {
    const n = clampCount(words, start, count);
    if (n === 0) return;
    const w0 = words[start]!;
    const op = w0 & 0xfffff;
    emitCode(sink, 'op', op, hypercallName(op));
    // The hints read 32-bit arguments only (a 64-bit one carries none).
    let arg0: number | undefined;
    let arg1: number | undefined;
    let k = 1;
    for (let i = 0; i < 6; i++) {
      const kind = (w0 >>> (20 + 2 * i)) & 3;
      if (kind === 0) continue;
      // A reserved width leaves the rest unparseable: it is shown raw.
      if (kind === 3) {
        sink.string(ARG_NAMES[i]!, 'reserved');
        break;
      }
      const width = kind === 1 ? 1 : 2;
      if (k + width > n) break;
      if (width === 1) {
        const value = words[start + k]!;
        sink.number(ARG_NAMES[i]!, value, false);
        if (i === 0) arg0 = value;
        else if (i === 1) arg1 = value;
      } else {
        sink.wide(ARG_NAMES[i]!, words[start + k]!, words[start + k + 1]!, false, false);
      }
      k += width;
    }
    hypercallHints(op, arg0, arg1, sink);
    emitRaw(words, start, k, n, sink);
  });
}

/** Decoders of the TRC_PV ids (0x00201xxx entry points, 0x0020200E multicall sub-calls). */
export function pvDecoders(): BuiltinDecoder[] {
  return [
    ...fromRows([
      // The pre-2012 hypercall record, kept for old traces: eax is the hypercall number.
      ...addressPair(0x00201001, 'hypercall_v1', 'rip:A eax:u32 op:@eax=hypercall'),
      // trapnr:15, use_error_code:1 and error_code:16 share one word.
      ...addressPair(0x00201003, 'pv_trap', 'rip:A trapnr:b15 use_error_code:b1 error_code:x16'),
      ...addressPair(0x00201004, 'pv_page_fault', 'rip:A addr:A error_code:x32'),
      ...addressPair(0x00201005, 'forced_invalid_op', 'rip:A'),
      ...addressPair(0x00201006, 'emulate_privop', 'rip:A'),
      ...addressPair(0x00201007, 'emulate_4gb', 'rip:A'),
      ...addressPair(0x00201008, 'math_state_restore', ''),
      ...addressPair(0x00201009, 'paging_fixup', 'rip:A addr:A'),
      ...addressPair(0x0020100a, 'gdt_ldt_mapping_fault', 'rip:A offset:A'),
      // The new PTE value comes first and is always 64-bit.
      ...addressPair(0x0020100b, 'ptwr_emulation', 'pte:x64 addr:A rip:A'),
      ...addressPair(0x0020100c, 'ptwr_emulation_pae', 'pte:x64 addr:A rip:A'),
    ]),
    hypercallDecoder(PV_HYPERCALL_V2, 'hypercall'),
    hypercallDecoder(PV_HYPERCALL_SUBCALL, 'hypercall_subcall'),
  ];
}
