// SPDX-License-Identifier: MIT
/**
 * Entry point of the `xenspan` executable.
 * @module
 */
import { main } from './main.js';

process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  // A closed pipe (xenspan dump … | head) ends the job normally.
  if (error.code === 'EPIPE') process.exit(0);
});
process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
