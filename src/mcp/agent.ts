/**
 * The MCP server: one McpAgent Durable Object per MCP session (Streamable HTTP or legacy SSE).
 * Who may reach a session at all is decided in front of it (./routes.ts); what each request may
 * do is decided per request by the tool server (./tool-server.ts).
 */
import { McpAgent } from 'agents/mcp';
import type { GrantProps } from '../auth/props';
import { createToolServer } from './tool-server';

export class McpSessionAgent extends McpAgent<Env, unknown, GrantProps & Record<string, unknown>> {
  server = createToolServer({ env: this.env, sessionUserId: () => this.props?.userId });

  async init(): Promise<void> {
    // Tools are registered by createToolServer; nothing is per-session.
  }
}
