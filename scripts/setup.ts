/**
 * `npm run setup`: everything a first deploy needs, through wrangler, and safe to run again.
 *
 * 1. The OAUTH_KV namespace: the one wrangler.jsonc names if the account has it, else the one titled
 *    `<worker name>-OAUTH_KV`, else a new one by that title; its id written into wrangler.jsonc.
 * 2. The upstream settings (UPSTREAM, OIDC_ISSUER and OIDC_CLIENT_ID, or GITHUB_CLIENT_ID; PUBLIC_URL),
 *    checked with the Worker's own rules before anything changes, written into `vars`.
 * 3. The secrets, each only if the Worker does not have it yet: SESSION_SECRET generated (32 random
 *    bytes), OIDC_CLIENT_SECRET or GITHUB_CLIENT_SECRET from the environment or typed (hidden).
 * A second run with the same answers changes nothing. No secret is ever printed.
 *
 * Non-interactive (`--non-interactive`, or no terminal): values from flags, else the environment,
 * else wrangler.jsonc; secrets from the environment only (a command line is visible to every process
 * on the machine). A missing value fails, naming it. For CI: CLOUDFLARE_API_TOKEN and
 * CLOUDFLARE_ACCOUNT_ID in the environment, and no `wrangler login`.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { setKvNamespaceId, setVar } from './lib/jsonc.ts';
import { DEPLOYED_SECRET_STAND_IN, deployedConfigProblems, loadWorkerChecks, OAUTH_KV_BINDING, PLACEHOLDER_KV_ID, readWranglerConfig, type WranglerConfig } from './lib/worker-checks.ts';
import { createKvNamespace, listKvNamespaces, listSecretNames, putSecret, ROOT } from './lib/wrangler-cli.ts';

/** 32 random bytes: 256 bits for the HMAC key, 43 base64url characters (the Worker asks for 32+). */
const SESSION_SECRET_BYTES = 32;

/** The settings setup asks for, each with its flag and what to say when it is missing. */
const SETTINGS = {
  UPSTREAM: { flag: 'upstream', question: 'Upstream identity provider (oidc or github)' },
  OIDC_ISSUER: { flag: 'oidc-issuer', question: "Your IdP's issuer URL (e.g. https://accounts.google.com)" },
  OIDC_CLIENT_ID: { flag: 'oidc-client-id', question: "This Worker's client id at the IdP" },
  GITHUB_CLIENT_ID: { flag: 'github-client-id', question: "Your GitHub OAuth app's client id" },
  PUBLIC_URL: { flag: 'public-url', question: 'Public origin, e.g. https://mcp.example.com (empty: the workers.dev address)' },
} as const;
type Setting = keyof typeof SETTINGS;

const UPSTREAM_SECRET = { oidc: 'OIDC_CLIENT_SECRET', github: 'GITHUB_CLIENT_SECRET' } as const;

const { values: flags } = parseArgs({
  options: {
    config: { type: 'string' },
    'non-interactive': { type: 'boolean', default: false },
    upstream: { type: 'string' },
    'oidc-issuer': { type: 'string' },
    'oidc-client-id': { type: 'string' },
    'github-client-id': { type: 'string' },
    'public-url': { type: 'string' },
  },
  strict: true,
});

function flagValue(setting: Setting): string | undefined {
  const value = flags[SETTINGS[setting].flag];
  return typeof value === 'string' ? value : undefined;
}

/** A setting given on this run: its flag, else the environment variable of its name. */
function given(setting: Setting): string | undefined {
  const value = flagValue(setting) ?? process.env[setting];
  return value === undefined ? undefined : value.trim();
}

interface Answers {
  upstream: 'oidc' | 'github';
  vars: Partial<Record<Setting, string>>;
}

async function collect(config: WranglerConfig, interactive: boolean): Promise<Answers> {
  const ask = interactive ? createInterface({ input: process.stdin, output: process.stdout }) : undefined;
  try {
    // An empty answer keeps what is shown in brackets: the value given on this run or in wrangler.jsonc.
    const value = async (setting: Setting): Promise<string | undefined> => {
      const current = given(setting) ?? config.vars[setting];
      if (!ask) return current;
      const answer = (await ask.question(`${SETTINGS[setting].question}${current ? ` [${current}]` : ''}: `)).trim();
      return answer || current;
    };
    const upstream = ((await value('UPSTREAM')) ?? 'oidc').toLowerCase();
    if (upstream !== 'oidc' && upstream !== 'github') throw new SetupError([`UPSTREAM must be "oidc" or "github" (got "${upstream}").`]);
    const vars: Answers['vars'] = { UPSTREAM: upstream };
    const needed: Setting[] = upstream === 'oidc' ? ['OIDC_ISSUER', 'OIDC_CLIENT_ID'] : ['GITHUB_CLIENT_ID'];
    for (const setting of needed) vars[setting] = await value(setting);
    const publicUrl = await value('PUBLIC_URL');
    if (publicUrl) vars.PUBLIC_URL = publicUrl;
    const missing = needed.filter((setting) => !vars[setting]);
    if (missing.length > 0) throw new SetupError(missing.map((setting) => `${setting} is missing: pass --${SETTINGS[setting].flag} or set ${setting} in the environment.`));
    return { upstream, vars };
  } finally {
    ask?.close();
  }
}

