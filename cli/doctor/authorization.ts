/**
 * Step 4: the authorization code flow with PKCE S256, as MCP Manager runs it — the user's browser
 * through consent and sign-in back to the client's redirect URI, then the code exchanged at the
 * token endpoint — and what the token response must hold for a gateway that refreshes on its own.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1
 * @see https://www.rfc-editor.org/rfc/rfc9207 (iss in the authorization response)
 */
import { startAuthorization, type AuthorizationStart } from '../lib/oauth-client.ts';
import { describeRetries, eventualConsistencyReason, retryWithBackoff } from '../lib/retry.ts';
import { DEFAULT_AUTH_TIMEOUT_MS, describeHttpError, isJsonObject, stringArrayField, stringField, type DoctorContext, type JsonObject } from './context.ts';
import { errorMessage, isTimeout, type JsonResponse } from './http.ts';
import { openInBrowser, startLoopbackReceiver } from './loopback.ts';
import type { ProtectedResource } from './protected-resource.ts';
import { register } from './registration.ts';
import type { ServerMetadata } from './server-metadata.ts';
import { clientRequest, describePresentation, probeClientAuthentication, type RegisteredClient } from './token-endpoint.ts';
import { refusedUrl, URL_POLICY_FIX } from './url-policy.ts';

export interface TokenSet {
  accessToken: string;
  refreshToken: string | undefined;
  response: JsonObject;
}

export interface Authorized {
  client: RegisteredClient;
  tokens: TokenSet;
}

const REDIRECT_FIX = 'Let a signed-in user who approves reach the client\'s redirect URI with a code; the detail says where the flow stopped.';

/**
 * The scope MCP clients ask for (MCP 2025-11-25, scope selection): the challenge's, else the
 * resource's `scopes_supported`, else none, leaving the server's default.
 */
export function selectScope(explicit: string | undefined, resource: ProtectedResource): string | undefined {
  return explicit ?? resource.challengeScope ?? stringArrayField(resource.metadata, 'scopes_supported')?.join(' ') ?? undefined;
}

/**
 * Signs in with `registered` (the confidential client, or the public one when no confidential client
 * could register) and exchanges the code; the tokens, and the client as it authenticated, or
 * undefined when the run cannot go on.
 */
