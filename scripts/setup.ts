/**
 * `npm run setup`: everything a first deploy needs, through wrangler, and safe to run again.
 *
 * 1. The OAUTH_KV namespace: the one wrangler.jsonc names if the account has it, else the one titled
 *    `<worker name>-OAUTH_KV`, else a new one by that title; its id written into wrangler.jsonc.
 * 2. The upstream settings (UPSTREAM, OIDC_ISSUER and OIDC_CLIENT_ID, or GITHUB_CLIENT_ID; PUBLIC_URL),
 *    checked with the Worker's own rules before anything changes, written into `vars`. Asked at a
 *    terminal, a bad answer is explained and asked again.
 * 3. The secrets, each only if the Worker does not have it yet: SESSION_SECRET generated (32 random
 *    bytes), OIDC_CLIENT_SECRET or GITHUB_CLIENT_SECRET from the environment or typed (hidden).
 * A second run with the same answers changes nothing. No secret is ever printed.
 *
 * `--env <name>` (or CLOUDFLARE_ENV, as wrangler reads it) sets up that wrangler environment: its
 * Worker is `<name>-<environment>`, and since wrangler environments inherit neither bindings nor vars,
 * `env.<name>` gets its own OAUTH_KV entry and vars, and copies of the top-level Durable Object and
 * rate-limit bindings when it has none.
 *
 * Non-interactive (`--non-interactive`, or no terminal): values from flags, else the environment,
 * else wrangler.jsonc; secrets from the environment only (a command line is visible to every process
 * on the machine). A missing or bad value fails, naming the fix. For CI: CLOUDFLARE_API_TOKEN and
 * CLOUDFLARE_ACCOUNT_ID in the environment, and no `wrangler login`. `--interactive` asks even without
 * a terminal, reading one answer a line from stdin (secrets then come from the environment).
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { parseArgs } from 'node:util';
import { copyIntoEnvironment, ensureEnvironment, setKvNamespaceId, setVar } from './lib/jsonc.ts';
import {
  declaredVarNames,
  DEPLOYED_SECRET_STAND_IN,
  deployedConfigProblems,
  loadWorkerChecks,
  OAUTH_KV_BINDING,
  PLACEHOLDER_KV_ID,
  readWranglerConfig,
  type WorkerChecks,
  type WranglerConfig,
} from './lib/worker-checks.ts';
import { createKvNamespace, listKvNamespaces, listSecretNames, putSecret, ROOT, type WorkerTarget } from './lib/wrangler-cli.ts';

/** 32 random bytes: 256 bits for the HMAC key, 43 base64url characters (the Worker asks for 32+). */
const SESSION_SECRET_BYTES = 32;

/** The settings setup asks for, each with its flag and question. */
const SETTINGS = {
  UPSTREAM: { flag: 'upstream', question: 'Upstream identity provider (oidc or github)' },
  OIDC_ISSUER: { flag: 'oidc-issuer', question: "Your IdP's issuer URL (e.g. https://accounts.google.com)" },
  OIDC_CLIENT_ID: { flag: 'oidc-client-id', question: "This Worker's client id at the IdP" },
  GITHUB_CLIENT_ID: { flag: 'github-client-id', question: "Your GitHub OAuth app's client id" },
  PUBLIC_URL: { flag: 'public-url', question: 'Public origin, e.g. https://mcp.example.com (empty: the workers.dev address)' },
} as const;
type Setting = keyof typeof SETTINGS;

/**
 * Valid values for the required settings not asked yet, while one answer is checked: the Worker's
 * checks stop at the first unparsable configuration, so without them a missing OIDC_CLIENT_ID would
 * hide that the issuer just typed is a loopback address.
 */
const STAND_INS: Partial<Record<Setting, string>> = { OIDC_ISSUER: 'https://issuer.example', OIDC_CLIENT_ID: 'stand-in-client-id', GITHUB_CLIENT_ID: 'stand-in-client-id' };

