/**
 * Drives the browser part of an OAuth authorization in headless Chromium: the server's consent page,
 * then the upstream IdP's login form, until the browser is sent to the client's redirect URI, whose
 * URL (with `code` or `error`) is returned. Chromium through playwright-core: the system's Chromium or
 * Chrome, or in this repository the one bundled in a devDependency (./chromium.ts says which).
 *
 * Loaded only for a headless sign-in (the doctor imports it dynamically, for `--login`): playwright-core
 * is an optional peer dependency of the published `mcp-doctor` package, which runs its interactive
 * sign-in in the system browser without it.
 */
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { resolveChromium } from './chromium.ts';

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const STEP_TIMEOUT_MS = 15_000;

export interface BrowserLoginOptions {
  /** Upstream IdP credentials, filled into a form with `#login` and `#password` (the dev IdP's). */
  login: string;
  password: string;
  /** Where the client expects the browser back; navigation there is intercepted, not performed. */
  redirectUri: string;
  /** Allow (default) or Deny on the consent page. */
  decision?: 'approve' | 'deny';
  /** Scopes to untick on the consent page before allowing. */
  untick?: string[];
  /** Called with the consent page's visible text, for tests that assert what the user was shown. */
  onConsentPage?: (text: string, page: Page) => Promise<void> | void;
  /** A browser context to reuse (its cookies: remembered consent, the IdP session); default a fresh one. */
  context?: BrowserContext;
}

let shared: Promise<Browser> | undefined;

/** One browser per process; each login gets its own context, so cookies never leak between users. */
export function launchBrowser(): Promise<Browser> {
  shared ??= resolveChromium().then(({ executablePath, env }) =>
    chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS, ...(Object.keys(env).length > 0 ? { env: { ...process.env, ...env } } : {}) }),
  );
  return shared;
}

/**
 * Closes the browser if one was launched. A launch that failed has nothing to close: its error went
 * to whoever awaited the launch, and is not thrown again here, so that cleanup after a failed test
 * (an afterAll that also stops the system) is never cut short by it.
 */
export async function closeBrowser(): Promise<void> {
  const launching = shared;
  shared = undefined;
  const browser = await launching?.catch(() => undefined);
  await browser?.close();
}

export async function browserLogin(authorizationUrl: string, options: BrowserLoginOptions): Promise<URL> {
  const context = options.context ?? (await newBrowserContext());
  const page = await context.newPage();
  try {
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    const redirect = new URL(options.redirectUri);
    const isRedirect = (url: URL) => url.origin === redirect.origin && url.pathname === redirect.pathname;
    let resolveReturned: (url: URL) => void = () => undefined;
    let hasReturned = false;
    const returned = new Promise<URL>((resolve) => {
      resolveReturned = (url) => {
        hasReturned = true;
        resolve(url);
      };
    });
    // Seen as a request even when it is a hop in a redirect chain, which routes do not intercept.
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (isRedirect(url)) resolveReturned(url);
    });
    // The redirect URI is usually not served here (an HTTPS callback of a gateway): answer it locally.
    await page.route(isRedirect, (route) => route.fulfill({ status: 200, contentType: 'text/plain', body: 'Authorization finished; you can close this window.' }));

    await page.goto(authorizationUrl).catch((error: unknown) => {
      // A redirect straight back to an unresolvable callback host fails the navigation after we saw it.
      if (!hasReturned) throw error;
    });
    const consentOrDone = await Promise.race([page.waitForSelector('#approve').then(() => 'consent' as const), returned.then(() => 'returned' as const)]);
    if (consentOrDone === 'consent') {
      await options.onConsentPage?.(await page.innerText('body'), page);
      for (const scope of options.untick ?? []) await page.uncheck(`input[name="scope"][value="${scope}"]`);
      await page.click(options.decision === 'deny' ? '#deny' : '#approve');
      // Deny, or no scope left, returns straight to the client; otherwise the IdP's login form comes next.
      const next = await Promise.race([page.waitForSelector('#login').then(() => 'login' as const), returned.then(() => 'returned' as const)]);
      if (next === 'login') {
        await page.fill('#login', options.login);
        await page.fill('#password', options.password);
        await page.click('#sign-in');
      }
    }
    return await withTimeout(returned, STEP_TIMEOUT_MS * 2, async () => `the browser never reached ${options.redirectUri}; it is at ${page.url()}: ${(await page.innerText('body').catch(() => '')).slice(0, 300)}`);
  } finally {
    if (options.context) await page.close();
    else await context.close();
  }
}

/** A fresh, isolated browser profile: no cookies shared with any other login. */
export async function newBrowserContext(): Promise<BrowserContext> {
  return (await launchBrowser()).newContext();
}

async function withTimeout<T>(promise: Promise<T>, ms: number, describe: () => Promise<string>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => void describe().then((message) => reject(new Error(message))), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
