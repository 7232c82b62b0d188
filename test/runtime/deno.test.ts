// SPDX-License-Identifier: MIT
// The built package under Deno 2 (the npm `deno` binary, a dev dependency): the same statistics and
// merged order as under Node, from bytes, a Blob, a Web stream, gzip and a file; worker threads too.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const deno = join(root, 'node_modules', '.bin', 'deno');
const hasDeno = existsSync(deno);
const built = existsSync(join(root, 'dist', 'index.js'));
if (!hasDeno) console.warn('deno runtime test skipped: node_modules/.bin/deno is absent (npm ci installs it)');

describe('Deno', () => {
  it.skipIf(!hasDeno || !built)('decodes the demo trace exactly as Node does', async () => {
    const trace = join(root, 'demo', 'domain-create-small.xentrace');
    const bytes = new Uint8Array(readFileSync(trace));
    const gzipped = join(mkdtempSync(join(tmpdir(), 'xenspan-deno-')), 'demo.xentrace.gz');
    writeFileSync(gzipped, gzipSync(bytes));
    const output = execFileSync(deno, ['run', `--allow-read=${root},${gzipped}`, '--no-prompt', join(root, 'test', 'runtime', 'deno-main.mjs'), trace, gzipped], {
      encoding: 'utf8',
      env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' },
    });
    const fromDeno = JSON.parse(output) as Record<string, unknown>;
    const { smoke, rowsDigest } = (await import(join(root, 'test', 'runtime', 'smoke.mjs'))) as {
      smoke: (trace: Uint8Array, gzipped: Uint8Array) => Promise<Record<string, unknown>>;
      rowsDigest: (input: Uint8Array) => Promise<{ records: number; hash: number }>;
    };
    const fromNode = await smoke(bytes, new Uint8Array(readFileSync(gzipped)));
    expect(fromDeno.runtime).toMatch(/^deno 2\./);
    for (const key of Object.keys(fromNode)) expect(fromDeno[key], key).toEqual(fromNode[key]);
    // Every input form gives the same statistics, and both merges the same order.
    expect(fromNode.fromBlob).toEqual(fromNode.fromBytes);
    expect(fromNode.fromStream).toEqual(fromNode.fromBytes);
    expect(fromNode.fromGzip).toEqual(fromNode.fromBytes);
    expect(fromNode.exact).toEqual(fromNode.stream);
    expect((fromNode.fromBytes as { records: number }).records).toBeGreaterThan(10000);
    expect(fromDeno.fromFileRecords).toBe((fromNode.fromBytes as { records: number }).records);
    expect(fromDeno.gzipInWorker).toBe((fromNode.fromBytes as { records: number }).records);
    expect(fromDeno.gzipWorkerStreams).toBe(1);
    // Worker threads in Deno: slices of the file merged by one gave the rows of a single-thread merge.
    expect(fromDeno.threadedMatches).toBe(true);
    expect(fromDeno.helperSlices).toBeGreaterThan(2);
    // Web Workers in Deno (xenspan/web), on a Blob and on shared bytes: the rows of one thread, column by column.
    const alone = await rowsDigest(bytes);
    const webWorkers = fromDeno.webWorkers as { fromBlob: unknown; fromShared: unknown; workerSlices: number };
    expect(webWorkers.fromBlob).toEqual(alone);
    expect(webWorkers.fromShared).toEqual(alone);
    expect(webWorkers.workerSlices).toBeGreaterThan(4);
  });
});
