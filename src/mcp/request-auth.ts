/**
 * The authorization facts of one MCP request, carried from the Worker (which verified the bearer
 * token) to the session's Durable Object in an internal header.
 *
 * Why a header and not the agent's props: McpAgent receives props only when its Durable Object
 * first starts, so they would go stale when a client steps up, narrows its scope on refresh or
 * presents a different token. The header is rebuilt from the verified token on every request, and
 * {@link withRequestAuth} always removes any copy the client sent, so it cannot be forged from outside.
 */
import type { GrantProps } from '../auth/props';

export const REQUEST_AUTH_HEADER = 'x-mcp-request-auth';

export interface RequestAuth {
  user: GrantProps;
  /** Scopes of the presented token, as granted (not expanded). */
  scopes: string[];
  clientId: string;
  /** The grant the token belongs to, so a tool whose upstream sign-in is dead can end it (../upstream/api.ts). */
  grantId: string;
  /** The canonical resource the token was accepted for (this server's origin). */
  resource: string;
}

/**
 * A copy of `request` whose headers carry `auth` and no longer carry the bearer token.
 * `body` replaces the body when the caller has already read it.
 */
export function withRequestAuth(request: Request, auth: RequestAuth, options: { url?: string; body?: string } = {}): Request {
  const headers = new Headers(request.headers);
  // The token has been verified; nothing past this point needs it, so it does not travel further.
  headers.delete('authorization');
  headers.set(REQUEST_AUTH_HEADER, encodeURIComponent(JSON.stringify(auth)));
  return new Request(options.url ?? request.url, { method: request.method, headers, body: options.body ?? request.body });
}

/** Reads the header set by {@link withRequestAuth}; undefined when absent or malformed. */
export function readRequestAuth(headers: Record<string, string | string[] | undefined> | undefined): RequestAuth | undefined {
  const raw = headers?.[REQUEST_AUTH_HEADER];
  if (typeof raw !== 'string') return undefined;
  try {
    const value: unknown = JSON.parse(decodeURIComponent(raw));
    if (typeof value !== 'object' || value === null) return undefined;
    const auth = value as Partial<RequestAuth>;
    if (!auth.user || typeof auth.user.userId !== 'string' || !Array.isArray(auth.scopes) || typeof auth.clientId !== 'string' || typeof auth.grantId !== 'string' || typeof auth.resource !== 'string') return undefined;
    return auth as RequestAuth;
  } catch {
    return undefined;
  }
}
