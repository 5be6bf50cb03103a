/**
 * The interactive sign-in's receiving end (RFC 8252 §7.3): a one-shot HTTP server on the loopback
 * interface that the user's browser is sent back to, and a way to open that browser.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';

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

/** Best effort: the URL is always printed too, for machines without a desktop. */
export function openInBrowser(url: string): void {
  const [command, args] =
    process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '""', url.replaceAll('&', '^&')]] : ['xdg-open', [url]];
  try {
    const child = spawn(command, args, { stdio: 'ignore', detached: true });
    child.on('error', () => {
      // No opener on this machine: the printed URL is the way.
    });
    child.unref();
  } catch {
    // As above.
  }
}
