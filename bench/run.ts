/**
 * `npm run bench`: what authorization costs per MCP call, against the bare floor, in one run on
 * this machine. Not a test and never part of `npm test`.
 *
 *   npm run bench                  full run (c = 1, 16, 64; a few minutes)
 *   npm run bench -- --quick       c = 1 and 16, short rounds (about a minute)
 *   npm run bench -- --variants 1,3,4,4b    only some variants (the targets need 1, 3, 4 and 4b)
 *   npm run bench -- --concurrency 64       other concurrencies (targets are judged at 16)
 *   npm run bench -- --profile 4   CPU profile of variant 4's Worker under tools/call load (see ./profile.ts); any key: 1, 4m, 5…
 *   npm run bench -- --profile 4 --load register --seconds 10     … under POST /register instead
 *   npm run bench -- --profile 4 --connections 1                  … at another concurrency (default 16)
 *   npm run bench -- --report bench/results/latest.json    print a saved run's table again
 *
 * Every variant is started first (in parallel, before any load), then measured one at a time with
 * their rounds interleaved (./load.ts). Writes bench/results/latest.json and a timestamped copy.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gitInfo, machineInfo } from '../scripts/run-info.ts';
import { ROOT } from '../scripts/system.ts';
import { measureBundle, WORKER_SIZE_LIMITS, type BundleSize } from './bundle.ts';
import { measureInterleaved, type LoadResult, type LoadSettings } from './load.ts';
import { toolCallLoad, type McpSession } from './mcp-session.ts';
import { profileUnderLoad } from './profile.ts';
import { computeRatios, evaluateTargets, medianTiming, renderReport, type BenchParameters, type BenchResults, type ConnectResult } from './report.ts';
import { VARIANTS, type ConnectTiming, type StartedVariant, type Variant, type VariantKey } from './variants.ts';

const RESULTS_DIR = join(ROOT, 'bench/results');

const GENERATOR = 'autocannon in the bench process (one Node thread), keep-alive HTTP/1.1 over loopback, unique JSON-RPC ids';

const FULL: BenchParameters = {
  mode: 'full',
  concurrencies: [1, 16, 64],
  targetConcurrency: 16,
  // The project's bundle is large: V8 needs a couple of seconds of load to optimize its hot path.
  warmupSeconds: 2,
  rounds: 3,
  targetRounds: 6,
  // autocannon ends a run on its 1 s tick: whole seconds only.
  roundSeconds: 3,
  registrationConcurrencies: [1, 16],
  connectRuns: 5,
  generator: GENERATOR,
};

const QUICK: BenchParameters = {
  mode: 'quick',
  // c=1 too: the p50 target is judged there.
  concurrencies: [1, 16],
  targetConcurrency: 16,
  warmupSeconds: 1,
  rounds: 2,
  targetRounds: 2,
  // autocannon ends a run on its 1 s tick: whole seconds only.
  roundSeconds: 1,
  registrationConcurrencies: [16],
  connectRuns: 2,
  generator: GENERATOR,
};

/** Bundles measured: this project always; the comparison workers in a full run. */
const BUNDLE_CONFIGS: Partial<Record<VariantKey, string>> = {
  '2': 'bench/workers/bare-agent/wrangler.jsonc',
  '3': 'bench/workers/reference/wrangler.jsonc',
  '4': 'wrangler.jsonc',
};

const T0 = performance.now();

