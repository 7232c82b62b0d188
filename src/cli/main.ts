// SPDX-License-Identifier: MIT
/**
 * The `xenspan` command. Exit status: 0 when the job was done (diagnostics included), 1 when the input
 * is unusable (or has data problems under --strict), 2 on a usage error. Errors are one line, never a
 * stack trace.
 * @module
 */
import { readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { XEN_VERSIONS } from '../core/catalogue/index.js';
import type { CpuVendor, XenVersion } from '../core/catalogue/index.js';
import { EVENT_CLASSES } from '../core/classes.js';
import { DIAGNOSTICS } from '../core/diagnostics.js';
import type { DiagnosticEvent, Diagnostics } from '../core/diagnostics.js';
import { XenspanError } from '../core/errors.js';
import { readTraceStats } from '../parse/stats.js';
import type { TraceOptions } from '../core/pipeline.js';
import { parseCpuHz } from '../clock/hz.js';
import { CpuHzEstimator, formatHz } from '../clock/estimate.js';
import { forEachRecordInFileOrder } from '../parse/decode.js';
import { openSource, workerDecompressor } from '../node/index.js';
import { spareCores } from '../node/workers.js';
import type { RecordFilterOptions } from '../parse/filter.js';
import { MAX_PCPU } from '../parse/records.js';
import { detectCompression } from '../parse/sniff.js';
import type { ByteSource } from '../core/io.js';
import { UsageError, checkWindow, parseArgs, parseBigInt, parseDurationNs, parseIdList } from './args.js';
import type { OptionSpec, ParsedArgs } from './args.js';
import { DumpFormatter } from './dump.js';
import type { DumpFormatOptions } from './dump.js';
import { ParallelFormat } from './format-workers.js';
import { LineWriter } from './output.js';
import type { TextStream } from './output.js';
import { statsToJson, statsToText } from './stats.js';

const USAGE = `usage: xenspan <command> [options] FILE|-

Turns Xen xentrace files into time-ordered records (and, in later releases, spans).
FILE may be plain or compressed with gzip, bzip2 or zstd; - reads standard input.

commands:
  stats FILE|-        records, bytes per event class, first/last TSC per pCPU; lost records; diagnostics
      --json              one JSON object instead of the table
  dump FILE|-         one line per record in global time order:
                      <ns> <tsc><mark> p<pcpu> <subject> <event> <field=value ...>
      --cpu-hz HZ         TSC frequency, e.g. 2596.122M or 2.4G (xl info: cpu_mhz); for a file without it,
                          xenspan estimates it from the scheduler records (and says so on stderr)
      --raw               payload words in hex instead of decoded fields
      -e, --event MASK    keep records matching a xentrace -e mask (hex, or a class name: ${EVENT_CLASSES.slice(0, 9).join(', ')}); repeatable
      --pcpu LIST         keep these pCPUs (e.g. 0,2-3)
      --domain LIST       keep records naming these domains, or run while one of them was on the pCPU
      --vcpu LIST         the same for vCPU ids
      --from TIME, --to TIME   keep a time window from time zero (1.5s, 200ms, 30us, 500ns; needs --cpu-hz)
      --tsc-from N, --tsc-to N keep a raw TSC window
      --limit N           stop after N lines
      --merge MODE        auto (default), exact (seekable files) or stream (watermark merge, as for pipes)
      --threads N         format lines in N worker threads besides the main one (at most one per core
                          beyond the main thread's; not with --limit). Default: one per spare core (at most
                          4) for an uncompressed file of 48 MiB or more, else 0

common options:
  --xen-version V     Xen version that wrote the trace: ${XEN_VERSIONS.join(', ')} (default 4.17)
  --cpu-vendor V      intel or amd (default intel); --svm-mode means amd, as in xenalyze
  --strict            exit 1 when the trace has data-loss or error diagnostics
  -h, --help          this text
  --version           the version
`;

const COMMON: OptionSpec[] = [
  { name: 'xen-version', value: true },
  { name: 'cpu-vendor', value: true },
  { name: 'svm-mode', value: false },
  { name: 'strict', value: false },
  { name: 'help', short: 'h', value: false },
];
const STATS: OptionSpec[] = [...COMMON, { name: 'json', value: false }];
const DUMP: OptionSpec[] = [
  ...COMMON,
  { name: 'cpu-hz', value: true },
  { name: 'raw', value: false },
  { name: 'event', short: 'e', value: true, repeat: true },
  { name: 'pcpu', value: true },
  { name: 'domain', value: true },
  { name: 'vcpu', value: true },
  { name: 'from', value: true },
  { name: 'to', value: true },
  { name: 'tsc-from', value: true },
  { name: 'tsc-to', value: true },
  { name: 'limit', value: true },
  { name: 'merge', value: true },
  { name: 'threads', value: true },
];

/** Where the CLI writes; tests pass their own. */
export interface CliIo {
  readonly stdout: TextStream;
  readonly stderr: { write(text: string): unknown };
}

function one(args: ParsedArgs, name: string): string | undefined {
  return args.options.get(name)?.[0];
}

function inputOf(args: ParsedArgs): string {
  if (args.positionals.length !== 1) {
    throw new UsageError(args.positionals.length === 0 ? 'missing FILE (or - for standard input)' : `one FILE expected, got ${args.positionals.length}`);
  }
  return args.positionals[0];
}

function commonOptions(args: ParsedArgs): TraceOptions {
  const version = one(args, 'xen-version');
  if (version !== undefined && !(XEN_VERSIONS as readonly string[]).includes(version)) {
    throw new UsageError(`--xen-version must be one of ${XEN_VERSIONS.join(', ')}, not "${version}"`);
  }
  let vendor = one(args, 'cpu-vendor');
  if (args.options.has('svm-mode')) vendor = 'amd';
  if (vendor !== undefined && vendor !== 'intel' && vendor !== 'amd') {
    throw new UsageError(`--cpu-vendor must be intel or amd, not "${vendor}"`);
  }
  const merge = one(args, 'merge');
  if (merge !== undefined && merge !== 'auto' && merge !== 'exact' && merge !== 'stream') {
    throw new UsageError(`--merge must be auto, exact or stream, not "${merge}"`);
  }
  return {
    ...(version === undefined ? {} : { xenVersion: version as XenVersion }),
    ...(vendor === undefined ? {} : { cpuVendor: vendor as CpuVendor }),
    ...(merge === undefined ? {} : { merge }),
    ...(args.options.has('strict') ? { strict: true } : {}),
  };
}

function eventMask(text: string): number {
  const klass = EVENT_CLASSES.indexOf(text as (typeof EVENT_CLASSES)[number]);
  if (text === 'all') return 0x0ffff000;
  if (klass >= 0 && klass < 8) return ((1 << klass) << 16) | 0xf000;
  if (text === 'guest') return 0x0800f000;
  if (!/^(0x[0-9a-fA-F]{1,8}|\d+)$/.test(text)) {
    throw new UsageError(`--event: "${text}" is not a mask (hex like 0x0002f000, or all, ${EVENT_CLASSES.slice(0, 9).join(', ')})`);
  }
  return Number(text) >>> 0;
}

function filterOptions(args: ParsedArgs): RecordFilterOptions {
  const events = args.options.get('event');
  const pcpu = one(args, 'pcpu');
  const domain = one(args, 'domain');
  const vcpu = one(args, 'vcpu');
  const tscFrom = one(args, 'tsc-from');
  const tscTo = one(args, 'tsc-to');
  const tscFromValue = tscFrom === undefined ? undefined : parseBigInt(tscFrom, 'tsc-from');
  const tscToValue = tscTo === undefined ? undefined : parseBigInt(tscTo, 'tsc-to');
  checkWindow(
    tscFromValue === undefined ? undefined : [tscFromValue, tscFrom!],
    tscToValue === undefined ? undefined : [tscToValue, tscTo!],
    'tsc-from',
    'tsc-to',
  );
  return {
    ...(events === undefined ? {} : { eventMasks: events.map(eventMask) }),
    ...(pcpu === undefined ? {} : { pcpus: parseIdList(pcpu, 'pcpu', MAX_PCPU) }),
    // Domain and vCPU ids are 16-bit in every record that names them.
    ...(domain === undefined ? {} : { domains: parseIdList(domain, 'domain', 0xffff) }),
    ...(vcpu === undefined ? {} : { vcpus: parseIdList(vcpu, 'vcpu', 0xffff) }),
    ...(tscFromValue === undefined ? {} : { tscFrom: tscFromValue }),
    ...(tscToValue === undefined ? {} : { tscTo: tscToValue }),
  };
}

function reportDiagnostics(diagnostics: Diagnostics, io: CliIo): void {
  const entries = Object.entries(diagnostics.counts);
  if (entries.length === 0) return;
  io.stderr.write(`xenspan: diagnostics: ${entries.map(([code, n]) => `${code}=${n}`).join(' ')}\n`);
  reportSamples(diagnostics.samples, io);
}

/** The first diagnostics of each code, one line each: where and why. */
function reportSamples(samples: readonly DiagnosticEvent[], io: CliIo): void {
  for (const sample of samples) {
    io.stderr.write(`xenspan: ${DIAGNOSTICS[sample.code].severity}: ${sample.code}: ${sample.message}\n`);
  }
}

async function runStats(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, STATS);
  if (args.options.has('help')) return help(io);
  const options = commonOptions(args);
  const path = inputOf(args);
  const stats = await readTraceStats(await openSource(path), options);
  io.stdout.write(args.options.has('json') ? `${statsToJson(stats)}\n` : statsToText(stats, path === '-' ? 'stdin' : path));
  // The counts are in the output; where and why go to stderr, as dump does.
  reportSamples(stats.samples, io);
  return 0;
}

