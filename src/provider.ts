/**
 * The OAuth 2.1 authorization server and protected-resource wiring, built from configuration.
 *
 * One provider guards both MCP transports, so the protected resource is the origin: the provider
 * requires every protected route to sit at or below its resource, and `/mcp` and `/sse` share
 * only the origin. Tokens are therefore valid on both.
 */
import { OAuthProvider, type OAuthProviderOptions } from '@cloudflare/workers-oauth-provider';
import { defaultApp } from './app';
import { recordTokenExchange } from './audit/hooks';
import { RefreshReuseGuardedProvider, type RefreshReuseOptions } from './auth/refresh-reuse';
import { registrationRefusal } from './auth/registration-policy';
import { offeredScopes } from './auth/scopes';
import type { Config } from './config';
import { MCP_PATH, SSE_PATH } from './mcp/paths';
import { legacySseHandler, streamableHttpHandler } from './mcp/routes';
import { keepUpstreamTokensAlive, retentionSeconds } from './upstream/vault';

export const AUTHORIZE_PATH = '/authorize';
export const TOKEN_PATH = '/token';
export const REGISTER_PATH = '/register';

export interface ProviderExtras {
  /** Refresh-token reuse detection, for tests: an injected clock or grace. */
  refreshReuse?: Omit<RefreshReuseOptions, 'tokenPath'>;
}

/** The provider, with refresh-token reuse detection on its token endpoint (./auth/refresh-reuse.ts). */
export function createProvider(config: Config, origin: string, extras: ProviderExtras = {}): OAuthProvider<Env> {
  return new RefreshReuseGuardedProvider(providerOptions(config, origin), { tokenPath: TOKEN_PATH, graceSeconds: config.lifetimes.refreshReuseGraceSeconds, ...extras.refreshReuse });
}

export function providerOptions(config: Config, origin: string): OAuthProviderOptions<Env> {
  const { lifetimes } = config;
  return {
    apiHandlers: {
      // The handlers read ctx.auth, which the provider sets for its API handlers; its declared
      // handler type predates that field, hence the widening.
      [MCP_PATH]: streamableHttpHandler as ExportedHandlerWithFetch,
      [SSE_PATH]: legacySseHandler as ExportedHandlerWithFetch,
    },
    defaultHandler: { fetch: (request, env, ctx) => defaultApp.fetch(request, env, ctx) },
    authorizeEndpoint: AUTHORIZE_PATH,
    tokenEndpoint: TOKEN_PATH,
    clientRegistrationEndpoint: REGISTER_PATH,
    scopesSupported: [...offeredScopes(config)],
    // Advertised in the 401 challenge and as the resource's scopes_supported (MCP: SHOULD), so
    // clients ask for them up front. This server's basic use is its tools, so that is every scope
    // offered; the consent page and SCOPE_POLICY still narrow what is granted.
    requiredScopes: [...offeredScopes(config)],
    resourceMetadata: { resource: origin, resource_name: 'MCP server', bearer_methods_supported: ['header'] },
    accessTokenTTL: lifetimes.accessTokenSeconds,
    refreshTokenTTL: lifetimes.refreshTokenSeconds,
    refreshTokenIdleTTL: lifetimes.refreshIdleSeconds,
    clientRegistrationTTL: lifetimes.clientRegistrationSeconds,
    disallowPublicClientRegistration: !config.allowPublicClientRegistration,
    allowPrivateUseRedirectUris: config.allowPrivateUseRedirectUris,
    clientIdMetadataDocumentEnabled: true,
    clientRegistrationCallback: ({ clientMetadata }) => registrationRefusal(clientMetadata),
    // Changes nothing: records the code exchange or refresh in the audit trail once it succeeds, and
    // on a refresh keeps the grant's upstream tokens (if any) as long as the grant now lives.
    async tokenExchangeCallback(options) {
      recordTokenExchange(options);
      if (options.grantType === 'refresh_token') await keepUpstreamTokensAlive(options.env, options.props, retentionSeconds(config));
      return undefined;
    },
    onError({ code, status, internal }) {
      // The wire answer stays generic (RFC 6749 §5.2); the exact failed check goes to the log.
      // `internal` never carries a secret or token (library guarantee), but `detail` may hold a
      // caught error object, so only its stable slugs are logged.
      console.warn(JSON.stringify({ event: 'oauth_error', code, status, category: internal.category, reason: internal.reason }));
    },
  };
}

type ExportedHandlerWithFetch = ExportedHandler<Env> & Required<Pick<ExportedHandler<Env>, 'fetch'>>;
