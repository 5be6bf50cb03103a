/**
 * Recording an audit event: `audit({...})` from any hook, in any module, with no plumbing.
 *
 * Each request the Worker serves runs in an audit scope (`withAudit`, ../index.ts): an
 * AsyncLocalStorage context holding the request's facts (client address, request id) and its
 * events. A hook's call keeps the record; when the response is ready the scope's records join the
 * isolate's open batch, written inside `ctx.waitUntil`, so the response never waits for it. An event
 * recorded after that (from work the request left running) joins a batch the same way.
 *
 * A batch is written twice: first as log output, one console call whose message is the batch's
 * events as JSON Lines (one structured line per event, for Workers Logs and Logpush), then to the
 * store in one Durable Object call. One console call per batch, not per event: under `wrangler dev`
 * each console call is relayed through the inspector to wrangler, which on a 2-core machine cost more
 * CPU than the rest of a tool call (README, Audit trail); per batch it is a few calls a second.
 *
 * Failures are contained: anything thrown while recording or writing is caught, logged as
 * `audit_write_failed` (with counts and the error's message, never the events' data beyond their
 * types), and never changes the response.
 *
 * Outside a request scope (the McpAgent Durable Object behind /sse, which has no client address),
 * `audit(event, env)` writes directly; the object stays alive while its promise runs.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { loadConfig } from '../config';
import { recordJson, toRecord, utcDay, type AuditInput, type AuditRecord } from './events';
import { AUDIT_SHARDS_PER_DAY, auditShard, dayExpiresAt } from './shards';

interface Scope {
  env: Env;
  ctx: ExecutionContext;
  request: Request;
  facts?: { ip: string | null; requestId: string | null };
  /** Whether AUDIT is on for this env; read once, when the first event comes. */
  enabled?: boolean;
  records: AuditRecord[];
  /** Recorded only if the response succeeds (status below 400): token issuance, decided inside the provider. */
  onSuccess: AuditInput[];
  closed: boolean;
}

const scopes = new AsyncLocalStorage<Scope>();

/** Runs `handler` for `request` in an audit scope, then writes the scope's events off the response path. */
export async function withAudit(request: Request, env: Env, ctx: ExecutionContext, handler: () => Promise<Response>): Promise<Response> {
  const scope: Scope = { env, ctx, request, records: [], onSuccess: [], closed: false };
  let response: Response | undefined;
  try {
    const answered = await scopes.run(scope, handler);
    response = answered;
    return answered;
  } finally {
    scope.closed = true;
    try {
      if (response !== undefined && response.status < 400) for (const input of scope.onSuccess) scope.records.push(build(scope, input));
      if (scope.records.length > 0) enqueue(env, ctx, scope.records);
    } catch (error) {
      reportFailure(error, scope.records.length);
    }
  }
}

/** Records `input` in the current request's scope; outside one, with `env`, on its own. Never throws. */
export function audit(input: AuditInput, env?: Env): void {
  try {
    const scope = scopes.getStore();
    if (scope) {
      if (!isEnabled(scope)) return;
      const record = build(scope, input);
      if (scope.closed) enqueue(scope.env, scope.ctx, [record]);
      else scope.records.push(record);
      return;
    }
    if (env === undefined || !auditEnabled(env)) return;
    const record = toRecord(input, Date.now(), { ip: null, requestId: null }, nextEventId());
    track(writeRecords(env, [record]));
  } catch (error) {
    reportFailure(error, 1);
  }
}

/**
 * Records `input` only if the current request ends with a success (status below 400). For facts
 * decided before the outcome is known: the provider's token callback runs before it writes the
 * tokens, and the write can still fail.
 */
export function auditOnSuccess(input: AuditInput): void {
  const scope = scopes.getStore();
  if (scope && !scope.closed && isEnabled(scope)) scope.onSuccess.push(input);
}

function isEnabled(scope: Scope): boolean {
  scope.enabled ??= auditEnabled(scope.env);
  return scope.enabled;
}

function auditEnabled(env: Env): boolean {
  try {
    return loadConfig(env).audit.enabled;
  } catch {
    return false; // a broken configuration answers setup_error itself; there is nothing to record
  }
}

function build(scope: Scope, input: AuditInput): AuditRecord {
  scope.facts ??= {
    ip: scope.request.headers.get('CF-Connecting-IP'),
    requestId: scope.request.headers.get('CF-Ray') ?? crypto.randomUUID(),
  };
  return toRecord(input, Date.now(), scope.facts, nextEventId());
}

let eventCounter = 0;

/**
 * An event id that sorts after every earlier one of this isolate: the trail is ordered by (time, id),
 * and events of one request often share a millisecond (a refresh-token reuse and the revocation it
 * causes). A per-isolate counter, then randomness so ids from different isolates never collide;
 * between isolates, events of the same millisecond have no defined order, as they have no real one.
 */
