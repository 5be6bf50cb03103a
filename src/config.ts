/**
 * The one place configuration is read. Every setting comes from the Worker's environment
 * (`vars` in wrangler.jsonc, `.dev.vars` locally, `wrangler secret put` in production) and is
 * validated here, so a missing or malformed setting fails with a message that names the fix
 * instead of surfacing later as a cryptic error in the middle of a sign-in.
 */

import { parseScopePolicy, type ScopePolicy } from './auth/scope-policy';
import { parseAdminPolicy, type AdminPolicy } from './admin/admin-policy';

/**
 * How long after a rotation the previous refresh token is still accepted, once (./auth/refresh-reuse.ts).
 * A lost response is retried at once or after the client's request timeout (typically 10–30 s); RFC
 * 9700 §4.14.2 and OAuth 2.1 §4.3.1 name no figure, and every second of grace is a second in which a
 * thief's replay is not refused on the spot (it is still detected at the next use of either token).
 * Here, not there, so that this module imports nothing Workers-only (npm run deploy loads it in Node).
 */
export const DEFAULT_REFRESH_REUSE_GRACE_SECONDS = 60;
export const MAX_REFRESH_REUSE_GRACE_SECONDS = 300;

/** Cloudflare KV refuses expirations shorter than this, so every lifetime stays at or above it. */
const KV_MIN_EXPIRATION_TTL_SECONDS = 60;

const DAY_SECONDS = 86_400;

export type UpstreamKind = 'oidc' | 'github';

export interface OidcUpstreamConfig {
  kind: 'oidc';
  /** Issuer URL; discovery is read from `<issuer>/.well-known/openid-configuration`. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Scopes asked of the upstream. Default `openid email profile`. */
  scopes: string[];
}

export interface GithubUpstreamConfig {
  kind: 'github';
  clientId: string;
  clientSecret: string;
  /** Web origin for `/login/oauth/*`. Default `https://github.com`; set it for GitHub Enterprise Server. */
  webUrl: string;
  /** REST API base. Default `https://api.github.com`. */
  apiUrl: string;
  /**
   * Scopes asked of GitHub besides what sign-in needs (`read:user user:email`, and `read:org` when a
   * policy names an organisation): `GITHUB_SCOPES`, e.g. `repo` for tools that read private
   * repositories. See "Scopes for OAuth apps" (docs.github.com).
   */
  extraScopes: string[];
}

export type UpstreamConfig = OidcUpstreamConfig | GithubUpstreamConfig;

/**
 * Whether the Worker keeps the user's upstream tokens for tools that call the upstream's API as the
 * user (`UPSTREAM_TOKENS`; ./upstream/vault.ts). Off: the upstream sign-in yields an identity and
 * nothing else is kept.
 */
export interface UpstreamTokensConfig {
  /** `UPSTREAM_TOKENS`: default on for GitHub (its API is the point of signing in with it), off for OIDC. */
  enabled: boolean;
  /**
   * Origins a tool may send the user's upstream token to (`UPSTREAM_API_ORIGINS`), besides the ones
   * the upstream itself names: GitHub's API (`GITHUB_API_URL`), an OIDC IdP's userinfo endpoint.
   * Each https, or http on loopback. A request anywhere else is refused before the token is added.
   */
  apiOrigins: string[];
}

/** Who may sign in. Every list empty means everyone the upstream IdP accepts. */
export interface SignInPolicyConfig {
  /** Exact email addresses, lowercase. Only verified emails count. */
  emails: string[];
  /** Email domains (`example.com`), lowercase. Only verified emails count. */
  emailDomains: string[];
  /** GitHub logins, lowercase (GitHub upstream only). */
  githubLogins: string[];
  /** GitHub organisations the user must belong to, lowercase (GitHub upstream only). */
  githubOrgs: string[];
}

