import { getOAuthApi } from '@cloudflare/workers-oauth-provider';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { providerOptions } from '../../src/provider';
import { ALICE, authorizeUrl, McpWire, ORIGIN, pkcePair, tokenRequest, tokensFor, worker, workerWithEnv, type RegisteredClient } from './helpers';

const ADMIN_TOKEN = String(Reflect.get(env, 'ADMIN_TOKEN'));
const GATEWAY_CALLBACK = 'https://app.mcp-manager.test/oauth/callback';

function admin(path: string, init: RequestInit = {}, token = ADMIN_TOKEN): Promise<Response> {
  return worker(`/admin${path}`, { ...init, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', ...init.headers } });
}

async function preRegister(): Promise<RegisteredClient & { client_secret: string }> {
  const response = await admin('/clients', { method: 'POST', body: JSON.stringify({ client_name: 'MCP Manager', redirect_uris: [GATEWAY_CALLBACK] }) });
  expect(response.status).toBe(201);
  return response.json();
}

async function exchangeWith(client: RegisteredClient): Promise<Response> {
  const { verifier, challenge } = await pkcePair();
  const oauth = getOAuthApi(providerOptions(loadConfig(env), ORIGIN), env);
  const request = await oauth.parseAuthRequest(new Request(authorizeUrl(client, challenge)));
  const { redirectTo } = await oauth.completeAuthorization({ request, userId: ALICE.userId, metadata: {}, scope: ['profile'], props: ALICE });
  const code = new URL(redirectTo).searchParams.get('code') as string;
  return tokenRequest(client, { grant_type: 'authorization_code', code, redirect_uri: GATEWAY_CALLBACK, code_verifier: verifier });
}

describe('the admin API', () => {
  it('does not exist unless ADMIN_TOKEN is set', async () => {
    const variant = { ...env, ADMIN_TOKEN: undefined } as unknown as Env;
    expect((await workerWithEnv(variant, '/admin/clients', { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(404);
  });

  it.each([
    ['no token', undefined],
    ['a wrong token', 'x'.repeat(40)],
  ])('refuses %s with 401', async (_label, token) => {
    const response = await worker('/admin/clients', token ? { headers: { Authorization: `Bearer ${token}` } } : {});
    expect(response.status).toBe(401);
    expect(response.headers.get('WWW-Authenticate')).toContain('Bearer');
  });

  it('pre-registers a confidential client (MCP Manager’s second mode) that can then exchange codes', async () => {
    const client = await preRegister();
    expect(client).toMatchObject({ client_name: 'MCP Manager', redirect_uris: [GATEWAY_CALLBACK], token_endpoint_auth_method: 'client_secret_basic', client_secret: expect.any(String) });
    expect((await exchangeWith(client)).status).toBe(200);
    // Page through the listing, as an operator would with many clients.
    let entry: { client_id: string; client_secret?: string } | undefined;
    let cursor: string | undefined;
    do {
      const page = await (await admin(`/clients${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ''}`)).json<{ clients: { client_id: string; client_secret?: string }[]; cursor?: string }>();
      entry = page.clients.find((item) => item.client_id === client.client_id);
      cursor = page.cursor;
    } while (!entry && cursor);
    expect(entry).toBeDefined();
    expect(entry).not.toHaveProperty('client_secret');
  });

  it.each([
    [{ redirect_uris: [GATEWAY_CALLBACK] }, 'invalid_client_metadata'],
    [{ client_name: 'x', redirect_uris: [] }, 'invalid_client_metadata'],
    [{ client_name: 'x', redirect_uris: ['http://gateway.test/callback'] }, 'invalid_redirect_uri'],
  ])('refuses an invalid client %j', async (body, error) => {
    const response = await admin('/clients', { method: 'POST', body: JSON.stringify(body) });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error });
  });

  it('deletes a client, after which it gets invalid_client', async () => {
    const client = await preRegister();
    expect((await admin(`/clients/${client.client_id}`, { method: 'DELETE' })).status).toBe(204);
    const response = await tokenRequest(client, { grant_type: 'refresh_token', refresh_token: 'a:b:c' });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: 'invalid_client' });
    expect((await admin(`/clients/${client.client_id}`, { method: 'DELETE' })).status).toBe(404);
  });

  it.each([
    ['a fragment', 'https://app.mcp-manager.test/oauth/callback#frag', 'fragment'],
    ['userinfo', 'https://user:pass@app.mcp-manager.test/oauth/callback', 'userinfo'],
    ['plain http on a public host', 'http://app.mcp-manager.test/oauth/callback', 'https'],
  ])('refuses a redirect URI with %s with 400 invalid_redirect_uri, and registers nothing', async (_label, uri, reason) => {
    const response = await admin('/clients', { method: 'POST', body: JSON.stringify({ client_name: 'Bad', redirect_uris: [uri] }) });
    expect(response.status).toBe(400);
    const body = await response.json<{ error: string; error_description: string }>();
    expect(body.error).toBe('invalid_redirect_uri');
    expect(body.error_description).toContain(reason);
  });

  it("lists a user's grants and revokes one, which kills its tokens", async () => {
    // A user of its own: the suite's files share storage, and alice has more grants than one page holds.
    const user = { ...ALICE, userId: `oidc-admin-${crypto.randomUUID().replaceAll('-', '')}` };
    const tokens = await tokensFor(user);
    const { grants } = await (await admin(`/users/${user.userId}/grants`)).json<{ grants: { id: string; client_id: string; scope: string[] }[] }>();
    expect(grants).toHaveLength(1);
    const grant = grants.find((item) => item.client_id === tokens.client.client_id);
    expect(grant?.scope).toEqual(['profile', 'notes:read', 'notes:write']);
    expect((await admin(`/users/${user.userId}/grants/${grant?.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await new McpWire(tokens.access_token).initialize()).status).toBe(401);
  });
});
