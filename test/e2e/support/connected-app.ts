/**
 * An MCP client connected the way a person connects one: registered by DCR, authorized through the
 * consent page and the dev IdP's login form in Chromium, its code exchanged. For the tests of the
 * pages that list and cut off such apps (/account, /admin).
 */
import { browserLogin } from '../../../cli/lib/browser-login.ts';
import { exchangeCode, registerClient, startAuthorization, type Discovery } from '../../../cli/lib/oauth-client.ts';
import type { Page } from 'playwright-core';
import { McpWire } from '../../support/mcp-wire.ts';

export const APP_CALLBACK = 'https://gateway.test/oauth/callback';

/** Connects an app named `name` for `login` (whose password is its name, as the dev IdP's are): its access token. */
export async function connectApp(discovery: Discovery, name: string, login = 'alice'): Promise<string> {
  const registered = await registerClient(discovery.server, { client_name: name, redirect_uris: [APP_CALLBACK], token_endpoint_auth_method: 'client_secret_post' });
  const start = await startAuthorization(discovery.server, registered.client, { redirectUri: APP_CALLBACK });
  const callback = await browserLogin(start.url.href, { login, password: login, redirectUri: APP_CALLBACK });
  return (await exchangeCode(discovery.server, registered, start, callback)).access_token;
}

/** What `tools/list` with `token` answers on `mcpUrl` (MCP 2026-07-28): 200, or 401 once the app is cut off. */
export async function toolsListStatus(mcpUrl: string, token: string): Promise<number> {
  return (await new McpWire(mcpUrl, token, (request) => fetch(request), '2026-07-28').request('tools/list')).status;
}

/**
 * Opens `url` (a page of this server that needs a sign-in), signs `login` in at the dev IdP's form
 * (the password is the login) and waits until the browser is back at `landing`.
 */
export async function signInAtPage(page: Page, url: string, landing: string, login = 'alice'): Promise<void> {
  await page.goto(url);
  await page.fill('#login', login);
  await page.fill('#password', login);
  await page.click('#sign-in');
  await page.waitForURL(landing);
}
