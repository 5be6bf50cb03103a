/**
 * The consistency layer must not become the weak point (issue 11): what a caller can aim at it, what
 * happens when the journal or KV fails, which side wins when they disagree, and whether a delete
 * made at one location holds at another that still has the record in KV.
 *
 * The journal is the real Durable Object and KV the real binding (SCRATCH_KV, so the provider never
 * reads these records), seen through the simulated locations where it matters. Only a failing
 * journal and a failing or late KV are doubles: a wrapper around the real binding, since neither can
 * be made to fail for real.
 */
import { getOAuthApi } from '@cloudflare/workers-oauth-provider';
import { env, runDurableObjectAlarm } from 'cloudflare:test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config';
import { providerOptions } from '../../src/provider';
import { ConsistentKv, JournalReadBudget, RecentMisses } from '../../src/storage/consistent-kv';
import { JOURNAL_RETENTION_MS, type KvJournal } from '../../src/storage/kv-journal';
import { providerEnv } from '../../src/storage/oauth-kv';
import { SimulatedKvLocations } from '../../src/storage/simulated-kv';
import { ALICE, authorizationCode, basicAuth, CALLBACK, McpWire, pkcePair, workerWithEnv, type RegisteredClient, type TokenResponse } from './helpers';

const DELAY_MS = 30_000;
const SECRET = 'consistency-test-secret-0123456789abcdef';
const SCRATCH_KV = Reflect.get(env, 'SCRATCH_KV') as KVNamespace;
const JOURNAL = env.KV_JOURNAL as DurableObjectNamespace<KvJournal>;

afterEach(() => {
  vi.restoreAllMocks();
});

function clock(start = Date.now()) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

/** The real journal namespace, remembering which journal objects were asked for and how often. */
function recordingJournal(real: DurableObjectNamespace<KvJournal> = JOURNAL) {
  const shards = new Map<string, number>();
  let lookups = 0;
  const namespace = {
    idFromName: (name: string) => {
      shards.set(name, (shards.get(name) ?? 0) + 1);
      return real.idFromName(name);
    },
    newUniqueId: () => real.newUniqueId(),
    get: (id: DurableObjectId) => {
      lookups++;
      return real.get(id);
    },
  };
  return { namespace: namespace as unknown as DurableObjectNamespace<KvJournal>, shards, lookups: () => lookups };
}

/**
 * A journal whose objects fail every call while `failing` is set, as an overloaded or unreachable
 * Durable Object does ("Durable Object is overloaded", network errors), and work normally otherwise.
 */
function switchableJournal() {
  const state = { failing: true };
  const failingStub = new Proxy(
    {},
    {
      get: (_target, property) => (property === 'then' ? undefined : () => Promise.reject(new Error('Durable Object is overloaded. Requests queued for too long.'))),
    },
  );
  const namespace = {
    idFromName: (name: string) => JOURNAL.idFromName(name),
    newUniqueId: () => JOURNAL.newUniqueId(),
    get: (id: DurableObjectId) => (state.failing ? failingStub : JOURNAL.get(id)),
  };
  return { namespace: namespace as unknown as DurableObjectNamespace<KvJournal>, state };
}

