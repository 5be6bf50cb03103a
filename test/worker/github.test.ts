/**
 * Sign-in through GitHub (OAuth 2.0, not OIDC), against a double of GitHub that follows its
 * documented behaviour (fixtures/github.ts, served by the test's outbound network). This test plays
 * the browser: it carries the cookies and follows the redirects.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { GITHUB_API, GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET, GITHUB_WEB } from './fixtures/github.ts';
import { cookieFrom, McpWire, pkcePair, registerClient, tokenRequest, workerWithEnv, type RegisteredClient } from './helpers';

function githubEnv(extra: Record<string, string> = {}): Env {
  return { ...env, UPSTREAM: 'github', GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET, GITHUB_BASE_URL: GITHUB_WEB, GITHUB_API_URL: GITHUB_API, ...extra } as unknown as Env;
}

/** Consent, then GitHub (as `login`), then /callback: returns where the browser is finally sent. */
async function signIn(variant: Env, client: RegisteredClient, challenge: string, login: string): Promise<URL> {
  const query = new URLSearchParams({ response_type: 'code', client_id: client.client_id, redirect_uri: client.redirect_uris[0] as string, state: 'st', code_challenge: challenge, code_challenge_method: 'S256' });
  const page = await workerWithEnv(variant, `/authorize?${query}`);
  expect(page.status).toBe(200);
  const html = await page.text();
  const form = new URLSearchParams({ handle: /name="handle" value="([^"]+)"/.exec(html)?.[1] ?? '', shown: /name="shown" value="([^"]+)"/.exec(html)?.[1] ?? '', decision: 'approve' });
  for (const scope of ['profile', 'notes:read', 'notes:write']) form.append('scope', scope);
  const approved = await workerWithEnv(variant, '/authorize', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: cookieFrom(page) },
    body: form.toString(),
  });
  expect(approved.status).toBe(302);
  const toGithub = new URL(approved.headers.get('Location') as string);
  expect(`${toGithub.origin}${toGithub.pathname}`).toBe(`${GITHUB_WEB}/login/oauth/authorize`);
  expect(toGithub.searchParams.get('client_id')).toBe(GITHUB_CLIENT_ID);
  expect(toGithub.searchParams.get('code_challenge_method')).toBe('S256');
  expect(toGithub.searchParams.get('scope')).toBe(Reflect.get(variant, 'ALLOWED_GITHUB_ORGS') ? 'read:user user:email read:org' : 'read:user user:email');
  toGithub.searchParams.set('login', login); // who is signed in at the GitHub double
  const back = await fetch(toGithub, { redirect: 'manual' });
  const callback = new URL(back.headers.get('Location') as string);
  const done = await workerWithEnv(variant, `${callback.pathname}${callback.search}`, { headers: { Cookie: liveCookies(approved) } });
  expect(done.status).toBe(302);
  return new URL(done.headers.get('Location') as string);
}

/** Every cookie a response sets and does not expire, as a browser would send them back. */
function liveCookies(response: Response): string {
  return response.headers
    .getSetCookie()
    .filter((cookie) => !/max-age=0\b/i.test(cookie))
    .map((cookie) => cookie.split(';')[0])
    .join('; ');
}

describe('GitHub sign-in', () => {
  it('signs a GitHub user in and mints our own token for them', async () => {
    const variant = githubEnv();
    const client = await registerClient();
    const { verifier, challenge } = await pkcePair();
    const redirect = await signIn(variant, client, challenge, 'octocat');
    const code = redirect.searchParams.get('code');
    expect(code).toEqual(expect.any(String));
    const exchanged = await tokenRequest(client, { grant_type: 'authorization_code', code: code as string, redirect_uri: client.redirect_uris[0] as string, code_verifier: verifier });
    const tokens = await exchanged.json<{ access_token: string }>();
    expect(tokens.access_token).not.toMatch(/^gho_/);
    const wire = new McpWire(tokens.access_token);
    await wire.initialize();
    const whoami = await wire.callTool('whoami');
    expect(whoami.message?.result?.structuredContent).toMatchObject({ userId: 'github-583231', upstream: 'github', login: 'octocat', email: 'octocat@github.test', name: 'The Octocat' });
  });

  it('admits members of an allowed organisation and refuses others', async () => {
    const variant = githubEnv({ ALLOWED_GITHUB_ORGS: 'acme' });
    const client = await registerClient();
    const { challenge } = await pkcePair();
    expect((await signIn(variant, client, challenge, 'octocat')).searchParams.has('code')).toBe(true);
    const refused = await signIn(variant, client, challenge, 'hubot');
    expect(refused.searchParams.get('error')).toBe('access_denied');
    expect(refused.searchParams.get('state')).toBe('st');
  });

  it('admits an allowed login, and counts only verified emails', async () => {
    const client = await registerClient();
    const { challenge } = await pkcePair();
    expect((await signIn(githubEnv({ ALLOWED_GITHUB_LOGINS: 'hubot' }), client, challenge, 'hubot')).searchParams.has('code')).toBe(true);
    // hubot's only email is unverified, so an email allowlist naming it does not admit hubot.
    const byEmail = await signIn(githubEnv({ ALLOWED_EMAILS: 'hubot@github.test' }), client, challenge, 'hubot');
    expect(byEmail.searchParams.get('error')).toBe('access_denied');
  });

  it('sends the client server_error, not a 500, when GitHub refuses the code exchange', async () => {
    const variant = githubEnv({ GITHUB_CLIENT_SECRET: 'wrong-secret' });
    const client = await registerClient();
    const { challenge } = await pkcePair();
    const redirect = await signIn(variant, client, challenge, 'octocat');
    expect(redirect.searchParams.get('error')).toBe('server_error');
    expect(redirect.searchParams.get('error_description')).toBe('GitHub refused the sign-in. Please start again.');
  });
});
