/**
 * The tool catalogue served to one request, whatever the transport: which tools the presented token
 * may see, and running one of them. The stateless /mcp server (SDK v2) and the McpAgent behind /sse
 * (SDK v1) both answer `tools/list` and `tools/call` with these two functions, so a tool behaves
 * identically on every endpoint and every protocol revision.
 *
 * Refusals are thrown as {@link ToolCallRefusal}, a JSON-RPC error each SDK adapter re-throws in its
 * own error type. A lone `tools/call` the token's scopes do not cover never gets this far on /mcp:
 * the route answers it with HTTP 403 and a step-up challenge (./routes.ts). Batches and /sse, which
 * cannot carry a status, get the JSON-RPC error.
 */
import { z } from 'zod';
import { recordToolCall } from '../audit/hooks';
import { endGrantForReauthorization, UpstreamAccessError, upstreamApiFor, type UpstreamApi } from '../upstream/api';
import { hasScopes, type Scope } from '../auth/scopes';
import type { RequestAuth } from './request-auth';
import { INSUFFICIENT_SCOPE_CODE, insufficientScopeMessage, missingScopeFor } from './scope-guard';
import { findTool, TOOLS } from './tools';
import { exceedsBytes, formatBytes, toolError, utf8Bytes, type ToolContext, type ToolDefinition, type ToolResult } from './tools/define';

/** JSON-RPC "Invalid params" (JSON-RPC 2.0 §5.1): the code every MCP revision uses for an unknown tool. */
const INVALID_PARAMS = -32602;

/** A `tools/call` refused before the tool ran: a JSON-RPC error for the SDK adapter to send. */
export class ToolCallRefusal extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = 'ToolCallRefusal';
  }
}

/** A tool as `tools/list` shows it. */
export interface ToolListing {
  name: string;
  title: string;
  description: string;
  inputSchema: { type: 'object' } & Record<string, unknown>;
  annotations: ToolDefinition['annotations'];
  _meta: Record<string, unknown>;
}

const listings = new Map<ToolDefinition, ToolListing>();
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

function listing(tool: ToolDefinition): ToolListing {
  let entry = listings.get(tool);
  if (!entry) {
    const { $schema: _dialect, ...inputSchema } = z.toJSONSchema(z.object(tool.inputSchema)) as Record<string, unknown>;
    entry = {
      name: tool.name,
      title: tool.title,
      description: tool.description,
      inputSchema: { ...inputSchema, type: 'object' },
      annotations: tool.annotations,
      // What a token needs to call it, for clients that want to ask up front.
      _meta: { 'io.modelcontextprotocol/scopes': tool.scopes },
    };
    listings.set(tool, entry);
  }
  return entry;
}

/**
 * The tools this token may call, in catalogue order (MCP 2026-07-28: servers SHOULD list tools in a
 * deterministic order, so clients can cache the list).
 */
export function listToolsFor(auth: RequestAuth): ToolListing[] {
  return TOOLS.filter((tool) => hasScopes(auth.scopes, tool.scopes)).map(listing);
}

/**
 * Runs `tools/call` for `auth`. Throws {@link ToolCallRefusal} for an unknown tool or a missing scope.
 * Every call is recorded in the audit trail: the tool's name, outcome and duration, never its
 * arguments or result (an unknown tool's name is the caller's text, so it is recorded as `unknown`).
 */
/**
 * How the caller can answer a step-up (an upstream permission the configuration asks for but this
 * sign-in lacks): the stateless /mcp route, for a lone `tools/call`, answers HTTP 403
 * `insufficient_scope` instead of the result. It returns false where no status can be sent (a batch,
 * /sse), and the grant is ended instead, so the client authorizes again all the same.
 */
export type StepUpHandler = (stepUp: { tool: string; scopes: readonly Scope[]; message: string }) => boolean;

export async function callToolAs(auth: RequestAuth, env: Env, params: { name?: unknown; arguments?: unknown }, onStepUp?: StepUpHandler): Promise<ToolResult> {
  const startedAt = Date.now();
  const tool = findTool(params.name);
  if (!tool) {
    recordToolCall(auth, env, 'unknown', 'unknown_tool', startedAt);
    throw new ToolCallRefusal(INVALID_PARAMS, `Unknown tool: ${String(params.name)}`);
  }
  const missing = missingScopeFor({ method: 'tools/call', params }, auth.scopes);
  if (missing) {
    recordToolCall(auth, env, tool.name, 'insufficient_scope', startedAt);
    throw new ToolCallRefusal(INSUFFICIENT_SCOPE_CODE, insufficientScopeMessage(missing), { error: 'insufficient_scope', scope: missing.required.join(' ') });
  }
  const args = argumentSchema(tool).safeParse(params.arguments ?? {});
  // Invalid arguments are the model's to fix, so they come back as a tool result it can read.
  if (!args.success) {
    recordToolCall(auth, env, tool.name, 'invalid_arguments', startedAt);
    return toolError(`Invalid arguments for ${tool.name}: ${z.prettifyError(args.error)}`);
  }
  let result: ToolResult;
  try {
    result = boundedResult(tool, await tool.run(args.data, toolContext(auth, env)));
  } catch (error) {
    if (error instanceof UpstreamAccessError) return upstreamFailure(auth, env, tool, error, startedAt, onStepUp);
    recordToolCall(auth, env, tool.name, 'exception', startedAt);
    throw error;
  }
  recordToolCall(auth, env, tool.name, result.isError === true ? 'tool_error' : 'ok', startedAt);
  return result;
}

