/**
 * Test helpers that run inside workerd. Requests go through the real Worker (`exports.default.fetch`);
 * tokens are minted by the real provider through its helper API, standing in only for the browser
 * steps (consent and upstream sign-in) that the end-to-end suite drives for real.
 */
import { getOAuthApi } from '@cloudflare/workers-oauth-provider';
import { createExecutionContext } from 'cloudflare:test';
import { env, exports } from 'cloudflare:workers';
import type { GrantProps } from '../../src/auth/props';
import { loadConfig } from '../../src/config';
import app from '../../src/index';
import { providerOptions } from '../../src/provider';
import { McpWire as SharedMcpWire, type ProtocolRevision } from '../support/mcp-wire';

export const ORIGIN = 'http://localhost:8787';
export const CALLBACK = 'https://gateway.example/oauth/callback';

/**
 * A request to the Worker. Redirects are returned, not followed: a followed redirect would be sent
 * back into this same Worker whatever its host, and tests assert on the Location anyway.
 */
export function worker(path: string, init?: RequestInit): Promise<Response> {
  return exports.default.fetch(new Request(new URL(path, ORIGIN), { redirect: 'manual', ...init }));
}

/** A `fetch` into the Worker, for clients that take one (test/support's wire clients). */
export function workerFetch(request: Request): Promise<Response> {
  return exports.default.fetch(new Request<unknown, IncomingRequestCfProperties>(request));
}

/**
 * The Worker's own fetch handler, called with `variant` as its environment: for a broken setup or a
 * different upstream, which the one environment of `worker()` cannot show. Build `variant` from `env`.
 */
export async function workerWithEnv(variant: Env, path: string, init?: RequestInit): Promise<Response> {
  return app.fetch(new Request<unknown, IncomingRequestCfProperties>(new Request(new URL(path, ORIGIN), init)), variant, createExecutionContext());
}

/** The `name=value` part of a response's Set-Cookie, as a browser would send it back in `Cookie`. */
export function cookieFrom(response: Response): string {
  const cookie = response.headers.get('set-cookie')?.split(';')[0];
  if (!cookie) throw new Error(`no Set-Cookie on a ${response.status} response`);
  return cookie;
}

/** Every cookie a response sets and does not expire, as a browser sends them back. */
export function liveCookies(response: Response): string {
  return response.headers
    .getSetCookie()
    .filter((cookie) => !/max-age=0\b/i.test(cookie))
    .map((cookie) => cookie.split(';')[0])
    .join('; ');
}

export interface RegisteredClient {
  client_id: string;
  client_secret?: string;
  redirect_uris: string[];
  token_endpoint_auth_method: string;
}

export async function registerClient(metadata: Record<string, unknown> = {}): Promise<RegisteredClient> {
  const response = await worker('/register', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ client_name: 'Test gateway', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'client_secret_basic', ...metadata }),
  });
  if (response.status !== 201) throw new Error(`registration failed: ${response.status} ${await response.text()}`);
  return response.json();
}

/** A client pre-registered through the admin API (ADMIN_TOKEN is set in the test env): one whose redirect URIs an administrator entered. */
export async function registerTrustedClient(redirectUris: string[] = [CALLBACK]): Promise<RegisteredClient> {
  const response = await worker('/admin/clients', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${String(Reflect.get(env, 'ADMIN_TOKEN'))}` },
    body: JSON.stringify({ client_name: 'Pre-registered gateway', redirect_uris: redirectUris }),
  });
  if (response.status !== 201) throw new Error(`pre-registration failed: ${response.status} ${await response.text()}`);
  return response.json();
}

export function basicAuth(client: RegisteredClient): string {
  return `Basic ${btoa(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret ?? '')}`)}`;
}

export async function pkcePair(): Promise<{ verifier: string; challenge: string }> {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return { verifier, challenge: base64url(new Uint8Array(digest)) };
}

export function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

export function authorizeUrl(client: RegisteredClient, challenge: string, extra: Record<string, string> = {}): string {
  const url = new URL('/authorize', ORIGIN);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: client.redirect_uris[0] ?? CALLBACK,
    state: 'state-123',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...extra,
  }).toString();
  return url.href;
}

export const ALICE: GrantProps = { userId: 'oidc-alice', upstream: 'oidc:localhost:8788', subject: 'alice', email: 'alice@example.com', name: 'Alice Example' };
export const BOB: GrantProps = { userId: 'oidc-bob', upstream: 'oidc:localhost:8788', subject: 'bob', email: 'bob@example.com', name: 'Bob Example' };

/**
 * An authorization code for `user`, as /callback would produce after consent and upstream sign-in:
 * the same provider helpers, called with a request the provider parsed itself.
 */
export async function authorizationCode(client: RegisteredClient, user: GrantProps, scope: string[], challenge: string): Promise<string> {
  const oauth = getOAuthApi(providerOptions(loadConfig(env), ORIGIN), env);
  const request = await oauth.parseAuthRequest(new Request(authorizeUrl(client, challenge, { scope: scope.join(' ') })));
  const { redirectTo } = await oauth.completeAuthorization({ request, userId: user.userId, metadata: {}, scope, props: user });
  const code = new URL(redirectTo).searchParams.get('code');
  if (!code) throw new Error(`no code in ${redirectTo}`);
  return code;
}

export interface TokenResponse {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
  resource?: string;
}

export function tokenRequest(client: RegisteredClient, params: Record<string, string>): Promise<Response> {
  return worker('/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basicAuth(client) },
    body: new URLSearchParams(params).toString(),
  });
}

/** Registers a client and runs the code exchange for `user`: a ready token set. */
export async function tokensFor(user: GrantProps, scope: string[] = ['profile', 'notes:read', 'notes:write']): Promise<TokenResponse & { client: RegisteredClient }> {
  const client = await registerClient();
  const { verifier, challenge } = await pkcePair();
  const code = await authorizationCode(client, user, scope, challenge);
  const response = await tokenRequest(client, { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier });
  if (response.status !== 200) throw new Error(`token exchange failed: ${response.status} ${await response.text()}`);
  return { ...(await response.json<TokenResponse>()), client };
}

/**
 * The shared wire-level MCP client (test/support/mcp-wire.ts), talking to the Worker in this isolate:
 * speaking `protocol`, and to a Worker running with `env` when given (a variant of the test env).
 */
export class McpWire extends SharedMcpWire {
  constructor(token: string, path = '/mcp', options: { protocol?: ProtocolRevision; env?: Env } = {}) {
    const { env: variant } = options;
    const fetcher = variant
      ? (request: Request) => app.fetch(new Request<unknown, IncomingRequestCfProperties>(request), variant, createExecutionContext())
      : workerFetch;
    super(new URL(path, ORIGIN).href, token, fetcher, options.protocol);
  }
}

export { MODERN_PROTOCOL_VERSION, parseRpcResponse, type JsonRpcResponse, type ProtocolRevision } from '../support/mcp-wire';
