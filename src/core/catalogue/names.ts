// SPDX-License-Identifier: MIT
/**
 * Code → name tables used by the decoders: hypercalls, exit reasons, runstates, shutdown reasons, grant-table
 * commands. Facts from Xen's public headers and the Intel SDM / AMD APM; the names are ours. Literal tables only;
 * anything computed is built on first use.
 * @module
 */

/** A name lookup: undefined when the code has no name. */
export type NameTable = (code: number) => string | undefined;

/** vCPU runstates in the order Xen numbers them (RUNSTATE_running = 0 …). */
export const RUNSTATE_NAMES = ['running', 'runnable', 'blocked', 'offline'] as const;

const HYPERCALLS: Readonly<Record<number, string>> = {
  0: 'set_trap_table',
  1: 'mmu_update',
  2: 'set_gdt',
  3: 'stack_switch',
  4: 'set_callbacks',
  5: 'fpu_taskswitch',
  6: 'sched_op_compat',
  7: 'platform_op',
  8: 'set_debugreg',
  9: 'get_debugreg',
  10: 'update_descriptor',
  12: 'memory_op',
  13: 'multicall',
  14: 'update_va_mapping',
  15: 'set_timer_op',
  16: 'event_channel_op_compat',
  17: 'xen_version',
  18: 'console_io',
  19: 'physdev_op_compat',
  20: 'grant_table_op',
  21: 'vm_assist',
  22: 'update_va_mapping_otherdomain',
  23: 'iret',
  24: 'vcpu_op',
  25: 'set_segment_base',
  26: 'mmuext_op',
  27: 'xsm_op',
  28: 'nmi_op',
  29: 'sched_op',
  30: 'callback_op',
  // Removed from the hypervisor in 4.22, but the number stays reserved and a guest may still issue it.
  31: 'xenoprof_op',
  32: 'event_channel_op',
  33: 'physdev_op',
  34: 'hvm_op',
  35: 'sysctl',
  36: 'domctl',
  37: 'kexec_op',
  38: 'tmem_op',
  39: 'argo_op',
  40: 'xenpmu_op',
  41: 'dm_op',
  42: 'hypfs_op',
  // arch_0 and arch_1 have x86 names; the rest are unused slots.
  48: 'mca',
  49: 'paging_domctl_cont',
  50: 'arch_2',
  51: 'arch_3',
  52: 'arch_4',
  53: 'arch_5',
  54: 'arch_6',
  55: 'arch_7',
};

/** Hypercall number → name (public/xen.h), e.g. 36 → 'domctl'. */
export function hypercallName(op: number): string | undefined {
  return Object.hasOwn(HYPERCALLS, op) ? HYPERCALLS[op] : undefined;
}

const SHUTDOWN_REASONS = ['poweroff', 'reboot', 'suspend', 'crash', 'watchdog', 'soft_reset'] as const;

const GNTTAB_CMDS = [
  'map_grant_ref',
  'unmap_grant_ref',
  'setup_table',
  'dump_table',
  'transfer',
  'copy',
  'query_size',
  'unmap_and_replace',
  'set_version',
  'get_status_frames',
  'get_version',
  'swap_grant_ref',
  'cache_flush',
] as const;

/** Where a pending HVM interrupt comes from (enum hvm_intsrc). */
const INTERRUPT_SOURCES = ['none', 'pic', 'lapic', 'nmi', 'mce', 'vector'] as const;

/** Grant-table command (GNTTABOP_*) → name. */
export function gnttabCmdName(cmd: number): string | undefined {
  return cmd >= 0 && cmd < GNTTAB_CMDS.length ? GNTTAB_CMDS[cmd] : undefined;
}

/** Intel basic exit reasons (SDM vol. 3 appendix C); the high bits of the field are flags. */
const VMX_EXITS: Readonly<Record<number, string>> = {
  0: 'exception_nmi',
  1: 'external_interrupt',
  2: 'triple_fault',
  3: 'init',
  4: 'sipi',
  5: 'io_smi',
  6: 'other_smi',
  7: 'interrupt_window',
  8: 'nmi_window',
  9: 'task_switch',
  10: 'cpuid',
  11: 'getsec',
  12: 'hlt',
  13: 'invd',
  14: 'invlpg',
  15: 'rdpmc',
  16: 'rdtsc',
  17: 'rsm',
  18: 'vmcall',
  19: 'vmclear',
  20: 'vmlaunch',
  21: 'vmptrld',
  22: 'vmptrst',
  23: 'vmread',
  24: 'vmresume',
  25: 'vmwrite',
  26: 'vmxoff',
  27: 'vmxon',
  28: 'cr_access',
  29: 'dr_access',
  30: 'io_instruction',
  31: 'msr_read',
  32: 'msr_write',
  33: 'invalid_guest_state',
  34: 'msr_loading',
  36: 'mwait',
  37: 'monitor_trap_flag',
  39: 'monitor',
  40: 'pause',
  41: 'mce_during_vmentry',
  43: 'tpr_below_threshold',
  44: 'apic_access',
  45: 'eoi_induced',
  46: 'gdtr_idtr_access',
  47: 'ldtr_tr_access',
  48: 'ept_violation',
  49: 'ept_misconfig',
  50: 'invept',
  51: 'rdtscp',
  52: 'preemption_timer',
  53: 'invvpid',
  54: 'wbinvd',
  55: 'xsetbv',
  56: 'apic_write',
  57: 'rdrand',
  58: 'invpcid',
  59: 'vmfunc',
  60: 'encls',
  61: 'rdseed',
  62: 'pml_full',
  63: 'xsaves',
  64: 'xrstors',
  67: 'umwait',
  68: 'tpause',
  74: 'bus_lock',
  75: 'notify',
};

