/**
 * `npm run setup` and `npm run deploy` as a person or CI runs them: the real scripts, driving the
 * real wrangler, against a double of the Cloudflare API on loopback (the one part with no account
 * here; ./support/cloudflare-api.ts), on copies of wrangler.jsonc in a temp folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/lib/wrangler-cli.ts';
import { cleanUp } from './support/clean-up.ts';
import { startCloudflareApi, type CloudflareApiDouble } from './support/cloudflare-api.ts';

const WORKER = 'mcp-workers-oauth';
const OIDC_CLIENT_SECRET = `oidc-client-secret-${Math.random().toString(36).slice(2)}`;
const GITHUB_CLIENT_SECRET = `github-client-secret-${Math.random().toString(36).slice(2)}`;
const SETUP_FLAGS = ['--non-interactive', '--upstream', 'oidc', '--oidc-issuer', 'https://idp.example.com', '--oidc-client-id', 'mcp-prod', '--public-url', 'https://mcp.example.com'];
/** Every setting the scripts read from the environment: none may leak in from the shell running the tests. */
const INHERITED_SETTINGS = ['UPSTREAM', 'OIDC_ISSUER', 'OIDC_CLIENT_ID', 'OIDC_CLIENT_SECRET', 'GITHUB_CLIENT_ID', 'GITHUB_CLIENT_SECRET', 'PUBLIC_URL', 'SESSION_SECRET', 'CLOUDFLARE_API_TOKEN', 'CLOUDFLARE_ACCOUNT_ID', 'CLOUDFLARE_API_BASE_URL', 'CLOUDFLARE_API_KEY', 'CLOUDFLARE_EMAIL'];
/** A setup run is a handful of wrangler commands of about 1.5 s each. */
const SCRIPT_TIMEOUT_MS = 60_000;

let api: CloudflareApiDouble;
let dir: string;
const running = new Set<ChildProcess>();
/** Every output of every run, for the check that no secret was ever printed. */
const outputs: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'setup-test-'));
  api = await startCloudflareApi();
});

afterAll(() =>
  cleanUp(
    () => {
      for (const child of running) child.kill('SIGKILL');
    },
    () => api?.close(),
    () => rmSync(dir, { recursive: true, force: true, maxRetries: 3 }),
  ),
);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The repository's wrangler.jsonc, copied: `main` made absolute so the copy builds from the temp folder. */
function configCopy(name: string, edit: (text: string) => string = (text) => text): string {
  const folder = join(dir, name);
  mkdirSync(folder);
  const text = readFileSync(join(ROOT, 'wrangler.jsonc'), 'utf8').replace('"main": "src/index.ts"', `"main": ${JSON.stringify(join(ROOT, 'src/index.ts'))}`);
  writeFileSync(join(folder, 'wrangler.jsonc'), edit(text));
  return join(folder, 'wrangler.jsonc');
}

function runScript(script: 'setup' | 'deploy', args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const name of INHERITED_SETTINGS) delete childEnv[name];
  Object.assign(childEnv, {
    CLOUDFLARE_API_BASE_URL: api.baseUrl,
    CLOUDFLARE_API_TOKEN: api.apiToken,
    CLOUDFLARE_ACCOUNT_ID: api.accountId,
    // wrangler's telemetry, logs and user settings stay out of the network and of the home folder.
    WRANGLER_SEND_METRICS: 'false',
    WRANGLER_LOG_PATH: join(dir, 'wrangler-logs'),
    XDG_CONFIG_HOME: join(dir, 'xdg'),
    ...env,
  });
  // stdin closed: no terminal, so the scripts run non-interactively, as in CI.
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', `${script}.ts`), ...args], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), SCRIPT_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      running.delete(child);
      outputs.push(stdout, stderr);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Requests that change the account: creating a namespace, uploading a script or a secret. */
function writes(from: number): string[] {
  return api.requests.slice(from).filter((request) => request.method !== 'GET').map((request) => `${request.method} ${request.path}`);
}

