/**
 * GitHub sign-in. GitHub is OAuth 2.0, not OpenID Connect: no discovery and no ID token, so the
 * identity comes from its REST API with the access token, which is then dropped.
 *
 * @see https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps
 */
import * as oauth from 'oauth4webapi';
import { isLoopbackHost, type GithubUpstreamConfig } from '../config';
import { UpstreamError, type UpstreamAdapter, type UpstreamFlow, type UpstreamIdentity } from './types';

const GITHUB_API_VERSION = '2022-11-28';

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

interface GithubOrg {
  login: string;
}

export function createGithubAdapter(config: GithubUpstreamConfig, options: { needOrgs: boolean }, fetchImpl: typeof fetch = fetch): UpstreamAdapter {
  const server: oauth.AuthorizationServer = {
    issuer: config.webUrl,
    authorization_endpoint: `${config.webUrl}/login/oauth/authorize`,
    token_endpoint: `${config.webUrl}/login/oauth/access_token`,
  };
  const client: oauth.Client = { client_id: config.clientId };
  const web = new URL(config.webUrl);
  const http = {
    [oauth.customFetch]: fetchImpl,
    [oauth.allowInsecureRequests]: web.protocol === 'http:' && isLoopbackHost(web.hostname),
  };
  // read:org only when an organisation allowlist needs it: ask for no more than policy uses.
  const scopes = ['read:user', 'user:email', ...(options.needOrgs ? ['read:org'] : [])];

  async function api<T>(path: string, token: string): Promise<T> {
    let response: Response;
    try {
      response = await fetchImpl(`${config.apiUrl}${path}`, {
        headers: {
          Authorization: `Bearer ${token}`,
          Accept: 'application/vnd.github+json',
          'X-GitHub-Api-Version': GITHUB_API_VERSION,
          'User-Agent': 'mcp-workers-oauth',
        },
      });
    } catch (error) {
      throw new UpstreamError('upstream_unavailable', 'GitHub could not be reached. Try again shortly.', `GET ${path}: ${String(error)}`);
    }
    if (!response.ok) throw new UpstreamError('upstream_error', 'GitHub refused to share your profile. Please start again.', `GET ${path}: HTTP ${response.status}`);
    return (await response.json()) as T;
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

    async finish(callbackUrl, state, flow, redirectUri): Promise<UpstreamIdentity> {
      let params: URLSearchParams;
      try {
        params = oauth.validateAuthResponse(server, client, callbackUrl, state);
      } catch (error) {
        if (error instanceof oauth.AuthorizationResponseError) {
          throw new UpstreamError('access_denied', 'Sign-in was cancelled or refused on GitHub.', `upstream error=${error.error}`);
        }
        throw new UpstreamError('invalid_response', 'GitHub sent an invalid response.', String(error));
      }
      let accessToken: string;
      try {
        const response = await oauth.authorizationCodeGrantRequest(server, client, oauth.ClientSecretPost(config.clientSecret), params, redirectUri, flow.codeVerifier, {
          ...http,
          headers: { Accept: 'application/json' },
        });
        // GitHub reports token errors with HTTP 200 and an `error` member, which the generic parser
        // would only see as a missing access_token; read it first for a precise log line.
        const body: unknown = await response.clone().json().catch(() => undefined);
        if (typeof body === 'object' && body !== null && 'error' in body) {
          throw new UpstreamError('upstream_error', 'GitHub refused the sign-in. Please start again.', `token: ${String(body.error)}`);
        }
        accessToken = (await oauth.processAuthorizationCodeResponse(server, client, response)).access_token;
      } catch (error) {
        if (error instanceof UpstreamError) throw error;
        throw new UpstreamError('upstream_unavailable', 'GitHub could not complete the sign-in. Try again shortly.', `token: ${String(error)}`);
      }
      const user = await api<GithubUser>('/user', accessToken);
      const emails = await api<GithubEmail[]>('/user/emails', accessToken);
      const primary = emails.find((email) => email.primary && email.verified) ?? emails.find((email) => email.verified);
      const orgs = options.needOrgs ? (await api<GithubOrg[]>('/user/orgs?per_page=100', accessToken)).map((org) => org.login.toLowerCase()) : undefined;
      return {
        upstream: 'github',
        subject: String(user.id),
        login: user.login,
        name: user.name ?? undefined,
        email: (primary?.email ?? user.email ?? undefined)?.toLowerCase(),
        emailVerified: primary !== undefined,
        orgs,
      };
    },
  };
}
