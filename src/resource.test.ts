import { describe, expect, it } from 'vitest';
import { canonicalResource, canonicalResourceParams, pathSuffixedResourceMetadata, withCanonicalResourceQuery } from './resource';

const ORIGIN = 'https://mcp.example.com';

describe('canonicalResource', () => {
  it.each(['', '/', '/mcp', '/mcp/', '/sse', '/sse/'])('maps %j on this origin to the origin', (path) => {
    expect(canonicalResource(`${ORIGIN}${path}`, ORIGIN)).toBe(ORIGIN);
  });

  it('maps the origin spelled with an explicit default port or upper-case host', () => {
    expect(canonicalResource('https://mcp.example.com:443/mcp', ORIGIN)).toBe(ORIGIN);
    expect(canonicalResource('https://MCP.example.com/mcp', ORIGIN)).toBe(ORIGIN);
  });

  it.each([
    ['another origin', 'https://other.example.com/mcp'],
    ['a subdomain', 'https://evil.mcp.example.com/mcp'],
    ['plain http', 'http://mcp.example.com/mcp'],
    ['another port', 'https://mcp.example.com:8443/mcp'],
    ['another path', 'https://mcp.example.com/admin'],
    ['a path below /mcp', 'https://mcp.example.com/mcp/tools'],
    ['a path that only starts like /mcp', 'https://mcp.example.com/mcpx'],
    ['the message endpoint', 'https://mcp.example.com/sse/message'],
    ['a query', 'https://mcp.example.com/mcp?tenant=1'],
    ['a fragment', 'https://mcp.example.com/mcp#x'],
    ['user info', 'https://user:pass@mcp.example.com/mcp'],
    ['not a URL', 'mcp'],
    ['an empty string', ''],
  ])('refuses %s', (_label, value) => {
    expect(canonicalResource(value, ORIGIN)).toBeUndefined();
  });
});

describe('withCanonicalResourceQuery', () => {
  it('rewrites an aliased resource in an authorization request, keeping the other parameters', () => {
    const url = new URL(`${ORIGIN}/authorize?client_id=c&resource=${encodeURIComponent(`${ORIGIN}/mcp`)}&state=s`);
    const rewritten = withCanonicalResourceQuery(new Request(url), url, ORIGIN);
    const params = new URL(rewritten.url).searchParams;
    expect(params.getAll('resource')).toEqual([ORIGIN]);
    expect(params.get('client_id')).toBe('c');
    expect(params.get('state')).toBe('s');
  });

  it('leaves a foreign resource for the provider to refuse', () => {
    const url = new URL(`${ORIGIN}/authorize?resource=${encodeURIComponent('https://other.example.com/mcp')}`);
    const request = new Request(url);
    expect(withCanonicalResourceQuery(request, url, ORIGIN)).toBe(request);
  });
});

describe('canonicalResourceParams', () => {
  it('rewrites an aliased resource in a token request body and keeps the rest', () => {
    const params = canonicalResourceParams(new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'r', resource: `${ORIGIN}/sse/` }), ORIGIN);
    expect(params?.get('resource')).toBe(ORIGIN);
    expect(params?.get('refresh_token')).toBe('r');
  });

  it('reports no change when there is nothing to map', () => {
    expect(canonicalResourceParams(new URLSearchParams({ resource: ORIGIN, code: 'c' }), ORIGIN)).toBeUndefined();
  });
});

describe('pathSuffixedResourceMetadata', () => {
  it('describes /mcp at its path-suffixed URL (RFC 9728 §3.3)', async () => {
    const url = new URL(`${ORIGIN}/.well-known/oauth-protected-resource/mcp`);
    const response = pathSuffixedResourceMetadata(new Request(url), url, ORIGIN, ['profile', 'notes:read']);
    expect(response?.status).toBe(200);
    expect(await response?.json()).toMatchObject({ resource: `${ORIGIN}/mcp`, authorization_servers: [ORIGIN], scopes_supported: ['profile', 'notes:read'] });
  });

  it('leaves other paths alone and refuses other methods', () => {
    const other = new URL(`${ORIGIN}/.well-known/oauth-protected-resource/admin`);
    expect(pathSuffixedResourceMetadata(new Request(other), other, ORIGIN, [])).toBeUndefined();
    const url = new URL(`${ORIGIN}/.well-known/oauth-protected-resource/sse`);
    expect(pathSuffixedResourceMetadata(new Request(url, { method: 'POST' }), url, ORIGIN, [])?.status).toBe(405);
  });
});
