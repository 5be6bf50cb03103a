/**
 * Which scopes a user may be granted at all: configuration (`SCOPE_POLICY`), not code. Pure.
 *
 * The policy maps a scope to the rules that admit a user to it; a scope the policy does not name is
 * open to everyone who may sign in. Rules:
 *   `*`                      everyone
 *   `user:<user id>`         one user (as shown by whoami)
 *   `email:<address>`        a verified email address
 *   `domain:<domain>`        a verified email address at that domain
 *   `claim:<name>=<value>`   an OIDC claim equal to, or (for arrays such as `groups`) containing, value
 *   `github-login:<login>`   a GitHub login                (UPSTREAM=github only)
 *   `github-org:<org>`       a GitHub organisation member  (UPSTREAM=github only; asks GitHub for read:org)
 * Example: `{"notes:write": ["domain:example.com", "claim:groups=editors"]}`.
 */
import type { UpstreamKind } from '../config';
import type { UpstreamIdentity } from '../upstream/types';
import { ALL_SCOPES, isScope, type Scope } from './scopes';

export type ScopeRule =
  | { kind: 'everyone' }
  | { kind: 'user' | 'email' | 'domain' | 'github-login' | 'github-org'; value: string }
  | { kind: 'claim'; name: string; value: string };

export type ScopePolicy = Partial<Record<Scope, ScopeRule[]>>;

/** The rules only a GitHub sign-in can satisfy. */
const GITHUB_RULE_KINDS: ReadonlySet<ScopeRule['kind']> = new Set(['github-login', 'github-org']);

/**
 * Parses the policy; returns the problems instead when it has any, each naming the offending entry.
 * `upstream` is the configured UPSTREAM: a `github-login:` or `github-org:` rule under any other
 * upstream could never match, so the scope it guards would silently be granted to nobody; it is
 * refused here instead, at configuration time.
 */
export function parseScopePolicy(raw: unknown, upstream: UpstreamKind): { policy: ScopePolicy; problems: string[] } {
  const problems: string[] = [];
  const policy: ScopePolicy = {};
  if (raw === undefined || raw === null || raw === '') return { policy, problems };
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      return { policy, problems: ['SCOPE_POLICY is not valid JSON; expected an object like {"notes:write": ["domain:example.com"]}.'] };
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { policy, problems: ['SCOPE_POLICY must be a JSON object mapping scopes to lists of rules.'] };
  }
  for (const [scope, rules] of Object.entries(value)) {
    if (!isScope(scope)) {
      problems.push(`SCOPE_POLICY names "${scope}", which is not a scope of this server (${ALL_SCOPES.join(', ')}).`);
      continue;
    }
    if (!Array.isArray(rules)) {
      problems.push(`SCOPE_POLICY["${scope}"] must be a list of rules.`);
      continue;
    }
    policy[scope] = [];
    for (const rule of rules) {
      const parsed = typeof rule === 'string' ? parseRule(rule) : undefined;
      if (parsed && GITHUB_RULE_KINDS.has(parsed.kind) && upstream !== 'github') {
        problems.push(
          `SCOPE_POLICY["${scope}"] has the rule ${JSON.stringify(rule)}, which only a GitHub sign-in can match, but UPSTREAM is "${upstream}": set UPSTREAM=github, or use email:, domain:, user: or claim: rules with this identity provider.`,
        );
      } else if (parsed) policy[scope].push(parsed);
      else problems.push(`SCOPE_POLICY["${scope}"] has an unknown rule ${JSON.stringify(rule)}; use *, user:, email:, domain:, claim:name=value, github-login: or github-org:.`);
    }
  }
  return { policy, problems };
}

function parseRule(rule: string): ScopeRule | undefined {
  if (rule === '*') return { kind: 'everyone' };
  const colon = rule.indexOf(':');
  if (colon <= 0) return undefined;
  const kind = rule.slice(0, colon);
  const value = rule.slice(colon + 1).trim();
  if (value === '') return undefined;
  if (kind === 'claim') {
    const equals = value.indexOf('=');
    return equals > 0 ? { kind: 'claim', name: value.slice(0, equals), value: value.slice(equals + 1) } : undefined;
  }
  if (kind === 'user') return { kind, value };
  if (kind === 'email' || kind === 'domain' || kind === 'github-login' || kind === 'github-org') return { kind, value: value.toLowerCase() };
  return undefined;
}

/** Whether any rule names a GitHub organisation: then sign-in must ask for `read:org` and fetch the user's organisations. */
export function scopePolicyNamesGithubOrgs(policy: ScopePolicy): boolean {
  return Object.values(policy).some((rules) => rules.some((rule) => rule.kind === 'github-org'));
}

/** The scopes among `requested` that `identity` (signed in as `userId`) may be granted. */
export function allowedScopes(policy: ScopePolicy, identity: UpstreamIdentity, userId: string, requested: readonly Scope[]): Scope[] {
  return requested.filter((scope) => {
    const rules = policy[scope];
    return rules === undefined || rules.some((rule) => matches(rule, identity, userId));
  });
}

function matches(rule: ScopeRule, identity: UpstreamIdentity, userId: string): boolean {
  const email = identity.emailVerified ? identity.email?.toLowerCase() : undefined;
  switch (rule.kind) {
    case 'everyone':
      return true;
    case 'user':
      return rule.value === userId;
    case 'email':
      return email === rule.value;
    case 'domain':
      return email !== undefined && email.slice(email.lastIndexOf('@') + 1) === rule.value;
    case 'github-login':
      return identity.upstream === 'github' && identity.login?.toLowerCase() === rule.value;
    case 'github-org':
      return identity.upstream === 'github' && (identity.orgs ?? []).includes(rule.value);
    case 'claim': {
      const claim = identity.claims?.[rule.name];
      return Array.isArray(claim) ? claim.some((item) => String(item) === rule.value) : claim !== undefined && String(claim) === rule.value;
    }
  }
}
