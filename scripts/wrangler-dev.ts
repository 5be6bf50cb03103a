/**
 * Starts a Worker under `wrangler dev` on free ports, in its own process group, and waits until it
 * answers. Shared by the system harness (the project, with the dev IdP) and the bench (its own
 * workers); on the project's Node, whatever Node started the caller.
 *
 * wrangler is not the caller's child but a watchdog's: a small Node process (SUPERVISOR below) that
 * starts wrangler in a process group of its own (wrangler, workerd, esbuild) and takes that whole
 * group down, and removes the ephemeral state folder, when it is told to stop or when the process that
 * started it dies in any way at all, SIGKILL included: it watches its IPC channel to the caller, which
 * the kernel closes when the caller goes. Without it, wrangler and workerd (detached, so that Ctrl-C
 * and the group signals below reach all of them) outlived a crashed or killed caller as orphans
 * holding the port. POSIX only (process groups), like the rest of this harness.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WRANGLER = join(ROOT, 'node_modules/wrangler/bin/wrangler.js');
const READY_TIMEOUT_MS = 90_000;
/** How long wrangler and workerd get to exit on SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 5_000;

/**
 * The watchdog, run as `node -e SUPERVISOR <grace ms> <state dir or ""> <wrangler args...>` with an IPC
 * channel. It reports wrangler's pid (its process group), then stops the group on SIGTERM, SIGINT,
 * SIGHUP, or the channel closing (the caller exited or was killed): SIGTERM to the group, SIGKILL after
 * the grace, SIGKILL to whatever of the group is left once wrangler has exited (workerd, if wrangler
 * did not wait for it), then the state folder is removed. It exits with wrangler's exit code when
 * wrangler exits by itself. Plain JavaScript: it runs on any Node, without a loader.
 */
const SUPERVISOR = `
const { spawn } = require('node:child_process');
const { existsSync, readdirSync, readFileSync, rmSync } = require('node:fs');
const [grace, stateDir, ...args] = process.argv.slice(1);
process.title = 'wrangler-dev watchdog';
const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', 'inherit', 'inherit'] });
const group = -child.pid;
const signal = (name) => { try { process.kill(group, name); return true; } catch { return false; } };
let stopping = false;
let finished = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  signal('SIGTERM');
  setTimeout(() => signal('SIGKILL'), Number(grace)).unref();
};
// Whether any process of the group is still running; on Linux, exited ones not yet reaped (zombies,
// whose new parent may take its time) do not count.
const running = () => {
  if (!existsSync('/proc/self/stat')) return signal(0);
  for (const pid of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(pid)) continue;
    try {
      const fields = readFileSync('/proc/' + pid + '/stat', 'utf8').replace(/^.*\\) /s, '').split(' ');
      if (Number(fields[2]) === child.pid && fields[0] !== 'Z' && fields[0] !== 'X') return true;
    } catch {}
  }
  return false;
};
const finish = async (code) => {
  if (finished) return;
  finished = true;
  // workerd may still be going after wrangler: wait briefly for the group to empty, then make sure.
  for (let waited = 0; waited < 2000 && running(); waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
  signal('SIGKILL');
  if (stateDir) rmSync(stateDir, { recursive: true, force: true, maxRetries: 3 });
  process.exit(code);
};
child.once('error', () => finish(1));
child.once('exit', (code) => finish(stopping ? 0 : (code ?? 1)));
for (const name of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(name, stop);
process.on('disconnect', stop);
process.send?.({ wranglerPid: child.pid });
`;

export interface WranglerDevOptions {
  /** wrangler.jsonc to run; default the project's. */
  config?: string;
  /** Port; 0 or unset picks a free one. */
  port?: number;
  /** `--var` overrides. */
  vars?: Record<string, string>;
  /** `--env-file` (secrets and vars). */
  envFile?: string;
  /** Fresh KV and Durable Object state in a temp dir, removed on stop; otherwise `.wrangler/state`. */
  ephemeralState?: boolean;
  /**
   * KV and Durable Object state kept in this folder across runs (`--persist-to`), and never removed
   * here: for a test of what survives a restart without touching the developer's `.wrangler/state`.
   */
  persistTo?: string;
  /** The terminal (npm start), or a buffer shown only when start-up fails. */
  output?: 'inherit' | 'buffer';
}

export interface DevWorker {
  origin: string;
  /** The DevTools inspector of the Worker's isolate (for profiling). */
  inspectorPort: number;
  /** wrangler's process group, workerd included (for CPU accounting). */
  processGroup: number;
  /** The watchdog's pid: it stops the group when its parent, this process, goes away. */
  supervisorPid: number;
  /** The ephemeral state folder (removed on stop, and by the watchdog if this process dies). */
  stateDir: string | undefined;
  /** wrangler's output so far, when buffered. */
  logs(): string;
  stop(): Promise<void>;
}

