/**
 * A short-lived, strongly consistent record of recent OAUTH_KV writes, so a read at another
 * location can find what KV has not propagated there yet (see ./consistent-kv.ts).
 *
 * - Versions. Each write of a key gets a version here, greater than any this shard gave before, in
 *   the order the writes reach the journal (one object owns a key, and a Durable Object handles one
 *   event at a time). The layer stores the version with the value in KV, so KV's copy and the
 *   journal's are compared by version, never by the clocks of the Workers that wrote them.
 * - Repair before forgetting. An entry is kept `JOURNAL_RETENTION_MS`; before it is dropped, the
 *   alarm compares it with KV (as seen from here, minutes after the write, long past KV's
 *   propagation) and, where KV is behind (a write that reached KV out of order, or a delete KV
 *   refused), writes the journal's version to KV and keeps the entry until KV agrees. So the record
 *   never flips back to an older copy when the journal forgets it.
 * - A KV write that fails right away is reported here by the layer: a failed put is undone (the
 *   caller was told it failed and may retry it, so the journal must not keep what KV does not have);
 *   a failed delete is finished here, KV's limit of one write per second per key later, so a
 *   revocation or a single-use consumption never depends on the caller retrying.
 *
 * Sharded by a keyed hash of the whole key (`journalShardFor`), so no caller, whatever key it makes
 * the provider read, can choose or compute which object serves it.
 */
import { DurableObject } from 'cloudflare:workers';
import { readStamp, versionedMetadata } from './kv-records';

/**
 * Workers KV propagates a write to every location within about 60 s, and caches a miss at a
 * location for up to 60 s (the minimum `cacheTtl` is 30 s, the default 60 s). Five minutes leaves a
 * wide margin over both while keeping each shard to the writes of the last few minutes.
 */
export const JOURNAL_RETENTION_MS = 5 * 60 * 1000;

/** Enough shards that a busy deployment spreads its writes; few enough that they stay warm. */
export const JOURNAL_SHARDS = 32;

/** Workers KV accepts about one write per second to a key (more gets 429): a failed KV write is retried after this. */
export const KV_RETRY_MS = 2_000;

/** Repairs of one entry before the journal gives up on KV and drops it (with an error in the log): about 8 minutes of retries. */
const MAX_REPAIRS = 8;

/** Entries compared with KV per alarm: each costs at most two KV operations, so an alarm stays under 50 subrequests (the lowest per-invocation limit, Workers Free). */
const ALARM_BATCH = 20;

/** KV refuses an expiration less than 60 s ahead; a record that close to its expiry is left to expire. */
const KV_MIN_EXPIRATION_MS = 60_000;

/** A write as the layer records it. */
export interface JournalWrite {
  key: string;
  /** The written value, or null for a delete (a tombstone: the fallback must never resurrect it). */
  value: string | null;
  /** The writer's own KV metadata, as JSON, or null. */
  metadata: string | null;
  /** When KV itself will expire the record (ms since epoch), if it was written with a TTL. */
  kvExpiresAt: number | null;
  /** When the write happened, by the writer's clock (ms since epoch): retention runs from here. */
  writtenAt: number;
  /** The env binding of the KV namespace this write went to, which the journal repairs. */
  binding: string;
}

/** The latest write of a key, as a reader gets it. */
export interface JournalEntry {
  key: string;
  value: string | null;
  metadata: string | null;
  kvExpiresAt: number | null;
  writtenAt: number;
  version: number;
}

type Row = {
  key: string;
  value: string | null;
  metadata: string | null;
  kv_expires_at: number | null;
  version: number;
  written_at: number;
  retain_until: number;
  check_at: number;
  binding: string;
  repairs: number;
  previous: string | null;
};

type Outcome = 'settled' | 'repaired' | 'failed';

const COLUMNS = 'key, value, metadata, kv_expires_at, version, written_at, retain_until, check_at, binding, repairs, previous';

