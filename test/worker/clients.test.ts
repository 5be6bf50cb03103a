/**
 * The ways real MCP clients differ from MCP Manager, each as a test vector: public clients, loopback
 * callbacks on any port, hosted callbacks, CIMD, resource indicators as clients send them, CORS,
 * Basic credentials repeated in the body, and Origin validation.
 */
import { getOAuthApi } from '@cloudflare/workers-oauth-provider';
import { env, exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { providerOptions } from '../../src/provider';
import { canonicalResource } from '../../src/resource';
import { CIMD_CLIENT_ID, CIMD_REDIRECT_URI, HOSTED_CIMD_CLIENTS } from './fixtures/outbound';
import { ALICE, basicAuth, McpWire, ORIGIN, pkcePair, registerClient, tokensFor, worker, workerWithEnv, type RegisteredClient } from './helpers';

interface AuthorizeParams {
  clientId: string;
  redirectUri: string;
  challenge: string;
  resource?: string;
}

function authorizePath({ clientId, redirectUri, challenge, resource }: AuthorizeParams): string {
  const params = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: redirectUri, state: 's1', code_challenge: challenge, code_challenge_method: 'S256' });
  if (resource !== undefined) params.set('resource', resource);
  return `/authorize?${params}`;
}

/** An authorization code as /callback would mint it, through the provider's own helpers. */
async function codeFor(params: AuthorizeParams, options = providerOptions(loadConfig(env), ORIGIN)): Promise<string> {
  const oauth = getOAuthApi(options, env);
  const request = await oauth.parseAuthRequest(new Request(new URL(authorizePath(params), ORIGIN)));
  const { redirectTo } = await oauth.completeAuthorization({ request, userId: ALICE.userId, metadata: {}, scope: ['profile'], props: ALICE });
  return new URL(redirectTo).searchParams.get('code') as string;
}

function token(body: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return worker('/token', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(body).toString() });
}

describe('public clients (token_endpoint_auth_method: none)', () => {
  it('register without a secret, exchange a code with PKCE alone, and refresh', async () => {
    const client = await registerClient({ redirect_uris: ['http://localhost:33418/callback'], token_endpoint_auth_method: 'none' });
    expect(client.client_secret).toBeUndefined();
    const { verifier, challenge } = await pkcePair();
    const code = await codeFor({ clientId: client.client_id, redirectUri: 'http://localhost:33418/callback', challenge });
    const exchanged = await token({ grant_type: 'authorization_code', code, client_id: client.client_id, redirect_uri: 'http://localhost:33418/callback', code_verifier: verifier });
    expect(exchanged.status).toBe(200);
    const tokens = await exchanged.json<{ refresh_token: string }>();
    const refreshed = await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: client.client_id });
    expect(refreshed.status).toBe(200);
    expect(await refreshed.json()).toMatchObject({ access_token: expect.any(String), refresh_token: expect.any(String) });
  });
});

describe('redirect URIs as real clients use them', () => {
  it.each([
    ['localhost', 'http://localhost:33418/callback', 'http://localhost:50123/callback'],
    ['127.0.0.1', 'http://127.0.0.1:33418/callback', 'http://127.0.0.1:61000/callback'],
  ])('accepts a loopback callback on %s at another port than registered (RFC 8252 §7.3)', async (_host, registered, used) => {
    const client = await registerClient({ redirect_uris: [registered], token_endpoint_auth_method: 'none' });
    const { challenge } = await pkcePair();
    const response = await worker(authorizePath({ clientId: client.client_id, redirectUri: used, challenge }));
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('an app on your computer');
  });

  it('still matches the loopback path exactly', async () => {
    const client = await registerClient({ redirect_uris: ['http://localhost:33418/callback'], token_endpoint_auth_method: 'none' });
    const { challenge } = await pkcePair();
    const response = await worker(authorizePath({ clientId: client.client_id, redirectUri: 'http://localhost:33418/other', challenge }));
    expect(response.status).toBe(400);
    expect(response.headers.get('Location')).toBeNull();
  });

  it.each(['https://claude.ai/api/mcp/auth_callback', 'https://claude.com/api/mcp/auth_callback', 'https://chatgpt.com/connector/oauth/abc123'])(
    'registers and authorizes the hosted callback %s',
    async (callback) => {
      const client = await registerClient({ redirect_uris: [callback], token_endpoint_auth_method: 'client_secret_post' });
      const { challenge } = await pkcePair();
      const response = await worker(authorizePath({ clientId: client.client_id, redirectUri: callback, challenge }));
      expect(response.status).toBe(200);
      expect(await response.text()).toContain(new URL(callback).hostname);
    },
  );

  it('refuses a private-use scheme callback unless ALLOW_PRIVATE_USE_REDIRECT_URIS is on', async () => {
    const cursor = 'cursor://anysphere.cursor-mcp/oauth/callback';
    const client = await registerClient({ redirect_uris: [cursor, 'http://localhost:33418/callback'], token_endpoint_auth_method: 'none' });
    const { challenge } = await pkcePair();
    const refused = await worker(authorizePath({ clientId: client.client_id, redirectUri: cursor, challenge }));
    expect(refused.status).toBe(400);
    expect(refused.headers.get('Location')).toBeNull();

    const enabled = providerOptions({ ...loadConfig(env), allowPrivateUseRedirectUris: true }, ORIGIN);
    await expect(codeFor({ clientId: client.client_id, redirectUri: cursor, challenge }, enabled)).resolves.toEqual(expect.any(String));
  });
});

