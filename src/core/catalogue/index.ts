// SPDX-License-Identifier: MIT
/**
 * The event catalogue: every xentrace event id of Xen 4.17–4.22 with a snake_case name and a payload decoder,
 * chosen for one Xen version and host CPU vendor. Layouts come from the Xen sources of each release.
 *
 * @example
 * const catalogue = createCatalogue({ xenVersion: '4.18', cpuVendor: 'amd' });
 * catalogue.nameOf(0x00021101); // 'runstate_change'
 * formatFields(catalogue.decode(0x00021101, new Uint32Array([0x00020001]), 0, 1));
 * // 'domid=2 vcpu=1 old_state=runnable new_state=running'
 * @module
 */
import { EVENT_MASK, SAFE_HIGH_WORD } from '../batch.js';
import type { RecordBatch } from '../batch.js';
import { formatOffset } from '../diagnostics.js';
import type { Diagnostics } from '../diagnostics.js';
import { classOf } from '../classes.js';
import { genDecoders } from './gen.js';
import { hvmDecoders } from './hvm.js';
import { hwDecoders } from './hw.js';
import { FieldArraySink, builtinEmitter, clampCount, emitRaw, u64 } from './layout.js';
import type { BuiltinDecoder, FieldEmitter, FieldSink } from './layout.js';
import { memDecoders } from './mem.js';
import { pvDecoders } from './pv.js';
import { schedClassDecoders } from './sched-class.js';
import { schedDecoders } from './sched.js';
import { shadowDecoders } from './shadow.js';
import { appliesTo } from './types.js';
import type {
  CatalogueOptions,
  CpuVendor,
  DecodedField,
  EventCatalogue,
  EventDecoder,
  FieldTextWriter,
  XenVersion,
} from './types.js';

export { XEN_VERSIONS } from './types.js';
export type {
  CatalogueOptions,
  CpuVendor,
  DecodedField,
  EventCatalogue,
  EventDecoder,
  FieldTextWriter,
  FieldValue,
  XenVersion,
} from './types.js';
export { hypercallName } from './names.js';
export { runstateEvent } from './sched.js';
export { PV_HYPERCALL_SUBCALL, PV_HYPERCALL_V2 } from './pv.js';

/** Unknown-id names kept per catalogue; bounded so hostile input cannot grow it without limit. */
const UNKNOWN_NAME_CACHE = 4096;

let allBuiltins: readonly BuiltinDecoder[] | undefined;

/** Every built-in decoder of every version and vendor; built on first use. */
function builtins(): readonly BuiltinDecoder[] {
  return (allBuiltins ??= [
    ...genDecoders(),
    ...schedDecoders(),
    ...schedClassDecoders(),
    ...hvmDecoders(),
    ...memDecoders(),
    ...pvDecoders(),
    ...shadowDecoders(),
    ...hwDecoders(),
  ]);
}

/** The built-in decoders that apply to one Xen version and CPU vendor (one per id). */
export function builtinDecoders(xenVersion: XenVersion = '4.17', cpuVendor: CpuVendor = 'intel'): EventDecoder[] {
  return builtins().filter(
    (d) => (d.vendor === undefined || d.vendor === cpuVendor) && appliesTo(d, xenVersion),
  );
}

/** Name of an id no decoder knows: `unknown_<class>_0x<id as 8 hex digits>`. */
export function unknownEventName(event: number): string {
  return `unknown_${classOf(event)}_0x${(event >>> 0).toString(16).padStart(8, '0')}`;
}

function rawFields(words: Uint32Array, start: number, count: number): DecodedField[] {
  const out: DecodedField[] = [];
  emitRaw(words, start, 0, clampCount(words, start, count), new FieldArraySink(out));
  return out;
}

type SubjectFn = NonNullable<EventDecoder['subject']>;

/**
 * The decoders of a catalogue by id: an open-addressed table in typed arrays, fixed once built, with
 * each decoder's name, payload walk and subject function resolved into arrays. `dump` asks it three
 * times per record (name, subject, fields): a Map's lookup, and reading those properties from decoder
 * objects of many shapes, both showed in its profile.
 */
