// SPDX-License-Identifier: MIT
// Access to ../shared (real traces and reference outputs). Tests that need it skip, with a message, when absent.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const sharedTracesDir = fileURLToPath(new URL('../../../shared/traces/', import.meta.url));
export const hasShared = existsSync(sharedTracesDir);
if (!hasShared) {
  // One line so that a run outside this repo says why the real-trace cases were skipped.
  process.stderr.write(`xenspan tests: ${sharedTracesDir} is absent; real-trace cases are skipped\n`);
}

/** Names of the real plain traces in ../shared/traces (without extension); see {@link compressedTraceNames}. */
export function realTraceNames(): string[] {
  if (!hasShared) return [];
  return readdirSync(sharedTracesDir)
    .filter((f) => f.endsWith('.xentrace'))
    .map((f) => f.replace(/\.xentrace$/, ''))
    .sort();
}

export function tracePath(name: string): string {
  return join(sharedTracesDir, `${name}.xentrace`);
}

/** Extensions of the compressed real traces, which xenspan must read as streams. */
const COMPRESSED_EXTENSIONS = ['zst', 'gz', 'bz2'] as const;

/**
 * Names of the real compressed traces in ../shared/traces (`NAME.xentrace.zst`, `.gz`, `.bz2`; without
 * extension): bench-large, 324.7 MB once decompressed. Tests read them only as streams from the file
 * ({@link compressedTracePath}), never whole into memory.
 */
export function compressedTraceNames(): string[] {
  if (!hasShared) return [];
  const pattern = new RegExp(`\\.xentrace\\.(?:${COMPRESSED_EXTENSIONS.join('|')})$`);
  return readdirSync(sharedTracesDir)
    .filter((f) => pattern.test(f))
    .map((f) => f.replace(pattern, ''))
    .sort();
}

export function compressedTracePath(name: string): string {
  for (const extension of COMPRESSED_EXTENSIONS) {
    const path = join(sharedTracesDir, `${name}.xentrace.${extension}`);
    if (existsSync(path)) return path;
  }
  throw new Error(`no compressed trace named ${name} in ${sharedTracesDir}`);
}

/** Size of the plain trace when it was captured: the `ls -l` listing in NAME.meta.txt. */
export function metaTraceBytes(name: string): number | undefined {
  const path = join(sharedTracesDir, `${name}.meta.txt`);
  if (!existsSync(path)) return undefined;
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const listing = new RegExp(`^\\S+\\s+\\d+\\s+\\S+\\s+\\S+\\s+(\\d+) .*/${escaped}\\.xentrace$`, 'm');
  const match = listing.exec(readFileSync(path, 'utf8'));
  return match ? Number(match[1]) : undefined;
}

/** Records of a trace in millions as ../shared/traces/README.md states it (`18.6 M records`), when it does. */
export function readmeRecordMillions(name: string): number | undefined {
  const row = readFileSync(join(sharedTracesDir, 'README.md'), 'utf8')
    .split('\n')
    .find((line) => line.startsWith(`| \`${name}.`) || line.startsWith(`| \`${name}\``));
  const match = row === undefined ? null : /([\d.]+) M records/.exec(row);
  return match ? Number(match[1]) : undefined;
}

export function readTrace(name: string): Uint8Array {
  return new Uint8Array(readFileSync(tracePath(name)));
}

/** The per-pCPU class volumes of a xenalyze `--summary` output ("--- Log volume summary ---"). */
export function xenalyzeVolumes(name: string): Map<number, Record<string, number>> {
  const text = readFileSync(join(sharedTracesDir, `${name}.xenalyze-summary.txt`), 'utf8');
  const volumes = new Map<number, Record<string, number>>();
  const start = text.indexOf('--- Log volume summary ---');
  if (start < 0) return volumes;
  let current: Record<string, number> | undefined;
  for (const line of text.slice(start).split('\n').slice(1)) {
    const cpu = /^ - cpu (\d+) -$/.exec(line);
    if (cpu) {
      current = {};
      volumes.set(Number(cpu[1]), current);
      continue;
    }
    const klass = /^ (\w+)\s*:\s+(\d+)$/.exec(line);
    if (klass && current) {
      current[klass[1]] = Number(klass[2]);
      continue;
    }
    if (/^ \+-/.test(line)) continue; // sub-volumes (hvm vmentry/vmexit/handler, sched verbose)
    if (current) break;
  }
  return volumes;
}

/** TSC frequency in Hz from a trace's capture metadata (`cpu_mhz` of `xl info`), when present. */
export function metaCpuHz(name: string): number | undefined {
  const path = join(sharedTracesDir, `${name}.meta.txt`);
  if (!existsSync(path)) return undefined;
  const match = /cpu_mhz\s*:\s*([\d.]+)/.exec(readFileSync(path, 'utf8'));
  return match ? Math.round(Number(match[1]) * 1e6) : undefined;
}
