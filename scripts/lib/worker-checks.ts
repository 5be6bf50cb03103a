/**
 * The Worker's own setup checks (src/setup.ts), run from Node on wrangler.jsonc before anything is
 * deployed: what `npm run deploy` refuses is exactly what the deployed Worker would answer with a 500.
 *
 * Those modules import nothing Workers-only (no `cloudflare:*` module, no OAuth provider), which is
 * what lets them run here; keep it so. src/ is written for the bundler (extensionless imports), which this project's Node type check
 *   (nodenext) refuses, so the module is imported by a computed specifier, typed by WorkerChecks
 *   below; src/ is type-checked by its own tsconfig, and test/e2e/setup.test.ts runs this path.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { kvNamespaceEntry, parseJsonc, plain, property, scopeOf, type JsoncNode } from './jsonc.ts';
import { ROOT } from './wrangler-cli.ts';

/** What scripts use of src/setup.ts and src/config.ts. */
export interface WorkerChecks {
  REQUIRED_BINDINGS: ReadonlyArray<{ name: string; kind: string; fix: string }>;
  configProblems(env: Record<string, unknown>, origin: string): string[];
  isLoopbackHost(hostname: string): boolean;
  /** The setting or binding a problem is about (src/setup.ts starts every problem's text with its name); setup re-asks by it. */
  problemSubject(problem: string): string | undefined;
}

let loaded: Promise<WorkerChecks> | undefined;

/** Imports the checks, once. */
export function loadWorkerChecks(): Promise<WorkerChecks> {
  if (!loaded) {
    const module = (name: string): Promise<unknown> => import(pathToFileURL(join(ROOT, 'src', name)).href);
    loaded = Promise.all([module('setup.ts'), module('config.ts')]).then(([setup, config]) => ({ ...(setup as WorkerChecks), ...(config as Pick<WorkerChecks, 'isLoopbackHost'>) }));
  }
  return loaded;
}

/** The KV id wrangler.jsonc ships with: a placeholder no account has. */
export const PLACEHOLDER_KV_ID = '00000000000000000000000000000000';

/** The binding the Worker keeps its clients, grants and tokens in. */
export const OAUTH_KV_BINDING = 'OAUTH_KV';

export interface WranglerConfig {
  path: string;
  text: string;
  root: JsoncNode;
  /** The wrangler environment (`--env`), or undefined for the top level. */
  env: string | undefined;
  /** Where the environment's bindings and vars are: the top level, or `env.<name>` (undefined while the file has none). */
  scope: JsoncNode | undefined;
  /** The Worker's name as wrangler deploys it: in an environment, its own `name`, else `<name>-<environment>`. */
  name: string;
  /** The vars the Worker gets: an environment's own only, since wrangler does not inherit top-level vars. */
  vars: Record<string, string>;
  /** The id of the OAUTH_KV entry, if there is one. */
  kvId: string | undefined;
}

