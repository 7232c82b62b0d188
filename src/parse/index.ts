// SPDX-License-Identifier: MIT
/**
 * `xenspan/parse`: bytes → records. The synchronous push stages ({@link RecordScanner},
 * {@link CpuMerger}, {@link RecordFilter}, {@link StatsCollector}) and their async drivers.
 * @module
 */
export { RecordScanner, MAX_PCPU, MAX_WINDOW_BYTES } from './scanner.js';
export type { RecordScannerOptions } from './scanner.js';
export { CpuMerger } from './merger.js';
export type { CpuMergerOptions } from './merger.js';
export { PcpuQueue } from './queue.js';
export { indexWindows } from './window-index.js';
export type { PcpuWindows, WindowIndex } from './window-index.js';
export { decodeRecords, forEachRecordBatch, forEachRecordInFileOrder } from './decode.js';
export { mergeSlice, sharedInputReader } from './slices.js';
export type { MergeSlice, SliceMergeHelper, SliceResult, SliceTask, TscWords } from './slices.js';
export { WorkerSliceHelper, mergeWorkerPool, openSharedInput, serveSliceTasks } from './slice-workers.js';
export type { ReadAt } from './read-cache.js';
export type { MergeWorkers, OpenSharedInput, WorkerChannel } from './slice-workers.js';
export type { LaneWindows } from './exact.js';
export type { DecodeOptions, DecodeReport, MergeMode } from './decode.js';
export { RecordFilter, matchesEventMask, filtersAnything } from './filter.js';
export type { RecordFilterOptions } from './filter.js';
export { ContextColumns, PcpuContext, isRunstateChange } from './context.js';
export { MAX_LISTED_GAPS, StatsCollector, readTraceStats } from './stats.js';
export { isLostRecords, lostRecordsGapOf, lostRecordsPayload } from './lost.js';
export type { LostRecordsGap, LostRecordsPayload } from './lost.js';
export type { PcpuStats, ReadStatsOptions, TraceStats } from './stats.js';
export { detectCompression, describeMagic } from './sniff.js';
export type { Compression } from './sniff.js';
export { decompressChunks } from './compress/index.js';
export type { DecompressOptions, Decompressor } from './compress/index.js';
