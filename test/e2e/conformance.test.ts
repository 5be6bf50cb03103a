/**
 * The official MCP conformance suite (@modelcontextprotocol/conformance) against the running
 * system, every scenario that applies to a server with our four tools.
 *
 * The suite cannot send a token, so it talks to a loopback token proxy (support/token-proxy.ts)
 * that adds one and forwards every header as the suite sent it. Host included: that is what makes
 * `dns-rebinding-protection` mean something, since the attack it plays sends a hostile Host *and*
 * the matching Origin. The Worker runs as `npm start` runs it (PUBLIC_URL unset), so it takes its
 * origin — issuer, resource, the origin its Origin check allows — from the Host, which here is the
 * proxy's. Everything is therefore done through the proxy, the token minted there too, and this
 * file starts its own dev IdP, which accepts the Worker's callback on the proxy's origin.
 *
 * Server scenarios of suite 0.1.16 (`conformance list --server`); the last test checks this table
 * still names every scenario the installed suite has.
 *
 * | scenario                       | here           | why                                                                       |
 * |--------------------------------|----------------|---------------------------------------------------------------------------|
 * | server-initialize              | run            | generic: initialize + initialized                                         |
 * | ping                           | run            | generic                                                                   |
 * | tools-list                     | run            | generic: every tool has name, description, inputSchema                    |
 * | server-sse-multiple-streams    | run            | generic: three concurrent POST streams (tools/list) in one session        |
 * | dns-rebinding-protection       | run            | generic; the rejection half FAILS today (500), a server bug: see below    |
 * | logging-set-level              | not applicable | no `logging` capability (answered -32601 Method not found)                |
 * | completion-complete            | not applicable | no prompts or resource templates, so no completions (-32601)              |
 * | tools-call-simple-text         | not applicable | calls the suite's fixture tool test_simple_text                           |
 * | tools-call-image               | not applicable | fixture tool test_image_content                                           |
 * | tools-call-audio               | not applicable | fixture tool test_audio_content                                           |
 * | tools-call-embedded-resource   | not applicable | fixture tool test_embedded_resource                                       |
 * | tools-call-mixed-content       | not applicable | fixture tool test_multiple_content_types                                  |
 * | tools-call-with-logging        | not applicable | fixture tool test_tool_with_logging                                       |
 * | tools-call-error               | not applicable | fixture tool test_error_handling                                          |
 * | tools-call-with-progress       | not applicable | fixture tool test_tool_with_progress                                      |
 * | tools-call-sampling            | not applicable | fixture tool test_sampling (and we never sample)                          |
 * | tools-call-elicitation         | not applicable | fixture tool test_elicitation (and we never elicit)                       |
 * | json-schema-2020-12            | not applicable | fixture tool json_schema_2020_12_tool                                     |
 * | elicitation-sep1034-defaults   | not applicable | fixture tool test_elicitation_sep1034_defaults                            |
 * | elicitation-sep1330-enums      | not applicable | fixture tool test_elicitation_sep1330_enums                               |
 * | server-sse-polling             | not applicable | fixture tool test_reconnection ("pending" suite). Run by hand: no failure, |
 * |                                |                | 3 SHOULD warnings (no SSE priming event, no `retry`: the agents transport |
 * |                                |                | does not implement SEP-1699 stream resumption)                            |
 * | resources-list                 | not applicable | no resources (-32601)                                                     |
 * | resources-read-text            | not applicable | no resources (test://static-text)                                         |
 * | resources-read-binary          | not applicable | no resources (test://static-binary)                                       |
 * | resources-templates-read       | not applicable | no resource templates (test://template/{id}/data)                         |
 * | resources-subscribe            | not applicable | no resources to subscribe to                                              |
 * | resources-unsubscribe          | not applicable | no resources to subscribe to                                              |
 * | prompts-list                   | not applicable | no prompts (-32601)                                                       |
 * | prompts-get-simple             | not applicable | no prompts (test_simple_prompt)                                           |
 * | prompts-get-with-args          | not applicable | no prompts (test_prompt_with_arguments)                                   |
 * | prompts-get-embedded-resource  | not applicable | no prompts (test_prompt_with_embedded_resource)                           |
 * | prompts-get-with-image         | not applicable | no prompts (test_prompt_with_image)                                       |
 *
 * Not in 0.1.16 although our field notes name it: `server-session-lifecycle`; real-clients.test.ts
 * covers the lifecycle with the SDK client (session id issued, DELETE, then 404). The suite's client
 * scenarios (`initialize`, `tools_call`, `sse-retry`, `auth/*`, …) test MCP clients, not servers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpLogin } from '../../cli/lib/http-login.ts';
import { discover, exchangeCode, registerClient, startAuthorization } from '../../cli/lib/oauth-client.ts';
import { startDevIdp, type DevIdp } from '../../dev/idp/server.ts';
import { freePort, startSystem, type RunningSystem } from '../../scripts/system.ts';
import { CONFORMANCE, listServerScenarios, problems, runServerScenario, type ConformanceCheck, type ScenarioRun } from './support/conformance.ts';
import { startTokenProxy, type TokenProxy } from './support/token-proxy.ts';

const GENERIC_SCENARIOS = ['server-initialize', 'ping', 'tools-list', 'server-sse-multiple-streams'];
const NOT_APPLICABLE = [
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

afterAll(async () => {
  await system?.stop();
  await idp?.close();
  await proxy?.close();
});

function check(run: ScenarioRun, id: string): ConformanceCheck | undefined {
  return run.checks.find((candidate) => candidate.id === id);
}

describe(`MCP conformance suite ${CONFORMANCE.version}, server scenarios`, () => {
  it.each(GENERIC_SCENARIOS)('%s passes', async (scenario) => {
    const run = await runServerScenario(proxy.mcpUrl, scenario);
    expect(run.checks.length, run.output).toBeGreaterThan(0);
    expect(problems(run), run.output).toEqual([]);
    expect(run.exitCode, run.output).toBe(0);
  });

  describe('dns-rebinding-protection', () => {
    let run: ScenarioRun;

    beforeAll(async () => {
      run = await runServerScenario(proxy.mcpUrl, 'dns-rebinding-protection');
    });

    it('reached the server with the Host and Origin the suite sent', () => {
      const initializes = proxy.forwarded.filter((request) => request.method === 'POST' && request.path === '/mcp');
      expect(initializes).toEqual(
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
    expect([...listed].sort()).toEqual([...GENERIC_SCENARIOS, 'dns-rebinding-protection', ...NOT_APPLICABLE].sort());
  });
});
