/**
 * Signing people in to this server's own pages (/account), as opposed to authorizing an MCP client:
 * the same upstream IdP and adapters, but no OAuth client, no consent and no grant. The result is a
 * short session in a cookie, sealed (AES-GCM) under a key derived from SESSION_SECRET, so nothing
 * is stored server-side and nothing in it can be read or altered by the browser.
 *
 * The IdP knows one redirect URI, /callback, shared with the OAuth flow: a sign-in started here
 * carries a `state` that begins with {@link WEB_STATE_PREFIX}, which the provider's own upstream
 * states (43 base64url characters) never do, and /callback hands those to {@link finishWebSignIn}.
 * The flow's PKCE verifier and nonce travel in a second sealed cookie, bound to that state and to
 * this browser, used once and for 10 minutes at most.
 */
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { adminFactsFor, type AdminFacts } from '../admin/admin-policy';
import { recordUpstreamFailure } from '../audit/hooks';
import { audit } from '../audit/recorder';
import { loadConfig } from '../config';
import { base64url, equalInConstantTime, hmac, seal, unseal } from '../crypto';
import { MAX_CONSENT_FORM_BYTES, readCapped } from '../guard/input-limits';
import { upstreamFor } from '../upstream';
import { injectedUpstreamOptions, UpstreamError, userIdFor, type UpstreamFlow } from '../upstream/types';
import type { AuthEnv } from './app';
import { errorPage, pageHeaders } from './pages';
import { isAllowedToSignIn } from './sign-in-policy';

/** The `state` of a sign-in to this server's pages starts with this; the provider's never do. */
export const WEB_STATE_PREFIX = 'web.';

/** Where a sign-in may return to: a fixed list, so the flow cannot be made to redirect anywhere else. */
export const WEB_SIGN_IN_RETURNS = ['/account', '/admin'] as const;
export type WebSignInReturn = (typeof WEB_SIGN_IN_RETURNS)[number];

/** How long a signed-in session lasts; sign in again after. Short: it cannot be revoked server-side. */
export const WEB_SESSION_SECONDS = 60 * 60;
/** How long the browser has to come back from the IdP. */
const SIGN_IN_SECONDS = 10 * 60;

// `__Host-`: Secure, Path=/, no Domain, so no other host (a sibling subdomain) can set or read them.
const SIGN_IN_COOKIE = 'web-sign-in';
const SESSION_COOKIE = 'web-session';
const SIGN_IN_PURPOSE = 'web-sign-in';
const SESSION_PURPOSE = 'web-session';

