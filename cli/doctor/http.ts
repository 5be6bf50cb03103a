/**
 * Every HTTP request the doctor makes goes through one recording `fetch`, its own requests and the
 * MCP SDK's alike, so `--verbose` shows each exchange (redacted) and every request has a deadline.
 *
 * Redirects are followed here, not by `fetch`: a `Location` is a URL the server hands out, so it is
 * followed only when the URL policy allows it (https, or http on loopback: ./url-policy.ts), as
 * every other URL from a server is, and credentials do not follow it to another origin.
 */
import type { TimedOutRequest } from './context.ts';
import { describeHttpError, isJsonObject, type JsonObject } from './context.ts';
import { formatExchangeLines } from './report.ts';
import { redactExchange, type HeaderList, type RecordedExchange } from './redact.ts';
import { urlProblem } from './url-policy.ts';

/** Per request, unless the run sets another (`requestTimeoutMs`); a server slower than this is reported as timed out. */
export const HTTP_TIMEOUT_MS = 10_000;

/** Redirects followed for one request; browsers allow 20, no OAuth or MCP endpoint needs more than a few. */
export const MAX_REDIRECTS = 5;

export type FetchLike = (input: string | URL, init?: RequestInit) => Promise<Response>;

export interface JsonResponse {
  response: Response;
  status: number;
  text: string;
  /** The parsed body, or undefined when it is not JSON. */
  json: unknown;
}

/** A request that got no answer within its deadline: named as a time-out, with the deadline, never as "unreachable". */
export class RequestTimeoutError extends Error {
  readonly timedOut: TimedOutRequest;

  constructor(timedOut: TimedOutRequest) {
    super(`no answer within ${formatSeconds(timedOut.deadlineMs)} (${timedOut.request})`);
    this.name = 'RequestTimeoutError';
    this.timedOut = timedOut;
  }
}

/** A redirect the doctor would not follow: to a URL the policy refuses, or one too many. */
export class RedirectRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedirectRefusedError';
  }
}

export class HttpClient {
  /** Secret values seen so far; the log replaces them wherever they appear. */
  readonly secrets = new Set<string>();
  /** Requests that got no answer within their deadline, in order. */
  readonly timeouts: TimedOutRequest[] = [];
  /** The deadline of the doctor's own requests, in milliseconds. */
  readonly timeoutMs: number;
  /**
   * Send every request without an Authorization header. Set for a server without OAuth, whose MCP
   * checks run with no credentials at all (the wire probes always name a token; it is dropped here).
   */
  withoutCredentials = false;
  private nextId = 1;
  private readonly onLog: ((line: string) => void) | undefined;

  /** With `onLog`, every exchange is logged, redacted; without, nothing is read twice. */
  constructor(onLog?: (line: string) => void, options: { timeoutMs?: number | undefined } = {}) {
    this.onLog = onLog;
    this.timeoutMs = options.timeoutMs ?? HTTP_TIMEOUT_MS;
  }

  /** Remembers a secret (token, code, client secret, password) so no log line shows it. */
  addSecret(value: string | undefined): void {
    if (value) this.secrets.add(value);
  }

  /** Records a wait that ran out (for what is awaited outside `request`, such as the MCP SDK's `initialize`). */
  recordTimeout(timedOut: TimedOutRequest): void {
    this.timeouts.push(timedOut);
  }

  /**
   * A fetch for the MCP SDK transports and the wire probes: recorded, redirects checked, but without
   * a deadline of its own (their streams stay open; the probes bring theirs, HTTP_TIMEOUT_MS).
   */
  readonly fetch: FetchLike = async (input, init) => {
    try {
      return await this.send(String(input), init);
    } catch (error) {
      // Only wire.ts's probes pass a timeout signal here, always HTTP_TIMEOUT_MS.
      if (isTimeout(error)) this.timeouts.push({ request: `${(init?.method ?? 'GET').toUpperCase()} ${String(input)}`, deadlineMs: HTTP_TIMEOUT_MS });
      throw error;
    }
  };

  /**
   * The doctor's own requests: recorded, with a deadline (the whole exchange, body included), the
   * body read as text and parsed if JSON. A missed deadline throws RequestTimeoutError.
   */
  async request(url: string, init: RequestInit = {}): Promise<JsonResponse> {
    const deadlineMs = this.timeoutMs;
    try {
      const response = await this.send(url, { ...init, signal: init.signal ?? AbortSignal.timeout(deadlineMs) });
      const text = await response.text();
      return { response, status: response.status, text, json: parseJson(text) };
    } catch (error) {
      // A caller's own signal is the caller's to name.
      if (!isTimeout(error) || init.signal) throw error;
      const timedOut = { request: `${(init.method ?? 'GET').toUpperCase()} ${url}`, deadlineMs };
      this.timeouts.push(timedOut);
      throw new RequestTimeoutError(timedOut);
    }
  }

