// SPDX-License-Identifier: MIT
/**
 * Command-line parsing: a small declarative parser (no dependency) with errors that name the option.
 * @module
 */

/** Raised for usage errors; the CLI prints the message and exits with 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** How an option is spelled and whether it takes a value. */
export interface OptionSpec {
  readonly name: string;
  readonly short?: string;
  readonly value: boolean;
  /** The option may be given several times (values are collected). */
  readonly repeat?: boolean;
}

/** Parsed arguments: option values by long name, and positionals. */
export interface ParsedArgs {
  readonly options: Map<string, string[]>;
  readonly positionals: string[];
}

/** Parses `argv` against `specs`. `-` alone is a positional (stdin); `--` ends options. */
export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[]): ParsedArgs {
  const byName = new Map<string, OptionSpec>();
  for (const spec of specs) {
    byName.set(`--${spec.name}`, spec);
    if (spec.short !== undefined) byName.set(`-${spec.short}`, spec);
  }
  const options = new Map<string, string[]>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-' || !arg.startsWith('-')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const key = eq > 0 ? arg.slice(0, eq) : arg;
    const spec = byName.get(key);
    if (spec === undefined) throw new UsageError(`unknown option ${key}`);
    let value = 'true';
    if (spec.value) {
      if (eq > 0) value = arg.slice(eq + 1);
      else if (i + 1 < argv.length) value = argv[++i];
      else throw new UsageError(`option --${spec.name} needs a value`);
    } else if (eq > 0) {
      throw new UsageError(`option --${spec.name} takes no value`);
    }
    const values = options.get(spec.name) ?? [];
    if (values.length > 0 && spec.repeat !== true) throw new UsageError(`option --${spec.name} given twice`);
    values.push(value);
    options.set(spec.name, values);
  }
  return { options, positionals };
}

/** Parses a list like `0,2-4` into numbers up to `max` (for --pcpu, --domain, --vcpu). */
export function parseIdList(text: string, option: string, max: number): number[] {
  const ids: number[] = [];
  for (const part of text.split(',')) {
    const range = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!range) throw new UsageError(`--${option}: "${part}" is not a number or a range like 2-5`);
    const from = Number(range[1]);
    const to = range[2] === undefined ? from : Number(range[2]);
    if (to > max) throw new UsageError(`--${option}: ${range[2] ?? range[1]} is above ${max}, the largest there can be`);
    if (to < from) throw new UsageError(`--${option}: bad range "${part}"`);
    for (let id = from; id <= to; id++) ids.push(id);
  }
  return ids;
}

/** Largest 64-bit value (a TSC). */
const U64_MAX = (1n << 64n) - 1n;

/** Parses a 64-bit unsigned integer (decimal or 0x hex) into a BigInt. */
export function parseBigInt(text: string, option: string): bigint {
  if (!/^(0x[0-9a-fA-F]+|\d+)$/.test(text.trim())) throw new UsageError(`--${option}: "${text}" is not an integer`);
  const value = BigInt(text.trim());
  if (value > U64_MAX) throw new UsageError(`--${option}: ${text.trim()} does not fit in 64 bits`);
  return value;
}

/**
 * Refuses a window whose start comes after its end (it would keep nothing, silently). `from` and `to` are
 * the parsed values and the texts the user gave, for the message.
 */
export function checkWindow<T extends number | bigint>(
  from: readonly [T, string] | undefined,
  to: readonly [T, string] | undefined,
  fromOption: string,
  toOption: string,
): void {
  if (from !== undefined && to !== undefined && from[0] > to[0]) {
    throw new UsageError(`--${fromOption} ${from[1]} comes after --${toOption} ${to[1]}: the window would keep nothing`);
  }
}

/**
 * Parses a duration for --from/--to: a number with a unit (ns, us, ms, s; s when absent), in ns.
 */
export function parseDurationNs(text: string, option: string): number {
  const match = /^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ns|us|µs|ms|s)?\s*$/.exec(text);
  if (!match) throw new UsageError(`--${option}: "${text}" is not a time like 1.5s, 200ms, 30us or 500ns`);
  const scale = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9 }[(match[2] ?? 's') as 'ns' | 'us' | 'µs' | 'ms' | 's'];
  return Number(match[1]) * scale;
}
