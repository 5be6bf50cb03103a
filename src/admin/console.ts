/**
 * The admin console: /admin in a browser, for the people ADMIN_EMAILS, ADMIN_EMAIL_DOMAINS,
 * ADMIN_GITHUB_ORGS or ADMIN_GROUPS name (./admin-policy.ts), signed in through the same upstream IdP
 * as everyone (../auth/web-session.ts). Off (404) unless one of those is set. The bearer JSON API
 * (./app.ts) is separate, stays for automation, and none of these paths is one of its routes.
 *
 * GET  /admin                                                  clients (name, registration, redirect hosts, created, last used, grants)
 * GET  /admin/console/users[?cursor=]                          users holding grants, with their grants
 * GET  /admin/console/user?id=                                 → /admin/console/users/:userId
 * GET  /admin/console/users/:userId                            one user's grants
 * GET  /admin/console/audit[?since&until&user&client&type&cursor]   the audit trail, filtered (../audit/export.ts)
 * GET  /admin/console/clients/new                              the pre-registration form
 * POST /admin/console/clients                                  pre-registers a client; the secret is shown once
 * GET|POST /admin/console/clients/:clientId/delete             confirm | delete the client and its grants
 * GET|POST /admin/console/users/:userId/grants/:grantId/revoke confirm | revoke one grant
 * GET|POST /admin/console/users/:userId/revoke-all             confirm | revoke every grant of the user (100 per post)
 * GET|POST /admin/console/registration                         state and confirm | switch DCR off or on (./registration-switch.ts)
 * POST /admin/console/sign-out
 *
 * Every GET of an action shows what it will do and a form; only the POST acts. A POST needs the
 * session, a same-origin `Origin` when the browser sends one, a form body within 16 KiB and the
 * session's CSRF token, and is then checked against the admin policy like every page: someone
 * signed in but not an administrator gets 403 everywhere, without anything being read.
 */
import { Hono, type Context } from 'hono';
import { audit } from '../audit/recorder';
import { encodeCursor, exportPage, FilterError, parseAuditQuery } from '../audit/export';
import type { AuthEnv } from '../auth/app';
import { pageHeaders } from '../auth/pages';
import { forgetTrusted, markTrusted } from '../auth/trusted-clients';
import { csrfToken, endWebSession, FORM_REFUSAL_STATUS, FORM_REFUSAL_TITLE, readSessionForm, readWebSession, startWebSignIn, type WebSession } from '../auth/web-session';
import { loadConfig } from '../config';
import { vaultIdOf } from '../storage/grant-records';
import { revokeGrant } from '../storage/revoke-grant';
import { redirectUriProblem } from './redirect-uris';
import { isAdmin, isConsoleEnabled } from './admin-policy';
import { byUser, clientNames, clientRow, clientRows, readGrant, scanGrants, userGrants, USER_GRANTS_PER_VIEW, type GrantRow } from './console-data';
import {
  auditPage,
  AUTH_METHODS,
  clientCreatedPage,
  clientsPage,
  confirmPage,
  consoleMessagePage,
  deleteClientConsequences,
  newClientPage,
  registrationPage,
  revokeAllConsequences,
  revokeGrantConsequences,
  userPage,
  usersPage,
  type AuditFilterForm,
  type ConsoleViewer,
  type NewClientForm,
} from './console-pages';
import { isRegistrationOpen, setRegistrationOpen } from './registration-switch';

