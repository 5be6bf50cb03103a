import { describe, expect, it } from 'vitest';
import { ORIGIN, worker } from './helpers';

describe('discovery: what an MCP client reads before it has a token', () => {
  it("answers an unauthenticated /mcp request with 401 and a challenge naming /mcp's own resource metadata", async () => {
    const response = await worker('/mcp', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    expect(response.status).toBe(401);
    expect(response.headers.get('WWW-Authenticate')).toBe(
      `Bearer realm="OAuth", resource_metadata="${ORIGIN}/.well-known/oauth-protected-resource/mcp", scope="profile notes:read notes:write"`,
    );
  });

  // RFC 9728 §3.3, as a strict client applies it: metadata found through a challenge is used only if
  // its `resource` is identical to the URL that was requested.
  it.each([
    ['/mcp', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' }],
    ['/sse', { headers: { Accept: 'text/event-stream' } }],
  ] as const)('points %s at metadata whose resource is exactly the requested URL (RFC 9728 §3.3, strictly)', async (path, init) => {
    const requested = `${ORIGIN}${path}`;
    const challenged = await worker(path, init);
    expect(challenged.status).toBe(401);
    const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenged.headers.get('WWW-Authenticate') ?? '')?.[1] ?? '';
    expect(new URL(metadataUrl).origin).toBe(ORIGIN);
    const metadata = await (await worker(new URL(metadataUrl).pathname)).json<{ resource: string; authorization_servers: string[] }>();
    expect(metadata.resource).toBe(requested);
    expect(metadata.authorization_servers).toEqual([ORIGIN]);
  });

  it('points the SSE message endpoint at the /sse metadata', async () => {
    const response = await worker('/sse/message?sessionId=x', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    expect(response.status).toBe(401);
    expect(response.headers.get('WWW-Authenticate')).toContain(`resource_metadata="${ORIGIN}/.well-known/oauth-protected-resource/sse"`);
  });

  it('serves RFC 9728 metadata at the root well-known URL with the origin as the resource', async () => {
    const response = await worker('/.well-known/oauth-protected-resource');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ resource: ORIGIN, authorization_servers: [ORIGIN], bearer_methods_supported: ['header'], scopes_supported: ['profile', 'notes:read', 'notes:write'] });
  });

  it.each(['/mcp', '/sse'])('serves path-suffixed RFC 9728 metadata for %s naming that URL (RFC 9728 §3.3)', async (path) => {
    const response = await worker(`/.well-known/oauth-protected-resource${path}`, { headers: { Origin: 'https://inspector.example' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('Access-Control-Allow-Origin')).toBe('https://inspector.example');
    expect(await response.json()).toMatchObject({ resource: `${ORIGIN}${path}`, authorization_servers: [ORIGIN], scopes_supported: ['profile', 'notes:read', 'notes:write'] });
  });

  it('does not invent metadata for paths it does not serve', async () => {
    expect((await worker('/.well-known/oauth-protected-resource/other')).status).toBe(404);
  });

  it('serves RFC 8414 authorization server metadata with everything MCP Manager needs', async () => {
    const response = await worker('/.well-known/oauth-authorization-server');
    expect(response.status).toBe(200);
    const metadata = await response.json<Record<string, unknown>>();
    expect(metadata).toMatchObject({
      issuer: ORIGIN,
      authorization_endpoint: `${ORIGIN}/authorize`,
      token_endpoint: `${ORIGIN}/token`,
      registration_endpoint: `${ORIGIN}/register`,
      revocation_endpoint: `${ORIGIN}/token`,
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
      authorization_response_iss_parameter_supported: true,
      scopes_supported: ['profile', 'notes:read', 'notes:write'],
      // Every resource a client may name (RFC 9728 §4), including what each endpoint's own metadata says.
      protected_resources: [ORIGIN, `${ORIGIN}/mcp`, `${ORIGIN}/sse`],
    });
    expect(metadata.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token']));
    expect(metadata.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['client_secret_basic', 'client_secret_post', 'none']));
  });

  it('serves the authorization server metadata to a browser-based client with CORS', async () => {
    const response = await worker('/.well-known/oauth-authorization-server', { headers: { Origin: 'https://inspector.example' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('Access-Control-Allow-Origin')).toBe('https://inspector.example');
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  });

  it('has a home page that tells a person where to point their MCP client', async () => {
    const response = await worker('/');
    expect(response.status).toBe(200);
    expect(await response.text()).toContain(`${ORIGIN}/mcp`);
  });
});
