import { env, runDurableObjectAlarm } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { ConsistentKv } from '../../src/storage/consistent-kv';
import { JOURNAL_RETENTION_MS, type KvJournal } from '../../src/storage/kv-journal';
import { SimulatedKvLocations } from '../../src/storage/simulated-kv';

const DELAY_MS = 30_000;
/** What journal shards are derived from (SESSION_SECRET in the Worker). */
const SECRET = 'consistency-test-secret-0123456789abcdef';

/** A fake clock shared by the simulated KV and the layer, so propagation and expiry are exact. */
function clock(start = Date.now()) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

/** Counts journal lookups, to check what the hot path costs. */
function countingJournal(): { namespace: DurableObjectNamespace<KvJournal>; lookups: () => number } {
  let lookups = 0;
  const real = env.KV_JOURNAL as DurableObjectNamespace<KvJournal>;
  const namespace = {
    idFromName: (name: string) => real.idFromName(name),
    get: (id: DurableObjectId) => {
      lookups++;
      return real.get(id);
    },
  };
  // Only idFromName and get are used by the layer.
  return { namespace: namespace as unknown as DurableObjectNamespace<KvJournal>, lookups: () => lookups };
}

/** Records here are the test's own, not the provider's: they live in a namespace of their own. */
const SCRATCH_KV = Reflect.get(env, 'SCRATCH_KV') as KVNamespace;

function setup(key: string) {
  const time = clock();
  const locations = SimulatedKvLocations.forLoopback('http://localhost', 3, DELAY_MS, time.now);
  const journal = countingJournal();
  const at = (location: number) => new ConsistentKv(locations.at(location, SCRATCH_KV), journal.namespace, time.now, { secret: SECRET, binding: 'SCRATCH_KV' });
  const bare = (location: number) => locations.at(location, SCRATCH_KV);
  return { time, at, bare, journal, key: `${key}:${crypto.randomUUID()}` };
}

describe('the simulated multi-location KV', () => {
  it('shows a write at its own location at once and elsewhere only after the delay, caching the miss', async () => {
    const { time, bare, key } = setup('client');
    await bare(0).put(key, 'v1');
    expect(await bare(0).get(key)).toBe('v1');
    time.advance(10_000);
    expect(await bare(1).get(key)).toBeNull(); // not there yet: the miss is cached for the delay
    time.advance(DELAY_MS - 5_000); // the write has reached every location
    expect(await bare(2).get(key)).toBe('v1');
    expect(await bare(1).get(key)).toBeNull(); // location 1 still answers from its cached miss
    time.advance(5_000);
    expect(await bare(1).get(key)).toBe('v1');
  });

  it('keeps showing the earlier value elsewhere until a rewrite arrives', async () => {
    const { time, bare, key } = setup('grant:user1');
    await bare(0).put(key, 'old');
    time.advance(DELAY_MS); // everywhere, and forgotten by the simulation
    await bare(1).get(`${key}:other`); // any operation lets it sweep
    await bare(0).put(key, 'new');
    expect(await bare(1).get(key)).toBe('old');
    expect(await bare(0).get(key)).toBe('new');
  });
});

describe('the consistency layer', () => {
  it('reads a fresh registration from another location (read-your-writes)', async () => {
    const { at, bare, key } = setup('client');
    await at(0).put(key, JSON.stringify({ clientId: 'c1' }));
    expect(await bare(1).get(key)).toBeNull();
    expect(await at(1).get(key, { type: 'json' })).toEqual({ clientId: 'c1' });
  });

  it('keeps a revoked token revoked: the fallback never resurrects a delete', async () => {
    const { at, key } = setup('token:user1:grant1');
    await at(0).put(key, '{"id":"t"}', { expirationTtl: 3600 });
    expect(await at(1).get(key)).toBe('{"id":"t"}');
    await at(0).delete(key);
    expect(await at(1).get(key)).toBeNull();
    expect(await at(2).get(key, { type: 'json' })).toBeNull();
  });

  it('keeps a deleted client deleted', async () => {
    const { at, key } = setup('client');
    await at(2).put(key, '{"clientId":"gone"}');
    await at(2).delete(key);
    expect(await at(0).get(key, { type: 'json' })).toBeNull();
  });

  it('serves the newest grant even where KV still holds an older copy', async () => {
    const { time, at, bare, key } = setup('grant:user1');
    await at(0).put(key, '{"refreshTokenId":"old"}');
    time.advance(DELAY_MS); // the old version is now everywhere
    await at(0).put(key, '{"refreshTokenId":"rotated"}');
    expect(await bare(1).get(key, { type: 'json' })).toEqual({ refreshTokenId: 'old' });
    expect(await at(1).get(key, { type: 'json' })).toEqual({ refreshTokenId: 'rotated' });
  });

  it('honours the record’s own KV expiry in the fallback', async () => {
    const { time, at, key } = setup('token:user1:grant2');
    await at(0).put(key, 'short-lived', { expirationTtl: 60 });
    expect(await at(1).get(key)).toBe('short-lived');
    time.advance(61_000);
    expect(await at(1).get(key)).toBeNull();
  });

  it('adds no journal round trip to a read that KV answers (the hot path)', async () => {
    const { time, at, journal, key } = setup('token:user1:grant3');
    await at(0).put(key, 'valid token');
    time.advance(DELAY_MS);
    const before = journal.lookups();
    for (let i = 0; i < 5; i++) expect(await at(i % 3).get(key)).toBe('valid token');
    expect(journal.lookups()).toBe(before);
  });

  it('forgets journal records after the retention window, and the alarm removes them', async () => {
    // A journal object of its own, so other tests' records do not count.
    const stub = (env.KV_JOURNAL as DurableObjectNamespace<KvJournal>).get(env.KV_JOURNAL.idFromName(`test-${crypto.randomUUID()}`));
    const longAgo = Date.now() - JOURNAL_RETENTION_MS - 1_000;
    await stub.record({ key: 'client:expiry-test', value: '{}', metadata: null, kvExpiresAt: null, writtenAt: longAgo, binding: 'SCRATCH_KV' });
    await stub.record({ key: 'client:fresh', value: '{}', metadata: null, kvExpiresAt: null, writtenAt: Date.now(), binding: 'SCRATCH_KV' });
    expect(await stub.read('client:expiry-test')).toBeNull();
    expect(await stub.read('client:fresh')).not.toBeNull();
    await runDurableObjectAlarm(stub); // may already have fired: its time had passed
    expect(await stub.size()).toBe(1);
    expect(await stub.read('client:expiry-test', longAgo)).toBeNull(); // gone, not just hidden
  });
});
