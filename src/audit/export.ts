/**
 * Reading the audit trail back: the admin API's `GET /admin/audit` (../admin/app.ts).
 *
 * Filters are parsed here, purely (`now` is passed in): a bad one is a {@link FilterError} naming
 * the parameter. A page walks the UTC days of the range in order, all of a day's shards in parallel,
 * merging their rows by (time, id); it stops when the page is full or after
 * {@link MAX_DAYS_PER_PAGE} days, and then returns an opaque cursor for where to go on. So a page
 * may hold fewer lines than asked (even none) and still have a next one: follow the cursor until
 * there is none.
 */
import { DAY_MS, isAuditEventType, MAX_AUDIT_FIELD_CHARS, utcDay, type AuditEventType, type AuditRecord } from './events';
import { AUDIT_SHARDS_PER_DAY, auditShard, dayStart, nextDay } from './shards';
import { MAX_SHARD_QUERY_ROWS } from './store';

/** Lines per page unless `limit` says otherwise, and the most it may say. */
export const DEFAULT_EXPORT_LIMIT = 500;
export const MAX_EXPORT_LIMIT = MAX_SHARD_QUERY_ROWS;

/**
 * Days one page may visit: 8 days × 4 shards = 32 Durable Object calls, under the 50 subrequests of
 * one invocation on Workers Free (with room for the admin request's own KV reads).
 */
export const MAX_DAYS_PER_PAGE = 8;

export interface AuditFilter {
  /** Inclusive, ms since the epoch. */
  since: number;
  /** Exclusive, ms since the epoch. */
  until: number;
  userId?: string;
  clientId?: string;
  types?: AuditEventType[];
  limit: number;
}

/** Where the next page starts: a day, and within it the last (time, id) already sent. */
export interface AuditCursor {
  day: string;
  after?: { time: number; id: string };
}

export class FilterError extends Error {
  constructor(readonly parameter: string, message: string) {
    super(message);
    this.name = 'FilterError';
  }
}

/**
 * The filter and cursor from the query string. `since` and `until` are ISO 8601 times (or dates,
 * meaning midnight UTC); `since` defaults to the retention's start and is never earlier (nothing
 * older is kept), `until` defaults to now. `type` is one type or several, comma-separated.
 */
export function parseAuditQuery(params: URLSearchParams, now: number, retentionDays: number): { filter: AuditFilter; cursor?: AuditCursor } {
  for (const name of params.keys()) {
    if (!['since', 'until', 'user', 'client', 'type', 'cursor', 'limit'].includes(name)) throw new FilterError(name, `Unknown parameter "${name}"; the filters are since, until, user, client, type, cursor and limit.`);
    if (params.getAll(name).length > 1) throw new FilterError(name, `${name} may be given once.`);
  }
  const oldest = dayStart(utcDay(now - retentionDays * DAY_MS));
  const since = Math.max(time(params, 'since') ?? oldest, oldest);
  const until = time(params, 'until') ?? now + 1;
  if (since >= until) throw new FilterError('since', 'since must be earlier than until (and until later than the retention period start).');
  const filter: AuditFilter = { since, until, limit: DEFAULT_EXPORT_LIMIT };
  const user = identifier(params, 'user');
  if (user !== undefined) filter.userId = user;
  const client = identifier(params, 'client');
  if (client !== undefined) filter.clientId = client;
  const types = params.get('type');
  if (types !== null) {
    const list = types.split(',').map((item) => item.trim());
    const unknown = list.filter((item) => !isAuditEventType(item));
    if (unknown.length > 0 || list.length === 0) throw new FilterError('type', `Unknown event type "${unknown.join(',')}".`);
    filter.types = [...new Set(list)] as AuditEventType[];
  }
  const limit = params.get('limit');
  if (limit !== null) {
    const number = Number(limit);
    if (!/^\d+$/.test(limit) || number < 1 || number > MAX_EXPORT_LIMIT) throw new FilterError('limit', `limit must be a whole number from 1 to ${MAX_EXPORT_LIMIT}.`);
    filter.limit = number;
  }
  const cursor = params.get('cursor');
  return cursor === null ? { filter } : { filter, cursor: decodeCursor(cursor) };
}

