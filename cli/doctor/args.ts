/** The command line of `doctor`: parsed and validated here, so a usage error never starts a run. */
import { parseArgs } from 'node:util';
import { DEFAULT_AUTH_TIMEOUT_MS, DEFAULT_CALLBACK_URL, type DoctorOptions } from './context.ts';
import { findProfile, PROFILES, type ClientId } from './profiles.ts';

const CLIENT_NAMES = PROFILES.map((profile) => profile.id).join(', ');

export const USAGE = `Usage: mcp-doctor [doctor] <mcp-url> [options]
       npx mcp-doctor <mcp-url> [options]

Checks a remote MCP server against what MCP Manager (or another client) needs: OAuth discovery,
dynamic client registration, the authorization code flow with PKCE, MCP over Streamable HTTP (and
which protocol revisions the URL answers: 2026-07-28, 2025-11-25), refresh and revocation. Every
item is PASS, WARN, FAIL or SKIP; each non-pass says what to fix. The verdict says what the client's
users get: connects and stays connected, connects but must re-authorize, connects only if set up by
hand (a pre-registered client, a static header), or cannot connect.

Options:
  --login <user:password>  sign in headless in Chromium (a consent page with #approve and an
                           IdP form with #login and #password, as this project's dev IdP has)
  --call <tool>[:<json>]   call a tool once connected, e.g. --call whoami
                           or --call 'notes_add:{"text":"hello"}'
  --scope <scopes>         scope to request (default: the 401 challenge's, else the resource's
                           scopes_supported, else none)
  --callback <https-url>   redirect URI registered for --login
                           (default ${DEFAULT_CALLBACK_URL})
  --skip-auth              stop after registration: no sign-in, MCP, refresh or revocation
  --no-open                sign in interactively without opening a browser: print the URL only
  --timeout <seconds>      how long to wait for an interactive sign-in (default ${DEFAULT_AUTH_TIMEOUT_MS / 1000})
  --client <name>          whose verdict decides the exit status: ${CLIENT_NAMES} (default mcp-manager);
                           all: every client's verdict as a compatibility table (the exit status
                           stays MCP Manager's)
  --request-timeout <s>    how long to wait for each request before calling it a time-out (default 10)
  --json                   print the report as JSON, with stable item ids
  --verbose                log every HTTP exchange to stderr, secrets redacted
  -h, --help               show this

Without --login, the doctor opens your browser at the server's sign-in and waits for it to come
back to http://127.0.0.1:<port>/callback.

Exit status, from the verdict: 0 connects and stays connected, 1 cannot connect, 3 connects but
must re-authorize, 4 connects only if set up by hand, 5 undetermined (the run stopped before it
could tell); 2 on a usage error.`;

export type ParsedCommand =
  | { kind: 'help' }
  | { kind: 'run'; options: DoctorOptions; json: boolean; table: boolean }
  | { kind: 'usage-error'; message: string };

const OPTIONS = {
  login: { type: 'string' },
  call: { type: 'string' },
  scope: { type: 'string' },
  callback: { type: 'string' },
  timeout: { type: 'string' },
  client: { type: 'string' },
  'request-timeout': { type: 'string' },
  'skip-auth': { type: 'boolean' },
  'no-open': { type: 'boolean' },
  json: { type: 'boolean' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parse(argv: readonly string[]) {
  return parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: OPTIONS });
}

export function parseDoctorArgs(argv: readonly string[]): ParsedCommand {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    return { kind: 'usage-error', message: error instanceof Error ? error.message : String(error) };
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };

  // `npx <package> doctor <url>` and the `mcp-doctor <url>` bin are the same command.
  const args = positionals[0] === 'doctor' ? positionals.slice(1) : positionals;
  if (args.length === 0) return { kind: 'usage-error', message: 'the MCP URL is missing' };
  if (args.length > 1) return { kind: 'usage-error', message: `one MCP URL, please (got ${args.join(' ')})` };
  const url = httpUrl(args[0] ?? '');
  if (!url) return { kind: 'usage-error', message: `not an http(s) URL: ${args[0]}` };

  let login: DoctorOptions['login'];
  if (values.login !== undefined) {
    const separator = values.login.indexOf(':');
    if (separator <= 0) return { kind: 'usage-error', message: '--login takes user:password' };
    login = { username: values.login.slice(0, separator), password: values.login.slice(separator + 1) };
  }

  let call: DoctorOptions['call'];
  if (values.call !== undefined) {
    const separator = values.call.indexOf(':');
    const name = separator === -1 ? values.call : values.call.slice(0, separator);
    if (!name) return { kind: 'usage-error', message: '--call takes <tool>[:<json arguments>]' };
    let parsed: unknown = {};
    if (separator !== -1) {
      try {
        parsed = JSON.parse(values.call.slice(separator + 1));
      } catch {
        return { kind: 'usage-error', message: `--call ${name}: the arguments are not JSON` };
      }
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { kind: 'usage-error', message: `--call ${name}: the arguments must be a JSON object` };
    call = { name, arguments: parsed as Record<string, unknown> };
  }

  if (values.callback !== undefined && !httpUrl(values.callback)?.startsWith('https:')) {
    return { kind: 'usage-error', message: '--callback must be an https URL, as MCP Manager\'s is' };
  }

  let authTimeoutMs: number | undefined;
  if (values.timeout !== undefined) {
    const seconds = Number(values.timeout);
    if (!Number.isFinite(seconds) || seconds <= 0) return { kind: 'usage-error', message: '--timeout takes a number of seconds' };
    authTimeoutMs = seconds * 1000;
  }

  let client: ClientId | undefined;
  const table = values.client?.toLowerCase() === 'all';
  if (values.client !== undefined && !table) {
    client = findProfile(values.client)?.id;
    if (!client) return { kind: 'usage-error', message: `--client takes one of ${CLIENT_NAMES}, or all (got ${JSON.stringify(values.client)})` };
  }
  let requestTimeoutMs: number | undefined;
  if (values['request-timeout'] !== undefined) {
    const seconds = Number(values['request-timeout']);
    if (!Number.isFinite(seconds) || seconds <= 0) return { kind: 'usage-error', message: '--request-timeout takes a number of seconds' };
    requestTimeoutMs = seconds * 1000;
  }

  return {
    kind: 'run',
    json: values.json === true,
    table,
    options: {
      client,
      requestTimeoutMs,
      url,
      login,
      call,
      scope: values.scope,
      callbackUrl: values.callback,
      skipAuth: values['skip-auth'] === true,
      openBrowser: values['no-open'] !== true,
      authTimeoutMs,
      verbose: values.verbose === true,
    },
  };
}

function httpUrl(value: string): string | undefined {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? value : undefined;
  } catch {
    return undefined;
  }
}
