// The dev IdP's settings that `npm start` (scripts/system.ts) and `npm run idp` (main.ts) take from
// the environment. Dev IdP settings, not the Worker's: they never reach wrangler.

/** The environment variable naming the lifetime of the dev IdP's access tokens, in seconds. */
export const IDP_ACCESS_TOKEN_TTL_ENV = 'IDP_ACCESS_TOKEN_TTL_SECONDS';

/**
 * The shortest access-token lifetime the environment may set. A token must outlive its own round
 * trip: sign-in to the Worker's first use of it can take seconds (wrangler dev, a slow browser), and
 * below this a developer would watch every token die before it is used. Tests that want expiry at
 * once pass `accessTokenTtlSeconds` to startDevIdp directly, or expire tokens through the handle.
 */
export const MIN_ENV_ACCESS_TOKEN_TTL_SECONDS = 10;

/**
 * `IDP_ACCESS_TOKEN_TTL_SECONDS` from `env`: undefined when unset or empty (the IdP's default, 3600),
 * otherwise a whole number of seconds, at least 10. Throws a message naming the variable and the fix.
 */
export function accessTokenTtlFromEnv(env: Readonly<Record<string, string | undefined>>): number | undefined {
  const raw = env[IDP_ACCESS_TOKEN_TTL_ENV];
  if (raw === undefined || raw.trim() === '') return undefined;
  const seconds = Number(raw);
  if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(seconds) || seconds < MIN_ENV_ACCESS_TOKEN_TTL_SECONDS) {
    throw new Error(
      `${IDP_ACCESS_TOKEN_TTL_ENV} must be a whole number of seconds, at least ${MIN_ENV_ACCESS_TOKEN_TTL_SECONDS} (the dev IdP's access-token lifetime), got "${raw}"; unset it for the default, 3600`,
    );
  }
  return seconds;
}