/** The provider's grant ids and this server's user ids (userIdFor): anything else is not one, and is refused unread. */
const GRANT_ID = /^[A-Za-z0-9_-]{1,128}$/;
const USER_ID = /^[A-Za-z0-9_-]{1,128}$/;
/** Client ids the provider mints (and no metadata-document URL, which has no record to delete). */
const CLIENT_ID = /^[A-Za-z0-9_-]{1,256}$/;
/** KV list cursors are opaque base64-ish strings; bounded so a made-up one costs nothing. */
const MAX_CURSOR_CHARS = 1024;
/** Pre-registration bounds: the JSON API's (./app.ts), which a person's form should not exceed. */
const MAX_CLIENT_NAME_CHARS = 200;
const MAX_REDIRECT_URIS = 20;
/** Events per audit page: a screenful. */
const AUDIT_EVENTS_PER_PAGE = 100;
/** The audit view's default window; the export's default (the whole retention) is far more than a page. */
const DEFAULT_AUDIT_WINDOW_MS = 24 * 60 * 60 * 1000;

/** Notices a redirect may ask a page to show: by key, so no caller can put words on the page. */
const NOTICES = {
  deleted: 'The client was deleted, with every grant made to it.',
  revoked: 'The grant was revoked. Its tokens no longer work.',
  'revoked-all': 'Every grant of this user was revoked.',
  'revoked-some': 'The first 100 grants of this user were revoked; more remain. Revoke again to continue.',
  'registration-off': 'Dynamic client registration is now off.',
  'registration-on': 'Dynamic client registration is now on.',
} as const;

interface Admin {
  session: WebSession;
  viewer: ConsoleViewer;
}

export const consoleApp = new Hono<AuthEnv>();

consoleApp.get('/', async (c) => {
  const admin = await admitted(c);
  if (admin instanceof Response) return admin;
  const cursor = boundedCursor(c.req.query('cursor'));
  // The first grants, for counts and last use: bounded per view (./console-data.ts).
  const scan = await scanGrants(c.env.OAUTH_KV, undefined);
  const page = await clientRows(c.env.OAUTH_PROVIDER, c.env.OAUTH_KV, cursor, scan);
  audit({ type: 'admin.action', reason: 'clients_listed', outcome: 'ok', email: admin.session.email, detail: { status: 200 } });
  return respond(c, 200, clientsPage(admin.viewer, page.clients, page.cursor, scan.cursor === undefined, scan.grants.length, notice(c)));
});

consoleApp.get('/console/users', async (c) => {
  const admin = await admitted(c);
  if (admin instanceof Response) return admin;
  const scan = await scanGrants(c.env.OAUTH_KV, boundedCursor(c.req.query('cursor')));
  const names = await clientNames(c.env.OAUTH_PROVIDER, scan.grants);
  audit({ type: 'admin.action', reason: 'grants_listed', outcome: 'ok', email: admin.session.email, detail: { status: 200 } });
  return respond(c, 200, usersPage(admin.viewer, byUser(scan.grants), names, scan.cursor, notice(c)));
});

consoleApp.get('/console/user', async (c) => {
  const admin = await admitted(c);
  if (admin instanceof Response) return admin;
  const userId = (c.req.query('id') ?? '').trim();
  if (!USER_ID.test(userId)) return message(c, 400, 'Not a user id', 'User ids are letters, digits, - and _ (what whoami shows), like oidc-0123… or github-123.');
  return c.redirect(`/admin/console/users/${encodeURIComponent(userId)}`, 303);
});

consoleApp.get('/console/users/:userId', async (c) => {
  const admin = await admitted(c);
  if (admin instanceof Response) return admin;
  const userId = c.req.param('userId');
  if (!USER_ID.test(userId)) return message(c, 404, 'No such user', 'That is not a user id.');
  const { grants, more } = await userGrants(c.env.OAUTH_PROVIDER, c.env.OAUTH_KV, userId);
  const names = await clientNames(c.env.OAUTH_PROVIDER, grants);
  audit({ type: 'admin.action', reason: 'grants_listed', outcome: 'ok', userId, email: admin.session.email, detail: { status: 200 } });
  return respond(c, 200, userPage(admin.viewer, userId, grants, names, more, notice(c)));
});