export async function checkAuthorization(ctx: DoctorContext, resource: ProtectedResource, server: ServerMetadata, registered: RegisteredClient): Promise<Authorized | undefined> {
  const { checklist, http } = ctx;
  const scope = selectScope(ctx.options.scope, resource);
  const asServer = { issuer: server.issuer, authorization_endpoint: server.authorizationEndpoint };

  // Step 2 refuses such an endpoint already; checked again where a browser is pointed at it.
  const refused = refusedUrl('authorization_endpoint', server.authorizationEndpoint);
  if (refused) {
    checklist.fail('authorization.redirect', refused, URL_POLICY_FIX);
    checklist.block('no sign-in (authorization.redirect)', 'authorization.redirect');
    return undefined;
  }

  let client = registered;
  let start: AuthorizationStart;
  let callback: URL;
  try {
    if (ctx.options.login) {
      start = await startAuthorization(asServer, { client_id: client.clientId }, { redirectUri: client.redirectUri, resource: resource.resourceIndicator, scope });
      http.addSecret(start.codeVerifier);
      // Loaded only when needed: a published doctor need not install a browser driver to run without --login.
      const { browserLogin } = await import('../lib/browser-login.ts');
      callback = await browserLogin(start.url.href, { login: ctx.options.login.username, password: ctx.options.login.password, redirectUri: client.redirectUri });
    } else {
      const receiver = await startLoopbackReceiver();
      try {
        // The HTTPS callback cannot reach this machine: a client of its own, with a loopback redirect URI.
        const loopback = await register(ctx, server.registrationEndpoint ?? '', client.authMethod, receiver.redirectUri);
        if (!loopback.client) {
          checklist.fail(
            'authorization.redirect',
            `the interactive sign-in needs a client with the loopback redirect URI ${receiver.redirectUri}, which the server refused: ${loopback.refusal}`,
            'Accept loopback redirect URIs (RFC 8252 §7.3), or run the doctor with --login user:password to sign in headless through the HTTPS callback.',
          );
          checklist.block('no sign-in (authorization.redirect)', 'authorization.redirect');
          return undefined;
        }
        client = loopback.client;
        start = await startAuthorization(asServer, { client_id: client.clientId }, { redirectUri: client.redirectUri, resource: resource.resourceIndicator, scope });
        http.addSecret(start.codeVerifier);
        ctx.say(`\nSign in to continue: ${start.url.href}\n(waiting up to ${Math.round((ctx.options.authTimeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS) / 60_000)} min for the browser to come back)\n`);
        if (ctx.options.openBrowser !== false) {
          const opened = openInBrowser(start.url.href);
          if (!opened.opened) throw new Error(`not opened: ${opened.refused}`);
        }
        callback = await receiver.waitForCallback(ctx.options.authTimeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS);
      } finally {
        await receiver.close();
      }
    }
  } catch (error) {
    checklist.fail('authorization.redirect', errorMessage(error), REDIRECT_FIX);
    checklist.block('no sign-in (authorization.redirect)', 'authorization.redirect');
    return undefined;
  }

  const code = callback.searchParams.get('code');
  http.addSecret(code ?? undefined);
  const verdict = checkCallback(callback, start.state, server, resource.resourceIndicator);
  if (verdict.problem || !code) {
    checklist.fail('authorization.redirect', verdict.problem ?? 'no code in the redirect', verdict.fix ?? REDIRECT_FIX);
    checklist.block('no authorization code (authorization.redirect)', 'authorization.redirect');
    return undefined;
  }
  const asPublic = client.authMethod === 'none' ? ` (as a public client${ctx.facts.confidentialRegistration === 'ok' ? '' : ': no confidential client registered'})` : '';
  checklist.pass('authorization.redirect', `code returned to ${client.redirectUri}; state matches; ${verdict.iss}${asPublic}`);

  const exchanged = await exchangeCode(ctx, server, client, { code, codeVerifier: start.codeVerifier, resource: resource.resourceIndicator });
  if (!exchanged) return undefined;
  const { response, accessToken, presented } = exchanged;
  const refreshToken = stringField(response, 'refresh_token');
  checkTokenResponse(ctx, response, refreshToken);
  return { client: presented, tokens: { accessToken, refreshToken, response } };
}

interface CodeGrant {
  code: string;
  codeVerifier: string;
  resource: string;
}

/** How the registered client's authentication fared when the code exchange said `invalid_client`. */
type ClientAuthDiagnosis =
  /** The same client authenticates at once when its credentials are presented another way: the registered method is refused, every time. */
  | { kind: 'method-refused'; refusedAnswer: string; works: RegisteredClient }
  /** Presented as registered, it authenticates now: the refusal was the registration not yet being visible. */
  | { kind: 'authenticates-now' }
  /** No presentation authenticates: an unknown client, for now or for good. */
  | { kind: 'not-authenticated'; refusedAnswer: string };

/**
 * Exchanges the code (RFC 6749 §4.1.3) and reports `authorization.token` and
 * `authorization.client-auth`. Two different failures look alike at first — `invalid_client` right
 * after registration — and call for opposite advice:
 * - a registration not yet visible everywhere (eventually consistent storage): the same request
 *   succeeds a moment later, so it is retried with backoff, and reported as a delay;
 * - a server that does not accept the client authentication it advertised and registered: no retry
 *   helps. The doctor tells them apart without spending the code, by probing the client's
 *   authentication (token-endpoint.ts) as registered and presented the other ways; when another way
 *   works for the same client at that moment, the client exists and the method is what is refused.
 *   The code is then exchanged the way that works, and, as a gateway would, a client registered for
 *   the other advertised method is tried.
 */
