// SPDX-License-Identifier: MIT
// The dump's byte writer: numbers and hex exactly as String()/padStart write them, UTF-8 text, pieces in
// order across the buffer size, and backpressure.
import { describe, expect, it } from 'vitest';
import { formatFields, writeFields } from '../../src/core/catalogue/index.js';
import type { DecodedField } from '../../src/core/catalogue/index.js';
import { LineWriter } from '../../src/cli/output.js';
import { seededRandom } from '../support/decode.js';

function capture() {
  const pieces: Uint8Array[] = [];
  let drain: (() => void) | undefined;
  let full = false;
  const stream = {
    write(chunk: string | Uint8Array) {
      pieces.push(typeof chunk === 'string' ? new TextEncoder().encode(chunk) : Uint8Array.from(chunk));
      return !full;
    },
    once(_event: 'drain', listener: () => void) {
      drain = listener;
    },
  };
  const text = () => new TextDecoder().decode(Buffer.concat(pieces));
  return { stream, pieces, text, setFull: (value: boolean) => (full = value), drain: () => drain?.() };
}

describe('LineWriter', () => {
  it('writes numbers as String() does, right-aligned like padStart', () => {
    const random = seededRandom(3);
    const values = [0, 9, 10, 99, 100, 2 ** 31 - 1, 2 ** 31, 99_999_999, 1e8, 1e8 + 1, 2 ** 32, 1e15, 2 ** 53 - 1, -1, -123456789012, 0.5, 1e21, NaN];
    for (let k = 0; k < 2000; k++) values.push(Math.floor(random() * 2 ** (1 + Math.floor(random() * 52))));
    const { stream, text } = capture();
    const out = new LineWriter(stream);
    const expected: string[] = [];
    for (const value of values) {
      for (const width of [0, 3, 15]) {
        out.integer(value, width);
        out.endLine();
        expected.push(String(value).padStart(width));
      }
    }
    out.flush();
    expect(text()).toBe(`${expected.join('\n')}\n`);
  });

  it('writes 32-bit hex, ASCII and UTF-8 text, and right-aligns text', () => {
    const { stream, text } = capture();
    const out = new LineWriter(stream);
    for (const value of [0, 1, 0xdeadbeef, -1, 0x7fffffff, 0x80000000]) {
      out.hex32(value);
      out.char(0x20);
    }
    out.endLine();
    out.text('abc');
    out.alignedText('|d0v1 ünïcödé ✓|', 19);
    out.alignedText('longer than its width', 3); // no padding
    out.endLine();
    out.flush();
    expect(text()).toBe('0x00000000 0x00000001 0xdeadbeef 0xffffffff 0x7fffffff 0x80000000 \nabc   |d0v1 ünïcödé ✓|longer than its width\n');
  });

  it('sends whole pieces in order past the buffer size, and holds back while the stream is full', async () => {
    const { stream, pieces, text, setFull, drain } = capture();
    const out = new LineWriter(stream);
    const lines: string[] = [];
    for (let k = 0; k < 20000; k++) {
      const line = `line ${k} ${'x'.repeat(k % 50)}`;
      out.text(line);
      out.endLine();
      lines.push(line);
      if (k === 10000) setFull(true);
    }
    expect(pieces.length).toBeGreaterThan(3);
    for (const piece of pieces) expect(piece[piece.length - 1]).toBe(0x0a); // pieces end on a line
    const waiting = out.wait();
    expect(waiting).toBeInstanceOf(Promise);
    setFull(false);
    drain();
    await waiting;
    expect(out.wait()).toBeUndefined();
    out.flush();
    expect(text()).toBe(`${lines.join('\n')}\n`);
  });
});

describe('writeFields', () => {
  it('gives formatFields its text, for every kind of value', () => {
    const fields: DecodedField[] = [
      { name: 'domid', value: 7 },
      { name: 'signed', value: -3 },
      { name: 'mfn', value: 0xabc, hex: true },
      { name: 'wide', value: 0x1234_5678_9abc_def0n, hex: true },
      { name: 'count', value: 12345678901234567890n },
      { name: 'state', value: 'not running' },
    ];
    const expected = 'domid=7 signed=-3 mfn=0x00000abc wide=0x123456789abcdef0 count=12345678901234567890 state=not_running';
    expect(formatFields(fields)).toBe(expected);
    const { stream, text } = capture();
    const out = new LineWriter(stream);
    writeFields(fields, out);
    out.flush();
    expect(text()).toBe(expected);
  });

  it('replaces every kind of whitespace in strings, and only whitespace', () => {
    const values = ['plain_name', 'tab\there', 'line\nbreak', 'nbsp\u00a0x', 'em\u2003space', 'ideo\u3000x', 'bom\ufeffx', 'ünï\u0001cödé✓', ''];
    for (const value of values) {
      expect(formatFields([{ name: 's', value }])).toBe(`s=${value.replace(/\s/g, '_')}`);
    }
    expect(formatFields([{ name: 's', value: 'a b\tc\u2028d' }])).toBe('s=a_b_c_d');
  });
});