consoleApp.get('/console/audit', async (c) => {
  const admin = await admitted(c);
  if (admin instanceof Response) return admin;
  const url = new URL(c.req.url);
  const form: AuditFilterForm = { since: '', until: '', user: '', client: '', type: '' };
  const query = new URLSearchParams();
  for (const name of ['since', 'until', 'user', 'client', 'type'] as const) {
    const value = (url.searchParams.get(name) ?? '').trim().slice(0, 600);
    form[name] = value;
    if (value !== '') query.set(name, value);
  }
  if (!query.has('since')) query.set('since', new Date(Date.now() - DEFAULT_AUDIT_WINDOW_MS).toISOString());
  query.set('limit', String(AUDIT_EVENTS_PER_PAGE));
  const cursor = url.searchParams.get('cursor');
  if (cursor !== null) query.set('cursor', cursor);
  let parsed: ReturnType<typeof parseAuditQuery>;
  try {
    parsed = parseAuditQuery(query, Date.now(), loadConfig(c.env).audit.retentionDays);
  } catch (error) {
    if (!(error instanceof FilterError)) throw error;
    return respond(c, 400, auditPage(admin.viewer, form, [], undefined, error.message));
  }
  const page = await exportPage(c.env, parsed.filter, parsed.cursor);
  let next: string | undefined;
  if (page.next) {
    const following = new URLSearchParams(Object.entries(form).filter(([, value]) => value !== ''));
    // The window stays where this page put it, so "24 hours ago" does not move under the reader.
    following.set('since', new Date(parsed.filter.since).toISOString());
    following.set('cursor', encodeCursor(page.next));
    next = `/admin/console/audit?${following}`;
  }
  audit({ type: 'admin.action', reason: 'audit_exported', outcome: 'ok', email: admin.session.email, detail: { status: 200 } });
  return respond(c, 200, auditPage(admin.viewer, form, page.records, next, undefined));
});

consoleApp.get('/console/clients/new', async (c) => {
  const admin = await admitted(c);
  if (admin instanceof Response) return admin;
  return respond(c, 200, newClientPage(admin.viewer, { name: '', redirectUris: '', authMethod: 'client_secret_basic' }, []));
});

consoleApp.post('/console/clients', async (c) => {
  const posted = await postedForm(c);
  if (posted instanceof Response) return posted;
  const { admin, form } = posted;
  const entered: NewClientForm = {
    name: (form.get('client_name') ?? '').trim(),
    redirectUris: form.get('redirect_uris') ?? '',
    authMethod: form.get('token_endpoint_auth_method') ?? 'client_secret_basic',
  };
  const redirectUris = entered.redirectUris
    .split(/\r?\n/)
    .map((uri) => uri.trim())
    .filter(Boolean);
  const problems = newClientProblems(entered, redirectUris);
  const authMethod = AUTH_METHODS.find((method) => method === entered.authMethod);
  if (problems.length > 0 || authMethod === undefined) return respond(c, 400, newClientPage(admin.viewer, entered, problems));
  let client;
  try {
    client = await c.env.OAUTH_PROVIDER.createClient({
      clientName: entered.name,
      redirectUris,
      tokenEndpointAuthMethod: authMethod,
      grantTypes: ['authorization_code', 'refresh_token'],
      responseTypes: ['code'],
    });
  } catch (error) {
    // The provider's own redirect URI rules (RFC 8252 and its options) beyond the checks above.
    if (!(error instanceof Error)) throw error;
    return respond(c, 400, newClientPage(admin.viewer, entered, [`The server refused these redirect URIs: ${error.message.slice(0, 300)}`]));
  }
  // A person entered these redirect URIs: errors may go back to them automatically (../auth/trusted-clients.ts).
  await markTrusted(c.env.OAUTH_KV, client.clientId);
  audit({ type: 'client.registered', reason: 'admin', outcome: 'ok', clientId: client.clientId, clientName: client.clientName });
  audit({ type: 'admin.action', reason: 'client_created', outcome: 'ok', clientId: client.clientId, clientName: client.clientName, email: admin.session.email, detail: { status: 201, actor: admin.session.userId } });
  // The secret is shown this once (the page is no-store); only its hash is stored.
  return respond(
    c,
    201,
    clientCreatedPage(admin.viewer, {
      clientId: client.clientId,
      clientName: client.clientName ?? entered.name,
      clientSecret: client.clientSecret,
      redirectUris: client.redirectUris,
      tokenEndpointAuthMethod: client.tokenEndpointAuthMethod,
    }),
  );
});

