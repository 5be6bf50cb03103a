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

import { equalInConstantTime, hex, hmac } from '../crypto';

/** 128 bits from the CSPRNG: session ids must not be guessable (MCP Streamable HTTP, "Session Management"). */
const SESSION_RANDOM_BYTES = 16;
/** The HMAC is truncated to 128 bits, as much as the random part, which keeps ids short. */
const SESSION_MAC_BYTES = 16;
const PURPOSE = 'mcp-session-binding';

/** A fresh session id that only `userId` can use. */
export async function newBoundSessionId(secret: string, userId: string): Promise<string> {
  const random = hex(crypto.getRandomValues(new Uint8Array(SESSION_RANDOM_BYTES)));
  return `${random}.${await hmac(secret, PURPOSE, `${userId}\n${random}`, SESSION_MAC_BYTES)}`;
}

/** Whether `sessionId` was issued to `userId` by {@link newBoundSessionId}. Constant-time comparison. */
export async function isSessionOwnedBy(secret: string, sessionId: string, userId: string): Promise<boolean> {
  const dot = sessionId.indexOf('.');
  if (dot <= 0 || sessionId.length > 128) return false;
  const expected = await hmac(secret, PURPOSE, `${userId}\n${sessionId.slice(0, dot)}`, SESSION_MAC_BYTES);
  return equalInConstantTime(expected, sessionId.slice(dot + 1));
}
