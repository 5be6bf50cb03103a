/**
 * The connected-apps page. Client names and redirect hosts come from self-registration and are
 * attacker-chosen: every value goes through hono's `html` template, which escapes it, and a name is
 * shown as verified only when something other than the client vouches for it.
 */
import { html } from 'hono/html';
import { layout } from '../auth/pages';
import { SCOPES, isScope } from '../auth/scopes';

/** Who vouches for an app's name. */
export type AppVerification =
  /** A Client ID Metadata Document: the name is the document's, served from this domain. */
  | { kind: 'domain'; domain: string }
  /** Pre-registered by an administrator through the admin API. */
  | { kind: 'administrator' }
  /** Registered itself (DCR): anyone can pick any name. */
  | { kind: 'self' };

export interface ConnectedApp {
  grantId: string;
  name: string;
  verification: AppVerification;
  /** Where its tokens were sent: the redirect URI's host. */
  redirectHost: string | undefined;
  scopes: string[];
  /** When the user authorized it, ms since the epoch. */
  connectedAt: number;
  /** Its last token refresh (or the authorization), ms since the epoch. */
  lastActiveAt: number;
}

export function accountPage(person: string, apps: readonly ConnectedApp[], csrf: string, notice: string | undefined) {
  const list = apps.length
    ? apps.map((app) => appBox(app, csrf))
    : html`<div class="box" id="no-apps"><p>No app is connected to your account.</p></div>`;
  return layout(
    'Connected apps',
    html`<h1>Apps connected to your account</h1>
<p>Signed in as <strong>${person}</strong>.</p>
${notice ? html`<div class="box" id="notice" role="status">${notice}</div>` : ''}
<p>These apps may use this MCP server as you, with the permissions listed. Disconnecting one stops its access now: it has to ask you again.</p>
${list}
<form method="post" action="/account/sign-out"><input type="hidden" name="csrf" value="${csrf}"><p><button type="submit" id="sign-out">Sign out</button></p></form>`,
    'same-origin',
  );
}

function appBox(app: ConnectedApp, csrf: string) {
  const verification =
    app.verification.kind === 'domain'
      ? html`<small>Published by <strong>${app.verification.domain}</strong> (verified by its domain).</small>`
      : app.verification.kind === 'administrator'
        ? html`<small>Registered by your administrator.</small>`
        : html`<small>This app registered itself; its name is not verified.</small>`;
  const scopes = app.scopes.map((scope) => html`<li>${isScope(scope) ? SCOPES[scope].description : scope} <small><code>${scope}</code></small></li>`);
  return html`<div class="box app" data-grant="${app.grantId}">
<p><strong class="app-name">${app.name}</strong><br>${verification}</p>
<p>Access is sent to <strong>${app.redirectHost ?? 'an unknown host'}</strong>.</p>
<ul class="scopes">${scopes}</ul>
<p><small>Connected ${when(app.connectedAt)}; last active ${when(app.lastActiveAt)}.</small></p>
<form method="post" action="/account/revoke"><input type="hidden" name="grant" value="${app.grantId}"><input type="hidden" name="csrf" value="${csrf}">
<button type="submit" class="disconnect">Disconnect</button></form>
</div>`;
}

/** A short page about the account page (signed out, a form that cannot be used), with the way back. */
export function accountMessagePage(title: string, message: string) {
  return layout(title, html`<h1>${title}</h1><p>${message}</p><p><a href="/account" id="account">Connected apps</a></p>`, 'same-origin');
}

/** A date a person reads: minutes are enough, UTC so that every viewer sees the same. */
function when(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
