import type { Config } from '../config';
import { createGithubAdapter, needsGithubOrgs } from './github';
import { createOidcAdapter } from './oidc';
import type { UpstreamAdapter } from './types';

export function upstreamFor(config: Config, fetchImpl: typeof fetch = fetch): UpstreamAdapter {
  const { upstream } = config;
  if (upstream.kind === 'github') return createGithubAdapter(upstream, { needOrgs: needsGithubOrgs(config) }, fetchImpl);
  return createOidcAdapter(upstream, fetchImpl);
}