class DecoderTable {
  readonly #ids: Int32Array;
  readonly #shift: number;
  readonly #mask: number;
  readonly decoders: (EventDecoder | undefined)[];
  /** The payload walk of a built-in; undefined for a plugin (its `decode` runs). */
  readonly emitters: (FieldEmitter | undefined)[];
  /** The subject function of a built-in (a plain closure); plugins' are called as methods. */
  readonly builtinSubjects: (SubjectFn | undefined)[];

  constructor(decoders: ReadonlyMap<number, EventDecoder>) {
    let bits = 4;
    while (1 << bits < decoders.size * 4) bits++;
    const size = 1 << bits;
    this.#ids = new Int32Array(size).fill(-1);
    this.decoders = new Array<EventDecoder | undefined>(size).fill(undefined);
    this.emitters = new Array<FieldEmitter | undefined>(size).fill(undefined);
    this.builtinSubjects = new Array<SubjectFn | undefined>(size).fill(undefined);
    this.#shift = 32 - bits;
    this.#mask = size - 1;
    for (const [id, decoder] of decoders) {
      let slot = Math.imul(id, 0x9e3779b1) >>> this.#shift;
      while (this.#ids[slot] !== -1) slot = (slot + 1) & this.#mask;
      this.#ids[slot] = id;
      this.decoders[slot] = decoder;
      const emit = builtinEmitter(decoder);
      this.emitters[slot] = emit;
      if (emit !== undefined) this.builtinSubjects[slot] = decoder.subject;
    }
  }

  /** The slot of a 28-bit id, or −1 when no decoder has it. */
  slotOf(id: number): number {
    const ids = this.#ids;
    let slot = Math.imul(id, 0x9e3779b1) >>> this.#shift;
    for (;;) {
      const at = ids[slot]!;
      if (at === id) return slot;
      if (at === -1) return -1;
      slot = (slot + 1) & this.#mask;
    }
  }

  /** The decoder of a 28-bit id, if any. */
  get(id: number): EventDecoder | undefined {
    const slot = this.slotOf(id);
    return slot < 0 ? undefined : this.decoders[slot];
  }
}

/** Builds the catalogue of one Xen version and CPU vendor; `decoders` override built-ins id by id. */
export function createCatalogue(options: CatalogueOptions = {}): EventCatalogue {
  const xenVersion = options.xenVersion ?? '4.17';
  const cpuVendor = options.cpuVendor ?? 'intel';
  const byId = new Map<number, EventDecoder>();
  for (const decoder of builtinDecoders(xenVersion, cpuVendor)) byId.set(decoder.id, decoder);
  for (const decoder of options.decoders ?? []) {
    if (appliesTo(decoder, xenVersion)) byId.set(decoder.id & EVENT_MASK, decoder);
  }
  const table = new DecoderTable(byId);
  const unknownNames = new Map<number, string>();
  const textSink = new FieldTextSink();

  const catalogue: EventCatalogue = {
    xenVersion,
    cpuVendor,
    lookup(event) {
      return table.get(event & EVENT_MASK);
    },
    nameOf(event) {
      const id = event & EVENT_MASK;
      const decoder = table.get(id);
      if (decoder !== undefined) return decoder.name;
      let name = unknownNames.get(id);
      if (name === undefined) {
        name = unknownEventName(id);
        if (unknownNames.size < UNKNOWN_NAME_CACHE) unknownNames.set(id, name);
      }
      return name;
    },
    decode(event, words, start, count) {
      const decoder = table.get(event & EVENT_MASK);
      if (decoder === undefined) return rawFields(words, start, count);
      const out: DecodedField[] = [];
      try {
        decoder.decode(words, start, count, out);
      } catch {
        // Built-ins never throw; a plugin that does must not stop the run: show the record raw instead.
        return rawFields(words, start, count);
      }
      return out;
    },
    writeFields(event, words, start, count, out) {
      const slot = table.slotOf(event & EVENT_MASK);
      textSink.out = out;
      if (slot < 0) {
        emitRaw(words, start, 0, clampCount(words, start, count), textSink);
        return;
      }
      const emit = table.emitters[slot];
      if (emit !== undefined) {
        // Built-ins never throw: straight into text, no field objects.
        emit(words, start, count, textSink);
        return;
      }
      const fields = catalogue.decode(event, words, start, count);
      for (const field of fields) textSink.field(field);
    },
    subject(event, words, start, count, out) {
      const slot = table.slotOf(event & EVENT_MASK);
      if (slot >= 0) {
        const builtin = table.builtinSubjects[slot];
        if (builtin !== undefined) {
          if (builtin(words, start, count, out)) return true;
        } else if (table.emitters[slot] === undefined) {
          // A plugin: its subject is a method (it may use `this`, or be replaced later).
          const decoder = table.decoders[slot]!;
          try {
            if (decoder.subject?.(words, start, count, out) === true) return true;
          } catch {
            // Same as decode: a faulty plugin names nobody.
          }
        }
      }
      out[0] = -1;
      out[1] = -1;
      return false;
    },
  };
  return catalogue;
}

/**
 * The string with each whitespace character replaced by `_`. The common case (names from the tables) is
 * a loop over plain ASCII; any character that might be whitespace goes through the regular expression.
 */
function withoutWhitespace(value: string): string {
  for (let k = 0; k < value.length; k++) {
    const code = value.charCodeAt(k);
    if (code <= 0x20 || code >= 0x7f) return /\s/.test(value) ? value.replace(/\s/g, '_') : value;
  }
  return value;
}
const SPACE = 0x20;
const EQUALS = 0x3d;

/** Slots of {@link UnknownEventReporter}'s cache (a power of two). */
const KNOWN_CACHE_SLOTS = 1024;

/**
 * Reports records whose event id the catalogue does not know (`unknown_event`, or `guest_record` for
 * TRC_GUEST ids), for `dump` and `stats` alike.
 */
export class UnknownEventReporter {
  readonly #catalogue: EventCatalogue;
  readonly #diagnostics: Diagnostics;
  /**
   * A direct-mapped cache of event ids and whether the catalogue knows them: a trace uses a few hundred
   * ids at most, so the catalogue is asked about an id about once, not for every record.
   */
  readonly #cachedEvent = new Int32Array(KNOWN_CACHE_SLOTS).fill(-1);
  readonly #cachedKnown = new Uint8Array(KNOWN_CACHE_SLOTS);