/** Progress goes to stderr, so stdout carries only the report. */
function log(message: string): void {
  process.stderr.write(`[bench ${((performance.now() - T0) / 1000).toFixed(0).padStart(3)} s] ${message}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      variants: { type: 'string' },
      concurrency: { type: 'string' },
      profile: { type: 'string' },
      seconds: { type: 'string' },
      connections: { type: 'string' },
      load: { type: 'string', default: 'tools/call' },
      report: { type: 'string' },
    },
  });
  if (values.report !== undefined) {
    const saved = JSON.parse(readFileSync(values.report, 'utf8')) as BenchResults;
    // Ratios and targets are derived: recompute them, so a saved run reads as the current code judges it.
    const ratios = computeRatios(saved);
    process.stdout.write(`${renderReport({ ...saved, ratios, targets: evaluateTargets(saved, ratios) })}\n`);
    return;
  }
  if (values.profile !== undefined) {
    if (values.load !== 'tools/call' && values.load !== 'register') throw new Error('--load is tools/call or register');
    const connections = Number(values.connections ?? QUICK.targetConcurrency);
    if (!Number.isInteger(connections) || connections < 1) throw new Error('--connections takes a whole number, e.g. 1');
    await profile(variantByKey(values.profile), values.load, Number(values.seconds ?? 10), connections);
    return;
  }
  const concurrencies = values.concurrency?.split(',').map((c) => Number(c.trim()));
  if (concurrencies?.some((c) => !Number.isInteger(c) || c < 1)) throw new Error('--concurrency takes whole numbers, e.g. 16,64');
  const parameters = { ...(values.quick ? QUICK : FULL), ...(concurrencies ? { concurrencies } : {}) };
  const selected = values.variants ? values.variants.split(',').map((key) => variantByKey(key.trim())) : [...VARIANTS];
  if (new Set(selected).size !== selected.length) throw new Error('--variants names a variant twice');
  const results = await bench(parameters, selected);
  mkdirSync(RESULTS_DIR, { recursive: true });
  const json = `${JSON.stringify(results, null, 2)}\n`;
  const stamped = join(RESULTS_DIR, `${results.startedAt.replaceAll(':', '-').replace(/\.\d+Z$/, 'Z')}-${parameters.mode}.json`);
  writeFileSync(join(RESULTS_DIR, 'latest.json'), json);
  writeFileSync(stamped, json);
  process.stdout.write(`${renderReport(results)}\n`);
  log(`results: ${join('bench/results', 'latest.json')} and ${stamped.slice(ROOT.length)}`);
}

async function bench(parameters: BenchParameters, selected: readonly Variant[]): Promise<BenchResults> {
  const startedAt = new Date();
  const loadAverageAtStart = loadavg();
  const keys = new Set(selected.map((variant) => variant.key));

  // Bundles build while the variants start: both are start-up work, before any load runs.
  const bundleKeys = (Object.keys(BUNDLE_CONFIGS) as VariantKey[]).filter((key) => (parameters.mode === 'full' ? keys.has(key) || key === '4' : key === '4'));
  const bundles = Promise.all(bundleKeys.map(async (key) => [key, await measureBundle(BUNDLE_CONFIGS[key] as string)] as const));

  log(`starting ${selected.map((variant) => variant.key).join(', ')} under wrangler dev…`);
  const running = await startAll(selected);
  try {
    // No load runs while a bundle is still being built.
    const bundleSizes: Partial<Record<VariantKey, BundleSize>> = Object.fromEntries(await bundles);
    const sessions = new Map<VariantKey, McpSession>();
    for (const { variant, started } of running) sessions.set(variant.key, await started.openSession());

    const connect: Partial<Record<VariantKey, ConnectResult>> = {};
    const connectable = running.filter(({ started }) => started.connect);
    if (connectable.length > 0) {
      log(`timing ${parameters.connectRuns} client connections on ${connectable.map(({ variant }) => variant.key).join(', ')}…`);
      const runs = new Map<VariantKey, ConnectTiming[]>();
      for (let run = 0; run < parameters.connectRuns; run++) {
        for (const { variant, started } of connectable) {
          const timing = await (started.connect as () => Promise<ConnectTiming>)();
          runs.set(variant.key, [...(runs.get(variant.key) ?? []), timing]);
        }
      }
      for (const [key, timings] of runs) connect[key] = { runs: timings, median: medianTiming(timings) };
    }

    const toolsCall: BenchResults['toolsCall'] = {};
    for (const connections of parameters.concurrencies) {
      log(`tools/call at c=${connections}…`);
      const targets = running.map(({ variant, started }) => ({ key: variant.key, request: toolCallLoad(sessions.get(variant.key) as McpSession), cpu: started.cpu }));
      const measured = await measureInterleaved(targets, settings(parameters, connections), (key, round) => log(`  ${key.padEnd(3)} ${round.rps.toFixed(0)} req/s, p99 ${round.p99Ms.toFixed(1)} ms${round.failed ? `, ${round.failed} failed` : ''}`));
      store(toolsCall, measured, connections);
    }

    const registration: BenchResults['registration'] = {};
    const registering = running.filter(({ variant, started }) => started.registration && (variant.key === '4' || variant.key === '4b'));
    if (registering.length > 0) {
      for (const connections of parameters.registrationConcurrencies) {
        log(`POST /register at c=${connections}…`);
        const targets = registering.map(({ variant, started }) => ({ key: variant.key, request: started.registration as NonNullable<StartedVariant['registration']>, cpu: started.cpu }));
        store(registration, await measureInterleaved(targets, settings(parameters, connections)), connections);
      }
    }

    const finishedAt = new Date();
    const partial = { toolsCall, registration, parameters, bundles: bundleSizes };
    const ratios = computeRatios(partial);
    return {
      schema: 2,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
      git: gitInfo(),
      machine: machineInfo(loadAverageAtStart),
      parameters,
      variants: selected.map(({ key, id, title }) => ({ key, id, title })),
      toolsCall,
      registration,
      connect,
      bundles: bundleSizes,
      limits: WORKER_SIZE_LIMITS,
      ratios,
      targets: evaluateTargets(partial, ratios),
    };
  } finally {
    await stopAll(running);
  }
}

function settings(parameters: BenchParameters, connections: number): LoadSettings {
  // c=1 too: the p50 target is judged there, and single-connection latency is the noisiest figure.
  const rounds = connections === parameters.targetConcurrency || connections === 1 ? parameters.targetRounds : parameters.rounds;
  return { connections, warmupSeconds: parameters.warmupSeconds, rounds, roundSeconds: parameters.roundSeconds };
}

function store(into: Partial<Record<VariantKey, Record<string, LoadResult>>>, measured: Map<string, LoadResult>, connections: number): void {
  for (const [key, result] of measured) {
    const byConcurrency = into[key as VariantKey] ?? {};
    byConcurrency[String(connections)] = result;
    into[key as VariantKey] = byConcurrency;
  }
}

interface Running {
  variant: Variant;
  started: StartedVariant;
}

let stopping: Promise<void> | undefined;

/** Starts every variant; if one fails, stops the others and rethrows. Stops all on Ctrl-C too. */
async function startAll(variants: readonly Variant[]): Promise<Running[]> {
  const settled = await Promise.allSettled(variants.map(async (variant) => ({ variant, started: await variant.start() })));
  const running = settled.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
  const failure = settled.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (failure) {
    await stopAll(running);
    throw failure.reason;
  }
  const interrupt = () => {
    log('interrupted: stopping the variants…');
    stopAll(running).finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  return running;
}

function stopAll(running: readonly Running[]): Promise<void> {
  stopping ??= Promise.all(running.map(({ started }) => started.stop())).then(() => undefined);
  return stopping;
}

async function profile(variant: Variant, load: 'tools/call' | 'register', seconds: number, connections: number): Promise<void> {
  log(`starting ${variant.key} (${variant.title})…`);
  const running = await startAll([variant]);
  try {
    const { started } = running[0] as Running;
    if (started.inspectorPort === undefined) throw new Error(`variant ${variant.key}: no inspector port found`);
    const request = load === 'register' ? started.registration : toolCallLoad(await started.openSession());
    if (!request) throw new Error(`variant ${variant.key} has no ${load} endpoint`);
    mkdirSync(RESULTS_DIR, { recursive: true });
    const stem = `profile-${variant.id}-${load === 'register' ? 'register-' : ''}c${connections}-${new Date().toISOString().replaceAll(':', '-').replace(/\.\d+Z$/, 'Z')}`;
    const summary = await profileUnderLoad({
      inspectorPort: started.inspectorPort,
      request,
      connections,
      seconds,
      saveTo: join(RESULTS_DIR, `${stem}.cpuprofile`),
      cpu: started.cpu,
      perfDataFile: join(RESULTS_DIR, `${stem}.perf.data`),
    });
    process.stdout.write(`${summary}\n`);
  } finally {
    await stopAll(running);
  }
}

function variantByKey(key: string): Variant {
  const variant = VARIANTS.find((candidate) => candidate.key === key || candidate.id === key);
  if (!variant) throw new Error(`unknown variant "${key}"; one of ${VARIANTS.map((v) => `${v.key} (${v.id})`).join(', ')}`);
  return variant;
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
