/**
 * MCP inside workerd: the one tool catalogue served identically on every endpoint and revision, the
 * stateless /mcp (2025 revisions and 2026-07-28 on one URL, no Durable Object on a tool call), the
 * McpAgent-backed /mcp behind MCP_TRANSPORT=mcp-agent with its user-bound sessions, and /sse.
 */
import { listDurableObjectIds } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { SseWire } from '../support/sse-wire';
import { ALICE, BOB, McpWire, ORIGIN, parseRpcResponse, tokensFor, worker, workerFetch, workerWithEnv, type JsonRpcResponse, type ProtocolRevision } from './helpers';

/** `<128 random bits as hex>.<128-bit HMAC as base64url>`: see src/mcp/session-binding.ts. */
const BOUND_SESSION_ID = /^[0-9a-f]{32}\.[A-Za-z0-9_-]{22}$/;
const ALL_TOOLS = ['notes_add', 'notes_delete', 'notes_list', 'whoami'];
const MCP_AGENT_ENV = { ...env, MCP_TRANSPORT: 'mcp-agent' } as unknown as Env;

/** What the tests need of a connected client, over either transport. */
interface Connection {
  request(method: string, params?: Record<string, unknown>): Promise<{ status: number; headers: Headers; message: JsonRpcResponse | undefined }>;
  callTool(name: string, args?: Record<string, unknown>): Promise<{ status: number; headers: Headers; message: JsonRpcResponse | undefined }>;
  toolNames(): Promise<string[]>;
}

/** One way of reaching the tools: an endpoint, a protocol revision, a transport mode. */
interface Channel {
  label: string;
  connect(token: string): Promise<Connection>;
  /** How a lone call the token's scopes do not cover is refused: HTTP 403 (/mcp) or a JSON-RPC error (/sse). */
  stepUp: 'http-403' | 'json-rpc';
}

function streamableHttp(protocol: ProtocolRevision, variant?: Env): Channel {
  return {
    label: `/mcp, ${protocol}${variant ? ', MCP_TRANSPORT=mcp-agent' : ''}`,
    stepUp: 'http-403',
    async connect(token) {
      const wire = new McpWire(token, '/mcp', { protocol, env: variant });
      if (!wire.modern) expect((await wire.initialize()).status).toBe(200);
      return wire;
    },
  };
}

const legacySse: Channel = {
  label: '/sse, 2024-11-05',
  stepUp: 'json-rpc',
  async connect(token) {
    const wire = new SseWire(new URL('/sse', ORIGIN).href, token, workerFetch);
    expect(await wire.open()).toBe(200);
    await wire.initialize();
    return wire;
  },
};

const CHANNELS: Channel[] = [
  streamableHttp('2025-03-26'),
  streamableHttp('2025-06-18'),
  streamableHttp('2025-11-25'),
  streamableHttp('2026-07-28'),
  streamableHttp('2025-11-25', MCP_AGENT_ENV),
  streamableHttp('2026-07-28', MCP_AGENT_ENV),
  legacySse,
];

/** A tool's result, failing the test on a protocol error. */
async function call(connection: Connection, name: string, args: Record<string, unknown> = {}): Promise<NonNullable<JsonRpcResponse['result']>> {
  const { status, message } = await connection.callTool(name, args);
  expect([200, 202]).toContain(status);
  if (!message?.result) throw new Error(`no result for ${name}: ${JSON.stringify(message)}`);
  return message.result;
}

function text(result: NonNullable<JsonRpcResponse['result']>): string {
  return result.content?.map((part) => part.text).join('\n') ?? '';
}

async function noteIds(connection: Connection): Promise<string[]> {
  const result = await call(connection, 'notes_list');
  expect(result.isError).toBeFalsy();
  const { notes } = result.structuredContent as { notes: { id: string }[] };
  return notes.map((note) => note.id);
}

async function addNote(connection: Connection, note: string): Promise<string> {
  const result = await call(connection, 'notes_add', { text: note });
  expect(result.isError).toBeFalsy();
  const { id } = result.structuredContent as { id: string };
  expect(id).toEqual(expect.any(String));
  return id;
}