/** What a tool runs with. The upstream capability is built only for a tool that asks for it: most never do. */
function toolContext(auth: RequestAuth, env: Env): ToolContext {
  let upstream: UpstreamApi | undefined;
  return {
    auth,
    env,
    get upstream() {
      return (upstream ??= upstreamApiFor(auth, env));
    },
  };
}

/**
 * A tool that could not act upstream as the user: an isError result that says what happened and what
 * to do. When only a new sign-in helps, the grant is ended first, so the client's next request gets
 * 401 and it takes the user through authorization again (MCP authorization: a client that gets 401
 * re-authorizes); the result tells the user why. A missing upstream permission that authorizing
 * again would add is a step-up where the caller can answer one ({@link StepUpHandler}).
 */
async function upstreamFailure(auth: RequestAuth, env: Env, tool: ToolDefinition, error: UpstreamAccessError, startedAt: number, onStepUp: StepUpHandler | undefined): Promise<ToolResult> {
  console.warn(JSON.stringify({ event: 'upstream_access_failed', tool: tool.name, problem: error.problem, reason: error.reason }));
  if (error.problem === 'step_up' && onStepUp?.({ tool: tool.name, scopes: tool.scopes, message: error.userMessage })) {
    recordToolCall(auth, env, tool.name, 'upstream_step_up', startedAt);
    return toolError(error.userMessage);
  }
  if (error.problem === 'reauthorize' || error.problem === 'step_up') await endGrantForReauthorization(auth, env, error.reason);
  const reason = error.problem === 'unavailable' ? 'upstream_unavailable' : error.problem === 'refused' ? 'upstream_refused' : 'upstream_sign_in_lost';
  recordToolCall(auth, env, tool.name, reason, startedAt);
  return toolError(error.userMessage);
}

/**
 * The most a tool result may be, as JSON in UTF-8, on every transport. A larger one is not sent:
 * the caller gets an isError result telling the model to ask for less.
 *
 * Why a bound at all, and why 1 MiB: on /sse, and on /mcp with MCP_TRANSPORT=mcp-agent, every message
 * crosses the WebSocket between the Worker and the session's McpAgent Durable Object as one
 * WebSocket message (on /mcp as an SSE event escaped into JSON once more: up to about twice the
 * result), and a message the bridge cannot carry is lost after the response has started: the client
 * gets the headers and then nothing, forever (issue 12: notes_list results of about 8 MiB and up).
 * Clients bound what they take too: a JSON-RPC message is parsed whole, and hosts bound what they
 * pass to a model (Claude Code, for one, refuses a tool result over 25,000 tokens by default, about
 * 100 KB). 1 MiB stays far under what the bridge carries, even doubled, and far over anything a
 * tool here returns by design (a notes_list page is under 64 KiB): only a tool that forgot to page
 * ever meets it.
 */
export const MAX_TOOL_RESULT_BYTES = 1024 * 1024;

/** `result` if it is within {@link MAX_TOOL_RESULT_BYTES}, or else the error result that replaces it. */
export function boundedResult(tool: Pick<ToolDefinition, 'name' | 'inputSchema'>, result: ToolResult): ToolResult {
  const json = JSON.stringify(result);
  if (!exceedsBytes(json, MAX_TOOL_RESULT_BYTES)) return result;
  const bytes = utf8Bytes(json);
  console.warn(JSON.stringify({ event: 'tool_result_too_large', tool: tool.name, bytes }));
  const howToAskForLess =
    'cursor' in tool.inputSchema
      ? `page through it: call ${tool.name} with the cursor from its previous result, or narrow the request`
      : 'narrow the request';
  return toolError(
    `The result of ${tool.name} is ${formatBytes(bytes)}, more than the ${formatBytes(MAX_TOOL_RESULT_BYTES)} this server sends as one tool result, so it was not sent. Ask for less in one call: ${howToAskForLess}.`,
  );
}