function time(params: URLSearchParams, name: string): number | undefined {
  const value = params.get(name);
  if (value === null) return undefined;
  // A date, or a date and time with a zone: anything else is ambiguous (local time of which server?).
  const ok = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(value);
  const parsed = ok ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(parsed)) throw new FilterError(name, `${name} must be an ISO 8601 date or time with a zone, like 2026-11-29 or 2026-11-29T17:00:00Z.`);
  return parsed;
}

function identifier(params: URLSearchParams, name: string): string | undefined {
  const value = params.get(name);
  if (value === null) return undefined;
  if (value === '' || value.length > MAX_AUDIT_FIELD_CHARS) throw new FilterError(name, `${name} must be 1 to ${MAX_AUDIT_FIELD_CHARS} characters.`);
  return value;
}

export function encodeCursor(cursor: AuditCursor): string {
  const json = JSON.stringify({ v: 1, d: cursor.day, ...(cursor.after && { t: cursor.after.time, i: cursor.after.id }) });
  return btoa(json).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

export function decodeCursor(value: string): AuditCursor {
  const refuse = () => new FilterError('cursor', 'cursor is not one this server gave; start again without it.');
  if (value.length > 200 || !/^[A-Za-z0-9_-]+$/.test(value)) throw refuse();
  let parsed: { v?: unknown; d?: unknown; t?: unknown; i?: unknown };
  try {
    parsed = JSON.parse(atob(value.replaceAll('-', '+').replaceAll('_', '/'))) as typeof parsed;
  } catch {
    throw refuse();
  }
  if (typeof parsed !== 'object' || parsed === null || parsed.v !== 1 || typeof parsed.d !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(parsed.d) || !Number.isFinite(dayStart(parsed.d))) throw refuse();
  if (parsed.t === undefined && parsed.i === undefined) return { day: parsed.d };
  if (!Number.isSafeInteger(parsed.t) || typeof parsed.i !== 'string' || parsed.i.length > 64) throw refuse();
  return { day: parsed.d, after: { time: parsed.t as number, id: parsed.i } };
}

/** One page of the export, and the cursor for the next when the range is not exhausted. */
export async function exportPage(env: Env, filter: AuditFilter, cursor?: AuditCursor): Promise<{ records: AuditRecord[]; next?: AuditCursor }> {
  const lastDay = utcDay(filter.until - 1);
  let day = cursor && cursor.day > utcDay(filter.since) ? cursor.day : utcDay(filter.since);
  let after = cursor && cursor.day === day ? cursor.after : undefined;
  const records: AuditRecord[] = [];
  for (let visited = 0; day <= lastDay; visited++) {
    if (visited === MAX_DAYS_PER_PAGE) return { records, next: { day } };
    const wanted = filter.limit - records.length;
    const query = {
      since: Math.max(filter.since, dayStart(day)),
      until: Math.min(filter.until, dayStart(day) + DAY_MS),
      ...(after && { after }),
      ...(filter.userId !== undefined && { userId: filter.userId }),
      ...(filter.clientId !== undefined && { clientId: filter.clientId }),
      ...(filter.types && { types: filter.types }),
      limit: wanted,
    };
    const shards = await Promise.all(Array.from({ length: AUDIT_SHARDS_PER_DAY }, (_, shard) => auditShard(env, day, shard).query(query)));
    const merged = shards.flat().sort(byPosition).slice(0, wanted);
    records.push(...merged);
    if (records.length === filter.limit) {
      const last = merged.at(-1);
      return { records, next: last ? { day, after: { time: last.time, id: last.id } } : { day } };
    }
    day = nextDay(day);
    after = undefined;
  }
  return { records };
}

function byPosition(a: AuditRecord, b: AuditRecord): number {
  return a.time - b.time || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
