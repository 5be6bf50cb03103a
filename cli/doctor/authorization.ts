/**
 * Step 4: the authorization code flow with PKCE S256, as MCP Manager runs it — the user's browser
 * through consent and sign-in back to the client's redirect URI, then the code exchanged at the
 * token endpoint — and what the token response must hold for a gateway that refreshes on its own.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1
 * @see https://www.rfc-editor.org/rfc/rfc9207 (iss in the authorization response)
 */
import { startAuthorization, type AuthorizationStart } from '../lib/oauth-client.ts';
import { describeRetries, eventualConsistencyReason, retryWithBackoff, type RetryOutcome } from '../lib/retry.ts';
import { DEFAULT_AUTH_TIMEOUT_MS, describeHttpError, isJsonObject, stringArrayField, stringField, type DoctorContext, type JsonObject } from './context.ts';
import { errorMessage, type JsonResponse } from './http.ts';
import { openInBrowser, startLoopbackReceiver } from './loopback.ts';
import type { ProtectedResource } from './protected-resource.ts';
import { register } from './registration.ts';
import type { ServerMetadata } from './server-metadata.ts';
import { clientRequest, type RegisteredClient } from './token-endpoint.ts';
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

export async function checkAuthorization(ctx: DoctorContext, resource: ProtectedResource, server: ServerMetadata, confidential: RegisteredClient): Promise<Authorized | undefined> {
  const { checklist, http } = ctx;
  const scope = selectScope(ctx.options.scope, resource);
  const asServer = { issuer: server.issuer, authorization_endpoint: server.authorizationEndpoint };

  // Step 2 refuses such an endpoint already; checked again where a browser is pointed at it.
  const refused = refusedUrl('authorization_endpoint', server.authorizationEndpoint);
  if (refused) {
    checklist.fail('authorization.redirect', refused, URL_POLICY_FIX);
    checklist.block('no sign-in (authorization.redirect)');
    return undefined;
  }

  let client = confidential;
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
          checklist.block('no sign-in (authorization.redirect)');
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
    checklist.block('no sign-in (authorization.redirect)');
    return undefined;
  }

  const code = callback.searchParams.get('code');
  http.addSecret(code ?? undefined);
  const verdict = checkCallback(callback, start.state, server, resource.resourceIndicator);
  if (verdict.problem || !code) {
    checklist.fail('authorization.redirect', verdict.problem ?? 'no code in the redirect', verdict.fix ?? REDIRECT_FIX);
    checklist.block('no authorization code (authorization.redirect)');
    return undefined;
  }
  checklist.pass('authorization.redirect', `code returned to ${client.redirectUri}; state matches; ${verdict.iss}`);

  // A code for a client registered seconds ago: storage that is not read-your-writes may not know either yet.
  let outcome: RetryOutcome<JsonResponse>;
  try {
    outcome = await retryWithBackoff(
      () =>
        clientRequest(ctx, server.tokenEndpoint, client, {
          grant_type: 'authorization_code',
          code,
          redirect_uri: client.redirectUri,
          code_verifier: start.codeVerifier,
          resource: resource.resourceIndicator,
        }),
      (answer) => eventualConsistencyReason(answer.status, answer.json),
    );
  } catch (error) {
    checklist.fail('authorization.token', `the token endpoint could not be reached: ${errorMessage(error)}`, 'Make the token endpoint reachable from where MCP Manager runs.');
    checklist.block('no tokens (authorization.token)');
    return undefined;
  }
  const { result, retries } = outcome;
  const retried = describeRetries(retries);
  const accessToken = isJsonObject(result.json) ? stringField(result.json, 'access_token') : undefined;
  if (result.status !== 200 || !isJsonObject(result.json) || !accessToken) {
    const error = isJsonObject(result.json) ? result.json.error : undefined;
    checklist.fail(
      'authorization.token',
      `${describeHttpError(result.status, result.json, result.text)}${retried ? ` (${retried})` : ''}`,
      error === 'invalid_client'
        ? 'Accept a client at the token endpoint as soon as its registration has been answered, with the credentials it was given.'
        : 'Exchange the code for tokens when the client, its secret, redirect_uri and code_verifier (PKCE S256) match (RFC 6749 §4.1.3, RFC 7636 §4.6).',
    );
    checklist.block('no tokens (authorization.token)');
    return undefined;
  }
  const response = result.json;
  const refreshToken = stringField(response, 'refresh_token');
  http.addSecret(accessToken);
  http.addSecret(refreshToken);
  http.addSecret(stringField(response, 'id_token'));
  if (retried) {
    checklist.warn(
      'authorization.token',
      `tokens issued, but only on a later attempt: ${retried}`,
      'Make a new registration and its codes usable at once (read-your-writes storage): MCP Manager exchanges the code right away and may not retry.',
    );
  } else {
    checklist.pass('authorization.token', `tokens issued to ${client.authMethod === 'none' ? 'the client' : `the client authenticated by ${client.authMethod}`}`);
  }

  checkTokenResponse(ctx, response, refreshToken);
  return { client, tokens: { accessToken, refreshToken, response } };
}

/** What to change for an error the authorization endpoint sent back instead of a code. */
function authorizationErrorFix(error: string, resource: string): string {
  switch (error) {
    case 'invalid_target':
      return `Accept the resource your metadata names (${resource}) as the resource parameter of authorization requests (RFC 8707 §2), on every origin the server answers on.`;
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
  if (typeof expiresIn === 'number' && expiresIn > 0) {
    checklist.pass('tokens.expires-in', `${expiresIn} s`);
  } else {
    checklist.warn('tokens.expires-in', `expires_in is ${expiresIn === undefined ? 'absent' : JSON.stringify(expiresIn)}`, 'Return expires_in (seconds) so clients refresh before the access token expires instead of after a failed call.');
  }

  if (refreshToken) {
    checklist.pass('tokens.refresh-token', 'issued');
  } else {
    checklist.fail('tokens.refresh-token', 'no refresh_token in the token response', 'MCP Manager refreshes automatically; issue refresh tokens.');
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
