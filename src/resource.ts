/**
 * The protected resource as clients name it.
 *
 * Tokens are bound to one canonical resource, the origin (see provider.ts). Clients, though, name
 * the URL they were given: `https://host/mcp`, `https://host/sse`, with or without a trailing slash,
 * or `https://host/` as `new URL(origin).href` spells it. Each of those is this same server, so it is
 * mapped to the canonical value before the provider, which compares resources exactly, sees it.
 * Every other value, another origin in particular, is left for the provider to refuse.
 */
import { MCP_PATH, SSE_PATH } from './mcp/routes';

const WELL_KNOWN_PRM = '/.well-known/oauth-protected-resource';
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

/**
 * RFC 9728 metadata at the path-suffixed well-known URLs (`/.well-known/oauth-protected-resource/mcp`),
 * which MCP clients try before the root one. Per RFC 9728 §3.3 each names the URL it describes.
 */
export function pathSuffixedResourceMetadata(request: Request, url: URL, canonical: string): Response | undefined {
  if (!url.pathname.startsWith(`${WELL_KNOWN_PRM}/`)) return undefined;
  const path = url.pathname.slice(WELL_KNOWN_PRM.length);
  if (path !== MCP_PATH && path !== SSE_PATH) return undefined;
  const cors = corsHeaders(request);
  if (request.method === 'OPTIONS') return new Response(null, { status: 204, headers: cors });
  if (request.method !== 'GET' && request.method !== 'HEAD') return new Response(null, { status: 405, headers: { ...cors, Allow: 'GET, HEAD, OPTIONS' } });
  return Response.json(
    { resource: `${canonical}${path}`, authorization_servers: [canonical], bearer_methods_supported: ['header'], resource_name: 'MCP server' },
    { headers: { ...cors, 'Cache-Control': 'public, max-age=300' } },
  );
}

/**
 * The request with any aliased `resource` parameter replaced by the canonical value: in the query of
 * an authorization request, in the form body of a token request.
 */
export async function withCanonicalResource(request: Request, url: URL, canonical: string, tokenPath: string): Promise<Request> {
  if (url.searchParams.has('resource')) {
    const rewritten = rewrite(url.searchParams, canonical);
    if (rewritten) {
      const target = new URL(url);
      target.search = rewritten.toString();
      return new Request(target, request);
    }
  }
  if (request.method === 'POST' && url.pathname === tokenPath && request.headers.get('content-type')?.startsWith('application/x-www-form-urlencoded')) {
    const body = new URLSearchParams(await request.clone().text());
    const rewritten = rewrite(body, canonical);
    if (rewritten) return new Request(request, { body: rewritten.toString() });
  }
  return request;
}

function rewrite(params: URLSearchParams, canonical: string): URLSearchParams | undefined {
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
