/**
 * JSON-RPC over Streamable HTTP at the wire, for the probes the MCP SDK client cannot make: a
 * request shaped exactly as one protocol era sends it (or deliberately not), and the answer read
 * robustly — a JSON body or an SSE stream (read only up to the response it waits for), or HTML,
 * garbage, an empty 404, a timeout — and described in one line.
 *
 * Two eras share one endpoint (MCP 2026-07-28, versioning, "Backward Compatibility"):
 * - 2025 revisions (`2025-03-26` … `2025-11-25`): an `initialize` handshake first;
 * - `2026-07-28`: no handshake; each request carries `params._meta` (protocol version, client info
 *   and capabilities) and the `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers.
 * @see https://modelcontextprotocol.io/specification/2026-07-28/basic/transports/streamable-http
 */
import { isJsonObject, type JsonObject } from './context.ts';
import { errorMessage, HTTP_TIMEOUT_MS, type HttpClient } from './http.ts';

export const MODERN_PROTOCOL_VERSION = '2026-07-28';
/** The newest 2025 revision: what `initialize` asks for (MCP Manager's era). */
export const LEGACY_PROTOCOL_VERSION = '2025-11-25';

/** MCP 2026-07-28 error codes (basic, "Error Codes"): a body carrying one comes from a modern server. */
export const HEADER_MISMATCH = -32020;
export const MISSING_REQUIRED_CLIENT_CAPABILITY = -32021;
export const UNSUPPORTED_PROTOCOL_VERSION = -32022;

const META_PROTOCOL_VERSION = 'io.modelcontextprotocol/protocolVersion';
const META_CLIENT_INFO = 'io.modelcontextprotocol/clientInfo';
const META_CLIENT_CAPABILITIES = 'io.modelcontextprotocol/clientCapabilities';
const META_SERVER_INFO = 'io.modelcontextprotocol/serverInfo';

export const DOCTOR_CLIENT_INFO = { name: 'mcp-doctor', version: '1.0.0' };

/** More than any answer to these probes needs: a body beyond it is cut, not read to the end. */
const MAX_BODY_CHARS = 256 * 1024;
const SNIPPET_CHARS = 100;

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  id: number;
  method: string;
  params: JsonObject;
}

/** What a probe received: the HTTP part, and the JSON-RPC response to its request if one came. */
export interface RpcAnswer {
  /** 0 when no HTTP answer came at all. */
  status: number;
  contentType: string;
  sessionId: string | undefined;
  /** The response with the request's id (or an id-less error), from a JSON body or an SSE stream. */
  message: JsonObject | undefined;
  /** The start of the body as received, for the report. */
  snippet: string;
  /** Why no response was read: a network error, or the deadline while waiting for it. */
  error?: string;
}

/** A request as a 2026-07-28 client sends it: `params._meta` names the version, the client and its capabilities. */
export function modernRequest(id: number, method: string, params: JsonObject = {}): JsonRpcRequest {
  const meta = { [META_PROTOCOL_VERSION]: MODERN_PROTOCOL_VERSION, [META_CLIENT_INFO]: DOCTOR_CLIENT_INFO, [META_CLIENT_CAPABILITIES]: {} };
  return { jsonrpc: '2.0', id, method, params: { ...params, _meta: meta } };
}

/**
 * The headers a 2026-07-28 client sends with `request` (Streamable HTTP, "Request Metadata"):
 * `MCP-Protocol-Version`, `Mcp-Method`, and `Mcp-Name` from `params.name` or `params.uri`.
 */
export function modernHeaders(request: Pick<JsonRpcRequest, 'method' | 'params'>): Record<string, string> {
  const headers: Record<string, string> = { 'MCP-Protocol-Version': MODERN_PROTOCOL_VERSION, 'Mcp-Method': request.method };
  const name = request.params.name ?? request.params.uri;
  if (typeof name === 'string') headers['Mcp-Name'] = name;
  return headers;
}

/** `initialize` as a 2025 client sends it, asking for `protocolVersion`. */
export function initializeRequest(id: number, protocolVersion: string = LEGACY_PROTOCOL_VERSION): JsonRpcRequest {
  return { jsonrpc: '2.0', id, method: 'initialize', params: { protocolVersion, capabilities: {}, clientInfo: DOCTOR_CLIENT_INFO } };
}

/**
 * The `data` payloads of the complete events in an SSE text (WHATWG "event stream"): events end at
 * a blank line, `data:` lines (one optional space after the colon) are joined with newlines, and
 * comments and other fields are skipped. An event not yet ended by a blank line is not returned.
 */
export function sseDataPayloads(text: string): string[] {
  const payloads: string[] = [];
  let data: string[] = [];
  const lines = text.split(/\r\n|\r|\n/);
  // The last piece has no line end yet: it belongs to an event still being received.
  lines.pop();
  for (const line of lines) {
    if (line === '') {
      if (data.length) payloads.push(data.join('\n'));
      data = [];
    } else if (line.startsWith('data:')) {
      data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
    }
  }
  return payloads;
}

