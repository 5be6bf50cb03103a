/**
 * Step 5: MCP itself, with the official SDK client and the access token — over Streamable HTTP,
 * the only transport MCP Manager speaks, then the protocol revisions the URL answers
 * (./revisions.ts), then legacy SSE for information.
 *
 * Sessions are the server's choice: a stateless server issues no Mcp-Session-Id (and ignores one
 * sent to it, as MCP 2026-07-28 advises); a sessionful one must answer 404 to an id it never issued,
 * which is what makes clients start a new session. Neither is a failure by itself.
 * @see https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#streamable-http
 * @see https://modelcontextprotocol.io/specification/2026-07-28/basic/transports/streamable-http#earlier-streamable-http-revisions
 */
import { randomUUID } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { describeRetries, retryWithBackoff } from '../lib/retry.ts';
import { type DoctorContext } from './context.ts';
import { errorMessage, HTTP_TIMEOUT_MS } from './http.ts';
import { checkRequestHeaders, checkRevisions, type Revisions } from './revisions.ts';
import { describeAnswer, MODERN_PROTOCOL_VERSION, postRpc, rpcError } from './wire.ts';

const CLIENT_INFO = { name: 'mcp-doctor', version: '1.0.0' };
/** Tool names listed in the report; more are counted, not named. */
const LISTED_TOOLS_MAX = 8;
const TOOL_OUTPUT_MAX_CHARS = 120;

/** Whether an MCP session over Streamable HTTP could be opened: the lifecycle checks need one. */
export async function checkMcp(ctx: DoctorContext, accessToken: string): Promise<boolean> {
  const { checklist } = ctx;
  const mcpUrl = new URL(ctx.options.url);
  const sseUrl = /\/sse\/?$/.test(mcpUrl.pathname) ? mcpUrl : new URL('/sse', mcpUrl.origin);
  const requestInit = { headers: { Authorization: `Bearer ${accessToken}` } };

  // The first call after the token was issued: a server on eventually consistent storage may not
  // know the token yet where this request lands, so a 401 here is retried with backoff, and reported.
  const { result: attempt, retries } = await retryWithBackoff(
    async () => {
      const transport = new StreamableHTTPClientTransport(mcpUrl, { requestInit, fetch: ctx.http.fetch });
      const client = new Client(CLIENT_INFO);
      try {
        await withTimeout(client.connect(transport, { timeout: HTTP_TIMEOUT_MS }), HTTP_TIMEOUT_MS, 'initialize');
        return { transport, client, error: undefined, unauthorized: false };
      } catch (error) {
        await client.close().catch(() => undefined);
        return { transport, client, error: errorMessage(error), unauthorized: error instanceof StreamableHTTPError && error.code === 401 };
      }
    },
    (result) => (result.unauthorized ? 'HTTP 401' : undefined),
  );
  const { transport, client } = attempt;
  const connected = attempt.error === undefined;
  const initializeError = `${attempt.error ?? ''}${retries.length ? ` (${describeRetries(retries)})` : ''}`;

  if (connected) {
    const server = client.getServerVersion();
    const detail = `${server?.name ?? 'server'} ${server?.version ?? ''}, protocol ${transport.protocolVersion ?? 'unknown'}`.replace(/\s+,/, ',');
    if (retries.length) {
      checklist.warn('mcp.initialize', `${detail}, but only on a later attempt: ${describeRetries(retries)}`, 'Accept a freshly issued access token at once (read-your-writes token storage): MCP Manager uses it right away.');
    } else {
      checklist.pass('mcp.initialize', detail);
    }
    const sessionId = transport.sessionId;
    if (sessionId) {
      checklist.pass('mcp.session', `sessionful: initialize issued an Mcp-Session-Id (${sessionId.length} characters)`);
    } else {
      checklist.pass('mcp.session', 'stateless: initialize issued no Mcp-Session-Id, which is right for a server without per-session state');
    }
    await listAndCall(ctx, client);
    await checkUnknownSession(ctx, accessToken, transport.protocolVersion ?? LATEST_PROTOCOL_VERSION, sessionId !== undefined);
    await transport.terminateSession().catch(() => undefined);
    await client.close().catch(() => undefined);
  }

  const revisions = await checkRevisions(ctx, accessToken);
  await checkRequestHeaders(ctx, accessToken, revisions);

  const sse = await checkLegacySse(ctx, sseUrl, requestInit);
  if (!connected) {
    checklist.fail(
      'mcp.initialize',
      initializeError,
      initializeFix(revisions, sse),
    );
    checklist.block('no MCP session (mcp.initialize)');
  }
  return connected;
}

