/**
 * Sign-in and consent: the pages a person sees, mounted in the provider's default handler (../app.ts).
 *
 * GET  /           what this server is and where to point an MCP client
 * GET  /authorize  validate the request, show the consent page
 * POST /authorize  Deny → access_denied to the client; Allow → off to the upstream IdP
 * GET  /callback   back from the upstream: verify, apply sign-in policy, mint our own grant
 */
import {
  AuthorizationError,
  authorizationErrorRedirect,
  CimdFetchError,
  type AuthRequest,
  type AuthorizationErrorCode,
  type OAuthHelpers,
} from '@cloudflare/workers-oauth-provider';
import { Hono, type Context } from 'hono';
import { recordConsent, recordConsentShown, recordSignIn, recordUpstreamFailure } from '../audit/hooks';
import { loadConfig, type Config } from '../config';
import { upstreamFor } from '../upstream';
import { injectedUpstreamOptions, UpstreamError, userIdFor, type UpstreamFlow, type UpstreamTokens } from '../upstream/types';
import { newVaultRef, retentionSeconds, vaultFor, type VaultRef } from '../upstream/vault';
import { openShownScopes, sealShownScopes } from './consent-scopes';
import { postedScopes, requestedScopes } from './grant-scopes';
import { consentPage, errorPage, homePage, pageHeaders, requestErrorPage, upstreamUnavailablePage } from './pages';
import { isTrusted } from './trusted-clients';
import type { GrantProps } from './props';
import { allowedScopes } from './scope-policy';
import { isScope, offeredScopes, type Scope } from './scopes';
import { isAllowedToSignIn } from './sign-in-policy';
import { finishWebSignIn, WEB_STATE_PREFIX } from './web-session';

export type AuthEnv = { Bindings: Env & { OAUTH_PROVIDER: OAuthHelpers } };

export const CALLBACK_PATH = '/callback';

export const authApp = new Hono<AuthEnv>();

authApp.get('/', async (c) => new Response(await homePage(loadConfig(c.env).publicUrl ?? new URL(c.req.url).origin), { headers: pageHeaders() }));

authApp.get('/authorize', async (c) => {
  const oauth = c.env.OAUTH_PROVIDER;
  let request: AuthRequest;
  try {
    request = await oauth.parseAuthRequest(c.req.raw);
  } catch (error) {
    if (error instanceof AuthorizationError && error.redirectTo) return requestErrorBeforeInteraction(c, new URL(c.req.url).searchParams.get('client_id') ?? '', error.redirectTo, error.description);
    return authorizeError(c, error);
  }
  // OAuth 2.1 and MCP require PKCE; the provider accepts requests without it, this server does not.
  if (!request.codeChallenge || request.codeChallengeMethod !== 'S256') {
    const description = 'PKCE is required: send code_challenge with code_challenge_method=S256.';
    return requestErrorBeforeInteraction(c, request.clientId, authorizationErrorRedirect(request, 'invalid_request', description), description);
  }
  const requested = requestedScopes(request.scope, offeredScopes(loadConfig(c.env)));
  if (!requested.ok) {
    const description = `Unknown scope: ${requested.unknown.join(' ')}`;
    return requestErrorBeforeInteraction(c, request.clientId, authorizationErrorRedirect(request, 'invalid_scope', description), description);
  }

  try {
    const config = loadConfig(c.env);
    const remembered = await rememberedScopes(oauth, c.req.raw, request, requested.scopes, config);
    if (remembered.length === requested.scopes.length) {
      // Everything asked for was approved for this app in this browser before: straight to sign-in.
      recordConsent(request, 'remembered', requested.scopes);
      return startUpstream(c, { ...request, scope: requested.scopes }, new Headers());
    }
    const details = await oauth.describeConsent(request);
    const consent = await oauth.beginConsent({ ...request, scope: requested.scopes });
    const fresh = requested.scopes.filter((scope) => !remembered.includes(scope));
    const shown = await sealShownScopes(config.sessionSecret, consent.handle, requested.scopes);
    recordConsentShown(details, requested.scopes);
    const upstream = upstreamFor(config, fetch, injectedUpstreamOptions(c.env));
    const ask = { idpName: config.upstream.kind === 'github' ? 'GitHub' : `your identity provider (${new URL(config.upstream.issuer).host})`, scopes: upstream.scopes, keepsAccess: config.upstreamTokens.enabled };
    return new Response(await consentPage(details, consent.handle, fresh, remembered, shown, ask), { headers: pageHeaders(consent.headers) });
  } catch (error) {
    return authorizeError(c, error);
  }
});

