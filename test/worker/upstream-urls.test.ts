/**
 * The OIDC adapter against discovery documents it must not trust blindly: every URL a document names
 * is https, or http on a loopback host, before anything is fetched from it or the browser is sent
 * there; and every request to the IdP has a deadline. A scripted IdP (an injected fetch) serves the
 * documents, so no request leaves the test.
 */
import { describe, expect, it } from 'vitest';
import type { OidcUpstreamConfig } from '../../src/config';
import { createOidcAdapter } from '../../src/upstream/oidc';
import { UpstreamError } from '../../src/upstream/types';

interface Seen {
  url: string;
  signal: AbortSignal | null | undefined;
}

/** An IdP that serves `document` (with its issuer filled in) as its discovery document; records every request. */
function scriptedIdp(issuer: string, document: Record<string, unknown>) {
  const seen: Seen[] = [];
  const fetchImpl = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = input instanceof Request ? input.url : String(input);
    seen.push({ url, signal: init?.signal });
    if (url === `${issuer}/.well-known/openid-configuration`) return Response.json({ issuer, ...document });
    if (url === `${issuer}/token`) return Response.json({ error: 'invalid_grant' }, { status: 400 });
    return new Response('not found', { status: 404 });
  }) as typeof fetch;
  return { fetchImpl, seen };
}

let issuers = 0;
/** A fresh issuer per test: discovery documents are cached per issuer for an hour. */
function config(base: string): OidcUpstreamConfig {
  issuers++;
  return { kind: 'oidc', issuer: `${base}/tenant-${issuers}-${crypto.randomUUID()}`, clientId: 'client', clientSecret: 'secret', scopes: ['openid', 'email'] };
}

const GOOD = (issuer: string) => ({
  authorization_endpoint: `${issuer}/authorize`,
  token_endpoint: `${issuer}/token`,
  userinfo_endpoint: `${issuer}/userinfo`,
  jwks_uri: `${issuer}/jwks`,
});

async function authorizationUrl(upstream: OidcUpstreamConfig, fetchImpl: typeof fetch): Promise<URL> {
  const adapter = createOidcAdapter(upstream, fetchImpl);
  return adapter.authorizationUrl(await adapter.prepare(), 'state', 'https://mcp.example/callback');
}

describe('OIDC discovery: the URLs a document names', () => {
  it('accepts https endpoints, and http ones on loopback for a loopback issuer', async () => {
    for (const base of ['https://idp.example', 'http://localhost:9', 'http://127.0.0.1:9']) {
      const upstream = config(base);
      const { fetchImpl } = scriptedIdp(upstream.issuer, GOOD(upstream.issuer));
      expect((await authorizationUrl(upstream, fetchImpl)).href).toMatch(new RegExp(`^${upstream.issuer}/authorize\\?`));
    }
  });

  it.each([
    ['token_endpoint', 'http://collector.example/token'],
    ['userinfo_endpoint', 'http://collector.example/userinfo'],
    ['jwks_uri', 'http://collector.example/jwks'],
    ['authorization_endpoint', 'http://collector.example/authorize'],
  ])('refuses a loopback issuer whose %s is plain http elsewhere (%s)', async (name, value) => {
    const upstream = config('http://localhost:9');
    const { fetchImpl, seen } = scriptedIdp(upstream.issuer, { ...GOOD(upstream.issuer), [name]: value });
    const starting = authorizationUrl(upstream, fetchImpl);
    await expect(starting).rejects.toBeInstanceOf(UpstreamError);
    await expect(starting).rejects.toMatchObject({ reason: 'invalid_response', detail: expect.stringContaining(`${name} must use https`) });
    expect(seen.map(({ url }) => url)).toEqual([`${upstream.issuer}/.well-known/openid-configuration`]);
  });

  it.each(['javascript:alert(document.cookie)', 'data:text/html,<script>alert(1)</script>', 'file:///etc/passwd', 'not a url'])(
    'never sends the browser to an authorization_endpoint of %j',
    async (value) => {
      const upstream = config('https://idp.example');
      const { fetchImpl } = scriptedIdp(upstream.issuer, { ...GOOD(upstream.issuer), authorization_endpoint: value });
      await expect(authorizationUrl(upstream, fetchImpl)).rejects.toMatchObject({ reason: 'invalid_response', userMessage: 'The identity provider is misconfigured.' });
    },
  );

  it('does not cache a refused document: a fixed one is used on the next sign-in', async () => {
    const upstream = config('http://localhost:9');
    const bad = scriptedIdp(upstream.issuer, { ...GOOD(upstream.issuer), token_endpoint: 'http://collector.example/token' });
    await expect(authorizationUrl(upstream, bad.fetchImpl)).rejects.toBeInstanceOf(UpstreamError);
    const good = scriptedIdp(upstream.issuer, GOOD(upstream.issuer));
    expect((await authorizationUrl(upstream, good.fetchImpl)).pathname).toMatch(/\/authorize$/);
  });
});

describe('OIDC requests have a deadline', () => {
  it('sends discovery with an abort signal', async () => {
    const upstream = config('https://idp.example');
    const { fetchImpl, seen } = scriptedIdp(upstream.issuer, GOOD(upstream.issuer));
    await authorizationUrl(upstream, fetchImpl);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.signal).toBeInstanceOf(AbortSignal);
  });

  it('sends the token request with an abort signal', async () => {
    const upstream = config('https://idp.example');
    const { fetchImpl, seen } = scriptedIdp(upstream.issuer, GOOD(upstream.issuer));
    const adapter = createOidcAdapter(upstream, fetchImpl);
    const flow = await adapter.prepare();
    const callback = new URL('https://mcp.example/callback?code=the-code&state=the-state');
    await expect(adapter.finish(callback, 'the-state', flow, 'https://mcp.example/callback')).rejects.toMatchObject({ reason: 'upstream_error' });
    expect(seen.map(({ url }) => url)).toEqual([`${upstream.issuer}/.well-known/openid-configuration`, `${upstream.issuer}/token`]);
    for (const { url, signal } of seen) expect(signal, url).toBeInstanceOf(AbortSignal);
  });

  it('reports an IdP that does not answer in time as unavailable', async () => {
    const upstream = config('https://idp.example');
    const fetchImpl = (async () => {
      throw new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    }) as typeof fetch;
    await expect(authorizationUrl(upstream, fetchImpl)).rejects.toMatchObject({ reason: 'upstream_unavailable' });
  });
});
