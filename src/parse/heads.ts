// SPDX-License-Identifier: MIT
/**
 * HeadSet: which pCPU's next record comes first, for both merges.
 * @module
 */

/** A per-pCPU source of records in a merge, seen through its head (next) record. */
export interface MergeHead {
  /** Merge key (TSC relative to the merge's base) of the head record. */
  headKey: number;
  /** File offset of the head record: breaks ties, so that equal TSCs keep file order. */
  headOffset: number;
  /** Position in the {@link HeadSet}, or -1 when not in it. */
  activeIndex: number;
}

/** Sources up to which a linear scan picks the next run (measured faster than a heap for few pCPUs). */
const LINEAR_SELECTION_MAX = 8;

/**
 * The sources whose head record is ready, ordered by (head key, head offset). {@link HeadSet.select}
 * gives the first and the runner-up's head, so that a merge can emit a whole run of the first source
 * with one key comparison per record. An unordered list while there are few sources, a binary heap
 * beyond that (O(log pCPUs) per run; runs average about two records on real traces).
 */
export class HeadSet<T extends MergeHead> {
  readonly #items: T[] = [];
  /** Whether `#items` is kept as a binary heap. */
  #heapOrdered = false;
  /** After {@link HeadSet.select}: the runner-up's head key and offset (Infinity when there is none). */
  otherKey = Infinity;
  otherOffset = Infinity;

  get size(): number {
    return this.#items.length;
  }

  /** The source with the first head; sets `otherKey`/`otherOffset`. The set must not be empty. */
  select(): T {
    const items = this.#items;
    let otherKey = Infinity;
    let otherOffset = Infinity;
    let q = items[0]!;
    if (this.#heapOrdered) {
      // The smallest head is the root; the runner-up is one of its children.
      if (items.length > 1) {
        let other = items[1]!;
        if (items.length > 2 && precedes(items[2]!, other)) other = items[2]!;
        otherKey = other.headKey;
        otherOffset = other.headOffset;
      }
    } else {
      // Few sources: one pass finds the smallest and the runner-up (cheaper than a heap's bookkeeping).
      let key = q.headKey;
      let offset = q.headOffset;
      for (let a = 1; a < items.length; a++) {
        const c = items[a]!;
        const k = c.headKey;
        if (k < key || (k === key && c.headOffset < offset)) {
          otherKey = key;
          otherOffset = offset;
          q = c;
          key = k;
          offset = c.headOffset;
        } else if (k < otherKey || (k === otherKey && c.headOffset < otherOffset)) {
          otherKey = k;
          otherOffset = c.headOffset;
        }
      }
    }
    this.otherKey = otherKey;
    this.otherOffset = otherOffset;
    return q;
  }

  /** Adds a source whose head is ready (`headKey`/`headOffset` set). */
  add(q: T): void {
    const items = this.#items;
    q.activeIndex = items.length;
    items.push(q);
    if (this.#heapOrdered) {
      this.#siftUp(q.activeIndex);
    } else if (items.length > LINEAR_SELECTION_MAX) {
      this.#heapOrdered = true;
      for (let i = (items.length >>> 1) - 1; i >= 0; i--) this.#siftDown(i);
    }
  }

  /** Takes a source out (in heap order it is the root: the source just emitted from). */
  remove(q: T): void {
    const items = this.#items;
    const i = q.activeIndex;
    const last = items.pop()!;
    q.activeIndex = -1;
    if (last !== q) {
      items[i] = last;
      last.activeIndex = i;
      if (this.#heapOrdered) this.#siftDown(i);
    }
    // An ordered list is still a valid unordered one.
    if (items.length <= LINEAR_SELECTION_MAX) this.#heapOrdered = false;
  }

  /** The selected source's head moved on (its key can only have grown or stayed). */
  headMoved(): void {
    if (this.#heapOrdered) this.#siftDown(0);
  }

  #siftUp(i: number): void {
    const heap = this.#items;
    while (i > 0) {
      const parent = (i - 1) >>> 1;
      if (!precedes(heap[i]!, heap[parent]!)) break;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #siftDown(i: number): void {
    const heap = this.#items;
    const n = heap.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) return;
      const r = l + 1;
      const c = r < n && precedes(heap[r]!, heap[l]!) ? r : l;
      if (!precedes(heap[c]!, heap[i]!)) return;
      this.#swap(i, c);
      i = c;
    }
  }

  #swap(i: number, j: number): void {
    const heap = this.#items;
    const a = heap[i]!;
    const b = heap[j]!;
    heap[i] = b;
    heap[j] = a;
    a.activeIndex = j;
    b.activeIndex = i;
  }
}

/** Whether source `a`'s head comes before source `b`'s: (key, file offset). */
function precedes(a: MergeHead, b: MergeHead): boolean {
  return a.headKey < b.headKey || (a.headKey === b.headKey && a.headOffset < b.headOffset);
}
