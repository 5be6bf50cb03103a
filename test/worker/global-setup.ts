/**
 * Runs in Node before the workerd tests: starts the real dev OIDC IdP (dev/idp) on a free loopback
 * port, where the Worker under test reaches it through the test's outbound network, and tells the
 * tests its issuer. A second one, with its control endpoints on (faults and key rotation on demand),
 * is for upstream-faults.test.ts alone, so that a fault never reaches another file's sign-ins. A
 * third, also controllable, issues access tokens that live {@link VAULT_IDP_ACCESS_TOKEN_TTL_SECONDS}
 * seconds, for upstream-tokens.test.ts: tools that act as the user, refreshing upstream tokens.
 */
import type { TestProject } from 'vitest/node';
import { startDevIdp } from '../../dev/idp/server.ts';
import { VAULT_IDP_ACCESS_TOKEN_TTL_SECONDS } from './provided-context.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Issuer of the dev IdP whose faults and keys upstream-faults.test.ts controls (also declared in dev-idp.ts). */
    faultyIdpIssuer: string;
    /** Issuer of the short-lived-token dev IdP of upstream-tokens.test.ts (also declared in dev-idp.ts). */
    vaultIdpIssuer: string;
  }
}


/** The origin the workerd tests give the Worker (helpers.ts ORIGIN): the IdP's registered callback. */
const WORKER_CALLBACK = 'http://localhost:8787/callback';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const idp = await startDevIdp({ port: 0, redirectUris: [WORKER_CALLBACK] });
  const faulty = await startDevIdp({ port: 0, redirectUris: [WORKER_CALLBACK], control: true }).catch(async (error: unknown) => {
    await idp.close();
    throw error;
  });
  const vault = await startDevIdp({ port: 0, redirectUris: [WORKER_CALLBACK], control: true, accessTokenTtlSeconds: VAULT_IDP_ACCESS_TOKEN_TTL_SECONDS }).catch(async (error: unknown) => {
    await Promise.all([idp.close(), faulty.close()]);
    throw error;
  });
  project.provide('devIdpIssuer', idp.issuer);
  project.provide('faultyIdpIssuer', faulty.issuer);
  project.provide('vaultIdpIssuer', vault.issuer);
  return async () => {
    await Promise.all([idp.close(), faulty.close(), vault.close()]);
  };
}
