/**
 * Eventual consistency reproduced on one machine: the Worker's OAUTH_KV simulates 3 locations with
 * a 30 s propagation delay and requests are spread round-robin over them, so the MCP Manager flow
 * registers at one location, authorizes at the next, exchanges the code at another and makes its
 * first MCP call at yet another. Without the consistency layer that fails with the real errors;
 * with it, it passes every time.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { httpLogin } from '../../cli/lib/http-login.ts';
import { discover, exchangeCode, registerClient, startAuthorization, type Discovery } from '../../cli/lib/oauth-client.ts';
import { startSystem, type RunningSystem } from '../../scripts/system.ts';
import { McpWire } from '../support/mcp-wire.ts';

const CALLBACK = 'https://mcp-manager.test/oauth/callback';
// RATE_LIMITS=off: 100 flows from one loopback address are far over the registration and authorization limits.
const SIMULATION = { SIMULATE_KV_LOCATIONS: '3', SIMULATE_KV_DELAY_MS: '30000', RATE_LIMITS: 'off' };
const RUNS = 100;

const systems: RunningSystem[] = [];
afterAll(async () => {
  await Promise.all(systems.map((system) => system.stop()));
});

/** Registration, authorization (consent + IdP login over HTTP), code exchange, then initialize and whoami. */
async function connect(system: RunningSystem, discovery: Discovery): Promise<string | undefined> {
  const registered = await registerClient(discovery.server, { client_name: 'Consistency', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'client_secret_basic' });
  const start = await startAuthorization(discovery.server, registered.client, { redirectUri: CALLBACK });
  const callback = await httpLogin(start.url.href, { login: 'alice', password: 'alice', redirectUri: CALLBACK });
  const tokens = await exchangeCode(discovery.server, registered, start, callback);
  const wire = new McpWire(system.mcpUrl, tokens.access_token);
  const initialized = await wire.initialize();
  if (initialized.status !== 200) return `initialize: HTTP ${initialized.status}`;
  const whoami = await wire.callTool('whoami');
  return whoami.status === 200 && whoami.message?.result?.structuredContent?.email === 'alice@example.com' ? undefined : `whoami: HTTP ${whoami.status}`;
}

describe('OAUTH_KV across simulated locations', () => {
  it('fails the MCP Manager flow without the consistency layer, with the real error', async () => {
    const system = await startSystem({ ephemeralState: true, vars: { ...SIMULATION, CONSISTENCY_LAYER: 'off' } });
    systems.push(system);
    const discovery = await discover(system.mcpUrl);
    const failure = await connect(system, discovery).then(
      (problem) => problem ?? 'no failure',
      (error: unknown) => (error as Error).message,
    );
    // The browser reaches /authorize at a location where the fresh registration is not visible yet.
    expect(failure).toMatch(/HTTP 400\).*Invalid client/i);
  });

  it(`passes it ${RUNS} times in a row with the layer on`, async () => {
    const system = await startSystem({ ephemeralState: true, vars: SIMULATION });
    systems.push(system);
    const discovery = await discover(system.mcpUrl);
    const failures: string[] = [];
    for (let run = 0; run < RUNS; run++) {
      const problem = await connect(system, discovery).catch((error: unknown) => (error as Error).message);
      if (problem) failures.push(`run ${run + 1}: ${problem}`);
    }
    expect(failures).toEqual([]);
  }, 240_000);
});