describe('Client ID Metadata Documents', () => {
  it('are advertised in the authorization server metadata', async () => {
    expect(await (await worker('/.well-known/oauth-authorization-server')).json()).toMatchObject({ client_id_metadata_document_supported: true });
  });

  it('authorize a client whose client_id is its metadata URL, showing its verified domain', async () => {
    const { verifier, challenge } = await pkcePair();
    const page = await worker(authorizePath({ clientId: CIMD_CLIENT_ID, redirectUri: CIMD_REDIRECT_URI, challenge }));
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('CIMD Test Client');
    expect(html).toContain('Published by <strong>client.example.com</strong>');

    const code = await codeFor({ clientId: CIMD_CLIENT_ID, redirectUri: CIMD_REDIRECT_URI, challenge });
    const exchanged = await token({ grant_type: 'authorization_code', code, client_id: CIMD_CLIENT_ID, redirect_uri: CIMD_REDIRECT_URI, code_verifier: verifier });
    expect(exchanged.status).toBe(200);
  });

  it('refuse a redirect URI the document does not list, without redirecting', async () => {
    const { challenge } = await pkcePair();
    const response = await worker(authorizePath({ clientId: CIMD_CLIENT_ID, redirectUri: 'https://attacker.test/callback', challenge }));
    expect(response.status).toBe(400);
    expect(response.headers.get('Location')).toBeNull();
  });

  // Claude Code 2.x and Codex register this way first, with their hosted documents and a loopback
  // callback on a random port; DCR is only their fallback.
  for (const { client, document } of HOSTED_CIMD_CLIENTS) {
    for (const host of ['localhost', '127.0.0.1']) {
      it(`authorize ${client} by its hosted document (${document.client_id}) with a callback on ${host} at a random port, then refresh and call a tool`, async () => {
        const redirectUri = `http://${host}:${20_000 + Math.floor(Math.random() * 40_000)}/callback`;
        const { verifier, challenge } = await pkcePair();
        const page = await worker(authorizePath({ clientId: document.client_id, redirectUri, challenge, resource: `${ORIGIN}/mcp` }));
        expect(page.status).toBe(200);
        const html = await page.text();
        expect(html).toContain(client);
        expect(html).toContain(`Published by <strong>${new URL(document.client_id).hostname}</strong>`);

        const code = await codeFor({ clientId: document.client_id, redirectUri, challenge, resource: ORIGIN });
        const exchanged = await token({ grant_type: 'authorization_code', code, client_id: document.client_id, redirect_uri: redirectUri, code_verifier: verifier, resource: `${ORIGIN}/mcp` });
        expect(exchanged.status).toBe(200);
        const tokens = await exchanged.json<{ access_token: string; refresh_token: string }>();
        expect(tokens.refresh_token).toEqual(expect.any(String));

        const refreshed = await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: document.client_id, resource: `${ORIGIN}/mcp` });
        expect(refreshed.status).toBe(200);
        const { access_token } = await refreshed.json<{ access_token: string }>();
        const { message } = await new McpWire(access_token, '/mcp', { protocol: '2026-07-28' }).callTool('whoami');
        expect(message?.result?.structuredContent).toMatchObject({ userId: ALICE.userId, clientId: document.client_id });
      });
    }

    it(`refuse a ${client} redirect URI on another path or a non-loopback host`, async () => {
      const { challenge } = await pkcePair();
      for (const redirectUri of ['http://127.0.0.1:43210/other', 'http://attacker.example:43210/callback', 'https://localhost.attacker.example/callback']) {
        const response = await worker(authorizePath({ clientId: document.client_id, redirectUri, challenge }));
        expect(response.status, redirectUri).toBe(400);
        expect(response.headers.get('Location')).toBeNull();
      }
    });
  }

  it('refuse a client whose document cannot be fetched', async () => {
    const { challenge } = await pkcePair();
    const response = await worker(authorizePath({ clientId: 'https://client.example.com/missing.json', redirectUri: CIMD_REDIRECT_URI, challenge }));
    expect(response.status).toBe(400);
    expect(response.headers.get('Location')).toBeNull();
  });
});

