/**
 * Starts the whole system on this machine: the dev OIDC IdP and the Worker under `wrangler dev`,
 * wired to each other. Used by `npm start`, the end-to-end tests, the doctor's tests and the bench.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEV_IDP_STATE_DIR, startDevIdp, type DevIdp } from '../dev/idp/server.ts';
import { accessTokenTtlFromEnv } from '../dev/idp/settings.ts';
import { freePort, PORT_ATTEMPTS, PortTakenError, ROOT, startWranglerDev, type DevWorker } from './wrangler-dev.ts';

export { freePort, ROOT } from './wrangler-dev.ts';

export interface SystemOptions {
  /** Worker port; 0 picks a free one. */
  port?: number;
  /** Dev IdP port; 0 picks a free one. */
  idpPort?: number;
  /** Start the dev IdP and point the Worker at it. Default true. */
  devIdp?: boolean;
  /** The dev IdP's access-token lifetime in seconds (DevIdpOptions.accessTokenTtlSeconds); default its own, 3600. */
  idpAccessTokenTtlSeconds?: number;
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
  // The dev IdP must know the Worker's port (its redirect URIs): a port taken meanwhile means starting both again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startSystemOnce(options);
    } catch (error) {
      if (!(error instanceof PortTakenError) || options.port || attempt >= PORT_ATTEMPTS) throw error;
    }
  }
}

async function startSystemOnce(options: SystemOptions): Promise<RunningSystem> {
  const port = options.port || (await freePort());
  const origin = `http://localhost:${port}`;
  let idp: DevIdp | undefined;
  const vars: Record<string, string> = { ...options.vars };
  if (options.devIdp !== false) {
    // npm start's IdP keeps its signing key across restarts (beside wrangler's state), so that tokens and
    // cached key sets stay good; a test's IdP gets a fresh key, like its fresh KV.
    try {
      idp = await startDevIdp({
        port: options.idpPort ?? (await freePort()),
        redirectUris: [`${origin}/callback`, `http://127.0.0.1:${port}/callback`],
        stateDir: options.ephemeralState ? undefined : DEV_IDP_STATE_DIR,
        accessTokenTtlSeconds: options.idpAccessTokenTtlSeconds,
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE' && !options.idpPort) throw new PortTakenError(`the dev IdP's port was taken: ${(error as Error).message}`);
      throw error;
    }
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

/**
 * The settings `npm start` takes from its environment as well as from `.dev.vars`: every setting the
 * README's Configuration table documents, except the secrets (OIDC_CLIENT_SECRET, GITHUB_CLIENT_SECRET,
 * SESSION_SECRET, ADMIN_TOKEN), which come from `.dev.vars` only. Nothing else in the environment
 * reaches the Worker. Given in both places, the environment wins: it is the one-off override
 * (`CONSISTENCY_LAYER=off SIMULATE_KV_LOCATIONS=3 npm start`). An empty value counts as not given.
 */
export const ENVIRONMENT_SETTINGS = [
  'PUBLIC_URL', 'UPSTREAM', 'OIDC_ISSUER', 'OIDC_CLIENT_ID', 'OIDC_SCOPES', 'GITHUB_CLIENT_ID', 'GITHUB_BASE_URL', 'GITHUB_API_URL',
  'ALLOWED_EMAILS', 'ALLOWED_EMAIL_DOMAINS', 'ALLOWED_GITHUB_LOGINS', 'ALLOWED_GITHUB_ORGS', 'SCOPE_POLICY', 'ALLOWED_ORIGINS',
  'MCP_TRANSPORT', 'ALLOW_PRIVATE_USE_REDIRECT_URIS', 'CONSISTENCY_LAYER', 'SIMULATE_KV_LOCATIONS', 'SIMULATE_KV_DELAY_MS',
  'ALLOW_PUBLIC_CLIENT_REGISTRATION', 'ACCESS_TOKEN_TTL_SECONDS', 'REFRESH_TOKEN_TTL_SECONDS', 'REFRESH_TOKEN_IDLE_TTL_SECONDS',
  'REFRESH_TOKEN_REUSE_GRACE_SECONDS', 'RATE_LIMITS', 'CLIENT_REGISTRATION_TTL_SECONDS', 'AUDIT', 'AUDIT_RETENTION_DAYS',
  'ADMIN_EMAILS', 'ADMIN_EMAIL_DOMAINS', 'ADMIN_GITHUB_ORGS', 'ADMIN_GROUPS', 'GITHUB_SCOPES', 'UPSTREAM_TOKENS', 'UPSTREAM_API_ORIGINS',
] as const;

/**
 * What `npm start` runs, from its environment and the `.dev.vars` at `devVarsPath`: the ports (PORT,
 * IDP_PORT), the dev IdP unless an upstream is configured (UPSTREAM or OIDC_ISSUER, in either place)
 * with its access-token lifetime (IDP_ACCESS_TOKEN_TTL_SECONDS, environment only: a dev IdP setting,
 * not the Worker's, so not in ENVIRONMENT_SETTINGS), `.dev.vars` as the env file, and the documented
 * settings given in the environment as `--var`s, which wrangler puts over the env file's.
 */
export function npmStartOptions(env: Record<string, string | undefined>, devVarsPath: string): SystemOptions & { port: number; idpPort: number } {
  const fromFile = readDevVars(devVarsPath);
  const vars: Record<string, string> = {};
  for (const name of ENVIRONMENT_SETTINGS) {
    const value = env[name];
    if (value !== undefined && value !== '') vars[name] = value;
  }
  const ownUpstream = ['UPSTREAM', 'OIDC_ISSUER'].some((name) => Object.hasOwn(vars, name) || Object.hasOwn(fromFile, name));
  // With the dev IdP, the Worker is its client: its client id is the IdP's, whatever the environment says.
  if (!ownUpstream) delete vars.OIDC_CLIENT_ID;
  const idpAccessTokenTtlSeconds = accessTokenTtlFromEnv(env);
  return {
    port: portSetting(env, 'PORT', 8787),
    idpPort: portSetting(env, 'IDP_PORT', 8788),
    devIdp: !ownUpstream,
    ...(idpAccessTokenTtlSeconds === undefined ? {} : { idpAccessTokenTtlSeconds }),
    envFile: devVarsPath,
    vars,
    output: 'inherit',
  };
}

function portSetting(env: Record<string, string | undefined>, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`${name} must be a TCP port number, got "${raw}"`);
  return port;
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
