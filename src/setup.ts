/**
 * Checks that the deployment can work before any request is served: bindings present and of the
 * right kind, configuration valid. A broken setup gets a 500 that says exactly what to fix, never
 * a stack trace from deep inside a library, and never a secret's value.
 */
import { ConfigError, loadConfig, type Config } from './config';

const REQUIRED_BINDINGS = [
  { name: 'OAUTH_KV', kind: 'KV namespace', fix: 'Add it under "kv_namespaces" in wrangler.jsonc (create one with `npx wrangler kv namespace create OAUTH_KV`).', is: isKvNamespace },
  { name: 'MCP_OBJECT', kind: 'Durable Object namespace for McpSessionAgent', fix: 'Add it under "durable_objects.bindings" in wrangler.jsonc with class_name "McpSessionAgent", plus a "new_sqlite_classes" migration.', is: isDurableObjectNamespace },
  { name: 'KV_JOURNAL', kind: 'Durable Object namespace for KvJournal', fix: 'Add it under "durable_objects.bindings" in wrangler.jsonc with class_name "KvJournal", plus a "new_sqlite_classes" migration.', is: isDurableObjectNamespace },
  { name: 'USER_NOTES', kind: 'Durable Object namespace for UserNotes', fix: 'Add it under "durable_objects.bindings" in wrangler.jsonc with class_name "UserNotes", plus a "new_sqlite_classes" migration.', is: isDurableObjectNamespace },
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

export function setupErrorResponse(problems: string[]): Response {
  const message = `This MCP server is not set up correctly:\n${problems.map((problem) => `- ${problem}`).join('\n')}\n`;
  if (!logged.has(message)) {
    logged.add(message);
    console.error(message);
  }
  return new Response(message, { status: 500, headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' } });
}

function isKvNamespace(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof Reflect.get(value, 'get') === 'function' && typeof Reflect.get(value, 'put') === 'function' && typeof Reflect.get(value, 'list') === 'function';
}

function isDurableObjectNamespace(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof Reflect.get(value, 'idFromName') === 'function' && typeof Reflect.get(value, 'newUniqueId') === 'function';
}
