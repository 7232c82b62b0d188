// SPDX-License-Identifier: MIT
// Bundles tsc's ESM output into dist/, one module per source file so that every subpath export stays
// tree-shakeable. Two guards run here because rollup sees the real module graph: universal entries must
// not reach a `node:` module, and the CLI gets its shebang.
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
const external = [...Object.keys(pkg.dependencies ?? {})];

const universal = {
  index: 'build/tsc/index.js',
  'core/index': 'build/tsc/core/index.js',
  'parse/index': 'build/tsc/parse/index.js',
  'clock/index': 'build/tsc/clock/index.js',
  'span/index': 'build/tsc/span/index.js',
  'export/index': 'build/tsc/export/index.js',
  'node/unsupported': 'build/tsc/node/unsupported.js',
  'web/index': 'build/tsc/web/index.js',
  'web/merge-worker': 'build/tsc/web/merge-worker.js',
};
const platform = {
  'node/index': 'build/tsc/node/index.js',
  'node/merge-worker': 'build/tsc/node/merge-worker.js',
  'node/decompress-worker': 'build/tsc/node/decompress-worker.js',
  'cli/bin': 'build/tsc/cli/bin.js',
  'cli/format-worker': 'build/tsc/cli/format-worker.js',
};

/** Fails the build when a universal entry's module graph imports a `node:` module. */
function universalGuard() {
  return {
    name: 'xenspan-universal-guard',
    generateBundle(_options, bundle) {
      const byName = new Map(Object.values(bundle).map((chunk) => [chunk.fileName, chunk]));
      for (const chunk of Object.values(bundle)) {
        if (chunk.type !== 'chunk' || !chunk.isEntry) continue;
        const entry = chunk.fileName.replace(/\.js$/, '');
        if (!(entry in universal)) continue;
        const seen = new Set();
        const stack = [chunk.fileName];
        while (stack.length > 0) {
          const file = stack.pop();
          if (seen.has(file)) continue;
          seen.add(file);
          const c = byName.get(file);
          if (!c || c.type !== 'chunk') continue;
          for (const imported of c.imports) {
            if (imported.startsWith('node:')) {
              this.error(`universal entry ${entry} reaches ${imported} through ${file}`);
            }
            stack.push(imported);
          }
        }
      }
    },
  };
}

/** Gives the CLI entry its shebang so that the `bin` runs directly. */
function cliShebang() {
  return {
    name: 'xenspan-cli-shebang',
    renderChunk(code, chunk) {
      if (chunk.fileName === 'cli/bin.js') return `#!/usr/bin/env node\n${code}`;
      return null;
    },
  };
}

export default {
  input: { ...universal, ...platform },
  external: (id) => id.startsWith('node:') || external.some((dep) => id === dep || id.startsWith(`${dep}/`)),
  treeshake: { moduleSideEffects: false },
  output: {
    dir: 'dist',
    format: 'es',
    preserveModules: true,
    preserveModulesRoot: 'build/tsc',
    sourcemap: true,
  },
  plugins: [universalGuard(), cliShebang()],
};
