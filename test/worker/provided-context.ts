/** What global-setup.ts (Node) hands the workerd tests through vitest's provide/inject. */
declare module 'vitest' {
  export interface ProvidedContext {
    /** Issuer of the dev OIDC IdP started for this run. */
    devIdpIssuer: string;
  }
}

/**
 * How long the access tokens of the short-lived-token dev IdP live (global-setup.ts starts it;
 * upstream-tokens.test.ts waits them out): short enough to wait for, long enough that a sign-in and a
 * first call fit in it.
 */
export const VAULT_IDP_ACCESS_TOKEN_TTL_SECONDS = 4;
