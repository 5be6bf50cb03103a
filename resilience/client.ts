/**
 * The client side of the suite: an MCP client connecting the way a gateway does it (DCR, the
 * authorization with consent and the dev IdP's login automated over HTTP, code exchange), and tool
 * calls timed and checked.
 */
import type * as oauth from 'oauth4webapi';
import { httpLogin } from '../cli/lib/http-login.ts';
import { exchangeCode, registerClient, startAuthorization, type Discovery, type RegisteredClient } from '../cli/lib/oauth-client.ts';
import { McpWire, type ProtocolRevision } from '../test/support/mcp-wire.ts';

/** A gateway's kind of callback: HTTPS, never fetched (the authorization stops at it). */
export const APP_CALLBACK = 'https://mcp-client.resilience.invalid/oauth/callback';

export const USERS = [
  { login: 'alice', password: 'alice', email: 'alice@example.com' },
  { login: 'bob', password: 'bob', email: 'bob@example.com' },
] as const;
export type User = (typeof USERS)[number];

/** Every request of the suite's clients gives up after this long, so nothing waits forever. */
export const REQUEST_TIMEOUT_MS = 30_000;

export function timedFetch(request: Request): Promise<Response> {
  return fetch(request, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
}

export function register(discovery: Discovery, name: string, confidential = true): Promise<RegisteredClient> {
  return registerClient(discovery.server, { client_name: name, redirect_uris: [APP_CALLBACK], token_endpoint_auth_method: confidential ? 'client_secret_basic' : 'none' });
}

/** Authorization (consent and IdP login over HTTP) and code exchange: the client's tokens. */
export async function signIn(discovery: Discovery, registered: RegisteredClient, user: User): Promise<oauth.TokenEndpointResponse> {
  const start = await startAuthorization(discovery.server, registered.client, { redirectUri: APP_CALLBACK, resource: discovery.resourceMetadata.resource });
  const callback = await httpLogin(start.url.href, { login: user.login, password: user.password, redirectUri: APP_CALLBACK });
  return exchangeCode(discovery.server, registered, start, callback, discovery.resourceMetadata.resource);
}

/** An MCP client on `mcpUrl` with `token`: 2025-11-25 (initialize first, as MCP Manager) or 2026-07-28 (no handshake). */
export async function mcpClient(mcpUrl: string, token: string, protocol: ProtocolRevision): Promise<McpWire> {
  const wire = new McpWire(mcpUrl, token, timedFetch, protocol);
  if (!wire.modern) {
    const response = await wire.initialize();
    if (response.status !== 200) throw new Error(`initialize: HTTP ${response.status}`);
  }
  return wire;
}

export interface CallOutcome {
  ok: boolean;
  ms: number;
  /** Why it failed: HTTP status, JSON-RPC error, tool error, network error. */
  problem?: string;
  structured?: Record<string, unknown>;
}

/** One tool call, timed; ok only for HTTP 200 with a non-error result carrying structured content. */
export async function callTool(wire: McpWire, name: string, args: Record<string, unknown> = {}): Promise<CallOutcome> {
  const began = performance.now();
  try {
    const { status, message } = await wire.callTool(name, args);
    const ms = performance.now() - began;
    if (status !== 200) return { ok: false, ms, problem: `HTTP ${status}${message?.error ? ` ${message.error.code} ${message.error.message}` : ''}` };
    if (message?.error) return { ok: false, ms, problem: `JSON-RPC ${message.error.code} ${message.error.message}` };
    const result = message?.result;
    if (!result || result.isError || !result.structuredContent) return { ok: false, ms, problem: `tool error: ${result?.content?.[0]?.text ?? 'no result'}` };
    return { ok: true, ms, structured: result.structuredContent };
  } catch (error) {
    return { ok: false, ms: performance.now() - began, problem: errorText(error) };
  }
}

export function errorText(error: unknown): string {
  if (error instanceof DOMException && error.name === 'TimeoutError') return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  // oauth4webapi's "unexpected HTTP status code" carries the response.
  if (cause instanceof Response) return `HTTP ${cause.status}${cause.url ? ` from ${new URL(cause.url).pathname}` : ''}`;
  const message = error instanceof Error ? error.message : String(error);
  return cause?.code ? `${message} (${cause.code})` : cause?.message ? `${message} (${cause.message})` : message;
}

export interface Note {
  id: string;
  text: string;
}

/** Most pages one reading of the notes follows (a user holds at most 1,000 notes, 100 a page). */
const MAX_PAGES = 20;

/** All of the user's notes, by id: notes_list, then its nextCursor until the last page. */
export async function readNotes(wire: McpWire): Promise<Map<string, string>> {
  const notes = new Map<string, string>();
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const listed = await callTool(wire, 'notes_list', cursor === undefined ? {} : { cursor });
    if (!listed.ok) throw new Error(`notes_list: ${listed.problem}`);
    for (const note of (listed.structured?.notes ?? []) as Note[]) notes.set(note.id, note.text);
    const next = listed.structured?.nextCursor;
    if (typeof next !== 'string') return notes;
    cursor = next;
  }
  throw new Error(`notes_list: more than ${MAX_PAGES} pages`);
}

/** A GET /authorize for `clientId` as a browser would send it: true if the consent page is shown. */
export async function authorizeShowsConsent(authorizationEndpoint: string, clientId: string): Promise<{ ok: boolean; status: number; text: string }> {
  const url = new URL(authorizationEndpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: APP_CALLBACK,
    state: crypto.randomUUID(),
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  }).toString();
  const response = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const body = await response.text();
  return { ok: response.status === 200 && body.includes('name="handle"'), status: response.status, text: body };
}
