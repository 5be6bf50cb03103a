/**
 * The user's part of a sign-in at a server we did not write, done with plain HTTP: follows redirects
 * with a cookie jar and submits the one form each page shows — a consent page's Allow (FastMCP's
 * `<button name="action" value="approve">`, or a page whose form has an `#approve` button) and a
 * login form with `login` and `password` fields (this repository's dev IdP) — until the browser would
 * be sent to `redirectUri`, which is then requested (the doctor's loopback receiver is listening
 * there). Servers that approve at once (the MCP SDK's demo, FastMCP's in-memory provider) need no
 * form at all. Loopback only: every URL it is sent to must be on 127.0.0.1 or localhost.
 */
import { CookieJar, visibleText, walkToRedirect } from '../../../../cli/lib/http-login.ts';
import { isLoopbackHostname } from '../../../../cli/doctor/url-policy.ts';

const STEP_TIMEOUT_MS = 10_000;

export interface Credentials {
  login: string;
  password: string;
}

/** Walks from `authorizationUrl` to `redirectUri` and returns the URL the browser was sent back to. */
export async function signInOverHttp(authorizationUrl: string, redirectUri: string, credentials: Credentials = { login: 'alice', password: 'alice' }): Promise<URL> {
  const fill = (url: URL, status: number, body: string) => {
    const form = nextForm(url, body, credentials);
    if (!form) throw new Error(`no form to submit at ${url.origin}${url.pathname} (HTTP ${status}): ${visibleText(body).slice(0, 300)}`);
    return { url: form.action, form: form.fields };
  };
  const guard = (url: URL) => {
    if (!isLoopbackHostname(url.hostname)) throw new Error(`the sign-in left loopback: ${url.origin}`);
  };
  const back = await walkToRedirect(authorizationUrl, redirectUri, fill, new CookieJar(), { guard, stepTimeoutMs: STEP_TIMEOUT_MS });
  // Delivered to the doctor's receiver, as a browser would.
  await fetch(back, { signal: AbortSignal.timeout(STEP_TIMEOUT_MS) }).then((response) => response.body?.cancel());
  return back;
}

/** The page's first form, filled: hidden fields kept, credentials typed in, Allow chosen. */
function nextForm(url: URL, html: string, credentials: Credentials): { action: URL; fields: URLSearchParams } | undefined {
  const match = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!match) return undefined;
  const [, attributes = '', inner = ''] = match;
  const action = new URL(decodeEntities(attribute(attributes, 'action') ?? ''), url);
  const fields = new URLSearchParams();
  for (const input of inner.matchAll(/<input\b([^>]*)>/gi)) {
    const name = attribute(input[1] ?? '', 'name');
    if (!name) continue;
    const type = (attribute(input[1] ?? '', 'type') ?? 'text').toLowerCase();
    if (type === 'checkbox' && !/\bchecked\b/i.test(input[1] ?? '')) continue;
    if (name === 'login' || name === 'username') fields.set(name, credentials.login);
    else if (name === 'password') fields.set(name, credentials.password);
    else fields.append(name, decodeEntities(attribute(input[1] ?? '', 'value') ?? ''));
  }
  // The approving submit button, when the form has named buttons (consent pages).
  for (const button of inner.matchAll(/<button\b([^>]*)>/gi)) {
    const name = attribute(button[1] ?? '', 'name');
    const value = attribute(button[1] ?? '', 'value');
    if (name && value && /approve|allow/i.test(value)) fields.set(name, value);
  }
  return { action, fields };
}

function attribute(attributes: string, name: string): string | undefined {
  return new RegExp(`\\b${name}\\s*=\\s*"([^"]*)"`, 'i').exec(attributes)?.[1];
}

function decodeEntities(value: string): string {
  return value.replace(/&(amp|lt|gt|quot|#39|#x27);/g, (_, entity: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", '#x27': "'" })[entity] ?? '');
}

