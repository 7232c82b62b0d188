// SPDX-License-Identifier: MIT
/**
 * Diagnostics: every imperfection of the data is counted and located, never thrown and never hidden.
 * @module
 */
import { XenspanError } from './errors.js';

/** How bad a diagnostic is. `data_loss` means records are missing or were skipped. */
export type Severity = 'info' | 'data_loss' | 'error';

/** Every diagnostic code, with its severity and what it means. */
export const DIAGNOSTICS = {
  lost_records: { severity: 'data_loss', description: 'Xen dropped records on this pCPU (a TRC_LOST_RECORDS marker)' },
  truncated_window: { severity: 'data_loss', description: 'the input ended inside a window (xentrace killed or disk full)' },
  record_crosses_window: {
    severity: 'data_loss',
    description: 'a record runs past the end of its window: the rest of the window was skipped',
  },
  compressed_input_damaged: {
    severity: 'data_loss',
    description:
      'the compressed input is cut or corrupt: decoding stopped there, keeping what came before; or a zstd frame fails its content checksum: its records are kept but may be wrong, and decoding goes on',
  },
  window_cut_short: {
    severity: 'data_loss',
    description:
      'a CPU_CHANGE header appeared inside a window. Read as a stream: the window size was wrong, decoding resumed at that header; merged exactly (the windows chain up, so the size was right): the look-alike was skipped',
  },
  not_a_window: {
    severity: 'data_loss',
    description: 'bytes where a CPU_CHANGE window header belongs are not one: skipped to the next plausible window',
  },
  implausible_window: {
    severity: 'data_loss',
    description: 'a CPU_CHANGE header names an implausible pCPU or window size: treated as corruption',
  },
  tsc_backwards: { severity: 'error', description: "a record's TSC is lower than the previous one on the same pCPU" },
  missing_tsc_at_start: {
    severity: 'info',
    description: 'a record without TSC came before any TSC on its pCPU: it takes the next TSC of that pCPU',
  },
  late_record: {
    severity: 'error',
    description: 'stream merge: a record arrived after later records were already emitted (emitted out of order)',
  },
  sorter_forced_flush: {
    severity: 'info',
    description: 'stream merge: the memory cap forced records out before the round watermark allowed it',
  },
  unknown_event: { severity: 'info', description: 'an event id the catalogue does not know: decoded as raw words' },
  guest_record: { severity: 'info', description: 'a TRC_GUEST record injected by an HVM guest (decoded as raw words)' },
} as const satisfies Record<string, { severity: Severity; description: string }>;

/** A diagnostic code. */
export type DiagnosticCode = keyof typeof DIAGNOSTICS;

/** One located occurrence of a diagnostic. */
export interface DiagnosticEvent {
  readonly code: DiagnosticCode;
  readonly severity: Severity;
  /** pCPU concerned, when there is one. */
  readonly pcpu?: number;
  /** Byte offset in the (decompressed) input. */
  readonly offset?: number;
  /** One line for people: what was seen. */
  readonly message: string;
}

/** Receives diagnostics as they happen (for live output or `strict` mode). */
export type DiagnosticListener = (event: DiagnosticEvent) => void;

/**
 * Counts diagnostics by code and keeps the first few occurrences of each with their location.
 * One instance per run; every stage of that run reports into it.
 */
export class Diagnostics {
  /** Occurrences per code. */
  readonly counts: Partial<Record<DiagnosticCode, number>> = {};
  /** The first `samplesPerCode` occurrences of each code, in the order they happened. */
  readonly samples: DiagnosticEvent[] = [];
  readonly #samplesPerCode: number;
  readonly #listener: DiagnosticListener | undefined;

  constructor(options: { samplesPerCode?: number; onDiagnostic?: DiagnosticListener } = {}) {
    this.#samplesPerCode = options.samplesPerCode ?? 5;
    this.#listener = options.onDiagnostic;
  }

  /**
   * Records one occurrence. `message` may be a function so that hot callers build no string
   * for occurrences that are only counted.
   */
  report(code: DiagnosticCode, where: { pcpu?: number; offset?: number }, message: string | (() => string)): void {
    const count = (this.counts[code] ?? 0) + 1;
    this.counts[code] = count;
    if (count > this.#samplesPerCode && this.#listener === undefined) return;
    const event: DiagnosticEvent = {
      code,
      severity: DIAGNOSTICS[code].severity,
      ...(where.pcpu === undefined ? {} : { pcpu: where.pcpu }),
      ...(where.offset === undefined ? {} : { offset: where.offset }),
      message: typeof message === 'string' ? message : message(),
    };
    if (count <= this.#samplesPerCode) this.samples.push(event);
    this.#listener?.(event);
  }

  /**
   * Whether a listener takes each diagnostic as it happens (live output, `strict`): then they must come
   * when their records do, which is why an exact merge with helper threads is not used.
   */
  get live(): boolean {
    return this.#listener !== undefined;
  }

  /** Total occurrences of every code of a severity. */
  total(severity?: Severity): number {
    let sum = 0;
    for (const [code, n] of Object.entries(this.counts) as [DiagnosticCode, number][]) {
      if (severity === undefined || DIAGNOSTICS[code].severity === severity) sum += n;
    }
    return sum;
  }
}

/**
 * The diagnostics collector of a run, with an optional live listener; in `strict` mode the first
 * diagnostic that is not `info` throws `strict_violation` (which stops the run where it happened).
 */
export function createRunDiagnostics(options: { strict?: boolean; onDiagnostic?: DiagnosticListener }): Diagnostics {
  const strict = options.strict === true;
  const listener = options.onDiagnostic;
  if (!strict && listener === undefined) return new Diagnostics();
  return new Diagnostics({
    onDiagnostic: (event) => {
      listener?.(event);
      if (strict && DIAGNOSTICS[event.code].severity !== 'info') {
        throw new XenspanError('strict_violation', `strict: ${event.code}: ${event.message}`, {
          ...(event.offset === undefined ? {} : { offset: event.offset }),
        });
      }
    },
  });
}

/** `0x`-prefixed hex of a byte offset, for messages. */
export function formatOffset(offset: number): string {
  return `offset ${offset} (0x${offset.toString(16)})`;
}
