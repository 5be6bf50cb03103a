/**
 * The admin console (/admin in a browser): off unless an ADMIN_* rule is set; administrators sign in
 * through the real dev IdP, see clients, users and grants, and every action does exactly what its
 * confirmation page says; everyone else gets 403 on every page and action, and no form from another
 * site or session is accepted.
 *
 * These tests run the Worker with OAUTH_KV pointed at CONSOLE_KV (consistency layer off, since the
 * journal would repair the real namespace's key names): the console lists whole namespaces, and the
 * registration switch must not close /register for the other suites sharing this storage. Their
 * users' ids start with `00-`, so their grants come first in the `grant:` key order every view walks.
 */
import { getOAuthApi } from '@cloudflare/workers-oauth-provider';
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { REGISTRATION_SWITCH_KEY } from '../../src/admin/registration-switch';
import { PAGE_CSP } from '../../src/auth/pages';
import { loadConfig } from '../../src/config';
import { providerOptions } from '../../src/provider';
import { DevIdp } from './dev-idp';
import { authorizeUrl, CALLBACK, McpWire, ORIGIN, pkcePair, workerWithEnv, type RegisteredClient, type TokenResponse } from './helpers';

afterEach(() => {
  vi.restoreAllMocks();
});

/** The console's OAUTH_KV: a namespace of its own (vitest.config.ts), holding only what the provider writes. */
const CONSOLE_KV = Reflect.get(env, 'CONSOLE_KV') as KVNamespace;
const ADMIN_TOKEN = String(Reflect.get(env, 'ADMIN_TOKEN'));

interface Console {
  env: Env;
  idp: DevIdp;
}

/** A Worker whose administrators are `vars` say, on the scratch namespace. */
function consoleWorker(vars: Record<string, string | undefined> = { ADMIN_EMAILS: 'alice@example.com' }): Console {
  const idp = DevIdp.install();
  return { idp, env: { ...idp.env, OAUTH_KV: CONSOLE_KV, CONSISTENCY_LAYER: 'off', ...vars } as Env };
}

function cookieNamed(response: Response, name: string): string | undefined {
  return response.headers
    .getSetCookie()
    .map((cookie) => cookie.split(';')[0] as string)
    .find((cookie) => cookie.startsWith(`${name}=`) && cookie.length > name.length + 1);
}

/** GET /admin, the IdP's login form, back at /callback and on to /admin: the session cookie. */
async function signIn(at: Console, login: string): Promise<string> {
  const start = await workerWithEnv(at.env, '/admin');
  expect(start.status).toBe(302);
  const back = await workerWithEnv(at.env, await at.idp.signIn(start.headers.get('Location') ?? '', login), { headers: { Cookie: cookieNamed(start, '__Host-web-sign-in') as string } });
  expect(back.status).toBe(303);
  expect(back.headers.get('Location')).toBe('/admin');
  return cookieNamed(back, '__Host-web-session') as string;
}

function get(at: Console, cookie: string, path: string): Promise<Response> {
  return workerWithEnv(at.env, path, { headers: { Cookie: cookie } });
}

function post(at: Console, cookie: string, path: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return workerWithEnv(at.env, path, {
    method: 'POST',
    headers: { Cookie: cookie, 'Content-Type': 'application/x-www-form-urlencoded', Origin: ORIGIN, ...headers },
    body: new URLSearchParams(fields).toString(),
  });
}

async function page(at: Console, cookie: string, path: string): Promise<string> {
  const response = await get(at, cookie, path);
  expect(response.status, path).toBe(200);
  return response.text();
}

function csrfOf(html: string): string {
  return /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
}

/** The element of `html` carrying `attribute`, up to its closing tag `end`. */
function part(html: string, attribute: string, end: string): string {
  const start = html.indexOf(attribute);
  expect(start, attribute).toBeGreaterThan(-1);
  return html.slice(start, html.indexOf(end, start));
}