function expectSessionNotFound(status: number, message: JsonRpcResponse | undefined): void {
  expect(status).toBe(404);
  expect(message?.error?.code).toBe(-32001);
}

/** A user of their own, for tests that need to know every note the user has. */
function freshUser(label: string): typeof ALICE {
  return { ...ALICE, userId: `oidc-${label}-${crypto.randomUUID()}` };
}

/** A JSON-RPC error answer, as every MCP path sends one: `status`, `application/json`, a JSON-RPC body. */
async function expectJsonRpcError(response: Response, status: number, code?: number): Promise<void> {
  const body = await response.text();
  expect(response.status, body).toBe(status);
  expect(response.headers.get('content-type'), body).toMatch(/^application\/json/);
  const message = JSON.parse(body) as JsonRpcResponse;
  expect(message).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: code ?? expect.any(Number), message: expect.any(String) } });
}

// A loop, not describe.each: the channel's label reads better unquoted in test names.
for (const channel of CHANNELS) describe(`the tool catalogue over ${channel.label}`, () => {
  it('lists the four tools for a token with every scope', async () => {
    const connection = await channel.connect((await tokensFor(ALICE)).access_token);
    expect(await connection.toolNames()).toEqual(ALL_TOOLS);
  });

  it("whoami returns the signed-in user and the token's scopes", async () => {
    const { access_token, client } = await tokensFor(ALICE);
    const result = await call(await channel.connect(access_token), 'whoami');
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual({
      userId: ALICE.userId,
      email: ALICE.email,
      name: ALICE.name,
      upstream: ALICE.upstream,
      clientId: client.client_id,
      scopes: ['profile', 'notes:read', 'notes:write'],
    });
  });

  it('adds, lists and deletes a note', async () => {
    const connection = await channel.connect((await tokensFor(ALICE)).access_token);
    const id = await addNote(connection, 'buy milk');
    const listed = await call(connection, 'notes_list');
    expect((listed.structuredContent as { notes: { id: string; text: string }[] }).notes).toContainEqual(expect.objectContaining({ id, text: 'buy milk' }));

    const deleted = await call(connection, 'notes_delete', { id });
    expect(deleted.isError).toBeFalsy();
    expect(deleted.structuredContent).toEqual({ deleted: id });
    expect(await noteIds(connection)).not.toContain(id);
  });

  it('answers deleting an unknown id with an isError result that points to notes_list', async () => {
    const result = await call(await channel.connect((await tokensFor(ALICE)).access_token), 'notes_delete', { id: 'no-such-note' });
    expect(result.isError).toBe(true);
    expect(text(result)).toContain('notes_list');
  });

  it('answers invalid arguments with an isError result naming the tool', async () => {
    const result = await call(await channel.connect((await tokensFor(ALICE)).access_token), 'notes_add', { text: '' });
    expect(result.isError).toBe(true);
    expect(text(result)).toContain('Invalid arguments for notes_add');
  });

  it('answers an unknown tool with JSON-RPC -32602', async () => {
    const { message } = await (await channel.connect((await tokensFor(ALICE)).access_token)).callTool('no_such_tool');
    expect(message?.error?.code).toBe(-32602);
  });

  it("keeps each user to their own notes: bob neither sees nor deletes alice's", async () => {
    const alice = await channel.connect((await tokensFor(ALICE)).access_token);
    const bob = await channel.connect((await tokensFor(BOB)).access_token);
    const id = await addNote(alice, 'alice only');

    expect(await noteIds(bob)).not.toContain(id);
    expect((await call(bob, 'notes_delete', { id })).isError).toBe(true);
    expect(await noteIds(alice)).toContain(id);
  });

  it('lists only the tools the token may call', async () => {
    const connection = await channel.connect((await tokensFor(ALICE, ['profile'])).access_token);
    expect(await connection.toolNames()).toEqual(['whoami']);
  });

  it('lets notes:write do what needs notes:read', async () => {
    const connection = await channel.connect((await tokensFor(ALICE, ['notes:write'])).access_token);
    const id = await addNote(connection, 'write implies read');
    expect(await noteIds(connection)).toContain(id);
  });

  it('refuses notes_list to a token holding only profile, naming notes:read, and serves what the token covers', async () => {
    const connection = await channel.connect((await tokensFor(ALICE, ['profile'])).access_token);
    const { status, headers, message } = await connection.callTool('notes_list');
    if (channel.stepUp === 'http-403') {
      // MCP authorization, "Scope Challenge Handling": the step-up challenge, on every revision.
      expect(status).toBe(403);
      const challenge = headers.get('WWW-Authenticate') ?? '';
      expect(challenge).toMatch(/^Bearer /);
      expect(challenge).toContain('error="insufficient_scope"');
      expect(challenge).toContain('scope="notes:read"');
      expect(challenge).toContain(`resource_metadata="${ORIGIN}/.well-known/oauth-protected-resource/mcp"`);
    } else {
      expect(message?.error).toMatchObject({ code: -32003, data: { error: 'insufficient_scope', scope: 'notes:read' } });
    }
    expect((await call(connection, 'whoami')).isError).toBeFalsy();
  });

  it('pages notes_list: each nextCursor leads to the next page, and the last page has none', async () => {
    const connection = await channel.connect((await tokensFor(freshUser('pages'))).access_token);
    const added: string[] = [];
    // Five notes of 10,000 characters are more than one page (about 48 KiB of notes).
    for (let i = 0; i < 5; i++) added.push(await addNote(connection, String(i).padEnd(10_000, 'x')));
    const listed: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const result = await call(connection, 'notes_list', cursor === undefined ? {} : { cursor });
      expect(result.isError).toBeFalsy();
      const page = result.structuredContent as { notes: { id: string }[]; nextCursor?: string };
      listed.push(...page.notes.map((note) => note.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== undefined && pages < 10);
    expect(listed).toEqual(added);
    expect(pages).toBeGreaterThan(1);
    expect(cursor).toBeUndefined();
  });

  it('answers a notes_list cursor it never issued with an isError result naming the fix', async () => {
    const connection = await channel.connect((await tokensFor(ALICE)).access_token);
    const result = await call(connection, 'notes_list', { cursor: 'not-a-cursor' });
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/^Invalid cursor: pass the nextCursor of a previous notes_list result exactly as it was returned, or call notes_list without a cursor/);
  });
});