authApp.post('/authorize', async (c) => {
  const oauth = c.env.OAUTH_PROVIDER;
  const form = await c.req.formData();
  const handle = String(form.get('handle') ?? '');
  // The consent page posts only the scopes it showed (ticked, or already allowed). The handle is
  // bound to this browser by cookie, so no other site can post this form on the user's behalf.
  const shown = await openShownScopes(loadConfig(c.env).sessionSecret, handle, String(form.get('shown') ?? ''));
  if (!shown) return htmlResponse(400, errorPage('This sign-in request cannot continue', 'The form was altered; start again from the app.'));
  const scope = postedScopes(form.getAll('scope').map(String)).filter((s) => shown.includes(s));
  try {
    if (form.get('decision') !== 'approve' || scope.length === 0) {
      const denied = await oauth.denyConsent(c.req.raw, handle, { description: scope.length === 0 && form.get('decision') === 'approve' ? 'No permissions were approved.' : undefined });
      recordConsent(denied.request, form.get('decision') === 'approve' ? 'no_scopes_approved' : 'user_denied', scope);
      return new Response(null, { status: 302, headers: denied.headers });
    }
    const approved = await oauth.approveConsent(c.req.raw, handle, { scope, remember: rememberOptions(loadConfig(c.env)) });
    recordConsent(approved.request, 'user_approved', scope);
    return startUpstream(c, approved.request, approved.headers);
  } catch (error) {
    return authorizeError(c, error);
  }
});

authApp.get(CALLBACK_PATH, async (c) => {
  // A sign-in to this server's own pages (/account), not an MCP client's authorization.
  if ((c.req.query('state') ?? '').startsWith(WEB_STATE_PREFIX)) return finishWebSignIn(c);
  const oauth = c.env.OAUTH_PROVIDER;
  let resumed: { request: AuthRequest; data: UpstreamFlow; headers: Headers };
  try {
    resumed = await oauth.finishUpstream<UpstreamFlow>(c.req.raw);
  } catch (error) {
    return authorizeError(c, error);
  }
  const { request, data: flow, headers } = resumed;
  const config = loadConfig(c.env);
  const callback = new URL(c.req.url);
  const state = callback.searchParams.get('state') ?? '';
  try {
    const identity = await upstreamFor(config, fetch, injectedUpstreamOptions(c.env)).finish(callback, state, flow, callbackUrl(c));
    if (!isAllowedToSignIn(config.signInPolicy, identity)) {
      console.warn(JSON.stringify({ event: 'sign_in_refused', upstream: identity.upstream, reason: 'sign-in policy' }));
      recordSignIn(request, identity, 'allowlist');
      return redirectError(request, 'access_denied', 'This account is not allowed to use this server.', headers);
    }
    const userId = await userIdFor(identity);
    // What the user approved, narrowed to what policy lets this user have: never more than either.
    const scope = allowedScopes(config.scopePolicy, identity, userId, request.scope.filter(isScope));
    if (scope.length === 0) {
      recordSignIn(request, identity, 'no_permitted_scopes');
      return redirectError(request, 'access_denied', 'This account may not be granted any of the requested permissions.', headers);
    }
    // The upstream's tokens, for tools that act as the user: into the vault, the key into the props.
    const upstreamVault = config.upstreamTokens.enabled ? await keepUpstreamTokens(c.env, config, identity.tokens) : undefined;
    if (upstreamVault === null) return redirectError(request, 'server_error', 'This server could not store your sign-in. Please try again.', headers);
    const props: GrantProps = {
      userId,
      upstream: identity.upstream,
      subject: identity.subject,
      email: identity.email,
      name: identity.name,
      login: identity.login,
      upstreamVault,
    };
    const { redirectTo } = await oauth.completeAuthorization({
      request,
      userId,
      // Stored unencrypted so grants can be listed for administration: no secrets here. The vault id
      // lets a revocation delete the grant's upstream tokens; without the key (in the props) it opens nothing.
      metadata: { upstream: identity.upstream, email: identity.email, authorizedAt: new Date().toISOString(), ...(upstreamVault && { vaultId: upstreamVault.id }) },
      scope,
      props,
    });
    recordSignIn(request, identity, { userId, scopes: scope });
    headers.set('Location', redirectTo);
    return new Response(null, { status: 302, headers });
  } catch (error) {
    if (error instanceof UpstreamError) return upstreamErrorResponse(request, error, headers);
    return authorizeError(c, error);
  }
});

