import { describe, expect, it } from 'vitest';
import { isInternalHeader, withoutInternalHeaders } from './internal-headers';

describe('internal headers sent by a client', () => {
  it.each(['x-agents-lifecycle-props', 'X-Agents-Anything', 'x-cf-agents-subagent-url', 'x-partykit-room', 'cf-mcp-method', 'cf-mcp-message', 'cf-agent-name', 'x-mcp-request-auth'])('treats %s as internal', (name) => {
    expect(isInternalHeader(name)).toBe(true);
  });

  it.each(['authorization', 'mcp-session-id', 'mcp-protocol-version', 'mcp-method', 'mcp-name', 'content-type', 'x-request-id'])('leaves %s alone', (name) => {
    expect(isInternalHeader(name)).toBe(false);
  });

  it('removes every internal header and keeps the rest, body included', async () => {
    const request = new Request('https://mcp.example/mcp', {
      method: 'POST',
      headers: { 'x-agents-lifecycle-props': '{"userId":"bob"}', 'cf-mcp-method': 'GET', Authorization: 'Bearer t', 'Mcp-Session-Id': 's' },
      body: '{"jsonrpc":"2.0"}',
    });
    const cleaned = withoutInternalHeaders(request);
    expect([...cleaned.headers.keys()].sort()).toEqual(['authorization', 'content-type', 'mcp-session-id']);
    expect(await cleaned.text()).toBe('{"jsonrpc":"2.0"}');
  });

  it('returns the same request when there is nothing to remove', () => {
    const request = new Request('https://mcp.example/mcp', { headers: { Authorization: 'Bearer t' } });
    expect(withoutInternalHeaders(request)).toBe(request);
  });
});
