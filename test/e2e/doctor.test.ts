/**
 * The doctor against the running system: the real server must pass every required item, and
 * broken configurations — made from the same server by a fault-injecting proxy — must fail the
 * exact item, with the exact fix.
 *
 * One system for the file, always reached through the proxy (pass-through unless a test sets
 * faults), with PUBLIC_URL set to the proxy's origin: a Worker answering on two origins binds its
 * sign-in helpers to whichever origin it saw first (see the fault proxy's notes). It runs with its
 * own dev IdP, which accepts the Worker's callback on that origin. It serves /mcp statelessly (the
 * default); the last block starts a second system with MCP_TRANSPORT=mcp-agent, for sessions.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ITEM_IDS, type DoctorReport, type DoctorRun, type ItemId, type ItemResult } from '../../cli/doctor/checklist.ts';
import { runDoctor, type DoctorOptions } from '../../cli/doctor/run.ts';
import { closeBrowser, launchBrowser } from '../../cli/lib/browser-login.ts';
import { startDevIdp, type DevIdp } from '../../dev/idp/server.ts';
import { freePort, ROOT, startSystem, type RunningSystem } from '../../scripts/system.ts';
import { cleanUp } from './support/clean-up.ts';
import { startFaultProxy, type Fault, type FaultProxy, type ProxiedRequest } from './support/fault-proxy.ts';

const ALICE = { username: 'alice', password: 'alice' };

let system: RunningSystem;
let idp: DevIdp;
let proxy: FaultProxy;

beforeAll(async () => {
  const port = await freePort();
  proxy = await startFaultProxy(`http://localhost:${port}`);
  idp = await startDevIdp({ port: 0, redirectUris: [`${proxy.origin}/callback`] });
  system = await startSystem({
    port,
    ephemeralState: true,
    devIdp: false,
    // The doctor registers two clients a run and runs often here: the registration limit (10 a minute
    // an address, all loopback here) would stop it; RATE_LIMITS=off is accepted on loopback only.
    vars: { PUBLIC_URL: proxy.origin, UPSTREAM: 'oidc', OIDC_ISSUER: idp.issuer, OIDC_CLIENT_ID: idp.clientId, OIDC_CLIENT_SECRET: idp.clientSecret, RATE_LIMITS: 'off' },
  });
});

afterAll(() => cleanUp(closeBrowser, () => system?.stop(), () => idp?.close(), () => proxy?.close()));

/** A run whose prompts and log go nowhere, unless the test collects them. */
function doctor(options: Partial<DoctorOptions> & { url: string }): Promise<DoctorRun> {
  return runDoctor({ log: () => undefined, ...options });
}

function item(report: DoctorReport, id: ItemId): ItemResult {
  const found = report.items.find((candidate) => candidate.id === id);
  if (!found) throw new Error(`no item ${id}`);
  return found;
}

function nonPassing(report: DoctorReport): string[] {
  return report.items.filter((candidate) => candidate.status !== 'pass').map((candidate) => `${candidate.status} ${candidate.id}: ${candidate.detail}`);
}

const at =
  (method: string, path: string) =>
  (request: ProxiedRequest): boolean =>
    request.method === method && request.url.pathname === path;

const AS_METADATA = '/.well-known/oauth-authorization-server';
const PRM_ROOT = '/.well-known/oauth-protected-resource';
const PRM_MCP = '/.well-known/oauth-protected-resource/mcp';

/** The 401 challenge without its resource_metadata parameter. */
const challengeWithoutMetadata: Fault = {
  name: 'challenge without resource_metadata',
  match: (request) => request.url.pathname === '/mcp',
  rewrite: {
    headers(headers) {
      if (headers['www-authenticate']) headers['www-authenticate'] = headers['www-authenticate'].replace(/,?\s*resource_metadata="[^"]*"/, '');
    },
  },
};

const notFound = (name: string, path: string): Fault => ({ name, match: at('GET', path), respond: () => ({ status: 404, body: 'Not found' }) });

async function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // As `npm run doctor` runs it: the project's Node, straight from the TypeScript sources.
  const child = spawn(process.execPath, ['cli/main.ts', 'doctor', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout, stderr };
}