async function exchangeCode(ctx: DoctorContext, server: ServerMetadata, client: RegisteredClient, grant: CodeGrant): Promise<{ response: JsonObject; accessToken: string; presented: RegisteredClient } | undefined> {
  const { checklist, http, facts } = ctx;
  const request = (as: RegisteredClient) =>
    clientRequest(ctx, server.tokenEndpoint, as, { grant_type: 'authorization_code', code: grant.code, redirect_uri: client.redirectUri, code_verifier: grant.codeVerifier, resource: grant.resource });

  let first: JsonResponse;
  try {
    first = await request(client);
  } catch (error) {
    checklist.fail('authorization.token', `the token endpoint did not answer: ${errorMessage(error)}`, isTimeout(error) ? TOKEN_TIMEOUT_FIX : 'Make the token endpoint reachable from where MCP Manager runs.');
    checklist.skip('authorization.client-auth', 'the token endpoint did not answer (authorization.token)');
    checklist.block('no tokens (authorization.token)', 'authorization.token');
    return undefined;
  }

  let result: AnswerOrFailure = first;
  let presented = client;
  let retries: string[] = [];
  let diagnosis: ClientAuthDiagnosis | undefined;
  if (oauthError(first) === 'invalid_client' && client.authMethod !== 'none') diagnosis = await diagnoseClientAuthentication(ctx, server.tokenEndpoint, client);
  if (diagnosis?.kind !== 'method-refused') {
    // Only what storage lag can explain is retried: a code or a client not yet visible where the request lands.
    const outcome = await retryWithBackoff(
      async (attempt) => (attempt === 1 ? first : settle(request(client))),
      (answer) => eventualConsistencyReason(answer.status, answer.json),
    );
    result = outcome.result;
    retries = outcome.retries;
    // Still refused after the retries: perhaps a method problem that a delay hid at first (the client not yet visible at all).
    if (oauthError(result) === 'invalid_client' && client.authMethod !== 'none') {
      diagnosis = await diagnoseClientAuthentication(ctx, server.tokenEndpoint, client);
    }
  }
  if (diagnosis?.kind === 'method-refused') {
    presented = diagnosis.works;
    // Refused authentications consumed nothing: the code is still good for the way that works.
    result = await settle(request(presented));
  }

  const retried = describeRetries(retries);
  const accessToken = isJsonObject(result.json) ? stringField(result.json, 'access_token') : undefined;
  const succeeded = result.status === 200 && isJsonObject(result.json) && accessToken !== undefined;
  if (succeeded && retries.length > 0) facts.registrationRace = true;
  await reportClientAuthentication(ctx, server, client, { succeeded, presented, diagnosis, retried, lastAnswer: describeHttpError(result.status, result.json, result.text) });

  if (!succeeded || !isJsonObject(result.json) || accessToken === undefined) {
    const error = oauthError(result);
    checklist.fail(
      'authorization.token',
      `${result.status === 0 ? `the token endpoint did not answer: ${result.text}` : describeHttpError(result.status, result.json, result.text)}${retried ? ` (${retried})` : ''}`,
      result.status === 0 && result.timedOut
        ? TOKEN_TIMEOUT_FIX
        : error === 'invalid_client'
          ? 'Accept the client the registration endpoint has just created, with the credentials it returned (RFC 6749 §2.3.1), at once and on every instance; authorization.client-auth says how its credentials were presented.'
          : 'Exchange the code for tokens when the client, its secret, redirect_uri and code_verifier (PKCE S256) match (RFC 6749 §4.1.3, RFC 7636 §4.6).',
    );
    checklist.block('no tokens (authorization.token)', 'authorization.token');
    return undefined;
  }
  const response = result.json;
  http.addSecret(accessToken);
  http.addSecret(stringField(response, 'refresh_token'));
  http.addSecret(stringField(response, 'id_token'));
  if (retried) {
    checklist.warn(
      'authorization.token',
      `tokens issued, but only on a later attempt: ${retried}`,
      'Make a new registration and its codes usable at once (read-your-writes storage): MCP Manager exchanges the code right away and may not retry.',
    );
  } else if (presented !== client) {
    checklist.pass('authorization.token', `tokens issued to the client authenticated by ${describePresentation(presented)} (as registered, it was refused: authorization.client-auth)`);
  } else {
    checklist.pass('authorization.token', `tokens issued to ${client.authMethod === 'none' ? 'the client' : `the client authenticated by ${client.authMethod}`}`);
  }
  return { response, accessToken, presented };
}

const TOKEN_TIMEOUT_FIX = 'Make the token endpoint answer within a few seconds: MCP Manager exchanges codes and refreshes tokens server to server, with a deadline.';

type AnswerOrFailure = Pick<JsonResponse, 'status' | 'json' | 'text'> & { timedOut?: boolean };

/** A request that did not complete, as a status-0 answer, so the retry loop and the report carry on. */
async function settle(request: Promise<JsonResponse>): Promise<AnswerOrFailure> {
  try {
    return await request;
  } catch (error) {
    return { status: 0, json: undefined, text: errorMessage(error), timedOut: isTimeout(error) };
  }
}

