/**
 * A test double of Workers KV as it behaves across locations, to reproduce eventual consistency on
 * one machine (`SIMULATE_KV_LOCATIONS`, `SIMULATE_KV_DELAY_MS`). Never a production setting: it can
 * only be built for a loopback origin (`forLoopback`), and the Worker refuses the setting on any
 * other origin before it gets here (src/setup.ts).
 *
 * Each simulated location sees its own writes at once and other locations' writes only after the
 * propagation delay, and caches a miss for as long (KV caches negative lookups too). Data lives in
 * the real binding underneath; the per-isolate write log decides what each location may see, and
 * list: a key written at another location within the delay is not listed yet.
 *
 * Memory is bounded: a key's history is kept only while some location may still see an older
 * version (the propagation delay); after that the binding underneath holds exactly what every
 * location would read, so the history is dropped. Expired cached misses are dropped too, and past
 * `MAX_TRACKED` entries the oldest go first (they then read as already propagated). A key's first
 * write reads what every location saw before it, so they keep seeing that until the write arrives.
 */
import { isLoopbackHost } from '../config';

interface Version {
  location: number;
  /** null: deleted. */
  value: string | null;
  metadata: unknown;
  writtenAt: number;
  expiresAt: number | undefined;
}

interface Stored {
  value: string;
  metadata: unknown;
}

type GetType = 'text' | 'json' | 'arrayBuffer' | 'stream';
type GetOptions = GetType | { type?: GetType; cacheTtl?: number } | undefined;

/** Most keys (histories, and cached misses per location) held at once. */
const MAX_TRACKED = 20_000;

export class SimulatedKvLocations {
  private readonly versions = new Map<string, Version[]>();
  private readonly missCaches: Map<string, number>[];
  /** Settled keys written with an expiry: when it passes, by this simulation's clock. */
  private readonly expiries = new Map<string, number>();
  private nextLocation = 0;
  private sweptAt: number;

  /** The simulation, for a server answering on `origin`, which must be loopback. */
  static forLoopback(origin: string, count: number, delayMs: number, now: () => number = Date.now): SimulatedKvLocations {
    let hostname: string;
    try {
      hostname = new URL(origin).hostname;
    } catch {
      hostname = '';
    }
    if (!isLoopbackHost(hostname)) throw new Error(`The KV simulation (SIMULATE_KV_LOCATIONS) is a test double and runs only on a loopback origin, not on ${origin}.`);
    return new SimulatedKvLocations(count, delayMs, now);
  }

  private constructor(
    readonly count: number,
    readonly delayMs: number,
    private readonly now: () => number,
  ) {
    this.missCaches = Array.from({ length: count }, () => new Map());
    this.sweptAt = now();
  }

  /** The next location in round-robin order, as a load balancer would spread requests. */
  next(): number {
    const location = this.nextLocation;
    this.nextLocation = (this.nextLocation + 1) % this.count;
    return location;
  }

  /** How many key histories and cached misses are held (bounded; for tests). */
  trackedEntries(): number {
    return this.versions.size + this.expiries.size + this.missCaches.reduce((total, cache) => total + cache.size, 0);
  }

  /** The KV binding as seen from `location`. */
  at(location: number, kv: KVNamespace): KVNamespace {
    const view = {
      get: async (key: string, options?: GetOptions) => {
        const found = await this.read(location, kv, key);
        return found === null ? null : decode(found.value, typeOf(options));
      },
      getWithMetadata: async (key: string, options?: GetOptions) => {
        const found = await this.read(location, kv, key);
        return { value: found === null ? null : decode(found.value, typeOf(options)), metadata: found?.metadata ?? null, cacheStatus: null };
      },
      put: (key: string, value: string, options?: KVNamespacePutOptions) => this.put(location, kv, key, value, options),
      delete: (key: string) => this.delete(location, kv, key),
      list: async (options?: KVNamespaceListOptions) => {
        const page = await kv.list(options);
        const now = this.now();
        return { ...page, keys: page.keys.filter((entry) => this.listedAt(location, entry.name, now)) };
      },
    };
    // A partial KVNamespace: the OAuth provider and the consistency layer call only these methods.
    return view as unknown as KVNamespace;
  }

  private async read(location: number, kv: KVNamespace, key: string): Promise<Stored | null> {
    const now = this.now();
    this.sweepIfDue(now);
    const missCache = this.missCaches[location] as Map<string, number>;
    if ((missCache.get(key) ?? 0) > now) return null;
    const history = this.versions.get(key);
    let found: Stored | null;
    if (!history) {
      found = await this.settled(kv, key, now);
    } else {
      const visible = history.filter((version) => version.location === location || version.writtenAt + this.delayMs <= now).at(-1);
      found = visible && visible.value !== null && (visible.expiresAt === undefined || visible.expiresAt > now) ? { value: visible.value, metadata: visible.metadata ?? null } : null;
    }
    if (found === null) {
      missCache.delete(key);
      missCache.set(key, now + this.delayMs);
      this.cap(missCache);
    }
    return found;
  }