async function listAndCall(ctx: DoctorContext, client: Client): Promise<void> {
  const { checklist } = ctx;
  let names: string[] = [];
  try {
    const { tools } = await client.listTools(undefined, { timeout: HTTP_TIMEOUT_MS });
    names = tools.map((tool) => tool.name);
    const shown = names.slice(0, LISTED_TOOLS_MAX).join(', ') + (names.length > LISTED_TOOLS_MAX ? `, … (${names.length - LISTED_TOOLS_MAX} more)` : '');
    checklist.pass('mcp.tools-list', `${names.length} ${names.length === 1 ? 'tool' : 'tools'}${names.length ? `: ${shown}` : ''}`);
  } catch (error) {
    checklist.fail('mcp.tools-list', errorMessage(error), 'Answer tools/list for an initialized session (MCP server/tools).');
  }

  const call = ctx.options.call;
  if (!call) {
    checklist.skip('mcp.tool-call', 'not asked: add --call <tool>[:<json arguments>] to call one');
    return;
  }
  if (names.length && !names.includes(call.name)) {
    checklist.fail('mcp.tool-call', `no tool named ${call.name} (the server lists ${names.join(', ')})`, 'Name a tool from tools/list in --call.');
    return;
  }
  try {
    const result = await client.callTool({ name: call.name, arguments: call.arguments }, undefined, { timeout: HTTP_TIMEOUT_MS });
    const output = summarize(result);
    if (result.isError === true) checklist.fail('mcp.tool-call', `${call.name} returned an error: ${output}`, 'Make the tool succeed for this user, or check the arguments given to --call.');
    else checklist.pass('mcp.tool-call', `${call.name}: ${output}`);
  } catch (error) {
    checklist.fail('mcp.tool-call', `${call.name}: ${errorMessage(error)}`, 'Answer tools/call with a result, or with isError: true for a failure the caller can fix.');
  }
}

/**
 * A request carrying a session id the server never issued. A sessionful server must answer 404,
 * which makes clients start a new session (2025-11-25, session management); a stateless one ignores
 * the header and serves the request (2026-07-28, "Earlier Streamable HTTP Revisions") — or answers
 * 404 too; either way a client holding a stale id (say, from before the server went stateless)
 * carries on. Anything else strands such a client: for a sessionful server that is a failure, for a
 * stateless one a warning (MCP Manager never sends an id that was not issued).
 */
async function checkUnknownSession(ctx: DoctorContext, accessToken: string, protocolVersion: string, sessionful: boolean): Promise<void> {
  const { checklist } = ctx;
  const answer = await postRpc(
    ctx.http,
    ctx.options.url,
    accessToken,
    { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} },
    { 'Mcp-Session-Id': `mcp-doctor-${randomUUID()}`, 'MCP-Protocol-Version': protocolVersion },
  );
  const served = answer.status >= 200 && answer.status < 300 && answer.message !== undefined && rpcError(answer) === undefined;
  if (sessionful) {
    if (answer.status === 404) checklist.pass('mcp.unknown-session', 'sessionful: 404');
    else {
      checklist.fail(
        'mcp.unknown-session',
        describeAnswer(answer),
        'Answer 404 to a request with an unknown or expired Mcp-Session-Id, so clients start a new session (MCP Streamable HTTP, session management).',
      );
    }
  } else if (served) {
    checklist.pass('mcp.unknown-session', `stateless: served (HTTP ${answer.status}), the header ignored as ${MODERN_PROTOCOL_VERSION} advises`);
  } else if (answer.status === 404) {
    checklist.pass('mcp.unknown-session', 'stateless: 404, so a client holding an old id starts over');
  } else {
    checklist.warn(
      'mcp.unknown-session',
      `stateless, but a request with a made-up id got ${describeAnswer(answer)}`,
      `Ignore an Mcp-Session-Id on a stateless server and serve the request (MCP ${MODERN_PROTOCOL_VERSION}, Streamable HTTP, "Earlier Streamable HTTP Revisions"), or answer 404 so the client starts over.`,
    );
  }
}

