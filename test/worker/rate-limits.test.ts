/**
 * Rate limits on what anyone may call without a token (src/guard/rate-limits.ts). Each test runs the
 * Worker with one configured binding replaced by TIGHT_RATE_LIMIT (3 a minute, see vitest.config.ts)
 * and a client address of its own, then shows a request past the limit refused with 429,
 * `Retry-After` and the endpoint's own error shape, while another address (or client) goes on
 * unaffected.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { ALICE, authorizeUrl, basicAuth, pkcePair, registerClient, tokensFor, workerWithEnv } from './helpers';

const TIGHT = Reflect.get(env, 'TIGHT_RATE_LIMIT') as RateLimit;
/** TIGHT_RATE_LIMIT's `limit` (vitest.config.ts): requests a key may make per window. */
const TIGHT_LIMIT = 3;

/**
 * Sends `send(i)` until the first 429, at most 2×limit+1 times, and returns what passed before it and
 * the refusal. The limiter counts in fixed windows aligned to the clock (a minute here), so a run can
 * straddle a window's end and the refusal then comes up to `limit` requests later than limit+1. Sent
 * well within a minute, 2×limit+1 requests cross at most one boundary: a working limiter refuses one
 * of them, and never before `limit` have passed; a limiter that refuses nothing, or too early, fails.
 */
async function untilRefused(send: (attempt: number) => Promise<Response>): Promise<{ passed: Response[]; refused: Response }> {
  const passed: Response[] = [];
  for (let attempt = 0; attempt < 2 * TIGHT_LIMIT + 1; attempt++) {
    const response = await send(attempt);
    if (response.status === 429) {
      expect(passed.length, 'requests that passed before the first 429').toBeGreaterThanOrEqual(TIGHT_LIMIT);
      return { passed, refused: response };
    }
    passed.push(response);
  }
  throw new Error(`no 429 in ${2 * TIGHT_LIMIT + 1} requests: statuses ${passed.map((response) => response.status).join(', ')}`);
}

/** The test env with `binding` limited to 3 a minute. */
function tight(binding: string): Env {
  return { ...env, [binding]: TIGHT } as unknown as Env;
}

/** A client address nobody else in the suite uses (the limiter's state lives as long as the run). */
function address(): string {
  return `198.51.100.${Math.floor(Math.random() * 250) + 1}-${crypto.randomUUID().slice(0, 8)}`;
}

function expectJson429(response: Response): Promise<void> {
  expect(response.status).toBe(429);
  expect(response.headers.get('Retry-After')).toBe('60');
  return response.json().then((body) => expect(body).toMatchObject({ error: 'temporarily_unavailable' }));
}

const registration = (ip: string) => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': ip },
  body: JSON.stringify({ client_name: 'Flood', redirect_uris: ['https://flood.example/cb'] }),
});

