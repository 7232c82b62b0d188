// SPDX-License-Identifier: MIT
/**
 * `xenspan`: decode Xen xentrace files into time-ordered records (and, stage by stage, spans and
 * exports). The root entry gathers the pipeline and the types; each stage has its own subpath.
 * @module
 */
export * from './core/index.js';
export { decodeRecords, forEachRecordBatch, forEachRecordInFileOrder, readTraceStats, RecordFilter, StatsCollector } from './parse/index.js';
export type { DecodeOptions, DecodeReport, Decompressor, MergeMode, RecordFilterOptions, TraceStats, PcpuStats } from './parse/index.js';
export { fixedHz, parseCpuHz } from './clock/index.js';
