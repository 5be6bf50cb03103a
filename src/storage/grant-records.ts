/**
 * Grant records as the OAuth provider writes them in OAUTH_KV (`grant:<user>:<grant>`), read for the
 * pages that list them (/admin, /account) without going through a token: the fields those pages show,
 * and the bookkeeping this server adds (`refreshRotation`, ../auth/refresh-reuse.ts).
 */

/** A grant as the pages show it. */
export interface GrantRow {
  userId: string;
  grantId: string;
  clientId: string;
  scopes: string[];
  /** ms since the epoch. */
  createdAt: number;
  /** The last refresh-token rotation (../auth/refresh-reuse.ts keeps it in the record), ms; none yet: undefined. */
  lastRefreshAt: number | undefined;
  /** ms since the epoch; undefined: no expiry. */
  expiresAt: number | undefined;
  /** The email the IdP gave at sign-in: the grant's metadata, which /callback stores in clear for administration (../auth/app.ts). */
  email: string | undefined;
  /** Where the grant's upstream tokens are (UPSTREAM_TOKENS=on), so revoking it deletes them too (../upstream/vault.ts). */
  vaultId: string | undefined;
}

/** One grant's row, or undefined when it is gone or not shaped as the provider writes it. */
export async function readGrant(kv: KVNamespace, userId: string, grantId: string): Promise<GrantRow | undefined> {
  return grantRow(userId, grantId, await readJsonRecord(kv, `grant:${userId}:${grantId}`));
}

/**
 * A KV record as JSON, or undefined when it is missing or not JSON. The pages that list records
 * (/admin, /account) read whatever is under a prefix; one malformed value must cost its own row,
 * not the page.
 */
export async function readJsonRecord(kv: KVNamespace, key: string): Promise<unknown> {
  const text = await kv.get(key);
  if (text === null) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    console.warn(JSON.stringify({ event: 'kv_record_not_json', prefix: key.split(':')[0] }));
    return undefined;
  }
}

/** The fields the pages show, from a grant record as the provider writes it (seconds) plus `refreshRotation` (ms). */
export function grantRow(userId: string, grantId: string, record: unknown): GrantRow | undefined {
  if (typeof record !== 'object' || record === null) return undefined;
  const grant = record as Record<string, unknown>;
  if (typeof grant.clientId !== 'string' || typeof grant.createdAt !== 'number') return undefined;
  const rotation = grant.refreshRotation as Record<string, unknown> | undefined;
  const rotatedAt = typeof rotation === 'object' && rotation !== null ? rotation.rotatedAt : undefined;
  return {
    userId,
    grantId,
    clientId: grant.clientId,
    scopes: Array.isArray(grant.scope) ? grant.scope.filter((scope): scope is string => typeof scope === 'string') : [],
    createdAt: grant.createdAt * 1000,
    lastRefreshAt: typeof rotatedAt === 'number' ? rotatedAt : undefined,
    expiresAt: typeof grant.expiresAt === 'number' ? grant.expiresAt * 1000 : undefined,
    email: emailOf(grant.metadata),
    vaultId: vaultIdOf(grant.metadata),
  };
}

/** The vault id /callback put in a grant's metadata, if any. */
export function vaultIdOf(metadata: unknown): string | undefined {
  const id = typeof metadata === 'object' && metadata !== null ? (metadata as Record<string, unknown>).vaultId : undefined;
  return typeof id === 'string' ? id : undefined;
}

function emailOf(metadata: unknown): string | undefined {
  const email = typeof metadata === 'object' && metadata !== null ? (metadata as Record<string, unknown>).email : undefined;
  return typeof email === 'string' && email.length <= 320 ? email : undefined;
}

/** A Client ID Metadata Document's client id is its https URL; nothing is stored for such a client. */
export function isMetadataDocumentId(clientId: string): boolean {
  return clientId.startsWith('https://');
}

export function hostOf(url: string): string | undefined {
  try {
    return new URL(url).host || undefined;
  } catch {
    return undefined;
  }
}