async function runDump(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, DUMP);
  if (args.options.has('help')) return help(io);
  // Every option is checked before any input is read, and before the input is looked for: a value
  // missing from `-e` takes the FILE after it, and that is what the user must hear about.
  const common = commonOptions(args);
  const filter = filterOptions(args);
  const hzText = one(args, 'cpu-hz');
  let hz = hzText === undefined ? undefined : parseCpuHz(hzText);
  const fromText = one(args, 'from');
  const toText = one(args, 'to');
  const fromNs = fromText === undefined ? undefined : parseDurationNs(fromText, 'from');
  const toNs = toText === undefined ? undefined : parseDurationNs(toText, 'to');
  const limitText = one(args, 'limit');
  if (limitText !== undefined && !/^\d+$/.test(limitText)) throw new UsageError(`--limit: "${limitText}" is not a count`);
  const limit = limitText === undefined ? Infinity : Number(limitText);
  const threadsText = one(args, 'threads');
  if (threadsText !== undefined && !(/^\d+$/.test(threadsText) && Number(threadsText) <= MAX_THREADS)) {
    throw new UsageError(`--threads: "${threadsText}" is not a number of threads from 0 to ${MAX_THREADS}`);
  }
  // At most one per core beyond this thread's: more only cost start-up and memory (a V8 isolate each).
  const threadsAsked = threadsText === undefined ? undefined : Math.min(Number(threadsText), spareCores());
  checkWindow(fromNs === undefined ? undefined : [fromNs, fromText!], toNs === undefined ? undefined : [toNs, toText!], 'from', 'to');
  const path = inputOf(args);
  const window = fromNs !== undefined || toNs !== undefined;
  // The estimate needs a first pass, which a pipe cannot give: say so before waiting on its writer.
  if (window && hz === undefined && isPipe(path)) {
    throw new UsageError('--from and --to need --cpu-hz when the input is a pipe (the frequency cannot be estimated first)');
  }
  // Opened once: a named pipe opened for a first pass and closed again would break its writer.
  const source = await openSource(path);
  try {
    if (hz === undefined && source.readAt !== undefined) hz = await estimateHz(path, io);
    if (window && hz === undefined) throw new UsageError('--from and --to need --cpu-hz (the input gives no estimate of it)');
  } catch (error) {
    await source.close?.();
    throw error;
  }
  const formatOptions: DumpFormatOptions = {
    ...(hz === undefined ? {} : { hz }),
    ...(args.options.has('raw') ? { raw: true } : {}),
    ...(fromNs === undefined ? {} : { fromNs }),
    ...(toNs === undefined ? {} : { toNs }),
  };
  const formatter = new DumpFormatter(formatOptions);
  const writer = new LineWriter(io.stdout);
  let linesLeft = limit;
  let diagnostics: Diagnostics | undefined;
  // A read that fails here fails again, and is reported, when the trace is decoded.
  const threads = threadsAsked ?? (await autoThreads(source).catch(() => 0));
  // Worker threads format lines beside this one (with --limit, lines are counted here, in order).
  const parallel = threads > 0 && limit === Infinity ? new ParallelFormat(threads, formatOptions, formatter, io.stdout) : undefined;
  let finished = false;
  try {
    // Loaded here, not at start-up: the pipeline validates its options with zod, which `stats` does not need.
    const { decodeTrace } = await import('../core/pipeline.js');
    try {
      const { setup } = await decodeTrace(source, (batch, run) => {
        if (parallel !== undefined) {
          parallel.add(batch, run);
          return;
        }
        const written = formatter.format(batch, run, writer, linesLeft);
        if (written < 0) throw STOP;
        linesLeft -= written;
      }, {
        ...common,
        filter,
        trackContext: true,
        backpressure: () => (parallel === undefined ? writer.wait() : parallel.wait()),
        // A compressed input is decompressed beside the decoding and formatting, when there is a core for it
        // (bench-large.xentrace.zst: 7.1-7.6 s against 9.6-10.3 s). Not for stats, whose decoding is too
        // little to overlap: the same time there, and 40 MB more.
        ...(availableParallelism() > 1 ? { decompressor: workerDecompressor } : {}),
      });
      diagnostics = setup.diagnostics;
    } catch (error) {
      if (error !== STOP) throw error;
    }
    await parallel?.finish();
    finished = true;
  } finally {
    if (!finished) await parallel?.close();
    // Lines formatted before an error that ends the run are written too, as the threaded path does.
    writer.flush();
  }
  await writer.wait();
  if (hz === undefined) {
    io.stderr.write('xenspan: no --cpu-hz, and no estimate from the trace: the ns column shows -\n');
  }
  if (diagnostics !== undefined) reportDiagnostics(diagnostics, io);
  return 0;
}

