/**
 * The published doctor (packages/doctor, `npx mcp-doctor`): packed with `npm pack`, installed from
 * the tarball into an empty folder outside this repository, and run there with a PATH that holds the
 * project's Node and the system's npm, not this repository's node_modules/.bin. So it proves that
 * the package carries what the bin needs (its compiled code and its runtime dependencies) and nothing
 * of this repository's dev tooling (tsx, wrangler, vitest, typescript, the bundled Chromium).
 *
 * The build goes to a staging folder in the run's temp dir, not to packages/doctor/dist: other runs
 * in the same checkout must never see a half-written build. The package's own `prepack` builds into
 * packages/doctor/dist with the same tsconfig; the first test checks that they agree.
 *
 * The servers it runs against are tiny fakes on 127.0.0.1 (starting this repository's system would
 * cost far more than the rest of the file): a web server that is no MCP server (404 for everything), and an OAuth-protected
 * resource with just enough of an authorization server for the interactive sign-in, in which the
 * test plays the user's browser.
 *
 * Needs the npm registry (or an npm cache that has the dependencies): `npm install --prefer-offline`.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/system.ts';
import { cleanUp } from './support/clean-up.ts';

const PACKAGE_DIR = join(ROOT, 'packages', 'doctor');
const INSTALL_TIMEOUT_MS = 120_000;
const RUN_TIMEOUT_MS = 30_000;
/** Installed by this repository, never by the published package. */
const DEV_TOOLING = ['tsx', 'wrangler', 'vitest', 'typescript', 'workerd', 'miniflare', '@sparticuz/chromium', '@cloudflare/vitest-plugin', '@cloudflare/workers-oauth-provider', 'agents', 'playwright-core'];

interface Manifest {
  name: string;
  private?: boolean;
  bin?: Record<string, string>;
  files?: string[];
  engines?: Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  scripts?: Record<string, string>;
}

