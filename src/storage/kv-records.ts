/**
 * What the consistency layer adds to the records it writes to KV, shared by the layer
 * (./consistent-kv.ts) and the journal that repairs KV (./kv-journal.ts):
 * - every value carries its version in its KV metadata, so a reader can tell which of KV's copy and
 *   the journal's is newer without comparing clocks;
 * - a delete whose journal write failed is written to KV as a versioned tombstone instead of a plain
 *   delete, so the journal's older copy of the record cannot come back where KV misses.
 * The provider's own metadata (grants carry `clientId`, `resource`, `redirectUri` for its listings)
 * is kept alongside and handed back unchanged by the layer's reads and listings.
 */

/** Workers KV refuses a write whose metadata serializes to more than 1024 bytes. */
export const KV_METADATA_MAX_BYTES = 1024;

/**
 * The stored value of a KV tombstone. JSON `null`, so a reader that bypasses the layer (after
 * `CONSISTENCY_LAYER=off`) reads "not found" for every record the provider reads as JSON; the
 * provider never stores this text itself (its records are JSON objects or sealed transactions).
 */
export const TOMBSTONE_VALUE = 'null';

const VERSION_FIELD = '__kvVersion';
const DELETED_FIELD = '__kvDeleted';
const WRAPPED_FIELD = '__kvMetadata';

/** What the layer's metadata says about a KV record. */
export interface KvStamp {
  /** The journal's version of the write, or 0 for a record written without the layer. */
  version: number;
  /** A tombstone: the record was deleted. */
  deleted: boolean;
  /** The writer's own metadata, or null when it gave none. */
  metadata: unknown;
}

/** The KV metadata for a value written at `version`, carrying the writer's own metadata when it fits. */
export function versionedMetadata(metadata: unknown, version: number): Record<string, unknown> {
  const own = { [VERSION_FIELD]: version };
  if (metadata === undefined || metadata === null) return own;
  const merged = isPlainObject(metadata) ? { ...metadata, ...own } : { [WRAPPED_FIELD]: metadata, ...own };
  // Too large with the version added: the version wins. For a grant, the provider then reads the
  // record itself when it lists grants, as it does for any grant written without metadata.
  return fitsInKvMetadata(merged) ? merged : own;
}

export function tombstoneMetadata(version: number): Record<string, unknown> {
  return { [VERSION_FIELD]: version, [DELETED_FIELD]: true };
}

export function readStamp(metadata: unknown): KvStamp {
  if (!isPlainObject(metadata) || typeof metadata[VERSION_FIELD] !== 'number') return { version: 0, deleted: false, metadata: metadata ?? null };
  const { [VERSION_FIELD]: version, [DELETED_FIELD]: deleted, [WRAPPED_FIELD]: wrapped, ...rest } = metadata;
  const original = WRAPPED_FIELD in metadata ? wrapped : Object.keys(rest).length > 0 ? rest : null;
  return { version: version as number, deleted: deleted === true, metadata: original };
}

function fitsInKvMetadata(metadata: unknown): boolean {
  return new TextEncoder().encode(JSON.stringify(metadata)).byteLength <= KV_METADATA_MAX_BYTES;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
