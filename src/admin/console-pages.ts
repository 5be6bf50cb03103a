/**
 * The admin console's HTML. Client names, redirect hosts, user ids and everything in the audit trail
 * come from callers (self-registration, CIMD domains, sign-ins) and are attacker-chosen: every value
 * goes through hono's `html` template, which escapes it. No script at all: every action is a form
 * that first shows what it will do (a confirmation page) and then posts with the session's CSRF token.
 */
import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { AuditRecord } from '../audit/events';
import { layout } from '../auth/pages';
import type { ClientRow, GrantRow, Registration } from './console-data';

type Markup = HtmlEscapedString | Promise<HtmlEscapedString>;

/** Who is signed in, and the token every form of the page carries. */
export interface ConsoleViewer {
  who: string;
  csrf: string;
}

/** Wider than the sign-in pages (tables); an inline style, which the pages' CSP allows (`style-src 'unsafe-inline'`). */
const CONSOLE_STYLE = `body{max-width:72rem}table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top}nav a{margin-right:1rem}
.danger{background:#b42318;color:#fff;border-color:#b42318}code{word-break:break-all}input[type=text],textarea,select{font:inherit;width:100%;box-sizing:border-box}`;

function shell(title: string, viewer: ConsoleViewer, body: Markup, notice?: string) {
  return layout(
    `${title} · Admin`,
    html`<style>${CONSOLE_STYLE}</style>
<nav><a href="/admin" id="nav-clients">Clients</a><a href="/admin/console/users" id="nav-users">Users</a><a href="/admin/console/audit" id="nav-audit">Audit trail</a><a href="/admin/console/registration" id="nav-registration">Registration</a><a href="/admin/console/clients/new" id="nav-new-client">Pre-register a client</a></nav>
<p><small>Signed in as <strong>${viewer.who}</strong>, administrator.</small></p>
${notice ? html`<div class="box" id="notice" role="status">${notice}</div>` : ''}
<h1>${title}</h1>
${body}
<form method="post" action="/admin/console/sign-out"><input type="hidden" name="csrf" value="${viewer.csrf}"><p><button type="submit" id="sign-out">Sign out</button></p></form>`,
    'same-origin',
  );
}

const REGISTRATION_LABELS: Record<Registration, string> = {
  administrator: 'pre-registered by an administrator',
  self: 'registered itself (DCR)',
  'metadata-document': 'metadata document (CIMD)',
};

export function clientsPage(viewer: ConsoleViewer, clients: readonly ClientRow[], next: string | undefined, scanComplete: boolean, scannedGrants: number, notice?: string) {
  const rows = clients.map(
    (client) => html`<tr class="client" data-client="${client.clientId}">
<td><strong class="client-name">${client.name}</strong><br><small><code>${client.clientId}</code></small></td>
<td class="registration">${REGISTRATION_LABELS[client.registration]}${client.tokenEndpointAuthMethod ? html`<br><small>${client.tokenEndpointAuthMethod}</small>` : ''}</td>
<td class="redirect-hosts">${client.redirectHosts.length ? client.redirectHosts.map((host, index) => html`${index ? ', ' : ''}${host}`) : html`<small>not stored</small>`}</td>
<td class="created">${when(client.createdAt)}</td>
<td class="last-used">${when(client.lastUsedAt)}</td>
<td class="grants">${client.grants}${scanComplete ? '' : '+'}</td>
<td>${client.registration === 'metadata-document' ? '' : html`<a href="/admin/console/clients/${encodeURIComponent(client.clientId)}/delete" class="delete">Delete…</a>`}</td>
</tr>`,
  );
  const coverage = scanComplete
    ? html`<p><small>Grant counts and last use cover every grant (${scannedGrants}).</small></p>`
    : html`<p><small>Grant counts and last use cover the first ${scannedGrants} grants only (a page view reads at most that many); a count marked + may be higher. The <a href="/admin/console/users">users view</a> walks them all, page by page.</small></p>`;
  return shell(
    'Clients',
    viewer,
    html`<p>Every registered MCP client. Deleting one revokes every grant made to it, and its tokens stop working.</p>
${coverage}
<table id="clients"><thead><tr><th>Name and id</th><th>How registered</th><th>Redirect hosts</th><th>Created</th><th>Last used</th><th>Grants</th><th></th></tr></thead>
<tbody>${clients.length ? rows : html`<tr><td colspan="7">No clients.</td></tr>`}</tbody></table>
${next ? html`<p><a href="/admin?cursor=${encodeURIComponent(next)}" id="next">Next clients</a></p>` : ''}`,
    notice,
  );
}

