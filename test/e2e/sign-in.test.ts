/**
 * The browser side of sign-in against the running system: Deny on the consent page, unticking
 * scopes, and the sign-in allowlist, each checked by what the client receives at its redirect URI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserLogin, closeBrowser } from '../../cli/lib/browser-login.ts';
import { discover, exchangeCode, registerClient, startAuthorization, type Discovery } from '../../cli/lib/oauth-client.ts';
import { startSystem, type RunningSystem } from '../../scripts/system.ts';
import { cleanUp } from './support/clean-up.ts';

const CALLBACK = 'https://gateway.test/oauth/callback';

let system: RunningSystem;
let discovery: Discovery;

beforeAll(async () => {
  // Only alice's address may sign in: the allowlist is configuration, not code.
  system = await startSystem({ ephemeralState: true, vars: { ALLOWED_EMAILS: 'alice@example.com' } });
  discovery = await discover(system.mcpUrl);
});

afterAll(() => cleanUp(closeBrowser, () => system?.stop()));

async function authorize(login: string, options: { decision?: 'approve' | 'deny'; untick?: string[] } = {}) {
  const registered = await registerClient(discovery.server, { client_name: 'Sign-in test', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'client_secret_post' });
  const start = await startAuthorization(discovery.server, registered.client, { redirectUri: CALLBACK });
  const callback = await browserLogin(start.url.href, { login, password: login, redirectUri: CALLBACK, ...options });
  return { registered, start, callback };
}

describe('sign-in in a real browser', () => {
  it('sends access_denied, the client state and iss back to the client when the user clicks Deny', async () => {
    const { start, callback } = await authorize('alice', { decision: 'deny' });
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('state')).toBe(start.state);
    expect(callback.searchParams.get('iss')).toBe(system.origin);
    expect(callback.searchParams.has('code')).toBe(false);
  });

  it('grants only the scopes left ticked', async () => {
    const { registered, start, callback } = await authorize('alice', { untick: ['notes:write'] });
    const tokens = await exchangeCode(discovery.server, registered, start, callback);
    expect(tokens.scope).toBe('profile notes:read');
  });

  it('refuses a user the allowlist does not name, with access_denied to the client', async () => {
    const { start, callback } = await authorize('bob');
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('error_description')).toBe('This account is not allowed to use this server.');
    expect(callback.searchParams.get('state')).toBe(start.state);
  });

  it('admits the user the allowlist names', async () => {
    const { registered, start, callback } = await authorize('alice');
    const tokens = await exchangeCode(discovery.server, registered, start, callback);
    expect(tokens.access_token).toEqual(expect.any(String));
  });
});

// Last in this file: it spends the registration budget of the address every request here comes from.
describe('rate limits under wrangler dev, as wrangler.jsonc configures them', () => {
  it('lets one address register 10 clients a minute, then answers 429 with Retry-After', async () => {
    const register = () =>
      fetch(`${system.origin}/register`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ client_name: 'Flood', redirect_uris: [CALLBACK] }) });
    // The tests above registered some already; find the edge, at most 10 in all.
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await register()).status);
    expect(statuses.filter((status) => status === 201).length).toBeLessThanOrEqual(10);
    const refused = await register();
    expect(refused.status).toBe(429);
    expect(refused.headers.get('Retry-After')).toBe('60');
    expect(await refused.json()).toMatchObject({ error: 'temporarily_unavailable' });
  });
});
