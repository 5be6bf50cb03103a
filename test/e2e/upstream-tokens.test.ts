/**
 * Tools that act as the user upstream, against the running system: wrangler dev with
 * UPSTREAM_TOKENS=on and the dev IdP issuing access tokens that live a few seconds and refresh tokens
 * that rotate. An app is connected as a person connects one (consent and IdP login in Chromium), then
 * calls `upstream_userinfo` across expiries, concurrently, and after the user revoked the app at the
 * IdP. The IdP's tokens must appear nowhere the Worker writes: its answers and its log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeBrowser } from '../../cli/lib/browser-login.ts';
import { discover, type Discovery } from '../../cli/lib/oauth-client.ts';
import { startSystem, type RunningSystem } from '../../scripts/system.ts';
import { McpWire } from '../support/mcp-wire.ts';
import { cleanUp } from './support/clean-up.ts';
import { connectApp } from './support/connected-app.ts';

/** Long enough for a sign-in and a first call, short enough to wait out twice in a test. */
const IDP_ACCESS_TOKEN_TTL_SECONDS = 3;

let system: RunningSystem;
let discovery: Discovery;

beforeAll(async () => {
  system = await startSystem({
    ephemeralState: true,
    output: 'buffer',
    idpAccessTokenTtlSeconds: IDP_ACCESS_TOKEN_TTL_SECONDS,
    vars: { RATE_LIMITS: 'off', UPSTREAM_TOKENS: 'on', OIDC_SCOPES: 'openid email profile offline_access' },
  });
  discovery = await discover(system.mcpUrl);
});

afterAll(() => cleanUp(closeBrowser, () => system?.stop()));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface ToolOutcome {
  status: number;
  isError: boolean;
  text: string;
  claims: Record<string, unknown> | undefined;
}

async function userinfo(wire: McpWire): Promise<ToolOutcome> {
  const { status, message } = await wire.callTool('upstream_userinfo');
  const result = message?.result;
  return { status, isError: result?.isError === true, text: result?.content?.[0]?.text ?? '', claims: result?.structuredContent?.claims as Record<string, unknown> | undefined };
}

function refreshesOf(sub: string): number {
  return system.idp?.stats().refreshBySub[sub] ?? 0;
}

describe('upstream tokens, end to end', () => {
  it('refreshes an expired upstream token once for concurrent calls, and a revocation at the IdP sends the client to authorize again', async () => {
    const idp = system.idp;
    if (!idp) throw new Error('the system runs without its dev IdP');
    expect(discovery.resourceMetadata.scopes_supported).toContain('upstream:userinfo');
    const token = await connectApp(discovery, 'Upstream reader', 'bob');
    const wire = new McpWire(system.mcpUrl, token, (request) => fetch(request), '2026-07-28');

    const first = await userinfo(wire);
    expect(first).toMatchObject({ status: 200, isError: false, claims: { sub: 'bob', email: 'bob@example.com' } });

    // After the IdP's access token expired: one refresh, shared by two calls made together.
    await sleep(IDP_ACCESS_TOKEN_TTL_SECONDS * 1000 + 300);
    const before = refreshesOf('bob');
    const [a, b] = await Promise.all([userinfo(wire), userinfo(wire)]);
    expect(a).toMatchObject({ status: 200, isError: false, claims: { sub: 'bob' } });
    expect(b).toMatchObject({ status: 200, isError: false, claims: { sub: 'bob' } });
    expect(refreshesOf('bob')).toBe(before + 1);

    // Bob removes the app at the IdP: the tool says what to do, and the client's token stops working.
    idp.revoke('bob');
    const revoked = await userinfo(wire);
    expect(revoked.status).toBe(200);
    expect(revoked.isError).toBe(true);
    expect(revoked.text).toContain('reconnect this app to sign in with your identity provider again');
    const next = await wire.request('tools/list');
    expect(next.status).toBe(401);
    expect(next.headers.get('www-authenticate')).toContain('error="invalid_token"');

    // Reconnecting (a new authorization) works again.
    const again = new McpWire(system.mcpUrl, await connectApp(discovery, 'Upstream reader', 'bob'), (request) => fetch(request), '2026-07-28');
    expect(await userinfo(again)).toMatchObject({ status: 200, isError: false, claims: { sub: 'bob' } });

    // No token the IdP issued (access or refresh, three sign-ins and a refresh's worth) is in the Worker's log.
    const issued = idp.issuedTokens();
    expect(issued.length).toBeGreaterThanOrEqual(6);
    const logs = system.logs();
    expect(logs).toContain('upstream_access_failed');
    for (const value of issued) expect(logs.includes(value), 'an upstream token in the Worker log').toBe(false);
  });
});
