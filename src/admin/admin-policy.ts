/**
 * Who is an administrator of this server in a browser (the console, ./console.ts): configuration,
 * not code. Pure: no I/O, no clock.
 *
 * Every rule empty means nobody is, and the console does not exist (404). The bearer `ADMIN_TOKEN`
 * API (./app.ts) is separate and unaffected: it is for automation.
 *
 * The decision is made on every request, from facts the IdP stated at sign-in and that the sealed
 * session keeps (../auth/web-session.ts), against the configuration of that request. So removing
 * someone from ADMIN_EMAILS (or a group or organisation from its rule) takes effect on their next
 * click, not when their session ends; what changes at the IdP (leaving a group) takes effect at
 * their next sign-in, at most an hour later (WEB_SESSION_SECONDS). The session keeps only the
 * organisations and groups the rules named at sign-in, never the whole list: a cookie holds 4 KB,
 * and a GitHub user may belong to 1,000 organisations.
 */
import type { UpstreamIdentity } from '../upstream/types';

export interface AdminPolicy {
  /** `ADMIN_EMAILS`: exact addresses, lowercase. Only an email the IdP says it verified counts. */
  emails: string[];
  /** `ADMIN_EMAIL_DOMAINS`: domains (`example.com`), lowercase; verified emails only, as above. */
  emailDomains: string[];
  /** `ADMIN_GITHUB_ORGS`: organisations, lowercase (`UPSTREAM=github` only; asks GitHub for `read:org`). */
  githubOrgs: string[];
  /**
   * `ADMIN_GROUPS`: values of the ID token's (or userinfo's) `groups` claim, as Okta, Keycloak,
   * Entra ID and Auth0 (by a rule) send it (`UPSTREAM=oidc` only). Compared exactly, case included:
   * group names are case-sensitive at most IdPs, and Entra ID sends object ids.
   */
  groups: string[];
}

export type AdminSetting = 'ADMIN_EMAILS' | 'ADMIN_EMAIL_DOMAINS' | 'ADMIN_GITHUB_ORGS' | 'ADMIN_GROUPS';

/** The OIDC claim `ADMIN_GROUPS` is matched against: the de facto name; no registered claim exists. */
export const GROUPS_CLAIM = 'groups';

/**
 * Domains where anyone can get an address: a domain rule naming one would make every user of that
 * provider an administrator.
 */
const PUBLIC_EMAIL_DOMAINS = new Set(['gmail.com', 'googlemail.com', 'outlook.com', 'hotmail.com', 'live.com', 'yahoo.com', 'icloud.com', 'me.com', 'proton.me', 'protonmail.com', 'gmx.com', 'aol.com']);

/** A claim value kept at most this long, and at most this many groups: the session is a cookie (4 KB). */
const MAX_GROUP_CHARS = 200;
const MAX_GROUPS_KEPT = 20;

/** What the session keeps for the decision, besides its email and upstream. */
export interface AdminFacts {
  /** Whether the IdP said it verified the email. */
  emailVerified: boolean;
  /** The user's GitHub organisations that a rule named at sign-in (lowercase). */
  orgs: string[];
  /** The user's groups that a rule named at sign-in. */
  groups: string[];
}

/** Who is asking, as the session tells it. */
export interface AdminCandidate {
  upstream: string;
  email?: string;
  adminFacts?: AdminFacts;
}

export function isConsoleEnabled(policy: AdminPolicy): boolean {
  return policy.emails.length + policy.emailDomains.length + policy.githubOrgs.length + policy.groups.length > 0;
}

/** The facts to keep in the session for {@link isAdmin}: only the organisations and groups the policy names. */
export function adminFactsFor(policy: AdminPolicy, identity: UpstreamIdentity): AdminFacts {
  const named = groupsOf(identity.claims).filter((group) => policy.groups.includes(group));
  return {
    emailVerified: identity.emailVerified,
    orgs: (identity.orgs ?? []).filter((org) => policy.githubOrgs.includes(org)).slice(0, MAX_GROUPS_KEPT),
    groups: named.slice(0, MAX_GROUPS_KEPT),
  };
}

