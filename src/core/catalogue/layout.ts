// SPDX-License-Identifier: MIT
/**
 * Payload layouts written as compact, C-struct-like strings and compiled once into decoders, so the per-class
 * tables stay declarative.
 *
 * A layout is a space-separated list of `name:type` tokens laid out from bit 0 of word 0 upward, the way a
 * little-endian C struct is (padding is written out, never implied):
 *
 * | type | meaning |
 * |---|---|
 * | `u8` `u16` `u32` `b<N>` | unsigned, shown in decimal |
 * | `x8` `x16` `x32` | unsigned, shown in hex |
 * | `i8` `i16` `i32` | signed |
 * | `u64` `x64` `i64` | 64-bit (low word, high word), must start on a word |
 * | `du` / `dus` | one word: low 16 bits = `name` (vCPU/unit id), high 16 = `domid`; domid first (`dus`: signed) |
 * | `@src=table` | no bits: the name of field `src`'s code in a name table (omitted when it has none) |
 * | `_:N` | N bits of padding or junk |
 * | `junk` (bare) | the rest of the payload is garbage: nothing decoded, no raw words |
 * | `cpus` (bare) | the rest (at most 6 words) is a CPU bitmap, shown as a list such as `0-3,8` |
 *
 * A numeric type may end in `=table` to show the code's name instead of the number when it has one.
 * @module
 */
import { nameTable } from './names.js';
import type { NameTable } from './names.js';
import type { CpuVendor, DecodedField, EventDecoder, XenVersion } from './types.js';

/**
 * Receives a record's decoded fields one at a time, in order. A built-in decoder walks the payload once
 * into a sink: {@link FieldArraySink} builds the {@link DecodedField} objects of `decode`, and the
 * catalogue's text sink writes `dump`'s text without building them.
 */
export interface FieldSink {
  /** A value of 32 bits or fewer (`hex`: shown in hexadecimal). */
  number(name: string, value: number, hex: boolean): void;
  /** A 64-bit value from its low and high words (`signed`: two's complement). */
  wide(name: string, lo: number, hi: number, signed: boolean, hex: boolean): void;
  /** A name (a code's name from a table, a CPU list, …). */
  string(name: string, value: string): void;
  /** A field built elsewhere (constants, derived fields). */
  field(field: DecodedField): void;
}

/** The sink that builds {@link DecodedField} objects, as {@link EventDecoder.decode} gives them. */
export class FieldArraySink implements FieldSink {
  readonly out: DecodedField[];

  constructor(out: DecodedField[]) {
    this.out = out;
  }

  number(name: string, value: number, hex: boolean): void {
    this.out.push(hex ? { name, value, hex: true } : { name, value });
  }

  wide(name: string, lo: number, hi: number, signed: boolean, hex: boolean): void {
    const value = signed ? BigInt.asIntN(64, u64(lo, hi)) : u64(lo, hi);
    this.out.push(hex ? { name, value, hex: true } : { name, value });
  }

  string(name: string, value: string): void {
    this.out.push({ name, value });
  }

  field(field: DecodedField): void {
    this.out.push(field);
  }
}

/** A code as the name its table gives it, or as the number when the table has none. */
export function emitCode(sink: FieldSink, name: string, code: number, codeName: string | undefined, hex = false): void {
  if (codeName !== undefined) sink.string(name, codeName);
  else sink.number(name, code, hex);
}

/** How a built-in decoder walks a payload into a sink (`count` not yet clamped). */
export type FieldEmitter = (words: Uint32Array, start: number, count: number, sink: FieldSink) => void;

/** A built-in decoder; `vendor` limits it to hosts of one CPU vendor. */
export interface BuiltinDecoder extends EventDecoder {
  readonly vendor?: CpuVendor;
}

/**
 * The payload walks of the built-in decoder objects, by identity: a plugin made by copying a built-in
 * (`{ ...builtin, decode }`) is not one of them, so its own `decode` is what the catalogue runs.
 */
const emitters = new WeakMap<EventDecoder, FieldEmitter>();