describe('the doctor against this server', () => {
  it('passes every required item, signing in as alice, and logs every exchange with secrets redacted', async () => {
    proxy.setFaults([]);
    const lines: string[] = [];
    const report = await doctor({ url: proxy.mcpUrl, login: ALICE, call: { name: 'whoami', arguments: {} }, verbose: true, log: (line) => lines.push(line) });

    expect(nonPassing(report)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.items.map((entry) => entry.id)).toEqual(ITEM_IDS);
    expect(report.facts).toEqual({
      timeouts: [],
      oauth: true,
      refreshAdvertised: true,
      refreshAdvertisedIn: ['grant_types_supported', 'registration'],
      confidentialRegistration: 'ok',
      publicRegistration: 'ok',
      authorizedAs: 'confidential',
      workingClientAuthMethod: 'client_secret_basic',
      accessTokenLifetimeSeconds: expect.any(Number),
      refreshTokenIssued: true,
      mcp: 'ok',
      refreshWorks: true,
    });
    // Every client this server is meant for connects and stays connected.
    expect(report.verdict).toEqual({ client: 'mcp-manager', name: 'MCP Manager', level: 'connects', summary: 'registers itself (DCR, confidential client), signs in, calls tools and refreshes', unchecked: [] });
    expect(report.verdicts.map((verdict) => `${verdict.client}: ${verdict.level}`)).toEqual(['mcp-manager', 'claude', 'chatgpt', 'claude-code', 'vscode', 'cursor', 'mcp-inspector'].map((client) => `${client}: connects`));
    // The challenge names the path-suffixed metadata, whose resource is the MCP URL (RFC 9728 §3.3).
    expect(item(report, 'resource.challenge-metadata').detail).toMatch(new RegExp(`^resource_metadata="${proxy.origin}${PRM_MCP}"`));
    expect(item(report, 'resource.metadata').detail).toBe(`${proxy.origin}${PRM_MCP} (the URL the challenge names)`);
    expect(item(report, 'resource.resource').detail).toBe(`${proxy.mcpUrl} (exactly the MCP URL)`);
    expect(item(report, 'mcp.tool-call').detail).toContain('alice@example.com');
    // Stateless /mcp: no session id, a made-up one ignored; both eras answered, the headers enforced.
    expect(item(report, 'mcp.session').detail).toBe('stateless: initialize issued no Mcp-Session-Id, which is right for a server without per-session state');
    expect(item(report, 'mcp.unknown-session').detail).toBe('stateless: served (HTTP 200), the header ignored as 2026-07-28 advises');
    expect(item(report, 'mcp.revisions').detail).toBe('2026-07-28 (server/discover), 2025-11-25 (initialize)');
    expect(item(report, 'mcp.request-headers').detail).toBe('without Mcp-Method: 400 HeaderMismatch (-32020); Mcp-Name not the body’s: 400 HeaderMismatch (-32020)');
    expect(item(report, 'lifecycle.old-refresh-token').detail).toMatch(/^rotated; the previous refresh token is (still accepted|refused)/);

    const log = lines.join('\n');
    expect(log).toContain(`→ #1 POST ${proxy.mcpUrl}`);
    expect(log).toMatch(/mcp-method: server\/discover\n\s+mcp-protocol-version: 2026-07-28/);
    expect(log).toMatch(/authorization: Bearer \[redacted\]/);
    expect(log).toMatch(/authorization: Basic \[redacted\]/);
    expect(log).toContain('"client_secret":"[redacted]"');
    expect(log).toContain('"access_token":"[redacted]"');
    expect(log).toMatch(/code=\[redacted\]&.*code_verifier=\[redacted\]/);
    expect(log).not.toMatch(/"(access_token|refresh_token|client_secret|id_token)":"(?!\[redacted\])/);
    // This provider's tokens are `<user>:<grant>:<secret>`: none may appear in any form.
    expect(log).not.toMatch(/oidc-[0-9a-f]{32}(:|%3A)[\w-]{8,}(:|%3A)[\w-]{8,}/);
  });

  it('runs as a command: --json, exit code 0', async () => {
    proxy.setFaults([]);
    const { code, stdout, stderr } = await runCli([proxy.mcpUrl, '--login', 'alice:alice', '--json']);
    expect(stderr).toBe('');
    const report = JSON.parse(stdout) as DoctorRun;
    expect(nonPassing(report).filter((line) => !line.startsWith('skip mcp.tool-call'))).toEqual([]);
    expect(report).toMatchObject({ schema: 'mcp-doctor/1', url: proxy.mcpUrl, ok: true, verdict: { client: 'mcp-manager', level: 'connects' } });
    expect(report.verdicts).toHaveLength(7);
    expect(report.items.map((entry) => entry.id)).toEqual(ITEM_IDS);
    expect(code).toBe(0);
  });

  it('signs in interactively without --login: prints the URL and catches the browser on a loopback redirect URI', async () => {
    proxy.setFaults([]);
    const said: string[] = [];
    const running = doctor({ url: proxy.mcpUrl, openBrowser: false, log: (line) => said.push(line) });
    let url: string | undefined;
    for (let waited = 0; !url && waited < 20_000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      url = /Sign in to continue: (\S+)/.exec(said.join('\n'))?.[1];
    }
    expect(url).toMatch(new RegExp(`^${proxy.origin}/authorize\\?`));

    // The user's part, in a browser that really loads the loopback redirect URI.
    const context = await (await launchBrowser()).newContext();
    try {
      const page = await context.newPage();
      await page.goto(url as string);
      await page.click('#approve');
      await page.fill('#login', 'alice');
      await page.fill('#password', 'alice');
      await page.click('#sign-in');
      await page.waitForURL(/^http:\/\/127\.0\.0\.1:\d+\/callback\?/);
      expect(await page.innerText('body')).toContain('Sign-in finished.');
    } finally {
      await context.close();
    }

    const report = await running;
    expect(item(report, 'authorization.redirect').detail).toMatch(/^code returned to http:\/\/127\.0\.0\.1:\d+\/callback; state matches; iss matches/);
    expect(nonPassing(report)).toEqual(['skip mcp.tool-call: not asked: add --call <tool>[:<json arguments>] to call one']);
  });

  it('exits with the verdict: 4 when MCP Manager connects only if set up by hand, 1 when it cannot connect, 2 on a usage error', async () => {
    proxy.setFaults([{ name: 'registration off', match: at('GET', AS_METADATA), rewrite: { json: ({ registration_endpoint: _, ...rest }: Record<string, unknown>) => rest } }]);
    const byHand = await runCli([proxy.mcpUrl, '--skip-auth']);
    expect(byHand.stdout).toContain('FAIL  registration_endpoint present (DCR)');
    expect(byHand.stdout).toContain(
      'MCP Manager: CONNECTS ONLY IF SET UP BY HAND: the server offers no dynamic client registration; it connects once someone sets it up with a pre-registered client (client id and secret) or a static header token (server.registration-endpoint).',
    );
    expect(byHand.code).toBe(4);

    proxy.setFaults([{ name: 'no S256', match: at('GET', AS_METADATA), rewrite: { json: ({ code_challenge_methods_supported: _, ...rest }: Record<string, unknown>) => rest } }]);
    const blocked = await runCli([proxy.mcpUrl, '--skip-auth', '--client', 'all']);
    expect(blocked.stdout).toContain('MCP Manager: CANNOT CONNECT: code_challenge_methods_supported includes S256:');
    // The compatibility table: one row per client, every one blocked by the same step.
    const table = blocked.stdout.slice(blocked.stdout.indexOf('\nclient '));
    for (const name of ['MCP Manager', 'Claude (', 'ChatGPT', 'Claude Code', 'VS Code', 'Cursor', 'MCP Inspector']) expect(table).toMatch(new RegExp(`\\n${name.replace('(', '\\(')}[^\\n]*cannot connect`));
    expect(blocked.code).toBe(1);

    const usage = await runCli(['not a url']);
    expect(usage.stderr).toContain('mcp-doctor: not an http(s) URL: not a url');
    expect(usage.code).toBe(2);
    expect((await runCli([proxy.mcpUrl, '--client', 'netscape'])).stderr).toContain('--client takes one of mcp-manager, claude, chatgpt, claude-code, vscode, cursor, mcp-inspector, or all (got "netscape")');
  });
});

describe('the doctor against broken configurations', () => {
  it('registration off: no registration_endpoint', async () => {
    proxy.setFaults([
      { name: 'metadata without registration_endpoint', match: at('GET', AS_METADATA), rewrite: { json: ({ registration_endpoint: _, ...rest }: Record<string, unknown>) => rest } },
      notFound('no /register', '/register'),
    ]);
    const report = await doctor({ url: proxy.mcpUrl, login: ALICE });
    expect(item(report, 'server.registration-endpoint')).toMatchObject({
      status: 'fail',
      fix: 'Enable DCR: set clientRegistrationEndpoint (workers-oauth-provider) or your server\'s equivalent, so registration_endpoint is advertised; MCP Manager registers itself (RFC 7591).',
    });
    expect(item(report, 'registration.confidential')).toMatchObject({ status: 'skip', detail: 'no registration_endpoint (server.registration-endpoint)' });
    expect(item(report, 'mcp.initialize').status).toBe('skip');
    expect(report.counts.fail).toBe(1);
    expect(report.ok).toBe(false);
  });

  it('public clients only: the confidential registration is refused', async () => {
    proxy.setFaults([
      {
        name: 'confidential registration refused',
        match: (request) => at('POST', '/register')(request) && (JSON.parse(request.body) as { token_endpoint_auth_method?: string }).token_endpoint_auth_method !== 'none',
        respond: () => ({ status: 400, body: { error: 'invalid_client_metadata', error_description: 'Only public clients may register' } }),
      },
    ]);
    const report = await doctor({ url: proxy.mcpUrl, login: ALICE });
    expect(item(report, 'registration.confidential')).toMatchObject({
      status: 'fail',
      detail: 'refused: HTTP 400 invalid_client_metadata: Only public clients may register',
      fix: 'Accept confidential clients (client_secret_basic or client_secret_post) with HTTPS redirect URIs at the registration endpoint; MCP Manager registers as one.',
    });
    expect(item(report, 'registration.public').status).toBe('pass');
    // The run goes on with the public client, as Claude, ChatGPT or VS Code would connect.
    expect(item(report, 'authorization.redirect')).toMatchObject({ status: 'pass', detail: expect.stringMatching(/\(as a public client: no confidential client registered\)$/) });
    expect(item(report, 'authorization.client-auth')).toMatchObject({ status: 'pass', detail: 'none: a public client, PKCE only' });
    expect(item(report, 'mcp.initialize').status).toBe('pass');
    expect(report.facts).toMatchObject({ confidentialRegistration: 'refused', publicRegistration: 'ok', authorizedAs: 'public', workingClientAuthMethod: 'none', mcp: 'ok' });
    expect(proxy.hits('confidential registration refused')).toBe(1);
  });

  it('public registration refused, or answered with a secret: warnings, not failures', async () => {
    const publicOnly = (request: ProxiedRequest) => at('POST', '/register')(request) && (JSON.parse(request.body) as { token_endpoint_auth_method?: string }).token_endpoint_auth_method === 'none';
    proxy.setFaults([{ name: 'public refused', match: publicOnly, respond: () => ({ status: 400, body: { error: 'invalid_client_metadata', error_description: 'Public clients are not allowed' } }) }]);
    const refused = await doctor({ url: proxy.mcpUrl, skipAuth: true });
    expect(item(refused, 'registration.public')).toMatchObject({
      status: 'warn',
      fix: 'Accept public clients (token_endpoint_auth_method none, PKCE only) if Claude, ChatGPT, VS Code or Cursor should connect too; MCP Manager does not need it.',
    });
    expect(refused.ok).toBe(true);

    proxy.setFaults([{ name: 'secret for a public client', match: publicOnly, rewrite: { json: (body) => ({ ...(body as object), client_secret: 'a-secret-nobody-asked-for' }) } }]);
    const withSecret = await doctor({ url: proxy.mcpUrl, skipAuth: true });
    expect(item(withSecret, 'registration.public')).toMatchObject({
      status: 'warn',
      detail: 'registered, but answered with a client_secret',
      fix: 'Register a client that asks for token_endpoint_auth_method none as public: no client_secret in the answer, since some clients then switch to secret authentication and break.',
    });
  });

  it('no resource_metadata in the challenge and no path-suffixed metadata: falls back to the root and connects', async () => {
    proxy.setFaults([challengeWithoutMetadata, notFound('no path-suffixed metadata', PRM_MCP)]);
    const report = await doctor({ url: proxy.mcpUrl, login: ALICE });
    expect(item(report, 'resource.challenge-metadata')).toMatchObject({
      status: 'warn',
      fix: `Add resource_metadata="${proxy.origin}${PRM_ROOT}" to the 401's WWW-Authenticate: Bearer challenge (RFC 9728 §5.1).`,
    });
    expect(item(report, 'resource.metadata')).toMatchObject({ status: 'pass', detail: `${proxy.origin}${PRM_ROOT} (the root well-known URL, as a fallback)` });
    expect(nonPassing(report)).toEqual([
      'warn resource.challenge-metadata: no resource_metadata in the challenge: clients must guess the well-known URLs',
      'skip mcp.tool-call: not asked: add --call <tool>[:<json arguments>] to call one',
    ]);
    expect(proxy.hits('no path-suffixed metadata')).toBe(1);
  });

  it('no resource_metadata in the challenge: the path-suffixed metadata comes first, and the fix names it', async () => {
    proxy.setFaults([challengeWithoutMetadata]);
    const report = await doctor({ url: proxy.mcpUrl, skipAuth: true });
    expect(item(report, 'resource.challenge-metadata')).toMatchObject({
      status: 'warn',
      fix: `Add resource_metadata="${proxy.origin}${PRM_MCP}" to the 401's WWW-Authenticate: Bearer challenge (RFC 9728 §5.1).`,
    });
    expect(item(report, 'resource.metadata')).toMatchObject({ status: 'pass', detail: `${proxy.origin}${PRM_MCP} (the path-suffixed well-known URL, as a fallback)` });
    expect(item(report, 'resource.resource')).toMatchObject({ status: 'pass', detail: `${proxy.mcpUrl} (exactly the MCP URL)` });
  });

  it('a challenge naming a metadata URL that does not serve it: a warning, then the fallback', async () => {
    proxy.setFaults([notFound('challenge URL broken', PRM_MCP)]);
    const report = await doctor({ url: proxy.mcpUrl, skipAuth: true });
    expect(item(report, 'resource.metadata')).toMatchObject({
      status: 'warn',
      detail: `found at ${proxy.origin}${PRM_ROOT} (the root well-known URL), but ${proxy.origin}${PRM_MCP}: HTTP 404 (Not found)`,
      fix: `Serve the metadata at the URL the challenge names (${proxy.origin}${PRM_MCP}), or name the URL that serves it.`,
    });
    // The root document names the origin, as RFC 9728 §3.3 wants of it; the origin covers /mcp.
    expect(item(report, 'resource.resource')).toMatchObject({ status: 'pass', detail: `${proxy.origin} (the origin, which covers /mcp)` });
  });

  it('path-suffixed metadata naming the origin: covers the MCP URL, but a warning (RFC 9728 §3.3)', async () => {
    proxy.setFaults([{ name: 'origin at the path', match: at('GET', PRM_MCP), rewrite: { json: (body) => ({ ...(body as object), resource: proxy.origin }) } }]);
    const report = await doctor({ url: proxy.mcpUrl, skipAuth: true });
    expect(item(report, 'resource.resource')).toMatchObject({
      status: 'warn',
      detail: `${proxy.origin} (the origin, which covers /mcp), but the metadata at ${proxy.origin}${PRM_MCP} must name ${proxy.mcpUrl} (RFC 9728 §3.3)`,
      fix: `Serve metadata whose resource is ${proxy.mcpUrl} at ${proxy.origin}${PRM_MCP}: clients that check RFC 9728 §3.3 refuse it as it is.`,
    });
    expect(item(report, 'server.metadata').status).toBe('pass');
    expect(report.ok).toBe(true);
    expect(proxy.hits('origin at the path')).toBe(1);
  });

  it('no protected resource metadata anywhere: fails and stops', async () => {
    proxy.setFaults([challengeWithoutMetadata, notFound('no path-suffixed metadata', PRM_MCP), notFound('no root metadata', PRM_ROOT)]);
    const report = await doctor({ url: proxy.mcpUrl, login: ALICE });
    expect(item(report, 'resource.metadata')).toMatchObject({
      status: 'fail',
      fix: `Serve RFC 9728 protected resource metadata at ${proxy.origin}${PRM_MCP} or ${proxy.origin}${PRM_ROOT}, and name it in the 401's resource_metadata.`,
    });
    expect(item(report, 'resource.metadata').detail).toContain(`${proxy.origin}${PRM_ROOT}: HTTP 404`);
    expect(item(report, 'server.metadata')).toMatchObject({ status: 'skip', detail: 'no protected resource metadata' });
    expect(report.ok).toBe(false);
  });

  it('metadata whose resource names another host', async () => {
    proxy.setFaults([
      {
        name: 'resource for another host',
        match: (request) => request.method === 'GET' && request.url.pathname.startsWith(PRM_ROOT),
        rewrite: { json: (body) => ({ ...(body as object), resource: 'https://elsewhere.example/mcp' }) },
      },
    ]);
    const report = await doctor({ url: proxy.mcpUrl, skipAuth: true });
    expect(item(report, 'resource.resource')).toMatchObject({
      status: 'fail',
      detail: `https://elsewhere.example/mcp does not cover ${proxy.mcpUrl}: it names another origin (https://elsewhere.example)`,
      fix: `Set resource in the metadata to ${proxy.mcpUrl} (or its origin, ${proxy.origin}); clients refuse metadata that names another resource (RFC 9728 §3.3).`,
    });
    expect(report.ok).toBe(false);
  });

  it('hostile endpoints in the authorization server metadata: refused, never fetched, printed or opened', async () => {
    proxy.setFaults([
      {
        name: 'hostile endpoints',
        match: at('GET', AS_METADATA),
        rewrite: { json: (body) => ({ ...(body as object), authorization_endpoint: 'javascript:alert(document.cookie)', revocation_endpoint: 'http://evil.example/revoke' }) },
      },
    ]);
    const said: string[] = [];
    // Interactive, as a user would run it: had the endpoint been accepted, the doctor would print it and wait.
    const report = await doctor({ url: proxy.mcpUrl, openBrowser: false, authTimeoutMs: 1_000, log: (line) => said.push(line) });
    expect(item(report, 'server.endpoints')).toMatchObject({
      status: 'fail',
      detail: 'authorization_endpoint "javascript:alert(document.cookie)" uses the javascript: scheme, so it was neither fetched nor opened',
      fix: 'Advertise only https URLs (plain http only on localhost): OAuth 2.1 and MCP require TLS for authorization server endpoints, and clients neither fetch nor open anything else.',
    });
    expect(item(report, 'server.revocation-endpoint')).toMatchObject({ status: 'warn', detail: 'revocation_endpoint "http://evil.example/revoke" uses plain http on a host that is not loopback, so it was neither fetched nor opened' });
    expect(item(report, 'registration.confidential')).toMatchObject({ status: 'skip', detail: "the authorization server's endpoints are refused (server.endpoints)" });
    expect(item(report, 'authorization.redirect').status).toBe('skip');
    expect(said.join('\n')).not.toContain('javascript:');
    expect(proxy.hits('hostile endpoints')).toBe(1);
  });

  it('a fresh client refused at first and no refresh token: retries with backoff, then fails the refresh token', async () => {
    const codeExchange = (request: ProxiedRequest) => at('POST', '/token')(request) && new URLSearchParams(request.body).get('grant_type') === 'authorization_code';
    proxy.setFaults([
      { name: 'not yet registered', match: codeExchange, times: 2, respond: () => ({ status: 401, body: { error: 'invalid_client', error_description: 'Client not found' } }) },
      { name: 'no refresh token', match: codeExchange, rewrite: { json: ({ refresh_token: _, ...rest }: Record<string, unknown>) => rest } },
    ]);
    const report = await doctor({ url: proxy.mcpUrl, login: ALICE });
    expect(item(report, 'authorization.token')).toMatchObject({ status: 'warn', detail: 'tokens issued, but only on a later attempt: retried 2× after invalid_client' });
    expect(item(report, 'authorization.client-auth')).toMatchObject({ status: 'pass', detail: 'client_secret_basic, as registered (retried 2× after invalid_client)' });
    expect(item(report, 'tokens.refresh-token')).toMatchObject({
      status: 'fail',
      detail: `no refresh_token in the token response: a client connects, but cannot stay connected: its user must sign in again when the access token expires, after ${report.facts.accessTokenLifetimeSeconds} s (expires_in)`,
      fix: 'Issue a refresh token with the access token (RFC 6749 §5.1) and accept the refresh_token grant: MCP Manager refreshes on its own and stays connected.',
    });
    // This server still says it issues them.
    expect(item(report, 'tokens.refresh-advertised')).toMatchObject({ status: 'warn', detail: 'refresh_token is advertised (in grant_types_supported and in the grant_types the client was registered with) but was not issued' });
    expect(report.facts).toMatchObject({ registrationRace: true, workingClientAuthMethod: 'client_secret_basic', refreshTokenIssued: false, refreshAdvertised: true, mcp: 'ok' });
    expect(item(report, 'lifecycle.refresh')).toMatchObject({ status: 'skip', detail: 'no refresh token was issued (tokens.refresh-token)' });
    expect(item(report, 'lifecycle.revoke-access').status).toBe('pass');
    expect(proxy.hits('not yet registered')).toBe(2);
  });

  it('a fresh token refused at first on /mcp: retries the first call with backoff and says so', async () => {
    const firstInitialize = (request: ProxiedRequest) =>
      request.method === 'POST' && request.url.pathname === '/mcp' && request.headers.authorization !== undefined && request.body.includes('"initialize"');
    proxy.setFaults([
      {
        name: 'token not yet visible',
        match: firstInitialize,
        times: 1,
        respond: () => ({ status: 401, headers: { 'www-authenticate': 'Bearer error="invalid_token"' }, body: { error: 'invalid_token' } }),
      },
    ]);
    const report = await doctor({ url: proxy.mcpUrl, login: ALICE });
    expect(item(report, 'mcp.initialize')).toMatchObject({ status: 'warn', detail: expect.stringContaining('but only on a later attempt: retried 1× after HTTP 401') });
    expect(item(report, 'mcp.tools-list').status).toBe('pass');
    expect(proxy.hits('token not yet visible')).toBe(1);
  });

  it('legacy SSE only: fails with "MCP Manager needs Streamable HTTP"', async () => {
    proxy.setFaults([{ name: 'no Streamable HTTP', match: (request) => request.url.pathname === '/mcp' && request.headers.authorization !== undefined, respond: () => ({ status: 404, body: 'Not found' }) }]);
    const report = await doctor({ url: proxy.mcpUrl, login: ALICE });
    expect(item(report, 'mcp.initialize')).toMatchObject({
      status: 'fail',
      fix: 'MCP Manager needs Streamable HTTP: serve it (one endpoint taking POST, MCP 2025-03-26 and later) and give MCP Manager that URL; legacy SSE alone will not do.',
    });
    expect(item(report, 'mcp.legacy-sse').status).toBe('pass');
    expect(item(report, 'mcp.revisions')).toMatchObject({ status: 'warn', detail: 'none: server/discover got HTTP 404 (Not found); initialize got HTTP 404 (Not found)' });
    expect(item(report, 'mcp.request-headers')).toMatchObject({ status: 'skip', detail: 'the server does not answer 2026-07-28 (mcp.revisions)' });
    // Refresh and revocation at the token endpoint are still checked; what judges a token by MCP is not.
    expect(item(report, 'lifecycle.refresh').status).toBe('pass');
    expect(item(report, 'lifecycle.refreshed-token')).toMatchObject({ status: 'skip', detail: 'the first access token did not open an MCP session either (mcp.initialize): nothing to compare with' });
    expect(report.facts).toMatchObject({ mcp: 'failed', refreshWorks: true });
  });

  it('2025 revisions only (2026-07-28 requests get an HTML 400): a warning for the newest clients, no header checks, MCP Manager connects', async () => {
    proxy.setFaults([
      {
        name: 'no 2026-07-28',
        match: (request) => request.url.pathname === '/mcp' && request.headers['mcp-protocol-version'] === '2026-07-28',
        respond: () => ({ status: 400, headers: { 'content-type': 'text/html' }, body: '<html><body><h1>400 Bad Request</h1></body></html>' }),
      },
    ]);
    const report = await doctor({ url: proxy.mcpUrl, login: ALICE });
    expect(item(report, 'mcp.revisions')).toMatchObject({
      status: 'warn',
      detail: '2025-11-25 (initialize); not 2026-07-28: server/discover got HTTP 400 (<html><body><h1>400 Bad Request</h1></body></html>)',
      fix: expect.stringMatching(/^MCP Manager speaks the 2025 revisions and needs nothing more; for the newest clients, also serve MCP 2026-07-28/),
    });
    expect(nonPassing(report)).toEqual([
      'skip mcp.tool-call: not asked: add --call <tool>[:<json arguments>] to call one',
      `warn mcp.revisions: ${item(report, 'mcp.revisions').detail}`,
      'skip mcp.request-headers: the server does not answer 2026-07-28 (mcp.revisions)',
    ]);
    expect(report.ok).toBe(true);
    expect(proxy.hits('no 2026-07-28')).toBe(1);
  });

  it('2026-07-28 only (initialize refused): fails mcp.initialize with the dual-era fix, and still checks the headers', async () => {
    proxy.setFaults([
      {
        name: 'no initialize',
        match: (request) => at('POST', '/mcp')(request) && request.headers.authorization !== undefined && request.body.includes('"method":"initialize"'),
        respond: () => ({ status: 400, body: { jsonrpc: '2.0', id: null, error: { code: -32020, message: 'Header mismatch: MCP-Protocol-Version is required (this server supports 2026-07-28)' } } }),
      },
    ]);
    const report = await doctor({ url: proxy.mcpUrl, login: ALICE });
    expect(item(report, 'mcp.initialize')).toMatchObject({
      status: 'fail',
      fix: 'This URL answers only MCP 2026-07-28 (server/discover); MCP Manager speaks the 2025 revisions over Streamable HTTP: answer initialize too, as a dual-era server (MCP 2026-07-28, versioning, "Backward Compatibility").',
    });
    expect(item(report, 'mcp.revisions')).toMatchObject({
      status: 'warn',
      detail: '2026-07-28 (server/discover); no 2025 revision: initialize got HTTP 400, JSON-RPC error -32020: Header mismatch: MCP-Protocol-Version is required (this server supports 2026-07-28)',
    });
    expect(item(report, 'mcp.request-headers').status).toBe('pass');
    expect(item(report, 'lifecycle.refresh').status).toBe('pass');
    expect(item(report, 'lifecycle.revoke-access')).toMatchObject({ status: 'skip', detail: 'the first access token did not open an MCP session either (mcp.initialize): nothing to compare with' });
    expect(item(report, 'lifecycle.revoke-refresh').status).toBe('pass');
    expect(report.ok).toBe(false);
  });

  it('lax on the new rules (a made-up session id refused with 400, the 2026-07-28 headers not checked): warnings, not failures', async () => {
    const modern = (request: ProxiedRequest) => at('POST', '/mcp')(request) && request.headers['mcp-protocol-version'] === '2026-07-28';
    const rpcId = (request: ProxiedRequest) => (JSON.parse(request.body) as { id: number }).id;
    proxy.setFaults([
      {
        name: 'session id refused',
        match: (request) => String(request.headers['mcp-session-id'] ?? '').startsWith('mcp-doctor-'),
        respond: (request) => ({ status: 400, body: { jsonrpc: '2.0', id: rpcId(request), error: { code: -32000, message: 'Bad Request: no sessions here' } } }),
      },
      {
        name: 'no Mcp-Method check',
        match: (request) => modern(request) && request.headers['mcp-method'] === undefined,
        respond: (request) => ({ status: 200, body: { jsonrpc: '2.0', id: rpcId(request), result: { tools: [] } } }),
      },
      {
        // Answered as an event stream, as servers may.
        name: 'no Mcp-Name check',
        match: (request) => modern(request) && request.headers['mcp-method'] === 'tools/call',
        respond: (request) => ({
          status: 200,
          headers: { 'content-type': 'text/event-stream' },
          body: `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: rpcId(request), error: { code: -32602, message: 'Unknown tool: mcp-doctor-no-such-tool' } })}\n\n`,
        }),
      },
    ]);
    const report = await doctor({ url: proxy.mcpUrl, login: ALICE });
    expect(item(report, 'mcp.unknown-session')).toMatchObject({
      status: 'warn',
      detail: 'stateless, but a request with a made-up id got HTTP 400, JSON-RPC error -32000: Bad Request: no sessions here',
      fix: 'Ignore an Mcp-Session-Id on a stateless server and serve the request (MCP 2026-07-28, Streamable HTTP, "Earlier Streamable HTTP Revisions"), or answer 404 so the client starts over.',
    });
    expect(item(report, 'mcp.request-headers')).toMatchObject({
      status: 'warn',
      detail: 'without Mcp-Method: served (HTTP 200, a JSON-RPC result); Mcp-Name not the body’s: served (HTTP 200, JSON-RPC error -32602: Unknown tool: mcp-doctor-no-such-tool)',
      fix: 'Refuse a 2026-07-28 request whose Mcp-Method or Mcp-Name header is missing or differs from its body with HTTP 400 and JSON-RPC error -32020 HeaderMismatch (MCP 2026-07-28, Streamable HTTP transport, "Server Validation").',
    });
    expect(item(report, 'mcp.revisions').status).toBe('pass');
    expect(report.ok).toBe(true);
    expect([proxy.hits('session id refused'), proxy.hits('no Mcp-Method check'), proxy.hits('no Mcp-Name check')]).toEqual([1, 1, 1]);
  });

  it('session ids issued but never checked: a made-up one is served, which fails', async () => {
    proxy.setFaults([
      {
        name: 'session id issued',
        match: (request) => at('POST', '/mcp')(request) && request.headers.authorization !== undefined && request.body.includes('"method":"initialize"'),
        rewrite: { headers: (headers) => void (headers['mcp-session-id'] = 'issued-but-never-checked') },
      },
    ]);
    const report = await doctor({ url: proxy.mcpUrl, login: ALICE });
    expect(item(report, 'mcp.session')).toMatchObject({ status: 'pass', detail: 'sessionful: initialize issued an Mcp-Session-Id (24 characters)' });
    expect(item(report, 'mcp.unknown-session')).toMatchObject({
      status: 'fail',
      detail: 'HTTP 200, a JSON-RPC result',
      fix: 'Answer 404 to a request with an unknown or expired Mcp-Session-Id, so clients start a new session (MCP Streamable HTTP, session management).',
    });
    expect(report.counts.fail).toBe(1);
  });
});

describe('the doctor against this server with MCP_TRANSPORT=mcp-agent (sessions)', () => {
  let agentSystem: RunningSystem | undefined;

  beforeAll(async () => {
    agentSystem = await startSystem({ ephemeralState: true, vars: { MCP_TRANSPORT: 'mcp-agent', RATE_LIMITS: 'off' } });
  });

  afterAll(async () => {
    await agentSystem?.stop();
  });

  it('passes: a session id issued, a made-up one 404, 2026-07-28 served statelessly beside it', async () => {
    const report = await doctor({ url: (agentSystem as RunningSystem).mcpUrl, login: ALICE });
    expect(nonPassing(report)).toEqual(['skip mcp.tool-call: not asked: add --call <tool>[:<json arguments>] to call one']);
    expect(item(report, 'mcp.session').detail).toMatch(/^sessionful: initialize issued an Mcp-Session-Id \(\d+ characters\)$/);
    expect(item(report, 'mcp.unknown-session').detail).toBe('sessionful: 404');
    expect(item(report, 'mcp.revisions').detail).toBe('2026-07-28 (server/discover), 2025-11-25 (initialize)');
    expect(item(report, 'mcp.request-headers').status).toBe('pass');
  });
});
