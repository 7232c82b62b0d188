// SPDX-License-Identifier: MIT
/**
 * Event classes: the one-hot "main" field (bits 16–27) of a 28-bit xentrace event id.
 * @module
 */

/** Class names in the order xenalyze's volume summary uses, then the two it cannot represent. */
export const EVENT_CLASSES = ['gen', 'sched', 'dom0op', 'hvm', 'mem', 'pv', 'shadow', 'hw', 'guest', 'other'] as const;

/** A class name. `guest` is TRC_GUEST (HVMOP_xentrace); `other` is any id whose class bits are not one known bit. */
export type EventClass = (typeof EVENT_CLASSES)[number];

/** Index of `other` in {@link EVENT_CLASSES}. */
export const OTHER_CLASS_INDEX = EVENT_CLASSES.length - 1;

let classByMain: Uint8Array | undefined;

function buildClassTable(): Uint8Array {
  const table = new Uint8Array(4096).fill(OTHER_CLASS_INDEX);
  const mains = [0x001, 0x002, 0x004, 0x008, 0x010, 0x020, 0x040, 0x080, 0x800];
  for (let i = 0; i < mains.length; i++) table[mains[i]] = i;
  return table;
}

/**
 * The class table indexed by `(event >>> 16) & 0xfff`, giving an index into {@link EVENT_CLASSES}.
 * Built on first use so that importing this module has no side effect.
 */
export function classTable(): Uint8Array {
  return (classByMain ??= buildClassTable());
}

/** Index into {@link EVENT_CLASSES} of a 28-bit event id. */
export function classIndexOf(event: number): number {
  return classTable()[(event >>> 16) & 0xfff];
}

/** Class name of a 28-bit event id. */
export function classOf(event: number): EventClass {
  return EVENT_CLASSES[classIndexOf(event)];
}
