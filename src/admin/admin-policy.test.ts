import { describe, expect, it } from 'vitest';
import type { UpstreamIdentity } from '../upstream/types';
import { adminFactsFor, isAdmin, isConsoleEnabled, parseAdminPolicy, type AdminPolicy } from './admin-policy';

function policy(rules: Partial<AdminPolicy> = {}): AdminPolicy {
  return { emails: [], emailDomains: [], githubOrgs: [], groups: [], ...rules };
}

function oidcUser(identity: Partial<UpstreamIdentity> = {}): UpstreamIdentity {
  return { upstream: 'oidc:idp.example.com', subject: 'sub-1', email: 'alice@example.com', emailVerified: true, ...identity };
}

function githubUser(identity: Partial<UpstreamIdentity> = {}): UpstreamIdentity {
  return { upstream: 'github', subject: '42', login: 'octocat', email: 'octo@example.com', emailVerified: true, orgs: ['acme', 'other'], ...identity };
}

/** What the console sees on a later request: the session's email and upstream, and the facts kept at sign-in. */
function decide(rules: AdminPolicy, identity: UpstreamIdentity, now: AdminPolicy = rules): boolean {
  return isAdmin(now, { upstream: identity.upstream, email: identity.email, adminFacts: adminFactsFor(rules, identity) });
}

describe('isAdmin', () => {
  it('admits nobody while every rule is empty: the console is off', () => {
    expect(isConsoleEnabled(policy())).toBe(false);
    expect(decide(policy(), oidcUser())).toBe(false);
    expect(isConsoleEnabled(policy({ groups: ['admins'] }))).toBe(true);
  });

  it('admits a listed email, or one at a listed domain, only when the IdP verified it', () => {
    expect(decide(policy({ emails: ['alice@example.com'] }), oidcUser())).toBe(true);
    expect(decide(policy({ emails: ['alice@example.com'] }), oidcUser({ email: 'Alice@Example.COM' }))).toBe(true);
    expect(decide(policy({ emails: ['alice@example.com'] }), oidcUser({ emailVerified: false }))).toBe(false);
    expect(decide(policy({ emails: ['alice@example.com'] }), oidcUser({ email: 'bob@example.com' }))).toBe(false);
    expect(decide(policy({ emailDomains: ['example.com'] }), oidcUser())).toBe(true);
    expect(decide(policy({ emailDomains: ['example.com'] }), oidcUser({ email: 'alice@evil-example.com' }))).toBe(false);
    expect(decide(policy({ emailDomains: ['example.com'] }), oidcUser({ email: 'alice@sub.example.com' }))).toBe(false);
    expect(decide(policy({ emailDomains: ['example.com'] }), oidcUser({ emailVerified: false }))).toBe(false);
  });

  it('admits a member of a listed GitHub organisation on GitHub only', () => {
    const rules = policy({ githubOrgs: ['acme'] });
    expect(decide(rules, githubUser())).toBe(true);
    expect(decide(rules, githubUser({ orgs: ['other'] }))).toBe(false);
    expect(decide(rules, githubUser({ orgs: undefined }))).toBe(false);
  });

  it('admits a member of a listed group (the groups claim), exactly, case included', () => {
    const rules = policy({ groups: ['MCP Admins'] });
    expect(decide(rules, oidcUser({ claims: { groups: ['staff', 'MCP Admins'] } }))).toBe(true);
    expect(decide(rules, oidcUser({ claims: { groups: 'MCP Admins' } }))).toBe(true);
    expect(decide(rules, oidcUser({ claims: { groups: ['mcp admins'] } }))).toBe(false);
    expect(decide(rules, oidcUser({ claims: { groups: [42, { name: 'MCP Admins' }] } }))).toBe(false);
    expect(decide(rules, oidcUser({ claims: {} }))).toBe(false);
  });

  it('keeps in the session only the organisations and groups a rule names', () => {
    expect(adminFactsFor(policy({ githubOrgs: ['acme'] }), githubUser({ orgs: Array.from({ length: 1000 }, (_, i) => `org-${i}`).concat('acme') }))).toEqual({ emailVerified: true, orgs: ['acme'], groups: [] });
    expect(adminFactsFor(policy({ groups: ['admins'] }), oidcUser({ claims: { groups: ['admins', 'everyone', 'x'.repeat(5000)] } }))).toEqual({ emailVerified: true, orgs: [], groups: ['admins'] });
  });

  it('decides against the configuration of each request: removing a rule takes effect at once', () => {
    const before = policy({ emails: ['alice@example.com'], groups: ['admins'] });
    const alice = oidcUser({ claims: { groups: ['admins'] } });
    expect(decide(before, alice)).toBe(true);
    expect(decide(before, alice, policy({ groups: ['admins'] }))).toBe(true);
    expect(decide(before, alice, policy({ emails: ['bob@example.com'] }))).toBe(false);
    // Nothing configured any more: nobody, whatever the session says.
    expect(decide(before, alice, policy())).toBe(false);
  });

  it('refuses a session without the facts (signed in before they were kept)', () => {
    expect(isAdmin(policy({ emails: ['alice@example.com'] }), { upstream: 'oidc:idp.example.com', email: 'alice@example.com' })).toBe(false);
  });
});

describe('parseAdminPolicy', () => {
  it('reads the four settings: lists lowercased, groups comma-separated and exact', () => {
    const { policy: parsed, problems } = parseAdminPolicy({ ADMIN_EMAILS: 'Alice@Example.com, bob@example.com', ADMIN_EMAIL_DOMAINS: '@Example.org', ADMIN_GROUPS: 'MCP Admins, Ops' }, 'oidc');
    expect(problems).toEqual([]);
    expect(parsed).toEqual({ emails: ['alice@example.com', 'bob@example.com'], emailDomains: ['example.org'], githubOrgs: [], groups: ['MCP Admins', 'Ops'] });
  });

  it('refuses what no one could match, or what would admit the world, naming the fix', () => {
    expect(parseAdminPolicy({ ADMIN_GITHUB_ORGS: 'acme' }, 'oidc').problems).toEqual([expect.stringContaining('ADMIN_GITHUB_ORGS applies only to UPSTREAM=github')]);
    expect(parseAdminPolicy({ ADMIN_GROUPS: 'admins' }, 'github').problems).toEqual([expect.stringContaining('ADMIN_GROUPS applies only to UPSTREAM=oidc')]);
    expect(parseAdminPolicy({ ADMIN_EMAILS: 'alice' }, 'oidc').problems).toEqual([expect.stringContaining('ADMIN_EMAILS must list email addresses')]);
    expect(parseAdminPolicy({ ADMIN_EMAIL_DOMAINS: 'gmail.com' }, 'oidc').problems).toEqual([expect.stringContaining('list the administrators in ADMIN_EMAILS instead')]);
    expect(parseAdminPolicy({ ADMIN_EMAIL_DOMAINS: 'localhost' }, 'oidc').problems).toEqual([expect.stringContaining('ADMIN_EMAIL_DOMAINS must list domains like example.com')]);
    expect(parseAdminPolicy({ ADMIN_GITHUB_ORGS: 'acme' }, 'github').problems).toEqual([]);
  });
});
