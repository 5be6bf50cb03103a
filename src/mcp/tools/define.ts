/**
 * How every MCP tool is declared: schema, annotations and the scopes it needs, side by side.
 * `scopes` is required and non-empty, so a tool without an authorization decision does not compile.
 */
import type { CallToolResult, ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import type { Scope } from '../../auth/scopes';
import type { RequestAuth } from '../request-auth';

export interface ToolContext {
  /** Who is calling, with the scopes of the token presented on this very request. */
  auth: RequestAuth;
  env: Env;
}

export interface ToolDefinition<Shape extends z.ZodRawShape = z.ZodRawShape> {
  name: string;
  title: string;
  description: string;
  /** Arguments, validated before `run` is called. */
  inputSchema: Shape;
  annotations: ToolAnnotations;
  /** Every scope a token must hold (after implication) to see and call this tool. */
  scopes: readonly [Scope, ...Scope[]];
  run(args: z.output<z.ZodObject<Shape>>, context: ToolContext): Promise<CallToolResult>;
}

/** Identity function that gives `run` its argument types from `inputSchema`. */
export function defineTool<Shape extends z.ZodRawShape>(tool: ToolDefinition<Shape>): ToolDefinition<Shape> {
  return tool;
}

/** A result the caller can read and act on, for failures that are the caller's to fix. */
export function toolError(message: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: message }] };
}

export function toolJson(value: Record<string, unknown>): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value, null, 2) }], structuredContent: value };
}
