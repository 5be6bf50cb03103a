// Drives the dev IdP the way a browser plus the Worker would: authorization request,
// login form, redirect back with a code, then the token exchange via oauth4webapi.
import { createPublicKey, verify, type JsonWebKey as NodeJwk } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oauth from 'oauth4webapi';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { SIGNING_KEYS_FILE } from './keys.js';
import { DEFAULT_ACCESS_TOKEN_TTL_SECONDS, startDevIdp, type DevIdp, type DevIdpOptions, type DevIdpStats } from './server.js';

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
      groups: ['mcp-admins', 'staff'],
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

/** The token endpoint's answer, as far as these tests read it (RFC 6749 §5.1 names). */
interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in?: number;
  refresh_token?: string;
  scope?: string;
  id_token?: string;
}

/** A whole sign-in at `idp` as `login` (password = login), from discovery to the token response. */
async function tokensFrom(idp: DevIdp, { login = 'alice', scope = 'openid', beforeLogin }: { login?: string; scope?: string; beforeLogin?: () => void } = {}): Promise<TokenResponse> {
  const issuer = new URL(idp.issuer);
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure }));
  const client = { client_id: idp.clientId };
  const jar = new CookieJar();
  const codeVerifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const authorizationUrl = new URL(as.authorization_endpoint ?? '');
  authorizationUrl.search = new URLSearchParams({
    client_id: client.client_id,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope,
    code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
  }).toString();
  const form = expectPage(await visit(jar, authorizationUrl));
  beforeLogin?.();
  const callback = expectCallback(await visit(jar, new URL(`${form.url.pathname}/login`, form.url), { method: 'POST', body: new URLSearchParams({ login, password: login }) }));
  const params = oauth.validateAuthResponse(as, client, callback, state);
  const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.ClientSecretBasic(idp.clientSecret), params, REDIRECT_URI, codeVerifier, insecure);
  const body = (await response.json()) as TokenResponse;
  if (response.status !== 200 || typeof body.access_token !== 'string') throw new Error(`token request refused: HTTP ${response.status} ${JSON.stringify(body)}`);
  return body;
}

/** A whole sign-in at `idp` as alice, from discovery to the token response: the raw ID token. */
async function idTokenFrom(idp: DevIdp, beforeLogin?: () => void): Promise<string> {
  const { id_token: idToken } = await tokensFrom(idp, { beforeLogin });
  if (typeof idToken !== 'string') throw new Error('no id_token');
  return idToken;
}

/** The `kid` of a JWT, and whether its signature verifies with a key of `idp`'s published JWKS. */
async function checkAgainstJwks(idp: DevIdp, jwt: string): Promise<{ kid: string; verifies: boolean; published: string[] }> {
  const [header = '', payload = '', signature = ''] = jwt.split('.');
  const { kid } = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { kid: string };
  const { keys } = (await (await fetch(`${idp.issuer}/jwks`)).json()) as { keys: (NodeJwk & { kid: string })[] };
  const key = keys.find((candidate) => candidate.kid === kid);
  if (keys.some((candidate) => 'd' in candidate || 'p' in candidate)) throw new Error('the JWKS publishes a private key');
  const verifies = key !== undefined && verify('sha256', Buffer.from(`${header}.${payload}`), createPublicKey({ key, format: 'jwk' }), Buffer.from(signature, 'base64url'));
  return { kid, verifies, published: keys.map((candidate) => candidate.kid) };
}

function idle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 100));
}

