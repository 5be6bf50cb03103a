/**
 * The doctor against servers that misbehave at the HTTP level, scripted on loopback: one that
 * accepts connections and never answers (a time-out, named as one, with its deadline), one that is
 * not there (unreachable), HTML where JSON belongs, metadata of the wrong shapes, redirects to where
 * the doctor must not go (and a loop), and a token endpoint that echoes the code it was sent. None
 * may crash the doctor; each must be reported as what it is; no secret may reach the report.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDoctor, type DoctorOptions, type DoctorRun } from '../../cli/doctor/run.ts';
import { cleanUp } from './support/clean-up.ts';
import { doctorAsUser, item } from './support/peers/doctor.ts';

function doctor(options: Partial<DoctorOptions> & { url: string }): Promise<DoctorRun> {
  return runDoctor({ log: () => undefined, ...options });
}


/** Authorization server metadata for a scripted server at `base`, with these token endpoint auth methods. */
function serverMetadata(base: string, authMethods: string[]): Record<string, unknown> {
  return {
    issuer: base,
    authorization_endpoint: `${base}/authorize`,
    token_endpoint: `${base}/token`,
    registration_endpoint: `${base}/register`,
    code_challenge_methods_supported: ['S256'],
    response_types_supported: ['code'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_methods_supported: authMethods,
  };
}
describe('a server that accepts connections and never answers', () => {
  let silent: TcpServer;
  const sockets = new Set<Socket>();
  let url: string;

  beforeAll(async () => {
    silent = createTcpServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/mcp`;
  });

  afterAll(() =>
    cleanUp(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }),
  );

  it('is reported as a time-out, with the deadline, not as unreachable', async () => {
    const started = Date.now();
    const report = await doctor({ url, requestTimeoutMs: 1_000 });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(item(report, 'resource.challenge')).toMatchObject({
      status: 'fail',
      detail: `timed out: no answer within 1 s (POST ${url})`,
      fix: expect.stringMatching(/^Make the MCP endpoint answer promptly/),
    });
    expect(item(report, 'server.metadata')).toMatchObject({ status: 'skip', detail: 'the MCP URL did not answer within 1 s (resource.challenge)' });
    expect(report.facts).toEqual({ timeouts: [{ request: `POST ${url}`, deadlineMs: 1_000 }], stoppedBecause: 'the MCP URL did not answer within 1 s (resource.challenge)', stoppedAt: 'resource.challenge' });
    expect(report.verdict).toMatchObject({ level: 'cannot-connect', summary: `the server did not answer in time: no answer within 1 s to POST ${url}`, item: 'resource.challenge' });
  });

  it('and a port where nothing listens is unreachable, not a time-out', async () => {
    const closed = createTcpServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const report = await doctor({ url: `http://127.0.0.1:${port}/mcp`, requestTimeoutMs: 1_000 });
    expect(item(report, 'resource.challenge')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/^could not reach http:\/\/127\.0\.0\.1:\d+\/mcp: fetch failed: connect ECONNREFUSED/) });
    expect(report.facts).toEqual({ timeouts: [], stoppedBecause: 'the MCP URL could not be reached', stoppedAt: 'resource.challenge' });
  });
});

/** A loopback server whose every answer a test sets: `routes['GET /path']` or `routes['POST /path']`. */
type Route = (request: IncomingMessage, body: string, response: ServerResponse) => void;

