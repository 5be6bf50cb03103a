// Per-instance in-memory storage for oidc-provider. Using our own (instead of the
// library's built-in default) keeps each startDevIdp() isolated and avoids the
// "development-only in-memory adapter" warning printed on every start.
import type { Adapter, AdapterFactory, AdapterPayload } from 'oidc-provider';

interface Entry {
  readonly model: string;
  payload: AdapterPayload;
  readonly expiresAt: number; // epoch ms; Infinity when the model has no TTL
}

// Models whose records are bound to a grant and die with it (the Grant itself and
// Interactions, which also carry a grantId, are not revoked this way).
const GRANT_BOUND_MODELS = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

/**
 * The records of every model (one map), the factory oidc-provider takes, and what the dev IdP's
 * control endpoints need beyond oidc-provider's own API, which has no "every record of this user".
 */
export interface MemoryStore {
  readonly factory: AdapterFactory;
  /**
   * Deletes the records of `models` whose `accountId` is `accountId`; returns how many went. Deleted
   * tokens are then unknown to oidc-provider: refresh gets `invalid_grant`, APIs `invalid_token`.
   */
  destroyAccountRecords(accountId: string, models: ReadonlySet<string>): number;
  /**
   * Every access and refresh token stored since start, as its holder presents it (an opaque token is
   * its record's id): for tests that look for leaked upstream tokens in what the Worker logs or returns.
   */
  issuedTokens(): string[];
}

/** The models whose record id is a bearer credential. */
const TOKEN_MODELS = new Set(['AccessToken', 'RefreshToken']);

/** What a user revoking the app at the IdP takes away: the grants and everything issued from them (not the IdP session). */
export const ACCOUNT_GRANT_MODELS: ReadonlySet<string> = new Set(['Grant', ...GRANT_BOUND_MODELS]);

export function createMemoryStore(): MemoryStore {
  const entries = new Map<string, Entry>();
  const issued = new Set<string>();

  const live = (key: string): Entry | undefined => {
    const entry = entries.get(key);
    if (entry !== undefined && entry.expiresAt <= Date.now()) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  };

  // Linear scans are fine at dev scale and avoid keeping secondary indexes in sync.
  const findWhere = (model: string, match: (payload: AdapterPayload) => boolean): AdapterPayload | undefined => {
    for (const [key, entry] of entries) {
      if (entry.model === model && live(key) !== undefined && match(entry.payload)) {
        return entry.payload;
      }
    }
    return undefined;
  };

  const sweep = (): void => {
    const now = Date.now();
    for (const [key, entry] of entries) {
      if (entry.expiresAt <= now) entries.delete(key);
    }
  };

  const factory = (model: string): Adapter => {
    const keyFor = (id: string): string => `${model}:${id}`;
    return {
      async upsert(id, payload, expiresIn) {
        sweep();
        if (TOKEN_MODELS.has(model)) issued.add(id);
        const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
        entries.set(keyFor(id), { model, payload: structuredClone(payload), expiresAt });
      },
      async find(id) {
        return live(keyFor(id))?.payload;
      },
      async findByUid(uid) {
        return findWhere(model, (payload) => payload.uid === uid);
      },
      async findByUserCode(userCode) {
        return findWhere(model, (payload) => payload.userCode === userCode);
      },
      async consume(id) {
        const entry = live(keyFor(id));
        if (entry !== undefined) {
          entry.payload = { ...entry.payload, consumed: Math.floor(Date.now() / 1000) };
        }
      },
      async destroy(id) {
        entries.delete(keyFor(id));
      },
      // Called e.g. on authorization code replay: every token issued from the grant goes.
      async revokeByGrantId(grantId) {
        for (const [key, entry] of entries) {
          if (GRANT_BOUND_MODELS.has(entry.model) && entry.payload.grantId === grantId) entries.delete(key);
        }
      },
    };
  };

  return {
    factory,
    issuedTokens: () => [...issued],
    destroyAccountRecords(accountId, models) {
      let destroyed = 0;
      for (const [key, entry] of entries) {
        if (models.has(entry.model) && entry.payload.accountId === accountId) {
          entries.delete(key);
          destroyed += 1;
        }
      }
      return destroyed;
    },
  };
}
