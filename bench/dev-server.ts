/**
 * Starts one bench worker (bench/workers/<name>/wrangler.jsonc) under `wrangler dev` on free ports,
 * the way scripts/system.ts starts the project: its own process group, fresh local state in a temp
 * dir, ready once it answers `/`. The project itself is started by scripts/system.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, ROOT } from '../scripts/system.ts';

const WRANGLER = join(ROOT, 'node_modules/wrangler/bin/wrangler.js');
const READY_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 5_000;

export interface DevWorker {
  origin: string;
  /** The DevTools inspector of the worker's isolate (wrangler's inspector proxy), for profiling. */
  inspectorPort: number;
  /** The process group of wrangler and its workerd processes (for CPU accounting). */
  processGroup: number;
  logs(): string;
  stop(): Promise<void>;
}

export interface DevWorkerOptions {
  /** Path of the wrangler.jsonc, relative to the project root. */
  config: string;
  vars?: Record<string, string>;
  /** Secrets and vars file, relative to the project root. */
  envFile?: string;
}

export async function startDevWorker(options: DevWorkerOptions): Promise<DevWorker> {
  const port = await freePort();
  const inspectorPort = await freePort();
  const origin = `http://localhost:${port}`;
  const stateDir = mkdtempSync(join(tmpdir(), 'mcp-bench-state-'));
  const args = [
    WRANGLER, 'dev', '--config', join(ROOT, options.config), '--port', String(port), '--ip', 'localhost',
    '--inspector-port', String(inspectorPort), '--show-interactive-dev-session=false', '--log-level', 'warn',
    '--persist-to', stateDir,
    ...(options.envFile ? ['--env-file', join(ROOT, options.envFile)] : []),
    ...Object.entries(options.vars ?? {}).flatMap(([key, value]) => ['--var', `${key}:${value}`]),
  ];
  let output = '';
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
  });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const stop = async () => {
    await stopProcessGroup(child);
    rmSync(stateDir, { recursive: true, force: true });
  };
  try {
    await waitUntilReady(origin, child);
  } catch (error) {
    await stop();
    throw new Error(`${options.config}: ${(error as Error).message}\n--- wrangler output ---\n${output}`);
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

/** wrangler runs workerd as a child: signal the whole group this module started, by its id. */
async function stopProcessGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const pid = child.pid;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}
