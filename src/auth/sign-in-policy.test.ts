import { describe, expect, it } from 'vitest';
import type { SignInPolicyConfig } from '../config';
import type { UpstreamIdentity } from '../upstream/types';
import { isAllowedToSignIn } from './sign-in-policy';

function policy(rules: Partial<SignInPolicyConfig> = {}): SignInPolicyConfig {
  return { emails: [], emailDomains: [], githubLogins: [], githubOrgs: [], ...rules };
}

function oidcUser(email: string, emailVerified = true): UpstreamIdentity {
  return { upstream: 'oidc:idp.example.com', subject: 'sub-1', email, emailVerified };
}

function githubUser(identity: Partial<UpstreamIdentity> = {}): UpstreamIdentity {
  return { upstream: 'github', subject: '42', login: 'Octocat', emailVerified: false, orgs: ['acme'], ...identity };
}

describe('isAllowedToSignIn', () => {
  it('admits everyone when every list is empty, verified or not', () => {
    expect(isAllowedToSignIn(policy(), oidcUser('anyone@anywhere.example', false))).toBe(true);
    expect(isAllowedToSignIn(policy(), { upstream: 'oidc:idp.example.com', subject: 'no-email', emailVerified: false })).toBe(true);
  });

  it('admits a listed email only when it is verified', () => {
    const rules = policy({ emails: ['alice@example.com'] });
    expect(isAllowedToSignIn(rules, oidcUser('alice@example.com'))).toBe(true);
    expect(isAllowedToSignIn(rules, oidcUser('Alice@Example.COM'))).toBe(true);
    expect(isAllowedToSignIn(rules, oidcUser('alice@example.com', false))).toBe(false);
    expect(isAllowedToSignIn(rules, oidcUser('bob@example.com'))).toBe(false);
  });

  it('admits a listed domain only for verified emails, and not its subdomains or lookalikes', () => {
    const rules = policy({ emailDomains: ['example.com'] });
    expect(isAllowedToSignIn(rules, oidcUser('carol@example.com'))).toBe(true);
    expect(isAllowedToSignIn(rules, oidcUser('carol@example.com', false))).toBe(false);
    expect(isAllowedToSignIn(rules, oidcUser('carol@evil.example.com'))).toBe(false);
    expect(isAllowedToSignIn(rules, oidcUser('carol@example.com.evil.test'))).toBe(false);
    expect(isAllowedToSignIn(rules, oidcUser('example.com@evil.test'))).toBe(false);
  });

  it('refuses someone without an email once any email rule is set', () => {
    expect(isAllowedToSignIn(policy({ emailDomains: ['example.com'] }), { upstream: 'oidc:idp.example.com', subject: 's', emailVerified: true })).toBe(false);
  });

  it('admits a listed GitHub login, case-insensitively, only from the GitHub upstream', () => {
    const rules = policy({ githubLogins: ['octocat'] });
    expect(isAllowedToSignIn(rules, githubUser())).toBe(true);
    expect(isAllowedToSignIn(rules, githubUser({ login: 'someone-else' }))).toBe(false);
    // An OIDC IdP may send any `login`-like value; GitHub rules do not apply to it.
    expect(isAllowedToSignIn(rules, { ...oidcUser('x@example.com'), login: 'octocat' })).toBe(false);
  });

  it('admits a member of a listed GitHub organisation, only from the GitHub upstream', () => {
    const rules = policy({ githubOrgs: ['acme'] });
    expect(isAllowedToSignIn(rules, githubUser())).toBe(true);
    expect(isAllowedToSignIn(rules, githubUser({ orgs: ['other'] }))).toBe(false);
    expect(isAllowedToSignIn(rules, githubUser({ orgs: undefined }))).toBe(false);
    expect(isAllowedToSignIn(rules, { ...oidcUser('x@example.com'), orgs: ['acme'] })).toBe(false);
  });

  it('admits anyone matching any one rule', () => {
    const rules = policy({ emails: ['alice@example.com'], githubOrgs: ['acme'] });
    expect(isAllowedToSignIn(rules, oidcUser('alice@example.com'))).toBe(true);
    expect(isAllowedToSignIn(rules, githubUser({ login: 'stranger' }))).toBe(true);
    expect(isAllowedToSignIn(rules, oidcUser('mallory@example.com'))).toBe(false);
  });

  it('lets a verified GitHub email match the email rules', () => {
    expect(isAllowedToSignIn(policy({ emails: ['octo@example.com'] }), githubUser({ email: 'octo@example.com', emailVerified: true, orgs: [] }))).toBe(true);
  });
});