async function register(at: Console, metadata: Record<string, unknown> = {}): Promise<RegisteredClient> {
  const response = await workerWithEnv(at.env, '/register', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ client_name: 'Console test gateway', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'client_secret_basic', ...metadata }),
  });
  expect(response.status).toBe(201);
  return response.json();
}

function tokenRequest(at: Console, client: RegisteredClient, params: Record<string, string>): Promise<Response> {
  return workerWithEnv(at.env, '/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Basic ${btoa(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret ?? '')}`)}` },
    body: new URLSearchParams(params).toString(),
  });
}

/** A grant of `client` for `userId` as /callback would make it, exchanged for tokens. */
async function tokensFor(at: Console, client: RegisteredClient, userId: string, scope = ['profile', 'notes:read']): Promise<TokenResponse> {
  const oauth = getOAuthApi(providerOptions(loadConfig(at.env), ORIGIN), at.env);
  const { verifier, challenge } = await pkcePair();
  const request = await oauth.parseAuthRequest(new Request(authorizeUrl(client, challenge, { scope: scope.join(' ') })));
  // The metadata /callback stores (../../src/auth/app.ts): what the users page shows beside the id.
  const { redirectTo } = await oauth.completeAuthorization({ request, userId, metadata: { upstream: 'oidc:test', email: `${userId}@example.test` }, scope, props: { userId, upstream: 'oidc:test', subject: userId } });
  const code = new URL(redirectTo).searchParams.get('code') ?? '';
  const response = await tokenRequest(at, client, { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier });
  expect(response.status).toBe(200);
  return response.json();
}

function grantOf(token: TokenResponse): string {
  return token.access_token.split(':')[1] as string;
}

async function mcpStatus(at: Console, token: TokenResponse): Promise<number> {
  return (await new McpWire(token.access_token, '/mcp', { protocol: '2026-07-28', env: at.env }).request('tools/list')).status;
}

/** A fresh user id that sorts before every other test's (`grant:00-…` first). */
function freshUser(): string {
  return `00-console-${crypto.randomUUID().slice(0, 8)}`;
}

/** The clients page's row for `clientId`, following "Next clients" as far as needed. */
async function clientRowHtml(at: Console, cookie: string, clientId: string): Promise<string> {
  let path: string | undefined = '/admin';
  for (let pages = 0; path && pages < 50; pages++) {
    const html = await page(at, cookie, path);
    if (html.includes(`data-client="${clientId}"`)) return part(html, `data-client="${clientId}"`, '</tr>');
    path = /<a href="([^"]+)" id="next">/.exec(html)?.[1]?.replaceAll('&amp;', '&');
  }
  throw new Error(`client ${clientId} is on no page`);
}

/** The admin export's events for `query`, every page (a page may be short, or empty, and have a next one); writes land after the responses. */
async function auditLines(query: string, ready: (lines: Record<string, unknown>[]) => boolean): Promise<Record<string, unknown>[]> {
  return vi.waitFor(
    async () => {
      const lines: Record<string, unknown>[] = [];
      for (let next: string | undefined = `/admin/audit?since=${new Date(Date.now() - 3_600_000).toISOString()}&${query}`; next !== undefined; ) {
        const response = await workerWithEnv(env, next, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
        expect(response.status).toBe(200);
        lines.push(...new TextDecoder().decode(await response.arrayBuffer()).split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>));
        next = /^<([^>]+)>; rel="next"$/.exec(response.headers.get('Link') ?? '')?.[1];
      }
      if (!ready(lines)) throw new Error(`not yet: ${lines.map((line) => `${String(line.type)}/${String(line.reason)}`).join(', ')}`);
      return lines;
    },
    { timeout: 5_000, interval: 50 },
  );
}

