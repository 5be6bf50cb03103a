/**
 * The MCP conformance suite (@modelcontextprotocol/conformance, program `conformance`) as a
 * library for tests: one server scenario per run, its verdict read from the machine-readable
 * `checks.json` the suite writes with `--output-dir`, not from its coloured console output.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installedBin } from './installed-bin.ts';
import { runNode } from './run-node.ts';

export const CONFORMANCE = installedBin('@modelcontextprotocol/conformance', 'conformance');

/** One check of a scenario, as in the suite's checks.json. */
export interface ConformanceCheck {
  id: string;
  name: string;
  status: 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO' | 'SKIPPED';
  description?: string;
  errorMessage?: string;
  details?: Record<string, unknown>;
}

export interface ScenarioRun {
  scenario: string;
  /** 0 when no check failed. */
  exitCode: number | null;
  checks: ConformanceCheck[];
  /** The suite's console output, for failure messages. */
  output: string;
}

const SCENARIO_TIMEOUT_MS = 45_000;

export async function runServerScenario(url: string, scenario: string): Promise<ScenarioRun> {
  const outputDir = mkdtempSync(join(tmpdir(), 'mcp-conformance-'));
  try {
    const run = await runNode(CONFORMANCE.path, ['server', '--url', url, '--scenario', scenario, '--output-dir', outputDir], { timeoutMs: SCENARIO_TIMEOUT_MS });
    // The suite writes <output-dir>/server-<scenario>-<timestamp>/checks.json.
    const resultDirs = readdirSync(outputDir);
    const checks = resultDirs.length === 1 ? parseChecks(readFileSync(join(outputDir, resultDirs[0] as string, 'checks.json'), 'utf8')) : [];
    return { scenario, exitCode: run.code, checks, output: `${run.stdout}\n${run.stderr}${run.timedOut ? '\n(timed out)' : ''}` };
  } finally {
    rmSync(outputDir, { recursive: true, force: true });
  }
}

/** The server scenarios the installed suite offers (`conformance list --server`). */
export async function listServerScenarios(): Promise<string[]> {
  const run = await runNode(CONFORMANCE.path, ['list', '--server']);
  if (run.code !== 0) throw new Error(`conformance list failed: ${run.stderr}`);
  // Lines look like "  - server-initialize [2025-06-18,2025-11-25]".
  return [...run.stdout.matchAll(/^\s+- (\S+)/gm)].map((match) => match[1] as string);
}

/** A scenario's verdict in one line per non-passing check, for assertion messages. */
export function problems(run: ScenarioRun): string[] {
  return run.checks.filter((check) => check.status === 'FAILURE' || check.status === 'WARNING').map((check) => `${check.status} ${check.id}: ${check.errorMessage ?? check.description ?? ''}`);
}

function parseChecks(text: string): ConformanceCheck[] {
  const parsed: unknown = JSON.parse(text);
  if (!Array.isArray(parsed) || !parsed.every(isCheck)) throw new Error(`unexpected checks.json: ${text.slice(0, 300)}`);
  return parsed;
}

function isCheck(value: unknown): value is ConformanceCheck {
  if (typeof value !== 'object' || value === null) return false;
  const check = value as Record<string, unknown>;
  return typeof check.id === 'string' && typeof check.name === 'string' && typeof check.status === 'string';
}
