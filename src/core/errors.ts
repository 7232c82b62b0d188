// SPDX-License-Identifier: MIT
/**
 * The one error class of xenspan. Data problems inside a readable trace are diagnostics, not errors;
 * an error means the job cannot go on (bad options, an input that is not a trace, I/O failure, misuse).
 * @module
 */

/** Every error code xenspan throws, as literal strings. */
export const ERROR_CODES = {
  /** An option failed validation; `option` names it. */
  invalid_options: 'invalid_options',
  /** The input is not a xentrace file (nor a compressed one); `offset` says where that was decided. */
  not_xentrace: 'not_xentrace',
  /** A compressed input is damaged; `offset` is the offset in the compressed bytes when known. */
  corrupt_compressed_input: 'corrupt_compressed_input',
  /** Reading or writing failed. */
  io_failed: 'io_failed',
  /** The API needs a platform feature this runtime lacks (for example files outside Node or Deno). */
  unsupported_runtime: 'unsupported_runtime',
  /** `strict` mode turned a data-loss diagnostic into an error. */
  strict_violation: 'strict_violation',
  /** The API was used out of order (for example `push` after `end`). */
  misuse: 'misuse',
} as const;

/** Union of the literal error codes. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Where in the input, or which option, an error is about. */
export interface ErrorLocation {
  /** Byte offset in the (decompressed) trace. */
  readonly offset?: number;
  /** Index of the record in file order, when known. */
  readonly recordIndex?: number;
  /** Name of the offending option. */
  readonly option?: string;
  readonly cause?: unknown;
}

/**
 * The error xenspan throws. `code` is stable and meant for programs; `message` is one line for people.
 * @example
 * try { await readStats(input) } catch (e) { if (e instanceof XenspanError && e.code === 'not_xentrace') … }
 */
export class XenspanError extends Error {
  override readonly name = 'XenspanError';
  readonly code: ErrorCode;
  readonly offset: number | undefined;
  readonly recordIndex: number | undefined;
  readonly option: string | undefined;

  constructor(code: ErrorCode, message: string, where: ErrorLocation = {}) {
    super(message, where.cause === undefined ? undefined : { cause: where.cause });
    this.code = code;
    this.offset = where.offset;
    this.recordIndex = where.recordIndex;
    this.option = where.option;
  }
}
