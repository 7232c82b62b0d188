// SPDX-License-Identifier: MIT
// The xenspan command: outputs, exit status, one-line errors; and the built binary on a pipe.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { autoThreads, main } from '../../src/cli/main.js';
import { spareCores } from '../../src/node/workers.js';
import type { ByteSource } from '../../src/core/io.js';
import { EV, TraceBuilder, runstateWord } from '../support/trace-builder.js';

// Every input the CLI opens, in order (the real openSource does the work).
const opened = vi.hoisted(() => [] as string[]);
vi.mock('../../src/node/index.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/node/index.js')>();
  return {
    ...original,
    openSource: (path: string) => {
      opened.push(path);
      return original.openSource(path);
    },
  };
});

const demoPath = fileURLToPath(new URL('../../demo/domain-create-small.xentrace', import.meta.url));
const bin = fileURLToPath(new URL('../../dist/cli/bin.js', import.meta.url));

async function run(argv: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const status = await main(argv, {
    stdout: { write: (text: string) => ((stdout += text), true), once: () => undefined },
    stderr: { write: (text: string) => (stderr += text) },
  });
  return { status, stdout, stderr };
}

describe('xenspan stats', () => {
  it('prints the JSON document of the issue, TSCs as decimal strings', async () => {
    const { status, stdout, stderr } = await run(['stats', '--json', demoPath]);
    expect(status).toBe(0);
    expect(stderr).toBe('');
    const doc = JSON.parse(stdout);
    expect(doc.records).toBe(63922);
    expect(doc.pcpus).toEqual([
      { pcpu: 0, records: 31716, bytes: { sched: 122172, dom0op: 32, pv: 511652 }, firstTsc: '156965733630', lastTsc: '170968041198' },
      { pcpu: 1, records: 32206, bytes: { sched: 156008, pv: 486952 }, firstTsc: '156965987756', lastTsc: '170984204722' },
    ]);
    expect(doc.lost).toEqual({ markers: 0, recordsLost: 0, gaps: [], gapsNotListed: 0 });
    expect(doc.diagnostics).toEqual({});
  });

  it('prints a readable table', async () => {
    const { status, stdout } = await run(['stats', demoPath]);
    expect(status).toBe(0);
    expect(stdout).toContain('63922 records on 2 pCPUs');
    expect(stdout).toMatch(/pcpu\s+records\s+sched\s+dom0op\s+pv\s+first_tsc\s+last_tsc/);
    expect(stdout).toMatch(/\n\s+0\s+31716\s+122172\s+32\s+511652\s+156965733630\s+170968041198\n/);
    expect(stdout).toContain('diagnostics: none');
  });
});

