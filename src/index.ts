/**
 * Worker entry. Checks the setup, then hands every request to the OAuth provider, which serves
 * OAuth metadata, /token and /register itself, guards /mcp and /sse, and passes the rest
 * (/authorize, /callback, /) to the sign-in app.
 */
import type { OAuthProvider } from '@cloudflare/workers-oauth-provider';
import type { Config } from './config';
import { exposeMcpHeaders, foreignOriginResponse, isAllowedOrigin, isMcpPath, isServableOrigin, misdirectedRequestResponse } from './mcp/browser-access';
import { createProvider, TOKEN_PATH } from './provider';
import { pathSuffixedResourceMetadata, WELL_KNOWN_AS_METADATA, withCanonicalResource, withEndpointChallenge, withEndpointResources } from './resource';
import { checkSetup, setupErrorResponse } from './setup';
import { providerEnv } from './storage/oauth-kv';

export { McpSessionAgent } from './mcp/agent';
export { KvJournal } from './storage/kv-journal';
export { UserNotes } from './storage/user-notes';

const providers = new Map<string, OAuthProvider<Env>>();

function providerFor(env: Env, origin: string): { provider: OAuthProvider<Env>; resource: string; env: Env; config: Config } | Response {
  const setup = checkSetup(env);
  if (!setup.ok) return setupErrorResponse(setup.problems);
  if (setup.config.publicUrl === undefined && !isServableOrigin(origin)) return misdirectedRequestResponse();
  const resource = setup.config.publicUrl ?? origin;
  let provider = providers.get(resource);
  if (!provider) {
    provider = createProvider(setup.config, resource);
    providers.set(resource, provider);
  }
  return { provider, resource, env: envForResource(providerEnv(env, setup.config), resource), config: setup.config };
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

export default {
  async fetch(request, env, ctx): Promise<Response> {
    const url = new URL(request.url);
    const found = providerFor(env, url.origin);
    if (found instanceof Response) return found;
    const { provider, resource, config } = found;
    if (isMcpPath(url.pathname)) {
      const origin = request.headers.get('Origin');
      if (origin !== null && !isAllowedOrigin(origin, resource, config.allowedOrigins)) return foreignOriginResponse();
      const response = withEndpointChallenge(await provider.fetch(request, found.env, ctx), url.pathname, resource);
      // Only browsers send Origin, and only they need CORS; server-side clients skip the copy.
      return origin === null ? response : exposeMcpHeaders(response);
    }
    const metadata = pathSuffixedResourceMetadata(request, url, resource);
    if (metadata) return metadata;
    const response = await provider.fetch(await withCanonicalResource(request, url, resource, TOKEN_PATH), found.env, ctx);
    return url.pathname === WELL_KNOWN_AS_METADATA && request.method === 'GET' ? withEndpointResources(response, resource) : response;
  },

  /** Sweeps expired grants and tokens from KV in resumable batches (KV TTLs do most of it). */
  async scheduled(_controller, env): Promise<void> {
    // The sweep does not depend on the resource; any valid one will do when PUBLIC_URL is unset.
    const found = providerFor(env, 'http://localhost');
    if (found instanceof Response) return;
    const { provider } = found;
    const cursor = (await env.OAUTH_KV.get(PURGE_CURSOR_KEY)) ?? undefined;
    // Through the consistency layer, so the sweep's deletes are journaled like any other.
    const result = await provider.purgeExpiredData(found.env, { batchSize: 100, cursor });
    if (result.cursor) await env.OAUTH_KV.put(PURGE_CURSOR_KEY, result.cursor);
    else await env.OAUTH_KV.delete(PURGE_CURSOR_KEY);
  },
} satisfies ExportedHandler<Env>;
