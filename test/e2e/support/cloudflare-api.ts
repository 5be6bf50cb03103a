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
 * - `PUT /accounts/:account/workers/scripts/:script` (Upload Worker Module, multipart: a `metadata`
 *   part and one part per module): the empty draft wrangler uploads to hold secrets before the first
 *   deploy, and the deploy itself. Checked as the API checks it: `main_module` names a part; a
 *   `kv_namespace` binding names a namespace of the account; `migrations.old_tag` is the script's
 *   current tag; a `durable_object_namespace` binding's class was created by a migration. Secrets
 *   survive only when `keep_bindings` lists `secret_text` (wrangler always sends it);
 * - `GET /accounts/:account/workers/services/:script` (the script's `default_environment`: its tag and
 *   `migration_tag`, which wrangler reads to choose the migrations to send; 404 with code 10090 when
 *   there is no such Worker), `GET .../scripts/:script/deployments` (newest first);
 * - `GET .../scripts/:script/settings` (Get Script Settings: the bindings and compatibility of the last
 *   upload; wrangler compares them before it provisions anything), `PATCH .../scripts/:script/script-settings`
 *   `{tags}` (Patch Script Settings: wrangler tags an environment's Worker with its service and environment);
 * - `GET /accounts/:account/workers/workers/:script` (Get Worker: its `subdomain` state),
 *   `GET /accounts/:account/workers/subdomain` (the account's workers.dev subdomain), `GET` and `POST
 *   .../scripts/:script/subdomain` `{enabled, previews_enabled}`, `PUT .../scripts/:script/schedules`
 *   `[{cron}]`: what wrangler sets after an upload (the workers.dev route, cron triggers).
 * Any other route is 404 with code 7003, as the API answers a path it cannot route, and is recorded,
 * so a test can assert wrangler asked nothing else. A wrong token or account is 403 with code 10000.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { closeServers, listenOnLoopback } from './loopback-server.ts';

export interface RecordedRequest {
  method: string;
  /** Path below the API base, e.g. `/accounts/<id>/storage/kv/namespaces`. */
  path: string;
  /** Whether the double implements it (false: answered 7003). */
  routed: boolean;
}

/** A binding as the upload's metadata declares it (Upload Worker Module, `metadata.bindings`). */
export interface UploadedBinding {
  type: string;
  name: string;
  [field: string]: unknown;
}

/** The part of an upload's `metadata` the tests read. */
export interface UploadMetadata {
  main_module?: string;
  bindings?: UploadedBinding[];
  compatibility_date?: string;
  compatibility_flags?: string[];
  migrations?: { old_tag?: string; new_tag?: string; steps?: Array<Record<string, unknown>> };
  keep_bindings?: string[];
  observability?: { enabled?: boolean };
}

export interface WorkerScript {
  /** Secret values by name: the API never gives them back, the double keeps them for the tests. */
  secrets: Map<string, string>;
  /** The last upload's metadata. */
  metadata: UploadMetadata;
  /** The names of the last upload's module parts. */
  modules: string[];
  /** The last migration applied (`migrations.new_tag` of an upload that had migrations). */
  migrationTag?: string;
  /** Classes created by the migrations applied so far (`new_classes`, `new_sqlite_classes`). */
  durableObjectClasses: Set<string>;
  crons: string[];
  /** Whether `<script>.<subdomain>.workers.dev` answers, and version preview URLs. */
  workersDev: boolean;
  previewsEnabled: boolean;
  /** Script tags (Patch Script Settings): wrangler tags each environment's Worker with its service and environment. */
  tags: string[];
  /** How many uploads: wrangler's empty draft for secrets counts as one. */
  uploads: number;
  tag: string;
  deployments: Array<{ id: string; created_on: string; versions: Array<{ version_id: string; percentage: number }> }>;
}

export interface CloudflareApiDouble {
  /** For CLOUDFLARE_API_BASE_URL. */
  baseUrl: string;
  accountId: string;
  apiToken: string;
  /** The account's workers.dev subdomain (`<worker>.<subdomain>.workers.dev`). */
  subdomain: string;
  requests: RecordedRequest[];
  namespaces: Array<{ id: string; title: string }>;
  /** Scripts (Workers) of the account by name. */
  scripts: Map<string, WorkerScript>;
  close(): Promise<void>;
}

type State = Omit<CloudflareApiDouble, 'baseUrl' | 'close'>;

const BASE_PATH = '/client/v4';
/** The API's bound on a page of namespaces (List Namespaces, `per_page`). */
const MAX_PER_PAGE = 1000;
const DEFAULT_PER_PAGE = 20;

export async function startCloudflareApi(): Promise<CloudflareApiDouble> {
  const api: State = {
    accountId: randomBytes(16).toString('hex'),
    apiToken: `test-api-token-${randomBytes(8).toString('hex')}`,
    subdomain: `test-${randomBytes(4).toString('hex')}`,
    requests: [],
    namespaces: [],
    scripts: new Map(),
  };
  const servers: Server[] = await listenOnLoopback((req, res) => {
    readBody(req)
      .then((body) => handle(api, req, body, res))
      .catch(() => res.destroy());
  });
  const port = (servers[0]?.address() as { port: number }).port;
  return { ...api, baseUrl: `http://127.0.0.1:${port}${BASE_PATH}`, close: () => closeServers(servers) };
}

async function handle(api: State, req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<void> {
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
  if (rest === '/workers/subdomain' && method === 'GET') return send(200, { subdomain: api.subdomain });

  const service = /^\/workers\/services\/([^/]+)$/.exec(rest);
  if (service && method === 'GET') {
    const name = decodeURIComponent(service[1] ?? '');
    const script = api.scripts.get(name);
    if (!script) return fail(404, 10090, 'workers.api.error.service_not_found');
    return send(200, {
      id: name,
      default_environment: {
        environment: 'production',
        script: { id: name, tag: script.tag, tags: script.tags, etag: script.tag, migration_tag: script.migrationTag, last_deployed_from: 'wrangler' },
      },
    });
  }

  // Get Worker (the Workers API, /workers/workers/:id, which takes a script's name as its id).
  const worker = /^\/workers\/workers\/([^/]+)$/.exec(rest);
  if (worker && method === 'GET') {
    const name = decodeURIComponent(worker[1] ?? '');
    const script = api.scripts.get(name);
    if (!script) return fail(404, 10007, 'workers.api.error.script_not_found');
    return send(200, { id: script.tag, name, subdomain: { enabled: script.workersDev, previews_enabled: script.previewsEnabled }, tags: script.tags });
  }

  const scriptRoute = /^\/workers\/scripts\/([^/]+)(\/[a-z-]+)?$/.exec(rest);
  if (scriptRoute) {
    const name = decodeURIComponent(scriptRoute[1] ?? '');
    const sub = scriptRoute[2];
    const script = api.scripts.get(name);
    if (!sub && method === 'PUT') {
      const upload = await readUpload(req, body);
      if (typeof upload === 'string') return fail(400, 10021, upload);
      const problem = uploadProblem(api, script, upload.metadata, upload.parts);
      if (problem) return fail(400, 10021, problem);
      const target = script ?? newScript();
      applyUpload(target, upload.metadata, upload.parts);
      api.scripts.set(name, target);
      const deploymentId = randomUUID();
      target.deployments.unshift({ id: randomUUID(), created_on: new Date().toISOString(), versions: [{ version_id: deploymentId, percentage: 100 }] });
      return send(200, { id: name, tag: target.tag, etag: randomBytes(8).toString('hex'), handlers: ['fetch', 'scheduled'], deployment_id: deploymentId, migration_tag: target.migrationTag, startup_time_ms: 1 });
    }
    if (!script) return fail(404, 10007, 'workers.api.error.script_not_found');
    if (sub === '/secrets' && method === 'GET') return send(200, [...script.secrets.keys()].map((secret) => ({ name: secret, type: 'secret_text' })));
    if (sub === '/secrets' && method === 'PUT') {
      const secret = parseJson(body);
      if (typeof secret?.name !== 'string' || typeof secret.text !== 'string' || secret.type !== 'secret_text') return fail(400, 10021, 'expected {name, text, type: "secret_text"}');
      script.secrets.set(secret.name, secret.text);
      return send(200, { name: secret.name, type: 'secret_text' });
    }
    if (sub === '/deployments' && method === 'GET') return send(200, { deployments: script.deployments });
    if (sub === '/settings' && method === 'GET') {
      const { bindings = [], compatibility_date, compatibility_flags = [], observability } = script.metadata;
      return send(200, { bindings, compatibility_date, compatibility_flags, observability, logpush: false, tags: script.tags, tail_consumers: [] });
    }
    if (sub === '/script-settings' && method === 'PATCH') {
      const settings = parseJson(body);
      if (!settings) return fail(400, 10021, 'expected a JSON object');
      const tags = settings.tags;
      if (tags !== undefined) {
        if (!Array.isArray(tags) || !tags.every((tag) => typeof tag === 'string')) return fail(400, 10021, 'tags must be a list of strings');
        script.tags = tags;
      }
      return send(200, { logpush: false, tags: script.tags, tail_consumers: [], observability: script.metadata.observability });
    }
    if (sub === '/subdomain' && method === 'GET') return send(200, { enabled: script.workersDev, previews_enabled: script.previewsEnabled });
    if (sub === '/subdomain' && method === 'POST') {
      const { enabled, previews_enabled: previews = script.previewsEnabled } = parseJson(body) ?? {};
      if (typeof enabled !== 'boolean' || typeof previews !== 'boolean') return fail(400, 10021, 'expected {enabled: boolean, previews_enabled?: boolean}');
      script.workersDev = enabled;
      script.previewsEnabled = previews;
      return send(200, { enabled, previews_enabled: previews });
    }
    if (sub === '/schedules' && method === 'PUT') {
      const schedules = parseJsonValue(body);
      if (!Array.isArray(schedules) || !schedules.every((entry) => typeof (entry as { cron?: unknown })?.cron === 'string')) return fail(400, 10021, 'expected [{cron}]');
      script.crons = schedules.map((entry) => (entry as { cron: string }).cron);
      return send(200, { schedules: script.crons.map((cron) => ({ cron, created_on: new Date().toISOString(), modified_on: new Date().toISOString() })) });
    }
  }
  record.routed = false;
  return fail(404, 7003, `Could not route to ${path}, perhaps your object identifier is invalid?`);
}

function newScript(): WorkerScript {
  return { secrets: new Map(), metadata: {}, modules: [], durableObjectClasses: new Set(), crons: [], workersDev: false, previewsEnabled: false, tags: [], uploads: 0, tag: randomBytes(16).toString('hex'), deployments: [] };
}

/** What the API refuses in an upload, as its error message, or undefined. */
function uploadProblem(api: State, script: WorkerScript | undefined, metadata: UploadMetadata, parts: string[]): string | undefined {
  if (!metadata.main_module || !parts.includes(metadata.main_module)) return `main_module ${String(metadata.main_module)} is not a part of the upload`;
  for (const binding of metadata.bindings ?? []) {
    if (binding.type === 'kv_namespace' && !api.namespaces.some((namespace) => namespace.id === binding.namespace_id)) return `KV namespace '${String(binding.namespace_id)}' not found (binding ${binding.name})`;
  }
  const migrations = metadata.migrations;
  if (migrations && (migrations.old_tag ?? undefined) !== (script?.migrationTag ?? undefined)) {
    return `migration precondition failed: old_tag ${String(migrations.old_tag)} does not match the script's tag ${String(script?.migrationTag)}`;
  }
  const classes = new Set(script?.durableObjectClasses);
  for (const step of migrations?.steps ?? []) for (const name of createdClasses(step)) classes.add(name);
  for (const binding of metadata.bindings ?? []) {
    const className = binding.class_name;
    if (binding.type === 'durable_object_namespace' && binding.script_name === undefined && (typeof className !== 'string' || !classes.has(className))) {
      return `Cannot create binding for class '${String(className)}' that is not created by a migration (binding ${binding.name})`;
    }
  }
  return undefined;
}

function applyUpload(script: WorkerScript, metadata: UploadMetadata, parts: string[]): void {
  for (const step of metadata.migrations?.steps ?? []) for (const name of createdClasses(step)) script.durableObjectClasses.add(name);
  if (metadata.migrations?.new_tag) script.migrationTag = metadata.migrations.new_tag;
  // Secrets are bindings too: an upload that does not ask to keep them replaces them with its own (none).
  if (!metadata.keep_bindings?.includes('secret_text')) script.secrets.clear();
  script.metadata = metadata;
  script.modules = parts.filter((part) => part !== 'metadata');
  script.uploads++;
}

function createdClasses(step: Record<string, unknown>): string[] {
  return [step.new_classes, step.new_sqlite_classes].flatMap((list) => (Array.isArray(list) ? list.filter((item): item is string => typeof item === 'string') : []));
}

/** A multipart upload's metadata and part names, or what is wrong with it. */
async function readUpload(req: IncomingMessage, body: Buffer): Promise<{ metadata: UploadMetadata; parts: string[] } | string> {
  const type = req.headers['content-type'] ?? '';
  if (!type.startsWith('multipart/form-data')) return 'expected a multipart upload';
  let form: FormData;
  try {
    form = await new Response(Uint8Array.from(body), { headers: { 'Content-Type': type } }).formData();
  } catch {
    return 'malformed multipart body';
  }
  const metadataPart = form.get('metadata');
  const metadataText = typeof metadataPart === 'string' ? metadataPart : await metadataPart?.text();
  const metadata = metadataText === undefined ? undefined : parseJson(Buffer.from(metadataText));
  if (!metadata) return 'expected a metadata part holding JSON';
  return { metadata: metadata as UploadMetadata, parts: [...new Set(form.keys())] };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseJsonValue(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

function parseJson(body: Buffer): Record<string, unknown> | undefined {
  const value = parseJsonValue(body);
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
