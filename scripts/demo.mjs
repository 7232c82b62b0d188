// SPDX-License-Identifier: MIT
// `npm run demo`: the main job on the bundled real trace (statistics, then the start of the dump).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));
const trace = 'demo/domain-create-small.xentrace';

function run(title, args) {
  process.stdout.write(`\n$ xenspan ${args.join(' ')}\n# ${title}\n`);
  const result = spawnSync(process.execPath, [cli, ...args], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

run('per-pCPU records, bytes per event class, first/last TSC, lost records, diagnostics', ['stats', trace]);
run('every record in global time order (first 25 lines)', ['dump', '--cpu-hz', '2596.122M', '--cpu-vendor', 'amd', '--limit', '25', trace]);
run('the records that name the new guest, domain 2', ['dump', '--cpu-hz', '2596.122M', '--domain', '2', '--limit', '8', trace]);
run("its creation: dom0's domctl hypercall, then DOM0_DOM_ADD and SCHED_DOM_ADD", [
  'dump', '--cpu-hz', '2596.122M', '--pcpu', '0', '--from', '843.6ms', '--to', '844.0ms', trace,
]);
