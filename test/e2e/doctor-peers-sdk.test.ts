/**
 * The doctor against a server we did not write: the MCP TypeScript SDK's example server
 * (`dist/esm/examples/server/simpleStreamableHttp.js` in @modelcontextprotocol/sdk, as installed).
 *
 * - With `--oauth` it runs the SDK's demo authorization server beside it (MCP_AUTH_PORT): clients
 *   kept in memory, client_secret_post only, every authorization approved at once, access tokens for
 *   an hour, no refresh token ever, although its metadata lists refresh_token. MCP Manager connects,
 *   and drops the connection when the access token expires: the doctor must say exactly that.
 * - Without it, the same server needs no credentials at all: MCP Manager connects without OAuth.
 *
 * Both run on free loopback ports (./support/peers/loopback-only.mjs keeps their listens on
 * 127.0.0.1) under a watchdog, and are stopped after the file.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ITEM_IDS, ITEMS } from '../../cli/doctor/checklist.ts';
import { freePort } from '../../scripts/system.ts';
import { cleanUp } from './support/clean-up.ts';
import { doctorAsUser, item, nonPassing } from './support/peers/doctor.ts';
import { answers, LOOPBACK_ONLY_PRELOAD, startPeer, type Peer } from './support/peers/processes.ts';

/** The example as the installed SDK ships it; resolved through the package, not a guessed path. */
const SDK_EXAMPLE = join(dirname(fileURLToPath(import.meta.resolve('@modelcontextprotocol/sdk/server/mcp.js'))), '../examples/server/simpleStreamableHttp.js');

async function startSdkExample(flags: string[]): Promise<{ peer: Peer<true>; mcpUrl: string }> {
  const mcpPort = await freePort();
  const authPort = await freePort();
  const mcpUrl = `http://localhost:${mcpPort}/mcp`;
  const peer = await startPeer('the MCP SDK example server', process.execPath, ['--import', LOOPBACK_ONLY_PRELOAD, SDK_EXAMPLE, ...flags], {
    env: { MCP_PORT: String(mcpPort), MCP_AUTH_PORT: String(authPort) },
    // Listening: the MCP port, and with --oauth the demo authorization server's too.
    ready: async () => ((await answers(`http://localhost:${mcpPort}/.well-known/oauth-protected-resource/mcp`)) && (!flags.includes('--oauth') || (await answers(`http://localhost:${authPort}/.well-known/oauth-authorization-server`))) ? true : undefined),
  });
  return { peer, mcpUrl };
}