describe('/mcp is stateless (MCP_TRANSPORT=stateless, the default)', () => {
  it.each(['2025-03-26', '2025-06-18', '2025-11-25'] as const)('answers initialize on %s with that version, no session id, in one JSON body', async (protocol) => {
    const wire = new McpWire((await tokensFor(ALICE)).access_token, '/mcp', { protocol });
    const response = await wire.initialize();
    expect(response.status).toBe(200);
    expect(response.headers.get('mcp-session-id')).toBeNull();
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(wire.negotiatedVersion).toBe(protocol);
    const { headers, message } = await wire.callTool('whoami');
    expect(headers.get('content-type')).toMatch(/^application\/json/);
    expect(message?.result?.structuredContent).toMatchObject({ userId: ALICE.userId });
  });

  it('runs a tool call on no Durable Object but the user’s own notes', async () => {
    const { access_token } = await tokensFor(ALICE);
    const before = (await listDurableObjectIds(env.MCP_OBJECT)).length;
    const wire = new McpWire(access_token, '/mcp', { protocol: '2025-11-25' });
    await wire.initialize();
    expect((await call(wire, 'whoami')).isError).toBeFalsy();
    await call(wire, 'notes_list');
    const modern = new McpWire(access_token, '/mcp', { protocol: '2026-07-28' });
    expect((await call(modern, 'whoami')).isError).toBeFalsy();
    expect((await listDurableObjectIds(env.MCP_OBJECT)).length).toBe(before);
  });

  it('ignores an Mcp-Session-Id: a request is always its own token’s, whoever opened the session', async () => {
    // Alice's session from the McpAgent mode, replayed by bob against the stateless endpoint.
    const alice = new McpWire((await tokensFor(ALICE)).access_token, '/mcp', { env: MCP_AGENT_ENV });
    await alice.initialize();
    expect(alice.sessionId).toMatch(BOUND_SESSION_ID);
    const bob = new McpWire((await tokensFor(BOB)).access_token);
    await bob.initialize();
    bob.sessionId = alice.sessionId;

    const result = await call(bob, 'whoami');
    expect(result.structuredContent).toMatchObject({ userId: BOB.userId, email: BOB.email });
    expect(await noteIds(bob)).toEqual(await noteIds(new McpWire((await tokensFor(BOB)).access_token, '/mcp', { protocol: '2026-07-28' })));
  });

  it.each(['GET', 'DELETE'])('answers %s with 405 (no session to stream or end)', async (method) => {
    const { access_token } = await tokensFor(ALICE);
    const response = await worker('/mcp', { method, headers: { Authorization: `Bearer ${access_token}`, Accept: 'text/event-stream', 'Mcp-Session-Id': 'anything' } });
    expect(response.status).toBe(405);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  });

  it('refuses an unsupported MCP-Protocol-Version header on a 2025 request with 400', async () => {
    const wire = new McpWire((await tokensFor(ALICE)).access_token);
    await wire.initialize();
    const response = await wire.post({ jsonrpc: '2.0', id: 7, method: 'tools/list' }, { 'MCP-Protocol-Version': '1999-01-01' });
    expect(response.status).toBe(400);
    expect(parseRpcResponse(await response.text(), 7)?.error?.message).toMatch(/protocol version/i);
  });

  it('refuses a body that is not JSON with 400 -32700, and one over 1 MiB with 413, before any MCP server runs', async () => {
    const { access_token } = await tokensFor(ALICE);
    const headers = { Authorization: `Bearer ${access_token}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };
    const garbled = await worker('/mcp', { method: 'POST', headers, body: '{"jsonrpc":' });
    expect(garbled.status).toBe(400);
    expect(await garbled.json()).toMatchObject({ error: { code: -32700 } });
    const huge = await worker('/mcp', { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'notes_add', arguments: { text: 'x'.repeat(1024 * 1024) } } }) });
    expect(huge.status).toBe(413);
    expect(await huge.json()).toMatchObject({ error: { code: -32000 } });
  });

  it('reads a body of undeclared length (chunked) up to 1 MiB and refuses one that goes past it with 413', async () => {
    const { access_token } = await tokensFor(ALICE);
    const chunked = (text: string) => {
      const bytes = new TextEncoder().encode(text);
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let offset = 0; offset < bytes.length; offset += 64 * 1024) controller.enqueue(bytes.slice(offset, offset + 64 * 1024));
          controller.close();
        },
      });
      return workerFetch(new Request(`${ORIGIN}/mcp`, { method: 'POST', headers: { Authorization: `Bearer ${access_token}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' }, body }));
    };
    const call = (text: string) => JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'notes_add', arguments: { text } } });
    const small = await chunked(call('chunked note'));
    expect(small.headers.get('content-length')).toBeNull();
    expect(small.status).toBe(200);
    expect(parseRpcResponse(await small.text(), 5)?.result?.structuredContent).toMatchObject({ text: 'chunked note' });
    const huge = await chunked(call('x'.repeat(1536 * 1024)));
    expect(huge.status).toBe(413);
  });

  it('answers a POST that is not JSON with 415', async () => {
    const { access_token } = await tokensFor(ALICE);
    const response = await worker('/mcp', { method: 'POST', headers: { Authorization: `Bearer ${access_token}`, 'Content-Type': 'text/plain', Accept: 'application/json, text/event-stream' }, body: 'hello' });
    expect(response.status).toBe(415);
  });

  it('refuses a tools/call inside a JSON-RPC batch with -32003 for that call alone (2025-03-26 batches)', async () => {
    const wire = new McpWire((await tokensFor(ALICE, ['profile'])).access_token, '/mcp', { protocol: '2025-03-26' });
    await wire.initialize();
    const response = await wire.post([
      { jsonrpc: '2.0', id: 31, method: 'tools/call', params: { name: 'notes_list', arguments: {} } },
      { jsonrpc: '2.0', id: 32, method: 'tools/call', params: { name: 'whoami', arguments: {} } },
    ]);
    expect(response.status).toBe(200);
    const body = await response.text();
    expect(parseRpcResponse(body, 31)?.error).toMatchObject({ code: -32003, data: { error: 'insufficient_scope', scope: 'notes:read' } });
    expect(parseRpcResponse(body, 32)?.result?.structuredContent).toMatchObject({ userId: ALICE.userId });
  });

  it('ignores an x-mcp-request-auth header sent by the client', async () => {
    const wire = new McpWire((await tokensFor(ALICE)).access_token);
    await wire.initialize();
    const forged = encodeURIComponent(JSON.stringify({ user: BOB, scopes: ['profile', 'notes:read', 'notes:write'], clientId: 'forged' }));
    const response = await wire.post({ jsonrpc: '2.0', id: 900, method: 'tools/call', params: { name: 'whoami', arguments: {} } }, { 'x-mcp-request-auth': forged });
    expect(response.status).toBe(200);
    const result = parseRpcResponse(await response.text(), 900)?.result;
    expect(result?.structuredContent).toMatchObject({ userId: ALICE.userId, email: ALICE.email });
    expect(result?.structuredContent?.clientId).not.toBe('forged');
  });
});