describe('the resource parameter as clients send it', () => {
  it.each([`${ORIGIN}`, `${ORIGIN}/`, `${ORIGIN}/mcp`, `${ORIGIN}/mcp/`, `${ORIGIN}/sse`, undefined])('accepts %s and binds the token to the origin', async (resource) => {
    const client = await registerClient();
    const { verifier, challenge } = await pkcePair();
    const consent = await worker(authorizePath({ clientId: client.client_id, redirectUri: client.redirect_uris[0] as string, challenge, resource }));
    expect(consent.status).toBe(200);
    // /callback completes the request as /authorize stored it, with the resource already canonical.
    const code = await codeFor({ clientId: client.client_id, redirectUri: client.redirect_uris[0] as string, challenge, resource: resource && (canonicalResource(resource, ORIGIN) ?? resource) });
    const body: Record<string, string> = { grant_type: 'authorization_code', code, redirect_uri: client.redirect_uris[0] as string, code_verifier: verifier };
    if (resource !== undefined) body.resource = resource;
    const exchanged = await token(body, { Authorization: basicAuth(client) });
    expect(exchanged.status).toBe(200);
    const tokens = await exchanged.json<{ access_token: string; resource: string }>();
    expect(tokens.resource).toBe(ORIGIN);
    expect((await new McpWire(tokens.access_token).initialize()).status).toBe(200);
    const sse = await worker('/sse', { headers: { Authorization: `Bearer ${tokens.access_token}`, Accept: 'text/event-stream' } });
    expect(sse.status).toBe(200);
    await sse.body?.cancel();
  });

  it('serves each origin the Worker answers on with its own resource (PUBLIC_URL unset)', async () => {
    const client = await registerClient();
    const { challenge } = await pkcePair();
    const params = { clientId: client.client_id, redirectUri: client.redirect_uris[0] as string, challenge };
    expect((await worker(authorizePath({ ...params, resource: ORIGIN }))).status).toBe(200);
    // The same isolate, reached by another name: its own issuer and resource, not the first one's.
    const other = 'http://127.0.0.1:8787';
    const response = await exports.default.fetch(new Request(new URL(authorizePath({ ...params, resource: other }), other), { redirect: 'manual' }));
    expect(response.headers.get('Location')).toBeNull();
    expect(response.status).toBe(200);
    expect(await (await exports.default.fetch(new Request(`${other}/.well-known/oauth-authorization-server`))).json()).toMatchObject({ issuer: other });
  });

  it('refuses another server as the resource with invalid_target', async () => {
    const client = await registerClient();
    const { challenge } = await pkcePair();
    const response = await worker(authorizePath({ clientId: client.client_id, redirectUri: client.redirect_uris[0] as string, challenge, resource: 'https://other.example/mcp' }));
    // A self-registered client: the error is a page with the way back as a link (RFC 9700 §4.11.2).
    expect(response.status).toBe(400);
    expect(response.headers.get('Location')).toBeNull();
    expect(await response.text()).toContain('error=invalid_target');
  });
});

