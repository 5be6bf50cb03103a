import { describe, expect, it } from 'vitest';
import {
  ALICE,
  authorizationCode,
  basicAuth,
  CALLBACK,
  McpWire,
  ORIGIN,
  pkcePair,
  registerClient,
  tokenRequest,
  tokensFor,
  worker,
  type RegisteredClient,
  type TokenResponse,
} from './helpers';

const ALL_SCOPES = ['profile', 'notes:read', 'notes:write'];

/** A fresh authorization code for alice, with the verifier that redeems it. */
async function freshCode(client: RegisteredClient, scope: string[] = ALL_SCOPES): Promise<{ code: string; verifier: string }> {
  const { verifier, challenge } = await pkcePair();
  return { code: await authorizationCode(client, ALICE, scope, challenge), verifier };
}

function exchange(client: RegisteredClient, code: string, overrides: Record<string, string | undefined> = {}): Promise<Response> {
  const params: Record<string, string> = {};
  for (const [key, value] of Object.entries({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, ...overrides })) {
    if (value !== undefined) params[key] = value;
  }
  return tokenRequest(client, params);
}

/** RFC 7009 revocation at the token endpoint: a body with `token` and no `grant_type`. */
function revoke(client: RegisteredClient, token: string): Promise<Response> {
  return worker('/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basicAuth(client) },
    body: new URLSearchParams({ token }).toString(),
  });
}

/** Whether `token` opens an MCP session: the status of an initialize request. */
async function mcpStatus(token: string): Promise<Response> {
  return new McpWire(token).initialize();
}

async function expectOAuthError(response: Response, status: number, error: string): Promise<void> {
  expect(response.status).toBe(status);
  expect(response.headers.get('Content-Type')).toMatch(/^application\/json/);
  const body = await response.json<Record<string, unknown>>();
  expect(body.error).toBe(error);
  expect(body).not.toHaveProperty('access_token');
}

describe('POST /token: authorization_code grant', () => {
  it('exchanges a code for a bearer token set bound to this server', async () => {
    const client = await registerClient();
    const { code, verifier } = await freshCode(client);
    const response = await exchange(client, code, { code_verifier: verifier });
    expect(response.status).toBe(200);
    expect(response.headers.get('Cache-Control')).toBe('no-store');
    const tokens = await response.json<TokenResponse>();
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.expires_in).toBe(3600);
    expect(tokens.access_token).toEqual(expect.any(String));
    expect(tokens.refresh_token).toEqual(expect.any(String));
    expect(tokens.refresh_token).not.toBe(tokens.access_token);
    expect(tokens.scope).toBe('profile notes:read notes:write');
    expect(tokens.resource).toBe(ORIGIN);
    expect((await mcpStatus(tokens.access_token)).status).toBe(200);
  });

  it('grants exactly the scopes of the grant when it holds fewer', async () => {
    const client = await registerClient();
    const { code, verifier } = await freshCode(client, ['notes:read']);
    const tokens = await (await exchange(client, code, { code_verifier: verifier })).json<TokenResponse>();
    expect(tokens.scope).toBe('notes:read');
  });

  it('refuses a replayed code with invalid_grant and revokes the tokens the first exchange issued', async () => {
    const client = await registerClient();
    const { code, verifier } = await freshCode(client);
    const first = await (await exchange(client, code, { code_verifier: verifier })).json<TokenResponse>();
    await expectOAuthError(await exchange(client, code, { code_verifier: verifier }), 400, 'invalid_grant');
    // RFC 6749 §4.1.2: a replayed code is treated as an attack on the grant.
    expect((await mcpStatus(first.access_token)).status).toBe(401);
    await expectOAuthError(await tokenRequest(client, { grant_type: 'refresh_token', refresh_token: first.refresh_token }), 400, 'invalid_grant');
  });

  // Library behaviour (reported): a failed verifier check leaves the code redeemable, so the real
  // client, or anyone guessing the verifier, may try again until the code expires.
  it('refuses a wrong code_verifier with invalid_grant, and the library leaves the code redeemable', async () => {
    const client = await registerClient();
    const { code, verifier } = await freshCode(client);
    const { verifier: wrong } = await pkcePair();
    await expectOAuthError(await exchange(client, code, { code_verifier: wrong }), 400, 'invalid_grant');
    expect((await exchange(client, code, { code_verifier: verifier })).status).toBe(200);
  });

  it('refuses an exchange without code_verifier when a challenge was sent (invalid_request), leaving the code unused', async () => {
    const client = await registerClient();
    const { code, verifier } = await freshCode(client);
    await expectOAuthError(await exchange(client, code), 400, 'invalid_request');
    expect((await exchange(client, code, { code_verifier: verifier })).status).toBe(200);
  });

  it('refuses a wrong client secret with 401 invalid_client, leaving the code unused', async () => {
    const client = await registerClient();
    const { code, verifier } = await freshCode(client);
    const impostor = { ...client, client_secret: 'not-the-secret' };
    const response = await exchange(impostor, code, { code_verifier: verifier });
    // RFC 6749 §5.2: a client that authenticated with the Authorization header is challenged there.
    expect(response.headers.get('WWW-Authenticate')).toMatch(/^Basic /);
    await expectOAuthError(response, 401, 'invalid_client');
    expect((await exchange(client, code, { code_verifier: verifier })).status).toBe(200);
  });

  it('refuses an unknown client with 401 invalid_client', async () => {
    const client = await registerClient();
    const { code, verifier } = await freshCode(client);
    const unknown = { ...client, client_id: 'no-such-client', client_secret: 'whatever' };
    await expectOAuthError(await exchange(unknown, code, { code_verifier: verifier }), 401, 'invalid_client');
  });

  it("refuses another registered client's code with invalid_grant, leaving the code unused", async () => {
    const client = await registerClient();
    const other = await registerClient();
    const { code, verifier } = await freshCode(client);
    await expectOAuthError(await exchange(other, code, { code_verifier: verifier }), 400, 'invalid_grant');
    expect((await exchange(client, code, { code_verifier: verifier })).status).toBe(200);
  });

  it('refuses a redirect_uri other than the one authorized with invalid_grant, leaving the code unused', async () => {
    const second = 'https://gateway.example/oauth/other-callback';
    const client = await registerClient({ redirect_uris: [CALLBACK, second] });
    const { code, verifier } = await freshCode(client);
    await expectOAuthError(await exchange(client, code, { code_verifier: verifier, redirect_uri: second }), 400, 'invalid_grant');
    await expectOAuthError(await exchange(client, code, { code_verifier: verifier, redirect_uri: 'https://attacker.example/cb' }), 400, 'invalid_grant');
    expect((await exchange(client, code, { code_verifier: verifier })).status).toBe(200);
  });

  it('refuses a code that was never issued with invalid_grant', async () => {
    const client = await registerClient();
    await expectOAuthError(await exchange(client, `${ALICE.userId}:nogrant:nosecret`, { code_verifier: 'x'.repeat(43) }), 400, 'invalid_grant');
  });
});

