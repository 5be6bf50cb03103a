/**
 * Real MCP clients against the running system (wrangler dev + the dev IdP, /mcp stateless), each
 * doing its own protocol work with nothing of ours in between:
 * - the official MCP TypeScript SDK 1.x (2025-11-25) with its own OAuth support: from the 401 it
 *   discovers, registers, runs PKCE with the `resource` parameter, exchanges the code and later
 *   refreshes by itself; we only supply what an application supplies (storage and the user's
 *   browser), as a public native client and as a confidential web client;
 * - the MCP TypeScript SDK 2.x client negotiating MCP 2026-07-28 (`server/discover`, no
 *   `initialize`), with its own OAuth too;
 * - mcp-remote, the stdio proxy desktop hosts run, with its own OAuth and loopback callback, in its
 *   2025 mode, its 2026-07-28 mode (`--protocol auto`) and over legacy SSE;
 * - MCP Inspector's command line, with a bearer token minted by our own OAuth flow.
 * The MCP conformance suite needs the server behind a token proxy: see conformance.test.ts.
 */
import { Client as ClientV2, StreamableHTTPClientTransport as StreamableHTTPClientTransportV2, UnauthorizedError as UnauthorizedErrorV2 } from '@modelcontextprotocol/client';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { OAuthClientMetadata } from '@modelcontextprotocol/sdk/shared/auth.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeBrowser } from '../../cli/lib/browser-login.ts';
import { httpLogin } from '../../cli/lib/http-login.ts';
import { discover, exchangeCode, registerClient, startAuthorization } from '../../cli/lib/oauth-client.ts';
import { freePort, startSystem, type RunningSystem } from '../../scripts/system.ts';
import { cleanUp } from './support/clean-up.ts';
import { INSPECTOR, INSPECTOR_EXIT, inspectorCli } from './support/inspector-cli.ts';
import { MCP_REMOTE, withMcpRemote } from './support/mcp-remote.ts';
import { recordingFetch, type RecordedExchange, type RecordingFetch } from './support/recording-fetch.ts';
import { BrowserOAuthProvider } from './support/sdk-oauth-provider.ts';

const ALICE = { login: 'alice', password: 'alice' };
const TOOLS = ['notes_add', 'notes_delete', 'notes_list', 'whoami'];

let system: RunningSystem;

beforeAll(async () => {
  // Every client here registers itself, more than the registration limit allows one address a minute.
  system = await startSystem({ ephemeralState: true, vars: { RATE_LIMITS: 'off' } });
});

afterAll(() => cleanUp(closeBrowser, () => system?.stop()));

function structured(result: unknown): Record<string, unknown> {
  return (result as CallToolResult).structuredContent ?? {};
}

function form(exchange: RecordedExchange | undefined): URLSearchParams {
  return new URLSearchParams(exchange?.requestBody ?? '');
}

interface SdkClientProfile {
  kind: string;
  /** The redirect URI the application owns. */
  redirectUri(): Promise<string>;
  authMethod: 'none' | 'client_secret_basic';
}

const SDK_CLIENTS: SdkClientProfile[] = [
  {
    kind: 'a public native client (auth method none, loopback callback)',
    // A desktop app listens on a random loopback port (RFC 8252); the browser's visit there is
    // intercepted by the test, so the port only has to be one nobody else uses.
    redirectUri: async () => `http://127.0.0.1:${await freePort()}/callback`,
    authMethod: 'none',
  },
  {
    kind: 'a confidential web client (client_secret_basic, https callback)',
    redirectUri: async () => 'https://sdk-web-client.test/oauth/callback',
    authMethod: 'client_secret_basic',
  },
];