/** The payload walk of a built-in decoder object; undefined for any other decoder. */
export function builtinEmitter(decoder: EventDecoder): FieldEmitter | undefined {
  return emitters.get(decoder);
}

/** A built-in decoder from its payload walk: `decode` is the walk into a {@link FieldArraySink}. */
export function builtinDecoder(
  base: Pick<BuiltinDecoder, 'id' | 'name' | 'since' | 'until' | 'vendor'>,
  emit: FieldEmitter,
  subject?: EventDecoder['subject'],
): BuiltinDecoder {
  const decoder: BuiltinDecoder = {
    ...base,
    decode: (words, start, count, out) => emit(words, start, count, new FieldArraySink(out)),
    ...(subject === undefined ? {} : { subject }),
  };
  emitters.set(decoder, emit);
  return decoder;
}

/** Extra knobs of {@link layoutDecoder}. */
export interface LayoutOptions {
  readonly since?: XenVersion;
  readonly until?: XenVersion;
  readonly vendor?: CpuVendor;
  /** Fields naming the subject: [domain field, vCPU/unit field]. Default `domid` with `vcpu` or `unit`; false: none. */
  readonly subject?: readonly [string, string?] | false;
  /** Constant fields appended after the layout's fields (e.g. what the event id itself encodes). */
  readonly fixed?: readonly DecodedField[];
  /** Derived fields appended after the fixed ones; `count` is already clamped to the words present. */
  readonly extra?: (words: Uint32Array, start: number, count: number, out: DecodedField[]) => void;
}

const KIND_INT = 0;
const KIND_WIDE = 1;
const KIND_VIEW = 2;
const KIND_CPUS = 3;

/** Largest value a domid_t can hold. */
const MAX_DOMID = 0xffff;

/** Bitmap words carried by the IRQ vector records (the first 192 CPUs). */
const CPU_MASK_WORDS = 6;

/** One compiled field of a {@link Layout}. */
export interface LayoutField {
  readonly name: string;
  readonly kind: number;
  /** First payload word, relative to the record's payload. */
  readonly word: number;
  /** Words that must be present to decode the field. */
  readonly end: number;
  readonly shift: number;
  readonly bits: number;
  readonly hex: boolean;
  readonly signed: boolean;
  readonly table: NameTable | undefined;
  readonly source: LayoutField | undefined;
}

/** A compiled layout. */
export interface Layout {
  readonly fields: readonly LayoutField[];
  /** Words the layout covers; later words are surplus and shown raw. */
  readonly words: number;
}

/** Words actually available: never past the end of `words`, never negative. */
export function clampCount(words: Uint32Array, start: number, count: number): number {
  const n = Math.min(count, words.length - start);
  return n > 0 ? n : 0;
}

/** Names of the raw word fields `w0` … `w6`. */
const RAW_NAMES = ['w0', 'w1', 'w2', 'w3', 'w4', 'w5', 'w6'];

/** Words `from` … `count − 1` of the payload as raw fields `w<k>` (hex). */
export function emitRaw(words: Uint32Array, start: number, from: number, count: number, sink: FieldSink): void {
  for (let k = from; k < count; k++) sink.number(RAW_NAMES[k] ?? `w${k}`, words[start + k]! >>> 0, true);
}

/** The 64-bit value of a (low word, high word) pair. */
export function u64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** A CPU bitmap as a compact list: `0-3,8`, or `none`. */
export function cpuList(words: Uint32Array, start: number, count: number): string {
  const parts: string[] = [];
  let runStart = -1;
  const total = count * 32;
  for (let cpu = 0; cpu <= total; cpu++) {
    const set = cpu < total && ((words[start + (cpu >>> 5)] >>> (cpu & 31)) & 1) === 1;
    if (set && runStart < 0) runStart = cpu;
    if (!set && runStart >= 0) {
      parts.push(cpu - 1 === runStart ? String(runStart) : `${runStart}-${cpu - 1}`);
      runStart = -1;
    }
  }
  return parts.length === 0 ? 'none' : parts.join(',');
}

