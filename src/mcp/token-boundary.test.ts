/**
 * Where the bearer token stops: past the OAuth provider, neither MCP server (nor any tool) is handed
 * it. These are the two places a request's authorization facts leave the route for an MCP server.
 */
import { describe, expect, it } from 'vitest';
import { readRequestAuth, withRequestAuth, type RequestAuth } from './request-auth';
import { statelessAuthInfo } from './stateless-server';

const TOKEN = 'alice:grant123:s3cr3t-token-value';
const AUTH: RequestAuth = { user: { userId: 'alice', upstream: 'oidc:idp.example', subject: 'alice' }, scopes: ['profile'], clientId: 'client-1', grantId: 'grant-1', resource: 'https://mcp.example' };

describe('the bearer token stops at the route', () => {
  it('is not in what the stateless server gets (authInfo)', () => {
    const authInfo = statelessAuthInfo({ auth: AUTH, env: {} as Env }, { clientId: 'client-1', scopes: ['profile'], expiresAt: 1_900_000_000, resource: 'https://mcp.example' });
    expect(authInfo.token).toBe('');
    expect(JSON.stringify(authInfo)).not.toContain(TOKEN);
    expect(authInfo).toMatchObject({ clientId: 'client-1', scopes: ['profile'], expiresAt: 1_900_000_000, resource: new URL('https://mcp.example') });
  });

  it('is stripped from what reaches the McpAgent, which gets the facts in their place', async () => {
    const request = new Request('https://mcp.example/sse/message?sessionId=x', { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' }, body: '{}' });
    const forwarded = withRequestAuth(request, AUTH);
    expect(forwarded.headers.get('authorization')).toBeNull();
    expect([...forwarded.headers].some(([, value]) => value.includes(TOKEN))).toBe(false);
    expect(readRequestAuth(Object.fromEntries(forwarded.headers))).toEqual(AUTH);
    expect(await forwarded.text()).toBe('{}');
  });
});
