// SPDX-License-Identifier: MIT
/**
 * Validation of user options. The only module that imports zod: options are checked once, when a run is
 * set up, and a failure names the option.
 * @module
 */
import { z } from 'zod/mini';
import { XenspanError } from './errors.js';
import { XEN_VERSIONS } from './catalogue/index.js';

const u32 = z.int().check(z.minimum(0), z.maximum(0xffffffff));
const id = z.int().check(z.minimum(0), z.maximum(0xffff));

/** Schema of the record filter options (see RecordFilterOptions in `xenspan/parse`). */
export const filterSchema = z.object({
  eventMasks: z.optional(z.array(u32)),
  pcpus: z.optional(z.array(u32)),
  domains: z.optional(z.array(id)),
  vcpus: z.optional(z.array(id)),
  tscFrom: z.optional(z.bigint().check(z.minimum(0n))),
  tscTo: z.optional(z.bigint().check(z.minimum(0n))),
});

/** Schema of {@link TraceOptions} (plugins and callbacks are checked by shape only). */
export const traceOptionsSchema = z.object({
  xenVersion: z.optional(z.enum(XEN_VERSIONS)),
  cpuVendor: z.optional(z.enum(['intel', 'amd'])),
  merge: z.optional(z.enum(['auto', 'exact', 'stream'])),
  batchSize: z.optional(z.int().check(z.minimum(1), z.maximum(1 << 20))),
  maxBufferedRecords: z.optional(z.int().check(z.minimum(1024))),
  skewSlackCycles: z.optional(z.number().check(z.minimum(0))),
  strict: z.optional(z.boolean()),
  trackContext: z.optional(z.boolean()),
  filter: z.optional(filterSchema),
  decoders: z.optional(z.array(z.object({ id: u32, name: z.string() }))),
});

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'too_small':
      return `must be at least ${String(issue.minimum)}`;
    case 'too_big':
      return `must be at most ${String(issue.maximum)}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map(String).join(', ')}`;
    case 'invalid_type':
      return `must be ${issue.expected === 'int' ? 'an integer' : `a ${issue.expected}`}`;
    case 'unrecognized_keys':
      return `has unknown keys ${issue.keys.join(', ')}`;
    default:
      return 'is invalid';
  }
}

/**
 * Validates `value` against `schema`, throwing one XenspanError (`invalid_options`) that names the first
 * offending option path.
 */
export function validateOptions<T extends z.core.$ZodType>(schema: T, value: unknown, what = 'options'): z.infer<T> {
  const result = z.safeParse(schema, value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue.path.map(String).join('.');
  const option = path === '' ? what : path;
  throw new XenspanError('invalid_options', `option ${option} ${describeIssue(issue)}`, { option, cause: result.error });
}
