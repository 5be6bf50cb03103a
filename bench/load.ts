/**
 * The load generator: autocannon, in this Node process (no worker threads), on keep-alive HTTP/1.1
 * connections over loopback. Every response is read to its end (autocannon parses each one to
 * message-complete, SSE bodies included) and checked by `verify` before it counts.
 *
 * Why in-process and not `workers`: on a 2-core machine the generator competes with workerd for
 * CPU; one Node thread is the lightest generator autocannon offers, and the same one drives every
 * variant, so its share is the same for all of them. What it costs is measured (see `generatorCpuMs`).
 *
 * Latencies are taken from autocannon's per-response event at full resolution (its own histogram
 * keeps whole milliseconds only, too coarse for the floor variant) and reduced exactly here.
 */
import autocannon from 'autocannon';
import { cpus } from 'node:os';
import { cpuBetween, machineBusyMs, type CpuSample } from './cpu.ts';

export interface LoadRequest {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body: string;
  /** Replace every `[<id>]` in the body with a unique id per request (JSON-RPC ids must not repeat in a session). */
  uniqueIds: boolean;
  /** Whether a response body is the right answer; anything else counts as a failure. */
  verify(body: string): boolean;
}

export interface LoadSettings {
  connections: number;
  warmupSeconds: number;
  rounds: number;
  roundSeconds: number;
}

export interface RoundResult {
  /** Verified 2xx responses per second. */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  ok: number;
  /** Non-2xx answers, connection errors, timeouts and bodies that failed `verify`. */
  failed: number;
  seconds: number;
  /** CPU time of the server's processes (by role) per verified response, when they are known. */
  serverCpuMsPerCall: Record<string, number> | undefined;
  /** CPU time of this process (the generator) per verified response. */
  generatorCpuMsPerCall: number;
  /**
   * Share of the machine's CPU (all cores) used during the round by processes other than the
   * generator and this variant's server: other work on the machine that disturbed the round.
   */
  foreignCpuShare: number | undefined;
}

export interface LoadResult {
  connections: number;
  /** Medians over the rounds. */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  failed: number;
  serverCpuMsPerCall: Record<string, number> | undefined;
  generatorCpuMsPerCall: number;
  /** The largest foreign share of any round. */
  foreignCpuShare: number | undefined;
  rounds: RoundResult[];
}

/** A process group whose CPU use is sampled around each round (the variant's wrangler + workerd). */
export type CpuProbe = () => CpuSample | undefined;

export interface LoadTarget {
  key: string;
  request: LoadRequest;
  /** CPU of the server under load, when its processes are known. */
  cpu: CpuProbe;
}

/**
 * Measures several targets under the same load, one at a time, with their rounds interleaved: each
 * target is warmed up (results discarded), then round 1 of every target runs, then round 2, and so
 * on, each round starting with the next target in turn. Whatever else the machine does meanwhile
 * then falls on every target alike instead of on whichever ran at the wrong moment.
 * Results are the medians of rps, p50 and p99 over each target's rounds.
 */
export async function measureInterleaved(targets: readonly LoadTarget[], settings: LoadSettings, onRound?: (key: string, round: RoundResult) => void): Promise<Map<string, LoadResult>> {
  if (settings.warmupSeconds > 0) for (const target of targets) await runRound(target.request, settings.connections, settings.warmupSeconds, target.cpu);
  const rounds = new Map<string, RoundResult[]>(targets.map((target) => [target.key, []]));
  for (let round = 0; round < settings.rounds; round++) {
    for (let i = 0; i < targets.length; i++) {
      const target = targets[(round + i) % targets.length] as LoadTarget;
      const result = await runRound(target.request, settings.connections, settings.roundSeconds, target.cpu);
      rounds.get(target.key)?.push(result);
      onRound?.(target.key, result);
    }
  }
  return new Map(targets.map((target) => [target.key, summarize(settings.connections, rounds.get(target.key) ?? [])]));
}

function summarize(connections: number, rounds: RoundResult[]): LoadResult {
  return {
    connections,
    rps: median(rounds.map((r) => r.rps)),
    p50Ms: median(rounds.map((r) => r.p50Ms)),
    p99Ms: median(rounds.map((r) => r.p99Ms)),
    failed: rounds.reduce((total, r) => total + r.failed, 0),
    serverCpuMsPerCall: medianRecord(rounds.map((r) => r.serverCpuMsPerCall)),
    generatorCpuMsPerCall: median(rounds.map((r) => r.generatorCpuMsPerCall)),
    foreignCpuShare: maxDefined(rounds.map((r) => r.foreignCpuShare)),
    rounds,
  };
}

async function runRound(request: LoadRequest, connections: number, seconds: number, cpuProbe: CpuProbe): Promise<RoundResult> {
  const latencies: number[] = [];
  const serverBefore = cpuProbe();
  const machineBefore = machineBusyMs();
  const generatorBefore = process.cpuUsage();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: request.url,
        method: request.method,
        headers: request.headers,
        body: request.body,
        idReplacement: request.uniqueIds,
        verifyBody: (body) => request.verify(typeof body === 'string' ? body : (body?.toString('utf8') ?? '')),
        connections,
        duration: seconds,
        timeout: 10,
      },
      (error: unknown, done: autocannon.Result) => (error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(done)),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
    });
  });
  const generatorUsage = process.cpuUsage(generatorBefore);
  const serverAfter = cpuProbe();
  const machineAfter = machineBusyMs();
  // A response that failed verification was still counted as a 2xx response: take it back out.
  const ok = Math.max(0, latencies.length - result.mismatches);
  const failed = result.non2xx + result.errors + result.mismatches;
  latencies.sort((a, b) => a - b);
  const generatorMs = (generatorUsage.user + generatorUsage.system) / 1000;
  const serverUsed = serverBefore && serverAfter ? cpuBetween(serverBefore, serverAfter) : undefined;
  const serverMs = serverUsed ? sum(Object.values(serverUsed)) : undefined;
  const foreignCpuShare =
    machineBefore !== undefined && machineAfter !== undefined && serverMs !== undefined
      ? Math.max(0, machineAfter - machineBefore - generatorMs - serverMs) / (result.duration * 1000 * cpus().length)
      : undefined;
  return {
    rps: ok / result.duration,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    ok,
    failed,
    seconds: result.duration,
    serverCpuMsPerCall: serverUsed && ok > 0 ? perCall(serverUsed, ok) : undefined,
    generatorCpuMsPerCall: ok > 0 ? generatorMs / ok : Number.NaN,
    foreignCpuShare,
  };
}

function perCall(used: Record<string, number>, calls: number): Record<string, number> {
  return Object.fromEntries(Object.entries(used).map(([role, ms]) => [role, ms / calls]));
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

function maxDefined(values: readonly (number | undefined)[]): number | undefined {
  const present = values.filter((value): value is number => value !== undefined);
  return present.length > 0 ? Math.max(...present) : undefined;
}

/** Nearest-rank percentile of sorted values; NaN when there are none. */
export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(fraction * sorted.length)));
  return sorted[rank - 1] as number;
}

export function median(values: readonly number[]): number {
  const sorted = values.filter((value) => !Number.isNaN(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

function medianRecord(records: readonly (Record<string, number> | undefined)[]): Record<string, number> | undefined {
  const present = records.filter((record): record is Record<string, number> => record !== undefined);
  if (present.length === 0) return undefined;
  const keys = new Set(present.flatMap((record) => Object.keys(record)));
  return Object.fromEntries([...keys].map((key) => [key, median(present.map((record) => record[key] ?? Number.NaN))]));
}
