/**
 * The connected-apps page (/account): a person signs in through the real dev IdP, sees the MCP
 * clients they authorized, and disconnects one, whose tokens then stop working. Nobody reaches
 * another user's grants, and no form from another site or session is accepted.
 */
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PAGE_CSP } from '../../src/auth/pages';
import { userIdFor } from '../../src/upstream/types';
import { DevIdp } from './dev-idp';
import { authorizationCode, CALLBACK, McpWire, ORIGIN, pkcePair, registerClient, registerTrustedClient, tokenRequest, tokensFor, worker, workerWithEnv, type RegisteredClient, type TokenResponse } from './helpers';

afterEach(() => {
  vi.restoreAllMocks();
});

interface SignedIn {
  idp: DevIdp;
  /** The session cookie, as `name=value`. */
  cookie: string;
  userId: string;
}

function cookieNamed(response: Response, name: string): string | undefined {
  return response.headers
    .getSetCookie()
    .map((cookie) => cookie.split(';')[0] as string)
    .find((cookie) => cookie.startsWith(`${name}=`) && cookie.length > name.length + 1);
}

/** The user id the Worker gives `login` when the dev IdP signs them in. */
function userIdOf(idp: DevIdp, login: string): Promise<string> {
  return userIdFor({ upstream: `oidc:${new URL(idp.issuer).host}`, subject: login });
}

/** GET /account, the IdP's login form, back at /callback: the session cookie. */
async function signIn(login = 'alice', idp = DevIdp.install()): Promise<SignedIn> {
  const start = await workerWithEnv(idp.env, '/account');
  expect(start.status).toBe(302);
  const signInCookie = cookieNamed(start, '__Host-web-sign-in') as string;
  const back = await workerWithEnv(idp.env, await idp.signIn(start.headers.get('Location') ?? '', login), { headers: { Cookie: signInCookie } });
  expect(back.status).toBe(303);
  expect(back.headers.get('Location')).toBe('/account');
  return { idp, cookie: cookieNamed(back, '__Host-web-session') as string, userId: await userIdOf(idp, login) };
}

function accountPage(who: SignedIn): Promise<Response> {
  return workerWithEnv(who.idp.env, '/account', { headers: { Cookie: who.cookie } });
}

/** The page's CSRF token and the grants it lists. */
async function readPage(who: SignedIn): Promise<{ html: string; csrf: string; grants: string[] }> {
  const response = await accountPage(who);
  expect(response.status).toBe(200);
  const html = await response.text();
  return {
    html,
    csrf: /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '',
    grants: [...html.matchAll(/data-grant="([^"]+)"/g)].map((match) => match[1] as string),
  };
}

function post(who: SignedIn, path: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return workerWithEnv(who.idp.env, path, {
    method: 'POST',
    headers: { Cookie: who.cookie, 'Content-Type': 'application/x-www-form-urlencoded', Origin: ORIGIN, ...headers },
    body: new URLSearchParams(fields).toString(),
  });
}

/** A grant of `client` for `userId`, as /callback would make it: its id. */
async function grantFor(client: RegisteredClient, userId: string): Promise<string> {
  const { verifier, challenge } = await pkcePair();
  const code = await authorizationCode(client, { userId, upstream: 'oidc:test', subject: userId }, ['profile'], challenge);
  const response = await tokenRequest(client, { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier });
  expect(response.status).toBe(200);
  return grantOf(await response.json<TokenResponse>());
}

/** The grant a token belongs to: the provider's tokens are `<user id>:<grant id>:<secret>`. */
function grantOf(token: TokenResponse): string {
  return token.access_token.split(':')[1] as string;
}

/** The page's box for one grant. */
function boxOf(html: string, grantId: string): string {
  const start = html.indexOf(`data-grant="${grantId}"`);
  expect(start).toBeGreaterThan(-1);
  return html.slice(start, html.indexOf('</div>', start));
}

