/**
 * Global setup of the end-to-end tests, in vitest's main process before any test file runs.
 *
 * - One temporary folder for the whole run, `<tmp>/mcp-e2e-<pid>-XXXXXX`, made the temp dir (TMPDIR)
 *   of everything started from here on: the test workers, the systems' state folders, the clients'
 *   homes, Chromium's profiles. Removed when the run ends, whether it passed, failed or was
 *   interrupted with Ctrl-C; the folders of earlier runs whose vitest is gone (killed outright) are
 *   removed at the start of the next. (The systems' processes are the watchdog's: wrangler-dev.ts.)
 * - The browser resolved once (cli/lib/chromium.ts): the bundled Chromium, if that is the one, is
 *   unpacked here, not by several workers at once, and CHROMIUM_PATH tells every worker and every
 *   command it runs (the doctor's CLI) which binary to use.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveChromium } from '../../../cli/lib/chromium.ts';
import { isRunning } from '../../../cli/lib/processes.ts';

const PREFIX = 'mcp-e2e-';

export default async function setup(): Promise<() => void> {
  const systemTmp = tmpdir();
  removeAbandonedRuns(systemTmp);
  const runDir = mkdtempSync(join(systemTmp, `${PREFIX}${process.pid}-`));
  const saved = { TMPDIR: process.env.TMPDIR, CHROMIUM_PATH: process.env.CHROMIUM_PATH };
  process.env.TMPDIR = runDir;
  try {
    process.env.CHROMIUM_PATH = (await resolveChromium()).executablePath;
  } catch (error) {
    // No browser: the browser tests fail with this message; the others run.
    console.warn(`No Chromium for the browser tests: ${(error as Error).message}`);
  }
  // However this run ends (passed, failed, Ctrl-C, or vitest killed outright), the folder goes once
  // vitest and every process started with it as TMPDIR (workers, the systems' watchdogs) are gone:
  // a process of its own waits for that (vitest exits on Ctrl-C without the teardown below, while its
  // workers are still stopping and writing there).
  spawn(process.execPath, ['-e', REMOVE_WHEN_UNUSED, runDir, String(process.pid)], { detached: true, stdio: 'ignore', env: { ...process.env, TMPDIR: systemTmp } }).unref();
  return () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    rmSync(runDir, { recursive: true, force: true, maxRetries: 3 });
  };
}

/**
 * `node -e REMOVE_WHEN_UNUSED <dir> <pid>`: once process <pid> (vitest) has ended, removes the folder
 * as soon as no process started with it as TMPDIR is left (Linux: /proc; elsewhere after 10 s), and
 * 30 s after <pid> ended at the latest. Exits at once if the folder is already gone.
 */
const REMOVE_WHEN_UNUSED = `
const { existsSync, readdirSync, readFileSync, rmSync } = require('node:fs');
const [dir, owner] = process.argv.slice(1);
const entry = 'TMPDIR=' + dir + '\\0';
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch (error) { return error.code === 'EPERM'; } };
const used = () => readdirSync('/proc').some((pid) => {
  if (!/^[0-9]+$/.test(pid) || Number(pid) === process.pid) return false;
  try {
    const environ = readFileSync('/proc/' + pid + '/environ', 'latin1');
    return environ.startsWith(entry) || environ.includes('\\0' + entry);
  } catch {
    return false;
  }
});
let ended;
const check = () => {
  if (!existsSync(dir)) return;
  if (ended === undefined) {
    if (alive(Number(owner))) return setTimeout(check, 500);
    ended = Date.now();
  }
  const waited = Date.now() - ended;
  if (waited < 30000 && (existsSync('/proc/self/environ') ? used() : waited < 10000)) return setTimeout(check, 200);
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
};
check();
`;

function removeAbandonedRuns(dir: string): void {
  for (const name of readdirSync(dir)) {
    const pid = new RegExp(`^${PREFIX}(\\d+)-`).exec(name)?.[1];
    if (pid !== undefined && !isRunning(Number(pid))) rmSync(join(dir, name), { recursive: true, force: true, maxRetries: 3 });
  }
}