function oauthError(answer: Pick<JsonResponse, 'json'>): string | undefined {
  return isJsonObject(answer.json) && typeof answer.json.error === 'string' ? answer.json.error : undefined;
}

/** Probes `client` as registered, then presented the other ways (token-endpoint.ts), without spending the code. */
async function diagnoseClientAuthentication(ctx: DoctorContext, tokenEndpoint: string, client: RegisteredClient): Promise<ClientAuthDiagnosis> {
  const asRegistered = await probeClientAuthentication(ctx, tokenEndpoint, client);
  if (asRegistered.kind === 'authenticated') return { kind: 'authenticates-now' };
  for (const alternative of alternativePresentations(client)) {
    if ((await probeClientAuthentication(ctx, tokenEndpoint, alternative)).kind === 'authenticated') return { kind: 'method-refused', refusedAnswer: asRegistered.answer, works: alternative };
  }
  return { kind: 'not-authenticated', refusedAnswer: asRegistered.answer };
}

/**
 * The other ways a client with a secret can present it: the other standard method (RFC 6749
 * §2.3.1), and, for Basic, Basic with client_id also in the body (what the MCP Python SDK's token
 * endpoint needs).
 */
function alternativePresentations(client: RegisteredClient): RegisteredClient[] {
  if (client.authMethod === 'client_secret_basic') return [{ ...client, authMethod: 'client_secret_post' }, { ...client, clientIdInBody: true }];
  if (client.authMethod === 'client_secret_post') return [{ ...client, authMethod: 'client_secret_basic' }];
  return [];
}

/**
 * `authorization.client-auth` and the facts about client authentication. When the registered
 * method was refused for good, a client registered for the other advertised method is tried too, as
 * a gateway that re-registers would: that is the method a gateway can connect with.
 */
async function reportClientAuthentication(
  ctx: DoctorContext,
  server: ServerMetadata,
  client: RegisteredClient,
  outcome: { succeeded: boolean; presented: RegisteredClient; diagnosis: ClientAuthDiagnosis | undefined; retried: string; lastAnswer: string },
): Promise<void> {
  const { checklist, facts } = ctx;
  const method = client.authMethod;
  if (method === 'none') {
    if (outcome.succeeded) facts.workingClientAuthMethod = 'none';
    checklist.pass('authorization.client-auth', 'none: a public client, PKCE only');
    return;
  }
  const { diagnosis } = outcome;
  if (outcome.succeeded && outcome.presented === client) {
    facts.workingClientAuthMethod = method;
    checklist.pass('authorization.client-auth', `${method}, as registered${outcome.retried ? ` (${outcome.retried})` : ''}`);
    return;
  }
  if (diagnosis?.kind === 'method-refused') {
    facts.refusedClientAuthMethod = method;
    const works = diagnosis.works;
    const advertised = server.tokenAuthMethods === undefined ? (method === 'client_secret_basic' ? ' (the RFC 8414 default)' : '') : server.tokenAuthMethods.includes(method) ? ', which the server advertises,' : '';
    let detail = `registered ${method}${advertised} but ${method === 'client_secret_basic' ? 'HTTP Basic alone' : 'credentials in the body'} got ${diagnosis.refusedAnswer} every time, while the same client authenticated with ${describePresentation(works)}`;
    if (works.clientIdInBody) {
      facts.basicNeedsClientIdInBody = true;
      // As a gateway would: register for the other method the server advertises, and see whether that works.
      const other = await tryOtherMethod(ctx, server, client);
      if (other?.works) facts.workingClientAuthMethod = other.method;
      else facts.workingClientAuthMethod = 'client_secret_basic';
      if (other) detail += `; a client registered for ${other.method} ${other.works ? 'works' : `fails too (${other.answer})`}`;
      checklist.fail(
        'authorization.client-auth',
        detail,
        `Take the client's identity from the Authorization header under client_secret_basic (RFC 6749 §2.3.1): clients send no client_id in the body then, and some servers refuse one as a second authentication method. Or stop advertising client_secret_basic in token_endpoint_auth_methods_supported and registering clients with it${other?.works ? `: ${other.method} works` : ''}.`,
      );
      return;
    }
    facts.workingClientAuthMethod = works.authMethod;
    checklist.fail(
      'authorization.client-auth',
      detail,
      `Accept ${method} from the clients you register with it, as advertised (RFC 6749 §2.3.1), or register and advertise only ${works.authMethod}.`,
    );
    return;
  }
  if (diagnosis?.kind === 'not-authenticated') {
    const other = await tryOtherMethod(ctx, server, client);
    if (other?.works) facts.workingClientAuthMethod = other.method;
    checklist.fail(
      'authorization.client-auth',
      `the token endpoint never authenticated the client it registered (${method}): ${diagnosis.refusedAnswer}, presented every way (${[client, ...alternativePresentations(client)].map(describePresentation).join('; ')})${outcome.retried ? `, ${outcome.retried}` : ''}${other ? `; a client registered for ${other.method} ${other.works ? 'works' : `fails too (${other.answer})`}` : ''}`,
      'Accept a client at the token endpoint with the client_id and client_secret its registration returned (RFC 6749 §2.3.1), at once and on every instance (registrations kept where all of them read, not in one process\'s memory).',
    );
    return;
  }
  if (diagnosis?.kind === 'authenticates-now') {
    // Authenticated in a probe, yet the code exchange said invalid_client: the code's binding, not the method.
    facts.workingClientAuthMethod = method;
    checklist.pass('authorization.client-auth', `${method}, as registered (a probe authenticated the client; the code exchange failed otherwise: authorization.token)`);
    return;
  }
  // The exchange failed for another reason than client authentication (an invalid_grant, say).
  checklist.skip('authorization.client-auth', `the code exchange failed otherwise: ${outcome.lastAnswer} (authorization.token)`);
}

