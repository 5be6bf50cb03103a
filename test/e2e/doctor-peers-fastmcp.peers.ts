/**
 * The doctor against FastMCP (Python, `fastmcp` as pinned in ./support/peers/python-env.ts), run by
 * `npm run test:peers`, not `npm test` (it needs a Python virtual environment). Two servers from
 * peers/, each behind a watchdog on a loopback port:
 *
 * - peers/fastmcp_in_memory.py, FastMCP's in-memory OAuth provider. Its token endpoint (the MCP
 *   Python SDK's ClientAuthenticator) looks the client up by the `client_id` form field before it
 *   reads the Authorization header, so HTTP Basic alone — RFC 6749 §2.3.1's client_secret_basic,
 *   which it advertises and registers clients with — is refused with 401 invalid_client "Missing
 *   client_id" every time. The doctor must name that (not a registration race to retry), and find
 *   that a client registered for client_secret_post works.
 * - peers/fastmcp_oidc_proxy.py, FastMCP's OIDC proxy in front of this repository's dev IdP (started
 *   here). It registers every client as public, so the confidential registration gets no secret; the
 *   public client signs in; and then every MCP request is refused with 401, because the proxy checks
 *   the IdP's access token as a JWT while the IdP issues opaque ones. The doctor must go on past the
 *   registration and report each of those. Run twice: as an operator of such an IdP configures it
 *   (`forward_resource=False`), and with FastMCP's default, which passes the client's RFC 8707
 *   `resource` on to the IdP, which refuses it (invalid_target) before anyone is signed in.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevIdp, type DevIdp } from '../../dev/idp/server.ts';
import { freePort } from '../../scripts/system.ts';
import { cleanUp } from './support/clean-up.ts';
import { doctorAsUser, item, nonPassing } from './support/peers/doctor.ts';
import { announcement, startPeer, type Peer } from './support/peers/processes.ts';
import { PEERS_DIR, VENV_PYTHON } from './support/peers/python-env.ts';

type Announced = Record<string, unknown>;

let home: string;

beforeAll(() => {
  // FastMCP's data folder (settings.home), should anything be written there: removed after the file.
  home = mkdtempSync(join(tmpdir(), 'mcp-doctor-peers-'));
});

afterAll(() => rmSync(home, { recursive: true, force: true }));

function startPython(name: string, script: string, args: string[] = []): Promise<Peer<Announced>> {
  return startPeer(name, VENV_PYTHON, [join(PEERS_DIR, script), ...args], {
    cwd: PEERS_DIR,
    // No .pyc files in peers/; log lines not wrapped at 80 columns (rich), so they can be read back.
    env: { PYTHONDONTWRITEBYTECODE: '1', COLUMNS: '400', FASTMCP_HOME: home, FASTMCP_CHECK_FOR_UPDATES: 'off' },
    ready: announcement,
  });
}

function urlOf(peer: Peer<Announced>): string {
  const { url } = peer.ready;
  if (typeof url !== 'string') throw new Error(`${peer.name} announced no url`);
  return url;
}

describe('FastMCP with its in-memory OAuth provider', () => {
  let peer: Peer<Announced> | undefined;

  beforeAll(async () => {
    peer = await startPython('FastMCP (in-memory OAuth)', 'fastmcp_in_memory.py');
  });

  afterAll(() => cleanUp(() => peer?.stop()));

  it('names the real problem: HTTP Basic is refused unless client_id is also in the body; client_secret_post works', async () => {
    const { report, signInError } = await doctorAsUser(urlOf(peer as Peer<Announced>));
    expect(signInError).toBeUndefined();
    expect(item(report, 'server.token-auth-methods')).toMatchObject({ status: 'pass', detail: 'client_secret_post, client_secret_basic' });
    expect(item(report, 'registration.confidential')).toMatchObject({ status: 'pass', detail: expect.stringMatching(/^client [\w-]+, client_secret_basic, /) });

    expect(item(report, 'authorization.client-auth')).toMatchObject({
      status: 'fail',
      detail:
        'registered client_secret_basic, which the server advertises, but HTTP Basic alone got HTTP 401 invalid_client: Missing client_id every time, while the same client authenticated with client_secret_basic with client_id also in the body; a client registered for client_secret_post works',
      fix: expect.stringMatching(/^Take the client's identity from the Authorization header under client_secret_basic \(RFC 6749 §2\.3\.1\).*client_secret_post works\.$/),
    });
    // Not mistaken for a registration race: no retries, and the code exchanged the way that works.
    expect(item(report, 'authorization.token')).toMatchObject({
      status: 'pass',
      detail: 'tokens issued to the client authenticated by client_secret_basic with client_id also in the body (as registered, it was refused: authorization.client-auth)',
    });
    expect(item(report, 'authorization.token').detail).not.toContain('retried');

    // Everything after works: MCP, refresh.
    expect(item(report, 'mcp.initialize')).toMatchObject({ status: 'pass', detail: expect.stringMatching(/^fastmcp-in-memory-peer /) });
    expect(item(report, 'mcp.tools-list')).toMatchObject({ status: 'pass', detail: '1 tool: echo' });
    expect(item(report, 'lifecycle.refresh').status).toBe('pass');

    expect(report.facts).toMatchObject({
      oauth: true,
      confidentialRegistration: 'ok',
      authorizedAs: 'confidential',
      refusedClientAuthMethod: 'client_secret_basic',
      basicNeedsClientIdInBody: true,
      workingClientAuthMethod: 'client_secret_post',
      refreshTokenIssued: true,
      mcp: 'ok',
      refreshWorks: true,
      timeouts: [],
    });
    expect(report.facts.registrationRace).toBeUndefined();
    // The verdict names it too: MCP Manager connects, as long as it uses client_secret_post.
    expect(report.verdict).toMatchObject({
      level: 'connects',
      summary: 'registers itself (DCR, confidential client) using client_secret_post (client_secret_basic is refused unless client_id is also in the body), signs in, calls tools and refreshes',
    });
    expect(report.verdicts.every((verdict) => verdict.level === 'connects')).toBe(true);
    expect(nonPassing(report).filter((line) => line.startsWith('fail'))).toEqual([`fail authorization.client-auth: ${item(report, 'authorization.client-auth').detail}`]);
  });
});

describe("FastMCP's OIDC proxy in front of the dev IdP", () => {
  let idp: DevIdp | undefined;
  let proxy: Peer<Announced> | undefined;
  let forwarding: Peer<Announced> | undefined;

  beforeAll(async () => {
    const [proxyPort, forwardingPort] = [await freePort(), await freePort()];
    // FastMCP's callback at the IdP is fixed before FastMCP starts: the IdP learns both now.
    idp = await startDevIdp({ port: 0, host: '127.0.0.1', redirectUris: [proxyPort, forwardingPort].map((port) => `http://127.0.0.1:${port}/auth/callback`) });
    const upstream = ['--config-url', `${idp.issuer}/.well-known/openid-configuration`, '--client-id', idp.clientId, '--client-secret', idp.clientSecret];
    [proxy, forwarding] = await Promise.all([
      startPython('FastMCP OIDC proxy', 'fastmcp_oidc_proxy.py', ['--port', String(proxyPort), '--forward-resource', 'off', '--log-level', 'debug', ...upstream]),
      startPython('FastMCP OIDC proxy (forwarding resource)', 'fastmcp_oidc_proxy.py', ['--port', String(forwardingPort), ...upstream]),
    ]);
  });

  afterAll(() => cleanUp(() => proxy?.stop(), () => forwarding?.stop(), () => idp?.close()));

  it('goes on past the refused confidential registration with the public client, and finds every MCP call refused', async () => {
    const { report, signInError, returnedTo } = await doctorAsUser(urlOf(proxy as Peer<Announced>));
    expect(signInError).toBeUndefined();
    expect(returnedTo?.searchParams.has('code')).toBe(true);

    // MCP Manager's way in is closed: no client secrets at all.
    expect(item(report, 'server.token-auth-methods')).toMatchObject({ status: 'fail', detail: 'only none, private_key_jwt' });
    expect(item(report, 'registration.confidential')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/^registered [\w-]+ but as a public client \(no client_secret, token_endpoint_auth_method none\), though client_secret_basic was asked for$/),
    });
    // The run goes on with the public client, through FastMCP's consent page and the IdP's sign-in.
    expect(item(report, 'registration.public').status).toBe('pass');
    expect(item(report, 'authorization.redirect')).toMatchObject({ status: 'pass', detail: expect.stringMatching(/iss matches \(RFC 9207\) \(as a public client: no confidential client registered\)$/) });
    expect(item(report, 'authorization.token').status).toBe('pass');
    expect(item(report, 'tokens.refresh-token').status).toBe('pass');

    // And then no client can use the server: the MCP endpoint refuses the token FastMCP just issued.
    expect(item(report, 'mcp.initialize')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/^HTTP 401 \(retried \d× after HTTP 401\) with the access token this server's own token endpoint issued moments before: .*invalid_token/),
      fix: expect.stringContaining('opaque access tokens need introspection (RFC 7662) or the userinfo endpoint, not a JWT check'),
    });
    expect(item(report, 'mcp.revisions')).toMatchObject({ status: 'skip', detail: 'the access token is refused (mcp.initialize), so nothing further can be probed' });
    // Refresh works at the token endpoint; what it yields would be judged by the same refusing endpoint.
    expect(item(report, 'lifecycle.refresh').status).toBe('pass');
    expect(item(report, 'lifecycle.refreshed-token').status).toBe('skip');

    expect(report.facts).toMatchObject({
      oauth: true,
      confidentialRegistration: 'no-secret',
      publicRegistration: 'ok',
      authorizedAs: 'public',
      workingClientAuthMethod: 'none',
      refreshTokenIssued: true,
      mcp: 'unauthorized',
      refreshWorks: true,
    });

    // The cause, seen from the inside: the IdP's access tokens are opaque, and FastMCP fails them as JWTs.
    const issued = (idp as DevIdp).issuedTokens();
    expect(issued.length).toBeGreaterThan(0);
    for (const token of issued) expect(token.split('.'), 'an IdP token that is a JWT').not.toHaveLength(3);
    // No client can use it, whichever way it registers: every verdict is blocked at the first MCP call.
    for (const verdict of report.verdicts) expect(verdict, verdict.client).toMatchObject({ level: 'cannot-connect', item: 'mcp.initialize' });
    expect((proxy as Peer<Announced>).output()).toContain('Token validation failed: Failed to extract key ID from token: Invalid JWT');
  });

  it("with FastMCP's default (resource forwarded to the IdP): the sign-in itself is refused, invalid_target", async () => {
    const { report, returnedTo } = await doctorAsUser(urlOf(forwarding as Peer<Announced>));
    expect(returnedTo?.searchParams.get('error')).toBe('invalid_target');
    expect(item(report, 'registration.public').status).toBe('pass');
    expect(item(report, 'authorization.redirect')).toMatchObject({
      status: 'fail',
      detail: 'the server sent error=invalid_target (resource indicator is missing, or unknown) instead of a code',
      fix: expect.stringContaining('a server that passes it on to an upstream IdP (an OAuth proxy) must stop forwarding it, or make the IdP accept it'),
    });
    expect(item(report, 'mcp.initialize')).toMatchObject({ status: 'skip', detail: 'no authorization code (authorization.redirect)' });
    expect(report.facts).toMatchObject({ confidentialRegistration: 'no-secret', publicRegistration: 'ok', authorizedAs: 'public', stoppedBecause: 'no authorization code (authorization.redirect)', stoppedAt: 'authorization.redirect' });
  });
});
