/**
 * The admin console in a real browser, against the running system with ADMIN_EMAILS naming alice:
 * alice connects an app, then signs in to /admin at the IdP, finds the grant on the users page,
 * confirms its revocation, and the app's token is refused from then on; bob, signed in just as well,
 * gets 403. Screenshots of every console page go to test-results/screenshots/admin-*.png (an
 * artifact, not an assertion).
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
const APP_NAME = 'Console e2e gateway';

let system: RunningSystem;
let discovery: Discovery;

beforeAll(async () => {
  system = await startSystem({ ephemeralState: true, vars: { RATE_LIMITS: 'off', ADMIN_EMAILS: 'alice@example.com' } });
  discovery = await discover(system.mcpUrl);
  mkdirSync(SCREENSHOTS, { recursive: true });
});

afterAll(() => cleanUp(closeBrowser, () => system?.stop()));

describe('the admin console, in a real browser', () => {
  it('signs alice in as an administrator; revoking a grant through the pages cuts its token off', async () => {
    const token = await connectApp(discovery, APP_NAME);
    expect(await toolsListStatus(system.mcpUrl, token)).toBe(200);

    const context = await newBrowserContext();
    try {
      const page = await context.newPage();
      await signInAtPage(page, `${system.origin}/admin`, `${system.origin}/admin`);
      expect(await page.textContent('h1')).toBe('Clients');
      const client = page.locator('tr.client', { hasText: APP_NAME });
      expect(await client.count()).toBe(1);
      expect(await client.locator('.registration').textContent()).toContain('registered itself (DCR)');
      expect(await client.locator('.redirect-hosts').textContent()).toBe('gateway.test');
      expect(await client.locator('.grants').textContent()).toBe('1');
      await page.screenshot({ path: join(SCREENSHOTS, 'admin-clients.png'), fullPage: true });

      await page.click('#nav-users');
      await page.waitForURL(`${system.origin}/admin/console/users`);
      const grant = page.locator('tr.grant', { hasText: APP_NAME });
      expect(await grant.count()).toBe(1);
      await page.screenshot({ path: join(SCREENSHOTS, 'admin-users.png'), fullPage: true });

      await grant.locator('a.revoke').click();
      await page.waitForURL(/\/admin\/console\/users\/[^/]+\/grants\/[^/]+\/revoke$/);
      expect(await page.textContent('#consequences')).toContain(APP_NAME);
      await page.screenshot({ path: join(SCREENSHOTS, 'admin-confirm-revoke.png'), fullPage: true });
      // Only the confirmation's post acts: the token still works while the page is open.
      expect(await toolsListStatus(system.mcpUrl, token)).toBe(200);

      await page.click('#confirm');
      await page.waitForURL(/\/admin\/console\/users\/[^/?]+\?notice=revoked$/);
      expect(await page.textContent('#notice')).toContain('The grant was revoked. Its tokens no longer work.');
      expect(await page.locator('tr.grant', { hasText: APP_NAME }).count()).toBe(0);
      await page.screenshot({ path: join(SCREENSHOTS, 'admin-user-revoked.png'), fullPage: true });

      for (const [link, name] of [
        ['#nav-audit', 'admin-audit.png'],
        ['#nav-registration', 'admin-registration.png'],
        ['#nav-new-client', 'admin-new-client.png'],
      ] as const) {
        await page.click(link);
        await page.waitForLoadState();
        expect(await page.locator('h1').count()).toBe(1);
        await page.screenshot({ path: join(SCREENSHOTS, name), fullPage: true });
      }
    } finally {
      await context.close();
    }
    expect(await toolsListStatus(system.mcpUrl, token)).toBe(401);
  });

  it('shows the audit trail with the revocation the console made', async () => {
    const context = await newBrowserContext();
    try {
      const page = await context.newPage();
      // Every sign-in returns to /admin (a fixed list: ../../src/auth/web-session.ts).
      await signInAtPage(page, `${system.origin}/admin/console/audit`, `${system.origin}/admin`);
      await page.goto(`${system.origin}/admin/console/audit?type=grant.revoked`);
      // The trail is written after each response (waitUntil): give it a moment.
      await expect.poll(async () => {
        await page.reload();
        return page.locator('#events .event', { hasText: 'grant.revoked' }).count();
      }, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
      await page.screenshot({ path: join(SCREENSHOTS, 'admin-audit-filtered.png'), fullPage: true });
    } finally {
      await context.close();
    }
  });

  it('gives bob, signed in but not an administrator, 403', async () => {
    const context = await newBrowserContext();
    try {
      const page = await context.newPage();
      await page.goto(`${system.origin}/admin`);
      await page.fill('#login', 'bob');
      await page.fill('#password', 'bob');
      const [refused] = await Promise.all([
        page.waitForResponse((response) => new URL(response.url()).pathname === '/admin' && response.request().method() === 'GET'),
        page.click('#sign-in'),
      ]);
      expect(refused.status()).toBe(403);
      await page.waitForLoadState();
      expect(await page.textContent('h1')).toBe('Not an administrator');
      await page.screenshot({ path: join(SCREENSHOTS, 'admin-forbidden.png'), fullPage: true });
      const users = await page.goto(`${system.origin}/admin/console/users`);
      expect(users?.status()).toBe(403);
    } finally {
      await context.close();
    }
  });
});