describe('npm run setup', () => {
  let config: string;

  it('creates the namespace, writes its id and the vars into wrangler.jsonc, and sets the secrets', async () => {
    config = configCopy('main');
    const before = readFileSync(config, 'utf8');
    const run = await runScript('setup', ['--config', config, ...SETUP_FLAGS], { OIDC_CLIENT_SECRET });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout.trimEnd().endsWith('npm run deploy')).toBe(true);

    const namespace = api.namespaces.find((candidate) => candidate.title === `${WORKER}-OAUTH_KV`);
    expect(namespace).toBeDefined();
    const after = readFileSync(config, 'utf8');
    // Only the id and the vars changed: every comment and every other line is as it was.
    const expected = before
      .replace('"id": "00000000000000000000000000000000"', `"id": "${namespace?.id}"`)
      .replace('"OIDC_ISSUER": "http://localhost:8788"', '"OIDC_ISSUER": "https://idp.example.com"')
      .replace('"OIDC_CLIENT_ID": "mcp-worker-dev"', '"OIDC_CLIENT_ID": "mcp-worker-dev",\n    "PUBLIC_URL": "https://mcp.example.com"')
      .replace('"OIDC_CLIENT_ID": "mcp-worker-dev"', '"OIDC_CLIENT_ID": "mcp-prod"');
    expect(after).toBe(expected);

    const secrets = api.scripts.get(WORKER);
    expect([...(secrets?.keys() ?? [])].sort()).toEqual(['OIDC_CLIENT_SECRET', 'SESSION_SECRET']);
    expect(secrets?.get('OIDC_CLIENT_SECRET')).toBe(OIDC_CLIENT_SECRET);
    expect(secrets?.get('SESSION_SECRET')).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 random bytes, base64url
    expect(api.requests.filter((request) => !request.routed)).toEqual([]);
  });

  it('changes nothing when run again', async () => {
    const before = readFileSync(config, 'utf8');
    const sessionSecret = api.scripts.get(WORKER)?.get('SESSION_SECRET');
    const from = api.requests.length;
    const run = await runScript('setup', ['--config', config, ...SETUP_FLAGS], { OIDC_CLIENT_SECRET });
    expect(run.code).toBe(0);
    expect(writes(from)).toEqual([]); // no namespace created, no secret put
    expect(readFileSync(config, 'utf8')).toBe(before);
    expect(api.scripts.get(WORKER)?.get('SESSION_SECRET')).toBe(sessionSecret);
    expect(run.stdout).toContain('SESSION_SECRET: already set, kept');
    expect(run.stdout).toContain('vars: unchanged.');
  });

  it('sets up a GitHub upstream from the environment, adding its var', async () => {
    const github = configCopy('github', (text) => text.replace(`"name": "${WORKER}"`, '"name": "github-worker"'));
    const run = await runScript('setup', ['--config', github], { UPSTREAM: 'github', GITHUB_CLIENT_ID: 'Iv1.abc', GITHUB_CLIENT_SECRET });
    expect(run.code, run.stderr).toBe(0);
    const text = readFileSync(github, 'utf8');
    expect(text).toContain('"UPSTREAM": "github"');
    expect(text).toMatch(/"OIDC_CLIENT_ID": "mcp-worker-dev",\n {4}"GITHUB_CLIENT_ID": "Iv1.abc"\n {2}\},/);
    expect(api.scripts.get('github-worker')?.get('GITHUB_CLIENT_SECRET')).toBe(GITHUB_CLIENT_SECRET);
    expect(api.namespaces.some((namespace) => namespace.title === 'github-worker-OAUTH_KV')).toBe(true);
  });

  it('without a required value, fails naming it and changes nothing', async () => {
    // A Worker of its own: the first test's already has OIDC_CLIENT_SECRET, so it would not be missing.
    const copy = configCopy('missing', (text) => text.replace(`"name": "${WORKER}"`, '"name": "not-set-up"'));
    const before = readFileSync(copy, 'utf8');
    const from = api.requests.length;

    const noClientId = await runScript('setup', ['--config', copy, '--non-interactive', '--upstream', 'github'], { GITHUB_CLIENT_SECRET });
    expect(noClientId.code).toBe(1);
    expect(noClientId.stderr).toContain('- GITHUB_CLIENT_ID is missing: pass --github-client-id or set GITHUB_CLIENT_ID in the environment.');

    const noSecret = await runScript('setup', ['--config', copy, ...SETUP_FLAGS]);
    expect(noSecret.code).toBe(1);
    expect(noSecret.stderr).toContain('- OIDC_CLIENT_SECRET is missing: set it in the environment');

    // The dev IdP's issuer that wrangler.jsonc ships with is refused with the Worker's own message.
    const devIssuer = await runScript('setup', ['--config', copy, '--non-interactive'], { OIDC_CLIENT_SECRET });
    expect(devIssuer.code).toBe(1);
    expect(devIssuer.stderr).toContain("- OIDC_ISSUER points at a loopback address (the local dev IdP): set it to your identity provider's issuer URL.");

    expect(readFileSync(copy, 'utf8')).toBe(before);
    expect(writes(from)).toEqual([]);
  });
});

