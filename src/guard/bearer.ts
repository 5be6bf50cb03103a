/**
 * A bearer token on an MCP request, bounded before the provider builds its KV key from it: a token
 * longer than any this server issues is replaced by one that matches nothing, so the provider answers
 * 401 `invalid_token` with its usual challenge instead of failing on KV's key limit.
 */
import { boundedToken } from './input-limits';

export function boundedBearer(request: Request): Request {
  const header = request.headers.get('Authorization');
  const token = header === null ? undefined : /^Bearer\s+(.+)$/i.exec(header)?.[1];
  if (token === undefined) return request;
  const bounded = boundedToken(token);
  if (bounded === token) return request;
  const headers = new Headers(request.headers);
  headers.set('Authorization', `Bearer ${bounded}`);
  return new Request(request, { headers });
}
