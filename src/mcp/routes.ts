/**
 * The protected MCP endpoints, as handlers for the OAuth provider's `apiHandlers` map. The provider
 * has already verified the bearer token when these run; they add what McpAgent lacks:
 * - the session id is bound to its user, so another user's token cannot enter the session;
 * - the token's facts (user, scopes, client) travel to the agent with every request.
 */
import { insufficientScope, type OAuthResourceContext } from '@cloudflare/workers-oauth-provider';
import { isGrantProps, type GrantProps } from '../auth/props';
import { loadConfig } from '../config';
import { McpSessionAgent } from './agent';
import { withRequestAuth, type RequestAuth } from './request-auth';
import { insufficientScopeMessage, missingScopeFor } from './scope-guard';
import { isSessionOwnedBy, newBoundSessionId } from './session-binding';

export const MCP_PATH = '/mcp';
export const SSE_PATH = '/sse';

const streamableHttp = McpSessionAgent.serve(MCP_PATH, { binding: 'MCP_OBJECT' });
const legacySse = McpSessionAgent.serveSSE(SSE_PATH, { binding: 'MCP_OBJECT' });

type McpContext = OAuthResourceContext<GrantProps>;

/** Streamable HTTP (`/mcp`): the transport MCP Manager and every current client use. */
export const streamableHttpHandler = {
  async fetch(request: Request, env: Env, ctx: McpContext): Promise<Response> {
    const auth = requestAuth(ctx);
    const { sessionSecret } = loadConfig(env);
    const sessionId = request.headers.get('mcp-session-id');
    if (sessionId !== null && !(await isSessionOwnedBy(sessionSecret, sessionId, auth.user.userId))) return sessionNotFound();

    let body: string | undefined;
    if (request.method === 'POST') {
      body = await request.text();
      const refused = stepUpChallenge(body, ctx);
      if (refused) return refused;
    }
    const forwarded = withRequestAuth(request, auth, { body });
    if (sessionId !== null || request.method !== 'POST') return streamableHttp.fetch(forwarded, env, ctx);
    // No session yet: if this request opens one, the agent takes its id from newUniqueId(), which we
    // answer with an id bound to this user.
    const namespace = withSessionId(env.MCP_OBJECT, await newBoundSessionId(sessionSecret, auth.user.userId));
    return streamableHttp.fetch(forwarded, { MCP_OBJECT: namespace }, ctx);
  },
};

/** Legacy HTTP+SSE (`/sse`, `/sse/message`), kept for clients that predate Streamable HTTP. */
export const legacySseHandler = {
  async fetch(request: Request, env: Env, ctx: McpContext): Promise<Response> {
    const auth = requestAuth(ctx);
    const { sessionSecret } = loadConfig(env);
    const url = new URL(request.url);
    const sessionId = url.searchParams.get('sessionId');
    if (sessionId !== null) {
      if (!(await isSessionOwnedBy(sessionSecret, sessionId, auth.user.userId))) return sessionNotFound();
    } else if (request.method === 'GET' && url.pathname === SSE_PATH) {
      // The SSE handler names a new session after this parameter when present.
      url.searchParams.set('sessionId', await newBoundSessionId(sessionSecret, auth.user.userId));
    }
    return legacySse.fetch(withRequestAuth(request, auth, { url: url.href }), env, ctx);
  },
};

/**
 * A lone `tools/call` the token's scopes do not cover is refused here with HTTP 403 and a step-up
 * challenge naming what the tool needs (MCP authorization, "Scope Challenge Handling"). Batches and
 * SSE get a JSON-RPC error from the tool server instead.
 */
function stepUpChallenge(body: string, ctx: McpContext): Response | undefined {
  let message: unknown;
  try {
    message = JSON.parse(body);
  } catch {
    return undefined; // the transport answers malformed JSON with its own parse error
  }
  const missing = missingScopeFor(message, ctx.auth.scope);
  return missing ? insufficientScope(ctx.auth, [...missing.required], insufficientScopeMessage(missing)) : undefined;
}

function requestAuth(ctx: McpContext): RequestAuth {
  // The provider only calls API handlers with the props our own /callback stored; anything else is a bug.
  if (!isGrantProps(ctx.props)) throw new Error('Grant props are missing the user identity');
  return { user: ctx.props, scopes: ctx.auth.scope, clientId: ctx.auth.clientId ?? '' };
}

/** The answer for an unknown session, and for another user's: the same, so ownership is not revealed. */
function sessionNotFound(): Response {
  return Response.json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }, { status: 404 });
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
