// SPDX-License-Identifier: MIT
// `dump`'s default format threads on a machine with many cores: a few, not one per core.
import { describe, expect, it, vi } from 'vitest';
import type { ByteSource } from '../../src/core/io.js';

vi.mock('node:os', async (importOriginal) => {
  const os = await importOriginal<typeof import('node:os')>();
  return { ...os, default: { ...os, availableParallelism: () => 256 }, availableParallelism: () => 256 };
});

const { autoThreads } = await import('../../src/cli/main.js');

describe('xenspan dump, default threads', () => {
  it('starts at most 4 format threads by default, however many cores', async () => {
    const source: ByteSource = {
      name: 'big',
      size: 400 << 20,
      chunks: async function* () {},
      readAt: async () => Uint8Array.from([0x03, 0xf0, 0x01, 0x20]),
    };
    const threads = await autoThreads(source);
    expect(threads).toBe(4);
  });
});
