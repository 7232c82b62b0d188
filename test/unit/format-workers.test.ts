// SPDX-License-Identifier: MIT
// `dump --threads N`: batches formatted in worker threads and here give the bytes of one thread, in
// order, whatever fails or waits. The workers load the built module (dist/cli/format-worker.js): `npm
// test` builds first, as for the merge workers.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { copyRecordBatch } from '../../src/core/batch.js';
import type { RecordBatch } from '../../src/core/batch.js';
import { decodeTrace } from '../../src/core/pipeline.js';
import type { DumpView } from '../../src/cli/dump.js';

const demo = new Uint8Array(readFileSync(new URL('../../demo/domain-create-small.xentrace', import.meta.url)));
const built = new URL('../../dist/cli/', import.meta.url).href;

/** The demo's batches (small ones, so that there are many), copied with their running vCPUs, and the run. */
async function demoBatches() {
  const batches: { rows: RecordBatch; view: DumpView }[] = [];
  await decodeTrace(demo, (batch, run) => {
    const context = run.context === undefined ? undefined : { domid: run.context.domid.slice(0, batch.length), vcpu: run.context.vcpu.slice(0, batch.length) };
    batches.push({ rows: copyRecordBatch(batch), view: { setup: run.setup, originTsc: run.originTsc, context } });
  }, { batchSize: 1024, trackContext: true, xenVersion: '4.17' });
  return batches;
}

/** A stream that keeps what is written; `blockEvery`: every so many writes, it says it is full until drained. */
function keepingStream(blockEvery = 0) {
  const chunks: Uint8Array[] = [];
  let writes = 0;
  let drain: (() => void) | undefined;
  return {
    chunks,
    text: () => Buffer.concat(chunks).toString('latin1'),
    write(chunk: string | Uint8Array) {
      chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Uint8Array.from(chunk));
      writes++;
      if (blockEvery > 0 && writes % blockEvery === 0) {
        setTimeout(() => drain?.(), 1);
        return false;
      }
      return true;
    },
    once(_event: 'drain', listener: () => void) {
      drain = listener;
    },
  };
}

async function serialText(batches: { rows: RecordBatch; view: DumpView }[], options: object): Promise<string> {
  const { DumpFormatter } = await import(`${built}dump.js`);
  const { LineWriter } = await import(`${built}output.js`);
  const stream = keepingStream();
  const writer = new LineWriter(stream);
  const formatter = new DumpFormatter(options);
  for (const { rows, view } of batches) formatter.format(rows, view, writer);
  writer.flush();
  return stream.text();
}

async function parallelText(batches: { rows: RecordBatch; view: DumpView }[], options: object, threads: number, stream = keepingStream(), stopAfter = Infinity) {
  const { DumpFormatter } = await import(`${built}dump.js`);
  const { ParallelFormat } = await import(`${built}format-workers.js`);
  const parallel = new ParallelFormat(threads, options, new DumpFormatter(options), stream);
  let added = 0;
  for (const { rows, view } of batches) {
    if (added++ === stopAfter) await parallel.close(); // every worker gone: the rest is formatted here
    parallel.add(rows, view);
    const wait = parallel.wait();
    if (wait !== undefined) await wait;
  }
  await parallel.finish();
  return { text: stream.text(), here: parallel.formattedHere as number, byWorkers: parallel.formattedByWorkers as number };
}

describe('format workers (dump --threads N)', () => {
  it('give the bytes of one thread, in batch order, with the workers formatting some of the batches', async () => {
    const batches = await demoBatches();
    expect(batches.length).toBeGreaterThan(30);
    for (const options of [{ hz: 2.4e9 }, { raw: true }, { hz: 2.4e9, fromNs: 1e6, toNs: 5e7 }]) {
      const serial = await serialText(batches, options);
      const parallel = await parallelText(batches, options, 2);
      expect(parallel.text).toBe(serial);
      expect(parallel.byWorkers).toBeGreaterThan(0);
      expect(parallel.byWorkers + parallel.here).toBe(batches.length);
    }
  });

  it('wake every waiter when the first batch in line is formatted (a second wait() once orphaned the first)', async () => {
    const batches = await demoBatches();
    const { DumpFormatter } = await import(`${built}dump.js`);
    const { ParallelFormat } = await import(`${built}format-workers.js`);
    const parallel = new ParallelFormat(1, { hz: 2.4e9 }, new DumpFormatter({ hz: 2.4e9 }), keepingStream());
    let first: Promise<void> | undefined;
    let second: Promise<void> | undefined;
    for (const { rows, view } of batches) {
      parallel.add(rows, view);
      first = parallel.wait();
      if (first !== undefined) {
        second = parallel.wait();
        break;
      }
    }
    expect(first).toBeDefined();
    // Both settle (an orphaned one would hang this test until its timeout).
    await Promise.all([first, second]);
    await parallel.finish();
  });

  it('wait for a full output stream, and lose nothing when the workers end mid-run', async () => {
    const batches = await demoBatches();
    const serial = await serialText(batches, { hz: 2.4e9 });
    const blocked = await parallelText(batches, { hz: 2.4e9 }, 1, keepingStream(3));
    expect(blocked.text).toBe(serial);
    const ended = await parallelText(batches, { hz: 2.4e9 }, 2, keepingStream(), 5);
    expect(ended.text).toBe(serial);
    expect(ended.here).toBeGreaterThan(batches.length - 10);
  });
});