  /**
   * Whether `location` lists a key KV lists: not one written elsewhere within the delay. (A key
   * deleted elsewhere within the delay, which that location would still list, is not shown: the
   * binding underneath no longer has it.)
   */
  private listedAt(location: number, key: string, now: number): boolean {
    const history = this.versions.get(key);
    if (!history) return !((this.expiries.get(key) ?? Number.POSITIVE_INFINITY) <= now);
    const visible = history.filter((version) => version.location === location || version.writtenAt + this.delayMs <= now).at(-1);
    return visible !== undefined && visible.value !== null && (visible.expiresAt === undefined || visible.expiresAt > now);
  }

  /** What every location reads for a key without history: written before this process, or settled. */
  private async settled(kv: KVNamespace, key: string, now: number): Promise<Stored | null> {
    const expiresAt = this.expiries.get(key);
    if (expiresAt !== undefined && expiresAt <= now) return null;
    const stored = await kv.getWithMetadata(key, 'text');
    return stored.value === null ? null : { value: stored.value, metadata: stored.metadata };
  }

  private async put(location: number, kv: KVNamespace, key: string, value: string, options?: KVNamespacePutOptions): Promise<void> {
    const base = await this.baseOf(kv, key);
    await kv.put(key, value, options);
    const now = this.now();
    const expiresAt = options?.expiration !== undefined ? options.expiration * 1000 : options?.expirationTtl !== undefined ? now + options.expirationTtl * 1000 : undefined;
    this.record(location, key, { location, value, metadata: options?.metadata, writtenAt: now, expiresAt }, base);
  }

  private async delete(location: number, kv: KVNamespace, key: string): Promise<void> {
    const base = await this.baseOf(kv, key);
    await kv.delete(key);
    this.record(location, key, { location, value: null, metadata: undefined, writtenAt: this.now(), expiresAt: undefined }, base);
  }

  /**
   * For a key without history, what every location sees before this write: the history starts from
   * it, so the other locations keep reading it until the write reaches them.
   */
  private async baseOf(kv: KVNamespace, key: string): Promise<Version | undefined> {
    this.sweepIfDue(this.now()); // before, never between this and record(): the history must not vanish in between
    if (this.versions.has(key)) return undefined;
    const before = await this.settled(kv, key, this.now());
    return { location: -1, value: before?.value ?? null, metadata: before?.metadata, writtenAt: Number.NEGATIVE_INFINITY, expiresAt: this.expiries.get(key) };
  }

  private record(location: number, key: string, version: Version, base: Version | undefined): void {
    // A location reads its own writes at once, so its cached miss is gone.
    this.missCaches[location]?.delete(key);
    this.expiries.delete(key);
    const settled = version.writtenAt - this.delayMs;
    const history = (this.versions.get(key) ?? (base ? [base] : [])).filter((old, index, all) => old.writtenAt > settled || index === all.length - 1);
    history.push(version);
    // Re-inserted, so the Map's order is the order of last writes (the oldest are evicted first).
    this.versions.delete(key);
    this.versions.set(key, history);
    this.cap(this.versions);
  }

  /** Drops what every location already sees alike, at most every quarter of the delay (and every second). */
  private sweepIfDue(now: number): void {
    if (now - this.sweptAt < Math.max(1_000, this.delayMs / 4)) return;
    this.sweptAt = now;
    for (const [key, history] of this.versions) {
      const last = history.at(-1);
      if (!last || last.writtenAt + this.delayMs > now) continue;
      this.versions.delete(key);
      // Its expiry, by this simulation's clock (a test's own clock may run ahead of KV's).
      if (last.value !== null && last.expiresAt !== undefined) {
        this.expiries.set(key, last.expiresAt);
        this.cap(this.expiries);
      }
    }
    for (const [key, until] of this.expiries) if (until + this.delayMs <= now) this.expiries.delete(key);
    for (const cache of this.missCaches) {
      for (const [key, until] of cache) if (until <= now) cache.delete(key);
    }
  }

  private cap(map: Map<string, unknown>): void {
    for (const oldest of map.keys()) {
      if (map.size <= MAX_TRACKED) break;
      map.delete(oldest);
    }
  }
}

function typeOf(options: GetOptions): GetType {
  if (options === undefined) return 'text';
  if (typeof options === 'string') return options;
  return options.type ?? 'text';
}

function decode(value: string, type: GetType): unknown {
  return type === 'json' ? JSON.parse(value) : value;
}