/**
 * The JSON-RPC response to request `id` in a body: a JSON object or batch, or an SSE stream's
 * events. An error without an id (what servers answer when they could not read the request) counts
 * as the response too. Anything that is not JSON-RPC is ignored.
 */
export function findRpcResponse(contentType: string, text: string, id: number): JsonObject | undefined {
  const messages: JsonObject[] = [];
  const collect = (value: unknown) => {
    if (Array.isArray(value)) value.forEach(collect);
    else if (isJsonObject(value) && value.jsonrpc === '2.0' && ('result' in value || 'error' in value)) messages.push(value);
  };
  const parse = (json: string) => {
    try {
      collect(JSON.parse(json));
    } catch {
      // Not JSON: not an answer.
    }
  };
  if (contentType.toLowerCase().startsWith('text/event-stream')) sseDataPayloads(text).forEach(parse);
  else parse(text);
  return messages.find((message) => message.id === id) ?? messages.find((message) => 'error' in message && (message.id === null || message.id === undefined));
}

/**
 * POSTs one JSON-RPC request with a bearer token and `headers` (on top of the Content-Type and the
 * Accept every Streamable HTTP client sends) and reads the answer up to the response, within the
 * doctor's deadline. Never throws: a failure is an answer with `error`.
 */
export async function postRpc(http: HttpClient, url: string, accessToken: string, request: JsonRpcRequest, headers: Record<string, string> = {}): Promise<RpcAnswer> {
  const sent = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', Authorization: `Bearer ${accessToken}`, ...headers };
  let response: Response;
  try {
    response = await http.fetch(url, { method: 'POST', headers: sent, body: JSON.stringify(request), signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  } catch (error) {
    return { status: 0, contentType: '', sessionId: undefined, message: undefined, snippet: '', error: describeFetchError(error) };
  }
  const contentType = response.headers.get('content-type') ?? '';
  const sessionId = response.headers.get('mcp-session-id') ?? undefined;
  const streaming = contentType.toLowerCase().startsWith('text/event-stream');
  let text = '';
  let error: string | undefined;
  const reader = response.body?.getReader();
  if (reader) {
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
        // An event stream may stay open after the response: stop at the response.
        if (streaming && findRpcResponse(contentType, text, request.id)) break;
        if (text.length > MAX_BODY_CHARS) break;
      }
      text += decoder.decode();
    } catch (readError) {
      error = describeFetchError(readError);
    } finally {
      await reader.cancel().catch(() => undefined);
    }
  }
  const message = findRpcResponse(contentType, text, request.id);
  return { status: response.status, contentType, sessionId, message, snippet: snippet(text), ...(error && !message ? { error } : {}) };
}

/** Ends a session a probe opened (2025 revisions: DELETE with its id); failures do not matter. */
export async function endSession(http: HttpClient, url: string, accessToken: string, sessionId: string): Promise<void> {
  await http
    .request(url, { method: 'DELETE', headers: { Authorization: `Bearer ${accessToken}`, 'Mcp-Session-Id': sessionId } })
    .catch(() => undefined);
}

/** The JSON-RPC error of an answer, if it is one. */
export function rpcError(answer: Pick<RpcAnswer, 'message'>): { code: number | undefined; message: string; data: unknown } | undefined {
  const error = answer.message?.error;
  if (!isJsonObject(error)) return undefined;
  return { code: typeof error.code === 'number' ? error.code : undefined, message: typeof error.message === 'string' ? error.message : '', data: error.data };
}

/** One line for the report: what came back, e.g. `HTTP 404 (Not found)` or `HTTP 400, JSON-RPC error -32600: Bad Request`. */
export function describeAnswer(answer: RpcAnswer): string {
  if (answer.status === 0) return answer.error ?? 'no answer';
  const error = rpcError(answer);
  if (error) return `HTTP ${answer.status}, JSON-RPC error ${error.code ?? '(no code)'}${error.message ? `: ${oneLine(error.message, SNIPPET_CHARS)}` : ''}`;
  if (answer.message) return `HTTP ${answer.status}, a JSON-RPC result`;
  if (answer.error) return `HTTP ${answer.status}, ${answer.error}`;
  if (!answer.snippet) return `HTTP ${answer.status}${answer.status >= 200 && answer.status < 300 ? ', empty body' : ''}`;
  return `HTTP ${answer.status}${answer.status >= 200 && answer.status < 300 ? ', not JSON-RPC' : ''} (${answer.snippet})`;
}

export type DiscoverOutcome =
  | { kind: 'modern'; supportedVersions: string[]; serverInfo: string | undefined }
  | { kind: 'unsupported-version'; supported: string[] }
  | { kind: 'none'; reason: string };

/**
 * What a `server/discover` answer says about 2026-07-28: a result listing it; a modern
 * UnsupportedProtocolVersionError (a modern server that does not speak this revision); or not
 * answered (a 2025-only server: HTTP or JSON-RPC errors that are not modern ones, HTML, a timeout).
 */
