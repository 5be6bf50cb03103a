/**
 * What the admin console reads: clients, grants grouped by user, and per-client counts, all from
 * OAUTH_KV through the provider's helpers or its documented key layout (`client:<id>`,
 * `grant:<user>:<grant>`; the library's storage-schema.md). Read-only.
 *
 * The provider has no "list users" and no "grants of a client": both come from walking the
 * `grant:` keys and reading each record (the client id is in the value, not the key). That is
 * bounded per page view: {@link GRANT_RECORDS_PER_VIEW} records, then a cursor to go on. The bound
 * keeps a view well inside the Workers limit of 1,000 KV operations per invocation, and inside the
 * consistency layer's per-isolate budget of journal reads for grants and clients (400 at once,
 * 200/s: ../storage/consistent-kv.ts), which code exchanges and refreshes share.
 */
import type { ClientInfo, OAuthHelpers } from '@cloudflare/workers-oauth-provider';
import { isTrusted } from '../auth/trusted-clients';
import { grantRow, hostOf, isMetadataDocumentId, readGrant, readJsonRecord, type GrantRow } from '../storage/grant-records';

export { readGrant, type GrantRow } from '../storage/grant-records';

/** Grant records read per page view (each one KV read, and a journal read). */
export const GRANT_RECORDS_PER_VIEW = 100;
/** Clients per page of the clients view (each a KV read for the record and one for its trusted mark). */
export const CLIENTS_PER_VIEW = 50;
/** Grants a user view lists, and a "revoke all" revokes per request (each revocation lists and deletes the grant's tokens). */
export const USER_GRANTS_PER_VIEW = 100;

/** How a client came to exist. */
export type Registration =
  /** Pre-registered by an administrator (the admin API or this console): a person entered its redirect URIs. */
  | 'administrator'
  /** Registered itself by POST /register (RFC 7591): anyone can, with any name. */
  | 'self'
  /** A Client ID Metadata Document: its id is an https URL, and nothing is stored for it. */
  | 'metadata-document';

export interface ClientRow {
  clientId: string;
  name: string;
  registration: Registration;
  /** Hosts of the redirect URIs (for a metadata document, unknown: it is never fetched here). */
  redirectHosts: string[];
  tokenEndpointAuthMethod: string | undefined;
  /** ms since the epoch; undefined when unknown. */
  createdAt: number | undefined;
  /** Grants found in this view's scan, and the latest use among them (creation or refresh), ms. */
  grants: number;
  lastUsedAt: number | undefined;
}

/** A walk over `grant:` keys: the records read, and where to go on (undefined: the walk is complete). */
export interface GrantScan {
  grants: GrantRow[];
  cursor: string | undefined;
}

/** Up to {@link GRANT_RECORDS_PER_VIEW} grants from `cursor` on, in key order (so by user). */
export async function scanGrants(kv: KVNamespace, cursor: string | undefined): Promise<GrantScan> {
  const listed = await kv.list({ prefix: 'grant:', limit: GRANT_RECORDS_PER_VIEW, ...(cursor ? { cursor } : {}) });
  const rows = await Promise.all(
    listed.keys.map(async (key) => {
      const parts = key.name.split(':');
      // grant:<user>:<grant>, user ids and grant ids never hold ':' (userIdFor; the provider's ids).
      if (parts.length !== 3) return undefined;
      return grantRow(parts[1] as string, parts[2] as string, await readJsonRecord(kv, key.name));
    }),
  );
  return { grants: rows.filter((row): row is GrantRow => row !== undefined), cursor: listed.list_complete ? undefined : listed.cursor };
}

/** A user's grants (one page of the provider's listing) with their last refresh; `more` when there are others. */
export async function userGrants(oauth: OAuthHelpers, kv: KVNamespace, userId: string): Promise<{ grants: GrantRow[]; more: boolean }> {
  const listed = await oauth.listUserGrants(userId, { limit: USER_GRANTS_PER_VIEW });
  const rows = await Promise.all(listed.items.map((grant) => readGrant(kv, userId, grant.id)));
  const grants = rows.filter((row): row is GrantRow => row !== undefined).sort((a, b) => b.createdAt - a.createdAt);
  return { grants, more: listed.cursor !== undefined };
}

