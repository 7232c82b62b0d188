// SPDX-License-Identifier: MIT
/**
 * `xenspan stats`: text and JSON renderings of TraceStats.
 * @module
 */
import { EVENT_CLASSES } from '../core/classes.js';
import type { LostRecordsGap } from '../parse/lost.js';
import { MAX_LISTED_GAPS } from '../parse/stats.js';
import type { TraceStats } from '../parse/stats.js';

/** Gaps listed one per line in the table; `--json` lists up to MAX_LISTED_GAPS. */
const GAP_LINES = 20;

/** The JSON document of `stats --json` (TSCs as decimal strings: they exceed 2^53). */
export function statsToJson(stats: TraceStats): string {
  return JSON.stringify({
    records: stats.records,
    pcpus: stats.pcpus.map((p) => ({
      pcpu: p.pcpu,
      records: p.records,
      bytes: p.bytes,
      firstTsc: p.firstTsc === undefined ? null : String(p.firstTsc),
      lastTsc: p.lastTsc === undefined ? null : String(p.lastTsc),
    })),
    lost: {
      markers: stats.lost.markers,
      recordsLost: stats.lost.recordsLost,
      gaps: stats.lost.gaps.map((gap) => ({
        pcpu: gap.pcpu,
        records: gap.records,
        fromTsc: gap.fromTsc === undefined ? null : String(gap.fromTsc),
        toTsc: String(gap.toTsc),
        domid: gap.domid ?? null,
        vcpu: gap.vcpu ?? null,
        offset: gap.offset,
      })),
      gapsNotListed: stats.lost.gapsNotListed,
    },
    diagnostics: stats.diagnostics,
  });
}

/** A fixed-width table: one row per pCPU, one column per class that has any bytes. */
export function statsToText(stats: TraceStats, name: string): string {
  const classes = EVENT_CLASSES.filter((c) => stats.pcpus.some((p) => (p.bytes[c] ?? 0) > 0));
  const header = ['pcpu', 'records', ...classes, 'first_tsc', 'last_tsc'];
  const rows = stats.pcpus.map((p) => [
    String(p.pcpu),
    String(p.records),
    ...classes.map((c) => String(p.bytes[c] ?? 0)),
    p.firstTsc === undefined ? '-' : String(p.firstTsc),
    p.lastTsc === undefined ? '-' : String(p.lastTsc),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) => cells.map((cell, c) => cell.padStart(widths[c])).join('  ');
  const lines = [
    `${name}: ${stats.records} records on ${stats.pcpus.length} pCPU${stats.pcpus.length === 1 ? '' : 's'} (bytes per class)`,
    line(header),
    ...rows.map(line),
    `lost records: ${stats.lost.recordsLost} in ${stats.lost.markers} marker${stats.lost.markers === 1 ? '' : 's'}`,
    ...stats.lost.gaps.slice(0, GAP_LINES).map(gapLine),
  ];
  const more = stats.lost.markers - Math.min(GAP_LINES, stats.lost.gaps.length);
  if (more > 0) lines.push(`  … and ${more} more gaps (--json lists the first ${MAX_LISTED_GAPS})`);
  const diagnostics = Object.entries(stats.diagnostics);
  lines.push(
    diagnostics.length === 0 ? 'diagnostics: none' : `diagnostics: ${diagnostics.map(([code, n]) => `${code}=${n}`).join(' ')}`,
  );
  return `${lines.join('\n')}\n`;
}

function gapLine(gap: LostRecordsGap): string {
  const from = gap.fromTsc === undefined ? '?' : String(gap.fromTsc);
  const who = gap.domid === undefined ? '' : ` while d${gap.domid}v${gap.vcpu} ran`;
  return `  p${gap.pcpu}: ${gap.records} lost from TSC ${from} to ${gap.toTsc}${who} (marker at offset ${gap.offset})`;
}