/** `kv` with its put and delete made to fail, or to wait, for the keys `affects` picks. */
function faultyKv(kv: KVNamespace) {
  const faults = {
    failPuts: 0,
    failDeletes: 0,
    affects: (_key: string) => true,
    /** While set, a put of an affected key waits for it to resolve before it reaches KV. */
    holdPuts: undefined as Promise<void> | undefined,
    onHeld: () => {},
    gets: [] as unknown[],
  };
  const view = {
    get: (key: string, options?: unknown) => {
      faults.gets.push(options);
      return kv.get(key, options as never);
    },
    getWithMetadata: (key: string, options?: unknown) => {
      faults.gets.push(options);
      return kv.getWithMetadata(key, options as never);
    },
    list: (options?: KVNamespaceListOptions) => kv.list(options),
    put: async (key: string, value: string, options?: KVNamespacePutOptions) => {
      if (faults.affects(key) && faults.failPuts > 0) {
        faults.failPuts--;
        throw new Error(`KV PUT failed: 429 Too Many Requests`);
      }
      const held = faults.affects(key) ? faults.holdPuts : undefined;
      if (held) {
        faults.holdPuts = undefined;
        faults.onHeld();
        await held;
      }
      return kv.put(key, value, options);
    },
    delete: async (key: string) => {
      if (faults.affects(key) && faults.failDeletes > 0) {
        faults.failDeletes--;
        throw new Error(`KV DELETE failed: 429 Too Many Requests`);
      }
      return kv.delete(key);
    },
  };
  return { kv: view as unknown as KVNamespace, faults };
}

function layer(kv: KVNamespace, journal: DurableObjectNamespace<KvJournal>, now: () => number, options: Record<string, unknown> = {}) {
  return new ConsistentKv(kv, journal, now, { secret: SECRET, binding: 'SCRATCH_KV', ...options });
}