// A loop, not describe.each: Vitest would quote and truncate the profile's name in test names.
for (const profile of SDK_CLIENTS) describe(`the MCP TypeScript SDK with its own OAuth, as ${profile.kind}`, () => {
  let provider: BrowserOAuthProvider;
  let recorder: RecordingFetch;
  let client: Client;
  let transport: StreamableHTTPClientTransport;

  const connect = async (): Promise<void> => {
    transport = new StreamableHTTPClientTransport(new URL(system.mcpUrl), { authProvider: provider, fetch: recorder.fetch });
    client = new Client({ name: 'sdk-oauth-e2e', version: '1.0.0' });
    await client.connect(transport);
  };

  afterAll(async () => {
    await client?.close();
  });

  it('discovers the server from the 401, registers, authorizes with PKCE and the resource, and exchanges the code by itself', async () => {
    const redirectUri = await profile.redirectUri();
    const metadata: OAuthClientMetadata = {
      client_name: `SDK ${profile.authMethod} client (test)`,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: profile.authMethod,
    };
    provider = new BrowserOAuthProvider(redirectUri, metadata, ALICE);
    recorder = recordingFetch();

    // The first connect runs into the 401, and the SDK's auth() takes over: discovery, DCR, then
    // the browser (our provider), after which it reports that the user has to finish there.
    await expect(connect()).rejects.toBeInstanceOf(UnauthorizedError);
    const [challenge] = recorder.to('/mcp', 'POST');
    expect(challenge?.status).toBe(401);
    const challengedScope = /scope="([^"]*)"/.exec(challenge?.responseHeaders.get('www-authenticate') ?? '')?.[1];
    expect(challengedScope).toEqual(expect.any(String));
    expect(recorder.exchanges.some((exchange) => exchange.url.pathname.startsWith('/.well-known/oauth-protected-resource') && exchange.status === 200)).toBe(true);
    expect(recorder.to('/.well-known/oauth-authorization-server', 'GET').at(-1)?.status).toBe(200);

    const [registration] = recorder.to('/register', 'POST');
    expect(registration?.status).toBe(201);
    expect(JSON.parse(registration?.requestBody ?? '{}')).toMatchObject({ redirect_uris: [redirectUri], token_endpoint_auth_method: profile.authMethod });
    const registered = registration?.responseJson as { client_id: string; client_secret?: string };
    if (profile.authMethod === 'none') expect(registered.client_secret).toBeUndefined();
    else expect(registered.client_secret).toEqual(expect.any(String));

    expect(provider.authorizations).toHaveLength(1);
    const authorization = provider.authorizations[0]?.authorizationUrl.searchParams;
    expect(Object.fromEntries(authorization ?? [])).toMatchObject({
      response_type: 'code',
      client_id: registered.client_id,
      redirect_uri: redirectUri,
      code_challenge: expect.stringMatching(/^[\w-]{43}$/),
      code_challenge_method: 'S256',
      // What /mcp's own metadata names (RFC 9728 §3.3); the server maps it to the origin it binds tokens to.
      resource: system.mcpUrl,
      // The SDK asks for what the 401 challenge named (scope selection, SEP-835).
      scope: challengedScope,
    });

    // Back from the browser: the application hands the code to the SDK, which exchanges it.
    await transport.finishAuth(provider.authorizationCode(system.origin));
    const [exchange] = recorder.to('/token', 'POST');
    const sent = form(exchange);
    expect(sent.get('grant_type')).toBe('authorization_code');
    expect(sent.get('code_verifier')).toMatch(/^[\w.~-]{43,128}$/);
    expect(sent.get('resource')).toBe(system.mcpUrl);
    if (profile.authMethod === 'none') {
      expect(exchange?.requestHeaders.get('authorization')).toBeNull();
      expect(sent.get('client_id')).toBe(registered.client_id);
    } else {
      expect(exchange?.requestHeaders.get('authorization')).toMatch(/^Basic /);
      expect(sent.get('client_secret')).toBeNull();
    }
    // The token is bound to the origin, the canonical resource that covers /mcp and /sse alike.
    expect(exchange?.status).toBe(200);
    expect(exchange?.responseJson).toMatchObject({ resource: system.origin, refresh_token: expect.any(String) });
    expect(provider.tokens()?.refresh_token).toEqual(expect.any(String));
  });

  it('lists the tools and calls whoami as alice', async () => {
    await connect();
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(TOOLS);
    const whoami = structured(await client.callTool({ name: 'whoami', arguments: {} }));
    expect(whoami).toMatchObject({ email: 'alice@example.com', scopes: expect.arrayContaining(['profile']) });
    expect(whoami.clientId).toBe(provider.clientInformation()?.client_id);
  });

  it('refreshes by itself when the server refuses its access token, and the call goes through', async () => {
    const before = provider.tokens();
    provider.spoilAccessToken();
    const exchangesBefore = recorder.exchanges.length;

    const whoami = structured(await client.callTool({ name: 'whoami', arguments: {} }));
    expect(whoami.email).toBe('alice@example.com');

    const after = recorder.exchanges.slice(exchangesBefore);
    expect(after.find((exchange) => exchange.url.pathname === '/mcp')?.status).toBe(401);
    const refresh = after.find((exchange) => exchange.url.pathname === '/token');
    expect(form(refresh).get('grant_type')).toBe('refresh_token');
    expect(form(refresh).get('refresh_token')).toBe(before?.refresh_token);
    expect(form(refresh).get('resource')).toBe(system.mcpUrl);
    expect(refresh?.status).toBe(200);
    expect(provider.tokens()?.access_token).not.toBe(before?.access_token);
    // No second trip through the browser.
    expect(provider.authorizations).toHaveLength(1);
  });

  it('is served statelessly: no session id, and every later request names the negotiated 2025-11-25', async () => {
    expect(transport.sessionId).toBeUndefined();
    const posts = recorder.to('/mcp', 'POST').filter((exchange) => exchange.status === 200);
    expect(posts.some((exchange) => exchange.responseHeaders.has('mcp-session-id'))).toBe(false);
    const afterInitialize = posts.filter((exchange) => !exchange.requestBody?.includes('"initialize"'));
    expect(afterInitialize.length).toBeGreaterThan(0);
    for (const exchange of afterInitialize) expect(exchange.requestHeaders.get('mcp-protocol-version')).toBe('2025-11-25');
  });
});

