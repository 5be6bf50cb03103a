/**
 * The scope catalogue: every scope this server can grant, what it means to a person reading the
 * consent page, and which narrower scopes it implies. Pure data and pure functions.
 */

import type { UpstreamKind } from '../config';

export interface ScopeDefinition {
  /** Shown on the consent page next to the checkbox. */
  description: string;
  /** Narrower scopes this one includes (MCP requires servers to honour such hierarchies). */
  implies: readonly Scope[];
  /**
   * A scope for tools that call the upstream's API as the user: offered only with that upstream and
   * UPSTREAM_TOKENS on (see {@link offeredScopes}), since without the user's upstream token its
   * tools could do nothing.
   */
  upstream?: UpstreamKind;
}

export const SCOPES = {
  profile: { description: 'See your name and email address', implies: [] },
  'notes:read': { description: 'Read your notes', implies: [] },
  'notes:write': { description: 'Create and delete your notes', implies: ['notes:read'] },
  'upstream:userinfo': { description: 'Read your profile from your identity provider, as you', implies: [], upstream: 'oidc' },
  'github:profile': { description: 'Read your GitHub profile, as you', implies: [], upstream: 'github' },
  'github:repos': { description: 'List your GitHub repositories, as you (read-only)', implies: [], upstream: 'github' },
  'github:orgs': { description: 'List the GitHub organisations you belong to, as you', implies: [], upstream: 'github' },
} as const satisfies Record<string, { description: string; implies: readonly string[]; upstream?: UpstreamKind }>;

export type Scope = keyof typeof SCOPES;

/** Every scope in the catalogue, whatever the configuration. */
export const ALL_SCOPES = Object.keys(SCOPES) as Scope[];

/**
 * The scopes this configuration offers: advertised (`scopes_supported`, the 401 challenge), asked
 * for by default, and grantable. A scope of the catalogue it does not offer is unknown to clients.
 */
export function offeredScopes(config: OfferingConfig): readonly Scope[] {
  let offered = offeredByConfig.get(config);
  if (!offered) {
    offered = ALL_SCOPES.filter((scope) => {
      const definition: ScopeDefinition = SCOPES[scope];
      return definition.upstream === undefined || (config.upstreamTokens.enabled && definition.upstream === config.upstream.kind);
    });
    offeredByConfig.set(config, offered);
  }
  return offered;
}

type OfferingConfig = { upstream: { kind: UpstreamKind }; upstreamTokens: { enabled: boolean } };

/** Once per parsed configuration (loadConfig gives one object per env): the metadata and /authorize ask on every request. */
const offeredByConfig = new WeakMap<OfferingConfig, readonly Scope[]>();

export function isScope(value: string): value is Scope {
  return Object.hasOwn(SCOPES, value);
}

/** The scopes a token effectively holds: what was granted plus everything those imply. */
export function expandScopes(granted: Iterable<string>): Set<Scope> {
  const result = new Set<Scope>();
  const visit = (scope: Scope) => {
    if (result.has(scope)) return;
    result.add(scope);
    for (const implied of SCOPES[scope].implies) visit(implied);
  };
  for (const scope of granted) if (isScope(scope)) visit(scope);
  return result;
}

/** Whether a token with `granted` may do something that needs every scope in `required`. */
export function hasScopes(granted: Iterable<string>, required: readonly Scope[]): boolean {
  const held = expandScopes(granted);
  return required.every((scope) => held.has(scope));
}
