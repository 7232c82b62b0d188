// SPDX-License-Identifier: MIT
// A random trace generator for the exact merge in slices with more features, and comparison helpers.
import { Diagnostics } from '../../src/core/diagnostics.js';
import type { DecodeOptions } from '../../src/parse/decode.js';
import { mergedRows, seededRandom } from './decode.js';
import { shared } from './slices.js';
import { EV, recordWords } from './trace-builder.js';

export function randomTrace2(seed: number, features = 0xff): Uint8Array {
  const random = seededRandom(seed);
  const words: number[] = [];
  const pcpus = 1 + Math.floor(random() * 12);
  const tsc = Array.from({ length: pcpus }, () => BigInt(Math.floor(random() * 1000)));
  const rounds = 3 + Math.floor(random() * 30);
  const startRound = Array.from({ length: pcpus }, () => (random() < 0.5 ? 0 : Math.floor(random() * rounds)));
  const started = Array.from({ length: pcpus }, () => false);
  const f = (bit: number) => (features & bit) !== 0;
  for (let round = 0; round < rounds; round++) {
    for (let pcpu = 0; pcpu < pcpus; pcpu++) {
      if (round < startRound[pcpu]!) { tsc[pcpu]! += 2000n; continue; }
      if (random() < 0.2) continue;
      const body: number[] = [];
      const first = !started[pcpu];
      started[pcpu] = true;
      if (f(1) && random() < 0.15) { words.push(0x2001f003, pcpu, 0); continue; } // empty window
      if (first && f(2) && random() < 0.4) {
        const n = Math.floor(random() * (random() < 0.3 ? 400 : 20));
        for (let i = 0; i < n; i++) body.push(...recordWords({ event: EV.runstate(1, 0), words: [i] }));
      }
      if (f(4) && random() < 0.15) {
        const r = random();
        const event = r < 0.5 ? EV.wrap : EV.lost;
        const at = random() < 0.5 ? undefined : tsc[pcpu]! + BigInt(Math.floor(random() * 3000)) - 500n;
        body.push(...recordWords({ event, ...(at === undefined ? {} : { tsc: at < 0n ? 0n : at }), words: event === EV.lost ? [3, 0, 0, 0] : [] }));
      }
      const count = Math.floor(random() * 40);
      const starts: number[] = [body.length];
      for (let i = 0; i < count; i++) {
        tsc[pcpu]! += BigInt(Math.floor(random() * 200));
        let at: bigint | undefined = tsc[pcpu]!;
        let event = EV.runstate(1, Math.floor(random() * 4));
        const roll = random();
        if (f(4) && roll < 0.02) event = EV.lost;
        else if (f(4) && roll < 0.04) event = EV.wrap;
        if (f(8) && random() < 0.03) at -= BigInt(Math.floor(random() * 3000));
        if (f(8) && random() < 0.003) at += 1_000_000n;
        if (f(16) && random() < 0.1) at = undefined;
        const payload = Array.from({ length: Math.floor(random() * 4) }, () => Math.floor(random() * 2 ** 32));
        body.push(...recordWords({ event, ...(at === undefined ? {} : { tsc: at < 0n ? 0n : at }), words: payload }));
        starts.push(body.length);
      }
      if (f(32) && random() < 0.04 && body.length > 0) {
        // A look-alike window header inside the window.
        const at = starts[Math.floor(random() * starts.length)]!;
        body.splice(at, 0, 0x2001f003, pcpu, 8);
      }
      if (f(64) && random() < 0.05) {
        // A record cut by the window's end.
        tsc[pcpu]! += 10n;
        const rec = recordWords({ event: EV.runstate(1, 0), tsc: tsc[pcpu]!, words: [1, 2] });
        body.push(...rec.slice(0, 1 + Math.floor(random() * (rec.length - 1))));
      }
      words.push(0x2001f003, pcpu, body.length * 4, ...body);
    }
  }
  const bytes = new Uint8Array(words.length * 4);
  const view = new DataView(bytes.buffer);
  words.forEach((word, i) => view.setUint32(i * 4, word >>> 0, true));
  return bytes;
}
