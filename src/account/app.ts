/**
 * Connected apps, for every user: the MCP clients they authorized, and a way to cut any of them off.
 *
 * GET  /account            the list (signing in through the upstream IdP first: ../auth/web-session.ts)
 * POST /account/revoke     `grant`, `csrf`: revokes one of the signed-in user's grants
 * POST /account/sign-out   `csrf`: ends the session in this browser
 *
 * A revoked grant takes its tokens with it (the provider deletes them, through the consistency layer,
 * so every location refuses them at once: README "Consistency"), and its upstream tokens.
 */
import type { GrantSummary } from '@cloudflare/workers-oauth-provider';
import { Hono, type Context } from 'hono';
import type { AuthEnv } from '../auth/app';
import { pageHeaders } from '../auth/pages';
import { isTrusted } from '../auth/trusted-clients';
import { csrfToken, endWebSession, FORM_REFUSAL_STATUS, FORM_REFUSAL_TITLE, readSessionForm, readWebSession, startWebSignIn, type WebSession } from '../auth/web-session';
import { loadConfig } from '../config';
import { hostOf, isMetadataDocumentId, readGrant } from '../storage/grant-records';
import { revokeGrant } from '../storage/revoke-grant';
import { accountMessagePage, accountPage, type AppVerification, type ConnectedApp } from './pages';

/** Grants listed at most: 10 pages of the provider's listing. A person has a handful. */
const MAX_GRANT_PAGES = 10;
/** The provider's grant ids (random base64url-ish); anything else is not one and is refused unread. */
const GRANT_ID = /^[A-Za-z0-9_-]{1,128}$/;

export const accountApp = new Hono<AuthEnv>();

accountApp.get('/', async (c) => {
  const session = await readWebSession(c);
  if (!session) return startWebSignIn(c, '/account');
  const apps = await connectedApps(c, session.userId);
  const notice = c.req.query('disconnected') === '1' ? 'The app was disconnected. Its access has stopped.' : undefined;
  const csrf = await csrfToken(loadConfig(c.env).sessionSecret, session);
  return c.body(String(await accountPage(session.email ?? session.name ?? session.userId, apps, csrf, notice)), 200, accountPageHeaders());
});

accountApp.post('/revoke', async (c) => {
  const posted = await postedForm(c);
  if (posted instanceof Response) return posted;
  const { session, form } = posted;
  const grantId = form.get('grant') ?? '';
  // Only a grant of the signed-in user: its key names the user (grant:<user>:<grant>).
  const grant = GRANT_ID.test(grantId) ? await readGrant(c.env.OAUTH_KV, session.userId, grantId) : undefined;
  if (!grant) return page(c, 404, 'No such app', 'That app is not connected to your account (any more).');
  await revokeGrant(c.env.OAUTH_PROVIDER, c.env, { userId: session.userId, grantId, vaultId: grant.vaultId, email: session.email }, 'user');
  return c.redirect('/account?disconnected=1', 303);
});

accountApp.post('/sign-out', async (c) => {
  const posted = await postedForm(c);
  if (posted instanceof Response) return posted;
  endWebSession(c);
  return page(c, 200, 'Signed out', 'You are signed out of this page. Apps you connected keep their access until you disconnect them.');
});

/**
 * The signed-in session and the posted form, when the form is small, comes from this session's page
 * (its CSRF token) and, where the browser says where it comes from, from this origin; else the page to send.
 */
async function postedForm(c: Context<AuthEnv>): Promise<{ session: WebSession; form: URLSearchParams } | Response> {
  const session = await readWebSession(c);
  if (!session) return page(c, 401, 'You are not signed in', 'Your session ended. Open the connected apps page again to sign in.');
  const form = await readSessionForm(c, session);
  if (typeof form === 'string') return page(c, FORM_REFUSAL_STATUS[form], FORM_REFUSAL_TITLE[form], 'Open the connected apps page again and retry.');
  return { session, form };
}

/** The user's grants as the page shows them, newest first. */
async function connectedApps(c: Context<AuthEnv>, userId: string): Promise<ConnectedApp[]> {
  const grants: GrantSummary[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < MAX_GRANT_PAGES; pages++) {
    const listed = await c.env.OAUTH_PROVIDER.listUserGrants(userId, { cursor, limit: 100 });
    grants.push(...listed.items);
    cursor = listed.cursor;
    if (!cursor) break;
  }
  const apps = await Promise.all(grants.map((grant) => describeGrant(c, userId, grant)));
  return apps.sort((a, b) => b.connectedAt - a.connectedAt);
}

async function describeGrant(c: Context<AuthEnv>, userId: string, grant: GrantSummary): Promise<ConnectedApp> {
  // The record for its last refresh-token rotation (../auth/refresh-reuse.ts keeps it there); a failed read shows the creation.
  const [identity, record] = await Promise.all([describeClient(c, grant.clientId), readGrant(c.env.OAUTH_KV, userId, grant.id).catch(() => undefined)]);
  const connectedAt = grant.createdAt * 1000;
  const redirect = grant.redirectUri ?? identity.redirectUri;
  return {
    grantId: grant.id,
    name: identity.name,
    verification: identity.verification,
    redirectHost: redirect ? hostOf(redirect) : undefined,
    scopes: grant.scope,
    connectedAt,
    lastActiveAt: Math.max(connectedAt, record?.lastRefreshAt ?? 0),
  };
}

/**
 * A client's name and who vouches for it, without any outbound request: a metadata-document client
 * (its id an https URL) is named by its domain, which is what verifies it; fetching its document for
 * a display name would let every page view make this Worker fetch attacker-chosen URLs.
 */
async function describeClient(c: Context<AuthEnv>, clientId: string): Promise<{ name: string; verification: AppVerification; redirectUri?: string }> {
  if (isMetadataDocumentId(clientId)) {
    const domain = hostOf(clientId) ?? clientId;
    return { name: domain, verification: { kind: 'domain', domain } };
  }
  const [client, trusted] = await Promise.all([c.env.OAUTH_PROVIDER.lookupClient(clientId), isTrusted(c.env.OAUTH_KV, clientId)]);
  return {
    name: client?.clientName || (client ? 'An app with no name' : 'A deleted app'),
    verification: trusted ? { kind: 'administrator' } : { kind: 'self' },
    redirectUri: client?.redirectUris[0],
  };
}

async function page(c: Context<AuthEnv>, status: 200 | 401 | 403 | 404 | 413 | 415, title: string, message: string): Promise<Response> {
  return c.body(String(await accountMessagePage(title, message)), status, accountPageHeaders());
}

/** The pages' usual headers, but same-origin referrers: see `layout` in ../auth/pages.ts. */
function accountPageHeaders(): Record<string, string> {
  const headers = pageHeaders();
  headers.set('Referrer-Policy', 'same-origin');
  return Object.fromEntries(headers);
}
