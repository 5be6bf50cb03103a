/**
 * GitHub sign-in. GitHub is OAuth 2.0, not OpenID Connect: no discovery and no ID token, so the
 * identity comes from its REST API with the access token, which is then dropped.
 *
 * @see https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps
 * @see https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api
 */
import * as oauth from 'oauth4webapi';
import { scopePolicyNamesGithubOrgs } from '../auth/scope-policy';
import { isLoopbackHost, type Config, type GithubUpstreamConfig } from '../config';
import { describe, upstreamFetch } from './http';
import { UPSTREAM_TIMEOUT_MS, UpstreamError, type UpstreamTokens, type UpstreamAdapter, type UpstreamFlow, type UpstreamSignIn, type UpstreamOptions } from './types';

const GITHUB_API_VERSION = '2022-11-28';

/** GitHub's largest page ("Using pagination in the REST API": `per_page` is at most 100). */
const ORGS_PER_PAGE = 100;

/**
 * At most this many pages of `/user/orgs` per sign-in: 1,000 organisations. Each page is a request the
 * user waits for in the browser, no plausible account belongs to more, and the bound stops an API
 * that keeps answering `rel="next"`. A longer list is cut short and logged; since sign-in and scope
 * policy rules only ever admit, a cut list can withhold access but never grant it.
 */
const MAX_ORG_PAGES = 10;

interface GithubUser {
  id: number;
  login: string;
  name: string | null;
  email: string | null;
}

interface GithubEmail {
  email: string;
  primary: boolean;
  verified: boolean;
}

/**
 * Whether sign-in must ask for `read:org` and fetch the user's organisations: when the sign-in
 * allowlist (`ALLOWED_GITHUB_ORGS`), the admin console's (`ADMIN_GITHUB_ORGS`) or a `github-org:` rule
 * of `SCOPE_POLICY` names one. Otherwise neither is done: ask for no more than policy uses.
 */
export function needsGithubOrgs(config: Pick<Config, 'signInPolicy' | 'scopePolicy' | 'adminPolicy'>): boolean {
  return config.signInPolicy.githubOrgs.length > 0 || config.adminPolicy.githubOrgs.length > 0 || scopePolicyNamesGithubOrgs(config.scopePolicy);
}

/**
 * The `rel="next"` target of a `Link` header (RFC 8288), as GitHub sends it for a page that has a
 * next one: `<https://api.github.com/user/orgs?per_page=100&page=2>; rel="next", <…>; rel="last"`.
 */
export function nextPageLink(header: string | null): string | undefined {
  if (!header) return undefined;
  for (const [, target, params = ''] of header.matchAll(/<([^>]*)>((?:\s*;\s*[^;,]*)*)/g)) {
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,"]+))/i.exec(params);
    if ((rel?.[1] ?? rel?.[2] ?? '').toLowerCase().split(/\s+/).includes('next')) return target;
  }
  return undefined;
}

