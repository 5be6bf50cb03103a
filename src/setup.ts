/**
 * Checks that the deployment can work before any request is served: bindings present and of the
 * right kind, configuration valid, and no development-only value on a deployed origin. A broken
 * setup gets a 500 whose body has a stable code and the names of what to fix, and nothing else: the
 * page is public, and a problem's explanation can quote a setting's value (an email address in
 * SCOPE_POLICY, say). The full explanations, each naming its fix, go to the Worker's log.
 */
import { ConfigError, isLoopbackHost, loadConfig, parseConfig, type Config } from './config';
import { DEV_OIDC_CLIENT_SECRET, DEV_SESSION_SECRET } from './dev-defaults';
import { RATE_LIMIT_BINDINGS } from './guard/rate-limits';

/** Exported for `npm run deploy`, which checks wrangler.jsonc declares each one (scripts/lib/worker-checks.ts). */
export const REQUIRED_BINDINGS = [
  { name: 'OAUTH_KV', kind: 'KV namespace', fix: 'Add it under "kv_namespaces" in wrangler.jsonc (create one with `npx wrangler kv namespace create OAUTH_KV`).', is: isKvNamespace },
  { name: 'MCP_OBJECT', kind: 'Durable Object namespace for McpSessionAgent', fix: 'Add it under "durable_objects.bindings" in wrangler.jsonc with class_name "McpSessionAgent", plus a "new_sqlite_classes" migration.', is: isDurableObjectNamespace },
  { name: 'KV_JOURNAL', kind: 'Durable Object namespace for KvJournal', fix: 'Add it under "durable_objects.bindings" in wrangler.jsonc with class_name "KvJournal", plus a "new_sqlite_classes" migration.', is: isDurableObjectNamespace },
  { name: 'AUDIT_LOG', kind: 'Durable Object namespace for AuditLog', fix: 'Add it under "durable_objects.bindings" in wrangler.jsonc with class_name "AuditLog", plus a "new_sqlite_classes" migration.', is: isDurableObjectNamespace },
  { name: 'UPSTREAM_VAULT', kind: 'Durable Object namespace for UpstreamTokenVault', fix: 'Add it under "durable_objects.bindings" in wrangler.jsonc with class_name "UpstreamTokenVault", plus a "new_sqlite_classes" migration.', is: isDurableObjectNamespace },
  { name: 'USER_NOTES', kind: 'Durable Object namespace for UserNotes', fix: 'Add it under "durable_objects.bindings" in wrangler.jsonc with class_name "UserNotes", plus a "new_sqlite_classes" migration.', is: isDurableObjectNamespace },
  ...RATE_LIMIT_BINDINGS.map((name) => ({
    name,
    kind: 'rate limiting binding',
    fix: `Add it under "ratelimits" in wrangler.jsonc (see the README, "Rate limits").`,
    is: isRateLimiter,
  })),
] as const;

export type SetupResult = { ok: true; config: Config } | { ok: false; problems: string[] };

const checked = new WeakMap<object, SetupResult>();
const logged = new Set<string>();

export function checkSetup(env: object): SetupResult {
  let result = checked.get(env);
  if (!result) {
    result = runChecks(env as Record<string, unknown>);
    checked.set(env, result);
  }
  return result;
}

function runChecks(env: Record<string, unknown>): SetupResult {
  const problems: string[] = [];
  for (const binding of REQUIRED_BINDINGS) {
    const value = env[binding.name];
    if (value === undefined) problems.push(`Binding ${binding.name} is missing: expected a ${binding.kind}. ${binding.fix}`);
    else if (!binding.is(value)) problems.push(`Binding ${binding.name} is not a ${binding.kind}. ${binding.fix}`);
  }
  try {
    const config = loadConfig(env);
    if (problems.length === 0) return { ok: true, config };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  return { ok: false, problems };
}

/**
 * Problems that depend on where the server answers: development and test switches, and the committed
 * development values, are refused on any origin that is not loopback (a deployed server).
 */
export function deploymentProblems(config: Config, origin: string): string[] {
  if (isLoopbackHost(new URL(origin).hostname)) return [];
  const problems: string[] = [];
  if (config.kv.simulatedLocations !== undefined) problems.push('SIMULATE_KV_LOCATIONS simulates Workers KV for tests and demonstrations and is refused on a deployed origin: remove it.');
  if (!config.rateLimits) problems.push('RATE_LIMITS=off is for load tests on this machine and is refused on a deployed origin: remove it (the limits are set in wrangler.jsonc).');
  if (!config.audit.enabled) problems.push('AUDIT=off is for load tests on this machine and is refused on a deployed origin: remove it (security events must be recorded).');
  if (config.sessionSecret === DEV_SESSION_SECRET) problems.push('SESSION_SECRET is the development value from .dev.vars.example: run `npx wrangler secret put SESSION_SECRET` with 32 or more random characters of your own.');
  if (config.upstream.kind === 'oidc') {
    if (config.upstream.clientSecret === DEV_OIDC_CLIENT_SECRET) problems.push("OIDC_CLIENT_SECRET is the local dev IdP's value from .dev.vars.example: run `npx wrangler secret put OIDC_CLIENT_SECRET` with your IdP's client secret.");
    if (isLoopbackHost(new URL(config.upstream.issuer).hostname)) problems.push("OIDC_ISSUER points at a loopback address (the local dev IdP): set it to your identity provider's issuer URL.");
  }
  return problems;
}

/**
 * The checks that need no live binding (the configuration, then what a deployed `origin` refuses),
 * as one pure function: `npm run setup` and `npm run deploy` run it from Node on wrangler.jsonc's vars
 * (scripts/lib/worker-checks.ts), so they refuse what the Worker would answer with a 500.
 */
export function configProblems(env: Record<string, unknown>, origin: string): string[] {
  try {
    return deploymentProblems(parseConfig(env), origin);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

/** The code on the wire for every setup error; monitoring can match it. */
export const SETUP_ERROR_CODE = 'setup_error';

export function setupErrorResponse(problems: string[]): Response {
  const details = `This MCP server is not set up correctly:\n${problems.map((problem) => `- ${problem}`).join('\n')}\n`;
  if (!logged.has(details)) {
    logged.add(details);
    console.error(details);
  }
  const names = [...new Set(problems.map((problem) => problemSubject(problem) ?? 'configuration'))];
  const message = `This MCP server is not set up correctly (${SETUP_ERROR_CODE}).\nTo fix: ${names.join(', ')}.\nThe Worker's log says what is wrong with each and how to fix it.\n`;
  return new Response(message, { status: 500, headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' } });
}

/** The binding or setting a problem is about: every problem's text starts with its name (npm run setup re-asks by it). */
export function problemSubject(problem: string): string | undefined {
  return /^(?:Binding )?([A-Z][A-Z0-9_]+)\b/.exec(problem)?.[1];
}

function isKvNamespace(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof Reflect.get(value, 'get') === 'function' && typeof Reflect.get(value, 'put') === 'function' && typeof Reflect.get(value, 'list') === 'function';
}

function isRateLimiter(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof Reflect.get(value, 'limit') === 'function';
}

function isDurableObjectNamespace(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof Reflect.get(value, 'idFromName') === 'function' && typeof Reflect.get(value, 'newUniqueId') === 'function';
}
