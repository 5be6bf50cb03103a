/**
 * `npm run resilience`: the whole system (wrangler dev + the dev IdP) under load, a registration
 * burst with KV simulated across locations, restarts (clean, and kill -9 of workerd under writes),
 * and the IdP killed or hung at each step of a sign-in. A script, not a test: `npm test` never runs it.
 *
 *   npm run resilience                         every row (about 2 minutes; bounded under 5)
 *   npm run resilience -- --only load,faults   some rows: load, burst, restart, faults, limits
 *   npm run resilience -- --report resilience/results/latest.json [--markdown]   print a saved run again
 *
 * Writes resilience/results/latest.json and a timestamped copy; the table goes to stdout, progress to
 * stderr; exit code 1 if any check fails.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gitInfo, machineInfo } from '../scripts/run-info.ts';
import { burstRow } from './burst.ts';
import { faultsRow } from './faults.ts';
import { installInterruptHandler, killLeftovers, log, ROOT, stopEverything } from './harness.ts';
import { loadRow } from './load.ts';
import { rateLimitsRow } from './rate-limits.ts';
import { renderReport, type Check, type FaultObservation, type ResilienceResults, type RowName } from './report.ts';
import { restartRow } from './restart.ts';

const RESULTS_DIR = join(ROOT, 'resilience/results');

const ROWS: { key: string; name: RowName; run: (runId: string) => Promise<{ checks: Check[]; details: unknown; faults?: FaultObservation[] }> }[] = [
  { key: 'load', name: 'load', run: loadRow },
  { key: 'burst', name: 'registration burst', run: burstRow },
  { key: 'restart', name: 'restart', run: restartRow },
  { key: 'faults', name: 'faults', run: faultsRow },
  { key: 'limits', name: 'rate limits', run: rateLimitsRow },
];

const SETTINGS = [
  'RATE_LIMITS=off in every system but the rate-limits row (allowed on loopback only): all the load comes from one loopback address, far over the per-address limits',
  'registration burst: SIMULATE_KV_LOCATIONS=3, SIMULATE_KV_DELAY_MS=30000 (requests spread round-robin over 3 simulated KV locations, 30 s propagation)',
  'faults: the dev IdP behind a loopback TCP proxy that refuses (killed) or accepts and never answers (hung); the Worker gives up on the IdP after 10 s (UPSTREAM_TIMEOUT_MS)',
];

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { only: { type: 'string' }, report: { type: 'string' }, markdown: { type: 'boolean', default: false } } });
  if (values.report !== undefined) {
    const saved = JSON.parse(readFileSync(values.report, 'utf8')) as ResilienceResults;
    process.stdout.write(`${renderReport(saved, values.markdown ? 'markdown' : 'text')}\n`);
    return;
  }
  const keys = values.only?.split(',').map((key) => key.trim());
  const unknown = keys?.filter((key) => !ROWS.some((row) => row.key === key));
  if (unknown?.length) throw new Error(`--only: unknown row ${unknown.join(', ')}; rows are ${ROWS.map((row) => row.key).join(', ')}`);
  const selected = keys ? ROWS.filter((row) => keys.includes(row.key)) : ROWS;

  installInterruptHandler();
  const startedAt = new Date();
  const loadAverageAtStart = loadavg();
  const runId = startedAt.toISOString();
  const checks: Check[] = [];
  const faults: FaultObservation[] = [];
  const details: ResilienceResults['details'] = {};
  const rowSeconds: ResilienceResults['rowSeconds'] = {};
  try {
    for (const row of selected) {
      const began = performance.now();
      try {
        const outcome = await row.run(runId);
        checks.push(...outcome.checks);
        faults.push(...(outcome.faults ?? []));
        details[row.name] = outcome.details;
      } catch (error) {
        // A row that cannot finish is a failed check, and the other rows still run.
        const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
        log(`${row.name}: aborted: ${message}`);
        checks.push({ row: row.name, name: 'the row ran to its end', summary: `aborted: ${message.split('\n')[0]?.slice(0, 100)}`, result: `aborted: ${message.split('\n')[0]}`, rule: 'no error', pass: false });
        details[row.name] = { aborted: message };
      } finally {
        await stopEverything();
        rowSeconds[row.name] = (performance.now() - began) / 1000;
      }
    }
  } finally {
    await stopEverything();
  }
  const leftoverProcesses = killLeftovers();
  const finishedAt = new Date();
  const results: ResilienceResults = {
    schema: 1,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
    git: gitInfo(),
    machine: machineInfo(loadAverageAtStart),
    settings: SETTINGS,
    rows: selected.map((row) => row.name),
    checks,
    faults,
    details,
    rowSeconds,
    leftoverProcesses,
    pass: checks.every((check) => check.pass) && leftoverProcesses.length === 0,
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  const json = `${JSON.stringify(results, null, 2)}\n`;
  // Only a run of every row is the latest result; a partial one keeps its timestamped copy alone.
  const stamped = join(RESULTS_DIR, `${results.startedAt.replaceAll(':', '-').replace(/\.\d+Z$/, 'Z')}${keys ? '-partial' : ''}.json`);
  if (!keys) writeFileSync(join(RESULTS_DIR, 'latest.json'), json);
  writeFileSync(stamped, json);
  process.stdout.write(`${renderReport(results)}\n`);
  log(`results: ${keys ? '' : 'resilience/results/latest.json and '}${stamped.slice(ROOT.length)}`);
  if (!results.pass) process.exitCode = 1;
}

main().catch(async (error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  await stopEverything();
  killLeftovers();
  process.exitCode = 1;
});