  /**
   * One request and the redirects it gets, each hop recorded. Fetch's rules for what a redirect
   * keeps (Fetch standard, "HTTP-redirect fetch"): 303, and 301/302 after a POST, continue as a GET
   * without a body; 307/308 keep method and body. Authorization and Cookie go only to the origin
   * they were meant for.
   */
  private async send(url: string, init: RequestInit = {}): Promise<Response> {
    let current = url;
    let request: RequestInit = { ...init, redirect: 'manual' };
    for (let hop = 0; ; hop++) {
      const response = await this.once(current, request);
      const location = response.headers.get('location');
      if (!REDIRECT_STATUSES.has(response.status) || location === null) return response;
      await response.body?.cancel().catch(() => undefined);
      let next: URL;
      try {
        next = new URL(location, current);
      } catch {
        throw new RedirectRefusedError(`HTTP ${response.status} to ${JSON.stringify(location)}, which is not a URL`);
      }
      const problem = urlProblem(next.href);
      if (problem) throw new RedirectRefusedError(`HTTP ${response.status} to ${JSON.stringify(next.href)}, which ${problem}: not followed`);
      if (hop + 1 > MAX_REDIRECTS) throw new RedirectRefusedError(`more than ${MAX_REDIRECTS} redirects, the last to ${next.href}: not followed`);
      const method = (request.method ?? 'GET').toUpperCase();
      const asGet = response.status === 303 ? method !== 'HEAD' : (response.status === 301 || response.status === 302) && method === 'POST';
      const headers = new Headers(request.headers);
      if (next.origin !== new URL(current).origin) {
        headers.delete('authorization');
        headers.delete('cookie');
      }
      if (asGet) {
        headers.delete('content-type');
        request = { ...request, method: 'GET', body: undefined, headers };
      } else {
        request = { ...request, headers };
      }
      current = next.href;
    }
  }

  private async once(url: string, init: RequestInit): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.withoutCredentials) headers.delete('authorization');
    const started = Date.now();
    const exchange: RecordedExchange = {
      id: this.nextId++,
      request: { method: (init.method ?? 'GET').toUpperCase(), url, headers: headerList(headers), body: bodyText(init.body) },
      durationMs: 0,
    };
    let response: Response;
    try {
      response = await fetch(url, { ...init, headers });
    } catch (error) {
      // An AbortError is the caller hanging up (the MCP SDK closing a request it no longer needs); a timeout is a TimeoutError.
      exchange.error = error instanceof Error && error.name === 'AbortError' ? 'aborted by the client' : errorMessage(error);
      exchange.durationMs = Date.now() - started;
      this.log(exchange);
      throw error;
    }
    const contentType = response.headers.get('content-type') ?? '';
    // An event stream may never end: its body is left to the caller, unread.
    const body = this.onLog && !contentType.startsWith('text/event-stream') ? await response.clone().text().catch(() => undefined) : undefined;
    exchange.response = {
      status: response.status,
      statusText: response.statusText,
      headers: headerList(response.headers),
      body: body === undefined ? (contentType.startsWith('text/event-stream') ? '[event stream]' : undefined) : body,
    };
    exchange.durationMs = Date.now() - started;
    this.log(exchange);
    return response;
  }

  private log(exchange: RecordedExchange): void {
    if (!this.onLog) return;
    // Redacted whole, before the log shortens long bodies: a cut JSON body no longer parses, and a
    // cut secret no longer matches its known value.
    for (const line of formatExchangeLines(redactExchange(exchange, this.secrets))) this.onLog(line);
  }
}

const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/** Whether `error` is a deadline that ran out (AbortSignal.timeout rejects with a TimeoutError DOMException). */
export function isTimeout(error: unknown): boolean {
  return error instanceof RequestTimeoutError || (error instanceof Error && error.name === 'TimeoutError') || (typeof error === 'object' && error !== null && 'name' in error && error.name === 'TimeoutError');
}

/** `10 s`, `2.5 s`. */
export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

export function errorMessage(error: unknown): string {
  if (error instanceof RequestTimeoutError || error instanceof RedirectRefusedError) return error.message;
  if (error instanceof Error) {
    // fetch hides the reason (ECONNREFUSED, a DNS failure, a timeout) in `cause`.
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}

function headerList(headers: Headers): HeaderList {
  const list: Array<[string, string]> = [];
  headers.forEach((value, name) => list.push([name, value]));
  // `forEach` folds Set-Cookie headers together; they are redacted anyway.
  return list;
}

function bodyText(body: RequestInit['body']): string | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return body;
  if (body instanceof URLSearchParams) return body.toString();
  return '[binary body]';
}

/** Why a 200 answer is no metadata document: not JSON at all (an HTML page, say), or JSON that is no object. */
function notAJsonObject(json: unknown, text: string, contentType: string | null): string {
  if (json !== undefined) return `HTTP 200, but JSON that is not an object (${json === null ? 'null' : Array.isArray(json) ? 'an array' : typeof json})`;
  const snippet = text.trim().replace(/\s+/g, ' ').slice(0, 80);
  return `HTTP 200, but not JSON (${contentType ?? 'no Content-Type'}${snippet ? `: ${snippet}` : ', empty'})`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The first of `candidates` that answers 200 with a JSON object, in order (the discovery order
 * clients use), and what each earlier one answered instead.
 */
export async function firstJsonDocument<Candidate extends { url: string }>(
  http: HttpClient,
  candidates: readonly Candidate[],
): Promise<{ found: (Candidate & { metadata: JsonObject }) | undefined; tried: string[] }> {
  const tried: string[] = [];
  for (const candidate of candidates) {
    try {
      const { status, json, text, response } = await http.request(candidate.url, { headers: { Accept: 'application/json' } });
      if (status === 200 && isJsonObject(json)) return { found: { ...candidate, metadata: json }, tried };
      tried.push(`${candidate.url}: ${status === 200 ? notAJsonObject(json, text, response.headers.get('content-type')) : describeHttpError(status, json, text)}`);
    } catch (error) {
      tried.push(`${candidate.url}: ${errorMessage(error)}`);
    }
  }
  return { found: undefined, tried };
}
