// SPDX-License-Identifier: MIT
// The published shape: every export resolves to a built file, universal entries reach no node: module,
// and no stage imports a later one.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, string | Record<string, string>>;
  bin: Record<string, string>;
  files: string[];
  scripts: Record<string, string>;
};
const built = existsSync(join(root, 'dist', 'index.js'));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)].map((m) => m[1]);
}

describe('package shape', () => {
  it.skipIf(!built)('every export condition and the bin point at built files', () => {
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      const files = typeof target === 'string' ? [target] : Object.values(target);
      for (const file of files) expect(existsSync(join(root, file)), `${subpath} → ${file}`).toBe(true);
    }
    expect(existsSync(join(root, pkg.bin.xenspan))).toBe(true);
    expect(readFileSync(join(root, pkg.bin.xenspan), 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
  });

  it('npm pack builds dist first (it is not in git) and ships it', () => {
    // Packing the whole build here would race the tests that run the built binary.
    expect(pkg.scripts.prepack).toBe('npm run -s build');
    expect(pkg.files).toContain('dist');
    expect(readFileSync(join(root, '.gitignore'), 'utf8')).toMatch(/^\/?dist\/?$/m);
  });

  it('only src/node and src/cli import node: modules', () => {
    for (const file of sources(join(root, 'src'))) {
      const where = relative(join(root, 'src'), file);
      if (where.startsWith('node/') || where.startsWith('cli/')) continue;
      expect(importsOf(file).filter((spec) => spec.startsWith('node:')), where).toEqual([]);
      expect(readFileSync(file, 'utf8'), where).not.toMatch(/\bBuffer\.|\bprocess\./);
    }
  });

  it('no stage imports a later one (parse → clock → span → export)', () => {
    const order = ['core', 'parse', 'clock', 'span', 'export'];
    for (const file of sources(join(root, 'src'))) {
      const stage = relative(join(root, 'src'), file).split('/')[0];
      const rank = order.indexOf(stage);
      if (rank < 0 || stage === 'core') continue; // core's pipeline composes the stages
      for (const spec of importsOf(file).filter((s) => s.startsWith('.'))) {
        const target = relative(join(root, 'src'), join(dirname(file), spec)).split('/')[0];
        const targetRank = order.indexOf(target);
        if (targetRank >= 0) expect(targetRank, `${relative(root, file)} imports ${spec}`).toBeLessThanOrEqual(rank);
      }
    }
  });
});
