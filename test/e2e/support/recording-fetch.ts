/**
 * A `fetch` that records what a client library sends and receives, for tests that must prove the
 * library did a protocol step itself (discovery, registration, `resource`, refresh) rather than
 * trusting its return values. Handed to the MCP SDK's transport, which uses it for MCP and OAuth.
 */
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';

export interface RecordedExchange {
  method: string;
  url: URL;
  requestHeaders: Headers;
  /** Form and JSON bodies as text; undefined for none. */
  requestBody: string | undefined;
  status: number;
  responseHeaders: Headers;
  /** JSON answers only: an event stream may stay open for the whole session. */
  responseJson: unknown;
}

export interface RecordingFetch {
  fetch: FetchLike;
  readonly exchanges: readonly RecordedExchange[];
  /** The exchanges whose path is `path` (and method, when given), oldest first. */
  to(path: string, method?: string): RecordedExchange[];
}

export function recordingFetch(): RecordingFetch {
  const exchanges: RecordedExchange[] = [];
  const record: FetchLike = async (input, init) => {
    const url = new URL(input);
    const response = await fetch(input, init);
    const isJson = response.headers.get('content-type')?.includes('application/json') ?? false;
    exchanges.push({
      method: init?.method ?? 'GET',
      url,
      requestHeaders: new Headers(init?.headers),
      requestBody: bodyText(init?.body),
      status: response.status,
      responseHeaders: response.headers,
      responseJson: isJson ? await response.clone().json().catch(() => undefined) : undefined,
    });
    return response;
  };
  return {
    fetch: record,
    exchanges,
    to: (path, method) => exchanges.filter((exchange) => exchange.url.pathname === path && (method === undefined || exchange.method === method)),
  };
}

function bodyText(body: RequestInit['body']): string | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return body;
  if (body instanceof URLSearchParams) return body.toString();
  return `[${Object.prototype.toString.call(body)}]`;
}
