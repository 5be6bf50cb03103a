/**
 * Any OpenID Connect provider (Google, Auth0, Okta, Keycloak, Stytch, WorkOS, the local dev IdP) by
 * configuration alone: discovery, PKCE S256, state, nonce, and a fully verified ID token, all through
 * oauth4webapi. Every request to the IdP goes through ./http.ts (deadline, outage or garbage).
 */
import * as oauth from 'oauth4webapi';
import { httpsOrLoopbackProblem, isLoopbackHost, type OidcUpstreamConfig } from '../config';
import { describe, upstreamFetch } from './http';
import { UPSTREAM_TIMEOUT_MS, UpstreamError, type UpstreamTokens, type UpstreamAdapter, type UpstreamFlow, type UpstreamSignIn, type UpstreamOptions } from './types';

/** Discovery documents change rarely; an hour bounds how long a key or endpoint rotation goes unseen. */
const DISCOVERY_CACHE_MS = 60 * 60 * 1000;

/**
 * A discovery document and its key set. oauth4webapi caches a key set per `server` object (and
 * fetches it again only when it is 60 s old, or 300 s): a new `server` object starts a new key set.
 */
export interface CachedDiscovery {
  server: oauth.AuthorizationServer;
  fetchedAt: number;
  jwks: oauth.JWKSCacheInput;
}

export type DiscoveryCache = Map<string, CachedDiscovery>;

/** One per isolate, by issuer. */
const isolateDiscoveryCache: DiscoveryCache = new Map();

/** The discovery document's URLs the Worker fetches (with the code, the IdP's tokens) or sends the browser to. */
const DISCOVERED_ENDPOINTS = ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri'] as const;

/**
 * What is wrong with the endpoints a discovery document names: each must be https, or http on a
 * loopback host, as config.ts demands of the issuer itself. oauth4webapi enforces https on what it
 * fetches only while insecure requests are off, and they are on for a loopback issuer (the dev IdP),
 * whose document could otherwise send the code and tokens to plain http anywhere; and it never sees
 * the authorization endpoint, which only the browser is sent to.
 */
export function discoveredEndpointProblems(server: oauth.AuthorizationServer): string[] {
  return DISCOVERED_ENDPOINTS.flatMap((name) => {
    const value: unknown = server[name];
    if (value === undefined) return [];
    const problem = typeof value === 'string' ? httpsOrLoopbackProblem(value) : 'must be a URL string';
    return problem ? [`${name} ${problem} (got ${JSON.stringify(value)})`] : [];
  });
}

