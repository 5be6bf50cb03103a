/**
 * Read-your-writes for OAUTH_KV across locations, wrapped around the binding the OAuth provider
 * reads (the library takes no storage option; the binding is the only seam).
 *
 * Workers KV is eventually consistent: a client registered at one location can be missing at
 * another for up to a minute, so a gateway that registers from its servers and then sends the
 * user's browser to /authorize gets `invalid_client`. Here every write also goes to a strongly
 * consistent journal (./kv-journal.ts), and reads consult it as follows.
 *
 * Reads.
 * - Access tokens (`token:`), read on every MCP call, are read from KV only; the journal is asked
 *   only when KV misses (a token minted at another location in the last minute). The hot path pays
 *   no extra round trip. KV is asked to keep its cached copy at most 30 s (`cacheTtl`, its minimum),
 *   which bounds how long a revoked token still works at a location that had it cached.
 * - Records the provider treats as single use or revocable, and which are not on the hot path, are
 *   read from KV and the journal at once and the newer version wins, a journal tombstone over a
 *   stale copy in KV included: grants (authorization codes and refresh tokens live in them; rewritten
 *   on every refresh), clients (deleted by the admin API, with their `trusted-client:` mark), and
 *   consent and sign-in transactions (consumed once). They are read at /authorize, consent, sign-in
 *   and /token, never on an MCP call.
 * - The journal never turns a read into an error: a journal that fails or is slow (a timeout) is
 *   logged and KV's answer stands, which is exactly what the provider would have read without it.
 * - What a miss can cost is bounded. Shards are picked by a keyed hash, so made-up tokens (or client
 *   ids, or codes) spread over every shard whatever a caller puts in them; a made-up key repeated is
 *   answered from a per-isolate memory of recent misses; and each isolate spends at most a fixed
 *   budget of journal reads per second, past which KV's answer stands (logged). Reads after a KV
 *   miss (made-up bearer tokens) and reads of grants, clients and transactions have separate
 *   budgets, so a flood of made-up tokens cannot starve a code exchange of its journal read.
 *
 * Writes. The journal first, which gives the write its version, then KV, with the version in the
 * value's metadata: KV's copy and the journal's are ordered by version, not by clocks. (One journal
 * round trip before each KV write, where they used to run side by side: writes happen at
 * registration, authorization and /token, never on an MCP call.)
 * - KV fails a put (429 when a key is written more than about once a second): the journal entry is
 *   undone and the error goes to the provider, which answers 429 "retry" for token writes; both
 *   sides then agree, and a retry starts from the state the caller saw.
 * - KV fails a delete: the journal keeps the tombstone, which already wins everywhere it is read,
 *   and deletes the record from KV itself a few seconds later (see ./kv-journal.ts).
 * - The journal fails (error or timeout): the write goes to KV alone, logged, with a version from
 *   this Worker's clock; a delete is then written to KV as a versioned tombstone that outlives any
 *   copy the journal may still hold, so the journal cannot resurrect it. Registration, code
 *   exchange and refresh keep working, with KV's own consistency for that write.
 * - Where they still disagree later (a KV write that landed out of order), the journal repairs KV
 *   before it forgets the entry, so a record never flips back to an older copy.
 *
 * Listings. `list()` is KV's, minus the layer's tombstones, and as eventually consistent as KV:
 * a key written at another location in the last minute may be missing (administration, the expiry
 * sweep). One listing is made whole: a grant's access tokens, which the provider lists to delete
 * them when it revokes the grant. KV's listing at this location may not show a token minted a
 * moment ago elsewhere (a refresh racing the revocation, or a thief's refresh racing reuse
 * detection), which would then outlive the revocation by its whole lifetime. So that listing also
 * asks every journal shard for the grant's tokens written in the retention window (a grant's keys
 * are spread over all shards, by design); revocations are rare, not on any hot path, and not cheap
 * for a caller to trigger (they take a valid refresh token, code or admin token).
 */
import { JOURNAL_RETENTION_MS, JOURNAL_SHARDS, journalShardFor, journalShardName, messageOf, prefixOf, type JournalEntry, type JournalWrite, type KvJournal } from './kv-journal';
import { readStamp, tombstoneMetadata, TOMBSTONE_VALUE, versionedMetadata } from './kv-records';

type GetType = 'text' | 'json' | 'arrayBuffer' | 'stream';
type GetOptions = GetType | { type?: GetType; cacheTtl?: number } | undefined;

