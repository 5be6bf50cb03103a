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
import { parseJsonc, plain } from '../../scripts/lib/jsonc.ts';
import { ROOT } from '../../scripts/lib/wrangler-cli.ts';
import { cleanUp } from './support/clean-up.ts';
import { startCloudflareApi, type CloudflareApiDouble, type UploadedBinding, type WorkerScript } from './support/cloudflare-api.ts';

const WORKER = 'mcp-workers-oauth';
const OIDC_CLIENT_SECRET = `oidc-client-secret-${Math.random().toString(36).slice(2)}`;
const GITHUB_CLIENT_SECRET = `github-client-secret-${Math.random().toString(36).slice(2)}`;
const SETUP_FLAGS = ['--non-interactive', '--upstream', 'oidc', '--oidc-issuer', 'https://idp.example.com', '--oidc-client-id', 'mcp-prod', '--public-url', 'https://mcp.example.com'];
/** Every setting the scripts read from the environment: none may leak in from the shell running the tests. */
const INHERITED_SETTINGS = ['UPSTREAM', 'OIDC_ISSUER', 'OIDC_CLIENT_ID', 'OIDC_CLIENT_SECRET', 'GITHUB_CLIENT_ID', 'GITHUB_CLIENT_SECRET', 'PUBLIC_URL', 'SESSION_SECRET', 'CLOUDFLARE_API_TOKEN', 'CLOUDFLARE_ACCOUNT_ID', 'CLOUDFLARE_API_BASE_URL', 'CLOUDFLARE_API_KEY', 'CLOUDFLARE_EMAIL', 'CLOUDFLARE_ENV'];
/** A setup run is a handful of wrangler commands of about 1.5 s each; a deploy bundles and uploads in about 4 s. */
const SCRIPT_TIMEOUT_MS = 60_000;

/** What a deploy must upload, as the repository's wrangler.jsonc declares it (it grows as the Worker does). */
const SHIPPED = plain(parseJsonc(readFileSync(join(ROOT, 'wrangler.jsonc'), 'utf8'))) as {
  durable_objects: { bindings: Array<{ name: string; class_name: string }> };
  migrations: Array<{ tag: string } & Record<string, unknown>>;
  ratelimits: Array<{ name: string; simple: { limit: number; period: number } }>;
  triggers: { crons: string[] };
};
/** The migrations a first upload sends: every step, up to the last tag (the Cloudflare API's `migrations` shape). */
const FIRST_MIGRATIONS = { new_tag: SHIPPED.migrations.at(-1)?.tag, steps: SHIPPED.migrations.map(({ tag: _tag, ...step }) => step) };

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

/** A copy as `npm run setup` leaves it: a KV id the account has, and a real issuer. */
function setUpCopy(name: string, edit: (text: string) => string = (text) => text): string {
  const id = api.namespaces[0]?.id;
  if (!id) throw new Error('no namespace in the account yet: run after the first setup test');
  return configCopy(name, (text) => edit(text.replace('"id": "00000000000000000000000000000000"', `"id": "${id}"`).replace('"http://localhost:8788"', '"https://idp.example.com"')));
}

/**
 * Runs `npm run <script>`'s script as a child. Without `input`, stdin is closed: no terminal, so the
 * scripts run non-interactively, as in CI; with it, `input` is what a person would type, one answer a line.
 */
