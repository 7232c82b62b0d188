// SPDX-License-Identifier: MIT
/**
 * The pipeline: composes the stages (bytes → records → …) behind a few calls. Later stages (clock, span,
 * export) join here as they land; each stage also stays usable on its own from its subpath.
 * @module
 */
import { EVENT_MASK, RECORD_FLAGS, tscOf } from './batch.js';
import type { RecordBatch } from './batch.js';
import { UnknownEventReporter, createCatalogue } from './catalogue/index.js';
import type { EventCatalogue, EventDecoder, CpuVendor, XenVersion } from './catalogue/index.js';
import { createRunDiagnostics } from './diagnostics.js';
import type { Diagnostics } from './diagnostics.js';
import type { DiagnosticListener } from './diagnostics.js';
import type { ByteInput } from './io.js';
import { traceOptionsSchema, validateOptions } from './options.js';
import { forEachRecordBatch } from '../parse/decode.js';
import type { DecodeReport, MergeMode } from '../parse/decode.js';
import type { SliceMergeHelper } from '../parse/slices.js';
import type { Decompressor } from '../parse/compress/index.js';
import { ContextColumns } from '../parse/context.js';
import { RecordFilter, filtersAnything } from '../parse/filter.js';
import type { RecordFilterOptions } from '../parse/filter.js';

/** Options of a decoding run. */
export interface TraceOptions {
  /** Xen version that wrote the trace (payload layouts differ). Default '4.17'. */
  readonly xenVersion?: XenVersion;
  /** Host CPU vendor; before Xen 4.19 AMD SVM exits used the VMX ids. Default 'intel'. */
  readonly cpuVendor?: CpuVendor;
  /** How pCPUs are merged; see MergeMode. Default 'auto'. */
  readonly merge?: MergeMode;
  readonly batchSize?: number;
  readonly maxBufferedRecords?: number;
  readonly skewSlackCycles?: number;
  /** Throw `strict_violation` at the first data-loss or error diagnostic. */
  readonly strict?: boolean;
  readonly filter?: RecordFilterOptions;
  /** Extra event decoders (plugins), e.g. for TRC_GUEST ids; they override built-ins. */
  readonly decoders?: readonly EventDecoder[];
  /** Called for every diagnostic as it happens. */
  readonly onDiagnostic?: DiagnosticListener;
  /** Called between reads; a returned promise makes reading wait (for slow consumers). */
  readonly backpressure?: () => Promise<void> | undefined;
  /** Fill {@link TraceRun.context} for every batch (the vCPU running on each row's pCPU). */
  readonly trackContext?: boolean;
  /** Threads that take part in an exact merge (see `DecodeOptions.helpers`). */
  readonly helpers?: readonly SliceMergeHelper[];
  /** Decompresses compressed input (see `DecodeOptions.decompressor`). */
  readonly decompressor?: Decompressor;
}

/** State of a run handed to every batch callback. */
export interface TraceRun {
  readonly setup: TraceSetup;
  /** TSC of the first record of the whole trace in time order (before filtering): time zero. */
  originTsc: bigint | undefined;
  /**
   * With `trackContext` (or a domain/vCPU filter): the running vCPU of each row of the current batch,
   * computed before filtering. BORROWED like the batch.
   */
  readonly context: ContextColumns | undefined;
}

/** What a run needs besides the input, built once from validated options. */
export interface TraceSetup {
  readonly catalogue: EventCatalogue;
  readonly diagnostics: Diagnostics;
  readonly options: TraceOptions;
}

/** Validates options and builds the catalogue and diagnostics of a run. */
export function setUpTrace(options: TraceOptions = {}): TraceSetup {
  validateOptions(traceOptionsSchema, options);
  const catalogue = createCatalogue({
    ...(options.xenVersion === undefined ? {} : { xenVersion: options.xenVersion }),
    ...(options.cpuVendor === undefined ? {} : { cpuVendor: options.cpuVendor }),
    ...(options.decoders === undefined ? {} : { decoders: options.decoders }),
  });
  return { catalogue, diagnostics: createRunDiagnostics(options), options };
}

/**
 * Decodes a trace into batches in global time order, filtered as asked. `onBatch` gets BORROWED batches.
 * @example
 * const { report } = await decodeTrace(bytes, (batch) => { n += batch.length }, { filter: { domains: [2] } });
 */
export async function decodeTrace(
  input: ByteInput,
  onBatch: (batch: RecordBatch, run: TraceRun) => void,
  options: TraceOptions = {},
): Promise<{ readonly report: DecodeReport; readonly setup: TraceSetup }> {
  const setup = setUpTrace(options);
  const filter =
    options.filter !== undefined && filtersAnything(options.filter)
      ? new RecordFilter(options.filter, setup.catalogue)
      : undefined;
  const context = options.trackContext === true || filter?.needsContext === true ? new ContextColumns() : undefined;
  const run: TraceRun = { setup, originTsc: undefined, context };
  const unknown = new UnknownEventReporter(setup.catalogue, setup.diagnostics);
  const report = await forEachRecordBatch(
    input,
    (batch) => {
      unknown.check(batch);
      if (run.originTsc === undefined) {
        // Rows that never found a TSC (borrowed, settled to 0) do not define time zero.
        for (let i = 0; i < batch.length; i++) {
          if ((batch.flags[i] & RECORD_FLAGS.borrowedTsc) === 0) {
            run.originTsc = tscOf(batch, i);
            break;
          }
        }
      }
      context?.fill(batch);
      if (filter !== undefined && filter.apply(batch, context) === 0) return;
      onBatch(batch, run);
    },
    {
      diagnostics: setup.diagnostics,
      ...(options.backpressure === undefined ? {} : { backpressure: options.backpressure }),
      ...(options.merge === undefined ? {} : { merge: options.merge }),
      ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
      ...(options.maxBufferedRecords === undefined ? {} : { maxBufferedRecords: options.maxBufferedRecords }),
      ...(options.skewSlackCycles === undefined ? {} : { skewSlackCycles: options.skewSlackCycles }),
      ...(options.helpers === undefined ? {} : { helpers: options.helpers }),
      ...(options.decompressor === undefined ? {} : { decompressor: options.decompressor }),
    },
  );
  return { report, setup };
}