describe('a scripted server with broken metadata, redirects and a leaky token endpoint', () => {
  let server: Server;
  let base: string;
  const routes = new Map<string, Route>();
  const requested: string[] = [];

  beforeAll(async () => {
    server = createHttpServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        const path = new URL(request.url ?? '/', base).pathname;
        requested.push(`${request.method} ${path}`);
        const route = routes.get(`${request.method} ${path}`);
        if (route) route(request, body, response);
        else response.writeHead(404, { 'content-type': 'text/plain' }).end('Not found');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() =>
    cleanUp(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }),
  );

  const json = (status: number, value: unknown, headers: Record<string, string> = {}): Route => (_request, _body, response) =>
    void response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(value));
  const challenge = (): Route => (_request, _body, response) =>
    void response.writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"` }).end();

  function script(entries: Record<string, Route>): void {
    routes.clear();
    requested.length = 0;
    for (const [key, route] of Object.entries(entries)) routes.set(key, route);
  }

  it('HTML where the metadata should be: reported as such, the run stops cleanly', async () => {
    const html: Route = (_request, _body, response) => void response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Sign in</title><h1>Welcome</h1>');
    script({ 'POST /mcp': challenge(), 'GET /.well-known/oauth-protected-resource/mcp': html, 'GET /.well-known/oauth-protected-resource': html });
    const report = await doctor({ url: `${base}/mcp` });
    expect(item(report, 'resource.metadata')).toMatchObject({
      status: 'fail',
      detail: `none found (${base}/.well-known/oauth-protected-resource/mcp: HTTP 200, but not JSON (text/html: <!doctype html><title>Sign in</title><h1>Welcome</h1>); ${base}/.well-known/oauth-protected-resource: HTTP 200, but not JSON (text/html: <!doctype html><title>Sign in</title><h1>Welcome</h1>))`,
    });
    expect(report.facts).toMatchObject({ oauth: false, withoutOAuth: 'static-header', stoppedBecause: 'no protected resource metadata', stoppedAt: 'resource.metadata' });
    // MCP Manager can still be given a static header token by hand; a client without that mode cannot connect.
    expect(report.verdict).toMatchObject({ level: 'other-mode', summary: 'the server refuses requests without credentials and offers no OAuth discovery: it connects with a static header token someone configures (not checked)' });
    expect(report.verdicts.find((verdict) => verdict.client === 'claude')?.level).toBe('cannot-connect');
  });

  it('metadata of the wrong shapes: every field judged, nothing thrown', async () => {
    script({
      'POST /mcp': challenge(),
      'GET /.well-known/oauth-protected-resource/mcp': json(200, { resource: `${base}/mcp`, authorization_servers: [42, null, base] }),
      'GET /.well-known/oauth-authorization-server': json(200, {
        issuer: base,
        authorization_endpoint: ['not', 'a', 'string'],
        token_endpoint: 17,
        registration_endpoint: { url: `${base}/register` },
        code_challenge_methods_supported: 'S256',
        grant_types_supported: [null, 'authorization_code'],
        token_endpoint_auth_methods_supported: {},
      }),
    });
    const report = await doctor({ url: `${base}/mcp` });
    expect(item(report, 'resource.authorization-servers')).toMatchObject({ status: 'pass', detail: base });
    expect(item(report, 'server.endpoints')).toMatchObject({ status: 'fail', detail: 'missing: authorization_endpoint, token_endpoint' });
    expect(item(report, 'server.registration-endpoint').status).toBe('fail');
    expect(item(report, 'server.pkce')).toMatchObject({ status: 'fail', detail: 'code_challenge_methods_supported is absent' });
    expect(item(report, 'server.grant-types')).toMatchObject({ status: 'fail', detail: 'only authorization_code' });
    expect(item(report, 'registration.confidential')).toMatchObject({ status: 'skip', detail: 'the authorization server lacks its endpoints' });
    expect(report.facts).toMatchObject({ oauth: true, refreshAdvertised: false, stoppedBecause: 'the authorization server lacks its endpoints', stoppedAt: 'server.endpoints' });
  });

  it('redirects: followed on loopback, refused to plain http elsewhere (never requested), and a loop cut off', async () => {
    const redirect = (location: string): Route => (_request, _body, response) => void response.writeHead(302, { location }).end();
    const metadata = json(200, { resource: `${base}/mcp`, authorization_servers: [base] });
    script({
      'POST /mcp': challenge(),
      // The challenge's URL redirects within the server: followed, as clients do.
      'GET /.well-known/oauth-protected-resource/mcp': redirect('/metadata/prm.json'),
      'GET /metadata/prm.json': metadata,
      // The authorization server's metadata is sent elsewhere, over plain http: not followed.
      'GET /.well-known/oauth-authorization-server': redirect('http://as.example/.well-known/oauth-authorization-server'),
      // Its OpenID fallback loops.
      'GET /.well-known/openid-configuration': redirect('/.well-known/openid-configuration?again'),
    });
    const report = await doctor({ url: `${base}/mcp` });
    expect(item(report, 'resource.metadata')).toMatchObject({ status: 'pass', detail: `${base}/.well-known/oauth-protected-resource/mcp (the URL the challenge names)` });
    expect(requested).toContain('GET /metadata/prm.json');
    expect(item(report, 'server.metadata')).toMatchObject({
      status: 'fail',
      detail: `none found for issuer ${base} (${base}/.well-known/oauth-authorization-server: HTTP 302 to "http://as.example/.well-known/oauth-authorization-server", which uses plain http on a host that is not loopback: not followed; ${base}/.well-known/openid-configuration: more than 5 redirects, the last to ${base}/.well-known/openid-configuration?again: not followed)`,
    });
    expect(requested.filter((line) => line === 'GET /.well-known/openid-configuration')).toHaveLength(6);
  });

  it('a token endpoint that reads the client only from the body: Basic named as refused at once, not retried; client_secret_post found to work', async () => {
    // As the MCP Python SDK's ClientAuthenticator does (see doctor-peers-fastmcp.peers.ts for the real one).
    const clients = new Map<string, { method: string; secret: string }>();
    let tokenRequests = 0;
    script({
      // Unauthenticated: challenged; with a token: not served (this test is about the token endpoint).
      'POST /mcp': (request, body, response) => (request.headers.authorization ? void response.writeHead(404).end() : challenge()(request, body, response)),
      'GET /.well-known/oauth-protected-resource/mcp': json(200, { resource: `${base}/mcp`, authorization_servers: [base] }),
      'GET /.well-known/oauth-authorization-server': json(200, serverMetadata(base, ['client_secret_post', 'client_secret_basic'])),
      'POST /register': (request, body, response) => {
        const asked = JSON.parse(body) as { token_endpoint_auth_method: string };
        const id = `client-${clients.size}`;
        const secret = `secret-${id}-0123456789abcdef`;
        clients.set(id, { method: asked.token_endpoint_auth_method, secret });
        json(201, { ...asked, client_id: id, ...(asked.token_endpoint_auth_method === 'none' ? {} : { client_secret: secret }) })(request, body, response);
      },
      'GET /authorize': (request, _body, response) => {
        const query = new URL(request.url ?? '/', base).searchParams;
        response.writeHead(302, { location: `${query.get('redirect_uri')}?code=code-for-${query.get('client_id')}&state=${query.get('state')}` }).end();
      },
      'POST /token': (request, body, response) => {
        tokenRequests++;
        const form = new URLSearchParams(body);
        const refuse = (description: string) => json(401, { error: 'invalid_client', error_description: description })(request, body, response);
        const id = form.get('client_id');
        if (!id) return refuse('Missing client_id');
        const client = clients.get(id);
        if (!client) return refuse('Invalid client_id');
        const basic = request.headers.authorization?.startsWith('Basic ') ? Buffer.from(request.headers.authorization.slice(6), 'base64').toString().split(':')[1] : undefined;
        const presented = client.method === 'client_secret_basic' ? basic : client.method === 'client_secret_post' ? form.get('client_secret') : client.secret;
        if (presented !== client.secret) return refuse('Invalid client_secret');
        if (form.get('grant_type') !== 'authorization_code') return json(400, { error: 'invalid_grant', error_description: 'refresh token does not exist' })(request, body, response);
        json(200, { access_token: `access-${id}-0123456789`, token_type: 'Bearer', expires_in: 3600, refresh_token: `refresh-${id}-0123456789` })(request, body, response);
      },
    });
    const started = Date.now();
    const { report, signInError } = await doctorAsUser(`${base}/mcp`);
    expect(signInError).toBeUndefined();
    // No backoff: the diagnosis tells a refused method from a registration not yet visible at once.
    expect(Date.now() - started).toBeLessThan(2_500);
    expect(item(report, 'authorization.client-auth')).toMatchObject({
      status: 'fail',
      detail:
        'registered client_secret_basic, which the server advertises, but HTTP Basic alone got HTTP 401 invalid_client: Missing client_id every time, while the same client authenticated with client_secret_basic with client_id also in the body; a client registered for client_secret_post works',
    });
    expect(item(report, 'authorization.token')).toMatchObject({ status: 'pass', detail: expect.not.stringContaining('retried') });
    expect(report.facts).toMatchObject({ refusedClientAuthMethod: 'client_secret_basic', basicNeedsClientIdInBody: true, workingClientAuthMethod: 'client_secret_post' });
    expect(report.facts.registrationRace).toBeUndefined();
    // The unknown-client check, the exchange as registered, three probes, the exchange that works, the
    // probe of a client_secret_post client, then the lifecycle's refresh.
    expect(tokenRequests).toBeLessThanOrEqual(9);
  });

  it('a token endpoint that echoes the code: the report shows no secret, even without --verbose', async () => {
    let issuedCode = '';
    script({
      'POST /mcp': challenge(),
      'GET /.well-known/oauth-protected-resource/mcp': json(200, { resource: `${base}/mcp`, authorization_servers: [base] }),
      'GET /.well-known/oauth-authorization-server': json(200, serverMetadata(base, ['client_secret_post'])),
      'POST /register': (_request, body, response) => {
        const asked = JSON.parse(body) as { token_endpoint_auth_method: string; redirect_uris: string[] };
        const secret = asked.token_endpoint_auth_method === 'none' ? {} : { client_secret: 'scripted-client-secret-0123456789' };
        json(201, { client_id: `client-${asked.token_endpoint_auth_method}`, ...secret, ...asked })(_request, body, response);
      },
      'GET /authorize': (request, _body, response) => {
        const query = new URL(request.url ?? '/', base).searchParams;
        issuedCode = `scripted-code-${Math.random().toString(36).slice(2)}`;
        response.writeHead(302, { location: `${query.get('redirect_uri')}?code=${issuedCode}&state=${query.get('state')}` }).end();
      },
      'POST /token': (_request, body, response) => {
        const form = new URLSearchParams(body);
        const code = form.get('code') ?? '';
        json(400, { error: 'invalid_request', error_description: `code ${code} is not valid for client ${form.get('client_id')} (secret ${form.get('client_secret')})` })(_request, body, response);
      },
    });
    const { report, signInError } = await doctorAsUser(`${base}/mcp`);
    expect(signInError).toBeUndefined();
    expect(issuedCode).not.toBe('');
    expect(item(report, 'authorization.token')).toMatchObject({
      status: 'fail',
      detail: 'HTTP 400 invalid_request: code [redacted] is not valid for client client-client_secret_post (secret [redacted])',
    });
    const printed = JSON.stringify(report);
    expect(printed).not.toContain(issuedCode);
    expect(printed).not.toContain('scripted-client-secret-0123456789');
  });
});
