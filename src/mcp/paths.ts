/**
 * Where MCP is served. A leaf module (no imports, no side effects): routing, discovery metadata and
 * the Origin checks all need these paths without pulling in the transports.
 */

/** Streamable HTTP: the transport MCP Manager and every current client use. */
export const MCP_PATH = '/mcp';

/** Legacy HTTP+SSE (protocol 2024-11-05), and its message endpoint `/sse/message`. */
export const SSE_PATH = '/sse';
