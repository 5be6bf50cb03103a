/**
 * The upstream IdP misbehaving, against the running system (wrangler dev) in a real browser: an IdP
 * that hangs, one that rotated its signing key, and one restarted. The dev IdP is started here, with
 * a temporary state directory, and told through its handle to hang or to rotate; the Worker runs
 * exactly as deployed, with its 10 s deadline: nothing is injected.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserLogin, closeBrowser, newBrowserContext } from '../../cli/lib/browser-login.ts';
import { discover, exchangeCode, registerClient, startAuthorization, type Discovery } from '../../cli/lib/oauth-client.ts';
import { startDevIdp, type DevIdp } from '../../dev/idp/server.ts';
import { freePort, startSystem, type RunningSystem } from '../../scripts/system.ts';
import { cleanUp } from './support/clean-up.ts';

const CALLBACK = 'https://gateway.test/oauth/callback';

let stateDir: string;
let idp: DevIdp;
let idpPort: number;
let redirectUris: string[];
let system: RunningSystem;
let discovery: Discovery;

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), 'idp-faults-'));
  const port = await freePort();
  idpPort = await freePort();
  redirectUris = [`http://localhost:${port}/callback`, `http://127.0.0.1:${port}/callback`];
  idp = await startDevIdp({ port: idpPort, redirectUris, stateDir });
  system = await startSystem({
    port,
    devIdp: false,
    ephemeralState: true,
    output: 'buffer',
    vars: { UPSTREAM: 'oidc', OIDC_ISSUER: idp.issuer, OIDC_CLIENT_ID: idp.clientId, OIDC_CLIENT_SECRET: idp.clientSecret },
  });
  discovery = await discover(system.mcpUrl);
});

afterAll(() =>
  cleanUp(
    closeBrowser,
    () => system?.stop(),
    () => idp?.close(),
    () => stateDir && rmSync(stateDir, { recursive: true, force: true }),
  ),
);

async function newAuthorization() {
  const registered = await registerClient(discovery.server, { client_name: 'IdP faults test', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'client_secret_post' });
  const start = await startAuthorization(discovery.server, registered.client, { redirectUri: CALLBACK });
  return { registered, start };
}

const isCallback = (url: URL) => `${url.origin}${url.pathname}` === CALLBACK;

/** The next time the browser is sent to the client's redirect URI (answered locally), from `page`. */
function nextCallback(page: Page, timeout = 30_000): Promise<URL> {
  return page.waitForRequest((request) => isCallback(new URL(request.url())), { timeout }).then((request) => new URL(request.url()));
}

describe('an IdP that hangs at the token endpoint', () => {
  it('shows the browser, after the 10 s deadline, a page saying the IdP did not answer; its links go back with temporarily_unavailable, or try again and sign in', async () => {
    const { registered, start } = await newAuthorization();
    const context = await newBrowserContext();
    try {
      const page = await context.newPage();
      await context.route(isCallback, (route) => route.fulfill({ status: 200, contentType: 'text/plain', body: 'back at the client' }));
      await page.goto(start.url.href);
      await page.click('#approve');
      await page.fill('#login', 'alice');
      await page.fill('#password', 'alice');
      idp.injectFault({ path: '/token', mode: 'hang' });
      const started = Date.now();
      await page.click('#sign-in');
      await page.waitForSelector('text=Your identity provider did not answer', { timeout: 30_000 });
      const waited = Date.now() - started;
      expect(waited).toBeGreaterThanOrEqual(9_500);
      expect(waited).toBeLessThan(20_000);
      const text = await page.innerText('body');
      expect(text).toContain(`The identity provider at ${new URL(idp.issuer).host} did not answer in time.`);
      expect(text).toContain('Return to gateway.test');

      // "Return to gateway.test": the client learns that sign-in is unavailable for now.
      const back = new URL((await page.getAttribute('#back', 'href')) ?? '');
      const other = await context.newPage();
      const returned = nextCallback(other);
      await other.goto(back.href);
      expect(Object.fromEntries((await returned).searchParams)).toMatchObject({ error: 'temporarily_unavailable', state: start.state, iss: system.origin });

      // "Try again", once the IdP answers: consent is remembered and alice is signed in at the IdP.
      idp.clearFaults();
      const callback = nextCallback(page);
      await page.click('#retry');
      const next = await Promise.race([callback.then(() => 'callback' as const), page.waitForSelector('#login', { timeout: 30_000 }).then(() => 'login' as const)]);
      if (next === 'login') {
        await page.fill('#login', 'alice');
        await page.fill('#password', 'alice');
        await page.click('#sign-in');
      }
      const tokens = await exchangeCode(discovery.server, registered, start, await callback);
      expect(tokens.access_token).toEqual(expect.any(String));
    } finally {
      idp.clearFaults();
      await context.close();
    }
  });
});

describe('an IdP that rotated its signing key', () => {
  async function signIn(): Promise<void> {
    const { registered, start } = await newAuthorization();
    const callback = await browserLogin(start.url.href, { login: 'alice', password: 'alice', redirectUri: CALLBACK });
    expect(callback.searchParams.get('error_description')).toBeNull();
    const tokens = await exchangeCode(discovery.server, registered, start, callback);
    expect(tokens.access_token).toEqual(expect.any(String));
  }

  const refetches = () => system.logs().split('upstream_jwks_refetch').length - 1;

  // Before the fix: the second sign-in came back with error=server_error ("no applicable keys found").
  it('signs the next user in right after the rotation', async () => {
    await signIn();
    const before = refetches();
    const kid = idp.rotateKeys();
    await signIn();
    expect(refetches()).toBe(before + 1);
    expect(system.logs()).toContain(`"kid":"${kid}"`);
  });

  it('keeps its key across a restart: the Worker needs no new key set', async () => {
    await signIn();
    const kids = idp.keyIds();
    await idp.close();
    idp = await startDevIdp({ port: idpPort, redirectUris, stateDir });
    expect(idp.keyIds()).toEqual(kids);
    const before = refetches();
    await signIn();
    expect(refetches()).toBe(before);
  });
});
