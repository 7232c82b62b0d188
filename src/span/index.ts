// SPDX-License-Identifier: MIT
/**
 * `xenspan/span`: timed events → spans. This release defines the plugin contract that span rules will
 * implement; the rules themselves (vCPU run slices, hypercalls with continuations, vmexits, domain
 * lifetimes, lost-record gaps) are the next stage of work.
 * @module
 */
import type { RecordBatch } from '../core/batch.js';

/** A reconstructed operation with W3C/OpenTelemetry-compatible ids. */
export interface Span {
  /** 32 lower-case hex digits. */
  readonly traceId: string;
  /** 16 lower-case hex digits. */
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  /** Unix or trace-relative nanoseconds, as the clock model says. */
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
}

/**
 * A plugin that turns records into spans. Plain object, registered explicitly with the span engine.
 * `events` lists the event ids it wants, so dispatch costs nothing for the others.
 */
export interface SpanRule {
  readonly id: string;
  readonly events: readonly number[];
  onRecord(batch: RecordBatch, row: number, emit: (span: Span) => void): void;
  onEnd?(emit: (span: Span) => void): void;
}