interface LockEntry {
  version: string;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

/** The parts of `--json` this file reads. */
interface DoctorJson {
  schema: string;
  url: string;
  ok: boolean;
  items: Array<{ id: string; status: string; detail: string; fix?: string }>;
  verdict?: unknown;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let tmp: string;
let app: string;
let packed: { filename: string; files: Array<{ path: string }> };
let site: Server;
let siteUrl: string;
let protectedResource: FakeProtectedResource;
let sawSiteRequest = false;

const manifest = JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8')) as Manifest;
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'mcp-doctor-package-'));
  const stage = join(tmp, 'package');
  mkdirSync(stage);
  for (const file of ['package.json', 'README.md']) copyFileSync(join(PACKAGE_DIR, file), join(stage, file));
  expectRun(await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'cli', 'tsconfig.build.json'), '--outDir', join(stage, 'dist')], { cwd: ROOT }), 'tsc');
  // Scripts off: the build above is the prepack's, staged.
  const pack = expectRun(await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], { cwd: stage }), 'npm pack');
  [packed] = JSON.parse(pack.stdout) as [typeof packed];

  app = join(tmp, 'app');
  mkdirSync(app);
  // An empty project, so that npm installs here and looks no further up.
  writeFileSync(join(app, 'package.json'), '{ "private": true }\n');
  expectRun(await run('npm', ['install', join(tmp, packed.filename), '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, timeoutMs: INSTALL_TIMEOUT_MS }), 'npm install');

  site = await listen((_request, response) => {
    sawSiteRequest = true;
    response.writeHead(404, { 'Content-Type': 'text/html; charset=utf-8' }).end('<!doctype html><title>Not found</title><p>Nothing to see here.</p>');
  });
  siteUrl = `${origin(site)}/mcp`;
  protectedResource = await startFakeProtectedResource();
}, INSTALL_TIMEOUT_MS + 30_000);

afterAll(() =>
  cleanUp(
    () => site && close(site),
    () => protectedResource?.close(),
    () => tmp && rmSync(tmp, { recursive: true, force: true, maxRetries: 3 }),
  ),
);

describe('the packed tarball', () => {
  it('holds the compiled command, reachable from cli/main.ts, its README and manifest: nothing else', () => {
    const expected = [...reachableModules(join(ROOT, 'cli', 'main.ts'))].map((file) => `dist/${relative(join(ROOT, 'cli'), file).split(sep).join('/').replace(/\.ts$/, '.js')}`);
    expect(packed.files.map((file) => file.path).sort()).toEqual([...expected, 'README.md', 'package.json'].sort());
    expect(readFileSync(join(app, 'node_modules', 'mcp-doctor', 'dist', 'main.js'), 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('is built by its prepack into the folder its bin names, with the tsconfig this test builds with', () => {
    const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest;
    expect(manifest.private).toBeUndefined();
    expect(manifest.bin).toEqual({ 'mcp-doctor': 'dist/main.js' });
    expect(manifest.files).toEqual(['dist']);
    expect(manifest.scripts?.prepack).toBe('npm run --prefix ../.. build:cli');
    expect(root.scripts?.['build:cli']).toContain('tsc -p cli/tsconfig.build.json');
    const outDir = /"outDir":\s*"([^"]+)"/.exec(readFileSync(join(ROOT, 'cli', 'tsconfig.build.json'), 'utf8'))?.[1] ?? '';
    expect(resolve(ROOT, 'cli', outDir)).toBe(join(PACKAGE_DIR, 'dist'));
    expect(manifest.engines?.node).toBe(root.engines?.node);
  });

  it('depends on exactly the packages its code imports (and their required peers), at the versions this repository locks', () => {
    const imported = new Set<string>();
    for (const file of listFiles(join(app, 'node_modules', 'mcp-doctor', 'dist'))) {
      for (const match of readFileSync(file, 'utf8').matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]([^'"./][^'"]*)['"]/g)) {
        const specifier = match[1] as string;
        if (specifier.startsWith('node:')) continue;
        imported.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : (specifier.split('/')[0] as string));
      }
    }
    // The headless browser: an optional peer, never installed with the doctor.
    const optionalPeers = Object.keys(manifest.peerDependencies ?? {}).filter((name) => manifest.peerDependenciesMeta?.[name]?.optional === true);
    expect(optionalPeers).toEqual(['playwright-core']);
    // The packages the code imports, and the peers they require (the MCP SDK's zod), pinned: what it was tested with.
    const direct = [...imported].filter((name) => !optionalPeers.includes(name));
    const requiredPeers = direct.flatMap((name) => {
      const entry = lockEntry(name);
      return Object.keys(entry.peerDependencies ?? {}).filter((peer) => entry.peerDependenciesMeta?.[peer]?.optional !== true);
    });
    const dependencies = manifest.dependencies ?? {};
    expect(Object.keys(dependencies).sort()).toEqual([...new Set([...direct, ...requiredPeers])].sort());
    for (const [name, version] of Object.entries(dependencies)) expect(`${name}@${version}`).toBe(`${name}@${lockEntry(name).version}`);
    for (const name of optionalPeers) expect(caretAllows(manifest.peerDependencies?.[name] ?? '', lockEntry(name).version)).toBe(true);
    expect({ ...dependencies, ...manifest.peerDependencies }).not.toHaveProperty('@sparticuz/chromium');
  });

  it('installs none of this repository’s dev tooling', () => {
    for (const name of DEV_TOOLING) expect(existsSync(join(app, 'node_modules', name)), name).toBe(false);
    expect(readdirSync(join(app, 'node_modules', '.bin'))).toContain('mcp-doctor');
  });
});

describe('`npx mcp-doctor` from the folder it was installed in', () => {
  it('--help prints the usage and exits 0', async () => {
    const result = await npxDoctor(['--help']);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('Usage: mcp-doctor [doctor] <mcp-url> [options]');
    expect(result.stdout).toContain('--login <user:password>');
    expect(result.code).toBe(0);
  });

  it('against a web server that is no MCP server: a clean report that fails at the first step, the same as the source gives', async () => {
    const result = await npxDoctor([siteUrl, '--json']);
    expect(result.stderr).not.toContain('the doctor itself failed');
    const report = JSON.parse(result.stdout) as DoctorJson;
    expect(report).toMatchObject({ schema: 'mcp-doctor/1', url: siteUrl, ok: false });
    expect(report.items.find((item) => item.id === 'resource.challenge')).toMatchObject({ status: 'fail', detail: expect.stringContaining('404'), fix: expect.any(String) });
    expect(report.items.find((item) => item.id === 'mcp.initialize')).toMatchObject({ status: 'skip' });
    // Not an MCP server: no client can connect (exit 1), whatever its answer asks for.
    expect(report.verdict).toMatchObject({ client: 'mcp-manager', level: 'cannot-connect', item: 'resource.challenge' });
    expect(result.code).toBe(1);

    // The build is faithful: the sources, run by this repository, say the same.
    const source = await run(process.execPath, [join(ROOT, 'cli', 'main.ts'), siteUrl, '--json'], { cwd: ROOT });
    const fromSource = JSON.parse(source.stdout) as DoctorJson;
    expect({ code: result.code, items: report.items, verdict: report.verdict }).toEqual({ code: source.code, items: fromSource.items, verdict: fromSource.verdict });

    const text = await npxDoctor([siteUrl]);
    expect(text.stdout).toContain('FAIL');
    expect(text.stderr).not.toContain('the doctor itself failed');
    expect(text.code).toBe(result.code);
  });

  it('--login without playwright-core: says what to install, before sending anything, and exits 2', async () => {
    sawSiteRequest = false;
    const result = await npxDoctor([siteUrl, '--login', 'alice:alice']);
    expect(result.stderr).toContain('playwright-core');
    expect(result.stderr).toContain('without --login');
    expect(result.stdout).toBe('');
    expect(sawSiteRequest).toBe(false);
    expect(result.code).toBe(2);
  });

  it('signs in interactively through the system browser’s flow without playwright-core (the test is the browser)', async () => {
    const doctor = startDoctor(['doctor', protectedResource.mcpUrl, '--json', '--no-open', '--timeout', '20']);
    try {
      const authorizationUrl = new URL(await doctor.waitForStderr(new RegExp(`${escapeRegExp(protectedResource.origin)}/authorize\\?\\S+`)));
      const redirectUri = authorizationUrl.searchParams.get('redirect_uri') ?? '';
      expect(redirectUri).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
      expect(authorizationUrl.searchParams.get('code_challenge_method')).toBe('S256');
      const callback = new URL(redirectUri);
      callback.searchParams.set('code', protectedResource.code);
      callback.searchParams.set('state', authorizationUrl.searchParams.get('state') ?? '');
      expect((await fetch(callback)).status).toBe(200);
      const result = await doctor.done;
      const report = JSON.parse(result.stdout) as DoctorJson;
      const status = (id: string) => report.items.find((item) => item.id === id)?.status;
      expect(status('authorization.redirect'), result.stdout).toBe('pass');
      expect(status('authorization.token'), result.stdout).toBe('pass');
      // The fake serves no MCP: the run goes on to step 5 and fails there, cleanly.
      expect(status('mcp.initialize')).toBe('fail');
      expect(result.stderr).not.toContain('the doctor itself failed');
      expect(result.code).toBe(1);
    } finally {
      doctor.kill();
    }
  });
});

describe('the headless browser, once playwright-core is installed beside the doctor', () => {
  let chromium: typeof import('../../cli/lib/chromium.ts');
  beforeAll(async () => {
    // The installed copy: it cannot see this repository's node_modules (no bundled Chromium).
    chromium = (await import(pathToFileURL(join(app, 'node_modules', 'mcp-doctor', 'dist', 'lib', 'chromium.js')).href)) as typeof chromium;
  });

  it('finds the system’s Chromium or Chrome, and says how to name one when there is none', () => {
    // The same test as the finder's: an executable file there (a machine's /usr/bin/chromium may be a stub).
    const system = chromium.systemBrowserPaths('linux', {}).find((path) => {
      try {
        accessSync(path, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
    expect(chromium.chromiumProblem({}, 'linux')).toEqual(system ? undefined : expect.stringContaining('or set CHROMIUM_PATH to its binary'));
    // No macOS browser on this machine: what a machine without any browser is told.
    if (process.platform !== 'darwin') {
      expect(chromium.chromiumProblem({ HOME: '/home/nobody' }, 'darwin')).toBe(
        'no Chromium or Chrome at /Applications/Google Chrome.app/Contents/MacOS/Google Chrome, /Applications/Chromium.app/Contents/MacOS/Chromium, /home/nobody/Applications/Google Chrome.app/Contents/MacOS/Google Chrome, /home/nobody/Applications/Chromium.app/Contents/MacOS/Chromium: install one, or set CHROMIUM_PATH to its binary',
      );
    }
    expect(chromium.chromiumProblem({ MCP_BROWSER: 'bundled' })).toMatch(/^MCP_BROWSER=bundled, and the bundled Chromium \(@sparticuz\/chromium/);
    expect(chromium.chromiumProblem({ CHROMIUM_PATH: join(tmp, 'no-such-browser') })).toBe(`CHROMIUM_PATH names ${join(tmp, 'no-such-browser')}, which does not exist`);
    expect(chromium.systemBrowserPaths('win32', { LOCALAPPDATA: 'C:\\Users\\a\\AppData\\Local', ProgramFiles: 'C:\\Program Files' })).toEqual([
      'C:\\Users\\a\\AppData\\Local\\Google\\Chrome\\Application\\chrome.exe',
      'C:\\Users\\a\\AppData\\Local\\Chromium\\Application\\chrome.exe',
      'C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe',
      'C:\\Program Files\\Chromium\\Application\\chrome.exe',
      'C:\\Users\\a\\AppData\\Local\\Microsoft\\Edge\\Application\\msedge.exe',
      'C:\\Program Files\\Microsoft\\Edge\\Application\\msedge.exe',
    ]);
  });

  it('launches it from the installed package (CHROMIUM_PATH as the run resolved it, else the system’s), and --login gets past its check', async () => {
    const version = lockEntry('playwright-core').version;
    expectRun(await run('npm', ['install', `playwright-core@${version}`, '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, timeoutMs: INSTALL_TIMEOUT_MS }), 'npm install playwright-core');
    const script = `
      import { createRequire } from 'node:module';
      const entry = ${JSON.stringify(join(app, 'node_modules', 'mcp-doctor', 'dist', 'lib', 'browser-login.js'))};
      const { launchBrowser, closeBrowser } = await import(entry);
      const browser = await launchBrowser();
      try {
        const page = await (await browser.newContext()).newPage();
        await page.goto(${JSON.stringify(siteUrl)});
        console.log(JSON.stringify({ driver: createRequire(entry).resolve('playwright-core'), text: await page.innerText('body') }));
      } finally {
        await closeBrowser();
      }`;
    const launched = expectRun(await run(process.execPath, ['--input-type=module', '-e', script], { cwd: app }), 'launch');
    expect(JSON.parse(launched.stdout)).toEqual({ driver: expect.stringContaining(join(app, 'node_modules', 'playwright-core') + sep), text: 'Nothing to see here.' });

    const result = await npxDoctor([siteUrl, '--login', 'alice:alice', '--json']);
    expect(result.stderr).not.toContain('playwright-core');
    expect(JSON.parse(result.stdout)).toMatchObject({ url: siteUrl, ok: false });
    expect(result.code).toBe(1);
  }, INSTALL_TIMEOUT_MS);
});

/** The environment of everything run here: npm's variables from `npm test` gone; on PATH the project's Node first, nothing inside this repository besides. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!/^npm_/i.test(name) && !['NODE_PATH', 'NODE_OPTIONS', 'INIT_CWD'].includes(name)) env[name] = value;
  const outside = (process.env.PATH ?? '').split(delimiter).filter((dir) => dir !== '' && !isInside(resolve(dir), ROOT));
  env.PATH = [dirname(process.execPath), ...outside].join(delimiter);
  return env;
}

function isInside(path: string, folder: string): boolean {
  return path === folder || path.startsWith(`${folder}${sep}`);
}

function npxDoctor(args: readonly string[]): Promise<Run> {
  return run('npx', ['--no-install', 'mcp-doctor', ...args], { cwd: app });
}

function run(command: string, args: readonly string[], options: { cwd: string; timeoutMs?: number }): Promise<Run> {
  const child = spawn(command, args, { cwd: options.cwd, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? RUN_TIMEOUT_MS);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

function expectRun(result: Run, what: string): Run {
  if (result.code !== 0) throw new Error(`${what} exited with ${result.code}:\n${result.stderr}\n${result.stdout}`);
  return result;
}

/** The doctor run in the background, for the interactive sign-in: its stderr read as it comes. */
function startDoctor(args: readonly string[]): { waitForStderr(pattern: RegExp): Promise<string>; done: Promise<Run>; kill(): void } {
  const child = spawn('npx', ['--no-install', 'mcp-doctor', ...args], { cwd: app, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters: Array<() => void> = [];
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    for (const waiter of waiters) waiter();
  });
  const done = new Promise<Run>((resolvePromise, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
  return {
    waitForStderr: (pattern) =>
      new Promise((resolvePromise, reject) => {
        const check = () => {
          const match = pattern.exec(stderr);
          if (match) resolvePromise(match[0]);
        };
        waiters.push(check);
        check();
        void done.then(() => reject(new Error(`the doctor ended without printing ${pattern}:\n${stderr}\n${stdout}`)));
      }),
    done,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

interface FakeProtectedResource {
  origin: string;
  mcpUrl: string;
  /** The authorization code the token endpoint accepts. */
  code: string;
  close(): Promise<void>;
}

/**
 * An MCP URL behind OAuth, and just enough of an authorization server for the doctor's interactive
 * sign-in: RFC 9728 and RFC 8414 metadata, registration, a token endpoint that knows its clients.
 * It answers no MCP: with a token, /mcp is a 404.
 */
async function startFakeProtectedResource(): Promise<FakeProtectedResource> {
  const code = randomBytes(16).toString('hex');
  const clients = new Set<string>();
  let base = '';
  const json = (response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    response.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers }).end(JSON.stringify(body));
  };
  const server = await listen(async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', base);
    let body = '';
    for await (const chunk of request) body += String(chunk);
    if (url.pathname === '/mcp') {
      if (!request.headers.authorization) return json(response, 401, { error: 'invalid_token' }, { 'WWW-Authenticate': `Bearer resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"` });
      return json(response, 404, { error: 'not_found' });
    }
    if (url.pathname === '/.well-known/oauth-protected-resource/mcp') return json(response, 200, { resource: `${base}/mcp`, authorization_servers: [base] });
    if (url.pathname === '/.well-known/oauth-authorization-server') {
      return json(response, 200, {
        issuer: base,
        authorization_endpoint: `${base}/authorize`,
        token_endpoint: `${base}/token`,
        registration_endpoint: `${base}/register`,
        response_types_supported: ['code'],
        grant_types_supported: ['authorization_code', 'refresh_token'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      });
    }
    if (url.pathname === '/register' && request.method === 'POST') {
      const asked = JSON.parse(body) as { token_endpoint_auth_method?: string; redirect_uris?: string[] };
      const clientId = `client-${randomBytes(8).toString('hex')}`;
      clients.add(clientId);
      const secret = asked.token_endpoint_auth_method === 'none' ? {} : { client_secret: randomBytes(16).toString('hex') };
      return json(response, 201, { client_id: clientId, ...secret, redirect_uris: asked.redirect_uris, token_endpoint_auth_method: asked.token_endpoint_auth_method ?? 'client_secret_basic' });
    }
    if (url.pathname === '/token' && request.method === 'POST') {
      const form = new URLSearchParams(body);
      const basic = request.headers.authorization?.startsWith('Basic ') ? Buffer.from(request.headers.authorization.slice(6), 'base64').toString() : '';
      const clientId = decodeURIComponent(basic.split(':')[0] ?? '') || form.get('client_id') || '';
      if (!clients.has(clientId)) return json(response, 401, { error: 'invalid_client' });
      if (form.get('grant_type') !== 'authorization_code' || form.get('code') !== code) return json(response, 400, { error: 'invalid_grant' });
      return json(response, 200, { access_token: randomBytes(16).toString('hex'), token_type: 'Bearer', expires_in: 3600, refresh_token: randomBytes(16).toString('hex') });
    }
    return json(response, 404, { error: 'not_found' });
  });
  base = origin(server);
  return { origin: base, mcpUrl: `${base}/mcp`, code, close: () => close(server) };
}

function listen(listener: (request: IncomingMessage, response: ServerResponse) => void | Promise<void>): Promise<Server> {
  const server = createServer((request, response) => {
    Promise.resolve(listener(request, response)).catch(() => response.destroy());
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolvePromise(server));
  });
}

function origin(server: Server): string {
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

function close(server: Server): Promise<void> {
  return new Promise((resolvePromise) => {
    server.closeAllConnections();
    server.close(() => resolvePromise());
  });
}

/** The files under `cli/` that `entry` reaches through relative imports, static or dynamic. */
function reachableModules(entry: string, seen = new Set<string>()): Set<string> {
  if (seen.has(entry)) return seen;
  seen.add(entry);
  for (const match of readFileSync(entry, 'utf8').matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*)'(\.[^']+)'/g)) reachableModules(resolve(dirname(entry), match[1] as string), seen);
  return seen;
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? listFiles(join(dir, entry.name)) : [join(dir, entry.name)]));
}

function lockEntry(name: string): LockEntry {
  const entry = lock.packages[`node_modules/${name}`];
  if (!entry) throw new Error(`${name} is not in package-lock.json`);
  return entry;
}

/** Whether `^x.y.z` allows `version` (same major, not older). */
function caretAllows(range: string, version: string): boolean {
  const floor = /^\^(\d+)\.(\d+)\.(\d+)$/.exec(range)?.slice(1).map(Number);
  const actual = /^(\d+)\.(\d+)\.(\d+)$/.exec(version)?.slice(1).map(Number);
  if (!floor || !actual || floor[0] !== actual[0]) return false;
  for (let i = 1; i < 3; i++) if ((actual[i] as number) !== (floor[i] as number)) return (actual[i] as number) > (floor[i] as number);
  return true;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
