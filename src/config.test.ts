import { describe, expect, it } from 'vitest';
import { ConfigError, httpsOrLoopbackProblem, parseConfig, type Config } from './config';

/** The least a working OIDC deployment sets. */
const MINIMAL = {
  OIDC_ISSUER: 'https://idp.example.com',
  OIDC_CLIENT_ID: 'mcp-worker',
  OIDC_CLIENT_SECRET: 'oidc-secret-value',
  SESSION_SECRET: 's'.repeat(32),
};

/** The problems `parseConfig` reports for `env`; fails the test if it accepts it. */
function problemsOf(env: Record<string, unknown>): string[] {
  try {
    parseConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('parseConfig accepted a configuration it should refuse');
}

const DAY = 86_400;

describe('parseConfig', () => {
  it('fills in the documented defaults', () => {
    const config: Config = parseConfig(MINIMAL);
    expect(config).toMatchObject({
      publicUrl: undefined,
      upstream: { kind: 'oidc', issuer: 'https://idp.example.com', clientId: 'mcp-worker', clientSecret: 'oidc-secret-value', scopes: ['openid', 'email', 'profile'] },
      signInPolicy: { emails: [], emailDomains: [], githubLogins: [], githubOrgs: [] },
      sessionSecret: 's'.repeat(32),
      allowPublicClientRegistration: true,
      mcpTransport: 'stateless',
      lifetimes: { accessTokenSeconds: 3_600, refreshTokenSeconds: 30 * DAY, refreshIdleSeconds: 30 * DAY, clientRegistrationSeconds: 180 * DAY, refreshReuseGraceSeconds: 60 },
    });
  });

  it('trims values, strips trailing slashes from URLs and lowercases allowlists', () => {
    const config = parseConfig({
      ...MINIMAL,
      OIDC_ISSUER: ' https://idp.example.com/tenant/ ',
      PUBLIC_URL: 'https://mcp.example.com/',
      ALLOWED_EMAILS: 'Alice@Example.com, bob@example.com',
      ALLOWED_EMAIL_DOMAINS: '@Example.org',
    });
    expect(config.upstream).toMatchObject({ issuer: 'https://idp.example.com/tenant' });
    expect(config.publicUrl).toBe('https://mcp.example.com');
    expect(config.signInPolicy.emails).toEqual(['alice@example.com', 'bob@example.com']);
    expect(config.signInPolicy.emailDomains).toEqual(['example.org']);
  });

  it.each(['ACCESS_TOKEN_TTL_SECONDS', 'REFRESH_TOKEN_TTL_SECONDS', 'REFRESH_TOKEN_IDLE_TTL_SECONDS', 'CLIENT_REGISTRATION_TTL_SECONDS'])(
    'refuses %s below the 60-second KV minimum',
    (name) => {
      const problems = problemsOf({ ...MINIMAL, [name]: '59' });
      expect(problems).toEqual([expect.stringContaining(name)]);
      expect(problems[0]).toContain('at least 60');
    },
  );

  it.each(['abc', '3600.5', '-1'])('refuses a lifetime of %j', (value) => {
    expect(problemsOf({ ...MINIMAL, ACCESS_TOKEN_TTL_SECONDS: value })).toEqual([expect.stringContaining('ACCESS_TOKEN_TTL_SECONDS')]);
  });

  it('accepts a lifetime of exactly 60 seconds', () => {
    expect(parseConfig({ ...MINIMAL, ACCESS_TOKEN_TTL_SECONDS: '60' }).lifetimes.accessTokenSeconds).toBe(60);
  });

  it("turns 'never' into no expiry for the registration and idle lifetimes", () => {
    const config = parseConfig({ ...MINIMAL, CLIENT_REGISTRATION_TTL_SECONDS: 'never', REFRESH_TOKEN_IDLE_TTL_SECONDS: 'NEVER' });
    expect(config.lifetimes.clientRegistrationSeconds).toBeUndefined();
    expect(config.lifetimes.refreshIdleSeconds).toBeUndefined();
  });

  it("does not accept 'never' for the access token lifetime", () => {
    expect(problemsOf({ ...MINIMAL, ACCESS_TOKEN_TTL_SECONDS: 'never' })).toEqual([expect.stringContaining('ACCESS_TOKEN_TTL_SECONDS')]);
  });

  it('refuses github-org: and github-login: SCOPE_POLICY rules when UPSTREAM is not github, naming the fix', () => {
    const problems = problemsOf({ ...MINIMAL, SCOPE_POLICY: '{"notes:write": ["github-org:acme"]}' });
    expect(problems).toEqual([expect.stringContaining('SCOPE_POLICY["notes:write"] has the rule "github-org:acme"')]);
    expect(problems[0]).toContain('UPSTREAM is "oidc"');
    expect(problems[0]).toContain('set UPSTREAM=github');
    expect(problemsOf({ ...MINIMAL, UPSTREAM: 'oidc', SCOPE_POLICY: { 'notes:read': ['github-login:octocat'] } })).toEqual([expect.stringContaining('"github-login:octocat"')]);
  });

  it('accepts github-org: SCOPE_POLICY rules with UPSTREAM=github', () => {
    const config = parseConfig({ ...MINIMAL, UPSTREAM: 'github', GITHUB_CLIENT_ID: 'gh-client', GITHUB_CLIENT_SECRET: 'gh-secret', SCOPE_POLICY: '{"notes:write": ["github-org:Acme"]}' });
    expect(config.scopePolicy).toEqual({ 'notes:write': [{ kind: 'github-org', value: 'acme' }] });
  });

  it('names GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET when UPSTREAM=github lacks them', () => {
    const problems = problemsOf({ SESSION_SECRET: MINIMAL.SESSION_SECRET, UPSTREAM: 'github' });
    expect(problems).toEqual(expect.arrayContaining([expect.stringContaining('GITHUB_CLIENT_ID'), expect.stringContaining('GITHUB_CLIENT_SECRET')]));
    // The OIDC settings are not required of a GitHub deployment.
    expect(problems.join('\n')).not.toContain('OIDC_');
  });

  it('builds a GitHub upstream with github.com defaults', () => {
    const config = parseConfig({ SESSION_SECRET: MINIMAL.SESSION_SECRET, UPSTREAM: 'GitHub', GITHUB_CLIENT_ID: 'gh-id', GITHUB_CLIENT_SECRET: 'gh-secret' });
    expect(config.upstream).toEqual({ kind: 'github', clientId: 'gh-id', clientSecret: 'gh-secret', webUrl: 'https://github.com', apiUrl: 'https://api.github.com', extraScopes: [] });
    // GitHub's API is the point of signing in with it: its tokens are kept unless switched off.
    expect(config.upstreamTokens).toEqual({ enabled: true, apiOrigins: [] });
  });

  it('keeps upstream tokens for OIDC only when UPSTREAM_TOKENS=on, and reads the API origins and GitHub scopes', () => {
    expect(parseConfig(MINIMAL).upstreamTokens).toEqual({ enabled: false, apiOrigins: [] });
    expect(parseConfig({ ...MINIMAL, UPSTREAM_TOKENS: 'on', UPSTREAM_API_ORIGINS: 'https://api.example.com, http://localhost:9000' }).upstreamTokens).toEqual({
      enabled: true,
      apiOrigins: ['https://api.example.com', 'http://localhost:9000'],
    });
    const github = parseConfig({ SESSION_SECRET: MINIMAL.SESSION_SECRET, UPSTREAM: 'github', GITHUB_CLIENT_ID: 'gh-id', GITHUB_CLIENT_SECRET: 'gh-secret', GITHUB_SCOPES: 'repo, read:org', UPSTREAM_TOKENS: 'off' });
    expect(github.upstream).toMatchObject({ extraScopes: ['repo', 'read:org'] });
    expect(github.upstreamTokens.enabled).toBe(false);
  });

  it.each([
    [{ UPSTREAM_TOKENS: 'yes' }, 'UPSTREAM_TOKENS must be "on" or "off" (got "yes").'],
    [{ UPSTREAM_API_ORIGINS: 'http://api.example.com' }, 'UPSTREAM_API_ORIGINS must use https (plain http is accepted only for localhost) (got "http://api.example.com").'],
    [{ UPSTREAM_API_ORIGINS: 'https://api.example.com/v1' }, 'UPSTREAM_API_ORIGINS takes origins without a path, like https://api.example.com (got "https://api.example.com/v1").'],
    [{ GITHUB_SCOPES: 'repo' }, 'GITHUB_SCOPES applies only to UPSTREAM=github: remove it, or ask an OIDC IdP for more with OIDC_SCOPES.'],
  ])('refuses %o, naming the fix', (vars, problem) => {
    expect(() => parseConfig({ ...MINIMAL, ...vars })).toThrow(expect.objectContaining({ problems: [problem] }));
  });

  it.each([
    ['mcp-agent', 'mcp-agent'],
    ['Stateless', 'stateless'],
  ])('reads MCP_TRANSPORT=%s', (value, mode) => {
    expect(parseConfig({ ...MINIMAL, MCP_TRANSPORT: value }).mcpTransport).toBe(mode);
  });

  it('refuses an unknown MCP_TRANSPORT, naming the values it takes', () => {
    expect(problemsOf({ ...MINIMAL, MCP_TRANSPORT: 'durable-object' })).toEqual(['MCP_TRANSPORT must be "stateless" or "mcp-agent" (got "durable-object").']);
  });

  it.each([
    [undefined, true],
    ['off', false],
    ['ON', true],
  ])('reads RATE_LIMITS=%s', (value, on) => {
    expect(parseConfig({ ...MINIMAL, ...(value !== undefined && { RATE_LIMITS: value }) }).rateLimits).toBe(on);
  });

  it.each([
    [undefined, 60],
    ['0', 0],
    ['300', 300],
  ])('reads REFRESH_TOKEN_REUSE_GRACE_SECONDS=%s', (value, seconds) => {
    expect(parseConfig({ ...MINIMAL, ...(value !== undefined && { REFRESH_TOKEN_REUSE_GRACE_SECONDS: value }) }).lifetimes.refreshReuseGraceSeconds).toBe(seconds);
  });

  it.each(['301', '-1', '1.5', 'a minute'])('refuses REFRESH_TOKEN_REUSE_GRACE_SECONDS=%s, naming the range', (value) => {
    expect(problemsOf({ ...MINIMAL, REFRESH_TOKEN_REUSE_GRACE_SECONDS: value })).toEqual([`REFRESH_TOKEN_REUSE_GRACE_SECONDS must be a whole number of seconds from 0 to 300 (got "${value}").`]);
  });

  it('refuses RATE_LIMITS that is neither on nor off', () => {
    expect(problemsOf({ ...MINIMAL, RATE_LIMITS: 'sometimes' })).toEqual(['RATE_LIMITS must be "on" or "off" (got "sometimes").']);
  });

  it.each(['ALLOWED_GITHUB_LOGINS', 'ALLOWED_GITHUB_ORGS'])('refuses %s with an upstream that is not GitHub: nobody could match it', (name) => {
    expect(problemsOf({ ...MINIMAL, [name]: 'octocat' })).toEqual([expect.stringMatching(new RegExp(`^${name} applies only to UPSTREAM=github`))]);
  });

  it('refuses an unknown UPSTREAM', () => {
    expect(problemsOf({ ...MINIMAL, UPSTREAM: 'saml' })).toEqual([expect.stringContaining('UPSTREAM must be "oidc" or "github"')]);
  });

  it.each(['http://idp.example.com', 'http://10.0.0.5:8080', 'ftp://idp.example.com', 'not a url'])('refuses the issuer %s', (issuer) => {
    expect(problemsOf({ ...MINIMAL, OIDC_ISSUER: issuer })).toEqual([expect.stringContaining('OIDC_ISSUER')]);
  });

  it.each(['http://localhost:8788', 'http://127.0.0.1:8788', 'http://[::1]:8788'])('accepts the loopback issuer %s for local development', (issuer) => {
    expect(parseConfig({ ...MINIMAL, OIDC_ISSUER: issuer }).upstream).toMatchObject({ issuer });
  });

  it('refuses a PUBLIC_URL with a path or on plain http', () => {
    expect(problemsOf({ ...MINIMAL, PUBLIC_URL: 'https://mcp.example.com/mcp' })).toEqual([expect.stringContaining('PUBLIC_URL must be an origin')]);
    expect(problemsOf({ ...MINIMAL, PUBLIC_URL: 'http://mcp.example.com' })).toEqual([expect.stringContaining('PUBLIC_URL')]);
  });

  it('requires SESSION_SECRET of at least 32 characters, without echoing it', () => {
    expect(problemsOf({ ...MINIMAL, SESSION_SECRET: undefined })).toEqual([expect.stringContaining('SESSION_SECRET is not set')]);
    const problems = problemsOf({ ...MINIMAL, SESSION_SECRET: 'x'.repeat(31) });
    expect(problems).toEqual([expect.stringContaining('SESSION_SECRET must be at least 32 characters')]);
    expect(problems.join('\n')).not.toContain('x'.repeat(31));
  });

  it('treats a blank secret as unset', () => {
    expect(problemsOf({ ...MINIMAL, OIDC_CLIENT_SECRET: '   ' })).toEqual([expect.stringContaining('OIDC_CLIENT_SECRET is not set')]);
  });

  it('refuses OIDC_SCOPES without openid', () => {
    expect(problemsOf({ ...MINIMAL, OIDC_SCOPES: 'email profile' })).toEqual([expect.stringContaining('openid')]);
  });

  it('refuses a non-boolean ALLOW_PUBLIC_CLIENT_REGISTRATION and reads false', () => {
    expect(problemsOf({ ...MINIMAL, ALLOW_PUBLIC_CLIENT_REGISTRATION: 'maybe' })).toEqual([expect.stringContaining('ALLOW_PUBLIC_CLIENT_REGISTRATION')]);
    expect(parseConfig({ ...MINIMAL, ALLOW_PUBLIC_CLIENT_REGISTRATION: 'false' }).allowPublicClientRegistration).toBe(false);
  });

  it('refuses a setting bound to something other than a string', () => {
    expect(problemsOf({ ...MINIMAL, OIDC_CLIENT_ID: 42 })).toEqual(expect.arrayContaining([expect.stringContaining('OIDC_CLIENT_ID must be a string')]));
  });

  it('reports every problem at once', () => {
    const problems = problemsOf({ UPSTREAM: 'oidc', ACCESS_TOKEN_TTL_SECONDS: '5' });
    for (const name of ['OIDC_ISSUER', 'OIDC_CLIENT_ID', 'OIDC_CLIENT_SECRET', 'SESSION_SECRET', 'ACCESS_TOKEN_TTL_SECONDS']) {
      expect(problems.some((problem) => problem.includes(name)), name).toBe(true);
    }
  });
});

describe('httpsOrLoopbackProblem', () => {
  it.each(['https://example.com', 'http://localhost', 'http://127.0.0.1:9', 'http://[::1]'])('accepts %s', (url) => {
    expect(httpsOrLoopbackProblem(url)).toBeUndefined();
  });

  it.each(['http://example.com', 'http://localhost.example.com', 'http://127.0.0.1.nip.io', 'javascript:alert(1)', '/relative'])('refuses %s', (url) => {
    expect(httpsOrLoopbackProblem(url)).toEqual(expect.any(String));
  });
});
