/**
 * How every MCP tool is declared: schema, annotations and the scopes it needs, side by side, once.
 * Nothing here depends on an MCP SDK: the same declaration is served by the stateless /mcp handler
 * (SDK v2) and by the McpAgent on /sse (SDK v1), through ../tool-calls.ts.
 * `scopes` is required and non-empty, so a tool without an authorization decision does not compile.
 */
import type { z } from 'zod';
import type { Scope } from '../../auth/scopes';
import type { RequestAuth } from '../request-auth';

export interface ToolContext {
  /** Who is calling, with the scopes of the token presented on this very request. Never the token itself. */
  auth: RequestAuth;
  env: Env;
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

export function toolJson(value: Record<string, unknown>): ToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value, null, 2) }], structuredContent: value };
}
