/**
 * Step 3: dynamic client registration (RFC 7591), first exactly as MCP Manager does it — a
 * confidential client with a fixed HTTPS callback, server to server — then as the many clients that
 * register public (`none`) do. Also: does the token endpoint tell an unknown client `invalid_client`,
 * the answer that makes a gateway re-register instead of failing for good?
 * @see https://www.rfc-editor.org/rfc/rfc7591
 */
import { randomBytes } from 'node:crypto';
import { CLIENT_NAME, DEFAULT_CALLBACK_URL, describeHttpError, isJsonObject, stringArrayField, stringField, type DoctorContext } from './context.ts';
import { errorMessage } from './http.ts';
import { noteRefreshAdvertised, type ServerMetadata } from './server-metadata.ts';
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

/** The clients step 3 could register: the confidential one (MCP Manager's kind) and the public one. */
export interface RegisteredClients {
  confidential: RegisteredClient | undefined;
  public: RegisteredClient | undefined;
}

/**
 * Registers a confidential client, then a public one, and reports both. Both are attempted whatever
 * the first gave: a server that refuses confidential clients may still serve public ones, and the
 * run goes on with whichever registered (run.ts).
 */
export async function checkRegistration(ctx: DoctorContext, server: ServerMetadata): Promise<RegisteredClients> {
  const { checklist, facts } = ctx;
  const endpoint = server.registrationEndpoint;
  const callbackUrl = ctx.options.callbackUrl ?? DEFAULT_CALLBACK_URL;
  await checkUnknownClient(ctx, server);
  if (!endpoint) {
    facts.confidentialRegistration = 'unavailable';
    facts.publicRegistration = 'unavailable';
    checklist.block(typeof server.metadata.registration_endpoint !== 'string' || server.metadata.registration_endpoint === '' ? 'no registration_endpoint (server.registration-endpoint)' : 'the registration_endpoint is refused (server.registration-endpoint)', 'server.registration-endpoint');
    return { confidential: undefined, public: undefined };
  }

  const confidential = await register(ctx, endpoint, server.confidentialAuthMethod, callbackUrl);
  let registered: RegisteredClient | undefined;
  if (!confidential.client) {
    facts.confidentialRegistration = 'refused';
    checklist.fail(
      'registration.confidential',
      `refused: ${confidential.refusal}`,
      'Accept confidential clients (client_secret_basic or client_secret_post) with HTTPS redirect URIs at the registration endpoint; MCP Manager registers as one.',
    );
  } else if (!confidential.client.clientSecret || confidential.client.authMethod === 'none') {
    facts.confidentialRegistration = 'no-secret';
    checklist.fail(
      'registration.confidential',
      `registered ${confidential.client.clientId} but as a public client (no client_secret${confidential.client.authMethod === 'none' ? ', token_endpoint_auth_method none' : ''}), though ${server.confidentialAuthMethod} was asked for`,
      'Issue a client_secret when a client registers with client_secret_basic or client_secret_post, and list the method in token_endpoint_auth_methods_supported; MCP Manager authenticates at the token endpoint with it.',
    );
  } else {
    facts.confidentialRegistration = 'ok';
    registered = confidential.client;
    noteRegisteredGrants(ctx, confidential.response);
    const expiry = confidential.response?.client_secret_expires_at;
    const expires = typeof expiry === 'number' && expiry > 0 ? `, secret expires ${new Date(expiry * 1000).toISOString().slice(0, 10)}` : '';
    checklist.pass('registration.confidential', `client ${registered.clientId}, ${registered.authMethod}, redirect ${callbackUrl}${expires}`);
  }

  const publicAttempt = await register(ctx, endpoint, 'none', callbackUrl);
  let publicClient: RegisteredClient | undefined;
  if (!publicAttempt.client) {
    facts.publicRegistration = 'refused';
    checklist.warn(
      'registration.public',
      `refused: ${publicAttempt.refusal}`,
      'Accept public clients (token_endpoint_auth_method none, PKCE only) if Claude, ChatGPT, VS Code or Cursor should connect too; MCP Manager does not need it.',
    );
  } else if (publicAttempt.client.clientSecret !== undefined || publicAttempt.client.authMethod !== 'none') {
    facts.publicRegistration = 'secret-issued';
    checklist.warn(
      'registration.public',
      `registered, but answered ${publicAttempt.client.clientSecret !== undefined ? 'with a client_secret' : `token_endpoint_auth_method ${publicAttempt.client.authMethod}`}`,
      'Register a client that asks for token_endpoint_auth_method none as public: no client_secret in the answer, since some clients then switch to secret authentication and break.',
    );
  } else {
    facts.publicRegistration = 'ok';
    publicClient = publicAttempt.client;
    if (!registered) noteRegisteredGrants(ctx, publicAttempt.response);
    checklist.pass('registration.public', `client ${publicClient.clientId}, no secret`);
  }

  if (!registered && !publicClient) checklist.block('no client could register (registration.confidential, registration.public)', 'registration.confidential');
  return { confidential: registered, public: publicClient };
}

