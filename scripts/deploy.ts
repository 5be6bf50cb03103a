/**
 * `npm run deploy [-- --dry-run] [-- --env <name>] [-- --config <path>] [-- <wrangler deploy options>]`
 *
 * Refuses to deploy a configuration the Worker would refuse at run time, with the Worker's own
 * checks (src/setup.ts, through scripts/lib/worker-checks.ts): the bindings it requires declared in
 * wrangler.jsonc and the OAUTH_KV id no longer the placeholder, the vars valid, no development value on
 * a deployed origin, and the secrets it needs set (by name: Cloudflare never gives a secret's value
 * back). Then runs `wrangler deploy` with the remaining arguments.
 *
 * `--env <name>` (or CLOUDFLARE_ENV, as wrangler reads it) deploys that wrangler environment, and the
 * checks look where wrangler does: at `env.<name>`'s own bindings and vars, which it does not inherit
 * from the top level, and at the secrets of its Worker (`<name>-<environment>`).
 *
 * `--dry-run` makes the same checks except the secrets (they need an account), then
 * `wrangler deploy --dry-run --outdir <dir>`: the Worker built and bundled, nothing uploaded. CI runs
 * it (test/e2e/setup.test.ts) to prove the build with no account.
 */
import { join, resolve } from 'node:path';
import { bindingProblems, DEPLOYED_SECRET_STAND_IN, deployedConfigProblems, loadWorkerChecks, readWranglerConfig, SECRET_NAMES, setupCommand } from './lib/worker-checks.ts';
import { DEPLOY_TIMEOUT_MS, listSecretNames, ROOT, targetArgs, wrangler, type WorkerTarget } from './lib/wrangler-cli.ts';

interface DeployArgs {
  configPath: string;
  /** `--env`/`-e`, else CLOUDFLARE_ENV; undefined (or empty) is the top level. */
  env: string | undefined;
  dryRun: boolean;
  outdir: string;
  /** Everything else, passed to `wrangler deploy` as given. */
  passThrough: string[];
}

/** By hand rather than with parseArgs: every option this script does not know belongs to wrangler. */
function parseDeployArgs(argv: readonly string[]): DeployArgs {
  const args: DeployArgs = { configPath: join(ROOT, 'wrangler.jsonc'), env: process.env.CLOUDFLARE_ENV, dryRun: false, outdir: join(ROOT, '.wrangler', 'deploy-dry-run'), passThrough: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const [flag, inline] = arg.startsWith('-') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const next = inline ?? argv[++i];
      if (next === undefined) throw new Error(`${flag} needs a value.`);
      return next;
    };
    if (flag === '--config' || flag === '-c') args.configPath = resolve(value());
    else if (flag === '--env' || flag === '-e') args.env = value();
    else if (flag === '--outdir') args.outdir = resolve(value());
    else if (flag === '--dry-run') args.dryRun = true;
    else args.passThrough.push(arg);
  }
  args.env = args.env?.trim() || undefined;
  return args;
}

async function main(): Promise<number> {
  const args = parseDeployArgs(process.argv.slice(2));
  const config = readWranglerConfig(args.configPath, args.env);
  if (args.env !== undefined && config.scope === undefined) {
    // wrangler would deploy the top level under another name, or refuse: neither is what was asked.
    console.error(`Refusing to deploy: ${config.path} has no environment "${args.env}" (no "env.${args.env}" block). Run \`${setupCommand(args.env)}\`, which creates it.`);
    return 1;
  }
  const target: WorkerTarget = { configPath: config.path, env: args.env, envDeclared: true, name: config.name };
  const checks = await loadWorkerChecks();

  const secrets: Record<string, string> = {};
  if (args.dryRun) {
    // No account to ask: the secrets are taken as set, and the dry run proves the rest.
    for (const name of SECRET_NAMES) if (name !== 'ADMIN_TOKEN') secrets[name] = DEPLOYED_SECRET_STAND_IN;
  } else {
    for (const name of await listSecretNames(target)) secrets[name] = DEPLOYED_SECRET_STAND_IN;
  }
  const problems = [...bindingProblems(config, checks.REQUIRED_BINDINGS), ...deployedConfigProblems(checks, config, secrets)];
  const what = args.env === undefined ? config.path : `environment "${args.env}" of ${config.path} (the Worker ${config.name})`;
  if (problems.length > 0) {
    console.error(`Refusing to deploy ${what}: the Worker would answer every request with a 500 (setup_error).\n${problems.map((problem) => `- ${problem}`).join('\n')}`);
    return 1;
  }
  if (args.dryRun) console.log(`Checks passed for ${what} (secrets not checked: a dry run has no account).`);
  else console.log(`Checks passed for ${what}: bindings, vars and secrets (${Object.keys(secrets).sort().join(', ')}).`);

  const deployArgs = ['deploy', '--config', config.path, ...targetArgs(target), ...(args.dryRun ? ['--dry-run', '--outdir', args.outdir] : []), ...args.passThrough];
  const run = await wrangler(deployArgs, { interactive: true, timeoutMs: DEPLOY_TIMEOUT_MS });
  return run.code ?? 1;
}

main().then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  },
);