function readInt(f: LayoutField, words: Uint32Array, start: number): number {
  const w = words[start + f.word];
  if (f.bits === 32) return f.signed ? w | 0 : w >>> 0;
  const v = (w >>> f.shift) & ((1 << f.bits) - 1);
  return f.signed ? (v << (32 - f.bits)) >> (32 - f.bits) : v;
}

function emitFields(layout: Layout, words: Uint32Array, start: number, count: number, sink: FieldSink): void {
  for (const f of layout.fields) {
    // Fields are in payload order, so the first one not fully present ends the decoding.
    if (f.end > count) break;
    switch (f.kind) {
      case KIND_INT: {
        const v = readInt(f, words, start);
        emitCode(sink, f.name, v, f.table?.(v), f.hex);
        break;
      }
      case KIND_WIDE:
        sink.wide(f.name, words[start + f.word]!, words[start + f.word + 1]!, f.signed, f.hex);
        break;
      case KIND_VIEW: {
        const named = f.table?.(readInt(f.source as LayoutField, words, start));
        if (named !== undefined) sink.string(f.name, named);
        break;
      }
      case KIND_CPUS:
        sink.string(f.name, cpuList(words, start + f.word, Math.min(count - f.word, CPU_MASK_WORDS)));
        break;
    }
  }
}

function field(name: string, kind: number, word: number, end: number, shift = 0, bits = 32): LayoutField {
  return { name, kind, word, end, shift, bits, hex: false, signed: false, table: undefined, source: undefined };
}

/** Compiles a layout string; throws on a malformed table (a programming error, caught by the tests). */
export function compileLayout(text: string): Layout {
  const fields: LayoutField[] = [];
  let bit = 0;
  let words = -1;
  function fail(why: string): never {
    throw new Error(`bad layout '${text}': ${why}`);
  }
  for (const token of text.split(/\s+/)) {
    if (token === '') continue;
    if (words >= 0) fail(`'${token}' after the rest of the payload was taken`);
    const word = bit >>> 5;
    const shift = bit & 31;
    if (token === 'junk' || token === 'cpus') {
      if (shift !== 0) fail(`${token} must start on a word`);
      if (token === 'cpus') fields.push(field('cpus', KIND_CPUS, word, word + 1));
      words = token === 'junk' ? Number.MAX_SAFE_INTEGER : word + CPU_MASK_WORDS;
      continue;
    }
    const colon = token.indexOf(':');
    if (colon <= 0) fail(`'${token}' is not name:type`);
    const name = token.slice(0, colon);
    const [type, tableKey] = token.slice(colon + 1).split('=') as [string, string | undefined];
    const table = tableKey === undefined ? undefined : (nameTable(tableKey) ?? fail(`no name table '${tableKey}'`));
    if (name === '_') {
      const bits = Number(type);
      if (!Number.isInteger(bits) || bits <= 0) fail(`padding '${token}' needs a bit count`);
      bit += bits;
      continue;
    }
    if (type.startsWith('@')) {
      const source = fields.find((f) => f.name === type.slice(1) && f.kind === KIND_INT);
      if (source === undefined || table === undefined) fail(`view '${token}' needs an earlier field and a table`);
      fields.push({ ...field(name, KIND_VIEW, source.word, source.end), table, source });
      continue;
    }
    if (type === 'du' || type === 'dus') {
      if (shift !== 0) fail(`${token} must start on a word`);
      const signed = type === 'dus';
      fields.push({ ...field('domid', KIND_INT, word, word + 1, 16, 16), signed });
      fields.push({ ...field(name, KIND_INT, word, word + 1, 0, 16), signed });
      bit += 32;
      continue;
    }
    const m = /^([uixb])(\d+)$/.exec(type) ?? fail(`unknown type '${type}'`);
    const bits = Number(m[2]);
    const hex = m[1] === 'x';
    const signed = m[1] === 'i';
    if (bits === 64) {
      if (shift !== 0) fail(`64-bit '${name}' must start on a word`);
      fields.push({ ...field(name, KIND_WIDE, word, word + 2, 0, 64), hex, signed });
    } else {
      if (bits < 1 || bits > 32 || shift + bits > 32) fail(`'${name}' crosses a word or has a bad width`);
      fields.push({ ...field(name, KIND_INT, word, word + 1, shift, bits), hex, signed, table });
    }
    bit += bits;
  }
  if (words < 0) {
    if ((bit & 31) !== 0) fail('the layout does not end on a word');
    words = bit >>> 5;
  }
  return { fields, words };
}

