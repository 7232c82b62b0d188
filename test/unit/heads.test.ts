// SPDX-License-Identifier: MIT
// HeadOrder against a plain sorted list: random inserts, moves of the first slot and removals, with few
// slots (the linear walk) and many (the binary search and move).
import { describe, expect, it } from 'vitest';
import { HeadOrder } from '../../src/parse/heads.js';

/** A small deterministic generator (tests must not depend on Math.random). */
function generator(seed: number): () => number {
  let state = Math.imul(seed, 2654435761) >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
}

describe('HeadOrder', () => {
  it('keeps the first and the runner-up of every slot, with few and with many slots', () => {
    let manySteps = 0;
    let backToFew = 0;
    let hadMany = false;
    for (let seed = 1; seed <= 60; seed++) {
      const random = generator(seed);
      random();
      const slots = 2 + Math.floor(random() * 60);
      const heads = new HeadOrder(slots);
      // The reference: each active slot's (key, offset); offsets differ, so slots never tie.
      const active = new Map<number, [number, number]>();
      const sorted = () =>
        [...active.entries()].sort(([, a], [, b]) => a[0] - b[0] || a[1] - b[1]).map(([slot]) => slot);
      let nextOffset = 0;
      // Keys from a small range, so that ties on key (broken by offset) happen.
      const keyNear = (base: number) => base + Math.floor(random() * 8);
      let base = 0;
      for (let step = 0; step < 3000; step++) {
        const roll = random();
        const idle = [...Array(slots).keys()].filter((slot) => !active.has(slot));
        if (idle.length > 0 && (active.size === 0 || roll < 0.15)) {
          const slot = idle[Math.floor(random() * idle.length)]!;
          const head: [number, number] = [keyNear(base), nextOffset++];
          active.set(slot, head);
          heads.insert(slot, head[0], head[1]);
        } else if (roll < 0.22) {
          active.delete(heads.order[0]!);
          heads.removeFirst();
        } else {
          base += 1;
          const head: [number, number] = [keyNear(base), nextOffset++];
          active.set(heads.order[0]!, head);
          heads.firstMoved(head[0], head[1]);
        }
        const want = sorted();
        expect(heads.count, `seed ${seed}, step ${step}`).toBe(want.length);
        if (want.length > 0) expect(heads.order[0], `seed ${seed}, step ${step}`).toBe(want[0]);
        if (want.length > 1) {
          expect(heads.order[1], `seed ${seed}, step ${step}`).toBe(want[1]);
          expect([heads.secondKey, heads.secondOffset]).toEqual(active.get(want[1]!));
        }
        // The whole order is sorted (the exact merge's run loop walks it).
        expect(Array.from(heads.order.subarray(0, heads.count)), `seed ${seed}, step ${step}`).toEqual(want);
        if (want.length > 16) manySteps++;
        if (want.length === 16 && hadMany) backToFew++;
        hadMany = want.length > 16;
      }
    }
    // Not a vacuous pass: many steps had more than 16 slots, and the count went back to 16 from there.
    expect(manySteps).toBeGreaterThan(10_000);
    expect(backToFew).toBeGreaterThan(20);
  });
});