/** What to do when initialize failed, given what the revision probes and legacy SSE found. */
function initializeFix(revisions: Revisions, sse: 'works' | 'absent' | 'broken'): string {
  if (revisions.modern) {
    return `This URL answers only MCP ${MODERN_PROTOCOL_VERSION} (server/discover); MCP Manager speaks the 2025 revisions over Streamable HTTP: answer initialize too, as a dual-era server (MCP ${MODERN_PROTOCOL_VERSION}, versioning, "Backward Compatibility").`;
  }
  if (sse === 'works') {
    return 'MCP Manager needs Streamable HTTP: serve it (one endpoint taking POST, MCP 2025-03-26 and later) and give MCP Manager that URL; legacy SSE alone will not do.';
  }
  return 'Answer initialize over Streamable HTTP to a request with a valid bearer token; the detail is the error the MCP SDK client saw.';
}

/** Informational: MCP Manager never uses it, other clients may. */
async function checkLegacySse(ctx: DoctorContext, sseUrl: URL, requestInit: RequestInit): Promise<'works' | 'absent' | 'broken'> {
  const transport = new SSEClientTransport(sseUrl, { requestInit, fetch: ctx.http.fetch });
  const client = new Client(CLIENT_INFO);
  try {
    await withTimeout(client.connect(transport, { timeout: HTTP_TIMEOUT_MS }), HTTP_TIMEOUT_MS, 'the SSE connection');
    const { tools } = await client.listTools(undefined, { timeout: HTTP_TIMEOUT_MS });
    ctx.checklist.pass('mcp.legacy-sse', `offered at ${sseUrl.href}, works (${tools.length} tools); MCP Manager does not use it`);
    return 'works';
  } catch (error) {
    const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
    if (code === 404 || code === 405) {
      ctx.checklist.skip('mcp.legacy-sse', `not offered at ${sseUrl.href} (HTTP ${code}); fine, MCP Manager uses Streamable HTTP only`);
      return 'absent';
    }
    ctx.checklist.warn('mcp.legacy-sse', `${sseUrl.href}: ${errorMessage(error)}`, 'Optional: fix or remove the legacy SSE endpoint; MCP Manager uses Streamable HTTP only.');
    return 'broken';
  } finally {
    await client.close().catch(() => undefined);
  }
}

/**
 * A raw initialize with `accessToken`, for the lifecycle checks: the HTTP status only. A session it
 * opens is ended at once.
 */
export async function probeMcp(ctx: DoctorContext, accessToken: string): Promise<number> {
  const headers = { Authorization: `Bearer ${accessToken}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };
  const { status, response } = await ctx.http.request(ctx.options.url, {
    method: 'POST',
    headers,
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: CLIENT_INFO } }),
  });
  const sessionId = response.headers.get('mcp-session-id');
  if (sessionId) await ctx.http.request(ctx.options.url, { method: 'DELETE', headers: { ...headers, 'Mcp-Session-Id': sessionId } }).catch(() => undefined);
  return status;
}

function summarize(result: unknown): string {
  if (typeof result !== 'object' || result === null) return String(result);
  const { content, structuredContent } = result as { content?: unknown; structuredContent?: unknown };
  let text = '';
  if (Array.isArray(content)) {
    text = content
      .map((part: unknown) => (typeof part === 'object' && part !== null && 'text' in part && typeof part.text === 'string' ? part.text : ''))
      .join(' ')
      .trim();
  }
  if (!text && structuredContent !== undefined) text = JSON.stringify(structuredContent);
  const oneLine = text.replace(/\s+/g, ' ');
  return oneLine.length > TOOL_OUTPUT_MAX_CHARS ? `${oneLine.slice(0, TOOL_OUTPUT_MAX_CHARS)}…` : oneLine || '(no content)';
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
