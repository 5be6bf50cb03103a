/** Bench variant 2: McpAgent on Streamable HTTP at /mcp, nothing in front of it. */
import { BenchAgent, type BenchAgentEnv } from '../agent';

export { BenchAgent };

const mcp = BenchAgent.serve('/mcp', { binding: 'MCP_OBJECT' });

export default {
  fetch(request, env, ctx): Promise<Response> | Response {
    if (new URL(request.url).pathname === '/mcp') return mcp.fetch(request, env, ctx);
    return new Response('bench bare agent', { status: 200 });
  },
} satisfies ExportedHandler<BenchAgentEnv>;