/** Grants in a table: client, scopes, created, last refreshed, and a revoke link each. */
function grantTable(grants: readonly GrantRow[], names: ReadonlyMap<string, string>) {
  const rows = grants.map(
    (grant) => html`<tr class="grant" data-grant="${grant.grantId}">
<td><span class="client-name">${names.get(grant.clientId) ?? grant.clientId}</span><br><small><code>${grant.clientId}</code></small></td>
<td class="scopes">${grant.scopes.join(' ')}</td>
<td class="created">${when(grant.createdAt)}</td>
<td class="last-refreshed">${grant.lastRefreshAt === undefined ? 'never' : when(grant.lastRefreshAt)}</td>
<td><a href="/admin/console/users/${encodeURIComponent(grant.userId)}/grants/${encodeURIComponent(grant.grantId)}/revoke" class="revoke">Revoke…</a></td>
</tr>`,
  );
  return html`<table class="grants"><thead><tr><th>Client</th><th>Scopes</th><th>Created</th><th>Last refreshed</th><th></th></tr></thead><tbody>${rows}</tbody></table>`;
}

/** The emails a user's grants were made with (one, unless the IdP changed it), after the user id. */
function emailsOf(grants: readonly GrantRow[]) {
  const emails = [...new Set(grants.flatMap((grant) => (grant.email ? [grant.email] : [])))];
  return emails.length ? html` <small class="email">${emails.join(', ')}</small>` : '';
}

export function usersPage(viewer: ConsoleViewer, users: ReadonlyMap<string, GrantRow[]>, names: ReadonlyMap<string, string>, next: string | undefined, notice?: string) {
  const sections = [...users].map(
    ([userId, grants]) => html`<section class="user box" data-user="${userId}">
<h2><a href="/admin/console/users/${encodeURIComponent(userId)}"><code>${userId}</code></a>${emailsOf(grants)}</h2>
${grantTable(grants, names)}
<p><a href="/admin/console/users/${encodeURIComponent(userId)}/revoke-all" class="revoke-all">Revoke every grant of this user…</a></p>
</section>`,
  );
  return shell(
    'Users',
    viewer,
    html`<p>Users who hold at least one grant, by user id (what <code>whoami</code> shows), with the email their IdP gave when they signed in.</p>
<form method="get" action="/admin/console/user"><label>Go to a user id <input type="text" name="id" required maxlength="128"></label><button type="submit">Show</button></form>
<p><small>This page reads at most 100 grants; a user whose grants straddle two pages appears on both.</small></p>
${sections.length ? sections : html`<p id="no-users">No grants${next ? ' on this page' : ''}.</p>`}
${next ? html`<p><a href="/admin/console/users?cursor=${encodeURIComponent(next)}" id="next">Next users</a></p>` : ''}`,
    notice,
  );
}

export function userPage(viewer: ConsoleViewer, userId: string, grants: readonly GrantRow[], names: ReadonlyMap<string, string>, more: boolean, notice?: string) {
  return shell(
    `User ${userId}`,
    viewer,
    html`${grants.length ? grantTable(grants, names) : html`<p id="no-grants">This user holds no grants.</p>`}
${more ? html`<p><small>Only the first 100 grants are listed.</small></p>` : ''}
${grants.length ? html`<p><a href="/admin/console/users/${encodeURIComponent(userId)}/revoke-all" class="revoke-all">Revoke every grant of this user…</a></p>` : ''}
<p><a href="/admin/console/audit?user=${encodeURIComponent(userId)}">This user in the audit trail</a></p>`,
    notice,
  );
}

