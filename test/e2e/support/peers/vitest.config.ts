/**
 * `npm run test:peers`: the doctor against Python servers we did not write (FastMCP), which need a
 * Python virtual environment and so are not part of `npm test`. The global setup makes that
 * environment (./python-env.ts) and fails the run, saying why, when it cannot; every peer is stopped
 * after its file, and a watchdog stops it should the run itself be killed (./processes.ts).
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: fileURLToPath(new URL('../../../..', import.meta.url)),
  test: {
    name: 'peers',
    include: ['test/e2e/doctor-peers-*.peers.ts'],
    globalSetup: ['test/e2e/support/peers/python-env.ts'],
    environment: 'node',
    // One file at a time: each starts its own servers, and the machine has two cores.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