export class KvJournal extends DurableObject<Env> {
  /** When the alarm is set for; undefined until read once (this object may have restarted). */
  private alarmAt: number | null | undefined;
  /** The highest version this object has given: versions keep increasing after entries are dropped. */
  private lastVersion: number;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // The layout before versions; its entries lived five minutes, so there is nothing to carry over.
    ctx.storage.sql.exec('DROP TABLE IF EXISTS journal');
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS entries (
      key TEXT PRIMARY KEY, value TEXT, metadata TEXT, kv_expires_at INTEGER, version INTEGER NOT NULL, written_at INTEGER NOT NULL,
      retain_until INTEGER NOT NULL, check_at INTEGER NOT NULL, binding TEXT NOT NULL, repairs INTEGER NOT NULL DEFAULT 0, previous TEXT)`);
    ctx.storage.sql.exec('CREATE INDEX IF NOT EXISTS entries_by_check ON entries (check_at)');
    this.lastVersion = ctx.storage.sql.exec<{ v: number | null }>('SELECT MAX(version) AS v FROM entries').one().v ?? 0;
  }

  /**
   * Records a write or a delete and returns its version: after every version given before, and at
   * least the current time, so it also orders after a version a writer took from its own clock when
   * the journal was unreachable (see ConsistentKv).
   */
  async record(write: JournalWrite): Promise<number> {
    const existing = this.row(write.key);
    const version = Math.max(Date.now(), write.writtenAt, this.lastVersion + 1, (existing?.version ?? 0) + 1);
    this.lastVersion = version;
    const retainUntil = write.writtenAt + JOURNAL_RETENTION_MS;
    // The entry this one replaces, so a write KV refuses can be undone (kvWriteFailed).
    const previous = existing ? JSON.stringify({ ...existing, previous: null }) : null;
    this.ctx.storage.sql.exec(
      `INSERT OR REPLACE INTO entries (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`,
      write.key, write.value, write.metadata, write.kvExpiresAt, version, write.writtenAt, retainUntil, retainUntil, write.binding, previous,
    );
    await this.armAlarm(retainUntil);
    return version;
  }

  /**
   * The layer's KV write of `version` failed. A put is undone: the entry goes back to what it
   * replaced, since the caller was told the write failed. A delete is finished: the tombstone stays
   * and the alarm deletes the record from KV once KV accepts a write to the key again.
   */
  async kvWriteFailed(key: string, version: number): Promise<void> {
    const row = this.row(key);
    if (!row || row.version !== version) return; // superseded by a later write: nothing to undo
    if (row.value !== null) {
      const previous = row.previous === null ? null : (JSON.parse(row.previous) as Row);
      if (previous === null) this.ctx.storage.sql.exec('DELETE FROM entries WHERE key = ? AND version = ?', key, version);
      else this.ctx.storage.sql.exec(`INSERT OR REPLACE INTO entries (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`, ...rowValues(previous));
      return;
    }
    const checkAt = row.written_at + KV_RETRY_MS;
    this.ctx.storage.sql.exec('UPDATE entries SET check_at = ? WHERE key = ? AND version = ?', checkAt, key, version);
    await this.armAlarm(checkAt);
  }

  /** The latest write of `key` still retained, or null when there is none. */
  read(key: string, now: number = Date.now()): JournalEntry | null {
    const row = this.ctx.storage.sql
      .exec<Pick<Row, 'value' | 'metadata' | 'kv_expires_at' | 'written_at' | 'version'>>(
        'SELECT value, metadata, kv_expires_at, written_at, version FROM entries WHERE key = ? AND retain_until > ?',
        key,
        now,
      )
      .toArray()[0];
    if (!row) return null;
    return { key, value: row.value, metadata: row.metadata, kvExpiresAt: row.kv_expires_at, writtenAt: row.written_at, version: row.version };
  }

  /**
   * The retained keys that start with `prefix`, and whether each was last deleted: what KV may not
   * list yet at another location. At most `limit`.
   */
  keysWithPrefix(prefix: string, limit = 1000, now: number = Date.now()): { key: string; deleted: boolean }[] {
    // Every key with the prefix sorts at or after it and before the prefix with its last character
    // incremented (SQLite compares TEXT by bytes; the primary key index serves the range).
    const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
    return this.ctx.storage.sql
      .exec<{ key: string; deleted: number }>('SELECT key, value IS NULL AS deleted FROM entries WHERE key >= ? AND key < ? AND retain_until > ? LIMIT ?', prefix, end, now, limit)
      .toArray()
      .map((row) => ({ key: row.key, deleted: row.deleted === 1 }));
  }

  /** How many entries are held (for tests and diagnostics). */
  size(): number {
    return this.ctx.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM entries').one().n;
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null; // this alarm has fired
    const now = Date.now();
    const due = this.ctx.storage.sql.exec<Row>(`SELECT ${COLUMNS} FROM entries WHERE check_at <= ? ORDER BY check_at LIMIT ?`, now, ALARM_BATCH).toArray();
    for (const row of due) await this.reconcile(row, now);
    const next = due.length === ALARM_BATCH ? now : this.ctx.storage.sql.exec<{ at: number | null }>('SELECT MIN(check_at) AS at FROM entries').one().at;
    if (next !== null) await this.armAlarm(next);
  }

  /** Compares one due entry with KV, repairs KV where it is behind, then keeps or drops the entry. */
  private async reconcile(row: Row, now: number): Promise<void> {
    let outcome: Outcome;
    try {
      outcome = await this.compareWithKv(row, now);
    } catch (error) {
      console.error(JSON.stringify({ event: 'kv_journal_repair_failed', prefix: prefixOf(row.key), message: messageOf(error) }));
      outcome = 'failed';
    }
    // A new write of the key may have arrived while KV answered: act only on the version compared.
    if (this.row(row.key)?.version !== row.version) return;
    if (outcome === 'settled') {
      if (row.retain_until <= now) this.ctx.storage.sql.exec('DELETE FROM entries WHERE key = ? AND version = ?', row.key, row.version);
      else this.ctx.storage.sql.exec('UPDATE entries SET check_at = retain_until WHERE key = ? AND version = ?', row.key, row.version);
      return;
    }
    if (row.repairs + 1 > MAX_REPAIRS) {
      console.error(JSON.stringify({ event: 'kv_journal_repair_abandoned', prefix: prefixOf(row.key), repairs: row.repairs }));
      this.ctx.storage.sql.exec('DELETE FROM entries WHERE key = ? AND version = ?', row.key, row.version);
      return;
    }
    // Look again once KV has had time to take the repair; until KV agrees, the journal keeps
    // answering for the key (it stays retained), so readers get the journal's version meanwhile.
    const checkAt = now + Math.min(KV_RETRY_MS * 2 ** row.repairs, JOURNAL_RETENTION_MS);
    this.ctx.storage.sql.exec(
      'UPDATE entries SET repairs = repairs + 1, check_at = ?, retain_until = MAX(retain_until, ?) WHERE key = ? AND version = ?',
      checkAt, checkAt, row.key, row.version,
    );
  }

  private async compareWithKv(row: Row, now: number): Promise<Outcome> {
    if (row.kv_expires_at !== null && row.kv_expires_at <= now + KV_MIN_EXPIRATION_MS) return 'settled'; // KV expires it itself
    const kv = Reflect.get(this.env, row.binding) as KVNamespace | undefined;
    if (!kv || typeof kv.getWithMetadata !== 'function') {
      console.error(JSON.stringify({ event: 'kv_journal_repair_failed', prefix: prefixOf(row.key), message: `no KV binding ${row.binding}` }));
      return 'settled';
    }
    const found = await kv.getWithMetadata(row.key, { type: 'text', cacheTtl: 30 });
    const stamp = readStamp(found.metadata);
    const kvHolds = found.value !== null && !stamp.deleted;
    if (row.value === null) {
      // A delete: KV must not still hold the record (unless it was written again after the delete).
      if (!kvHolds || stamp.version > row.version) return 'settled';
      if (this.row(row.key)?.version !== row.version) return 'settled';
      await kv.delete(row.key);
      return 'repaired';
    }
    // A value. Where KV has no copy (a put KV never took, or a delete made while the journal was
    // unreachable), nothing is resurrected. A copy written without the layer (version 0) is left
    // alone: nothing says it is older.
    if (!kvHolds || stamp.version === 0 || stamp.version >= row.version) return 'settled';
    if (this.row(row.key)?.version !== row.version) return 'settled'; // rewritten meanwhile: that write reaches KV itself
    const metadata = row.metadata === null ? undefined : (JSON.parse(row.metadata) as unknown);
    await kv.put(row.key, row.value, {
      metadata: versionedMetadata(metadata, row.version),
      ...(row.kv_expires_at === null ? {} : { expiration: Math.floor(row.kv_expires_at / 1000) }),
    });
    return 'repaired';
  }

  private row(key: string): Row | undefined {
    return this.ctx.storage.sql.exec<Row>(`SELECT ${COLUMNS} FROM entries WHERE key = ?`, key).toArray()[0];
  }

  /** Makes sure the alarm fires by `at`. One storage read per object lifetime, not one per write. */
  private async armAlarm(at: number): Promise<void> {
    this.alarmAt ??= await this.ctx.storage.getAlarm();
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    await this.ctx.storage.setAlarm(at);
    this.alarmAt = at;
  }
}

function rowValues(row: Row): unknown[] {
  return [row.key, row.value, row.metadata, row.kv_expires_at, row.version, row.written_at, row.retain_until, row.check_at, row.binding, row.repairs];
}

/**
 * Which journal object holds `key`: an HMAC of the whole key under a key derived from `secret`
 * (SESSION_SECRET). A caller chooses much of what becomes a KV key (the user and grant parts of a
 * bearer token, a client id); with a public hash it could compute keys that all land on one object
 * and aim a flood at it. Without the secret the assignment cannot be computed, and keys that differ
 * anywhere (made-up tokens differ in their hash part) spread evenly over the shards. Nothing relies
 * on a user's records sharing a shard: every journal operation is about one key.
 */
export async function journalShardFor(key: string, secret: string): Promise<string> {
  const mac = await crypto.subtle.sign('HMAC', await shardKey(secret), new TextEncoder().encode(key));
  return journalShardName(new DataView(mac).getUint32(0) % JOURNAL_SHARDS);
}

/** The name of journal object `index` (0 to JOURNAL_SHARDS - 1). */
export function journalShardName(index: number): string {
  return `kv-journal-${index}`;
}

const shardKeys = new Map<string, Promise<CryptoKey>>();

function shardKey(secret: string): Promise<CryptoKey> {
  let key = shardKeys.get(secret);
  if (!key) {
    key = deriveShardKey(secret);
    if (shardKeys.size >= 4) shardKeys.clear(); // one secret per deployment; tests use a few
    shardKeys.set(secret, key);
  }
  return key;
}

/** A key of its own for sharding, so these MACs are never MACs under SESSION_SECRET itself. */
async function deriveShardKey(secret: string): Promise<CryptoKey> {
  const hmac = { name: 'HMAC', hash: 'SHA-256' };
  const root = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), hmac, false, ['sign']);
  const derived = await crypto.subtle.sign('HMAC', root, new TextEncoder().encode('kv-journal shard key v1'));
  return crypto.subtle.importKey('raw', derived, hmac, false, ['sign']);
}

/** What a log line may name of a key: its kind, never the user or token parts. */
export function prefixOf(key: string): string {
  return key.slice(0, key.indexOf(':') + 1) || 'other';
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message.slice(0, 300) : String(error).slice(0, 300);
}
