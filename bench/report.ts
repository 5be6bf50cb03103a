/**
 * What a bench run found: the JSON document written to bench/results/, the ratios and targets
 * derived from it, and the table printed on stdout.
 */
import type { MachineInfo } from '../scripts/run-info.ts';
import { WORKER_SIZE_LIMITS, type BundleSize } from './bundle.ts';
import { median, type LoadResult, type RoundResult } from './load.ts';
import { VARIANT_KEYS, type ConnectTiming, type VariantKey } from './variants.ts';

export interface BenchParameters {
  mode: 'quick' | 'full';
  concurrencies: number[];
  /** The concurrency the targets are judged at. */
  targetConcurrency: number;
  warmupSeconds: number;
  rounds: number;
  /** More rounds at the target concurrency and at c=1 (the latency target), where the targets are judged. */
  targetRounds: number;
  roundSeconds: number;
  registrationConcurrencies: number[];
  connectRuns: number;
  generator: string;
}


export interface ConnectResult {
  runs: ConnectTiming[];
  median: ConnectTiming;
}

export interface BenchResults {
  /** 2: variant 4 is the stateless /mcp (in schema 1 it was the McpAgent-backed one, now variant 5). */
  schema: 2;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  git: { commit: string; dirty: boolean };
  machine: MachineInfo;
  parameters: BenchParameters;
  variants: { key: VariantKey; id: string; title: string }[];
  /** tools/call (after initialize where the variant's protocol has one): variant → concurrency → result. */
  toolsCall: Partial<Record<VariantKey, Record<string, LoadResult>>>;
  /** POST /register: variant → concurrency → result. */
  registration: Partial<Record<VariantKey, Record<string, LoadResult>>>;
  /** DCR registration to first successful tools/call. */
  connect: Partial<Record<VariantKey, ConnectResult>>;
  bundles: Partial<Record<VariantKey, BundleSize>>;
  limits: typeof WORKER_SIZE_LIMITS;
  ratios: Ratio[];
  targets: Target[];
}

export interface Ratio {
  name: string;
  concurrency: number;
  value: number;
}

export interface Target {
  name: string;
  /** The measured figure, in the unit of `threshold`. */
  value: number;
  threshold: number;
  comparison: '>=' | '<=' | '<';
  pass: boolean;
  /** Shown for context (the McpAgent-backed mode, the 2026-07-28 drive), not one of the issue's targets. */
  informational?: boolean;
}

const MIB = 1024 * 1024;

/** The pairs whose ratios are computed: the project against the reference and the floor, the layer on/off, the McpAgent-backed mode, the two eras. */
const TOOLS_CALL_PAIRS: readonly (readonly [VariantKey, VariantKey])[] = [
  ['4', '3'],
  ['4', '1'],
  ['4m', '3'],
  ['4m', '1'],
  ['4m', '4'],
  ['4', '4b'],
  ['4', '4a'],
  ['5', '3'],
  ['5', '2'],
  ['4', '5'],
];

/**
 * Ratios of every pair the issues ask about, at every concurrency measured. Each is the median of
 * the per-round ratios: rounds of different variants ran back to back (interleaved), so pairing
 * round r of one with round r of the other cancels most of the drift in what else the machine was
 * doing, which a ratio of the two medians would keep.
 */
