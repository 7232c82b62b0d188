// SPDX-License-Identifier: MIT
/**
 * `xenspan/core`: shared vocabulary of every stage — record batches, event classes, the event
 * catalogue, errors, diagnostics, byte inputs and the pipeline.
 * @module
 */
export * from './batch.js';
export * from './classes.js';
export * from './catalogue/index.js';
export * from './diagnostics.js';
export * from './errors.js';
export * from './io.js';
export { decodeTrace, setUpTrace } from './pipeline.js';
export type { TraceOptions, TraceRun, TraceSetup } from './pipeline.js';
export { traceOptionsSchema, filterSchema, validateOptions } from './options.js';