/** Registers a client for the other client_secret method, when the server advertises it, and probes it. */
async function tryOtherMethod(ctx: DoctorContext, server: ServerMetadata, client: RegisteredClient): Promise<{ method: 'client_secret_basic' | 'client_secret_post'; works: boolean; answer: string } | undefined> {
  const method = client.authMethod === 'client_secret_basic' ? 'client_secret_post' : 'client_secret_basic';
  const advertised = server.tokenAuthMethods?.includes(method) ?? method === 'client_secret_basic';
  if (!advertised || !server.registrationEndpoint) return undefined;
  const registered = await register(ctx, server.registrationEndpoint, method, client.redirectUri);
  if (!registered.client?.clientSecret) return { method, works: false, answer: `registration: ${registered.refusal ?? 'no client_secret'}` };
  const probe = await probeClientAuthentication(ctx, server.tokenEndpoint, { ...registered.client, authMethod: method });
  return { method, works: probe.kind === 'authenticated', answer: probe.answer };
}

/** What to change for an error the authorization endpoint sent back instead of a code. */
function authorizationErrorFix(error: string, resource: string): string {
  switch (error) {
    case 'invalid_target':
      // An OAuth proxy that passes the client's resource on to its IdP gets this from an IdP that does not know it.
      return `Accept the resource your metadata names (${resource}) as the resource parameter of authorization requests (RFC 8707 §2), on every origin the server answers on; a server that passes it on to an upstream IdP (an OAuth proxy) must stop forwarding it, or make the IdP accept it.`;
    case 'access_denied':
      return 'Sign in with an account the server allows and click Allow; if that was done, the server\'s sign-in policy refused the user.';
    case 'invalid_scope':
      return 'Accept the scopes clients take from your challenge or scopes_supported, or name the scope to test with --scope.';
    case 'unauthorized_client':
    case 'unsupported_response_type':
      return 'Let dynamically registered clients use the authorization code flow (response_type code).';
    default:
      return REDIRECT_FIX;
  }
}

/**
 * The redirect's state, error and `iss` (RFC 9207: required when advertised, and then must match).
 * `resource` is what the request asked for, for the advice on invalid_target.
 */