  constructor(catalogue: EventCatalogue, diagnostics: Diagnostics) {
    this.#catalogue = catalogue;
    this.#diagnostics = diagnostics;
  }

  /** Checks every row of a batch. */
  check(batch: RecordBatch): void {
    const headers = batch.header;
    const cachedEvent = this.#cachedEvent;
    const cachedKnown = this.#cachedKnown;
    for (let i = 0; i < batch.length; i++) {
      const event = headers[i]! & EVENT_MASK;
      // Minor number, sub-class and class bits all reach the slot number.
      const slot = (event ^ (event >>> 9) ^ (event >>> 18)) & (KNOWN_CACHE_SLOTS - 1);
      if (cachedEvent[slot] !== event) {
        cachedEvent[slot] = event;
        cachedKnown[slot] = this.#catalogue.lookup(event) === undefined ? 0 : 1;
      }
      if (cachedKnown[slot] === 0) this.#report(event, batch.pcpu[i]!, batch.fileOffset[i]!);
    }
  }

  #report(event: number, pcpu: number, offset: number): void {
    const guest = ((event >>> 16) & 0xfff) === 0x800;
    const id = `0x${event.toString(16).padStart(8, '0')}`;
    this.#diagnostics.report(guest ? 'guest_record' : 'unknown_event', { pcpu, offset }, () =>
      guest
        ? `pCPU ${pcpu}: TRC_GUEST record ${id} at ${formatOffset(offset)}, decoded as raw words`
        : `pCPU ${pcpu}: event ${id} at ${formatOffset(offset)} is not in the Xen ${this.#catalogue.xenVersion} catalogue, decoded as raw words`,
    );
  }
}