/**
 * wrangler could not bind a port: one that {@link freePort} found free was taken before wrangler bound
 * it (test files start systems in parallel). Starting again on other ports is the fix.
 */
export class PortTakenError extends Error {}

/** How many times a start is tried when a port it picked itself was taken meanwhile. */
export const PORT_ATTEMPTS = 3;

/**
 * {@link startOnce}, again on fresh ports when a port was taken between finding it free and binding it:
 * the inspector port always (it is always picked here), the main port when the caller left it to us.
 */
export async function startWranglerDev(options: WranglerDevOptions = {}): Promise<DevWorker> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (error) {
      if (!(error instanceof PortTakenError) || attempt >= PORT_ATTEMPTS) throw error;
    }
  }
}

async function startOnce(options: WranglerDevOptions): Promise<DevWorker> {
  const port = options.port || (await freePort());
  const inspectorPort = await freePort();
  const origin = `http://localhost:${port}`;
  if (options.ephemeralState && options.persistTo) throw new Error('ephemeralState and persistTo exclude each other');
  const stateDir = options.ephemeralState ? mkdtempSync(join(tmpdir(), 'mcp-worker-state-')) : undefined;
  const args = [
    WRANGLER, 'dev', '--port', String(port), '--ip', 'localhost', '--inspector-port', String(inspectorPort),
    '--show-interactive-dev-session=false', '--log-level', options.output === 'inherit' ? 'info' : 'warn',
    ...(options.config ? ['--config', options.config] : []),
    ...(options.envFile ? ['--env-file', options.envFile] : []),
    ...(stateDir ?? options.persistTo ? ['--persist-to', (stateDir ?? options.persistTo) as string] : []),
    ...Object.entries(options.vars ?? {}).flatMap(([key, value]) => ['--var', `${key}:${value}`]),
  ];
  let output = '';
  const supervisor = spawn(process.execPath, ['-e', SUPERVISOR, String(STOP_GRACE_MS), stateDir ?? '', ...args], {
    cwd: ROOT,
    // Its own session: Ctrl-C at a terminal reaches the caller, which stops it; nothing else does.
    detached: true,
    stdio: options.output === 'inherit' ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
  });
  supervisor.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  supervisor.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => supervisor.once('exit', () => resolve()));
  let wranglerPid: number | undefined;
  const stop = async () => {
    await stopSupervisor(supervisor, exited, wranglerPid);
    // The watchdog removes it; this covers a watchdog that was killed itself.
    if (stateDir) rmSync(stateDir, { recursive: true, force: true, maxRetries: 3 });
  };
  try {
    wranglerPid = await new Promise<number>((resolve, reject) => {
      supervisor.once('message', (message: { wranglerPid?: number }) => (message.wranglerPid ? resolve(message.wranglerPid) : reject(new Error('the watchdog sent no pid'))));
      supervisor.once('error', reject);
      void exited.then(() => reject(new Error(`the wrangler watchdog exited with code ${supervisor.exitCode}`)));
    });
    await waitUntilReady(origin, supervisor, () => output);
  } catch (error) {
    await stop();
    const message = `${(error as Error).message}\n--- wrangler output ---\n${output}`;
    throw /Address already in use/.test(output) ? new PortTakenError(message) : new Error(message);
  }
  return { origin, inspectorPort, processGroup: wranglerPid as number, supervisorPid: supervisor.pid as number, stateDir, logs: () => output, stop };
}

async function waitUntilReady(origin: string, supervisor: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (supervisor.exitCode !== null) throw new Error(`wrangler dev exited with code ${supervisor.exitCode} before it was ready`);
    // wrangler dev stays up after a failed build, waiting for a fix that a test run will never make.
    if (/Build failed with \d+ error/.test(output())) throw new Error('wrangler dev could not build the Worker');
    try {
      const response = await fetch(`${origin}/`, { signal: AbortSignal.timeout(2_000) });
      await response.body?.cancel();
      if (response.status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`wrangler dev did not answer on ${origin} within ${READY_TIMEOUT_MS / 1000} s`);
}

/**
 * SIGTERM to the watchdog, which stops wrangler's group (SIGTERM, then SIGKILL after the grace) and
 * exits; if it has not within the grace and some more, SIGKILL to it and to wrangler's group.
 */
async function stopSupervisor(supervisor: ChildProcess, exited: Promise<void>, wranglerPid: number | undefined): Promise<void> {
  if (supervisor.exitCode !== null || supervisor.signalCode !== null || supervisor.pid === undefined) return;
  supervisor.kill('SIGTERM');
  const timer = setTimeout(() => {
    supervisor.kill('SIGKILL');
    if (wranglerPid === undefined) return;
    try {
      process.kill(-wranglerPid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, STOP_GRACE_MS + 5_000);
  await exited;
  clearTimeout(timer);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