export function computeRatios(results: Pick<BenchResults, 'toolsCall' | 'registration' | 'parameters'>): Ratio[] {
  const ratios: Ratio[] = [];
  const add = (name: string, concurrency: number, a: LoadResult | undefined, b: LoadResult | undefined, figure: (round: RoundResult) => number | undefined) => {
    if (!a || !b) return;
    const paired = a.rounds.map((round, index) => {
      const other = b.rounds[index];
      const x = figure(round);
      const y = other ? figure(other) : undefined;
      return x !== undefined && y !== undefined && y > 0 ? x / y : Number.NaN;
    });
    const value = median(paired);
    if (!Number.isNaN(value)) ratios.push({ name, concurrency, value });
  };
  const rps = (round: RoundResult) => round.rps;
  const p50 = (round: RoundResult) => round.p50Ms;
  const p99 = (round: RoundResult) => round.p99Ms;
  const workerCpu = (round: RoundResult) => round.serverCpuMsPerCall?.worker;
  for (const c of results.parameters.concurrencies) {
    const at = (key: VariantKey) => results.toolsCall[key]?.[String(c)];
    for (const [a, b] of TOOLS_CALL_PAIRS) {
      add(`tools/call rps ${a}/${b}`, c, at(a), at(b), rps);
      add(`tools/call p50 ${a}/${b}`, c, at(a), at(b), p50);
      add(`tools/call p99 ${a}/${b}`, c, at(a), at(b), p99);
      add(`tools/call worker CPU/call ${a}/${b}`, c, at(a), at(b), workerCpu);
    }
  }
  for (const c of results.parameters.registrationConcurrencies) {
    const at = (key: VariantKey) => results.registration[key]?.[String(c)];
    add('register rps 4/4b', c, at('4'), at('4b'), rps);
    add('register p50 4/4b', c, at('4'), at('4b'), p50);
    add('register p99 4/4b', c, at('4'), at('4b'), p99);
    add('register worker CPU/call 4/4b', c, at('4'), at('4b'), workerCpu);
  }
  return ratios;
}

/**
 * The targets, judged at the target concurrency (the p50 one at c=1, when it was measured); a
 * target without data is left out. Variant 4 (the default stateless /mcp driven as MCP Manager
 * drives it, 2025-11-25) is the one judged; the same thresholds applied to the 2026-07-28 drive
 * (4m), and the former McpAgent-era targets applied to MCP_TRANSPORT=mcp-agent (5), are shown for
 * information.
 */
export function evaluateTargets(results: Pick<BenchResults, 'bundles' | 'parameters'>, ratios: readonly Ratio[]): Target[] {
  const c = results.parameters.targetConcurrency;
  const ratio = (name: string, at = c) => ratios.find((r) => r.name === name && r.concurrency === at)?.value;
  const targets: Target[] = [];
  const judge = (name: string, value: number | undefined, comparison: Target['comparison'], threshold: number, informational = false) => {
    if (value === undefined || Number.isNaN(value)) return;
    const pass = comparison === '>=' ? value >= threshold : comparison === '<=' ? value <= threshold : value < threshold;
    targets.push({ name, value, threshold, comparison, pass, ...(informational && { informational }) });
  };
  for (const [key, informational] of [['4', false], ['4m', true]] as const) {
    const who = key === '4' ? 'project' : 'project 2026-07-28';
    judge(`tools/call rps at c=${c}: ${who} ≥ 2.0 × reference (${key}/3)`, ratio(`tools/call rps ${key}/3`), '>=', 2.0, informational);
    judge(`tools/call rps at c=${c}: ${who} ≥ 0.6 × floor (${key}/1)`, ratio(`tools/call rps ${key}/1`), '>=', 0.6, informational);
    judge(`tools/call p50 at c=1: ${who} ≤ 1.5 × floor (${key}/1)`, ratio(`tools/call p50 ${key}/1`, 1), '<=', 1.5, informational);
  }
  judge(`hot path at c=${c}: consistency layer within 5% of plain KV (rps 4/4b)`, ratio('tools/call rps 4/4b'), '>=', 0.95);
  judge(`hot path at c=${c}: audit trail within 3% of AUDIT=off (rps 4/4a)`, ratio('tools/call rps 4/4a'), '>=', 0.97);
  const bundle = results.bundles['4'];
  if (bundle) judge('bundle gzip < 1 MiB (MiB)', bundle.gzipBytes / MIB, '<', 1);
  judge(`tools/call rps at c=${c}: MCP_TRANSPORT=mcp-agent ≥ 0.85 × reference (5/3)`, ratio('tools/call rps 5/3'), '>=', 0.85, true);
  judge(`tools/call rps at c=${c}: MCP_TRANSPORT=mcp-agent ≥ 0.75 × bare McpAgent (5/2)`, ratio('tools/call rps 5/2'), '>=', 0.75, true);
  judge(`tools/call p99 at c=${c}: MCP_TRANSPORT=mcp-agent ≤ 1.3 × reference (5/3)`, ratio('tools/call p99 5/3'), '<=', 1.3, true);
  return targets;
}