describe('npm run deploy', () => {
  it('refuses the shipped configuration: the placeholder KV id and the dev IdP', async () => {
    const run = await runScript('deploy', ['--config', configCopy('shipped'), '--dry-run', '--outdir', join(dir, 'never')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Refusing to deploy');
    expect(run.stderr).toContain('- Binding OAUTH_KV has the placeholder id 00000000000000000000000000000000 in wrangler.jsonc: run `npm run setup`, which creates the namespace and writes its id.');
    expect(run.stderr).toContain("- OIDC_ISSUER points at a loopback address (the local dev IdP): set it to your identity provider's issuer URL.");
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });

  it('refuses a Worker whose secrets are not set, naming each', async () => {
    // Set up, but as a Worker the account does not have: its secrets were never put.
    const copy = configCopy('no-secrets', (text) =>
      text
        .replace(`"name": "${WORKER}"`, '"name": "never-set-up"')
        .replace('"id": "00000000000000000000000000000000"', '"id": "0123456789abcdef0123456789abcdef"')
        .replace('"http://localhost:8788"', '"https://idp.example.com"'),
    );
    const from = api.requests.length;
    const run = await runScript('deploy', ['--config', copy]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('- OIDC_CLIENT_SECRET is not set. Run `npx wrangler secret put OIDC_CLIENT_SECRET` (locally: add it to .dev.vars).');
    expect(run.stderr).toContain('- SESSION_SECRET is not set. Run `npx wrangler secret put SESSION_SECRET` with 32 or more random characters (locally: .dev.vars).');
    expect(api.requests.slice(from).map((request) => `${request.method} ${request.path}`)).toEqual([`GET /accounts/${api.accountId}/workers/scripts/never-set-up/secrets`]);
  });

  it('--dry-run builds the set-up Worker with no account (what CI runs)', async () => {
    const copy = configCopy('dry-run', (text) => text.replace('"id": "00000000000000000000000000000000"', '"id": "0123456789abcdef0123456789abcdef"').replace('"http://localhost:8788"', '"https://idp.example.com"'));
    const outdir = join(dir, 'dry-run-out');
    const from = api.requests.length;
    const run = await runScript('deploy', ['--config', copy, '--dry-run', '--outdir', outdir]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('--dry-run: exiting now.');
    expect(existsSync(join(outdir, 'index.js'))).toBe(true);
    expect(api.requests.length).toBe(from); // offline: not one API request
  });
});

it('never prints a secret', () => {
  const values = [OIDC_CLIENT_SECRET, GITHUB_CLIENT_SECRET, ...[...api.scripts.values()].flatMap((secrets) => [...secrets.values()])];
  expect(values.length).toBeGreaterThan(3);
  for (const output of outputs) for (const value of values) expect(output).not.toContain(value);
});