describe('xenspan dump', () => {
  it('formats in worker threads by default only for an uncompressed file of 48 MiB or more', async () => {
    const source = (size: number | undefined, head: number[], seekable = true): ByteSource => ({
      name: 'test',
      ...(size === undefined ? {} : { size }),
      chunks: async function* () {},
      ...(seekable ? { readAt: async () => Uint8Array.from(head) } : {}),
    });
    const plain = [0x03, 0xf0, 0x01, 0x20];
    // One per spare core, where there is one: the bench-large case.
    const expected = (await import('node:os')).availableParallelism() > 1 ? spareCores() : 0;
    expect(await autoThreads(source(48 << 20, plain))).toBe(expected);
    expect(await autoThreads(source(400 << 20, plain))).toBe(expected);
    expect(await autoThreads(source((48 << 20) - 1, plain))).toBe(0);
    expect(await autoThreads(source(400 << 20, [0x28, 0xb5, 0x2f, 0xfd]))).toBe(0); // zstd
    expect(await autoThreads(source(400 << 20, [0x1f, 0x8b, 8, 0]))).toBe(0); // gzip
    expect(await autoThreads(source(400 << 20, [0x42, 0x5a, 0x68, 0x39]))).toBe(0); // bzip2
    expect(await autoThreads(source(undefined, plain))).toBe(0); // a pipe: no size
    expect(await autoThreads(source(400 << 20, plain, false))).toBe(0);
  });

  it('prints one decoded line per record in time order', async () => {
    const { status, stdout, stderr } = await run(['dump', '--cpu-hz', '2596.122M', '--cpu-vendor', 'amd', demoPath]);
    expect(status).toBe(0);
    expect(stderr).toBe('');
    const lines = stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(63922);
    const ns = lines.map((line) => Number(line.slice(0, 13)));
    for (let i = 1; i < ns.length; i++) expect(ns[i]).toBeGreaterThanOrEqual(ns[i - 1]);
    expect(lines[0]).toMatch(/^\s+0\s+\d+ {1,2}p\d/);
    // The guest's creation is there: a domctl hypercall, then DOM0_DOM_ADD naming domain 2.
    const add = lines.findIndex((line) => / d2 /.test(line) && /dom_add|domain_create|dom0/.test(line));
    expect(add).toBeGreaterThan(0);
    expect(lines.slice(Math.max(0, add - 40), add).some((line) => /domctl/.test(line))).toBe(true);
  });

  it('writes every column exactly: TSC marks, pCPU 300, subjects named and running, huge TSCs, unknown ids', async () => {
    const trace = new TraceBuilder()
      .window(300, [
        { event: EV.hypercall, words: [0x0010001d, 7] }, // no TSC yet: borrows the next one (^)
        { event: EV.runstate(1, 0), tsc: 1000n, words: [runstateWord(1, 2)] },
        { event: EV.hypercall, words: [0x00000018] }, // inherits (~), ran while d1v2 was running
        { event: EV.hypercall, tsc: 900n, words: [0x00000018] }, // backwards (!)
      ])
      .window(1, [
        { event: EV.guest, tsc: 2n ** 60n + 5n, words: [1, 2] },
        { event: 0x00201106, tsc: 2n ** 60n + 7n, words: [0x81022506, 0xffffffff] },
      ])
      .bytes();
    const dir = mkdtempSync(join(tmpdir(), 'xenspan-dump-'));
    const path = join(dir, 'columns.xentrace');
    writeFileSync(path, trace);
    const timed = await run(['dump', '--cpu-hz', '1G', path]);
    expect(timed.stdout.split('\n')).toEqual([
      '            0            1000^ p300 -          hypercall op=sched_op arg0=7',
      '            0            1000  p300 d1v2       runstate_change domid=1 vcpu=2 old_state=runnable new_state=running',
      '            0            1000~ p300 [d1v2]     hypercall op=vcpu_op',
      '         -100             900! p300 [d1v2]     hypercall op=vcpu_op',
      // Beyond 2^53 ns the time column is a double's nearest value; the TSC column stays exact.
      '1152921504606845952 1152921504606846981  p1   -          unknown_guest_0x0800f001 w0=0x00000001 w1=0x00000002',
      '1152921504606845952 1152921504606846983  p1   -          emulate_privop rip=0xffffffff81022506',
      '',
    ]);
    const raw = await run(['dump', '--raw', path]);
    expect(raw.stdout.split('\n').slice(0, 2)).toEqual([
      '            -            1000^ p300 -          hypercall event=0x0020100d words=[0x0010001d 0x00000007]',
      '            -            1000  p300 d1v2       runstate_change event=0x00021101 words=[0x00010002]',
    ]);
  });

  it('filters by event class, domain and time, and stops at --limit', async () => {
    const sched = await run(['dump', '-e', 'sched', '--limit', '50', demoPath]);
    expect(sched.stdout.trimEnd().split('\n')).toHaveLength(50);
    expect(sched.stderr).toMatch(/no --cpu-hz: TSC frequency estimated from \d+ scheduler samples as 2596\.1\d\dM/);
    expect(Number(sched.stdout.split('\n')[1].slice(0, 13))).toBeGreaterThan(0);
    const d2 = await run(['dump', '--domain', '2', demoPath]);
    const lines = d2.stdout.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(10);
    for (const line of lines) expect(line).toMatch(/ \[?d2(v\d+)?\]? /);
    const window = await run(['dump', '--cpu-hz', '2596.122M', '--from', '1s', '--to', '1.001s', demoPath]);
    for (const line of window.stdout.trimEnd().split('\n')) {
      const ns = Number(line.slice(0, 13));
      expect(ns).toBeGreaterThanOrEqual(1e9);
      expect(ns).toBeLessThanOrEqual(1.001e9);
    }
  });

  it('keeps the running vCPU of records even when -e filters out the runstate records it comes from', async () => {
    const { stdout } = await run(['dump', '-e', 'pv', '--limit', '200', demoPath]);
    const lines = stdout.trimEnd().split('\n');
    expect(lines.every((line) => / (hypercall|emulate_privop|ptwr_emulation|pv_[a-z_]+) /.test(line))).toBe(true);
    expect(lines.filter((line) => / \[d0v[01]\] /.test(line)).length).toBeGreaterThan(150);
  });

  it('prints raw words with --raw', async () => {
    const { stdout } = await run(['dump', '--raw', '--limit', '3', demoPath]);
    expect(stdout.split('\n')[0]).toMatch(/event=0x[0-9a-f]{8} words=\[(0x[0-9a-f]{8} ?)*\]$/);
  });
});

