/**
 * Refresh-token reuse detection (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2), through the Worker's real
 * /token and, where time must pass or the Worker's own screening would hide the case, through the
 * provider `createProvider` builds, called directly with an injected clock.
 *
 * Every test uses a client (and user) of its own: files share storage.
 */
import { createExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { GrantProps } from '../../src/auth/props';
import { loadConfig } from '../../src/config';
import { createProvider } from '../../src/provider';
import { providerEnv } from '../../src/storage/oauth-kv';
import { McpWire } from '../support/mcp-wire';
import { ALICE, authorizationCode, basicAuth, CALLBACK, ORIGIN, pkcePair, workerFetch, type RegisteredClient, type TokenResponse } from './helpers';

const SCOPES = ['profile', 'notes:read', 'notes:write'];

type Send = (request: Request) => Promise<Response>;

/**
 * Every request from a made-up address of its own, so the Worker's per-address rate limits (10
 * registrations a minute) see a crowd, not this file.
 */
function fromSomewhere(request: Request): Request {
  const [a, b] = crypto.getRandomValues(new Uint8Array(2));
  const headers = new Headers(request.headers);
  headers.set('CF-Connecting-IP', `198.18.${a}.${b}`);
  return new Request(request, { headers });
}

const viaWorker: Send = (request) => workerFetch(fromSomewhere(request));

async function registerClient(metadata: Record<string, unknown> = {}): Promise<RegisteredClient> {
  const response = await viaWorker(
    new Request(new URL('/register', ORIGIN), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ client_name: 'Reuse test client', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'client_secret_basic', ...metadata }),
    }),
  );
  expect(response.status, await response.clone().text()).toBe(201);
  return response.json<RegisteredClient>();
}

function user(): GrantProps {
  return { ...ALICE, userId: `reuse-${crypto.randomUUID()}` };
}

function publicClient(): Promise<RegisteredClient> {
  return registerClient({ token_endpoint_auth_method: 'none', redirect_uris: [CALLBACK] });
}

/** A token request as `client` sends it: HTTP Basic for a confidential client, `client_id` in the body for a public one. */
function tokenRequest(client: RegisteredClient, params: Record<string, string>): Request {
  const headers: Record<string, string> = { 'Content-Type': 'application/x-www-form-urlencoded' };
  const body = new URLSearchParams(params);
  if (client.client_secret) headers.Authorization = basicAuth(client);
  else body.set('client_id', client.client_id);
  return new Request(new URL('/token', ORIGIN), { method: 'POST', headers, body: body.toString() });
}

/** Code exchange for a fresh grant of `client`. */
async function grant(client: RegisteredClient, who: GrantProps = user()): Promise<TokenResponse> {
  const { verifier, challenge } = await pkcePair();
  const code = await authorizationCode(client, who, SCOPES, challenge);
  const response = await viaWorker(tokenRequest(client, { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier }));
  expect(response.status).toBe(200);
  return response.json<TokenResponse>();
}

function refresh(client: RegisteredClient, refreshToken: string, send: Send = viaWorker): Promise<Response> {
  return send(tokenRequest(client, { grant_type: 'refresh_token', refresh_token: refreshToken }));
}

async function refreshed(client: RegisteredClient, refreshToken: string, send: Send = viaWorker): Promise<TokenResponse> {
  const response = await refresh(client, refreshToken, send);
  expect(response.status, await response.clone().text()).toBe(200);
  return response.json<TokenResponse>();
}

async function expectInvalidGrant(response: Response): Promise<void> {
  expect(response.status).toBe(400);
  expect(response.headers.get('Content-Type')).toMatch(/^application\/json/);
  expect(response.headers.get('Cache-Control')).toBe('no-store');
  const body = await response.json<Record<string, unknown>>();
  expect(body.error).toBe('invalid_grant');
  expect(body).not.toHaveProperty('access_token');
}

/** The status /mcp answers an initialize carrying `accessToken`. */
async function mcpStatus(accessToken: string): Promise<number> {
  const response = await new McpWire(new URL('/mcp', ORIGIN).href, accessToken, viaWorker).initialize();
  await response.body?.cancel();
  return response.status;
}

/** The whole grant is gone: every refresh token `invalid_grant`, every access token 401 on /mcp. */
async function expectRevoked(client: RegisteredClient, sets: TokenResponse[]): Promise<void> {
  for (const set of sets) {
    await expectInvalidGrant(await refresh(client, set.refresh_token));
    expect(await mcpStatus(set.access_token)).toBe(401);
  }
}