export function createOidcAdapter(config: OidcUpstreamConfig, fetchImpl: typeof fetch = fetch, options: UpstreamOptions = {}): UpstreamAdapter {
  const issuer = new URL(config.issuer);
  const client: oauth.Client = { client_id: config.clientId };
  const clientAuth = oauth.ClientSecretBasic(config.clientSecret);
  const discoveryCache = options.discoveryCache ?? isolateDiscoveryCache;
  const http = {
    // A deadline on each request (discovery, token, keys, userinfo) and its body; outages told apart from garbage.
    [oauth.customFetch]: upstreamFetch(fetchImpl, { timeoutMs: options.timeoutMs ?? UPSTREAM_TIMEOUT_MS, idp: `The identity provider at ${issuer.host}` }),
    // Plain http only for an issuer on this machine (the dev IdP); config.ts refuses any other http issuer,
    // and discover() any endpoint that is neither https nor loopback.
    [oauth.allowInsecureRequests]: issuer.protocol === 'http:' && isLoopbackHost(issuer.hostname),
  };
  const upstream = `oidc:${issuer.host}`;

  async function discover(): Promise<CachedDiscovery> {
    const cached = discoveryCache.get(config.issuer);
    if (cached && Date.now() - cached.fetchedAt < DISCOVERY_CACHE_MS) return cached;
    const server = await invalidOnFailure(
      'discovery',
      async () => oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...http, algorithm: 'oidc' })),
      'The identity provider is misconfigured.',
    );
    // Checked before the document is cached or used: nothing is fetched from, or redirected to, a refused URL.
    const problems = discoveredEndpointProblems(server);
    if (problems.length > 0) throw new UpstreamError('invalid_response', 'The identity provider is misconfigured.', `discovery: ${problems.join('; ')}`);
    const fresh = { server, fetchedAt: Date.now(), jwks: {} };
    discoveryCache.set(config.issuer, fresh);
    return fresh;
  }

  /**
   * The ID token's signature, against the cached key set; when no key there fits (the IdP rotated its
   * keys since the set was fetched), against a freshly fetched set, once. oauth4webapi re-fetches on
   * its own only when its copy is at least 60 s old, so the first sign-ins after a rotation would fail.
   */
  async function verifySignature(cached: CachedDiscovery, tokenResponse: Response): Promise<void> {
    try {
      await oauth.validateApplicationLevelSignature(cached.server, tokenResponse, { ...http, [oauth.jwksCache]: cached.jwks });
      return;
    } catch (error) {
      if (!isNoApplicableKey(error)) throw error;
      console.warn(JSON.stringify({ event: 'upstream_jwks_refetch', upstream, reason: 'no key in the cached key set fits the ID token', kid: keyIdOf(error) }));
    }
    // A copy of the document is a new key-set cache for oauth4webapi, which then fetches jwks_uri.
    const fresh: CachedDiscovery = { server: { ...cached.server }, fetchedAt: cached.fetchedAt, jwks: {} };
    try {
      await oauth.validateApplicationLevelSignature(fresh.server, tokenResponse, { ...http, [oauth.jwksCache]: fresh.jwks });
    } finally {
      // The newer key set serves the sign-ins after this one, whether or not it had the key.
      if ('uat' in fresh.jwks && discoveryCache.get(config.issuer) === cached) discoveryCache.set(config.issuer, fresh);
    }
  }

  return {
    async prepare(): Promise<UpstreamFlow> {
      return { codeVerifier: oauth.generateRandomCodeVerifier(), nonce: oauth.generateRandomNonce() };
    },

    async authorizationUrl(flow, state, redirectUri) {
      const { server } = await discover();
      if (!server.authorization_endpoint) throw new UpstreamError('invalid_response', 'The identity provider is misconfigured.', 'no authorization_endpoint in discovery');
      const url = new URL(server.authorization_endpoint);
      url.searchParams.set('client_id', config.clientId);
      url.searchParams.set('redirect_uri', redirectUri);
      url.searchParams.set('response_type', 'code');
      url.searchParams.set('scope', config.scopes.join(' '));
      url.searchParams.set('state', state);
      url.searchParams.set('nonce', flow.nonce ?? '');
      url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(flow.codeVerifier));
      url.searchParams.set('code_challenge_method', 'S256');
      return url;
    },

    async finish(callbackUrl, state, flow, redirectUri): Promise<UpstreamSignIn> {
      const cached = await discover();
      const { server } = cached;
      let params: URLSearchParams;
      try {
        params = oauth.validateAuthResponse(server, client, callbackUrl, state);
      } catch (error) {
        if (error instanceof oauth.AuthorizationResponseError) throw authorizationResponseError(error.error, issuer.host);
        throw new UpstreamError('invalid_response', 'The identity provider sent an invalid response.', describe(error));
      }
      const tokenResponse = await invalidOnFailure('token request', () =>
        oauth.authorizationCodeGrantRequest(server, client, clientAuth, params, redirectUri, flow.codeVerifier, http),
      );
      const tokens = await invalidOnFailure('token', () =>
        oauth.processAuthorizationCodeResponse(server, client, tokenResponse, { expectedNonce: flow.nonce, requireIdToken: true }),
      );
      // Claims (iss, aud, exp, iat, nonce, azp) were checked above; the signature is checked here too,
      // because over a plain-http loopback issuer TLS does not vouch for the token's origin.
      await invalidOnFailure('id_token signature', () => verifySignature(cached, tokenResponse));
      const claims = oauth.getValidatedIdTokenClaims(tokens);
      if (!claims) throw new UpstreamError('invalid_response', 'The identity provider sent no ID token.');

      let profile: Record<string, unknown> = claims;
      if (typeof claims.email !== 'string' && server.userinfo_endpoint) {
        // Some providers (Okta, Auth0 with defaults) put email only in userinfo.
        profile = await invalidOnFailure('userinfo', async () =>
          oauth.processUserInfoResponse(server, client, claims.sub, await oauth.userInfoRequest(server, client, tokens.access_token, http)),
        );
      }
      return {
        upstream,
        subject: claims.sub,
        email: typeof profile.email === 'string' ? profile.email.toLowerCase() : undefined,
        // A provider that does not say the email is verified is not trusted to have verified it.
        emailVerified: profile.email_verified === true || profile.email_verified === 'true',
        name: typeof profile.name === 'string' ? profile.name : undefined,
        claims: { ...claims, ...profile },
        tokens: tokensFrom(tokens),
      };
    },

    async refresh(previous) {
      const { server } = await discover();
      const response = await invalidOnFailure('refresh request', () => oauth.refreshTokenGrantRequest(server, client, clientAuth, previous.refreshToken, http));
      let tokens: oauth.TokenEndpointResponse;
      try {
        // An ID token in a refresh response is checked too (OIDC Core §12.2); none is required.
        tokens = await oauth.processRefreshTokenResponse(server, client, response);
      } catch (error) {
        // RFC 6749 §5.2: the refresh token is invalid, expired, revoked or was issued to another client.
        if (error instanceof oauth.ResponseBodyError && error.error === 'invalid_grant') {
          throw new UpstreamError('invalid_grant', 'The identity provider no longer accepts this sign-in.', 'refresh: invalid_grant');
        }
        return invalidOnFailure('refresh', () => Promise.reject(error));
      }
      return tokensFrom(tokens, previous);
    },

    scopes: config.scopes,

    async userinfoEndpoint() {
      return (await discover()).server.userinfo_endpoint;
    },
  };
}

