/**
 * The HTML this Worker shows to people: the consent page, error pages and the home page. Every
 * value interpolated here goes through hono's `html` template, which escapes it; client names,
 * URIs and scopes come from self-registration and are attacker-chosen.
 */
import type { ConsentDescription } from '@cloudflare/workers-oauth-provider';
import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import { SCOPES, type Scope } from './scopes';

/**
 * No scripts, no external resources, no framing. `form-action` is deliberately absent: browsers apply
 * it to the redirect that follows a form post, which here goes to the upstream IdP or the client.
 */
export const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'";

/**
 * The headers every HTML page of this server carries, the home page included: no framing (CSP and,
 * for older browsers, X-Frame-Options), no MIME sniffing, no referrer (a consent URL carries the
 * client's state), and no caching of pages that hold per-request handles. `extra` (cookies, say)
 * is kept; these win over anything it sets for the same names.
 */
export function pageHeaders(extra?: HeadersInit): Headers {
  const headers = new Headers(extra);
  headers.set('Content-Type', 'text/html; charset=utf-8');
  headers.set('Content-Security-Policy', PAGE_CSP);
  headers.set('X-Frame-Options', 'DENY');
  headers.set('X-Content-Type-Options', 'nosniff');
  headers.set('Referrer-Policy', 'no-referrer');
  headers.set('Cache-Control', 'no-store');
  return headers;
}

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.4rem}.box{border:1px solid #ccc;border-radius:8px;padding:1rem 1.25rem;margin:1rem 0}
.warn{background:#fff6e0;border-color:#e0b000}label{display:block;margin:.35rem 0}small{color:#555}
button{font:inherit;padding:.5rem 1.2rem;border-radius:6px;border:1px solid #888;margin-right:.5rem;cursor:pointer}
button.primary{background:#1a56db;color:#fff;border-color:#1a56db}code{background:#f2f2f2;padding:0 .25rem}`;

/**
 * `referrer`: no-referrer by default (a consent URL carries the client's state). The account pages use
 * same-origin: under no-referrer a browser sends `Origin: null` with a form post, and those pages
 * check that their forms come from this origin.
 */
export function layout(title: string, body: HtmlEscapedString | Promise<HtmlEscapedString>, referrer: 'no-referrer' | 'same-origin' = 'no-referrer') {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="${referrer}"><title>${title}</title><style>${STYLE}</style></head>
<body>${body}</body></html>`;
}

/**
 * `scopes` are asked for now, each with a checkbox; `alreadyAllowed` were approved for this app in
 * this browser before and are listed without one, so a step-up shows only what is new.
 */
/**
 * Upstream scopes in plain words, for the consent page: what the IdP will be asked to let this
 * server do ("Scopes for OAuth apps", docs.github.com; OIDC Core §5.4 and §11). A scope not listed
 * here is shown as it is.
 */
const UPSTREAM_SCOPE_WORDS: Record<string, string> = {
  openid: 'confirm who you are',
  email: 'see your email address',
  profile: 'see your name and basic profile',
  offline_access: 'keep this access while you are away, renewing it without asking you again',
  groups: 'see the groups you belong to',
  'read:user': 'read your profile',
  'user:email': 'see your email addresses',
  'read:org': 'see which organisations you belong to',
  user: 'read and change your profile',
  public_repo: 'read and write your public repositories',
  repo: 'read and write all your repositories, private ones included',
};

/** What the consent page says of the upstream sign-in that follows. `keepsAccess`: UPSTREAM_TOKENS is on. */
export interface UpstreamAsk {
  idpName: string;
  scopes: readonly string[];
  keepsAccess: boolean;
}

function upstreamParagraph(ask: UpstreamAsk) {
  if (!ask.keepsAccess) return html`<p>Next, you will sign in with ${ask.idpName}; this server learns only who you are.</p>`;
  return html`<div class="box" id="upstream-scopes"><p>Next, you will sign in with ${ask.idpName}, which will be asked to let this server:</p><ul>${ask.scopes.map(
    (scope) => html`<li>${UPSTREAM_SCOPE_WORDS[scope] ?? 'use a permission named'} <small><code>${scope}</code></small></li>`,
  )}</ul><p><small>This server keeps that access, encrypted, for the tools above; the app you are authorizing never receives it. Disconnecting the app ends it here.</small></p></div>`;
}

export function consentPage(details: ConsentDescription, handle: string, scopes: readonly Scope[], alreadyAllowed: readonly Scope[], shown: string, upstream: UpstreamAsk) {
  const publisher = details.clientDomain
    ? html`<p>Published by <strong>${details.clientDomain}</strong>.</p>`
    : html`<p><small>This app registered itself; its name is not verified.</small></p>`;
  const loopbackWarning = details.redirectIsLoopback
    ? html`<div class="box warn"><strong>This sends access to an app on your computer.</strong> Continue only if you just started signing in from it.</div>`
    : '';
  const scopeList = scopes.map(
    (scope) => html`<label><input type="checkbox" name="scope" value="${scope}" checked> ${SCOPES[scope].description} <small><code>${scope}</code></small></label>`,
  );
  const allowedList = alreadyAllowed.length
    ? html`<div class="box"><p>You already allowed it to:</p>${alreadyAllowed.map(
        (scope) => html`<input type="hidden" name="scope" value="${scope}"><p>${SCOPES[scope].description} <small><code>${scope}</code></small></p>`,
      )}</div>`
    : '';
  return layout(
    `Authorize ${details.clientName}`,
    html`<h1>Allow <strong>${details.clientName}</strong> to use this MCP server as you?</h1>
${publisher}
<p>Access will be sent to <strong>${details.redirectHost}</strong>.</p>
${loopbackWarning}
<form method="post" action="/authorize">
<input type="hidden" name="handle" value="${handle}">
<input type="hidden" name="shown" value="${shown}">
<div class="box" id="new-scopes"><p>${alreadyAllowed.length ? 'It also asks to:' : 'It will be able to:'}</p>${scopeList}</div>
${allowedList}
${upstreamParagraph(upstream)}
<p>You can see and disconnect the apps you allow at any time on <a href="/account" target="_blank" rel="noopener">your connected apps page</a>.</p>
<p><button type="submit" class="primary" name="decision" value="approve" id="approve">Allow</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button></p>
</form>`,
  );
}

export function errorPage(title: string, message: string) {
  return layout(title, html`<h1>${title}</h1><p>${message}</p><p><small>Return to the app you were signing in from and start again.</small></p>`);
}

/**
 * An authorization request this server will not serve, from a client it does not trust to redirect
 * to: what is wrong, which site sent the request, and the way back as a link the user may follow.
 */
export function requestErrorPage(description: string, back: URL) {
  return layout(
    'This sign-in request cannot continue',
    html`<h1>This sign-in request cannot continue</h1>
<p>The app that sent you here made a request this server cannot accept: ${description}</p>
<p>It would go back to <strong>${back.host}</strong>. Follow the link only if you trust that site.</p>
<p><a href="${back.href}" rel="noreferrer">Return to ${back.host}</a></p>`,
  );
}

/**
 * The upstream IdP did not answer (no answer in time, unreachable, or failing with 5xx), after the
 * request was validated: what happened, a way to try again here (`retry`, this server's /authorize
 * with the same request), and the way back to the client (`back`, carrying
 * `error=temporarily_unavailable`, `state` and `iss`) as a link, so the user decides which.
 */
export function upstreamUnavailablePage(message: string, back: URL, retry: string | undefined) {
  const again = retry === undefined ? '' : html`<p>This is usually temporary. <a href="${retry}" id="retry">Try signing in again</a></p>`;
  return layout(
    'Your identity provider did not answer',
    html`<h1>Your identity provider did not answer</h1>
<p>${message} You are not signed in, and nothing was shared with the app.</p>
${again}
<p>Or go back to <strong>${back.host}</strong> and tell it that sign-in is unavailable for now: <a href="${back.href}" rel="noreferrer" id="back">Return to ${back.host}</a></p>`,
  );
}

/** 429 for a browser: too many sign-in requests from this address (../guard/rate-limits.ts). */
export async function rateLimitedPage(retryAfterSeconds = 60): Promise<Response> {
  const page = await errorPage('Too many sign-in requests', `Too many sign-in requests came from your network. Wait ${retryAfterSeconds} seconds, then start again from the app.`);
  const headers = pageHeaders();
  headers.set('Retry-After', String(retryAfterSeconds));
  return new Response(page, { status: 429, headers });
}

export function homePage(origin: string) {
  return layout(
    'MCP server',
    html`<h1>MCP server</h1>
<p>This is a remote <a href="https://modelcontextprotocol.io">Model Context Protocol</a> server. Point your MCP client at:</p>
<div class="box"><code>${origin}/mcp</code> <small>(Streamable HTTP)</small><br><code>${origin}/sse</code> <small>(legacy SSE)</small></div>
<p>Clients sign in with OAuth 2.1; metadata is at <code>${origin}/.well-known/oauth-authorization-server</code>.</p>
<p><a href="/account" id="account">See and disconnect the apps connected to your account</a></p>`,
  );
}
