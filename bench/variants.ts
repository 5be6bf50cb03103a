/**
 * The variants the bench compares, from the bare floor up to this project. Each starts under
 * `wrangler dev` on free ports with fresh local state, and readies the MCP client its load runs
 * with; the OAuth variants also mint their token the way a client does, and can time a whole client
 * connection. Variants 4 and 4m run the same Worker code, each in its own `wrangler dev`, driven
 * with the two protocol eras.
 */
import { join } from 'node:path';
import { httpLogin } from '../cli/lib/http-login.ts';
import { discover, exchangeCode, registerClient, startAuthorization, type Discovery } from '../cli/lib/oauth-client.ts';
import { startSystem } from '../scripts/system.ts';
import { ROOT, startWranglerDev } from '../scripts/wrangler-dev.ts';
import { cpuOfGroup } from './cpu.ts';
import type { CpuProbe, LoadRequest } from './load.ts';
import { callToolOnce, floorSession, openSession, type McpDrive, type McpSession } from './mcp-session.ts';

export type VariantKey = '1' | '2' | '3' | '4' | '4m' | '4b' | '4a' | '5';

/** Display order. */
export const VARIANT_KEYS: readonly VariantKey[] = ['1', '2', '3', '4', '4m', '4b', '4a', '5'];

export interface Variant {
  key: VariantKey;
  id: string;
  title: string;
  /** How its load talks MCP: 2025-11-25 on a session, 2025-11-25 statelessly, or 2026-07-28. */
  drive: McpDrive | 'none';
  start(): Promise<StartedVariant>;
}

/** One timed client connection, DCR registration to the first successful tools/call. */
export interface ConnectTiming {
  registerMs: number;
  /** The browser's part: /authorize, consent and IdP sign-in (this project), or the auto-approve redirect. */
  authorizeMs: number;
  tokenMs: number;
  /** initialize + notifications/initialized; 0 for 2026-07-28, which has no handshake. */
  initializeMs: number;
  firstCallMs: number;
  totalMs: number;
}

export interface StartedVariant {
  origin: string;
  inspectorPort: number | undefined;
  cpu: CpuProbe;
  /** Readies a client (minting a token first where one is needed; opening a session where the drive has one) and checks one call. */
  openSession(): Promise<McpSession>;
  /** A whole OAuth client connection, timed; only for the variants with an authorization server. */
  connect?: () => Promise<ConnectTiming>;
  /** Dynamic client registration (POST /register) as a load; only where registration exists. */
  registration?: LoadRequest;
  stop(): Promise<void>;
}

/** MCP Manager's kind of callback: HTTPS, never reached (the authorization stops at it). */
const CALLBACK = 'https://mcp-manager.bench.test/oauth/callback';
const USER = { login: 'alice', password: 'alice' };

export const VARIANTS: readonly Variant[] = [
  {
    key: '1',
    id: 'floor',
    title: 'floor: fixed answer, no auth, no DO',
    drive: 'none',
    start: () => startBenchWorker('bench/workers/floor/wrangler.jsonc', 'none'),
  },
  {
    key: '2',
    id: 'bare-agent',
    title: 'bare McpAgent, no OAuth (2025-11-25 session)',
    drive: 'session',
    start: () => startBenchWorker('bench/workers/bare-agent/wrangler.jsonc', 'session'),
  },
  {
    key: '3',
    id: 'reference',
    title: 'reference: OAuthProvider + McpAgent (2025-11-25 session)',
    drive: 'session',
    start: () => startBenchWorker('bench/workers/reference/wrangler.jsonc', 'oauth'),
  },
  {
    key: '4',
    id: 'project',
    title: 'this project, stateless /mcp, 2025-11-25 requests (no session id)',
    drive: 'stateless',
    start: () => startProject({}, 'stateless'),
  },
  {
    key: '4m',
    id: 'project-2026',
    title: 'this project, stateless /mcp, 2026-07-28 requests (_meta, Mcp-Method/Mcp-Name)',
    drive: 'modern',
    start: () => startProject({}, 'modern'),
  },
  {
    key: '4b',
    id: 'project-plain-kv',
    title: 'this project, stateless /mcp, 2025-11-25, CONSISTENCY_LAYER=off',
    drive: 'stateless',
    start: () => startProject({ CONSISTENCY_LAYER: 'off' }, 'stateless'),
  },
  {
    key: '4a',
    id: 'project-audit-off',
    title: 'this project, stateless /mcp, 2025-11-25, AUDIT=off (no audit events recorded)',
    drive: 'stateless',
    start: () => startProject({ AUDIT: 'off' }, 'stateless'),
  },
  {
    key: '5',
    id: 'project-mcp-agent',
    title: 'this project, MCP_TRANSPORT=mcp-agent (McpAgent session per client, 2025-11-25)',
    drive: 'session',
    start: () => startProject({ MCP_TRANSPORT: 'mcp-agent' }, 'session'),
  },
];

