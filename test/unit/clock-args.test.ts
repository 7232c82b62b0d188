// SPDX-License-Identifier: MIT
import { describe, expect, it } from 'vitest';
import { fixedHz, parseCpuHz } from '../../src/clock/hz.js';
import { UsageError, parseArgs, parseDurationNs, parseIdList } from '../../src/cli/args.js';

describe('parseCpuHz', () => {
  it('takes xenalyze-style frequencies exactly', () => {
    expect(parseCpuHz('2596.122M')).toBe(2596122000);
    expect(parseCpuHz('2.4G')).toBe(2400000000);
    expect(parseCpuHz('24000000')).toBe(24000000);
    expect(parseCpuHz('19.2m')).toBe(19200000);
    expect(parseCpuHz('2596122k')).toBe(2596122000);
    expect(parseCpuHz('1.0000000001G')).toBe(1000000000.1);
    expect(parseCpuHz('1M')).toBe(1e6);
    expect(parseCpuHz('100G')).toBe(1e11);
  });

  it('names the option on bad input', () => {
    // Outside 1M–100G: a lost or extra suffix, not a TSC.
    for (const bad of ['', 'fast', '-1G', '0', '2.4T', '0.0000001', '999K', '99999999999G', '100.1G']) {
      expect(() => parseCpuHz(bad)).toThrow(expect.objectContaining({ code: 'invalid_options', option: 'cpu-hz' }));
    }
  });

  it('converts cycles to ns at the exact rate (no xenalyze quantisation)', () => {
    const clock = fixedHz(2.4e9);
    expect(clock.nsOf(2.4e9 * 3600)).toBe(3600e9);
    expect(fixedHz(2596122000).nsOf(2596122)).toBeCloseTo(1e6, 6);
  });
});

describe('CLI argument parsing', () => {
  const specs = [
    { name: 'json', value: false },
    { name: 'event', short: 'e', value: true, repeat: true },
    { name: 'cpu-hz', value: true },
  ];

  it('reads flags, values, repeats, = forms and - as stdin', () => {
    const args = parseArgs(['--json', '-e', 'sched', '--event=0x1f000', '--cpu-hz', '2.4G', '-'], specs);
    expect(args.options.get('event')).toEqual(['sched', '0x1f000']);
    expect(args.options.get('cpu-hz')).toEqual(['2.4G']);
    expect(args.positionals).toEqual(['-']);
  });

  it('refuses unknown options, missing values and repeats of single options', () => {
    expect(() => parseArgs(['--nope'], specs)).toThrow(UsageError);
    expect(() => parseArgs(['--cpu-hz'], specs)).toThrow('needs a value');
    expect(() => parseArgs(['--cpu-hz', '1', '--cpu-hz', '2'], specs)).toThrow('given twice');
  });

  it('parses id lists and durations', () => {
    expect(parseIdList('0,2-4', 'pcpu', 65535)).toEqual([0, 2, 3, 4]);
    expect(parseIdList('65535', 'pcpu', 65535)).toEqual([65535]);
    expect(() => parseIdList('x', 'pcpu', 65535)).toThrow('--pcpu');
    expect(() => parseIdList('99999999999', 'pcpu', 65535)).toThrow('--pcpu: 99999999999 is above 65535');
    expect(() => parseIdList('1-70000', 'domain', 65535)).toThrow('--domain: 70000 is above 65535');
    expect(() => parseIdList('5-2', 'vcpu', 65535)).toThrow('bad range');
    expect(parseDurationNs('1.5s', 'from')).toBe(1.5e9);
    expect(parseDurationNs('200ms', 'from')).toBe(2e8);
    expect(parseDurationNs('30us', 'to')).toBe(30000);
    expect(parseDurationNs('2', 'to')).toBe(2e9);
  });
});
