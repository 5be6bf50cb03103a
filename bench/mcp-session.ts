/**
 * The MCP side of the bench: open a Streamable HTTP session (initialize + notifications/initialized),
 * and build the `tools/call` request the load generator repeats on it, with a check of its answer.
 */
import { parseRpcResponse, PROTOCOL_VERSION } from '../test/support/mcp-wire.ts';
import type { LoadRequest } from './load.ts';

/** The cheap tool every variant offers: the project's `whoami`, an echo of the same shape in the bench workers. */
export const BENCH_TOOL = 'whoami';

export interface McpSession {
  mcpUrl: string;
  /** Headers of every request on the session: content negotiation, session id, protocol version, bearer token. */
  headers: Record<string, string>;
}

function baseHeaders(token: string | undefined): Record<string, string> {
  return {
    'Content-Type': 'application/json',
    Accept: 'application/json, text/event-stream',
    ...(token ? { Authorization: `Bearer ${token}` } : {}),
  };
}

/** initialize, then notifications/initialized; throws unless the server opened a session. */
export async function openSession(mcpUrl: string, token: string | undefined): Promise<McpSession> {
  const initialize = await fetch(mcpUrl, {
    method: 'POST',
    headers: baseHeaders(token),
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'bench', version: '1.0.0' } },
    }),
  });
  const body = await initialize.text();
  const sessionId = initialize.headers.get('mcp-session-id');
  if (initialize.status !== 200 || !sessionId) throw new Error(`initialize at ${mcpUrl}: HTTP ${initialize.status} ${body.slice(0, 300)}`);
  const headers = { ...baseHeaders(token), 'Mcp-Session-Id': sessionId, 'MCP-Protocol-Version': PROTOCOL_VERSION };
  const initialized = await fetch(mcpUrl, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
  await initialized.text();
  if (initialized.status !== 202) throw new Error(`notifications/initialized at ${mcpUrl}: HTTP ${initialized.status}`);
  return { mcpUrl, headers };
}

/** A successful, non-error tool result for the bench tool. Cheap: runs on every response under load. */
export function isToolResult(body: string): boolean {
  return body.includes('"result":{"content":[') && !body.includes('"isError":true');
}

/** The `tools/call` the load generator repeats; `[<id>]` becomes a fresh JSON-RPC id per request. */
export function toolCallLoad(session: McpSession): LoadRequest {
  return {
    url: session.mcpUrl,
    method: 'POST',
    headers: session.headers,
    body: JSON.stringify({ jsonrpc: '2.0', id: '[<id>]', method: 'tools/call', params: { name: BENCH_TOOL, arguments: {} } }),
    uniqueIds: true,
    verify: isToolResult,
  };
}

/** One tools/call with a full check of the answer (before load, and to end a timed connection). */
export async function callToolOnce(session: McpSession): Promise<Record<string, unknown>> {
  const response = await fetch(session.mcpUrl, {
    method: 'POST',
    headers: session.headers,
    body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: BENCH_TOOL, arguments: {} } }),
  });
  const body = await response.text();
  const message = parseRpcResponse(body, 2);
  const structured = message?.result?.structuredContent;
  if (response.status !== 200 || !structured || message?.result?.isError || !isToolResult(body)) {
    throw new Error(`tools/call ${BENCH_TOOL} at ${session.mcpUrl}: HTTP ${response.status} ${body.slice(0, 300)}`);
  }
  return structured;
}