function nextEventId(): string {
  eventCounter = (eventCounter + 1) % 36 ** 8;
  return `${eventCounter.toString(36).padStart(8, '0')}-${crypto.randomUUID()}`;
}

/**
 * The records' structured log lines, for Workers Logs and Logpush: `{"event":"audit",…}`, one line per
 * event, in one console call (see the top of this file).
 */
function logRecords(records: readonly AuditRecord[]): void {
  try {
    console.log(records.map((record) => JSON.stringify({ event: 'audit', ...recordJson(record) })).join('\n'));
  } catch (error) {
    reportFailure(error, records.length);
  }
}

/**
 * Group commit, without sharing a promise between requests (workerd cancels a request that awaits a
 * promise another request created: "Promise will never complete"). The first request to finish
 * with records opens a batch and owns it: its own `waitUntil` writes the batch after
 * {@link BATCH_WINDOW_MS}. Requests finishing meanwhile in this isolate only add their records to
 * it (plain data) and wait for nothing; the owner's `waitUntil` keeps the isolate alive until the
 * write is done, so the records are not lost. One Durable Object call (one RPC, one SQLite
 * transaction) then carries the events of every request of the window.
 */
/**
 * 250 ms: an event reaches the log and the store at most a quarter second after its response, and a
 * busy isolate makes a few console calls and Durable Object writes a second instead of one per
 * request (with 20 ms the trail kept 0.79 of the requests a second of AUDIT=off at 16 connections, with 250 ms
 * 0.85, in quick bench runs). `waitUntil` keeps the isolate alive for it (up to 30 s after the response).
 */
const BATCH_WINDOW_MS = 250;
/** A batch is closed to newcomers at this many records (a record is under 4 KB: an RPC of under 800 KB). */
const MAX_BATCH_RECORDS = 200;

interface Batch {
  env: Env;
  records: AuditRecord[];
}

let open: Batch | undefined;

/** Batch writes this isolate has started and not finished. */
const inFlight = new Set<Promise<void>>();

function track(write: Promise<void>): void {
  inFlight.add(write);
  void write.finally(() => inFlight.delete(write));
}

/**
 * Resolves once every batch this isolate has opened is written, the log line included, or after
 * `timeoutMs`. The Worker never needs it (`waitUntil` keeps the isolate alive); a test run does, so
 * that no write (and no console call) is still under way when a test file ends and its runner goes
 * away. It polls instead of awaiting the writes: they belong to other requests' contexts, and workerd
 * does not let one context wait on another's promises (the wait hangs).
 */
export async function auditWritesSettled(timeoutMs = 5_000): Promise<void> {
  for (let waited = 0; inFlight.size > 0 && waited < timeoutMs; waited += SETTLE_POLL_MS) await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
}

const SETTLE_POLL_MS = 25;

function enqueue(env: Env, ctx: ExecutionContext, records: AuditRecord[]): void {
  const joined = open;
  if (joined && joined.env === env && joined.records.length < MAX_BATCH_RECORDS) {
    joined.records.push(...records);
    return;
  }
  const created: Batch = { env, records: [...records] };
  open = created;
  const write = new Promise<void>((resolve) => setTimeout(resolve, BATCH_WINDOW_MS)).then(() => {
    if (open === created) open = undefined;
    return writeRecords(env, created.records);
  });
  track(write);
  ctx.waitUntil(write);
}

/** Writes `records` to their days' shards. Resolves in every case: a failure is logged, never thrown. */
export async function writeRecords(env: Env, records: AuditRecord[]): Promise<void> {
  // The log first: if the store then fails, the log still has every event.
  logRecords(records);
  try {
    const { retentionDays } = loadConfig(env).audit;
    const byDay = new Map<string, AuditRecord[]>();
    for (const record of records) {
      const day = utcDay(record.time);
      byDay.set(day, [...(byDay.get(day) ?? []), record]);
    }
    await Promise.all(
      [...byDay].map(async ([day, batch]) => {
        try {
          const shard = Math.floor(Math.random() * AUDIT_SHARDS_PER_DAY);
          await auditShard(env, day, shard).append(batch, dayExpiresAt(day, retentionDays));
        } catch (error) {
          reportFailure(error, batch.length, batch);
        }
      }),
    );
  } catch (error) {
    reportFailure(error, records.length, records);
  }
}

function reportFailure(error: unknown, count: number, records: AuditRecord[] = []): void {
  try {
    console.error(
      JSON.stringify({
        event: 'audit_write_failed',
        count,
        // Which events are missing from the store (their log lines were written); their ids find them in the log.
        ids: records.slice(0, 20).map((record) => record.id),
        name: error instanceof Error ? error.name : typeof error,
        message: error instanceof Error ? error.message.slice(0, 300) : '',
      }),
    );
  } catch {
    // Logging itself failed: nothing else can be done, and the request must not notice.
  }
}
