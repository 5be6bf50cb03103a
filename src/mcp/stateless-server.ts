/**
 * /mcp without a Durable Object: every request is answered by a fresh MCP server (SDK 2.x) built for
 * it from the shared tool catalogue, and nothing is kept between requests.
 *
 * Two eras on one URL, told apart by the SDK's own classifier (`isLegacyRequest`, in ./routes.ts):
 * - MCP 2026-07-28 requests go to the SDK's `createMcpHandler` (strict: `legacy: 'reject'`), which
 *   implements that revision: per-request `_meta`, `server/discover`, the `Mcp-Method`/`Mcp-Name`
 *   header checks, `UnsupportedProtocolVersionError`;
 * - 2025-era requests (2025-03-26, 2025-06-18, 2025-11-25: `initialize`, then requests) go to the
 *   SDK's stateless Streamable HTTP transport: no session id issued, GET and DELETE 405, and each
 *   answer one JSON body. The SDK's own stateless fallback answers with an SSE stream per request,
 *   which only pays off when a tool sends progress or log notifications before its result; these
 *   tools never do, and the 2025 revisions require clients to accept either (2025-03-26,
 *   Streamable HTTP, "Sending Messages"). One JSON body costs the Worker less and passes through
 *   any proxy unbuffered.
 *
 * Neither verifies anything: the OAuth provider has verified the bearer token, and ./routes.ts passes
 * the request's authorization facts (never the token itself). Origin and Host are checked before
 * the provider runs (../index.ts).
 */
import { createMcpHandler, ProtocolError, Server, WebStandardStreamableHTTPServerTransport, type AuthInfo, type McpHttpHandler } from '@modelcontextprotocol/server';
import type { RequestAuth } from './request-auth';
import { SERVER_INFO, SERVER_INSTRUCTIONS } from './server-info';
import { callToolAs, listToolsFor, ToolCallRefusal, type StepUpHandler } from './tool-calls';

/** What one request's server is built from. */
export interface StatelessCall {
  auth: RequestAuth;
  env: Env;
  /**
   * Set by the route for a request that is one JSON-RPC request (no batch), where a tool's step-up
   * can become the HTTP answer (./tool-calls.ts, StepUpHandler); the tool call fills it in.
   */
  stepUp?: { wanted: boolean; need?: Parameters<StepUpHandler>[0] };
}

/**
 * Upper bound on an MCP request body. The largest legitimate request here is a `notes_add` with a
 * 10,000-character note; 1 MiB leaves room for any tool argument while bounding what one request
 * can make the Worker buffer (the SDK's own default is 4 MiB).
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
export function createStatelessServer(call: StatelessCall): Server {
  const { auth, env } = call;
  const server = new Server(SERVER_INFO, { capabilities: { tools: {} }, instructions: SERVER_INSTRUCTIONS });
  server.setRequestHandler('tools/list', async () => ({ tools: listToolsFor(auth) }));
  server.setRequestHandler('tools/call', async (request) => {
    try {
      return await callToolAs(auth, env, request.params, (need) => {
        if (!call.stepUp?.wanted) return false;
        call.stepUp.need ??= need;
        return true;
      });
    } catch (error) {
      if (error instanceof ToolCallRefusal) throw new ProtocolError(error.code, error.message, error.data);
      throw error;
    }
  });
  return server;
}

function reportError(error: Error): void {
  // Rejected requests (bad headers, unsupported versions) and handler faults. The message names the
  // failed check; it never holds a token (none is passed in) or a tool's arguments.
  console.warn(JSON.stringify({ event: 'mcp_error', name: error.name, message: error.message.slice(0, 300) }));
}

/** MCP 2026-07-28 requests: the SDK's handler, shared by every request of this isolate (it keeps no per-request state). */
export const modernMcp: McpHttpHandler = createMcpHandler(({ authInfo }) => createStatelessServer(callFrom(authInfo)), {
  legacy: 'reject',
  maxRequestBodySize: MAX_MCP_REQUEST_BYTES,
  onerror: reportError,
});

/**
 * A 2025-era request, answered by a fresh server over a stateless transport (no session id) in one
 * JSON body. `parsedBody` is the body the route already read; GET and DELETE, which manage sessions
 * in those revisions, have none to manage here: 405.
 */
export async function serveLegacyStateless(request: Request, call: StatelessCall, parsedBody: unknown): Promise<Response> {
  if (request.method !== 'POST') {
    return Response.json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed: this server keeps no sessions.' }, id: null }, { status: 405, headers: { Allow: 'POST' } });
  }
  const server = createStatelessServer(call);
  server.onerror = reportError;
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true, maxRequestBodySize: MAX_MCP_REQUEST_BYTES });
  await server.connect(transport);
  // Not closed afterwards, on purpose. In JSON mode the response resolves only once every request in
  // the body has been answered, and the pair holds no stream, timer or pending request: it is
  // garbage the moment this returns. Closing would only build a ConnectionClosed error, stack trace
  // included, to reject pending requests there are none of: about a tenth of the JavaScript time of
  // a tool call in the bench's profile (`npm run bench -- --profile 4`).
  return transport.handleRequest(request, parsedBody === undefined ? undefined : { parsedBody });
}