/**
 * Records the provider treats as single use or revocable, read journal and KV together (see above);
 * and the admin API's mark on a client it created (src/auth/trusted-clients.ts), removed with it.
 */
const JOURNAL_FIRST_PREFIXES = ['grant:', 'client:', 'transaction:', 'trusted-client:'];

/**
 * Keys named by an id the server minted at random (a client id, a grant id, a token's hash, a
 * transaction handle's hash): no honest caller reads one before it exists, and one deleted never
 * comes back, so a miss on one can be remembered without hiding a later write.
 */
const MINTED_ID_PREFIXES = ['token:', 'grant:', 'client:', 'transaction:', 'trusted-client:'];

/**
 * The prefix the provider lists to find one grant's access tokens (`token:<user>:<grant>:`), when it
 * revokes the grant (RFC 7009 revocation of its refresh token, re-authorization, a replayed code,
 * the admin API, refresh-token reuse). User and grant ids never contain `:` (the provider refuses
 * such a user id; grant ids are generated).
 */
const GRANT_TOKENS_PREFIX = /^token:[^:]+:[^:]+:$/;

/**
 * Workers KV's minimum `cacheTtl` (seconds): how long a location may serve its cached copy of a key
 * (the default is 60). Asked on every read, so a deleted record stops being served by a location
 * that had cached it within about this long (plus KV's propagation).
 */
export const KV_CACHE_TTL_SECONDS = 30;

/** A journal read slower than this is abandoned for KV's answer: an overloaded object must not hold requests. */
const JOURNAL_READ_TIMEOUT_MS = 2_000;
/** A journal write slower than this is treated as failed (the write then goes to KV alone). */
const JOURNAL_WRITE_TIMEOUT_MS = 5_000;

/**
 * How long a KV tombstone lives: past the journal's retention, so it outlives any copy of the record
 * the journal may still hold (entries are dropped `JOURNAL_RETENTION_MS` after their write), plus a
 * minute of margin. KV itself then removes it.
 */
const KV_TOMBSTONE_TTL_SECONDS = JOURNAL_RETENTION_MS / 1000 + 60;

/**
 * Journal reads per second an isolate may spend (token buckets), in two budgets so that a flood on
 * one path does not starve the other:
 * - after a KV miss (the path every made-up bearer token takes, and a token minted elsewhere in the
 *   last minute): a made-up token costs its sender almost nothing, so a flood is where this budget
 *   runs out, and then KV's "not found" stands until it refills;
 * - for records read journal and KV together (grants, clients, transactions): at most three per
 *   OAuth request, each of which costs its sender a client authentication or a page, and takes the
 *   Worker milliseconds of CPU.
 */
const DEFAULT_FALLBACK_BUDGET = { capacity: 200, perSecond: 100 };
const DEFAULT_CHECK_BUDGET = { capacity: 400, perSecond: 200 };
/** How long, and for how many keys, an isolate remembers that a minted-id key exists nowhere. */
const DEFAULT_RECENT_MISSES = { ttlMs: 30_000, maxEntries: 5_000 };

export interface ConsistentKvOptions {
  /** The secret journal shards are derived from (SESSION_SECRET): no caller can compute a key's shard. */
  secret: string;
  /** The env binding `kv` is, so the journal repairs the same namespace. Default `OAUTH_KV`. */
  binding?: string;
  /** Journal reads after a KV miss; default: one budget shared by every layer in the isolate. */
  fallbackBudget?: JournalReadBudget;
  /** Journal reads of records read journal and KV together; default: shared likewise. */
  checkBudget?: JournalReadBudget;
  /** This isolate's memory of recent misses; default: one shared by every layer in the isolate. */
  recentMisses?: RecentMisses;
}

/** A journal read: an entry, none (null), or no answer (undefined: failed, timed out, or over budget). */
type JournalAnswer = JournalEntry | null | undefined;

/** A record as a read resolves it: its value and the writer's own metadata. */
interface Resolved {
  value: string;
  metadata: unknown;
}

export class ConsistentKv {
  private readonly secret: string;
  private readonly binding: string;
  private readonly fallbackBudget: JournalReadBudget;
  private readonly checkBudget: JournalReadBudget;
  private readonly misses: RecentMisses;

