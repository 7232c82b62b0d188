// SPDX-License-Identifier: MIT
// Filters while decoding: xentrace -e masks, pCPUs, domains (named or running), vCPUs, TSC window.
import { describe, expect, it } from 'vitest';
import { createCatalogue } from '../../src/core/catalogue/index.js';
import { decodeTrace } from '../../src/core/pipeline.js';
import type { RecordFilterOptions } from '../../src/parse/filter.js';
import { matchesEventMask } from '../../src/parse/filter.js';
import { EV, TraceBuilder, runstateWord } from '../support/trace-builder.js';

describe('xentrace -e mask semantics', () => {
  it('needs the event bits, the class bits and the subclass bits to intersect, as Xen does', () => {
    expect(matchesEventMask(0x0ffff000, EV.runstate(1, 0))).toBe(true);
    expect(matchesEventMask(0x0002f000, EV.runstate(1, 0))).toBe(true);
    expect(matchesEventMask(0x00021000, EV.runstate(1, 0))).toBe(true);
    expect(matchesEventMask(0x00028000, EV.runstate(1, 0))).toBe(false);
    expect(matchesEventMask(0x0002f000, EV.hypercall)).toBe(false);
    // The mask used for the demo capture: sched runstate + verbose, dom0op, PV subclass 1.
    expect(matchesEventMask(0x00269000, EV.hypercall)).toBe(true);
    expect(matchesEventMask(0x00269000, EV.domAdd)).toBe(true);
    expect(matchesEventMask(0x00269000, 0x0020200e)).toBe(false);
  });
});

describe('decodeTrace filters', () => {
  // pCPU 0 runs d0v0, then d2v0; pCPU 1 runs d0v1. Hypercalls name no domain: they belong to what runs.
  const bytes = new TraceBuilder()
    .window(0, [
      { event: EV.runstate(1, 0), tsc: 10n, words: [runstateWord(0, 0)] },
      { event: EV.hypercall, tsc: 11n, words: [36] },
      { event: EV.domAdd, tsc: 12n, words: [2] },
      { event: EV.runstate(0, 2), tsc: 13n, words: [runstateWord(0, 0)] },
      { event: EV.runstate(1, 0), tsc: 14n, words: [runstateWord(2, 0)] },
      { event: EV.hypercall, tsc: 15n, words: [29] },
    ])
    .window(1, [
      { event: EV.runstate(1, 0), tsc: 10n, words: [runstateWord(0, 1)] },
      { event: EV.hypercall, tsc: 16n, words: [24] },
    ])
    .bytes();

  async function kept(filter: RecordFilterOptions): Promise<string[]> {
    const out: string[] = [];
    await decodeTrace(
      bytes,
      (batch) => {
        for (let i = 0; i < batch.length; i++) out.push(`${batch.pcpu[i]}:${batch.tscLo[i]}`);
      },
      { filter },
    );
    return out;
  }

  it('keeps everything without criteria', async () => {
    expect(await kept({})).toHaveLength(8);
  });

  it('by event mask and pCPU', async () => {
    expect(await kept({ eventMasks: [0x0020f000] })).toEqual(['0:11', '0:15', '1:16']);
    expect(await kept({ eventMasks: [0x0004f000, 0x0020f000], pcpus: [0] })).toEqual(['0:11', '0:12', '0:15']);
  });

  it('by domain: records that name it, and records made while it ran', async () => {
    expect(await kept({ domains: [2] })).toEqual(['0:12', '0:14', '0:15']);
    expect(await kept({ domains: [0], vcpus: [1] })).toEqual(['1:10', '1:16']);
  });

  it('by TSC window', async () => {
    expect(await kept({ tscFrom: 12n, tscTo: 14n })).toEqual(['0:12', '0:13', '0:14']);
  });

  it('rejects bad options with an error naming the option', async () => {
    await expect(kept({ pcpus: [-1] })).rejects.toMatchObject({ code: 'invalid_options', option: 'filter.pcpus.0' });
    await expect(decodeTrace(bytes, () => {}, { merge: 'sideways' as never })).rejects.toMatchObject({
      code: 'invalid_options',
      option: 'merge',
      message: 'option merge must be one of auto, exact, stream',
    });
  });

  it('the catalogue tells which domain a record names', () => {
    const catalogue = createCatalogue();
    const out = new Int32Array(2);
    expect(catalogue.subject(EV.domAdd, new Uint32Array([2]), 0, 1, out)).toBe(true);
    expect(out[0]).toBe(2);
    expect(catalogue.subject(EV.hypercall, new Uint32Array([36]), 0, 1, out)).toBe(false);
  });
});

describe('unknown events', () => {
  it('decode as raw words with a diagnostic, never an error', async () => {
    const bytes = new TraceBuilder()
      .window(0, [
        { event: EV.runstate(1, 0), tsc: 1n, words: [0] },
        { event: EV.guest, words: [1, 2] },
        { event: 0x0002f0ff, tsc: 2n, words: [3] },
        { event: 0x0002f0ff, tsc: 3n, words: [3] },
      ])
      .bytes();
    let rows = 0;
    const { setup } = await decodeTrace(bytes, (batch) => (rows += batch.length));
    expect(rows).toBe(4);
    expect(setup.diagnostics.counts).toEqual({ guest_record: 1, unknown_event: 2 });
    expect(setup.catalogue.nameOf(EV.guest)).toBe('unknown_guest_0x0800f001');
    expect(setup.diagnostics.samples.map((s) => s.message)).toContain(
      'pCPU 0: event 0x0002f0ff at offset 40 (0x28) is not in the Xen 4.17 catalogue, decoded as raw words',
    );
  });
});