/** The configuration of `env` (or the top level) as wrangler will deploy it: name, vars and OAUTH_KV id. */
export function readWranglerConfig(path: string, env?: string): WranglerConfig {
  const text = readFileSync(path, 'utf8');
  const root = parseJsonc(text);
  const topName = property(root, 'name');
  if (topName?.type !== 'string' || topName.value === '') throw new Error(`${path} has no "name": the Worker's name is needed to find its secrets.`);
  const scope = scopeOf(root, env);
  // wrangler's rule: an environment's own `name`, else the top-level name with `-<environment>` appended.
  const ownName = env === undefined ? undefined : property(scope, 'name');
  const name = env === undefined ? topName.value : ownName?.type === 'string' && ownName.value !== '' ? ownName.value : `${topName.value}-${env}`;
  const vars: Record<string, string> = {};
  const declared = property(scope, 'vars');
  for (const [key, value] of Object.entries(declared ? (plain(declared) as Record<string, unknown>) : {})) {
    // Non-string vars reach the Worker as JSON values; the config check reports them by name.
    vars[key] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  const id = property(kvNamespaceEntry(scope, OAUTH_KV_BINDING), 'id');
  return { path, text, root, env, scope, name, vars, kvId: id?.type === 'string' ? id.value : undefined };
}

/** Every var name the file declares, at the top level or in any environment (`wrangler types` reads them all). */
export function declaredVarNames(config: WranglerConfig): Set<string> {
  const names = new Set<string>();
  const envs = property(config.root, 'env');
  const scopes = [config.root, ...(envs?.type === 'object' ? envs.properties.map((entry) => entry.value) : [])];
  for (const scope of scopes) {
    const vars = property(scope, 'vars');
    if (vars?.type === 'object') for (const entry of vars.properties) names.add(entry.key);
  }
  return names;
}

/** How a message names where a key lives: `wrangler.jsonc`, or `env.staging` of it. */
function where(config: WranglerConfig): string {
  return config.env === undefined ? 'wrangler.jsonc' : `env.${config.env} of wrangler.jsonc`;
}

/** `npm run setup`, as the message for this environment should spell it. */
export function setupCommand(env: string | undefined): string {
  return env === undefined ? 'npm run setup' : `npm run setup -- --env ${env}`;
}

/**
 * The bindings src/setup.ts requires, looked for where wrangler.jsonc declares each kind (in the
 * environment's own block: wrangler environments inherit no bindings), with the Worker's own message
 * and fix when one is missing; and the OAUTH_KV id still the placeholder.
 */
export function bindingProblems(config: WranglerConfig, required: WorkerChecks['REQUIRED_BINDINGS']): string[] {
  const problems: string[] = [];
  const names = (list: string, key: string, within?: string): Array<{ name: unknown; className: unknown }> => {
    const container = within ? property(property(config.scope, within), list) : property(config.scope, list);
    const items = container?.type === 'array' ? container.items.map(plain) : [];
    return items.map((item) => {
      const record = (item ?? {}) as Record<string, unknown>;
      return { name: record[key], className: record.class_name };
    });
  };
  // In an environment, the Worker's fix ("add it in wrangler.jsonc") needs saying where.
  const inEnvironment = config.env === undefined ? '' : ` Under env.${config.env}: wrangler environments do not inherit bindings (\`${setupCommand(config.env)}\` copies them from the top level).`;
  for (const binding of required) {
    let declared: boolean;
    const durableObject = /^Durable Object namespace for (\w+)$/.exec(binding.kind)?.[1];
    if (binding.kind === 'KV namespace') declared = names('kv_namespaces', 'binding').some((entry) => entry.name === binding.name);
    else if (binding.kind === 'rate limiting binding') declared = names('ratelimits', 'name').some((entry) => entry.name === binding.name);
    else if (durableObject) declared = names('bindings', 'name', 'durable_objects').some((entry) => entry.name === binding.name && entry.className === durableObject);
    else throw new Error(`scripts/lib/worker-checks.ts does not know where wrangler.jsonc declares a ${binding.kind} (${binding.name}): teach bindingProblems.`);
    if (!declared) problems.push(`Binding ${binding.name} is missing: expected a ${binding.kind}. ${binding.fix}${inEnvironment}`);
  }
  if (config.kvId === PLACEHOLDER_KV_ID) {
    problems.push(`Binding ${OAUTH_KV_BINDING} has the placeholder id ${PLACEHOLDER_KV_ID} in ${where(config)}: run \`${setupCommand(config.env)}\`, which creates the namespace and writes its id.`);
  }
  return problems;
}

/**
 * Stands in for a secret that is set in Cloudflare: its value cannot be read back (the API lists names
 * only), so the checks see one that passes their length rule and is no development value. `npm run
 * setup` generates SESSION_SECRET at full length; one set by hand is the Worker's to check.
 */
export const DEPLOYED_SECRET_STAND_IN = '(deployed secret: its value cannot be read back)';

/** The secrets the Worker reads; none is ever a var in wrangler.jsonc. */
export const SECRET_NAMES = ['SESSION_SECRET', 'OIDC_CLIENT_SECRET', 'GITHUB_CLIENT_SECRET', 'ADMIN_TOKEN'] as const;

/**
 * What the Worker would refuse once deployed, judged from its vars and the names of its secrets:
 * the configuration checks of src/setup.ts on a deployed origin (PUBLIC_URL, or else the workers.dev
 * address, which is the account's and unknown here; the checks only ask that it is not loopback).
 */
export function deployedConfigProblems(checks: WorkerChecks, config: Pick<WranglerConfig, 'name' | 'vars'>, secrets: Record<string, string>): string[] {
  const env: Record<string, unknown> = { ...config.vars, ...secrets };
  let origin = `https://${config.name}.workers.dev`;
  const problems: string[] = [];
  const publicUrl = config.vars.PUBLIC_URL?.trim();
  if (publicUrl && URL.canParse(publicUrl)) {
    const url = new URL(publicUrl);
    if (checks.isLoopbackHost(url.hostname)) problems.push(`PUBLIC_URL is a loopback address ("${publicUrl}"), where a deployed Worker is never reached: set it to the Worker's public origin, or remove it.`);
    else origin = url.origin;
  }
  return [...problems, ...checks.configProblems(env, origin)];
}


