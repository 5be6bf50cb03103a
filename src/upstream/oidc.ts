/**
 * Any OpenID Connect provider (Google, Auth0, Okta, Keycloak, Stytch, WorkOS, the local dev IdP) by
 * configuration alone: discovery, PKCE S256, state, nonce, and a fully verified ID token, all through
 * oauth4webapi.
 */
import * as oauth from 'oauth4webapi';
import { httpsOrLoopbackProblem, isLoopbackHost, type OidcUpstreamConfig } from '../config';
import { UPSTREAM_TIMEOUT_MS, UpstreamError, type UpstreamAdapter, type UpstreamFlow, type UpstreamIdentity } from './types';

/** Discovery documents change rarely; an hour bounds how long a key or endpoint rotation goes unseen. */
const DISCOVERY_CACHE_MS = 60 * 60 * 1000;

interface CachedDiscovery {
  server: oauth.AuthorizationServer;
  fetchedAt: number;
  jwks: oauth.JWKSCacheInput;
}

const discoveryCache = new Map<string, CachedDiscovery>();

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

export function createOidcAdapter(config: OidcUpstreamConfig, fetchImpl: typeof fetch = fetch): UpstreamAdapter {
  const issuer = new URL(config.issuer);
  const client: oauth.Client = { client_id: config.clientId };
  const clientAuth = oauth.ClientSecretBasic(config.clientSecret);
  const http = {
    [oauth.customFetch]: fetchImpl,
    // Plain http only for an issuer on this machine (the dev IdP); config.ts refuses any other http issuer,
    // and discover() any endpoint that is neither https nor loopback.
    [oauth.allowInsecureRequests]: issuer.protocol === 'http:' && isLoopbackHost(issuer.hostname),
    // A fresh deadline for each request (discovery, token, keys, userinfo).
    signal: () => AbortSignal.timeout(UPSTREAM_TIMEOUT_MS),
  };
  const upstream = `oidc:${issuer.host}`;

  async function discover(): Promise<CachedDiscovery> {
    const cached = discoveryCache.get(config.issuer);
    if (cached && Date.now() - cached.fetchedAt < DISCOVERY_CACHE_MS) return cached;
    const server = await unavailableOnFailure('discovery', async () =>
      oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...http, algorithm: 'oidc' })),
    );
    // Checked before the document is cached or used: nothing is fetched from, or redirected to, a refused URL.
    const problems = discoveredEndpointProblems(server);
    if (problems.length > 0) throw new UpstreamError('invalid_response', 'The identity provider is misconfigured.', `discovery: ${problems.join('; ')}`);
    const fresh = { server, fetchedAt: Date.now(), jwks: {} };
    discoveryCache.set(config.issuer, fresh);
    return fresh;
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

    async finish(callbackUrl, state, flow, redirectUri): Promise<UpstreamIdentity> {
      const cached = await discover();
      const { server } = cached;
      let params: URLSearchParams;
      try {
        params = oauth.validateAuthResponse(server, client, callbackUrl, state);
      } catch (error) {
        if (error instanceof oauth.AuthorizationResponseError) {
          throw new UpstreamError('access_denied', 'Sign-in was cancelled or refused by the identity provider.', `upstream error=${error.error}`);
        }
        throw new UpstreamError('invalid_response', 'The identity provider sent an invalid response.', describe(error));
      }
      const tokenResponse = await unavailableOnFailure('token request', () =>
        oauth.authorizationCodeGrantRequest(server, client, clientAuth, params, redirectUri, flow.codeVerifier, http),
      );
      const tokens = await invalidOnFailure('token', () =>
        oauth.processAuthorizationCodeResponse(server, client, tokenResponse, { expectedNonce: flow.nonce, requireIdToken: true }),
      );
      // Claims (iss, aud, exp, iat, nonce, azp) were checked above; the signature is checked here too,
      // because over a plain-http loopback issuer TLS does not vouch for the token's origin.
      await invalidOnFailure('id_token signature', () =>
        oauth.validateApplicationLevelSignature(server, tokenResponse, { ...http, [oauth.jwksCache]: cached.jwks }),
      );
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
      };
    },
  };
}

async function unavailableOnFailure<T>(step: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw new UpstreamError('upstream_unavailable', 'The identity provider could not be reached. Try again shortly.', `${step}: ${describe(error)}`);
  }
}

async function invalidOnFailure<T>(step: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof UpstreamError) throw error;
    if (error instanceof oauth.ResponseBodyError) {
      throw new UpstreamError('upstream_error', 'The identity provider refused the sign-in. Please start again.', `${step}: ${error.error}`);
    }
    throw new UpstreamError('invalid_response', 'The identity provider sent an invalid response.', `${step}: ${describe(error)}`);
  }
}

/** Error text for logs. oauth4webapi's messages name the failed check and never include token values. */
function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