/** The admin export's events for `query`, every page (a page may be short, or empty, and have a next one). */
async function auditLines(query: string): Promise<Record<string, unknown>[]> {
  const lines: Record<string, unknown>[] = [];
  for (let next: string | undefined = `/admin/audit?${query}`; next !== undefined; ) {
    const response = await worker(next, { headers: { Authorization: `Bearer ${String(Reflect.get(env, 'ADMIN_TOKEN'))}` } });
    expect(response.status).toBe(200);
    lines.push(...new TextDecoder().decode(await response.arrayBuffer()).split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>));
    next = /^<([^>]+)>; rel="next"$/.exec(response.headers.get('Link') ?? '')?.[1];
  }
  return lines;
}

async function toolCallStatus(token: TokenResponse): Promise<number> {
  return (await new McpWire(token.access_token, '/mcp', { protocol: '2026-07-28' }).request('tools/list')).status;
}

describe('signing in to /account', () => {
  it('sends the browser to the IdP with PKCE, a nonce and a state of its own, bound to the browser by a sealed cookie', async () => {
    const idp = DevIdp.install();
    const response = await workerWithEnv(idp.env, '/account');
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('Location') ?? '');
    expect(`${location.origin}${location.pathname}`).toBe(`${idp.issuer}/auth`);
    expect(Object.fromEntries(location.searchParams)).toMatchObject({ redirect_uri: `${ORIGIN}/callback`, response_type: 'code', code_challenge_method: 'S256' });
    expect(location.searchParams.get('state')).toMatch(/^web\.[A-Za-z0-9_-]{43}$/);
    expect(location.searchParams.get('nonce')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const cookie = response.headers.getSetCookie().find((value) => value.startsWith('__Host-web-sign-in=')) ?? '';
    expect(cookie).toMatch(/; Max-Age=600; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    // Sealed: neither the verifier nor the state can be read from it.
    expect(cookie).not.toContain(location.searchParams.get('state') ?? 'state');
  });

  it('signs the person in and lands on the page, with a one-hour session cookie', async () => {
    const idp = DevIdp.install();
    const start = await workerWithEnv(idp.env, '/account');
    const back = await workerWithEnv(idp.env, await idp.signIn(start.headers.get('Location') ?? ''), { headers: { Cookie: cookieNamed(start, '__Host-web-sign-in') as string } });
    expect(back.status).toBe(303);
    expect(back.headers.get('Location')).toBe('/account');
    const cookies = back.headers.getSetCookie();
    expect(cookies.find((value) => value.startsWith('__Host-web-session='))).toMatch(/; Max-Age=3600; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    // The sign-in cookie is used up.
    expect(cookies.find((value) => value.startsWith('__Host-web-sign-in='))).toMatch(/^__Host-web-sign-in=; Max-Age=0/);
  });

  it('refuses a callback from a sign-in this browser did not start, or with its state altered', async () => {
    const idp = DevIdp.install();
    const start = await workerWithEnv(idp.env, '/account');
    const callback = await idp.signIn(start.headers.get('Location') ?? '');
    const withoutCookie = await workerWithEnv(idp.env, callback);
    expect(withoutCookie.status).toBe(400);
    expect(await withoutCookie.text()).toContain('This sign-in cannot continue');
    const altered = callback.replace(/state=web\.[^&]+/, `state=web.${'A'.repeat(43)}`);
    const response = await workerWithEnv(idp.env, altered, { headers: { Cookie: cookieNamed(start, '__Host-web-sign-in') as string } });
    expect(response.status).toBe(400);
    expect(response.headers.getSetCookie().some((value) => value.startsWith('__Host-web-session='))).toBe(false);
  });

  it("applies the sign-in policy: someone the server does not admit gets no session", async () => {
    const idp = DevIdp.install();
    const env = { ...idp.env, ALLOWED_EMAILS: 'bob@example.com' } as Env;
    const start = await workerWithEnv(env, '/account');
    const back = await workerWithEnv(env, await idp.signIn(start.headers.get('Location') ?? ''), { headers: { Cookie: cookieNamed(start, '__Host-web-sign-in') as string } });
    expect(back.status).toBe(403);
    expect(await back.text()).toContain('This account is not allowed to use this server.');
    expect(back.headers.getSetCookie().some((value) => value.startsWith('__Host-web-session='))).toBe(false);
  });

  it('treats an altered or foreign session cookie as no session', async () => {
    const idp = DevIdp.install();
    const response = await workerWithEnv(idp.env, '/account', { headers: { Cookie: `__Host-web-session=${'x'.repeat(80)}` } });
    expect(response.status).toBe(302);
    expect(new URL(response.headers.get('Location') ?? '').origin).toBe(new URL(idp.issuer).origin);
  });
});

describe('the connected apps page', () => {
  it("lists the user's apps (name, who vouches for it, where access goes, scopes), and only theirs", async () => {
    const alice = await signIn('alice');
    const bob = { ...alice, userId: await userIdOf(alice.idp, 'bob') };
    const self = await tokensFor({ userId: alice.userId, upstream: 'oidc:test', subject: 'alice', email: 'alice@example.com' }, ['profile', 'notes:read']);
    const bobs = await tokensFor({ userId: bob.userId, upstream: 'oidc:test', subject: 'bob', email: 'bob@example.com' });
    const page = await accountPage(alice);
    expect(page.status).toBe(200);
    expect(page.headers.get('Content-Security-Policy')).toBe(PAGE_CSP);
    expect(page.headers.get('X-Frame-Options')).toBe('DENY');
    expect(page.headers.get('Cache-Control')).toBe('no-store');
    // Not no-referrer: under it a browser posts the page's forms with `Origin: null`, which is refused.
    expect(page.headers.get('Referrer-Policy')).toBe('same-origin');
    const html = await page.text();
    expect(html).toContain('Signed in as <strong>alice@example.com</strong>');
    const box = boxOf(html, grantOf(self));
    expect(box).toContain('<strong class="app-name">Test gateway</strong>');
    expect(box).toContain('This app registered itself; its name is not verified.');
    expect(box).toContain('Access is sent to <strong>gateway.example</strong>.');
    expect(box).toContain('<code>notes:read</code>');
    expect(box).not.toContain('<code>notes:write</code>');
    expect(box).toMatch(/Connected \d{4}-\d\d-\d\d \d\d:\d\d UTC; last active \d{4}-\d\d-\d\d \d\d:\d\d UTC\./);
    // Bob's grant is not on Alice's page.
    expect(html).not.toContain(grantOf(bobs));
  });

  it('marks an app registered by the administrator as such', async () => {
    const alice = await signIn('alice');
    const grant = await grantFor(await registerTrustedClient(), alice.userId);
    const box = boxOf((await readPage(alice)).html, grant);
    expect(box).toContain('<strong class="app-name">Pre-registered gateway</strong>');
    expect(box).toContain('Registered by your administrator.');
    expect(box).not.toContain('its name is not verified');
  });

  it('escapes what a client chose for its name', async () => {
    const alice = await signIn('alice');
    const grant = await grantFor(await registerClient({ client_name: '<script>alert(1)</script>' }), alice.userId);
    const { html } = await readPage(alice);
    expect(boxOf(html, grant)).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toMatch(/<script/i);
  });
});

describe('disconnecting an app', () => {
  it('revokes the grant: its access and refresh tokens stop working at once, and the page says so', async () => {
    const alice = await signIn('alice');
    const token = await tokensFor({ userId: alice.userId, upstream: 'oidc:test', subject: 'alice', email: 'alice@example.com' });
    expect(await toolCallStatus(token)).toBe(200);
    const { csrf, grants } = await readPage(alice);
    expect(grants).toContain(grantOf(token));

    const response = await post(alice, '/account/revoke', { grant: grantOf(token), csrf });
    expect(response.status).toBe(303);
    expect(response.headers.get('Location')).toBe('/account?disconnected=1');
    expect(await toolCallStatus(token)).toBe(401);
    const refresh = await workerWithEnv(alice.idp.env, '/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Basic ${btoa(`${token.client.client_id}:${token.client.client_secret}`)}` },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token.refresh_token }).toString(),
    });
    expect(refresh.status).toBe(400);
    expect(await refresh.json()).toMatchObject({ error: 'invalid_grant' });
    // The audit trail names who did it: the user, at their own page, after signing in to it.
    await vi.waitFor(
      async () => {
        const lines = await auditLines(`since=${new Date(Date.now() - 3_600_000).toISOString()}&user=${encodeURIComponent(alice.userId)}&type=grant.revoked,sign_in.succeeded`);
        expect(lines).toContainEqual(expect.objectContaining({ type: 'grant.revoked', reason: 'user', outcome: 'ok', user_id: alice.userId, email: 'alice@example.com', grant_id: grantOf(token), by: 'user' }));
        expect(lines).toContainEqual(expect.objectContaining({ type: 'sign_in.succeeded', reason: 'web_session', user_id: alice.userId }));
      },
      { timeout: 5_000, interval: 50 },
    );
    const after = await workerWithEnv(alice.idp.env, '/account?disconnected=1', { headers: { Cookie: alice.cookie } });
    const html = await after.text();
    expect(html).toContain('The app was disconnected. Its access has stopped.');
    expect(html).not.toContain(grantOf(token));
  });

  it("cannot reach another user's grant: 404, and that grant keeps working", async () => {
    const alice = await signIn('alice');
    const bobId = await userIdOf(alice.idp, 'bob');
    const bobs = await tokensFor({ userId: bobId, upstream: 'oidc:test', subject: 'bob' });
    const bob = await signIn('bob', alice.idp);
    expect((await readPage(bob)).grants).toContain(grantOf(bobs));
    const { csrf } = await readPage(alice);
    const response = await post(alice, '/account/revoke', { grant: grantOf(bobs), csrf });
    expect(response.status).toBe(404);
    expect(await toolCallStatus(bobs)).toBe(200);
  });

  it('refuses a form without the page’s token, from another session, from another site, or without a session', async () => {
    const alice = await signIn('alice');
    const token = await tokensFor({ userId: alice.userId, upstream: 'oidc:test', subject: 'alice' });
    const { csrf } = await readPage(alice);
    const grant = grantOf(token);
    const otherSession = await signIn('alice', alice.idp);
    const otherCsrf = (await readPage(otherSession)).csrf;

    expect((await post(alice, '/account/revoke', { grant })).status).toBe(403);
    expect((await post(alice, '/account/revoke', { grant, csrf: otherCsrf })).status).toBe(403);
    expect((await post(alice, '/account/revoke', { grant, csrf }, { Origin: 'https://evil.example' })).status).toBe(403);
    expect((await post(alice, '/account/revoke', { grant, csrf }, { Origin: 'null' })).status).toBe(403);
    expect((await post({ ...alice, cookie: '' }, '/account/revoke', { grant, csrf })).status).toBe(401);
    expect((await post(alice, '/account/revoke', { grant, csrf }, { 'Content-Type': 'text/plain' })).status).toBe(415);
    expect((await post(alice, '/account/revoke', { grant, csrf: `${csrf}x`, pad: 'x'.repeat(20_000) })).status).toBe(413);
    expect((await post(alice, '/account/revoke', { grant: '../../x', csrf })).status).toBe(404);
    // None of that revoked anything.
    expect(await toolCallStatus(token)).toBe(200);
  });

  it('signs out: the cookie is cleared, and the page asks to sign in again', async () => {
    const alice = await signIn('alice');
    const { csrf } = await readPage(alice);
    const response = await post(alice, '/account/sign-out', { csrf });
    expect(response.status).toBe(200);
    expect(response.headers.getSetCookie().find((value) => value.startsWith('__Host-web-session='))).toMatch(/^__Host-web-session=; Max-Age=0/);
  });
});
