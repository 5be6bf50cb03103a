/**
 * The connected-apps page in a real browser, against the running system: alice authorizes an app
 * (consent and IdP login in Chromium, as MCP Manager's users do), then opens /account, signs in at
 * the IdP, sees the app and disconnects it; the app's token is refused from then on. Screenshots of
 * the page go to test-results/screenshots/ (an artifact, not an assertion).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeBrowser, newBrowserContext } from '../../cli/lib/browser-login.ts';
import { discover, type Discovery } from '../../cli/lib/oauth-client.ts';
import { ROOT, startSystem, type RunningSystem } from '../../scripts/system.ts';
import { cleanUp } from './support/clean-up.ts';
import { connectApp, signInAtPage, toolsListStatus } from './support/connected-app.ts';

const SCREENSHOTS = join(ROOT, 'test-results/screenshots');

let system: RunningSystem;
let discovery: Discovery;

beforeAll(async () => {
  system = await startSystem({ ephemeralState: true, vars: { RATE_LIMITS: 'off' } });
  discovery = await discover(system.mcpUrl);
  mkdirSync(SCREENSHOTS, { recursive: true });
});

afterAll(() => cleanUp(closeBrowser, () => system?.stop()));

describe('connected apps, in a real browser', () => {
  it('signs alice in at the IdP, lists the app she connected, and disconnecting it cuts its token off', async () => {
    const token = await connectApp(discovery, 'Team gateway');
    expect(await toolsListStatus(system.mcpUrl, token)).toBe(200);

    const context = await newBrowserContext();
    try {
      const page = await context.newPage();
      await signInAtPage(page, `${system.origin}/account`, `${system.origin}/account`);
      expect(await page.textContent('h1')).toBe('Apps connected to your account');
      expect(await page.textContent('body')).toContain('Signed in as alice@example.com.');
      const box = page.locator('.app', { hasText: 'Team gateway' });
      expect(await box.count()).toBe(1);
      expect(await box.textContent()).toContain('This app registered itself; its name is not verified.');
      expect(await box.textContent()).toContain('Access is sent to gateway.test.');
      await page.screenshot({ path: join(SCREENSHOTS, 'account.png'), fullPage: true });

      await box.locator('button.disconnect').click();
      await page.waitForURL(`${system.origin}/account?disconnected=1`);
      expect(await page.textContent('#notice')).toContain('The app was disconnected. Its access has stopped.');
      expect(await page.locator('.app', { hasText: 'Team gateway' }).count()).toBe(0);
      await page.screenshot({ path: join(SCREENSHOTS, 'account-disconnected.png'), fullPage: true });
    } finally {
      await context.close();
    }
    expect(await toolsListStatus(system.mcpUrl, token)).toBe(401);
  });
});