/** The provider `createProvider` builds, called directly: with an injected clock, and without the Worker's screening. */
function directProvider(now: () => number, graceSeconds?: number): Send {
  const config = loadConfig(env);
  const provider = createProvider(config, ORIGIN, { refreshReuse: { now, graceSeconds } });
  // As the Worker hands it over: OAUTH_KV behind the consistency layer, an own slot for the provider's helpers.
  const providerView = Object.create(providerEnv(env, config), { OAUTH_PROVIDER: { value: undefined, writable: true } }) as Env;
  return (request) => provider.fetch(request, providerView, createExecutionContext());
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('refresh token rotation in normal use', () => {
  it('keeps the current refresh token working across many rotations, and a token rotated out long ago revokes the grant', async () => {
    const client = await publicClient();
    const first = await grant(client);
    const sets = [first];
    for (let i = 0; i < 8; i++) sets.push(await refreshed(client, sets[sets.length - 1]!.refresh_token));
    const current = sets[sets.length - 1]!;
    expect(await mcpStatus(current.access_token)).toBe(200);
    // Seven rotations old: the library has forgotten it and would only say invalid_grant.
    await expectInvalidGrant(await refresh(client, first.refresh_token));
    await expectRevoked(client, [current]);
  });
});

describe('a rotated-out refresh token presented again', () => {
  it.each([
    ['public', publicClient],
    ['confidential', () => registerClient()],
  ])('revokes the whole grant once the newer token was used (%s client)', async (_kind, register) => {
    const client = await register();
    const rt0 = await grant(client);
    const rt1 = await refreshed(client, rt0.refresh_token);
    const rt2 = await refreshed(client, rt1.refresh_token);
    const warn = vi.spyOn(console, 'warn');

    await expectInvalidGrant(await refresh(client, rt0.refresh_token));
    await expectRevoked(client, [rt2, rt1, rt0]);

    const lines = warn.mock.calls.map((call) => String(call[0])).filter((line) => line.includes('"event":"refresh_token_reuse"'));
    expect(lines).toHaveLength(1);
    const event = JSON.parse(lines[0]!) as Record<string, unknown>;
    const [userId, grantId] = rt0.refresh_token.split(':');
    expect(event).toMatchObject({ event: 'refresh_token_reuse', clientId: client.client_id, userId, grantId });
    for (const set of [rt0, rt1, rt2]) {
      expect(lines[0]).not.toContain(set.refresh_token.split(':')[2]);
      expect(lines[0]).not.toContain(set.access_token.split(':')[2]);
    }
  });

  it.each([
    ['public', publicClient],
    ['confidential', () => registerClient()],
  ])('accepts the previous token once within the grace (a lost response), and revokes on the second replay (%s client)', async (_kind, register) => {
    const client = await register();
    const rt0 = await grant(client);
    const lost = await refreshed(client, rt0.refresh_token);
    // The response carrying `lost` never arrived; the client retries with what it has.
    const retried = await refreshed(client, rt0.refresh_token);
    expect(retried.refresh_token).not.toBe(lost.refresh_token);
    expect(await mcpStatus(retried.access_token)).toBe(200);

    await expectInvalidGrant(await refresh(client, rt0.refresh_token));
    await expectRevoked(client, [retried, lost]);
  });

  it('lets the retried response carry on in normal use after a lost response', async () => {
    const client = await publicClient();
    const rt0 = await grant(client);
    await refreshed(client, rt0.refresh_token); // lost
    let current = await refreshed(client, rt0.refresh_token);
    for (let i = 0; i < 3; i++) current = await refreshed(client, current.refresh_token);
    expect(await mcpStatus(current.access_token)).toBe(200);
    // The retry consumed the grace: the original token is now a reuse.
    await expectInvalidGrant(await refresh(client, rt0.refresh_token));
    await expectRevoked(client, [current]);
  });

  it('revokes the grant when the client revokes (RFC 7009) the unused token of a lost response', async () => {
    const client = await publicClient();
    const rt0 = await grant(client);
    const lost = await refreshed(client, rt0.refresh_token);
    const retried = await refreshed(client, rt0.refresh_token);
    const revocation = await viaWorker(tokenRequest(client, { token: lost.refresh_token, token_type_hint: 'refresh_token' }));
    expect(revocation.status).toBe(200);
    await expectRevoked(client, [retried, lost]);
  });

  it('revokes when the token a grace replay rotated out is then presented (the other party holds it)', async () => {
    const client = await publicClient();
    const rt0 = await grant(client);
    const legitimate = await refreshed(client, rt0.refresh_token);
    const replayed = await refreshed(client, rt0.refresh_token); // an attacker with rt0, within the grace
    // Whoever uses their token first keeps the grant; the other one's use is the reuse.
    const next = await refreshed(client, replayed.refresh_token);
    await expectInvalidGrant(await refresh(client, legitimate.refresh_token));
    await expectRevoked(client, [next, replayed]);
  });

  it('does not revoke for a token presented by another client, nor for a confidential client that fails to authenticate', async () => {
    const client = await registerClient();
    const rt0 = await grant(client);
    const rt1 = await refreshed(client, rt0.refresh_token);
    const rt2 = await refreshed(client, rt1.refresh_token);

    const other = await registerClient();
    await expectInvalidGrant(await refresh(other, rt0.refresh_token));
    const impostor = await refresh({ ...client, client_secret: 'not-the-secret' }, rt0.refresh_token);
    expect(impostor.status).toBe(401);
    expect(await impostor.json()).toMatchObject({ error: 'invalid_client' });
    expect(await mcpStatus(rt2.access_token)).toBe(200);

    // The grant's own, authenticated client presenting it: that is the reuse.
    await expectInvalidGrant(await refresh(client, rt0.refresh_token));
    await expectRevoked(client, [rt2]);
  });
});

describe('the grace in time', () => {
  it('accepts the previous token within the grace and revokes the grant after it (injected clock, real provider and storage)', async () => {
    let clock = Date.now();
    const direct = directProvider(() => clock);

    const within = await publicClient();
    const a0 = await grant(within);
    await refreshed(within, a0.refresh_token, direct);
    clock += 59_000;
    const a1 = await refreshed(within, a0.refresh_token, direct);
    expect(await mcpStatus(a1.access_token)).toBe(200);

    const after = await publicClient();
    const b0 = await grant(after);
    const b1 = await refreshed(after, b0.refresh_token, direct);
    clock += 61_000;
    await expectInvalidGrant(await refresh(after, b0.refresh_token, direct));
    // Seen through the Worker: the newer token and every access token are dead.
    await expectRevoked(after, [b1, b0]);
  });

  it('with the grace set to 0, revokes on any presentation of the previous token', async () => {
    const direct = directProvider(Date.now, 0);
    const client = await publicClient();
    const rt0 = await grant(client);
    const rt1 = await refreshed(client, rt0.refresh_token, direct);
    await expectInvalidGrant(await refresh(client, rt0.refresh_token, direct));
    await expectRevoked(client, [rt1]);
  });
});

describe('two refreshes racing with the same current token', () => {
  /** Races two refreshes of a fresh grant's current token; the client then carries on with response `kept`. */
  async function race(kept: 0 | 1): Promise<void> {
    const client = await publicClient();
    const rt0 = await grant(client);
    const rt1 = await refreshed(client, rt0.refresh_token);
    const responses = await Promise.all([refresh(client, rt1.refresh_token), refresh(client, rt1.refresh_token)]);
    expect(responses.map((response) => response.status)).toEqual([200, 200]);
    const sets = await Promise.all(responses.map((response) => response.json<TokenResponse>()));
    for (const set of sets) expect(await mcpStatus(set.access_token)).toBe(200);

    let current = sets[kept]!;
    for (let i = 0; i < 3; i++) current = await refreshed(client, current.refresh_token);
    expect(await mcpStatus(current.access_token)).toBe(200);
  }

  it('answer both, revoke nothing, and the client carries on with whichever response it kept', async () => {
    // Four grants: with the library's last-write-wins, one of the two children of each race is dead.
    for (const kept of [0, 1, 0, 1] as const) await race(kept);
  });
});

describe('malformed refresh tokens', () => {
  const cases = ['garbage', 'a:b', '::', 'a:b:c:d', `${'u'.repeat(600)}:grantgrantgrant0:secret`, `${'é'.repeat(300)}:g:s`, `${'u'.repeat(440)}:g:s`];

  it('answer invalid_grant (400), never 500, at the provider itself and through the Worker', async () => {
    const client = await publicClient();
    const direct = directProvider(Date.now);
    for (const token of cases) {
      await expectInvalidGrant(await refresh(client, token, direct));
      await expectInvalidGrant(await refresh(client, token));
    }
  });
});
