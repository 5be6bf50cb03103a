/**
 * The MCP side of the bench: get a client ready to call tools the way each protocol era does it, and
 * build the `tools/call` request the load generator repeats, with a check of its answer.
 *
 * - `session` (2025-11-25, stateful): initialize + notifications/initialized; the server must issue
 *   an `Mcp-Session-Id`, sent with every later request (McpAgent: variants 2, 3 and 5).
 * - `stateless` (2025-11-25, stateless): the same handshake, which the server answers without a
 *   session id; later requests carry only `MCP-Protocol-Version` (this project's default /mcp, as
 *   MCP Manager drives it: variants 4 and 4b).
 * - `modern` (2026-07-28): no handshake; every request carries `params._meta` (protocol version,
 *   client info and capabilities) and the `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name`
 *   headers (variant 4m).
 */
import { parseRpcResponse } from '../test/support/mcp-wire.ts';
import type { LoadRequest } from './load.ts';

/** The cheap tool every variant offers: the project's `whoami`, an echo of the same shape in the bench workers. */
export const BENCH_TOOL = 'whoami';

/** What MCP Manager negotiates today, and what the 2025-era variants speak. */
export const SESSION_REVISION = '2025-11-25';
export const MODERN_REVISION = '2026-07-28';

const CLIENT_INFO = { name: 'bench', version: '1.0.0' };

export type McpDrive = 'session' | 'stateless' | 'modern';

export interface McpSession {
  mcpUrl: string;
  drive: McpDrive;
  /** Headers of every tools/call: content negotiation, bearer token, protocol version, session id or method/name. */
  headers: Record<string, string>;
}

function baseHeaders(token: string | undefined): Record<string, string> {
  return {
    'Content-Type': 'application/json',
    Accept: 'application/json, text/event-stream',
    ...(token ? { Authorization: `Bearer ${token}` } : {}),
  };
}

/** A client of the floor: the same request without any session or protocol headers (it answers anything). */
export function floorSession(mcpUrl: string): McpSession {
  return { mcpUrl, drive: 'stateless', headers: baseHeaders(undefined) };
}

/**
 * Readies a client for `drive`. 2025 drives: initialize, then notifications/initialized; throws
 * unless the server's answer matches the drive (a session id for `session`, none for `stateless`),
 * so a variant is never measured on the transport it was not meant to exercise. `modern`: nothing
 * to send, every request stands alone.
 */
export async function openSession(mcpUrl: string, token: string | undefined, drive: McpDrive): Promise<McpSession> {
  if (drive === 'modern') {
    return { mcpUrl, drive, headers: { ...baseHeaders(token), 'MCP-Protocol-Version': MODERN_REVISION, 'Mcp-Method': 'tools/call', 'Mcp-Name': BENCH_TOOL } };
  }
  const initialize = await fetch(mcpUrl, {
    method: 'POST',
    headers: baseHeaders(token),
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: SESSION_REVISION, capabilities: {}, clientInfo: CLIENT_INFO } }),
  });
  const body = await initialize.text();
  const negotiated = parseRpcResponse(body, 1)?.result?.protocolVersion;
  const sessionId = initialize.headers.get('mcp-session-id');
  if (initialize.status !== 200 || negotiated !== SESSION_REVISION) throw new Error(`initialize (${SESSION_REVISION}) at ${mcpUrl}: HTTP ${initialize.status} ${body.slice(0, 300)}`);
  if (drive === 'session' && !sessionId) throw new Error(`initialize at ${mcpUrl}: expected an Mcp-Session-Id (stateful server), got none`);
  if (drive === 'stateless' && sessionId) throw new Error(`initialize at ${mcpUrl}: expected a stateless answer, got Mcp-Session-Id ${sessionId}`);
  const headers = { ...baseHeaders(token), 'MCP-Protocol-Version': SESSION_REVISION, ...(sessionId ? { 'Mcp-Session-Id': sessionId } : {}) };
  const initialized = await fetch(mcpUrl, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
  await initialized.text();
  if (initialized.status !== 202) throw new Error(`notifications/initialized at ${mcpUrl}: HTTP ${initialized.status}`);
  return { mcpUrl, drive, headers };
}

/** The `tools/call` body as the session's drive shapes it (2026-07-28: with the `_meta` envelope). */
function toolCallBody(session: McpSession, id: number | string): string {
  const params: Record<string, unknown> = { name: BENCH_TOOL, arguments: {} };
  if (session.drive === 'modern') {
    params._meta = {
      'io.modelcontextprotocol/protocolVersion': MODERN_REVISION,
      'io.modelcontextprotocol/clientInfo': CLIENT_INFO,
      'io.modelcontextprotocol/clientCapabilities': {},
    };
  }
  return JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params });
}

/**
 * A successful, non-error tool result for the bench tool, framed as SSE (an `event: message` with
 * its `data: {...}` line, ended by a blank line) or as a plain JSON body. Cheap: it runs on every
 * response under load. A JSON-RPC error, a tool error (`isError`), another framing, an empty or a
 * truncated body all fail it.
 */
export function isToolResult(body: string): boolean {
  const framed = body.startsWith('{') ? body.trimEnd().endsWith('}') : body.startsWith('event: message\n') && body.includes('\ndata: {') && body.endsWith('\n\n');
  return framed && body.includes('"result":{"content":[') && body.includes('"structuredContent":{') && !body.includes('"isError":true') && !body.includes('"error":{');
}

/** The `tools/call` the load generator repeats; `[<id>]` becomes a fresh JSON-RPC id per request. */
export function toolCallLoad(session: McpSession): LoadRequest {
  return {
    url: session.mcpUrl,
    method: 'POST',
    headers: session.headers,
    // JSON.stringify would quote the placeholder's brackets alike; autocannon swaps `[<id>]` inside the string.
    body: toolCallBody(session, '[<id>]'),
    uniqueIds: true,
    verify: isToolResult,
  };
}

/** One tools/call with a full check of the answer (before load, and to end a timed connection). */
export async function callToolOnce(session: McpSession): Promise<Record<string, unknown>> {
  const response = await fetch(session.mcpUrl, { method: 'POST', headers: session.headers, body: toolCallBody(session, 2) });
  const body = await response.text();
  const message = parseRpcResponse(body, 2);
  const structured = message?.result?.structuredContent;
  if (response.status !== 200 || !structured || message?.result?.isError || !isToolResult(body)) {
    throw new Error(`tools/call ${BENCH_TOOL} (${session.drive}) at ${session.mcpUrl}: HTTP ${response.status} ${body.slice(0, 300)}`);
  }
  return structured;
}
