/**
 * What an unauthenticated caller can send, tried as an attacker would: malformed and oversized
 * bodies, identifiers longer than Workers KV's keys allow, metadata-document client ids aimed at
 * this machine or the private network. Every one gets the 4xx its specification
 * names and changes nothing; none reaches a 500.
 */
import { describe, expect, it } from 'vitest';
import { basicAuth, ORIGIN, pkcePair, registerClient, tokenRequest, worker } from './helpers';

const LONG = 'x'.repeat(600);

/** A body of undeclared length (chunked), `size` bytes of `fill`. */
function chunked(size: number, fill = 'a'): ReadableStream<Uint8Array> {
  const chunk = new TextEncoder().encode(fill.repeat(16 * 1024));
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= size) return controller.close();
      controller.enqueue(chunk.slice(0, Math.min(chunk.length, size - sent)));
      sent += chunk.length;
    },
  });
}

function expectPage(response: Response, status: number): void {
  expect(response.status).toBe(status);
  expect(response.headers.get('Location')).toBeNull();
  expect(response.headers.get('Content-Type')).toMatch(/^text\/html/);
}

describe('POST /authorize (the consent form) with what a browser would never send', () => {
  it.each([
    ['a JSON body', 'application/json', '{"handle":"x","decision":"approve"}', 415],
    ['a broken multipart body', 'multipart/form-data; boundary=XYZ', '--XYZ\r\nContent-Disposition: form-data; name="handle"\r\n\r\nbroken', 415],
    ['no content type', '', 'handle=x', 415],
    ['an empty form', 'application/x-www-form-urlencoded', '', 400],
    ['a form with a made-up handle', 'application/x-www-form-urlencoded', 'handle=made-up&shown=x&decision=approve&scope=profile', 400],
    ['a form with broken percent-encoding', 'application/x-www-form-urlencoded', 'handle=%zz%&shown=%E0%A4%A&decision=approve', 400],
    ['a form with a huge number of fields', 'application/x-www-form-urlencoded', Array.from({ length: 1000 }, (_, i) => `scope=s${i}`).join('&'), 400],
  ])('answers %s with %d and a page', async (_label, type, body, status) => {
    const response = await worker('/authorize', { method: 'POST', headers: type ? { 'Content-Type': type } : {}, body });
    expectPage(response, status);
    expect(await response.text()).toContain('This sign-in request cannot continue');
  });

  it('refuses a form over 16 KiB with 413, declared or chunked', async () => {
    const headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
    expectPage(await worker('/authorize', { method: 'POST', headers, body: `handle=${'a'.repeat(20_000)}` }), 413);
    expectPage(await worker('/authorize', { method: 'POST', headers, body: chunked(20_000), duplex: 'half' } as RequestInit), 413);
  });
});

describe('identifiers longer than a KV key can hold', () => {
  it('answers GET /authorize with a 600-byte client_id with a 400 page', async () => {
    const { challenge } = await pkcePair();
    const response = await worker(`/authorize?response_type=code&client_id=${LONG}&redirect_uri=https://x.example/cb&code_challenge=${challenge}&code_challenge_method=S256`);
    expectPage(response, 400);
  });

  it.each<[string, Record<string, string>, Record<string, string>]>([
    ['in the body', { client_id: LONG }, {}],
    ['in HTTP Basic', {}, { Authorization: `Basic ${btoa(`${LONG}:secret`)}` }],
  ])('answers /token with a 600-byte client_id %s with 401 invalid_client', async (_label, extra, headers) => {
    const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'a:b:c', ...extra });
    const response = await worker('/token', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers }, body: body.toString() });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: 'invalid_client' });
  });

  it.each([
    ['a refresh token', { grant_type: 'refresh_token', refresh_token: `${LONG}:grant:secret` }],
    ['an authorization code', { grant_type: 'authorization_code', code: `${LONG}:grant:secret`, redirect_uri: 'https://gateway.example/oauth/callback', code_verifier: 'v'.repeat(43) }],
  ])('answers /token with %s whose user part is 600 bytes with 400 invalid_grant', async (_label, params) => {
    const client = await registerClient();
    const response = await tokenRequest(client, params);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('answers revocation of a 600-byte token with 200 (RFC 7009 §2.2: an invalid token is not an error)', async () => {
    const client = await registerClient();
    const response = await tokenRequest(client, { token: `${LONG}:grant:secret` });
    expect(response.status).toBe(200);
  });

  it.each(['/mcp', '/sse'])('answers %s with a 600-byte bearer token with 401 invalid_token and the challenge', async (path) => {
    const response = await worker(path, { method: path === '/mcp' ? 'POST' : 'GET', headers: { Authorization: `Bearer ${LONG}:grant:secret`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' }, body: path === '/mcp' ? '{}' : undefined });
    expect(response.status).toBe(401);
    expect(response.headers.get('WWW-Authenticate')).toContain('error="invalid_token"');
    expect(response.headers.get('WWW-Authenticate')).toContain(`resource_metadata="${ORIGIN}/.well-known/oauth-protected-resource${path}"`);
  });
});

describe('bodies over their bound, refused before they are read', () => {
  it('refuses a /token body over 64 KiB with 413 invalid_request, declared or chunked', async () => {
    const client = await registerClient();
    const headers = { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basicAuth(client) };
    for (const body of [`grant_type=refresh_token&refresh_token=${'a'.repeat(70_000)}`, chunked(70_000)]) {
      const response = await worker('/token', { method: 'POST', headers, body, duplex: 'half' } as RequestInit);
      expect(response.status).toBe(413);
      expect(await response.json()).toMatchObject({ error: 'invalid_request' });
    }
  });

  it('refuses a /register body over 64 KiB with 413 invalid_client_metadata', async () => {
    const response = await worker('/register', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ client_name: 'a'.repeat(70_000), redirect_uris: ['https://x.example/cb'] }) });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ error: 'invalid_client_metadata' });
  });
});