export interface WebSession {
  userId: string;
  upstream: string;
  email?: string;
  name?: string;
  /** What the IdP said that the admin console's allowlist needs; re-checked on every request (../admin/admin-policy.ts). */
  adminFacts?: AdminFacts;
  /** Random per session: what its CSRF tokens are bound to. */
  sid: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

interface PendingSignIn {
  state: string;
  flow: UpstreamFlow;
  returnTo: WebSignInReturn;
  exp: number;
}

/** The signed-in session this request carries, if any and still valid. */
export async function readWebSession(c: Context<AuthEnv>): Promise<WebSession | undefined> {
  const sealed = getCookie(c, SESSION_COOKIE, 'host');
  if (!sealed) return undefined;
  const session = await unseal(loadConfig(c.env).sessionSecret, SESSION_PURPOSE, sealed);
  if (!isWebSession(session) || session.exp <= nowSeconds()) return undefined;
  return session;
}

/** Sends the browser to the IdP to sign in, then back to `returnTo`. */
export async function startWebSignIn(c: Context<AuthEnv>, returnTo: WebSignInReturn): Promise<Response> {
  const config = loadConfig(c.env);
  const upstream = upstreamFor(config, fetch, injectedUpstreamOptions(c.env));
  const flow = await upstream.prepare();
  const state = `${WEB_STATE_PREFIX}${base64url(crypto.getRandomValues(new Uint8Array(32)))}`;
  let location: URL;
  try {
    location = await upstream.authorizationUrl(flow, state, callbackUrl(c));
  } catch (error) {
    if (error instanceof UpstreamError) return upstreamFailure(c, error);
    throw error;
  }
  const pending: PendingSignIn = { state, flow, returnTo, exp: nowSeconds() + SIGN_IN_SECONDS };
  // Lax: the IdP's redirect back is a top-level GET from another site, which Lax lets through.
  setCookie(c, SIGN_IN_COOKIE, await seal(config.sessionSecret, SIGN_IN_PURPOSE, pending), { prefix: 'host', path: '/', secure: true, httpOnly: true, sameSite: 'Lax', maxAge: SIGN_IN_SECONDS });
  c.header('Cache-Control', 'no-store');
  return c.redirect(location.href, 302);
}

/** /callback for a state that starts with {@link WEB_STATE_PREFIX}. */
export async function finishWebSignIn(c: Context<AuthEnv>): Promise<Response> {
  const config = loadConfig(c.env);
  const callback = new URL(c.req.url);
  const state = callback.searchParams.get('state') ?? '';
  const sealed = getCookie(c, SIGN_IN_COOKIE, 'host');
  const pending = sealed ? await unseal(config.sessionSecret, SIGN_IN_PURPOSE, sealed) : undefined;
  // Used once, whatever happens next.
  deleteCookie(c, SIGN_IN_COOKIE, { prefix: 'host', path: '/', secure: true });
  if (!isPendingSignIn(pending) || pending.exp <= nowSeconds() || !equalInConstantTime(pending.state, state)) {
    return page(c, 400, 'This sign-in cannot continue', 'It was started in another browser, or too long ago. Start again.');
  }
  let identity;
  try {
    identity = await upstreamFor(config, fetch, injectedUpstreamOptions(c.env)).finish(callback, state, pending.flow, callbackUrl(c));
  } catch (error) {
    if (!(error instanceof UpstreamError)) throw error;
    recordUpstreamFailure(undefined, error.reason);
    if (error.reason === 'upstream_unavailable') return upstreamFailure(c, error);
    console.warn(JSON.stringify({ event: 'web_sign_in_failed', reason: error.reason, detail: error.detail }));
    return page(c, error.reason === 'access_denied' ? 403 : 502, 'You are not signed in', error.userMessage);
  }
  if (!isAllowedToSignIn(config.signInPolicy, identity)) {
    audit({ type: 'sign_in.refused', reason: 'allowlist', outcome: 'denied', userId: await userIdFor(identity), email: identity.email, detail: { upstream: identity.upstream } });
    return page(c, 403, 'You are not signed in', 'This account is not allowed to use this server.');
  }
  const session: WebSession = {
    userId: await userIdFor(identity),
    upstream: identity.upstream,
    email: identity.email,
    name: identity.name,
    adminFacts: adminFactsFor(config.adminPolicy, identity),
    sid: base64url(crypto.getRandomValues(new Uint8Array(16))),
    exp: nowSeconds() + WEB_SESSION_SECONDS,
  };
  audit({ type: 'sign_in.succeeded', reason: 'web_session', outcome: 'ok', userId: session.userId, email: session.email, detail: { upstream: session.upstream } });
  setCookie(c, SESSION_COOKIE, await seal(config.sessionSecret, SESSION_PURPOSE, session), { prefix: 'host', path: '/', secure: true, httpOnly: true, sameSite: 'Lax', maxAge: WEB_SESSION_SECONDS });
  c.header('Cache-Control', 'no-store');
  // 303: the page is fetched with GET, and the IdP's code stays out of its history entry.
  return c.redirect(pending.returnTo, 303);
}

/** Ends the session in this browser. */
export function endWebSession(c: Context<AuthEnv>): void {
  deleteCookie(c, SESSION_COOKIE, { prefix: 'host', path: '/', secure: true });
}

/**
 * A form token for `session`: an HMAC of its random id, so a form posted from any other site (which
 * cannot read the page) cannot carry it, and it dies with the session.
 */
export function csrfToken(secret: string, session: WebSession): Promise<string> {
  return hmac(secret, 'web-csrf', session.sid);
}

export async function isValidCsrfToken(secret: string, session: WebSession, presented: string): Promise<boolean> {
  return equalInConstantTime(await csrfToken(secret, session), presented);
}

/** Why a form posted to one of this server's own pages is refused; each page words it for its people. */
export type FormRefusal =
  /** 403: the browser says it comes from another origin (`null` included). */
  | 'foreign_origin'
  /** 415: not `application/x-www-form-urlencoded`. */
  | 'not_a_form'
  /** 413: over {@link MAX_CONSENT_FORM_BYTES}, refused before more is read. */
  | 'too_large'
  /** 403: without this session's CSRF token. */
  | 'bad_csrf';

export const FORM_REFUSAL_STATUS = { foreign_origin: 403, not_a_form: 415, too_large: 413, bad_csrf: 403 } as const;

/** The page title for each refusal; the page adds where to go from there. */
export const FORM_REFUSAL_TITLE: Record<FormRefusal, string> = {
  foreign_origin: 'This form cannot be sent from there',
  not_a_form: 'This form cannot be sent like that',
  too_large: 'This form is too large',
  bad_csrf: 'This form has expired',
};

/**
 * The form `session` posted, when it is small, comes from this session's page (its CSRF token) and,
 * where the browser says where it comes from, from this origin; else why not. The origin and type are
 * checked before the body is read.
 */
export async function readSessionForm(c: Context<AuthEnv>, session: WebSession): Promise<URLSearchParams | FormRefusal> {
  const config = loadConfig(c.env);
  const origin = c.req.header('Origin');
  if (origin !== undefined && origin !== new URL(config.publicUrl ?? c.req.url).origin) return 'foreign_origin';
  if (!(c.req.header('Content-Type') ?? '').startsWith('application/x-www-form-urlencoded')) return 'not_a_form';
  const body = await readCapped(c.req.raw, MAX_CONSENT_FORM_BYTES);
  if (body === undefined) return 'too_large';
  const form = new URLSearchParams(new TextDecoder().decode(body));
  return (await isValidCsrfToken(config.sessionSecret, session, form.get('csrf') ?? '')) ? form : 'bad_csrf';
}

function callbackUrl(c: Context<AuthEnv>): string {
  return `${loadConfig(c.env).publicUrl ?? new URL(c.req.url).origin}/callback`;
}

/** A page through the context, so the cookies set or cleared above go with it. */
async function page(c: Context<AuthEnv>, status: ContentfulStatusCode, title: string, message: string): Promise<Response> {
  return c.body(String(await errorPage(title, message)), status, Object.fromEntries(pageHeaders()));
}

function upstreamFailure(c: Context<AuthEnv>, error: UpstreamError): Promise<Response> {
  console.warn(JSON.stringify({ event: 'web_sign_in_failed', reason: error.reason, detail: error.detail }));
  return page(c, 503, 'Your identity provider did not answer', `${error.userMessage} You are not signed in. Try again in a moment.`);
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function isWebSession(value: unknown): value is WebSession {
  if (typeof value !== 'object' || value === null) return false;
  const session = value as Record<string, unknown>;
  return typeof session.userId === 'string' && typeof session.upstream === 'string' && typeof session.sid === 'string' && typeof session.exp === 'number';
}

function isPendingSignIn(value: unknown): value is PendingSignIn {
  if (typeof value !== 'object' || value === null) return false;
  const pending = value as Record<string, unknown>;
  const flow = pending.flow as Record<string, unknown> | null | undefined;
  return (
    typeof pending.state === 'string' &&
    typeof pending.exp === 'number' &&
    WEB_SIGN_IN_RETURNS.includes(pending.returnTo as WebSignInReturn) &&
    typeof flow === 'object' &&
    flow !== null &&
    typeof flow.codeVerifier === 'string'
  );
}
