/**
 * An upstream IdP that hangs, fails or answers garbage at each step, and one that rotates its
 * signing key. The IdP is the real dev IdP (a second instance, started by global-setup.ts for this
 * file alone), told through its loopback control endpoints to hang on one path (the connection is
 * accepted and never answered), to answer garbage there, or to rotate its key. The Worker's deadline
 * is injected short (INJECTED_UPSTREAM_OPTIONS, which no deployer can set), and each test gets a
 * discovery cache of its own, so discovery and keys are fetched afresh.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { FaultMode } from '../../dev/idp/fault-types.ts';
import { createGithubAdapter } from '../../src/upstream/github';
import { MAX_UPSTREAM_BODY_BYTES } from '../../src/upstream/http';
import { createOidcAdapter } from '../../src/upstream/oidc';
import { UpstreamError } from '../../src/upstream/types';
import { DevIdp } from './dev-idp';
import { authorizeUrl, CALLBACK, cookieFrom, ORIGIN, pkcePair, registerClient, tokenRequest, worker, workerWithEnv, type RegisteredClient } from './helpers';

/** The injected deadline of each upstream request (production: 10 s). */
const DEADLINE_MS = 500;
const STATE = 'client-state-faults';

/** The dev IdP's endpoints, by the step of a sign-in that uses them. */
const PATHS = { discovery: '/.well-known/openid-configuration', token: '/token', jwks: '/jwks', userinfo: '/me' } as const;
type Step = keyof typeof PATHS;

/** The faulty IdP with a short deadline and a cold discovery cache; OIDC_SCOPES=openid when the ID token must lack the email (userinfo is then read). */
function faultyIdp(step?: Step): DevIdp {
  return DevIdp.faulty({ timeoutMs: DEADLINE_MS, discoveryCache: new Map() }, step === 'userinfo' ? { OIDC_SCOPES: 'openid' } : {});
}

let current: DevIdp | undefined;
afterEach(async () => {
  await current?.clearFaults();
  current = undefined;
  vi.restoreAllMocks();
});

function use(idp: DevIdp): DevIdp {
  current = idp;
  return idp;
}