/** A new vault for this grant holding `tokens` (../upstream/vault.ts); null when it could not be written. */
async function keepUpstreamTokens(env: Env, config: Config, tokens: UpstreamTokens): Promise<VaultRef | null> {
  const ref = newVaultRef();
  try {
    await vaultFor(env, ref).keep(ref, tokens, retentionSeconds(config));
    return ref;
  } catch (error) {
    console.error(JSON.stringify({ event: 'upstream_vault_write_failed', message: error instanceof Error ? error.message.slice(0, 300) : String(error) }));
    return null;
  }
}

/** Hands the browser to the upstream IdP; `state` exists only now, after consent, bound to this browser. */
async function startUpstream(c: Context<AuthEnv>, request: AuthRequest, headers: Headers): Promise<Response> {
  const upstream = upstreamFor(loadConfig(c.env), fetch, injectedUpstreamOptions(c.env));
  const flow = await upstream.prepare();
  const started = await c.env.OAUTH_PROVIDER.beginUpstream(request, { data: flow, headers });
  let location: URL;
  try {
    location = await upstream.authorizationUrl(flow, started.state, callbackUrl(c));
  } catch (error) {
    // The request was validated and consent given: an IdP outage is a page with the way back, not a 500.
    if (error instanceof UpstreamError) return upstreamErrorResponse(request, error, started.headers);
    throw error;
  }
  started.headers.set('Location', location.href);
  return new Response(null, { status: 302, headers: started.headers });
}

/**
 * An upstream failure, for a request the provider validated; the detail goes to the log only.
 *
 * - The IdP did not answer (no answer in time, unreachable, 5xx, or it said it is unavailable): a
 *   page (503) saying so, with a link to try again and the way back to the client as a link
 *   carrying `temporarily_unavailable` (RFC 6749 §4.1.2.1). Trying again usually works a moment
 *   later, which a redirect would take away: the client would only see an error.
 * - The user refused at the IdP: `access_denied`, redirected. The user acted; going back is what
 *   they asked for.
 * - The IdP refused the sign-in or answered nonsense (`server_error`), redirected: retrying will
 *   not help, and the client needs to know.
 */
async function upstreamErrorResponse(request: AuthRequest, error: UpstreamError, headers: Headers): Promise<Response> {
  console.warn(JSON.stringify({ event: 'upstream_sign_in_failed', reason: error.reason, detail: error.detail }));
  recordUpstreamFailure(request, error.reason);
  if (error.reason === 'upstream_unavailable') {
    const back = new URL(authorizationErrorRedirect(request, 'temporarily_unavailable', error.userMessage));
    return new Response(await upstreamUnavailablePage(error.userMessage, back, authorizeAgainUrl(request)), { status: 503, headers: pageHeaders(headers) });
  }
  const code: AuthorizationErrorCode = error.reason === 'access_denied' ? 'access_denied' : 'server_error';
  return redirectError(request, code, error.userMessage, headers);
}

