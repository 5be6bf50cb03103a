/**
 * A double of the Cloudflare API (https://developers.cloudflare.com/api/), on loopback, for the one
 * part of `npm run setup` and `npm run deploy` that cannot run here: the account. The real wrangler
 * talks to it through CLOUDFLARE_API_BASE_URL, authenticated by CLOUDFLARE_API_TOKEN with
 * CLOUDFLARE_ACCOUNT_ID (so it makes no /memberships or /user call first).
 *
 * It implements what those commands call, as the API documents it: every answer in the v4 envelope
 * (`{ success, errors: [{ code, message }], messages, result }`, paged lists with `result_info`):
 * - `GET /accounts/:account/storage/kv/namespaces` (List Namespaces: `page`, `per_page` default 20 and
 *   at most 1000, `order` id|title, `direction` asc|desc);
 * - `POST /accounts/:account/storage/kv/namespaces` `{title}` (Create a Namespace; a title the account
 *   already has is refused with 400 and code 10014);
 * - `GET` and `PUT /accounts/:account/workers/scripts/:script/secrets` (List Secrets, names and types
 *   only, never values; Add Script Secret `{name, text, type: "secret_text"}`); a script that does not
 *   exist is 404 with code 10007 `workers.api.error.script_not_found`, which wrangler reads as "not
 *   deployed yet";
 * - `PUT /accounts/:account/workers/scripts/:script` (Upload Worker Module, multipart): only as the
 *   empty draft wrangler uploads to hold secrets before the first deploy.
 * Any other route is 404 with code 7003, as the API answers a path it cannot route, and is recorded,
 * so a test can assert wrangler asked nothing else. A wrong token or account is 403 with code 10000.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { closeServers, listenOnLoopback } from './loopback-server.ts';

export interface RecordedRequest {
  method: string;
  /** Path below the API base, e.g. `/accounts/<id>/storage/kv/namespaces`. */
  path: string;
  /** Whether the double implements it (false: answered 7003). */
  routed: boolean;
}

export interface CloudflareApiDouble {
  /** For CLOUDFLARE_API_BASE_URL. */
  baseUrl: string;
  accountId: string;
  apiToken: string;
  requests: RecordedRequest[];
  namespaces: Array<{ id: string; title: string }>;
  /** Scripts (Workers) of the account, each with its secrets' values by name. */
  scripts: Map<string, Map<string, string>>;
  close(): Promise<void>;
}

const BASE_PATH = '/client/v4';
/** The API's bound on a page of namespaces (List Namespaces, `per_page`). */
const MAX_PER_PAGE = 1000;
const DEFAULT_PER_PAGE = 20;

export async function startCloudflareApi(): Promise<CloudflareApiDouble> {
  const api: Omit<CloudflareApiDouble, 'baseUrl' | 'close'> = {
    accountId: randomBytes(16).toString('hex'),
    apiToken: `test-api-token-${randomBytes(8).toString('hex')}`,
    requests: [],
    namespaces: [],
    scripts: new Map(),
  };
  const servers: Server[] = await listenOnLoopback((req, res) => {
    readBody(req).then(
      (body) => handle(api, req, body, res),
      () => res.destroy(),
    );
  });
  const port = (servers[0]?.address() as { port: number }).port;
  return { ...api, baseUrl: `http://127.0.0.1:${port}${BASE_PATH}`, close: () => closeServers(servers) };
}

function handle(api: Omit<CloudflareApiDouble, 'baseUrl' | 'close'>, req: IncomingMessage, body: Buffer, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://api.invalid');
  const method = req.method ?? 'GET';
  const path = url.pathname.startsWith(BASE_PATH) ? url.pathname.slice(BASE_PATH.length) : url.pathname;
  const record: RecordedRequest = { method, path, routed: true };
  api.requests.push(record);
  const send = (status: number, result: unknown, extra: Record<string, unknown> = {}): void => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ success: true, errors: [], messages: [], result, ...extra }));
  };
  const fail = (status: number, code: number, message: string): void => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ success: false, errors: [{ code, message }], messages: [], result: null }));
  };

  if (req.headers.authorization !== `Bearer ${api.apiToken}`) return fail(403, 10000, 'Authentication error');
  const account = /^\/accounts\/([^/]+)(\/.*)$/.exec(path);
  if (account && account[1] !== api.accountId) return fail(403, 10000, 'Authentication error');
  const rest = account?.[2] ?? '';

  if (rest === '/storage/kv/namespaces' && method === 'GET') {
    const page = Math.max(1, Number(url.searchParams.get('page') ?? 1));
    const perPage = Math.min(MAX_PER_PAGE, Math.max(1, Number(url.searchParams.get('per_page') ?? DEFAULT_PER_PAGE)));
    const order = url.searchParams.get('order') === 'title' ? 'title' : 'id';
    const sign = url.searchParams.get('direction') === 'desc' ? -1 : 1;
    const sorted = [...api.namespaces].sort((a, b) => sign * a[order].localeCompare(b[order]));
    const result = sorted.slice((page - 1) * perPage, page * perPage).map((namespace) => ({ ...namespace, supports_url_encoding: true }));
    return send(200, result, { result_info: { page, per_page: perPage, count: result.length, total_count: sorted.length, total_pages: Math.ceil(sorted.length / perPage) } });
  }
  if (rest === '/storage/kv/namespaces' && method === 'POST') {
    const title = parseJson(body)?.title;
    if (typeof title !== 'string' || title === '') return fail(400, 10019, 'title is required');
    if (api.namespaces.some((namespace) => namespace.title === title)) return fail(400, 10014, 'a namespace with this account ID and title already exists');
    const namespace = { id: randomBytes(16).toString('hex'), title };
    api.namespaces.push(namespace);
    return send(200, { ...namespace, supports_url_encoding: true });
  }
  const script = /^\/workers\/scripts\/([^/]+)(\/secrets)?$/.exec(rest);
  if (script) {
    const name = decodeURIComponent(script[1] ?? '');
    const secrets = api.scripts.get(name);
    if (!script[2] && method === 'PUT') {
      if (!req.headers['content-type']?.startsWith('multipart/form-data')) return fail(400, 10021, 'expected a multipart upload');
      if (!secrets) api.scripts.set(name, new Map());
      return send(200, { id: name, etag: randomBytes(8).toString('hex'), handlers: ['fetch'] });
    }
    if (script[2] && (method === 'GET' || method === 'PUT')) {
      if (!secrets) return fail(404, 10007, 'workers.api.error.script_not_found');
      if (method === 'GET') return send(200, [...secrets.keys()].map((secret) => ({ name: secret, type: 'secret_text' })));
      const secret = parseJson(body);
      if (typeof secret?.name !== 'string' || typeof secret.text !== 'string' || secret.type !== 'secret_text') return fail(400, 10021, 'expected {name, text, type: "secret_text"}');
      secrets.set(secret.name, secret.text);
      return send(200, { name: secret.name, type: 'secret_text' });
    }
  }
  record.routed = false;
  return fail(404, 7003, `Could not route to ${path}, perhaps your object identifier is invalid?`);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseJson(body: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