consoleApp.get('/console/clients/:clientId/delete', async (c) => {
  const admin = await admitted(c);
  if (admin instanceof Response) return admin;
  const clientId = c.req.param('clientId');
  const client = CLIENT_ID.test(clientId) ? await clientRow(c.env.OAUTH_PROVIDER, c.env.OAUTH_KV, clientId) : undefined;
  if (!client) return message(c, 404, 'No such client', 'That client is not registered (any more).');
  return respond(c, 200, confirmPage(admin.viewer, 'Delete this client?', deleteClientConsequences(client), `/admin/console/clients/${encodeURIComponent(clientId)}/delete`, 'Delete the client and its grants'));
});

consoleApp.post('/console/clients/:clientId/delete', async (c) => {
  const posted = await postedForm(c);
  if (posted instanceof Response) return posted;
  const clientId = c.req.param('clientId');
  const client = CLIENT_ID.test(clientId) ? await c.env.OAUTH_PROVIDER.lookupClient(clientId) : null;
  if (!client) {
    audit({ type: 'admin.action', reason: 'client_deleted', outcome: 'error', clientId: clientId.slice(0, 256), email: posted.admin.session.email, detail: { status: 404 } });
    return message(c, 404, 'No such client', 'That client is not registered (any more). Nothing was changed.');
  }
  // The provider revokes every grant of the client (and their tokens) after removing its record.
  await c.env.OAUTH_PROVIDER.deleteClient(clientId);
  await forgetTrusted(c.env.OAUTH_KV, clientId);
  audit({ type: 'client.deleted', reason: 'admin', outcome: 'ok', clientId, clientName: client.clientName });
  audit({ type: 'admin.action', reason: 'client_deleted', outcome: 'ok', clientId, clientName: client.clientName, email: posted.admin.session.email, detail: { status: 303, actor: posted.admin.session.userId } });
  return c.redirect('/admin?notice=deleted', 303);
});

/** The grant the path names, if it exists under that user (its key names both: grant:<user>:<grant>). */
async function grantInPath(c: Context<AuthEnv>): Promise<GrantRow | undefined> {
  const { userId, grantId } = c.req.param();
  return userId !== undefined && grantId !== undefined && USER_ID.test(userId) && GRANT_ID.test(grantId) ? readGrant(c.env.OAUTH_KV, userId, grantId) : undefined;
}

consoleApp.get('/console/users/:userId/grants/:grantId/revoke', async (c) => {
  const admin = await admitted(c);
  if (admin instanceof Response) return admin;
  const { userId, grantId } = c.req.param();
  const grant = await grantInPath(c);
  if (!grant) return message(c, 404, 'No such grant', 'That grant does not exist (any more).');
  const names = await clientNames(c.env.OAUTH_PROVIDER, [grant]);
  const action = `/admin/console/users/${encodeURIComponent(userId)}/grants/${encodeURIComponent(grantId)}/revoke`;
  return respond(c, 200, confirmPage(admin.viewer, 'Revoke this grant?', revokeGrantConsequences(grant, names.get(grant.clientId) ?? grant.clientId), action, 'Revoke the grant'));
});

