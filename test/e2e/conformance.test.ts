/**
 * The official MCP conformance suite (@modelcontextprotocol/conformance) against the running
 * system, every scenario that applies to a server with our four tools, on the stateless /mcp.
 *
 * Suite 0.2.0-alpha.12, the first line with MCP 2026-07-28 scenarios (the 0.1 line predates that
 * revision); pinned exactly. It needs Node 22, which the project brings.
 *
 * The suite cannot send a token, so it talks to a loopback token proxy (support/token-proxy.ts)
 * that adds one and forwards every header as the suite sent it. Host included: that is what makes
 * `dns-rebinding-protection` mean something, since the attack it plays sends a hostile Host *and*
 * the matching Origin. The Worker runs as `npm start` runs it (PUBLIC_URL unset), so it takes its
 * origin — issuer, resource, the origin its Origin check allows — from the Host, which here is the
 * proxy's. Everything is therefore done through the proxy, the token minted there too, and this
 * file starts its own dev IdP, which accepts the Worker's callback on the proxy's origin.
 *
 * Server scenarios of the suite (`conformance list --server`); the last test checks this table
 * still names every scenario the installed suite has.
 *
 * | scenario                              | here           | why                                                                  |
 * |---------------------------------------|----------------|----------------------------------------------------------------------|
 * | server-initialize                     | passes         | 2025 handshake, answered statelessly                                 |
 * | ping                                  | passes         | 2025                                                                 |
 * | tools-list                            | passes         | every tool has name, description, inputSchema                        |
 * | dns-rebinding-protection              | passes         | 2025-11-25 and 2026-07-28                                            |
 * | http-header-validation                | passes         | 2026-07-28: Mcp-Method / Mcp-Name / MCP-Protocol-Version checks      |
 * | server-session-lifecycle              | passes         | the suite itself skips it: the server issues no session              |
 * | server-stateless                      | checked        | 2026-07-28 (SEP-2575): every check passes but four that need the     |
 * |                                       |                | suite's diagnostic fixture tools (listed below, "Not testable")      |
 * | caching                               | checked        | 2026-07-28 (SEP-2549): tools/list carries ttlMs and cacheScope; the  |
 * |                                       |                | prompts/resources lists do not exist here (-32601)                   |
 * | server-sse-multiple-streams           | not applicable | needs a 2025 session id; a stateless server issues none (the suite   |
 * |                                       |                | warns and stops). MCP_TRANSPORT=mcp-agent issues one                 |
 * | http-custom-header-server-validation  | not applicable | no tool declares `x-mcp-header` parameters                           |
 * | logging-set-level                     | not applicable | no `logging` capability (answered -32601 Method not found)           |
 * | completion-complete                   | not applicable | no prompts or resource templates, so no completions (-32601)         |
 * | tools-call-*, json-schema-2020-12     | not applicable | call the suite's own fixture tools (test_simple_text, …)             |
 * | elicitation-*, server-sse-polling     | not applicable | fixture tools (and we never elicit)                                  |
 * | input-required-result-*               | not applicable | fixture tools exercising MRTR; no tool here needs client input      |
 * | resources-*, prompts-*, sep-2164-*    | not applicable | no resources or prompts                                              |
 * | sep-2640-*, tasks-*                   | not applicable | optional extensions (skills, tasks) this server does not implement   |
 *
 * The suite's client scenarios (`initialize`, `tools_call`, `auth/*`, …) test MCP clients, not servers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpLogin } from '../../cli/lib/http-login.ts';
import { discover, exchangeCode, registerClient, startAuthorization } from '../../cli/lib/oauth-client.ts';
import { startDevIdp, type DevIdp } from '../../dev/idp/server.ts';
import { freePort, startSystem, type RunningSystem } from '../../scripts/system.ts';
import { cleanUp } from './support/clean-up.ts';
import { CONFORMANCE, listServerScenarios, problems, runServerScenario, type ConformanceCheck, type ScenarioRun } from './support/conformance.ts';
import { startTokenProxy, type TokenProxy } from './support/token-proxy.ts';

const PASSING_SCENARIOS = ['server-initialize', 'ping', 'tools-list', 'http-header-validation'];
/**
 * server-stateless checks that need the suite's diagnostic fixture tools, which a real server does
 * not have; the suite reports them as FAILURE with "Not testable: …" rather than skipping them.
 */
