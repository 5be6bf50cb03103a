/** What global-setup.ts (Node) hands the workerd tests through vitest's provide/inject. */
declare module 'vitest' {
  export interface ProvidedContext {
    /** Issuer of the dev OIDC IdP started for this run. */
    devIdpIssuer: string;
  }
}

export {};
