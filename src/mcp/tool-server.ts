/**
 * The MCP server's tool surface, with authorization decided per request: `tools/list` shows only
 * the tools the presented token may call, and `tools/call` refuses the others with a JSON-RPC
 * error naming the missing scope (the /mcp route answers a lone call with HTTP 403 before it gets
 * here; batches and the SSE transport, which cannot carry a status, get this error).
 *
 * Built on the SDK's low-level Server rather than McpServer because McpServer's tool list is one
 * per session, while scopes belong to the token of each request.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { hasScopes } from '../auth/scopes';
import { readRequestAuth, type RequestAuth } from './request-auth';
import { INSUFFICIENT_SCOPE_CODE, insufficientScopeMessage, missingScopeFor } from './scope-guard';
import { findTool, TOOLS } from './tools';
import { toolError, type ToolDefinition } from './tools/define';

export const SERVER_INFO = { name: 'mcp-workers-oauth', version: '0.1.0' } as const;

interface ToolServerHost {
  env: Env;
  /** The user this session belongs to, from the agent's props. */
  sessionUserId(): string | undefined;
}

const listings = new Map<ToolDefinition, Tool>();
const argumentSchemas = new Map<ToolDefinition, z.ZodObject>();

/** Built once per tool: constructing a zod object on every call shows up in the hot path's profile. */
function argumentSchema(tool: ToolDefinition): z.ZodObject {
  let schema = argumentSchemas.get(tool);
  if (!schema) {
    schema = z.object(tool.inputSchema);
    argumentSchemas.set(tool, schema);
  }
  return schema;
}

function listing(tool: ToolDefinition): Tool {
  let entry = listings.get(tool);
  if (!entry) {
    const { $schema: _dialect, ...inputSchema } = z.toJSONSchema(z.object(tool.inputSchema)) as Record<string, unknown>;
    entry = {
      name: tool.name,
      title: tool.title,
      description: tool.description,
      inputSchema: { ...inputSchema, type: 'object' },
      annotations: tool.annotations,
      _meta: { 'io.modelcontextprotocol/scopes': tool.scopes },
    };
    listings.set(tool, entry);
  }
  return entry;
}

export function createToolServer(host: ToolServerHost): Server {
  const server = new Server(SERVER_INFO, {
    capabilities: { tools: {} },
    instructions: 'Notes for the signed-in user. Call whoami to see who you are signed in as and which scopes your token holds.',
  });

  const authorize = (headers: Record<string, string | string[] | undefined> | undefined): RequestAuth => {
    const auth = readRequestAuth(headers);
    // Sessions are bound to their owner in front of this object; this is the second lock on that door.
    if (!auth || auth.user.userId !== host.sessionUserId()) {
      throw new McpError(ErrorCode.InvalidRequest, 'This request is not authorized for this session. Start a new MCP session.');
    }
    return auth;
  };

  server.setRequestHandler(ListToolsRequestSchema, async (_request, extra) => {
    const auth = authorize(extra.requestInfo?.headers);
    return { tools: TOOLS.filter((tool) => hasScopes(auth.scopes, tool.scopes)).map(listing) };
  });

  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const auth = authorize(extra.requestInfo?.headers);
    const tool = findTool(request.params.name);
    if (!tool) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${request.params.name}`);
    const missing = missingScopeFor(request, auth.scopes);
    if (missing) {
      throw new McpError(INSUFFICIENT_SCOPE_CODE, insufficientScopeMessage(missing), { error: 'insufficient_scope', scope: missing.required.join(' ') });
    }
    const args = argumentSchema(tool).safeParse(request.params.arguments ?? {});
    // Invalid arguments are the model's to fix, so they come back as a tool result it can read.
    if (!args.success) return toolError(`Invalid arguments for ${tool.name}: ${z.prettifyError(args.error)}`);
    return tool.run(args.data, { auth, env: host.env });
  });

  return server;
}
