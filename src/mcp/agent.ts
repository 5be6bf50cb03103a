/**
 * The McpAgent: one Durable Object per MCP session. It serves the legacy SSE transport on /sse and,
 * when MCP_TRANSPORT=mcp-agent, the 2025 revisions of Streamable HTTP on /mcp. Who may reach a
 * session at all is decided in front of it (./routes.ts); what each request may do is decided per
 * request (./agent-server.ts).
 */
import { McpAgent } from 'agents/mcp';
import type { GrantProps } from '../auth/props';
import { createAgentServer } from './agent-server';

export class McpSessionAgent extends McpAgent<Env, unknown, GrantProps & Record<string, unknown>> {
  server = createAgentServer({ env: this.env, sessionUserId: () => this.props?.userId });

  async init(): Promise<void> {
    // Tools come from the shared catalogue; nothing is per-session.
  }
}
