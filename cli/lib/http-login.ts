/**
 * The browser part of an authorization driven with plain HTTP: follows redirects with a cookie jar,
 * submits this server's consent form and the dev IdP's login form, and stops at the client's
 * redirect URI. Much faster than a browser, for loops (the consistency test, the benchmark); the
 * browser tests use ./browser-login.ts. Understands only this project's consent page and dev IdP.
 */

const MAX_STEPS = 20;
/** Each request of the sign-in gives up after this long (above the Worker's own 10 s deadline on its IdP). */
const STEP_TIMEOUT_MS = 30_000;

export interface HttpLoginOptions {
  login: string;
  password: string;
  redirectUri: string;
}

export class CookieJar {
  private readonly jars = new Map<string, Map<string, string>>();

  header(url: URL): string | undefined {
    const jar = this.jars.get(url.host);
    return jar && jar.size > 0 ? [...jar].map(([name, value]) => `${name}=${value}`).join('; ') : undefined;
  }

  store(url: URL, response: Response): void {
    for (const cookie of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = cookie.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const jar = this.jars.get(url.host) ?? new Map<string, string>();
      const expired = attributes.some((attribute) => /^\s*max-age\s*=\s*0\s*$/i.test(attribute));
      if (expired) jar.delete(name);
      else jar.set(name, pair.slice(eq + 1).trim());
      this.jars.set(url.host, jar);
    }
  }
}

/** What to submit on a page that is not a redirect: where, and the form's fields. */
export type FormFiller = (url: URL, status: number, body: string) => { url: URL; form: URLSearchParams };

export interface WalkOptions {
  /** Checked before each request: throw to refuse a URL (a walk that must stay on loopback). */
  guard?: (url: URL) => void;
  /** Each request gives up after this long. Default 30 s. */
  stepTimeoutMs?: number;
}

/**
 * The browser's part of an authorization: from `authorizationUrl`, following redirects with a cookie
 * jar and submitting what `fill` makes of each page, until the browser would be sent to `redirectUri`;
 * returns that URL, unrequested.
 */
export async function walkToRedirect(authorizationUrl: string, redirectUri: string, fill: FormFiller, jar = new CookieJar(), options: WalkOptions = {}): Promise<URL> {
  const redirect = new URL(redirectUri);
  const timeoutMs = options.stepTimeoutMs ?? STEP_TIMEOUT_MS;
  let url = new URL(authorizationUrl);
  let init: RequestInit = { method: 'GET' };
  for (let step = 0; step < MAX_STEPS; step++) {
    options.guard?.(url);
    if (url.origin === redirect.origin && url.pathname === redirect.pathname) return url;
    const headers = new Headers(init.headers);
    const cookie = jar.header(url);
    if (cookie) headers.set('Cookie', cookie);
    const response = await fetch(url, { ...init, headers, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    jar.store(url, response);
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      url = new URL(location, url);
      init = { method: 'GET' };
      continue;
    }
    const next = fill(url, response.status, await response.text());
    url = next.url;
    init = { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: next.form.toString() };
  }
  throw new Error(`no redirect to ${redirectUri} after ${MAX_STEPS} steps`);
}

/** Runs the authorization from `authorizationUrl` to the client's redirect URI and returns that URL. */
export function httpLogin(authorizationUrl: string, options: HttpLoginOptions, jar = new CookieJar()): Promise<URL> {
  return walkToRedirect(authorizationUrl, options.redirectUri, (url, status, body) => nextForm(url, status, body, options), jar);
}

function nextForm(url: URL, status: number, body: string, options: HttpLoginOptions): { url: URL; form: URLSearchParams } {
  const handle = /name="handle" value="([^"]+)"/.exec(body)?.[1];
  if (status === 200 && handle) {
    // This server's consent page: allow everything it offers (ticked and already-allowed scopes).
    const form = new URLSearchParams({ handle, decision: 'approve', shown: decodeEntities(/name="shown" value="([^"]*)"/.exec(body)?.[1] ?? '') });
    for (const match of body.matchAll(/name="scope" value="([^"]+)"/g)) form.append('scope', match[1] as string);
    return { url: new URL('/authorize', url), form };
  }
  const action = /<form[^>]*action="([^"]*\/login)"/.exec(body)?.[1];
  if (status === 200 && action) {
    return { url: new URL(action.replaceAll('&amp;', '&'), url), form: new URLSearchParams({ login: options.login, password: options.password }) };
  }
  throw new Error(`unexpected page at ${url.origin}${url.pathname} (HTTP ${status}): ${visibleText(body).slice(0, 300)}`);
}

/** A page's text without its markup, for error messages. */
export function visibleText(html: string): string {
  return html
    .replace(/<(style|script|title)[^>]*>[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Undoes the HTML escaping of an attribute value (hono escapes &, <, >, " and '). */
function decodeEntities(value: string): string {
  return value.replace(/&(amp|lt|gt|quot|#39);/g, (_, entity: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[entity] ?? '');
}