/**
 * Writes fields as one stable, greppable text: `name=value` pairs separated by single spaces; hex fields
 * as 0x%08x (64-bit: 0x%016x); strings without whitespace (each replaced by _). The one place that
 * decides how a field reads as text; {@link formatFields} gives it as a string.
 */
export function writeFields(fields: readonly DecodedField[], out: FieldTextWriter): void {
  for (let f = 0; f < fields.length; f++) {
    if (f > 0) out.char(SPACE);
    writeField(fields[f]!, out);
  }
}

/** One field as `name=value` (see {@link writeFields}). */
function writeField(field: DecodedField, out: FieldTextWriter): void {
  const { name, value, hex } = field;
  if (typeof value === 'number') {
    writeNumber(name, value, hex === true, out);
  } else if (typeof value === 'string') {
    writeString(name, value, out);
  } else {
    writeName(name, out);
    if (hex === true) {
      const bits = BigInt.asUintN(64, value);
      writeHex64(Number(bits >> 32n), Number(bits & 0xffffffffn), out);
    } else {
      out.text(String(value));
    }
  }
}

/** 0x and 16 hex digits, through the writer's `hex64` when it has one (it is optional). */
function writeHex64(hi: number, lo: number, out: FieldTextWriter): void {
  if (out.hex64 !== undefined) out.hex64(hi, lo);
  else out.text(`0x${(hi >>> 0).toString(16).padStart(8, '0')}${(lo >>> 0).toString(16).padStart(8, '0')}`);
}

function writeName(name: string, out: FieldTextWriter): void {
  out.text(name);
  out.char(EQUALS);
}

function writeNumber(name: string, value: number, hex: boolean, out: FieldTextWriter): void {
  writeName(name, out);
  if (hex) out.hex32(value);
  else out.integer(value);
}

function writeString(name: string, value: string, out: FieldTextWriter): void {
  writeName(name, out);
  out.text(withoutWhitespace(value));
}

/**
 * The text sink of the built-in decoders: each field as ` name=value` (a space before each), the text
 * {@link writeField} gives the same field as an object, without the object.
 */
class FieldTextSink implements FieldSink {
  out: FieldTextWriter = new FieldString();

  number(name: string, value: number, hex: boolean): void {
    this.out.char(SPACE);
    writeNumber(name, value, hex, this.out);
  }

  wide(name: string, lo: number, hi: number, signed: boolean, hex: boolean): void {
    const out = this.out;
    out.char(SPACE);
    writeName(name, out);
    if (hex) writeHex64(hi, lo, out);
    else if (hi < SAFE_HIGH_WORD) out.integer(hi * 4294967296 + lo); // non-negative either way
    else out.text(String(signed ? BigInt.asIntN(64, u64(lo, hi)) : u64(lo, hi)));
  }

  string(name: string, value: string): void {
    this.out.char(SPACE);
    writeString(name, value, this.out);
  }

  field(field: DecodedField): void {
    this.out.char(SPACE);
    writeField(field, this.out);
  }
}

/** Builds the text of {@link writeFields} as a string. */
class FieldString implements FieldTextWriter {
  value = '';
  text(value: string): void {
    this.value += value;
  }
  integer(value: number): void {
    this.value += String(value);
  }
  char(code: number): void {
    this.value += String.fromCharCode(code);
  }
  hex32(value: number): void {
    this.value += `0x${(value >>> 0).toString(16).padStart(8, '0')}`;
  }
}

/** The text of {@link writeFields} as a string. */
export function formatFields(fields: readonly DecodedField[]): string {
  const out = new FieldString();
  writeFields(fields, out);
  return out.value;
}