export interface AuditFilterForm {
  since: string;
  until: string;
  user: string;
  client: string;
  type: string;
}

export function auditPage(viewer: ConsoleViewer, filters: AuditFilterForm, records: readonly AuditRecord[], next: string | undefined, error: string | undefined) {
  const rows = records.map(
    (record) => html`<tr class="event">
<td>${new Date(record.time).toISOString()}</td><td><code>${record.type}</code></td><td>${record.outcome}</td><td>${record.reason}</td>
<td>${record.user_id ?? ''}${record.email ? html`<br><small>${record.email}</small>` : ''}</td>
<td>${record.client_name ?? ''}${record.client_id ? html`<br><small><code>${record.client_id}</code></small>` : ''}</td>
<td><small>${Object.entries(record.detail)
      .map(([key, value]) => `${key}=${String(value)}`)
      .join(' ')}</small></td><td><small>${record.ip ?? ''}</small></td>
</tr>`,
  );
  const field = (name: keyof AuditFilterForm, label: string, hint: string) =>
    html`<label>${label} <input type="text" name="${name}" value="${filters[name]}" maxlength="600"> <small>${hint}</small></label>`;
  return shell(
    'Audit trail',
    viewer,
    html`<form method="get" action="/admin/console/audit" id="audit-filters" class="box">
${field('since', 'Since', 'ISO 8601 time or date (UTC); default: 24 hours ago')}
${field('until', 'Until', 'default: now')}
${field('user', 'User id', '')}
${field('client', 'Client id', '')}
${field('type', 'Types', 'comma-separated, e.g. grant.revoked,admin.action')}
<p><button type="submit" class="primary">Filter</button></p></form>
${error ? html`<div class="box warn" id="filter-error" role="alert">${error}</div>` : ''}
<p><small>Oldest first, 100 a page. The same trail, without limits, is <code>GET /admin/audit</code> with the admin token.</small></p>
<table id="events"><thead><tr><th>Time (UTC)</th><th>Type</th><th>Outcome</th><th>Reason</th><th>User</th><th>Client</th><th>Detail</th><th>Address</th></tr></thead>
<tbody>${records.length ? rows : html`<tr><td colspan="8">No events${next ? ' on this page' : ''}.</td></tr>`}</tbody></table>
${next ? html`<p><a href="${next}" id="next">Next events</a></p>` : ''}`,
  );
}

export function registrationPage(viewer: ConsoleViewer, open: boolean, notice?: string) {
  const action = open
    ? html`<p>Switching it off refuses every new self-registration (<code>POST /register</code> answers 403 <code>access_denied</code>) until it is switched on again. Existing clients, pre-registered clients and metadata-document clients keep working. It takes effect here at once and everywhere within about a minute.</p>
<input type="hidden" name="open" value="off"><p><button type="submit" class="danger" id="confirm">Switch registration off</button></p>`
    : html`<p>Switching it on lets any MCP client register itself again (RFC 7591).</p>
<input type="hidden" name="open" value="on"><p><button type="submit" class="primary" id="confirm">Switch registration on</button></p>`;
  return shell(
    'Dynamic client registration',
    viewer,
    html`<p id="registration-state">Dynamic client registration is <strong>${open ? 'on' : 'off'}</strong>.</p>
<form method="post" action="/admin/console/registration"><input type="hidden" name="csrf" value="${viewer.csrf}">${action}</form>`,
    notice,
  );
}

export interface NewClientForm {
  name: string;
  redirectUris: string;
  authMethod: string;
}

export const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'none'] as const;