/** RFC 7591 §3.2.1: the registration answer names the grants the client may use; refresh_token there is a promise too. */
function noteRegisteredGrants(ctx: DoctorContext, response: Record<string, unknown> | undefined): void {
  const grants = response ? stringArrayField(response, 'grant_types') : undefined;
  if (grants?.includes('refresh_token')) noteRefreshAdvertised(ctx, 'registration');
}

/**
 * A client the server does not know must get `invalid_client` (RFC 6749 §5.2): that is what tells
 * a gateway whose registration was lost (storage in one process's memory, an expiry) to register
 * again, instead of showing its users "Client Not Registered". The status depends on how the client
 * authenticated: after HTTP Basic (the Authorization header) it MUST be 401 with a WWW-Authenticate
 * challenge; after client_secret_post, 400 is as correct as 401 ("MAY return 401").
 */
async function checkUnknownClient(ctx: DoctorContext, server: ServerMetadata): Promise<void> {
  const unknown: RegisteredClient = {
    clientId: `mcp-doctor-unknown-${randomBytes(8).toString('hex')}`,
    clientSecret: randomBytes(16).toString('hex'),
    authMethod: server.confidentialAuthMethod,
    redirectUri: DEFAULT_CALLBACK_URL,
  };
  ctx.http.addSecret(unknown.clientSecret);
  const basic = unknown.authMethod === 'client_secret_basic';
  const REGISTER_AGAIN = 'so a gateway that lost its registration registers again';
  try {
    const { status, json, text } = await clientRequest(ctx, server.tokenEndpoint, unknown, { grant_type: 'refresh_token', refresh_token: randomBytes(16).toString('hex') });
    const error = isJsonObject(json) ? json.error : undefined;
    if (error === 'invalid_client' && status === 401) {
      ctx.checklist.pass('registration.unknown-client', `401 invalid_client${basic ? '' : ' (client_secret_post)'}`);
    } else if (error === 'invalid_client' && !basic && status === 400) {
      ctx.checklist.pass('registration.unknown-client', '400 invalid_client (client_secret_post: RFC 6749 §5.2 requires 401 only when the client authenticated with the Authorization header)');
    } else if (error === 'invalid_client' && basic) {
      ctx.checklist.warn(
        'registration.unknown-client',
        `HTTP ${status} invalid_client for a client that does not exist, authenticated with HTTP Basic: RFC 6749 §5.2 requires 401 then`,
        `Answer 401 invalid_client, with WWW-Authenticate: Basic, when a client that authenticated with the Authorization header is unknown (RFC 6749 §5.2), ${REGISTER_AGAIN}.`,
      );
    } else {
      ctx.checklist.warn(
        'registration.unknown-client',
        `${describeHttpError(status, json, text)} for a client that does not exist (${unknown.authMethod}): not invalid_client`,
        `Answer invalid_client for an unknown client at the token endpoint (RFC 6749 §5.2: 401 after HTTP Basic, 400 or 401 after client_secret_post), ${REGISTER_AGAIN}.`,
      );
    }
  } catch (error) {
    ctx.checklist.warn('registration.unknown-client', `the token endpoint did not answer: ${errorMessage(error)}`, 'Make the token endpoint reachable, and answer promptly, from where MCP Manager runs.');
  }
}