const UPSTREAM_SECRET = { oidc: 'OIDC_CLIENT_SECRET', github: 'GITHUB_CLIENT_SECRET' } as const;

/** Written into wrangler.jsonc above a new `env` block, so the next reader knows what it holds and why. */
const ENV_BLOCK_COMMENT = [
  'wrangler environments (`--env <name>`, or CLOUDFLARE_ENV): each deploys as its own Worker,',
  '"<name>-<environment>", and inherits no bindings and no vars from the top level.',
];
const COPIED_BLOCK_COMMENTS: Record<string, string[]> = {
  durable_objects: ['Copied from the top level by `npm run setup`: environments inherit no bindings.'],
  ratelimits: ['Copied from the top level: the same namespace_ids share their counters with the top-level', "Worker's (the ids are account-wide); give this environment ids of its own to count it apart."],
};

const { values: flags } = parseArgs({
  options: {
    config: { type: 'string' },
    env: { type: 'string', short: 'e' },
    'non-interactive': { type: 'boolean', default: false },
    interactive: { type: 'boolean', default: false },
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

class SetupError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

/**
 * Questions at the terminal, or on stdin a line at a time. Lines are read through an async iterator,
 * which buffers them: readline's `question()` drops lines that arrive before it is called (piped
 * answers do) and never settles when the input ends.
 */
class Prompter {
  private readonly lines: AsyncIterator<string>;

  private constructor(private readonly rl: Interface) {
    this.lines = rl[Symbol.asyncIterator]();
  }

  static open(): Prompter {
    const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY === true });
    // At a terminal readline takes Ctrl-C for itself and only pauses; questions come before any change, so stop.
    rl.on('SIGINT', () => {
      console.error('\nSetup stopped, nothing was changed.');
      process.exit(130);
    });
    return new Prompter(rl);
  }

  async ask(question: string): Promise<string> {
    this.rl.setPrompt(question);
    this.rl.prompt();
    const line = await this.lines.next();
    // Piped answers are not echoed: end the question's line, so what follows starts on a line of its own.
    if (line.done || process.stdin.isTTY !== true) process.stdout.write('\n');
    if (line.done) throw new SetupError(['The input ended before every question had a valid answer: run `npm run setup` again.']);
    return line.value.trim();
  }

  close(): void {
    this.rl.close();
  }
}

/**
 * The answers, each checked with the Worker's own rules as it is given: at a prompt, a bad one is
 * explained and asked again; otherwise (flags, environment, wrangler.jsonc) the run stops naming it.
 */
async function collect(config: WranglerConfig, checks: WorkerChecks, prompter: Prompter | undefined): Promise<Answers> {
  const vars: Answers['vars'] = {};
  /** The Worker's problems with `setting` if it had `value`, the settings after it standing in valid. */
  const problemsWith = (setting: Setting, value: string | undefined, later: readonly Setting[]): string[] => {
    const candidate: Record<string, string> = { ...config.vars, ...vars };
    for (const name of later) {
      const standIn = STAND_INS[name];
      if (standIn === undefined) delete candidate[name];
      else candidate[name] = standIn;
    }
    if (value === undefined || value === '') delete candidate[setting];
    else candidate[setting] = value;
    const secrets = { SESSION_SECRET: DEPLOYED_SECRET_STAND_IN, OIDC_CLIENT_SECRET: DEPLOYED_SECRET_STAND_IN, GITHUB_CLIENT_SECRET: DEPLOYED_SECRET_STAND_IN };
    return deployedConfigProblems(checks, { name: config.name, vars: candidate }, secrets).filter((problem) => checks.problemSubject(problem) === setting);
  };
  // An empty answer keeps what is shown in brackets: the value given on this run or in wrangler.jsonc.
  const value = async (setting: Setting, later: readonly Setting[]): Promise<string | undefined> => {
    const current = given(setting) ?? config.vars[setting];
    if (!prompter) return current;
    for (;;) {
      const answer = (await prompter.ask(`${SETTINGS[setting].question}${current ? ` [${current}]` : ''}: `)) || current;
      const problems = problemsWith(setting, setting === 'UPSTREAM' ? answer?.toLowerCase() : answer, later);
      if (problems.length === 0) return answer;
      console.log(`${problems.map((problem) => `  ✗ ${problem}`).join('\n')}\n  Please answer again.`);
    }
  };
  const upstream = ((await value('UPSTREAM', ['OIDC_ISSUER', 'OIDC_CLIENT_ID', 'GITHUB_CLIENT_ID', 'PUBLIC_URL'])) ?? 'oidc').toLowerCase();
  if (upstream !== 'oidc' && upstream !== 'github') throw new SetupError([`UPSTREAM must be "oidc" or "github" (got "${upstream}"): pass --upstream or set UPSTREAM in the environment.`]);
  vars.UPSTREAM = upstream;
  const needed: Setting[] = upstream === 'oidc' ? ['OIDC_ISSUER', 'OIDC_CLIENT_ID'] : ['GITHUB_CLIENT_ID'];
  for (const [index, setting] of needed.entries()) vars[setting] = await value(setting, [...needed.slice(index + 1), 'PUBLIC_URL']);
  const publicUrl = await value('PUBLIC_URL', []);
  if (publicUrl) vars.PUBLIC_URL = publicUrl;
  const missing = needed.filter((setting) => !vars[setting]);
  if (missing.length > 0) throw new SetupError(missing.map((setting) => `${setting} is missing: pass --${SETTINGS[setting].flag} or set ${setting} in the environment.`));
  return { upstream, vars };
}

/** The environment to set up: `--env`, else CLOUDFLARE_ENV (wrangler's own order); empty is the top level. */
function environmentName(): string | undefined {
  const name = (flags.env ?? process.env.CLOUDFLARE_ENV ?? '').trim();
  return name === '' ? undefined : name;
}

async function main(): Promise<void> {
  if (flags.interactive && flags['non-interactive']) throw new SetupError(['--interactive and --non-interactive contradict each other: pass one.']);
  const configPath = resolve(flags.config ?? join(ROOT, 'wrangler.jsonc'));
  const env = environmentName();
  // Questions at a terminal (or with --interactive); wrangler's hidden prompt for a secret only at a terminal.
  const prompting = !flags['non-interactive'] && (flags.interactive || process.stdin.isTTY === true);
  const secretPrompt = prompting && process.stdin.isTTY === true;
  const config = readWranglerConfig(configPath, env);
  const target: WorkerTarget = { configPath, env, envDeclared: config.scope !== undefined, name: config.name };
  const checks = await loadWorkerChecks();
  if (env !== undefined) console.log(`Environment "${env}": the Worker ${config.name}, configured under env.${env} of ${configPath}.`);

  // 1. Everything asked and checked before anything changes.
  const prompter = prompting ? Prompter.open() : undefined;
  let answers: Answers;
  try {
    answers = await collect(config, checks, prompter);
  } finally {
    prompter?.close();
  }
  const upstreamSecret = UPSTREAM_SECRET[answers.upstream];
  const upstreamSecretValue = process.env[upstreamSecret]?.trim() || undefined;
  // The settings first, with every secret standing in as set: a bad value fails before any round trip.
  const secretStandIns = { SESSION_SECRET: DEPLOYED_SECRET_STAND_IN, [upstreamSecret]: DEPLOYED_SECRET_STAND_IN };
  const newVars = { ...config.vars, ...answers.vars };
  const varProblems = deployedConfigProblems(checks, { name: config.name, vars: newVars }, secretStandIns);
  if (varProblems.length > 0) throw new SetupError(varProblems);
  // Both listings only read, so they run side by side (each is a wrangler start of a second or two).
  const [existingSecrets, namespaces] = await Promise.all([listSecretNames(target), listKvNamespaces(configPath)]);
  if (!existingSecrets.has(upstreamSecret)) {
    if (upstreamSecretValue === undefined && !secretPrompt) {
      throw new SetupError([`${upstreamSecret} is missing: set it in the environment (secrets are never taken as flags, which other processes can read).`]);
    }
    // The value that will be set, when it comes from the environment (typed at wrangler's prompt, it is not seen here).
    const secretProblems = deployedConfigProblems(checks, { name: config.name, vars: newVars }, { ...secretStandIns, [upstreamSecret]: upstreamSecretValue ?? DEPLOYED_SECRET_STAND_IN });
    if (secretProblems.length > 0) throw new SetupError(secretProblems);
  }

  // 2. The KV namespace.
  const title = `${config.name}-${OAUTH_KV_BINDING}`;
  const configured = config.kvId && config.kvId !== PLACEHOLDER_KV_ID ? namespaces.find((namespace) => namespace.id === config.kvId) : undefined;
  const namespace = configured ?? namespaces.find((candidate) => candidate.title === title) ?? (await createKvNamespace(configPath, title));
  const created = !configured && !namespaces.some((candidate) => candidate.id === namespace.id);
  let text = config.text;
  if (env !== undefined) {
    // The environment's block, and the bindings it would otherwise lack.
    text = ensureEnvironment(text, env, ENV_BLOCK_COMMENT);
    for (const [key, comment] of Object.entries(COPIED_BLOCK_COMMENTS)) text = copyIntoEnvironment(text, key, env, comment);
  }
  if (namespace.id !== config.kvId) text = setKvNamespaceId(text, OAUTH_KV_BINDING, namespace.id, env);
  console.log(`${OAUTH_KV_BINDING}: ${created ? 'created' : 'using'} KV namespace "${namespace.title}" (${namespace.id}).`);

  // 3. The vars.
  const changedVars = (Object.keys(answers.vars) as Setting[]).filter((name) => (answers.vars[name] ?? '') !== (config.vars[name] ?? ''));
  const declared = declaredVarNames(config);
  const addedVarNames = changedVars.filter((name) => !declared.has(name));
  for (const name of changedVars) text = setVar(text, name, answers.vars[name] ?? '', env);
  if (text !== config.text) writeFileSync(configPath, text);
  const varsPlace = env === undefined ? configPath : `env.${env} of ${configPath}`;
  console.log(changedVars.length > 0 ? `vars: set ${changedVars.join(', ')} in ${varsPlace}.` : 'vars: unchanged.');

  // 4. The secrets: each only if the Worker does not have it yet. The file declares the environment by now.
  const secretTarget: WorkerTarget = { ...target, envDeclared: true };
  const secretsToSet: Array<[string, string | undefined]> = [];
  if (!existingSecrets.has('SESSION_SECRET')) secretsToSet.push(['SESSION_SECRET', randomBytes(SESSION_SECRET_BYTES).toString('base64url')]);
  if (!existingSecrets.has(upstreamSecret)) secretsToSet.push([upstreamSecret, upstreamSecretValue]);
  const envFlag = env === undefined ? '' : ` --env ${env}`;
  for (const [name, value] of secretsToSet) {
    if (value === undefined) console.log(`${name}: wrangler asks for it now (hidden as you type).`);
    await putSecret(secretTarget, name, value);
    console.log(`${name}: set.`);
  }
  for (const name of ['SESSION_SECRET', upstreamSecret]) {
    if (existingSecrets.has(name)) console.log(`${name}: already set, kept (to replace it: npx wrangler secret put ${name}${envFlag}).`);
  }

  if (addedVarNames.length > 0) console.log(`\nNew vars (${addedVarNames.join(', ')}): run \`npm run types\` so worker-configuration.d.ts names them (\`npm run check\` compares it).`);
  console.log(`\nSetup complete. Next:\n\n  npm run deploy${env === undefined ? '' : ` -- --env ${env}`}\n`);
}

main().catch((error: unknown) => {
  if (error instanceof SetupError) console.error(`Setup stopped, nothing was changed:\n${error.problems.map((problem) => `- ${problem}`).join('\n')}`);
  else console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
