/**
 * Every request the Worker makes to an upstream goes through {@link upstreamFetch}: discovery, the
 * token request, the key set and userinfo (through oauth4webapi's `customFetch`), and GitHub's API.
 * One place decides what a request that fails is:
 *
 * - no answer within the deadline, a network failure, HTTP 5xx or 429, or a 403 that is a rate
 *   limit: the upstream is down or overloaded, `upstream_unavailable` (the user sees a page and may try again; the client gets
 *   `temporarily_unavailable`);
 * - anything else is handed on, and whatever the caller cannot make sense of (HTML, broken JSON, a
 *   4xx) becomes `invalid_response` or `upstream_error` there (`server_error` for the client).
 *
 * The deadline covers the whole exchange, body included: the body is read here, bounded, so an
 * upstream that sends headers and then stalls, or streams without end, fails the same way.
 */
import { readStreamCapped } from '../guard/input-limits';
import { UpstreamError } from './types';

/** The largest upstream answer read: discovery documents, key sets, tokens and profile pages are a few KiB. */
export const MAX_UPSTREAM_BODY_BYTES = 1024 * 1024;

/** Statuses whose body may not be given to `new Response()`. */
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

/**
 * `fetchImpl` with a deadline of `timeoutMs` on each request and its body, failures classified as
 * above. `idp` names the upstream in what the user reads ("GitHub", "The identity provider at …").
 */
export function upstreamFetch(fetchImpl: typeof fetch, options: { timeoutMs: number; idp: string }): typeof fetch {
  const { timeoutMs, idp } = options;
  return async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    // Never the query string in a log line: GitHub's is harmless, but nothing promises that of every IdP.
    const what = `${init?.method ?? (input instanceof Request ? input.method : 'GET')} ${url.origin}${url.pathname}`;
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = init?.signal ? AbortSignal.any([init.signal, deadline]) : deadline;
    let response: Response;
    let body: ArrayBuffer | null;
    try {
      response = await fetchImpl(input, { ...init, signal });
      body = await readBounded(response, what, idp);
    } catch (error) {
      if (error instanceof UpstreamError) throw error;
      if (deadline.aborted) {
        throw new UpstreamError('upstream_unavailable', `${idp} did not answer in time.`, `${what}: no answer within ${timeoutMs} ms`);
      }
      throw new UpstreamError('upstream_unavailable', `${idp} could not be reached.`, `${what}: ${describe(error)}`);
    }
    if (response.status >= 500 || response.status === 429) {
      throw new UpstreamError('upstream_unavailable', `${idp} is not working right now (it answered HTTP ${response.status}).`, `${what}: HTTP ${response.status}`);
    }
    if (response.status === 403 && isRateLimited(response.headers)) {
      throw new UpstreamError('upstream_unavailable', `${idp} is limiting requests right now; try again in a minute.`, `${what}: HTTP 403, rate limited`);
    }
    // The body as read: already decoded, so its encoding and length headers no longer describe it.
    const headers = new Headers(response.headers);
    headers.delete('Content-Encoding');
    headers.delete('Content-Length');
    return new Response(NULL_BODY_STATUSES.has(response.status) ? null : body, { status: response.status, statusText: response.statusText, headers });
  };
}

async function readBounded(response: Response, what: string, idp: string): Promise<ArrayBuffer | null> {
  if (!response.body) return null;
  const tooLarge = () => new UpstreamError('invalid_response', `${idp} sent an invalid response.`, `${what}: a body over ${MAX_UPSTREAM_BODY_BYTES} bytes`);
  const declared = Number(response.headers.get('Content-Length') ?? '0');
  if (declared > MAX_UPSTREAM_BODY_BYTES) {
    await response.body.cancel().catch(() => undefined);
    throw tooLarge();
  }
  const bytes = await readStreamCapped(response.body, MAX_UPSTREAM_BODY_BYTES);
  if (bytes === undefined) throw tooLarge();
  return bytes.buffer;
}

/**
 * A 403 that is a rate limit, not a refusal: GitHub answers its primary limit with 403 (or 429) and
 * `x-ratelimit-remaining: 0`, and its secondary limits with 403 (or 429) and `retry-after` ("Rate
 * limits for the REST API", docs.github.com). Waiting helps, so it is an outage, not `server_error`.
 */
function isRateLimited(headers: Headers): boolean {
  return headers.get('x-ratelimit-remaining') === '0' || headers.has('retry-after');
}

/** Error text for logs: name and message, never a request or response body. */
export function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
