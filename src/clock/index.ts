// SPDX-License-Identifier: MIT
/**
 * `xenspan/clock`: records → timed events. TSC frequency input and the fixed-rate clock; more models
 * (dom0 NTP-adjusted clock, per-pCPU skew, Lamport order of scheduling events) build on these.
 * @module
 */
export { fixedHz, parseCpuHz } from './hz.js';
export type { FixedHzClock } from './hz.js';
export { CpuHzEstimator, formatHz } from './estimate.js';
export type { CpuHzEstimate } from './estimate.js';
