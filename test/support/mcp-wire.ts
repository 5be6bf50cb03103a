/**
 * A minimal Streamable HTTP MCP client that exposes the wire (statuses, headers, raw JSON-RPC), for
 * tests that assert on exactly what a client receives. Runs in Node and in workerd: it needs only
 * a `fetch`.
 *
 * It speaks either era of the protocol:
 * - a 2025 revision (`2025-03-26`, `2025-06-18`, `2025-11-25`): `initialize` first, then requests
 *   carrying the negotiated `MCP-Protocol-Version` (from 2025-06-18 on) and the session id if the
 *   server issued one;
 * - `2026-07-28`: no handshake; every request carries its protocol version and client identity in
 *   `params._meta` and the `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers.
 */

export interface JsonRpcResponse {
  jsonrpc: '2.0';
  id: number | string | null;
  result?: { content?: { type: string; text: string }[]; structuredContent?: Record<string, unknown>; isError?: boolean; tools?: { name: string }[] } & Record<string, unknown>;
  error?: { code: number; message: string; data?: unknown };
}

export interface WireResult {
  status: number;
  headers: Headers;
  message: JsonRpcResponse | undefined;
}

export type ProtocolRevision = '2025-03-26' | '2025-06-18' | '2025-11-25' | '2026-07-28';

/** The revision a wire client speaks unless told otherwise: what the MCP SDK 1.x clients send. */
export const PROTOCOL_VERSION: ProtocolRevision = '2025-06-18';
export const MODERN_PROTOCOL_VERSION = '2026-07-28';

const CLIENT_INFO = { name: 'wire-test', version: '1.0.0' };

export class McpWire {
  sessionId: string | undefined;
  /** The version `initialize` settled on; sent in `MCP-Protocol-Version` afterwards. */
  negotiatedVersion: string | undefined;
  private nextId = 1;

  constructor(
    private readonly url: string,
    private token: string,
    private readonly fetcher: (request: Request) => Promise<Response> = (request) => fetch(request),
    readonly protocol: ProtocolRevision = PROTOCOL_VERSION,
  ) {}

  get modern(): boolean {
    return this.protocol === MODERN_PROTOCOL_VERSION;
  }

  useToken(token: string): void {
    this.token = token;
  }

  /** POSTs `body` as it is, with the headers this client's revision sends; `headers` add to or override them. */
  post(body: unknown, headers: Record<string, string> = {}): Promise<Response> {
    return this.fetcher(
      new Request(this.url, {
        method: 'POST',
        headers: { ...this.defaultHeaders(body), Authorization: `Bearer ${this.token}`, ...headers },
        body: JSON.stringify(body),
      }),
    );
  }

  private defaultHeaders(body: unknown): Record<string, string> {
    const headers: Record<string, string> = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };
    if (this.modern) {
      const { method, params } = (body ?? {}) as { method?: unknown; params?: { name?: unknown; uri?: unknown } };
      headers['MCP-Protocol-Version'] = MODERN_PROTOCOL_VERSION;
      if (typeof method === 'string') headers['Mcp-Method'] = method;
      const name = params?.name ?? params?.uri;
      if (typeof name === 'string') headers['Mcp-Name'] = name;
      return headers;
    }
    if (this.sessionId) headers['Mcp-Session-Id'] = this.sessionId;
    // 2025-06-18 and later: every request after initialize names the negotiated version.
    if (this.negotiatedVersion && this.negotiatedVersion !== '2025-03-26') headers['MCP-Protocol-Version'] = this.negotiatedVersion;
    return headers;
  }

  /** The 2025 handshake: `initialize`, then `notifications/initialized`. */
  async initialize(): Promise<Response> {
    if (this.modern) throw new Error('2026-07-28 has no initialize: send requests directly');
    const id = this.nextId++;
    const response = await this.post({ jsonrpc: '2.0', id, method: 'initialize', params: { protocolVersion: this.protocol, capabilities: {}, clientInfo: CLIENT_INFO } });
    this.sessionId = response.headers.get('mcp-session-id') ?? undefined;
    const answer = parseRpcResponse(await response.clone().text(), id);
    const negotiated = answer?.result?.protocolVersion;
    this.negotiatedVersion = typeof negotiated === 'string' ? negotiated : undefined;
    await (await this.post({ jsonrpc: '2.0', method: 'notifications/initialized' })).text();
    return response;
  }

  /** A request body as this client's revision shapes it (2026-07-28: with the `_meta` envelope). */
  message(method: string, params: Record<string, unknown> = {}): { jsonrpc: '2.0'; id: number; method: string; params: Record<string, unknown> } {
    const id = this.nextId++;
    if (!this.modern) return { jsonrpc: '2.0', id, method, params };
    const meta = {
      'io.modelcontextprotocol/protocolVersion': MODERN_PROTOCOL_VERSION,
      'io.modelcontextprotocol/clientInfo': CLIENT_INFO,
      'io.modelcontextprotocol/clientCapabilities': {},
      ...(params._meta as Record<string, unknown> | undefined),
    };
    return { jsonrpc: '2.0', id, method, params: { ...params, _meta: meta } };
  }

  /** Sends one request and returns the JSON-RPC message answering it, read from the SSE stream or JSON body. */
  async request(method: string, params: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<WireResult> {
    const body = this.message(method, params);
    const response = await this.post(body, headers);
    return { status: response.status, headers: response.headers, message: parseRpcResponse(await response.text(), body.id) };
  }

  callTool(name: string, args: Record<string, unknown> = {}): Promise<WireResult> {
    return this.request('tools/call', { name, arguments: args });
  }

  async toolNames(): Promise<string[]> {
    const { message } = await this.request('tools/list');
    return (message?.result?.tools ?? []).map((tool) => tool.name).sort();
  }
}

/** Finds the response with `id` in an SSE stream or a plain JSON body (an id-less error counts too). */
export function parseRpcResponse(body: string, id: number): JsonRpcResponse | undefined {
  const messages: JsonRpcResponse[] = [];
  const collect = (value: unknown) => {
    if (Array.isArray(value)) value.forEach(collect);
    else if (typeof value === 'object' && value !== null) messages.push(value as JsonRpcResponse);
  };
  const trimmed = body.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) collect(JSON.parse(body));
  for (const line of body.split('\n')) if (line.startsWith('data: ')) collect(JSON.parse(line.slice(6)));
  return messages.find((message) => message.id === id) ?? messages.find((message) => message.error !== undefined && message.id === null);
}