describe('dev IdP signing keys', () => {
  let dir: string;
  const started: DevIdp[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'dev-idp-keys-'));
  });

  afterAll(async () => {
    // The folder goes even if an IdP fails to close.
    await Promise.allSettled(started.map((idp) => idp.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(options: Partial<DevIdpOptions> = {}): Promise<DevIdp> {
    const idp = await startDevIdp({ port: 0, redirectUris: [REDIRECT_URI], ...options });
    started.push(idp);
    return idp;
  }

  it('without a state directory, starts with a new key every time', async () => {
    const [a, b] = await Promise.all([start(), start()]);
    expect(a.keyIds()).toHaveLength(1);
    expect(a.keyIds()).not.toEqual(b.keyIds());
  });

  it('keeps its key in the state directory (this user only): an ID token from before a restart verifies after it', async () => {
    const stateDir = join(dir, 'restart');
    const first = await start({ stateDir });
    const kids = first.keyIds();
    const idToken = await idTokenFrom(first);
    const port = Number(new URL(first.issuer).port);
    await first.close();
    await idle(); // let this process's HTTP client see the old server's connections close
    expect(statSync(join(stateDir, SIGNING_KEYS_FILE)).mode & 0o777).toBe(0o600);

    const second = await start({ stateDir, port });
    expect(second.issuer).toBe(first.issuer);
    expect(second.keyIds()).toEqual(kids);
    expect(await checkAgainstJwks(second, idToken)).toMatchObject({ kid: kids[0], verifies: true });
  });

  it('rotates on demand: the new key signs, the old one stays published, a sign-in under way finishes, and the rotation is kept', async () => {
    const stateDir = join(dir, 'rotate');
    const idp = await start({ stateDir });
    const [old = ''] = idp.keyIds();
    const before = await idTokenFrom(idp);

    // Rotated between the login form and the login: sessions and interactions outlive the rotation.
    let kid = '';
    const after = await idTokenFrom(idp, () => {
      kid = idp.rotateKeys();
    });
    expect(idp.keyIds()).toEqual([kid, old]);
    expect(await checkAgainstJwks(idp, after)).toEqual({ kid, verifies: true, published: [kid, old] });
    expect(await checkAgainstJwks(idp, before)).toMatchObject({ kid: old, verifies: true });

    // A second rotation drops the oldest key.
    const newest = idp.rotateKeys();
    expect(idp.keyIds()).toEqual([newest, kid]);
    expect(await checkAgainstJwks(idp, before)).toMatchObject({ verifies: false });

    const port = Number(new URL(idp.issuer).port);
    await idp.close();
    await idle();
    expect((await start({ stateDir, port })).keyIds()).toEqual([newest, kid]);
  });

  it('refuses to start from a key file it did not write, and says what to do', async () => {
    const stateDir = join(dir, 'corrupt');
    mkdirSync(stateDir);
    writeFileSync(join(stateDir, SIGNING_KEYS_FILE), '{"keys": [{"kty": "oct"}]}');
    await expect(start({ stateDir })).rejects.toThrow(/delete it to start with a new signing key/);
  });
});

describe('dev IdP faults and control endpoints', () => {
  let idp: DevIdp;
  let plain: DevIdp;

  beforeAll(async () => {
    [idp, plain] = await Promise.all([startDevIdp({ port: 0, redirectUris: [REDIRECT_URI], control: true }), startDevIdp({ port: 0, redirectUris: [REDIRECT_URI] })]);
  });

  afterAll(async () => {
    await Promise.all([idp?.close(), plain?.close()]);
  });

  const discovery = () => `${idp.issuer}/.well-known/openid-configuration`;

  it.each([
    ['html', 200, 'text/html'],
    ['http-500', 500, 'text/html'],
    ['oauth-500', 500, 'application/json'],
    ['invalid-json', 200, 'application/json'],
  ] as const)('answers %s on the faulted path only, as many times as asked', async (mode, status, type) => {
    idp.injectFault({ path: '/.well-known/openid-configuration', mode, times: 2 });
    for (let i = 0; i < 2; i++) {
      const response = await fetch(discovery());
      expect(response.status).toBe(status);
      expect(response.headers.get('content-type')).toContain(type);
      if (mode !== 'oauth-500') await expect(response.clone().json()).rejects.toThrow();
      await response.body?.cancel();
    }
    expect((await fetch(discovery())).status).toBe(200);
  });

  it('hangs: the connection is accepted and never answered, until the fault is cleared', async () => {
    idp.injectFault({ path: '/token', mode: 'hang' });
    const hanging = fetch(`${idp.issuer}/token`, { method: 'POST', body: 'grant_type=x' });
    const outcome = await Promise.race([hanging.then(() => 'answered'), new Promise((resolve) => setTimeout(() => resolve('still waiting'), 300))]);
    expect(outcome).toBe('still waiting');
    idp.clearFaults();
    expect((await hanging).status).toBe(503);
    expect((await fetch(`${idp.issuer}/token`, { method: 'POST' })).status).toBe(400);
  });

  it('takes faults and key rotations over HTTP from loopback, as JSON only, when started with control', async () => {
    const post = (target: DevIdp, path: string, body: unknown, type = 'application/json') =>
      fetch(`${target.issuer}/__dev-idp/${path}`, { method: 'POST', headers: { 'Content-Type': type }, body: JSON.stringify(body) });

    const rotated = await post(idp, 'rotate-keys', {});
    expect(rotated.status).toBe(200);
    const { kid } = (await rotated.json()) as { kid: string };
    expect(idp.keyIds()[0]).toBe(kid);

    expect((await post(idp, 'faults', { path: '/jwks', mode: 'http-500', times: 1 })).status).toBe(204);
    expect((await fetch(`${idp.issuer}/jwks`)).status).toBe(500);
    expect((await fetch(`${idp.issuer}/jwks`)).status).toBe(200);
    expect((await post(idp, 'faults', { path: '/jwks', mode: 'explode' })).status).toBe(400);
    // A web page can post a form or text to localhost without asking; this endpoint takes neither.
    expect((await post(idp, 'faults', { path: '/jwks', mode: 'hang' }, 'text/plain')).status).toBe(415);
    expect((await fetch(`${idp.issuer}/jwks`)).status).toBe(200);
    expect((await fetch(`${idp.issuer}/__dev-idp/faults`, { method: 'DELETE' })).status).toBe(204);

    // Without control, the path is oidc-provider's, which has no such route.
    const keys = plain.keyIds();
    expect((await post(plain, 'rotate-keys', {})).status).toBe(404);
    expect(plain.keyIds()).toEqual(keys);
  });
});

/** A refresh_token grant at `idp` with its client's credentials (HTTP Basic, RFC 6749 §2.3.1): the raw response. */
function refresh(idp: DevIdp, refreshToken: string): Promise<Response> {
  const basic = Buffer.from(`${encodeURIComponent(idp.clientId)}:${encodeURIComponent(idp.clientSecret)}`).toString('base64');
  return fetch(`${idp.issuer}/token`, {
    method: 'POST',
    headers: { Authorization: `Basic ${basic}`, 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
  });
}

/** The refreshed token response; fails the test when the refresh is refused. */
async function refreshed(idp: DevIdp, refreshToken: string): Promise<TokenResponse> {
  const response = await refresh(idp, refreshToken);
  const body = (await response.json()) as TokenResponse;
  expect(response.status, JSON.stringify(body)).toBe(200);
  return body;
}

/** GET on the IdP's protected API (`/api/…`) or userinfo (`/me`), with `token` as a bearer token if given. */
function callApi(idp: DevIdp, path: string, token?: string): Promise<Response> {
  return fetch(`${idp.issuer}${path}`, { headers: token === undefined ? {} : { Authorization: `Bearer ${token}` } });
}

const DEFAULT_SCOPES = 'openid email profile'; // the Worker's OIDC_SCOPES default (src/config.ts)

describe('dev IdP tokens, as an upstream whose tokens the Worker keeps', () => {
  let idp: DevIdp;
  let shortLived: DevIdp;

  beforeAll(async () => {
    [idp, shortLived] = await Promise.all([
      startDevIdp({ port: 0, redirectUris: [REDIRECT_URI], control: true }),
      startDevIdp({ port: 0, redirectUris: [REDIRECT_URI], accessTokenTtlSeconds: 120 }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([idp?.close(), shortLived?.close()]);
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('rotates the refresh token at every use; the used one is refused with invalid_grant, and that reuse revokes the grant', async () => {
    const first = await tokensFrom(idp, { scope: DEFAULT_SCOPES });
    const rt1 = first.refresh_token ?? '';
    expect(rt1).not.toBe('');

    const second = await refreshed(idp, rt1);
    expect(second.refresh_token).toEqual(expect.any(String));
    expect(second.refresh_token).not.toBe(rt1);
    expect(second.access_token).not.toBe(first.access_token);
    expect((await callApi(idp, '/api/me', second.access_token)).status).toBe(200);

    const reused = await refresh(idp, rt1);
    expect(reused.status).toBe(400);
    expect(await reused.json()).toMatchObject({ error: 'invalid_grant' });

    // oidc-provider takes a reused refresh token for a stolen one: the whole grant goes, the newest tokens with it.
    expect(await (await refresh(idp, second.refresh_token ?? '')).json()).toMatchObject({ error: 'invalid_grant' });
    expect((await callApi(idp, '/api/me', second.access_token)).status).toBe(401);
  });

  it('lists every access and refresh token it issued, as presented, for leak checks', async () => {
    const first = await tokensFrom(idp, { scope: DEFAULT_SCOPES });
    const second = await refreshed(idp, first.refresh_token ?? '');
    expect(idp.issuedTokens()).toEqual(expect.arrayContaining([first.access_token, first.refresh_token, second.access_token, second.refresh_token]));
  });

  it('says how long access tokens last in expires_in: the option, on sign-in and on refresh, else an hour', async () => {
    const signedIn = await tokensFrom(shortLived);
    expect(shortLived.accessTokenTtlSeconds).toBe(120);
    expect(signedIn.expires_in).toBe(120);
    expect((await refreshed(shortLived, signedIn.refresh_token ?? '')).expires_in).toBe(120);

    expect(idp.accessTokenTtlSeconds).toBe(DEFAULT_ACCESS_TOKEN_TTL_SECONDS);
    expect((await tokensFrom(idp)).expires_in).toBe(3600);
  });

  it('refuses an access-token lifetime that is not a whole number of seconds, before listening', async () => {
    for (const accessTokenTtlSeconds of [0, -5, 1.5, Number.NaN]) {
      await expect(startDevIdp({ port: 0, redirectUris: [REDIRECT_URI], accessTokenTtlSeconds })).rejects.toThrow(/accessTokenTtlSeconds must be a whole number of seconds, at least 1/);
    }
  });

  it('answers /api/me for a live token with profile: who it is for and the token scope, groups only with the groups scope', async () => {
    const { access_token: token, scope } = await tokensFrom(idp, { scope: DEFAULT_SCOPES });
    const response = await callApi(idp, '/api/me', token);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.json()).toEqual({ sub: 'alice', email: 'alice@example.com', name: 'Alice Example', scope });
    expect(scope?.split(' ').sort()).toEqual(['email', 'openid', 'profile']);

    const withGroups = await tokensFrom(idp, { login: 'bob', scope: `${DEFAULT_SCOPES} groups` });
    expect(await (await callApi(idp, '/api/me', withGroups.access_token)).json()).toMatchObject({ sub: 'bob', groups: ['staff'] });
    const groups = await callApi(idp, '/api/groups', withGroups.access_token);
    expect(groups.status).toBe(200);
    expect(await groups.json()).toEqual({ sub: 'bob', groups: ['staff'] });
  });

  it('answers 401 without a token (a bare challenge, RFC 6750 §3.1) and 401 invalid_token for an unknown one', async () => {
    const none = await callApi(idp, '/api/me');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe(`Bearer realm="${idp.issuer}"`);

    const unknown = await callApi(idp, '/api/me', 'not-a-token-this-idp-issued');
    expect(unknown.status).toBe(401);
    expect(unknown.headers.get('www-authenticate')).toMatch(/^Bearer realm="[^"]+", error="invalid_token"/);
    expect(await unknown.json()).toMatchObject({ error: 'invalid_token' });

    // A token in the query string is not one: only the Authorization header carries it here.
    const { access_token: token } = await tokensFrom(idp, { scope: DEFAULT_SCOPES });
    expect((await fetch(`${idp.issuer}/api/me?access_token=${token}`)).status).toBe(401);
  });

  it('answers 401 invalid_token for an expired token, on the API and userinfo alike, and a refresh brings a live one', async () => {
    const { access_token: token, refresh_token: refreshToken } = await tokensFrom(shortLived, { scope: DEFAULT_SCOPES });
    expect((await callApi(shortLived, '/api/me', token)).status).toBe(200);

    // Only Date is faked: the IdP runs in this process, and oidc-provider reads the time from Date.now().
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 121_000);
    const expired = await callApi(shortLived, '/api/me', token);
    expect(expired.status).toBe(401);
    expect(expired.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect((await callApi(shortLived, '/me', token)).status).toBe(401);

    const { access_token: fresh } = await refreshed(shortLived, refreshToken ?? '');
    expect((await callApi(shortLived, '/api/me', fresh)).status).toBe(200);
    expect(await (await callApi(shortLived, '/me', fresh)).json()).toMatchObject({ sub: 'alice', email: 'alice@example.com' });
  });

  it('answers 403 insufficient_scope naming the scope when the token lacks it: groups, which the default scopes leave out', async () => {
    const { access_token: token } = await tokensFrom(idp, { scope: DEFAULT_SCOPES });
    const groups = await callApi(idp, '/api/groups', token);
    expect(groups.status).toBe(403);
    expect(groups.headers.get('www-authenticate')).toMatch(/^Bearer realm="[^"]+", error="insufficient_scope", error_description="[^"]+", scope="groups"$/);
    expect(await groups.json()).toMatchObject({ error: 'insufficient_scope', scope: 'groups' });

    const { access_token: openidOnly } = await tokensFrom(idp, { scope: 'openid' });
    const me = await callApi(idp, '/api/me', openidOnly);
    expect(me.status).toBe(403);
    expect(me.headers.get('www-authenticate')).toContain('scope="profile"');
    // userinfo needs only openid.
    expect((await callApi(idp, '/me', openidOnly)).status).toBe(200);
  });

  it('serves GET only, and nothing else under /api', async () => {
    const { access_token: token } = await tokensFrom(idp, { scope: DEFAULT_SCOPES });
    const post = await fetch(`${idp.issuer}/api/me`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
    expect((await callApi(idp, '/api/nothing-here', token)).status).toBe(404);
  });

  it('lists the groups scope in its discovery metadata', async () => {
    const metadata = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as { scopes_supported: string[] };
    expect(metadata.scopes_supported).toContain('groups');
  });
});

describe('dev IdP revocation and stats controls', () => {
  let idp: DevIdp;
  let plain: DevIdp;

  beforeAll(async () => {
    [idp, plain] = await Promise.all([startDevIdp({ port: 0, redirectUris: [REDIRECT_URI], control: true }), startDevIdp({ port: 0, redirectUris: [REDIRECT_URI] })]);
  });

  afterAll(async () => {
    await Promise.all([idp?.close(), plain?.close()]);
  });

  const post = (target: DevIdp, path: string, body: unknown, type = 'application/json') =>
    fetch(`${target.issuer}/__dev-idp/${path}`, { method: 'POST', headers: { 'Content-Type': type }, body: JSON.stringify(body) });

  it('revokes everything a user granted, as if they removed the app at the IdP: refresh gets invalid_grant, the API and userinfo 401; other users keep theirs', async () => {
    const [alice, aliceAgain, bob] = [await tokensFrom(idp, { scope: DEFAULT_SCOPES }), await tokensFrom(idp, { scope: DEFAULT_SCOPES }), await tokensFrom(idp, { login: 'bob', scope: DEFAULT_SCOPES })];

    const revoked = await post(idp, 'revoke', { sub: 'alice' });
    expect(revoked.status).toBe(200);
    const { destroyed } = (await revoked.json()) as { destroyed: number };
    expect(destroyed).toBeGreaterThanOrEqual(6); // two grants, each with a refresh and an access token

    for (const tokens of [alice, aliceAgain]) {
      const refused = await refresh(idp, tokens.refresh_token ?? '');
      expect(refused.status).toBe(400);
      expect(await refused.json()).toMatchObject({ error: 'invalid_grant' });
      const api = await callApi(idp, '/api/me', tokens.access_token);
      expect(api.status).toBe(401);
      expect(api.headers.get('www-authenticate')).toContain('error="invalid_token"');
      expect((await callApi(idp, '/me', tokens.access_token)).status).toBe(401);
    }
    expect((await callApi(idp, '/api/me', bob.access_token)).status).toBe(200);
    expect((await refreshed(idp, bob.refresh_token ?? '')).access_token).toEqual(expect.any(String));

    // Nothing left to revoke; and the handle does the same as the endpoint.
    expect(await (await post(idp, 'revoke', { sub: 'alice' })).json()).toEqual({ sub: 'alice', destroyed: 0 });
    expect(idp.revoke('bob')).toBeGreaterThanOrEqual(2);
    expect((await refresh(idp, bob.refresh_token ?? '')).status).toBe(400);

    // A new sign-in works again.
    expect((await callApi(idp, '/api/me', (await tokensFrom(idp, { scope: DEFAULT_SCOPES })).access_token)).status).toBe(200);
  });

  it('expires a user\'s access tokens on demand, and their refresh tokens still work', async () => {
    const tokens = await tokensFrom(idp, { scope: DEFAULT_SCOPES });
    expect(await (await post(idp, 'expire-access-tokens', { sub: 'alice' })).json()).toMatchObject({ sub: 'alice', destroyed: expect.any(Number) });
    expect((await callApi(idp, '/api/me', tokens.access_token)).status).toBe(401);
    const { access_token: fresh, refresh_token: rotated } = await refreshed(idp, tokens.refresh_token ?? '');
    expect((await callApi(idp, '/api/me', fresh)).status).toBe(200);

    expect(idp.expireAccessTokens('alice')).toBeGreaterThanOrEqual(1);
    expect((await callApi(idp, '/api/me', fresh)).status).toBe(401);
    expect((await refresh(idp, rotated ?? '')).status).toBe(200);
  });

  it('refuses a revocation without a subject, or not as JSON', async () => {
    expect((await post(idp, 'revoke', {})).status).toBe(400);
    expect((await post(idp, 'revoke', { sub: 42 })).status).toBe(400);
    expect((await post(idp, 'revoke', { sub: 'alice' }, 'text/plain')).status).toBe(415);
    expect((await post(idp, 'expire-access-tokens', { sub: '' })).status).toBe(400);
  });

  it('counts token requests by grant type, refreshes by user and API calls, since the last reset', async () => {
    expect((await post(idp, 'stats/reset', {})).status).toBe(204);
    const zero: DevIdpStats = { tokenRequests: { authorization_code: 0, refresh_token: 0 }, refreshBySub: {}, apiCalls: 0 };
    expect(idp.stats()).toEqual(zero);

    const alice = await tokensFrom(idp, { scope: DEFAULT_SCOPES });
    const bob = await tokensFrom(idp, { login: 'bob', scope: DEFAULT_SCOPES });
    await refreshed(idp, alice.refresh_token ?? ''); // granted
    expect((await refresh(idp, alice.refresh_token ?? '')).status).toBe(400); // reused: refused, still alice's
    expect((await refresh(idp, 'never-issued')).status).toBe(400); // names nobody
    await refreshed(idp, bob.refresh_token ?? '');
    await callApi(idp, '/api/me', bob.access_token);
    await callApi(idp, '/api/groups', bob.access_token); // 403 counts too
    await callApi(idp, '/api/me'); // and 401
    await callApi(idp, '/me', bob.access_token); // userinfo is not the API

    const expected: DevIdpStats = { tokenRequests: { authorization_code: 2, refresh_token: 4 }, refreshBySub: { alice: 2, bob: 1 }, apiCalls: 3 };
    expect(idp.stats()).toEqual(expected);
    // Over HTTP: a GET needs no JSON content type.
    const stats = await fetch(`${idp.issuer}/__dev-idp/stats`);
    expect(stats.status).toBe(200);
    expect(await stats.json()).toEqual(expected);

    // A copy: changing what stats() returned changes nothing.
    idp.stats().apiCalls = 99;
    expect(idp.stats().apiCalls).toBe(3);

    idp.resetStats();
    expect(await (await fetch(`${idp.issuer}/__dev-idp/stats`)).json()).toEqual(zero);
    expect((await post(idp, 'stats/reset', {}, 'text/plain')).status).toBe(415);
  });

  it('lets a fault stand in for the API being down, uncounted', async () => {
    idp.resetStats();
    idp.injectFault({ path: '/api/me', mode: 'http-500', times: 1 });
    expect((await callApi(idp, '/api/me')).status).toBe(500);
    expect((await callApi(idp, '/api/me')).status).toBe(401);
    expect(idp.stats().apiCalls).toBe(1);
  });

  it('keeps the counts and the revocations across a key rotation', async () => {
    idp.resetStats();
    const tokens = await tokensFrom(idp, { scope: DEFAULT_SCOPES });
    idp.rotateKeys();
    expect(idp.stats().tokenRequests.authorization_code).toBe(1);
    idp.revoke('alice');
    expect((await refresh(idp, tokens.refresh_token ?? '')).status).toBe(400);
    expect(idp.stats()).toMatchObject({ tokenRequests: { authorization_code: 1, refresh_token: 1 } });
  });

  it('serves none of these without control', async () => {
    expect((await post(plain, 'revoke', { sub: 'alice' })).status).toBe(404);
    expect((await fetch(`${plain.issuer}/__dev-idp/stats`)).status).toBe(404);
    // The handle works all the same.
    expect(plain.stats()).toEqual({ tokenRequests: { authorization_code: 0, refresh_token: 0 }, refreshBySub: {}, apiCalls: 0 });
  });
});