export function createGithubAdapter(config: GithubUpstreamConfig, options: { needOrgs: boolean } & UpstreamOptions, fetchImpl: typeof fetch = fetch): UpstreamAdapter {
  const server: oauth.AuthorizationServer = {
    issuer: config.webUrl,
    authorization_endpoint: `${config.webUrl}/login/oauth/authorize`,
    token_endpoint: `${config.webUrl}/login/oauth/access_token`,
  };
  const client: oauth.Client = { client_id: config.clientId };
  const web = new URL(config.webUrl);
  // A deadline on each request (token, every API call) and its body; outages told apart from garbage (./http.ts).
  const githubFetch = upstreamFetch(fetchImpl, { timeoutMs: options.timeoutMs ?? UPSTREAM_TIMEOUT_MS, idp: 'GitHub' });
  const http = {
    [oauth.customFetch]: githubFetch,
    [oauth.allowInsecureRequests]: web.protocol === 'http:' && isLoopbackHost(web.hostname),
  };
  // read:org only when an organisation allowlist or a github-org: scope rule needs it (needsGithubOrgs);
  // GITHUB_SCOPES for the tools that act as the user.
  const scopes = [...new Set(['read:user', 'user:email', ...(options.needOrgs ? ['read:org'] : []), ...config.extraScopes])];
  const apiBase = new URL(`${config.apiUrl}/`);

  /**
   * One API request: its answer when 2xx, as JSON; an {@link UpstreamError} otherwise (no answer in
   * time, unreachable or 5xx: `upstream_unavailable`, from ./http.ts). `path` is for logs.
   */
  async function get(url: URL, token: string): Promise<{ body: unknown; response: Response }> {
    const path = `${url.pathname}${url.search}`;
    const response = await githubFetch(url.href, {
      headers: {
        Authorization: `Bearer ${token}`,
        Accept: 'application/vnd.github+json',
        'X-GitHub-Api-Version': GITHUB_API_VERSION,
        'User-Agent': 'mcp-workers-oauth',
      },
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw new UpstreamError('upstream_error', 'GitHub refused to share your profile. Please start again.', `GET ${path}: HTTP ${response.status}`);
    }
    let body: unknown;
    try {
      // Already read in full by githubFetch: parsing cannot time out.
      body = await response.json();
    } catch {
      throw new UpstreamError('invalid_response', 'GitHub sent an invalid response.', `GET ${path}: not JSON`);
    }
    return { body, response };
  }

  async function api<T>(path: string, token: string): Promise<T> {
    return (await get(new URL(path.slice(1), apiBase), token)).body as T;
  }

  /**
   * Every organisation of the user, lowercase: `/user/orgs` page by page, following GitHub's
   * `Link: rel="next"`, up to {@link MAX_ORG_PAGES}. A next link must stay under the API base URL,
   * since the user's token goes with it.
   */
  async function organisations(token: string): Promise<string[]> {
    const orgs: string[] = [];
    let url: URL | undefined = new URL(`user/orgs?per_page=${ORGS_PER_PAGE}`, apiBase);
    for (let page = 1; url && page <= MAX_ORG_PAGES; page++) {
      const { body, response }: { body: unknown; response: Response } = await get(url, token);
      if (!Array.isArray(body)) throw new UpstreamError('invalid_response', 'GitHub sent an invalid response.', 'GET /user/orgs: not a list');
      for (const org of body) {
        const login: unknown = typeof org === 'object' && org !== null ? Reflect.get(org, 'login') : undefined;
        if (typeof login === 'string') orgs.push(login.toLowerCase());
      }
      const next = nextPageLink(response.headers.get('link'));
      url = next === undefined ? undefined : new URL(next, url);
      if (url && (url.origin !== apiBase.origin || !url.pathname.startsWith(apiBase.pathname))) {
        throw new UpstreamError('invalid_response', 'GitHub sent an invalid response.', `GET /user/orgs: rel="next" points outside ${config.apiUrl}`);
      }
    }
    if (url) console.warn(JSON.stringify({ event: 'github_orgs_truncated', pages: MAX_ORG_PAGES, orgs: orgs.length }));
    return orgs;
  }

  return {
    async prepare(): Promise<UpstreamFlow> {
      return { codeVerifier: oauth.generateRandomCodeVerifier() };
    },

    async authorizationUrl(flow, state, redirectUri) {
      const url = new URL(server.authorization_endpoint as string);
      url.searchParams.set('client_id', config.clientId);
      url.searchParams.set('redirect_uri', redirectUri);
      url.searchParams.set('scope', scopes.join(' '));
      url.searchParams.set('state', state);
      url.searchParams.set('allow_signup', 'false');
      url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(flow.codeVerifier));
      url.searchParams.set('code_challenge_method', 'S256');
      return url;
    },

    async finish(callbackUrl, state, flow, redirectUri): Promise<UpstreamSignIn> {
      let params: URLSearchParams;
      try {
        params = oauth.validateAuthResponse(server, client, callbackUrl, state);
      } catch (error) {
        if (error instanceof oauth.AuthorizationResponseError) throw authorizationResponseError(error.error);
        throw new UpstreamError('invalid_response', 'GitHub sent an invalid response.', describe(error));
      }
      const tokens = await tokenRequest('token', () =>
        oauth.authorizationCodeGrantRequest(server, client, oauth.ClientSecretPost(config.clientSecret), params, redirectUri, flow.codeVerifier, {
          ...http,
          headers: { Accept: 'application/json' },
        }),
      );
      const accessToken = tokens.accessToken;
      const [user, emails, orgs] = await Promise.all([
        api<GithubUser>('/user', accessToken),
        api<GithubEmail[]>('/user/emails', accessToken),
        options.needOrgs ? organisations(accessToken) : undefined,
      ]);
      if (typeof user !== 'object' || user === null || typeof user.id !== 'number' || typeof user.login !== 'string' || !Array.isArray(emails)) {
        throw new UpstreamError('invalid_response', 'GitHub sent an invalid response.', 'GET /user, /user/emails: not the documented shape');
      }
      const primary = emails.find((email) => email.primary && email.verified) ?? emails.find((email) => email.verified);
      return {
        upstream: 'github',
        subject: String(user.id),
        login: user.login,
        name: user.name ?? undefined,
        email: (primary?.email ?? user.email ?? undefined)?.toLowerCase(),
        emailVerified: primary !== undefined,
        orgs,
        tokens,
      };
    },

    /**
     * GitHub App user tokens expire (8 hours) and come with a refresh token (6 months) that is
     * rotated on every use; OAuth app tokens never expire and have none ("Refreshing user access
     * tokens", docs.github.com). A dead refresh token is HTTP 200 with `error: bad_refresh_token`.
     */
    async refresh(previous) {
      return tokenRequest('refresh', () =>
        oauth.refreshTokenGrantRequest(server, client, oauth.ClientSecretPost(config.clientSecret), previous.refreshToken, { ...http, headers: { Accept: 'application/json' } }),
        previous,
      );
    },

    scopes,
  };

  /**
   * A request to GitHub's token endpoint, and its answer as tokens. GitHub reports token errors
   * with HTTP 200 and an `error` member, which the generic parser would only see as a missing
   * access_token; it is read first, for the right error and a precise log line.
   */
  async function tokenRequest(step: 'token' | 'refresh', send: () => Promise<Response>, previous?: UpstreamTokens): Promise<UpstreamTokens> {
    try {
      const response = await send();
      const body: unknown = await response.clone().json().catch(() => undefined);
      if (typeof body === 'object' && body !== null && 'error' in body) {
        const code = String(body.error).slice(0, 100);
        if (step === 'refresh' && (code === 'bad_refresh_token' || code === 'invalid_grant')) throw new UpstreamError('invalid_grant', 'GitHub no longer accepts this sign-in.', `refresh: ${code}`);
        throw new UpstreamError('upstream_error', 'GitHub refused the sign-in. Please start again.', `${step}: ${code}`);
      }
      const tokens = step === 'token' ? await oauth.processAuthorizationCodeResponse(server, client, response) : await oauth.processRefreshTokenResponse(server, client, response);
      return {
        accessToken: tokens.access_token,
        refreshToken: tokens.refresh_token ?? previous?.refreshToken,
        expiresAt: typeof tokens.expires_in === 'number' ? Date.now() + tokens.expires_in * 1000 : undefined,
        // GitHub lists the granted scopes comma-separated ("Authorizing OAuth apps").
        scopes: typeof tokens.scope === 'string' ? tokens.scope.split(/[\s,]+/).filter(Boolean) : previous?.scopes,
      };
    } catch (error) {
      if (error instanceof UpstreamError) throw error;
      if (error instanceof oauth.ResponseBodyError) throw new UpstreamError('upstream_error', 'GitHub refused the sign-in. Please start again.', `${step}: ${error.error}`);
      throw new UpstreamError('invalid_response', 'GitHub sent an invalid response.', `${step}: ${describe(error)}`);
    }
  }
}

/**
 * An error GitHub sent back to /callback: the user cancelling is `access_denied`; GitHub down
 * (`temporarily_unavailable`, `server_error`) an outage the user may retry; anything else
 * (`redirect_uri_mismatch`, `application_suspended`, …) a configuration the user cannot fix.
 */
function authorizationResponseError(code: string): UpstreamError {
  const detail = `upstream error=${code.slice(0, 100)}`;
  if (code === 'access_denied') return new UpstreamError('access_denied', 'Sign-in was cancelled or refused on GitHub.', detail);
  if (code === 'temporarily_unavailable' || code === 'server_error') return new UpstreamError('upstream_unavailable', 'GitHub could not sign you in right now.', detail);
  return new UpstreamError('upstream_error', 'GitHub refused the sign-in request.', detail);
}
