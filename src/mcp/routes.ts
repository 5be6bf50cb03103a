/**
 * The protected MCP endpoints, as handlers for the OAuth provider's `apiHandlers` map. The provider
 * has already verified the bearer token when these run; they add what McpAgent lacks:
 * - the session id is bound to its user, so another user's token cannot enter the session;
 * - the token's facts (user, scopes, client) travel to the agent with every request.
 */
import type { OAuthResourceContext } from '@cloudflare/workers-oauth-provider';
import { isGrantProps, type GrantProps } from '../auth/props';
import { loadConfig } from '../config';
import { McpSessionAgent } from './agent';
import { withRequestAuth, type RequestAuth } from './request-auth';
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
    if (sessionId !== null) {
      if (!(await isSessionOwnedBy(sessionSecret, sessionId, auth.user.userId))) return sessionNotFound();
      return streamableHttp.fetch(withRequestAuth(request, auth), env, ctx);
    }
    // No session yet: if this request opens one, the agent takes its id from newUniqueId(), which we
    // answer with an id bound to this user.
    const namespace = request.method === 'POST' ? withSessionId(env.MCP_OBJECT, await newBoundSessionId(sessionSecret, auth.user.userId)) : env.MCP_OBJECT;
    return streamableHttp.fetch(withRequestAuth(request, auth), { MCP_OBJECT: namespace }, ctx);
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
    return legacySse.fetch(withRequestAuth(request, auth, url.href), env, ctx);
  },
};

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
