/**
 * The Python side of `npm run test:peers`: a virtual environment with FastMCP, made once in
 * node_modules/.cache/peers-venv (git-ignored with node_modules) and reused while it holds the
 * pinned version. pip installs from whatever index pip is configured with (here a local mirror);
 * `--retries 0` makes an index that cannot be reached fail at once instead of after minutes of
 * backoff. Used as the vitest global setup of test/e2e/support/peers/vitest.config.ts: when the
 * environment cannot be made, the run stops with a message that says what is missing.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../../../scripts/system.ts';

/** The FastMCP release the peers are written against (its APIs were read from this release's source). */
export const FASTMCP_VERSION = '4.0.10';
export const VENV_DIR = join(ROOT, 'node_modules/.cache/peers-venv');
export const VENV_PYTHON = join(VENV_DIR, 'bin/python');
/** The Python peer scripts. */
export const PEERS_DIR = join(ROOT, 'peers');
/** FastMCP 4 needs Python 3.10 or later. */
const MIN_PYTHON: readonly [number, number] = [3, 10];
const INSTALL_TIMEOUT_MS = 10 * 60_000;

export class PeerEnvironmentError extends Error {
  constructor(message: string) {
    super(`npm run test:peers: ${message}`);
    this.name = 'PeerEnvironmentError';
  }
}

export default async function setup(): Promise<void> {
  try {
    await ensureEnvironment();
  } catch (error) {
    // Said plainly before vitest's own report, which leads with "No test files found" when a global setup fails.
    process.stderr.write(`\n${error instanceof Error ? error.message : String(error)}\n\n`);
    throw error;
  }
}

async function ensureEnvironment(): Promise<void> {
  if ((await installedFastMcp()) === FASTMCP_VERSION) return;
  const python = process.env.PEERS_PYTHON ?? 'python3';
  const version = await run(python, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])']).catch((error: unknown) => {
    throw new PeerEnvironmentError(`no Python to make the virtual environment with (${python}: ${error instanceof Error ? error.message : String(error)}); install Python ${MIN_PYTHON.join('.')} or later, or name one in PEERS_PYTHON.`);
  });
  const [major = 0, minor = 0] = version.stdout.trim().split('.').map(Number);
  if (major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1])) {
    throw new PeerEnvironmentError(`${python} is Python ${version.stdout.trim()}; FastMCP ${FASTMCP_VERSION} needs ${MIN_PYTHON.join('.')} or later (name another in PEERS_PYTHON).`);
  }
  process.stderr.write(`peers: making a Python virtual environment with fastmcp==${FASTMCP_VERSION} in ${VENV_DIR}\n`);
  if (!existsSync(VENV_PYTHON)) {
    const made = await run(python, ['-m', 'venv', VENV_DIR]).catch((error: unknown) => ({ code: -1, stdout: '', stderr: String(error) }));
    if (made.code !== 0) throw new PeerEnvironmentError(`could not make a virtual environment in ${VENV_DIR} (${python} -m venv): ${lastLines(made.stderr)}`);
  }
  const installed = await run(VENV_PYTHON, ['-m', 'pip', 'install', '--disable-pip-version-check', '--retries', '0', '--timeout', '30', `fastmcp==${FASTMCP_VERSION}`], INSTALL_TIMEOUT_MS);
  if (installed.code !== 0) {
    throw new PeerEnvironmentError(`pip could not install fastmcp==${FASTMCP_VERSION} into ${VENV_DIR} (is a package index or mirror configured for pip?):\n${lastLines(installed.stderr || installed.stdout)}`);
  }
  const now = await installedFastMcp();
  if (now !== FASTMCP_VERSION) throw new PeerEnvironmentError(`pip ran, but the virtual environment holds fastmcp ${now ?? 'not at all'}, not ${FASTMCP_VERSION}.`);
}

/** The FastMCP version in the virtual environment, if there is one. */
async function installedFastMcp(): Promise<string | undefined> {
  if (!existsSync(VENV_PYTHON)) return undefined;
  const probe = await run(VENV_PYTHON, ['-c', 'import importlib.metadata as m; print(m.version("fastmcp"))']).catch(() => undefined);
  return probe?.code === 0 ? probe.stdout.trim() : undefined;
}

function run(command: string, args: readonly string[], timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function lastLines(text: string, count = 15): string {
  return text.trim().split('\n').slice(-count).join('\n');
}
