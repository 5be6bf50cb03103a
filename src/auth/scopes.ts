/**
 * The scope catalogue: every scope this server can grant, what it means to a person reading the
 * consent page, and which narrower scopes it implies. Pure data and pure functions.
 */

export interface ScopeDefinition {
  /** Shown on the consent page next to the checkbox. */
  description: string;
  /** Narrower scopes this one includes (MCP requires servers to honour such hierarchies). */
  implies: readonly Scope[];
}

export const SCOPES = {
  profile: { description: 'See your name and email address', implies: [] },
  'notes:read': { description: 'Read your notes', implies: [] },
  'notes:write': { description: 'Create and delete your notes', implies: ['notes:read'] },
} as const satisfies Record<string, { description: string; implies: readonly string[] }>;

export type Scope = keyof typeof SCOPES;

export const ALL_SCOPES = Object.keys(SCOPES) as Scope[];

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
