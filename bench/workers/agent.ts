/**
 * The McpAgent of bench variants 2 and 3, written the way Cloudflare's remote MCP demos write
 * theirs: an `McpServer` with one tool registered in `init()`. The tool echoes a fixed identity
 * (plus the grant's props, when there are any) and touches no storage, so what a call costs is the
 * transport and whatever sits in front of it.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { McpAgent } from 'agents/mcp';
import { BENCH_IDENTITY, BENCH_TOOL } from './shared';

export interface BenchAgentEnv {
  MCP_OBJECT: DurableObjectNamespace<BenchAgent>;
}

export class BenchAgent extends McpAgent<BenchAgentEnv, unknown, Record<string, unknown>> {
  server = new McpServer({ name: 'bench-agent', version: '1.0.0' });

  async init(): Promise<void> {
    this.server.registerTool(
      BENCH_TOOL,
      { title: 'Who am I', description: 'Echoes a fixed identity.', inputSchema: {}, annotations: { readOnlyHint: true } },
      async () => {
        const identity = { ...BENCH_IDENTITY, ...this.props };
        return { content: [{ type: 'text', text: JSON.stringify(identity, null, 2) }], structuredContent: identity };
      },
    );
  }
}
