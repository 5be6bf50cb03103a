/**
 * Who may sign in: configuration, not code. Pure: no I/O, no clock.
 * Every list empty means everyone the upstream IdP accepts; otherwise matching any one rule admits.
 */
import type { SignInPolicyConfig } from '../config';
import type { UpstreamIdentity } from '../upstream/types';

export function isAllowedToSignIn(policy: SignInPolicyConfig, identity: UpstreamIdentity): boolean {
  const { emails, emailDomains, githubLogins, githubOrgs } = policy;
  if (emails.length + emailDomains.length + githubLogins.length + githubOrgs.length === 0) return true;
  // An unverified email proves nothing about who is signing in.
  const email = identity.emailVerified ? identity.email?.toLowerCase() : undefined;
  if (email && emails.includes(email)) return true;
  if (email && emailDomains.includes(email.slice(email.lastIndexOf('@') + 1))) return true;
  if (identity.upstream === 'github') {
    if (identity.login && githubLogins.includes(identity.login.toLowerCase())) return true;
    if (identity.orgs?.some((org) => githubOrgs.includes(org))) return true;
  }
  return false;
}
