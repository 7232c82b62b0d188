// SPDX-License-Identifier: MIT
/**
 * HeadOrder: which pCPU's next record comes first, for both merges.
 * @module
 */

/** Active slots up to which moving the first one to its place is a linear walk (cheaper than a search). */
export const LINEAR_REORDER_MAX = 16;

/**
 * The per-pCPU sources of a merge that have a record ready, as slot numbers sorted by their head record's
 * (key, file offset): `order[0]` is the next record's source and `order[1]` the runner-up, whose head
 * ends the first one's run. After a run only the first slot moves; on real traces it goes back a place
 * or two, so that costs about a comparison per run (a binary search and one move with many pCPUs).
 */
export class HeadOrder {
  /** Merge key of each slot's head record (TSC relative to the merge's base). */
  key: Float64Array;
  /** File offset of each slot's head record: breaks ties, so that equal TSCs keep file order. */
  offset: Float64Array;
  /** Active slots, sorted; `count` of them. */
  order: Int32Array;
  count = 0;

  constructor(slots: number) {
    this.key = new Float64Array(Math.max(1, slots));
    this.offset = new Float64Array(Math.max(1, slots));
    this.order = new Int32Array(Math.max(1, slots));
  }

  /** Key of the runner-up's head (the second slot's), which ends the first slot's run; Infinity if alone. */
  get secondKey(): number {
    return this.count > 1 ? this.key[this.order[1]!]! : Infinity;
  }

  /** File offset of the runner-up's head (Infinity if alone). */
  get secondOffset(): number {
    return this.count > 1 ? this.offset[this.order[1]!]! : Infinity;
  }

  /** Room for slots `0 … slots − 1`. */
  reserve(slots: number): void {
    if (slots <= this.key.length) return;
    const capacity = Math.max(slots, this.key.length * 2);
    const key = new Float64Array(capacity);
    const offset = new Float64Array(capacity);
    const order = new Int32Array(capacity);
    key.set(this.key);
    offset.set(this.offset);
    order.set(this.order);
    this.key = key;
    this.offset = offset;
    this.order = order;
  }

  /** Adds a slot whose head is ready, with its head's key and offset. */
  insert(slot: number, key: number, offset: number): void {
    this.key[slot] = key;
    this.offset[slot] = offset;
    const order = this.order;
    const at = this.#place(slot, 0);
    order.copyWithin(at + 1, at, this.count);
    order[at] = slot;
    this.count++;
  }

  /** Drops the first slot (its source ran dry). */
  removeFirst(): void {
    this.order.copyWithin(0, 1, this.count);
    this.count--;
  }

  /** The first slot's head moved on to a record with this key and offset: moves it to its place. */
  firstMoved(key: number, offset: number): void {
    const order = this.order;
    const keys = this.key;
    const offsets = this.offset;
    const count = this.count;
    const slot = order[0]!;
    keys[slot] = key;
    offsets[slot] = offset;
    if (count <= LINEAR_REORDER_MAX) {
      // Few slots: shift the ones that now come first (a builtin call costs more than a short loop). The
      // exact merge's run loop writes this walk out too (see exact.ts): change both together.
      let i = 0;
      for (; i + 1 < count; i++) {
        const next = order[i + 1]!;
        const k = keys[next]!;
        if (k > key || (k === key && offsets[next]! > offset)) break;
        order[i] = next;
      }
      order[i] = slot;
      return;
    }
    const at = this.#place(slot, 1);
    if (at === 1) return;
    order.copyWithin(0, 1, at);
    order[at - 1] = slot;
  }

  /** Keys every active slot again with `keyOf` and re-sorts them (after the merge's base changed). */
  rekey(keyOf: (slot: number) => number): void {
    const slots = Array.from(this.order.subarray(0, this.count));
    this.count = 0;
    for (const slot of slots) this.insert(slot, keyOf(slot), this.offset[slot]!);
  }

  /** First index from `from` whose slot comes after `slot` (binary search; slots never tie). */
  #place(slot: number, from: number): number {
    const order = this.order;
    const keys = this.key;
    const offsets = this.offset;
    const key = keys[slot]!;
    const offset = offsets[slot]!;
    let low = from;
    let high = this.count;
    while (low < high) {
      const mid = (low + high) >>> 1;
      const other = order[mid]!;
      const k = keys[other]!;
      if (k < key || (k === key && offsets[other]! < offset)) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
