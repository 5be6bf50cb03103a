/**
 * The protected MCP endpoints, as handlers for the OAuth provider's `apiHandlers` map. The provider
 * has verified the bearer token when these run (and ../index.ts has checked Origin and Host).
 *
 * /mcp (Streamable HTTP) is served in the Worker itself by default: a fresh MCP server per request,
 * MCP 2026-07-28 and the 2025 revisions on one URL, no Durable Object on the path of a tool call
 * (./stateless-server.ts). With MCP_TRANSPORT=mcp-agent, 2025-era requests go to an McpAgent
 * Durable Object per session instead, as /sse always does; that path adds what McpAgent lacks:
 * - the session id is bound to its user, so another user's token cannot enter the session;
 * - the token's facts (user, scopes, client) travel to the agent with every request.
 */
import { insufficientScope, type OAuthResourceContext } from '@cloudflare/workers-oauth-provider';
import { isJsonContentType, isJSONRPCNotification, isJSONRPCRequest, isJSONRPCResponse, isLegacyRequest, readRequestBody } from '@modelcontextprotocol/server';
import { recordToolCall } from '../audit/hooks';
import { isGrantProps, type GrantProps } from '../auth/props';
import { loadConfig } from '../config';
import { McpSessionAgent } from './agent';
import { MCP_PATH, SSE_PATH } from './paths';
import { withRequestAuth, type RequestAuth } from './request-auth';
import { insufficientScopeMessage, missingScopeFor } from './scope-guard';
import { isSessionOwnedBy, newBoundSessionId } from './session-binding';
import { MAX_MCP_REQUEST_BYTES, modernMcp, serveLegacyStateless, statelessAuthInfo, type StatelessCall } from './stateless-server';

const agentStreamableHttp = McpSessionAgent.serve(MCP_PATH, { binding: 'MCP_OBJECT' });
const legacySse = McpSessionAgent.serveSSE(SSE_PATH, { binding: 'MCP_OBJECT' });

type McpContext = OAuthResourceContext<GrantProps>;

/** A POST body read and parsed once, for the scope check and then for whichever server answers. */
type ReadBody = { text: string; parsed: unknown } | { refused: Response };

/** Streamable HTTP (`/mcp`): the transport MCP Manager and every current client use. */
export const streamableHttpHandler = {
  async fetch(request: Request, env: Env, ctx: McpContext): Promise<Response> {
    const auth = requestAuth(ctx);
    let body: Extract<ReadBody, { text: string }> | undefined;
    if (request.method === 'POST' && isJsonContentType(request.headers.get('content-type'))) {
      const read = await readJsonBody(request);
      if ('refused' in read) return read.refused;
      body = read;
      const refused = stepUpChallenge(body.parsed, ctx, auth, env);
      if (refused) return refused;
    }
    // A lone tools/call may be answered with a step-up (HTTP 403) instead of its result; a batch cannot.
    const call: StatelessCall = { auth, env, stepUp: { wanted: isJSONRPCRequest(body?.parsed) && (body?.parsed as { method?: unknown }).method === 'tools/call' } };
    // A POST that is not JSON, left unread: the SDK answers 415 before classifying anything.
    if (request.method === 'POST' && !body) return modernMcp.fetch(request, { authInfo: authInfoFor(call, ctx) });
    if (await isLegacyRequest(request, body?.parsed, { maxRequestBodySize: MAX_MCP_REQUEST_BYTES })) {
      if (loadConfig(env).mcpTransport === 'mcp-agent') return agentSession(request, env, ctx, auth, body?.text);
      return withStepUp(await serveLegacyStateless(request, call, body?.parsed), call, ctx);
    }
    return withStepUp(await modernMcp.fetch(request, { authInfo: authInfoFor(call, ctx), ...(body && { parsedBody: body.parsed }) }), call, ctx);
  },
};

