/**
 * A short-lived, strongly consistent record of recent OAUTH_KV writes, so a read at another
 * location can find what KV has not propagated there yet (see ./consistent-kv.ts).
 *
 * Sharded: records for one user (grants, tokens) or one client share a shard, picked by hashing;
 * no single object sees all traffic. Each record lives `JOURNAL_RETENTION_MS`, long after KV has
 * caught up everywhere, then an alarm deletes it, so the journal stays small.
 */
import { DurableObject } from 'cloudflare:workers';

/**
 * Workers KV propagates a write to every location within about 60 s, and caches a miss at a
 * location for up to 60 s (the minimum `cacheTtl` is 30 s, the default 60 s). Five minutes leaves a
 * wide margin over both while keeping each shard to the writes of the last few minutes.
 */
export const JOURNAL_RETENTION_MS = 5 * 60 * 1000;

/** Enough shards that a busy deployment spreads its writes; few enough that they stay warm. */
export const JOURNAL_SHARDS = 32;

export interface JournalEntry {
  key: string;
  /** The written value, or null for a delete (a tombstone: the fallback must never resurrect it). */
  value: string | null;
  metadata: string | null;
  /** When KV itself will expire the record (ms since epoch), if it was written with a TTL. */
  kvExpiresAt: number | null;
  /** When the write happened (ms since epoch). */
  writtenAt: number;
}

export class KvJournal extends DurableObject<Env> {
  /** When the cleanup alarm is set for; undefined until read once (this object may have restarted). */
  private alarmAt: number | null | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS journal (
      key TEXT PRIMARY KEY, value TEXT, metadata TEXT, kv_expires_at INTEGER, written_at INTEGER NOT NULL, retain_until INTEGER NOT NULL)`);
  }

  /** Records a write or a delete. Later writes replace earlier ones for the same key. */
  async record(entry: JournalEntry): Promise<void> {
    const retainUntil = entry.writtenAt + JOURNAL_RETENTION_MS;
    this.ctx.storage.sql.exec(
      `INSERT INTO journal (key, value, metadata, kv_expires_at, written_at, retain_until) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT(key) DO UPDATE SET value = excluded.value, metadata = excluded.metadata, kv_expires_at = excluded.kv_expires_at,
         written_at = excluded.written_at, retain_until = excluded.retain_until WHERE excluded.written_at >= journal.written_at`,
      entry.key, entry.value, entry.metadata, entry.kvExpiresAt, entry.writtenAt, retainUntil,
    );
    // One storage read per object lifetime, not one per write: records always expire in order.
    this.alarmAt ??= await this.ctx.storage.getAlarm();
    if (this.alarmAt === null) {
      await this.ctx.storage.setAlarm(retainUntil);
      this.alarmAt = retainUntil;
    }
  }

  /** The latest write of `key` still retained, or null when there is none. */
  read(key: string, now: number = Date.now()): JournalEntry | null {
    const row = this.ctx.storage.sql
      .exec<{ value: string | null; metadata: string | null; kv_expires_at: number | null; written_at: number }>(
        'SELECT value, metadata, kv_expires_at, written_at FROM journal WHERE key = ? AND retain_until > ?',
        key,
        now,
      )
      .toArray()[0];
    if (!row) return null;
    return { key, value: row.value, metadata: row.metadata, kvExpiresAt: row.kv_expires_at, writtenAt: row.written_at };
  }

  /** How many records are retained (for tests and diagnostics). */
  size(): number {
    return this.ctx.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM journal').one().n;
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    this.ctx.storage.sql.exec('DELETE FROM journal WHERE retain_until <= ?', now);
    const next = this.ctx.storage.sql.exec<{ at: number | null }>('SELECT MIN(retain_until) AS at FROM journal').one().at;
    if (next !== null) await this.ctx.storage.setAlarm(next);
    this.alarmAt = next;
  }
}

/** Which shard holds `key`: one user's grants and tokens, or one client, always land together. */
export function journalShardFor(key: string): string {
  const [prefix, owner] = key.split(':', 2);
  const affinity = owner !== undefined && (prefix === 'grant' || prefix === 'token' || prefix === 'client') ? `${prefix === 'client' ? 'client' : 'user'}:${owner}` : key;
  return `kv-journal-${fnv1a(affinity) % JOURNAL_SHARDS}`;
}

/** FNV-1a: a fast, well-spread, non-cryptographic hash; shard choice needs no secrecy. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}