function findField(layout: Layout, name: string): LayoutField | undefined {
  return layout.fields.find((f) => f.name === name && f.kind === KIND_INT);
}

type SubjectFn = NonNullable<EventDecoder['subject']>;

function subjectOf(layout: Layout, option: LayoutOptions['subject']): SubjectFn | undefined {
  if (option === false) return undefined;
  const dom = findField(layout, option?.[0] ?? 'domid');
  if (dom === undefined) {
    if (option !== undefined) throw new Error(`subject field '${option[0]}' is not in the layout`);
    return undefined;
  }
  let vcpu: LayoutField | undefined;
  if (option === undefined) vcpu = findField(layout, 'vcpu') ?? findField(layout, 'unit');
  else if (option[1] !== undefined) vcpu = findField(layout, option[1]);
  return (words, start, count, out) => {
    const n = clampCount(words, start, count);
    if (dom.end > n) return false;
    const d = readInt(dom, words, start);
    // Domain ids are 16-bit: a negative one is the "nobody" marker some records use (null scheduler: -1), a wider
    // one is garbage.
    if (d < 0 || d > MAX_DOMID) return false;
    out[0] = d;
    const v = vcpu !== undefined && vcpu.end <= n ? readInt(vcpu, words, start) : -1;
    out[1] = v < 0 || v > 0x7fffffff ? -1 : v;
    return true;
  };
}

/** Common decoder properties: id, name, version range and vendor, without undefined keys. */
export function decoderBase(
  id: number,
  name: string,
  options: Pick<LayoutOptions, 'since' | 'until' | 'vendor'>,
): Pick<BuiltinDecoder, 'id' | 'name' | 'since' | 'until' | 'vendor'> {
  return {
    id,
    name,
    ...(options.since === undefined ? {} : { since: options.since }),
    ...(options.until === undefined ? {} : { until: options.until }),
    ...(options.vendor === undefined ? {} : { vendor: options.vendor }),
  };
}

/** A decoder for `id` from a layout string (see the module comment). */
export function layoutDecoder(id: number, name: string, text: string, options: LayoutOptions = {}): BuiltinDecoder {
  const layout = compileLayout(text);
  const { fixed, extra } = options;
  const subject = subjectOf(layout, options.subject);
  return builtinDecoder(
    decoderBase(id, name, options),
    (words, start, count, sink) => {
      const n = clampCount(words, start, count);
      emitFields(layout, words, start, n, sink);
      if (fixed !== undefined) for (const f of fixed) sink.field(f);
      if (extra !== undefined) {
        const derived: DecodedField[] = [];
        extra(words, start, n, derived);
        for (const f of derived) sink.field(f);
      }
      emitRaw(words, start, layout.words, n, sink);
    },
    subject,
  );
}

/** One row of a class table: [id, name, layout] or [id, name, layout, options]. */
export type LayoutRow = readonly [number, string, string, LayoutOptions?];

/** Decoders for the rows of a class table. */
export function fromRows(rows: readonly LayoutRow[]): BuiltinDecoder[] {
  return rows.map(([id, name, text, options]) => layoutDecoder(id, name, text, options));
}

/** TRC_64_FLAG: the layout variant with 64-bit addresses. */
export const WIDE_FLAG = 0x100;

/**
 * Rows for an id and its TRC_64_FLAG twin: `:A` in the layout becomes `:x32` for `id` and `:x64` for `id | 0x100`.
 */
export function addressPair(id: number, name: string, text: string): LayoutRow[] {
  return [
    [id, name, text.replaceAll(':A', ':x32')],
    [id | WIDE_FLAG, name, text.replaceAll(':A', ':x64')],
  ];
}