const CONSOLE_PAGES = ['/admin', '/admin/console/users', '/admin/console/users/00-someone', '/admin/console/audit', '/admin/console/registration', '/admin/console/clients/new', '/admin/console/clients/abc/delete', '/admin/console/users/00-someone/grants/g1/revoke', '/admin/console/users/00-someone/revoke-all', '/admin/console/user?id=00-someone'];
const CONSOLE_ACTIONS = ['/admin/console/clients', '/admin/console/clients/abc/delete', '/admin/console/users/00-someone/grants/g1/revoke', '/admin/console/users/00-someone/revoke-all', '/admin/console/registration', '/admin/console/sign-out'];

describe('the admin console is off unless configured', () => {
  it('answers 404 on every page and action without an ADMIN_* rule, and the bearer API works as before', async () => {
    const at = consoleWorker({});
    for (const path of CONSOLE_PAGES) expect((await workerWithEnv(at.env, path)).status, path).toBe(404);
    for (const path of CONSOLE_ACTIONS) expect((await workerWithEnv(at.env, path, { method: 'POST' })).status, path).toBe(404);
    const api = await workerWithEnv(at.env, '/admin/clients', { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(api.status).toBe(200);
    expect(await api.json()).toHaveProperty('clients');
  });

  it('refuses a configuration whose rule nobody could match, naming the fix', async () => {
    const at = consoleWorker({ ADMIN_GITHUB_ORGS: 'acme' });
    const response = await workerWithEnv(at.env, '/admin');
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(text).toContain('(setup_error)');
    expect(text).toContain('To fix: ADMIN_GITHUB_ORGS.');
  });
});

describe('who gets in', () => {
  it('sends a visitor without a session to the IdP, and a post without one gets 401', async () => {
    const at = consoleWorker();
    const response = await workerWithEnv(at.env, '/admin/console/users');
    expect(response.status).toBe(302);
    expect(new URL(response.headers.get('Location') ?? '').origin).toBe(new URL(at.idp.issuer).origin);
    for (const path of CONSOLE_ACTIONS) expect((await post(at, '', path, { csrf: 'x' })).status, path).toBe(401);
  });

  it('gives a signed-in user who is not an administrator 403 on every page and action, with a valid form token too', async () => {
    const at = consoleWorker();
    const bob = await signIn(at, 'bob');
    // The session is good for /account, whose CSRF token is the session's.
    const csrf = csrfOf(await page(at, bob, '/account'));
    expect(csrf).not.toBe('');
    for (const path of CONSOLE_PAGES) {
      const response = await get(at, bob, path);
      expect(response.status, path).toBe(403);
      expect(await response.text()).toContain('Not an administrator');
    }
    for (const path of CONSOLE_ACTIONS) expect((await post(at, bob, path, { csrf, open: 'off', client_name: 'x', redirect_uris: CALLBACK })).status, path).toBe(403);
    expect(await CONSOLE_KV.get(REGISTRATION_SWITCH_KEY)).toBeNull();
    // The bearer API does not take a session: 401 without the token, 404 when it is off.
    expect((await get(at, bob, '/admin/clients')).status).toBe(401);
    expect((await get({ ...at, env: { ...at.env, ADMIN_TOKEN: undefined } as Env }, bob, '/admin/clients')).status).toBe(404);
    // Each refusal is in the audit trail, naming who was refused.
    const refused = await auditLines('type=admin.action', (lines) => lines.some((line) => line.reason === 'console_denied' && line.email === 'bob@example.com'));
    expect(refused.find((line) => line.reason === 'console_denied' && line.email === 'bob@example.com')).toMatchObject({ outcome: 'denied', status: 403, user_id: expect.stringMatching(/^oidc-/) });
  }, 15_000);

  it("admits by the IdP's groups claim (ADMIN_GROUPS): alice, in mcp-admins, gets in; bob, only in staff, gets 403", async () => {
    const at = consoleWorker({ ADMIN_GROUPS: 'mcp-admins' });
    const alice = await signIn(at, 'alice');
    expect((await get(at, alice, '/admin')).status).toBe(200);
    const bob = await signIn(at, 'bob');
    const refused = await get(at, bob, '/admin');
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain('Not an administrator');
    // A group the rule does not name admits no one.
    const other = consoleWorker({ ADMIN_GROUPS: 'staff-admins' });
    expect((await get(other, await signIn(other, 'alice'), '/admin')).status).toBe(403);
  });

  it('re-checks the allowlist on every request: removed from ADMIN_EMAILS, refused at once with the same session', async () => {
    const at = consoleWorker();
    const alice = await signIn(at, 'alice');
    expect((await get(at, alice, '/admin')).status).toBe(200);
    const removed = { ...at, env: { ...at.env, ADMIN_EMAILS: 'carol@example.com' } as Env };
    expect((await get(removed, alice, '/admin')).status).toBe(403);
    const byDomain = { ...at, env: { ...at.env, ADMIN_EMAILS: undefined, ADMIN_EMAIL_DOMAINS: 'example.com' } as Env };
    expect((await get(byDomain, alice, '/admin')).status).toBe(200);
  });

  it('carries the consent page’s security headers on every page, same-origin referrers so forms post with their Origin', async () => {
    const at = consoleWorker();
    const alice = await signIn(at, 'alice');
    for (const path of ['/admin', '/admin/console/users', '/admin/console/audit', '/admin/console/registration', '/admin/console/clients/new', '/admin/console/clients/nope/delete']) {
      const response = await get(at, alice, path);
      expect(response.headers.get('Content-Security-Policy'), path).toBe(PAGE_CSP);
      expect(response.headers.get('X-Frame-Options')).toBe('DENY');
      expect(response.headers.get('X-Content-Type-Options')).toBe('nosniff');
      expect(response.headers.get('Cache-Control')).toBe('no-store');
      expect(response.headers.get('Referrer-Policy')).toBe('same-origin');
      expect(await response.text()).not.toMatch(/<script/i);
    }
  });
});

describe('what an administrator sees', () => {
  it('lists a client (name, how registered, redirect hosts, created, last used, grants) and its user’s grants with exact values', async () => {
    const at = consoleWorker();
    const alice = await signIn(at, 'alice');
    const client = await register(at, { client_name: 'Exact gateway' });
    const user = freshUser();
    const first = await tokensFor(at, client, user, ['profile']);
    // completeAuthorization replaces a user's earlier grant for the same client: a second client makes the second grant.
    const other = await register(at, { client_name: 'Second gateway' });
    const second = await tokensFor(at, other, user, ['profile', 'notes:read']);
    const refreshed = await tokenRequest(at, other, { grant_type: 'refresh_token', refresh_token: second.refresh_token });
    expect(refreshed.status).toBe(200);

    const row = await clientRowHtml(at, alice, client.client_id);
    expect(row).toContain('<strong class="client-name">Exact gateway</strong>');
    expect(row).toContain('<td class="registration">registered itself (DCR)<br><small>client_secret_basic</small></td>');
    expect(row).toContain('<td class="redirect-hosts">gateway.example</td>');
    expect(row).toMatch(/<td class="created">\d{4}-\d\d-\d\d \d\d:\d\d UTC<\/td>/);
    expect(row).toMatch(/<td class="last-used">\d{4}-\d\d-\d\d \d\d:\d\d UTC<\/td>/);
    expect(row).toMatch(/<td class="grants">1\+?<\/td>/);

    const users = await page(at, alice, '/admin/console/users');
    const section = part(users, `data-user="${user}"`, '</section>');
    expect(section).toContain(`<code>${user}</code></a> <small class="email">${user}@example.test</small></h2>`);
    const firstRow = part(section, `data-grant="${grantOf(first)}"`, '</tr>');
    expect(firstRow).toContain('<span class="client-name">Exact gateway</span>');
    expect(firstRow).toContain('<td class="scopes">profile</td>');
    expect(firstRow).toContain('<td class="last-refreshed">never</td>');
    const secondRow = part(section, `data-grant="${grantOf(second)}"`, '</tr>');
    expect(secondRow).toContain('<span class="client-name">Second gateway</span>');
    expect(secondRow).toContain('<td class="scopes">profile notes:read</td>');
    expect(secondRow).toMatch(/<td class="last-refreshed">\d{4}-\d\d-\d\d \d\d:\d\d UTC<\/td>/);

    const userPage = await page(at, alice, `/admin/console/users/${user}`);
    expect(userPage).toContain(`data-grant="${grantOf(first)}"`);
    expect(userPage).toContain(`data-grant="${grantOf(second)}"`);
    const lookup = await get(at, alice, `/admin/console/user?id=${user}`);
    expect(lookup.status).toBe(303);
    expect(lookup.headers.get('Location')).toBe(`/admin/console/users/${user}`);
    expect((await get(at, alice, '/admin/console/user?id=a%3Ab')).status).toBe(400);
  });

  it('shows the grants list although one grant record is not JSON (it costs its own row, not the page)', async () => {
    const at = consoleWorker();
    const alice = await signIn(at, 'alice');
    const broken = `oidc-broken${crypto.randomUUID().replaceAll('-', '')}`;
    await CONSOLE_KV.put(`grant:${broken}:g1`, 'not json');
    const client = await register(at, { client_name: 'Beside a broken record' });
    const user = freshUser();
    await tokensFor(at, client, user, ['profile']);
    const home = await page(at, alice, '/admin');
    expect(home).not.toContain(broken);
    expect(await page(at, alice, `/admin/console/users/${encodeURIComponent(user)}`)).toContain('Beside a broken record');
    await CONSOLE_KV.delete(`grant:${broken}:g1`);
  });

  it('escapes what a client chose for its name, on every page that shows it', async () => {
    const at = consoleWorker();
    const alice = await signIn(at, 'alice');
    const hostile = '<script>alert(1)</script><img src=x onerror=alert(2)>';
    const client = await register(at, { client_name: hostile });
    const user = freshUser();
    const token = await tokensFor(at, client, user);
    const escaped = '&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;';
    const pages = [
      await clientRowHtml(at, alice, client.client_id),
      await page(at, alice, '/admin/console/users'),
      await page(at, alice, `/admin/console/users/${user}`),
      await page(at, alice, `/admin/console/clients/${client.client_id}/delete`),
      await page(at, alice, `/admin/console/users/${user}/grants/${grantOf(token)}/revoke`),
    ];
    for (const html of pages) {
      expect(html).toContain(escaped);
      expect(html).not.toMatch(/<script|<img/i);
    }
  });

  it('shows the audit trail, filtered, and explains a bad filter without reading anything', async () => {
    const at = consoleWorker();
    const alice = await signIn(at, 'alice');
    const html = await page(at, alice, '/admin/console/audit?type=admin.action');
    expect(html).toContain('<form method="get" action="/admin/console/audit" id="audit-filters"');
    expect(html).toContain('value="admin.action"');
    const bad = await get(at, alice, '/admin/console/audit?type=%3Cb%3Enope');
    expect(bad.status).toBe(400);
    const text = await bad.text();
    expect(text).toContain('id="filter-error"');
    expect(text).toContain('Unknown event type &quot;&lt;b&gt;nope&quot;');
  });
});

describe('actions', () => {
  it('revokes one grant after a confirmation page: its token is refused on /mcp, the other grant keeps working', async () => {
    const at = consoleWorker();
    const alice = await signIn(at, 'alice');
    const user = freshUser();
    const revoked = await tokensFor(at, await register(at), user);
    const kept = await tokensFor(at, await register(at), user);
    expect(await mcpStatus(at, revoked)).toBe(200);
    const path = `/admin/console/users/${user}/grants/${grantOf(revoked)}/revoke`;
    const confirm = await page(at, alice, path);
    expect(part(confirm, 'id="consequences"', '</div>')).toContain(`Revoke the grant <code>${grantOf(revoked)}</code> of user <code>${user}</code>`);
    expect(confirm).toContain(`<form method="post" action="${path}">`);
    // Visiting the confirmation changed nothing.
    expect(await mcpStatus(at, revoked)).toBe(200);

    const response = await post(at, alice, path, { csrf: csrfOf(confirm) });
    expect(response.status).toBe(303);
    expect(response.headers.get('Location')).toBe(`/admin/console/users/${user}?notice=revoked`);
    expect(await mcpStatus(at, revoked)).toBe(401);
    expect(await mcpStatus(at, kept)).toBe(200);
    const after = await page(at, alice, `/admin/console/users/${user}?notice=revoked`);
    expect(after).toContain('The grant was revoked. Its tokens no longer work.');
    expect(after).not.toContain(grantOf(revoked));
    // Again: nothing to revoke.
    expect((await post(at, alice, path, { csrf: csrfOf(confirm) })).status).toBe(404);
  });

  it('revokes every grant of one user, and no one else’s', async () => {
    const at = consoleWorker();
    const alice = await signIn(at, 'alice');
    const user = freshUser();
    const neighbour = freshUser();
    const tokens = [await tokensFor(at, await register(at), user), await tokensFor(at, await register(at), user)];
    const neighbours = await tokensFor(at, await register(at), neighbour);
    const path = `/admin/console/users/${user}/revoke-all`;
    const confirm = await page(at, alice, path);
    expect(part(confirm, 'id="consequences"', '</div>')).toContain(`Revoke all <strong>2</strong> grants of user <code>${user}</code>?`);
    const response = await post(at, alice, path, { csrf: csrfOf(confirm) });
    expect(response.status).toBe(303);
    expect(response.headers.get('Location')).toBe(`/admin/console/users/${user}?notice=revoked-all`);
    for (const token of tokens) expect(await mcpStatus(at, token)).toBe(401);
    expect(await mcpStatus(at, neighbours)).toBe(200);
    expect(await page(at, alice, `/admin/console/users/${user}`)).toContain('This user holds no grants.');
  });

  it('deletes a client after a confirmation page, and its grants and tokens with it', async () => {
    const at = consoleWorker();
    const alice = await signIn(at, 'alice');
    const client = await register(at, { client_name: 'Doomed gateway' });
    const user = freshUser();
    const token = await tokensFor(at, client, user);
    const path = `/admin/console/clients/${client.client_id}/delete`;
    const confirm = await page(at, alice, path);
    expect(part(confirm, 'id="consequences"', '</div>')).toContain('Delete <strong class="client-name">Doomed gateway</strong>');
    expect(part(confirm, 'id="consequences"', '</div>')).toContain('Every grant made to it is revoked, for every user');

    const response = await post(at, alice, path, { csrf: csrfOf(confirm) });
    expect(response.status).toBe(303);
    expect(response.headers.get('Location')).toBe('/admin?notice=deleted');
    expect(await mcpStatus(at, token)).toBe(401);
    const oauth = getOAuthApi(providerOptions(loadConfig(at.env), ORIGIN), at.env);
    expect(await oauth.lookupClient(client.client_id)).toBeNull();
    expect((await oauth.listUserGrants(user)).items).toEqual([]);
    expect((await post(at, alice, path, { csrf: csrfOf(confirm) })).status).toBe(404);
    expect((await get(at, alice, path)).status).toBe(404);
  });

  it('pre-registers a client: the secret is shown once, the client is marked trusted, and it works for an authorization', async () => {
    const at = consoleWorker();
    const alice = await signIn(at, 'alice');
    const form = await page(at, alice, '/admin/console/clients/new');
    const csrf = csrfOf(form);
    const response = await post(at, alice, '/admin/console/clients', { csrf, client_name: 'Console gateway', redirect_uris: `${CALLBACK}\r\n`, token_endpoint_auth_method: 'client_secret_post' });
    expect(response.status).toBe(201);
    expect(response.headers.get('Cache-Control')).toBe('no-store');
    const html = await response.text();
    const clientId = /<code id="client-id">([^<]+)<\/code>/.exec(html)?.[1] ?? '';
    const clientSecret = /<code id="client-secret">([^<]+)<\/code>/.exec(html)?.[1] ?? '';
    expect(clientId).not.toBe('');
    expect(clientSecret.length).toBeGreaterThan(16);
    expect(await CONSOLE_KV.get(`trusted-client:${clientId}`)).toBe('1');
    // Only its hash is stored: no page shows the secret again.
    expect(await clientRowHtml(at, alice, clientId)).toContain('pre-registered by an administrator');
    expect(await clientRowHtml(at, alice, clientId)).not.toContain(clientSecret);

    const client: RegisteredClient = { client_id: clientId, client_secret: clientSecret, redirect_uris: [CALLBACK], token_endpoint_auth_method: 'client_secret_post' };
    const oauth = getOAuthApi(providerOptions(loadConfig(at.env), ORIGIN), at.env);
    const { verifier, challenge } = await pkcePair();
    const request = await oauth.parseAuthRequest(new Request(authorizeUrl(client, challenge, { scope: 'profile' })));
    const { redirectTo } = await oauth.completeAuthorization({ request, userId: freshUser(), metadata: {}, scope: ['profile'], props: { userId: 'x', upstream: 'oidc:test', subject: 'x' } });
    const exchange = await workerWithEnv(at.env, '/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: new URL(redirectTo).searchParams.get('code') ?? '', redirect_uri: CALLBACK, code_verifier: verifier, client_id: clientId, client_secret: clientSecret }).toString(),
    });
    expect(exchange.status).toBe(200);
  });

  it('refuses a bad pre-registration with the reasons, and creates nothing', async () => {
    const at = consoleWorker();
    const alice = await signIn(at, 'alice');
    const csrf = csrfOf(await page(at, alice, '/admin/console/clients/new'));
    const name = `Refused ${crypto.randomUUID()}`;
    const cases: Record<string, string>[] = [
      { client_name: '', redirect_uris: CALLBACK },
      { client_name: name, redirect_uris: 'http://gateway.example/callback' },
      { client_name: name, redirect_uris: 'https://gateway.example/callback#fragment' },
      { client_name: name, redirect_uris: 'not a url' },
      { client_name: name, redirect_uris: CALLBACK, token_endpoint_auth_method: 'private_key_jwt' },
    ];
    for (const fields of cases) {
      const response = await post(at, alice, '/admin/console/clients', { csrf, ...fields });
      expect(response.status, JSON.stringify(fields)).toBe(400);
      const html = await response.text();
      expect(html).toContain('id="problems"');
      expect(html).toContain('Nothing was created.');
    }
    const oauth = getOAuthApi(providerOptions(loadConfig(at.env), ORIGIN), at.env);
    let cursor: string | undefined;
    do {
      const listed = await oauth.listClients({ cursor, limit: 1000 });
      expect(listed.items.some((client) => client.clientName === name)).toBe(false);
      cursor = listed.cursor;
    } while (cursor);
  });

  it('switches dynamic registration off (POST /register: 403 access_denied) and on again (201), without a deploy', async () => {
    const at = consoleWorker();
    const alice = await signIn(at, 'alice');
    try {
      const before = await page(at, alice, '/admin/console/registration');
      expect(part(before, 'id="registration-state"', '</p>')).toContain('<strong>on</strong>');
      const off = await post(at, alice, '/admin/console/registration', { csrf: csrfOf(before), open: 'off' });
      expect(off.status).toBe(303);
      expect(off.headers.get('Location')).toBe('/admin/console/registration?notice=registration-off');
      const refused = await workerWithEnv(at.env, '/register', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ client_name: 'Late', redirect_uris: [CALLBACK] }) });
      expect(refused.status).toBe(403);
      expect(await refused.json()).toEqual({ error: 'access_denied', error_description: expect.stringContaining('switched off') });
      expect(part(await page(at, alice, '/admin/console/registration'), 'id="registration-state"', '</p>')).toContain('<strong>off</strong>');
      // Discovery stops offering it (RFC 8414 §2), so a client knows before it tries.
      const metadataOff = await workerWithEnv(at.env, '/.well-known/oauth-authorization-server');
      expect(metadataOff.status).toBe(200);
      const offered = await metadataOff.json<Record<string, unknown>>();
      expect(offered).not.toHaveProperty('registration_endpoint');
      expect(offered.token_endpoint).toBe(`${ORIGIN}/token`);
      // The switch is a record in this Worker's OAUTH_KV (here the scratch namespace): the default namespace still registers.
      expect((await workerWithEnv(at.idp.env, '/register', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ client_name: 'Elsewhere', redirect_uris: [CALLBACK] }) })).status).toBe(201);

      const on = await post(at, alice, '/admin/console/registration', { csrf: csrfOf(before), open: 'on' });
      expect(on.status).toBe(303);
      expect(await (await workerWithEnv(at.env, '/.well-known/oauth-authorization-server')).json()).toMatchObject({ registration_endpoint: `${ORIGIN}/register` });
      await register(at);
      // A value other than on or off changes nothing.
      expect((await post(at, alice, '/admin/console/registration', { csrf: csrfOf(before), open: 'maybe' })).status).toBe(400);
      expect(await CONSOLE_KV.get(REGISTRATION_SWITCH_KEY)).toBeNull();
      // Both switches are in the audit trail, with the administrator who made them.
      const switched = await auditLines('type=admin.action', (lines) => ['registration_closed', 'registration_opened'].every((reason) => lines.some((line) => line.reason === reason)));
      for (const reason of ['registration_closed', 'registration_opened']) {
        expect(switched.find((line) => line.reason === reason)).toMatchObject({ outcome: 'ok', email: 'alice@example.com', actor: expect.stringMatching(/^oidc-/) });
      }
    } finally {
      await CONSOLE_KV.delete(REGISTRATION_SWITCH_KEY);
    }
  });

  it('refuses a form without the page’s token, from another session, from another site, without a session, or too large; nothing changes', async () => {
    const at = consoleWorker();
    const alice = await signIn(at, 'alice');
    const user = freshUser();
    const token = await tokensFor(at, await register(at), user);
    const path = `/admin/console/users/${user}/grants/${grantOf(token)}/revoke`;
    const csrf = csrfOf(await page(at, alice, path));
    const otherSession = await signIn(at, 'alice');
    const otherCsrf = csrfOf(await page(at, otherSession, '/admin'));

    expect((await post(at, alice, path, {})).status).toBe(403);
    expect((await post(at, alice, path, { csrf: otherCsrf })).status).toBe(403);
    expect((await post(at, alice, path, { csrf }, { Origin: 'https://evil.example' })).status).toBe(403);
    expect((await post(at, alice, path, { csrf }, { Origin: 'null' })).status).toBe(403);
    expect((await post(at, '', path, { csrf })).status).toBe(401);
    expect((await post(at, alice, path, { csrf }, { 'Content-Type': 'text/plain' })).status).toBe(415);
    expect((await post(at, alice, path, { csrf, pad: 'x'.repeat(20_000) })).status).toBe(413);
    expect((await post(at, alice, `/admin/console/users/${user}/grants/..%2F..%2Fx/revoke`, { csrf })).status).toBe(404);
    expect((await post(at, alice, `/admin/console/users/a%3Ab/grants/${grantOf(token)}/revoke`, { csrf })).status).toBe(404);
    expect(await mcpStatus(at, token)).toBe(200);
  });

  it('signs out: the session cookie is cleared', async () => {
    const at = consoleWorker();
    const alice = await signIn(at, 'alice');
    const response = await post(at, alice, '/admin/console/sign-out', { csrf: csrfOf(await page(at, alice, '/admin')) });
    expect(response.status).toBe(200);
    expect(response.headers.getSetCookie().find((value) => value.startsWith('__Host-web-session='))).toMatch(/^__Host-web-session=; Max-Age=0/);
  });
});
