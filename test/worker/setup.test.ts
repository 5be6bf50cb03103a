import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { workerWithEnv } from './helpers';

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

describe('a broken setup is refused with a 500 that names the fix', () => {
  it.each<[string, () => Env, RegExp[]]>([
    ['the OAUTH_KV binding is missing', () => without('OAUTH_KV'), [/Binding OAUTH_KV is missing/, /kv_namespaces/, /wrangler kv namespace create OAUTH_KV/]],
    ['OAUTH_KV is not a KV namespace', () => ({ ...env, OAUTH_KV: 'oops' as unknown as KVNamespace }), [/Binding OAUTH_KV is not a KV namespace/, /kv_namespaces/]],
    ['the MCP_OBJECT binding is missing', () => without('MCP_OBJECT'), [/Binding MCP_OBJECT is missing/, /durable_objects\.bindings/, /McpSessionAgent/]],
    ['the USER_NOTES binding is missing', () => without('USER_NOTES'), [/Binding USER_NOTES is missing/, /UserNotes/]],
    ['SESSION_SECRET is not set', () => without('SESSION_SECRET'), [/SESSION_SECRET is not set/, /wrangler secret put SESSION_SECRET/]],
    ['SESSION_SECRET is too short', () => ({ ...env, SESSION_SECRET: SHORT_SECRET }), [/SESSION_SECRET must be at least 32 characters/]],
    ['OIDC_CLIENT_SECRET is not set', () => without('OIDC_CLIENT_SECRET'), [/OIDC_CLIENT_SECRET is not set/, /wrangler secret put OIDC_CLIENT_SECRET/]],
  ])('when %s', async (_label, variant, explanations) => {
    expect(secretValues()).toHaveLength(2); // the secrecy check below is only as good as this
    for (const path of ['/', '/mcp', '/.well-known/oauth-authorization-server']) {
      const response = await workerWithEnv(variant(), path);
      expect(response.status).toBe(500);
      expect(response.headers.get('Content-Type')).toMatch(/^text\/plain/);
      expect(response.headers.get('Cache-Control')).toBe('no-store');
      const body = await response.text();
      expect(body).toMatch(/^This MCP server is not set up correctly:/);
      for (const explanation of explanations) expect(body).toMatch(explanation);
      for (const secret of [...secretValues(), SHORT_SECRET]) expect(body).not.toContain(secret);
    }
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