class SetupError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

async function main(): Promise<void> {
  const configPath = resolve(flags.config ?? join(ROOT, 'wrangler.jsonc'));
  const interactive = !flags['non-interactive'] && process.stdin.isTTY === true;
  const config = readWranglerConfig(configPath);
  const checks = await loadWorkerChecks();

  // 1. Everything asked and checked before anything changes.
  const answers = await collect(config, interactive);
  const existingSecrets = await listSecretNames(configPath);
  const upstreamSecret = UPSTREAM_SECRET[answers.upstream];
  const upstreamSecretValue = process.env[upstreamSecret]?.trim() || undefined;
  if (!existingSecrets.has(upstreamSecret) && upstreamSecretValue === undefined && !interactive) {
    throw new SetupError([`${upstreamSecret} is missing: set it in the environment (secrets are never taken as flags, which other processes can read).`]);
  }
  const newVars = { ...config.vars, ...answers.vars };
  const problems = deployedConfigProblems(checks, { name: config.name, vars: newVars }, {
    SESSION_SECRET: DEPLOYED_SECRET_STAND_IN,
    // Typed at wrangler's prompt (interactive), it is not seen here; from the environment it is checked.
    [upstreamSecret]: existingSecrets.has(upstreamSecret) ? DEPLOYED_SECRET_STAND_IN : (upstreamSecretValue ?? DEPLOYED_SECRET_STAND_IN),
  });
  if (problems.length > 0) throw new SetupError(problems);

  // 2. The KV namespace.
  const title = `${config.name}-${OAUTH_KV_BINDING}`;
  const namespaces = await listKvNamespaces(configPath);
  const configured = config.kvId && config.kvId !== PLACEHOLDER_KV_ID ? namespaces.find((namespace) => namespace.id === config.kvId) : undefined;
  const namespace = configured ?? namespaces.find((candidate) => candidate.title === title) ?? (await createKvNamespace(configPath, title));
  const created = !configured && !namespaces.some((candidate) => candidate.id === namespace.id);
  let text = config.text;
  if (namespace.id !== config.kvId) text = setKvNamespaceId(text, OAUTH_KV_BINDING, namespace.id);
  console.log(`${OAUTH_KV_BINDING}: ${created ? 'created' : 'using'} KV namespace "${namespace.title}" (${namespace.id}).`);

  // 3. The vars.
  const changedVars = (Object.keys(answers.vars) as Setting[]).filter((name) => (answers.vars[name] ?? '') !== (config.vars[name] ?? ''));
  const addedVarNames = changedVars.filter((name) => !(name in config.vars));
  for (const name of changedVars) text = setVar(text, name, answers.vars[name] ?? '');
  if (text !== config.text) writeFileSync(configPath, text);
  console.log(changedVars.length > 0 ? `vars: set ${changedVars.join(', ')} in ${configPath}.` : 'vars: unchanged.');

  // 4. The secrets: each only if the Worker does not have it yet.
  const secretsToSet: Array<[string, string | undefined]> = [];
  if (!existingSecrets.has('SESSION_SECRET')) secretsToSet.push(['SESSION_SECRET', randomBytes(SESSION_SECRET_BYTES).toString('base64url')]);
  if (!existingSecrets.has(upstreamSecret)) secretsToSet.push([upstreamSecret, upstreamSecretValue]);
  for (const [name, value] of secretsToSet) {
    if (value === undefined) console.log(`${name}: wrangler asks for it now (hidden as you type).`);
    await putSecret(configPath, name, value);
    console.log(`${name}: set.`);
  }
  for (const name of ['SESSION_SECRET', upstreamSecret]) {
    if (existingSecrets.has(name)) console.log(`${name}: already set, kept (to replace it: npx wrangler secret put ${name}).`);
  }

  if (addedVarNames.length > 0) console.log(`\nNew vars (${addedVarNames.join(', ')}): run \`npm run types\` so worker-configuration.d.ts names them (\`npm run check\` compares it).`);
  console.log('\nSetup complete. Next:\n\n  npm run deploy\n');
}

main().catch((error: unknown) => {
  if (error instanceof SetupError) console.error(`Setup stopped, nothing was changed:\n${error.problems.map((problem) => `- ${problem}`).join('\n')}`);
  else console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
