/**
 * Servers we did not write, run as the doctor's peers: each in a process group of its own under a
 * small watchdog (the same design as scripts/wrangler-dev.ts), so nothing outlives the test run. The
 * watchdog stops the group when told to, and when the test process goes away in any way, SIGKILL
 * included: it watches its IPC channel to the test process, which the kernel closes then. POSIX only,
 * like the rest of this harness.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** How long a peer gets to exit on SIGTERM before the watchdog sends SIGKILL to its group. */
const STOP_GRACE_MS = 2_000;
const DEFAULT_READY_TIMEOUT_MS = 20_000;

/** Preloaded into Node peers: a listen without a host binds 127.0.0.1 only (see the file). */
export const LOOPBACK_ONLY_PRELOAD = fileURLToPath(new URL('./loopback-only.mjs', import.meta.url));

/**
 * `node -e WATCHDOG <grace ms> <command> <args...>`, with an IPC channel: starts the command in a new
 * process group (its output is the watchdog's, which is the caller's pipe), reports its pid, and on
 * SIGTERM, SIGINT, SIGHUP or the channel closing sends SIGTERM to the group, then SIGKILL after the
 * grace. When the command exits, whatever is left of its group is killed and the watchdog exits too.
 * Plain JavaScript: it runs on any Node, without a loader.
 */
const WATCHDOG = `
const { spawn } = require('node:child_process');
const [grace, command, ...args] = process.argv.slice(1);
process.title = 'mcp-doctor peer watchdog';
const child = spawn(command, args, { detached: true, stdio: ['ignore', 'inherit', 'inherit'] });
const signal = (name) => { try { process.kill(-child.pid, name); } catch {} };
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  signal('SIGTERM');
  setTimeout(() => signal('SIGKILL'), Number(grace)).unref();
};
child.once('error', (error) => { process.stderr.write('peer did not start: ' + error.message + '\\n'); process.exit(127); });
child.once('exit', (code) => { signal('SIGKILL'); process.exit(stopping ? 0 : (code ?? 1)); });
for (const name of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(name, stop);
process.on('disconnect', stop);
if (child.pid !== undefined) process.send?.({ pid: child.pid });
`;

export interface PeerOptions<Ready> {
  env?: Record<string, string>;
  cwd?: string;
  /** Anything but undefined once the peer serves, given what it printed so far; polled every 100 ms. */
  ready: (output: string) => Ready | undefined | Promise<Ready | undefined>;
  readyTimeoutMs?: number;
}

export interface Peer<Ready> {
  name: string;
  /** What `ready` returned. */
  ready: Ready;
  /** Everything the peer printed so far, stdout and stderr interleaved. */
  output(): string;
  /** Stops the peer's whole process group and waits for the watchdog to exit. Idempotent. */
  stop(): Promise<void>;
}

export async function startPeer<Ready>(name: string, command: string, args: readonly string[], options: PeerOptions<Ready>): Promise<Peer<Ready>> {
  const watchdog = spawn(process.execPath, ['-e', WATCHDOG, String(STOP_GRACE_MS), command, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  watchdog.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  watchdog.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => watchdog.once('exit', (code) => resolve(code)));
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  const stop = () => stopWatchdog(watchdog, exited);

  try {
    const deadline = Date.now() + (options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
    for (;;) {
      const ready = await options.ready(output);
      if (ready !== undefined) return { name, ready, output: () => output, stop };
      if (hasExited) throw new Error(`${name} exited before it served (code ${String(watchdog.exitCode)}):\n${output}`);
      if (Date.now() > deadline) throw new Error(`${name} did not serve within ${(options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS) / 1000} s:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } catch (error) {
    await stop();
    throw error;
  }
}

async function stopWatchdog(watchdog: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (watchdog.exitCode === null && watchdog.signalCode === null) {
    watchdog.kill('SIGTERM');
    // A watchdog that does not exit in time is killed; its peer's group goes with the IPC channel.
    const timer = setTimeout(() => watchdog.kill('SIGKILL'), STOP_GRACE_MS + 3_000);
    await exited;
    clearTimeout(timer);
  }
}

/** The first line of `output` that is a JSON object with `"ready": true` (how the Python peers announce themselves). */
export function announcement(output: string): Record<string, unknown> | undefined {
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const value: unknown = JSON.parse(line);
      if (typeof value === 'object' && value !== null && (value as { ready?: unknown }).ready === true) return value as Record<string, unknown>;
    } catch {
      // Not the announcement.
    }
  }
  return undefined;
}

/** Whether anything answers HTTP at `url` (any status): the peer is listening. */
export async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    await response.body?.cancel();
    return true;
  } catch {
    return false;
  }
}