consoleApp.post('/console/users/:userId/grants/:grantId/revoke', async (c) => {
  const posted = await postedForm(c);
  if (posted instanceof Response) return posted;
  const { userId, grantId } = c.req.param();
  const grant = await grantInPath(c);
  if (!grant) return message(c, 404, 'No such grant', 'That grant does not exist (any more). Nothing was changed.');
  await revokeGrant(c.env.OAUTH_PROVIDER, c.env, { userId, grantId, vaultId: grant.vaultId, clientId: grant.clientId }, 'admin');
  audit({ type: 'admin.action', reason: 'grant_revoked', outcome: 'ok', userId, email: posted.admin.session.email, detail: { grant_id: grantId, status: 303, actor: posted.admin.session.userId } });
  return c.redirect(`/admin/console/users/${encodeURIComponent(userId)}?notice=revoked`, 303);
});

consoleApp.get('/console/users/:userId/revoke-all', async (c) => {
  const admin = await admitted(c);
  if (admin instanceof Response) return admin;
  const userId = c.req.param('userId');
  if (!USER_ID.test(userId)) return message(c, 404, 'No such user', 'That is not a user id.');
  const listed = await c.env.OAUTH_PROVIDER.listUserGrants(userId, { limit: USER_GRANTS_PER_VIEW });
  if (listed.items.length === 0) return message(c, 404, 'No grants', 'This user holds no grants.');
  const action = `/admin/console/users/${encodeURIComponent(userId)}/revoke-all`;
  return respond(c, 200, confirmPage(admin.viewer, 'Revoke every grant of this user?', revokeAllConsequences(userId, listed.items.length, listed.cursor !== undefined), action, 'Revoke every grant'));
});

consoleApp.post('/console/users/:userId/revoke-all', async (c) => {
  const posted = await postedForm(c);
  if (posted instanceof Response) return posted;
  const userId = c.req.param('userId');
  if (!USER_ID.test(userId)) return message(c, 404, 'No such user', 'That is not a user id. Nothing was changed.');
  // One page per confirmation: each revocation lists and deletes the grant's tokens (KV operations per invocation are bounded).
  const listed = await c.env.OAUTH_PROVIDER.listUserGrants(userId, { limit: USER_GRANTS_PER_VIEW });
  for (const grant of listed.items) {
    await revokeGrant(c.env.OAUTH_PROVIDER, c.env, { userId, grantId: grant.id, vaultId: vaultIdOf(grant.metadata), clientId: grant.clientId }, 'admin');
    audit({ type: 'admin.action', reason: 'grant_revoked', outcome: 'ok', userId, email: posted.admin.session.email, detail: { grant_id: grant.id, status: 303, actor: posted.admin.session.userId } });
  }
  return c.redirect(`/admin/console/users/${encodeURIComponent(userId)}?notice=${listed.cursor === undefined ? 'revoked-all' : 'revoked-some'}`, 303);
});

consoleApp.get('/console/registration', async (c) => {
  const admin = await admitted(c);
  if (admin instanceof Response) return admin;
  return respond(c, 200, registrationPage(admin.viewer, await isRegistrationOpen(c.env.OAUTH_KV), notice(c)));
});

consoleApp.post('/console/registration', async (c) => {
  const posted = await postedForm(c);
  if (posted instanceof Response) return posted;
  const wanted = posted.form.get('open');
  if (wanted !== 'on' && wanted !== 'off') return message(c, 400, 'This form cannot be used', 'Open the registration page and try again. Nothing was changed.');
  await setRegistrationOpen(c.env.OAUTH_KV, wanted === 'on');
  audit({ type: 'admin.action', reason: wanted === 'on' ? 'registration_opened' : 'registration_closed', outcome: 'ok', email: posted.admin.session.email, detail: { status: 303, actor: posted.admin.session.userId } });
  return c.redirect(`/admin/console/registration?notice=registration-${wanted}`, 303);
});

consoleApp.post('/console/sign-out', async (c) => {
  const posted = await postedForm(c);
  if (posted instanceof Response) return posted;
  endWebSession(c);
  return message(c, 200, 'Signed out', 'You are signed out of the admin console.');
});

/**
 * The administrator making this request, or the page to answer instead: 404 while the console is
 * off; sign-in first (GET) or 401 (anything else) without a session; 403 for anyone the admin
 * policy does not name now.
 */