describe('the doctor against the MCP SDK example server with --oauth', () => {
  let peer: Peer<true> | undefined;
  let mcpUrl: string;

  beforeAll(async () => {
    ({ peer, mcpUrl } = await startSdkExample(['--oauth']));
  });

  afterAll(() => cleanUp(() => peer?.stop()));

  it('connects, but cannot stay connected: no refresh token although advertised, the access token good for 3600 s', async () => {
    const { report, signInError } = await doctorAsUser(mcpUrl);
    expect(signInError).toBeUndefined();

    // MCP Manager connects: registration, the code flow and MCP all work.
    expect(item(report, 'registration.confidential')).toMatchObject({ status: 'pass', detail: expect.stringMatching(/^client [\w-]+, client_secret_post, redirect https:\/\/doctor\.mcp-manager\.invalid\/oauth\/callback/) });
    expect(item(report, 'authorization.client-auth')).toMatchObject({ status: 'pass', detail: 'client_secret_post, as registered' });
    expect(item(report, 'mcp.initialize')).toMatchObject({ status: 'pass', detail: 'simple-streamable-http-server 1.0.0, protocol 2025-11-25' });
    expect(item(report, 'mcp.tools-list')).toMatchObject({ status: 'pass', detail: expect.stringMatching(/^\d+ tools: greet, /) });

    // But only until the access token expires.
    expect(item(report, 'tokens.expires-in')).toMatchObject({ status: 'pass', detail: '3600 s' });
    expect(item(report, 'tokens.refresh-token')).toMatchObject({
      status: 'fail',
      detail: 'no refresh_token in the token response: a client connects, but cannot stay connected: its user must sign in again when the access token expires, after 3600 s (expires_in)',
    });
    // The metadata and the registration promise refresh; the token response does not deliver it.
    expect(item(report, 'server.grant-types')).toMatchObject({ status: 'pass', detail: 'authorization_code, refresh_token' });
    expect(item(report, 'tokens.refresh-advertised')).toMatchObject({
      status: 'warn',
      detail: 'refresh_token is advertised (in grant_types_supported and in the grant_types the client was registered with) but was not issued',
      fix: expect.stringContaining('stop listing refresh_token in grant_types_supported (RFC 8414 §2)'),
    });
    expect(item(report, 'lifecycle.refresh')).toMatchObject({ status: 'skip', detail: 'no refresh token was issued (tokens.refresh-token)' });

    // An unknown client gets 400 invalid_client after client_secret_post: allowed (RFC 6749 §5.2
    // requires 401 only after HTTP Basic), so no warning.
    expect(item(report, 'server.token-auth-methods')).toMatchObject({ status: 'pass', detail: 'client_secret_post, none' });
    expect(item(report, 'registration.unknown-client')).toMatchObject({
      status: 'pass',
      detail: '400 invalid_client (client_secret_post: RFC 6749 §5.2 requires 401 only when the client authenticated with the Authorization header)',
    });

    expect(report.facts).toEqual({
      timeouts: [],
      oauth: true,
      refreshAdvertised: true,
      refreshAdvertisedIn: ['grant_types_supported', 'registration'],
      confidentialRegistration: 'ok',
      publicRegistration: 'ok',
      authorizedAs: 'confidential',
      workingClientAuthMethod: 'client_secret_post',
      accessTokenLifetimeSeconds: 3600,
      refreshTokenIssued: false,
      mcp: 'ok',
    });
    // The only failure is the one that ends the connection after an hour.
    expect(nonPassing(report).filter((line) => line.startsWith('fail'))).toEqual([`fail tokens.refresh-token: ${item(report, 'tokens.refresh-token').detail}`]);
    // The verdict: not "cannot connect", but "connects, must re-authorize", after how long, and why.
    expect(report.verdict).toEqual({
      client: 'mcp-manager',
      name: 'MCP Manager',
      level: 'reauthorize',
      summary: 'registers itself (DCR, confidential client) and connects, but no refresh token is issued: users sign in again every 1 h (expires_in)',
      item: 'tokens.refresh-token',
      unchecked: [],
    });
    // Claude (either client type, refresh used if issued) fares the same.
    expect(Object.fromEntries(report.verdicts.map((verdict) => [verdict.client, verdict.level]))).toMatchObject({ 'mcp-manager': 'reauthorize', claude: 'reauthorize' });
  });
});

describe('the doctor against the MCP SDK example server without OAuth', () => {
  let peer: Peer<true> | undefined;
  let mcpUrl: string;

  beforeAll(async () => {
    ({ peer, mcpUrl } = await startSdkExample([]));
  });

  afterAll(() => cleanUp(() => peer?.stop()));

  it('says MCP Manager connects without OAuth, and checks MCP without credentials', async () => {
    const { report, said } = await doctorAsUser(mcpUrl);
    expect(said.join('\n')).not.toContain('Sign in to continue');
    expect(item(report, 'resource.challenge')).toMatchObject({
      status: 'warn',
      detail:
        'HTTP 200 with an initialize result without a token, and no protected resource metadata: this server needs no OAuth, so MCP Manager connects without credentials (or with a static header), not through OAuth',
    });
    expect(item(report, 'mcp.initialize')).toMatchObject({ status: 'pass', detail: 'simple-streamable-http-server 1.0.0, protocol 2025-11-25, without credentials' });
    expect(item(report, 'mcp.tools-list').status).toBe('pass');
    expect(item(report, 'mcp.unknown-session')).toMatchObject({ status: 'pass', detail: 'sessionful: 404' });
    // Every OAuth item is skipped, saying why; none fails.
    const oauthItems = ITEM_IDS.filter((id) => ITEMS[id].step !== 'mcp' && id !== 'resource.challenge' && id !== 'resource.challenge-metadata');
    for (const id of oauthItems) expect(item(report, id), id).toMatchObject({ status: 'skip', detail: 'no OAuth: the MCP URL answers without credentials (resource.challenge)' });
    expect(report.counts.fail).toBe(0);
    expect(report.facts).toEqual({ timeouts: [], oauth: false, withoutOAuth: 'none', mcp: 'ok' });
    // MCP Manager connects in its static-header mode (a header the server ignores, or none); clients
    // that connect to authless servers connect as they are.
    expect(report.verdict).toMatchObject({ level: 'other-mode', summary: 'the server asks for no credentials, and this client connects to it through its static-header mode (any header, or none)' });
    expect(report.verdicts.find((verdict) => verdict.client === 'claude')).toMatchObject({ level: 'connects', summary: 'connects without credentials: the server asks for none' });
  });
});
