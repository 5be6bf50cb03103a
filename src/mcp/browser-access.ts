/**
 * What browsers may do with the MCP endpoints.
 *
 * DNS rebinding: a page on a hostile site can make a victim's browser talk to a server under a
 * name the attacker controls, and the browser then sends the hostile page's `Origin`. The MCP
 * Streamable HTTP transport requires servers to validate it: a request carrying a foreign Origin is
 * refused with 403. Requests without an Origin (every non-browser client) are unaffected.
 *
 * CORS: the OAuth provider answers preflights and adds CORS headers to protected responses, but
 * exposes only `WWW-Authenticate`; browser-based clients (MCP Inspector's web UI) also need to read
 * `Mcp-Session-Id` and `MCP-Protocol-Version`.
 */
import { isLoopbackHost } from '../config';
import { MCP_PATH, SSE_PATH } from './paths';

const MCP_EXPOSED_HEADERS = ['Mcp-Session-Id', 'MCP-Protocol-Version'];

export function isMcpPath(pathname: string): boolean {
  return [MCP_PATH, SSE_PATH].some((path) => pathname === path || pathname.startsWith(`${path}/`));
}

/** Same-origin, listed in `allowedOrigins`, or any when the list holds `*`. */
export function isAllowedOrigin(origin: string, serverOrigin: string, allowedOrigins: readonly string[]): boolean {
  if (origin === serverOrigin || allowedOrigins.includes('*')) return true;
  return allowedOrigins.includes(origin.toLowerCase());
}

export function foreignOriginResponse(): Response {
  return Response.json({ jsonrpc: '2.0', error: { code: -32000, message: 'Forbidden: this Origin may not access the MCP server' }, id: null }, { status: 403 });
}

/** The response with the MCP headers added to what CORS lets a browser read. */
export function exposeMcpHeaders(response: Response): Response {
  const exposed = response.headers.get('Access-Control-Expose-Headers');
  if (exposed === null) return response;
  const patched = new Response(response.body, response);
  patched.headers.set('Access-Control-Expose-Headers', [exposed, ...MCP_EXPOSED_HEADERS].join(', '));
  return patched;
}

/**
 * Whether a Host-derived origin can be this server's own, when PUBLIC_URL does not fix it: https, or
 * plain http on a loopback name (local development). Anything else is a misdirected request, such as
 * a DNS-rebinding page reaching a local server under the attacker's name.
 */
export function isServableOrigin(origin: string): boolean {
  const { protocol, hostname } = new URL(origin);
  return protocol === 'https:' || (protocol === 'http:' && isLoopbackHost(hostname));
}

export function misdirectedRequestResponse(): Response {
  return new Response('This server is not served under that name. Set PUBLIC_URL, or use https or a loopback address.\n', {
    status: 421,
    headers: { 'Content-Type': 'text/plain; charset=utf-8' },
  });
}
