/**
 * The audit trail's durable store: SQLite in Durable Objects, one object per UTC day and shard,
 * named `<YYYY-MM-DD>:<shard>` (see ./shards.ts for why).
 *
 * Each object holds one table; it is created by the first write, so a query that visits a day
 * nobody wrote to creates nothing (an object whose storage is never written does not persist).
 * Retention is whole objects: each sets an alarm at the end of its day plus the retention in force
 * when it was last written, and the alarm deletes all its storage; the hourly cron also purges the
 * days just past the retention (../index.ts), for a retention shortened since.
 *
 * Schema (README "Storage"):
 *   events(time INTEGER ms, id TEXT, type, outcome, reason, user_id, email, client_id, client_name,
 *          ip, request_id, detail TEXT JSON), PRIMARY KEY (time, id)
 *   indexes: (user_id, time, id), (client_id, time, id)
 * The primary key orders the export (time, then id) and serves time-range reads; the two indexes
 * serve the admin filters `user` and `client` within a day. `type` has no index: there are fifteen
 * types, and a day's rows are scanned by time order anyway.
 */
import { DurableObject } from 'cloudflare:workers';
import type { AuditDetail, AuditRecord } from './events';

/** One shard's part of an export query. All times in ms since the epoch; `after` is exclusive. */
export interface ShardQuery {
  since: number;
  until: number;
  after?: { time: number; id: string };
  userId?: string;
  clientId?: string;
  types?: string[];
  limit: number;
}

/**
 * Rows one query may return: the admin API's page bound. A row is under about 4 KB (every field is
 * bounded to 512 characters), so a full answer stays well under the 32 MiB an RPC result may be.
 */
export const MAX_SHARD_QUERY_ROWS = 1000;

/** A stored row: the record's columns as SQLite gives them back (text where the record has a union, `detail` as JSON). */
type Row = Omit<AuditRecord, 'type' | 'outcome' | 'detail'> & { type: string; outcome: string; detail: string };

export class AuditLog extends DurableObject<Env> {
  private schemaReady = false;

  /**
   * Appends `records` in one transaction, one statement per row (SQLite in Durable Objects binds at
   * most 100 parameters per statement; a row has 12). Makes sure the object deletes itself at `expiresAt` (ms).
   */
  async append(records: AuditRecord[], expiresAt: number): Promise<void> {
    this.ensureSchema();
    const sql = this.ctx.storage.sql;
    this.ctx.storage.transactionSync(() => {
      for (const r of records) {
        sql.exec(
          'INSERT OR IGNORE INTO events (time, id, type, outcome, reason, user_id, email, client_id, client_name, ip, request_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
          r.time, r.id, r.type, r.outcome, r.reason, r.user_id, r.email, r.client_id, r.client_name, r.ip, r.request_id, JSON.stringify(r.detail),
        );
      }
    });
    // The alarm follows the retention in force at the last write; set only when it moves, since
    // reading it is in memory but setting it is a storage write.
    const current = await this.ctx.storage.getAlarm();
    if (current !== expiresAt) await this.ctx.storage.setAlarm(expiresAt);
  }

  /** This shard's events matching `query`, in (time, id) order. Creates nothing when the shard is empty. */
  query(query: ShardQuery): AuditRecord[] {
    if (!this.hasSchema()) return [];
    const where = ['time >= ?', 'time < ?'];
    const params: (string | number)[] = [query.since, query.until];
    if (query.after) {
      where.push('(time > ? OR (time = ? AND id > ?))');
      params.push(query.after.time, query.after.time, query.after.id);
    }
    if (query.userId !== undefined) {
      where.push('user_id = ?');
      params.push(query.userId);
    }
    if (query.clientId !== undefined) {
      where.push('client_id = ?');
      params.push(query.clientId);
    }
    if (query.types && query.types.length > 0) {
      where.push(`type IN (${query.types.map(() => '?').join(', ')})`);
      params.push(...query.types);
    }
    const limit = Math.max(1, Math.min(MAX_SHARD_QUERY_ROWS, Math.floor(query.limit)));
    const rows = this.ctx.storage.sql.exec<Row>(`SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY time, id LIMIT ${limit}`, ...params).toArray();
    return rows.map(fromRow);
  }

  /** How many events this shard holds (for tests and the measurement in ./shards.ts). */
  count(): number {
    if (!this.hasSchema()) return 0;
    return this.ctx.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM events').one().n;
  }

  /** Deletes the whole shard: its retention has passed. */
  async purge(): Promise<void> {
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.schemaReady = false;
  }

  override async alarm(): Promise<void> {
    await this.purge();
  }

  private hasSchema(): boolean {
    if (this.schemaReady) return true;
    const found = this.ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'events'").one().n > 0;
    this.schemaReady = found;
    return found;
  }

  private ensureSchema(): void {
    if (this.hasSchema()) return;
    const sql = this.ctx.storage.sql;
    sql.exec(`CREATE TABLE IF NOT EXISTS events (
      time INTEGER NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, outcome TEXT NOT NULL, reason TEXT NOT NULL,
      user_id TEXT, email TEXT, client_id TEXT, client_name TEXT, ip TEXT, request_id TEXT, detail TEXT NOT NULL,
      PRIMARY KEY (time, id)) WITHOUT ROWID`);
    sql.exec('CREATE INDEX IF NOT EXISTS events_by_user ON events (user_id, time, id)');
    sql.exec('CREATE INDEX IF NOT EXISTS events_by_client ON events (client_id, time, id)');
    this.schemaReady = true;
  }
}

function fromRow(row: Row): AuditRecord {
  let detail: AuditDetail = {};
  try {
    detail = JSON.parse(row.detail) as AuditDetail;
  } catch {
    // Written by this class as JSON; an unreadable one is exported without its details.
  }
  return {
    time: row.time,
    id: row.id,
    type: row.type as AuditRecord['type'],
    outcome: row.outcome as AuditRecord['outcome'],
    reason: row.reason,
    user_id: row.user_id,
    email: row.email,
    client_id: row.client_id,
    client_name: row.client_name,
    ip: row.ip,
    request_id: row.request_id,
    detail,
  };
}
