/**
 * Authorization that is enforced, not advertised: least privilege on the consent page, a scope
 * policy that narrows grants, unknown scopes refused, every tool refused without its scope (403
 * step-up challenge on /mcp, JSON-RPC error on /sse), tools/list filtered, step-up from read to
 * write, and refresh that never widens.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import * as oauth from 'oauth4webapi';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserLogin, closeBrowser, newBrowserContext } from '../../cli/lib/browser-login.ts';
import { discover, exchangeCode, httpOptions, registerClient, startAuthorization, type Discovery, type RegisteredClient } from '../../cli/lib/oauth-client.ts';
import { startSystem, type RunningSystem } from '../../scripts/system.ts';
import { McpWire } from '../support/mcp-wire.ts';
import { cleanUp } from './support/clean-up.ts';

const CALLBACK = 'https://gateway.test/oauth/callback';
const ALL = 'profile notes:read notes:write';

let system: RunningSystem;
let discovery: Discovery;

beforeAll(async () => {
  // Policy: only alice may be granted notes:write.
  system = await startSystem({ ephemeralState: true, vars: { SCOPE_POLICY: JSON.stringify({ 'notes:write': ['email:alice@example.com'] }) } });
  discovery = await discover(system.mcpUrl);
});

afterAll(() => cleanUp(closeBrowser, () => system?.stop()));

interface Grant {
  registered: RegisteredClient;
  tokens: oauth.TokenEndpointResponse;
  consentText: string;
}

async function authorize(
  login: string,
  options: { scope?: string; untick?: string[]; registered?: RegisteredClient; context?: BrowserContext } = {},
): Promise<Grant> {
  const registered = options.registered ?? (await registerClient(discovery.server, { client_name: 'Scopes test', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'client_secret_basic' }));
  const start = await startAuthorization(discovery.server, registered.client, { redirectUri: CALLBACK, scope: options.scope });
  let consentText = '';
  const callback = await browserLogin(start.url.href, {
    login,
    password: login,
    redirectUri: CALLBACK,
    untick: options.untick,
    context: options.context,
    onConsentPage: (text) => {
      consentText = text;
    },
  });
  const tokens = await exchangeCode(discovery.server, registered, start, callback);
  return { registered, tokens, consentText };
}

async function session(token: string): Promise<McpWire> {
  const wire = new McpWire(system.mcpUrl, token);
  expect((await wire.initialize()).status).toBe(200);
  return wire;
}


describe('scopes', () => {
  it('grants no more than the user left ticked, and lists only the tools those scopes allow', async () => {
    const { tokens } = await authorize('alice', { untick: ['notes:write', 'notes:read'] });
    expect(tokens.scope).toBe('profile');
    expect(await (await session(tokens.access_token)).toolNames()).toEqual(['whoami']);
  });

  it('narrows a grant to what the scope policy allows the user (bob may not write)', async () => {
    const { tokens } = await authorize('bob', { scope: ALL });
    expect(tokens.scope).toBe('profile notes:read');
    expect(await (await session(tokens.access_token)).toolNames()).toEqual(['notes_list', 'whoami']);
  });

  it('refuses an unknown scope with invalid_scope before showing anything (a page with the way back: the client registered itself)', async () => {
    const registered = await registerClient(discovery.server, { redirect_uris: [CALLBACK], token_endpoint_auth_method: 'client_secret_basic' });
    const start = await startAuthorization(discovery.server, registered.client, { redirectUri: CALLBACK, scope: 'notes:read admin' });
    const page = await fetch(start.url, { redirect: 'manual' });
    expect(page.status).toBe(400);
    const href = /<a href="([^"]+)"/.exec(await page.text())?.[1]?.replaceAll('&amp;', '&') ?? '';
    const callback = new URL(href);
    expect(`${callback.origin}${callback.pathname}`).toBe(CALLBACK);
    expect(callback.searchParams.get('error')).toBe('invalid_scope');
    expect(callback.searchParams.get('error_description')).toBe('Unknown scope: admin');
    expect(callback.searchParams.get('state')).toBe(start.state);
  });

  it('refuses every tool whose scope the token lacks: 403 with a step-up challenge on /mcp', async () => {
    const profileOnly = await session((await authorize('alice', { untick: ['notes:read', 'notes:write'] })).tokens.access_token);
    for (const [tool, needed] of [['notes_add', 'notes:write'], ['notes_delete', 'notes:write'], ['notes_list', 'notes:read']] as const) {
      const refused = await profileOnly.callTool(tool, tool === 'notes_add' ? { text: 'x' } : tool === 'notes_delete' ? { id: 'x' } : {});
      expect(refused.status).toBe(403);
      const header = refused.headers.get('www-authenticate') ?? '';
      expect(header).toContain('error="insufficient_scope"');
      expect(header).toContain(`scope="${needed}"`);
      expect(header).toContain(`resource_metadata="${system.origin}/.well-known/oauth-protected-resource/mcp"`);
    }
    const notesOnly = await session((await authorize('alice', { untick: ['profile'] })).tokens.access_token);
    const whoami = await notesOnly.callTool('whoami');
    expect(whoami.status).toBe(403);
    expect(whoami.headers.get('www-authenticate')).toContain('scope="profile"');
  });

  it('refuses it over /sse with a JSON-RPC error that names the missing scope', async () => {
    const { tokens } = await authorize('alice', { untick: ['notes:write'] });
    const client = new Client({ name: 'scopes-sse', version: '1.0.0' });
    await client.connect(new SSEClientTransport(new URL('/sse', system.origin), { requestInit: { headers: { Authorization: `Bearer ${tokens.access_token}` } } }));
    try {
      const error = await client.callTool({ name: 'notes_add', arguments: { text: 'x' } }).then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      expect(error).toBeInstanceOf(McpError);
      expect((error as McpError).code).toBe(-32003);
      expect((error as McpError).message).toContain('notes_add needs notes:write');
      expect((error as McpError).data).toEqual({ error: 'insufficient_scope', scope: 'notes:write' });
      expect((await client.listTools()).tools.map((tool) => tool.name).sort()).toEqual(['notes_list', 'whoami']);
    } finally {
      await client.close();
    }
  });

  it('steps up from read to write: 403, re-authorization showing only what is new, then success', async () => {
    const context = await newBrowserContext();
    try {
      const first = await authorize('alice', { untick: ['notes:write'], context });
      expect(first.tokens.scope).toBe('profile notes:read');
      const wire = await session(first.tokens.access_token);
      const refused = await wire.callTool('notes_add', { text: 'after step-up' });
      expect(refused.status).toBe(403);
      const needed = /scope="([^"]+)"/.exec(refused.headers.get('www-authenticate') ?? '')?.[1];
      expect(needed).toBe('notes:write');

      // The client asks for what it had plus what the challenge named (MCP: scopes accumulate).
      const second = await authorize('alice', { scope: `${first.tokens.scope} ${needed}`, registered: first.registered, context });
      expect(second.consentText).toMatch(/also asks to:\s*Create and delete your notes notes:write\s*You already allowed it to:\s*See your name and email address profile\s*Read your notes notes:read/);
      expect(second.tokens.scope).toBe(ALL);

      wire.useToken(second.tokens.access_token);
      const added = await wire.callTool('notes_add', { text: 'after step-up' });
      expect(added.status).toBe(200);
      expect(added.message?.result?.structuredContent).toMatchObject({ text: 'after step-up' });
    } finally {
      await context.close();
    }
  });

  it('lets a refresh narrow the scope but never widen it', async () => {
    const { registered, tokens } = await authorize('alice', { untick: ['notes:write'] });
    const refreshWith = async (scope: string) =>
      oauth.refreshTokenGrantRequest(discovery.server, registered.client, registered.auth, tokens.refresh_token as string, {
        ...httpOptions(system.origin),
        additionalParameters: { scope },
      });

    // Asking for more than the grant holds yields only what it holds (the provider downscopes) ...
    const widened = await oauth.processRefreshTokenResponse(discovery.server, registered.client, await refreshWith(ALL));
    expect(widened.scope).toBe('profile notes:read');
    // ... and asking only for scopes it lacks is refused.
    const onlyNew = await refreshWith('notes:write');
    expect(onlyNew.status).toBe(400);
    expect(await onlyNew.json()).toMatchObject({ error: 'invalid_scope' });

    const narrowed = await oauth.processRefreshTokenResponse(discovery.server, registered.client, await refreshWith('notes:read'));
    expect(narrowed.scope).toBe('notes:read');
    const wire = await session(narrowed.access_token);
    expect(await wire.toolNames()).toEqual(['notes_list']);
    expect((await wire.callTool('whoami')).status).toBe(403);
  });
});
