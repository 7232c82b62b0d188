// SPDX-License-Identifier: MIT
/**
 * TRC_SHADOW records (no TSC). Bits 8–9 of the id hold the guest's paging levels − 2 (not TRC_64_FLAG), which set
 * the width of the guest PTE (32-bit only for 2-level paging) and of the linear address (64-bit only for 4-level).
 * High-volume records that matter only for shadow-paging debugging: fields are decoded as Xen writes them, little
 * interpretation.
 * @module
 */
import { fromRows } from './layout.js';
import type { BuiltinDecoder, LayoutRow } from './layout.js';
import { PAGING_LEVEL_NAMES } from './names.js';

const SHADOW = 0x0040f000;

/** Decoders of the TRC_SHADOW ids (0x0040F0xx, 0x0040F1xx, 0x0040F2xx). */
export function shadowDecoders(): BuiltinDecoder[] {
  const rows: LayoutRow[] = [];
  for (let level = 0; level < PAGING_LEVEL_NAMES.length; level++) {
    const id = (event: number): number => SHADOW | (level << 8) | event;
    const fixed = [{ name: 'paging', value: PAGING_LEVEL_NAMES[level] }] as const;
    const va = level === 2 ? 'va:x64' : 'va:x32';
    const pte = level === 0 ? 'x32' : 'x64';
    const gfn = level === 0 ? 'gfn:x32' : 'gfn:x64';
    const withLevel = { fixed };
    rows.push(
      [id(0x01), 'shadow_not_shadow', `gl1e:${pte} ${va} flags:x32`, withLevel],
      [id(0x02), 'shadow_fast_propagate', va, withLevel],
      [id(0x03), 'shadow_fast_mmio', va, withLevel],
      [id(0x04), 'shadow_false_fast_path', va, withLevel],
      [id(0x05), 'shadow_mmio', va, withLevel],
      [id(0x06), 'shadow_fixup', `gl1e:${pte} ${va} flags:x32`, withLevel],
      [id(0x07), 'shadow_domf_dying', va, withLevel],
      // write_val is whatever bytes the guest wrote, up to one PTE's worth.
      [id(0x08), 'shadow_emulate', `gl1e:${pte} write_val:${pte} ${va} flags:x29 emulation_count:b3`, withLevel],
    );
    // The unshadow records gained the path flags in 4.19.
    const unshadow: readonly [number, string][] = [
      [0x09, 'shadow_unshadow_user'],
      [0x0a, 'shadow_unshadow_evtinj'],
      [0x0b, 'shadow_unshadow_unhandled'],
    ];
    for (const [event, name] of unshadow) {
      rows.push(
        [id(event), name, `${gfn} ${va}`, { fixed, until: '4.18' }],
        [id(event), name, `${gfn} ${va} flags:x32`, { fixed, since: '4.19' }],
      );
    }
    // Written from common code without the level bits, always with a 64-bit gfn; the other levels' ids are
    // decoded the same way in case a tool produced them.
    rows.push(
      [id(0x0c), 'shadow_wrmap_bf', 'gfn:x64'],
      [id(0x0d), 'shadow_prealloc_unpin', 'gfn:x64'],
      [id(0x0e), 'shadow_resync_full', 'gfn:x64'],
      [id(0x0f), 'shadow_resync_only', 'gfn:x64'],
    );
  }
  return fromRows(rows);
}
