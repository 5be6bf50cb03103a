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
import { ErrorCode, LATEST_PROTOCOL_VERSION, McpError } from '@modelcontextprotocol/sdk/types.js';
import { describeRetries, retryWithBackoff } from '../lib/retry.ts';
import { type DoctorContext } from './context.ts';
import { errorMessage, formatSeconds } from './http.ts';
import { checkRequestHeaders, checkRevisions, type Revisions } from './revisions.ts';
import { describeAnswer, MODERN_PROTOCOL_VERSION, postRpc, rpcError } from './wire.ts';

const CLIENT_INFO = { name: 'mcp-doctor', version: '1.0.0' };
/** Tool names listed in the report; more are counted, not named. */
const LISTED_TOOLS_MAX = 8;
const TOOL_OUTPUT_MAX_CHARS = 120;

/**
 * Opens an MCP session over Streamable HTTP with `accessToken` (none: a server without OAuth, asked
 * without credentials) and checks what it serves; whether it opened, which the lifecycle checks
 * need to judge tokens by.
 */
export async function checkMcp(ctx: DoctorContext, accessToken: string | undefined): Promise<boolean> {
  const { checklist, facts, http } = ctx;
  const mcpUrl = new URL(ctx.options.url);
  const sseUrl = /\/sse\/?$/.test(mcpUrl.pathname) ? mcpUrl : new URL('/sse', mcpUrl.origin);
  const requestInit: RequestInit = accessToken === undefined ? {} : { headers: { Authorization: `Bearer ${accessToken}` } };
  const deadlineMs = http.timeoutMs;

  // The first call after the token was issued: a server on eventually consistent storage may not
  // know the token yet where this request lands, so a 401 here is retried with backoff, and reported.
  const { result: attempt, retries } = await retryWithBackoff(
    async () => {
      const transport = new StreamableHTTPClientTransport(mcpUrl, { requestInit, fetch: http.fetch });
      const client = new Client(CLIENT_INFO);
      try {
        await withTimeout(client.connect(transport, { timeout: deadlineMs }), deadlineMs, 'initialize');
        return { transport, client, error: undefined, status: undefined, timedOut: false };
      } catch (error) {
        await client.close().catch(() => undefined);
        const timedOut = error instanceof DeadlineError || (error instanceof McpError && error.code === ErrorCode.RequestTimeout);
        if (timedOut) http.recordTimeout({ request: `initialize (POST ${mcpUrl.href})`, deadlineMs });
        return { transport, client, error: errorMessage(error), status: error instanceof StreamableHTTPError ? error.code : undefined, timedOut };
      }
    },
    // Without a token there is nothing a delay could make valid.
    (result) => (result.status === 401 && accessToken !== undefined ? 'HTTP 401' : undefined),
  );
  const { transport, client } = attempt;
  const connected = attempt.error === undefined;
  const retried = retries.length ? ` (${describeRetries(retries)})` : '';
  facts.mcp = connected ? 'ok' : attempt.timedOut ? 'timed-out' : attempt.status === 401 ? 'unauthorized' : 'failed';

  if (connected) {
    const server = client.getServerVersion();
    const detail = `${server?.name ?? 'server'} ${server?.version ?? ''}, protocol ${transport.protocolVersion ?? 'unknown'}${accessToken === undefined ? ', without credentials' : ''}`.replace(/\s+,/, ',');
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
    await checkUnknownSession(ctx, accessToken ?? '', transport.protocolVersion ?? LATEST_PROTOCOL_VERSION, sessionId !== undefined);
    await transport.terminateSession().catch(() => undefined);
    await client.close().catch(() => undefined);
  }

  const refused = facts.mcp === 'unauthorized' && accessToken !== undefined;
  if (refused) {
    // Every probe would get the same refusal, and read as "this URL speaks no MCP".
    const why = 'the access token is refused (mcp.initialize), so nothing further can be probed';
    checklist.skip('mcp.revisions', why);
    checklist.skip('mcp.request-headers', why);
    checklist.skip('mcp.legacy-sse', why);
    checklist.fail(
      'mcp.initialize',
      `HTTP ${attempt.status}${retried} with the access token this server's own token endpoint issued moments before: ${attempt.error ?? ''}`,
      UNAUTHORIZED_FRESH_TOKEN_FIX,
    );
  } else {
    // The wire probes always name a token; without one, the client sends none (http.withoutCredentials).
    const revisions = await checkRevisions(ctx, accessToken ?? '');
    await checkRequestHeaders(ctx, accessToken ?? '', revisions);
    const sse = await checkLegacySse(ctx, sseUrl, requestInit);
    if (facts.mcp === 'timed-out') {
      checklist.fail('mcp.initialize', `timed out: initialize got no answer within ${formatSeconds(deadlineMs)}${retried}`, 'Answer initialize within a few seconds; MCP Manager gives up on a server that does not answer.');
    } else if (!connected) {
      checklist.fail('mcp.initialize', `${attempt.error ?? ''}${retried}`, initializeFix(revisions, sse));
    }
  }
  if (!connected) {
    checklist.skip('mcp.session', 'no MCP session (mcp.initialize)');
    checklist.skip('mcp.tools-list', 'no MCP session (mcp.initialize)');
    checklist.skip('mcp.tool-call', 'no MCP session (mcp.initialize)');
    checklist.skip('mcp.unknown-session', 'no MCP session (mcp.initialize)');
  }
  return connected;
}

/**
 * Why a server refuses a token it issued itself, and what to do: the common cause is a resource
 * server that checks tokens differently from how its authorization server makes them — above all an
 * OAuth proxy in front of an IdP, which hands out its own tokens but judges each request by the
 * upstream token behind it (FastMCP's OIDC proxy verifies the upstream's access token as a JWT by
 * default, and many IdPs issue opaque ones).
 */
const UNAUTHORIZED_FRESH_TOKEN_FIX =
  'Accept on the MCP endpoint the access tokens your token endpoint issues (RFC 6750 §2.1), with the audience it gives them (RFC 8707). If the server is an OAuth proxy in front of an IdP, verify the upstream token the way that IdP issues it: opaque access tokens need introspection (RFC 7662) or the userinfo endpoint, not a JWT check (or verify the ID token instead).';

async function listAndCall(ctx: DoctorContext, client: Client): Promise<void> {
  const { checklist } = ctx;
  let names: string[] = [];
  try {
    const { tools } = await client.listTools(undefined, { timeout: ctx.http.timeoutMs });
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
    const result = await client.callTool({ name: call.name, arguments: call.arguments }, undefined, { timeout: ctx.http.timeoutMs });
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
    await withTimeout(client.connect(transport, { timeout: ctx.http.timeoutMs }), ctx.http.timeoutMs, 'the SSE connection');
    const { tools } = await client.listTools(undefined, { timeout: ctx.http.timeoutMs });
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

/** The doctor's own deadline on something the MCP SDK awaits, named as a time-out in the report. */
class DeadlineError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} did not finish within ${formatSeconds(ms)}`);
    this.name = 'DeadlineError';
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(what, ms)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