// ---------------------------------------------------------------------------------------------
// The table on stdout

const KEYS = VARIANT_KEYS;

export function renderReport(results: BenchResults): string {
  const lines: string[] = [];
  const { parameters: p, machine: m } = results;
  lines.push(
    `MCP authorization cost bench (${p.mode}) — commit ${results.git.commit.slice(0, 12)}${results.git.dirty ? ' (dirty)' : ''}, ${results.startedAt}`,
    `machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, node ${m.node}, ${m.platform}; load average at start ${m.loadAverageAtStart.map((v) => v.toFixed(2)).join(' ')}`,
    `load: ${p.generator}; per variant and concurrency a ${p.warmupSeconds} s warm-up, then ${p.rounds} rounds × ${p.roundSeconds} s (${p.targetRounds} at c=1 and c=${p.targetConcurrency}, where the targets are judged), rounds interleaved across variants; medians`,
    '',
  );
  for (const variant of results.variants) lines.push(`  ${variant.key.padEnd(2)} ${variant.title}`);
  lines.push('');

  lines.push('tools/call whoami (Streamable HTTP; 2, 3, 5 on a session, 4 and 4b stateless 2025-11-25, 4m 2026-07-28; every answer read to its end)');
  const rows: string[][] = [['variant', 'c', 'req/s', 'p50 ms', 'p99 ms', 'failed', 'worker CPU ms/call', 'dev-proxy CPU ms/call', 'wrangler CPU ms/call', 'generator CPU ms/call', 'all CPU ms/call', 'other load']];
  for (const c of p.concurrencies) {
    for (const key of KEYS) {
      const r = results.toolsCall[key]?.[String(c)];
      if (!r) continue;
      const cpu = r.serverCpuMsPerCall;
      const all = cpu ? Object.values(cpu).reduce((total, ms) => total + ms, 0) + r.generatorCpuMsPerCall : undefined;
      rows.push([key, String(c), fixed(r.rps, 0), fixed(r.p50Ms, 2), fixed(r.p99Ms, 2), String(r.failed), fixed(cpu?.worker, 2), fixed(cpu?.proxy, 2), fixed(cpu?.wrangler, 2), fixed(r.generatorCpuMsPerCall, 2), fixed(all, 2), share(r.foreignCpuShare)]);
    }
  }
  lines.push(
    ...table(rows),
    `  worker: the workerd running the Worker (and its Durable Objects); dev proxy and wrangler exist only under wrangler dev; generator: autocannon in the bench's process. With ${m.cpus} cores saturated, req/s cannot exceed ${m.cpus} × 1000 / all CPU ms/call.`,
    '',
  );

  const ratioRows: string[][] = [['ratio', ...p.concurrencies.map((c) => `c=${c}`)]];
  lines.push('ratios: median of per-round ratios (rounds of the two variants ran back to back)');
  for (const [a, b] of TOOLS_CALL_PAIRS) {
    for (const figure of ['rps', 'p50', 'p99', 'worker CPU/call']) {
      const name = `tools/call ${figure} ${a}/${b}`;
      const cells = p.concurrencies.map((c) => fixed(results.ratios.find((r) => r.name === name && r.concurrency === c)?.value, 3));
      if (cells.some((cell) => cell !== 'n/a')) ratioRows.push([name, ...cells]);
    }
  }
  lines.push(...table(ratioRows), '');

  const c1 = (key: VariantKey) => results.toolsCall[key]?.['1']?.p50Ms;
  const added = (a: VariantKey, b: VariantKey) => {
    const x = c1(a);
    const y = c1(b);
    return x !== undefined && y !== undefined ? `${(x - y).toFixed(2)} ms` : 'n/a';
  };
  if (p.concurrencies.includes(1)) {
    lines.push(
      `latency added per call at c=1 (p50 differences): McpAgent over floor ${added('2', '1')}, OAuthProvider over bare agent ${added('3', '2')}, this project (stateless) over floor ${added('4', '1')}, over reference ${added('4', '3')}; 2026-07-28 over 2025-11-25 ${added('4m', '4')}; consistency layer ${added('4', '4b')}; audit trail ${added('4', '4a')}; mcp-agent mode over reference ${added('5', '3')}`,
      '',
    );
  }

  if (Object.keys(results.registration).length > 0) {
    lines.push('POST /register (dynamic client registration), issue 4: consistency layer (4) vs plain KV (4b)');
    const regRows: string[][] = [['variant', 'c', 'req/s', 'p50 ms', 'p99 ms', 'failed', 'worker CPU ms/call', 'other load']];
    const ratioOf = (name: string, c: number) => fixed(results.ratios.find((r) => r.name === name && r.concurrency === c)?.value, 3);
    for (const c of p.registrationConcurrencies) {
      for (const key of KEYS) {
        const r = results.registration[key]?.[String(c)];
        if (r) regRows.push([key, String(c), fixed(r.rps, 0), fixed(r.p50Ms, 2), fixed(r.p99Ms, 2), String(r.failed), fixed(r.serverCpuMsPerCall?.worker, 2), share(r.foreignCpuShare)]);
      }
      if (results.registration['4']?.[String(c)] && results.registration['4b']?.[String(c)]) {
        regRows.push(['4/4b', String(c), ratioOf('register rps 4/4b', c), ratioOf('register p50 4/4b', c), ratioOf('register p99 4/4b', c), '', ratioOf('register worker CPU/call 4/4b', c), '']);
      }
    }
    lines.push(...table(regRows), '');
  }

  if (Object.keys(results.connect).length > 0) {
    lines.push(`DCR registration → first successful tools/call (MCP Manager's connection; sign-in automated), median of ${p.connectRuns} runs, ms`);
    const connectRows: string[][] = [['variant', 'register', 'authorize', 'token', 'initialize', 'first call', 'total', 'total min–max']];
    for (const key of KEYS) {
      const r = results.connect[key];
      if (!r) continue;
      const totals = r.runs.map((run) => run.totalMs);
      connectRows.push([key, fixed(r.median.registerMs, 0), fixed(r.median.authorizeMs, 0), fixed(r.median.tokenMs, 0), fixed(r.median.initializeMs, 0), fixed(r.median.firstCallMs, 0), fixed(r.median.totalMs, 0), `${fixed(Math.min(...totals), 0)}–${fixed(Math.max(...totals), 0)}`]);
    }
    lines.push(...table(connectRows), '  (3 authorizes by redirecting at once; 4, 4m, 4b and 5 show the consent page and sign in at the dev IdP; 4m has no initialize)', '');
  }

  if (Object.keys(results.bundles).length > 0) {
    lines.push('Worker bundle (wrangler deploy --dry-run)');
    const bundleRows: string[][] = [['variant', 'raw KiB', 'gzip KiB', 'wrangler says', 'largest parts (KiB)']];
    for (const key of KEYS) {
      const b = results.bundles[key];
      if (b) bundleRows.push([key, fixed(b.rawBytes / 1024, 1), fixed(b.gzipBytes / 1024, 1), b.wranglerReport ?? '', b.largest.slice(0, 4).map((part) => `${part.source} ${(part.bytes / 1024).toFixed(0)}`).join(', ')]);
    }
    lines.push(...table(bundleRows));
    const l = results.limits;
    const own = results.bundles['4'];
    lines.push(
      `  Cloudflare limit now: ${l.currentUncompressedBytes / MIB} MiB uncompressed on every plan (since ${l.currentSince})${own ? `: this Worker uses ${((own.rawBytes / l.currentUncompressedBytes) * 100).toFixed(1)}%` : ''}.`,
      `  Former limit, after gzip: ${l.formerGzipFreeBytes / MIB} MiB Workers Free / ${l.formerGzipPaidBytes / MIB} MiB Workers Paid${own ? `: this Worker would use ${((own.gzipBytes / l.formerGzipFreeBytes) * 100).toFixed(1)}% / ${((own.gzipBytes / l.formerGzipPaidBytes) * 100).toFixed(1)}%` : ''}.`,
      `  Source: ${l.source}`,
      '',
    );
  }

  lines.push(p.mode === 'quick' ? 'Targets (quick run: indicative only; a few seconds per variant cannot resolve a 5 % difference, run the full bench)' : 'Targets');
  for (const target of results.targets.filter((t) => !t.informational)) {
    lines.push(`  ${target.pass ? 'PASS' : 'MISS'}  ${target.name}: ${target.value.toFixed(3)} (target ${target.comparison} ${target.threshold})`);
  }
  const informational = results.targets.filter((t) => t.informational);
  if (informational.length > 0) {
    lines.push('For information (the same thresholds for the 2026-07-28 drive; the former McpAgent-era targets for MCP_TRANSPORT=mcp-agent)');
    for (const target of informational) {
      lines.push(`  ${target.pass ? 'pass' : 'miss'}  ${target.name}: ${target.value.toFixed(3)} (${target.comparison} ${target.threshold})`);
    }
  }
  const disturbed = Object.values(results.toolsCall).flatMap((byC) => Object.values(byC ?? {})).some((r) => (r.foreignCpuShare ?? 0) > DISTURBED_SHARE);
  if (disturbed) lines.push(`  Note: other processes used more than ${DISTURBED_SHARE * 100}% of the machine's CPU during some rounds ("other load"); those figures are noisy.`);
  lines.push('', `${results.durationSeconds.toFixed(0)} s in all.`);
  return lines.join('\n');
}

