/**
 * Step 3: dynamic client registration (RFC 7591), first exactly as MCP Manager does it — a
 * confidential client with a fixed HTTPS callback, server to server — then as the many clients that
 * register public (`none`) do. Also: does the token endpoint tell an unknown client `invalid_client`,
 * the answer that makes a gateway re-register instead of failing for good?
 * @see https://www.rfc-editor.org/rfc/rfc7591
 */
import { randomBytes } from 'node:crypto';
import { CLIENT_NAME, DEFAULT_CALLBACK_URL, describeHttpError, isJsonObject, stringField, type DoctorContext } from './context.ts';
import { errorMessage } from './http.ts';
import type { ServerMetadata } from './server-metadata.ts';
import { clientRequest, type RegisteredClient } from './token-endpoint.ts';

type AuthMethod = RegisteredClient['authMethod'];

export interface RegistrationAttempt {
  client?: RegisteredClient;
  /** Why it was refused, when it was. */
  refusal?: string;
  /** What the server answered, for the checks on its content. */
  response?: Record<string, unknown>;
}

/** POSTs one registration and reads the answer; never throws. */
export async function register(ctx: DoctorContext, endpoint: string, authMethod: AuthMethod, redirectUri: string): Promise<RegistrationAttempt> {
  try {
    const { status, json, text } = await ctx.http.request(endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({
        client_name: CLIENT_NAME,
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: authMethod,
      }),
    });
    if ((status !== 201 && status !== 200) || !isJsonObject(json)) return { refusal: describeHttpError(status, json, text) };
    const clientId = stringField(json, 'client_id');
    if (!clientId) return { refusal: `HTTP ${status} without a client_id`, response: json };
    const clientSecret = stringField(json, 'client_secret');
    ctx.http.addSecret(clientSecret);
    // RFC 7591 §3.2.1: the server may change what was asked; the client must use what it answered.
    const answered = stringField(json, 'token_endpoint_auth_method');
    const method: AuthMethod = answered === 'client_secret_post' || answered === 'client_secret_basic' || answered === 'none' ? answered : authMethod;
    return { client: { clientId, clientSecret, authMethod: method, redirectUri }, response: json };
  } catch (error) {
    return { refusal: errorMessage(error) };
  }
}

export async function checkRegistration(ctx: DoctorContext, server: ServerMetadata): Promise<RegisteredClient | undefined> {
  const { checklist } = ctx;
  const endpoint = server.registrationEndpoint;
  const callbackUrl = ctx.options.callbackUrl ?? DEFAULT_CALLBACK_URL;
  await checkUnknownClient(ctx, server);
  if (!endpoint) {
    checklist.block(typeof server.metadata.registration_endpoint !== 'string' || server.metadata.registration_endpoint === '' ? 'no registration_endpoint (server.registration-endpoint)' : 'the registration_endpoint is refused (server.registration-endpoint)');
    return undefined;
  }

  const confidential = await register(ctx, endpoint, server.confidentialAuthMethod, callbackUrl);
  let registered: RegisteredClient | undefined;
  if (!confidential.client) {
    checklist.fail(
      'registration.confidential',
      `refused: ${confidential.refusal}`,
      'Accept confidential clients (client_secret_basic or client_secret_post) with HTTPS redirect URIs at the registration endpoint; MCP Manager registers as one.',
    );
  } else if (!confidential.client.clientSecret || confidential.client.authMethod === 'none') {
    checklist.fail(
      'registration.confidential',
      `registered ${confidential.client.clientId} but as a public client (no client_secret)`,
      'Issue a client_secret when a client registers with client_secret_basic or client_secret_post; MCP Manager authenticates at the token endpoint with it.',
    );
  } else {
    registered = confidential.client;
    const expiry = confidential.response?.client_secret_expires_at;
    const expires = typeof expiry === 'number' && expiry > 0 ? `, secret expires ${new Date(expiry * 1000).toISOString().slice(0, 10)}` : '';
    checklist.pass('registration.confidential', `client ${registered.clientId}, ${registered.authMethod}, redirect ${callbackUrl}${expires}`);
  }

  const publicClient = await register(ctx, endpoint, 'none', callbackUrl);
  if (!publicClient.client) {
    checklist.warn(
      'registration.public',
      `refused: ${publicClient.refusal}`,
      'Accept public clients (token_endpoint_auth_method none, PKCE only) if Claude, ChatGPT, VS Code or Cursor should connect too; MCP Manager does not need it.',
    );
  } else if (publicClient.client.clientSecret !== undefined || publicClient.client.authMethod !== 'none') {
    checklist.warn(
      'registration.public',
      `registered, but answered ${publicClient.client.clientSecret !== undefined ? 'with a client_secret' : `token_endpoint_auth_method ${publicClient.client.authMethod}`}`,
      'Register a client that asks for token_endpoint_auth_method none as public: no client_secret in the answer, since some clients then switch to secret authentication and break.',
    );
  } else {
    checklist.pass('registration.public', `client ${publicClient.client.clientId}, no secret`);
  }

  if (!registered) checklist.block('no confidential client could register (registration.confidential)');
  return registered;
}

/**
 * A client the server does not know must get 401 `invalid_client` (RFC 6749 §5.2): that is what
 * tells a gateway whose registration was lost (storage in one process's memory, an expiry) to
 * register again, instead of showing its users "Client Not Registered".
 */
async function checkUnknownClient(ctx: DoctorContext, server: ServerMetadata): Promise<void> {
  const unknown: RegisteredClient = {
    clientId: `mcp-doctor-unknown-${randomBytes(8).toString('hex')}`,
    clientSecret: randomBytes(16).toString('hex'),
    authMethod: server.confidentialAuthMethod,
    redirectUri: DEFAULT_CALLBACK_URL,
  };
  ctx.http.addSecret(unknown.clientSecret);
  try {
    const { status, json, text } = await clientRequest(ctx, server.tokenEndpoint, unknown, { grant_type: 'refresh_token', refresh_token: randomBytes(16).toString('hex') });
    const error = isJsonObject(json) ? json.error : undefined;
    if (status === 401 && error === 'invalid_client') {
      ctx.checklist.pass('registration.unknown-client', '401 invalid_client');
    } else {
      ctx.checklist.warn(
        'registration.unknown-client',
        `${describeHttpError(status, json, text)} for a client that does not exist`,
        'Answer 401 invalid_client for an unknown client at the token endpoint (RFC 6749 §5.2), so a gateway that lost its registration registers again.',
      );
    }
  } catch (error) {
    ctx.checklist.warn('registration.unknown-client', `the token endpoint could not be reached: ${errorMessage(error)}`, 'Make the token endpoint reachable from where MCP Manager runs.');
  }
}