function runScript(script: 'setup' | 'deploy', args: readonly string[], env: Record<string, string> = {}, input?: string): Promise<Run> {
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
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', `${script}.ts`), ...args], { cwd: ROOT, env: childEnv, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  running.add(child);
  child.stdin?.end(input);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
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

/** Requests since `from` that addressed the Worker `name` (its script, secrets, settings…). */
function requestsFor(name: string, from: number): string[] {
  return api.requests
    .slice(from)
    .filter((request) => new RegExp(`/workers/(?:scripts|services|workers)/${name}(?:/|$)`).test(request.path))
    .map((request) => `${request.method} ${request.path}`);
}

function script(name: string): WorkerScript {
  const found = api.scripts.get(name);
  if (!found) throw new Error(`the account has no Worker ${name}`);
  return found;
}

/** The uploaded bindings by name. */
function bindingsOf(name: string): Map<string, UploadedBinding> {
  return new Map((script(name).metadata.bindings ?? []).map((binding) => [binding.name, binding]));
}

/** The text of the top-level `key` of the repository's wrangler.jsonc (a block closed at the top level's indent). */
function topLevelBlock(text: string, key: string): string {
  const block = new RegExp(`\\n {2}"${key}": ([[{][\\s\\S]*?\\n {2}[\\]}]),?\\n`).exec(text)?.[1];
  if (!block) throw new Error(`no top-level "${key}" block`);
  return block;
}

let mainConfig: string;

describe('npm run setup', () => {
  it('creates the namespace, writes its id and the vars into wrangler.jsonc, and sets the secrets', async () => {
    mainConfig = configCopy('main');
    const before = readFileSync(mainConfig, 'utf8');
    const run = await runScript('setup', ['--config', mainConfig, ...SETUP_FLAGS], { OIDC_CLIENT_SECRET });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout.trimEnd().endsWith('npm run deploy')).toBe(true);

    const namespace = api.namespaces.find((candidate) => candidate.title === `${WORKER}-OAUTH_KV`);
    expect(namespace).toBeDefined();
    const after = readFileSync(mainConfig, 'utf8');
    // Only the id and the vars changed: every comment and every other line is as it was.
    const expected = before
      .replace('"id": "00000000000000000000000000000000"', `"id": "${namespace?.id}"`)
      .replace('"OIDC_ISSUER": "http://localhost:8788"', '"OIDC_ISSUER": "https://idp.example.com"')
      .replace('"OIDC_CLIENT_ID": "mcp-worker-dev"', '"OIDC_CLIENT_ID": "mcp-worker-dev",\n    "PUBLIC_URL": "https://mcp.example.com"')
      .replace('"OIDC_CLIENT_ID": "mcp-worker-dev"', '"OIDC_CLIENT_ID": "mcp-prod"');
    expect(after).toBe(expected);

    const secrets = script(WORKER).secrets;
    expect([...secrets.keys()].sort()).toEqual(['OIDC_CLIENT_SECRET', 'SESSION_SECRET']);
    expect(secrets.get('OIDC_CLIENT_SECRET')).toBe(OIDC_CLIENT_SECRET);
    expect(secrets.get('SESSION_SECRET')).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 random bytes, base64url
    expect(api.requests.filter((request) => !request.routed)).toEqual([]);
  });

  it('changes nothing when run again', async () => {
    const before = readFileSync(mainConfig, 'utf8');
    const sessionSecret = script(WORKER).secrets.get('SESSION_SECRET');
    const from = api.requests.length;
    const run = await runScript('setup', ['--config', mainConfig, ...SETUP_FLAGS], { OIDC_CLIENT_SECRET });
    expect(run.code).toBe(0);
    expect(writes(from)).toEqual([]); // no namespace created, no secret put
    expect(readFileSync(mainConfig, 'utf8')).toBe(before);
    expect(script(WORKER).secrets.get('SESSION_SECRET')).toBe(sessionSecret);
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
    expect(script('github-worker').secrets.get('GITHUB_CLIENT_SECRET')).toBe(GITHUB_CLIENT_SECRET);
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

    // A malformed value fails at once too, without a question: there is nobody to answer it.
    const badUrl = await runScript('setup', ['--config', copy, ...SETUP_FLAGS, '--public-url', 'mcp.example.com'], { OIDC_CLIENT_SECRET });
    expect(badUrl.code).toBe(1);
    expect(badUrl.stderr).toContain('- PUBLIC_URL must be an absolute URL (got "mcp.example.com").');

    expect(readFileSync(copy, 'utf8')).toBe(before);
    expect(writes(from)).toEqual([]);
  });

  describe('answering its questions', () => {
    const ISSUER_QUESTION = "Your IdP's issuer URL (e.g. https://accounts.google.com)";
    const PUBLIC_URL_QUESTION = 'Public origin, e.g. https://mcp.example.com (empty: the workers.dev address)';
    const NOT_HTTPS = '✗ OIDC_ISSUER must use https (plain http is accepted only for localhost) (got "http://idp.example.com").';
    const LOOPBACK = "✗ OIDC_ISSUER points at a loopback address (the local dev IdP): set it to your identity provider's issuer URL.";
    let copy: string;

    it('explains a bad answer and asks again; input that ends before a good one changes nothing', async () => {
      // The first test's Worker: its namespace and secrets exist, so the answers are what this run changes.
      copy = configCopy('interactive');
      const before = readFileSync(copy, 'utf8');
      const from = api.requests.length;
      // Enter keeps the upstream shown; then a plain-http issuer; then Enter keeps the dev IdP's; then the input ends.
      const run = await runScript('setup', ['--config', copy, '--interactive'], { OIDC_CLIENT_SECRET }, '\nhttp://idp.example.com\n\n');
      expect(run.code).toBe(1);
      expect(run.stdout).toContain('Upstream identity provider (oidc or github) [oidc]: ');
      expect(run.stdout.split(`${ISSUER_QUESTION} [http://localhost:8788]: `)).toHaveLength(4); // asked three times
      expect(run.stdout.indexOf(NOT_HTTPS)).toBeGreaterThan(-1);
      expect(run.stdout.indexOf(LOOPBACK)).toBeGreaterThan(run.stdout.indexOf(NOT_HTTPS));
      expect(run.stderr).toContain('Setup stopped, nothing was changed:\n- The input ended before every question had a valid answer');
      expect(readFileSync(copy, 'utf8')).toBe(before);
      expect(api.requests.length).toBe(from); // not even a listing: nothing is asked of the account before every answer is good
    });

    it('goes on once every answer is good, with the good ones only', async () => {
      const answers = ['', 'http://idp.example.com', 'https://idp.example.com', 'mcp-interactive', 'mcp.example.com', 'https://mcp.example.com/mcp', 'https://mcp.example.com'];
      const run = await runScript('setup', ['--config', copy, '--interactive'], { OIDC_CLIENT_SECRET }, `${answers.join('\n')}\n`);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toContain(NOT_HTTPS);
      expect(run.stdout).toContain('✗ PUBLIC_URL must be an absolute URL (got "mcp.example.com").');
      expect(run.stdout).toContain('✗ PUBLIC_URL must be an origin without a path, like https://mcp.example.com (got "https://mcp.example.com/mcp").');
      expect(run.stdout.split(`${PUBLIC_URL_QUESTION}: `)).toHaveLength(4);
      const text = readFileSync(copy, 'utf8');
      expect(text).toContain('"OIDC_ISSUER": "https://idp.example.com"');
      expect(text).toContain('"OIDC_CLIENT_ID": "mcp-interactive"');
      expect(text).toContain('"PUBLIC_URL": "https://mcp.example.com"');
      expect(text).not.toContain('mcp.example.com/mcp');
      expect(text).toContain(`"id": "${api.namespaces.find((namespace) => namespace.title === `${WORKER}-OAUTH_KV`)?.id}"`);
    });
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
    const copy = setUpCopy('no-secrets', (text) => text.replace(`"name": "${WORKER}"`, '"name": "never-set-up"'));
    const from = api.requests.length;
    const run = await runScript('deploy', ['--config', copy]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('- OIDC_CLIENT_SECRET is not set. Run `npx wrangler secret put OIDC_CLIENT_SECRET` (locally: add it to .dev.vars).');
    expect(run.stderr).toContain('- SESSION_SECRET is not set. Run `npx wrangler secret put SESSION_SECRET` with 32 or more random characters (locally: .dev.vars).');
    expect(api.requests.slice(from).map((request) => `${request.method} ${request.path}`)).toEqual([`GET /accounts/${api.accountId}/workers/scripts/never-set-up/secrets`]);
  });

  it('--dry-run builds the set-up Worker with no account (what CI runs)', async () => {
    const copy = setUpCopy('dry-run');
    const outdir = join(dir, 'dry-run-out');
    const from = api.requests.length;
    const run = await runScript('deploy', ['--config', copy, '--dry-run', '--outdir', outdir]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('--dry-run: exiting now.');
    expect(existsSync(join(outdir, 'index.js'))).toBe(true);
    expect(api.requests.length).toBe(from); // offline: not one API request
  });

  it('uploads the set-up Worker: the KV namespace setup wrote, the Durable Objects and their migrations, the rate limits, the vars and the cron', async () => {
    const kvId = api.namespaces.find((candidate) => candidate.title === `${WORKER}-OAUTH_KV`)?.id;
    const secretsBefore = new Map(script(WORKER).secrets);
    const run = await runScript('deploy', ['--config', mainConfig]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('Checks passed');
    expect(run.stdout).toContain(`https://${WORKER}.${api.subdomain}.workers.dev`);
    expect(api.requests.filter((request) => !request.routed)).toEqual([]);

    const deployed = script(WORKER);
    expect(deployed.modules).toContain(deployed.metadata.main_module);
    const bindings = bindingsOf(WORKER);
    expect(bindings.get('OAUTH_KV')).toEqual({ type: 'kv_namespace', name: 'OAUTH_KV', namespace_id: kvId });
    for (const { name, class_name } of SHIPPED.durable_objects.bindings) expect(bindings.get(name)).toEqual({ type: 'durable_object_namespace', name, class_name });
    for (const { name, simple } of SHIPPED.ratelimits) expect(bindings.get(name)).toMatchObject({ type: 'ratelimit', name, simple });
    expect(bindings.get('OIDC_ISSUER')).toEqual({ type: 'plain_text', name: 'OIDC_ISSUER', text: 'https://idp.example.com' });
    expect(bindings.get('PUBLIC_URL')).toEqual({ type: 'plain_text', name: 'PUBLIC_URL', text: 'https://mcp.example.com' });
    // The first real upload creates every Durable Object class, up to the last migration.
    expect(deployed.metadata.migrations).toEqual(FIRST_MIGRATIONS);
    expect(deployed.migrationTag).toBe(FIRST_MIGRATIONS.new_tag);
    expect(deployed.crons).toEqual(SHIPPED.triggers.crons);
    expect(deployed.workersDev).toBe(true);
    // The secrets setup put are kept, and never travel with the upload.
    expect(deployed.metadata.keep_bindings).toContain('secret_text');
    expect([...bindings.values()].filter((binding) => binding.type === 'secret_text')).toEqual([]);
    expect(deployed.secrets).toEqual(secretsBefore);
    for (const value of secretsBefore.values()) expect(run.stdout + run.stderr).not.toContain(value);
  });
});

describe('wrangler environments (--env, CLOUDFLARE_ENV)', () => {
  const STAGING = `${WORKER}-staging`;
  const STAGING_FLAGS = ['--non-interactive', '--oidc-issuer', 'https://staging-idp.example.com', '--oidc-client-id', 'mcp-staging', '--public-url', 'https://staging.mcp.example.com'];
  let config: string;

  it('setup --env writes env.<name> (its own KV entry, copies of the bindings, its vars) and sets its Worker’s secrets, leaving the top level alone', async () => {
    config = configCopy('environments');
    const before = readFileSync(config, 'utf8');
    const from = api.requests.length;
    const run = await runScript('setup', ['--config', config, '--env', 'staging', ...STAGING_FLAGS], { OIDC_CLIENT_SECRET });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trimEnd().endsWith('npm run deploy -- --env staging')).toBe(true);

    const namespace = api.namespaces.find((candidate) => candidate.title === `${STAGING}-OAUTH_KV`);
    expect(namespace).toBeDefined();
    // The top level is as it was, its last property given a comma; then the environment, whose copied
    // blocks keep their comments one level deeper.
    const deeper = (block: string): string => block.replaceAll('\n', '\n    ');
    const top = before.slice(0, before.lastIndexOf('}')).trimEnd();
    const expected = `${top},
  // wrangler environments (\`--env <name>\`, or CLOUDFLARE_ENV): each deploys as its own Worker,
  // "<name>-<environment>", and inherits no bindings and no vars from the top level.
  "env": {
    "staging": {
      // Copied from the top level by \`npm run setup\`: environments inherit no bindings.
      "durable_objects": ${deeper(topLevelBlock(before, 'durable_objects'))},
      // Copied from the top level: the same namespace_ids share their counters with the top-level
      // Worker's (the ids are account-wide); give this environment ids of its own to count it apart.
      "ratelimits": ${deeper(topLevelBlock(before, 'ratelimits'))},
      "kv_namespaces": [{ "binding": "OAUTH_KV", "id": "${namespace?.id}" }],
      "vars": {
        "UPSTREAM": "oidc",
        "OIDC_ISSUER": "https://staging-idp.example.com",
        "OIDC_CLIENT_ID": "mcp-staging",
        "PUBLIC_URL": "https://staging.mcp.example.com"
      }
    }
  }
}
`;
    expect(readFileSync(config, 'utf8')).toBe(expected);

    expect([...script(STAGING).secrets.keys()].sort()).toEqual(['OIDC_CLIENT_SECRET', 'SESSION_SECRET']);
    expect(requestsFor(WORKER, from)).toEqual([]); // the top-level Worker was not touched
    expect(api.requests.filter((request) => !request.routed)).toEqual([]);
  });

  it('with CLOUDFLARE_ENV instead of --env, a second run finds everything in place and changes nothing', async () => {
    const before = readFileSync(config, 'utf8');
    const from = api.requests.length;
    const run = await runScript('setup', ['--config', config, ...STAGING_FLAGS], { OIDC_CLIENT_SECRET, CLOUDFLARE_ENV: 'staging' });
    expect(run.code, run.stderr).toBe(0);
    expect(writes(from)).toEqual([]);
    expect(readFileSync(config, 'utf8')).toBe(before);
    expect(run.stdout).toContain('vars: unchanged.');
    expect(run.stdout).toContain('SESSION_SECRET: already set, kept (to replace it: npx wrangler secret put SESSION_SECRET --env staging).');
  });

  it('deploy --env uploads the environment’s Worker with its own KV namespace and vars, never the top level’s', async () => {
    const kvId = api.namespaces.find((candidate) => candidate.title === `${STAGING}-OAUTH_KV`)?.id;
    const from = api.requests.length;
    const run = await runScript('deploy', ['--config', config, '--env', 'staging']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`Checks passed for environment "staging" of ${config} (the Worker ${STAGING})`);
    expect(requestsFor(WORKER, from)).toEqual([]);
    expect(api.requests.slice(from).filter((request) => !request.routed)).toEqual([]);
    // Grouped with its top level in the dashboard, as wrangler tags environments.
    expect(script(STAGING).tags.sort()).toEqual([`cf:environment=staging`, `cf:service=${WORKER}`]);

    const bindings = bindingsOf(STAGING);
    expect(bindings.get('OAUTH_KV')).toEqual({ type: 'kv_namespace', name: 'OAUTH_KV', namespace_id: kvId });
    for (const { name, class_name } of SHIPPED.durable_objects.bindings) expect(bindings.get(name)).toEqual({ type: 'durable_object_namespace', name, class_name });
    for (const { name, simple } of SHIPPED.ratelimits) expect(bindings.get(name)).toMatchObject({ type: 'ratelimit', name, simple });
    // Its own vars only: the top level's dev IdP never reaches the environment's Worker.
    const vars = Object.fromEntries([...bindings.values()].filter((binding) => binding.type === 'plain_text').map((binding) => [binding.name, binding.text]));
    expect(vars).toEqual({ UPSTREAM: 'oidc', OIDC_ISSUER: 'https://staging-idp.example.com', OIDC_CLIENT_ID: 'mcp-staging', PUBLIC_URL: 'https://staging.mcp.example.com' });
    // Migrations and triggers are inherited from the top level.
    expect(script(STAGING).metadata.migrations).toEqual(FIRST_MIGRATIONS);
    expect(script(STAGING).crons).toEqual(SHIPPED.triggers.crons);
    expect([...script(STAGING).secrets.keys()].sort()).toEqual(['OIDC_CLIENT_SECRET', 'SESSION_SECRET']);
  });

  it('deploy --env checks the environment as wrangler builds it: no inherited bindings or vars, and no environment the file lacks', async () => {
    // The top level is set up; env.bare declares its KV namespace and nothing else.
    const id = api.namespaces[0]?.id ?? '';
    const copy = setUpCopy('bare', (text) => text.replace(/\}\s*$/, `,\n  "env": { "bare": { "kv_namespaces": [{ "binding": "OAUTH_KV", "id": "${id}" }] } }\n}\n`));
    const bare = await runScript('deploy', ['--config', copy, '--env', 'bare', '--dry-run', '--outdir', join(dir, 'never')]);
    expect(bare.code).toBe(1);
    expect(bare.stderr).toContain(`Refusing to deploy environment "bare" of ${copy} (the Worker ${WORKER}-bare)`);
    expect(bare.stderr).toContain('- Binding MCP_OBJECT is missing: expected a Durable Object namespace for McpSessionAgent.');
    expect(bare.stderr).toContain('Under env.bare: wrangler environments do not inherit bindings (`npm run setup -- --env bare` copies them from the top level).');
    expect(bare.stderr).toContain('- Binding REGISTER_RATE_LIMIT is missing');
    expect(bare.stderr).toMatch(/^- OIDC_ISSUER is not set\./m);
    expect(bare.stderr).not.toContain('OAUTH_KV');

    const nowhere = await runScript('deploy', ['--config', copy, '--dry-run', '--outdir', join(dir, 'never')], { CLOUDFLARE_ENV: 'production' });
    expect(nowhere.code).toBe(1);
    expect(nowhere.stderr).toContain(`Refusing to deploy: ${copy} has no environment "production" (no "env.production" block). Run \`npm run setup -- --env production\`, which creates it.`);
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });
});

it('never prints a secret', () => {
  const values = [OIDC_CLIENT_SECRET, GITHUB_CLIENT_SECRET, ...[...api.scripts.values()].flatMap((worker) => [...worker.secrets.values()])];
  expect(values.length).toBeGreaterThan(6);
  for (const output of outputs) for (const value of values) expect(output).not.toContain(value);
});