const STATELESS_FIXTURE_CHECKS = [
  'sep-2575-server-rejects-undeclared-capability',
  'sep-2575-missing-capability-http-400',
  'sep-2575-http-server-no-independent-requests-on-stream',
  'sep-2575-server-no-log-without-loglevel',
];
const NOT_APPLICABLE = [
  'server-sse-multiple-streams',
  'http-custom-header-server-validation',
  'logging-set-level',
  'completion-complete',
  'tools-call-simple-text',
  'tools-call-image',
  'tools-call-audio',
  'tools-call-embedded-resource',
  'tools-call-mixed-content',
  'tools-call-with-logging',
  'tools-call-error',
  'tools-call-with-progress',
  'tools-call-sampling',
  'tools-call-elicitation',
  'json-schema-2020-12',
  'elicitation-sep1034-defaults',
  'elicitation-sep1330-enums',
  'server-sse-polling',
  'resources-list',
  'resources-read-text',
  'resources-read-binary',
  'resources-templates-read',
  'resources-subscribe',
  'resources-unsubscribe',
  'prompts-list',
  'prompts-get-simple',
  'prompts-get-with-args',
  'prompts-get-embedded-resource',
  'prompts-get-with-image',
  'sep-2164-resource-not-found',
  'sep-2640-skills-directory',
  'sep-2640-skills-enumeration',
  'sep-2640-skills-manifest',
  'tasks-lifecycle',
  'tasks-capability-negotiation',
  'tasks-wire-fields',
  'tasks-request-state-removal',
  'tasks-mrtr-input',
  'tasks-request-headers',
  'tasks-dispatch-and-envelope',
  'tasks-status-notifications',
  'tasks-required-task-error',
  'tasks-mrtr-composition',
  'input-required-result-basic-elicitation',
  'input-required-result-basic-sampling',
  'input-required-result-basic-list-roots',
  'input-required-result-request-state',
  'input-required-result-multiple-input-requests',
  'input-required-result-multi-round',
  'input-required-result-missing-input-response',
  'input-required-result-non-tool-request',
  'input-required-result-result-type',
  'input-required-result-unsupported-methods',
  'input-required-result-tampered-state',
  'input-required-result-capability-check',
  'input-required-result-ignore-extra-params',
  'input-required-result-validate-input',
];
// Only ever reached in httpLogin's hands, which stops at it: nothing needs to listen there.
const CALLBACK = 'http://127.0.0.1:33418/callback';

let token: string | undefined;
let proxy: TokenProxy;
let idp: DevIdp;
let system: RunningSystem;

beforeAll(async () => {
  const port = await freePort();
  proxy = await startTokenProxy({ upstream: `http://localhost:${port}`, token: () => token });
  idp = await startDevIdp({ port: 0, redirectUris: [`${proxy.origin}/callback`] });
  system = await startSystem({
    port,
    ephemeralState: true,
    devIdp: false,
    vars: { UPSTREAM: 'oidc', OIDC_ISSUER: idp.issuer, OIDC_CLIENT_ID: idp.clientId, OIDC_CLIENT_SECRET: idp.clientSecret },
  });
  // Alice's token for the proxy's origin, minted through the proxy like everything else.
  const discovery = await discover(proxy.mcpUrl);
  const registered = await registerClient(discovery.server, { client_name: 'Conformance (test)', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'none' });
  const start = await startAuthorization(discovery.server, registered.client, { redirectUri: CALLBACK, resource: discovery.resourceMetadata.resource });
  const callback = await httpLogin(start.url.href, { login: 'alice', password: 'alice', redirectUri: CALLBACK });
  token = (await exchangeCode(discovery.server, registered, start, callback)).access_token;
});

afterAll(() => cleanUp(() => system?.stop(), () => idp?.close(), () => proxy?.close()));

function check(run: ScenarioRun, id: string): ConformanceCheck | undefined {
  return run.checks.find((candidate) => candidate.id === id);
}

/** The ids of the checks with `status`, in order, without repeats. */
function idsWith(run: ScenarioRun, ...statuses: ConformanceCheck['status'][]): string[] {
  return [...new Set(run.checks.filter((candidate) => statuses.includes(candidate.status)).map((candidate) => candidate.id))];
}

