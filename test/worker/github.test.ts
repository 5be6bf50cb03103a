/**
 * Sign-in through GitHub (OAuth 2.0, not OIDC), against a double of GitHub that follows its
 * documented behaviour (fixtures/github.ts, served by the test's outbound network). This test plays
 * the browser: it carries the cookies and follows the redirects.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it, vi } from 'vitest';
import { createGithubAdapter, nextPageLink } from '../../src/upstream/github';
import { UPSTREAM_TIMEOUT_MS, UpstreamError } from '../../src/upstream/types';
import { GITHUB_API, GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET, GITHUB_WEB, ORG_ON_PAGE_2 } from './fixtures/github.ts';
import { cookieFrom, liveCookies, McpWire, pkcePair, registerClient, tokenRequest, workerWithEnv, type RegisteredClient } from './helpers';

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
  // read:org exactly when an organisation is named: by the sign-in allowlist or by a SCOPE_POLICY rule.
  const namesOrgs = Boolean(Reflect.get(variant, 'ALLOWED_GITHUB_ORGS')) || String(Reflect.get(variant, 'SCOPE_POLICY') ?? '').includes('github-org:');
  expect(toGithub.searchParams.get('scope')).toBe(namesOrgs ? 'read:user user:email read:org' : 'read:user user:email');
  toGithub.searchParams.set('login', login); // who is signed in at the GitHub double
  const back = await fetch(toGithub, { redirect: 'manual' });
  const callback = new URL(back.headers.get('Location') as string);
  const done = await workerWithEnv(variant, `${callback.pathname}${callback.search}`, { headers: { Cookie: liveCookies(approved) } });
  expect(done.status).toBe(302);
  return new URL(done.headers.get('Location') as string);
}

/** Signs `login` in with every scope ticked and returns the scopes our token was granted. */
async function grantedScopes(variant: Env, login: string): Promise<string[]> {
  const client = await registerClient();
  const { verifier, challenge } = await pkcePair();
  const redirect = await signIn(variant, client, challenge, login);
  const code = redirect.searchParams.get('code');
  if (!code) throw new Error(`no code for ${login}: ${redirect.href}`);
  const exchanged = await tokenRequest(client, { grant_type: 'authorization_code', code, redirect_uri: client.redirect_uris[0] as string, code_verifier: verifier });
  expect(exchanged.status).toBe(200);
  return (await exchanged.json<{ scope: string }>()).scope.split(' ').sort();
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

  it('admits a member of an allowed organisation that only the second page of /user/orgs lists', async () => {
    const variant = githubEnv({ ALLOWED_GITHUB_ORGS: ORG_ON_PAGE_2 });
    const client = await registerClient();
    const { challenge } = await pkcePair();
    expect((await signIn(variant, client, challenge, 'monalisa')).searchParams.has('code')).toBe(true);
    expect((await signIn(variant, client, challenge, 'octocat')).searchParams.get('error')).toBe('access_denied');
  });

  it('asks for read:org when only SCOPE_POLICY names an organisation, and grants its scope to a member listed on page 2', async () => {
    // No ALLOWED_GITHUB_ORGS: the github-org: rule alone must make sign-in ask for read:org and read every page.
    const variant = githubEnv({ SCOPE_POLICY: JSON.stringify({ 'notes:write': [`github-org:${ORG_ON_PAGE_2}`] }) });
    expect(await grantedScopes(variant, 'monalisa')).toEqual(['notes:read', 'notes:write', 'profile']);
    expect(await grantedScopes(variant, 'octocat')).toEqual(['notes:read', 'profile']);
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

/**
 * The adapter alone, against a scripted GitHub: what the double, which follows GitHub's documented
 * behaviour, never does (a next link elsewhere, endless pages), and the deadline on every request.
 */
describe('the GitHub adapter', () => {
  const config = { kind: 'github', clientId: 'client', clientSecret: 'secret', webUrl: 'https://github.example', apiUrl: 'https://api.github.example', extraScopes: [] as string[] } as const;
  const callback = new URL('https://mcp.example/callback?code=the-code&state=the-state');

  /** A GitHub whose /user/orgs pages are `pages(n)`: the orgs and the Link header of page n. */
  function scriptedGithub(pages: (n: number) => { orgs: string[]; link?: string }) {
    const requests: Array<{ url: string; signal: AbortSignal | null | undefined }> = [];
    const fetchImpl = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      requests.push({ url: url.href, signal: init?.signal });
      if (url.href === 'https://github.example/login/oauth/access_token') return Response.json({ access_token: 'gho_token', token_type: 'bearer', scope: 'read:org' });
      if (url.origin !== 'https://api.github.example') return new Response('not GitHub', { status: 500 });
      if (url.pathname === '/user') return Response.json({ id: 7, login: 'someone', name: null, email: null });
      if (url.pathname === '/user/emails') return Response.json([]);
      if (url.pathname === '/user/orgs') {
        const { orgs, link } = pages(Number(url.searchParams.get('page') ?? 1));
        return Response.json(orgs.map((login) => ({ login })), { headers: link ? { Link: link } : {} });
      }
      return new Response('not found', { status: 404 });
    }) as typeof fetch;
    return { fetchImpl, requests };
  }

  it('reads the rel="next" target of a Link header', () => {
    expect(nextPageLink('<https://api.github.com/user/orgs?page=2>; rel="next", <https://api.github.com/user/orgs?page=5>; rel="last"')).toBe('https://api.github.com/user/orgs?page=2');
    expect(nextPageLink('<https://a.example/1>; rel="prev", <https://a.example/3>; rel=next')).toBe('https://a.example/3');
    expect(nextPageLink('<https://a.example/1>; rel="prev", <https://a.example/9>; rel="last"')).toBeUndefined();
    expect(nextPageLink(null)).toBeUndefined();
  });

  it('follows rel="next" for at most 10 pages (1,000 organisations), then stops and logs it', async () => {
    const next = (n: number) => `<https://api.github.example/user/orgs?per_page=100&page=${n + 1}>; rel="next"`;
    const { fetchImpl, requests } = scriptedGithub((n) => ({ orgs: [`org-${n}`], link: next(n) }));
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const identity = await createGithubAdapter(config, { needOrgs: true }, fetchImpl).finish(callback, 'the-state', { codeVerifier: 'v'.repeat(43) }, 'https://mcp.example/callback');
      expect(identity.orgs).toEqual(Array.from({ length: 10 }, (_, index) => `org-${index + 1}`));
      expect(requests.filter(({ url }) => url.includes('/user/orgs')).map(({ url }) => url)).toEqual([
        'https://api.github.example/user/orgs?per_page=100',
        ...Array.from({ length: 9 }, (_, index) => `https://api.github.example/user/orgs?per_page=100&page=${index + 2}`),
      ]);
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('github_orgs_truncated'));
    } finally {
      warn.mockRestore();
    }
  });

  it('refuses a rel="next" that leaves the API base URL: the token is never sent there', async () => {
    const { fetchImpl, requests } = scriptedGithub(() => ({ orgs: ['acme'], link: '<https://collector.example/user/orgs?page=2>; rel="next"' }));
    const finishing = createGithubAdapter(config, { needOrgs: true }, fetchImpl).finish(callback, 'the-state', { codeVerifier: 'v'.repeat(43) }, 'https://mcp.example/callback');
    await expect(finishing).rejects.toBeInstanceOf(UpstreamError);
    await expect(finishing).rejects.toMatchObject({ reason: 'invalid_response' });
    expect(requests.map(({ url }) => new URL(url).origin)).not.toContain('https://collector.example');
  });

  it(`gives every request to GitHub a deadline (${UPSTREAM_TIMEOUT_MS / 1000} s)`, async () => {
    const { fetchImpl, requests } = scriptedGithub((n) => ({ orgs: [`org-${n}`], link: n < 2 ? `<https://api.github.example/user/orgs?per_page=100&page=${n + 1}>; rel="next"` : undefined }));
    await createGithubAdapter(config, { needOrgs: true }, fetchImpl).finish(callback, 'the-state', { codeVerifier: 'v'.repeat(43) }, 'https://mcp.example/callback');
    // The token request, /user, /user/emails and both pages of /user/orgs.
    expect(requests).toHaveLength(5);
    for (const { url, signal } of requests) expect(signal, url).toBeInstanceOf(AbortSignal);
  });

  it('reports a GitHub that does not answer in time as unavailable, not as a crash', async () => {
    const fetchImpl = (async () => {
      throw new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    }) as typeof fetch;
    await expect(
      createGithubAdapter(config, { needOrgs: false }, fetchImpl).finish(callback, 'the-state', { codeVerifier: 'v'.repeat(43) }, 'https://mcp.example/callback'),
    ).rejects.toMatchObject({ reason: 'upstream_unavailable' });
  });
});
