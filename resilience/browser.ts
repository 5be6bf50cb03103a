/**
 * A browser driven one step at a time over plain HTTP (cookies, manual redirects), so a fault can be
 * injected between any two steps of a sign-in and what the person would see recorded: a page (its
 * status and visible text), a redirect to the app's callback, or a page that never loads. Like
 * cli/lib/http-login.ts it understands only this project's consent page and the dev IdP's login form.
 */
import { CookieJar } from '../cli/lib/http-login.ts';

export type Outcome =
  /** A page was shown. */
  | { kind: 'page'; url: URL; status: number; html: string; text: string; ms: number }
  /** Stopped before following a redirect to `url` (the app's callback, or a step the caller wants to control). */
  | { kind: 'redirect'; url: URL; ms: number }
  /** The page at `url` did not load. */
  | { kind: 'failed'; url: URL; error: string; ms: number };

export interface Hop {
  method: string;
  url: string;
  status?: number;
  error?: string;
  ms: number;
}

export interface GoOptions {
  /** POST this form instead of a GET. */
  form?: URLSearchParams;
  /** Stop before following a redirect to a URL this matches. */
  stopBefore?: (url: URL) => boolean;
  /** How long to wait for each answer; default 20 s (above the Worker's 10 s deadline for the IdP). */
  patienceMs?: number;
}

const MAX_HOPS = 20;

export class Browser {
  readonly jar = new CookieJar();
  readonly hops: Hop[] = [];

  /** `appCallback`: the app's redirect URI, never fetched: a redirect there ends the navigation. */
  constructor(private readonly appCallback: string) {}

  async go(start: URL | string, options: GoOptions = {}): Promise<Outcome> {
    const began = performance.now();
    const callback = new URL(this.appCallback);
    let url = new URL(start);
    let form = options.form;
    for (let hop = 0; hop < MAX_HOPS; hop++) {
      const headers = new Headers();
      const cookie = this.jar.header(url);
      if (cookie) headers.set('Cookie', cookie);
      if (form) headers.set('Content-Type', 'application/x-www-form-urlencoded');
      const sent = performance.now();
      let response: Response;
      try {
        response = await fetch(url, {
          method: form ? 'POST' : 'GET',
          headers,
          body: form?.toString(),
          redirect: 'manual',
          signal: AbortSignal.timeout(options.patienceMs ?? 20_000),
        });
      } catch (error) {
        const reason = networkError(error, options.patienceMs ?? 20_000);
        this.hops.push({ method: form ? 'POST' : 'GET', url: url.href, error: reason, ms: performance.now() - sent });
        return { kind: 'failed', url, error: reason, ms: performance.now() - began };
      }
      this.hops.push({ method: form ? 'POST' : 'GET', url: url.href, status: response.status, ms: performance.now() - sent });
      this.jar.store(url, response);
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        await response.body?.cancel();
        url = new URL(location, url);
        form = undefined;
        if ((url.origin === callback.origin && url.pathname === callback.pathname) || options.stopBefore?.(url)) {
          return { kind: 'redirect', url, ms: performance.now() - began };
        }
        continue;
      }
      const html = await response.text();
      return { kind: 'page', url, status: response.status, html, text: visibleText(html), ms: performance.now() - began };
    }
    throw new Error(`more than ${MAX_HOPS} redirects from ${new URL(start).href}`);
  }
}

/** This server's consent page, approved with everything it offers; undefined if `page` is not one. */
export function approveConsent(page: Outcome): { url: URL; form: URLSearchParams } | undefined {
  if (page.kind !== 'page' || page.status !== 200) return undefined;
  const handle = /name="handle" value="([^"]+)"/.exec(page.html)?.[1];
  if (!handle) return undefined;
  const form = new URLSearchParams({ handle, decision: 'approve', shown: decodeEntities(/name="shown" value="([^"]*)"/.exec(page.html)?.[1] ?? '') });
  for (const match of page.html.matchAll(/name="scope" value="([^"]+)"/g)) form.append('scope', match[1] as string);
  return { url: new URL('/authorize', page.url), form };
}

/** The dev IdP's login form, filled in; undefined if `page` is not one. */
export function fillLogin(page: Outcome, login: string, password: string): { url: URL; form: URLSearchParams } | undefined {
  if (page.kind !== 'page' || page.status !== 200) return undefined;
  const action = /<form[^>]*action="([^"]*\/login)"/.exec(page.html)?.[1];
  if (!action) return undefined;
  return { url: new URL(action.replaceAll('&amp;', '&'), page.url), form: new URLSearchParams({ login, password }) };
}

/** What a person sees of an outcome, in a few words. */
export function describeOutcome(outcome: Outcome, names: { worker: string; idp: string; app: string }): string {
  const where = (url: URL) => (url.origin === names.worker ? 'the Worker' : url.origin === names.idp ? 'the IdP' : url.origin === names.app ? 'the app' : url.origin);
  switch (outcome.kind) {
    case 'page': {
      const { heading, paragraph, links } = pageSummary(outcome.html);
      const said = heading ? `"${heading}${paragraph ? `: ${clip(paragraph, 100)}` : ''}"` : `"${clip(outcome.text, 100)}"`;
      return `${where(outcome.url)} shows HTTP ${outcome.status} ${said}${links.length ? ` with links ${links.map((link) => `"${link.text}"`).join(', ')}` : ''}`;
    }
    case 'redirect':
      return `sent to ${where(outcome.url)} (${outcome.url.pathname})`;
    case 'failed':
      return `${where(outcome.url)}'s page does not load: ${outcome.error}`;
  }
}

function clip(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length)}…` : text;
}

export interface Link {
  text: string;
  href: string;
}

/** A page's first heading, the paragraph after it, and its links. */
export function pageSummary(html: string): { heading: string | undefined; paragraph: string | undefined; links: Link[] } {
  const heading = /<h1[^>]*>([\s\S]*?)<\/h1>/i.exec(html)?.[1];
  const paragraph = /<\/h1>[\s\S]*?<p[^>]*>([\s\S]*?)<\/p>/i.exec(html)?.[1];
  const links = [...html.matchAll(/<a\s[^>]*href="([^"]*)"[^>]*>([\s\S]*?)<\/a>/gi)].map((match) => ({ href: decodeEntities(match[1] as string), text: visibleText(match[2] as string) }));
  return { heading: heading === undefined ? undefined : visibleText(heading), paragraph: paragraph === undefined ? undefined : visibleText(paragraph), links };
}

function networkError(error: unknown, patienceMs: number): string {
  if (error instanceof DOMException && (error.name === 'TimeoutError' || error.name === 'AbortError')) return `no answer within ${patienceMs / 1000} s`;
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code === 'ECONNREFUSED') return 'connection refused';
  if (cause?.code === 'ECONNRESET' || cause?.code === 'UND_ERR_SOCKET') return 'connection reset';
  return cause?.code ?? cause?.message ?? (error as Error).message;
}

export function visibleText(html: string): string {
  return decodeEntities(
    html
      .replace(/<(style|script|title|head)[^>]*>[\s\S]*?<\/\1>/gi, ' ')
      .replace(/<[^>]+>/g, ' ')
      .replace(/\s+/g, ' ')
      .trim(),
  );
}

/** Undoes the HTML escaping of text and attribute values (hono escapes &, <, >, " and '). */
function decodeEntities(value: string): string {
  return value.replace(/&(amp|lt|gt|quot|#39|#x27);/g, (_, entity: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", '#x27': "'" })[entity] ?? '');
}