/**
 * The upstream's tokens from a token response (RFC 6749 §5.1), what it leaves out taken from the
 * `previous` ones: a refresh response without `refresh_token` keeps the old one usable (§6), one
 * without `scope` granted what was granted before.
 */
function tokensFrom(response: oauth.TokenEndpointResponse, previous?: UpstreamTokens): UpstreamTokens {
  return {
    accessToken: response.access_token,
    refreshToken: response.refresh_token ?? previous?.refreshToken,
    expiresAt: typeof response.expires_in === 'number' ? Date.now() + response.expires_in * 1000 : undefined,
    scopes: typeof response.scope === 'string' ? response.scope.split(' ').filter(Boolean) : previous?.scopes,
  };
}

/**
 * An error the IdP sent back to /callback (RFC 6749 §4.1.2.1): the user refusing is `access_denied`;
 * the IdP down or failing (`temporarily_unavailable`, `server_error`, its stand-in for a 500) is an
 * outage the user may retry; anything else (`invalid_scope`, `unauthorized_client`, …) is a
 * configuration the user cannot fix.
 */
function authorizationResponseError(code: string, idpHost: string): UpstreamError {
  const detail = `upstream error=${code.slice(0, 100)}`;
  if (code === 'access_denied') return new UpstreamError('access_denied', 'Sign-in was cancelled or refused by the identity provider.', detail);
  if (code === 'temporarily_unavailable' || code === 'server_error') {
    return new UpstreamError('upstream_unavailable', `The identity provider at ${idpHost} could not sign you in right now.`, detail);
  }
  return new UpstreamError('upstream_error', 'The identity provider refused the sign-in request.', detail);
}

/** oauth4webapi found no key in the key set for the JWS header (no matching `kid`, `alg` or `kty`). */
function isNoApplicableKey(error: unknown): boolean {
  if (!(error instanceof oauth.OperationProcessingError) || error.code !== oauth.KEY_SELECTION) return false;
  const candidates: unknown = typeof error.cause === 'object' && error.cause !== null ? Reflect.get(error.cause, 'candidates') : undefined;
  return Array.isArray(candidates) && candidates.length === 0;
}

function keyIdOf(error: unknown): string | undefined {
  const cause: unknown = error instanceof Error ? error.cause : undefined;
  const header: unknown = typeof cause === 'object' && cause !== null ? Reflect.get(cause, 'header') : undefined;
  const kid: unknown = typeof header === 'object' && header !== null ? Reflect.get(header, 'kid') : undefined;
  return typeof kid === 'string' ? kid.slice(0, 100) : undefined;
}

/**
 * A step that failed after the IdP answered (./http.ts has already turned no answer, a network
 * failure and 5xx into `upstream_unavailable`, passed on as is): an OAuth error the IdP sent is
 * `upstream_error`; anything that makes no sense (HTML, broken JSON, failed checks) `invalid_response`.
 */
async function invalidOnFailure<T>(step: string, run: () => Promise<T>, message = 'The identity provider sent an invalid response.'): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof UpstreamError) throw error;
    if (error instanceof oauth.ResponseBodyError) {
      throw new UpstreamError('upstream_error', 'The identity provider refused the sign-in. Please start again.', `${step}: ${error.error}`);
    }
    // oauth4webapi's messages name the failed check and never include token values.
    throw new UpstreamError('invalid_response', message, `${step}: ${describe(error)}`);
  }
}
