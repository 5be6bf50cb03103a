/**
 * The MCP server: one McpAgent Durable Object per MCP session (Streamable HTTP or legacy SSE).
 * It only registers tools and checks each call's authorization facts; who may reach a session at
 * all is decided in front of it, in ./routes.ts.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { McpAgent } from 'agents/mcp';
import type { GrantProps } from '../auth/props';
import { hasScopes } from '../auth/scopes';
import { readRequestAuth } from './request-auth';
import { TOOLS } from './tools';
import { toolError } from './tools/define';

export const SERVER_INFO = { name: 'mcp-workers-oauth', version: '0.1.0' } as const;

export class McpSessionAgent extends McpAgent<Env, unknown, GrantProps & Record<string, unknown>> {
  server = new McpServer(SERVER_INFO, {
    instructions: 'Notes for the signed-in user. Call whoami to see who you are signed in as and which scopes you hold.',
  });

  async init(): Promise<void> {
    for (const tool of TOOLS) {
      const { name, title, description, inputSchema, annotations } = tool;
      this.server.registerTool(name, { title, description, inputSchema, annotations }, async (args, extra) => {
        const auth = readRequestAuth(extra.requestInfo?.headers);
        // The session is bound to its owner in front of this object; this is the second lock on that door.
        if (!auth || auth.user.userId !== this.props?.userId) {
          return toolError('This request is not authorized for this session. Start a new MCP session.');
        }
        if (!hasScopes(auth.scopes, tool.scopes)) {
          return toolError(`Calling ${name} needs the scope ${tool.scopes.join(' ')}; re-authorize to grant it.`);
        }
        return tool.run(args, { auth, env: this.env });
      });
    }
  }
}
