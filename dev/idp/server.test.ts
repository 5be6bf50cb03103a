// Drives the dev IdP the way a browser plus the Worker would: authorization request,
// login form, redirect back with a code, then the token exchange via oauth4webapi.
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startDevIdp, type DevIdp } from './server.js';

const REDIRECT_URI = 'http://localhost:9/callback';
const insecure = { [oauth.allowInsecureRequests]: true };

/** Just enough of a browser cookie store for one login; paths and domains are ignored. */
class CookieJar {
  readonly #cookies = new Map<string, string>();

  store(response: Response): void {
    for (const header of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = header.split(';');
      const separator = pair.indexOf('=');
      const name = pair.slice(0, separator).trim();
      const value = pair.slice(separator + 1).trim();
      const expired = attributes.some((attribute) => {
        const [key = '', attributeValue = ''] = attribute.trim().split('=');
        if (key.toLowerCase() === 'max-age') return Number(attributeValue) <= 0;
        if (key.toLowerCase() === 'expires') return Date.parse(attributeValue) <= Date.now();
        return false;
      });
      if (expired || value === '') this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  header(): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

type Visit = { readonly kind: 'page'; readonly url: URL; readonly response: Response } | { readonly kind: 'callback'; readonly url: URL };

/** Requests `url` and follows redirects, stopping at a page or at the client's redirect URI (never fetched). */
async function visit(jar: CookieJar, url: URL, init: { method?: string; body?: URLSearchParams } = {}): Promise<Visit> {
  let current = url;
  let request = init;
  for (let hop = 0; hop < 10; hop += 1) {
    const response = await fetch(current, {
      ...request,
      redirect: 'manual',
      headers: { cookie: jar.header(), accept: 'text/html' },
    });
    jar.store(response);
    const location = response.headers.get('location');
    if (response.status < 300 || response.status >= 400 || location === null) {
      return { kind: 'page', url: current, response };
    }
    await response.body?.cancel();
    current = new URL(location, current);
    if (current.href.startsWith(`${REDIRECT_URI}?`)) return { kind: 'callback', url: current };
    request = {}; // 302/303 turn into a plain GET
  }
  throw new Error(`too many redirects, last at ${current.href}`);
}

function expectPage(result: Visit): { url: URL; response: Response } {
  if (result.kind !== 'page') throw new Error(`expected a page, got a redirect to ${result.url.href}`);
  return result;
}

function expectCallback(result: Visit): URL {
  if (result.kind !== 'callback') throw new Error(`expected the callback, got HTTP ${result.response.status} at ${result.url.href}`);
  return result.url;
}

describe('dev IdP', () => {
  let idp: DevIdp;
  let as: oauth.AuthorizationServer;
  let client: oauth.Client;
  let clientAuth: oauth.ClientAuth;

  beforeAll(async () => {
    idp = await startDevIdp({ port: 0, redirectUris: [REDIRECT_URI] });
    const issuer = new URL(idp.issuer);
    as = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure }),
    );
    client = { client_id: idp.clientId };
    clientAuth = oauth.ClientSecretBasic(idp.clientSecret);
  });

  afterAll(async () => {
    await idp?.close();
  });

  /** Starts an authorization request in a fresh "browser" and lands on the login form. */
  async function openLoginForm() {
    const jar = new CookieJar();
    const codeVerifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const nonce = oauth.generateRandomNonce();
    const authorizationUrl = new URL(as.authorization_endpoint ?? '');
    authorizationUrl.search = new URLSearchParams({
      client_id: client.client_id,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      scope: 'openid email profile',
      code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    }).toString();

    const form = expectPage(await visit(jar, authorizationUrl));
    return { jar, codeVerifier, state, nonce, formUrl: form.url, formResponse: form.response };
  }

  async function submitCredentials(jar: CookieJar, formUrl: URL, login: string, password: string): Promise<Visit> {
    return visit(jar, new URL(`${formUrl.pathname}/login`, formUrl), {
      method: 'POST',
      body: new URLSearchParams({ login, password }),
    });
  }

  /** Full sign-in; resolves with the callback parameters and what the token exchange needs. */
  async function signIn(login: string, password: string) {
    const { jar, formUrl, codeVerifier, state, nonce } = await openLoginForm();
    const callbackUrl = expectCallback(await submitCredentials(jar, formUrl, login, password));
    const params = oauth.validateAuthResponse(as, client, callbackUrl, state);
    return { params, codeVerifier, nonce };
  }

  function exchangeCode(params: URLSearchParams, codeVerifier: string): Promise<Response> {
    return oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, REDIRECT_URI, codeVerifier, insecure);
  }

