/**
 * Bench variant 1, the floor: what a `tools/call` costs with nothing but the Worker runtime, the
 * request body parsed and a fixed result sent back. The answer is framed as the McpAgent variants
 * frame theirs (one SSE `message` event) and carries the same kind of content, so the bytes on the
 * wire are comparable; no authorization, no Durable Object, no MCP SDK.
 */
import { BENCH_IDENTITY } from '../shared';

export default {
  async fetch(request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname !== '/mcp') return new Response('bench floor', { status: 200 });
    if (request.method !== 'POST') return new Response(null, { status: 405, headers: { Allow: 'POST' } });
    let id: unknown = null;
    try {
      const message = (await request.json()) as { id?: unknown };
      id = message.id ?? null;
    } catch {
      return Response.json({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } }, { status: 400 });
    }
    const result = { content: [{ type: 'text', text: JSON.stringify(BENCH_IDENTITY, null, 2) }], structuredContent: BENCH_IDENTITY };
    const event = `event: message\ndata: ${JSON.stringify({ result, jsonrpc: '2.0', id })}\n\n`;
    return new Response(event, { headers: { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' } });
  },
} satisfies ExportedHandler;