/** A made-up bearer token's KV key, as the provider builds it: `token:<user>:<grant>:<sha256>`. */
async function tokenKeyFor(token: string): Promise<string> {
  const [user, grant] = token.split(':');
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token)));
  return `token:${user}:${grant}:${Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}

function randomId(length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(crypto.getRandomValues(new Uint8Array(length)), (byte) => alphabet[byte % alphabet.length]).join('');
}

/** Runs the alarm of every journal object the test touched, until `check` holds (alarms also fire by themselves when due). */
async function afterJournalAlarms(shards: Map<string, number>, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const name of shards.keys()) await runDurableObjectAlarm(JOURNAL.get(JOURNAL.idFromName(name)));
    if ((await check()) || Date.now() > deadline) return;
    await scheduler.wait(100);
  }
}

describe('junk tokens cannot pin a journal object', () => {
  it('spreads made-up tokens that share one user part over every shard, by a secret the caller does not know', async () => {
    const journal = recordingJournal();
    const kv = layer(SCRATCH_KV, journal.namespace, Date.now, { fallbackBudget: new JournalReadBudget({ capacity: 10_000, perSecond: 10_000 }, Date.now) });
    const keys = await Promise.all(Array.from({ length: 320 }, () => tokenKeyFor(`victim-user:${randomId(16)}:${randomId(32)}`)));
    for (const key of keys) expect(await kv.get(key, { type: 'json' })).toBeNull();
    const counts = [...journal.shards.values()];
    expect(journal.shards.size).toBeGreaterThanOrEqual(28); // 32 shards, 10 keys each on average
    expect(Math.max(...counts)).toBeLessThanOrEqual(30);
    // The same keys under another secret land elsewhere: the assignment cannot be computed from the key alone.
    const other = recordingJournal();
    const otherKv = layer(SCRATCH_KV, other.namespace, Date.now, { secret: 'another-secret-0123456789abcdef-xyz', fallbackBudget: new JournalReadBudget({ capacity: 10_000, perSecond: 10_000 }, Date.now) });
    let moved = 0;
    for (const key of keys.slice(0, 64)) {
      const before = new Set(other.shards.keys());
      await otherKv.get(key);
      const shardUnderOther = [...other.shards.keys()].find((name) => !before.has(name)) ?? '';
      journal.shards.clear();
      await kv.get(key);
      if (!journal.shards.has(shardUnderOther)) moved++;
    }
    expect(moved).toBeGreaterThan(48);
  });

  it('reads KV’s answer, and logs, when the journal fails: a failing shard never turns a read into an error', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const journal = switchableJournal();
    const kv = layer(SCRATCH_KV, journal.namespace, Date.now);
    const id = crypto.randomUUID();
    await SCRATCH_KV.put(`client:${id}`, '{"clientId":"c"}');
    await SCRATCH_KV.put(`grant:user:${id}`, '{"id":"g"}');
    await SCRATCH_KV.put(`token:user:${id}:aa`, '{"id":"t"}');
    expect(await kv.get(`client:${id}`, { type: 'json' })).toEqual({ clientId: 'c' });
    expect(await kv.get(`grant:user:${id}`, 'json')).toEqual({ id: 'g' });
    expect(await kv.get(`token:user:${id}:aa`, { type: 'json' })).toEqual({ id: 't' });
    expect(await kv.get(`token:user:${id}:bb`, { type: 'json' })).toBeNull();
    expect(await kv.get(`client:missing-${id}`, { type: 'json' })).toBeNull();
    expect(errors).toHaveBeenCalled();
    expect(errors.mock.calls.map((call) => call.join(' ')).join('\n')).toMatch(/journal/i);
  });

  it('keeps registration, code exchange, refresh and MCP calls working while the journal fails', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const journal = switchableJournal();
    const variant = { ...env, KV_JOURNAL: journal.namespace } as Env;
    const registered = await workerWithEnv(variant, '/register', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ client_name: 'During a journal outage', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'client_secret_basic' }),
    });
    expect(registered.status).toBe(201);
    const client = await registered.json<RegisteredClient>();
    const { verifier, challenge } = await pkcePair();
    const code = await authorizationCode(client, ALICE, ['profile'], challenge);
    const exchanged = await tokenRequestWith(variant, client, { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier });
    expect(exchanged.status).toBe(200);
    const tokens = await exchanged.json<TokenResponse>();
    expect((await new McpWire(tokens.access_token, '/mcp', { env: variant }).initialize()).status).toBe(200);
    const refreshed = await tokenRequestWith(variant, client, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    expect(refreshed.status).toBe(200);
  });

  it('bounds what made-up tokens cost: past the budget, a miss is answered from KV alone, and OAuth reads keep theirs', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const time = clock();
    const journal = recordingJournal();
    const budgets = { fallbackBudget: new JournalReadBudget({ capacity: 100, perSecond: 50 }, time.now), checkBudget: new JournalReadBudget({ capacity: 100, perSecond: 50 }, time.now) };
    const locations = SimulatedKvLocations.forLoopback('http://localhost', 2, DELAY_MS, time.now);
    const at = (location: number) => layer(locations.at(location, SCRATCH_KV), journal.namespace, time.now, budgets);
    const grantKey = `grant:alice:${randomId(16)}`;
    await at(0).put(grantKey, '{"authCodeId":"fresh"}', { expirationTtl: 600 }); // an authorization at location 0
    const before = journal.lookups();
    for (let i = 0; i < 300; i++) expect(await at(1).get(await tokenKeyFor(`victim:${randomId(16)}:${randomId(32)}`), { type: 'json' })).toBeNull();
    expect(journal.lookups() - before).toBeLessThanOrEqual(100);
    // The code exchange at location 1, during the flood, still finds the grant written at location 0.
    expect(await at(1).get(grantKey, { type: 'json' })).toEqual({ authCodeId: 'fresh' });
    // A second later the fallback budget has refilled: a token minted at another location is found again.
    time.advance(1_000);
    const key = await tokenKeyFor(`alice:${randomId(16)}:${randomId(32)}`);
    await at(0).put(key, '{"id":"fresh"}', { expirationTtl: 3600 });
    expect(await at(1).get(key, { type: 'json' })).toEqual({ id: 'fresh' });
  });

  it('answers a made-up key that keeps coming back from memory, not from the journal each time', async () => {
    const time = clock();
    const journal = recordingJournal();
    const kv = layer(SCRATCH_KV, journal.namespace, time.now, { recentMisses: new RecentMisses({ ttlMs: 30_000, maxEntries: 100 }, time.now) });
    const junkClient = `client:${randomId(16)}`;
    for (let i = 0; i < 50; i++) expect(await kv.get(junkClient, { type: 'json' })).toBeNull();
    expect(journal.lookups()).toBeLessThanOrEqual(1);
  });
});

describe('KV and journal writes: ordered by version, failures detected and repaired', () => {
  it('orders a grant’s rewrites by the order they were journaled, not by the writers’ clocks', async () => {
    const journal = recordingJournal();
    const key = `grant:user:${crypto.randomUUID()}`;
    const ahead = clock(Date.now() + 10_000); // a writer whose clock runs 10 s fast
    const behind = clock(Date.now());
    await layer(SCRATCH_KV, journal.namespace, ahead.now).put(key, '{"refreshTokenId":"first"}');
    await layer(SCRATCH_KV, journal.namespace, behind.now).put(key, '{"refreshTokenId":"second"}');
    expect(await layer(SCRATCH_KV, journal.namespace, behind.now).get(key, { type: 'json' })).toEqual({ refreshTokenId: 'second' });
  });

  it('undoes a journaled write whose KV write failed, so a code exchange answered 429 can be retried', async () => {
    const { kv, faults } = faultyKv(env.OAUTH_KV);
    faults.affects = (key) => key.startsWith('grant:');
    const variant = { ...env, OAUTH_KV: kv } as Env;
    const registered = await workerWithEnv(variant, '/register', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ client_name: 'KV rate limited', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'client_secret_basic' }),
    });
    const client = await registered.json<RegisteredClient>();
    const { verifier, challenge } = await pkcePair();
    const code = await authorizationCode(client, ALICE, ['profile'], challenge);
    faults.failPuts = 1; // KV refuses the grant rewrite once: about one write per second per key
    const params = { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier };
    const limited = await tokenRequestWith(variant, client, params);
    expect(limited.status).toBe(429);
    const retried = await tokenRequestWith(variant, client, params);
    expect(retried.status).toBe(200);
    expect((await retried.json<TokenResponse>()).access_token).toBeTruthy();
  });

  it('repairs KV before the journal forgets: a grant rewrite that reached KV out of order does not flip back after retention', async () => {
    // Written "five minutes ago", so the journal's retention runs out two seconds from now.
    const retentionEnds = Date.now() + 2_000;
    const time = clock(retentionEnds - JOURNAL_RETENTION_MS);
    const journal = recordingJournal();
    const key = `grant:user:${crypto.randomUUID()}`;
    const { kv: late, faults } = faultyKv(SCRATCH_KV);
    let release = () => {};
    faults.holdPuts = new Promise<void>((resolve) => (release = resolve));
    const held = new Promise<void>((resolve) => (faults.onHeld = resolve));
    // Location A's rewrite reaches KV late; location B's, journaled after it, reaches KV first.
    const first = layer(late, journal.namespace, time.now).put(key, '{"refreshTokenId":"A"}');
    await held;
    time.advance(1_000);
    await layer(SCRATCH_KV, journal.namespace, time.now).put(key, '{"refreshTokenId":"B"}');
    release();
    await first;
    expect(await SCRATCH_KV.get(key, 'json')).toEqual({ refreshTokenId: 'A' }); // KV disagrees with the journal
    await scheduler.wait(Math.max(0, retentionEnds + 1_000 - Date.now()));
    const kvHoldsB = async () => ((await SCRATCH_KV.get<{ refreshTokenId: string }>(key, 'json'))?.refreshTokenId ?? '') === 'B';
    await afterJournalAlarms(journal.shards, kvHoldsB);
    expect(await SCRATCH_KV.get(key, 'json')).toEqual({ refreshTokenId: 'B' });
    expect(await layer(SCRATCH_KV, journal.namespace, Date.now).get(key, { type: 'json' })).toEqual({ refreshTokenId: 'B' });
  });

  it('finishes a delete whose KV write failed: the revocation holds at once, and KV is repaired', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const time = clock(Date.now() - JOURNAL_RETENTION_MS - 60_000);
    const journal = recordingJournal();
    const locations = SimulatedKvLocations.forLoopback('http://localhost', 2, DELAY_MS, time.now);
    const { kv: refusing, faults } = faultyKv(locations.at(0, SCRATCH_KV));
    const clientKey = `client:${randomId(16)}`;
    const tokenKey = await tokenKeyFor(`alice:${randomId(16)}:${randomId(32)}`);
    const here = layer(refusing, journal.namespace, time.now);
    await here.put(clientKey, '{"clientId":"revoked"}');
    await here.put(tokenKey, '{"id":"revoked"}', { expirationTtl: 3600 });
    time.advance(DELAY_MS); // both are everywhere now
    faults.failDeletes = 2;
    await here.delete(clientKey);
    await here.delete(tokenKey);
    expect(await layer(locations.at(1, SCRATCH_KV), journal.namespace, time.now).get(clientKey, { type: 'json' })).toBeNull();
    await afterJournalAlarms(journal.shards, async () => (await SCRATCH_KV.get(tokenKey)) === null && (await SCRATCH_KV.get(clientKey)) === null);
    expect(await SCRATCH_KV.get(tokenKey)).toBeNull();
    expect(await SCRATCH_KV.get(clientKey)).toBeNull();
  });

  it('keeps a delete whose journal write failed from coming back out of the journal', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const time = clock();
    const journal = switchableJournal();
    journal.state.failing = false;
    const locations = SimulatedKvLocations.forLoopback('http://localhost', 2, DELAY_MS, time.now);
    const key = await tokenKeyFor(`alice:${randomId(16)}:${randomId(32)}`);
    await layer(locations.at(0, SCRATCH_KV), journal.namespace, time.now).put(key, '{"id":"t"}', { expirationTtl: 3600 });
    journal.state.failing = true;
    await layer(locations.at(0, SCRATCH_KV), journal.namespace, time.now).delete(key);
    journal.state.failing = false;
    time.advance(DELAY_MS); // KV's delete has reached every location; the journal still holds the token
    expect(await layer(locations.at(1, SCRATCH_KV), journal.namespace, time.now).get(key, { type: 'json' })).toBeNull();
  });
});

describe('deletes win over a stale copy in KV', () => {
  function twoLocations() {
    const time = clock();
    const locations = SimulatedKvLocations.forLoopback('http://localhost', 2, DELAY_MS, time.now);
    const journal = recordingJournal();
    const at = (location: number) => layer(locations.at(location, SCRATCH_KV), journal.namespace, time.now);
    return { time, at, bare: (location: number) => locations.at(location, SCRATCH_KV) };
  }

  it('refuses a deleted client, and forgets its admin trust mark, at a location whose KV still holds them', async () => {
    const { time, at, bare } = twoLocations();
    const id = randomId(16);
    await at(0).put(`client:${id}`, '{"clientId":"deleted-by-admin"}');
    await at(0).put(`trusted-client:${id}`, '1');
    time.advance(DELAY_MS);
    expect(await at(1).get(`client:${id}`, { type: 'json' })).toEqual({ clientId: 'deleted-by-admin' });
    expect(await at(1).get(`trusted-client:${id}`)).toBe('1');
    await at(0).delete(`client:${id}`);
    await at(0).delete(`trusted-client:${id}`);
    expect(await bare(1).get(`client:${id}`, 'json')).toEqual({ clientId: 'deleted-by-admin' }); // KV there is stale
    expect(await at(1).get(`client:${id}`, { type: 'json' })).toBeNull();
    expect(await at(1).get(`trusted-client:${id}`)).toBeNull();
  });

  it('refuses a consumed consent or sign-in transaction at a location whose KV still holds it (single use)', async () => {
    const { time, at, bare } = twoLocations();
    const key = `transaction:${randomId(43)}`;
    await at(0).put(key, 'iv.sealed-record', { expirationTtl: 600 });
    time.advance(DELAY_MS);
    await at(0).delete(key); // consumed at location 0
    expect(await bare(1).get(key)).toBe('iv.sealed-record');
    expect(await at(1).get(key)).toBeNull();
  });

  it('revokes a grant’s access token minted at another location a moment before (KV’s listing does not show it there yet)', async () => {
    const { time, at } = twoLocations();
    const grantId = randomId(16);
    const minted = await tokenKeyFor(`alice:${grantId}:${randomId(32)}`);
    await at(0).put(`grant:alice:${grantId}`, JSON.stringify({ id: grantId, clientId: 'c', userId: 'alice' }));
    await at(0).put(minted, '{"id":"minted-by-a-refresh"}', { expirationTtl: 3600 });
    expect((await at(1).list({ prefix: `token:alice:${grantId}:` })).keys.map((key) => key.name)).toContain(minted);
    // The provider's own revocation, at location 1: it lists the grant's tokens and deletes each.
    const oauth = getOAuthApi(providerOptions(loadConfig(env), 'http://localhost:8787'), { ...env, OAUTH_KV: at(1).asBinding() } as Env);
    await oauth.revokeGrant(grantId, 'alice');
    time.advance(DELAY_MS); // the deletes have reached location 0
    expect(await at(0).get(minted, { type: 'json' })).toBeNull();
  });

  it('asks KV to hold a cached access token at most 30 s (its minimum), which bounds how long a revoked one still works elsewhere', async () => {
    const { kv, faults } = faultyKv(SCRATCH_KV);
    const key = await tokenKeyFor(`alice:${randomId(16)}:${randomId(32)}`);
    await SCRATCH_KV.put(key, '{"id":"t"}');
    await layer(kv, recordingJournal().namespace, Date.now).get(key, { type: 'json' });
    expect(faults.gets).toContainEqual(expect.objectContaining({ cacheTtl: 30 }));
  });
});

describe('the KV simulator, a test double', () => {
  it('keeps its memory bounded: history that has reached every location is forgotten', async () => {
    const time = clock();
    const locations = SimulatedKvLocations.forLoopback('http://localhost', 3, DELAY_MS, time.now);
    const view = locations.at(0, SCRATCH_KV);
    const prefix = `sim-bound:${crypto.randomUUID()}`;
    for (let i = 0; i < 600; i++) await view.put(`${prefix}:${i}`, 'v');
    for (let i = 0; i < 600; i++) await locations.at(1, SCRATCH_KV).get(`${prefix}:missing:${i}`);
    expect(locations.trackedEntries()).toBeGreaterThanOrEqual(600);
    time.advance(DELAY_MS + 1);
    await view.put(`${prefix}:last`, 'v');
    expect(locations.trackedEntries()).toBeLessThanOrEqual(2);
    expect(await locations.at(2, SCRATCH_KV).get(`${prefix}:7`)).toBe('v'); // forgotten history is still served, from KV itself
  });

  it('cannot be built for an origin that is not loopback', () => {
    const config = loadConfig(env);
    const simulated = { ...config, kv: { ...config.kv, simulatedLocations: 3 } };
    expect(() => providerEnv(env, simulated, 'https://mcp.example.com')).toThrow(/loopback/);
    expect(() => providerEnv(env, { ...simulated, publicUrl: 'https://mcp.example.com' })).toThrow(/loopback/);
    expect(() => SimulatedKvLocations.forLoopback('https://mcp.example.com', 3, DELAY_MS)).toThrow(/loopback/);
    expect(providerEnv(env, simulated, 'http://localhost:8787').OAUTH_KV).not.toBe(env.OAUTH_KV);
  });
});

function tokenRequestWith(variant: Env, client: RegisteredClient, params: Record<string, string>): Promise<Response> {
  return workerWithEnv(variant, '/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basicAuth(client) },
    body: new URLSearchParams(params).toString(),
  });
}
