/**
 * The whole connection MCP Manager makes, against the running system (wrangler dev + the dev IdP),
 * with a real browser for the consent page and the IdP login, oauth4webapi as the OAuth client and
 * the official MCP SDK client for MCP. Twice: with /mcp stateless (the default) and with
 * MCP_TRANSPORT=mcp-agent (an McpAgent session per client, what Cloudflare's docs describe).
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserLogin, closeBrowser } from '../../cli/lib/browser-login.ts';
import { discover, exchangeCode, refresh, registerClient, revoke, startAuthorization, type Discovery, type RegisteredClient } from '../../cli/lib/oauth-client.ts';
import { startSystem, type RunningSystem } from '../../scripts/system.ts';
import { parseRpcResponse } from '../support/mcp-wire.ts';

const GATEWAY_CALLBACK = 'https://mcp-manager.test/oauth/callback';

afterAll(async () => {
  await closeBrowser();
});

interface Session {
  registered: RegisteredClient;
  tokens: oauth.TokenEndpointResponse;
  consentText: string;
}

/** Registers like MCP Manager (confidential, HTTPS callback), then signs `login` in through the browser. */
async function connectGatewayAs(discovery: Discovery, login: string): Promise<Session> {
  const registered = await registerClient(discovery.server, {
    client_name: 'MCP Manager (test)',
    redirect_uris: [GATEWAY_CALLBACK],
    token_endpoint_auth_method: 'client_secret_basic',
  });
  const start = await startAuthorization(discovery.server, registered.client, { redirectUri: GATEWAY_CALLBACK, resource: discovery.resourceMetadata.resource });
  let consentText = '';
  const callback = await browserLogin(start.url.href, {
    login,
    password: login,
    redirectUri: GATEWAY_CALLBACK,
    onConsentPage: (text) => {
      consentText = text;
    },
  });
  const tokens = await exchangeCode(discovery.server, registered, start, callback);
  return { registered, tokens, consentText };
}

function bearer(token: string): RequestInit {
  return { headers: { Authorization: `Bearer ${token}` } };
}

async function connectMcp(system: RunningSystem, token: string, transport: 'streamable-http' | 'sse'): Promise<Client> {
  const client = new Client({ name: 'e2e-gateway', version: '1.0.0' });
  if (transport === 'sse') {
    await client.connect(
      // The SDK sends requestInit's headers on the event stream's GET as well as on every POST.
      new SSEClientTransport(new URL('/sse', system.origin), { requestInit: bearer(token) }),
    );
  } else {
    await client.connect(new StreamableHTTPClientTransport(new URL(system.mcpUrl), { requestInit: bearer(token) }));
  }
  return client;
}

function structured(result: unknown): Record<string, unknown> {
  return (result as CallToolResult).structuredContent ?? {};
}

