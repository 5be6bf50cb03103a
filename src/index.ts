/**
 * Worker entry. Checks the setup, screens what an unauthenticated caller can make the Worker read,
 * then hands every request to the OAuth provider, which serves OAuth metadata, /token and /register
 * itself, guards /mcp and /sse, and passes the rest (/authorize, /callback, /) to the sign-in app.
 */
import type { OAuthProvider } from '@cloudflare/workers-oauth-provider';
import { recordRegistration, recordRevocation, revocationFacts } from './audit/hooks';
import { withAudit } from './audit/recorder';
import { sweepExpiredAudit } from './audit/shards';
import { isRegistrationOpen, refusedWhileRegistrationOff } from './admin/registration-switch';
import { rateLimitedPage } from './auth/pages';
import { offeredScopes } from './auth/scopes';
import type { Config } from './config';
import { boundedBearer } from './guard/bearer';
import { readTokenRequest, screenOAuthRequest } from './guard/oauth-requests';
import { clientAddress, rateLimitedJson, RETRY_AFTER_SECONDS, withinLimit } from './guard/rate-limits';
import { exposeMcpHeaders, foreignOriginResponse, isAllowedOrigin, isMcpPath, isServableOrigin, misdirectedRequestResponse } from './mcp/browser-access';
import { withoutInternalHeaders } from './mcp/internal-headers';
import { AUTHORIZE_PATH, createProvider, REGISTER_PATH, TOKEN_PATH } from './provider';
import { pathSuffixedResourceMetadata, WELL_KNOWN_AS_METADATA, withEndpointChallenge, withEndpointResources } from './resource';
import { checkSetup, deploymentProblems, setupErrorResponse } from './setup';
import { providerEnv } from './storage/oauth-kv';

export { AuditLog } from './audit/store';
export { McpSessionAgent } from './mcp/agent';
export { KvJournal } from './storage/kv-journal';
export { UserNotes } from './storage/user-notes';
export { UpstreamTokenVault } from './upstream/vault';

interface ProviderEntry {
  provider: OAuthProvider<Env>;
  /** What stops this configuration from serving this origin (development values on a deployed origin). */
  problems: string[];
}

/**
 * One provider per configuration and resource. Keyed by the parsed configuration (one per env
 * object, see loadConfig), not by the resource alone: a different configuration in the same isolate
 * gets providers built from it.
 */
const providers = new WeakMap<Config, Map<string, ProviderEntry>>();

interface Found {
  provider: OAuthProvider<Env>;
  resource: string;
  env: Env;
  config: Config;
}

function providerFor(env: Env, origin: string): Found | Response {
  const setup = checkSetup(env);
  if (!setup.ok) return setupErrorResponse(setup.problems);
  const { config } = setup;
  if (config.publicUrl === undefined && !isServableOrigin(origin)) return misdirectedRequestResponse();
  const resource = config.publicUrl ?? origin;
  let byResource = providers.get(config);
  if (!byResource) {
    byResource = new Map();
    providers.set(config, byResource);
  }
  let entry = byResource.get(resource);
  if (!entry) {
    entry = { provider: createProvider(config, resource), problems: deploymentProblems(config, resource) };
    byResource.set(resource, entry);
  }
  if (entry.problems.length > 0) return setupErrorResponse(entry.problems);
  return { provider: entry.provider, resource, env: envForResource(providerEnv(env, config, resource), resource), config };
}

const resourceEnvs = new WeakMap<Env, Map<string, Env>>();

/**
 * One env object per resource. The provider stores its helpers (`env.OAUTH_PROVIDER`, bound to its
 * own issuer and resource) on the first env it sees and reuses them; with PUBLIC_URL unset, a
 * Worker answering on two origins (workers.dev and a custom domain, or localhost and 127.0.0.1)
 * would otherwise complete every authorization with the first origin's provider.
 */
function envForResource(env: Env, resource: string): Env {
  let byResource = resourceEnvs.get(env);
  if (!byResource) {
    byResource = new Map();
    resourceEnvs.set(env, byResource);
  }
  let derived = byResource.get(resource);
  if (!derived) {
    // An own, empty slot: a write must land here even when `env` is a Proxy whose set trap would
    // otherwise take it (as the test runner's env is).
    derived = Object.create(env, { OAUTH_PROVIDER: { value: undefined, writable: true, configurable: true } }) as Env;
    byResource.set(resource, derived);
  }
  return derived;
}

/** Where the expiry sweep remembers its position between cron runs. */
const PURGE_CURSOR_KEY = 'maintenance:purge-cursor';

