/**
 * Which scopes an authorization asks for and which it may be granted. Pure functions.
 */
import { ALL_SCOPES, isScope, type Scope } from './scopes';

/** Asked for by clients that follow OpenID habits; refresh tokens are issued regardless, so it grants nothing. */
const IGNORED_SCOPES = new Set(['offline_access']);

export type RequestedScopes = { ok: true; scopes: Scope[] } | { ok: false; unknown: string[] };

/**
 * The scopes a client asked for, checked against what this server `offered` (./scopes.ts,
 * offeredScopes). Unknown scopes are an error, never dropped silently. A client that names none is
 * asked for everything offered, which the user can untick.
 */
export function requestedScopes(requested: readonly string[], offered: readonly Scope[]): RequestedScopes {
  const named = requested.filter((scope) => !IGNORED_SCOPES.has(scope));
  const unknown = named.filter((scope) => !isScope(scope) || !offered.includes(scope));
  if (unknown.length > 0) return { ok: false, unknown };
  const scopes = named.length === 0 ? [...offered] : named.filter(isScope);
  return { ok: true, scopes: ALL_SCOPES.filter((scope) => scopes.includes(scope)) };
}

/** The catalogue scopes among what a consent form posted, in catalogue order. */
export function postedScopes(posted: readonly string[]): Scope[] {
  return ALL_SCOPES.filter((scope) => posted.includes(scope));
}
