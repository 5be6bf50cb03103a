/**
 * Runs in Node before the workerd tests: starts the real dev OIDC IdP (dev/idp) on a free loopback
 * port, where the Worker under test reaches it through the test's outbound network, and tells the
 * tests its issuer. A second one, with its control endpoints on (faults and key rotation on demand),
 * is for upstream-faults.test.ts alone, so that a fault never reaches another file's sign-ins.
 */
import type { TestProject } from 'vitest/node';
import { startDevIdp } from '../../dev/idp/server.ts';
import './provided-context.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Issuer of the dev IdP whose faults and keys upstream-faults.test.ts controls (also declared in dev-idp.ts). */
    faultyIdpIssuer: string;
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
  project.provide('devIdpIssuer', idp.issuer);
  project.provide('faultyIdpIssuer', faulty.issuer);
  return async () => {
    await Promise.all([idp.close(), faulty.close()]);
  };
}
