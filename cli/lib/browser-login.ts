/**
 * Drives the browser part of an OAuth authorization in headless Chromium: the server's consent page,
 * then the upstream IdP's login form, until the browser is sent to the client's redirect URI, whose
 * URL (with `code` or `error`) is returned. Debian's Chromium through playwright-core.
 */
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
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
}

let shared: Promise<Browser> | undefined;

/** One browser per process; each login gets its own context, so cookies never leak between users. */
export function launchBrowser(): Promise<Browser> {
  shared ??= chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
  return shared;
}

export async function closeBrowser(): Promise<void> {
  const browser = await shared;
  shared = undefined;
  await browser?.close();
}

export async function browserLogin(authorizationUrl: string, options: BrowserLoginOptions): Promise<URL> {
  const browser = await launchBrowser();
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    const redirect = new URL(options.redirectUri);
    const returned = new Promise<URL>((resolve) => {
      void context.route(
        (url) => url.origin === redirect.origin && url.pathname === redirect.pathname,
        async (route) => {
          resolve(new URL(route.request().url()));
          await route.fulfill({ status: 200, contentType: 'text/plain', body: 'Authorization finished; you can close this window.' });
        },
      );
    });

    await page.goto(authorizationUrl);
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
    await context.close();
  }
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
