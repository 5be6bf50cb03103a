/**
 * The wrangler commands `npm run setup` and `npm run deploy` drive: the project's own wrangler
 * (node_modules), on the project's own Node, each with a deadline. Secret values go to wrangler on
 * stdin, never on its command line (which any process on the machine can read), and are never printed.
 *
 * wrangler talks to the Cloudflare API at CLOUDFLARE_API_BASE_URL when that is set (the tests point it
 * at a double of the API on loopback); with CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID it needs no
 * `wrangler login` and asks nothing (CI).
 *
 * The wrangler environment is the scripts' to choose (`--env`, else CLOUDFLARE_ENV, as wrangler reads
 * them): each command that targets a Worker is given it explicitly, and CLOUDFLARE_ENV is kept from
 * wrangler, so no command can act on another environment than the one the script checked.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../wrangler-dev.ts';

export { ROOT };
const WRANGLER = join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');

/** Listing and creating take a few round trips; a minute means the API or the network is not answering. */
const API_COMMAND_TIMEOUT_MS = 60_000;
/** A deploy bundles and uploads the Worker; generous, but never forever. */
export const DEPLOY_TIMEOUT_MS = 5 * 60_000;
/** Between SIGTERM and SIGKILL when a deadline passes: time for wrangler to stop esbuild and its requests. */
const KILL_GRACE_MS = 5_000;

export interface WranglerRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface WranglerOptions {
  /** Written to wrangler's stdin (a secret's value), then closed. */
  input?: string;
  /** The terminal's stdin/stdout/stderr: wrangler's own prompts and output reach the person. */
  interactive?: boolean;
  timeoutMs?: number;
}

export class WranglerError extends Error {
  constructor(readonly args: readonly string[], readonly run: WranglerRun) {
    super(`\`wrangler ${args.join(' ')}\` failed (exit ${run.code ?? 'killed'}):\n${(run.stderr || run.stdout).trim()}`);
    this.name = 'WranglerError';
  }
}

export function wrangler(args: readonly string[], options: WranglerOptions = {}): Promise<WranglerRun> {
  const env = { ...process.env };
  delete env.CLOUDFLARE_ENV;
  const child = spawn(process.execPath, [WRANGLER, ...args], {
    cwd: ROOT,
    env,
    stdio: options.interactive ? 'inherit' : ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin?.end(options.input ?? '');
  return new Promise((resolve, reject) => {
    let killer: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => {
      stderr += `\n(stopped: no answer within ${(options.timeoutMs ?? API_COMMAND_TIMEOUT_MS) / 1000} s)`;
      child.kill('SIGTERM');
      killer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    }, options.timeoutMs ?? API_COMMAND_TIMEOUT_MS);
    child.once('error', (error) => {
      clearTimeout(deadline);
      clearTimeout(killer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(deadline);
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function succeed(args: readonly string[], options?: WranglerOptions): Promise<WranglerRun> {
  const run = await wrangler(args, options);
  if (run.code !== 0) throw new WranglerError(args, run);
  return run;
}

export interface KvNamespace {
  id: string;
  title: string;
}

/** `wrangler kv namespace list`: JSON on stdout (every page of the account's namespaces). */
export async function listKvNamespaces(configPath: string): Promise<KvNamespace[]> {
  const run = await succeed(['kv', 'namespace', 'list', '--config', configPath]);
  return JSON.parse(run.stdout) as KvNamespace[];
}

/**
 * `wrangler kv namespace create <title>`. Its output is written for people, so the id is read back
 * from the listing (JSON) instead of parsed out of it.
 */
export async function createKvNamespace(configPath: string, title: string): Promise<KvNamespace> {
  await succeed(['kv', 'namespace', 'create', title, '--config', configPath]);
  const created = (await listKvNamespaces(configPath)).find((namespace) => namespace.title === title);
  if (!created) throw new Error(`wrangler created the KV namespace "${title}" but the account's listing does not show it.`);
  return created;
}

/** The Worker a secret command is for. */
export interface WorkerTarget {
  configPath: string;
  /** The wrangler environment, or undefined for the top level. */
  env: string | undefined;
  /** Whether the file declares `env.<env>` yet. */
  envDeclared: boolean;
  /** The Worker's name as wrangler derives it (scripts/lib/worker-checks.ts, readWranglerConfig). */
  name: string;
}

/**
 * The arguments that select `target`'s Worker. `--env=` (empty) is wrangler's own spelling of "the top
 * level", which also keeps it from warning when the file has environments. An environment the file
 * does not declare yet (setup's checks, before it writes the block) is named by its Worker instead:
 * wrangler refuses `--env` for an undeclared environment once the file declares any other.
 */
export function targetArgs(target: WorkerTarget): string[] {
  if (target.env === undefined) return ['--env='];
  return target.envDeclared ? ['--env', target.env] : ['--name', target.name, '--env='];
}

/**
 * Names of the Worker's secrets (`wrangler secret list`, JSON). A Worker never deployed has none:
 * wrangler then fails with `Worker "<name>" not found` (the API's code 10007).
 */
export async function listSecretNames(target: WorkerTarget): Promise<Set<string>> {
  const args = ['secret', 'list', '--format', 'json', '--config', target.configPath, ...targetArgs(target)];
  const run = await wrangler(args);
  if (run.code !== 0) {
    if (/Worker "[^"]*"(?: \(env: [^)]*\))? not found/.test(run.stdout + run.stderr)) return new Set();
    throw new WranglerError(args, run);
  }
  return new Set((JSON.parse(run.stdout) as Array<{ name: string }>).map((secret) => secret.name));
}

/**
 * `wrangler secret put <name>`, the value on stdin; with no value, wrangler asks the person at the
 * terminal for it (hidden as typed). On a Worker that does not exist yet, wrangler first creates an
 * empty one to hold the secrets, which the first deploy replaces.
 */
export async function putSecret(target: WorkerTarget, name: string, value: string | undefined): Promise<void> {
  const args = ['secret', 'put', name, '--config', target.configPath, ...targetArgs(target)];
  await succeed(args, value === undefined ? { interactive: true } : { input: value });
}
