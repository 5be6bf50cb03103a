/**
 * mcp-remote (the stdio-to-remote proxy many desktop hosts run) against the running system, doing
 * its own OAuth: discovery from the 401, dynamic registration, PKCE, its loopback callback server
 * and the code exchange are all its own. The test supplies only what a person supplies: the browser.
 * mcp-remote opens the authorization URL through xdg-open, which runs `$BROWSER`; that is
 * ./browser-relay.mjs, which hands the URL to a loopback server here, where the consent page and the
 * dev IdP's login are completed over HTTP and the browser's final redirect is delivered to
 * mcp-remote's callback.
 *
 * An MCP SDK client speaks stdio to it, as a desktop host would. Everything started here is stopped
 * in a `finally`: the proxy process (closed with the client), the relay, and the temporary home that
 * holds its registration and tokens.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { httpLogin } from '../../../cli/lib/http-login.ts';
import { ROOT } from '../../../scripts/system.ts';
import { installedBin } from './installed-bin.ts';
import { closeServers, listenOnLoopback } from './loopback-server.ts';

export const MCP_REMOTE = installedBin('mcp-remote', 'mcp-remote');

const RELAY_SCRIPT = join(ROOT, 'test/e2e/support/browser-relay.mjs');

export interface McpRemoteRun<T> {
  result: T;
  /** Every authorization URL mcp-remote opened in the "browser". */
  authorizations: URL[];
  /** What mcp-remote wrote to stderr (its log), for assertions and failure messages. */
  stderr: string;
}

/**
 * Starts `mcp-remote <url> ...args`, connects an MCP client to it over stdio, runs `use`, and stops
 * everything. `user` is who signs in when mcp-remote opens the browser.
 */
export async function withMcpRemote<T>(url: string, args: readonly string[], user: { login: string; password: string }, use: (client: Client) => Promise<T>): Promise<McpRemoteRun<T>> {
  const home = mkdtempSync(join(tmpdir(), 'mcp-remote-home-'));
  const authorizations: URL[] = [];
  const relayErrors: unknown[] = [];
  let relay: Server[] = [];
  let stderr = '';
  const client = new Client({ name: 'desktop-host (mcp-remote e2e)', version: '1.0.0' });
  try {
    relay = await listenOnLoopback((request, response) => {
      const opened = new URL(request.url ?? '/', 'http://relay').searchParams.get('url');
      response.end();
      if (!opened) return;
      const authorizationUrl = new URL(opened);
      authorizations.push(authorizationUrl);
      const redirectUri = authorizationUrl.searchParams.get('redirect_uri') ?? '';
      // The person in front of the browser: consent and IdP login, then the redirect back.
      void httpLogin(authorizationUrl.href, { ...user, redirectUri })
        .then((callback) => fetch(callback))
        .then((delivered) => delivered.arrayBuffer())
        .catch((error: unknown) => relayErrors.push(error));
    });
    const relayPort = (relay[0]?.address() as { port: number }).port;
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [MCP_REMOTE.path, url, ...args],
      cwd: home,
      stderr: 'pipe',
      env: {
        PATH: process.env.PATH ?? '',
        HOME: home,
        MCP_REMOTE_CONFIG_DIR: join(home, '.mcp-auth'),
        // xdg-open falls back to $BROWSER when there is no desktop session; the relay is loopback only.
        BROWSER: `${process.execPath} ${RELAY_SCRIPT}`,
        MCP_TEST_BROWSER_RELAY: `http://127.0.0.1:${relayPort}/open`,
      },
    });
    transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      await client.connect(transport);
    } catch (error) {
      throw new Error(`mcp-remote did not connect: ${String(error)}\nrelay: ${relayErrors.map(String).join('; ')}\nstderr:\n${stderr.slice(-4000)}`);
    }
    const result = await use(client);
    return { result, authorizations, stderr };
  } finally {
    await client.close().catch(() => undefined);
    await closeServers(relay);
    rmSync(home, { recursive: true, force: true });
  }
}
