// SPDX-License-Identifier: MIT
// What the real xenalyze printed for the traces in ../shared/traces (`NAME.xenalyze-summary.txt`,
// `NAME.xenalyze-dump.txt.gz`), read back as figures the tests compare with. How xenalyze computes them is
// taken from its source (tools/xentrace/xenalyze.c of Xen 4.17.7, the version that made these files).
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { TRC_LOST_RECORDS } from '../../src/core/batch.js';
import type { RecordBatch } from '../../src/core/batch.js';
import { sharedTracesDir } from './shared.js';

/** xenalyze's default `--cpu-hz` (DEFAULT_CPU_HZ), used for the third-party trace whose frequency is unknown. */
const XENALYZE_DEFAULT_HZ = 2_400_000_000;

/**
 * The TSC frequency xenalyze worked with for a trace. The outputs were made with `--cpu-hz=<cpu_mhz>M`
 * (`cpu_mhz` of `xl info` in NAME.meta.txt), which xenalyze parses with `strtof` and multiplies as a float by
 * 1e6 before truncating to an integer (parse_cpu_hz); without metadata it used its default, 2.4 GHz.
 */
export function xenalyzeCpuHz(name: string): number {
  const path = join(sharedTracesDir, `${name}.meta.txt`);
  const mhz = existsSync(path) ? /cpu_mhz\s*:\s*([\d.]+)/.exec(readFileSync(path, 'utf8'))?.[1] : undefined;
  if (mhz === undefined) return XENALYZE_DEFAULT_HZ;
  // A float times 1e6 (exact in a float) is exact in a double, so one fround rounds it as C's float product does.
  return Math.trunc(Math.fround(Math.fround(Number(mhz)) * 1e6));
}

/**
 * The time column of `xenalyze --dump-all` for a record whose TSC is `tsc`: `((tsc - zero) << 10) / qhz` ns
 * with `qhz = (hz << 10) / 1e9` (abs_cycles_to_time: a quantised frequency, so one ns step is about 2.6 cycles
 * at 2.6 GHz), printed as `s.nnnnnnnnn`; blank ('') at or before time zero.
 */
export function xenalyzeTime(tsc: bigint, zero: bigint, hz: number): string {
  if (tsc <= zero) return '';
  const qhz = (BigInt(hz) << 10n) / 1_000_000_000n;
  const ns = ((tsc - zero) << 10n) / qhz;
  return `${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`;
}

/**
 * xenalyze's time zero (P.f.first_tsc): the order TSC of the first record it processes that has a TSC. It
 * merges pCPUs by order TSC, so that is the smallest, over pCPUs, of the order TSC of each pCPU's first record
 * with a TSC — its own TSC, except for a lost-records record, which xenalyze processes first at the TSC of the
 * first lost record (its words 2–3). Feed it batches in file order.
 */
export class XenalyzeTimeZero {
  readonly #seen = new Set<number>();
  #zero: bigint | undefined;

  add(batch: RecordBatch): void {
    for (let i = 0; i < batch.length; i++) {
      const header = batch.header[i];
      if (header >>> 31 !== 1 || this.#seen.has(batch.pcpu[i])) continue;
      this.#seen.add(batch.pcpu[i]);
      const at = batch.payloadIndex[i];
      const order =
        (header & 0x0fffffff) === TRC_LOST_RECORDS && ((header >>> 28) & 7) === 4
          ? (BigInt(batch.words[at + 3]) << 32n) | BigInt(batch.words[at + 2])
          : (BigInt(batch.tscHi[i]) << 32n) | BigInt(batch.tscLo[i]);
      if (this.#zero === undefined || order < this.#zero) this.#zero = order;
    }
  }

  get value(): bigint {
    if (this.#zero === undefined) throw new Error('no record with a TSC');
    return this.#zero;
  }
}

/**
 * `Total time: X seconds` of `xenalyze --summary`: (last − first order TSC processed) / cpu_hz, two decimals,
 * as printed.
 */
export function xenalyzeTotalTime(name: string): string {
  const text = readFileSync(join(sharedTracesDir, `${name}.xenalyze-summary.txt`), 'utf8');
  const match = /^Total time: (\d+\.\d\d) seconds/m.exec(text);
  if (!match) throw new Error(`${name}.xenalyze-summary.txt has no "Total time" line`);
  return match[1]!;
}

export function xenalyzeDumpPath(name: string): string {
  return join(sharedTracesDir, `${name}.xenalyze-dump.txt.gz`);
}

/** What `xenalyze --dump-all` printed for a trace, record by record. */
export interface XenalyzeDump {
  /**
   * Per pCPU, in the order printed (for one pCPU: file order), the time column of every line that carries a
   * record's dump header ('' where xenalyze leaves it blank: time zero, or a record with no TSC before the
   * first one of its pCPU, which xenalyze gives TSC 0).
   */
  readonly times: Map<number, string[]>;
  /**
   * Records xenalyze reports only as `Unknown hvm event: <id>` (hvm_process: an HVM record that is neither
   * VMENTRY, VMEXIT nor a handler record), a line with neither time nor pCPU: counted by event id.
   */
  readonly unknownHvm: Map<number, number>;
}

/** Characters of xenalyze's pCPU string other than the `x` of the record's pCPU (pcpu_string_draw). */
const PCPU_STRING_OTHERS = /^[ |.l\-0-9]*$/;

/**
 * Reads `NAME.xenalyze-dump.txt.gz`. A record's line is `<mark><time> <pcpu string> …`: the mark is `]` or `!`
 * (HVM lines) or a space; the time is `%3u.%09u` or, at time zero, 14 blanks; the pCPU string has one character
 * per active pCPU and an `x` at the record's pCPU. Every other line (warnings on stderr, which the file
 * interleaves, `[vla]`/`[w2h]` notes, summaries of domains) names no record, except:
 * - `lost_records end` lines, printed with a pCPU string but no time when xenalyze processes a lost-records
 *   record the second time (process_lost_records_end): the record already had its own line, so they are
 *   skipped;
 * - `Unknown hvm event: <id>`: a record, counted in {@link XenalyzeDump.unknownHvm}.
 */
export function readXenalyzeDump(name: string): XenalyzeDump {
  const text = gunzipSync(readFileSync(xenalyzeDumpPath(name))).toString('latin1');
  const times = new Map<number, string[]>();
  const unknownHvm = new Map<number, number>();
  const timed = /^[\]! ] *(\d+\.\d{9}) /;
  const blank = /^[\]! ] {15}/;
  for (const line of text.split('\n')) {
    let column: number;
    let time: string;
    const match = timed.exec(line);
    if (match) {
      column = match[0].length;
      time = match[1]!;
    } else if (blank.test(line)) {
      column = 16;
      time = '';
    } else {
      const unknown = /^Unknown hvm event: ([0-9a-f]+)$/.exec(line);
      if (unknown) {
        const id = Number.parseInt(unknown[1]!, 16);
        unknownHvm.set(id, (unknownHvm.get(id) ?? 0) + 1);
      }
      continue;
    }
    if (line.includes(' lost_records end')) continue;
    const x = line.indexOf('x', column);
    if (x < 0 || !PCPU_STRING_OTHERS.test(line.slice(column, x))) continue;
    const pcpu = x - column;
    let list = times.get(pcpu);
    if (list === undefined) times.set(pcpu, (list = []));
    list.push(time);
  }
  return { times, unknownHvm };
}
