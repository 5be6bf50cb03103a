/**
 * Starts the whole system on this machine: the dev OIDC IdP and the Worker under `wrangler dev`,
 * wired to each other. Used by `npm start`, the end-to-end tests, the doctor's tests and the bench.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDevIdp, type DevIdp } from '../dev/idp/server.ts';
import { freePort, ROOT, startWranglerDev, type DevWorker } from './wrangler-dev.ts';

export { freePort, ROOT } from './wrangler-dev.ts';

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
  /** The Worker's wrangler dev process (inspector port, process group). */
  worker: DevWorker;
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
  const envFile = options.envFile === undefined ? join(ROOT, '.dev.vars.example') : (options.envFile ?? undefined);
  let worker: DevWorker;
  try {
    worker = await startWranglerDev({ port, vars, envFile, ephemeralState: options.ephemeralState, output: options.output });
  } catch (error) {
    await idp?.close();
    throw error;
  }
  return {
    origin,
    mcpUrl: `${origin}/mcp`,
    idp,
    worker,
    logs: () => worker.logs(),
    stop: async () => {
      await worker.stop();
      await idp?.close();
    },
  };
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