async function startBenchWorker(config: string, access: 'none' | 'session' | 'oauth'): Promise<StartedVariant> {
  const worker = await startWranglerDev({ config: join(ROOT, config), ephemeralState: true, output: 'buffer' });
  const mcpUrl = `${worker.origin}/mcp`;
  const started: StartedVariant = {
    origin: worker.origin,
    inspectorPort: worker.inspectorPort,
    cpu: () => cpuOfGroup(worker.processGroup),
    stop: () => worker.stop(),
    async openSession() {
      // The floor has no session: its load is the same request without session headers.
      const session =
        access === 'none'
          ? floorSession(mcpUrl)
          : access === 'session'
            ? await openSession(mcpUrl, undefined, 'session')
            : (await connectOAuthClient(mcpUrl, await discover(mcpUrl), autoApproved, 'session')).session;
      await callToolOnce(session);
      return session;
    },
  };
  if (access === 'oauth') {
    started.connect = async () => (await connectOAuthClient(mcpUrl, await discover(mcpUrl), autoApproved, 'session')).timing;
    started.registration = registrationLoad(worker.origin);
  }
  return started;
}

async function startProject(vars: Record<string, string>, drive: McpDrive): Promise<StartedVariant> {
  // Thousands of requests from one loopback address: the rate limits would measure themselves.
  const system = await startSystem({ ephemeralState: true, output: 'buffer', vars: { RATE_LIMITS: 'off', ...vars } });
  let discovery: Discovery;
  try {
    discovery = await discover(system.mcpUrl);
  } catch (error) {
    await system.stop();
    throw error;
  }
  const login = (authorizationUrl: string) => httpLogin(authorizationUrl, { ...USER, redirectUri: CALLBACK });
  return {
    origin: system.origin,
    inspectorPort: system.worker.inspectorPort,
    cpu: () => cpuOfGroup(system.worker.processGroup),
    stop: () => system.stop(),
    async openSession() {
      const { session } = await connectOAuthClient(system.mcpUrl, discovery, login, drive);
      await callToolOnce(session);
      return session;
    },
    connect: async () => (await connectOAuthClient(system.mcpUrl, await discover(system.mcpUrl), login, drive)).timing,
    registration: registrationLoad(system.origin),
  };
}

/** The reference worker's default handler approves at once: its /authorize redirects straight to the callback. */
function autoApproved(authorizationUrl: string): Promise<URL> {
  return httpLogin(authorizationUrl, { login: '', password: '', redirectUri: CALLBACK });
}

/**
 * What MCP Manager does after discovery: DCR as a confidential client, authorization with PKCE and
 * the resource indicator, code exchange, initialize (2025 drives only), first tools/call. Returns
 * the ready client and how long each step took.
 */
async function connectOAuthClient(mcpUrl: string, discovery: Discovery, login: (authorizationUrl: string) => Promise<URL>, drive: McpDrive): Promise<{ session: McpSession; timing: ConnectTiming }> {
  const marks = [performance.now()];
  const lap = () => {
    marks.push(performance.now());
    return (marks.at(-1) as number) - (marks.at(-2) as number);
  };
  const resource = discovery.resourceMetadata.resource;
  const registered = await registerClient(discovery.server, { client_name: 'MCP Manager (bench)', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'client_secret_basic' });
  const registerMs = lap();
  const start = await startAuthorization(discovery.server, registered.client, { redirectUri: CALLBACK, resource });
  const callback = await login(start.url.href);
  const authorizeMs = lap();
  const tokens = await exchangeCode(discovery.server, registered, start, callback, resource);
  const tokenMs = lap();
  const session = await openSession(mcpUrl, tokens.access_token, drive);
  const initializeMs = lap();
  await callToolOnce(session);
  const firstCallMs = lap();
  return { session, timing: { registerMs, authorizeMs, tokenMs, initializeMs, firstCallMs, totalMs: (marks.at(-1) as number) - (marks[0] as number) } };
}

/** POST /register as MCP Manager sends it; each request creates a new confidential client. */
function registrationLoad(origin: string): LoadRequest {
  return {
    url: `${origin}/register`,
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({
      client_name: 'MCP Manager (bench)',
      redirect_uris: [CALLBACK],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }),
    uniqueIds: false,
    verify: (body) => body.includes('"client_id"') && body.includes('"client_secret"'),
  };
}
