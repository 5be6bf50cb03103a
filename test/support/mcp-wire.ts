/**
 * A minimal Streamable HTTP MCP client that exposes the wire (statuses, headers, raw JSON-RPC), for
 * tests that assert on exactly what a client receives. Runs in Node and in workerd: it needs only
 * a `fetch`.
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

export const PROTOCOL_VERSION = '2025-06-18';

export class McpWire {
  sessionId: string | undefined;
  private nextId = 1;

  constructor(
    private readonly url: string,
    private token: string,
    private readonly fetcher: (request: Request) => Promise<Response> = (request) => fetch(request),
  ) {}

  useToken(token: string): void {
    this.token = token;
  }

  post(body: unknown, headers: Record<string, string> = {}): Promise<Response> {
    return this.fetcher(
      new Request(this.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json, text/event-stream',
          Authorization: `Bearer ${this.token}`,
          ...(this.sessionId ? { 'Mcp-Session-Id': this.sessionId, 'MCP-Protocol-Version': PROTOCOL_VERSION } : {}),
          ...headers,
        },
        body: JSON.stringify(body),
      }),
    );
  }

  async initialize(): Promise<Response> {
    const response = await this.post({
      jsonrpc: '2.0',
      id: this.nextId++,
      method: 'initialize',
      params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'wire-test', version: '1.0.0' } },
    });
    this.sessionId = response.headers.get('mcp-session-id') ?? undefined;
    await response.text();
    await (await this.post({ jsonrpc: '2.0', method: 'notifications/initialized' })).text();
    return response;
  }

  /** Sends one request and returns the JSON-RPC message answering it, read from the SSE stream or JSON body. */
  async request(method: string, params: unknown = {}): Promise<WireResult> {
    const id = this.nextId++;
    const response = await this.post({ jsonrpc: '2.0', id, method, params });
    return { status: response.status, headers: response.headers, message: parseRpcResponse(await response.text(), id) };
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
    if (typeof value === 'object' && value !== null) messages.push(value as JsonRpcResponse);
  };
  if (body.trimStart().startsWith('{')) collect(JSON.parse(body));
  for (const line of body.split('\n')) if (line.startsWith('data: ')) collect(JSON.parse(line.slice(6)));
  return messages.find((message) => message.id === id) ?? messages.find((message) => message.error !== undefined && message.id === null);
}
