// SPDX-License-Identifier: MIT
// Writes synthetic xentrace bytes from a readable description, so that each edge case sits next to its
// expected result in the test.

/** One record: event id, optional TSC, payload words. */
export interface RecordSpec {
  readonly event: number;
  readonly tsc?: bigint;
  readonly words?: readonly number[];
}

/** Header word of a record. */
export function headerOf(event: number, words: number, withTsc: boolean): number {
  return ((withTsc ? 0x80000000 : 0) | ((words & 7) << 28) | (event & 0x0fffffff)) >>> 0;
}

/** Little-endian words of one record. */
export function recordWords(spec: RecordSpec): number[] {
  const words = spec.words ?? [];
  const out = [headerOf(spec.event, words.length, spec.tsc !== undefined)];
  if (spec.tsc !== undefined) out.push(Number(spec.tsc & 0xffffffffn), Number(spec.tsc >> 32n));
  out.push(...words.map((w) => w >>> 0));
  return out;
}

/** Builds a trace window by window. */
export class TraceBuilder {
  readonly #words: number[] = [];

  /** A CPU_CHANGE window with these records; `windowBytes` overrides the size written in its header. */
  window(pcpu: number, records: readonly RecordSpec[], windowBytes?: number): this {
    const body = records.flatMap(recordWords);
    this.#words.push(0x2001f003, pcpu >>> 0, windowBytes ?? body.length * 4);
    for (const word of body) this.#words.push(word);
    return this;
  }

  /** Raw words, for corruption cases. */
  raw(...words: number[]): this {
    this.#words.push(...words.map((w) => w >>> 0));
    return this;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.#words.length * 4);
    const view = new DataView(out.buffer);
    this.#words.forEach((w, i) => view.setUint32(i * 4, w, true));
    return out;
  }
}

/** Event ids the tests use. */
export const EV = {
  lost: 0x0001f001,
  wrap: 0x0001f002,
  runstate: (from: number, to: number) => 0x00021001 | (from << 8) | (to << 4),
  domAdd: 0x00041001,
  hypercall: 0x0020100d,
  vmentry: 0x00081001,
  guest: 0x0800f001,
  switchInfprev: 0x0002800e,
} as const;

/** The payload word of a runstate record. */
export function runstateWord(domid: number, vcpu: number): number {
  return ((domid << 16) | vcpu) >>> 0;
}