/** Legacy HTTP+SSE (`/sse`, `/sse/message`), kept for clients that predate Streamable HTTP. */
export const legacySseHandler = {
  async fetch(request: Request, env: Env, ctx: McpContext): Promise<Response> {
    const auth = requestAuth(ctx);
    const { sessionSecret } = loadConfig(env);
    const url = new URL(request.url);
    const sessionId = url.searchParams.get('sessionId');
    let body: string | undefined;
    if (sessionId !== null) {
      if (!(await isSessionOwnedBy(sessionSecret, sessionId, auth.user.userId))) return sessionNotFound();
      if (request.method === 'POST' && isJsonContentType(request.headers.get('content-type'))) {
        // The library parses this body unguarded (a 500 for bad JSON, or for a ZodError it cannot
        // serialise) and reads up to 4 MiB of it; it gets /mcp's cap and a JSON-RPC error here instead.
        const read = await readJsonBody(request);
        if ('refused' in read) return read.refused;
        if (!isJsonRpcMessage(read.parsed)) return jsonRpcError(400, -32600, 'Invalid Request: the body is not a JSON-RPC message');
        body = read.text;
      }
    } else if (request.method === 'GET' && url.pathname === SSE_PATH) {
      // The SSE handler names a new session after this parameter when present.
      url.searchParams.set('sessionId', await newBoundSessionId(sessionSecret, auth.user.userId));
    }
    return asJsonRpcError(await legacySse.fetch(withRequestAuth(request, auth, { url: url.href, body }), env, ctx));
  },
};

/** A 2025-era Streamable HTTP request for the McpAgent (MCP_TRANSPORT=mcp-agent), its session bound to the user. */
async function agentSession(request: Request, env: Env, ctx: McpContext, auth: RequestAuth, body: string | undefined): Promise<Response> {
  const { sessionSecret } = loadConfig(env);
  const sessionId = request.headers.get('mcp-session-id');
  if (sessionId !== null && !(await isSessionOwnedBy(sessionSecret, sessionId, auth.user.userId))) return sessionNotFound();
  const forwarded = withRequestAuth(request, auth, { body });
  if (sessionId !== null || request.method !== 'POST') return asJsonRpcError(await agentStreamableHttp.fetch(forwarded, env, ctx));
  // No session yet: if this request opens one, the agent takes its id from newUniqueId(), which we
  // answer with an id bound to this user.
  const namespace = withSessionId(env.MCP_OBJECT, await newBoundSessionId(sessionSecret, auth.user.userId));
  return asJsonRpcError(await agentStreamableHttp.fetch(forwarded, { MCP_OBJECT: namespace }, ctx));
}

/**
 * The answer to a lone `tools/call` whose tool found an upstream permission missing that authorizing
 * again would grant: HTTP 403 with the step-up challenge naming what the tool needs (MCP
 * authorization, "Scope Challenge Handling"), in place of the tool's error result.
 */
function withStepUp(response: Response, call: StatelessCall, ctx: McpContext): Response {
  const need = call.stepUp?.need;
  if (!need) return response;
  void response.body?.cancel();
  return insufficientScope(ctx.auth, [...need.scopes], need.message);
}

function authInfoFor(call: StatelessCall, ctx: McpContext) {
  return statelessAuthInfo(call, { clientId: call.auth.clientId, scopes: ctx.auth.scope, expiresAt: ctx.auth.expiresAt, resource: ctx.auth.audience });
}

/**
 * Reads a JSON-RPC body under {@link MAX_MCP_REQUEST_BYTES}. A declared length is checked before
 * reading, and then the body is read in one native call (HTTP framing holds it to that length); a
 * chunked body of unknown length is read piece by piece and abandoned as soon as it passes the cap.
 */
async function readJsonBody(request: Request): Promise<ReadBody> {
  const tooLarge = () => ({ refused: jsonRpcError(413, -32000, `Request body too large: at most ${MAX_MCP_REQUEST_BYTES} bytes.`) });
  let text: string;
  try {
    const declared = request.headers.get('content-length');
    if (declared !== null && /^\d+$/.test(declared)) {
      if (Number(declared) > MAX_MCP_REQUEST_BYTES) return tooLarge();
      text = await request.text();
    } else {
      const read = await readRequestBody(request, MAX_MCP_REQUEST_BYTES);
      if (read.tooLarge) return tooLarge();
      text = read.text;
    }
  } catch {
    return { refused: jsonRpcError(400, -32700, 'Parse error: the request body could not be read') };
  }
  try {
    return { text, parsed: JSON.parse(text) as unknown };
  } catch {
    return { refused: jsonRpcError(400, -32700, 'Parse error: the request body is not valid JSON') };
  }
}