describe(`MCP conformance suite ${CONFORMANCE.version}, server scenarios`, () => {
  it.each(PASSING_SCENARIOS)('%s passes', async (scenario) => {
    const run = await runServerScenario(proxy.mcpUrl, scenario);
    expect(run.checks.length, run.output).toBeGreaterThan(0);
    expect(problems(run), run.output).toEqual([]);
    expect(run.exitCode, run.output).toBe(0);
  });

  it('server-session-lifecycle sees a server that issues no session', async () => {
    const run = await runServerScenario(proxy.mcpUrl, 'server-session-lifecycle');
    expect(idsWith(run, 'INFO', 'SKIPPED'), run.output).toContain('server-session-lifecycle-skipped');
  });

  describe('server-stateless (MCP 2026-07-28, SEP-2575)', () => {
    let run: ScenarioRun;

    beforeAll(async () => {
      run = await runServerScenario(proxy.mcpUrl, 'server-stateless');
    });

    it.each([
      'sep-2575-server-implements-discover',
      'sep-2575-server-identifies-in-result-meta',
      'sep-2575-discover-capabilities-match-handlers',
      'sep-2575-request-meta-invalid-missing-meta',
      'sep-2575-request-meta-invalid-missing-protocol-version',
      'sep-2575-request-meta-invalid-missing-client-capabilities',
      'sep-2575-http-server-meta-invalid-400',
      'sep-2575-server-unsupported-version-error',
      'sep-2575-http-server-unsupported-version-400',
      'sep-2575-http-server-header-mismatch-400',
      'sep-2575-http-server-method-not-found-404-initialize',
      'sep-2575-http-server-method-not-found-404',
      'sep-2575-server-sends-subscription-ack',
      'sep-2575-http-server-error-jsonrpc-id',
    ])('%s succeeds', (id) => {
      expect(check(run, id)?.status, run.output).toBe('SUCCESS');
      expect(run.checks.filter((candidate) => candidate.id === id).every((candidate) => candidate.status === 'SUCCESS'), run.output).toBe(true);
    });

    it('fails only the checks that need the suite’s own diagnostic tools, each reported as not testable', () => {
      expect(idsWith(run, 'FAILURE', 'WARNING').sort(), run.output).toEqual([...STATELESS_FIXTURE_CHECKS].sort());
      for (const failed of run.checks.filter((candidate) => candidate.status === 'FAILURE')) expect(failed.errorMessage).toMatch(/^Not testable: server does not list the diagnostic tool/);
    });
  });

  it('caching (MCP 2026-07-28, SEP-2549): tools/list carries valid cache hints; only the lists this server lacks fail', async () => {
    const run = await runServerScenario(proxy.mcpUrl, 'caching');
    for (const id of ['sep-2549-tools-list-caching-hints', 'sep-2549-ttl-non-negative', 'sep-2549-cache-scope-valid']) expect(check(run, id)?.status, run.output).toBe('SUCCESS');
    expect(idsWith(run, 'FAILURE', 'WARNING').sort(), run.output).toEqual(['sep-2549-prompts-list-caching-hints', 'sep-2549-resources-list-caching-hints', 'sep-2549-resources-templates-list-caching-hints']);
    for (const failed of run.checks.filter((candidate) => candidate.status === 'FAILURE')) expect(failed.errorMessage).toContain('-32601: Method not found');
  });

  describe('dns-rebinding-protection', () => {
    let run: ScenarioRun;

    beforeAll(async () => {
      run = await runServerScenario(proxy.mcpUrl, 'dns-rebinding-protection');
    });

    it('reached the server with the Host and Origin the suite sent', () => {
      const posts = proxy.forwarded.filter((request) => request.method === 'POST' && request.path === '/mcp');
      expect(posts).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ host: 'evil.example.com', origin: 'http://evil.example.com', tokenAdded: true }),
          expect.objectContaining({ host: new URL(proxy.origin).host, origin: proxy.origin, tokenAdded: true }),
        ]),
      );
    });

    it('accepts the server’s own localhost origin (2xx)', () => {
      expect(check(run, 'localhost-host-valid-accepted'), run.output).toMatchObject({ status: 'SUCCESS', details: { statusCode: 200 } });
    });

    // With PUBLIC_URL unset the Worker takes its origin from the Host header, so a plain-http Host
    // that is not a loopback name (a DNS-rebinding page's) is refused before anything else: 421.
    it('refuses a rebinding Host/Origin pair (4xx)', () => {
      expect(check(run, 'localhost-host-rebinding-rejected'), run.output).toMatchObject({ status: 'SUCCESS' });
    });
  });

  it('has no server scenario this file does not account for', async () => {
    const listed = await listServerScenarios();
    expect([...listed].sort()).toEqual([...PASSING_SCENARIOS, 'server-session-lifecycle', 'server-stateless', 'caching', 'dns-rebinding-protection', ...NOT_APPLICABLE].sort());
  });
});
