import { describe, expect, it } from 'vitest';
import { ALICE, BOB, McpWire, parseRpcResponse, tokensFor, worker, type JsonRpcResponse } from './helpers';

/** `<128 random bits as hex>.<128-bit HMAC as base64url>`: see src/mcp/session-binding.ts. */
const BOUND_SESSION_ID = /^[0-9a-f]{32}\.[A-Za-z0-9_-]{22}$/;

async function session(token: string): Promise<McpWire> {
  const wire = new McpWire(token);
  const response = await wire.initialize();
  expect(response.status).toBe(200);
  return wire;
}

/** A tool's result, failing the test on a protocol error. */
async function call(wire: McpWire, name: string, args: Record<string, unknown> = {}): Promise<NonNullable<JsonRpcResponse['result']>> {
  const { status, message } = await wire.callTool(name, args);
  expect(status).toBe(200);
  if (!message?.result) throw new Error(`no result for ${name}: ${JSON.stringify(message)}`);
  return message.result;
}

function text(result: NonNullable<JsonRpcResponse['result']>): string {
  return result.content?.map((part) => part.text).join('\n') ?? '';
}

async function noteIds(wire: McpWire): Promise<string[]> {
  const result = await call(wire, 'notes_list');
  expect(result.isError).toBeFalsy();
  const { notes } = result.structuredContent as { notes: { id: string }[] };
  return notes.map((note) => note.id);
}

async function addNote(wire: McpWire, note: string): Promise<string> {
  const result = await call(wire, 'notes_add', { text: note });
  expect(result.isError).toBeFalsy();
  const { id } = result.structuredContent as { id: string };
  expect(id).toEqual(expect.any(String));
  return id;
}

function expectSessionNotFound(status: number, message: JsonRpcResponse | undefined): void {
  expect(status).toBe(404);
  expect(message?.error?.code).toBe(-32001);
}

