/**
 * Nothing a run starts outlives it: a system whose starter dies, even by SIGKILL, goes with it (the
 * watchdog in scripts/wrangler-dev.ts), and a browser that never launched does not stop a test file
 * from stopping its system. Also `npm start`'s settings from the environment (scripts/system.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeBrowser, launchBrowser } from '../../cli/lib/browser-login.ts';
import { ENVIRONMENT_SETTINGS, npmStartOptions, ROOT } from '../../scripts/system.ts';
import { PortTakenError, startWranglerDev } from '../../scripts/wrangler-dev.ts';
import { cleanUp } from './support/clean-up.ts';

const SECRETS = ['OIDC_CLIENT_SECRET', 'GITHUB_CLIENT_SECRET', 'SESSION_SECRET', 'ADMIN_TOKEN'];
const HAS_PROC = existsSync('/proc/self/stat');

describe("npm start's settings", () => {
  let dir: string;
  let devVars: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-hygiene-'));
    devVars = join(dir, '.dev.vars');
    writeFileSync(devVars, `${readFileSync(join(ROOT, '.dev.vars.example'), 'utf8')}CONSISTENCY_LAYER=on\nRATE_LIMITS=on\n`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('are every setting the README documents, less its secrets', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('\n## Configuration'), readme.indexOf('\n## ', readme.indexOf('\n## Configuration') + 1));
    const documented = [...table.matchAll(/^\| ((?:`[A-Z_]+`(?:, )?)+) \|/gm)].flatMap((match) => [...(match[1] as string).matchAll(/`([A-Z_]+)`/g)].map((name) => name[1]));
    expect(documented.length).toBeGreaterThan(20);
    expect([...ENVIRONMENT_SETTINGS].sort()).toEqual(documented.filter((name) => !SECRETS.includes(name as string)).sort());
  });

  it('come from the environment over .dev.vars; secrets and anything undocumented never do', () => {
    const options = npmStartOptions({ CONSISTENCY_LAYER: 'off', SIMULATE_KV_LOCATIONS: '3', RATE_LIMITS: '', SESSION_SECRET: 'from-the-environment', HOME: '/root', PORT: '9001', IDP_PORT: '9002' }, devVars);
    expect(options).toMatchObject({ port: 9001, idpPort: 9002, devIdp: true, envFile: devVars });
    // RATE_LIMITS is empty: not given, so .dev.vars' value stands.
    expect(options.vars).toEqual({ CONSISTENCY_LAYER: 'off', SIMULATE_KV_LOCATIONS: '3' });
  });

  it('keep the dev IdP unless an upstream is named, in either place', () => {
    expect(npmStartOptions({ OIDC_CLIENT_ID: 'elsewhere' }, devVars)).toMatchObject({ devIdp: true, vars: {} });
    expect(npmStartOptions({ OIDC_ISSUER: 'https://idp.example', OIDC_CLIENT_ID: 'mine' }, devVars)).toMatchObject({ devIdp: false, vars: { OIDC_ISSUER: 'https://idp.example', OIDC_CLIENT_ID: 'mine' } });
    writeFileSync(devVars, 'UPSTREAM=github\n', { flag: 'a' });
    expect(npmStartOptions({}, devVars)).toMatchObject({ devIdp: false, vars: {} });
  });

  it('refuse a port that is not one', () => {
    expect(() => npmStartOptions({ PORT: 'eighty' }, devVars)).toThrow('PORT must be a TCP port number, got "eighty"');
  });
});

describe('a system whose starter dies', () => {
  interface Started {
    origin: string;
    idpOrigin: string;
    processGroup: number;
    stateDir: string;
  }
  let dir: string;
  let starter: ChildProcess | undefined;
  let started: Started;
  let descendants: number[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-hygiene-'));
    // .dev.vars says CONSISTENCY_LAYER=bogus, which would answer every request with a setup error:
    // the system only comes up if the environment's value wins.
    const devVars = join(dir, '.dev.vars');
    writeFileSync(devVars, `${readFileSync(join(ROOT, '.dev.vars.example'), 'utf8')}CONSISTENCY_LAYER=bogus\n`);
    const system = pathToFileURL(join(ROOT, 'scripts/system.ts')).href;
    const script = `
      const { npmStartOptions, startSystem } = await import(${JSON.stringify(system)});
      const system = await startSystem({ ...npmStartOptions(process.env, ${JSON.stringify(devVars)}), ephemeralState: true, output: 'buffer' });
      console.log(JSON.stringify({ origin: system.origin, idpOrigin: system.idp.issuer, processGroup: system.worker.processGroup, stateDir: system.worker.stateDir }));
    `;
    // npm start's way in: its environment, its settings, its launcher; only the state is a temp folder.
    starter = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      env: { ...process.env, PORT: '0', IDP_PORT: '0', CONSISTENCY_LAYER: 'off', SIMULATE_KV_LOCATIONS: '3' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    started = await firstJsonLine(starter, 90_000);
    descendants = HAS_PROC ? descendantsOf(starter.pid as number) : [];
  });

  afterAll(() => cleanUp(() => starter?.kill('SIGKILL'), () => rmSync(dir, { recursive: true, force: true })));

  it('runs with the setting from the environment, not .dev.vars', async () => {
    const response = await fetch(`${started.origin}/.well-known/oauth-authorization-server`);
    expect(response.status).toBe(200);
    if (HAS_PROC) expect(readFileSync(`/proc/${started.processGroup}/cmdline`, 'utf8').split('\0').join(' ')).toContain('--var CONSISTENCY_LAYER:off --var SIMULATE_KV_LOCATIONS:3');
  });

  it('is gone within seconds of a SIGKILL to its starter: both ports free, no process left, no state folder', async () => {
    expect(existsSync(started.stateDir)).toBe(true);
    // wrangler, workerd and the watchdog, at least.
    if (HAS_PROC) expect(descendants.length).toBeGreaterThanOrEqual(3);
    starter?.kill('SIGKILL');
    const deadline = Date.now() + 15_000;
    let left: string[] = [];
    while (Date.now() < deadline) {
      left = [
        ...((await answers(started.origin)) ? [`the Worker at ${started.origin}`] : []),
        ...((await answers(started.idpOrigin)) ? [`the dev IdP at ${started.idpOrigin}`] : []),
        ...[...new Set([...descendants, ...(HAS_PROC ? groupMembers(started.processGroup) : [])])].filter(isRunning).map((pid) => `process ${pid}: ${commandOf(pid)}`),
        ...(existsSync(started.stateDir) ? [`the state folder ${started.stateDir}`] : []),
      ];
      if (left.length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(left).toEqual([]);
  });
});

describe('a port taken before wrangler binds it', () => {
  it('is reported as such (PortTakenError) after the start is tried again', async () => {
    // 127.0.0.1, where workerd binds `localhost`; connections to it (the readiness probe's) are dropped
    // at once, so that closing it does not wait for them.
    const blocker = createServer((socket) => socket.destroy()).listen(0, '127.0.0.1');
    try {
      await new Promise((resolve) => blocker.once('listening', resolve));
      const port = (blocker.address() as AddressInfo).port;
      // A caller-fixed port cannot be changed: the same port, PORT_ATTEMPTS times, then the error that says why.
      await expect(startWranglerDev({ port, ephemeralState: true, output: 'buffer', envFile: join(ROOT, '.dev.vars.example') })).rejects.toBeInstanceOf(PortTakenError);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});

describe('a browser that fails to launch', () => {
  it('fails the launch, and closing it afterwards does not fail', async () => {
    const saved = process.env.CHROMIUM_PATH;
    process.env.CHROMIUM_PATH = join(tmpdir(), 'no-such-chromium');
    try {
      await expect(launchBrowser()).rejects.toThrow('no-such-chromium');
      await expect(closeBrowser()).resolves.toBeUndefined();
    } finally {
      if (saved === undefined) delete process.env.CHROMIUM_PATH;
      else process.env.CHROMIUM_PATH = saved;
    }
  });
});

async function firstJsonLine<T>(child: ChildProcess, timeoutMs: number): Promise<T> {
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return await new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start-up line within ${timeoutMs} ms:\n${stdout}\n${stderr}`)), timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n').find((candidate) => candidate.startsWith('{'));
      if (line && stdout.includes('\n', stdout.indexOf(line))) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as T);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the starter exited (${code}) before the system was up:\n${stdout}\n${stderr}`));
    });
  });
}

async function answers(origin: string): Promise<boolean> {
  try {
    const response = await fetch(origin, { signal: AbortSignal.timeout(1_000) });
    await response.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

/** Every process below `root` (Linux, /proc). */
function descendantsOf(root: number): number[] {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const fields = statFields(Number(name));
    if (fields) parents.set(Number(name), Number(fields[1]));
  }
  const found: number[] = [];
  let frontier = [root];
  while (frontier.length > 0) {
    frontier = [...parents].filter(([, parent]) => frontier.includes(parent)).map(([pid]) => pid);
    found.push(...frontier);
  }
  return found;
}

/** The processes of a process group (Linux, /proc). */
function groupMembers(group: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => Number(statFields(pid)?.[2]) === group);
}

/** Running: exists and has not exited (an exited process not yet reaped by its new parent does not count). */
function isRunning(pid: number): boolean {
  const state = statFields(pid)?.[0];
  return state !== undefined && state !== 'Z' && state !== 'X';
}

/** /proc/<pid>/stat after the command name: state, ppid, pgrp, … */
function statFields(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
  } catch {
    return undefined;
  }
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').slice(0, 200);
  } catch {
    return '?';
  }
}
