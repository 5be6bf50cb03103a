/** How this MCP server introduces itself, on every transport. A leaf module. */

export const SERVER_INFO = { name: 'mcp-workers-oauth', version: '0.1.0' } as const;

export const SERVER_INSTRUCTIONS = 'Notes for the signed-in user. Call whoami to see who you are signed in as and which scopes your token holds.';
