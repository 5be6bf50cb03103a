/**
 * The MCP server inside each McpAgent Durable Object (legacy SSE on /sse, and /mcp when
 * MCP_TRANSPORT=mcp-agent): the SDK v1 low-level `Server` McpAgent requires, answering from the
 * shared tool catalogue (./tool-calls.ts). Authorization is decided per request from the facts the
 * Worker forwards (./request-auth.ts), not from the agent's props, which go stale.
 *
 * The low-level Server rather than McpServer because McpServer's tool list is one per session,
 * while scopes belong to the token of each request.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError } from '@modelcontextprotocol/sdk/types.js';
import { readRequestAuth, type RequestAuth } from './request-auth';
import { SERVER_INFO, SERVER_INSTRUCTIONS } from './server-info';
import { callToolAs, listToolsFor, ToolCallRefusal } from './tool-calls';

interface AgentServerHost {
  env: Env;
  /** The user this session belongs to, from the agent's props. */
  sessionUserId(): string | undefined;
}

export function createAgentServer(host: AgentServerHost): Server {
  const server = new Server(SERVER_INFO, { capabilities: { tools: {} }, instructions: SERVER_INSTRUCTIONS });

  const authorize = (headers: Record<string, string | string[] | undefined> | undefined): RequestAuth => {
    const auth = readRequestAuth(headers);
    // Sessions are bound to their owner in front of this object; this is the second lock on that door.
    if (!auth || auth.user.userId !== host.sessionUserId()) {
      throw new McpError(ErrorCode.InvalidRequest, 'This request is not authorized for this session. Start a new MCP session.');
    }
    return auth;
  };

  server.setRequestHandler(ListToolsRequestSchema, async (_request, extra) => ({ tools: listToolsFor(authorize(extra.requestInfo?.headers)) }));

  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const auth = authorize(extra.requestInfo?.headers);
    try {
      return await callToolAs(auth, host.env, request.params);
    } catch (error) {
      if (error instanceof ToolCallRefusal) throw new McpError(error.code, error.message, error.data);
      throw error;
    }
  });

  return server;
}