/**
 * A lone `tools/call` the token's scopes do not cover is refused here with HTTP 403 and a step-up
 * challenge naming what the tool needs (MCP authorization, "Scope Challenge Handling"), on every
 * protocol revision. Batches and SSE get a JSON-RPC error from the tool catalogue instead.
 */
function stepUpChallenge(message: unknown, ctx: McpContext, auth: RequestAuth, env: Env): Response | undefined {
  const missing = missingScopeFor(message, ctx.auth.scope);
  if (missing) recordToolCall(auth, env, missing.tool, 'insufficient_scope', Date.now());
  return missing ? insufficientScope(ctx.auth, [...missing.required], insufficientScopeMessage(missing)) : undefined;
}

function requestAuth(ctx: McpContext): RequestAuth {
  // The provider only calls API handlers with the props our own /callback stored; anything else is a bug.
  if (!isGrantProps(ctx.props)) throw new Error('Grant props are missing the user identity');
  return { user: ctx.props, scopes: ctx.auth.scope, clientId: ctx.auth.clientId ?? '', grantId: grantIdOf(ctx.auth.token), resource: ctx.auth.audience };
}

/** The provider's tokens are `<userId>:<grantId>:<secret>` (its documented format; the provider has just verified this one). */
function grantIdOf(token: string): string {
  return token.split(':')[1] ?? '';
}

function jsonRpcError(status: number, code: number, message: string): Response {
  return Response.json({ jsonrpc: '2.0', error: { code, message }, id: null }, { status });
}

/**
 * An McpAgent error answer as `application/json`. The agents library builds most of its JSON-RPC error
 * bodies with `new Response(JSON.stringify(…))` and no type, which the runtime sends as `text/plain`
 * (on /mcp with MCP_TRANSPORT=mcp-agent: 406, 400 without a session id, 404 "Session not found" for
 * an ended session), and on /sse/message it answers errors in plain words ("Missing sessionId…",
 * "Unsupported content-type…", "Not Found"). Only errors are read (status 400 and up): the library
 * streams only with 200 and builds every error from a short string. A JSON-RPC error body keeps its
 * bytes; anything else becomes the message of one (-32000, or -32603 for a 5xx), id null.
 */
async function asJsonRpcError(response: Response): Promise<Response> {
  if (response.status < 400 || isJsonContentType(response.headers.get('content-type'))) return response;
  const text = await response.text();
  const body = isJsonRpcErrorBody(text)
    ? text
    : JSON.stringify({ jsonrpc: '2.0', error: { code: response.status >= 500 ? -32603 : -32000, message: text.slice(0, 1000) || `HTTP ${response.status}` }, id: null });
  const headers = new Headers(response.headers);
  headers.set('Content-Type', 'application/json');
  headers.delete('Content-Length');
  return new Response(body, { status: response.status, statusText: response.statusText, headers });
}

/** One JSON-RPC 2.0 message: HTTP+SSE (2024-11-05) carries one per POST, never a batch. */
function isJsonRpcMessage(value: unknown): boolean {
  return isJSONRPCRequest(value) || isJSONRPCNotification(value) || isJSONRPCResponse(value);
}

function isJsonRpcErrorBody(text: string): boolean {
  try {
    const message = JSON.parse(text) as { jsonrpc?: unknown; error?: unknown } | null;
    return typeof message === 'object' && message !== null && message.jsonrpc === '2.0' && typeof message.error === 'object' && message.error !== null;
  } catch {
    return false;
  }
}

/** The answer for an unknown session, and for another user's: the same, so ownership is not revealed. */
function sessionNotFound(): Response {
  return jsonRpcError(404, -32001, 'Session not found');
}

/** The namespace as McpAgent's handler sees it, except that the next new session gets `sessionId`. */
function withSessionId(namespace: DurableObjectNamespace, sessionId: string): DurableObjectNamespace {
  return {
    newUniqueId: () => ({ toString: () => sessionId }) as DurableObjectId,
    idFromName: (name: string) => namespace.idFromName(name),
    idFromString: (id: string) => namespace.idFromString(id),
    get: (id: DurableObjectId, options?: DurableObjectNamespaceGetDurableObjectOptions) => namespace.get(id, options),
    getByName: (name: string, options?: DurableObjectNamespaceGetDurableObjectOptions) => namespace.getByName(name, options),
    jurisdiction: (jurisdiction: DurableObjectJurisdiction) => namespace.jurisdiction(jurisdiction),
  };
}
