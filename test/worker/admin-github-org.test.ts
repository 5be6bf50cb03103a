/**
 * The admin console admitting people by GitHub organisation (ADMIN_GITHUB_ORGS), end to end: sign-in
 * at /admin through the double of GitHub (fixtures/github.ts, which follows GitHub's documented
 * behaviour: `/user/orgs` answers only a token granted `read:org`), then the console's pages and
 * actions. src/admin/admin-policy.test.ts proves the rule itself; this proves the sign-in asks GitHub
 * for what the rule needs and that the session carries it to every request.
 *
 * Like test/worker/admin-console.test.ts, the Worker runs on the scratch namespace (consistency layer
 * off): the console lists whole namespaces, and other suites share this storage.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { GITHUB_API, GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET, GITHUB_WEB } from './fixtures/github.ts';
import { CALLBACK, ORIGIN, workerWithEnv } from './helpers';

/** The console's OAUTH_KV: a namespace of its own (vitest.config.ts), holding only what the provider writes. */
const CONSOLE_KV = Reflect.get(env, 'CONSOLE_KV') as KVNamespace;

/** UPSTREAM=github against the double, with `vars` (the admin rule) on top. */
function githubConsole(vars: Record<string, string>): Env {
  return { ...env, UPSTREAM: 'github', GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET, GITHUB_BASE_URL: GITHUB_WEB, GITHUB_API_URL: GITHUB_API, OAUTH_KV: CONSOLE_KV, CONSISTENCY_LAYER: 'off', ...vars } as unknown as Env;
}

/** The console's pages (GET) and actions (POST), with ids that need not exist: refusal comes before any lookup. */
const CONSOLE_PAGES = ['/admin', '/admin/console/users', '/admin/console/users/github-1', '/admin/console/user?id=github-1', '/admin/console/audit', '/admin/console/registration', '/admin/console/clients/new', '/admin/console/clients/abc/delete', '/admin/console/users/github-1/grants/g1/revoke', '/admin/console/users/github-1/revoke-all'];
const CONSOLE_ACTIONS = ['/admin/console/clients', '/admin/console/clients/abc/delete', '/admin/console/users/github-1/grants/g1/revoke', '/admin/console/users/github-1/revoke-all', '/admin/console/registration', '/admin/console/sign-out'];

function cookieNamed(response: Response, name: string): string {
  const cookie = response.headers
    .getSetCookie()
    .map((line) => line.split(';')[0] ?? '')
    .find((line) => line.startsWith(`${name}=`) && line.length > name.length + 1);
  if (!cookie) throw new Error(`no ${name} cookie on a ${response.status} response`);
  return cookie;
}

interface SignedIn {
  /** The `__Host-web-session` cookie, as the browser sends it back. */
  cookie: string;
  /** Where /admin sent the browser: GitHub's authorize URL. */
  authorize: URL;
}

/** GET /admin, GitHub (signed in there as `login`), back at /callback and on to /admin. */
async function signIn(variant: Env, login: string): Promise<SignedIn> {
  const start = await workerWithEnv(variant, '/admin');
  expect(start.status).toBe(302);
  const authorize = new URL(start.headers.get('Location') ?? '');
  expect(`${authorize.origin}${authorize.pathname}`).toBe(`${GITHUB_WEB}/login/oauth/authorize`);
  const atGithub = new URL(authorize);
  atGithub.searchParams.set('login', login); // who is signed in at the GitHub double
  const back = await fetch(atGithub, { redirect: 'manual' });
  const callback = new URL(back.headers.get('Location') ?? '');
  expect(callback.origin).toBe(ORIGIN);
  const done = await workerWithEnv(variant, `${callback.pathname}${callback.search}`, { headers: { Cookie: cookieNamed(start, '__Host-web-sign-in') } });
  expect(done.status).toBe(303);
  expect(done.headers.get('Location')).toBe('/admin');
  return { cookie: cookieNamed(done, '__Host-web-session'), authorize };
}

function get(variant: Env, cookie: string, path: string): Promise<Response> {
  return workerWithEnv(variant, path, { headers: { Cookie: cookie } });
}

describe('admin console by GitHub organisation (ADMIN_GITHUB_ORGS)', () => {
  const acme = githubConsole({ ADMIN_GITHUB_ORGS: 'acme' });

  it('asks GitHub for read:org, so the organisations can be read at all', async () => {
    const { authorize } = await signIn(acme, 'octocat');
    expect(authorize.searchParams.get('client_id')).toBe(GITHUB_CLIENT_ID);
    expect(authorize.searchParams.get('scope')?.split(' ')).toContain('read:org');
  });

  it('admits octocat, a member of acme, to every page of the console', async () => {
    const { cookie } = await signIn(acme, 'octocat');
    const home = await get(acme, cookie, '/admin');
    expect(home.status).toBe(200);
    expect(await home.text()).toContain('octocat@github.test'); // the console names who is signed in
    for (const path of ['/admin/console/users', '/admin/console/audit', '/admin/console/registration', '/admin/console/clients/new']) {
      expect((await get(acme, cookie, path)).status, path).toBe(200);
    }
  });

  it('refuses hubot, in no organisation, with 403 on every page and action, a valid form token too', async () => {
    const { cookie } = await signIn(acme, 'hubot');
    // The session is good for /account, whose CSRF token is the session's.
    const account = await get(acme, cookie, '/account');
    expect(account.status).toBe(200);
    const csrf = /name="csrf" value="([^"]+)"/.exec(await account.text())?.[1] ?? '';
    expect(csrf).not.toBe('');
    for (const path of CONSOLE_PAGES) {
      const response = await get(acme, cookie, path);
      expect(response.status, path).toBe(403);
      expect(await response.text(), path).toContain('Not an administrator');
    }
    for (const path of CONSOLE_ACTIONS) {
      const response = await workerWithEnv(acme, path, {
        method: 'POST',
        headers: { Cookie: cookie, 'Content-Type': 'application/x-www-form-urlencoded', Origin: ORIGIN },
        body: new URLSearchParams({ csrf, open: 'off', client_name: 'x', redirect_uris: CALLBACK }).toString(),
      });
      expect(response.status, path).toBe(403);
    }
  });

  it('admits by the organisation the rule names, not by membership of any', async () => {
    const other = githubConsole({ ADMIN_GITHUB_ORGS: 'other-org' });
    const { cookie } = await signIn(other, 'octocat');
    expect((await get(other, cookie, '/admin')).status).toBe(403);
  });
});