  constructor(
    private readonly kv: KVNamespace,
    private readonly journal: DurableObjectNamespace<KvJournal>,
    private readonly now: () => number,
    options: ConsistentKvOptions,
  ) {
    this.secret = options.secret;
    this.binding = options.binding ?? 'OAUTH_KV';
    this.fallbackBudget = options.fallbackBudget ?? (sharedFallbackBudget ??= new JournalReadBudget(DEFAULT_FALLBACK_BUDGET, Date.now, 'fallback'));
    this.checkBudget = options.checkBudget ?? (sharedCheckBudget ??= new JournalReadBudget(DEFAULT_CHECK_BUDGET, Date.now, 'check'));
    this.misses = options.recentMisses ?? (sharedMisses ??= new RecentMisses(DEFAULT_RECENT_MISSES));
  }

  async get(key: string, options?: GetOptions): Promise<unknown> {
    const type = typeOf(options);
    if (type !== 'text' && type !== 'json') return this.kv.get(key, options as never);
    const cacheTtl = typeof options === 'object' && options.cacheTtl !== undefined ? options.cacheTtl : KV_CACHE_TTL_SECONDS;
    const found = isJournalFirst(key) ? await this.readBoth(key, cacheTtl) : await this.readKvFirst(key, cacheTtl);
    return found === null ? null : decode(found.value, type);
  }

  async getWithMetadata(key: string, options?: GetOptions): Promise<KVNamespaceGetWithMetadataResult<unknown, unknown>> {
    const type = typeOf(options);
    if (type !== 'text' && type !== 'json') return this.kv.getWithMetadata(key, options as never);
    const cacheTtl = typeof options === 'object' && options.cacheTtl !== undefined ? options.cacheTtl : KV_CACHE_TTL_SECONDS;
    const found = await this.readBoth(key, cacheTtl);
    return { value: found === null ? null : decode(found.value, type), metadata: found?.metadata ?? null, cacheStatus: null };
  }