export function discoverOutcome(answer: RpcAnswer): DiscoverOutcome {
  const error = rpcError(answer);
  if (error?.code === UNSUPPORTED_PROTOCOL_VERSION) {
    const supported = isJsonObject(error.data) && Array.isArray(error.data.supported) ? error.data.supported.filter((entry): entry is string => typeof entry === 'string') : [];
    return { kind: 'unsupported-version', supported };
  }
  const result = answer.message?.result;
  if (answer.status >= 200 && answer.status < 300 && isJsonObject(result)) {
    const versions = Array.isArray(result.supportedVersions) ? result.supportedVersions.filter((entry): entry is string => typeof entry === 'string') : undefined;
    if (!versions) return { kind: 'none', reason: `HTTP ${answer.status}, a result without supportedVersions` };
    if (!versions.includes(MODERN_PROTOCOL_VERSION)) return { kind: 'unsupported-version', supported: versions };
    const meta = isJsonObject(result._meta) ? result._meta : {};
    return { kind: 'modern', supportedVersions: versions, serverInfo: describeImplementation(meta[META_SERVER_INFO]) };
  }
  return { kind: 'none', reason: describeAnswer(answer) };
}

export type InitializeOutcome = { kind: 'answered'; protocolVersion: string; serverInfo: string | undefined; sessionId: string | undefined } | { kind: 'none'; reason: string };

/** What an `initialize` answer negotiated, if it is an InitializeResult. */
export function initializeOutcome(answer: RpcAnswer): InitializeOutcome {
  const result = answer.message?.result;
  if (answer.status >= 200 && answer.status < 300 && isJsonObject(result)) {
    if (typeof result.protocolVersion !== 'string' || result.protocolVersion === '') return { kind: 'none', reason: `HTTP ${answer.status}, a result without protocolVersion` };
    return { kind: 'answered', protocolVersion: result.protocolVersion, serverInfo: describeImplementation(result.serverInfo), sessionId: answer.sessionId };
  }
  return { kind: 'none', reason: describeAnswer(answer) };
}

/**
 * The revisions line of the report: what answered, e.g. `2026-07-28 (server/discover), 2025-11-25
 * (initialize)`, then what did not, and why.
 */
export function describeRevisions(discover: DiscoverOutcome, initialize: InitializeOutcome, asked: string = LEGACY_PROTOCOL_VERSION): string {
  const answered: string[] = [];
  if (discover.kind === 'modern') {
    const others = discover.supportedVersions.filter((version) => version !== MODERN_PROTOCOL_VERSION);
    answered.push(`${MODERN_PROTOCOL_VERSION} (server/discover${others.length ? `, which also lists ${others.join(', ')}` : ''})`);
  }
  if (initialize.kind === 'answered') answered.push(`${initialize.protocolVersion} (initialize${initialize.protocolVersion === asked ? '' : `, asked for ${asked}`})`);

  const discoverFailure =
    discover.kind === 'unsupported-version'
      ? `server/discover refused ${MODERN_PROTOCOL_VERSION} (UnsupportedProtocolVersion${discover.supported.length ? `, supported: ${discover.supported.join(', ')}` : ''})`
      : discover.kind === 'none'
        ? `server/discover got ${discover.reason}`
        : undefined;
  const initializeFailure = initialize.kind === 'none' ? `initialize got ${initialize.reason}` : undefined;

  if (!answered.length) return `none: ${discoverFailure}; ${initializeFailure}`;
  const missing = [discoverFailure && `not ${MODERN_PROTOCOL_VERSION}: ${discoverFailure}`, initializeFailure && `no 2025 revision: ${initializeFailure}`].filter(Boolean);
  return [answered.join(', '), ...missing].join('; ');
}

export type HeaderCheckOutcome = { kind: 'enforced' } | { kind: 'refused-otherwise'; detail: string } | { kind: 'served'; detail: string } | { kind: 'other'; detail: string };

/** How a server answered a 2026-07-28 request with a missing or mismatched header: 400 HeaderMismatch is right. */
export function headerCheckOutcome(answer: RpcAnswer): HeaderCheckOutcome {
  const error = rpcError(answer);
  if (answer.status === 400 && error?.code === HEADER_MISMATCH) return { kind: 'enforced' };
  if (answer.status === 400) return { kind: 'refused-otherwise', detail: `${describeAnswer(answer)}, not HeaderMismatch (${HEADER_MISMATCH})` };
  if (answer.status >= 200 && answer.status < 300) return { kind: 'served', detail: `served (${describeAnswer(answer)})` };
  return { kind: 'other', detail: describeAnswer(answer) };
}

/** `name version` of an Implementation object (serverInfo), if it has a name. */
function describeImplementation(value: unknown): string | undefined {
  if (!isJsonObject(value) || typeof value.name !== 'string') return undefined;
  return typeof value.version === 'string' ? `${value.name} ${value.version}` : value.name;
}

function describeFetchError(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return `no answer within ${HTTP_TIMEOUT_MS / 1000} s`;
  return `no answer (${errorMessage(error)})`;
}

function snippet(text: string): string {
  return oneLine(text, SNIPPET_CHARS);
}

function oneLine(text: string, max: number): string {
  const line = text.trim().replace(/\s+/g, ' ');
  return line.length > max ? `${line.slice(0, max)}…` : line;
}
