// SPDX-License-Identifier: MIT
// The messages between an exact merge and its workers (src/parse/slice-workers.ts), which Node's worker
// threads and the Web Workers of xenspan/web both use: here over a MessageChannel in this thread, so that
// every message is cloned and its buffers moved as between threads. The real workers are tested in
// slices.test.ts (Node) and the Deno and Chromium runtime tests (Web Workers).
import { readFileSync } from 'node:fs';
import { MessageChannel } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Diagnostics } from '../../src/core/diagnostics.js';
import { WorkerSliceHelper, openSharedInput, serveSliceTasks } from '../../src/parse/slice-workers.js';
import type { OpenSharedInput } from '../../src/parse/slice-workers.js';
import type { SliceResult, SliceTask } from '../../src/parse/slices.js';
import type { RecordBatch } from '../../src/core/batch.js';
import { mergedRows } from '../support/decode.js';
import { diagnosticsText, shared } from '../support/slices.js';

const demo = new Uint8Array(readFileSync(new URL('../../demo/domain-create-small.xentrace', import.meta.url)));

const open: MessagePort[] = [];
afterEach(() => {
  for (const port of open.splice(0)) port.close();
});

/** A helper whose "worker" is `serveSliceTasks` at the other end of a MessageChannel. */
function channelHelper(openInput?: OpenSharedInput) {
  const { port1, port2 } = new MessageChannel();
  open.push(port1, port2);
  const seen = { tasks: 0, recycled: 0, results: 0 };
  const serve = serveSliceTasks((message, transfer) => port2.postMessage(message, transfer), openInput);
  port2.on('message', (message: { task?: unknown; recycle?: RecordBatch }) => {
    if (message.task !== undefined) seen.tasks++;
    if (message.recycle !== undefined) seen.recycled++;
    serve(message);
  });
  const helper = new WorkerSliceHelper({
    post: (message, transfer) => port1.postMessage(message, transfer),
    terminate: () => port1.close(),
  });
  port1.on('message', (message: unknown) => {
    seen.results++;
    helper.receive(message);
  });
  return { helper, seen };
}

const fullDiagnostics = () => new Diagnostics({ samplesPerCode: 1000 });

describe('slice workers (the protocol of xenspan/node and xenspan/web workers)', () => {
  it('give the rows and diagnostics of one merge, with results moved and columns recycled', async () => {
    const reference = await mergedRows(demo, { merge: 'exact', diagnostics: fullDiagnostics() });
    const first = channelHelper();
    const second = channelHelper();
    const { rows, diagnostics } = await mergedRows(shared(demo), {
      merge: 'exact',
      diagnostics: fullDiagnostics(),
      helpers: [first.helper, second.helper],
      sliceBytes: 64 * 1024,
    });
    expect(rows).toEqual(reference.rows);
    expect(diagnosticsText(diagnostics)).toBe(diagnosticsText(reference.diagnostics));
    for (const { seen } of [first, second]) {
      expect(seen.tasks).toBeGreaterThan(2);
      expect(seen.results).toBe(seen.tasks);
      // Each result's columns went back to its worker once handed out (the last message may be on its way).
      await vi.waitFor(() => expect(seen.recycled).toBe(seen.tasks));
    }
  });

  it('reads Blobs too, and reports an input it cannot read as a failed task (merged by the caller instead)', async () => {
    const reference = await mergedRows(demo, { merge: 'exact' });
    const { helper, seen } = channelHelper();
    const fromBlob = await mergedRows(new Blob([demo]), { merge: 'exact', helpers: [helper], sliceBytes: 64 * 1024 });
    expect(fromBlob.rows).toEqual(reference.rows);
    expect(seen.tasks).toBeGreaterThan(2);

    const refusing = channelHelper(async (input) => (input.kind === 'blob' ? Promise.reject(new Error('no Blobs here')) : openSharedInput(input)));
    const task = { input: { kind: 'blob', blob: new Blob([demo]) }, size: demo.length, slice: { lanes: [], pcpuCount: 1 } } as SliceTask;
    await expect(refusing.helper.mergeSlice(task)).rejects.toThrow('no Blobs here');
    // A refused task is not the worker's end: the next one is answered.
    const bytesTask = { ...task, input: { kind: 'bytes', buffer: shared(demo).buffer, byteOffset: 0, length: demo.length } } as SliceTask;
    const result: SliceResult = await refusing.helper.mergeSlice(bytesTask);
    expect(result.rows.length).toBe(0);
    // The whole decode with a helper that refuses every slice: the caller merged them all.
    const caller = await mergedRows(new Blob([demo]), { merge: 'exact', helpers: [refusing.helper], sliceBytes: 64 * 1024 });
    expect(caller.rows).toEqual(reference.rows);
  });

  it('reject the tasks of a worker that failed or was closed, then and later', async () => {
    const { port1 } = new MessageChannel();
    open.push(port1);
    const posted: unknown[] = [];
    const helper = new WorkerSliceHelper({ post: (message) => posted.push(message), terminate: () => port1.close() });
    const task = { input: { kind: 'file', path: '/nowhere', size: 0 }, size: 0, slice: { lanes: [], pcpuCount: 0 } } as SliceTask;
    const waiting = helper.mergeSlice(task);
    expect(posted).toHaveLength(1);
    helper.fail(new Error('worker exited (code 1)'));
    await expect(waiting).rejects.toThrow('worker exited (code 1)');
    await expect(helper.mergeSlice(task)).rejects.toThrow('worker exited (code 1)');
    // Nothing more is posted to a failed worker, recycled columns included.
    helper.recycle({ length: 0 } as RecordBatch);
    expect(posted).toHaveLength(1);

    const closing = new WorkerSliceHelper({ post: () => undefined, terminate: () => undefined });
    const pending = closing.mergeSlice(task);
    await closing.close();
    await expect(pending).rejects.toThrow('closed');
  });

  it('xenspan/web starts its workers as bundlers recognise them (new Worker(new URL(…, import.meta.url)))', () => {
    // Vite and webpack ship a worker's module only for this literal form; any other (a Worker class from
    // globalThis, say) leaves it out of the bundle, and the workers then fail to start.
    const built = readFileSync(new URL('../../dist/web/index.js', import.meta.url), 'utf8');
    expect(built).toMatch(/new Worker\(new URL\('\.\/merge-worker\.js', import\.meta\.url\), \{ type: 'module'/);
  });

  it('xenspan/web says clearly that Node has no Web Workers', async () => {
    const { createWebMergeWorkers } = await import('../../src/web/index.js');
    expect(() => createWebMergeWorkers(1)).toThrow(/needs Web Workers; under Node use createMergeWorkers from xenspan\/node/);
  });
});
