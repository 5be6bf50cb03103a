/**
 * Read-your-writes for OAUTH_KV across locations, wrapped around the binding the OAuth provider
 * reads (the library takes no storage option; the binding is the only seam).
 *
 * Workers KV is eventually consistent: a client registered at one location can be missing at
 * another for up to a minute, so a gateway that registers from its servers and then sends the
 * user's browser to /authorize gets `invalid_client`. Here every write also goes to a strongly
 * consistent journal (./kv-journal.ts), and a read that misses KV asks the journal before
 * answering "not found".
 *
 * What is deliberately not routed through the journal:
 * - a read that hits KV (a valid access token on every MCP call: the hot path) pays nothing extra,
 *   except grant records (below);
 * - `list()`, which only administration and the expiry sweep use.
 * Grant records are the exception: they are rewritten on every refresh, and a stale copy at another
 * location would reject the rotated refresh token, so their reads consult the journal first. Grants
 * are read at code exchange and refresh, never on an MCP call.
 *
 * A delete is journaled as a tombstone, so the fallback can never resurrect a revoked token or a
 * deleted client. What the journal cannot do is make KV forget faster: a location that still holds a
 * copy of a deleted record serves it until KV propagates the delete (about a minute).
 */
import { journalShardFor, type JournalEntry, type KvJournal } from './kv-journal';

type GetType = 'text' | 'json' | 'arrayBuffer' | 'stream';
type GetOptions = GetType | { type?: GetType; cacheTtl?: number } | undefined;

/** Keys whose records are rewritten in place, so a stale KV hit is as wrong as a miss. */
const JOURNAL_FIRST_PREFIXES = ['grant:'];

export class ConsistentKv {
  constructor(
    private readonly kv: KVNamespace,
    private readonly journal: DurableObjectNamespace<KvJournal>,
    private readonly now: () => number = Date.now,
  ) {}

  async get(key: string, options?: GetOptions): Promise<unknown> {
    const type = typeOf(options);
    if (type !== 'text' && type !== 'json') return this.kv.get(key, options as never);
    if (JOURNAL_FIRST_PREFIXES.some((prefix) => key.startsWith(prefix))) {
      const entry = await this.shard(key).read(key);
      if (entry) return this.decode(entry, type);
      return this.kv.get(key, options as never);
    }
    const value = await this.kv.get(key, options as never);
    if (value !== null) return value;
    const entry = await this.shard(key).read(key);
    return entry ? this.decode(entry, type) : null;
  }

  async put(key: string, value: string | ArrayBuffer | ArrayBufferView | ReadableStream, options?: KVNamespacePutOptions): Promise<void> {
    if (typeof value !== 'string') return this.kv.put(key, value, options);
    const writtenAt = this.now();
    const kvExpiresAt = options?.expiration !== undefined ? options.expiration * 1000 : options?.expirationTtl !== undefined ? writtenAt + options.expirationTtl * 1000 : null;
    const metadata = options?.metadata === undefined || options.metadata === null ? null : JSON.stringify(options.metadata);
    // Both, concurrently: the response must not leave before the journal holds the write.
    await Promise.all([this.kv.put(key, value, options), this.shard(key).record({ key, value, metadata, kvExpiresAt, writtenAt })]);
  }

  async delete(key: string): Promise<void> {
    await Promise.all([this.kv.delete(key), this.shard(key).record({ key, value: null, metadata: null, kvExpiresAt: null, writtenAt: this.now() })]);
  }

  list(options?: KVNamespaceListOptions): Promise<KVNamespaceListResult<unknown, string>> {
    return this.kv.list(options);
  }

  getWithMetadata(key: string, options?: GetOptions): Promise<KVNamespaceGetWithMetadataResult<unknown, unknown>> {
    return this.kv.getWithMetadata(key, options as never);
  }

  /** The binding as the provider sees it. It calls only get, put, delete and list. */
  asBinding(): KVNamespace {
    // KVNamespace's overloads cannot be implemented one by one in TypeScript; the methods above
    // cover every call the provider makes, with the same runtime contract.
    return this as unknown as KVNamespace;
  }

  private shard(key: string): DurableObjectStub<KvJournal> {
    return this.journal.get(this.journal.idFromName(journalShardFor(key)));
  }

  private decode(entry: JournalEntry, type: 'text' | 'json'): unknown {
    if (entry.value === null) return null; // deleted: stays deleted
    if (entry.kvExpiresAt !== null && entry.kvExpiresAt <= this.now()) return null; // KV would have expired it
    return type === 'json' ? JSON.parse(entry.value) : entry.value;
  }
}

function typeOf(options: GetOptions): GetType {
  if (options === undefined) return 'text';
  if (typeof options === 'string') return options;
  return options.type ?? 'text';
}
