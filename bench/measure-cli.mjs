// SPDX-License-Identifier: MIT
// Runs the built CLI in this process and reports its peak resident memory on stderr at exit.
process.on('exit', () => {
  process.stderr.write(`\nXENSPAN_MAXRSS_KB ${process.resourceUsage().maxRSS}\n`);
});
await import('../dist/cli/bin.js');