/** Whether `candidate` is an administrator under `policy` now. Matching any one rule admits. */
export function isAdmin(policy: AdminPolicy, candidate: AdminCandidate): boolean {
  if (!isConsoleEnabled(policy)) return false;
  const facts = candidate.adminFacts;
  // A session from before these facts existed proves nothing: its holder signs in again.
  if (facts === undefined) return false;
  // An unverified email proves nothing about who is signing in.
  const email = facts.emailVerified ? candidate.email?.toLowerCase() : undefined;
  if (email && policy.emails.includes(email)) return true;
  if (email && policy.emailDomains.includes(email.slice(email.lastIndexOf('@') + 1))) return true;
  if (candidate.upstream === 'github' && facts.orgs.some((org) => policy.githubOrgs.includes(org))) return true;
  if (candidate.upstream.startsWith('oidc:') && facts.groups.some((group) => policy.groups.includes(group))) return true;
  return false;
}

/**
 * The policy from its four settings (trimmed strings, or undefined when unset), and what is wrong
 * with them, each problem naming its fix. `upstream` is the configured kind: a rule that nobody
 * could match under it is an error, not a silently dead rule.
 */
export function parseAdminPolicy(values: Partial<Record<AdminSetting, string>>, upstream: 'oidc' | 'github'): { policy: AdminPolicy; problems: string[] } {
  const problems: string[] = [];
  const lowercaseList = (name: AdminSetting): string[] =>
    (values[name] ?? '')
      .split(/[\s,]+/)
      .map((item) => item.toLowerCase())
      .filter(Boolean);
  const emails = lowercaseList('ADMIN_EMAILS');
  for (const email of emails) {
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) problems.push(`ADMIN_EMAILS must list email addresses, comma-separated (got "${email}").`);
  }
  const emailDomains = lowercaseList('ADMIN_EMAIL_DOMAINS').map((domain) => domain.replace(/^@/, ''));
  for (const domain of emailDomains) {
    if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(domain)) problems.push(`ADMIN_EMAIL_DOMAINS must list domains like example.com, comma-separated (got "${domain}").`);
    else if (PUBLIC_EMAIL_DOMAINS.has(domain)) problems.push(`ADMIN_EMAIL_DOMAINS names ${domain}, where anyone can get an address: list the administrators in ADMIN_EMAILS instead.`);
  }
  const githubOrgs = lowercaseList('ADMIN_GITHUB_ORGS');
  if (githubOrgs.length > 0 && upstream !== 'github') problems.push(`ADMIN_GITHUB_ORGS applies only to UPSTREAM=github (UPSTREAM is "${upstream}"), so nobody could match it: remove it, or use ADMIN_GROUPS with your IdP's groups claim.`);
  // Comma-separated only: group names may contain spaces ("Domain Admins"), and case matters.
  const groups = (values.ADMIN_GROUPS ?? '')
    .split(',')
    .map((group) => group.trim())
    .filter(Boolean);
  if (groups.length > 0 && upstream !== 'oidc') problems.push(`ADMIN_GROUPS applies only to UPSTREAM=oidc (UPSTREAM is "${upstream}"): remove it, or use ADMIN_GITHUB_ORGS.`);
  for (const group of groups) {
    if (group.length > MAX_GROUP_CHARS) problems.push(`ADMIN_GROUPS names a group longer than ${MAX_GROUP_CHARS} characters: shorten it or use the group's id.`);
  }
  return { policy: { emails, emailDomains, githubOrgs, groups }, problems };
}

/** The `groups` claim's values: a list of strings, or one string (some IdPs send a single group so). */
function groupsOf(claims: Record<string, unknown> | undefined): string[] {
  const value = claims?.[GROUPS_CLAIM];
  const values = Array.isArray(value) ? value : [value];
  return values.filter((group): group is string => typeof group === 'string' && group.length > 0 && group.length <= MAX_GROUP_CHARS);
}
