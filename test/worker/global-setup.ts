/**
 * Runs in Node before the workerd tests: starts the real dev OIDC IdP (dev/idp) on a free loopback
 * port, where the Worker under test reaches it through the test's outbound network, and tells the
 * tests its issuer.
 */
import type { TestProject } from 'vitest/node';
import { startDevIdp } from '../../dev/idp/server.ts';
import './provided-context.ts';

/** The origin the workerd tests give the Worker (helpers.ts ORIGIN): the IdP's registered callback. */
const WORKER_CALLBACK = 'http://localhost:8787/callback';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const idp = await startDevIdp({ port: 0, redirectUris: [WORKER_CALLBACK] });
  project.provide('devIdpIssuer', idp.issuer);
  return () => idp.close();
}
