/**
 * The interactive sign-in's receiving end (RFC 8252 §7.3): a one-shot HTTP server on the loopback
 * interface that the user's browser is sent back to, and a way to open that browser.
 */
import { spawn, type SpawnOptions } from 'node:child_process';
import { createServer } from 'node:http';
import { urlProblem } from './url-policy.ts';

export interface LoopbackReceiver {
  /** `http://127.0.0.1:<port>/callback`: an IP literal, as RFC 8252 §8.3 recommends over `localhost`. */
  redirectUri: string;
  /** The first request to the callback path that carries `code` or `error`, as a full URL. */
  waitForCallback(timeoutMs: number): Promise<URL>;
  close(): Promise<void>;
}

const CALLBACK_PATH = '/callback';
const DONE_PAGE = '<!doctype html><meta charset="utf-8"><title>MCP doctor</title><p>Sign-in finished. You can close this tab and go back to the terminal.</p>';

export async function startLoopbackReceiver(): Promise<LoopbackReceiver> {
  let deliver: ((url: URL) => void) | undefined;
  const received = new Promise<URL>((resolve) => (deliver = resolve));
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', `http://${request.headers.host ?? '127.0.0.1'}`);
    if (request.method !== 'GET' || url.pathname !== CALLBACK_PATH || !(url.searchParams.has('code') || url.searchParams.has('error'))) {
      response.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not found');
      return;
    }
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' }).end(DONE_PAGE);
    deliver?.(url);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the loopback server has no TCP port');
  return {
    redirectUri: `http://127.0.0.1:${address.port}${CALLBACK_PATH}`,
    async waitForCallback(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the browser did not come back within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
      });
      try {
        return await Promise.race([received, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The part of `child_process.spawn` the opener uses; injectable for tests. */
export type SpawnLike = (command: string, args: readonly string[], options: SpawnOptions) => { on(event: 'error', listener: (error: Error) => void): unknown; unref(): void };

export interface OpenerOptions {
  spawn?: SpawnLike;
  platform?: NodeJS.Platform;
  /** For `SystemRoot` on Windows. */
  env?: NodeJS.ProcessEnv;
}

export type OpenResult = { opened: true; command: string; args: string[] } | { opened: false; refused: string };

/**
 * The system's URL opener and its arguments, the URL always one argument of its own, for a program
 * started without a shell:
 * - Linux and the BSDs: `xdg-open <url>`; macOS: `open <url>`. A URL that passed {@link urlProblem}
 *   starts with `http`, so neither can take it for an option.
 * - Windows: `rundll32.exe url.dll,FileProtocolHandler <url>`, which hands the URL to the default
 *   browser. Not `cmd /c start`: cmd re-parses its command line, so `&`, `|` or `^` in a URL (all
 *   legal in a path or query) would run commands. By full path under %SystemRoot%, because a program
 *   named without a path is looked up in the current directory first on Windows.
 */
export function openerCommand(url: string, platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): { command: string; args: string[] } {
  if (platform === 'darwin') return { command: 'open', args: [url] };
  if (platform === 'win32') return { command: `${env.SystemRoot ?? env.windir ?? 'C:\\Windows'}\\System32\\rundll32.exe`, args: ['url.dll,FileProtocolHandler', url] };
  return { command: 'xdg-open', args: [url] };
}

/**
 * Opens `url` in the user's browser, if it is https or http on loopback; anything else (another
 * scheme, plain http elsewhere, not a URL) is refused and nothing is started. Best effort: the URL is
 * always printed too, for machines without a desktop.
 */
export function openInBrowser(url: string, options: OpenerOptions = {}): OpenResult {
  const problem = urlProblem(url);
  if (problem) return { opened: false, refused: `${url} ${problem}` };
  // The parsed form: what was checked is exactly what is opened.
  const { command, args } = openerCommand(new URL(url).href, options.platform, options.env);
  const start: SpawnLike = options.spawn ?? spawn;
  try {
    // No shell anywhere: the URL reaches the opener as one argv element, never as command text.
    const child = start(command, args, { stdio: 'ignore', detached: true, shell: false, windowsHide: true });
    child.on('error', () => {
      // No opener on this machine: the printed URL is the way.
    });
    child.unref();
  } catch {
    // As above.
  }
  return { opened: true, command, args };
}