describe('rate limits', () => {
  it('limits dynamic registration per address, and counts nothing it refused', async () => {
    const variant = tight('REGISTER_RATE_LIMIT');
    const ip = address();
    const { passed, refused } = await untilRefused(() => workerWithEnv(variant, '/register', registration(ip)));
    for (const response of passed) expect(response.status).toBe(201);
    await expectJson429(refused);
    expect((await workerWithEnv(variant, '/register', registration(address()))).status).toBe(201);
  });

  it('counts an IPv6 address by its /64', async () => {
    const variant = tight('REGISTER_RATE_LIMIT');
    const prefix = `2001:db8:${Math.floor(Math.random() * 0xffff).toString(16)}:1`;
    // A different address of the /64 each time, the same for the limiter.
    const { passed, refused } = await untilRefused((attempt) => workerWithEnv(variant, '/register', registration(`${prefix}:${attempt.toString(16)}:0:0:${attempt + 1}`)));
    for (const response of passed) expect(response.status).toBe(201);
    await expectJson429(refused);
  });

  it('limits /authorize per address with a 429 page', async () => {
    const variant = tight('AUTHORIZE_RATE_LIMIT');
    const client = await registerClient();
    const { challenge } = await pkcePair();
    const ip = address();
    const get = () => workerWithEnv(variant, authorizeUrl(client, challenge), { headers: { 'CF-Connecting-IP': ip } });
    const { passed, refused } = await untilRefused(get);
    for (const response of passed) expect(response.status).toBe(200);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('Retry-After')).toBe('60');
    expect(refused.headers.get('Content-Type')).toMatch(/^text\/html/);
    expect(refused.headers.get('Location')).toBeNull();
    expect(await refused.text()).toContain('Too many sign-in requests came from your network. Wait 60 seconds, then start again from the app.');
  });

  it('limits /token per address', async () => {
    const variant = tight('TOKEN_ADDRESS_RATE_LIMIT');
    const ip = address();
    const refresh = () => workerWithEnv(variant, '/token', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'CF-Connecting-IP': ip }, body: 'grant_type=refresh_token&refresh_token=a:b:c&client_id=nobody' });
    const { passed, refused } = await untilRefused(refresh);
    for (const response of passed) expect(response.status).toBe(401);
    await expectJson429(refused);
  });

  it('limits /token per client, from any address', async () => {
    const variant = tight('TOKEN_CLIENT_RATE_LIMIT');
    const { client, refresh_token } = await tokensFor(ALICE);
    const other = await registerClient();
    const refresh = (who = client, token = refresh_token) =>
      workerWithEnv(variant, '/token', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basicAuth(who), 'CF-Connecting-IP': address() }, body: `grant_type=refresh_token&refresh_token=${encodeURIComponent(token)}` });
    // Each refresh rotates the token: the next request sends the one just issued.
    let current = refresh_token;
    const { refused } = await untilRefused(async () => {
      const response = await refresh(client, current);
      if (response.status === 429) return response;
      expect(response.status).toBe(200);
      current = (await response.json<{ refresh_token: string }>()).refresh_token;
      return response;
    });
    await expectJson429(refused);
    // Another client is counted on its own.
    expect((await refresh(other, 'a:b:c')).status).toBe(400);
  });

  it('limits refused bearer tokens per address, and never a valid one', async () => {
    const variant = tight('BEARER_FAILURE_RATE_LIMIT');
    const ip = address();
    const { access_token } = await tokensFor(ALICE);
    const call = (token: string) =>
      workerWithEnv(variant, '/mcp', {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'CF-Connecting-IP': ip, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
      });
    const { passed, refused } = await untilRefused((attempt) => call(`junk:${attempt}:secret`));
    for (const response of passed) expect(response.status).toBe(401);
    await expectJson429(refused);
    // Alice's valid token from the same address is served: only refusals are limited.
    expect((await call(access_token)).status).toBe(200);
  });
});

describe('registration from web pages', () => {
  it('gives a foreign origin no CORS permission and refuses its registration with 403', async () => {
    const preflight = await workerWithEnv(env, '/register', { method: 'OPTIONS', headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' } });
    expect(preflight.headers.get('Access-Control-Allow-Origin')).toBeNull();
    const post = await workerWithEnv(env, '/register', { method: 'POST', headers: { Origin: 'https://evil.example', 'Content-Type': 'text/plain' }, body: JSON.stringify({ client_name: 'x', redirect_uris: ['https://evil.example/cb'] }) });
    expect(post.status).toBe(403);
    expect(await post.json()).toMatchObject({ error: 'invalid_client_metadata' });
  });

  it('lets an origin in ALLOWED_ORIGINS register, with CORS', async () => {
    const variant = { ...env, ALLOWED_ORIGINS: 'https://browser-client.example' } as unknown as Env;
    const post = await workerWithEnv(variant, '/register', { method: 'POST', headers: { Origin: 'https://browser-client.example', 'Content-Type': 'application/json' }, body: JSON.stringify({ client_name: 'x', redirect_uris: ['https://browser-client.example/cb'] }) });
    expect(post.status).toBe(201);
    expect(post.headers.get('Access-Control-Allow-Origin')).toBe('https://browser-client.example');
  });
});