export interface TokenLifetimes {
  /** Access token lifetime. Default 1 hour: short, since a refresh is cheap and a leak is bounded by it. */
  accessTokenSeconds: number;
  /**
   * Lifetime of a new grant (its refresh token). Default 30 days. With `refreshIdleSeconds` set the
   * grant then slides forward on every refresh, so a gateway in regular use never makes its users
   * re-consent, while an abandoned grant dies after the idle period.
   */
  refreshTokenSeconds: number;
  /** Sliding idle lifetime: each refresh moves the grant's expiry this far out. Default 30 days. */
  refreshIdleSeconds: number | undefined;
  /**
   * How long after a refresh the refresh token it replaced is still accepted, once: the retry of a
   * client whose refresh response was lost. Default 60 s; 0: never (./auth/refresh-reuse.ts).
   */
  refreshReuseGraceSeconds: number;
  /**
   * Lifetime of a dynamically registered client. Default 180 days, renewed by the provider while the
   * client is in use, so an active gateway never has to re-register; abandoned self-registrations (anyone
   * may register) are eventually removed. `never` disables expiry.
   */
  clientRegistrationSeconds: number | undefined;
}

export interface KvConfig {
  /** Read-your-writes for OAUTH_KV across locations (`CONSISTENCY_LAYER`, default on). Off only to demonstrate the problem. */
  consistencyLayer: boolean;
  /** Simulate this many KV locations (`SIMULATE_KV_LOCATIONS`); unset in production. */
  simulatedLocations: number | undefined;
  /** Propagation delay between simulated locations (`SIMULATE_KV_DELAY_MS`). Default 10 s. */
  simulatedDelayMs: number;
}

/**
 * What serves 2025-era Streamable HTTP on /mcp (`MCP_TRANSPORT`).
 * - `stateless` (default): the Worker itself, a fresh MCP server per request, no Durable Object.
 * - `mcp-agent`: an McpAgent Durable Object per session (`McpAgent.serve('/mcp')`, sessions bound to
 *   their user), for tools that keep per-session state or send server-initiated requests to 2025
 *   clients. MCP 2026-07-28 requests, which have no sessions, are served statelessly in both modes.
 */
export type McpTransportMode = 'stateless' | 'mcp-agent';

export const MCP_TRANSPORT_MODES: readonly McpTransportMode[] = ['stateless', 'mcp-agent'];

/** The audit trail (../audit/): security events stored in the AUDIT_LOG Durable Objects and logged. */
export interface AuditConfig {
  /**
   * Whether events are recorded (`AUDIT`, default `on`). `off` records nothing, neither the store
   * nor the log line; it exists to measure what recording costs (`npm run bench`), and is refused
   * on a deployed (non-loopback) origin (../setup.ts).
   */
  enabled: boolean;
  /**
   * How long events are kept (`AUDIT_RETENTION_DAYS`), in whole UTC days after the day of the
   * event. Default 90; 1 to 3650. A day's events are deleted together when it passes.
   */
  retentionDays: number;
}

export const DEFAULT_AUDIT_RETENTION_DAYS = 90;
export const MAX_AUDIT_RETENTION_DAYS = 3650;

export interface Config {
  /** Canonical public origin (`https://mcp.example.com`). Unset: the origin each request arrives on. */
  publicUrl: string | undefined;
  upstream: UpstreamConfig;
  upstreamTokens: UpstreamTokensConfig;
  signInPolicy: SignInPolicyConfig;
  /** Which users may be granted which scopes (`SCOPE_POLICY`); scopes it does not name are open to all. */
  scopePolicy: ScopePolicy;
  /**
   * Who may use the admin console in a browser (`ADMIN_EMAILS`, `ADMIN_EMAIL_DOMAINS`, `ADMIN_GITHUB_ORGS`,
   * `ADMIN_GROUPS`; ./admin/admin-policy.ts). All empty (the default): the console does not exist.
   */
  adminPolicy: AdminPolicy;
  /** HMAC key that binds each MCP session id to the user who opened it, and signs remembered consent. */
  sessionSecret: string;
  /** Whether clients with `token_endpoint_auth_method: none` may register by DCR. Default true. */
  allowPublicClientRegistration: boolean;
  /**
   * Whether authorization requests may use RFC 8252 private-use scheme redirect URIs
   * (`cursor://…`). Default false: such a URI can be claimed by any app on the device.
   */
  allowPrivateUseRedirectUris: boolean;
  /** Browser origins, besides this server's own, allowed to call /mcp and /sse (`*`: any). */
  allowedOrigins: string[];
  /** Bearer token for the /admin API (`ADMIN_TOKEN`, 32+ characters); unset: the API does not exist. */
  adminToken: string | undefined;
  /** What serves 2025-era Streamable HTTP on /mcp. Default `stateless`. */
  mcpTransport: McpTransportMode;
  /**
   * Whether the rate limits apply (`RATE_LIMITS`, default on). `off` is for load tests and test
   * suites on this machine, and is refused on a deployed (non-loopback) origin (../setup.ts).
   */
  rateLimits: boolean;
  lifetimes: TokenLifetimes;
  kv: KvConfig;
  audit: AuditConfig;
}