describe('MCP 2026-07-28 on /mcp', () => {
  async function modern(scopes?: string[]): Promise<McpWire> {
    return new McpWire((await tokensFor(ALICE, scopes)).access_token, '/mcp', { protocol: '2026-07-28' });
  }

  it('answers server/discover with its versions, capabilities and identity', async () => {
    const { status, message } = await (await modern()).request('server/discover');
    expect(status).toBe(200);
    expect(message?.result).toMatchObject({
      resultType: 'complete',
      supportedVersions: expect.arrayContaining(['2026-07-28']),
      capabilities: { tools: {} },
      instructions: expect.stringContaining('whoami'),
      _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'mcp-workers-oauth', version: '0.1.0' } },
    });
  });

  it('calls a tool with no handshake and marks the result complete', async () => {
    const { status, headers, message } = await (await modern()).callTool('whoami');
    expect(status).toBe(200);
    expect(headers.get('mcp-session-id')).toBeNull();
    expect(message?.result).toMatchObject({ resultType: 'complete', structuredContent: { userId: ALICE.userId } });
  });

  it('sends tools/list with the cache fields, private to this token (the list depends on its scopes)', async () => {
    const { message } = await (await modern(['profile'])).request('tools/list');
    expect(message?.result?.tools?.map((tool) => tool.name)).toEqual(['whoami']);
    expect(message?.result).toMatchObject({ ttlMs: expect.any(Number), cacheScope: 'private' });
  });

  it.each([
    ['without Mcp-Method', { 'Mcp-Method': '' }],
    ['with an Mcp-Method that is not the body’s', { 'Mcp-Method': 'tools/list' }],
    ['with an Mcp-Name that is not the body’s', { 'Mcp-Name': 'notes_delete' }],
    ['without Mcp-Name on tools/call', { 'Mcp-Name': '' }],
  ])('refuses a request %s with 400 HeaderMismatch (-32020)', async (_label, headers) => {
    const wire = await modern();
    const body = wire.message('tools/call', { name: 'whoami', arguments: {} });
    const response = await wire.post(body, headers);
    expect(response.status).toBe(400);
    expect(parseRpcResponse(await response.text(), body.id)?.error?.code).toBe(-32020);
  });

  it('refuses an MCP-Protocol-Version header that differs from the body’s _meta with 400', async () => {
    const wire = await modern();
    const body = wire.message('tools/list');
    const response = await wire.post(body, { 'MCP-Protocol-Version': '2025-11-25' });
    expect(response.status).toBe(400);
    expect(parseRpcResponse(await response.text(), body.id)?.error?.code).toBe(-32020);
  });

  it('answers an unsupported protocol version with 400 UnsupportedProtocolVersionError (-32022) listing what it supports', async () => {
    const wire = await modern();
    const body = wire.message('tools/list', { _meta: { 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } });
    const response = await wire.post(body, { 'MCP-Protocol-Version': '2099-01-01' });
    expect(response.status).toBe(400);
    expect(parseRpcResponse(await response.text(), body.id)?.error).toMatchObject({ code: -32022, data: { supported: expect.arrayContaining(['2026-07-28']), requested: '2099-01-01' } });
  });

  it('answers an unknown method with 404 and -32601', async () => {
    const { status, message } = await (await modern()).request('resources/list');
    expect(status).toBe(404);
    expect(message?.error?.code).toBe(-32601);
  });
});