/**
 * The validated request again, as a link to this server's /authorize: the same client, redirect
 * URI, state, PKCE challenge and resource, and the scopes the user approved. /authorize validates it
 * anew; with the approval remembered in this browser it goes straight to the IdP.
 */
function authorizeAgainUrl(request: AuthRequest): string | undefined {
  if (!request.codeChallenge || request.codeChallengeMethod !== 'S256') return undefined;
  const params = new URLSearchParams({ response_type: request.responseType, client_id: request.clientId, redirect_uri: request.redirectUri });
  if (request.scope.length > 0) params.set('scope', request.scope.join(' '));
  if (request.state) params.set('state', request.state);
  params.set('code_challenge', request.codeChallenge);
  params.set('code_challenge_method', request.codeChallengeMethod);
  if (request.resource) params.set('resource', request.resource);
  return `/authorize?${params}`;
}

/** How long an approval is remembered in the browser, per app, redirect URI and resource. */
const REMEMBER_CONSENT_SECONDS = 30 * 86_400;

function rememberOptions(config: Config) {
  // The user is not known before the upstream sign-in, so approvals belong to the browser (no subject).
  return { secret: `consent-approvals\n${config.sessionSecret}`, maxAgeSeconds: REMEMBER_CONSENT_SECONDS };
}

/** The requested scopes this browser already approved for this client, redirect URI and resource. */
async function rememberedScopes(oauth: OAuthHelpers, raw: Request, request: AuthRequest, scopes: readonly Scope[], config: Config): Promise<Scope[]> {
  if (!raw.headers.get('Cookie')) return [];
  const remember = rememberOptions(config);
  const checks = await Promise.all(scopes.map((scope) => oauth.isConsentRemembered(raw, { ...request, scope: [scope] }, remember)));
  return scopes.filter((_, index) => checks[index]);
}

function callbackUrl(c: Context<AuthEnv>): string {
  const config = loadConfig(c.env);
  return `${config.publicUrl ?? new URL(c.req.url).origin}${CALLBACK_PATH}`;
}

/** An OAuth error sent back to the client: only ever for a request the provider validated. */
function redirectError(request: AuthRequest, code: AuthorizationErrorCode, description: string, headers = new Headers()): Response {
  headers.set('Location', authorizationErrorRedirect(request, code, description));
  return new Response(null, { status: 302, headers });
}

/**
 * An error in an authorization request, found before the user has done anything here: sent back to
 * the client automatically only when an administrator registered it; for any other client a page
 * says what went wrong and offers the way back as a link, so this server cannot be used to bounce a
 * browser to a self-registered URL without a click (RFC 9700 §4.11.2; ./trusted-clients.ts).
 */
async function requestErrorBeforeInteraction(c: Context<AuthEnv>, clientId: string, redirectTo: string, description: string): Promise<Response> {
  if (clientId !== '' && (await isTrusted(c.env.OAUTH_KV, clientId))) return c.redirect(redirectTo, 302);
  return htmlResponse(400, requestErrorPage(description, new URL(redirectTo)));
}

/**
 * Errors before the client and its redirect URI are known are shown here, never redirected
 * (an open redirector otherwise). Anything unexpected is a bug or an outage: a plain 500.
 */
async function authorizeError(c: Context<AuthEnv>, error: unknown): Promise<Response> {
  // With a validated redirect URI, and only after the user has acted (consent, upstream sign-in).
  if (error instanceof AuthorizationError && error.redirectTo) return c.redirect(error.redirectTo, 302);
  if (error instanceof AuthorizationError) {
    return htmlResponse(400, errorPage('This sign-in request cannot continue', error.description));
  }
  if (error instanceof CimdFetchError) {
    console.warn(JSON.stringify({ event: 'cimd_fetch_failed', reason: error.reason }));
    return htmlResponse(400, errorPage('This app could not be verified', "The app's client metadata document could not be fetched or is invalid."));
  }
  throw error;
}

async function htmlResponse(status: number, page: ReturnType<typeof errorPage | typeof requestErrorPage>): Promise<Response> {
  return new Response(await page, { status, headers: pageHeaders() });
}
