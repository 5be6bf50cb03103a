// What the dev IdP counts for tests that must see how the Worker used it: how often it went to the
// token endpoint (per grant type, and refreshes per user) and how often it called the protected API.
// Read through the DevIdp handle or GET /__dev-idp/stats; since start or the last reset.

/** The wire shape of GET /__dev-idp/stats, and what `DevIdp.stats()` returns. */
export interface DevIdpStats {
  /**
   * Token endpoint requests oidc-provider answered, granted or refused, by `grant_type`. Requests a
   * fault answered (faults.ts) never reached it and are not counted; other grant types are not either.
   */
  tokenRequests: { authorization_code: number; refresh_token: number };
  /**
   * `refresh_token` requests per subject: those whose refresh token named a user, granted or refused
   * (a rotated-away token presented again counts; an unknown or revoked one names nobody).
   */
  refreshBySub: Record<string, number>;
  /** Requests to the protected API (`/api/…`) it answered, whatever the status. */
  apiCalls: number;
}

const COUNTED_GRANT_TYPES = new Set(['authorization_code', 'refresh_token'] as const);
type CountedGrantType = 'authorization_code' | 'refresh_token';

function isCounted(value: unknown): value is CountedGrantType {
  return COUNTED_GRANT_TYPES.has(value as CountedGrantType);
}

export class Stats {
  #stats: DevIdpStats = Stats.#empty();

  static #empty(): DevIdpStats {
    return { tokenRequests: { authorization_code: 0, refresh_token: 0 }, refreshBySub: {}, apiCalls: 0 };
  }

  /** One token endpoint request, answered; `sub` is the refresh token's subject, when it named one. */
  tokenRequest(grantType: unknown, sub: string | undefined): void {
    if (!isCounted(grantType)) return;
    this.#stats.tokenRequests[grantType] += 1;
    if (grantType === 'refresh_token' && sub !== undefined) this.#stats.refreshBySub[sub] = (this.#stats.refreshBySub[sub] ?? 0) + 1;
  }

  apiCall(): void {
    this.#stats.apiCalls += 1;
  }

  /** A copy: the caller cannot change the counts. */
  snapshot(): DevIdpStats {
    return structuredClone(this.#stats);
  }

  reset(): void {
    this.#stats = Stats.#empty();
  }
}
