import type { Config } from '../config';
import { createGithubAdapter, needsGithubOrgs } from './github';
import { createOidcAdapter } from './oidc';
import type { UpstreamAdapter, UpstreamOptions } from './types';

/** The adapter for the configured upstream. `options` only ever come from a test (types.ts). */
export function upstreamFor(config: Config, fetchImpl: typeof fetch = fetch, options: UpstreamOptions = {}): UpstreamAdapter {
  const { upstream } = config;
  if (upstream.kind === 'github') return createGithubAdapter(upstream, { ...options, needOrgs: needsGithubOrgs(config) }, fetchImpl);
  return createOidcAdapter(upstream, fetchImpl, options);
}
