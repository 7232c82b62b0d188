// SPDX-License-Identifier: MIT
// The built package in headless Chromium (Debian's chromium; .ci/run installs it): the same statistics
// and merged order as under Node, from bytes, a Blob, a Web stream and gzip; Web Workers merging slices too.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const chromium = process.env.CHROMIUM ?? '/usr/bin/chromium';
const hasChromium = existsSync(chromium);
const built = existsSync(join(root, 'dist', 'index.js'));
if (!hasChromium) console.warn(`browser runtime test skipped: ${chromium} is absent (apt-get install chromium, or set CHROMIUM)`);

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript' };

describe('browser', () => {
  it.skipIf(!hasChromium || !built)('decodes the demo trace exactly as Node does', async () => {
    const trace = new Uint8Array(readFileSync(join(root, 'demo', 'domain-create-small.xentrace')));
    const gzipped = gzipSync(trace);
    let deliver: (body: string) => void = () => {};
    const posted = new Promise<string>((resolve) => (deliver = resolve));
    // Serves the repository read-only (dist, node_modules, the page) plus the two inputs, and takes the result.
    const server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://localhost');
      if (request.method === 'POST' && url.pathname === '/result') {
        let body = '';
        request.on('data', (part: Buffer) => (body += part.toString('utf8')));
        request.on('end', () => {
          response.end('ok');
          deliver(body);
        });
        return;
      }
      const generated: Record<string, Uint8Array> = { '/trace.xentrace': trace, '/trace.xentrace.gz': gzipped };
      const file = normalize(join(root, decodeURIComponent(url.pathname)));
      const body = generated[url.pathname] ?? (file.startsWith(root) && existsSync(file) ? readFileSync(file) : undefined);
      if (body === undefined) {
        response.statusCode = 404;
        response.end();
        return;
      }
      response.setHeader('content-type', TYPES[extname(url.pathname)] ?? 'application/octet-stream');
      // Cross-origin isolation: the page may then share memory with its workers (SharedArrayBuffer).
      response.setHeader('cross-origin-opener-policy', 'same-origin');
      response.setHeader('cross-origin-embedder-policy', 'require-corp');
      response.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const profile = mkdtempSync(join(tmpdir(), 'xenspan-chromium-'));
    const browser = spawn(
      chromium,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-dev-shm-usage',
        `--user-data-dir=${profile}`,
        `http://127.0.0.1:${port}/test/runtime/browser.html`,
      ],
      // Its own process group, so that the renderer and helper processes end with it.
      { stdio: 'ignore', detached: true },
    );
    const exited = new Promise<void>((resolve) => {
      browser.once('exit', () => resolve());
      browser.once('error', () => resolve());
    });
    try {
      const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no result from Chromium in 90 s')), 90_000));
      const fromBrowser = JSON.parse(await Promise.race([posted, timeout])) as Record<string, unknown>;
      expect(fromBrowser.error).toBeUndefined();
      expect(fromBrowser.runtime).toMatch(/Chrome/);
      const { smoke, rowsDigest } = (await import(join(root, 'test', 'runtime', 'smoke.mjs'))) as {
        smoke: (trace: Uint8Array, gzipped: Uint8Array) => Promise<Record<string, unknown>>;
        rowsDigest: (input: Uint8Array) => Promise<{ records: number; hash: number }>;
      };
      const fromNode = await smoke(trace, new Uint8Array(gzipped));
      for (const key of Object.keys(fromNode)) expect(fromBrowser[key], key).toEqual(fromNode[key]);
      expect(fromNode.fromGzip).toEqual(fromNode.fromBytes);
      expect(fromNode.exact).toEqual(fromNode.stream);
      // Web Workers (xenspan/web) merged slices of a Blob and of shared memory: one thread's rows, column by column.
      expect(fromBrowser.isolated).toBe(true);
      const alone = await rowsDigest(trace);
      const webWorkers = fromBrowser.webWorkers as { fromBlob: unknown; fromShared: unknown; workerSlices: number };
      expect(webWorkers.fromBlob).toEqual(alone);
      expect(webWorkers.fromShared).toEqual(alone);
      expect(webWorkers.workerSlices).toBeGreaterThan(4);
    } finally {
      try {
        process.kill(-browser.pid!, 'SIGKILL');
      } catch {
        browser.kill('SIGKILL'); // the group is already gone
      }
      await exited;
      server.close();
      // Best effort: a helper process may still be flushing into the profile for a moment.
      rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    }
  });
});