export function checkCallback(callback: URL, state: string, server: Pick<ServerMetadata, 'issuer' | 'issParameterSupported'>, resource = ''): { problem?: string; fix?: string; iss: string } {
  const iss = callback.searchParams.get('iss');
  const error = callback.searchParams.get('error');
  if (error) {
    const description = callback.searchParams.get('error_description');
    return { problem: `the server sent error=${error}${description ? ` (${description})` : ''} instead of a code`, fix: authorizationErrorFix(error, resource), iss: '' };
  }
  if (callback.searchParams.get('state') !== state) {
    return { problem: 'the state in the redirect is not the one sent', fix: 'Return the client\'s state unchanged in the redirect (RFC 6749 §4.1.2).', iss: '' };
  }
  if (iss !== null && iss !== server.issuer) {
    return { problem: `iss is ${iss}, not the issuer ${server.issuer}`, fix: 'Send the metadata\'s issuer, exactly, as iss in the authorization response (RFC 9207 §2).', iss: '' };
  }
  if (iss === null && server.issParameterSupported) {
    return {
      problem: 'no iss in the redirect, though the metadata promises it',
      fix: 'Send iss in every authorization response, or drop authorization_response_iss_parameter_supported (RFC 9207 §2.4).',
      iss: '',
    };
  }
  return { iss: iss === null ? 'no iss (RFC 9207 not advertised)' : 'iss matches (RFC 9207)' };
}

function checkTokenResponse(ctx: DoctorContext, response: JsonObject, refreshToken: string | undefined): void {
  const { checklist } = ctx;
  const tokenType = stringField(response, 'token_type');
  if (tokenType?.toLowerCase() === 'bearer') {
    checklist.pass('tokens.token-type', tokenType);
  } else {
    checklist.fail('tokens.token-type', `token_type is ${tokenType ?? 'absent'}`, 'Issue Bearer access tokens (token_type "Bearer", RFC 6750); MCP sends them in the Authorization header.');
  }

  const expiresIn = response.expires_in;
  const lifetime = typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : undefined;
  if (lifetime !== undefined) {
    ctx.facts.accessTokenLifetimeSeconds = lifetime;
    checklist.pass('tokens.expires-in', `${lifetime} s`);
  } else {
    checklist.warn('tokens.expires-in', `expires_in is ${expiresIn === undefined ? 'absent' : JSON.stringify(expiresIn)}`, 'Return expires_in (seconds) so clients refresh before the access token expires instead of after a failed call.');
  }

  ctx.facts.refreshTokenIssued = refreshToken !== undefined;
  if (refreshToken) {
    checklist.pass('tokens.refresh-token', 'issued');
  } else {
    // Connected, but only until the access token expires: then the user must sign in again.
    const until = lifetime === undefined ? 'when the access token stops working (no expires_in says when)' : `when the access token expires, after ${lifetime} s (expires_in)`;
    checklist.fail(
      'tokens.refresh-token',
      `no refresh_token in the token response: a client connects, but cannot stay connected: its user must sign in again ${until}`,
      'Issue a refresh token with the access token (RFC 6749 §5.1) and accept the refresh_token grant: MCP Manager refreshes on its own and stays connected.',
    );
  }

  // A promise the token response does not keep is worse than none: clients plan on refreshing.
  const advertised = ctx.facts.refreshAdvertised === true;
  if (advertised && !refreshToken) {
    checklist.warn(
      'tokens.refresh-advertised',
      `refresh_token is advertised (${(ctx.facts.refreshAdvertisedIn ?? []).map((where) => (where === 'registration' ? 'in the grant_types the client was registered with' : 'in grant_types_supported')).join(' and ')}) but was not issued`,
      'Issue refresh tokens, or stop listing refresh_token in grant_types_supported (RFC 8414 §2) and in registered clients\' grant_types (RFC 7591 §2): clients that see it plan on refreshing instead of signing in again.',
    );
  } else if (advertised) {
    checklist.pass('tokens.refresh-advertised', 'advertised and issued');
  } else if (refreshToken) {
    checklist.pass('tokens.refresh-advertised', 'issued, though not advertised in grant_types_supported (server.grant-types)');
  } else {
    checklist.pass('tokens.refresh-advertised', 'neither advertised nor issued (tokens.refresh-token says what that costs)');
  }

  const scope = stringField(response, 'scope');
  if (scope) {
    checklist.pass('tokens.scope', scope);
  } else {
    checklist.warn('tokens.scope', 'no scope in the token response', 'Return the granted scope in the token response, so clients know what the user allowed (RFC 6749 §5.1).');
  }

  const resource = stringField(response, 'resource');
  if (resource) {
    checklist.pass('tokens.resource', resource);
  } else {
    checklist.warn('tokens.resource', 'no resource in the token response', 'Return the resource (audience) the token is bound to, so clients can tell which server it is for (RFC 8707).');
  }
}
