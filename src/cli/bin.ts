// SPDX-License-Identifier: MIT
/**
 * Entry point of the `xenspan` executable.
 * @module
 */
import { main } from './main.js';

process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  // A closed pipe (xenspan dump … | head) ends the job normally; any other write failure is an error.
  if (error.code === 'EPIPE') process.exit(0);
  process.stderr.write(`xenspan: cannot write the output: ${error.message}\n`);
  process.exit(1);
});
process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
