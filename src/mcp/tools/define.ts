/**
 * How every MCP tool is declared: schema, annotations and the scopes it needs, side by side, once.
 * Nothing here depends on an MCP SDK: the same declaration is served by the stateless /mcp handler
 * (SDK v2) and by the McpAgent on /sse (SDK v1), through ../tool-calls.ts.
 * `scopes` is required and non-empty, so a tool without an authorization decision does not compile.
 */
import type { z } from 'zod';
import type { Scope } from '../../auth/scopes';
import type { UpstreamApi } from '../../upstream/api';
import type { RequestAuth } from '../request-auth';

export interface ToolContext {
  /** Who is calling, with the scopes of the token presented on this very request. Never the token itself. */
  auth: RequestAuth;
  env: Env;
  /**
   * The upstream's API as the user (UPSTREAM_TOKENS=on): `upstream.fetch(url)` adds the user's
   * upstream token, refreshed as needed, and sends it only to the upstream's API origins. Its
   * failures are thrown as UpstreamAccessError; leave them uncaught and the tool layer answers with
   * what the user should do (../../upstream/api.ts).
   */
  upstream: UpstreamApi;
}

/** MCP tool annotations (hints to the client; every field is stated so none is left to a default). */
export interface ToolAnnotations {
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
  openWorldHint: boolean;
}

/**
 * A `tools/call` result, in the shape every MCP revision since 2025-06-18 accepts. A type alias, not
 * an interface, so it is assignable to the SDKs' open-ended (index-signature) result types.
 */
export type ToolResult = {
  content: { type: 'text'; text: string }[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
};

export interface ToolDefinition<Shape extends z.ZodRawShape = z.ZodRawShape> {
  name: string;
  title: string;
  description: string;
  /** Arguments, validated before `run` is called. */
  inputSchema: Shape;
  annotations: ToolAnnotations;
  /** Every scope a token must hold (after implication) to see and call this tool. */
  scopes: readonly [Scope, ...Scope[]];
  run(args: z.output<z.ZodObject<Shape>>, context: ToolContext): Promise<ToolResult>;
}

/** Identity function that gives `run` its argument types from `inputSchema`. */
export function defineTool<Shape extends z.ZodRawShape>(tool: ToolDefinition<Shape>): ToolDefinition<Shape> {
  return tool;
}

/** A result the caller can read and act on, for failures that are the caller's to fix. */
export function toolError(message: string): ToolResult {
  return { isError: true, content: [{ type: 'text', text: message }] };
}

/**
 * Up to this many bytes (UTF-8) of pretty-printed JSON, a result is sent both as `structuredContent`
 * and, serialized, as its text content: MCP asks for that copy, for clients that read only `content`
 * ("For backwards compatibility, a tool that returns structured content SHOULD also return the
 * serialized JSON in a TextContent block": tools, "Structured Content", in 2025-06-18, 2025-11-25 and
 * 2026-07-28 alike). Above it, the copy would double a message that is already large (the text is
 * a JSON string inside the JSON-RPC message, so every quote and newline is escaped once more), so the
 * text is a one-line summary instead that says where the result is. No tool here gets that far:
 * notes_list pages stay under it (../../storage/user-notes.ts), and one note is at most about 60 KB
 * of JSON. It is the rule for any tool that will.
 */
export const TEXT_COPY_MAX_BYTES = 64 * 1024;

const encoder = new TextEncoder();

/** Whether `text` is more than `limit` bytes in UTF-8, encoding it only when its length cannot tell. */
export function exceedsBytes(text: string, limit: number): boolean {
  // A UTF-16 code unit is 1 to 3 bytes in UTF-8 (a surrogate pair, two units, is 4).
  if (text.length * 3 <= limit) return false;
  if (text.length > limit) return true;
  return encoder.encode(text).byteLength > limit;
}

export function utf8Bytes(text: string): number {
  return encoder.encode(text).byteLength;
}

/** `n` bytes for a person or a model to read: `312 KiB`, `2.4 MiB`. */
export function formatBytes(n: number): string {
  if (n < 1024 * 1024) return `${Math.ceil(n / 1024)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

export function toolJson(value: Record<string, unknown>): ToolResult {
  const text = JSON.stringify(value, null, 2);
  if (!exceedsBytes(text, TEXT_COPY_MAX_BYTES)) return { content: [{ type: 'text', text }], structuredContent: value };
  return { content: [{ type: 'text', text: largeResultSummary(value, utf8Bytes(text)) }], structuredContent: value };
}

/**
 * One line in place of a large result's JSON: where the result is, and its top-level fields (arrays
 * by their length, short strings and other scalars as they are, so a cursor survives).
 */
function largeResultSummary(value: Record<string, unknown>, bytes: number): string {
  const fields = Object.entries(value).map(([key, field]) => {
    if (Array.isArray(field)) return `${JSON.stringify(key)}: [${field.length} items]`;
    if (typeof field === 'string' && field.length > 200) return `${JSON.stringify(key)}: [a string of ${field.length} characters]`;
    if (typeof field === 'object' && field !== null) return `${JSON.stringify(key)}: {…}`;
    return `${JSON.stringify(key)}: ${JSON.stringify(field)}`;
  });
  return `This result is ${formatBytes(bytes)} of JSON, too large to send twice: it is in structuredContent only. Its fields: {${fields.join(', ')}}`;
}
