// SPDX-License-Identifier: MIT
/**
 * TSC frequency input and the fixed-frequency clock (TSC → ns at one rate for every pCPU).
 * @module
 */
import { XenspanError } from '../core/errors.js';

const SUFFIX: Record<string, number> = { '': 1, K: 1e3, M: 1e6, G: 1e9 };

/** Range of plausible TSC frequencies in Hz (xl info's cpu_mhz is in the thousands). */
const MIN_TSC_HZ = 1e6;
const MAX_TSC_HZ = 1e11;

/**
 * Parses a TSC frequency the way xenalyze's `--cpu-hz` takes it: a decimal number with an optional
 * K, M or G suffix (`2596.122M`, `2.4G`, `24000000`). The result is exact to the digits given: the
 * number is scaled in decimal, not through binary floating point of the mantissa times the unit.
 * @throws XenspanError `invalid_options` naming `option`
 */
export function parseCpuHz(text: string, option = 'cpu-hz'): number {
  const match = /^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kKmMgG]?)(?:[hH][zZ])?\s*$/.exec(text);
  if (!match) {
    throw new XenspanError('invalid_options', `--${option} must be a number with an optional K, M or G suffix, not "${text}"`, {
      option,
    });
  }
  const [whole, fraction = ''] = match[1].split('.');
  const exponent = Math.log10(SUFFIX[match[2].toUpperCase()]);
  // Shift the decimal point by the suffix's power of ten in the string, so 2596.122M is exactly 2596122000.
  const digits = `${whole}${fraction}`;
  const point = whole.length + exponent;
  const hz = Number(`${digits.slice(0, point).padEnd(point, '0') || '0'}.${digits.slice(point) || '0'}`);
  if (!(hz > 0) || !Number.isFinite(hz)) {
    throw new XenspanError('invalid_options', `--${option} must be greater than zero, not "${text}"`, { option });
  }
  // No TSC runs outside this range; a value outside it is a typo (a missing or extra suffix).
  if (hz < MIN_TSC_HZ || hz > MAX_TSC_HZ) {
    throw new XenspanError('invalid_options', `--${option} must be between 1M and 100G (a TSC frequency), not "${text}"`, { option });
  }
  return hz;
}

/** A clock that converts TSC differences to nanoseconds at one fixed rate. */
export interface FixedHzClock {
  readonly kind: 'fixed-hz';
  readonly hz: number;
  /** Nanoseconds for a TSC difference given as a double (exact while |delta| < 2^53 cycles). */
  nsOf(deltaCycles: number): number;
}

/**
 * The simplest clock model: every pCPU ticks at `hz` (invariant TSC, the normal case on modern hosts).
 * Uses the exact rate, not xenalyze's quantised one (which runs 0.024 % fast at 2.4 GHz).
 * @example
 * const clock = fixedHz(parseCpuHz('2596.122M')); clock.nsOf(2596122) // → 1000000
 */
export function fixedHz(hz: number): FixedHzClock {
  if (!(hz > 0) || !Number.isFinite(hz)) {
    throw new XenspanError('invalid_options', `cpu-hz must be a positive number, not ${hz}`, { option: 'cpu-hz' });
  }
  const nsPerCycle = 1e9 / hz;
  return { kind: 'fixed-hz', hz, nsOf: (deltaCycles) => deltaCycles * nsPerCycle };
}
