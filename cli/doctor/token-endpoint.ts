/**
 * Requests to the token endpoint (code exchange, refresh, revocation) as a registered client,
 * authenticated the way it registered. Kept raw, not through an OAuth library, because the doctor
 * must see every answer as the server gave it, including the ones a library would reject.
 */
import type { DoctorContext } from './context.ts';
import type { JsonResponse } from './http.ts';

export interface RegisteredClient {
  clientId: string;
  clientSecret: string | undefined;
  authMethod: 'client_secret_basic' | 'client_secret_post' | 'none';
  redirectUri: string;
}

/** RFC 6749 §2.3.1: id and secret are form-encoded before they are joined and base64-encoded. */
export function basicCredentials(clientId: string, clientSecret: string): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString('base64')}`;
}

/** A form POST to `endpoint` as `client`; `endpoint` is the token or the revocation endpoint. */
export function clientRequest(ctx: DoctorContext, endpoint: string, client: RegisteredClient, params: Record<string, string | undefined>): Promise<JsonResponse> {
  const body = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined) body.set(key, value);
  const headers: Record<string, string> = { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' };
  if (client.authMethod === 'client_secret_basic' && client.clientSecret !== undefined) {
    headers.Authorization = basicCredentials(client.clientId, client.clientSecret);
  } else {
    // Post and none both name the client in the body; only one authentication method may be used.
    body.set('client_id', client.clientId);
    if (client.authMethod === 'client_secret_post' && client.clientSecret !== undefined) body.set('client_secret', client.clientSecret);
  }
  return ctx.http.request(endpoint, { method: 'POST', headers, body: body.toString() });
}
