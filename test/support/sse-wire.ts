/**
 * A minimal client for the legacy HTTP+SSE transport (protocol 2024-11-05) that exposes the wire:
 * a GET opens the event stream, whose first `endpoint` event names where to POST messages; answers
 * arrive as `message` events on the stream. Same request surface as McpWire, so a test can run the
 * same checks over both transports. Runs in Node and in workerd: it needs only a `fetch`.
 */
import type { JsonRpcResponse, WireResult } from './mcp-wire';

export class SseWire {
  /** The message endpoint the server announced, e.g. `/sse/message?sessionId=…`. */
  endpoint: string | undefined;
  private reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  private buffered = '';
  private readonly decoder = new TextDecoder();
  private readonly pending: JsonRpcResponse[] = [];
  private nextId = 1;
  /** The size (UTF-8 bytes) of each answer's `data` as it came on the stream, by request id. */
  readonly answerBytes = new Map<number | string, number>();

  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly fetcher: (request: Request) => Promise<Response> = (request) => fetch(request),
  ) {}

  /** Opens the stream and waits for the `endpoint` event; returns the GET's response status. */
  async open(): Promise<number> {
    const response = await this.fetcher(new Request(this.url, { headers: { Accept: 'text/event-stream', Authorization: `Bearer ${this.token}` } }));
    if (response.status !== 200 || !response.body) return response.status;
    this.reader = response.body.getReader();
    const first = await this.nextEvent();
    if (first?.event !== 'endpoint') throw new Error(`expected an endpoint event, got ${JSON.stringify(first)}`);
    this.endpoint = first.data;
    return response.status;
  }

  async initialize(): Promise<void> {
    await this.request('initialize', { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'sse-wire-test', version: '1.0.0' } });
    await this.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  }

  /** POSTs one message to the announced endpoint; the answer, if any, comes on the stream. */
  async send(body: unknown): Promise<Response> {
    if (!this.endpoint) throw new Error('open() first');
    const response = await this.fetcher(
      new Request(new URL(this.endpoint, this.url), { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${this.token}` }, body: JSON.stringify(body) }),
    );
    await response.arrayBuffer();
    return response;
  }

  /** Sends a request; `status` is the POST's (202 when accepted), `message` the answer read from the stream. */
  async request(method: string, params: Record<string, unknown> = {}): Promise<WireResult> {
    const id = this.nextId++;
    const posted = await this.send({ jsonrpc: '2.0', id, method, params });
    if (posted.status !== 202) return { status: posted.status, headers: posted.headers, message: undefined };
    return { status: posted.status, headers: posted.headers, message: await this.answerTo(id) };
  }

  callTool(name: string, args: Record<string, unknown> = {}): Promise<WireResult> {
    return this.request('tools/call', { name, arguments: args });
  }

  async toolNames(): Promise<string[]> {
    const { message } = await this.request('tools/list');
    return (message?.result?.tools ?? []).map((tool) => tool.name).sort();
  }

  async close(): Promise<void> {
    await this.reader?.cancel().catch(() => undefined);
  }

  private async answerTo(id: number): Promise<JsonRpcResponse> {
    for (;;) {
      const index = this.pending.findIndex((message) => message.id === id);
      if (index >= 0) return this.pending.splice(index, 1)[0] as JsonRpcResponse;
      const event = await this.nextEvent();
      if (!event) throw new Error(`the stream ended before the answer to request ${id}`);
      if (event.event === 'message') {
        const message = JSON.parse(event.data) as JsonRpcResponse;
        if (message.id !== null) this.answerBytes.set(message.id, new TextEncoder().encode(event.data).byteLength);
        this.pending.push(message);
      }
    }
  }

  private async nextEvent(): Promise<{ event: string; data: string } | undefined> {
    for (;;) {
      const end = this.buffered.indexOf('\n\n');
      if (end >= 0) {
        const raw = this.buffered.slice(0, end);
        this.buffered = this.buffered.slice(end + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of raw.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        if (data.length > 0) return { event, data: data.join('\n') };
        continue; // a comment or keep-alive
      }
      const chunk = await this.reader?.read();
      if (!chunk || chunk.done) return undefined;
      this.buffered += this.decoder.decode(chunk.value, { stream: true });
    }
  }
}
