/**
 * The upstream token vault (UPSTREAM_TOKENS): tools that act as the user upstream, against the real
 * dev OIDC IdP and the GitHub double. A full sign-in each time: consent, the IdP, /callback, the
 * code exchange; then MCP calls, and what the vault stored, read straight from its Durable Object.
 */
import { env, runInDurableObject } from 'cloudflare:test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { UpstreamTokenVault } from '../../src/upstream/vault';
import { missingUpstreamScope } from '../../src/upstream/api';
import { DevIdp } from './dev-idp';
import { GITHUB_API, GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET, GITHUB_WEB } from './fixtures/github.ts';
import { CALLBACK, McpWire, pkcePair, registerClient, tokenRequest, workerWithEnv, type RegisteredClient, type TokenResponse } from './helpers';

afterEach(() => {
  vi.restoreAllMocks();
});

/** Every cookie a response sets and does not expire, as a browser sends them back. */
function liveCookies(response: Response): string {
  return response.headers
    .getSetCookie()
    .filter((cookie) => !/max-age=0\b/i.test(cookie))
    .map((cookie) => cookie.split(';')[0])
    .join('; ');
}

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
    expect((await metadata.json<{ scopes_supported: string[] }>()).scopes_supported).toEqual(['profile', 'notes:read', 'notes:write', 'github:profile', 'github:repos']);
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

describe('missingUpstreamScope', () => {
  it('reads RFC 6750 insufficient_scope challenges', () => {
    const response = new Response(null, { status: 403, headers: { 'WWW-Authenticate': 'Bearer error="insufficient_scope", scope="openid groups"' } });
    expect(missingUpstreamScope(response, ['openid', 'email'])).toBe('groups');
  });

  it('reads GitHub\'s X-Accepted-OAuth-Scopes against X-OAuth-Scopes, with GitHub\'s scope hierarchy', () => {
    const refused = new Response(null, { status: 403, headers: { 'X-Accepted-OAuth-Scopes': 'read:org', 'X-OAuth-Scopes': 'read:user, user:email' } });
    expect(missingUpstreamScope(refused, undefined)).toBe('read:org');
    const implied = new Response(null, { status: 403, headers: { 'X-Accepted-OAuth-Scopes': 'read:org', 'X-OAuth-Scopes': 'admin:org' } });
    expect(missingUpstreamScope(implied, undefined)).toBeUndefined();
  });

  it('says nothing of an answer that does not name a missing scope', () => {
    expect(missingUpstreamScope(new Response(null, { status: 403 }), ['repo'])).toBeUndefined();
    expect(missingUpstreamScope(new Response(null, { status: 200, headers: { 'X-Accepted-OAuth-Scopes': 'repo', 'X-OAuth-Scopes': '' } }), [])).toBeUndefined();
  });
});

