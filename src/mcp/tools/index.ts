import type { ToolDefinition } from './define';
import { notesAdd, notesDelete, notesList } from './notes';
import { githubOrgs, githubProfile, githubRepos, upstreamUserinfo } from './upstream';
import { whoami } from './whoami';

/**
 * Every tool this server offers. Add a tool here after declaring it with `defineTool`.
 * The entries differ in their input shapes; each one was type-checked by defineTool, and the
 * tool server validates arguments against `inputSchema` before calling `run`.
 */
export const TOOLS: readonly ToolDefinition[] = [whoami, notesAdd, notesList, notesDelete, upstreamUserinfo, githubProfile, githubRepos, githubOrgs] as readonly ToolDefinition[];

export function findTool(name: unknown): ToolDefinition | undefined {
  return TOOLS.find((tool) => tool.name === name);
}