describe('Client ID Metadata Document URLs aimed at this machine or the private network', () => {
  const forged = async () => (await (await fetch('https://outbound-log.test/')).json()) as string[];

  it.each([
    'https://127.0.0.1:8443/client.json',
    'https://127.0.0.1/client.json',
    'https://localhost/client.json',
    'https://metadata.localhost/client.json',
    'https://2130706433/client.json',
    'https://0x7f.0.0.1/client.json',
    'https://127.1/client.json',
    'https://[::1]/client.json',
    'https://169.254.169.254/latest/meta-data',
    'https://10.0.0.8/client.json',
    'https://intranet/client.json',
    'https://printer.local/client.json',
    'https://client.example.com:8443/oauth/client-metadata.json',
    'https://user@client.example.com/oauth/client-metadata.json',
  ])('refuses %s at /authorize and /token without fetching it', async (clientId) => {
    await fetch('https://outbound-log.test/', { method: 'DELETE' });
    const { challenge } = await pkcePair();
    const page = await worker(`/authorize?response_type=code&client_id=${encodeURIComponent(clientId)}&redirect_uri=${encodeURIComponent('http://127.0.0.1:33418/callback')}&code_challenge=${challenge}&code_challenge_method=S256&state=s`);
    expectPage(page, 400);
    expect(await page.text()).toContain('This app could not be verified');

    const token = await worker('/token', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'authorization_code', code: 'a:b:c', client_id: clientId, redirect_uri: 'http://127.0.0.1:33418/callback', code_verifier: 'v'.repeat(43) }).toString() });
    expect(token.status).toBe(401);
    expect(await token.json()).toMatchObject({ error: 'invalid_client' });
    expect(await forged()).toEqual([]);
  });
});

describe('every HTML page carries the same security headers', () => {
  const expectSecured = (response: Response) => {
    expect(response.headers.get('Content-Security-Policy')).toContain("frame-ancestors 'none'");
    expect(response.headers.get('X-Frame-Options')).toBe('DENY');
    expect(response.headers.get('X-Content-Type-Options')).toBe('nosniff');
    expect(response.headers.get('Referrer-Policy')).toBe('no-referrer');
  };

  it('the home page', async () => {
    expectSecured(await worker('/'));
  });

  it('the consent page and an error page', async () => {
    const client = await registerClient();
    const { challenge } = await pkcePair();
    expectSecured(await worker(`/authorize?response_type=code&client_id=${client.client_id}&redirect_uri=${encodeURIComponent(client.redirect_uris[0] as string)}&code_challenge=${challenge}&code_challenge_method=S256&state=s`));
    expectSecured(await worker('/authorize?client_id=no-such-client'));
  });
});

describe('a sweep of odd unauthenticated requests: never a 500', () => {
  it.each<[string, string, RequestInit?]>([
    ['GET /callback with nothing', '/callback'],
    ['GET /callback with a made-up state', '/callback?state=made-up&code=x'],
    ['GET /callback with broken encoding', '/callback?state=%E0%A4%A&code=%zz'],
    ['GET /callback with an upstream error', '/callback?error=access_denied&state=made-up'],
    ['GET /authorize with nothing', '/authorize'],
    ['GET /authorize with broken encoding', '/authorize?client_id=%zz&redirect_uri=%E0%A4%A'],
    ['GET /authorize with repeated parameters', '/authorize?client_id=a&client_id=b&response_type=code&response_type=token'],
    ['GET /token', '/token'],
    ['PUT /token', '/token', { method: 'PUT', body: 'x' }],
    ['POST /token as JSON', '/token', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"grant_type":"refresh_token"}' }],
    ['POST /token with broken encoding', '/token', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'grant_type=%zz&refresh_token=%E0%A4%A' }],
    ['POST /token with Basic that is not base64', '/token', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: 'Basic !!!' }, body: 'grant_type=refresh_token&refresh_token=a:b:c' }],
    ['POST /token with Basic whose id has broken encoding', '/token', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Basic ${btoa('%zz:secret')}` }, body: 'grant_type=refresh_token&refresh_token=a:b:c' }],
    ['POST /register with broken JSON', '/register', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"redirect_uris":' }],
    ['POST /register with a JSON array', '/register', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '[]' }],
    ['POST /register with 2,000 redirect URIs', '/register', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ redirect_uris: Array.from({ length: 2000 }, (_, i) => `https://x.example/${i}`) }) }],
    ['GET /mcp with a bearer token of two parts', '/mcp', { headers: { Authorization: 'Bearer a:b' } }],
    ['POST /mcp with a Basic header', '/mcp', { method: 'POST', headers: { Authorization: 'Basic YTpi', 'Content-Type': 'application/json' }, body: '{}' }],
    ['GET /sse/message with no session', '/sse/message'],
    ['GET /admin/clients without a token', '/admin/clients'],
    ['GET /.well-known/oauth-protected-resource/mcp/extra', '/.well-known/oauth-protected-resource/mcp/extra'],
    ['POST /.well-known/oauth-authorization-server', '/.well-known/oauth-authorization-server', { method: 'POST', body: 'x' }],
    ['a path with encoded slashes', '/%2e%2e/%2fmcp'],
  ])('%s', async (_label, path, init) => {
    const response = await worker(path, init);
    expect(response.status, `${path}: ${response.status}`).toBeGreaterThanOrEqual(400);
    expect(response.status, `${path}: ${response.status}`).toBeLessThan(500);
    expect(await response.text()).not.toMatch(/\bat [\w.$<>]+ \(.*:\d+:\d+\)/);
  });
});
