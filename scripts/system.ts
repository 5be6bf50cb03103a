/**
 * Starts the whole system on this machine: the dev OIDC IdP and the Worker under `wrangler dev`,
 * wired to each other. Used by `npm start`, the end-to-end tests, the doctor's tests and the bench.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDevIdp, type DevIdp } from '../dev/idp/server.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WRANGLER = join(ROOT, 'node_modules/wrangler/bin/wrangler.js');
const READY_TIMEOUT_MS = 90_000;

export interface SystemOptions {
  /** Worker port; 0 picks a free one. */
  port?: number;
  /** Dev IdP port; 0 picks a free one. */
  idpPort?: number;
  /** Start the dev IdP and point the Worker at it. Default true. */
  devIdp?: boolean;
  /** Extra Worker vars (`--var`), e.g. to switch a setting off for a test. */
  vars?: Record<string, string>;
  /** Secrets and vars file; default `.dev.vars.example` so tests never depend on a developer's `.dev.vars`. */
  envFile?: string | null;
  /** Fresh KV and Durable Object state in a temp dir (tests) instead of `.wrangler/state` (npm start). */
  ephemeralState?: boolean;
  /** Where wrangler's output goes: the terminal, or a buffer shown only when start-up fails. */
  output?: 'inherit' | 'buffer';
}

export interface RunningSystem {
  origin: string;
  mcpUrl: string;
  idp: DevIdp | undefined;
  /** wrangler's output so far when `output` is 'buffer'. */
  logs(): string;
  stop(): Promise<void>;
}

export async function startSystem(options: SystemOptions = {}): Promise<RunningSystem> {
  const port = options.port || (await freePort());
  const origin = `http://localhost:${port}`;
  let idp: DevIdp | undefined;
  const vars: Record<string, string> = { ...options.vars };
  if (options.devIdp !== false) {
    idp = await startDevIdp({ port: options.idpPort ?? (await freePort()), redirectUris: [`${origin}/callback`, `http://127.0.0.1:${port}/callback`] });
    vars.UPSTREAM ??= 'oidc';
    vars.OIDC_ISSUER ??= idp.issuer;
    vars.OIDC_CLIENT_ID ??= idp.clientId;
    vars.OIDC_CLIENT_SECRET ??= idp.clientSecret;
  }
  const stateDir = options.ephemeralState ? mkdtempSync(join(tmpdir(), 'mcp-worker-state-')) : undefined;
  const envFile = options.envFile === undefined ? join(ROOT, '.dev.vars.example') : options.envFile;
  const args = [
    WRANGLER, 'dev', '--port', String(port), '--ip', 'localhost', '--inspector-port', String(await freePort()),
    '--show-interactive-dev-session=false', '--log-level', options.output === 'inherit' ? 'info' : 'warn',
    ...(envFile ? ['--env-file', envFile] : []),
    ...(stateDir ? ['--persist-to', stateDir] : []),
    ...Object.entries(vars).flatMap(([key, value]) => ['--var', `${key}:${value}`]),
  ];
  let output = '';
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    detached: true,
    stdio: options.output === 'inherit' ? 'inherit' : ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: process.env.CI ?? '' },
  });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));

  const stop = async () => {
    await stopProcessGroup(child);
    await idp?.close();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  };
  try {
    await waitUntilReady(origin, child);
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n--- wrangler output ---\n${output}`);
  }
  return { origin, mcpUrl: `${origin}/mcp`, idp, logs: () => output, stop };
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

async function stopProcessGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // wrangler runs workerd as a child: signal the whole group.
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      // already gone
    }
  }, 5_000);
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

/** Variables a developer set in `.dev.vars`, if the file exists. */
export function readDevVars(path = join(ROOT, '.dev.vars')): Record<string, string> {
  if (!existsSync(path)) return {};
  const vars: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)\s*$/.exec(line);
    if (match?.[1] && match[2] !== undefined) vars[match[1]] = match[2].replace(/^"(.*)"$/, '$1');
  }
  return vars;
}
