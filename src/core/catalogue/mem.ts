// SPDX-License-Identifier: MIT
/**
 * TRC_MEM records: grant operations (TSC) and p2m / PoD / reservation changes (no TSC).
 * @module
 */
import { fromRows } from './layout.js';
import type { BuiltinDecoder } from './layout.js';

/** Decoders of the TRC_MEM ids (0x0010F0xx). */
export function memDecoders(): BuiltinDecoder[] {
  return fromRows([
    // The domain whose grant is used.
    [0x0010f001, 'grant_map', 'domid:u32'],
    [0x0010f002, 'grant_unmap', 'domid:u32'],
    [0x0010f003, 'grant_transfer', 'domid:u32'],
    [0x0010f004, 'set_p2m_entry', 'gfn:x64 mfn:x64 p2mt:u32 domid:u16 order:u16'],
    // Up to 4.17 these records packed `int d:16, order:16` into one word and leaked a word of stack rubble after
    // it (the splinter record had no order at all). 4.18 widened both to full words. The word count did not change,
    // so only the version tells the layouts apart.
    [0x0010f005, 'decrease_reservation', 'gfn:x64 domid:i16 order:i16 _:32', { until: '4.17' }],
    [0x0010f005, 'decrease_reservation', 'gfn:x64 domid:u32 order:u32', { since: '4.18' }],
    [0x0010f010, 'pod_populate', 'gfn:x64 mfn:x64 domid:i16 order:i16 _:32', { until: '4.17' }],
    [0x0010f010, 'pod_populate', 'gfn:x64 mfn:x64 domid:u32 order:u32', { since: '4.18' }],
    [0x0010f011, 'pod_zero_reclaim', 'gfn:x64 mfn:x64 domid:i16 order:i16 _:32', { until: '4.17' }],
    [0x0010f011, 'pod_zero_reclaim', 'gfn:x64 mfn:x64 domid:u32 order:u32', { since: '4.18' }],
    [0x0010f012, 'pod_superpage_splinter', 'gfn:x64 domid:i16 _:16 _:32', { until: '4.17' }],
    [0x0010f012, 'pod_superpage_splinter', 'gfn:x64 domid:u32 order:u32', { since: '4.18' }],
  ]);
}