/** Above this share of the machine's CPU taken by other processes, a round counts as disturbed. */
const DISTURBED_SHARE = 0.1;

export function medianTiming(runs: readonly ConnectTiming[]): ConnectTiming {
  const pick = (field: keyof ConnectTiming) => median(runs.map((run) => run[field]));
  return { registerMs: pick('registerMs'), authorizeMs: pick('authorizeMs'), tokenMs: pick('tokenMs'), initializeMs: pick('initializeMs'), firstCallMs: pick('firstCallMs'), totalMs: pick('totalMs') };
}

function fixed(value: number | undefined, digits: number): string {
  return value === undefined || Number.isNaN(value) ? 'n/a' : value.toFixed(digits);
}

function share(value: number | undefined): string {
  return value === undefined ? 'n/a' : `${(value * 100).toFixed(0)}%${value > DISTURBED_SHARE ? ' !' : ''}`;
}

function table(rows: readonly string[][]): string[] {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  // Figures align right, words left.
  const numeric = (column: number) => column > 0 && rows.slice(1).every((row) => /^[-\d.,%!–n/a ]*$/.test(row[column] ?? ''));
  const render = (row: readonly string[]) =>
    `  ${row.map((cell, column) => (numeric(column) ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0))).join('  ')}`.trimEnd();
  const [header, ...body] = rows;
  return header ? [render(header), `  ${widths.map((width) => '-'.repeat(width)).join('  ')}`, ...body.map(render)] : [];
}
