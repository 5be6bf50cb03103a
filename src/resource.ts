/**
 * The protected resource as clients name it.
 *
 * Tokens are bound to one canonical resource, the origin (see provider.ts). Clients, though, name
 * the URL they were given: `https://host/mcp`, `https://host/sse`, with or without a trailing slash,
 * or `https://host/` as `new URL(origin).href` spells it. Each of those is this same server, so it is
 * mapped to the canonical value before the provider, which compares resources exactly, sees it.
 * Every other value, another origin in particular, is left for the provider to refuse.
 */
import type { Scope } from './auth/scopes';
import { MCP_PATH, SSE_PATH } from './mcp/paths';

const WELL_KNOWN_PRM = '/.well-known/oauth-protected-resource';
export const WELL_KNOWN_AS_METADATA = '/.well-known/oauth-authorization-server';
const ALIAS_PATHS = new Set(['/', MCP_PATH, `${MCP_PATH}/`, SSE_PATH, `${SSE_PATH}/`]);

/** The canonical resource for `value` if it names this server by an alias; otherwise undefined. */
export function canonicalResource(value: string, canonical: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.origin !== canonical || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') return undefined;
  return ALIAS_PATHS.has(url.pathname) ? canonical : undefined;
}

/** The MCP endpoint a path belongs to: `/mcp`, or `/sse` for the SSE stream and its message endpoint. */
function endpointOf(pathname: string): string | undefined {
  if (pathname === MCP_PATH || pathname.startsWith(`${MCP_PATH}/`)) return MCP_PATH;
  if (pathname === SSE_PATH || pathname.startsWith(`${SSE_PATH}/`)) return SSE_PATH;
  return undefined;
}

/**
 * The response with its Bearer challenge pointing at the endpoint's own metadata document.
 *
 * The provider names the root document, whose `resource` is the origin. RFC 9728 §3.3 tells a client
 * that found metadata through a challenge to refuse it unless `resource` is identical to the URL it
 * requested; the path-suffixed document for `/mcp` names exactly `<origin>/mcp`. Tokens stay bound to
 * the origin (the aliases map `<origin>/mcp` to it), so one token still works on both endpoints.
 */
export function withEndpointChallenge(response: Response, pathname: string, canonical: string): Response {
  const challenge = response.headers.get('WWW-Authenticate');
  const endpoint = endpointOf(pathname);
  const root = `resource_metadata="${canonical}${WELL_KNOWN_PRM}"`;
  if (challenge === null || endpoint === undefined || !challenge.includes(root)) return response;
  const patched = new Response(response.body, response);
  patched.headers.set('WWW-Authenticate', challenge.replace(root, `resource_metadata="${canonical}${WELL_KNOWN_PRM}${endpoint}"`));
  return patched;
}

/**
 * The authorization server metadata with every resource identifier it issues tokens for in
 * `protected_resources` (RFC 9728 §4): the origin, as the provider lists it, and the endpoint URLs
 * whose own metadata documents name them (`<origin>/mcp`, `<origin>/sse`), so a client that checks the
 * resource it found against this list finds it there.
 */
export async function withEndpointResources(response: Response, canonical: string, options: { registrationOpen: boolean } = { registrationOpen: true }): Promise<Response> {
  if (response.status !== 200 || !response.headers.get('content-type')?.startsWith('application/json')) return response;
  const metadata = (await response.json()) as Record<string, unknown>;
  const listed = Array.isArray(metadata.protected_resources) ? metadata.protected_resources : [canonical];
  metadata.protected_resources = [...new Set([...listed, `${canonical}${MCP_PATH}`, `${canonical}${SSE_PATH}`])];
  // Registration switched off in the admin console: not offered (RFC 8414 §2: the endpoint is optional),
  // so a client learns it needs a pre-registered client before it tries, not from a 403.
  if (!options.registrationOpen) delete metadata.registration_endpoint;
  const headers = new Headers(response.headers);
  headers.delete('content-length');
  return new Response(JSON.stringify(metadata), { status: response.status, headers });
}

/**
 * RFC 9728 metadata at the path-suffixed well-known URLs (`/.well-known/oauth-protected-resource/mcp`),
 * which MCP clients try before the root one. Per RFC 9728 §3.3 each names the URL it describes.
 */
export function pathSuffixedResourceMetadata(request: Request, url: URL, canonical: string, scopes: readonly Scope[]): Response | undefined {
  if (!url.pathname.startsWith(`${WELL_KNOWN_PRM}/`)) return undefined;
  const path = url.pathname.slice(WELL_KNOWN_PRM.length);
  if (path !== MCP_PATH && path !== SSE_PATH) return undefined;
  const cors = corsHeaders(request);
  if (request.method === 'OPTIONS') return new Response(null, { status: 204, headers: cors });
  if (request.method !== 'GET' && request.method !== 'HEAD') return new Response(null, { status: 405, headers: { ...cors, Allow: 'GET, HEAD, OPTIONS' } });
  return Response.json(
    { resource: `${canonical}${path}`, authorization_servers: [canonical], scopes_supported: [...scopes], bearer_methods_supported: ['header'], resource_name: 'MCP server' },
    { headers: { ...cors, 'Cache-Control': 'public, max-age=300' } },
  );
}

/**
 * An authorization request with any aliased `resource` in its query replaced by the canonical value;
 * the request itself when there is nothing to replace.
 */
export function withCanonicalResourceQuery(request: Request, url: URL, canonical: string): Request {
  if (!url.searchParams.has('resource')) return request;
  const rewritten = canonicalResourceParams(url.searchParams, canonical);
  if (!rewritten) return request;
  const target = new URL(url);
  target.search = rewritten.toString();
  return new Request(target, request);
}

/**
 * `params` (a query or a form body) with each `resource` that names this server by an alias replaced
 * by the canonical value; undefined when nothing changed. Every other value, another origin in
 * particular, is left for the provider to refuse.
 */
export function canonicalResourceParams(params: URLSearchParams, canonical: string): URLSearchParams | undefined {
  let changed = false;
  const result = new URLSearchParams();
  for (const [key, value] of params) {
    const mapped = key === 'resource' ? canonicalResource(value, canonical) : undefined;
    if (mapped !== undefined && mapped !== value) changed = true;
    result.append(key, mapped ?? value);
  }
  return changed ? result : undefined;
}

function corsHeaders(request: Request): Record<string, string> {
  const origin = request.headers.get('Origin');
  return origin ? { 'Access-Control-Allow-Origin': origin, Vary: 'Origin', 'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS', 'Access-Control-Allow-Headers': '*', 'Access-Control-Max-Age': '86400' } : {};
}