describe('exit status and errors', () => {
  it('2 with one line for usage errors', async () => {
    for (const argv of [['frobnicate'], ['stats'], ['dump', '--cpu-hz', 'fast', demoPath], ['stats', '--bogus', demoPath], ['dump', '--from', 'yesterday', demoPath], ['dump', '--xen-version', '3.2', demoPath]]) {
      const { status, stderr } = await run(argv);
      expect(status).toBe(2);
      expect(stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(stderr).toMatch(/^xenspan: /);
    }
  });

  it('2, naming the option, for values that would do nothing useful (never an empty or silent run)', async () => {
    const cases: [string[], string][] = [
      [['dump', '--pcpu', '99999999999', demoPath], 'xenspan: --pcpu: 99999999999 is above 65535, the largest there can be\n'],
      [['dump', '--domain', '0-70000', demoPath], 'xenspan: --domain: 70000 is above 65535, the largest there can be\n'],
      [['dump', '--cpu-hz', '2596.122M', '--from', '2s', '--to', '1s', demoPath], 'xenspan: --from 2s comes after --to 1s: the window would keep nothing\n'],
      [['dump', '--tsc-from', '0x20', '--tsc-to', '16', demoPath], 'xenspan: --tsc-from 0x20 comes after --tsc-to 16: the window would keep nothing\n'],
      [['dump', '--tsc-to', '18446744073709551616', demoPath], 'xenspan: --tsc-to: 18446744073709551616 does not fit in 64 bits\n'],
      [['dump', '--cpu-hz', '2596122000G', demoPath], 'xenspan: --cpu-hz must be between 1M and 100G (a TSC frequency), not "2596122000G"\n'],
      // A value missing from -e takes the FILE: the mask is what is wrong, not a missing FILE.
      [['dump', '-e', demoPath], `xenspan: --event: "${demoPath}" is not a mask`],
      // stats reads in file order: it has no merge to choose.
      [['stats', '--merge', 'exact', '-'], 'xenspan: unknown option --merge\n'],
      [['dump', '--threads', '65', demoPath], 'xenspan: --threads: "65" is not a number of threads from 0 to 64\n'],
    ];
    for (const [argv, message] of cases) {
      const { status, stdout, stderr } = await run(argv);
      expect(status, argv.join(' ')).toBe(2);
      expect(stdout).toBe('');
      expect(stderr.startsWith(message), `${argv.join(' ')}: ${stderr}`).toBe(true);
      expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    }
    // The edges themselves are accepted.
    const edge = await run(['dump', '--pcpu', '65535', '--tsc-from', '18446744073709551615', '--tsc-to', '18446744073709551615', demoPath]);
    expect(edge.status).toBe(0);
  });

  it('2 with one line when there is no command; 0 with the usage on stdout when asked', async () => {
    const none = await run([]);
    expect(none.status).toBe(2);
    expect(none.stdout).toBe('');
    expect(none.stderr).toBe('xenspan: missing command: stats or dump (try xenspan --help)\n');
    const asked = await run(['--help']);
    expect(asked.status).toBe(0);
    expect(asked.stdout).toMatch(/^usage: xenspan <command>/);
  });

  it('1 with one line for an input that is not a trace, or is missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xenspan-cli-'));
    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'these are not the records you are looking for\n');
    const bad = await run(['stats', text]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe('xenspan: not a xentrace file: text ("these are no…") at offset 0 (a trace starts with the CPU_CHANGE header 03 f0 01 20)\n');
    const missing = await run(['stats', join(dir, 'absent.xentrace')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^xenspan: cannot open .*absent\.xentrace/);
  });

  it('0 with diagnostics on stderr for a damaged trace; 1 under --strict', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xenspan-cli-'));
    const cut = join(dir, 'cut.xentrace');
    const bytes = new TraceBuilder().window(0, [{ event: EV.runstate(1, 0), tsc: 5n, words: [0] }], 400).bytes();
    writeFileSync(cut, bytes);
    const lenient = await run(['dump', cut]);
    expect(lenient.status).toBe(0);
    expect(lenient.stdout.trimEnd().split('\n')).toHaveLength(1);
    expect(lenient.stderr).toContain('truncated_window=1');
    expect(lenient.stderr).toContain('data_loss: truncated_window: input ends 384 bytes short');
    const strict = await run(['dump', '--strict', cut]);
    expect(strict.status).toBe(1);
    expect(strict.stderr).toMatch(/^xenspan: strict: truncated_window: /);
    // stats: the counts in its output, where and why on stderr.
    const stats = await run(['stats', cut]);
    expect(stats.status).toBe(0);
    expect(stats.stdout).toContain('diagnostics: truncated_window=1');
    expect(stats.stderr).toBe('xenspan: data_loss: truncated_window: input ends 384 bytes short of the end of pCPU 0\'s 400-byte window at offset 0 (0x0)\n');
  });
});

