/**
 * The doctor's pure parts, without a server: redaction, the retry helper, challenge parsing, the
 * discovery URL orders, resource coverage, the MCP wire probes (request shapes, answers read from
 * JSON, SSE and garbage, what they say about protocol revisions and header checks), the command
 * line, the checklist's shape, and which URLs from a server are fetched or opened, and how the
 * browser is opened (without a shell).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDoctorArgs } from '../../cli/doctor/args.ts';
import { checkAuthorization, checkCallback } from '../../cli/doctor/authorization.ts';
import { Checklist, ITEM_IDS, type ItemId } from '../../cli/doctor/checklist.ts';
import { initialFacts, type DoctorContext } from '../../cli/doctor/context.ts';
import { HttpClient } from '../../cli/doctor/http.ts';
import { openInBrowser, type SpawnLike } from '../../cli/doctor/loopback.ts';
import { checkProtectedResource, parseChallenges, protectedResourceMetadataUrls, resourceCoverage, wellKnownResourceIdentifier } from '../../cli/doctor/protected-resource.ts';
import { REDACTED, redactBody, redactExchange, redactHeaders, redactKnownSecrets, redactUrl, type RecordedExchange } from '../../cli/doctor/redact.ts';
import { authorizationServerMetadataUrls, checkServerMetadata, type ServerMetadata } from '../../cli/doctor/server-metadata.ts';
import { urlProblem } from '../../cli/doctor/url-policy.ts';
import { basicCredentials } from '../../cli/doctor/token-endpoint.ts';
import {
  describeAnswer,
  describeRevisions,
  discoverOutcome,
  findRpcResponse,
  headerCheckOutcome,
  initializeOutcome,
  initializeRequest,
  modernHeaders,
  modernRequest,
  postRpc,
  sseDataPayloads,
  type DiscoverOutcome,
  type InitializeOutcome,
  type RpcAnswer,
} from '../../cli/doctor/wire.ts';
import { AFTER_REGISTRATION, backoffDelayMs, describeRetries, eventualConsistencyReason, retryWithBackoff } from '../../cli/lib/retry.ts';

describe('redaction', () => {
  it('keeps the Authorization scheme and hides the credential; hides cookies whole', () => {
    expect(
      redactHeaders([
        ['authorization', 'Bearer user:grant:secret'],
        ['Authorization', 'Basic Y2xpZW50OnNlY3JldA=='],
        ['authorization', 'opaque'],
        ['cookie', '__Host-consent=abc'],
        ['set-cookie', 'session=xyz; HttpOnly'],
        ['content-type', 'application/json'],
      ]),
    ).toEqual([
      ['authorization', `Bearer ${REDACTED}`],
      ['Authorization', `Basic ${REDACTED}`],
      ['authorization', REDACTED],
      ['cookie', REDACTED],
      ['set-cookie', REDACTED],
      ['content-type', 'application/json'],
    ]);
  });

  it('hides secret fields in form bodies and leaves the rest readable', () => {
    const form = 'grant_type=authorization_code&code=abc123&redirect_uri=https%3A%2F%2Fx.test%2Fcb&code_verifier=v3rifier&client_id=c1&client_secret=s3cret';
    expect(redactBody(form, 'application/x-www-form-urlencoded')).toBe(
      `grant_type=authorization_code&code=${REDACTED}&redirect_uri=https%3A%2F%2Fx.test%2Fcb&code_verifier=${REDACTED}&client_id=c1&client_secret=${REDACTED}`,
    );
    expect(redactBody('token=user%3Agrant%3Asecret&token_type_hint=refresh_token', 'application/x-www-form-urlencoded; charset=utf-8')).toBe(`token=${REDACTED}&token_type_hint=refresh_token`);
    expect(redactBody('grant_type=client_credentials', 'application/x-www-form-urlencoded')).toBe('grant_type=client_credentials');
  });

  it('hides secret string fields in JSON at any depth, but not JSON-RPC error codes', () => {
    const body = JSON.stringify({
      access_token: 'at',
      token_type: 'bearer',
      refresh_token: 'rt',
      nested: [{ client_secret: 'cs', client_id: 'id' }],
      error: { code: -32001, message: 'Session not found' },
    });
    expect(JSON.parse(redactBody(body, 'application/json'))).toEqual({
      access_token: REDACTED,
      token_type: 'bearer',
      refresh_token: REDACTED,
      nested: [{ client_secret: REDACTED, client_id: 'id' }],
      error: { code: -32001, message: 'Session not found' },
    });
    // JSON without a content type is recognised by its shape; broken JSON is left alone.
    expect(redactBody('{"id_token":"x"}', undefined)).toBe(`{"id_token":"${REDACTED}"}`);
    expect(redactBody('{"access_token":', 'application/json')).toBe('{"access_token":');
  });

  it('hides secret query parameters and userinfo in URLs', () => {
    expect(redactUrl('https://gw.test/cb?code=abc&state=s1&iss=https%3A%2F%2Fas.test')).toBe(`https://gw.test/cb?code=${REDACTED}&state=s1&iss=https%3A%2F%2Fas.test`);
    expect(redactUrl('https://user:pw@host.test/mcp')).toBe(`https://${encodeURIComponent(REDACTED)}@host.test/mcp`);
    expect(redactUrl('https://host.test/mcp')).toBe('https://host.test/mcp');
  });

  it('replaces known secrets wherever they appear, raw or form-encoded, longest first', () => {
    const token = 'user:grant:s3cr3t-value';
    expect(redactKnownSecrets(`error_description=bad token ${token}`, [token])).toBe(`error_description=bad token ${REDACTED}`);
    expect(redactKnownSecrets(`token=${encodeURIComponent(token)}`, [token])).toBe(`token=${REDACTED}`);
    expect(redactKnownSecrets('abcdefgh-and-abcdefgh-longer', ['abcdefgh', 'abcdefgh-longer'])).toBe(`${REDACTED}-and-${REDACTED}`);
    // Too short to be told from ordinary text.
    expect(redactKnownSecrets('alice signed in', ['alice'])).toBe('alice signed in');
  });

  it('redacts a whole exchange: URL, headers, bodies, Location and the error', () => {
    const exchange: RecordedExchange = {
      id: 7,
      request: {
        method: 'POST',
        url: 'https://as.test/token',
        headers: [
          ['authorization', 'Basic Y2xpZW50OnNlY3JldA=='],
          ['content-type', 'application/x-www-form-urlencoded'],
        ],
        body: 'grant_type=refresh_token&refresh_token=rt-123456',
      },
      response: {
        status: 302,
        statusText: 'Found',
        headers: [
          ['location', 'https://gw.test/cb?code=c0de-123456&state=s'],
          ['content-type', 'application/json'],
        ],
        body: '{"access_token":"at-123456","note":"also rt-123456"}',
      },
      error: undefined,
      durationMs: 12,
    };
    const redacted = redactExchange(exchange, ['rt-123456']);
    const text = JSON.stringify(redacted);
    expect(text).not.toMatch(/rt-123456|c0de-123456|at-123456|Y2xpZW50/);
    expect(redacted.response?.headers[0]).toEqual(['location', `https://gw.test/cb?code=${REDACTED}&state=s`]);
    expect(redacted.response?.body).toBe(`{"access_token":"${REDACTED}","note":"also ${REDACTED}"}`);
    expect(redacted.request.body).toBe(`grant_type=refresh_token&refresh_token=${REDACTED}`);
  });
});

describe('retry after registration', () => {
  function fakeClock() {
    let now = 0;
    const sleeps: number[] = [];
    return { sleeps, environment: { now: () => now, sleep: async (ms: number) => void (sleeps.push(ms), (now += ms)), random: () => 0.5 } };
  }

  it('retries invalid_client with growing, jittered delays until it succeeds, and says so', async () => {
    const clock = fakeClock();
    const answers = ['invalid_client', 'invalid_client', undefined];
    const outcome = await retryWithBackoff(
      async (attempt) => ({ attempt, error: answers[attempt - 1] }),
      (result) => result.error,
      AFTER_REGISTRATION,
      clock.environment,
    );
    expect(outcome.result.attempt).toBe(3);
    expect(outcome.retries).toEqual(['invalid_client', 'invalid_client']);
    expect(clock.sleeps).toEqual([188, 375]);
    expect(describeRetries(outcome.retries)).toBe('retried 2× after invalid_client');
  });

  it('gives up after the last attempt, within the time budget, returning the last answer', async () => {
    const clock = fakeClock();
    let attempts = 0;
    const outcome = await retryWithBackoff(async () => ++attempts, () => 'invalid_grant', AFTER_REGISTRATION, clock.environment);
    expect(attempts).toBe(AFTER_REGISTRATION.maxAttempts);
    expect(outcome.result).toBe(5);
    expect(clock.sleeps.reduce((sum, ms) => sum + ms, 0)).toBeLessThan(AFTER_REGISTRATION.maxTotalMs);
    expect(describeRetries(outcome.retries)).toBe('retried 4× after invalid_grant');
  });

  it('stops early when the next delay would overrun the budget', async () => {
    let now = 0;
    const outcome = await retryWithBackoff(async () => 'x', () => 'invalid_client', { ...AFTER_REGISTRATION, maxTotalMs: 1_000 }, {
      now: () => now,
      sleep: async (ms) => void (now += ms + 200),
      random: () => 1,
    });
    expect(outcome.retries.length).toBe(2);
  });

  it('bounds each delay between half and all of the exponential ceiling', () => {
    for (const retry of [1, 2, 3, 4, 8]) {
      const ceiling = Math.min(AFTER_REGISTRATION.maxDelayMs, AFTER_REGISTRATION.baseDelayMs * 2 ** (retry - 1));
      expect(backoffDelayMs(retry, AFTER_REGISTRATION, 0)).toBe(ceiling / 2);
      expect(backoffDelayMs(retry, AFTER_REGISTRATION, 0.999999)).toBeLessThanOrEqual(ceiling);
    }
  });

  it('retries only the errors storage lag can cause', () => {
    expect(eventualConsistencyReason(401, { error: 'invalid_client' })).toBe('invalid_client');
    expect(eventualConsistencyReason(400, { error: 'invalid_grant' })).toBe('invalid_grant');
    expect(eventualConsistencyReason(400, { error: 'invalid_request' })).toBeUndefined();
    expect(eventualConsistencyReason(200, { error: 'invalid_client' })).toBeUndefined();
    expect(eventualConsistencyReason(500, 'oops')).toBeUndefined();
    expect(describeRetries([])).toBe('');
    expect(describeRetries(['invalid_client', 'invalid_grant', 'invalid_grant'])).toBe('retried 3× after invalid_client, invalid_grant');
  });
});

describe('discovery rules', () => {
  it('parses WWW-Authenticate challenges, quoted and bare, several schemes', () => {
    expect(parseChallenges('Bearer realm="OAuth", resource_metadata="https://h.test/.well-known/oauth-protected-resource", error="invalid_token"')).toEqual([
      { scheme: 'Bearer', params: { realm: 'OAuth', resource_metadata: 'https://h.test/.well-known/oauth-protected-resource', error: 'invalid_token' } },
    ]);
    expect(parseChallenges('Basic realm="x", Bearer scope="a b", error=insufficient_scope')).toEqual([
      { scheme: 'Basic', params: { realm: 'x' } },
      { scheme: 'Bearer', params: { scope: 'a b', error: 'insufficient_scope' } },
    ]);
    expect(parseChallenges('Bearer realm="say \\"hi\\""')).toEqual([{ scheme: 'Bearer', params: { realm: 'say "hi"' } }]);
    expect(parseChallenges('Bearer')).toEqual([{ scheme: 'Bearer', params: {} }]);
    expect(parseChallenges(null)).toEqual([]);
  });

  it('looks for protected resource metadata where MCP clients do, in their order', () => {
    expect(protectedResourceMetadataUrls('https://h.test/mcp', 'https://h.test/prm')).toEqual([
      { url: 'https://h.test/prm', source: 'challenge' },
      { url: 'https://h.test/.well-known/oauth-protected-resource/mcp', source: 'path' },
      { url: 'https://h.test/.well-known/oauth-protected-resource', source: 'root' },
    ]);
    expect(protectedResourceMetadataUrls('https://h.test/', undefined)).toEqual([{ url: 'https://h.test/.well-known/oauth-protected-resource', source: 'root' }]);
    expect(protectedResourceMetadataUrls('https://h.test/mcp', 'https://h.test/.well-known/oauth-protected-resource').map((c) => c.source)).toEqual(['challenge', 'path']);
  });

  it('looks for authorization server metadata in the MCP order, with and without an issuer path', () => {
    expect(authorizationServerMetadataUrls('https://as.test').map((c) => c.url)).toEqual([
      'https://as.test/.well-known/oauth-authorization-server',
      'https://as.test/.well-known/openid-configuration',
    ]);
    expect(authorizationServerMetadataUrls('https://as.test/tenant1/').map((c) => c.url)).toEqual([
      'https://as.test/.well-known/oauth-authorization-server/tenant1',
      'https://as.test/.well-known/openid-configuration/tenant1',
      'https://as.test/tenant1/.well-known/openid-configuration',
    ]);
  });

  it('decides whether a resource covers the MCP URL, and how', () => {
    expect(resourceCoverage('https://h.test/mcp', 'https://h.test/mcp')).toEqual({ kind: 'exact' });
    expect(resourceCoverage('https://h.test/mcp/', 'https://h.test/mcp')).toEqual({ kind: 'trailing-slash' });
    expect(resourceCoverage('https://h.test/mcp', 'https://h.test/mcp/')).toEqual({ kind: 'trailing-slash' });
    expect(resourceCoverage('https://h.test', 'https://h.test/mcp')).toEqual({ kind: 'origin' });
    expect(resourceCoverage('https://h.test/', 'https://h.test/mcp')).toEqual({ kind: 'origin' });
    expect(resourceCoverage('https://h.test/api', 'https://h.test/api/mcp')).toEqual({ kind: 'path-prefix' });
    expect(resourceCoverage('https://h.test/api', 'https://h.test/apimcp')).toMatchObject({ kind: 'mismatch' });
    expect(resourceCoverage('https://other.test/mcp', 'https://h.test/mcp')).toEqual({ kind: 'mismatch', reason: 'it names another origin (https://other.test)' });
    expect(resourceCoverage('http://h.test/mcp', 'https://h.test/mcp')).toMatchObject({ kind: 'mismatch' });
    expect(resourceCoverage('https://h.test/sse', 'https://h.test/mcp')).toMatchObject({ kind: 'mismatch' });
    expect(resourceCoverage('https://h.test/mcp#x', 'https://h.test/mcp')).toMatchObject({ kind: 'mismatch' });
    expect(resourceCoverage('mcp', 'https://h.test/mcp')).toMatchObject({ kind: 'mismatch' });
  });

  it('derives the resource a well-known metadata URL must name (RFC 9728 §3.3)', () => {
    expect(wellKnownResourceIdentifier('https://h.test/.well-known/oauth-protected-resource/mcp')).toBe('https://h.test/mcp');
    expect(wellKnownResourceIdentifier('https://h.test/.well-known/oauth-protected-resource/api/mcp?x=1')).toBe('https://h.test/api/mcp?x=1');
    expect(wellKnownResourceIdentifier('https://h.test/.well-known/oauth-protected-resource')).toBe('https://h.test');
    expect(wellKnownResourceIdentifier('https://h.test/.well-known/oauth-protected-resourcex')).toBeUndefined();
    expect(wellKnownResourceIdentifier('https://h.test/prm')).toBeUndefined();
    expect(wellKnownResourceIdentifier('not a url')).toBeUndefined();
  });

  it('checks the redirect back: error, state, and iss per RFC 9207', () => {
    const server = { issuer: 'https://as.test', issParameterSupported: true };
    expect(checkCallback(new URL('https://gw.test/cb?code=c&state=s&iss=https%3A%2F%2Fas.test'), 's', server)).toEqual({ iss: 'iss matches (RFC 9207)' });
    expect(checkCallback(new URL('https://gw.test/cb?code=c&state=other&iss=https%3A%2F%2Fas.test'), 's', server).problem).toBe('the state in the redirect is not the one sent');
    expect(checkCallback(new URL('https://gw.test/cb?code=c&state=s&iss=https%3A%2F%2Fevil.test'), 's', server).problem).toBe('iss is https://evil.test, not the issuer https://as.test');
    expect(checkCallback(new URL('https://gw.test/cb?code=c&state=s'), 's', server).problem).toBe('no iss in the redirect, though the metadata promises it');
    expect(checkCallback(new URL('https://gw.test/cb?code=c&state=s'), 's', { ...server, issParameterSupported: false })).toEqual({ iss: 'no iss (RFC 9207 not advertised)' });
    expect(checkCallback(new URL('https://gw.test/cb?error=access_denied&error_description=No&state=s'), 's', server).problem).toBe('the server sent error=access_denied (No) instead of a code');
    expect(checkCallback(new URL('https://gw.test/cb?error=invalid_target&state=s'), 's', server, 'https://h.test')).toEqual({
      problem: 'the server sent error=invalid_target instead of a code',
      fix: 'Accept the resource your metadata names (https://h.test) as the resource parameter of authorization requests (RFC 8707 §2), on every origin the server answers on; a server that passes it on to an upstream IdP (an OAuth proxy) must stop forwarding it, or make the IdP accept it.',
      iss: '',
    });
  });

  it('form-encodes client credentials before Basic encoding (RFC 6749 §2.3.1)', () => {
    expect(basicCredentials('client id', 'p:ss/word')).toBe(`Basic ${Buffer.from('client+id:p%3Ass%2Fword').toString('base64')}`);
  });
});

describe('the MCP wire probes', () => {
  const answer = (fields: Partial<RpcAnswer>): RpcAnswer => ({ status: 200, contentType: 'application/json', sessionId: undefined, message: undefined, snippet: '', ...fields });
  const result = (id: number, value: object) => ({ jsonrpc: '2.0', id, result: value });
  const error = (id: number | null, code: number, message: string, data?: unknown) => ({ jsonrpc: '2.0', id, error: { code, message, ...(data === undefined ? {} : { data }) } });

  it('shapes a 2026-07-28 request: the _meta envelope, and the headers mirrored from the body', () => {
    const call = modernRequest(3, 'tools/call', { name: 'whoami', arguments: {} });
    expect(call).toEqual({
      jsonrpc: '2.0',
      id: 3,
      method: 'tools/call',
      params: {
        name: 'whoami',
        arguments: {},
        _meta: {
          'io.modelcontextprotocol/protocolVersion': '2026-07-28',
          'io.modelcontextprotocol/clientInfo': { name: 'mcp-doctor', version: '1.0.0' },
          'io.modelcontextprotocol/clientCapabilities': {},
        },
      },
    });
    expect(modernHeaders(call)).toEqual({ 'MCP-Protocol-Version': '2026-07-28', 'Mcp-Method': 'tools/call', 'Mcp-Name': 'whoami' });
    expect(modernHeaders(modernRequest(1, 'resources/read', { uri: 'file:///a.txt' }))).toMatchObject({ 'Mcp-Name': 'file:///a.txt' });
    expect(modernHeaders(modernRequest(1, 'server/discover'))).toEqual({ 'MCP-Protocol-Version': '2026-07-28', 'Mcp-Method': 'server/discover' });
    expect(initializeRequest(1).params).toMatchObject({ protocolVersion: '2025-11-25', capabilities: {} });
  });

  it('reads SSE events: data lines joined, comments and other fields skipped, CRLF, an unfinished event left out', () => {
    expect(sseDataPayloads('event: message\ndata: {"a":1}\n\n')).toEqual(['{"a":1}']);
    expect(sseDataPayloads(': keep-alive\r\nid: 7\r\ndata:{"a":\r\ndata: 2}\r\n\r\ndata: {"b":3}\n\ndata: {"c"')).toEqual(['{"a":\n2}', '{"b":3}']);
    expect(sseDataPayloads('data: {"a":1}\n')).toEqual([]);
    expect(sseDataPayloads('')).toEqual([]);
  });

  it('finds the response to a request in JSON, a batch or an event stream, and nothing in garbage', () => {
    const mine = result(2, { ok: true });
    expect(findRpcResponse('application/json', JSON.stringify(mine), 2)).toEqual(mine);
    expect(findRpcResponse('application/json; charset=utf-8', JSON.stringify([result(1, {}), mine]), 2)).toEqual(mine);
    const stream = `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: {} })}\n\nevent: message\ndata: ${JSON.stringify(mine)}\n\n`;
    expect(findRpcResponse('text/event-stream', stream, 2)).toEqual(mine);
    expect(findRpcResponse('text/event-stream', stream, 9)).toBeUndefined();
    // An error the server could not tie to a request (id null) answers it too.
    expect(findRpcResponse('application/json', JSON.stringify(error(null, -32700, 'Parse error')), 2)).toMatchObject({ error: { code: -32700 } });
    expect(findRpcResponse('text/html', '<!doctype html><h1>Bad Request</h1>', 2)).toBeUndefined();
    expect(findRpcResponse('application/json', '{"jsonrpc":', 2)).toBeUndefined();
    expect(findRpcResponse('application/json', '{"error":"not_found"}', 2)).toBeUndefined();
    expect(findRpcResponse('', '', 2)).toBeUndefined();
  });

  it('describes any answer in one line', () => {
    expect(describeAnswer(answer({ status: 404, contentType: 'text/plain', snippet: 'Not found' }))).toBe('HTTP 404 (Not found)');
    expect(describeAnswer(answer({ status: 405, snippet: '' }))).toBe('HTTP 405');
    expect(describeAnswer(answer({ status: 200, contentType: 'text/html', snippet: '<html>hello</html>' }))).toBe('HTTP 200, not JSON-RPC (<html>hello</html>)');
    expect(describeAnswer(answer({ status: 200, snippet: '' }))).toBe('HTTP 200, empty body');
    expect(describeAnswer(answer({ status: 400, message: error(1, -32020, 'Header mismatch:\n Mcp-Method') }))).toBe('HTTP 400, JSON-RPC error -32020: Header mismatch: Mcp-Method');
    expect(describeAnswer(answer({ status: 200, message: result(1, {}) }))).toBe('HTTP 200, a JSON-RPC result');
    expect(describeAnswer(answer({ status: 200, contentType: 'text/event-stream', error: 'no answer within 10 s' }))).toBe('HTTP 200, no answer within 10 s');
    expect(describeAnswer(answer({ status: 0, error: 'no answer (fetch failed: connect ECONNREFUSED)' }))).toBe('no answer (fetch failed: connect ECONNREFUSED)');
  });

  it('tells from server/discover whether a server speaks 2026-07-28', () => {
    const discovered = result(1, { resultType: 'complete', supportedVersions: ['2026-07-28'], capabilities: { tools: {} }, _meta: { 'io.modelcontextprotocol/serverInfo': { name: 's', version: '1' } } });
    expect(discoverOutcome(answer({ message: discovered }))).toEqual({ kind: 'modern', supportedVersions: ['2026-07-28'], serverInfo: 's 1' });
    expect(discoverOutcome(answer({ status: 400, message: error(1, -32022, 'Unsupported protocol version', { supported: ['2026-12-01'], requested: '2026-07-28' }) }))).toEqual({
      kind: 'unsupported-version',
      supported: ['2026-12-01'],
    });
    expect(discoverOutcome(answer({ message: result(1, { supportedVersions: ['2027-01-01'] }) }))).toEqual({ kind: 'unsupported-version', supported: ['2027-01-01'] });
    // 2025-era servers: a JSON-RPC error that is not a modern one, an empty 4xx, HTML, a stray result.
    expect(discoverOutcome(answer({ message: error(1, -32601, 'Method not found') }))).toEqual({ kind: 'none', reason: 'HTTP 200, JSON-RPC error -32601: Method not found' });
    expect(discoverOutcome(answer({ status: 400, message: error(null, -32000, 'Bad Request: Server not initialized') }))).toMatchObject({ kind: 'none' });
    expect(discoverOutcome(answer({ status: 405 }))).toEqual({ kind: 'none', reason: 'HTTP 405' });
    expect(discoverOutcome(answer({ status: 200, contentType: 'text/html', snippet: '<html></html>' }))).toEqual({ kind: 'none', reason: 'HTTP 200, not JSON-RPC (<html></html>)' });
    expect(discoverOutcome(answer({ message: result(1, { tools: [] }) }))).toEqual({ kind: 'none', reason: 'HTTP 200, a result without supportedVersions' });
  });

  it('reads what initialize negotiated', () => {
    expect(initializeOutcome(answer({ message: result(1, { protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name: 's', version: '2' } }), sessionId: 'abc' }))).toEqual({
      kind: 'answered',
      protocolVersion: '2025-06-18',
      serverInfo: 's 2',
      sessionId: 'abc',
    });
    expect(initializeOutcome(answer({ message: result(1, { capabilities: {} }) }))).toEqual({ kind: 'none', reason: 'HTTP 200, a result without protocolVersion' });
    expect(initializeOutcome(answer({ status: 400, message: error(1, -32020, 'MCP-Protocol-Version is required') }))).toEqual({ kind: 'none', reason: 'HTTP 400, JSON-RPC error -32020: MCP-Protocol-Version is required' });
  });

  it('names the revisions a server answers, and why the others are missing', () => {
    const modern: DiscoverOutcome = { kind: 'modern', supportedVersions: ['2026-07-28'], serverInfo: undefined };
    const legacy: InitializeOutcome = { kind: 'answered', protocolVersion: '2025-11-25', serverInfo: undefined, sessionId: undefined };
    expect(describeRevisions(modern, legacy)).toBe('2026-07-28 (server/discover), 2025-11-25 (initialize)');
    expect(describeRevisions({ ...modern, supportedVersions: ['2026-07-28', '2026-12-01'] }, { ...legacy, protocolVersion: '2025-06-18' })).toBe(
      '2026-07-28 (server/discover, which also lists 2026-12-01), 2025-06-18 (initialize, asked for 2025-11-25)',
    );
    expect(describeRevisions({ kind: 'none', reason: 'HTTP 404 (Not found)' }, legacy)).toBe('2025-11-25 (initialize); not 2026-07-28: server/discover got HTTP 404 (Not found)');
    expect(describeRevisions({ kind: 'unsupported-version', supported: ['2026-12-01'] }, legacy)).toBe(
      '2025-11-25 (initialize); not 2026-07-28: server/discover refused 2026-07-28 (UnsupportedProtocolVersion, supported: 2026-12-01)',
    );
    expect(describeRevisions(modern, { kind: 'none', reason: 'HTTP 400' })).toBe('2026-07-28 (server/discover); no 2025 revision: initialize got HTTP 400');
    expect(describeRevisions({ kind: 'none', reason: 'HTTP 404' }, { kind: 'none', reason: 'HTTP 404' })).toBe('none: server/discover got HTTP 404; initialize got HTTP 404');
  });

  it('accepts only 400 with HeaderMismatch (-32020) as a header check enforced', () => {
    expect(headerCheckOutcome(answer({ status: 400, message: error(3, -32020, 'Header mismatch') }))).toEqual({ kind: 'enforced' });
    expect(headerCheckOutcome(answer({ status: 400, contentType: 'text/plain', snippet: 'Bad Request' }))).toEqual({ kind: 'refused-otherwise', detail: 'HTTP 400 (Bad Request), not HeaderMismatch (-32020)' });
    expect(headerCheckOutcome(answer({ status: 200, message: error(3, -32602, 'Unknown tool') }))).toEqual({ kind: 'served', detail: 'served (HTTP 200, JSON-RPC error -32602: Unknown tool)' });
    expect(headerCheckOutcome(answer({ status: 500, snippet: 'oops' }))).toEqual({ kind: 'other', detail: 'HTTP 500 (oops)' });
  });

  describe('against a scripted HTTP server', () => {
    let server: Server;
    let base: string;
    beforeAll(async () => {
      server = createServer((req, res) => {
        if (req.url === '/open-stream') {
          // The response, then a stream left open: the probe must stop at the response.
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(`: hello\n\nevent: message\ndata: ${JSON.stringify(result(1, { supportedVersions: ['2026-07-28'] }))}\n\n`);
          return;
        }
        if (req.url === '/html') {
          res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html>\n<title>Welcome</title>\n<h1>Our product</h1>');
          return;
        }
        res.writeHead(404, { 'content-type': 'text/plain', 'mcp-session-id': 'not-really' }).end('Not found');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    it('stops reading an event stream at the response it waits for', async () => {
      const started = Date.now();
      const got = await postRpc(new HttpClient(), `${base}/open-stream`, 'token', modernRequest(1, 'server/discover'));
      expect(discoverOutcome(got)).toMatchObject({ kind: 'modern' });
      expect(Date.now() - started).toBeLessThan(2_000);
    });

    it('reports HTML, a 404 and a refused connection as they are', async () => {
      const html = await postRpc(new HttpClient(), `${base}/html`, 'token', modernRequest(1, 'server/discover'));
      expect(discoverOutcome(html)).toEqual({ kind: 'none', reason: 'HTTP 200, not JSON-RPC (<!doctype html> <title>Welcome</title> <h1>Our product</h1>)' });
      const missing = await postRpc(new HttpClient(), `${base}/nothing`, 'token', initializeRequest(1));
      expect(missing).toMatchObject({ status: 404, sessionId: 'not-really', message: undefined });
      expect(initializeOutcome(missing)).toEqual({ kind: 'none', reason: 'HTTP 404 (Not found)' });
      const refused = await postRpc(new HttpClient(), 'http://127.0.0.1:1/mcp', 'token', initializeRequest(1));
      expect(refused.status).toBe(0);
      expect(describeAnswer(refused)).toMatch(/^no answer \(fetch failed/);
    });
  });
});

describe('the command line', () => {
  it('accepts the doctor subcommand or none, and every option', () => {
    const parsed = parseDoctorArgs(['doctor', 'https://h.test/mcp', '--login', 'alice:pa:ss', '--call', 'notes_add:{"text":"hi"}', '--json', '--verbose', '--skip-auth', '--no-open', '--timeout', '30']);
    expect(parsed).toEqual({
      kind: 'run',
      json: true,
      table: false,
      options: {
        client: undefined,
        requestTimeoutMs: undefined,
        url: 'https://h.test/mcp',
        login: { username: 'alice', password: 'pa:ss' },
        call: { name: 'notes_add', arguments: { text: 'hi' } },
        scope: undefined,
        callbackUrl: undefined,
        skipAuth: true,
        openBrowser: false,
        authTimeoutMs: 30_000,
        verbose: true,
      },
    });
    expect(parseDoctorArgs(['https://h.test/mcp', '--call', 'whoami'])).toMatchObject({ kind: 'run', json: false, options: { call: { name: 'whoami', arguments: {} }, openBrowser: true } });
    expect(parseDoctorArgs(['--help'])).toEqual({ kind: 'help' });
    expect(parseDoctorArgs(['https://h.test/mcp', '--client', 'VS Code', '--request-timeout', '2.5'])).toMatchObject({ table: false, options: { client: 'vscode', requestTimeoutMs: 2_500 } });
    expect(parseDoctorArgs(['https://h.test/mcp', '--client', 'all'])).toMatchObject({ table: true, options: { client: undefined } });
  });

  it('names each usage error', () => {
    const error = (args: string[]) => {
      const parsed = parseDoctorArgs(args);
      return parsed.kind === 'usage-error' ? parsed.message : parsed.kind;
    };
    expect(error([])).toBe('the MCP URL is missing');
    expect(error(['doctor'])).toBe('the MCP URL is missing');
    expect(error(['ftp://h.test'])).toBe('not an http(s) URL: ftp://h.test');
    expect(error(['https://a.test', 'https://b.test'])).toBe('one MCP URL, please (got https://a.test https://b.test)');
    expect(error(['https://h.test', '--login', 'alice'])).toBe('--login takes user:password');
    expect(error(['https://h.test', '--call', 'x:{nope'])).toBe('--call x: the arguments are not JSON');
    expect(error(['https://h.test', '--call', 'x:[1]'])).toBe('--call x: the arguments must be a JSON object');
    expect(error(['https://h.test', '--callback', 'http://gw.test/cb'])).toBe('--callback must be an https URL, as MCP Manager\'s is');
    expect(error(['https://h.test', '--timeout', '0'])).toBe('--timeout takes a number of seconds');
    expect(error(['https://h.test', '--bogus'])).toMatch(/Unknown option '--bogus'/);
  });
});

describe('the checklist', () => {
  it('reports every item once, in catalogue order, unreached ones SKIP with the blocking reason', () => {
    const checklist = new Checklist();
    checklist.fail('resource.metadata', 'none found', 'Serve it.');
    checklist.pass('resource.metadata', 'a later verdict does not replace the first');
    checklist.pass('resource.challenge', '401');
    checklist.block('no protected resource metadata');
    checklist.block('a second reason is ignored');
    const report = checklist.report('https://h.test/mcp', new Date(0), new Date(1_500));
    expect(report.items.map((entry) => entry.id)).toEqual(ITEM_IDS);
    expect(report.items[2]).toMatchObject({ id: 'resource.metadata', status: 'fail', fix: 'Serve it.', level: 'required' });
    expect(report.items.at(-1)).toMatchObject({ status: 'skip', detail: 'no protected resource metadata' });
    expect(report).toMatchObject({ ok: false, durationMs: 1_500, counts: { pass: 1, fail: 1, warn: 0, skip: ITEM_IDS.length - 2 } });
  });

  it('turns a non-pass into fail or warn by the item\'s level', () => {
    const checklist = new Checklist();
    checklist.failOrWarn('tokens.refresh-token', 'absent', 'Issue them.');
    checklist.failOrWarn('tokens.scope', 'absent', 'Return it.');
    const report = checklist.report('https://h.test/mcp', new Date(0), new Date(0));
    expect(report.items.find((entry) => entry.id === 'tokens.refresh-token')?.status).toBe('fail');
    expect(report.items.find((entry) => entry.id === 'tokens.scope')?.status).toBe('warn');
  });
});

describe('URLs from a server: fetched or opened only when https, or http on loopback', () => {
  const HOSTILE = [
    'https://x|calc',
    'javascript:alert(document.cookie)',
    'file:///etc/passwd',
    'http://evil.example/authorize',
    'cmd:/c calc',
    'cursor://anysphere.cursor-mcp/oauth',
    'http://localhost.evil.example/authorize',
    'http://127.0.0.1.nip.io/authorize',
    '//evil.example/authorize',
    '',
  ];

  it('accepts https, and http on localhost, 127.0.0.0/8 and [::1]; refuses the rest, saying why', () => {
    for (const url of ['https://login.example/authorize', 'https://login.example/a|b?c=1&d=^', 'http://localhost:8787/authorize', 'http://127.0.0.1/x', 'http://127.8.9.10:1/x', 'http://[::1]:8080/x', 'HTTP://LOCALHOST/x']) {
      expect(urlProblem(url), url).toBeUndefined();
    }
    expect(urlProblem('https://x|calc')).toBe('is not an absolute URL');
    expect(urlProblem('javascript:alert(1)')).toBe('uses the javascript: scheme');
    expect(urlProblem('file:///etc/passwd')).toBe('uses the file: scheme');
    expect(urlProblem('cmd:/c calc')).toBe('uses the cmd: scheme');
    expect(urlProblem('http://evil.example/authorize')).toBe('uses plain http on a host that is not loopback');
    for (const url of HOSTILE) expect(urlProblem(url), url).toBeDefined();
  });

  /** A spawn that records its calls and starts nothing. */
  function recordingSpawn() {
    const calls: Array<{ command: string; args: readonly string[]; options: Parameters<SpawnLike>[2]; unref: boolean }> = [];
    const spawn: SpawnLike = (command, args, options) => {
      const call = { command, args, options, unref: false };
      calls.push(call);
      return { on: () => undefined, unref: () => void (call.unref = true) };
    };
    return { spawn, calls };
  }

  it.each(['linux', 'darwin', 'win32'] as const)('never starts an opener for a hostile URL (%s)', (platform) => {
    const { spawn, calls } = recordingSpawn();
    for (const url of HOSTILE) {
      const result = openInBrowser(url, { spawn, platform });
      expect(result, url).toMatchObject({ opened: false, refused: expect.stringContaining(url) });
    }
    expect(calls).toEqual([]);
  });

  it.each([
    ['linux', 'xdg-open', []],
    ['darwin', 'open', []],
    ['win32', 'C:\\Windows\\System32\\rundll32.exe', ['url.dll,FileProtocolHandler']],
  ] as const)('opens an https URL on %s with %s, the URL one argv element, without a shell', (platform, command, before) => {
    const { spawn, calls } = recordingSpawn();
    // &, | and ^ are legal in a query and a path, and are exactly what cmd.exe would act on.
    const url = 'https://login.example/authorize|calc?client_id=a&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback&state=x^y';
    expect(openInBrowser(url, { spawn, platform, env: { SystemRoot: 'C:\\Windows' } })).toMatchObject({ opened: true, command });
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ command, args: [...before, url], unref: true });
    expect(calls[0]?.options).toMatchObject({ shell: false, stdio: 'ignore', detached: true });
    expect(calls[0]?.command).not.toMatch(/(^|[\\/])cmd(\.exe)?$/i);
  });

  describe('against a scripted server with hostile metadata', () => {
    let server: Server;
    let base: string;
    const requested: string[] = [];
    let asMetadata: Record<string, unknown> = {};
    let challenge = '';
    let prm: Record<string, unknown> = {};
    beforeAll(async () => {
      server = createServer((req, res) => {
        requested.push(`${req.method} ${req.url}`);
        const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        if (req.url === '/mcp') return void res.writeHead(401, { 'www-authenticate': challenge }).end();
        if (req.url?.startsWith('/.well-known/oauth-protected-resource')) return void json(200, prm);
        if (req.url === '/.well-known/oauth-authorization-server') return void json(200, asMetadata);
        if (req.url === '/register') return void json(201, { client_id: 'c1', token_endpoint_auth_method: 'none' });
        json(404, { error: 'not_found' });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    function context(options: Partial<DoctorContext['options']> = {}): DoctorContext & { said: string[] } {
      const said: string[] = [];
      return { options: { url: `${base}/mcp`, authTimeoutMs: 500, ...options }, http: new HttpClient(), checklist: new Checklist(), facts: initialFacts(), say: (line) => said.push(line), said };
    }

    const item = (ctx: DoctorContext, id: ItemId) => ctx.checklist.report('', new Date(0), new Date(0)).items.find((entry) => entry.id === id);

    it('refuses hostile endpoints in authorization server metadata, and fetches none of them', async () => {
      asMetadata = {
        issuer: base,
        authorization_endpoint: 'javascript:alert(document.cookie)',
        token_endpoint: 'http://evil.example/token',
        registration_endpoint: 'file:///etc/passwd',
        revocation_endpoint: 'cmd:/c calc',
        code_challenge_methods_supported: ['S256'],
      };
      const ctx = context();
      const metadata = await checkServerMetadata(ctx, { issuer: base, metadata: {}, resourceIndicator: `${base}/mcp`, challengeScope: undefined });
      expect(metadata).toBeUndefined();
      expect(item(ctx, 'server.endpoints')).toMatchObject({
        status: 'fail',
        detail:
          'authorization_endpoint "javascript:alert(document.cookie)" uses the javascript: scheme, so it was neither fetched nor opened; token_endpoint "http://evil.example/token" uses plain http on a host that is not loopback, so it was neither fetched nor opened',
        fix: expect.stringContaining('Advertise only https URLs'),
      });
      expect(item(ctx, 'server.registration-endpoint')).toMatchObject({ status: 'fail', detail: expect.stringContaining('registration_endpoint "file:///etc/passwd" uses the file: scheme') });
      expect(item(ctx, 'server.revocation-endpoint')).toMatchObject({ status: 'warn', detail: expect.stringContaining('revocation_endpoint "cmd:/c calc" uses the cmd: scheme') });
      expect(item(ctx, 'registration.confidential')).toMatchObject({ status: 'skip' });
    });

    it('does not fetch a challenge\'s resource_metadata on plain http elsewhere, nor an authorization server there', async () => {
      challenge = 'Bearer resource_metadata="http://evil.example/.well-known/oauth-protected-resource"';
      prm = { resource: `${base}/mcp`, authorization_servers: ['http://evil.example'] };
      const ctx = context();
      requested.length = 0;
      expect(await checkProtectedResource(ctx)).toBeUndefined();
      expect(item(ctx, 'resource.challenge-metadata')).toMatchObject({ status: 'warn', detail: expect.stringContaining('resource_metadata "http://evil.example/.well-known/oauth-protected-resource" uses plain http') });
      // The well-known URLs instead, on the MCP URL's own origin.
      expect(item(ctx, 'resource.metadata')).toMatchObject({ status: 'pass', detail: `${base}/.well-known/oauth-protected-resource/mcp (the path-suffixed well-known URL, as a fallback)` });
      expect(item(ctx, 'resource.authorization-servers')).toMatchObject({ status: 'fail', detail: expect.stringContaining('the authorization server "http://evil.example" uses plain http') });
      expect(requested).toEqual(['POST /mcp', 'GET /.well-known/oauth-protected-resource/mcp']);
    });

    it('never prints or opens a hostile authorization endpoint, even when handed one', async () => {
      const ctx = context({ openBrowser: true });
      const serverMetadata: ServerMetadata = {
        metadata: {},
        issuer: base,
        authorizationEndpoint: 'javascript:alert(document.cookie)//',
        tokenEndpoint: `${base}/token`,
        registrationEndpoint: `${base}/register`,
        revocationEndpoint: undefined,
        confidentialAuthMethod: 'client_secret_basic',
        issParameterSupported: false,
      };
      const resource = { issuer: base, metadata: {}, resourceIndicator: `${base}/mcp`, challengeScope: undefined };
      const authorized = await checkAuthorization(ctx, resource, serverMetadata, { clientId: 'c0', clientSecret: 's', authMethod: 'client_secret_basic', redirectUri: 'https://cb.example/cb' });
      expect(authorized).toBeUndefined();
      expect(item(ctx, 'authorization.redirect')).toMatchObject({ status: 'fail', detail: expect.stringContaining('authorization_endpoint "javascript:alert(document.cookie)//" uses the javascript: scheme') });
      expect(ctx.said.join('\n')).not.toContain('javascript:');
    });
  });
});
