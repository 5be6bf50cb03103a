import type { ToolDefinition } from './define';
import { notesAdd, notesDelete, notesList } from './notes';
import { whoami } from './whoami';

/** Every tool this server offers. Add a tool here after declaring it with `defineTool`. */
// The list is heterogeneous in its input shapes; each entry was type-checked by defineTool.
export const TOOLS: readonly ToolDefinition[] = [whoami, notesAdd, notesList, notesDelete] as readonly ToolDefinition[];