describe('POST /token: refresh_token grant', () => {
  it('issues a new access token that opens an MCP session', async () => {
    const { refresh_token, client } = await tokensFor(ALICE);
    const response = await tokenRequest(client, { grant_type: 'refresh_token', refresh_token });
    expect(response.status).toBe(200);
    const refreshed = await response.json<TokenResponse>();
    expect(refreshed.token_type.toLowerCase()).toBe('bearer');
    expect(refreshed.scope).toBe('profile notes:read notes:write');
    expect(refreshed.refresh_token).toEqual(expect.any(String));
    expect((await mcpStatus(refreshed.access_token)).status).toBe(200);
  });

  it('refuses a garbage refresh token with invalid_grant', async () => {
    const { client } = await tokensFor(ALICE);
    await expectOAuthError(await tokenRequest(client, { grant_type: 'refresh_token', refresh_token: 'garbage' }), 400, 'invalid_grant');
    await expectOAuthError(await tokenRequest(client, { grant_type: 'refresh_token', refresh_token: `${ALICE.userId}:nogrant:nosecret` }), 400, 'invalid_grant');
  });

  it("refuses another client's refresh token with invalid_grant", async () => {
    const { refresh_token } = await tokensFor(ALICE);
    const other = await registerClient();
    await expectOAuthError(await tokenRequest(other, { grant_type: 'refresh_token', refresh_token }), 400, 'invalid_grant');
  });
});

describe('POST /token: revocation (RFC 7009)', () => {
  it('revokes an access token, which /mcp then refuses with 401 invalid_token', async () => {
    const { access_token, client } = await tokensFor(ALICE);
    expect((await mcpStatus(access_token)).status).toBe(200);
    expect((await revoke(client, access_token)).status).toBe(200);
    const response = await mcpStatus(access_token);
    expect(response.status).toBe(401);
    expect(response.headers.get('WWW-Authenticate')).toContain('error="invalid_token"');
  });

  it('revokes a refresh token, after which it no longer refreshes', async () => {
    const { refresh_token, client } = await tokensFor(ALICE);
    expect((await revoke(client, refresh_token)).status).toBe(200);
    await expectOAuthError(await tokenRequest(client, { grant_type: 'refresh_token', refresh_token }), 400, 'invalid_grant');
  });

  it("does not let another client revoke a token, and answers 200 regardless (RFC 7009 §2.2)", async () => {
    const { access_token } = await tokensFor(ALICE);
    const other = await registerClient();
    expect((await revoke(other, access_token)).status).toBe(200);
    expect((await mcpStatus(access_token)).status).toBe(200);
  });
});

describe('bearer tokens on /mcp', () => {
  it('refuses a garbage bearer token with 401 invalid_token', async () => {
    const response = await mcpStatus('garbage');
    expect(response.status).toBe(401);
    const challenge = response.headers.get('WWW-Authenticate') ?? '';
    expect(challenge).toContain('error="invalid_token"');
    expect(challenge).toContain(`resource_metadata="${ORIGIN}/.well-known/oauth-protected-resource/mcp"`);
  });

  it('refuses a well-formed token that was never issued with 401 invalid_token', async () => {
    const response = await mcpStatus(`${ALICE.userId}:nogrant:nosecretnosecretnosecret`);
    expect(response.status).toBe(401);
    expect(response.headers.get('WWW-Authenticate')).toContain('error="invalid_token"');
  });
});