describe('/mcp with MCP_TRANSPORT=mcp-agent: an McpAgent session per 2025 client, bound to its user', () => {
  const mcpAgent = (token: string) => new McpWire(token, '/mcp', { env: MCP_AGENT_ENV });
  const session = async (token: string) => {
    const wire = mcpAgent(token);
    expect((await wire.initialize()).status).toBe(200);
    return wire;
  };

  it('opens a session whose id is bound to the user', async () => {
    const wire = await session((await tokensFor(ALICE)).access_token);
    expect(wire.sessionId).toMatch(BOUND_SESSION_ID);
  });

  it("refuses another user's valid token on a session with 404 -32001, and the owner's session carries on", async () => {
    const alice = await session((await tokensFor(ALICE)).access_token);
    const intruder = mcpAgent((await tokensFor(BOB)).access_token);
    intruder.sessionId = alice.sessionId;
    intruder.negotiatedVersion = alice.negotiatedVersion;

    const { status, message } = await intruder.callTool('whoami');
    expectSessionNotFound(status, message);
    expect((await call(alice, 'whoami')).structuredContent).toMatchObject({ userId: ALICE.userId });
  });

  it.each([
    ['a made-up id of the right shape', `${'0'.repeat(32)}.${'A'.repeat(22)}`],
    ['an id without its binding', 'f'.repeat(32)],
    ['an empty binding', `${'f'.repeat(32)}.`],
  ])('answers %s with 404 -32001', async (_label, sessionId) => {
    const wire = mcpAgent((await tokensFor(ALICE)).access_token);
    wire.sessionId = sessionId;
    const { status, message } = await wire.request('tools/list');
    expectSessionNotFound(status, message);
  });

  it('ends a session on DELETE, after which it is not found', async () => {
    const { access_token } = await tokensFor(ALICE);
    const wire = await session(access_token);
    const deleted = await workerWithEnv(MCP_AGENT_ENV, '/mcp', { method: 'DELETE', headers: { Authorization: `Bearer ${access_token}`, 'Mcp-Session-Id': wire.sessionId ?? '' } });
    expect(deleted.status).toBe(204);
    const { status, message } = await wire.request('tools/list');
    expectSessionNotFound(status, message);
  });

  it('does not let another user DELETE a session', async () => {
    const alice = await session((await tokensFor(ALICE)).access_token);
    const bobToken = (await tokensFor(BOB)).access_token;
    const deleted = await workerWithEnv(MCP_AGENT_ENV, '/mcp', { method: 'DELETE', headers: { Authorization: `Bearer ${bobToken}`, 'Mcp-Session-Id': alice.sessionId ?? '' } });
    expect(deleted.status).toBe(404);
    expect((await alice.request('tools/list')).status).toBe(200);
  });

  it('ignores an x-mcp-request-auth header sent by the client', async () => {
    const alice = await session((await tokensFor(ALICE)).access_token);
    const forged = encodeURIComponent(JSON.stringify({ user: BOB, scopes: ['profile', 'notes:read', 'notes:write'], clientId: 'forged' }));
    const response = await alice.post({ jsonrpc: '2.0', id: 900, method: 'tools/call', params: { name: 'whoami', arguments: {} } }, { 'x-mcp-request-auth': forged });
    expect(response.status).toBe(200);
    const result = parseRpcResponse(await response.text(), 900)?.result;
    expect(result?.structuredContent).toMatchObject({ userId: ALICE.userId, email: ALICE.email });
  });

  it('still serves 2026-07-28 requests statelessly, with no Durable Object', async () => {
    const { access_token } = await tokensFor(ALICE);
    const before = (await listDurableObjectIds(env.MCP_OBJECT)).length;
    const wire = new McpWire(access_token, '/mcp', { protocol: '2026-07-28', env: MCP_AGENT_ENV });
    expect((await wire.request('server/discover')).message?.result?.supportedVersions).toContain('2026-07-28');
    expect((await call(wire, 'whoami')).structuredContent).toMatchObject({ userId: ALICE.userId });
    expect((await listDurableObjectIds(env.MCP_OBJECT)).length).toBe(before);
  });
});

