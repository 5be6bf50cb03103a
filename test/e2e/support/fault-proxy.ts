/**
 * A fault-injecting loopback proxy in front of the running Worker: it passes everything through
 * (streams included) except the requests a test names, which it answers itself or whose answer it
 * rewrites. It turns the one real server into the broken configurations the doctor must diagnose —
 * registration off, public clients only, metadata missing or naming another host — without a
 * production switch for each.
 *
 * Run the Worker with PUBLIC_URL set to the proxy's origin, so that issuer, resource and every
 * metadata URL name the proxy, as they would on a real host. (Forwarding the Host header alone is not
 * enough: with PUBLIC_URL unset, workers-oauth-provider 1.2.3 attaches its helpers to the shared
 * `env` once, for the first origin the isolate serves, and /authorize then refuses every other
 * origin's resource with invalid_target.) The Host header is forwarded unchanged all the same.
 */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { closeServers, listenOnLoopback } from './loopback-server.ts';

export interface ProxiedRequest {
  method: string;
  /** As the client addressed it, on the proxy's origin. */
  url: URL;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface FaultResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string | object;
}

export interface Fault {
  /** For `hits()` and failure messages. */
  name: string;
  match(request: ProxiedRequest): boolean;
  /** Answer in place of the server. */
  respond?(request: ProxiedRequest): FaultResponse;
  /** Change the server's answer: its headers (lower-case names) and, when given, its JSON body. */
  rewrite?: {
    headers?(headers: Record<string, string>, request: ProxiedRequest): void;
    json?(body: unknown, request: ProxiedRequest): unknown;
  };
  /** How many matching requests it applies to; default all. */
  times?: number;
}

export interface FaultProxy {
  /** `http://localhost:<port>`. */
  origin: string;
  mcpUrl: string;
  /** Replaces the active faults; `[]` passes everything through. */
  setFaults(faults: Fault[]): void;
  /** How often a fault of this name has applied since it was set. */
  hits(name: string): number;
  close(): Promise<void>;
}

export async function startFaultProxy(upstreamOrigin: string): Promise<FaultProxy> {
  const upstream = new URL(upstreamOrigin);
  let faults: Fault[] = [];
  let hits = new Map<string, number>();

  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const proxied: ProxiedRequest = { method: req.method ?? 'GET', url: new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`), headers: req.headers, body: body.toString('utf8') };

    const fault = faults.find((candidate) => (candidate.times === undefined || (hits.get(candidate.name) ?? 0) < candidate.times) && candidate.match(proxied));
    if (fault) hits.set(fault.name, (hits.get(fault.name) ?? 0) + 1);

    if (fault?.respond) {
      const answer = fault.respond(proxied);
      const text = answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
      const type = typeof answer.body === 'object' ? { 'content-type': 'application/json' } : {};
      res.writeHead(answer.status, { ...type, ...answer.headers, 'content-length': String(Buffer.byteLength(text)) }).end(text);
      return;
    }

    // A body to rewrite must come back uncompressed; everything else is passed as the client asked.
    const headers = fault?.rewrite ? { ...req.headers, 'accept-encoding': 'identity' } : req.headers;
    const forward = httpRequest(
      { hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
      (answer) => {
        if (!fault?.rewrite) {
          // Untouched answers are piped, so event streams flow as they are written.
          res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.rawHeaders);
          res.flushHeaders();
          answer.pipe(res);
          return;
        }
        rewritten(answer, fault, proxied).then(
          ({ status, headers: rewrittenHeaders, text }) => res.writeHead(status, rewrittenHeaders).end(text),
          (error: unknown) => res.writeHead(502, { 'content-type': 'text/plain' }).end(`fault proxy: rewriting for "${fault.name}" failed: ${String(error)}`),
        );
      },
    );
    forward.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`fault proxy: ${error.message}`);
    });
    // A client that hangs up (a closed event stream) must not leave the upstream request open.
    res.on('close', () => forward.destroy());
    forward.end(body);
  };

  const servers = await listenOnLoopback((req, res) => {
    handler(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`fault proxy: ${String(error)}`);
    });
  });
  const port = (servers[0]?.address() as { port: number }).port;
  const origin = `http://localhost:${port}`;
  return {
    origin,
    mcpUrl: `${origin}/mcp`,
    setFaults(next) {
      faults = next;
      hits = new Map();
    },
    hits: (name) => hits.get(name) ?? 0,
    close: () => closeServers(servers),
  };
}

async function rewritten(answer: IncomingMessage, fault: Fault, request: ProxiedRequest): Promise<{ status: number; headers: Record<string, string>; text: string }> {
  const chunks: Buffer[] = [];
  for await (const chunk of answer) chunks.push(chunk as Buffer);
  let text = Buffer.concat(chunks).toString('utf8');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(answer.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  fault.rewrite?.headers?.(headers, request);
  if (fault.rewrite?.json && headers['content-type']?.includes('json')) text = JSON.stringify(fault.rewrite.json(JSON.parse(text), request));
  // The body may have changed length; it is sent whole.
  delete headers['transfer-encoding'];
  delete headers['content-encoding'];
  headers['content-length'] = String(Buffer.byteLength(text));
  return { status: answer.statusCode ?? 502, headers, text };
}