/** A page of clients, with their grant counts and last use as found in `scan`. */
export async function clientRows(oauth: OAuthHelpers, kv: KVNamespace, cursor: string | undefined, scan: GrantScan): Promise<{ clients: ClientRow[]; cursor: string | undefined }> {
  const page = await oauth.listClients({ limit: CLIENTS_PER_VIEW, ...(cursor ? { cursor } : {}) });
  const usage = usageByClient(scan.grants);
  const stored = page.items.filter((client) => typeof client.clientId === 'string');
  const clients = await Promise.all(stored.map(async (client) => storedClientRow(client, await isTrusted(kv, client.clientId), usage.get(client.clientId))));
  // Metadata-document clients have no record to list; the scan is where they show up.
  if (cursor === undefined) {
    for (const [clientId, used] of usage) {
      if (isMetadataDocumentId(clientId)) clients.push(metadataDocumentRow(clientId, used));
    }
  }
  return { clients: clients.sort((a, b) => (b.createdAt ?? 0) - (a.createdAt ?? 0)), cursor: page.cursor };
}

/** A client's row without usage (for a confirmation page). */
export async function clientRow(oauth: OAuthHelpers, kv: KVNamespace, clientId: string): Promise<ClientRow | undefined> {
  if (isMetadataDocumentId(clientId)) return undefined;
  const client = await oauth.lookupClient(clientId);
  return client ? storedClientRow(client, await isTrusted(kv, clientId), undefined) : undefined;
}

/**
 * Display names for the clients of `grants`, without any outbound request: a metadata-document client
 * is named by its domain (fetching its document would make each page view fetch attacker-chosen URLs).
 */
export async function clientNames(oauth: OAuthHelpers, grants: readonly GrantRow[]): Promise<Map<string, string>> {
  const ids = [...new Set(grants.map((grant) => grant.clientId))];
  const names = await Promise.all(
    ids.map(async (clientId): Promise<[string, string]> => {
      if (isMetadataDocumentId(clientId)) return [clientId, hostOf(clientId) ?? clientId];
      const client = await oauth.lookupClient(clientId);
      return [clientId, client ? client.clientName || 'An app with no name' : 'A deleted app'];
    }),
  );
  return new Map(names);
}

/** Grants grouped by user, in the scan's (key) order. */
export function byUser(grants: readonly GrantRow[]): Map<string, GrantRow[]> {
  const users = new Map<string, GrantRow[]>();
  for (const grant of grants) users.set(grant.userId, [...(users.get(grant.userId) ?? []), grant]);
  return users;
}

interface Usage {
  grants: number;
  lastUsedAt: number;
}

function usageByClient(grants: readonly GrantRow[]): Map<string, Usage> {
  const usage = new Map<string, Usage>();
  for (const grant of grants) {
    const used = Math.max(grant.createdAt, grant.lastRefreshAt ?? 0);
    const seen = usage.get(grant.clientId);
    usage.set(grant.clientId, { grants: (seen?.grants ?? 0) + 1, lastUsedAt: Math.max(seen?.lastUsedAt ?? 0, used) });
  }
  return usage;
}

function storedClientRow(client: ClientInfo, trusted: boolean, usage: Usage | undefined): ClientRow {
  return {
    clientId: client.clientId,
    name: typeof client.clientName === 'string' && client.clientName !== '' ? client.clientName : 'An app with no name',
    registration: trusted ? 'administrator' : 'self',
    // Defensive: a record written by hand or by an older version may lack fields the provider requires today.
    redirectHosts: [...new Set((Array.isArray(client.redirectUris) ? client.redirectUris : []).map((uri) => hostOf(String(uri)) ?? String(uri)))],
    tokenEndpointAuthMethod: client.tokenEndpointAuthMethod,
    createdAt: typeof client.registrationDate === 'number' ? client.registrationDate * 1000 : undefined,
    grants: usage?.grants ?? 0,
    lastUsedAt: usage?.lastUsedAt,
  };
}

function metadataDocumentRow(clientId: string, usage: Usage): ClientRow {
  return {
    clientId,
    name: hostOf(clientId) ?? clientId,
    registration: 'metadata-document',
    redirectHosts: [],
    tokenEndpointAuthMethod: undefined,
    createdAt: undefined,
    grants: usage.grants,
    lastUsedAt: usage.lastUsedAt,
  };
}