describe('MCP over Streamable HTTP (/mcp)', () => {
  it('opens a session whose id is bound to the user', async () => {
    const { access_token } = await tokensFor(ALICE);
    const wire = new McpWire(access_token);
    const response = await wire.initialize();
    expect(response.status).toBe(200);
    expect(response.headers.get('mcp-session-id')).toMatch(BOUND_SESSION_ID);
  });

  it('lists the four tools', async () => {
    const wire = await session((await tokensFor(ALICE)).access_token);
    const { status, message } = await wire.request('tools/list');
    expect(status).toBe(200);
    expect(message?.result?.tools?.map((tool) => tool.name).sort()).toEqual(['notes_add', 'notes_delete', 'notes_list', 'whoami']);
  });

  it("whoami returns the signed-in user and the token's scopes", async () => {
    const { access_token, client } = await tokensFor(ALICE);
    const result = await call(await session(access_token), 'whoami');
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({
      userId: ALICE.userId,
      email: ALICE.email,
      name: ALICE.name,
      clientId: client.client_id,
      scopes: ['profile', 'notes:read', 'notes:write'],
    });
  });

  it('adds, lists and deletes a note', async () => {
    const wire = await session((await tokensFor(ALICE)).access_token);
    const id = await addNote(wire, 'buy milk');
    const listed = await call(wire, 'notes_list');
    expect((listed.structuredContent as { notes: { id: string; text: string }[] }).notes).toContainEqual(expect.objectContaining({ id, text: 'buy milk' }));

    const deleted = await call(wire, 'notes_delete', { id });
    expect(deleted.isError).toBeFalsy();
    expect(deleted.structuredContent).toEqual({ deleted: id });
    expect(await noteIds(wire)).not.toContain(id);
  });

  it('answers deleting an unknown id with an isError result that points to notes_list', async () => {
    const wire = await session((await tokensFor(ALICE)).access_token);
    const result = await call(wire, 'notes_delete', { id: 'no-such-note' });
    expect(result.isError).toBe(true);
    expect(text(result)).toContain('notes_list');
  });

  it('keeps each user to their own notes: bob neither sees nor deletes alice’s', async () => {
    const alice = await session((await tokensFor(ALICE)).access_token);
    const bob = await session((await tokensFor(BOB)).access_token);
    const id = await addNote(alice, 'alice only');

    expect(await noteIds(bob)).not.toContain(id);
    const result = await call(bob, 'notes_delete', { id });
    expect(result.isError).toBe(true);
    expect(await noteIds(alice)).toContain(id);
  });

  it("refuses another user's valid token on a session with 404 -32001, and the owner's session carries on", async () => {
    const alice = await session((await tokensFor(ALICE)).access_token);
    const intruder = new McpWire((await tokensFor(BOB)).access_token);
    intruder.sessionId = alice.sessionId;

    const { status, message } = await intruder.callTool('whoami');
    expectSessionNotFound(status, message);
    const whoami = await call(alice, 'whoami');
    expect(whoami.structuredContent).toMatchObject({ userId: ALICE.userId });
  });

  it.each([
    ['a made-up id of the right shape', `${'0'.repeat(32)}.${'A'.repeat(22)}`],
    ['an id without its binding', 'f'.repeat(32)],
    ['an empty binding', `${'f'.repeat(32)}.`],
  ])('answers %s with 404 -32001', async (_label, sessionId) => {
    const wire = new McpWire((await tokensFor(ALICE)).access_token);
    wire.sessionId = sessionId;
    const { status, message } = await wire.request('tools/list');
    expectSessionNotFound(status, message);
  });

  it('ignores an x-mcp-request-auth header sent by the client', async () => {
    const alice = await session((await tokensFor(ALICE)).access_token);
    const forged = encodeURIComponent(JSON.stringify({ user: BOB, scopes: ['profile', 'notes:read', 'notes:write'], clientId: 'forged' }));
    const response = await alice.post({ jsonrpc: '2.0', id: 900, method: 'tools/call', params: { name: 'whoami', arguments: {} } }, { 'x-mcp-request-auth': forged });
    expect(response.status).toBe(200);
    const result = parseRpcResponse(await response.text(), 900)?.result;
    expect(result?.structuredContent).toMatchObject({ userId: ALICE.userId, email: ALICE.email });
    expect(result?.structuredContent?.clientId).not.toBe('forged');
  });

  it('ends a session on DELETE, after which it is not found', async () => {
    const { access_token } = await tokensFor(ALICE);
    const wire = await session(access_token);
    const deleted = await worker('/mcp', { method: 'DELETE', headers: { Authorization: `Bearer ${access_token}`, 'Mcp-Session-Id': wire.sessionId ?? '' } });
    expect(deleted.status).toBe(204);
    const { status, message } = await wire.request('tools/list');
    expectSessionNotFound(status, message);
  });

  it("does not let another user DELETE a session", async () => {
    const alice = await session((await tokensFor(ALICE)).access_token);
    const bobToken = (await tokensFor(BOB)).access_token;
    const deleted = await worker('/mcp', { method: 'DELETE', headers: { Authorization: `Bearer ${bobToken}`, 'Mcp-Session-Id': alice.sessionId ?? '' } });
    expect(deleted.status).toBe(404);
    expect((await alice.request('tools/list')).status).toBe(200);
  });

  // Scope enforcement at the HTTP layer (routes.ts, stepUpChallenge): a lone tools/call the token's
  // scopes do not cover is refused with 403 and a step-up challenge (MCP authorization, "Scope
  // Challenge Handling"); before that change it was a tool result with isError.
  it('refuses notes_list for a token holding only profile with 403 insufficient_scope naming notes:read', async () => {
    const wire = await session((await tokensFor(ALICE, ['profile'])).access_token);
    const { status, headers } = await wire.callTool('notes_list');
    expect(status).toBe(403);
    const challenge = headers.get('WWW-Authenticate') ?? '';
    expect(challenge).toMatch(/^Bearer /);
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain('scope="notes:read"');
    // The session is intact and what the token does cover still works.
    expect((await call(wire, 'whoami')).isError).toBeFalsy();
  });

  it('lists only the tools the token may call', async () => {
    const wire = await session((await tokensFor(ALICE, ['profile'])).access_token);
    const { message } = await wire.request('tools/list');
    expect(message?.result?.tools?.map((tool) => tool.name)).toEqual(['whoami']);
  });

  it('lets notes:write do what needs notes:read', async () => {
    const wire = await session((await tokensFor(ALICE, ['notes:write'])).access_token);
    const id = await addNote(wire, 'write implies read');
    expect(await noteIds(wire)).toContain(id);
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

describe('MCP over legacy SSE (/sse)', () => {
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
