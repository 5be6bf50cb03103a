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

const decoder = new TextDecoder();
const sealingKeys = new Map<string, Promise<CryptoKey>>();

/** An AES-256-GCM key derived from `secret` for one `purpose` (HKDF-SHA-256, RFC 5869). */
function sealingKey(secret: string, purpose: string): Promise<CryptoKey> {
  const cacheKey = `${purpose}\n${secret}`;
  let key = sealingKeys.get(cacheKey);
  if (!key) {
    key = crypto.subtle
      .importKey('raw', encoder.encode(secret), 'HKDF', false, ['deriveKey'])
      .then((material) =>
        crypto.subtle.deriveKey({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(), info: encoder.encode(purpose) }, material, { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']),
      );
    sealingKeys.set(cacheKey, key);
  }
  return key;
}

/**
 * `value` as JSON, encrypted and authenticated under a key for `purpose` (AES-GCM, random 96-bit IV):
 * for state a browser carries (a cookie) that it must neither read nor alter. base64url.
 */
export async function seal(secret: string, purpose: string, value: unknown): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: encoder.encode(purpose) }, await sealingKey(secret, purpose), encoder.encode(JSON.stringify(value)));
  const out = new Uint8Array(iv.byteLength + sealed.byteLength);
  out.set(iv);
  out.set(new Uint8Array(sealed), iv.byteLength);
  return base64url(out);
}

/** What {@link seal} sealed for `purpose`, or undefined for anything else (altered, another purpose, not ours). */
export async function unseal(secret: string, purpose: string, sealed: string): Promise<unknown> {
  if (!/^[A-Za-z0-9_-]{24,8192}$/.test(sealed)) return undefined;
  try {
    // Forgiving base64 (WHATWG) takes the missing padding; a length no encoding produces throws, below.
    const bytes = Uint8Array.from(atob(sealed.replaceAll('-', '+').replaceAll('_', '/')), (char) => char.charCodeAt(0));
    const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: bytes.subarray(0, 12), additionalData: encoder.encode(purpose) }, await sealingKey(secret, purpose), bytes.subarray(12));
    return JSON.parse(decoder.decode(plain)) as unknown;
  } catch {
    return undefined;
  }
}
