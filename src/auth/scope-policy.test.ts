import { describe, expect, it } from 'vitest';
import type { UpstreamIdentity } from '../upstream/types';
import { allowedScopes, parseScopePolicy, scopePolicyNamesGithubOrgs } from './scope-policy';

const ALL = ['profile', 'notes:read', 'notes:write'] as const;

function githubUser(identity: Partial<UpstreamIdentity> = {}): UpstreamIdentity {
  return { upstream: 'github', subject: '42', login: 'Octocat', emailVerified: false, orgs: ['acme'], ...identity };
}

describe('parseScopePolicy', () => {
  it('accepts github-login: and github-org: rules when UPSTREAM is github', () => {
    const { policy, problems } = parseScopePolicy('{"notes:write": ["github-org:ACME", "github-login:Octocat"]}', 'github');
    expect(problems).toEqual([]);
    expect(policy).toEqual({ 'notes:write': [{ kind: 'github-org', value: 'acme' }, { kind: 'github-login', value: 'octocat' }] });
  });

  it('refuses github-login: and github-org: rules under any other upstream, naming the rule and the fix', () => {
    const { problems } = parseScopePolicy({ 'notes:write': ['domain:example.com', 'github-org:acme'], 'notes:read': ['github-login:octocat'] }, 'oidc');
    expect(problems).toEqual([
      'SCOPE_POLICY["notes:write"] has the rule "github-org:acme", which only a GitHub sign-in can match, but UPSTREAM is "oidc": set UPSTREAM=github, or use email:, domain:, user: or claim: rules with this identity provider.',
      'SCOPE_POLICY["notes:read"] has the rule "github-login:octocat", which only a GitHub sign-in can match, but UPSTREAM is "oidc": set UPSTREAM=github, or use email:, domain:, user: or claim: rules with this identity provider.',
    ]);
  });

  it('still accepts every other rule under an OIDC upstream', () => {
    const { problems } = parseScopePolicy({ 'notes:write': ['*', 'user:oidc-1', 'email:a@example.com', 'domain:example.com', 'claim:groups=editors'] }, 'oidc');
    expect(problems).toEqual([]);
  });
});

describe('scopePolicyNamesGithubOrgs', () => {
  it('is true exactly when a github-org: rule exists, for any scope', () => {
    expect(scopePolicyNamesGithubOrgs(parseScopePolicy({ 'notes:read': ['github-org:acme'] }, 'github').policy)).toBe(true);
    expect(scopePolicyNamesGithubOrgs(parseScopePolicy({ 'notes:write': ['github-login:octocat', 'domain:example.com'] }, 'github').policy)).toBe(false);
    expect(scopePolicyNamesGithubOrgs(parseScopePolicy(undefined, 'github').policy)).toBe(false);
  });
});

describe('allowedScopes with GitHub rules', () => {
  it('grants a github-org: scope to a member of the organisation, and only to one', () => {
    const { policy } = parseScopePolicy({ 'notes:write': ['github-org:Acme'] }, 'github');
    expect(allowedScopes(policy, githubUser(), 'github-42', ALL)).toEqual([...ALL]);
    expect(allowedScopes(policy, githubUser({ orgs: ['other'] }), 'github-42', ALL)).toEqual(['profile', 'notes:read']);
    // Organisations not fetched: nothing to match, so the scope is withheld.
    expect(allowedScopes(policy, githubUser({ orgs: undefined }), 'github-42', ALL)).toEqual(['profile', 'notes:read']);
  });
});