describe.skipIf(!existsSync(bin))('the built binary', () => {
  it('reads a pipe (stream merge) and gives the same stats as the file; exits 0 when the reader goes away', () => {
    const demo = readFileSync(demoPath);
    const piped = spawnSync(process.execPath, [bin, 'stats', '--json', '-'], { input: demo, encoding: 'utf8' });
    expect(piped.status).toBe(0);
    const file = spawnSync(process.execPath, [bin, 'stats', '--json', demoPath], { encoding: 'utf8' });
    expect(JSON.parse(piped.stdout)).toEqual(JSON.parse(file.stdout));
    const head = spawnSync('sh', ['-c', `"${process.execPath}" "${bin}" dump "${demoPath}" | head -n 3`], { encoding: 'utf8' });
    expect(head.stdout.trimEnd().split('\n')).toHaveLength(3);
    expect(head.stderr).not.toMatch(/Error|EPIPE/);
    // Worker threads format the lines (format-workers.test.ts checks that they take part): the same
    // lines, from a file and from a pipe; with --limit, one thread counts them.
    const alone = spawnSync(process.execPath, [bin, 'dump', '--cpu-hz', '2.4G', demoPath], { encoding: 'utf8', maxBuffer: 1 << 28 });
    for (const [input, stdin] of [[demoPath, undefined], ['-', demo]] as const) {
      const threaded = spawnSync(process.execPath, [bin, 'dump', '--threads', '2', '--cpu-hz', '2.4G', input], { input: stdin, encoding: 'utf8', maxBuffer: 1 << 28 });
      expect(threaded.status).toBe(0);
      expect(threaded.stdout.length).toBeGreaterThan(1_000_000);
      expect(threaded.stdout).toBe(alone.stdout);
      expect(threaded.stderr).toBe(alone.stderr);
    }
    // A --strict violation halfway: the lines of every batch before it are written, with or without
    // threads (one thread once lost the last 64 KiB it had buffered), and they are the lines of a full dump.
    const dir = mkdtempSync(join(tmpdir(), 'xenspan-strict-'));
    const damaged = new Uint8Array(readFileSync(demoPath));
    damaged.fill(0xff, damaged.length >>> 1, (damaged.length >>> 1) + 64);
    writeFileSync(join(dir, 'damaged.xentrace'), damaged);
    const strictRuns = ['0', '2'].map((threads) =>
      spawnSync(process.execPath, [bin, 'dump', '--strict', '--threads', threads, '--cpu-hz', '2.4G', join(dir, 'damaged.xentrace')], { encoding: 'utf8', maxBuffer: 1 << 28 }),
    );
    const full = spawnSync(process.execPath, [bin, 'dump', '--cpu-hz', '2.4G', join(dir, 'damaged.xentrace')], { encoding: 'utf8', maxBuffer: 1 << 28 });
    for (const run of strictRuns) {
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(/^xenspan: strict: tsc_backwards: /);
      expect(run.stdout.length).toBeGreaterThan(3_000_000);
      expect(full.stdout.startsWith(run.stdout)).toBe(true);
    }
    expect(strictRuns[1]!.stdout).toBe(strictRuns[0]!.stdout);
    // Compressed input (decompressed in a worker thread where there is a core for it): the lines of the
    // plain bytes, and the same damage report when the stream is cut.
    const headBytes = new Uint8Array(readFileSync(demoPath)).subarray(0, 305136);
    writeFileSync(join(dir, 'head.xentrace'), headBytes);
    const plainHead = spawnSync(process.execPath, [bin, 'dump', '--cpu-hz', '2.4G', '--merge', 'stream', join(dir, 'head.xentrace')], { encoding: 'utf8', maxBuffer: 1 << 28 });
    for (const ext of ['gz', 'bz2', 'zst']) {
      const fixture = fileURLToPath(new URL(`../fixtures/demo-head.xentrace.${ext}`, import.meta.url));
      const unpacked = spawnSync(process.execPath, [bin, 'dump', '--cpu-hz', '2.4G', fixture], { encoding: 'utf8', maxBuffer: 1 << 28 });
      expect(unpacked.status, ext).toBe(0);
      expect(unpacked.stdout, ext).toBe(plainHead.stdout);
      const cut = readFileSync(fixture).subarray(0, 40000);
      writeFileSync(join(dir, `cut.${ext}`), cut);
      const cutRun = spawnSync(process.execPath, [bin, 'dump', '--cpu-hz', '2.4G', join(dir, `cut.${ext}`)], { encoding: 'utf8', maxBuffer: 1 << 28 });
      expect(cutRun.stderr, ext).toMatch(/compressed_input_damaged|corrupt|truncated/);
    }
    const limited = spawnSync(process.execPath, [bin, 'dump', '--threads', '2', '--limit', '1000', '--cpu-hz', '2.4G', demoPath], { encoding: 'utf8' });
    expect(limited.stdout).toBe(alone.stdout.split('\n').slice(0, 1000).join('\n') + '\n');
    const version = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8' });
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('dump --limit on standard input exits at the limit, while the writer still holds the pipe open', async () => {
    // The decode lets stdin go when it stops: before, a compressed pipe kept the process waiting for its
    // writer (a read in flight, and an input iterator nobody returned).
    for (const input of [demoPath, ...['gz', 'bz2', 'zst'].map((ext) => fileURLToPath(new URL(`../fixtures/demo-head.xentrace.${ext}`, import.meta.url)))]) {
      const child = spawn(process.execPath, [bin, 'dump', '--limit', '3', '--cpu-hz', '2.4G', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stdin.on('error', () => undefined); // EPIPE: the child may stop reading before it has it all
      child.stdin.write(readFileSync(input)); // and the pipe is left open
      const exited = await Promise.race([
        new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))),
        new Promise<string>((resolve) => setTimeout(() => resolve('still running after 10 s'), 10_000)),
      ]);
      child.stdin.destroy();
      child.kill();
      expect(exited, input).toBe(0);
      expect(out.trimEnd().split('\n'), input).toHaveLength(3);
    }
  }, 60_000);

  it.skipIf(process.platform === 'win32' || spawnSync('mkfifo', ['--version']).status !== 0)(
    'dumps a named pipe without --cpu-hz, opening it once (a second open would wait for ever)',
    async () => {
      const fifo = join(mkdtempSync(join(tmpdir(), 'xenspan-fifo-')), 'trace');
      expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
      const child = spawn(process.execPath, [bin, 'dump', fifo], { stdio: ['ignore', 'pipe', 'pipe'] });
      let lines = 0;
      child.stdout.on('data', (chunk: Buffer) => {
        for (const byte of chunk) if (byte === 10) lines++;
      });
      // The writer opens the pipe when the reader does, and writes at once: a reader that closed
      // it after a first look would break the writer and then wait for a writer that never comes.
      const writer = createWriteStream(fifo);
      writer.on('error', () => undefined);
      writer.end(readFileSync(demoPath));
      const status = await new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => {
          child.kill();
          resolve(null);
        }, 20_000);
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve(code);
        });
      });
      expect(status).toBe(0);
      expect(lines).toBe(63922);
    },
    30_000,
  );

  it.skipIf(process.platform === 'win32' || spawnSync('mkfifo', ['--version']).status !== 0)(
    'opens a named pipe once, and refuses --from without --cpu-hz on it before opening it',
    async () => {
      const fifo = join(mkdtempSync(join(tmpdir(), 'xenspan-fifo-')), 'trace');
      expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
      opened.length = 0;
      const writer = createWriteStream(fifo);
      writer.end(readFileSync(demoPath));
      const { status, stdout } = await run(['dump', fifo]);
      expect(status).toBe(0);
      expect(stdout.trimEnd().split('\n')).toHaveLength(63922);
      expect(opened).toEqual([fifo]);
      // A regular file gets a first pass of its own for the frequency estimate.
      opened.length = 0;
      expect((await run(['dump', '--limit', '1', demoPath])).status).toBe(0);
      expect(opened).toEqual([demoPath, demoPath]);
      opened.length = 0;
      const refused = await run(['dump', '--from', '1s', fifo]);
      expect(refused.status).toBe(2);
      expect(refused.stderr).toBe('xenspan: --from and --to need --cpu-hz when the input is a pipe (the frequency cannot be estimated first)\n');
      expect(opened).toEqual([]);
      // A directory is no pipe: opening it says what is wrong.
      const directory = await run(['dump', '--from', '1s', tmpdir()]);
      expect(directory.status).toBe(1);
      expect(directory.stderr).not.toContain('pipe');
    },
    30_000,
  );
});
