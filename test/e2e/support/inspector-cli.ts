/**
 * MCP Inspector's command line (`mcp-inspector --cli`, package @modelcontextprotocol/inspector),
 * run the way a CI job runs it: JSON output, no interactive login, and no trace left behind.
 *
 * - `--format json`: one JSON object on stdout, or the error envelope `{"error":{code,message}}`
 *   on stderr, with documented exit codes (0 ok, 3 auth_required, 4 unreachable, 5 tool error).
 * - `--stored-auth-only` and `MCP_AUTO_OPEN_ENABLED=false`, stdin closed: if the server asks for
 *   OAuth, the Inspector fails with auth_required instead of opening a browser or waiting.
 * - Its catalog, client config, OAuth state and secrets are pointed at a temporary directory, with
 *   the secret store in memory, so a developer's ~/.mcp-inspector is neither read nor written.
 * - Proxy variables removed: all traffic is loopback, and no proxy may see a bearer token.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installedBin } from './installed-bin.ts';
import { runNode, type NodeRun } from './run-node.ts';

export const INSPECTOR = installedBin('@modelcontextprotocol/inspector', 'mcp-inspector');

/** Exit codes from the Inspector CLI's EXIT_CODES (clients/cli). */
export const INSPECTOR_EXIT = { ok: 0, authRequired: 3 } as const;

const PROXY_VARIABLES = ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'all_proxy', 'NO_PROXY', 'no_proxy'];

export interface InspectorRun extends NodeRun {
  /** The JSON object it printed: the result on stdout, or the error envelope on stderr. */
  json: unknown;
}

/** Runs `mcp-inspector --cli <args> --format json --stored-auth-only` in a throwaway home. */
export async function inspectorCli(args: readonly string[]): Promise<InspectorRun> {
  const home = mkdtempSync(join(tmpdir(), 'mcp-inspector-home-'));
  try {
    const run = await runNode(INSPECTOR.path, ['--cli', ...args, '--format', 'json', '--stored-auth-only'], {
      unset: PROXY_VARIABLES,
      env: {
        HOME: home,
        MCP_STORAGE_DIR: join(home, 'storage'),
        MCP_CATALOG_PATH: join(home, 'mcp.json'),
        MCP_CLIENT_CONFIG_PATH: join(home, 'client.json'),
        MCP_INSPECTOR_OAUTH_STATE_PATH: join(home, 'oauth-state.json'),
        MCP_INSPECTOR_SECRET_STORE: 'memory',
        MCP_AUTO_OPEN_ENABLED: 'false',
      },
    });
    return { ...run, json: lastJsonObject(run.code === 0 ? run.stdout : run.stderr) };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** The whole output when it is one JSON document, else its last line that is (warnings may precede it). */
function lastJsonObject(text: string): unknown {
  const candidates = [text.trim(), ...text.split('\n').map((line) => line.trim()).filter((line) => line.startsWith('{')).reverse()];
  for (const candidate of candidates) {
    try {
      return JSON.parse(candidate) as unknown;
    } catch {
      // not this one
    }
  }
  return undefined;
}
