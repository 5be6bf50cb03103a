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

export const ORIGIN = 'http://localhost:8787';
export const CALLBACK = 'https://gateway.example/oauth/callback';

/**
 * A request to the Worker. Redirects are returned, not followed: a followed redirect would be sent
 * back into this same Worker whatever its host, and tests assert on the Location anyway.
 */
export function worker(path: string, init?: RequestInit): Promise<Response> {
  return exports.default.fetch(new Request(new URL(path, ORIGIN), { redirect: 'manual', ...init }));
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

/** A minimal Streamable HTTP MCP client over the Worker, enough to assert on the wire. */
export class McpWire {
  sessionId: string | undefined;
  private nextId = 1;
  constructor(
    private token: string,
    private path = '/mcp',
  ) {}

  async post(body: unknown, headers: Record<string, string> = {}): Promise<Response> {
    return worker(this.path, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
        Authorization: `Bearer ${this.token}`,
        ...(this.sessionId ? { 'Mcp-Session-Id': this.sessionId } : {}),
        ...headers,
      },
      body: JSON.stringify(body),
    });
  }

  async initialize(): Promise<Response> {
    const response = await this.post({
      jsonrpc: '2.0',
      id: this.nextId++,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'wire-test', version: '1.0.0' } },
    });
    this.sessionId = response.headers.get('mcp-session-id') ?? undefined;
    await response.text();
    await this.post({ jsonrpc: '2.0', method: 'notifications/initialized' }).then((r) => r.text());
    return response;
  }

  /** Sends a request and returns the JSON-RPC message answering it, read from the SSE stream. */
  async request(method: string, params: unknown = {}): Promise<{ status: number; message: JsonRpcResponse | undefined; response: Response }> {
    const id = this.nextId++;
    const response = await this.post({ jsonrpc: '2.0', id, method, params });
    const text = await response.text();
    return { status: response.status, message: parseRpcResponse(text, id), response };
  }

  callTool(name: string, args: Record<string, unknown> = {}) {
    return this.request('tools/call', { name, arguments: args });
  }
}

export interface JsonRpcResponse {
  jsonrpc: '2.0';
  id: number | string | null;
  result?: { content?: { type: string; text: string }[]; structuredContent?: Record<string, unknown>; isError?: boolean; tools?: { name: string }[] } & Record<string, unknown>;
  error?: { code: number; message: string };
}

/** Finds the response with `id` in an SSE stream or a plain JSON body. */
export function parseRpcResponse(body: string, id: number): JsonRpcResponse | undefined {
  const candidates: unknown[] = [];
  if (body.trimStart().startsWith('{')) candidates.push(JSON.parse(body));
  for (const line of body.split('\n')) if (line.startsWith('data: ')) candidates.push(JSON.parse(line.slice(6)));
  return candidates.find((message): message is JsonRpcResponse => typeof message === 'object' && message !== null && (message as JsonRpcResponse).id === id)
    ?? candidates.find((message): message is JsonRpcResponse => typeof message === 'object' && message !== null && 'error' in message);
}
