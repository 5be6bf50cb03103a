/**
 * Rate limits on what anyone can call without a token, through the Workers Rate Limiting bindings
 * declared in wrangler.jsonc (`ratelimits`; each binding's `simple.limit` per `period` seconds is the
 * configuration, see the README). Over a limit, the answer is 429 with `Retry-After` and the error in
 * the shape the endpoint uses: OAuth JSON for /register and /token and the MCP endpoints, a page for
 * /authorize.
 *
 * | binding                    | counts                                          | key              |
 * |----------------------------|-------------------------------------------------|------------------|
 * | REGISTER_RATE_LIMIT        | POST /register (every client is kept 180 days)   | client address   |
 * | AUTHORIZE_RATE_LIMIT       | /authorize (a person sends a handful)            | client address   |
 * | TOKEN_ADDRESS_RATE_LIMIT   | POST /token                                      | client address   |
 * | TOKEN_CLIENT_RATE_LIMIT    | POST /token                                      | client id        |
 * | BEARER_FAILURE_RATE_LIMIT  | MCP requests whose bearer token was refused      | client address   |
 *
 * Refused bearer tokens are counted only when they are refused, and over the limit only refused ones
 * get 429 instead of 401: a gateway whose many users share its addresses keeps working for every user
 * with a valid token, however many expired ones it presents.
 *
 * The address is Cloudflare's `CF-Connecting-IP`; an IPv6 address counts by its /64, which one
 * subscriber usually holds whole. The limiter is approximate and per location (Cloudflare's
 * documentation); it bounds floods, not single requests. A limiter that fails lets the request
 * through and logs it: protection that errs must not become the outage.
 */

import { audit } from '../audit/recorder';
import { loadConfig } from '../config';

/** What one binding enforces: requests per period for one key. */
interface Limiter {
  limit(options: { key: string }): Promise<{ success: boolean }>;
}

export type LimitName = 'register' | 'authorize' | 'tokenAddress' | 'tokenClient' | 'bearerFailure';

const BINDINGS: Record<LimitName, string> = {
  register: 'REGISTER_RATE_LIMIT',
  authorize: 'AUTHORIZE_RATE_LIMIT',
  tokenAddress: 'TOKEN_ADDRESS_RATE_LIMIT',
  tokenClient: 'TOKEN_CLIENT_RATE_LIMIT',
  bearerFailure: 'BEARER_FAILURE_RATE_LIMIT',
};

export const RATE_LIMIT_BINDINGS: readonly string[] = Object.values(BINDINGS);

/**
 * The longest a client waits before trying again: the bindings' period (10 or 60 s). The binding does
 * not tell when its window ends, so the full period is the honest upper bound.
 */
export const RETRY_AFTER_SECONDS = 60;

/** The client's address as a rate-limit key: IPv6 by its /64. */
export function clientAddress(request: Request): string {
  const address = request.headers.get('CF-Connecting-IP') ?? 'unknown';
  if (!address.includes(':')) return address;
  const groups = expandIpv6(address);
  return groups ? `${groups.slice(0, 4).join(':')}::/64` : address;
}

function expandIpv6(address: string): string[] | undefined {
  const [head = '', tail] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  if (tail === undefined && left.length !== 8) return undefined;
  const missing = 8 - left.length - right.length;
  if (missing < 0) return undefined;
  return [...left, ...Array<string>(missing).fill('0'), ...right].map((group) => group.toLowerCase().padStart(4, '0'));
}

/** Whether `key` is still within the named limit. Counts the request. */
export async function withinLimit(env: Env, name: LimitName, key: string): Promise<boolean> {
  // RATE_LIMITS=off, which the setup check allows only on a loopback origin.
  if (!loadConfig(env).rateLimits) return true;
  const limiter = Reflect.get(env, BINDINGS[name]) as Limiter | undefined;
  if (!limiter) return true; // no binding: the setup check names it; no request is refused for it
  try {
    const { success } = await limiter.limit({ key: `${name}:${key}` });
    if (!success) audit({ type: 'rate_limit.hit', reason: name, outcome: 'denied', ...(name === 'tokenClient' && { clientId: key }) });
    return success;
  } catch (error) {
    console.error(JSON.stringify({ event: 'rate_limiter_failed', limit: name, message: error instanceof Error ? error.message.slice(0, 200) : String(error) }));
    return true;
  }
}

/** 429 in the OAuth error shape (RFC 6749 has no code for it; `temporarily_unavailable` is the nearest). */
export function rateLimitedJson(name: LimitName): Response {
  console.warn(JSON.stringify({ event: 'rate_limited', limit: name }));
  return Response.json(
    { error: 'temporarily_unavailable', error_description: `Too many requests from this client. Try again in ${RETRY_AFTER_SECONDS} seconds.` },
    { status: 429, headers: { 'Retry-After': String(RETRY_AFTER_SECONDS), 'Cache-Control': 'no-store' } },
  );
}
