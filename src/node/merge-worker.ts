// SPDX-License-Identifier: MIT
/**
 * The body of a merge worker thread (see `createMergeWorkers`): answers slice tasks (`serveSliceTasks`),
 * reading a file input by its path, and shared bytes or Blobs as any worker does.
 * @module
 */
import { parentPort } from 'node:worker_threads';
import { openSharedInput, serveSliceTasks } from '../parse/slice-workers.js';
import type { OpenSharedInput } from '../parse/slice-workers.js';
import { fileSource } from './index.js';

const port = parentPort;
if (port === null) throw new Error('xenspan merge worker: not started as a worker thread');

const open: OpenSharedInput = async (input) => {
  if (input.kind !== 'file') return openSharedInput(input);
  // Opened per slice: a worker holds no file open between tasks.
  const { readAt, close } = await fileSource(input.path);
  if (readAt === undefined) throw new Error(`xenspan merge worker: cannot seek in ${input.path}`);
  return close === undefined ? { readAt } : { readAt, close };
};

port.on('message', serveSliceTasks((message, transfer) => port.postMessage(message, transfer), open));
