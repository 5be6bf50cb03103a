/**
 * Starts a Worker under `wrangler dev` on free ports, in its own process group, and waits until it
 * answers. Shared by the system harness (the project, with the dev IdP) and the bench (its own
 * workers); on the project's Node, whatever Node started the caller.
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
  /** The terminal (npm start), or a buffer shown only when start-up fails. */
  output?: 'inherit' | 'buffer';
}

export interface DevWorker {
  origin: string;
  /** The DevTools inspector of the Worker's isolate (for profiling). */
  inspectorPort: number;
  /** wrangler's process group, workerd included (for CPU accounting). */
  processGroup: number;
  /** wrangler's output so far, when buffered. */
  logs(): string;
  stop(): Promise<void>;
}

export async function startWranglerDev(options: WranglerDevOptions = {}): Promise<DevWorker> {
  const port = options.port || (await freePort());
  const inspectorPort = await freePort();
  const origin = `http://localhost:${port}`;
  const stateDir = options.ephemeralState ? mkdtempSync(join(tmpdir(), 'mcp-worker-state-')) : undefined;
  const args = [
    WRANGLER, 'dev', '--port', String(port), '--ip', 'localhost', '--inspector-port', String(inspectorPort),
    '--show-interactive-dev-session=false', '--log-level', options.output === 'inherit' ? 'info' : 'warn',
    ...(options.config ? ['--config', options.config] : []),
    ...(options.envFile ? ['--env-file', options.envFile] : []),
    ...(stateDir ? ['--persist-to', stateDir] : []),
    ...Object.entries(options.vars ?? {}).flatMap(([key, value]) => ['--var', `${key}:${value}`]),
  ];
  let output = '';
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    detached: true,
    stdio: options.output === 'inherit' ? 'inherit' : ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
  });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const stop = async () => {
    await stopProcessGroup(child);
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  };
  try {
    await waitUntilReady(origin, child);
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n--- wrangler output ---\n${output}`);
  }
  return { origin, inspectorPort, processGroup: child.pid as number, logs: () => output, stop };
}

async function waitUntilReady(origin: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with code ${child.exitCode} before it was ready`);
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

/** wrangler runs workerd as a child: signal the whole group. */
async function stopProcessGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const group = -child.pid;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(group, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(group, 'SIGKILL');
    } catch {
      // already gone
    }
  }, STOP_GRACE_MS);
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