  it('publishes discovery metadata for the issuer', () => {
    expect(as.issuer).toBe(idp.issuer);
    expect(idp.issuer).toMatch(/^http:\/\/localhost:\d+$/);
    expect(as.code_challenge_methods_supported).toContain('S256');
    expect(as.scopes_supported).toEqual(expect.arrayContaining(['openid', 'email', 'profile']));
    expect(as.token_endpoint_auth_methods_supported).toContain('client_secret_basic');
  });

  it('shows its own login form', async () => {
    const { formUrl, formResponse } = await openLoginForm();
    expect(formUrl.pathname).toMatch(/^\/interaction\/[\w-]+$/);
    expect(formResponse.status).toBe(200);
    const html = await formResponse.text();
    expect(html).toContain('<title>Dev IdP — sign in</title>');
    expect(html).toContain(`action="${formUrl.pathname}/login"`);
    expect(html).toMatch(/<input id="login" name="login" autocomplete="username"/);
    expect(html).toMatch(/<input id="password" name="password" type="password"/);
    expect(html).toContain('<button type="submit" id="sign-in">Sign in</button>');
    expect(html).toContain('Dev accounts: alice / alice, bob / bob');
  });

  it('rejects a wrong password with 401 and the form again', async () => {
    const { jar, formUrl } = await openLoginForm();
    const { response } = expectPage(await submitCredentials(jar, formUrl, 'alice', 'wrong'));
    expect(response.status).toBe(401);
    const html = await response.text();
    expect(html).toContain('Invalid login or password.');
    expect(html).toContain('id="password"');
    expect(html).toContain('value="alice"');
  });

  it('signs alice in and issues an ID token with her profile claims', async () => {
    const { params, codeVerifier, nonce } = await signIn('alice', 'alice');
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, await exchangeCode(params, codeVerifier), {
      expectedNonce: nonce,
      requireIdToken: true,
    });

    expect(oauth.getValidatedIdTokenClaims(tokens)).toMatchObject({
      iss: idp.issuer,
      aud: idp.clientId,
      sub: 'alice',
      email: 'alice@example.com',
      email_verified: true,
      name: 'Alice Example',
    });

    const userinfo = await oauth.processUserInfoResponse(
      as,
      client,
      'alice',
      await oauth.userInfoRequest(as, client, tokens.access_token, insecure),
    );
    expect(userinfo).toMatchObject({ sub: 'alice', email: 'alice@example.com', name: 'Alice Example' });

    expect(tokens.refresh_token).toEqual(expect.any(String));
    const refreshed = await oauth.processRefreshTokenResponse(
      as,
      client,
      await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token ?? '', insecure),
    );
    expect(refreshed.access_token).toEqual(expect.any(String));
  });

  it('signs bob in as bob', async () => {
    const { params, codeVerifier, nonce } = await signIn('bob', 'bob');
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, await exchangeCode(params, codeVerifier), {
      expectedNonce: nonce,
      requireIdToken: true,
    });
    expect(oauth.getValidatedIdTokenClaims(tokens)).toMatchObject({
      sub: 'bob',
      email: 'bob@example.com',
      name: 'Bob Example',
    });
  });

  it('rejects a replayed authorization code and revokes what it issued', async () => {
    const { params, codeVerifier, nonce } = await signIn('alice', 'alice');
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, await exchangeCode(params, codeVerifier), {
      expectedNonce: nonce,
      requireIdToken: true,
    });

    await expect(
      oauth.processAuthorizationCodeResponse(as, client, await exchangeCode(params, codeVerifier), {
        expectedNonce: nonce,
        requireIdToken: true,
      }),
    ).rejects.toMatchObject({ error: 'invalid_grant' });

    const userinfo = await oauth.userInfoRequest(as, client, tokens.access_token, insecure);
    expect(userinfo.status).toBe(401);
  });
});
