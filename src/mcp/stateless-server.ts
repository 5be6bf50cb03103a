/**
 * /mcp without a Durable Object: every request is answered by a fresh SDK v2 server built for it
 * (`createMcpHandler`), which speaks MCP 2026-07-28 (per-request `_meta`, `server/discover`, the
 * `Mcp-Method`/`Mcp-Name` headers, `UnsupportedProtocolVersionError`) and, on the same URL, the 2025
 * revisions statelessly (`initialize` answered without a session id; GET and DELETE 405).
 *
 * The handler verifies nothing itself: the OAuth provider has verified the bearer token, and
 * ./routes.ts passes the request's authorization facts in `authInfo.extra` (the token itself is not
 * passed: nothing past the provider needs it). Origin and Host are checked before the provider runs
 * (../index.ts).
 */
import { createMcpHandler, ProtocolError, Server, type AuthInfo, type McpHttpHandler } from '@modelcontextprotocol/server';
import type { RequestAuth } from './request-auth';
import { SERVER_INFO, SERVER_INSTRUCTIONS } from './server-info';
import { callToolAs, listToolsFor, ToolCallRefusal } from './tool-calls';

/** What one request's server is built from. */
export interface StatelessCall {
  auth: RequestAuth;
  env: Env;
}

/**
 * Upper bound on an MCP request body. The largest legitimate request here is a `notes_add` with a
 * 10,000-character note; 1 MiB leaves room for any tool argument while bounding what one
 * unauthenticated-looking flood can make the Worker buffer (the SDK's own default is 4 MiB).
 */
export const MAX_MCP_REQUEST_BYTES = 1024 * 1024;

const EXTRA_KEY = 'mcpWorkersOauthCall';

/** `authInfo` for the SDK handler: what it may know of the token, and this request's call context. */
export function statelessAuthInfo(call: StatelessCall, token: { clientId: string; scopes: string[]; expiresAt?: number; resource: string }): AuthInfo {
  return {
    // The bearer token stays with the OAuth provider; the SDK and the tools never need it.
    token: '',
    clientId: token.clientId,
    scopes: token.scopes,
    ...(token.expiresAt !== undefined && { expiresAt: token.expiresAt }),
    resource: new URL(token.resource),
    extra: { [EXTRA_KEY]: call },
  };
}

function callFrom(authInfo: AuthInfo | undefined): StatelessCall {
  const call = authInfo?.extra?.[EXTRA_KEY] as StatelessCall | undefined;
  // routes.ts always passes it; a request without it would be a wiring bug, not a client's doing.
  if (!call) throw new Error('stateless MCP request without its authorization context');
  return call;
}

/** A fresh server for one request, serving the shared tool catalogue as `call.auth`. */
export function createStatelessServer({ auth, env }: StatelessCall): Server {
  const server = new Server(SERVER_INFO, { capabilities: { tools: {} }, instructions: SERVER_INSTRUCTIONS });
  server.setRequestHandler('tools/list', async () => ({ tools: listToolsFor(auth) }));
  server.setRequestHandler('tools/call', async (request) => {
    try {
      return await callToolAs(auth, env, request.params);
    } catch (error) {
      if (error instanceof ToolCallRefusal) throw new ProtocolError(error.code, error.message, error.data);
      throw error;
    }
  });
  return server;
}

/** The SDK's handler, shared by every request of this isolate: it holds no per-request state. */
export const statelessMcp: McpHttpHandler = createMcpHandler(({ authInfo }) => createStatelessServer(callFrom(authInfo)), {
  legacy: 'stateless',
  maxRequestBodySize: MAX_MCP_REQUEST_BYTES,
  onerror(error) {
    // Rejected requests (bad headers, unsupported versions) and handler faults. The message names
    // the failed check; it never holds a token (none is passed in) or a tool's arguments.
    console.warn(JSON.stringify({ event: 'mcp_error', name: error.name, message: error.message.slice(0, 300) }));
  },
});