describe('token endpoint compatibility', () => {
  async function exchange(client: RegisteredClient, extra: Record<string, string>) {
    const { verifier, challenge } = await pkcePair();
    const code = await codeFor({ clientId: client.client_id, redirectUri: client.redirect_uris[0] as string, challenge });
    return token({ grant_type: 'authorization_code', code, redirect_uri: client.redirect_uris[0] as string, code_verifier: verifier, ...extra }, { Authorization: basicAuth(client) });
  }

  it('accepts Basic credentials with the same client_id repeated in the body', async () => {
    const client = await registerClient();
    const response = await exchange(client, { client_id: client.client_id });
    expect(response.status).toBe(200);
  });

  it('still refuses a body client_id that differs from the Basic one', async () => {
    const client = await registerClient();
    const other = await registerClient();
    const response = await exchange(client, { client_id: other.client_id });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect((await response.json<{ error: string }>()).error).toMatch(/^invalid_(request|client)$/);
  });

  it('answers an unknown client with 401 invalid_client, so clients re-register', async () => {
    const response = await token({ grant_type: 'refresh_token', refresh_token: 'x:y:z' }, { Authorization: `Basic ${btoa('no-such-client:secret')}` });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('answers a dead refresh token with invalid_grant', async () => {
    const { client } = await tokensFor(ALICE);
    const response = await token({ grant_type: 'refresh_token', refresh_token: 'alice:nogrant:nosecret' }, { Authorization: basicAuth(client) });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_grant' });
  });
});

describe('browsers', () => {
  /** A browser-based MCP client's origin, admitted by ALLOWED_ORIGINS (none is admitted by default). */
  const BROWSER_CLIENT = 'https://browser-client.example';
  const withBrowserClient = { ...env, ALLOWED_ORIGINS: BROWSER_CLIENT } as unknown as Env;
  const initialize = (token: string, origin: string, variant?: Env) =>
    (variant ? (path: string, init: RequestInit) => workerWithEnv(variant, path, init) : worker)('/mcp', {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, Origin: origin, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'browser', version: '1' } } }),
    });

  it('refuses /mcp from a foreign Origin with 403, even with a valid token (DNS rebinding)', async () => {
    const { access_token } = await tokensFor(ALICE);
    const response = await initialize(access_token, 'https://evil.example');
    expect(response.status).toBe(403);
    expect(response.headers.get('mcp-session-id')).toBeNull();
  });

  it('refuses a browser origin that ALLOWED_ORIGINS does not name, and serves one it does, exposing the MCP headers', async () => {
    const { access_token } = await tokensFor(ALICE);
    expect((await initialize(access_token, BROWSER_CLIENT)).status).toBe(403);
    const response = await initialize(access_token, BROWSER_CLIENT, withBrowserClient);
    expect(response.status).toBe(200);
    // The Origin itself was checked above, and no cookies are involved.
    expect(['*', BROWSER_CLIENT]).toContain(response.headers.get('Access-Control-Allow-Origin'));
    expect(response.headers.get('Access-Control-Expose-Headers')).toContain('Mcp-Session-Id');
    expect(response.headers.get('Access-Control-Expose-Headers')).toContain('MCP-Protocol-Version');
    expect(response.headers.get('Access-Control-Expose-Headers')).toContain('WWW-Authenticate');
    await response.body?.cancel();
  });

  it('refuses a plain-http Host that is not a loopback name with 421 (DNS rebinding against a local server)', async () => {
    const response = await exports.default.fetch(new Request('http://evil.example.com/mcp', { method: 'POST', headers: { Origin: 'http://evil.example.com' }, body: '{}' }));
    expect(response.status).toBe(421);
    expect(await response.text()).not.toContain('Error');
  });

  it('serves its own origin', async () => {
    const { access_token } = await tokensFor(ALICE);
    const response = await initialize(access_token, ORIGIN);
    expect(response.status).toBe(200);
    await response.body?.cancel();
  });

  it.each(['/.well-known/oauth-protected-resource', '/.well-known/oauth-authorization-server', '/register', '/token', '/mcp'])('answers a CORS preflight on %s', async (path) => {
    const response = await workerWithEnv(withBrowserClient, path, {
      method: 'OPTIONS',
      headers: { Origin: BROWSER_CLIENT, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type, mcp-session-id' },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('Access-Control-Allow-Origin')).toBe(BROWSER_CLIENT);
    expect(response.headers.get('Access-Control-Allow-Headers')).toMatch(/Authorization/i);
  });

  it('lets a browser send the MCP 2026-07-28 request headers (preflight on /mcp)', async () => {
    const response = await workerWithEnv(withBrowserClient, '/mcp', {
      method: 'OPTIONS',
      headers: { Origin: BROWSER_CLIENT, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type, mcp-protocol-version, mcp-method, mcp-name' },
    });
    expect(response.status).toBe(204);
    const allowed = (response.headers.get('Access-Control-Allow-Headers') ?? '').toLowerCase().split(/\s*,\s*/);
    // Fetch standard: `*` admits any header on a request without credentials, except Authorization,
    // which must be named.
    expect(allowed).toContain('authorization');
    for (const header of ['content-type', 'mcp-protocol-version', 'mcp-method', 'mcp-name']) expect(allowed.includes('*') || allowed.includes(header), `${header} in ${allowed.join(', ')}`).toBe(true);
  });
});
