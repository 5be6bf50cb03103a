/**
 * Scope enforcement for MCP requests. Pure: which scopes a JSON-RPC request needs, and whether a
 * token's scopes cover them.
 */
import { hasScopes, type Scope } from '../auth/scopes';
import { findTool } from './tools';

/** JSON-RPC error code for a call the token's scopes do not cover (implementation-defined range). */
export const INSUFFICIENT_SCOPE_CODE = -32003;

export interface MissingScope {
  tool: string;
  /** What this operation needs: the tool's declared scopes (RFC 6750 §3.1; MCP 2026-07-28). */
  required: readonly Scope[];
}

/** For a `tools/call` the token may not make, what it would need; otherwise undefined. */
export function missingScopeFor(message: unknown, grantedScopes: readonly string[]): MissingScope | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const { method, params } = message as { method?: unknown; params?: { name?: unknown } };
  if (method !== 'tools/call') return undefined;
  const tool = findTool(params?.name);
  if (!tool || hasScopes(grantedScopes, tool.scopes)) return undefined;
  return { tool: tool.name, required: tool.scopes };
}

export function insufficientScopeMessage(missing: MissingScope): string {
  return `Insufficient scope: ${missing.tool} needs ${missing.required.join(' ')}. Re-authorize with that scope and call it again.`;
}
