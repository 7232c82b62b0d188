// SPDX-License-Identifier: MIT
/**
 * `xenspan/export`: spans → OTLP, Chrome/Perfetto JSON, CSV. This release defines the exporter contract
 * (after OpenTelemetry JS sdk-trace-base, promise-based); the exporters are the next stage of work.
 * @module
 */
import type { Span } from '../span/index.js';

/** Outcome of an export. */
export type ExportResult =
  | { readonly status: 'success'; readonly spans: number }
  | { readonly status: 'failure'; readonly error: Error };

/** A plugin that writes spans somewhere. Plain object, registered explicitly. */
export interface Exporter {
  readonly id: string;
  write(spans: readonly Span[]): void | Promise<void>;
  end(): Promise<ExportResult>;
}