function unescapeHtml(value: string): string {
  return value.replace(/&(amp|lt|gt|quot|#39|#x27);/g, (_, entity: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", '#x27': "'" })[entity] ?? '');
}

/** The `name=value` of the cookie named `prefix…` among a response's Set-Cookie headers. */
function cookieNamed(response: Response, prefix: string): string {
  const cookie = response.headers.getSetCookie().find((header) => header.startsWith(prefix))?.split(';')[0];
  if (!cookie) throw new Error(`no ${prefix} cookie on a ${response.status} response`);
  return cookie;
}

interface Attempt {
  client: RegisteredClient;
  verifier: string;
}

/** Consent in this browser for `client`, approved with every scope offered: the response to the approval. */
async function consentAndApprove(idp: DevIdp, attempt: Attempt): Promise<Response> {
  const challenge = await challengeOf(attempt.verifier);
  const page = await worker(authorizeUrl(attempt.client, challenge, { state: STATE }));
  expect(page.status).toBe(200);
  const html = await page.text();
  const hidden = [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map(([, name = '', value = '']): [string, string] => [name, unescapeHtml(value)]);
  const form = new URLSearchParams([...hidden, ['decision', 'approve'], ...[...html.matchAll(/<input type="checkbox" name="scope" value="([^"]+)"/g)].map(([, scope = '']): [string, string] => ['scope', scope])]);
  return workerWithEnv(idp.env, '/authorize', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: cookieFrom(page) }, body: form.toString() });
}

async function challengeOf(verifier: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  return btoa(String.fromCharCode(...digest)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

async function newAttempt(): Promise<Attempt> {
  return { client: await registerClient(), verifier: (await pkcePair()).verifier };
}

/** Back at /callback from the IdP with `path`, carrying the upstream cookie `toIdp` set. */
function callback(idp: DevIdp, path: string, toIdp: Response): Promise<Response> {
  return workerWithEnv(idp.env, path, { headers: { Cookie: cookieNamed(toIdp, '__Host-oauth-upstream-') } });
}

/**
 * A whole sign-in through the Worker and the IdP, with `fault` set at the IdP just before the step it
 * names (discovery before the approval; the others after the user signed in at the IdP): the Worker's
 * last response, and how long it took.
 */
async function signIn(idp: DevIdp, attempt: Attempt, fault?: { step: Step; mode: FaultMode }): Promise<{ response: Response; ms: number }> {
  if (fault?.step === 'discovery') await idp.injectFault({ path: PATHS.discovery, mode: fault.mode });
  let started = Date.now();
  const approved = await consentAndApprove(idp, attempt);
  if (approved.status !== 302 || !approved.headers.get('Location')?.startsWith(idp.issuer)) return { response: approved, ms: Date.now() - started };
  const back = await idp.signIn(approved.headers.get('Location') ?? '');
  if (fault && fault.step !== 'discovery') await idp.injectFault({ path: PATHS[fault.step], mode: fault.mode });
  started = Date.now();
  const response = await callback(idp, back, approved);
  return { response, ms: Date.now() - started };
}

/** The parameters of a redirect back to the client (and where it points). */
function clientRedirect(response: Response): { target: string; params: Record<string, string> } {
  expect(response.status).toBe(302);
  const location = new URL(response.headers.get('Location') ?? '');
  return { target: `${location.origin}${location.pathname}`, params: Object.fromEntries(location.searchParams) };
}

/** The page saying the IdP did not answer: its text, the way back to the client and the link to try again. */
async function outagePage(response: Response): Promise<{ text: string; back: URL; retry: string }> {
  expect(response.status).toBe(503);
  expect(response.headers.get('Location')).toBeNull();
  expect(response.headers.get('Content-Type')).toMatch(/^text\/html/);
  expect(response.headers.get('X-Frame-Options')).toBe('DENY');
  expect(response.headers.get('Cache-Control')).toBe('no-store');
  const html = await response.text();
  const back = new URL(unescapeHtml(/<a href="([^"]+)" rel="noreferrer" id="back">/.exec(html)?.[1] ?? 'about:blank'));
  const retry = unescapeHtml(/<a href="([^"]+)" id="retry">/.exec(html)?.[1] ?? '');
  return { text: html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' '), back, retry };
}

function count(urls: string[], url: string): number {
  return urls.filter((fetched) => fetched === url).length;
}

describe('an IdP that hangs', () => {
  it('at discovery, when sign-in starts: a page saying the IdP did not answer, within the deadline, with the way back carrying temporarily_unavailable', async () => {
    const idp = use(faultyIdp());
    const attempt = await newAttempt();
    const { response, ms } = await signIn(idp, attempt, { step: 'discovery', mode: 'hang' });
    expect(ms).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
    expect(ms).toBeLessThan(DEADLINE_MS * 6);
    const { text, back, retry } = await outagePage(response);
    expect(text).toContain('Your identity provider did not answer');
    expect(text).toContain(`The identity provider at ${new URL(idp.issuer).host} did not answer in time.`);
    expect(text).toContain(`Return to ${new URL(CALLBACK).host}`);
    expect(`${back.origin}${back.pathname}`).toBe(CALLBACK);
    expect(Object.fromEntries(back.searchParams)).toMatchObject({ error: 'temporarily_unavailable', state: STATE, iss: ORIGIN });
    expect(back.searchParams.has('code')).toBe(false);
    expect(retry).toMatch(/^\/authorize\?/);
  });

  it('at discovery again at /callback (the cached document expired meanwhile): the same page, within the deadline', async () => {
    const discoveryCache = new Map();
    const idp = use(DevIdp.faulty({ timeoutMs: DEADLINE_MS, discoveryCache }));
    const approved = await consentAndApprove(idp, await newAttempt());
    const back = await idp.signIn(approved.headers.get('Location') ?? '');
    discoveryCache.clear();
    await idp.injectFault({ path: PATHS.discovery, mode: 'hang' });
    const started = Date.now();
    const response = await callback(idp, back, approved);
    expect(Date.now() - started).toBeLessThan(DEADLINE_MS * 6);
    expect(Object.fromEntries((await outagePage(response)).back.searchParams)).toMatchObject({ error: 'temporarily_unavailable', state: STATE, iss: ORIGIN });
    expect(count(idp.fetched, `${idp.issuer}${PATHS.discovery}`)).toBe(2);
  });

  it('at the token endpoint, at /callback: the same page, and trying again from it signs the user in', async () => {
    const idp = use(faultyIdp());
    const attempt = await newAttempt();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const approved = await consentAndApprove(idp, attempt);
    const back = await idp.signIn(approved.headers.get('Location') ?? '');
    await idp.injectFault({ path: PATHS.token, mode: 'hang' });
    const started = Date.now();
    const response = await callback(idp, back, approved);
    expect(Date.now() - started).toBeLessThan(DEADLINE_MS * 6);
    const page = await outagePage(response);
    expect(Object.fromEntries(page.back.searchParams)).toMatchObject({ error: 'temporarily_unavailable', state: STATE, iss: ORIGIN });
    expect(warn).toHaveBeenCalledWith(expect.stringContaining(`"detail":"POST ${idp.issuer}/token: no answer within ${DEADLINE_MS} ms"`));

    // The IdP is back. "Try again" is the same request at /authorize; the approval is remembered in
    // this browser, so it goes straight to the IdP, and the client's own verifier redeems the code.
    await idp.clearFaults();
    const retry = new URL(page.retry, ORIGIN);
    expect(Object.fromEntries(retry.searchParams)).toMatchObject({ client_id: attempt.client.client_id, redirect_uri: CALLBACK, state: STATE, code_challenge: await challengeOf(attempt.verifier), code_challenge_method: 'S256' });
    const again = await workerWithEnv(idp.env, page.retry, { headers: { Cookie: cookieNamed(approved, '__Host-oauth-approvals') } });
    expect(again.status).toBe(302);
    expect(again.headers.get('Location')).toMatch(new RegExp(`^${idp.issuer}/auth\\?`));
    const done = await callback(idp, await idp.signIn(again.headers.get('Location') ?? ''), again);
    const { params } = clientRedirect(done);
    expect(params).toMatchObject({ state: STATE, iss: ORIGIN, code: expect.any(String) });
    const tokens = await tokenRequest(attempt.client, { grant_type: 'authorization_code', code: params.code ?? '', redirect_uri: CALLBACK, code_verifier: attempt.verifier });
    expect(tokens.status).toBe(200);
  });
});

/**
 * Every step of an OIDC sign-in, with every kind of broken answer there. No answer, or the IdP failing
 * (5xx), is an outage: the page, `temporarily_unavailable`. An answer that makes no sense (HTML or
 * broken JSON where JSON belongs) will not get better by trying again: `server_error` to the client.
 * Never a 500 from the Worker.
 */
describe('an IdP that fails or answers garbage, at each step', () => {
  const outage: FaultMode[] = ['hang', 'http-500', 'oauth-500'];
  const garbage: FaultMode[] = ['html', 'invalid-json'];
  const steps = Object.keys(PATHS) as Step[];

  it.each(steps)('signs in when nothing is wrong at %s (the step is really taken)', async (step) => {
    const idp = use(faultyIdp(step));
    const { response } = await signIn(idp, await newAttempt());
    expect(clientRedirect(response).params).toMatchObject({ code: expect.any(String), state: STATE });
    expect(idp.fetched).toContain(`${idp.issuer}${PATHS[step]}`);
  });

  it.each(steps.flatMap((step) => outage.map((mode) => [step, mode] as const)))('%s answering %s: the page, temporarily_unavailable', async (step, mode) => {
    const idp = use(faultyIdp(step));
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const { response, ms } = await signIn(idp, await newAttempt(), { step, mode });
    expect(idp.fetched).toContain(`${idp.issuer}${PATHS[step]}`);
    expect(ms).toBeLessThan(DEADLINE_MS * 6);
    const { back } = await outagePage(response);
    expect(Object.fromEntries(back.searchParams)).toMatchObject({ error: 'temporarily_unavailable', state: STATE, iss: ORIGIN });
  });

  it.each(steps.flatMap((step) => garbage.map((mode) => [step, mode] as const)))('%s answering %s: server_error to the client', async (step, mode) => {
    const idp = use(faultyIdp(step));
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const { response } = await signIn(idp, await newAttempt(), { step, mode });
    expect(idp.fetched).toContain(`${idp.issuer}${PATHS[step]}`);
    const { target, params } = clientRedirect(response);
    expect(target).toBe(CALLBACK);
    expect(params).toMatchObject({ error: 'server_error', state: STATE, iss: ORIGIN });
    expect(params).not.toHaveProperty('code');
  });

  it.each([
    ['temporarily_unavailable', 'page'],
    ['server_error', 'page'],
    ['invalid_scope', 'server_error'],
    ['access_denied', 'access_denied'],
  ] as const)('the IdP sending the user back with error=%s: %s', async (error, outcome) => {
    const idp = use(faultyIdp());
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const approved = await consentAndApprove(idp, await newAttempt());
    const response = await callback(idp, idp.refuse(approved.headers.get('Location') ?? '', error), approved);
    if (outcome === 'page') {
      expect(Object.fromEntries((await outagePage(response)).back.searchParams)).toMatchObject({ error: 'temporarily_unavailable', state: STATE });
    } else {
      expect(clientRedirect(response).params).toMatchObject({ error: outcome, state: STATE, iss: ORIGIN });
    }
  });

  it('reads no more than 1 MiB of an answer', async () => {
    const issuer = `https://idp.example/huge-${crypto.randomUUID()}`;
    const fetchImpl = (async () => new Response('x'.repeat(MAX_UPSTREAM_BODY_BYTES + 1), { headers: { 'Content-Type': 'application/json' } })) as typeof fetch;
    const adapter = createOidcAdapter({ kind: 'oidc', issuer, clientId: 'client', clientSecret: 'secret', scopes: ['openid'] }, fetchImpl, { discoveryCache: new Map() });
    await expect(adapter.authorizationUrl(await adapter.prepare(), 'state', `${ORIGIN}/callback`)).rejects.toMatchObject({ reason: 'invalid_response', detail: expect.stringContaining('a body over 1048576 bytes') });
  });
});

describe('an IdP that rotated its signing key', () => {
  // Before the fix: the second sign-in failed with server_error ("no applicable keys found"), since
  // oauth4webapi fetches a cached key set again only when it is 60 s old.
  it('signs the next user in right away: the key set is fetched again, once, and kept', async () => {
    const idp = use(faultyIdp());
    const jwks = `${idp.issuer}${PATHS.jwks}`;
    const first = await signIn(idp, await newAttempt());
    expect(clientRedirect(first.response).params.code).toEqual(expect.any(String));
    expect(count(idp.fetched, jwks)).toBe(1);

    const kid = await idp.rotateKeys();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const second = await signIn(idp, await newAttempt());
    expect(clientRedirect(second.response).params).toMatchObject({ code: expect.any(String), state: STATE });
    expect(count(idp.fetched, jwks)).toBe(2);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('"event":"upstream_jwks_refetch"'));
    expect(warn).toHaveBeenCalledWith(expect.stringContaining(`"kid":"${kid}"`));

    // The fresh key set is the cached one now.
    const third = await signIn(idp, await newAttempt());
    expect(clientRedirect(third.response).params.code).toEqual(expect.any(String));
    expect(count(idp.fetched, jwks)).toBe(2);
  });

  it('fetches the key set again only once when even the fresh set lacks the key, then refuses the ID token', async () => {
    const issuer = `https://idp.example/rotating-${crypto.randomUUID()}`;
    const signing = (await crypto.subtle.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
    const other = (await crypto.subtle.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
    const published = { ...((await crypto.subtle.exportKey('jwk', other.publicKey)) as JsonWebKey), kid: 'published', alg: 'RS256', use: 'sig' };
    const nonce = 'the-nonce';
    const now = Math.floor(Date.now() / 1000);
    const idToken = await signJwt(signing.privateKey, { alg: 'RS256', kid: 'unpublished', typ: 'JWT' }, { iss: issuer, aud: 'client', sub: 'someone', iat: now, exp: now + 300, nonce });
    const seen: string[] = [];
    const fetchImpl = (async (input: RequestInfo | URL) => {
      const url = input instanceof Request ? input.url : String(input);
      seen.push(url);
      if (url === `${issuer}/.well-known/openid-configuration`) return Response.json({ issuer, authorization_endpoint: `${issuer}/authorize`, token_endpoint: `${issuer}/token`, jwks_uri: `${issuer}/jwks` });
      if (url === `${issuer}/token`) return Response.json({ access_token: 'at', token_type: 'Bearer', id_token: idToken });
      if (url === `${issuer}/jwks`) return Response.json({ keys: [published] });
      return new Response('not found', { status: 404 });
    }) as typeof fetch;
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const adapter = createOidcAdapter({ kind: 'oidc', issuer, clientId: 'client', clientSecret: 'secret', scopes: ['openid'] }, fetchImpl, { discoveryCache: new Map() });
    const finishing = adapter.finish(new URL('https://mcp.example/callback?code=c&state=s'), 's', { codeVerifier: 'v'.repeat(43), nonce }, 'https://mcp.example/callback');
    await expect(finishing).rejects.toBeInstanceOf(UpstreamError);
    await expect(finishing).rejects.toMatchObject({ reason: 'invalid_response', detail: expect.stringContaining('no applicable keys found') });
    expect(count(seen, `${issuer}/jwks`)).toBe(2);
    expect(warn.mock.calls.filter(([line]) => String(line).includes('upstream_jwks_refetch'))).toHaveLength(1);
  });
});

async function signJwt(key: CryptoKey, header: Record<string, unknown>, payload: Record<string, unknown>): Promise<string> {
  const encode = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const input = `${encode(new TextEncoder().encode(JSON.stringify(header)))}.${encode(new TextEncoder().encode(JSON.stringify(payload)))}`;
  const signature = new Uint8Array(await crypto.subtle.sign('RSASSA-PKCS1-v1_5', key, new TextEncoder().encode(input)));
  return `${input}.${encode(signature)}`;
}

/**
 * GitHub has no discovery or keys, but the same deadline on its token endpoint and every API call.
 * The hanging or failing server is the faulty dev IdP, standing in for github.com and its API.
 */
describe('GitHub that hangs or fails', () => {
  const callbackUrl = new URL('https://mcp.example/callback?code=the-code&state=the-state');

  function github(idp: DevIdp, tokenScripted: boolean, api?: (url: string) => Response | undefined) {
    const config = { kind: 'github', clientId: 'client', clientSecret: 'secret', webUrl: idp.issuer, apiUrl: `${idp.issuer}/api`, extraScopes: [] as string[] } as const;
    // With the token endpoint scripted, sign-in gets as far as the API, which the faulty IdP serves
    // (or `api`, where it answers).
    const fetchImpl = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = input instanceof Request ? input.url : String(input);
      if (tokenScripted && url === `${idp.issuer}/login/oauth/access_token`) return Response.json({ access_token: 'gho_token', token_type: 'bearer', scope: '' });
      return api?.(url) ?? fetch(input, init);
    }) as typeof fetch;
    return createGithubAdapter(config, { needOrgs: false, timeoutMs: DEADLINE_MS }, fetchImpl).finish(callbackUrl, 'the-state', { codeVerifier: 'v'.repeat(43) }, 'https://mcp.example/callback');
  }

  /** The token endpoint, or both API calls of a sign-in (made together: either may fail first). */
  const TOKEN = ['/login/oauth/access_token'];
  const API = ['/api/user', '/api/user/emails'];

  it.each([
    ['the token endpoint', TOKEN, false],
    ['the API', API, true],
  ] as const)('%s %j hanging: upstream_unavailable within the deadline', async (_label, paths, tokenScripted) => {
    const idp = use(DevIdp.faulty());
    for (const path of paths) await idp.injectFault({ path, mode: 'hang' });
    const started = Date.now();
    await expect(github(idp, tokenScripted)).rejects.toMatchObject({ reason: 'upstream_unavailable', userMessage: 'GitHub did not answer in time.' });
    expect(Date.now() - started).toBeLessThan(DEADLINE_MS * 6);
  });

  it.each([
    ['the token endpoint', TOKEN, 'http-500', false, 'upstream_unavailable'],
    ['the token endpoint', TOKEN, 'html', false, 'invalid_response'],
    ['the token endpoint', TOKEN, 'invalid-json', false, 'invalid_response'],
    ['the API', API, 'http-500', true, 'upstream_unavailable'],
    ['the API', API, 'html', true, 'invalid_response'],
    ['the API', API, 'invalid-json', true, 'invalid_response'],
  ] as const)('%s %j answering %s: %s', async (_label, paths, mode, tokenScripted, reason) => {
    const idp = use(DevIdp.faulty());
    for (const path of paths) await idp.injectFault({ path, mode });
    await expect(github(idp, tokenScripted)).rejects.toMatchObject({ reason });
  });

  // GitHub's documented rate-limit answers ("Rate limits for the REST API"): a 403 with
  // x-ratelimit-remaining: 0 (primary) or with retry-after (secondary). Waiting helps, so an outage;
  // a 403 without either (a refusal) is the IdP's error, server_error for the client.
  it.each([
    ['x-ratelimit-remaining: 0', 'upstream_unavailable', { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1900000000' }],
    ['retry-after', 'upstream_unavailable', { 'retry-after': '60' }],
    ['neither (a refusal)', 'upstream_error', { 'x-ratelimit-remaining': '4999' }],
  ] as const)('the API answering 403 with %s: %s', async (_label, reason, headers) => {
    const idp = use(DevIdp.faulty());
    const limited = () => Response.json({ message: 'API rate limit exceeded' }, { status: 403, headers });
    await expect(github(idp, true, (url) => (url.startsWith(`${idp.issuer}/api/`) ? limited() : undefined))).rejects.toMatchObject({ reason });
  });
});
