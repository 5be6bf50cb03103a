/**
 * How a grant names its upstream tokens (./vault.ts): a leaf module, free of Workers-only imports,
 * since grant props (../auth/props.ts) are read everywhere.
 */
import { base64url } from '../crypto';

/** What a grant's props hold to reach its tokens: neither is useful without the other, nor outside this Worker. */
export interface VaultRef {
  /** Names the Durable Object (`idFromName`): random, so not guessable from the user or the grant. */
  id: string;
  /** The AES-256-GCM key, 32 random bytes, base64url. */
  key: string;
}

/** A vault id: 16 random bytes, base64url. */
export const VAULT_ID_PATTERN = /^[A-Za-z0-9_-]{22}$/;

/** A fresh reference for a new grant. */
export function newVaultRef(): VaultRef {
  return { id: base64url(crypto.getRandomValues(new Uint8Array(16))), key: base64url(crypto.getRandomValues(new Uint8Array(32))) };
}

export function isVaultRef(value: unknown): value is VaultRef {
  if (typeof value !== 'object' || value === null) return false;
  const { id, key } = value as Record<string, unknown>;
  return typeof id === 'string' && VAULT_ID_PATTERN.test(id) && typeof key === 'string' && /^[A-Za-z0-9_-]{43}$/.test(key);
}

