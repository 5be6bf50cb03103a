/**
 * Requests to the token endpoint (code exchange, refresh, revocation) as a registered client,
 * authenticated the way it registered. Kept raw, not through an OAuth library, because the doctor
 * must see every answer as the server gave it, including the ones a library would reject.
 *
 * Also the probe that tells a server that refuses a client's authentication method apart from one
 * that does not know the client yet (a registration still on its way through eventually consistent
 * storage): a refresh_token grant with a made-up refresh token, which consumes nothing. A server
 * that authenticated the client answers about the grant (`invalid_grant`, or `unauthorized_client`
 * when the client may not refresh); one that did not answers `invalid_client` (RFC 6749 §5.2).
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1
 */
import { randomBytes } from 'node:crypto';
import { isJsonObject, type ClientAuthMethod, type DoctorContext } from './context.ts';
import { errorMessage, type JsonResponse } from './http.ts';

export interface RegisteredClient {
  clientId: string;
  clientSecret: string | undefined;
  authMethod: ClientAuthMethod;
  redirectUri: string;
  /**
   * With client_secret_basic, also send `client_id` in the form body. Not standard (RFC 6749
   * §2.3.1 needs nothing but the Authorization header, and some servers refuse the pair as two
   * authentication methods), but the MCP Python SDK's token endpoint requires it: used only once a
   * server has been seen to need it.
   */
  clientIdInBody?: boolean;
}

/** RFC 6749 §2.3.1: id and secret are form-encoded before they are joined and base64-encoded. */
export function basicCredentials(clientId: string, clientSecret: string): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString('base64')}`;
}

/** How a client's credentials were presented, for the report: `client_secret_basic with client_id also in the body`. */
export function describePresentation(client: Pick<RegisteredClient, 'authMethod' | 'clientIdInBody'>): string {
  if (client.authMethod === 'client_secret_basic' && client.clientIdInBody) return 'client_secret_basic with client_id also in the body';
  return client.authMethod;
}

/** A form POST to `endpoint` as `client`; `endpoint` is the token or the revocation endpoint. */
export function clientRequest(ctx: DoctorContext, endpoint: string, client: RegisteredClient, params: Record<string, string | undefined>): Promise<JsonResponse> {
  const body = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined) body.set(key, value);
  const headers: Record<string, string> = { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' };
  if (client.authMethod === 'client_secret_basic' && client.clientSecret !== undefined) {
    headers.Authorization = basicCredentials(client.clientId, client.clientSecret);
    if (client.clientIdInBody) body.set('client_id', client.clientId);
  } else {
    // Post and none both name the client in the body; only one authentication method may be used.
    body.set('client_id', client.clientId);
    if (client.authMethod === 'client_secret_post' && client.clientSecret !== undefined) body.set('client_secret', client.clientSecret);
  }
  return ctx.http.request(endpoint, { method: 'POST', headers, body: body.toString() });
}

export type AuthenticationProbe =
  /** The server authenticated the client: it answered with another OAuth error, about the made-up grant. */
  | { kind: 'authenticated'; answer: string }
  /** `invalid_client`, or a 401 without an OAuth error: the client was not authenticated. */
  | { kind: 'refused'; answer: string }
  /** No usable answer (unreachable, timed out, no OAuth error to go by). */
  | { kind: 'unknown'; answer: string };

/** Whether the token endpoint authenticates `client` as presented; consumes nothing (see the module comment). */
export async function probeClientAuthentication(ctx: DoctorContext, tokenEndpoint: string, client: RegisteredClient): Promise<AuthenticationProbe> {
  const madeUp = `mcp-doctor-probe-${randomBytes(12).toString('hex')}`;
  try {
    const { status, json, text } = await clientRequest(ctx, tokenEndpoint, client, { grant_type: 'refresh_token', refresh_token: madeUp });
    const error = isJsonObject(json) && typeof json.error === 'string' ? json.error : undefined;
    const description = isJsonObject(json) && typeof json.error_description === 'string' ? `: ${json.error_description}` : '';
    const answer = error ? `HTTP ${status} ${error}${description}` : `HTTP ${status}${text ? ` (${text.trim().slice(0, 80)})` : ''}`;
    // The error code decides, not the status: some servers answer 401 to invalid_grant too (FastMCP does).
    if (error === 'invalid_client') return { kind: 'refused', answer };
    if (error !== undefined) return { kind: 'authenticated', answer };
    if (status === 401) return { kind: 'refused', answer };
    return { kind: 'unknown', answer };
  } catch (error) {
    return { kind: 'unknown', answer: errorMessage(error) };
  }
}