for (const mode of ['stateless', 'mcp-agent'] as const) describe(`an MCP gateway connecting the way MCP Manager does (MCP_TRANSPORT=${mode})`, () => {
  let system: RunningSystem;
  let discovery: Discovery;
  let alice: Session;

  beforeAll(async () => {
    system = await startSystem({ ephemeralState: true, vars: { MCP_TRANSPORT: mode } });
  });

  afterAll(async () => {
    await system?.stop();
  });

  const connectAs = (login: string) => connectGatewayAs(discovery, login);
  /** notes_list as `token`'s user, replaying `sessionId` as a 2025-06-18 client would send it. */
  const postAs = (token: string, sessionId: string) =>
    fetch(system.mcpUrl, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Mcp-Session-Id': sessionId, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'MCP-Protocol-Version': '2025-06-18' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 99, method: 'tools/call', params: { name: 'notes_list', arguments: {} } }),
    });
  const mcpClient = (token: string, transport: 'streamable-http' | 'sse' = 'streamable-http') => connectMcp(system, token, transport);

  it('discovers the authorization server from the 401 on /mcp', async () => {
    discovery = await discover(system.mcpUrl);
    expect(discovery.resourceMetadataUrl).toBe(`${system.origin}/.well-known/oauth-protected-resource/mcp`);
    expect(discovery.resourceMetadata.resource).toBe(system.mcpUrl);
    expect(discovery.server.issuer).toBe(system.origin);
    expect(discovery.server.registration_endpoint).toBe(`${system.origin}/register`);
    expect(discovery.server.code_challenge_methods_supported).toContain('S256');
  });

  it('registers by DCR as a confidential client, authorizes alice through consent and the IdP login, and exchanges the code', async () => {
    alice = await connectAs('alice');
    expect(alice.registered.clientSecret).toEqual(expect.any(String));
    expect(alice.consentText).toContain('MCP Manager (test)');
    expect(alice.consentText).toContain('mcp-manager.test');
    expect(alice.tokens.token_type.toLowerCase()).toBe('bearer');
    expect(alice.tokens.expires_in).toBe(3600);
    expect(alice.tokens.refresh_token).toEqual(expect.any(String));
    expect(alice.tokens.scope).toBe('profile notes:read notes:write');
  });

  it('runs initialize, tools/list and tools/call over Streamable HTTP as alice', async () => {
    const client = await mcpClient(alice.tokens.access_token);
    try {
      expect(client.getServerVersion()).toMatchObject({ name: 'mcp-workers-oauth' });
      const { tools } = await client.listTools();
      expect(tools.map((tool) => tool.name).sort()).toEqual(['notes_add', 'notes_delete', 'notes_list', 'whoami']);
      const whoami = structured(await client.callTool({ name: 'whoami', arguments: {} }));
      expect(whoami).toMatchObject({ email: 'alice@example.com', name: 'Alice Example', upstream: expect.stringMatching(/^oidc:localhost:\d+$/), scopes: ['profile', 'notes:read', 'notes:write'] });
      expect(whoami.userId).toMatch(/^oidc-[0-9a-f]{32}$/);
      const added = structured(await client.callTool({ name: 'notes_add', arguments: { text: 'alice over streamable http' } }));
      const listed = structured(await client.callTool({ name: 'notes_list', arguments: {} }));
      expect(listed.notes).toEqual([expect.objectContaining({ id: added.id, text: 'alice over streamable http' })]);
    } finally {
      await client.close();
    }
  });

  it('does the same over the legacy SSE transport', async () => {
    const client = await mcpClient(alice.tokens.access_token, 'sse');
    try {
      const whoami = structured(await client.callTool({ name: 'whoami', arguments: {} }));
      expect(whoami.email).toBe('alice@example.com');
      await client.callTool({ name: 'notes_add', arguments: { text: 'alice over sse' } });
      const listed = structured(await client.callTool({ name: 'notes_list', arguments: {} }));
      expect((listed.notes as { text: string }[]).map((note) => note.text)).toEqual(['alice over streamable http', 'alice over sse']);
    } finally {
      await client.close();
    }
  });

  it('refreshes the token and works with the new one', async () => {
    const refreshed = await refresh(discovery.server, alice.registered, alice.tokens.refresh_token as string);
    expect(refreshed.access_token).not.toBe(alice.tokens.access_token);
    expect(refreshed.refresh_token).toEqual(expect.any(String));
    const client = await mcpClient(refreshed.access_token);
    expect(structured(await client.callTool({ name: 'whoami', arguments: {} })).email).toBe('alice@example.com');
    await client.close();
    alice = { ...alice, tokens: refreshed };
  });

  it('keeps each user in their own notes and their own sessions (bob)', async () => {
    const bob = await connectAs('bob');
    const bobClient = await mcpClient(bob.tokens.access_token);
    const aliceTransport = new StreamableHTTPClientTransport(new URL(system.mcpUrl), { requestInit: bearer(alice.tokens.access_token) });
    const aliceClient = new Client({ name: 'e2e-gateway', version: '1.0.0' });
    await aliceClient.connect(aliceTransport);
    try {
      expect(structured(await bobClient.callTool({ name: 'whoami', arguments: {} })).email).toBe('bob@example.com');
      expect(structured(await bobClient.callTool({ name: 'notes_list', arguments: {} })).notes).toEqual([]);

      if (mode === 'mcp-agent') {
        // Bob's valid token with alice's session id: refused as an unknown session, never run as alice.
        expect(aliceTransport.sessionId).toEqual(expect.any(String));
        const hijack = await postAs(bob.tokens.access_token, aliceTransport.sessionId as string);
        expect(hijack.status).toBe(404);
        expect(await hijack.json()).toMatchObject({ error: { code: -32001 } });
      } else {
        // Stateless: no session id is issued, so there is none to steal, and a replayed one is ignored:
        // the request runs as the token's own user.
        expect(aliceTransport.sessionId).toBeUndefined();
        const replayed = await postAs(bob.tokens.access_token, `${'0'.repeat(32)}.${'A'.repeat(22)}`);
        expect(replayed.status).toBe(200);
        expect(parseRpcResponse(await replayed.text(), 99)?.result?.structuredContent).toEqual({ notes: [] });
      }

      // Alice's session is untouched.
      expect((structured(await aliceClient.callTool({ name: 'notes_list', arguments: {} })).notes as unknown[]).length).toBe(2);
    } finally {
      await bobClient.close();
      await aliceClient.close();
    }
  });

  it('revokes the access token, which then gets 401', async () => {
    await revoke(discovery.server, alice.registered, alice.tokens.access_token);
    const response = await fetch(system.mcpUrl, {
      method: 'POST',
      headers: { Authorization: `Bearer ${alice.tokens.access_token}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });
});
