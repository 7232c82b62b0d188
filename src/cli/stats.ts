// SPDX-License-Identifier: MIT
/**
 * `xenspan stats`: text and JSON renderings of TraceStats.
 * @module
 */
import { EVENT_CLASSES } from '../core/classes.js';
import type { TraceStats } from '../parse/stats.js';

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
    lost: stats.lost,
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
  ];
  const diagnostics = Object.entries(stats.diagnostics);
  lines.push(
    diagnostics.length === 0 ? 'diagnostics: none' : `diagnostics: ${diagnostics.map(([code, n]) => `${code}=${n}`).join(' ')}`,
  );
  return `${lines.join('\n')}\n`;
}
