/**
 * Binds every MCP session id to the user who opened it.
 *
 * McpAgent addresses a session's Durable Object by the id alone, so anyone holding a valid token
 * and someone else's `Mcp-Session-Id` would run inside that session, with its owner's identity.
 * Here the id itself carries proof of ownership: `<random>.<HMAC(secret, userId, random)>`. Checking
 * it needs no storage round trip, and a session id shown to another user verifies for nobody else.
 *
 * @see https://modelcontextprotocol.io/specification/2025-11-25/basic/security_best_practices#session-hijacking
 */

/** 128 bits from the CSPRNG: session ids must not be guessable (MCP Streamable HTTP, "Session Management"). */
const SESSION_RANDOM_BYTES = 16;
/** The HMAC is truncated to 128 bits, as much as the random part, which keeps ids short. */
const SESSION_MAC_BYTES = 16;

const keys = new Map<string, Promise<CryptoKey>>();

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey('raw', new TextEncoder().encode(`mcp-session-binding\n${secret}`), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    keys.set(secret, key);
  }
  return key;
}

async function mac(secret: string, userId: string, random: string): Promise<string> {
  const signature = await crypto.subtle.sign('HMAC', await hmacKey(secret), new TextEncoder().encode(`${userId}\n${random}`));
  return base64url(new Uint8Array(signature, 0, SESSION_MAC_BYTES));
}

/** A fresh session id that only `userId` can use. */
export async function newBoundSessionId(secret: string, userId: string): Promise<string> {
  const random = hex(crypto.getRandomValues(new Uint8Array(SESSION_RANDOM_BYTES)));
  return `${random}.${await mac(secret, userId, random)}`;
}

/** Whether `sessionId` was issued to `userId` by {@link newBoundSessionId}. Constant-time comparison. */
export async function isSessionOwnedBy(secret: string, sessionId: string, userId: string): Promise<boolean> {
  const dot = sessionId.indexOf('.');
  if (dot <= 0 || sessionId.length > 128) return false;
  const expected = new TextEncoder().encode(await mac(secret, userId, sessionId.slice(0, dot)));
  const presented = new TextEncoder().encode(sessionId.slice(dot + 1));
  return expected.byteLength === presented.byteLength && crypto.subtle.timingSafeEqual(expected, presented);
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}