/** x86 exception mnemonics by vector, for SVM's per-exception exit codes. */
const EXCEPTIONS: Readonly<Record<number, string>> = {
  0: 'de',
  1: 'db',
  2: 'nmi',
  3: 'bp',
  4: 'of',
  5: 'br',
  6: 'ud',
  7: 'nm',
  8: 'df',
  10: 'ts',
  11: 'np',
  12: 'ss',
  13: 'gp',
  14: 'pf',
  16: 'mf',
  17: 'ac',
  18: 'mc',
  19: 'xm',
  20: 've',
  21: 'cp',
  28: 'hv',
  29: 'vc',
  30: 'sx',
};

/** SVM exit codes from 0x60 on, in order (AMD APM vol. 2 appendix C). */
const SVM_EXITS_FROM_0X60 = [
  'intr',
  'nmi',
  'smi',
  'init',
  'vintr',
  'cr0_sel_write',
  'idtr_read',
  'gdtr_read',
  'ldtr_read',
  'tr_read',
  'idtr_write',
  'gdtr_write',
  'ldtr_write',
  'tr_write',
  'rdtsc',
  'rdpmc',
  'pushf',
  'popf',
  'cpuid',
  'rsm',
  'iret',
  'swint',
  'invd',
  'pause',
  'hlt',
  'invlpg',
  'invlpga',
  'ioio',
  'msr',
  'task_switch',
  'ferr_freeze',
  'shutdown',
  'vmrun',
  'vmmcall',
  'vmload',
  'vmsave',
  'stgi',
  'clgi',
  'skinit',
  'rdtscp',
  'icebp',
  'wbinvd',
  'monitor',
  'mwait',
  'mwait_conditional',
  'xsetbv',
  'rdpru',
] as const;

const SVM_EXITS_HIGH: Readonly<Record<number, string>> = {
  0xa5: 'bus_lock',
  0x400: 'npf',
  0x401: 'avic_incomplete_ipi',
  0x402: 'avic_noaccel',
  0x403: 'vmgexit',
  // VMEXIT_INVALID (-1) truncated to 32 bits by the trace record.
  0xffffffff: 'invalid',
};

function svmExitName(code: number): string | undefined {
  if (code < 0x10) return `cr${code}_read`;
  if (code < 0x20) return `cr${code - 0x10}_write`;
  if (code < 0x30) return `dr${code - 0x20}_read`;
  if (code < 0x40) return `dr${code - 0x30}_write`;
  if (code < 0x60) {
    const vector = code - 0x40;
    return `exception_${Object.hasOwn(EXCEPTIONS, vector) ? EXCEPTIONS[vector] : String(vector)}`;
  }
  if (code < 0x60 + SVM_EXITS_FROM_0X60.length) return SVM_EXITS_FROM_0X60[code - 0x60];
  return Object.hasOwn(SVM_EXITS_HIGH, code) ? SVM_EXITS_HIGH[code] : undefined;
}

function fromList(list: readonly string[]): NameTable {
  return (code) => (code >= 0 && code < list.length ? list[code] : undefined);
}

function fromRecord(record: Readonly<Record<number, string>>): NameTable {
  return (code) => (Object.hasOwn(record, code) ? record[code] : undefined);
}

/** Shadow paging levels as encoded in bits 8–9 of TRC_SHADOW ids (levels − 2). */
export const PAGING_LEVEL_NAMES = ['2level', 'pae', '4level'] as const;

/** The name table a layout refers to with `=key`; undefined for an unknown key. */
export function nameTable(key: string): NameTable | undefined {
  switch (key) {
    case 'hypercall':
      return hypercallName;
    case 'shutdown':
      return fromList(SHUTDOWN_REASONS);
    case 'runstate':
      return fromList(RUNSTATE_NAMES);
    case 'intsrc':
      return fromList(INTERRUPT_SOURCES);
    case 'vmx_exit': {
      // The basic exit reason sits in the low 16 bits; bit 31 (entry failure) and others are flags.
      const basic = fromRecord(VMX_EXITS);
      return (code) => basic(code & 0xffff);
    }
    case 'svm_exit':
      return svmExitName;
    default:
      return undefined;
  }
}