/** Raised when the environment cannot make a working server; `problems` each name a fix. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Configuration error:\n${problems.map((p) => `- ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** The environment as configuration sees it: every binding value that is a plain string. */
type RawEnv = Record<string, unknown>;

const parsed = new WeakMap<object, Config>();

/** Reads and validates configuration, once per `env` object. Throws {@link ConfigError}. */
export function loadConfig(env: object): Config {
  let config = parsed.get(env);
  if (!config) {
    config = parseConfig(env as RawEnv);
    parsed.set(env, config);
  }
  return config;
}

export function parseConfig(env: RawEnv): Config {
  const problems: string[] = [];
  const read = (name: string): string | undefined => {
    const value = env[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') {
      problems.push(`${name} must be a string variable, not a ${typeof value} binding.`);
      return undefined;
    }
    const trimmed = value.trim();
    return trimmed === '' ? undefined : trimmed;
  };
  const require = (name: string, how: string): string => {
    const value = read(name);
    if (value === undefined) problems.push(`${name} is not set. ${how}`);
    return value ?? '';
  };
  const list = (name: string): string[] =>
    (read(name) ?? '')
      .split(/[\s,]+/)
      .map((item) => item.toLowerCase())
      .filter(Boolean);
  const seconds = (name: string, fallback: number): number => {
    const value = read(name);
    if (value === undefined) return fallback;
    const number = Number(value);
    if (!Number.isInteger(number) || number < KV_MIN_EXPIRATION_TTL_SECONDS) {
      problems.push(`${name} must be a whole number of seconds, at least ${KV_MIN_EXPIRATION_TTL_SECONDS} (got "${value}").`);
      return fallback;
    }
    return number;
  };
  const secondsOrNever = (name: string, fallback: number): number | undefined =>
    read(name)?.toLowerCase() === 'never' ? undefined : seconds(name, fallback);
  const flag = (name: string, fallback: boolean): boolean => {
    const value = read(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if (value === 'true' || value === '1') return true;
    if (value === 'false' || value === '0') return false;
    problems.push(`${name} must be "true" or "false" (got "${value}").`);
    return fallback;
  };
  const url = (name: string, value: string | undefined): string | undefined => {
    if (value === undefined) return undefined;
    const problem = httpsOrLoopbackProblem(value);
    if (problem) {
      problems.push(`${name} ${problem} (got "${value}").`);
      return undefined;
    }
    return value.replace(/\/+$/, '');
  };

  const publicUrl = url('PUBLIC_URL', read('PUBLIC_URL'));
  if (publicUrl && new URL(publicUrl).pathname !== '/') {
    problems.push(`PUBLIC_URL must be an origin without a path, like https://mcp.example.com (got "${publicUrl}").`);
  }

  const kind = (read('UPSTREAM') ?? 'oidc').toLowerCase();
  let upstream: UpstreamConfig;
  if (kind === 'github') {
    upstream = {
      kind: 'github',
      clientId: require('GITHUB_CLIENT_ID', 'Create a GitHub OAuth app and set its client id as a var.'),
      clientSecret: require('GITHUB_CLIENT_SECRET', 'Run `npx wrangler secret put GITHUB_CLIENT_SECRET` (locally: add it to .dev.vars).'),
      webUrl: url('GITHUB_BASE_URL', read('GITHUB_BASE_URL')) ?? 'https://github.com',
      apiUrl: url('GITHUB_API_URL', read('GITHUB_API_URL')) ?? 'https://api.github.com',
      extraScopes: (read('GITHUB_SCOPES') ?? '').split(/[\s,]+/).filter(Boolean),
    };
  } else {
    if (kind !== 'oidc') problems.push(`UPSTREAM must be "oidc" or "github" (got "${kind}").`);
    upstream = {
      kind: 'oidc',
      issuer: url('OIDC_ISSUER', require('OIDC_ISSUER', "Set it to your IdP's issuer URL, e.g. https://accounts.google.com.")) ?? '',
      clientId: require('OIDC_CLIENT_ID', 'Register this Worker as an OAuth client at your IdP and set its client id as a var.'),
      clientSecret: require('OIDC_CLIENT_SECRET', 'Run `npx wrangler secret put OIDC_CLIENT_SECRET` (locally: add it to .dev.vars).'),
      scopes: (read('OIDC_SCOPES') ?? 'openid email profile').split(/\s+/),
    };
    if (!upstream.scopes.includes('openid')) problems.push('OIDC_SCOPES must include "openid".');
  }

  if (upstream.kind !== 'github') {
    for (const name of ['ALLOWED_GITHUB_LOGINS', 'ALLOWED_GITHUB_ORGS']) {
      if (read(name) !== undefined) problems.push(`${name} applies only to UPSTREAM=github (UPSTREAM is "${upstream.kind}"), so nobody could match it: remove it or set UPSTREAM=github.`);
    }
  }
  if (upstream.kind !== 'github' && read('GITHUB_SCOPES') !== undefined) problems.push('GITHUB_SCOPES applies only to UPSTREAM=github: remove it, or ask an OIDC IdP for more with OIDC_SCOPES.');
  const tokensSetting = (read('UPSTREAM_TOKENS') ?? (upstream.kind === 'github' ? 'on' : 'off')).toLowerCase();
  if (tokensSetting !== 'on' && tokensSetting !== 'off') problems.push(`UPSTREAM_TOKENS must be "on" or "off" (got "${tokensSetting}").`);
  const apiOrigins: string[] = [];
  for (const origin of list('UPSTREAM_API_ORIGINS')) {
    const checked = url('UPSTREAM_API_ORIGINS', origin);
    if (checked === undefined) continue;
    if (new URL(checked).origin !== checked) problems.push(`UPSTREAM_API_ORIGINS takes origins without a path, like https://api.example.com (got "${origin}").`);
    else apiOrigins.push(checked);
  }
  const scopePolicy = parseScopePolicy(env.SCOPE_POLICY, upstream.kind);
  problems.push(...scopePolicy.problems);
  const adminPolicy = parseAdminPolicy(
    { ADMIN_EMAILS: read('ADMIN_EMAILS'), ADMIN_EMAIL_DOMAINS: read('ADMIN_EMAIL_DOMAINS'), ADMIN_GITHUB_ORGS: read('ADMIN_GITHUB_ORGS'), ADMIN_GROUPS: read('ADMIN_GROUPS') },
    upstream.kind,
  );
  problems.push(...adminPolicy.problems);

  const sessionSecret = require('SESSION_SECRET', 'Run `npx wrangler secret put SESSION_SECRET` with 32 or more random characters (locally: .dev.vars).');
  if (sessionSecret && sessionSecret.length < 32) problems.push('SESSION_SECRET must be at least 32 characters long.');
  const adminToken = read('ADMIN_TOKEN');
  if (adminToken !== undefined && adminToken.length < 32) problems.push('ADMIN_TOKEN must be at least 32 characters long (or unset, which turns the admin API off).');

  const transport = (read('MCP_TRANSPORT') ?? 'stateless').toLowerCase();
  const mcpTransport = MCP_TRANSPORT_MODES.find((mode) => mode === transport);
  if (!mcpTransport) problems.push(`MCP_TRANSPORT must be "stateless" or "mcp-agent" (got "${transport}").`);

  const grace = read('REFRESH_TOKEN_REUSE_GRACE_SECONDS');
  const refreshReuseGraceSeconds = grace === undefined ? DEFAULT_REFRESH_REUSE_GRACE_SECONDS : Number(grace);
  if (!Number.isInteger(refreshReuseGraceSeconds) || refreshReuseGraceSeconds < 0 || refreshReuseGraceSeconds > MAX_REFRESH_REUSE_GRACE_SECONDS) {
    problems.push(`REFRESH_TOKEN_REUSE_GRACE_SECONDS must be a whole number of seconds from 0 to ${MAX_REFRESH_REUSE_GRACE_SECONDS} (got "${grace}").`);
  }

  const limits = (read('RATE_LIMITS') ?? 'on').toLowerCase();
  if (limits !== 'on' && limits !== 'off') problems.push(`RATE_LIMITS must be "on" or "off" (got "${limits}").`);

  const auditSetting = (read('AUDIT') ?? 'on').toLowerCase();
  if (auditSetting !== 'on' && auditSetting !== 'off') problems.push(`AUDIT must be "on" or "off" (got "${auditSetting}").`);
  const retention = read('AUDIT_RETENTION_DAYS');
  const retentionDays = retention === undefined ? DEFAULT_AUDIT_RETENTION_DAYS : Number(retention);
  if (!/^\d+$/.test(retention ?? '0') || !Number.isInteger(retentionDays) || retentionDays < 1 || retentionDays > MAX_AUDIT_RETENTION_DAYS) {
    problems.push(`AUDIT_RETENTION_DAYS must be a whole number of days from 1 to ${MAX_AUDIT_RETENTION_DAYS} (got "${retention}").`);
  }

  const layer = (read('CONSISTENCY_LAYER') ?? 'on').toLowerCase();
  if (layer !== 'on' && layer !== 'off') problems.push(`CONSISTENCY_LAYER must be "on" or "off" (got "${layer}").`);
  const locations = read('SIMULATE_KV_LOCATIONS');
  const simulatedLocations = locations === undefined ? undefined : Number(locations);
  if (simulatedLocations !== undefined && (!Number.isInteger(simulatedLocations) || simulatedLocations < 1 || simulatedLocations > 64)) {
    problems.push(`SIMULATE_KV_LOCATIONS must be a whole number from 1 to 64 (got "${locations}").`);
  }
  const delay = read('SIMULATE_KV_DELAY_MS');
  const simulatedDelayMs = delay === undefined ? 10_000 : Number(delay);
  if (!Number.isInteger(simulatedDelayMs) || simulatedDelayMs < 0) problems.push(`SIMULATE_KV_DELAY_MS must be a whole number of milliseconds (got "${delay}").`);

  const config: Config = {
    publicUrl,
    upstream,
    upstreamTokens: { enabled: tokensSetting === 'on', apiOrigins },
    signInPolicy: {
      emails: list('ALLOWED_EMAILS'),
      emailDomains: list('ALLOWED_EMAIL_DOMAINS').map((domain) => domain.replace(/^@/, '')),
      githubLogins: list('ALLOWED_GITHUB_LOGINS'),
      githubOrgs: list('ALLOWED_GITHUB_ORGS'),
    },
    scopePolicy: scopePolicy.policy,
    adminPolicy: adminPolicy.policy,
    sessionSecret,
    allowPublicClientRegistration: flag('ALLOW_PUBLIC_CLIENT_REGISTRATION', true),
    allowPrivateUseRedirectUris: flag('ALLOW_PRIVATE_USE_REDIRECT_URIS', false),
    allowedOrigins: list('ALLOWED_ORIGINS').map((origin) => origin.replace(/\/+$/, '')),
    adminToken,
    mcpTransport: mcpTransport ?? 'stateless',
    rateLimits: limits !== 'off',
    lifetimes: {
      accessTokenSeconds: seconds('ACCESS_TOKEN_TTL_SECONDS', 3_600),
      refreshTokenSeconds: seconds('REFRESH_TOKEN_TTL_SECONDS', 30 * DAY_SECONDS),
      refreshIdleSeconds: secondsOrNever('REFRESH_TOKEN_IDLE_TTL_SECONDS', 30 * DAY_SECONDS),
      clientRegistrationSeconds: secondsOrNever('CLIENT_REGISTRATION_TTL_SECONDS', 180 * DAY_SECONDS),
      refreshReuseGraceSeconds,
    },
    kv: { consistencyLayer: layer !== 'off', simulatedLocations, simulatedDelayMs },
    audit: { enabled: auditSetting !== 'off', retentionDays },
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** OAuth 2.1 and the provider accept plain http only on loopback hosts (for local development). */
export function httpsOrLoopbackProblem(value: string): string | undefined {
  let parsedUrl: URL;
  try {
    parsedUrl = new URL(value);
  } catch {
    return 'must be an absolute URL';
  }
  if (parsedUrl.protocol === 'https:') return undefined;
  if (parsedUrl.protocol === 'http:' && isLoopbackHost(parsedUrl.hostname)) return undefined;
  return 'must use https (plain http is accepted only for localhost)';
}

export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}