const STOP = new Error('limit reached');

/** Most worker threads `--threads` starts. */
const MAX_THREADS = 64;

/**
 * Bytes of an uncompressed file from which `dump` formats in worker threads when `--threads` is not
 * given. Starting them costs more than they save on smaller ones: side by side, domain-create (14 MB)
 * took 0.55-0.59 s without and 0.57-0.74 s with one; the first 32 MiB of bench-large 1.06-1.24 s and
 * 1.04-1.11 s; its first 64 MiB 1.97-2.29 s and 1.71-1.85 s.
 */
const AUTO_THREADS_BYTES = 48 << 20;

/**
 * Most format threads `dump` starts by itself. Each is a V8 isolate, and the main thread decodes, merges
 * and writes for all of them (about a tenth of dump's work on bench-large); more than one worker was not
 * measured here (2 cores). `--threads` can ask for more.
 */
const AUTO_MAX_THREADS = 4;

/**
 * `dump`'s format threads when `--threads` is not given: one per spare core (at most {@link AUTO_MAX_THREADS}) for an uncompressed file of
 * {@link AUTO_THREADS_BYTES} or more, else none. Not for a compressed one, whose decompression takes
 * the spare core already (bench-large.xentrace.zst: 8.7-8.8 s with one against 8.9-10.3 s, and 55 MB more).
 */