  async put(key: string, value: string | ArrayBuffer | ArrayBufferView | ReadableStream, options?: KVNamespacePutOptions): Promise<void> {
    if (typeof value !== 'string') return this.kv.put(key, value, options); // the provider writes strings only
    this.misses.forget(key);
    const writtenAt = this.now();
    const kvExpiresAt = options?.expiration !== undefined ? options.expiration * 1000 : options?.expirationTtl !== undefined ? writtenAt + options.expirationTtl * 1000 : null;
    const metadata = options?.metadata === undefined || options.metadata === null ? null : JSON.stringify(options.metadata);
    const version = await this.journalWrite({ key, value, metadata, kvExpiresAt, writtenAt, binding: this.binding });
    try {
      await this.kv.put(key, value, { ...options, metadata: versionedMetadata(options?.metadata, version ?? this.clockVersion()) });
    } catch (error) {
      // Not in KV, and the caller is told: the journal must not keep it either.
      if (version !== undefined) await this.reportKvFailure(key, version);
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    this.misses.forget(key);
    const version = await this.journalWrite({ key, value: null, metadata: null, kvExpiresAt: null, writtenAt: this.now(), binding: this.binding });
    if (version === undefined) {
      // The journal may still hold the record's last value and would serve it where KV misses:
      // leave a tombstone in KV, newer than that value and outliving it.
      await this.kv.put(key, TOMBSTONE_VALUE, { expirationTtl: KV_TOMBSTONE_TTL_SECONDS, metadata: tombstoneMetadata(this.clockVersion()) });
      return;
    }
    try {
      await this.kv.delete(key);
    } catch (error) {
      // The tombstone is journaled and already wins wherever the journal is read; the journal
      // deletes the record from KV once KV takes a write to the key again.
      console.error(JSON.stringify({ event: 'kv_delete_failed', prefix: prefixOf(key), message: messageOf(error), repair: 'journal' }));
      await this.reportKvFailure(key, version);
    }
  }

  async list(options?: KVNamespaceListOptions): Promise<KVNamespaceListResult<unknown, string>> {
    const page = await this.kv.list(options);
    let keys: KVNamespaceListKey<unknown, string>[] = [];
    for (const entry of page.keys) {
      const stamp = readStamp(entry.metadata);
      if (stamp.deleted) continue;
      if (stamp.version === 0) keys.push(entry);
      else keys.push(stamp.metadata === null ? { name: entry.name, ...(entry.expiration === undefined ? {} : { expiration: entry.expiration }) } : { ...entry, metadata: stamp.metadata });
    }
    const prefix = options?.prefix;
    if (page.list_complete && prefix !== undefined && prefix !== null && GRANT_TOKENS_PREFIX.test(prefix)) {
      // On the last page, so nothing is added twice within a listing of up to a page.
      const recent = await this.recentKeys(prefix);
      const listed = new Set(keys.map((entry) => entry.name));
      keys = keys.filter((entry) => recent.get(entry.name) !== true); // deleted since: not listed again
      for (const [name, deleted] of recent) if (!deleted && !listed.has(name)) keys.push({ name });
    }
    return { ...page, keys };
  }

  /** The binding as the provider sees it. It calls only get, put, delete and list. */
  asBinding(): KVNamespace {
    // KVNamespace's overloads cannot be implemented one by one in TypeScript; the methods above
    // cover every call the provider makes, with the same runtime contract.
    return this as unknown as KVNamespace;
  }

  /** KV first; the journal only on a miss (the hot path: access tokens). */
  private async readKvFirst(key: string, cacheTtl: number): Promise<Resolved | null> {
    const text = await this.kv.get(key, { type: 'text', cacheTtl });
    if (text !== null) return text === TOMBSTONE_VALUE ? null : { value: text, metadata: null };
    if (this.misses.has(key)) return null;
    const entry = await this.journalRead(key, this.fallbackBudget);
    if (entry === undefined) return null; // no answer: KV's stands
    const live = this.live(entry);
    if (live === null && isMintedId(key)) this.misses.remember(key);
    return live;
  }

  /** KV and the journal together; the newer version wins (records whose staleness matters). */
  private async readBoth(key: string, cacheTtl: number): Promise<Resolved | null> {
    const remembered = this.misses.has(key);
    const [found, answer] = await Promise.all([this.kv.getWithMetadata(key, { type: 'text', cacheTtl }), remembered ? undefined : this.journalRead(key, this.checkBudget)]);
    let entry: JournalAnswer = answer;
    if (remembered && found.value !== null) {
      this.misses.forget(key); // it exists after all: ask the journal as usual
      entry = await this.journalRead(key, this.checkBudget);
    }
    const stamp = readStamp(found.metadata);
    const inKv = found.value !== null && !stamp.deleted && found.value !== TOMBSTONE_VALUE ? { value: found.value, metadata: stamp.metadata } : null;
    if (entry === undefined || entry === null) {
      if (entry === null && found.value === null && isMintedId(key)) this.misses.remember(key);
      return inKv;
    }
    // Same version: the same write, unless one side is KV's tombstone, which wins (fail closed).
    const journalIsNewer = entry.version > stamp.version || (entry.version === stamp.version && !stamp.deleted);
    return journalIsNewer ? this.live(entry) : inKv;
  }

  /** Keys under `prefix` any journal shard holds, and whether each was last deleted; a shard that fails adds nothing. */
  private async recentKeys(prefix: string): Promise<Map<string, boolean>> {
    const shards = await Promise.all(
      Array.from({ length: JOURNAL_SHARDS }, async (_, index) => {
        try {
          const stub = this.journal.get(this.journal.idFromName(journalShardName(index)));
          return await withTimeout(Promise.resolve(stub.keysWithPrefix(prefix)), JOURNAL_READ_TIMEOUT_MS, 'journal listing');
        } catch (error) {
          logJournalError('list', prefix, error);
          return [];
        }
      }),
    );
    return new Map(shards.flat().map((entry) => [entry.key, entry.deleted]));
  }

  /** A journal entry as a read result: null for a tombstone or a record KV would have expired. */
  private live(entry: JournalEntry | null): Resolved | null {
    if (entry === null || entry.value === null) return null;
    if (entry.kvExpiresAt !== null && entry.kvExpiresAt <= this.now()) return null;
    return { value: entry.value, metadata: entry.metadata === null ? null : (JSON.parse(entry.metadata) as unknown) };
  }

  private async journalRead(key: string, budget: JournalReadBudget): Promise<JournalAnswer> {
    if (!budget.take()) return undefined;
    try {
      const stub = await this.shard(key);
      return await withTimeout(Promise.resolve(stub.read(key)), JOURNAL_READ_TIMEOUT_MS, 'journal read');
    } catch (error) {
      logJournalError('read', key, error);
      return undefined;
    }
  }

  /** The write's version, or undefined when the journal did not take it. */
  private async journalWrite(write: JournalWrite): Promise<number | undefined> {
    try {
      const stub = await this.shard(write.key);
      return await withTimeout(Promise.resolve(stub.record(write)), JOURNAL_WRITE_TIMEOUT_MS, 'journal write');
    } catch (error) {
      logJournalError(write.value === null ? 'delete' : 'write', write.key, error);
      return undefined;
    }
  }

  private async reportKvFailure(key: string, version: number): Promise<void> {
    try {
      const stub = await this.shard(key);
      await withTimeout(Promise.resolve(stub.kvWriteFailed(key, version)), JOURNAL_WRITE_TIMEOUT_MS, 'journal report');
    } catch (error) {
      // The journal compares the entry with KV before dropping it anyway (./kv-journal.ts).
      logJournalError('report', key, error);
    }
  }

  /**
   * A version for a write the journal did not take: this Worker's clock (ms). Journal versions are
   * at least the time they were given, and KV takes about one write per second per key, so two
   * writes of a key are further apart than Cloudflare's clocks disagree.
   */
  private clockVersion(): number {
    return Math.max(Date.now(), this.now());
  }

  private async shard(key: string): Promise<DurableObjectStub<KvJournal>> {
    return this.journal.get(this.journal.idFromName(await journalShardFor(key, this.secret)));
  }
}

/**
 * Journal reads an isolate may spend, as a token bucket: `capacity` at once, refilled at
 * `perSecond`. When it is empty a read gets KV's answer alone, and a warning is logged (at most
 * every 10 s).
 */
export class JournalReadBudget {
  private tokens: number;
  private updatedAt: number | undefined;
  private warnedAt = Number.NEGATIVE_INFINITY;
  private skipped = 0;

