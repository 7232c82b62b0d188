// SPDX-License-Identifier: MIT
/**
 * Public types of the event catalogue. Kept apart from `index.ts` so that the per-class tables can import them
 * without an import cycle.
 * @module
 */

/** Xen releases whose trace layouts the catalogue knows, oldest first. */
export const XEN_VERSIONS = ['4.17', '4.18', '4.19', '4.20', '4.21', '4.22'] as const;

/** One of {@link XEN_VERSIONS}. */
export type XenVersion = (typeof XEN_VERSIONS)[number];

/** Host CPU vendor; decides how pre-4.19 HVM exit records are read. */
export type CpuVendor = 'intel' | 'amd';

/** A decoded value: 32-bit or smaller as number, 64-bit as bigint, named codes as string. */
export type FieldValue = number | bigint | string;

/** One named value of a record payload. `hex` asks formatters to print it in hexadecimal. */
export interface DecodedField {
  readonly name: string;
  readonly value: FieldValue;
  readonly hex?: boolean;
}

/** A plugin: decodes one event id. Plain object, registered explicitly through CatalogueOptions.decoders. */
export interface EventDecoder {
  /** 28-bit event id. */
  readonly id: number;
  /** snake_case, e.g. 'runstate_change', 'hypercall', 'vmx_exit', 'lost_records'. */
  readonly name: string;
  /** First version that emits this layout (inclusive); absent = all. */
  readonly since?: XenVersion;
  /** Last version (inclusive); absent = still current. */
  readonly until?: XenVersion;
  /**
   * Push decoded fields of the payload words[start .. start+count-1] onto `out`. Must never throw: when fewer words
   * than the layout are present decode what is there; surplus words become raw fields `w<k>`.
   */
  decode(words: Uint32Array, start: number, count: number, out: DecodedField[]): void;
  /**
   * Domain and vCPU the record itself names (out[0]=domid, out[1]=vcpu, -1 when not named). Return true when it
   * names a domain.
   */
  subject?(words: Uint32Array, start: number, count: number, out: Int32Array): boolean;
}

/** Where the text of decoded fields goes (a string builder, or an output buffer). */
export interface FieldTextWriter {
  /** Text as it is. */
  text(value: string): void;
  /** A number as String() writes it. */
  integer(value: number): void;
  /** One ASCII character. */
  char(code: number): void;
  /** A 32-bit value as 0x and 8 lowercase hex digits. */
  hex32(value: number): void;
  /**
   * A 64-bit value from its high and low words as 0x and 16 lowercase hex digits. Optional: without
   * it the digits go through `text`.
   */
  hex64?(hi: number, lo: number): void;
}

/** Options of {@link createCatalogue}. */
export interface CatalogueOptions {
  /** Default '4.17'. */
  readonly xenVersion?: XenVersion;
  /** Default 'intel'; before 4.19, AMD SVM exits used the VMX ids 0x81002/0x81102 with SVM exit codes. */
  readonly cpuVendor?: CpuVendor;
  /** Extra/overriding decoders (e.g. for TRC_GUEST ids), win over built-ins. */
  readonly decoders?: readonly EventDecoder[];
}

/** Names and decodes event ids for one Xen version and CPU vendor. */
export interface EventCatalogue {
  readonly xenVersion: XenVersion;
  readonly cpuVendor: CpuVendor;
  /** The decoder of an id; undefined = unknown id for this version. O(1). */
  lookup(event: number): EventDecoder | undefined;
  /** Name of an id; unknown → `unknown_<class>_0x<hex>`, e.g. unknown_guest_0x0800f001. */
  nameOf(event: number): string;
  /** Decoded payload; unknown ids → raw fields w0..wN (hex). Never throws. */
  decode(event: number, words: Uint32Array, start: number, count: number): DecodedField[];
  /**
   * Writes the decoded payload as text: ` name=value` for each field, a space before each, as
   * `writeFields` writes `decode`'s fields. Built-in decoders write it without building the fields.
   */
  writeFields(event: number, words: Uint32Array, start: number, count: number, out: FieldTextWriter): void;
  /** Domain/vCPU the record names (see {@link EventDecoder.subject}); sets out to -1 and returns false otherwise. */
  subject(event: number, words: Uint32Array, start: number, count: number, out: Int32Array): boolean;
}

/** Position of a version in {@link XEN_VERSIONS}, for range checks. */
export function versionIndex(version: XenVersion): number {
  return XEN_VERSIONS.indexOf(version);
}

/** Whether a decoder's since/until range covers `version`. */
export function appliesTo(decoder: Pick<EventDecoder, 'since' | 'until'>, version: XenVersion): boolean {
  const v = versionIndex(version);
  if (decoder.since !== undefined && v < versionIndex(decoder.since)) return false;
  if (decoder.until !== undefined && v > versionIndex(decoder.until)) return false;
  return true;
}