/** Reads an SSE stream up to the end of its first event, then lets go of it. */
async function firstEvent(response: Response): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) throw new Error('no body');
  const decoder = new TextDecoder();
  let received = '';
  try {
    while (!received.includes('\n\n')) {
      const { value, done } = await reader.read();
      if (done) break;
      received += decoder.decode(value, { stream: true });
    }
  } finally {
    await reader.cancel();
  }
  return received.slice(0, received.indexOf('\n\n'));
}

function sseMessage(token: string, endpoint: string): Promise<Response> {
  return worker(endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'sse-test', version: '1.0.0' } } }),
  });
}

describe('MCP over legacy SSE (/sse): sessions bound to their user', () => {
  it('announces a message endpoint with a bound session id; only its owner may post to it', async () => {
    const aliceToken = (await tokensFor(ALICE)).access_token;
    const bobToken = (await tokensFor(BOB)).access_token;
    const stream = await worker('/sse', { headers: { Accept: 'text/event-stream', Authorization: `Bearer ${aliceToken}` } });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('Content-Type')).toMatch(/^text\/event-stream/);

    const event = await firstEvent(stream);
    const match = /^event: endpoint\ndata: (\/sse\/message\?sessionId=(.+))$/.exec(event);
    expect(match, event).not.toBeNull();
    const [, endpoint = '', sessionId = ''] = match ?? [];
    expect(sessionId).toMatch(BOUND_SESSION_ID);

    expect((await sseMessage(bobToken, endpoint)).status).toBe(404);
    expect((await sseMessage(aliceToken, endpoint)).status).toBe(202);
  });

  it("refuses to open a stream on another user's session id", async () => {
    const aliceToken = (await tokensFor(ALICE)).access_token;
    const bobToken = (await tokensFor(BOB)).access_token;
    const stream = await worker('/sse', { headers: { Accept: 'text/event-stream', Authorization: `Bearer ${aliceToken}` } });
    const sessionId = /sessionId=(\S+)/.exec(await firstEvent(stream))?.[1] ?? '';
    const hijack = await worker(`/sse?sessionId=${sessionId}`, { headers: { Accept: 'text/event-stream', Authorization: `Bearer ${bobToken}` } });
    expect(hijack.status).toBe(404);
    await hijack.body?.cancel();
  });
});