async function admitted(c: Context<AuthEnv>): Promise<Admin | Response> {
  const config = loadConfig(c.env);
  if (!isConsoleEnabled(config.adminPolicy)) return c.notFound();
  const session = await readWebSession(c);
  if (!session) {
    if (c.req.method === 'GET') return startWebSignIn(c, '/admin');
    return message(c, 401, 'You are not signed in', 'Your session ended. Open the admin console again to sign in. Nothing was changed.');
  }
  if (!isAdmin(config.adminPolicy, session)) {
    audit({ type: 'admin.action', reason: 'console_denied', outcome: 'denied', userId: session.userId, email: session.email, detail: { status: 403, upstream: session.upstream } });
    return message(c, 403, 'Not an administrator', 'This account may not use the admin console. An administrator adds people in the ADMIN_* settings.');
  }
  return { session, viewer: { who: session.email ?? session.name ?? session.userId, csrf: await csrfToken(config.sessionSecret, session) } };
}

/**
 * The administrator and the posted form, when the form is small, comes from this session's page (its
 * CSRF token) and, where the browser says where it comes from, from this origin; else the page to send.
 * The session is checked before the body is read, and the admin policy before anything else.
 */
async function postedForm(c: Context<AuthEnv>): Promise<{ admin: Admin; form: URLSearchParams } | Response> {
  const admin = await admitted(c);
  if (admin instanceof Response) return admin;
  const form = await readSessionForm(c, admin.session);
  if (typeof form === 'string') return message(c, FORM_REFUSAL_STATUS[form], FORM_REFUSAL_TITLE[form], 'Open the admin console again and retry. Nothing was changed.');
  return { admin, form };
}

/** What is wrong with a pre-registration, each naming the field; the same rules as the JSON API (./app.ts). */
function newClientProblems(form: NewClientForm, redirectUris: readonly string[]): string[] {
  const problems: string[] = [];
  if (form.name === '' || form.name.length > MAX_CLIENT_NAME_CHARS) problems.push(`Name: 1 to ${MAX_CLIENT_NAME_CHARS} characters.`);
  if (!AUTH_METHODS.some((method) => method === form.authMethod)) problems.push(`Token endpoint authentication: one of ${AUTH_METHODS.join(', ')}.`);
  if (redirectUris.length === 0 || redirectUris.length > MAX_REDIRECT_URIS) problems.push(`Redirect URIs: 1 to ${MAX_REDIRECT_URIS}, one a line.`);
  for (const uri of redirectUris.slice(0, MAX_REDIRECT_URIS)) {
    const problem = redirectUriProblem(uri);
    if (problem) problems.push(`Redirect URI ${uri.slice(0, 200)} ${problem}.`);
  }
  return problems;
}

function boundedCursor(value: string | undefined): string | undefined {
  return value && value.length <= MAX_CURSOR_CHARS ? value : undefined;
}

function notice(c: Context<AuthEnv>): string | undefined {
  const key = c.req.query('notice') ?? '';
  return Object.hasOwn(NOTICES, key) ? NOTICES[key as keyof typeof NOTICES] : undefined;
}

async function respond(c: Context<AuthEnv>, status: 200 | 201 | 400, page: Promise<unknown> | unknown): Promise<Response> {
  return c.body(String(await page), status, consolePageHeaders());
}

async function message(c: Context<AuthEnv>, status: 200 | 400 | 401 | 403 | 404 | 413 | 415, title: string, text: string): Promise<Response> {
  return c.body(String(await consoleMessagePage(title, text)), status, consolePageHeaders());
}

/** The pages' usual headers, but same-origin referrers: see `layout` in ../auth/pages.ts. */
function consolePageHeaders(): Record<string, string> {
  const headers = pageHeaders();
  headers.set('Referrer-Policy', 'same-origin');
  return Object.fromEntries(headers);
}