  constructor(
    private readonly limits: { capacity: number; perSecond: number },
    private readonly now: () => number = Date.now,
    private readonly name = 'journal',
  ) {
    this.tokens = limits.capacity;
  }

  take(): boolean {
    const now = this.now();
    // Measured from the first use: at a Worker's startup the clock does not run yet.
    if (this.updatedAt !== undefined) this.tokens = Math.min(this.limits.capacity, this.tokens + ((now - this.updatedAt) / 1000) * this.limits.perSecond);
    this.updatedAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    this.skipped++;
    if (now - this.warnedAt >= 10_000) {
      console.warn(JSON.stringify({ event: 'kv_journal_read_budget_exhausted', budget: this.name, skipped: this.skipped, perSecond: this.limits.perSecond }));
      this.warnedAt = now;
      this.skipped = 0;
    }
    return false;
  }
}

/** Keys recently found nowhere (neither KV nor the journal), for `ttlMs`, at most `maxEntries`. */
export class RecentMisses {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly limits: { ttlMs: number; maxEntries: number },
    private readonly now: () => number = Date.now,
  ) {}

  has(key: string): boolean {
    const until = this.until.get(key);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.until.delete(key);
    return false;
  }

  remember(key: string): void {
    this.until.delete(key);
    this.until.set(key, this.now() + this.limits.ttlMs);
    // The oldest go first (a Map iterates in insertion order).
    for (const oldest of this.until.keys()) {
      if (this.until.size <= this.limits.maxEntries) break;
      this.until.delete(oldest);
    }
  }

  /** A write here: the key exists now. (Keys are minted ids, so another isolate cannot have missed it first.) */
  forget(key: string): void {
    this.until.delete(key);
  }
}

let sharedFallbackBudget: JournalReadBudget | undefined;
let sharedCheckBudget: JournalReadBudget | undefined;
let sharedMisses: RecentMisses | undefined;

function isJournalFirst(key: string): boolean {
  return JOURNAL_FIRST_PREFIXES.some((prefix) => key.startsWith(prefix));
}

function isMintedId(key: string): boolean {
  return MINTED_ID_PREFIXES.some((prefix) => key.startsWith(prefix));
}

function decode(value: string, type: 'text' | 'json'): unknown {
  return type === 'json' ? JSON.parse(value) : value;
}

function typeOf(options: GetOptions): GetType {
  if (options === undefined) return 'text';
  if (typeof options === 'string') return options;
  return options.type ?? 'text';
}

function logJournalError(operation: string, key: string, error: unknown): void {
  console.error(JSON.stringify({ event: 'kv_journal_unavailable', operation, prefix: prefixOf(key), message: messageOf(error), fallback: 'kv' }));
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => {
    if (timer !== undefined) clearTimeout(timer);
  });
}
