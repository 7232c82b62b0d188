// SPDX-License-Identifier: MIT
/**
 * TRC_HVM records: VM entry/exit (TSC), handler records written between an exit and the next entry (no TSC), and
 * emulated-device timers and PIC plumbing (TSC).
 * @module
 */
import { WIDE_FLAG, addressPair, fromRows, layoutDecoder } from './layout.js';
import type { BuiltinDecoder, LayoutRow } from './layout.js';
import type { DecodedField } from './types.js';

/** TRC_HVM_NESTEDFLAG: entry/exit of a nested (L2) guest. */
const NESTED_FLAG = 0x400;

const NESTED: readonly DecodedField[] = [{ name: 'nested', value: 1 }];

function entryExitDecoders(): BuiltinDecoder[] {
  const out: BuiltinDecoder[] = [];
  for (const nested of [0, NESTED_FLAG]) {
    const fixed = nested === 0 ? {} : { fixed: NESTED };
    out.push(layoutDecoder(0x00081001 | nested, 'vmentry', '', fixed));
    for (const wide of [0, WIDE_FLAG]) {
      const rip = wide === 0 ? 'rip:x32' : 'rip:x64';
      const vmx = `exit_reason:x32 reason:@exit_reason=vmx_exit ${rip}`;
      const svm = `exit_reason:x32 reason:@exit_reason=svm_exit ${rip}`;
      const vmxId = 0x00081002 | wide | nested;
      // Before 4.19 SVM wrote its exits under the VMX ids: only the host's vendor tells them apart.
      out.push(layoutDecoder(vmxId, 'vmx_exit', vmx, { ...fixed, until: '4.18', vendor: 'intel' }));
      out.push(layoutDecoder(vmxId, 'svm_exit', svm, { ...fixed, until: '4.18', vendor: 'amd' }));
      out.push(layoutDecoder(vmxId, 'vmx_exit', vmx, { ...fixed, since: '4.19' }));
      out.push(layoutDecoder(0x00081003 | wide | nested, 'svm_exit', svm, { ...fixed, since: '4.19' }));
    }
  }
  return out;
}

function handlerRows(): LayoutRow[] {
  return [
    // Error code first, then the address: the order Xen writes (xenalyze reads it the other way round).
    ...addressPair(0x00082001, 'pf_xen', 'error_code:x32 va:A'),
    ...addressPair(0x00082002, 'pf_inject', 'error_code:x32 cr2:A'),
    [0x00082003, 'inj_exc', 'vector:u32 error_code:x32'],
    [0x00082004, 'inj_virq', 'vector:u32 fake:u32'],
    [0x00082005, 'reinj_virq', 'vector:u32'],
    // Legacy port I/O records (no current emitter; IOPORT_* replaced them).
    [0x00082006, 'io_read', 'port:x32 size:u32'],
    [0x00082007, 'io_write', 'port:x32 size:u32'],
    ...addressPair(0x00082008, 'cr_read', 'cr:u32 value:A'),
    ...addressPair(0x00082009, 'cr_write', 'cr:u32 value:A'),
    [0x0008200a, 'dr_read', ''],
    [0x0008200b, 'dr_write', ''],
    [0x0008200c, 'msr_read', 'msr:x32 value:x64'],
    [0x0008200d, 'msr_write', 'msr:x32 value:x64'],
    [0x0008200e, 'cpuid', 'leaf:x32 subleaf:x32 eax:x32 ebx:x32 ecx:x32 edx:x32'],
    // VMX records the vector; SVM records nothing.
    [0x0008200f, 'intr', 'vector:u32'],
    [0x00082010, 'nmi', ''],
    [0x00082011, 'smi', ''],
    // eax is the hypercall number for both VMCALL and VMMCALL; no arguments are recorded.
    [0x00082012, 'vmmcall', 'eax:x32 op:@eax=hypercall'],
    [0x00082013, 'hlt', 'intpending:u32'],
    ...addressPair(0x00082014, 'invlpg', 'invlpga:u32 va:A'),
    [0x00082015, 'mce', ''],
    // Port/MMIO accesses: 0x200 marks a write, 0x100 a 64-bit address (then the data is 64-bit too);
    // the data word(s) are absent when the data went through guest memory.
    ...addressPair(0x00082016, 'ioport_read', 'port:A data:A'),
    ...addressPair(0x00082216, 'ioport_write', 'port:A data:A'),
    ...addressPair(0x00082017, 'iomem_read', 'addr:A data:A'),
    ...addressPair(0x00082217, 'iomem_write', 'addr:A data:A'),
    [0x00082018, 'clts', ''],
    ...addressPair(0x00082019, 'lmsw', 'value:A'),
    // The guest-visible TSC returned by RDTSC (eax, edx).
    [0x0008201a, 'rdtsc', 'tsc:x64'],
    [0x00082020, 'intr_window', 'vector:u32 source:u32=intsrc injected:i32'],
    [0x00082021, 'npf', 'gpa:x64 mfn:x64 qualification:x32 p2mt:u32'],
    [0x00082022, 'realmode_emulate', ''],
    [0x00082023, 'trap', 'vector:u32'],
    [0x00082024, 'trap_debug', 'qualification:x32'],
    [0x00082025, 'vlapic', ''],
    [0x00082126, 'xcr_read', 'xcr:u32 value:x64'],
    [0x00082127, 'xcr_write', 'xcr:u32 value:x64'],
  ];
}

function emulRows(): LayoutRow[] {
  // All times are nanoseconds.
  return [
    [0x00084001, 'hpet_start_timer', 'timer:u32 irq:u32 delta_ns:u64 period_ns:u64'],
    // period_ns is 0 for a one-shot timer.
    [0x00084002, 'pit_start_timer', 'delta_ns:u32 period_ns:u32'],
    [0x00084003, 'rtc_start_timer', 'delta_ns:u32 period_ns:u32'],
    [0x00084004, 'lapic_start_timer', 'delta_ns:u64 period_ns:u64 irq:u32'],
    [0x00084005, 'hpet_stop_timer', 'timer:u32'],
    [0x00084006, 'pit_stop_timer', ''],
    [0x00084007, 'rtc_stop_timer', ''],
    [0x00084008, 'lapic_stop_timer', ''],
    [0x00084009, 'pit_timer_cb', ''],
    [0x0008400a, 'lapic_timer_cb', ''],
    [0x0008400b, 'pic_int_output', 'int_output:u32 is_master:u32 irq:u32'],
    [0x0008400c, 'pic_kick', 'irq:u32'],
    [0x0008400d, 'pic_intack', 'is_master:u32 irq:u32'],
    [0x0008400e, 'pic_posedge', 'irq:u32'],
    [0x0008400f, 'pic_negedge', 'irq:u32'],
    [0x00084010, 'pic_pend_irq_call', 'accept:u32 int_output:u32'],
    [0x00084011, 'lapic_pic_intr', 'target:u32 accept:u32'],
  ];
}

/** Decoders of the TRC_HVM ids (0x00081xxx entry/exit, 0x00082xxx handlers, 0x00084xxx emulated devices). */
export function hvmDecoders(): BuiltinDecoder[] {
  return [...entryExitDecoders(), ...fromRows(handlerRows()), ...fromRows(emulRows())];
}