async function serve(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
  const url = new URL(request.url);
  const found = providerFor(env, url.origin);
  if (found instanceof Response) return found;
  const { provider, resource, config } = found;
  if (isMcpPath(url.pathname)) {
    const origin = request.headers.get('Origin');
    if (origin !== null && !isAllowedOrigin(origin, resource, config.allowedOrigins)) return foreignOriginResponse();
    const screened = boundedBearer(withoutInternalHeaders(request));
    let response = await provider.fetch(screened, found.env, ctx);
    if (response.status === 401 && screened.headers.has('Authorization') && !(await withinLimit(env, 'bearerFailure', clientAddress(request)))) response = rateLimitedJson('bearerFailure');
    response = withEndpointChallenge(response, url.pathname, resource);
    // Only browsers send Origin, and only they need CORS; server-side clients skip the copy.
    return origin === null ? response : exposeMcpHeaders(response);
  }
  const metadata = pathSuffixedResourceMetadata(request, url, resource, offeredScopes(config));
  if (metadata) return metadata;
  if (url.pathname === REGISTER_PATH) {
    const refused = refusedBrowserRegistration(request, resource, config);
    if (refused) return refused;
  }
  const limited = await addressLimit(request, url, env);
  if (limited) return limited;
  // After the rate limit, so a flood costs no KV read; the console's switch (./admin/registration-switch.ts).
  if (url.pathname === REGISTER_PATH && request.method === 'POST') {
    const closed = await refusedWhileRegistrationOff(found.env.OAUTH_KV);
    if (closed) return closed;
  }
  const screened = await screenOAuthRequest(request, url, resource, { authorize: AUTHORIZE_PATH, token: TOKEN_PATH, register: REGISTER_PATH });
  if (screened instanceof Response) return screened;
  const tokenRequest = url.pathname === TOKEN_PATH && request.method === 'POST' ? await readTokenRequest(screened) : undefined;
  if (tokenRequest?.clientId !== undefined && !(await withinLimit(env, 'tokenClient', tokenRequest.clientId))) return rateLimitedJson('tokenClient');
  const revocation = tokenRequest && revocationFacts(tokenRequest);
  const response = await provider.fetch(screened, found.env, ctx);
  if (url.pathname === REGISTER_PATH && request.method === 'POST') await recordRegistration(response);
  recordRevocation(revocation, response);
  if (url.pathname !== WELL_KNOWN_AS_METADATA || request.method !== 'GET') return response;
  // A KV read that fails offers registration: POST /register then refuses on its own if it is off.
  const registrationOpen = await isRegistrationOpen(found.env.OAUTH_KV).catch(() => true);
  return withEndpointResources(response, resource, { registrationOpen });
}

/** The per-address limits of the endpoints anyone may call; preflights are not counted. */
async function addressLimit(request: Request, url: URL, env: Env): Promise<Response | undefined> {
  if (request.method === 'OPTIONS') return undefined;
  const address = clientAddress(request);
  if (url.pathname === REGISTER_PATH && request.method === 'POST' && !(await withinLimit(env, 'register', address))) return rateLimitedJson('register');
  if (url.pathname === TOKEN_PATH && request.method === 'POST' && !(await withinLimit(env, 'tokenAddress', address))) return rateLimitedJson('tokenAddress');
  if (url.pathname === AUTHORIZE_PATH && !(await withinLimit(env, 'authorize', address))) return rateLimitedPage(RETRY_AFTER_SECONDS);
  return undefined;
}

/**
 * Dynamic registration from a web page. Every client registered is kept for months, and a page
 * on any site could make each visitor's browser register one; so a browser may register only from
 * an origin this server serves browsers to (its own, or ALLOWED_ORIGINS). Server-side clients send
 * no Origin and are unaffected; a preflight from any other origin gets no CORS permission.
 */
function refusedBrowserRegistration(request: Request, resource: string, config: Config): Response | undefined {
  const origin = request.headers.get('Origin');
  if (origin === null || isAllowedOrigin(origin, resource, config.allowedOrigins)) return undefined;
  if (request.method === 'OPTIONS') return new Response(null, { status: 204, headers: { Vary: 'Origin' } });
  return Response.json(
    { error: 'invalid_client_metadata', error_description: 'Clients may not be registered from this web origin.' },
    { status: 403, headers: { 'Cache-Control': 'no-store', Vary: 'Origin' } },
  );
}

export default {
  async fetch(request, env, ctx): Promise<Response> {
    try {
      // Every request in an audit scope: hooks anywhere below record events with the request's facts,
      // written to the store after the response is ready (src/audit/recorder.ts).
      return await withAudit(request, env, ctx, () => serve(request, env, ctx));
    } catch (error) {
      // A bug or an outage of a platform service: the wire gets a stable code, the log the detail
      // (name and message only; no request data, which could hold a credential).
      console.error(JSON.stringify({ event: 'unhandled_error', name: error instanceof Error ? error.name : typeof error, message: error instanceof Error ? error.message.slice(0, 500) : '' }));
      return Response.json({ error: 'server_error', error_description: 'The server could not complete the request.' }, { status: 500, headers: { 'Cache-Control': 'no-store' } });
    }
  },

  /**
   * Sweeps expired grants and tokens from KV in resumable batches (KV TTLs do most of it), and the
   * audit days past their retention (each day's shards also delete themselves by alarm).
   */
  async scheduled(controller, env): Promise<void> {
    // The sweep does not depend on the resource; any valid one will do when PUBLIC_URL is unset.
    const found = providerFor(env, 'http://localhost');
    if (found instanceof Response) return;
    const { provider, config } = found;
    try {
      await sweepExpiredAudit(env, config.audit.retentionDays, controller.scheduledTime);
    } catch (error) {
      // The KV sweep below still runs; the next hour tries again.
      console.error(JSON.stringify({ event: 'audit_sweep_failed', message: error instanceof Error ? error.message.slice(0, 300) : String(error) }));
    }
    const cursor = (await env.OAUTH_KV.get(PURGE_CURSOR_KEY)) ?? undefined;
    // Through the consistency layer, so the sweep's deletes are journaled like any other.
    const result = await provider.purgeExpiredData(found.env, { batchSize: 100, cursor });
    if (result.cursor) await env.OAUTH_KV.put(PURGE_CURSOR_KEY, result.cursor);
    else await env.OAUTH_KV.delete(PURGE_CURSOR_KEY);
  },
} satisfies ExportedHandler<Env>;