describe('JSON-RPC error answers are application/json on every path', () => {
  const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'content-types', version: '1.0.0' } } };
  const toolsList = { jsonrpc: '2.0', id: 2, method: 'tools/list' };
  const post = (token: string, body: unknown, headers: Record<string, string> = {}): RequestInit => ({
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify(body),
  });

  it('on the stateless /mcp', async () => {
    const { access_token } = await tokensFor(ALICE);
    await expectJsonRpcError(await worker('/mcp', post(access_token, initialize, { Accept: 'application/json' })), 406);
    await expectJsonRpcError(await worker('/mcp', post(access_token, { not: 'json-rpc' })), 400, -32600);
    await expectJsonRpcError(await worker('/mcp', post(access_token, [initialize, initialize])), 400, -32600);
    await expectJsonRpcError(await worker('/mcp', { method: 'GET', headers: { Authorization: `Bearer ${access_token}`, Accept: 'text/event-stream' } }), 405);
  });

  it('on /mcp with MCP_TRANSPORT=mcp-agent (the agents library types its own as text/plain)', async () => {
    const { access_token } = await tokensFor(ALICE);
    const agent = (init: RequestInit) => workerWithEnv(MCP_AGENT_ENV, '/mcp', init);
    await expectJsonRpcError(await agent(post(access_token, initialize, { Accept: 'application/json' })), 406, -32000);
    await expectJsonRpcError(await agent(post(access_token, toolsList, { 'MCP-Protocol-Version': '2025-11-25' })), 400, -32000);
    await expectJsonRpcError(await agent(post(access_token, [initialize, initialize])), 400, -32600);
    await expectJsonRpcError(await agent({ method: 'GET', headers: { Authorization: `Bearer ${access_token}` } }), 406, -32000);
    await expectJsonRpcError(await agent({ method: 'DELETE', headers: { Authorization: `Bearer ${access_token}` } }), 400, -32000);

    // A session of this user's that has ended: the session id is still theirs, the agent answers 404.
    const wire = new McpWire(access_token, '/mcp', { env: MCP_AGENT_ENV });
    await wire.initialize();
    const session = { Authorization: `Bearer ${access_token}`, 'Mcp-Session-Id': wire.sessionId ?? '' };
    expect((await agent({ method: 'DELETE', headers: session })).status).toBe(204);
    await expectJsonRpcError(await wire.post(toolsList), 404, -32001);
    await expectJsonRpcError(await agent({ method: 'GET', headers: { ...session, Accept: 'text/event-stream' } }), 404, -32001);
    await expectJsonRpcError(await agent({ method: 'DELETE', headers: session }), 404, -32001);
  });

  it('on /sse/message (the agents library answers in plain words there)', async () => {
    const { access_token } = await tokensFor(ALICE);
    const wire = new SseWire(new URL('/sse', ORIGIN).href, access_token, workerFetch);
    expect(await wire.open()).toBe(200);
    try {
      await expectJsonRpcError(await worker('/sse/message', post(access_token, toolsList)), 400, -32000);
      await expectJsonRpcError(await worker(wire.endpoint ?? '', post(access_token, toolsList, { 'Content-Type': 'text/plain' })), 400, -32000);
      const unsupported = await worker(wire.endpoint ?? '', post(access_token, toolsList, { 'Content-Type': 'text/plain' }));
      expect(((await unsupported.json()) as JsonRpcResponse).error?.message).toBe('Unsupported content-type: text/plain');
      await expectJsonRpcError(await worker('/sse/message', { ...post(access_token, toolsList), method: 'PUT' }), 404, -32000);
      // Our own answer for a session that is not the caller's was JSON already.
      await expectJsonRpcError(await worker(`/sse/message?sessionId=${'f'.repeat(32)}.${'A'.repeat(22)}`, post(access_token, toolsList)), 404, -32001);
      // Bodies the library would parse unguarded (a 500) are refused as /mcp refuses them.
      const endpoint = wire.endpoint ?? '';
      await expectJsonRpcError(await worker(endpoint, { ...post(access_token, toolsList), body: '{"jsonrpc":' }), 400, -32700);
      await expectJsonRpcError(await worker(endpoint, post(access_token, { not: 'json-rpc' })), 400, -32600);
      await expectJsonRpcError(await worker(endpoint, post(access_token, [toolsList, toolsList])), 400, -32600);
      await expectJsonRpcError(await worker(endpoint, { ...post(access_token, toolsList), body: JSON.stringify({ ...toolsList, pad: 'x'.repeat(1024 * 1024) }) }), 413, -32000);
      // And an accepted message is still 202.
      expect((await worker(endpoint, post(access_token, initialize))).status).toBe(202);
    } finally {
      await wire.close();
    }
  });
});
