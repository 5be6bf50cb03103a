import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEV_OIDC_CLIENT_SECRET, DEV_SESSION_SECRET } from '../../src/dev-defaults';
import { workerWithEnv } from './helpers';

afterEach(() => {
  vi.restoreAllMocks();
});

/** What the Worker wrote to the error log while `run` ran. */
async function errorLog(run: () => Promise<unknown>): Promise<string> {
  const lines: string[] = [];
  vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(' ')));
  await run();
  return lines.join('\n');
}

/** `env` without `name`: a deployment that forgot a binding or a secret. */
function without(name: keyof Env): Env {
  const { [name]: _removed, ...rest } = env;
  return rest as Env;
}

/** Every secret value the Worker holds; a setup error must never show one. */
function secretValues(): string[] {
  return [env.OIDC_CLIENT_SECRET, env.SESSION_SECRET].filter((value) => typeof value === 'string' && value.length > 0);
}

const SHORT_SECRET = 'short-session-secret-31-chars!!';

describe('a broken setup is refused with a 500 that names what to fix, and explains it in the log', () => {
  it.each<[string, () => Env, string[], RegExp[]]>([
    ['the OAUTH_KV binding is missing', () => without('OAUTH_KV'), ['OAUTH_KV'], [/Binding OAUTH_KV is missing/, /kv_namespaces/, /wrangler kv namespace create OAUTH_KV/]],
    ['OAUTH_KV is not a KV namespace', () => ({ ...env, OAUTH_KV: 'oops' as unknown as KVNamespace }), ['OAUTH_KV'], [/Binding OAUTH_KV is not a KV namespace/, /kv_namespaces/]],
    ['the MCP_OBJECT binding is missing', () => without('MCP_OBJECT'), ['MCP_OBJECT'], [/Binding MCP_OBJECT is missing/, /durable_objects\.bindings/, /McpSessionAgent/]],
    ['the USER_NOTES binding is missing', () => without('USER_NOTES'), ['USER_NOTES'], [/Binding USER_NOTES is missing/, /UserNotes/]],
    ['SESSION_SECRET is not set', () => without('SESSION_SECRET'), ['SESSION_SECRET'], [/SESSION_SECRET is not set/, /wrangler secret put SESSION_SECRET/]],
    ['SESSION_SECRET is too short', () => ({ ...env, SESSION_SECRET: SHORT_SECRET }), ['SESSION_SECRET'], [/SESSION_SECRET must be at least 32 characters/]],
    ['OIDC_CLIENT_SECRET is not set', () => without('OIDC_CLIENT_SECRET'), ['OIDC_CLIENT_SECRET'], [/OIDC_CLIENT_SECRET is not set/, /wrangler secret put OIDC_CLIENT_SECRET/]],
  ])('when %s', async (_label, variant, names, explanations) => {
    expect(secretValues()).toHaveLength(2); // the secrecy check below is only as good as this
    for (const path of ['/', '/mcp', '/.well-known/oauth-authorization-server']) {
      let response: Response | undefined;
      const log = await errorLog(async () => {
        response = await workerWithEnv(variant(), path);
      });
      expect(response?.status).toBe(500);
      expect(response?.headers.get('Content-Type')).toMatch(/^text\/plain/);
      expect(response?.headers.get('Cache-Control')).toBe('no-store');
      const body = (await response?.text()) ?? '';
      expect(body).toBe(`This MCP server is not set up correctly (setup_error).\nTo fix: ${names.join(', ')}.\nThe Worker's log says what is wrong with each and how to fix it.\n`);
      for (const secret of [...secretValues(), SHORT_SECRET]) expect(body).not.toContain(secret);
      // Logged once per distinct setup, so only the first request of a case has it.
      if (path === '/') for (const explanation of explanations) expect(log).toMatch(explanation);
    }
  });

  it('never shows a setting’s value: a SCOPE_POLICY problem names SCOPE_POLICY only', async () => {
    const variant = { ...env, SCOPE_POLICY: JSON.stringify({ 'notes:write': ['email:ceo@secret-company.example', 'frobnicate:x'] }) } as unknown as Env;
    let response: Response | undefined;
    const log = await errorLog(async () => {
      response = await workerWithEnv(variant, '/');
    });
    const body = (await response?.text()) ?? '';
    expect(response?.status).toBe(500);
    expect(body).toContain('To fix: SCOPE_POLICY.');
    expect(body).not.toContain('frobnicate');
    expect(body).not.toContain('ceo@');
    expect(log).toContain('frobnicate');
  });

  it.each([
    ['the committed development SESSION_SECRET', { SESSION_SECRET: DEV_SESSION_SECRET }, 'SESSION_SECRET'],
    ["the dev IdP's committed client secret", { OIDC_CLIENT_SECRET: DEV_OIDC_CLIENT_SECRET }, 'OIDC_CLIENT_SECRET'],
    ['a loopback IdP (the dev IdP)', { OIDC_ISSUER: 'http://localhost:8788' }, 'OIDC_ISSUER'],
    ['the KV simulator', { SIMULATE_KV_LOCATIONS: '3' }, 'SIMULATE_KV_LOCATIONS'],
    ['the rate limits switched off', { RATE_LIMITS: 'off' }, 'RATE_LIMITS'],
  ])('refuses to serve a deployed origin with %s, and serves loopback with it', async (_label, values, name) => {
    // The test env is the development setup: override the rest with production-like values.
    const production = { ...env, SESSION_SECRET: 'a-real-secret-of-at-least-32-characters!!', OIDC_CLIENT_SECRET: 'real-idp-secret', OIDC_ISSUER: 'https://idp.example.com', ...values } as unknown as Env;
    const deployed = await workerWithEnv({ ...production, PUBLIC_URL: 'https://mcp.example.com' } as Env, 'https://mcp.example.com/');
    expect(deployed.status).toBe(500);
    expect(await deployed.text()).toContain(`To fix: ${name}.`);
    const local = await workerWithEnv(production, '/');
    expect(local.status).toBe(200);
  });

  it('keeps the development values in step with .dev.vars.example (which the test env is read from)', () => {
    expect(env.SESSION_SECRET).toBe(DEV_SESSION_SECRET);
    expect(env.OIDC_CLIENT_SECRET).toBe(DEV_OIDC_CLIENT_SECRET);
  });

  it('lists every problem at once', async () => {
    const { OAUTH_KV: _kv, MCP_OBJECT: _mcp, SESSION_SECRET: _secret, ...rest } = env;
    const body = await (await workerWithEnv(rest as Env, '/')).text();
    expect(body).toContain('OAUTH_KV');
    expect(body).toContain('MCP_OBJECT');
    expect(body).toContain('SESSION_SECRET');
  });

  it('serves normally with the full environment (the control for the cases above)', async () => {
    const response = await workerWithEnv({ ...env }, '/');
    expect(response.status).toBe(200);
  });
});
