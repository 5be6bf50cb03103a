/**
 * Runs a Node command-line client (MCP Inspector, the MCP conformance suite) as a child process on
 * the project's own Node (`process.execPath`: both need Node 22, the Inspector >= 22.19).
 *
 * Asynchronous on purpose: a proxy a test puts in front of the server runs in the test's own
 * process, and a blocking `spawnSync` would stop it from answering the very client it waits for.
 */
import { spawn } from 'node:child_process';

export interface NodeRun {
  /** Exit code; null when killed. */
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunNodeOptions {
  /** Added to the environment, after the variables in `unset` are removed. */
  env?: Record<string, string>;
  /** Variables removed from the inherited environment. */
  unset?: readonly string[];
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;

export function runNode(script: string, args: readonly string[], options: RunNodeOptions = {}): Promise<NodeRun> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of options.unset ?? []) delete env[name];
  Object.assign(env, options.env);
  // stdin closed: no TTY, so no client ever waits for a person to type or to finish a login.
  const child = spawn(process.execPath, [script, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}