export function newClientPage(viewer: ConsoleViewer, form: NewClientForm, problems: readonly string[]) {
  const options = AUTH_METHODS.map((method) => html`<option value="${method}"${method === form.authMethod ? html` selected` : ''}>${method}</option>`);
  return shell(
    'Pre-register a client',
    viewer,
    html`<p>For a gateway that is configured with a client id and secret rather than registering itself (MCP Manager's "OAuth with a pre-registered client"). Its redirect URIs are trusted: request errors go back to them automatically.</p>
${problems.length ? html`<div class="box warn" id="problems" role="alert"><ul>${problems.map((problem) => html`<li>${problem}</li>`)}</ul><p>Nothing was created.</p></div>` : ''}
<form method="post" action="/admin/console/clients" class="box"><input type="hidden" name="csrf" value="${viewer.csrf}">
<label>Name <input type="text" name="client_name" id="client-name" value="${form.name}" required maxlength="200"></label>
<label>Redirect URIs, one a line <textarea name="redirect_uris" id="redirect-uris" rows="3" required>${form.redirectUris}</textarea></label>
<label>Token endpoint authentication <select name="token_endpoint_auth_method">${options}</select></label>
<p><button type="submit" class="primary" id="create">Create the client</button></p></form>`,
  );
}

export function clientCreatedPage(viewer: ConsoleViewer, client: { clientId: string; clientName: string; clientSecret: string | undefined; redirectUris: readonly string[]; tokenEndpointAuthMethod: string }) {
  return shell(
    'Client created',
    viewer,
    html`<p><strong>${client.clientName}</strong> can now be used. Copy its credentials now: the secret is shown this once, only its hash is stored.</p>
<div class="box" id="credentials"><p>Client id: <code id="client-id">${client.clientId}</code></p>
${client.clientSecret ? html`<p>Client secret: <code id="client-secret">${client.clientSecret}</code></p>` : html`<p>No secret: a public client (PKCE only).</p>`}
<p>Authentication at the token endpoint: <code>${client.tokenEndpointAuthMethod}</code></p>
<p>Redirect URIs:</p><ul>${client.redirectUris.map((uri) => html`<li><code>${uri}</code></li>`)}</ul></div>
<p><a href="/admin">Back to the clients</a></p>`,
  );
}

/** A confirmation: what will happen, and the one form that does it. */
export function confirmPage(viewer: ConsoleViewer, title: string, consequences: Markup, action: string, button: string) {
  return shell(
    title,
    viewer,
    html`<div class="box warn" id="consequences">${consequences}</div>
<form method="post" action="${action}"><input type="hidden" name="csrf" value="${viewer.csrf}">
<p><button type="submit" class="danger" id="confirm">${button}</button> <a href="/admin" id="cancel">Cancel</a></p></form>`,
  );
}

export function deleteClientConsequences(client: ClientRow) {
  return html`<p>Delete <strong class="client-name">${client.name}</strong> (<code>${client.clientId}</code>, ${REGISTRATION_LABELS[client.registration]})?</p>
<p>Every grant made to it is revoked, for every user, and all its tokens stop working: refresh tokens at once everywhere, access tokens at once here and within about a minute elsewhere (README, Consistency). Its registration is removed: to use it again it must register again${client.registration === 'administrator' ? ', or be pre-registered again with a new secret' : ''}.</p>`;
}

export function revokeGrantConsequences(grant: GrantRow, clientName: string) {
  return html`<p>Revoke the grant <code>${grant.grantId}</code> of user <code>${grant.userId}</code> to <strong class="client-name">${clientName}</strong> (scopes <code>${grant.scopes.join(' ')}</code>, created ${when(grant.createdAt)})?</p>
<p>Its tokens stop working: the refresh token at once everywhere, access tokens at once here and within about a minute elsewhere (README, Consistency). The user can authorize the client again.</p>`;
}

export function revokeAllConsequences(userId: string, count: number, more: boolean) {
  return html`<p>Revoke all <strong>${count}${more ? '+' : ''}</strong> grants of user <code>${userId}</code>?</p>
<p>Every client they authorized loses its access at once. They can sign in and authorize clients again${more ? '. At most 100 are revoked per confirmation: repeat until none are left' : ''}.</p>`;
}

/** A page about the console itself (signed out, refused, not found), with the way back. */
export function consoleMessagePage(title: string, message: string) {
  return layout(title, html`<h1>${title}</h1><p>${message}</p><p><a href="/admin" id="console">Admin console</a></p>`, 'same-origin');
}

/** A time a person reads: minutes are enough, UTC so every administrator sees the same. */
function when(ms: number | undefined): string {
  return ms === undefined ? '—' : `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