describe('the MCP TypeScript SDK 2.x negotiating MCP 2026-07-28, with its own OAuth', () => {
  let provider: BrowserOAuthProvider;
  let recorder: RecordingFetch;
  let client: ClientV2;

  const connect = async (): Promise<StreamableHTTPClientTransportV2> => {
    const transport = new StreamableHTTPClientTransportV2(new URL(system.mcpUrl), { authProvider: provider, fetch: recorder.fetch });
    client = new ClientV2({ name: 'sdk-v2-e2e', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await client.connect(transport);
    return transport;
  };

  afterAll(async () => {
    await client?.close();
  });

  it('signs in by itself (discovery, DCR, PKCE, code exchange), then speaks 2026-07-28: server/discover, no initialize, no session', async () => {
    const redirectUri = `http://127.0.0.1:${await freePort()}/callback`;
    provider = new BrowserOAuthProvider(redirectUri, { client_name: 'SDK v2 client (test)', redirect_uris: [redirectUri], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' }, ALICE);
    recorder = recordingFetch();
    const first = new StreamableHTTPClientTransportV2(new URL(system.mcpUrl), { authProvider: provider, fetch: recorder.fetch });
    const unauthenticated = new ClientV2({ name: 'sdk-v2-e2e', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await expect(unauthenticated.connect(first)).rejects.toBeInstanceOf(UnauthorizedErrorV2);
    // It followed the challenge to /mcp's own metadata, whose resource is the URL it asked (RFC 9728 §3.3).
    expect(recorder.to('/.well-known/oauth-protected-resource/mcp', 'GET').at(-1)?.responseJson).toMatchObject({ resource: system.mcpUrl });
    expect(provider.authorizations).toHaveLength(1);
    await first.finishAuth(provider.callbackParams());
    await unauthenticated.close();

    const transport = await connect();
    expect(client.getProtocolEra()).toBe('modern');
    expect(client.getDiscoverResult()?.supportedVersions).toContain('2026-07-28');
    expect(transport.sessionId).toBeUndefined();
    const bodies = recorder.to('/mcp', 'POST').map((exchange) => exchange.requestBody ?? '');
    expect(bodies.some((body) => body.includes('"initialize"'))).toBe(false);
    const discover = recorder.to('/mcp', 'POST').find((exchange) => exchange.requestBody?.includes('"server/discover"') && exchange.status === 200);
    expect(discover?.requestHeaders.get('mcp-method')).toBe('server/discover');
    expect(discover?.requestHeaders.get('mcp-protocol-version')).toBe('2026-07-28');
  });

  it('lists the tools and calls whoami as alice, each request carrying the 2026-07-28 headers', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(TOOLS);
    const whoami = structured(await client.callTool({ name: 'whoami', arguments: {} }));
    expect(whoami).toMatchObject({ email: 'alice@example.com', clientId: provider.clientInformation()?.client_id });
    const call = recorder.to('/mcp', 'POST').findLast((exchange) => exchange.requestBody?.includes('"tools/call"'));
    expect(call?.status).toBe(200);
    expect(call?.requestHeaders.get('mcp-method')).toBe('tools/call');
    expect(call?.requestHeaders.get('mcp-name')).toBe('whoami');
    expect(JSON.parse(call?.requestBody ?? '{}')).toMatchObject({ params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } } });
  });

  it('refreshes by itself when the server refuses its access token', async () => {
    const before = provider.tokens();
    provider.spoilAccessToken();
    const whoami = structured(await client.callTool({ name: 'whoami', arguments: {} }));
    expect(whoami.email).toBe('alice@example.com');
    expect(provider.tokens()?.access_token).not.toBe(before?.access_token);
    expect(provider.authorizations).toHaveLength(1);
  });
});

describe(`mcp-remote (${MCP_REMOTE.version}), the stdio proxy desktop hosts run, with its own OAuth`, () => {
  it.each([
    ['its default 2025 mode on /mcp', '/mcp', ['--transport', 'http-only'], false],
    ['its 2026-07-28 mode on /mcp (--protocol auto)', '/mcp', ['--transport', 'http-only', '--protocol', 'auto'], true],
    ['legacy SSE on /sse', '/sse', ['--transport', 'sse-only'], false],
  ] as const)('signs in through the browser and lists and calls the tools in %s', async (_label, path, args, modern) => {
    const run = await withMcpRemote(`${system.origin}${path}`, args, ALICE, async (client) => ({
      tools: (await client.listTools()).tools.map((tool) => tool.name).sort(),
      whoami: structured(await client.callTool({ name: 'whoami', arguments: {} })),
      added: structured(await client.callTool({ name: 'notes_add', arguments: { text: `via mcp-remote ${path}` } })),
    }));
    expect(run.result.tools).toEqual(TOOLS);
    expect(run.result.whoami).toMatchObject({ email: 'alice@example.com', scopes: ['profile', 'notes:read', 'notes:write'] });
    expect(run.result.added).toMatchObject({ text: `via mcp-remote ${path}` });
    // One trip through the browser, to its own loopback callback, naming the resource it connects to.
    expect(run.authorizations).toHaveLength(1);
    const authorization = run.authorizations[0]?.searchParams;
    expect(authorization?.get('redirect_uri')).toMatch(/^http:\/\/(localhost|127\.0\.0\.1):\d+\/oauth\/callback$/);
    expect(authorization?.get('code_challenge_method')).toBe('S256');
    expect(authorization?.get('resource')).toBe(`${system.origin}${path}`);
    // mcp-remote says in its log which era it bridged to.
    expect(run.stderr.includes('speaks MCP 2026-07-28')).toBe(modern);
  });
});

describe(`MCP Inspector's CLI (${INSPECTOR.version}) with a token from our OAuth flow`, () => {
  // The Inspector's own default callback; it registers as a public client.
  const INSPECTOR_CALLBACK = 'http://127.0.0.1:6276/oauth/callback';
  let token: string;

  beforeAll(async () => {
    // Minted over plain HTTP (consent form and IdP login without a browser): fast, same server code.
    const discovery = await discover(system.mcpUrl);
    const registered = await registerClient(discovery.server, { client_name: 'MCP Inspector (test)', redirect_uris: [INSPECTOR_CALLBACK], token_endpoint_auth_method: 'none' });
    const start = await startAuthorization(discovery.server, registered.client, { redirectUri: INSPECTOR_CALLBACK, resource: discovery.resourceMetadata.resource });
    const callback = await httpLogin(start.url.href, { ...ALICE, redirectUri: INSPECTOR_CALLBACK });
    token = (await exchangeCode(discovery.server, registered, start, callback)).access_token;
  });

  const bearer = () => ['--header', `Authorization: Bearer ${token}`];

  it('lists the tools over Streamable HTTP (--method tools/list)', async () => {
    const run = await inspectorCli([system.mcpUrl, '--transport', 'http', ...bearer(), '--method', 'tools/list']);
    expect(run.code, run.stderr).toBe(INSPECTOR_EXIT.ok);
    const { result } = run.json as { result: { tools: { name: string; inputSchema: unknown }[] } };
    expect(result.tools.map((tool) => tool.name).sort()).toEqual(TOOLS);
    for (const tool of result.tools) expect(tool.inputSchema).toMatchObject({ type: 'object' });
  });

  it('calls whoami and is alice (--method tools/call --tool-name whoami)', async () => {
    const run = await inspectorCli([system.mcpUrl, '--transport', 'http', ...bearer(), '--method', 'tools/call', '--tool-name', 'whoami']);
    expect(run.code, run.stderr).toBe(INSPECTOR_EXIT.ok);
    expect(run.json).toMatchObject({ result: { structuredContent: { email: 'alice@example.com', scopes: ['profile', 'notes:read', 'notes:write'] } } });
  });

  it('calls a tool with arguments over the legacy SSE transport (--transport sse)', async () => {
    const run = await inspectorCli([`${system.origin}/sse`, '--transport', 'sse', ...bearer(), '--method', 'tools/call', '--tool-name', 'notes_add', '--tool-arg', 'text=from the inspector']);
    expect(run.code, run.stderr).toBe(INSPECTOR_EXIT.ok);
    expect(run.json).toMatchObject({ result: { structuredContent: { id: expect.any(String), text: 'from the inspector' } } });
  });

  it('without a token reads our 401 as auth_required (exit 3) and starts no login', async () => {
    const run = await inspectorCli([system.mcpUrl, '--transport', 'http', '--method', 'tools/list']);
    expect(run.code, run.stdout + run.stderr).toBe(INSPECTOR_EXIT.authRequired);
    expect(run.json).toMatchObject({ error: { code: 'auth_required' } });
  });
});
