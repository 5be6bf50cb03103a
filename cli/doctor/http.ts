/**
 * Every HTTP request the doctor makes goes through one recording `fetch`, its own requests and the
 * MCP SDK's alike, so `--verbose` shows each exchange (redacted) and every request has a deadline.
 */
import { describeHttpError, isJsonObject, type JsonObject } from './context.ts';
import { formatExchangeLines } from './report.ts';
import { redactExchange, type HeaderList, type RecordedExchange } from './redact.ts';

/** Per request; a server slower than this is reported as failing, not waited for. */
export const HTTP_TIMEOUT_MS = 10_000;

export type FetchLike = (input: string | URL, init?: RequestInit) => Promise<Response>;

export interface JsonResponse {
  response: Response;
  status: number;
  text: string;
  /** The parsed body, or undefined when it is not JSON. */
  json: unknown;
}

export class HttpClient {
  /** Secret values seen so far; the log replaces them wherever they appear. */
  readonly secrets = new Set<string>();
  private nextId = 1;
  private readonly onLog: ((line: string) => void) | undefined;

  /** With `onLog`, every exchange is logged, redacted; without, nothing is read twice. */
  constructor(onLog?: (line: string) => void) {
    this.onLog = onLog;
  }

  /** Remembers a secret (token, code, client secret, password) so no log line shows it. */
  addSecret(value: string | undefined): void {
    if (value) this.secrets.add(value);
  }

  /** A fetch for the MCP SDK transports: recorded, but without a deadline (their streams stay open). */
  readonly fetch: FetchLike = (input, init) => this.send(input, init);

  /** The doctor's own requests: recorded, with a deadline, the body read as text and parsed if JSON. */
  async request(url: string, init: RequestInit = {}): Promise<JsonResponse> {
    const response = await this.send(url, { ...init, signal: init.signal ?? AbortSignal.timeout(HTTP_TIMEOUT_MS) });
    const text = await response.text();
    return { response, status: response.status, text, json: parseJson(text) };
  }

  private async send(input: string | URL, init: RequestInit = {}): Promise<Response> {
    const started = Date.now();
    const exchange: RecordedExchange = {
      id: this.nextId++,
      request: { method: (init.method ?? 'GET').toUpperCase(), url: String(input), headers: headerList(new Headers(init.headers)), body: bodyText(init.body) },
      durationMs: 0,
    };
    let response: Response;
    try {
      response = await fetch(input, init);
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

export function errorMessage(error: unknown): string {
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
      const { status, json, text } = await http.request(candidate.url, { headers: { Accept: 'application/json' } });
      if (status === 200 && isJsonObject(json)) return { found: { ...candidate, metadata: json }, tried };
      tried.push(`${candidate.url}: ${status === 200 ? 'not a JSON object' : describeHttpError(status, json, text)}`);
    } catch (error) {
      tried.push(`${candidate.url}: ${errorMessage(error)}`);
    }
  }
  return { found: undefined, tried };
}
