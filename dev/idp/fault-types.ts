// The faults the dev IdP can be told to show (./faults.ts), without Node types: the workerd tests
// name them too.

export const FAULT_MODES = ['hang', 'html', 'http-500', 'oauth-500', 'invalid-json'] as const;

/**
 * - `hang`: accepted and never answered, until the fault is cleared (then 503) or the IdP closes;
 * - `html`: 200 with an HTML page (a portal or a proxy's page where JSON belongs);
 * - `http-500`: 500 with an HTML error page;
 * - `oauth-500`: 500 with an OAuth error body, `{"error":"server_error"}`, as oidc-provider sends on a crash;
 * - `invalid-json`: 200, `application/json`, cut off in the middle.
 */
export type FaultMode = (typeof FAULT_MODES)[number];

export interface Fault {
  /** The request path it applies to, exactly: `/.well-known/openid-configuration`, `/token`, `/jwks`, `/me`, `/auth`, `/api/me`. */
  path: string;
  mode: FaultMode;
  /** How many requests it applies to; default all of them until cleared. */
  times?: number;
}

export function isFault(value: unknown): value is Fault {
  if (typeof value !== 'object' || value === null) return false;
  const { path, mode, times } = value as Record<string, unknown>;
  return (
    typeof path === 'string' &&
    path.startsWith('/') &&
    FAULT_MODES.includes(mode as FaultMode) &&
    (times === undefined || (typeof times === 'number' && Number.isInteger(times) && times > 0))
  );
}
