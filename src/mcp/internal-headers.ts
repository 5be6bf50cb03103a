/**
 * Request headers that carry facts between this Worker and its Durable Objects, and that a client
 * must never be able to set. The agents library reads `x-agents-lifecycle-props` as the agent's
 * props and its MCP bridge reads `cf-mcp-method`/`cf-mcp-message`; ./request-auth.ts uses
 * `x-mcp-request-auth`. Every client request to an MCP endpoint has all of these removed before it
 * goes further, whatever a library version adds under the same prefixes.
 */
import { REQUEST_AUTH_HEADER } from './request-auth';

const INTERNAL_PREFIXES = ['x-agents-', 'x-cf-agents-', 'x-partykit-', 'cf-mcp-', 'cf-agent'];

export function isInternalHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return lower === REQUEST_AUTH_HEADER || INTERNAL_PREFIXES.some((prefix) => lower.startsWith(prefix));
}

/** `request` without any internal header; the same object when it carries none. */
export function withoutInternalHeaders(request: Request): Request {
  const internal = [...request.headers.keys()].filter(isInternalHeader);
  if (internal.length === 0) return request;
  const headers = new Headers(request.headers);
  for (const name of internal) headers.delete(name);
  return new Request(request, { headers });
}
