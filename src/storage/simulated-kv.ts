/**
 * A test double of Workers KV as it behaves across locations, to reproduce eventual consistency on
 * one machine (`SIMULATE_KV_LOCATIONS`, `SIMULATE_KV_DELAY_MS`). Never a production setting.
 *
 * Each simulated location sees its own writes at once and other locations' writes only after the
 * propagation delay, and caches a miss for as long (KV caches negative lookups too). Data lives in
 * the real binding underneath; the per-isolate write log decides what each location may see.
 * `list()` is passed through unsimulated.
 */

interface Version {
  location: number;
  /** null: deleted. */
  value: string | null;
  metadata: unknown;
  writtenAt: number;
  expiresAt: number | undefined;
}

type GetType = 'text' | 'json' | 'arrayBuffer' | 'stream';

export class SimulatedKvLocations {
  private readonly versions = new Map<string, Version[]>();
  private readonly missCaches: Map<string, number>[];
  private nextLocation = 0;

  constructor(
    readonly count: number,
    readonly delayMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.missCaches = Array.from({ length: count }, () => new Map());
  }

  /** The next location in round-robin order, as a load balancer would spread requests. */
  next(): number {
    const location = this.nextLocation;
    this.nextLocation = (this.nextLocation + 1) % this.count;
    return location;
  }

  /** The KV binding as seen from `location`. */
  at(location: number, kv: KVNamespace): KVNamespace {
    const view = {
      get: (key: string, options?: GetType | { type?: GetType }) => this.get(location, kv, key, typeof options === 'string' ? options : (options?.type ?? 'text')),
      put: (key: string, value: string, options?: KVNamespacePutOptions) => this.put(location, kv, key, value, options),
      delete: (key: string) => this.delete(location, kv, key),
      list: (options?: KVNamespaceListOptions) => kv.list(options),
    };
    // A partial KVNamespace: the OAuth provider and the consistency layer call only these four methods.
    return view as unknown as KVNamespace;
  }

  private async get(location: number, kv: KVNamespace, key: string, type: GetType): Promise<unknown> {
    const now = this.now();
    const missCache = this.missCaches[location] as Map<string, number>;
    if ((missCache.get(key) ?? 0) > now) return null;
    const history = this.versions.get(key);
    let value: string | null;
    if (!history) {
      value = await kv.get(key); // written before this process started: already everywhere
    } else {
      const visible = history.filter((version) => version.location === location || version.writtenAt + this.delayMs <= now).at(-1);
      value = visible && (visible.expiresAt === undefined || visible.expiresAt > now) ? visible.value : null;
    }
    if (value === null) {
      missCache.set(key, now + this.delayMs);
      return null;
    }
    return type === 'json' ? JSON.parse(value) : value;
  }

  private async put(location: number, kv: KVNamespace, key: string, value: string, options?: KVNamespacePutOptions): Promise<void> {
    await kv.put(key, value, options);
    const now = this.now();
    const expiresAt = options?.expiration !== undefined ? options.expiration * 1000 : options?.expirationTtl !== undefined ? now + options.expirationTtl * 1000 : undefined;
    this.record(location, key, { location, value, metadata: options?.metadata, writtenAt: now, expiresAt });
  }

  private async delete(location: number, kv: KVNamespace, key: string): Promise<void> {
    await kv.delete(key);
    this.record(location, key, { location, value: null, metadata: undefined, writtenAt: this.now(), expiresAt: undefined });
  }

  private record(location: number, key: string, version: Version): void {
    // A location reads its own writes at once, so its cached miss is gone.
    this.missCaches[location]?.delete(key);
    const settled = version.writtenAt - this.delayMs;
    const history = (this.versions.get(key) ?? []).filter((old, index, all) => old.writtenAt > settled || index === all.length - 1);
    history.push(version);
    this.versions.set(key, history);
  }
}
