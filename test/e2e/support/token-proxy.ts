/**
 * A loopback proxy that adds `Authorization: Bearer <token>` to MCP requests, for clients that
 * cannot send a token themselves (the MCP conformance suite). Everything else passes untouched:
 * every request header as the client wrote it — Host and Origin included, so a test of the
 * server's Origin check sees exactly what the client sent, and no Origin is ever added — and both
 * bodies streamed, so an SSE response flows event by event.
 *
 * The Host header reaching the Worker is therefore the proxy's (or whatever the client sent): run
 * the Worker with PUBLIC_URL set to the proxy's origin, so its issuer, resource and own origin do
 * not depend on the Host.
 */
import { request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { closeServers, listenOnLoopback } from './loopback-server.ts';

export interface TokenProxyOptions {
  /** The server behind the proxy, e.g. `http://localhost:8787`. */
  upstream: string;
  /** The token to add, read on every request: a test may mint it through the proxy first. */
  token: () => string | undefined;
  /** Path prefixes that get the token; default the MCP endpoints. The OAuth endpoints never need it. */
  paths?: string[];
}

/** One request as it reached the server, for assertions on what a client actually sent. */
export interface ForwardedRequest {
  method: string;
  path: string;
  host: string | undefined;
  origin: string | undefined;
  /** Whether the proxy added the token. */
  tokenAdded: boolean;
  /** The server's answer, once its headers arrived. */
  status?: number;
}

export interface TokenProxy {
  /** `http://localhost:<port>`. */
  origin: string;
  mcpUrl: string;
  /** Every request forwarded so far, oldest first. */
  readonly forwarded: readonly ForwardedRequest[];
  close(): Promise<void>;
}

const DEFAULT_PATHS = ['/mcp', '/sse'];

export async function startTokenProxy(options: TokenProxyOptions): Promise<TokenProxy> {
  const upstream = new URL(options.upstream);
  const paths = options.paths ?? DEFAULT_PATHS;
  const forwarded: ForwardedRequest[] = [];

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = req.url ?? '/';
    const pathname = new URL(path, 'http://proxy.invalid').pathname;
    const token = options.token();
    // A client's own Authorization wins; the proxy only fills in for clients that send none.
    const tokenAdded = token !== undefined && req.headers.authorization === undefined && paths.some((prefix) => pathname === prefix || pathname.startsWith(`${prefix}/`));
    const record: ForwardedRequest = { method: req.method ?? 'GET', path, host: req.headers.host, origin: req.headers.origin, tokenAdded };
    forwarded.push(record);

    // rawHeaders keeps names, order and repeats exactly as the client sent them.
    const headers = tokenAdded ? [...req.rawHeaders, 'Authorization', `Bearer ${token}`] : req.rawHeaders;
    const forward = httpRequest({ hostname: upstream.hostname, port: upstream.port, method: req.method, path, headers }, (answer) => {
      record.status = answer.statusCode;
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.rawHeaders);
      // Sent now, not with the first body chunk: an event stream may stay silent for a while.
      res.flushHeaders();
      answer.pipe(res);
    });
    forward.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`token proxy: ${error.message}`);
    });
    // A client that hangs up (a closed event stream) must not leave the upstream request open.
    res.on('close', () => forward.destroy());
    req.pipe(forward);
  };

  const servers = await listenOnLoopback(handler);
  const port = (servers[0]?.address() as { port: number }).port;
  const origin = `http://localhost:${port}`;
  return {
    origin,
    mcpUrl: `${origin}/mcp`,
    forwarded,
    close: () => closeServers(servers),
  };
}
