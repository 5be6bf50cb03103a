/**
 * The few cryptographic primitives this Worker uses itself (the OAuth provider has its own), in one
 * reviewable place. Web Crypto only.
 */

const encoder = new TextEncoder();
const keys = new Map<string, Promise<CryptoKey>>();

/**
 * HMAC-SHA-256 of `message` under a key derived from `secret` for one `purpose`, so one configured
 * secret serves several uses without one use's MACs being valid for another. base64url, optionally
 * truncated to `bytes`.
 */
export async function hmac(secret: string, purpose: string, message: string, bytes = 32): Promise<string> {
  const cacheKey = `${purpose}\n${secret}`;
  let key = keys.get(cacheKey);
  if (!key) {
    key = crypto.subtle.importKey('raw', encoder.encode(cacheKey), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    keys.set(cacheKey, key);
  }
  const signature = await crypto.subtle.sign('HMAC', await key, encoder.encode(message));
  return base64url(new Uint8Array(signature, 0, bytes));
}

/** Compares two strings in time independent of where they differ (not of their lengths). */
export function equalInConstantTime(a: string, b: string): boolean {
  const left = encoder.encode(a);
  const right = encoder.encode(b);
  return left.byteLength === right.byteLength && crypto.subtle.timingSafeEqual(left, right);
}

/** Compares secrets of any length without revealing either length: compares their SHA-256 digests. */
export async function sameSecret(a: string, b: string): Promise<boolean> {
  const [left, right] = await Promise.all([crypto.subtle.digest('SHA-256', encoder.encode(a)), crypto.subtle.digest('SHA-256', encoder.encode(b))]);
  return crypto.subtle.timingSafeEqual(left, right);
}

export function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}