export async function autoThreads(source: ByteSource): Promise<number> {
  if (source.readAt === undefined || source.size === undefined || source.size < AUTO_THREADS_BYTES) return 0;
  if (availableParallelism() < 2) return 0;
  const head = await source.readAt(0, 4);
  return detectCompression(head) === undefined ? Math.min(spareCores(), AUTO_MAX_THREADS) : 0;
}

/** Whether `path` is read once from start to end: `-`, a named pipe, a socket or a character device. */
function isPipe(path: string): boolean {
  if (path === '-') return true;
  try {
    const stat = statSync(path);
    return stat.isFIFO() || stat.isSocket() || stat.isCharacterDevice();
  } catch {
    return false; // missing or unreadable: opening it says why
  }
}

/**
 * A first pass over a seekable file (its own handle) to estimate the TSC frequency from its scheduler
 * records (xenalyze would silently assume 2.4 GHz). Says what it found on stderr; undefined when the
 * trace cannot tell.
 */
async function estimateHz(path: string, io: CliIo): Promise<number | undefined> {
  const source = await openSource(path);
  const estimator = new CpuHzEstimator();
  await forEachRecordInFileOrder(source, (batch) => estimator.add(batch));
  const estimate = estimator.result();
  if (estimate === undefined) return undefined;
  const ppm = Math.max(1, Math.round(estimate.relativeError * 1e6));
  io.stderr.write(
    `xenspan: no --cpu-hz: TSC frequency estimated from ${estimate.samples} scheduler samples as ${formatHz(estimate.hz)} (±${ppm} ppm); pass --cpu-hz to set it\n`,
  );
  return estimate.hz;
}

function help(io: CliIo): number {
  io.stdout.write(USAGE);
  return 0;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Runs the CLI with `argv` (without node and script) and returns the exit status. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  try {
    const [command, ...rest] = argv;
    switch (command) {
      case 'stats':
        return await runStats(rest, io);
      case 'dump':
        return await runDump(rest, io);
      case undefined:
        throw new UsageError('missing command: stats or dump (try xenspan --help)');
      case 'help':
      case '-h':
      case '--help':
        return help(io);
      case '--version':
        io.stdout.write(`${version()}\n`);
        return 0;
      default:
        throw new UsageError(`unknown command "${command}" (try xenspan --help)`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`xenspan: ${error.message}\n`);
      return 2;
    }
    if (error instanceof XenspanError) {
      io.stderr.write(`xenspan: ${error.message}\n`);
      return error.code === 'invalid_options' ? 2 : 1;
    }
    io.stderr.write(`xenspan: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
